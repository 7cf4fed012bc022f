//! Error types, one enum per concern.
//!
//! - [`CallError`]: a call did not produce a reply.
//! - [`SendError`]: a cast or info message could not be queued; it hands the
//!   message back.
//! - [`LookupError`]: a name did not resolve to an instance of the wanted type.
//! - [`StartError`]: a child could not be started.
//! - [`StopError`]: a child could not be stopped and its state handed back.
//! - [`TransferError`]: a transfer was refused; the instance stays where it was.
//! - [`TableError`]: a named table could not be opened.
//!
//! One outcome, one variant: "no instance under this name" and "an instance
//! of another type" are [`LookupError`]'s alone, and every error that can
//! meet them wraps it (`#[from]`), so `?` converts and a caller matches one
//! shape everywhere. A message that could not be delivered comes back inside
//! its [`SendError`], so the caller can retry without having cloned it.
//!
//! The `cluster` module adds its own errors (`ClusterError`,
//! `RemoteCallError`, `MoveError`) on the same principle.
//!
//! [`Crash`] says why one callback ended abnormally and [`StopReason`] why an
//! instance stopped for good; both appear inside the errors above.

use std::fmt;
use std::time::Duration;

use crate::id::InstanceId;

/// A boxed error, as returned by user callbacks.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why one callback (or the worker running it) ended abnormally.
///
/// A crash ends only the callback: the instance restarts its worker with the
/// kept state and goes on with the next queued message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "cluster", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Crash {
    /// The callback panicked; the panic message is kept.
    #[error("panicked: {0}")]
    Panicked(String),
    /// The callback returned an error; its text is kept.
    #[error("returned an error: {0}")]
    Failed(String),
    /// The worker was killed (see [`Handle::kill`](crate::Handle::kill)) while the
    /// callback was running.
    #[error("killed")]
    Killed,
    /// The instance's underlying ractor actor stopped without being asked to by
    /// peeper (for example `ActorRef::stop` from ractor code); its supervisor
    /// restarted it, but the messages that were queued at that moment are gone.
    #[error("its actor was stopped from outside: {0}")]
    ActorLost(String),
}

/// Why an instance stopped for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "cluster", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum StopReason {
    /// Stopped on request ([`Supervisor::terminate_child`](crate::Supervisor::terminate_child)).
    #[error("terminated on request")]
    Normal,
    /// Its supervisor was stopped.
    #[error("its supervisor shut down")]
    Shutdown,
    /// It crashed more often than its [`RestartPolicy`](crate::RestartPolicy) allows.
    #[error("crashed {restarts} times within {within:?} (last: {last})")]
    RestartLimit {
        /// How many restarts were counted within the window.
        restarts: u32,
        /// The window of the policy.
        within: Duration,
        /// The crash that went over the limit.
        last: Crash,
    },
}

/// A call did not produce a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The name did not resolve to an instance of the wanted type.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// No reply came within the timeout. A zero timeout fails at once without
    /// sending anything; a call whose handling had not begun when its caller gave
    /// up is never handled.
    #[error("call to {name:?} timed out after {timeout:?}")]
    Timeout {
        /// The instance called.
        name: String,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// The worker crashed while handling this very call. The call is not
    /// retried; the state is the one before it.
    #[error("the worker of {name:?} crashed handling this call: {crash}")]
    Crashed {
        /// The instance called.
        name: String,
        /// What happened.
        crash: Crash,
    },
    /// The instance has stopped for good.
    #[error("{name:?} has stopped: {reason}")]
    Stopped {
        /// The instance called.
        name: String,
        /// Why it stopped.
        reason: StopReason,
    },
    /// The call was dropped unanswered on its way: a relay to another node
    /// lost it, or ractor code dropped the envelope. Calls made through a
    /// [`Handle`](crate::Handle) are never dropped by a stop from outside:
    /// they are handled by the respawned actor.
    #[error("the call to {name:?} was dropped unanswered")]
    Dropped {
        /// The instance called.
        name: String,
    },
    /// The call was handled, but its change could not be stored: the
    /// instance runs on in memory with it, and the store lacks it until a
    /// later change is stored whole (feature `durable`).
    #[cfg(feature = "durable")]
    #[error("the change {name:?} made could not be stored: {reason}")]
    NotDurable {
        /// The instance called.
        name: String,
        /// What the store said.
        reason: String,
    },
    /// The instance moved to another node, and that node could not be reached
    /// or could not handle the call.
    #[cfg(feature = "cluster")]
    #[error("the call to {name:?} could not reach its node: {reason}")]
    Unreachable {
        /// The instance called.
        name: String,
        /// What went wrong on the way.
        reason: String,
    },
}

/// A cast or info message could not be queued. The message comes back:
/// [`SendError::into_message`].
///
/// ```
/// # use peeper::{Actor, SendError, Undelivered};
/// # struct Idle;
/// # impl Actor for Idle {
/// #     type State = ();
/// #     type Call = ();
/// #     type Reply = ();
/// #     type Cast = String;
/// #     type Info = ();
/// # }
/// let refused: SendError<String> = peeper::cast::<Idle>("nobody", "hello".to_owned()).unwrap_err();
/// assert!(matches!(refused.reason(), Undelivered::Lookup(_)));
/// assert_eq!(refused.into_message(), "hello");
/// ```
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SendError<M> {
    message: M,
    reason: Undelivered,
}

