//! Timers that deliver info messages to an instance.
//!
//! A timer is set from a callback with
//! [`Context::send_after`](crate::Context::send_after) or
//! [`Context::send_interval`](crate::Context::send_interval). It belongs to
//! the instance's kept parts, not to the worker: it runs as its own tokio task
//! and delivers through the instance's inbox, so crashes, kills and local
//! transfers neither cancel nor delay it. Like tables (and unlike the state), a
//! timer set by a callback that later crashes stays set. Timers are cancelled
//! when the instance stops for good.
//!
//! The task holds only a weak reference to the instance, so a pending timer
//! never keeps a stopped instance alive. `Timers` is generic over the info
//! message type and reaches its instance through `TimerTarget`, so this
//! module knows nothing of instances.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use once_cell::race::OnceBox;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::task::AbortHandle;
use tokio::time::Instant;

pub use crate::id::TimerId;

/// What a timer fires into: the instance that owns it.
pub(crate) trait TimerTarget<I>: Send + Sync {
    /// Queues `msg`, from the timer `id`, as an info message; `false` if
    /// the instance is gone.
    fn fire(&self, msg: I, id: u64) -> bool;
    /// The instance's timers, for a one-shot timer to forget itself.
    fn timers(&self) -> &Timers<I>;
}

/// The pending timers of one instance.
pub(crate) struct Timers<I> {
    /// Made at the first timer: most instances never set one, and every
    /// instance keeps its `Timers` inline.
    set: OnceBox<Set<I>>,
}

/// The timers of an instance that set one.
struct Set<I> {
    next: AtomicU64,
    /// Counts every timer set, fired for the last time or cancelled: a
    /// durable instance stores its timers again when it moved.
    changes: AtomicU64,
    /// By id. A B-tree: ids only grow, so new timers go at its end.
    live: Mutex<BTreeMap<u64, Live<I>>>,
}

impl<I> Default for Timers<I> {
    fn default() -> Self {
        Timers {
            set: OnceBox::new(),
        }
    }
}

impl<I> Timers<I> {
    /// The timers, made if need be.
    fn set(&self) -> &Set<I> {
        self.set.get_or_init(|| {
            Box::new(Set {
                next: AtomicU64::new(0),
                changes: AtomicU64::new(0),
                live: Mutex::new(BTreeMap::new()),
            })
        })
    }
}

/// One pending timer.
struct Live<I> {
    task: AbortHandle,
    /// When it fires next.
    due: Arc<Mutex<Instant>>,
    period: Option<Duration>,
    /// A one-shot timer takes the message when it fires, an interval timer
    /// clones it. A one-shot timer given a `clone` (a durable instance's)
    /// clones it too, and stays, marked `fired`, until its message is
    /// handled: a store then still holds it if the process dies before.
    msg: Arc<Mutex<Option<I>>>,
    clone: Option<CloneFn<I>>,
    fired: Arc<AtomicBool>,
}

/// How an interval timer copies its message for each firing.
pub(crate) type CloneFn<I> = fn(&I) -> Option<I>;

/// A pending timer taken out of an instance, to travel with it.
pub(crate) struct Taken<I> {
    pub(crate) id: u64,
    pub(crate) remaining: Duration,
    pub(crate) period: Option<Duration>,
    pub(crate) msg: Arc<Mutex<Option<I>>>,
    clone: Option<CloneFn<I>>,
}

