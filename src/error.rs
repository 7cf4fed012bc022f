//! Error types, one enum per concern.
//!
//! - [`CallError`]: a call did not produce a reply.
//! - [`SendError`]: a cast or info message could not be queued.
//! - [`LookupError`]: a name did not resolve to an instance of the wanted type.
//! - [`StartError`]: a child could not be started.
//! - [`StopError`]: a child could not be stopped and its state handed back.
//! - [`TransferError`]: a transfer was refused; the instance stays where it was.
//! - [`TableError`]: a named table could not be opened.
//!
//! With the `cluster` feature: `ClusterError` (a node could not start or
//! connect), `RemoteCallError` (a call by name across nodes failed) and
//! `MoveError` (a move to another node was refused or failed; the instance
//! stays at the source).
//!
//! [`Crash`] says why one callback ended abnormally and [`StopReason`] why an
//! instance stopped for good; both appear inside the errors above.

use std::time::Duration;

use crate::instance::InstanceId;

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
    /// The instance's underlying actor was stopped from outside peeper while this
    /// call was queued; the instance was restarted but the call was dropped.
    #[error("the call to {name:?} was dropped: its actor was stopped from outside")]
    Dropped {
        /// The instance called.
        name: String,
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

/// A cast or info message could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
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
    /// The instance has stopped for good.
    #[error("{name:?} has stopped: {reason}")]
    Stopped {
        /// The instance addressed.
        name: String,
        /// Why it stopped.
        reason: StopReason,
    },
    /// The instance's actor is being restarted after it was stopped from outside
    /// peeper; try again.
    #[error("{name:?} is restarting after its actor was stopped from outside")]
    Restarting {
        /// The instance addressed.
        name: String,
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

impl From<LookupError> for CallError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::NotFound { name } => CallError::NotFound { name },
            LookupError::WrongType { name, actual } => CallError::WrongType { name, actual },
        }
    }
}

impl From<LookupError> for SendError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::NotFound { name } => SendError::NotFound { name },
            LookupError::WrongType { name, actual } => SendError::WrongType { name, actual },
        }
    }
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
    /// The child runs another actor type than the one asked for.
    #[error("the instance {name:?} is a {actual}, not the requested actor type")]
    WrongType {
        /// The name asked for.
        name: String,
        /// The actor type the instance really runs.
        actual: &'static str,
    },
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
    /// No instance is registered under this name.
    #[error("no instance is registered under the name {name:?}")]
    NotFound {
        /// The name asked for.
        name: String,
    },
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

/// A node could not start, or could not connect to a peer.
#[cfg(feature = "cluster")]
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
#[cfg(feature = "cluster")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteCallError {
    /// No node knows an instance under this name.
    #[error("no node runs an instance named {name:?}")]
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// The instance runs another actor kind than the one asked for.
    #[error("{name:?} is not a {expected}")]
    WrongKind {
        /// The name asked for.
        name: String,
        /// The kind asked for ([`Portable::KIND`](crate::cluster::Portable::KIND)).
        expected: String,
    },
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
#[cfg(feature = "cluster")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoveError {
    /// No instance of this kind is registered here under this name.
    #[error("no instance of this kind is registered here under the name {name:?}")]
    NotFound {
        /// The name asked for.
        name: String,
    },
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
