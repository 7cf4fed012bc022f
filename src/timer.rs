//! Timers that deliver info messages to an instance.
//!
//! A timer is set from a callback with
//! [`Context::send_after`](crate::Context::send_after) or
//! [`Context::send_interval`](crate::Context::send_interval). It belongs to
//! the instance's kept parts, not to the worker: it runs as its own tokio task
//! and delivers through the instance's handle, so crashes, kills and local
//! transfers neither cancel nor delay it. Like tables (and unlike the state), a
//! timer set by a callback that later crashes stays set. Timers are cancelled
//! when the instance stops for good.
//!
//! The task holds only a weak reference to the instance, so a pending timer
//! never keeps a stopped instance alive.

use std::collections::HashMap;
use std::fmt;
use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::task::AbortHandle;

use crate::actor::Actor;
use crate::handle::Handle;
use crate::instance::Shared;

/// Identifies a timer of one instance, for
/// [`Context::cancel_timer`](crate::Context::cancel_timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

impl fmt::Display for TimerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timer#{}", self.0)
    }
}

/// The pending timers of one instance.
#[derive(Default)]
pub(crate) struct Timers {
    next: AtomicU64,
    live: Mutex<HashMap<u64, AbortHandle>>,
}

impl Timers {
    /// Starts a timer that sends `make()` after `delay`, then every `period`
    /// if one is given.
    pub(crate) fn start<A: Actor>(
        &self,
        instance: Weak<Shared<A>>,
        delay: Duration,
        period: Option<Duration>,
        mut make: impl FnMut() -> A::Info + Send + 'static,
    ) -> TimerId {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        // The lock is held across the spawn so that a timer firing at once
        // cannot try to forget its entry before the entry exists.
        let mut live = self.live.lock();
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            loop {
                let Some(shared) = instance.upgrade() else {
                    return;
                };
                let handle = Handle::from_shared(shared);
                if handle.send(make()).is_err() {
                    return;
                }
                match period {
                    Some(p) => {
                        drop(handle);
                        tokio::time::sleep(p).await;
                    }
                    None => {
                        handle.shared().timers.live.lock().remove(&id);
                        return;
                    }
                }
            }
        });
        live.insert(id, task.abort_handle());
        TimerId(id)
    }

    /// Cancels a pending timer; `false` if it already fired or was cancelled.
    pub(crate) fn cancel(&self, id: TimerId) -> bool {
        match self.live.lock().remove(&id.0) {
            Some(task) => {
                task.abort();
                true
            }
            None => false,
        }
    }

    /// Cancels every pending timer.
    pub(crate) fn cancel_all(&self) {
        for (_, task) in self.live.lock().drain() {
            task.abort();
        }
    }

    /// How many timers are pending.
    pub(crate) fn pending(&self) -> usize {
        self.live.lock().len()
    }
}
