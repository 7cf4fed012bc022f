//! The errors of the cluster: a node that cannot start or connect, a call by
//! name across nodes that fails, a move that is refused. As in the core,
//! "no such instance" is [`LookupError`]'s alone.

use std::time::Duration;

use crate::error::{CallError, LookupError};

/// A node could not start, or could not connect to a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The node's server could not start (for example, its port is taken).
    #[error("node {node:?} could not start: {reason}")]
    Start {
        /// The node's name.
        node: String,
        /// What failed.
        reason: String,
    },
    /// No TCP connection could be opened to the peer.
    #[error("could not connect to {addr}: {reason}")]
    Connect {
        /// The peer's address.
        addr: String,
        /// What failed.
        reason: String,
    },
    /// The peer closed the connection during the handshake: a wrong cookie,
    /// or a node that refuses this one.
    #[error("{addr} refused the connection (wrong cookie?)")]
    Refused {
        /// The peer's address.
        addr: String,
    },
    /// A TLS certificate, key or authority could not be used.
    #[error("TLS: {reason}")]
    Tls {
        /// What failed.
        reason: String,
    },
    /// The handshake did not finish in time.
    #[error("no handshake with {addr} within {after:?}")]
    Timeout {
        /// The peer's address.
        addr: String,
        /// How long peeper waited.
        after: Duration,
    },
}

/// A call or cast by name across nodes failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteCallError {
    /// No node knows an instance under this name
    /// ([`LookupError::NotFound`]), or it runs another kind
    /// ([`LookupError::WrongType`]).
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The node that runs the instance could not be reached.
    #[error("node {node:?} could not be reached: {reason}")]
    Unreachable {
        /// The node's name.
        node: String,
        /// What failed.
        reason: String,
    },
    /// A message or reply could not be encoded or decoded.
    #[error("could not encode or decode a message for {name:?}: {reason}")]
    Codec {
        /// The instance called.
        name: String,
        /// What failed.
        reason: String,
    },
    /// The instance was reached and the call failed there.
    #[error(transparent)]
    Call(#[from] CallError),
}

/// A move to another node was refused or failed. In every case the instance
/// stays at the source, with its state, and goes on handling messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoveError {
    /// No instance of this kind is registered here under this name.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The instance is not a child of the source supervisor.
    #[error("{name:?} is not a child of supervisor {supervisor:?}")]
    NotChild {
        /// The name asked for.
        name: String,
        /// The supervisor given as the source.
        supervisor: String,
    },
    /// Another move, transfer or stop of this instance is under way, or it
    /// has already moved away.
    #[error("a move, transfer or stop of {name:?} is already under way")]
    InProgress {
        /// The name asked for.
        name: String,
    },
    /// No connected node has this name.
    #[error("no connected node is named {node:?}")]
    UnknownNode {
        /// The node asked for.
        node: String,
    },
    /// A part of the instance cannot travel: a table or dictionary key not
    /// declared in [`Portable::parts`](crate::cluster::Portable::parts), or
    /// pending timers.
    #[error("{name:?} cannot move: {what}")]
    NotPortable {
        /// The name asked for.
        name: String,
        /// The part that cannot travel.
        what: String,
    },
    /// The target node refused the move.
    #[error("node {node:?} refused {name:?}: {reason}")]
    Refused {
        /// The name asked for.
        name: String,
        /// The target node.
        node: String,
        /// Why, as the target said it.
        reason: String,
    },
    /// The target stopped answering during the move.
    #[error("lost node {node:?} while moving {name:?}: {reason}")]
    Lost {
        /// The name asked for.
        name: String,
        /// The target node.
        node: String,
        /// What failed.
        reason: String,
    },
    /// A part of the instance could not be encoded.
    #[error("could not encode {name:?}: {reason}")]
    Encode {
        /// The name asked for.
        name: String,
        /// What failed.
        reason: String,
    },
}
