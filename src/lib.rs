//! # peeper
//!
//! Actors that keep what they know when they crash, and move between
//! supervisors without dropping a message: Erlang's "let it crash" for
//! stateful services (game rooms, chat sessions, device twins, order books)
//! built on [tokio](https://tokio.rs) and [ractor](https://docs.rs/ractor).
//!
//! You implement [`Actor`]; peeper runs each instance under a dynamic
//! [`Supervisor`], registered under a name. When a callback panics, returns an
//! error or is killed while it awaits, only that callback ends: the instance
//! keeps its state as of the last completed callback, its [`Dictionary`], its
//! named [`Table`]s, its queued messages and its timers, runs `init` again with
//! [`Start::Restored`], and goes on with the next message. Its name and every
//! [`Handle`] keep working. [`transfer()`] moves a live instance to another
//! supervisor in O(1), copying nothing and losing nothing. With the `cluster`
//! feature, `cluster::Node::move_to` moves it to a supervisor on another
//! node: tables stream while it runs, it is frozen only for what changed
//! meanwhile, and no message is lost (see the `cluster` module). With the
//! `durable` feature, an instance started through a `durable::Durable`
//! survives the whole process dying: every change is stored on an embedded
//! store (redb) before the reply that follows it leaves, and a restart
//! brings it back under its name (see the `durable` module).
//!
//! ```
//! use peeper::{Actor, BoxError, Context, StateMut, Supervisor};
//!
//! struct Counter;
//!
//! enum Cast { Add(u64), Explode }
//!
//! impl Actor for Counter {
//!     type State = u64;
//!     type Call = ();
//!     type Reply = u64;
//!     type Cast = Cast;
//!     type Info = ();
//!
//!     async fn handle_call(&self, _: (), state: &mut StateMut<u64>, _: &mut Context<Self>)
//!         -> Result<u64, BoxError> {
//!         Ok(**state)
//!     }
//!
//!     async fn handle_cast(&self, msg: Cast, state: &mut StateMut<u64>, ctx: &mut Context<Self>)
//!         -> Result<(), BoxError> {
//!         match msg {
//!             Cast::Add(n) => {
//!                 **state += n;
//!                 ctx.table::<&'static str, u64>("log")?.insert("last", n);
//!             }
//!             Cast::Explode => panic!("boom"),
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = Supervisor::start("source").await?;
//! let counter = source.start_child("counter", Counter, 0).await?;
//!
//! counter.cast(Cast::Add(2))?;
//! counter.cast(Cast::Explode)?; // the worker panics...
//! counter.cast(Cast::Add(1))?;  // ...and this is still handled, after a restart
//! assert_eq!(counter.call(()).await?, 3);
//!
//! let target = Supervisor::start("target").await?;
//! peeper::transfer("counter", &source, &target).await?;
//! assert_eq!(peeper::call::<Counter>("counter", ()).await?, 3);
//! assert_eq!(counter.table::<&str, u64>("log")?.get("last"), Some(1));
//! # source.stop().await;
//! # target.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! ## Guarantees
//!
//! - A panic or an error in any callback, or a [kill](Handle::kill) of the
//!   worker while a callback awaits, ends only that callback. Its caller gets
//!   [`CallError::Crashed`] at once; the message is not retried.
//! - Kept across such a crash: the state and the dictionary as of the last
//!   completed callback (the crashed callback's changes to them are dropped),
//!   the tables (not transactional: writes stay), every queued message (handled
//!   afterwards, in order), the timers, the name and every handle.
//! - A message that does not change the state copies nothing; one that does
//!   clones the state at most once (copy-on-write).
//! - A local [`transfer()`] copies nothing; name, handles, mailbox, tables and
//!   timers stay valid and no message is lost, duplicated or reordered.
//! - More crashes than the [`RestartPolicy`] allows stop the instance with
//!   [`StopReason::RestartLimit`]; its last state stays readable through its
//!   handle ([`Handle::last_state`]).
//! - Every refusal is a typed error, returned promptly: an unknown name, a
//!   taken name, a zero timeout, a transfer that cannot happen.
//! - A stop of an instance's ractor actor from outside peeper (ractor's
//!   `stop`/`kill` on it) loses nothing either: the supervisor respawns the
//!   actor, which handles first the messages the old one left queued.
//!
//! ## Words
//!
//! One name per concept, used everywhere in the code and the docs:
//!
//! | word | what it is |
//! |---|---|
//! | instance | one running actor managed by peeper, registered under a name; [`InstanceId`] |
//! | behaviour | the value implementing [`Actor`], shared by all of an instance's workers |
//! | kept parts (`Kept`) | what outlives every worker: committed state and dictionary, tables, timers, inbox, restart window, owner |
//! | committed | the state and dictionary as of the last completed callback |
//! | worker | the ractor actor that runs the callbacks; a crash restarts the worker, not the instance |
//! | dormant | an instance with no worker yet: a new one gets its worker when it first needs one |
//! | envelope | what the worker's mailbox carries ([`Envelope`]); its body is a call, a cast, an info message, a wake-up or a job for the loop |
//! | crash | one callback ending abnormally ([`Crash`]) |
//! | stop | an instance ending for good ([`StopReason`]) |
//! | transfer | a move between supervisors of one node, O(1) |
//! | move | a move to a supervisor on another node (feature `cluster`) |
//! | durable | an instance whose changes are stored, so that a restart of the process brings it back (feature `durable`) |
//! | relay | what a moved instance leaves at the source while anyone can address it: it passes messages on, then retires |
//! | decision | the source's go or abort for a move, written down before the target learns it |
//!
//! ## Map of the crate
//!
//! From the bottom of the house up; a module imports only from the ones
//! above it in this list, or from its own floor (the behaviour, the instance
//! that runs it and its handle name each other). Nothing below the registry
//! imports the registry, the supervisor or the cluster:
//!
//! - [`id`]: the identities; [`error`]: one error enum per concern;
//!   [`event`](mod@event): [`SupervisorEvent`].
//! - [`restart`], [`dictionary`], [`table`], [`timer`]: the parts an instance
//!   keeps, each knowing nothing of instances; [`crash_report`]: callback
//!   panics to `tracing`.
//! - [`actor`]: the [`Actor`] trait, [`StateMut`], [`Start`], and
//!   [`Context`], what a callback reaches besides its state.
//! - [`instance`]: one running instance: `instance/kept.rs` (the kept
//!   parts), `instance/inbox.rs` (the bound and the rescued messages),
//!   `instance/worker.rs` (the crash-proof loop, with `instance/guard.rs`
//!   around each callback, and the kill signal), `instance/dormant.rs`
//!   (instances with no worker yet), `instance/frozen.rs` (a move's
//!   freeze of one), `instance/envelope.rs`,
//!   `instance/any.rs` (the type-erased view).
//! - [`handle`]: [`Handle`], the typed way to reach an instance.
//! - [`registry`]: names of instances and supervisors; [`call`], [`cast`],
//!   [`send`] by name; [`named`]: [`Named`], a name with its handle cached.
//! - [`supervisor`]: the dynamic [`Supervisor`]: `supervisor/children.rs`
//!   (every rule of the children map), `supervisor/events.rs` (actor ends
//!   and respawns).
//! - [`transfer`](mod@transfer): moving an instance between supervisors.
//! - `portable` (features `cluster` or `durable`): `Portable`, the parts of
//!   an instance that can leave memory, shared by moves and stores.
//! - `durable` (feature `durable`): the store, its group-commit writer, each
//!   durable instance's journal, and recovery. It reaches the core through a
//!   journal the worker calls after each callback (`instance/journal.rs`,
//!   empty without the feature) and a second table write observer.
//! - `cluster` (feature `cluster`): nodes over ractor_cluster, calls by name
//!   across them (at most once, with deadlines), fenced live moves between
//!   nodes with their bulk on a data stream, healing peers, drain. It reaches
//!   the core
//!   through seams that need no feature gate: a job that runs in an
//!   instance's loop, a relay for a moved instance, a table write observer,
//!   timers that can be taken out and put back.
//! - `dashboard` (feature `dashboard`): the live view, a web page, a JSON
//!   API and Prometheus metrics served from the process. It reaches the
//!   core through a probe the core calls when a message is queued, a crash
//!   counted or a transfer done (one flag load while no dashboard runs).
//!
//! ## ractor interop
//!
//! Each instance runs on a ractor actor, spawned when it first needs one:
//! [`Handle::actor_ref`] gives its `ActorRef<Envelope<A>>` (spawning it if
//! the instance had none yet), and ractor code sends it [`Envelope`]s (for
//! example with `ractor::call!(actor, Envelope::call, msg)`).

