//! [`StartOptions`]: how one child is started.

use crate::restart::RestartPolicy;

/// How a child is started: its restart policy and the bound of its inbox.
///
/// ```
/// use std::time::Duration;
/// use peeper::{RestartPolicy, StartOptions};
///
/// let options = StartOptions::default()
///     .restart_policy(RestartPolicy::new(3, Duration::from_secs(5)))
///     .capacity(10_000);
/// assert_eq!(options.capacity_limit(), Some(10_000));
/// ```
///
/// A [`RestartPolicy`] converts into options with just that policy, so
/// `start_child_with(name, behaviour, state, policy)` reads as it always did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartOptions {
    policy: Option<RestartPolicy>,
    capacity: Option<usize>,
}

impl StartOptions {
    /// Restarts under `policy` instead of the supervisor's default.
    pub fn restart_policy(mut self, policy: RestartPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Bounds the inbox: at most `capacity` messages queued (at least one).
    /// When it is full, [`Handle::cast`](crate::Handle::cast) and
    /// [`Handle::send`](crate::Handle::send) refuse with
    /// [`Undelivered::Full`](crate::Undelivered::Full) and hand the message
    /// back, [`Handle::cast_wait`](crate::Handle::cast_wait) waits for room,
    /// and calls wait for room within their timeout. The bound holds across
    /// crashes, transfers and moves. Default: unbounded.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity.max(1));
        self
    }

    /// The bound set with [`StartOptions::capacity`], if any.
    pub fn capacity_limit(&self) -> Option<usize> {
        self.capacity
    }

    pub(crate) fn policy_or(&self, default: RestartPolicy) -> RestartPolicy {
        self.policy.unwrap_or(default)
    }
}

impl From<RestartPolicy> for StartOptions {
    fn from(policy: RestartPolicy) -> Self {
        StartOptions::default().restart_policy(policy)
    }
}
