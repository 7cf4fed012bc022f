//! [`SupervisorEvent`]: what happened to a supervisor's children.
//!
//! Low in the house: instances report their own restarts, so the event type
//! must not live above them, in the supervisor.

use crate::error::{Crash, StopReason};
use crate::id::InstanceId;

/// Something that happened to a supervisor's children.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SupervisorEvent {
    /// A child was started.
    ChildStarted {
        /// Its name.
        name: String,
        /// Its identity.
        id: InstanceId,
    },
    /// A child's worker crashed and is being restarted with the kept parts.
    WorkerRestarted {
        /// Its name.
        name: String,
        /// Its identity.
        id: InstanceId,
        /// The crash.
        crash: Crash,
    },
    /// A child's actor was stopped from outside peeper and has been respawned.
    ActorRespawned {
        /// Its name.
        name: String,
        /// Its identity.
        id: InstanceId,
        /// What ended the old actor.
        crash: Crash,
    },
    /// A child stopped for good and is no longer a child.
    ChildStopped {
        /// Its name.
        name: String,
        /// Its identity.
        id: InstanceId,
        /// Why.
        reason: StopReason,
    },
    /// A child arrived from another supervisor.
    TransferredIn {
        /// Its name.
        name: String,
        /// Its identity.
        id: InstanceId,
        /// The supervisor it came from.
        from: String,
    },
    /// A child left for another supervisor.
    TransferredOut {
        /// Its name.
        name: String,
        /// Its identity.
        id: InstanceId,
        /// The supervisor it went to.
        to: String,
    },
    /// A durable child's change could not be stored: it runs on in memory,
    /// and its next change is stored whole (feature `durable`).
    #[cfg(feature = "durable")]
    NotStored {
        /// Its name.
        name: String,
        /// Its identity.
        id: InstanceId,
        /// What the store said.
        reason: String,
    },
}