#![deny(missing_docs)]
// Without `cluster` and `durable`, the seams they reach the core through
// are unused.
#![cfg_attr(not(all(feature = "cluster", feature = "durable")), allow(dead_code))]
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod actor;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod crash_report;
#[cfg(feature = "dashboard")]
pub mod dashboard;
pub mod dictionary;
#[cfg(feature = "durable")]
pub mod durable;
pub mod error;
pub mod event;
pub mod handle;
pub mod id;
pub mod instance;
pub mod named;
#[cfg(any(feature = "cluster", feature = "durable"))]
pub mod portable;
pub mod registry;
pub mod restart;
pub mod supervisor;
pub mod table;
pub mod timer;
pub mod transfer;

pub use actor::{Actor, Context, Start, StateMut};
pub use dictionary::Dictionary;
pub use error::{
    BoxError, CallError, Crash, LookupError, SendError, StartError, StopError, StopReason,
    TableError, TransferError, Undelivered,
};
pub use event::SupervisorEvent;
pub use handle::{DEFAULT_CALL_TIMEOUT, Handle};
pub use id::{InstanceId, SupervisorId, TableId, TimerId};
pub use instance::Envelope;
pub use named::Named;
pub use registry::{call, call_timeout, cast, lookup, registered, send, whereis};
pub use restart::RestartPolicy;
pub use supervisor::{ChildInfo, ChildKind, StartOptions, Supervisor, SupervisorConfig};
pub use table::{Table, TableKey, TableReader, TableValue};
pub use transfer::transfer;

#[cfg(feature = "cluster")]
pub use cluster::{ClusterError, MoveError, RemoteCallError};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
