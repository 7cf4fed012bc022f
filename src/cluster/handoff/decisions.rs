//! The source's record of what it decided for each move it committed, kept
//! until the target confirms, so that a target that lost the answer can ask
//! again (`Outcome`) and get the same one.

use std::collections::HashMap;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::cluster::wire::{Decision, MoveKey};

/// Where a committed move stands at its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// `Commit` is on its way or in doubt: nothing decided yet.
    Pending,
    Go,
    Aborted,
}

/// Every committed move not yet confirmed; see the [module docs](self).
#[derive(Default)]
pub(crate) struct Decisions {
    map: Mutex<HashMap<MoveKey, Verdict>>,
    /// Woken whenever a verdict changes.
    changed: Notify,
}

impl Decisions {
    /// Notes that `Commit` for `mv` is about to leave.
    pub(crate) fn pending(&self, mv: &MoveKey) {
        self.map.lock().insert(mv.clone(), Verdict::Pending);
    }

    /// Decides `want` unless a verdict was reached already; returns the
    /// verdict that holds.
    pub(crate) fn decide(&self, mv: &MoveKey, want: Verdict) -> Verdict {
        let mut map = self.map.lock();
        let held = map.entry(mv.clone()).or_insert(Verdict::Pending);
        if *held == Verdict::Pending {
            *held = want;
            self.changed.notify_waiters();
        }
        *held
    }

    /// The target asks: a ready target settles a pending move as go.
    pub(crate) fn outcome(&self, mv: &MoveKey) -> Decision {
        if !self.map.lock().contains_key(mv) {
            return Decision::Unknown;
        }
        match self.decide(mv, Verdict::Go) {
            Verdict::Go | Verdict::Pending => Decision::Go,
            Verdict::Aborted => Decision::Aborted,
        }
    }

    pub(crate) fn get(&self, mv: &MoveKey) -> Option<Verdict> {
        self.map.lock().get(mv).copied()
    }

    /// Waits until some verdict changes.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// The target confirmed: nobody will ask again.
    pub(crate) fn forget(&self, mv: &MoveKey) {
        self.map.lock().remove(mv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MoveKey {
        MoveKey {
            name: "p".into(),
            epoch: 1,
        }
    }

    #[test]
    fn the_first_verdict_holds() {
        let d = Decisions::default();
        d.pending(&key());
        assert_eq!(d.outcome(&key()), Decision::Go);
        assert_eq!(d.decide(&key(), Verdict::Aborted), Verdict::Go);
        let d = Decisions::default();
        d.pending(&key());
        assert_eq!(d.decide(&key(), Verdict::Aborted), Verdict::Aborted);
        assert_eq!(d.outcome(&key()), Decision::Aborted);
    }

    #[test]
    fn an_unknown_move_is_said_unknown() {
        assert_eq!(Decisions::default().outcome(&key()), Decision::Unknown);
    }
}
