//! [`Committed`]: an instance's state and dictionary as of the last
//! completed callback, and how they are read and replaced.

use std::sync::Arc;

use super::Kept;
use crate::actor::Actor;
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
}
