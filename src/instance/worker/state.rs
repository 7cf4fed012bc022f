//! [`WorkerState`]: the worker's committed copies of the state and the
//! dictionary, and how a callback's changes become them.

use std::sync::Arc;

use crate::actor::{Actor, Context, StateMut};
use crate::dictionary::Dictionary;
use crate::error::Crash;
use crate::instance::kept::Kept;

/// The worker's own state: the committed copies and what a callback needs.
pub(crate) struct WorkerState<A: Actor> {
    pub(super) kept: Arc<Kept<A>>,
    pub(super) state: Arc<A::State>,
    pub(super) dict: Dictionary,
    pub(super) ctx: Context<A>,
    /// How many caller commits `state` and `dict` include (see `Run`).
    pub(super) commits: u32,
    /// Set when the actor was respawned: `init` must restore before messages.
    pub(super) pending_restore: Option<Crash>,
    /// Set once the restart limit was hit; later messages are not handled.
    pub(super) stopping: bool,
    /// A state allocation nothing else holds, for the next callback's first
    /// write; kept only for small states without heap parts (see `spare_fits`).
    pub(super) spare: Option<Arc<A::State>>,
}

/// Whether a spare copy of a state of type `S` is worth keeping: it costs
/// the instance one more copy of the state, so only a small one that owns
/// no heap memory (no drop glue) is kept.
const fn spare_fits<S>() -> bool {
    !std::mem::needs_drop::<S>() && std::mem::size_of::<S>() <= 256
}

impl<A: Actor> WorkerState<A> {
    /// Makes the callback's changes the kept ones. Copies nothing and takes
    /// no lock when the callback changed nothing.
    pub(super) fn commit(&mut self, state: StateMut<A::State>) {
        let (state, unused) = state.into_parts();
        if unused.is_some() {
            self.spare = unused;
        }
        let state_changed = !Arc::ptr_eq(&state, &self.state);
        let dict_changed = !self.ctx.dict.same_as(&self.dict);
        if !(state_changed || dict_changed) {
            return;
        }
        let mut old = std::mem::replace(&mut self.state, state);
        if dict_changed {
            self.dict = self.ctx.dict.clone();
        }
        let replaced = self
            .kept
            .write_committed(self.state.clone(), dict_changed.then(|| self.dict.clone()));
        drop(replaced);
        if spare_fits::<A::State>() && self.spare.is_none() && Arc::get_mut(&mut old).is_some() {
            self.spare = Some(old);
        }
    }

    /// Takes what callers committed since the worker last looked: called
    /// with the run token held, before anything reads `state` or `dict`.
    pub(super) fn catch_up(&mut self) {
        let commits = self.kept.run.commits();
        if commits == self.commits {
            return;
        }
        self.commits = commits;
        (self.state, self.dict) = self.kept.read_committed();
        self.ctx.dict = self.dict.clone();
    }

    /// The view a callback changes the state through.
    pub(super) fn view(&mut self) -> StateMut<A::State> {
        StateMut::with_spare(self.state.clone(), self.spare.take())
    }

    /// Drops a crashed callback's dictionary writes.
    pub(super) fn rollback(&mut self) {
        self.ctx.dict = self.dict.clone();
    }
}