impl<I: Send + 'static> Timers<I> {
    /// Starts a timer that sends `msg` after `delay`, then, with `period`,
    /// a clone of it (made by `clone`) every `period`.
    pub(crate) fn start(
        &self,
        target: Weak<dyn TimerTarget<I>>,
        delay: Duration,
        period: Option<Duration>,
        msg: I,
        clone: Option<CloneFn<I>>,
    ) -> TimerId {
        let id = self.set().next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Mutex::new(Some(msg)));
        self.arm(target, id, delay, period, slot, clone);
        TimerId(id)
    }

    fn arm(
        &self,
        target: Weak<dyn TimerTarget<I>>,
        id: u64,
        delay: Duration,
        period: Option<Duration>,
        slot: Arc<Mutex<Option<I>>>,
        clone: Option<CloneFn<I>>,
    ) {
        let due = Arc::new(Mutex::new(Instant::now() + delay));
        // The lock is held across the spawn so that a timer firing at once
        // cannot try to forget its entry before the entry exists.
        let set = self.set();
        let mut live = set.live.lock();
        let (task_slot, task_due) = (slot.clone(), due.clone());
        let fired = Arc::new(AtomicBool::new(false));
        let task_fired = fired.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            loop {
                let Some(target) = target.upgrade() else {
                    return;
                };
                // Taken and sent with no await between: a cancel (an abort)
                // lands before or after, never in between.
                let msg = match clone {
                    Some(clone) => task_slot.lock().as_ref().and_then(clone),
                    None => task_slot.lock().take(),
                };
                let Some(msg) = msg else { return };
                let kept = period.is_none() && clone.is_some();
                if kept {
                    // Marked before the message can be handled: `handled`
                    // must find it fired, or it would stay forever.
                    task_fired.store(true, Ordering::Release);
                }
                if !target.fire(msg, id) {
                    return;
                }
                match period {
                    Some(p) => {
                        drop(target);
                        *task_due.lock() = Instant::now() + p;
                        tokio::time::sleep(p).await;
                    }
                    // Kept until its message is handled (`handled`).
                    None if kept => return,
                    None => {
                        let timers = target.timers().set();
                        timers.live.lock().remove(&id);
                        timers.changes.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        });
        set.changes.fetch_add(1, Ordering::Relaxed);
        live.insert(
            id,
            Live {
                task: task.abort_handle(),
                due,
                period,
                msg: slot,
                clone,
                fired,
            },
        );
    }

    /// The message of timer `id` was handled: a one-shot timer kept until
    /// then goes.
    pub(crate) fn handled(&self, id: u64) {
        let Some(set) = self.set.get() else {
            return;
        };
        let mut live = set.live.lock();
        if live
            .get(&id)
            .is_some_and(|t| t.fired.load(Ordering::Acquire))
        {
            live.remove(&id);
            set.changes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Cancels a pending timer; `false` if it already fired or was cancelled.
    pub(crate) fn cancel(&self, id: TimerId) -> bool {
        let Some(set) = self.set.get() else {
            return false;
        };
        match set.live.lock().remove(&id.0) {
            Some(timer) => {
                timer.task.abort();
                set.changes.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Cancels every pending timer.
    pub(crate) fn cancel_all(&self) {
        // Counted as a change even with no timer: made here if need be.
        let set = self.set();
        for (_, timer) in std::mem::take(&mut *set.live.lock()) {
            timer.task.abort();
        }
        set.changes.fetch_add(1, Ordering::Relaxed);
    }

    /// How many timers are pending (not counting one-shot timers that
    /// fired and wait for their message to be handled).
    pub(crate) fn pending(&self) -> usize {
        self.set.get().map_or(0, |set| {
            set.live
                .lock()
                .values()
                .filter(|t| !t.fired.load(Ordering::Acquire))
                .count()
        })
    }

    /// A number that changes whenever a timer is set, cancelled or fires for
    /// the last time.
    pub(crate) fn changes(&self) -> u64 {
        self.set
            .get()
            .map_or(0, |set| set.changes.load(Ordering::Relaxed))
    }

    /// Shows `f` each pending timer: its id, the time until it fires, its
    /// period and its message. A one-shot timer that fired is shown, due
    /// now, while it is kept (see `Live::msg`); one that was not kept is
    /// skipped.
    pub(crate) fn visit(&self, mut f: impl FnMut(u64, Duration, Option<Duration>, &I)) {
        let Some(set) = self.set.get() else {
            return;
        };
        let now = Instant::now();
        for (id, timer) in set.live.lock().iter() {
            if let Some(msg) = timer.msg.lock().as_ref() {
                f(
                    *id,
                    timer.due.lock().saturating_duration_since(now),
                    timer.period,
                    msg,
                );
            }
        }
    }

    /// Cancels every pending timer and hands them out, to travel with the
    /// instance. A one-shot timer that fired meanwhile is not among them: its
    /// message is already in the mailbox.
    pub(crate) fn take_all(&self) -> Vec<Taken<I>> {
        let now = Instant::now();
        let mut taken = Vec::new();
        let set = self.set();
        set.changes.fetch_add(1, Ordering::Relaxed);
        for (id, timer) in std::mem::take(&mut *set.live.lock()) {
            timer.task.abort();
            // A fired one's message is in the mailbox already.
            if timer.msg.lock().is_none() || timer.fired.load(Ordering::Acquire) {
                continue;
            }
            taken.push(Taken {
                id,
                remaining: timer.due.lock().saturating_duration_since(now),
                period: timer.period,
                msg: timer.msg,
                clone: timer.clone,
            });
        }
        taken
    }

    /// Arms timers taken out with [`Timers::take_all`] (after a failed move)
    /// or arrived from another node, under their own ids.
    pub(crate) fn restore(
        &self,
        target: Weak<dyn TimerTarget<I>>,
        timers: Vec<Taken<I>>,
        clone: Option<CloneFn<I>>,
    ) {
        for t in timers {
            self.set().next.fetch_max(t.id + 1, Ordering::Relaxed);
            // One-shot timers keep their own way (kept or not); interval
            // ones need a clone.
            let clone = t.clone.or(clone.filter(|_| t.period.is_some()));
            self.arm(target.clone(), t.id, t.remaining, t.period, t.msg, clone);
        }
    }
}

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

    /// A one-shot timer kept until its message is handled (see
    /// `Live::msg`), copying its message with `clone`.
    pub(crate) fn kept_until_handled(mut self, clone: CloneFn<I>) -> Self {
        self.clone = Some(clone);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Handles each message the moment it is queued, as a worker that was
    /// idle may: the narrowest window between firing and handling.
    struct Eager {
        timers: Timers<u32>,
        handled: Mutex<Vec<u32>>,
    }

    impl TimerTarget<u32> for Eager {
        fn fire(&self, msg: u32, id: u64) -> bool {
            self.handled.lock().push(msg);
            self.timers.handled(id);
            true
        }

        fn timers(&self) -> &Timers<u32> {
            &self.timers
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_one_shot_timer_goes_once_its_message_is_handled_however_soon() {
        let target = Arc::new(Eager {
            timers: Timers::default(),
            handled: Mutex::new(Vec::new()),
        });
        let weak: Weak<dyn TimerTarget<u32>> =
            Arc::downgrade(&(target.clone() as Arc<dyn TimerTarget<u32>>));
        let copy: CloneFn<u32> = |m| Some(*m);
        target
            .timers
            .start(weak, Duration::from_millis(10), None, 7, Some(copy));
        assert_eq!(target.timers.set().live.lock().len(), 1);
        // The timer's task runs to its end in this time.
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            tokio::task::yield_now().await;
        }
        assert_eq!(*target.handled.lock(), vec![7]);
        assert!(
            target.timers.set().live.lock().is_empty(),
            "handled, so no longer kept (a store would fire it again)"
        );
    }
}
