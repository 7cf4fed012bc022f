//! [`Inbox`]: what an instance keeps beside its ractor mailbox: the bound of
//! a bounded inbox, and the messages a stopped actor left unhandled.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::envelope::Body;
use crate::actor::Actor;
use crate::error::StopReason;

/// The instance's inbox beside the mailbox: the bound of a bounded one, and
/// the messages a stopped actor dropped and the ones refused while it was
/// being replaced, in order, for the next worker to queue first.
///
/// In a bounded inbox every message a handle delivered holds one slot from
/// the moment it is accepted until the worker opens it, wherever it is
/// meanwhile: in the mailbox, in a rescue list, on its way to a new worker.
///
/// Both parts are boxed, and the lists made only when a message needs them:
/// most inboxes are unbounded and never see their actor stopped from
/// outside, and every instance pays for what is inline here.
pub(crate) struct Inbox<A: Actor> {
    pub(super) lists: Mutex<Lists<A>>,
    /// Set when the instance stops for good: nothing is kept any more.
    closed: AtomicBool,
    /// Set while the lists may hold a message: such a message holds no
    /// envelope, and [`Inbox::len`] counts it apart.
    kept_some: AtomicBool,
    bound: Option<Box<Bound>>,
}

/// The bound of a bounded inbox.
struct Bound {
    capacity: usize,
    /// Slots held.
    taken: AtomicUsize,
    /// Senders waiting for a slot; only then does a release notify.
    waiting: AtomicUsize,
    room: Notify,
}

/// The messages kept for the next worker, once there are any.
pub(super) struct Lists<A: Actor> {
    rescued: Option<Box<Rescued<A>>>,
}

struct Rescued<A: Actor> {
    /// Dropped unhandled with the old mailbox, in mailbox order.
    dropped: VecDeque<Body<A>>,
    /// Refused by the old actor after it stopped taking messages. A sender's
    /// refused messages come after its dropped ones, so this list goes second.
    refused: VecDeque<Body<A>>,
}

impl<A: Actor> Lists<A> {
    /// Whether no message is kept.
    fn is_empty(&self) -> bool {
        self.rescued
            .as_ref()
            .is_none_or(|r| r.dropped.is_empty() && r.refused.is_empty())
    }

    /// How many messages are kept.
    fn len(&self) -> usize {
        self.rescued
            .as_ref()
            .map_or(0, |r| r.dropped.len() + r.refused.len())
    }

    fn rescued(&mut self) -> &mut Rescued<A> {
        self.rescued.get_or_insert_with(|| {
            Box::new(Rescued {
                dropped: VecDeque::new(),
                refused: VecDeque::new(),
            })
        })
    }

    /// Keeps a message refused by the old actor.
    pub(super) fn push_refused(&mut self, body: Body<A>) {
        self.rescued().refused.push_back(body);
    }

    /// Takes every kept message, in the order the next worker handles them:
    /// the dropped ones, then the refused ones.
    pub(super) fn take(&mut self) -> impl Iterator<Item = Body<A>> + use<A> {
        self.rescued.take().into_iter().flat_map(|rescued| {
            let Rescued { dropped, refused } = *rescued;
            dropped.into_iter().chain(refused)
        })
    }
}

/// Why a message was not queued.
pub(crate) enum Refused {
    Stopped(StopReason),
    Full(usize),
}

impl<A: Actor> Inbox<A> {
    pub(super) fn new(capacity: Option<usize>) -> Self {
        Inbox {
            lists: Mutex::new(Lists { rescued: None }),
            closed: AtomicBool::new(false),
            kept_some: AtomicBool::new(false),
            bound: capacity.map(|capacity| {
                Box::new(Bound {
                    capacity,
                    taken: AtomicUsize::new(0),
                    waiting: AtomicUsize::new(0),
                    room: Notify::new(),
                })
            }),
        }
    }

    /// The bound, if the inbox has one.
    pub(super) fn capacity(&self) -> Option<usize> {
        self.bound.as_ref().map(|b| b.capacity)
    }

    /// Takes a slot for a new message; `false` if a bounded inbox is full.
    /// A timer's message (`over_bound`) takes one whatever the bound: the
    /// instance set the timer itself, and a timer has no one to refuse to.
    pub(super) fn try_take(&self, over_bound: bool) -> bool {
        let Some(bound) = &self.bound else {
            return true;
        };
        if over_bound {
            bound.taken.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        bound
            .taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < bound.capacity).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives a message's slot back: it was handled or is gone for good.
    pub(crate) fn release(&self) {
        let Some(bound) = &self.bound else {
            return;
        };
        bound.taken.fetch_sub(1, Ordering::AcqRel);
        if bound.waiting.load(Ordering::Acquire) > 0 {
            bound.room.notify_one();
        }
    }

    /// Keeps the body of an envelope dropped unhandled; its slot stays held.
    pub(crate) fn put_back(&self, body: Body<A>) {
        if self.closed.load(Ordering::Acquire) {
            // Dropped here: a call's caller learns the instance stopped.
            self.release();
            return;
        }
        let mut lists = self.lists.lock();
        self.kept_some.store(true, Ordering::Release);
        lists.rescued().dropped.push_back(body);
    }

    /// Keeps a message refused by the old actor; the caller holds `lists`.
    pub(super) fn put_refused(&self, lists: &mut Lists<A>, body: Body<A>) {
        self.kept_some.store(true, Ordering::Release);
        lists.push_refused(body);
    }

    /// Called by the next worker once it queued what was kept, with `lists`
    /// still locked: clears the flag if nothing is left.
    pub(super) fn settled(&self, lists: &Lists<A>) {
        if lists.is_empty() {
            self.kept_some.store(false, Ordering::Release);
        }
    }

    /// Whether nothing is queued, kept, or on its way to a worker: a call
    /// run by its caller then overtakes nothing.
    pub(super) fn is_idle(self: &Arc<Self>) -> bool {
        !self.kept_some.load(Ordering::Acquire) && self.len() == 0
    }

    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let kept: Vec<Body<A>> = self.lists.lock().take().collect();
        for _ in &kept {
            self.release();
        }
        drop(kept);
        // Waiters look again, and find the instance stopped.
        if let Some(bound) = &self.bound {
            bound.room.notify_waiters();
        }
    }

    /// Messages queued and not yet opened by the worker, the ones kept for
    /// the next worker (or the first, see `instance/dormant.rs`) included.
    pub(crate) fn len(self: &Arc<Self>) -> usize {
        match &self.bound {
            Some(bound) => bound.taken.load(Ordering::Acquire),
            // Every queued envelope holds the inbox; the kept parts hold it
            // once. Kept messages hold no envelope: they are counted apart.
            None => {
                let queued = Arc::strong_count(self).saturating_sub(1);
                if self.kept_some.load(Ordering::Acquire) {
                    queued + self.lists.lock().len()
                } else {
                    queued
                }
            }
        }
    }

    /// Waits until a slot may be free, or the inbox closes; `false` if
    /// `deadline` came first.
    pub(super) async fn room(&self, deadline: Option<Instant>) -> bool {
        let Some(bound) = &self.bound else {
            return true;
        };
        let notified = bound.room.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        bound.waiting.fetch_add(1, Ordering::AcqRel);
        let full = bound.taken.load(Ordering::Acquire) >= bound.capacity;
        let woken = if !full || self.closed.load(Ordering::Acquire) {
            true
        } else {
            match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, notified).await.is_ok(),
                None => {
                    notified.await;
                    true
                }
            }
        };
        bound.waiting.fetch_sub(1, Ordering::AcqRel);
        woken
    }
}
