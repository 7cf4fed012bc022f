//! Nodes, and moving live instances between them (feature `cluster`).
//!
//! Every process that takes part starts a [`Node`] with the cluster's
//! cookie, [connects](Node::connect) to its peers and
//! [registers](Node::register) the [`Portable`] kinds it runs. Then:
//!
//! - [`Node::call`] and [`Node::cast`] reach an instance by name on whatever
//!   node runs it, before, during and after a move;
//! - [`Node::move_to`] moves a live instance to a supervisor on another node,
//!   with its state, dictionary, tables and queued messages, streaming the
//!   tables in bounded chunks; [`Node::subscribe_moves`] reports progress;
//! - [`Node::drain`] moves every instance off the node, spread over its
//!   peers.
//!
//! The transport is ractor_cluster (TCP, cookie authentication); peeper adds
//! its own requests on top, in [`wire`](self) form, each checked against size
//! limits and decoded without panics.
//!
//! Map, by role, each module owning its own state:
//! - [`node`]: the node, its configuration and life cycle;
//! - [`peers`]: who is connected and alive, and how a lost peer comes back;
//!   `heartbeat`: how a silent peer is told from a live one;
//! - `routes`: calls and casts by name, at most once, with deadlines;
//! - `agent`: the actor that serves other nodes;
//! - [`handoff`]: the fenced move, written down as a state machine per side
//!   (source, target, relay);
//! - [`drain`]: emptying a node;
//! - [`portable`](crate::portable) (what makes an actor movable), [`snapshot`] (the versioned
//!   encoding of state and dictionary), `stream` (tables in chunks), `bulk`
//!   (the data path of moves), [`error`](mod@error), and the internals
//!   `kind`, `wire` and `fault`.

pub(crate) mod agent;
pub(crate) mod bulk;
pub mod drain;
pub mod error;
pub(crate) mod fault;
pub mod handoff;
pub(crate) mod heartbeat;
pub(crate) mod kind;
pub mod node;
pub mod peers;
pub(crate) mod routes;
pub mod snapshot;
pub(crate) mod wire;

pub use crate::portable::{Parts, Portable};
pub use drain::{DrainProgress, DrainReport};
pub use error::{ClusterError, MoveError, RemoteCallError};
pub use handoff::{MovePhase, MoveProgress, MoveReport};
pub use heartbeat::Loss;
pub use node::{Node, NodeConfig, Tls};
pub use snapshot::SnapshotError;
/// The TLS crate ractor_cluster uses, re-exported so that a [`Tls`] is built
/// with the same version.
pub use tokio_rustls;

/// Every decoder that reads bytes another node sent, run on `bytes`: a
/// request, a response, a snapshot, a chunk of table rows and of removed keys.
/// Each must refuse garbage with an error, never panic, and never allocate
/// far beyond the input because of a length prefix. Returns how many of them
/// accepted the bytes. For fuzzing; not part of the API.
#[doc(hidden)]
pub fn decode_untrusted(bytes: &[u8]) -> usize {
    fuzz::decode_all(bytes)
}

/// Valid encodings of each kind [`decode_untrusted`] reads, to mutate.
#[doc(hidden)]
pub fn fuzz_seeds() -> Vec<Vec<u8>> {
    fuzz::seeds()
}

mod fuzz;

/// Waits until a task is parked at the fault point `point` by its action
/// `HOLD` (feature `faults`, for the node-process tests). Not part of the
/// API.
#[cfg(feature = "faults")]
#[doc(hidden)]
pub async fn fault_reached(point: &str) {
    fault::reached(point).await;
}

/// Lets the task parked at the fault point `point` go on (feature
/// `faults`). Not part of the API.
#[cfg(feature = "faults")]
#[doc(hidden)]
pub fn fault_release(point: &str) {
    fault::release(point);
}
