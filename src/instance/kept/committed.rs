//! [`Committed`]: an instance's state and dictionary as of the last
//! completed callback, and how they are read and replaced.

use std::sync::Arc;

use super::Kept;
use crate::actor::{Actor, StateMut};
use crate::dictionary::Dictionary;

/// The state and dictionary as of the last completed callback.
pub(crate) struct Committed<S> {
    pub(crate) state: Arc<S>,
    pub(crate) dict: Dictionary,
}

impl<A: Actor> Kept<A> {
    /// The committed state and dictionary, read together.
    pub(crate) fn read_committed(&self) -> (Arc<A::State>, Dictionary) {
        let committed = self.committed.lock();
        (committed.state.clone(), committed.dict.clone())
    }

    /// Makes `state`, and `dict` if given, the committed ones. Returns the
    /// state they replace, for the caller to drop outside the lock (the last
    /// reference frees it).
    pub(crate) fn write_committed(
        &self,
        state: Arc<A::State>,
        dict: Option<Dictionary>,
    ) -> Arc<A::State> {
        let mut committed = self.committed.lock();
        if let Some(dict) = dict {
            committed.dict = dict;
        }
        std::mem::replace(&mut committed.state, state)
    }

    /// Commits what a callback run outside the worker left: the state in
    /// `view` and the context's dictionary `working`, each only if it
    /// changed against what the run read (`read`, the dictionary, and
    /// `before`, the state's address: the committed state is alive until
    /// replaced here, so a new state has another address). Returns the
    /// state it replaced, if it committed, for the caller to drop after
    /// what must follow a commit.
    #[inline]
    pub(crate) fn commit_outside(
        &self,
        view: StateMut<A::State>,
        before: usize,
        read: &Dictionary,
        working: &Dictionary,
    ) -> Option<Arc<A::State>> {
        let (state, _) = view.into_parts();
        let state_changed = Arc::as_ptr(&state).addr() != before;
        let dict_changed = !working.same_as(read);
        (state_changed || dict_changed)
            .then(|| self.write_committed(state, dict_changed.then(|| working.clone())))
    }
}
