//! The behaviour users implement: [`Actor`], the [`StateMut`] view their
//! callbacks change the state through, and [`Start`], which tells `init` why it
//! runs.
//!
//! # Example
//!
//! ```
//! use peeper::{Actor, BoxError, Context, StateMut};
//!
//! struct Counter;
//!
//! enum Call { Get }
//! enum Cast { Add(u64) }
//!
//! impl Actor for Counter {
//!     type State = u64;
//!     type Call = Call;
//!     type Reply = u64;
//!     type Cast = Cast;
//!     type Info = ();
//!
//!     async fn handle_call(
//!         &self,
//!         msg: Call,
//!         state: &mut StateMut<u64>,
//!         _ctx: &mut Context<Self>,
//!     ) -> Result<u64, BoxError> {
//!         match msg {
//!             Call::Get => Ok(**state), // a read: nothing is copied
//!         }
//!     }
//!
//!     async fn handle_cast(
//!         &self,
//!         msg: Cast,
//!         state: &mut StateMut<u64>,
//!         _ctx: &mut Context<Self>,
//!     ) -> Result<(), BoxError> {
//!         match msg {
//!             Cast::Add(n) => **state += n, // a write: at most one clone
//!         }
//!         Ok(())
//!     }
//! }
//! ```
//!
//! # Cost of keeping the state
//!
//! The kept state is an `Arc<State>`. A callback sees it through a
//! [`StateMut`]: reading copies nothing, the first write in a callback clones
//! the state once (`Arc::make_mut`), later writes in the same callback are free.
//! When the callback completes, the new `Arc` becomes the kept state; when it
//! crashes, the copy is dropped. For a large state that changes a little at a
//! time, use a persistent collection (the `im` or `rpds` crates): their clone
//! is O(1) and a change costs O(change), so a write costs O(change), not
//! O(state).

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

mod context;

use crate::error::{BoxError, Crash, StopReason};
pub use context::Context;

/// Why `init` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Start {
    /// The instance was just started with the state given to
    /// [`Supervisor::start_child`](crate::Supervisor::start_child).
    Fresh,
    /// The worker restarted after a crash; the state, dictionary, tables, queued
    /// messages and timers are the kept ones.
    Restored(Crash),
    /// The instance just arrived from another node with its state,
    /// dictionary and tables; the messages queued there follow.
    #[cfg(feature = "cluster")]
    Moved {
        /// The node it came from.
        from: String,
    },
    /// The process restarted and the instance was read back from its
    /// durable store with its state, dictionary, tables, stored messages and
    /// timers, as of the last change stored (feature `durable`).
    #[cfg(feature = "durable")]
    Recovered,
}

