//! [`Run`]: the token that says who runs an instance's callbacks now: its
//! worker, or a caller that found the instance idle and runs its call on its
//! own task (see `instance/direct.rs`).
//!
//! Whoever holds the token is the only one to run a callback, to commit, and
//! to apply kills. The worker takes it for every message before it opens the
//! message; a caller takes it only with nothing queued (see
//! `instance/direct.rs`), so a call run by its caller never overtakes a
//! message accepted before it.
//!
//! A caller's callback that does not finish at its first poll is handed over
//! with the token: the worker takes both, and finishes the callback before
//! anything else. A caller's callback that crashed leaves the crash here, and
//! the worker restores before anything else.

use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};

use once_cell::race::OnceBox;
use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot};

use crate::actor::Actor;
use crate::error::{CallError, Crash};

/// `init` completed once: callers may run calls from now on.
const READY: u32 = 1;
/// Someone holds the token.
const HELD: u32 = 2;
/// Held, with a caller's unfinished call waiting for the worker.
const HANDED: u32 = 4;
/// The worker waits for the token.
const WAITING: u32 = 8;
/// A caller's call crashed: the worker restores before anything else.
const CRASHED: u32 = 16;

/// The run token of one instance; see the [module docs](self).
pub(crate) struct Run<A: Actor> {
    word: AtomicU32,
    /// How many times a caller committed: the worker reloads the state and
    /// the dictionary when this moved since it last looked.
    commits: AtomicU32,
    /// Made at the first hand-over, crash or wait: most instances never need it.
    rare: OnceBox<Rare<A>>,
}

struct Rare<A: Actor> {
    /// Wakes a waiting worker when the token is released or handed over.
    released: Notify,
    handed: Mutex<Option<Handed<A>>>,
    crash: Mutex<Option<Crash>>,
}

/// A caller's call that did not finish at its first poll, and where its
/// reply goes.
pub(crate) struct Handed<A: Actor> {
    /// The rest of the call: the callback and its commit.
    pub(crate) call: super::direct::Call<A>,
    pub(crate) reply: oneshot::Sender<Result<A::Reply, CallError>>,
}

impl<A: Actor> Default for Run<A> {
    fn default() -> Self {
        Run {
            word: AtomicU32::new(0),
            commits: AtomicU32::new(0),
            rare: OnceBox::new(),
        }
    }
}

impl<A: Actor> Run<A> {
    fn rare(&self) -> &Rare<A> {
        self.rare.get_or_init(|| {
            Box::new(Rare {
                released: Notify::new(),
                handed: Mutex::new(None),
                crash: Mutex::new(None),
            })
        })
    }

    /// Marks the instance as started: from now on callers may take the token.
    pub(crate) fn ready(&self) {
        self.word.fetch_or(READY, Ordering::Release);
    }

    /// For a caller: takes the token if the instance is started and nobody
    /// holds it, no crash waits for a restore and the worker does not wait.
    pub(crate) fn try_take_direct(&self) -> bool {
        // A plain read first: a busy instance's line is not written to.
        self.word.load(Ordering::Relaxed) == READY
            && self
                .word
                .compare_exchange(READY, READY | HELD, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// For the worker: takes the token if nobody holds it.
    pub(crate) fn try_take(&self) -> bool {
        let cur = self.word.load(Ordering::Relaxed);
        cur & HELD == 0
            && self
                .word
                .compare_exchange(cur, cur | HELD, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// For the worker: waits for the token. Returns the call a caller handed
    /// over with it, if one did: the worker must finish it first.
    pub(crate) async fn take(&self) -> Option<Handed<A>> {
        loop {
            let cur = self.word.load(Ordering::Acquire);
            if cur & HELD == 0 {
                if self.try_take() {
                    return None;
                }
                continue;
            }
            if cur & HANDED != 0 {
                if self
                    .word
                    .compare_exchange(cur, cur & !HANDED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return self.rare().handed.lock().take();
                }
                continue;
            }
            let mut released = pin!(self.rare().released.notified());
            released.as_mut().enable();
            // Set after the waiter is registered: a release after this sees
            // the flag and wakes it.
            let prev = self.word.fetch_or(WAITING, Ordering::AcqRel);
            if prev & HELD != 0 && prev & HANDED == 0 {
                released.await;
            }
        }
    }

    /// Gives the token back.
    pub(crate) fn release(&self) {
        let prev = self.word.fetch_and(!(HELD | WAITING), Ordering::Release);
        if prev & WAITING != 0 {
            self.rare().released.notify_waiters();
        }
    }

    /// For the token's holder: leaves a crash of a caller's call for the
    /// worker to restore from before anything else.
    pub(crate) fn leave_crash(&self, crash: Crash) {
        *self.rare().crash.lock() = Some(crash);
        self.word.fetch_or(CRASHED, Ordering::Release);
    }

    /// For the token's holder: the crash a caller left, if one did.
    pub(crate) fn take_crash(&self) -> Option<Crash> {
        if self.word.load(Ordering::Acquire) & CRASHED == 0 {
            return None;
        }
        self.word.fetch_and(!CRASHED, Ordering::AcqRel);
        self.rare().crash.lock().take()
    }

    /// For a caller whose call awaits: hands it and the token to the worker.
    pub(crate) fn hand_over(&self, handed: Handed<A>) {
        *self.rare().handed.lock() = Some(handed);
        let prev = self.word.fetch_or(HANDED, Ordering::AcqRel);
        if prev & WAITING != 0 {
            self.rare().released.notify_waiters();
        }
    }

    /// For the token's holder: a caller committed a change.
    pub(crate) fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Release);
    }

    /// How many times a caller committed.
    pub(crate) fn commits(&self) -> u32 {
        self.commits.load(Ordering::Acquire)
    }
}

/// The token, held; given back when dropped, so that a worker stopped in
/// the middle of a message does not keep it.
pub(crate) struct Held<'a, A: Actor>(pub(crate) &'a Run<A>);

impl<A: Actor> Drop for Held<'_, A> {
    fn drop(&mut self) {
        self.0.release();
    }
}
