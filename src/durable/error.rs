//! The errors of durable stores: recovery and durable casts.

use super::store::StoreError;
use crate::error::StartError;

/// Why a supervisor's durable instances could not be brought back. Nothing
/// is started silently empty: the supervisor is stopped again on any of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoverError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store holds an instance of a kind no one registered.
    #[error("{name:?} is of kind {kind:?}, which is not registered")]
    UnknownKind {
        /// The instance.
        name: String,
        /// Its kind.
        kind: String,
    },
    /// The instance's state was written at a version its kind does not
    /// accept ([`Portable::accepts`](crate::portable::Portable::accepts)).
    #[error("{name:?} ({kind:?}) was stored at version {found}; this program reads {ours}")]
    Version {
        /// The instance.
        name: String,
        /// Its kind.
        kind: String,
        /// The version it was stored at.
        found: u32,
        /// The version this program writes.
        ours: u32,
    },
    /// What the store holds for the instance cannot be read.
    #[error("{name:?} cannot be read back: {reason}")]
    Corrupt {
        /// The instance.
        name: String,
        /// Why.
        reason: String,
    },
    /// The supervisor, or an instance, could not be started again (a name
    /// already taken, an `init` that failed).
    #[error(transparent)]
    Start(StartError),
}

/// Why [`Handle::cast_durable`](crate::Handle::cast_durable) did not queue
/// a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CastDurableError {
    /// The instance was not started through a [`Durable`](super::Durable).
    #[error("{name:?} is not durable")]
    NotDurable {
        /// The instance.
        name: String,
    },
    /// The message could not be stored; it was not queued.
    #[error("the message to {name:?} could not be stored: {reason}")]
    Store {
        /// The instance.
        name: String,
        /// Why.
        reason: String,
    },
    /// The instance moved to another node: a durable cast goes to the node
    /// that runs it. Nothing was stored.
    #[error("{name:?} moved to node {node:?}")]
    Moved {
        /// The instance.
        name: String,
        /// The node it moved to.
        node: String,
    },
    /// The message was stored but the instance stopped for good before it
    /// was queued; it was taken out of the store again.
    #[error("{name:?} has stopped")]
    Stopped {
        /// The instance.
        name: String,
    },
}
