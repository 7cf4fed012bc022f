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
pub(crate) struct Inbox<A: Actor> {
    pub(super) lists: Mutex<Lists<A>>,
    /// Set when the instance stops for good: nothing is kept any more.
    closed: AtomicBool,
    pub(super) capacity: Option<usize>,
    /// Slots held, in a bounded inbox.
    taken: AtomicUsize,
    /// Senders waiting for a slot; only then does a release notify.
    waiting: AtomicUsize,
    room: Notify,
}

pub(super) struct Lists<A: Actor> {
    /// Dropped unhandled with the old mailbox, in mailbox order.
    pub(super) dropped: VecDeque<Body<A>>,
    /// Refused by the old actor after it stopped taking messages. A sender's
    /// refused messages come after its dropped ones, so this list goes second.
    pub(super) refused: VecDeque<Body<A>>,
}

/// Why a message was not queued.
pub(crate) enum Refused {
    Stopped(StopReason),
    Full(usize),
}

impl<A: Actor> Inbox<A> {
    pub(super) fn new(capacity: Option<usize>) -> Self {
        Inbox {
            lists: Mutex::new(Lists {
                dropped: VecDeque::new(),
                refused: VecDeque::new(),
            }),
            closed: AtomicBool::new(false),
            capacity,
            taken: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            room: Notify::new(),
        }
    }

    /// Takes a slot for a new message; `false` if a bounded inbox is full.
    /// A timer's message (`over_bound`) takes one whatever the bound: the
    /// instance set the timer itself, and a timer has no one to refuse to.
    pub(super) fn try_take(&self, over_bound: bool) -> bool {
        let Some(capacity) = self.capacity else {
            return true;
        };
        if over_bound {
            self.taken.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < capacity).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives a message's slot back: it was handled or is gone for good.
    pub(crate) fn release(&self) {
        if self.capacity.is_none() {
            return;
        }
        self.taken.fetch_sub(1, Ordering::AcqRel);
        if self.waiting.load(Ordering::Acquire) > 0 {
            self.room.notify_one();
        }
    }

    /// Keeps the body of an envelope dropped unhandled; its slot stays held.
    pub(crate) fn put_back(&self, body: Body<A>) {
        if self.closed.load(Ordering::Acquire) {
            // Dropped here: a call's caller learns the instance stopped.
            self.release();
            return;
        }
        self.lists.lock().dropped.push_back(body);
    }

    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let lists = std::mem::replace(
            &mut *self.lists.lock(),
            Lists {
                dropped: VecDeque::new(),
                refused: VecDeque::new(),
            },
        );
        for _ in lists.dropped.iter().chain(lists.refused.iter()) {
            self.release();
        }
        drop(lists);
        // Waiters look again, and find the instance stopped.
        self.room.notify_waiters();
    }

    /// Messages queued and not yet opened by the worker.
    pub(crate) fn len(self: &Arc<Self>) -> usize {
        match self.capacity {
            Some(_) => self.taken.load(Ordering::Acquire),
            // Every queued envelope holds the inbox; the kept parts hold it once.
            None => Arc::strong_count(self).saturating_sub(1),
        }
    }

    /// Waits until a slot may be free, or the inbox closes; `false` if
    /// `deadline` came first.
    pub(super) async fn room(&self, deadline: Option<Instant>) -> bool {
        let notified = self.room.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let full = self
            .capacity
            .is_some_and(|c| self.taken.load(Ordering::Acquire) >= c);
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
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        woken
    }
}
