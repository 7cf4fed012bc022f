//! How a supervisor is configured, and how it lists its children.

use std::time::Duration;

use crate::id::InstanceId;
use crate::restart::RestartPolicy;

/// How a supervisor treats its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupervisorConfig {
    /// The restart policy of children started without one of their own.
    pub restart_policy: RestartPolicy,
    /// How long a stopping child may take (its queued callback and its
    /// `terminate`) before its actor is killed. Default: 5 seconds.
    pub shutdown_timeout: Duration,
    /// How many events a slow [`Supervisor::subscribe`](crate::Supervisor::subscribe) receiver may fall
    /// behind before it misses some. Default: 1024.
    pub event_capacity: usize,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            restart_policy: RestartPolicy::default(),
            shutdown_timeout: Duration::from_secs(5),
            event_capacity: 1024,
        }
    }
}

/// What kind of child an entry of [`Supervisor::which_children`](crate::Supervisor::which_children) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    /// A peeper instance: it supervises its own worker, so it is listed as a
    /// supervisor, as in Erlang's `which_children`.
    Supervisor,
    /// A plain worker.
    Worker,
}

/// One entry of [`Supervisor::which_children`](crate::Supervisor::which_children).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// The instance's registered name.
    pub name: String,
    /// The instance's identity, as [`whereis`](crate::whereis) returns it.
    pub id: InstanceId,
    /// Always [`ChildKind::Supervisor`] for instances.
    pub kind: ChildKind,
    /// The Rust type of the instance's actor.
    pub actor_type: &'static str,
}
