//! Where a callback runs: [`guard`] runs it so that a panic, an error or a
//! kill ends only that callback, and [`Kill`] is the signal that ends it at
//! its next `.await`.
//!
//! Both are written by hand rather than as `async fn`s with a `select!`:
//! ractor keeps each actor's message future, sized for its largest message,
//! for as long as the actor lives (twice over, as it moves it once), so
//! every byte a guarded callback adds to that future is paid per instance.

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::CatchUnwind;
use futures::task::AtomicWaker;
use pin_project_lite::pin_project;

use super::kept::Kept;
use crate::actor::Actor;
use crate::crash_report::{self, Callback, Scope, Scoped};
use crate::error::{BoxError, Crash, panic_text};

/// Kills asked of an instance: a count that only grows, the count applied,
/// and the callback waiting on it. Only the callback running now waits, so
/// one waker is enough; only whoever holds the instance's run token (see
/// `Run`) applies kills.
#[derive(Default)]
pub(crate) struct Kill {
    /// Counts wrap: only their equality matters.
    asked: AtomicU32,
    seen: AtomicU32,
    waiting: AtomicWaker,
}

impl Kill {
    /// Asks for a kill; it ends the callback that awaits now, if one does.
    pub(crate) fn ask(&self) {
        self.asked.fetch_add(1, Ordering::AcqRel);
        self.waiting.wake();
    }

    fn asked(&self) -> u32 {
        self.asked.load(Ordering::Acquire)
    }

    /// Counts every kill asked so far as applied: a new worker starts so.
    pub(crate) fn catch_up(&self) {
        self.seen.store(self.asked(), Ordering::Release);
    }

    /// Whether a kill was asked and not applied yet.
    pub(crate) fn pending(&self) -> bool {
        self.asked() != self.seen.load(Ordering::Acquire)
    }

    /// Whether a kill came after the last one applied; if so, every kill so
    /// far counts as applied (kills that come before one is applied coalesce
    /// into it).
    pub(crate) fn take_new(&self) -> bool {
        let asked = self.asked();
        if asked == self.seen.load(Ordering::Acquire) {
            return false;
        }
        self.seen.store(asked, Ordering::Release);
        true
    }

    /// As [`Kill::take_new`], for a callback that awaits: wakes it on the
    /// next kill if there is none yet.
    fn poll_new(&self, cx: &mut Context<'_>) -> bool {
        // Registered before the count is read: a kill after the read wakes.
        self.waiting.register(cx.waker());
        self.take_new()
    }
}

/// Where a callback runs, built only if a crash report may need it.
pub(super) fn scope_of<A: Actor>(
    kept: &Kept<A>,
    callback: Callback,
) -> impl FnOnce() -> Scope + '_ {
    move || Scope {
        instance: kept.name().to_owned(),
        kind: std::any::type_name::<A>(),
        callback,
    }
}

pin_project! {
    /// A callback run by [`guard`].
    pub(super) struct Guarded<'a, F, S, P> {
        #[pin]
        callback: Scoped<CatchUnwind<AssertUnwindSafe<F>>, S>,
        kill: &'a Kill,
        // Called when the callback first awaits something not ready.
        on_pause: Option<P>,
    }
}

/// Runs a callback: its outcome, or the crash that ended it (a panic, an
/// error, or a kill not applied yet while it awaits).
pub(super) fn guard<T, F, S>(kill: &Kill, scope: S, callback: F) -> Guarded<'_, F, S, fn()>
where
    F: Future<Output = Result<T, BoxError>>,
    S: FnOnce() -> Scope,
{
    guard_pausing(kill, scope, callback, None)
}

/// [`guard`], calling `on_pause` when the callback first awaits something
/// not ready.
pub(super) fn guard_pausing<T, F, S, P>(
    kill: &Kill,
    scope: S,
    callback: F,
    on_pause: Option<P>,
) -> Guarded<'_, F, S, P>
where
    F: Future<Output = Result<T, BoxError>>,
    S: FnOnce() -> Scope,
    P: FnOnce(),
{
    Guarded {
        callback: crash_report::scoped(scope, AssertUnwindSafe(callback).catch_unwind()),
        kill,
        on_pause,
    }
}

impl<T, F, S, P> Future for Guarded<'_, F, S, P>
where
    F: Future<Output = Result<T, BoxError>>,
    S: FnOnce() -> Scope,
    P: FnOnce(),
{
    type Output = Result<T, Crash>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The callback is polled first, so one that completes without
        // awaiting is never cut off by a kill: the kill applies after it.
        match this.callback.poll(cx) {
            Poll::Ready(Ok(Ok(v))) => Poll::Ready(Ok(v)),
            Poll::Ready(Ok(Err(e))) => Poll::Ready(Err(Crash::Failed(e.to_string()))),
            Poll::Ready(Err(payload)) => Poll::Ready(Err(Crash::Panicked(panic_text(&*payload)))),
            Poll::Pending if this.kill.poll_new(cx) => Poll::Ready(Err(Crash::Killed)),
            Poll::Pending => {
                if let Some(on_pause) = this.on_pause.take() {
                    on_pause();
                }
                Poll::Pending
            }
        }
    }
}
