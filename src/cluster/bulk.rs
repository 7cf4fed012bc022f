//! The data plane of a move between nodes: one TCP stream per move, beside
//! ractor_cluster, that carries a move's table chunks as opaque frames with
//! few copies and bounded memory.
//!
//! Each node binds one [`DataPort`]. A move's target
//! [expects](DataPort::expect) the stream of that move under an opaque key
//! (the move's id) and [runs](Incoming::run) it, applying each frame as it
//! arrives; the move's source [opens](Outgoing::open) the stream to the
//! target's port, [sends](Outgoing::send) frames and
//! [finishes](Outgoing::finish).
//!
//! # The protocol
//!
//! ```text
//!  Outgoing (source)                           DataPort + Incoming (target)
//!  TCP connect, then TLS when the node has it ─────────────────────────────▶
//!  Hello      magic, nonce_c, H(key)        ──▶  key not expected: Refused, close
//!             ◀──  Challenge  ok, nonce_s, proof_s
//!  proof_s wrong: Auth, close
//!  Proof      proof_c                       ──▶  proof_c wrong: close
//!             ◀──  Verdict  ok | taken
//!  Frame      header, table, payload  …     ──▶  apply each, in order
//!             ◀──  Applied(bytes) … | Failed(text)
//!  End                                      ──▶
//!             ◀──  Done(frames)
//! ```
//!
//! Both proofs are HMAC-SHA256 keyed with the cluster's cookie over a domain
//! string (one per side, so that neither proof can be replayed as the other),
//! both nonces and the key; they are checked in constant time. Until the
//! target has checked `proof_c` it reads nothing but the fixed-size hello
//! and proof, within [`HANDSHAKE_TIMEOUT`]. After the handshake every length
//! prefix is checked against a limit ([`MAX_FRAME`], [`MAX_TABLE_NAME`])
//! before anything is allocated.
//!
//! When a side dies:
//! - during the handshake, the other side sees the connection close (or the
//!   timeout): [`Outgoing::open`] fails, and the target's port drops the
//!   connection but keeps the registration, so a new attempt can connect;
//! - while frames flow, [`Incoming::run`] fails with
//!   [`BulkError::ClosedEarly`] (the source died), or the source's next
//!   `send`, `flush` or `finish` fails (the target died or failed to apply a
//!   frame, [`BulkError::Apply`]);
//! - between `End` and `Done`, `finish` fails although the target may have
//!   applied everything: the move then counts as failed, as a move whose
//!   last step is lost does.
//!
//! # Who owns what
//!
//! The port's accept task owns a connection until it is authenticated and
//! claimed; from then on the [`Incoming`] that expected it owns it, so
//! dropping the port stops new streams but not the ones already delivered.
//! The registry of expected keys is one mutex, held only for map operations,
//! never across an await. An [`Outgoing`] writes frames from its caller's
//! task and reads the target's acknowledgements in a task of its own, which
//! it ends when dropped. Memory stays bounded: the source waits while more
//! than its window is unacknowledged, and the target acknowledges a frame
//! only once it has applied it.
//!
//! Map: `codec` (frames and replies on the wire), `handshake` (the
//! authentication and TLS), `registry` (who expects which stream), `port`
//! ([`DataPort`]), `incoming` ([`Incoming`]), `outgoing` ([`Outgoing`]).

use std::io;
use std::sync::Arc;
use std::time::Duration;

mod codec;
mod handshake;
mod incoming;
mod outgoing;
mod port;
mod registry;
#[cfg(test)]
mod tests;

pub(crate) use incoming::Incoming;
pub(crate) use {outgoing::Outgoing, port::DataPort};

/// The largest payload of one frame, checked before anything is allocated.
pub(crate) const MAX_FRAME: usize = 32 * 1024 * 1024;

/// The longest table name a frame carries.
pub(crate) const MAX_TABLE_NAME: usize = 4096;

/// How many bytes a source sends before it waits for acknowledgements, by
/// default ([`Outgoing::with_window`] changes it).
pub(crate) const WINDOW: u64 = 8 * 1024 * 1024;

/// How long the port waits for a connection to authenticate.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a frame carries; the receiver interprets `table`, `count`, `bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// Rows of a table.
    Rows,
    /// Keys removed from a table.
    Remove,
    /// A table emptied.
    Reset,
    /// An instance's snapshot.
    Snapshot,
    /// A piece of one dictionary entry, sent ahead of the snapshot.
    Entry,
}

/// One unit of a stream: opaque bytes and what they are about.
#[derive(Debug)]
pub(crate) struct Frame {
    /// What the frame carries.
    pub(crate) kind: FrameKind,
    /// The table it concerns (empty when none), at most [`MAX_TABLE_NAME`]
    /// bytes.
    pub(crate) table: String,
    /// How many items `bytes` holds, as the sender counts them.
    pub(crate) count: u32,
    /// The payload, at most [`MAX_FRAME`] bytes; sent as it is.
    pub(crate) bytes: Vec<u8>,
}

/// A bulk stream failed.
///
/// Cloneable (an I/O error is shared), so that an [`Outgoing`] can report
/// the failure its acknowledgement reader saw to each later call.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum BulkError {
    /// Reading or writing the socket failed.
    #[error("bulk stream i/o failed: {0}")]
    Io(#[source] Arc<io::Error>),
    /// The TLS handshake failed, or the configured server name is invalid.
    #[error("TLS with the peer failed: {reason}")]
    Tls {
        /// What failed.
        reason: String,
    },
    /// The peer could not prove that it knows the cluster's cookie.
    #[error("the peer does not know the cluster's cookie")]
    Auth,
    /// The peer closed the connection during the handshake: not a data
    /// port, TLS on one side only, or a proof it refused.
    #[error("the peer closed the connection during the handshake")]
    Refused,
    /// The target expects no stream under this key.
    #[error("the target expects no stream for this move")]
    UnknownKey,
    /// Another stream has already connected for this key.
    #[error("another stream has already connected for this move")]
    AlreadyConnected,
    /// Something did not happen in time.
    #[error("timed out after {after:?} {during}")]
    Timeout {
        /// What was awaited.
        during: &'static str,
        /// How long.
        after: Duration,
    },
    /// The target failed to apply a frame; the text is its `apply`'s.
    #[error("applying a frame failed: {0}")]
    Apply(String),
    /// A frame's payload is over [`MAX_FRAME`].
    #[error("a frame of {size} bytes is over the limit of {limit}")]
    FrameTooLarge {
        /// The payload's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A frame's table name is over [`MAX_TABLE_NAME`].
    #[error("a table name of {size} bytes is over the limit of {limit}")]
    TableNameTooLong {
        /// The name's length.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The peer closed the stream before it was finished.
    #[error("the peer closed the stream before it was finished")]
    ClosedEarly,
    /// The peer sent bytes that are not the protocol.
    #[error("malformed bulk stream: {0}")]
    Malformed(&'static str),
    /// The data port closed, or the key was expected again, before the
    /// source connected.
    #[error("the data port no longer expects this stream")]
    PortClosed,
    /// An earlier call failed or was cancelled mid-frame; the stream is no
    /// longer usable.
    #[error("the stream failed earlier and is no longer usable")]
    Unusable,
}

impl From<io::Error> for BulkError {
    fn from(e: io::Error) -> Self {
        // A connection that ends mid-message, or is reset, is the peer
        // closing early: the same outcome whichever read or write noticed it.
        match e.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => BulkError::ClosedEarly,
            _ => BulkError::Io(Arc::new(e)),
        }
    }
}