/// An actor managed by peeper: its types and its callbacks.
///
/// Every callback is async and may await. A callback that panics, returns an
/// error or is killed while it awaits ends only itself: its changes to the
/// state and the dictionary are discarded, its caller (for a call) gets
/// [`CallError::Crashed`](crate::CallError::Crashed) at once, `init` runs again
/// with [`Start::Restored`], and the next queued message is handled.
///
/// The value implementing `Actor` is the behaviour, shared by all restarts:
/// put configuration in it, and everything that changes in [`Self::State`].
pub trait Actor: Send + Sync + Sized + 'static {
    /// The state kept across crashes. Cloned at most once per callback that
    /// changes it; see the [module docs](self) for large states.
    type State: Clone + Send + Sync + 'static;
    /// Requests that expect a reply.
    type Call: Send + 'static;
    /// The reply to a [`Self::Call`].
    type Reply: Send + 'static;
    /// One-way requests.
    type Cast: Send + 'static;
    /// Raw messages: sent with [`Handle::send`](crate::Handle::send) or by timers.
    type Info: Send + 'static;

    /// Runs when the instance starts ([`Start::Fresh`]) and after every crash
    /// ([`Start::Restored`]), before the next message. The default does nothing.
    ///
    /// An error or panic on a fresh start fails
    /// [`Supervisor::start_child`](crate::Supervisor::start_child); after a
    /// restore it counts as one more crash and `init` is tried again, within the
    /// restart policy.
    fn init(
        &self,
        state: &mut StateMut<Self::State>,
        start: Start,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = (state, start, ctx);
        async { Ok(()) }
    }

    /// Handles a call and returns its reply. The default fails (a crash):
    /// actors that take calls must implement it.
    fn handle_call(
        &self,
        msg: Self::Call,
        state: &mut StateMut<Self::State>,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Result<Self::Reply, BoxError>> + Send {
        let _ = (msg, state, ctx);
        async { Err("this actor does not handle calls".into()) }
    }

    /// Handles a cast. The default ignores it.
    fn handle_cast(
        &self,
        msg: Self::Cast,
        state: &mut StateMut<Self::State>,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = (msg, state, ctx);
        async { Ok(()) }
    }

    /// Handles an info message (a raw send or a timer). The default ignores it.
    fn handle_info(
        &self,
        msg: Self::Info,
        state: &mut StateMut<Self::State>,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Result<(), BoxError>> + Send {
        let _ = (msg, state, ctx);
        async { Ok(()) }
    }

    /// Runs once when the instance stops for good, for any reason but a kill of
    /// its actor, with the last kept state. A panic here is caught and logged.
    /// The default does nothing.
    fn terminate(
        &self,
        reason: &StopReason,
        state: &Self::State,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (reason, state, ctx);
        async {}
    }
}

/// A callback's copy-on-write view of the kept state.
///
/// Dereferencing for reading copies nothing. The first mutable dereference in a
/// callback clones the state once if the kept copy shares it; after that, writes
/// go to the private copy. The copy becomes the kept state only if the callback
/// completes.
#[derive(Debug)]
pub struct StateMut<S> {
    arc: Arc<S>,
    /// An earlier state that nothing else holds: the first write copies into
    /// it instead of allocating a new one.
    spare: Option<Arc<S>>,
}

impl<S> StateMut<S> {
    /// A view whose first write may reuse `spare`'s allocation.
    pub(crate) fn with_spare(arc: Arc<S>, spare: Option<Arc<S>>) -> Self {
        StateMut { arc, spare }
    }

    /// Replaces the whole state without cloning the old one.
    pub fn set(&mut self, state: S) {
        self.arc = Arc::new(state);
    }

    /// The shared pointer to the current state; a clone of it is O(1) and lets
    /// a callback hand a snapshot of the state to another task.
    pub fn snapshot(&self) -> Arc<S> {
        self.arc.clone()
    }

    /// The state, and the spare if the callback did not use it.
    pub(crate) fn into_parts(self) -> (Arc<S>, Option<Arc<S>>) {
        (self.arc, self.spare)
    }
}

impl<S> Deref for StateMut<S> {
    type Target = S;

    #[inline]
    fn deref(&self) -> &S {
        &self.arc
    }
}

impl<S: Clone> DerefMut for StateMut<S> {
    #[inline]
    fn deref_mut(&mut self) -> &mut S {
        // Checked only while a spare is there: after the first write it is
        // gone, or the state is already this callback's own. A count above
        // one is proof enough that the state is shared, and reading it
        // writes nothing to the state's memory, as a uniqueness check would.
        if self.spare.is_some()
            && Arc::strong_count(&self.arc) > 1
            && let Some(mut spare) = self.spare.take()
            && let Some(place) = Arc::get_mut(&mut spare)
        {
            place.clone_from(&*self.arc);
            self.arc = spare;
        }
        Arc::make_mut(&mut self.arc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_shares_write_copies_once() {
        let kept = Arc::new(vec![1, 2, 3]);
        let mut view = StateMut::with_spare(kept.clone(), None);
        assert_eq!(view.len(), 3);
        assert!(Arc::ptr_eq(&view.snapshot(), &kept), "a read must not copy");
        view.push(4);
        let after_first = Arc::as_ptr(&view.arc);
        view.push(5);
        assert_eq!(
            Arc::as_ptr(&view.arc),
            after_first,
            "second write is in place"
        );
        assert_eq!(*kept, vec![1, 2, 3], "the kept state is untouched");
        assert_eq!(*view.into_parts().0, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn the_first_write_copies_into_the_spare() {
        let kept = Arc::new([1_u8; 4]);
        let spare = Arc::new([0_u8; 4]);
        let spare_at = Arc::as_ptr(&spare);
        let mut view = StateMut::with_spare(kept.clone(), Some(spare));
        assert_eq!(view[0], 1, "a read sees the kept state");
        view[0] = 9;
        view[1] = 8;
        let (state, unused) = view.into_parts();
        assert!(unused.is_none(), "the spare was used");
        assert_eq!(Arc::as_ptr(&state), spare_at, "no new allocation");
        assert_eq!(*state, [9, 8, 1, 1]);
        assert_eq!(*kept, [1; 4], "the kept state is untouched");
    }

    #[test]
    fn a_callback_that_only_reads_gives_the_spare_back() {
        let kept = Arc::new(5_u64);
        let view = StateMut::with_spare(kept.clone(), Some(Arc::new(0)));
        assert_eq!(*view, 5);
        let (state, unused) = view.into_parts();
        assert!(Arc::ptr_eq(&state, &kept));
        assert!(unused.is_some());
    }

    #[test]
    fn set_replaces_without_touching_kept() {
        let kept = Arc::new(String::from("old"));
        let mut view = StateMut::with_spare(kept.clone(), None);
        view.set("new".into());
        assert_eq!(*kept, "old");
        assert_eq!(&*view, "new");
    }
}
