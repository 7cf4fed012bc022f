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

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::task::AbortHandle;
use tokio::time::Instant;

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
    live: Mutex<HashMap<u64, Live>>,
}

/// One pending timer.
struct Live {
    task: AbortHandle,
    /// When it fires next.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    due: Arc<Mutex<Instant>>,
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    period: Option<Duration>,
    /// The message, an `Arc<Mutex<Option<A::Info>>>`: a one-shot timer takes
    /// it when it fires, an interval timer clones it.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    msg: Arc<dyn Any + Send + Sync>,
    /// How an interval timer clones it: an `Option<CloneFn<A::Info>>`.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    clone: Box<dyn Any + Send + Sync>,
}

/// How an interval timer copies its message for each firing.
pub(crate) type CloneFn<I> = fn(&I) -> Option<I>;

/// A pending timer taken out of an instance, to travel with it.
#[cfg(feature = "cluster")]
pub(crate) struct Taken<I> {
    pub(crate) id: u64,
    pub(crate) remaining: Duration,
    pub(crate) period: Option<Duration>,
    pub(crate) msg: Arc<Mutex<Option<I>>>,
    clone: Option<CloneFn<I>>,
}

impl Timers {
    /// Starts a timer that sends `msg` after `delay`, then, with `period`,
    /// a clone of it (made by `clone`) every `period`.
    pub(crate) fn start<A: Actor>(
        &self,
        instance: Weak<Shared<A>>,
        delay: Duration,
        period: Option<Duration>,
        msg: A::Info,
        clone: Option<CloneFn<A::Info>>,
    ) -> TimerId {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.arm(
            instance,
            id,
            delay,
            period,
            Arc::new(Mutex::new(Some(msg))),
            clone,
        );
        TimerId(id)
    }

    fn arm<A: Actor>(
        &self,
        instance: Weak<Shared<A>>,
        id: u64,
        delay: Duration,
        period: Option<Duration>,
        slot: Arc<Mutex<Option<A::Info>>>,
        clone: Option<CloneFn<A::Info>>,
    ) {
        let due = Arc::new(Mutex::new(Instant::now() + delay));
        // The lock is held across the spawn so that a timer firing at once
        // cannot try to forget its entry before the entry exists.
        let mut live = self.live.lock();
        let (task_slot, task_due) = (slot.clone(), due.clone());
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            loop {
                let Some(shared) = instance.upgrade() else {
                    return;
                };
                // Taken and sent with no await between: a cancel (an abort)
                // lands before or after, never in between.
                let msg = match clone {
                    Some(clone) => task_slot.lock().as_ref().and_then(clone),
                    None => task_slot.lock().take(),
                };
                let Some(msg) = msg else { return };
                let handle = Handle::from_shared(shared);
                if handle.send(msg).is_err() {
                    return;
                }
                match period {
                    Some(p) => {
                        drop(handle);
                        *task_due.lock() = Instant::now() + p;
                        tokio::time::sleep(p).await;
                    }
                    None => {
                        handle.shared().timers.live.lock().remove(&id);
                        return;
                    }
                }
            }
        });
        live.insert(
            id,
            Live {
                task: task.abort_handle(),
                due,
                period,
                msg: slot,
                clone: Box::new(clone),
            },
        );
    }

    /// Cancels a pending timer; `false` if it already fired or was cancelled.
    pub(crate) fn cancel(&self, id: TimerId) -> bool {
        match self.live.lock().remove(&id.0) {
            Some(timer) => {
                timer.task.abort();
                true
            }
            None => false,
        }
    }

    /// Cancels every pending timer.
    pub(crate) fn cancel_all(&self) {
        for (_, timer) in self.live.lock().drain() {
            timer.task.abort();
        }
    }

    /// How many timers are pending.
    pub(crate) fn pending(&self) -> usize {
        self.live.lock().len()
    }

    /// Cancels every pending timer and hands them out, to travel with the
    /// instance. A one-shot timer that fired meanwhile is not among them: its
    /// message is already in the mailbox.
    #[cfg(feature = "cluster")]
    pub(crate) fn take_all<A: Actor>(&self) -> Vec<Taken<A::Info>> {
        let now = Instant::now();
        let mut taken = Vec::new();
        for (id, timer) in self.live.lock().drain() {
            timer.task.abort();
            let Ok(msg) = timer.msg.downcast::<Mutex<Option<A::Info>>>() else {
                continue;
            };
            if msg.lock().is_none() {
                continue;
            }
            let remaining = timer.due.lock().saturating_duration_since(now);
            let clone = timer
                .clone
                .downcast::<Option<CloneFn<A::Info>>>()
                .ok()
                .and_then(|c| *c);
            taken.push(Taken {
                id,
                remaining,
                period: timer.period,
                msg,
                clone,
            });
        }
        taken
    }

    /// Arms timers taken out with [`Timers::take_all`] (after a failed move)
    /// or arrived from another node, under their own ids.
    #[cfg(feature = "cluster")]
    pub(crate) fn restore<A: Actor>(
        &self,
        instance: Weak<Shared<A>>,
        timers: Vec<Taken<A::Info>>,
        clone: Option<CloneFn<A::Info>>,
    ) {
        for t in timers {
            self.next.fetch_max(t.id + 1, Ordering::Relaxed);
            let clone = t.clone.or(clone).filter(|_| t.period.is_some());
            self.arm(instance.clone(), t.id, t.remaining, t.period, t.msg, clone);
        }
    }
}

#[cfg(feature = "cluster")]
impl<I> Taken<I> {
    /// A timer that arrived from another node.
    pub(crate) fn arrived(id: u64, remaining: Duration, period: Option<Duration>, msg: I) -> Self {
        Taken {
            id,
            remaining,
            period,
            msg: Arc::new(Mutex::new(Some(msg))),
            clone: None,
        }
    }
}