impl<M> SendError<M> {
    pub(crate) fn new(message: M, reason: Undelivered) -> Self {
        SendError { message, reason }
    }

    /// Why the message was not queued.
    pub fn reason(&self) -> &Undelivered {
        &self.reason
    }

    /// The message, to retry or to drop.
    pub fn into_message(self) -> M {
        self.message
    }

    /// The message and why it was not queued.
    pub fn into_parts(self) -> (M, Undelivered) {
        (self.message, self.reason)
    }

    /// The reason alone, for callers that do not want the message back
    /// (for example to box the error).
    pub fn without_message(self) -> Undelivered {
        self.reason
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The message type need not be `Debug`.
        f.debug_struct("SendError")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// Why a message was not queued; see [`SendError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Undelivered {
    /// The name did not resolve to an instance of the wanted type.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The instance has stopped for good.
    #[error("{name:?} has stopped: {reason}")]
    Stopped {
        /// The instance addressed.
        name: String,
        /// Why it stopped.
        reason: StopReason,
    },
    /// The instance's inbox is bounded and full (see
    /// [`StartOptions::capacity`](crate::StartOptions::capacity)); try again
    /// later, or wait for room with
    /// [`Handle::cast_wait`](crate::Handle::cast_wait).
    #[error("the inbox of {name:?} is full ({capacity} messages)")]
    Full {
        /// The instance addressed.
        name: String,
        /// Its inbox's bound.
        capacity: usize,
    },
}

/// A name did not resolve to an instance of the wanted type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// No instance is registered under this name.
    #[error("no instance is registered under the name {name:?}")]
    NotFound {
        /// The name looked up.
        name: String,
    },
    /// The name belongs to an instance of another actor type.
    #[error("the instance {name:?} is a {actual}, not the requested actor type")]
    WrongType {
        /// The name looked up.
        name: String,
        /// The actor type the instance really runs.
        actual: &'static str,
    },
}

/// A child could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The name is already taken by another instance.
    #[error("the name {name:?} is already taken")]
    NameTaken {
        /// The name asked for.
        name: String,
    },
    /// The supervisor is stopping or has stopped.
    #[error("supervisor {supervisor:?} is stopped")]
    SupervisorStopped {
        /// The supervisor's name.
        supervisor: String,
    },
    /// The actor's `init` failed on a fresh start; nothing was registered.
    #[error("init of {name:?} failed: {crash}")]
    InitFailed {
        /// The name asked for.
        name: String,
        /// What happened in `init`.
        crash: Crash,
    },
    /// ractor refused to spawn the actor.
    #[error("could not spawn {name:?}: {reason}")]
    Spawn {
        /// The name asked for.
        name: String,
        /// ractor's error text.
        reason: String,
    },
    /// A durable instance started, but its first state could not be
    /// stored: it runs in memory, and its next change is stored whole
    /// (feature `durable`).
    #[cfg(feature = "durable")]
    #[error("{name:?} started but could not be stored: {reason}")]
    NotStored {
        /// The name asked for.
        name: String,
        /// What the store said.
        reason: String,
    },
}

/// A child could not be stopped and its state handed back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StopError {
    /// No instance of this name is a child of this supervisor.
    #[error("{name:?} is not a child of supervisor {supervisor:?}")]
    NotChild {
        /// The name asked for.
        name: String,
        /// The supervisor asked.
        supervisor: String,
    },
    /// The child runs another actor type than the one asked for
    /// ([`LookupError::WrongType`]); it keeps running.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The child is already stopping (another stop, or a transfer, is under way).
    #[error("{name:?} is busy: a stop or a transfer is under way")]
    Busy {
        /// The name asked for.
        name: String,
    },
}

/// A transfer was refused. In every case the instance stays under the
/// supervisor it was under, with its state, and keeps handling messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// No instance is registered under this name ([`LookupError::NotFound`]).
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
    /// Source and target are the same supervisor.
    #[error("{name:?} is already under supervisor {supervisor:?}")]
    SameSupervisor {
        /// The name asked for.
        name: String,
        /// The supervisor given twice.
        supervisor: String,
    },
    /// The target supervisor is stopping or stopped.
    #[error("target supervisor {supervisor:?} is stopped")]
    TargetStopped {
        /// The target's name.
        supervisor: String,
    },
    /// The source supervisor is stopping or stopped.
    #[error("source supervisor {supervisor:?} is stopped")]
    SourceStopped {
        /// The source's name.
        supervisor: String,
    },
    /// Another transfer or a stop of this instance is under way.
    #[error("a transfer or stop of {name:?} is already under way")]
    InProgress {
        /// The name asked for.
        name: String,
    },
}

/// A named table could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// The instance has no table of this name.
    #[error("instance {instance} has no table named {table:?}")]
    NotFound {
        /// The instance asked.
        instance: InstanceId,
        /// The table name asked for.
        table: String,
    },
    /// The table exists with other key or value types.
    #[error("table {table:?} holds {actual}, not the requested key and value types")]
    WrongType {
        /// The table name asked for.
        table: String,
        /// The table's real key and value types.
        actual: &'static str,
    },
}

/// Text of a panic payload, for [`Crash::Panicked`].
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_owned()
    }
}
