//! The state a callback sees and leaves: writes go to a copy that becomes
//! the kept state only when the callback completes, and a snapshot handed
//! out is never changed afterwards, whichever allocation the next write
//! reuses.

mod common;

use std::sync::Arc;

use common::{supervisor, unique};
use peeper::{Actor, BoxError, CallError, Context, StateMut};

/// A counter whose state (a plain `u64`) is small enough for the worker to
/// reuse allocations between callbacks.
struct Counter;

enum Op {
    /// Adds one and hands out a snapshot of the new state.
    Bump,
    /// Adds ten, then fails: the addition must not stay.
    BumpThenPanic,
    /// Adds a hundred, then returns an error: the addition must not stay.
    BumpThenFail,
}

impl Actor for Counter {
    type State = u64;
    type Call = Op;
    type Reply = Arc<u64>;
    type Cast = ();
    type Info = ();

    async fn handle_call(
        &self,
        op: Op,
        state: &mut StateMut<u64>,
        _: &mut Context<Self>,
    ) -> Result<Arc<u64>, BoxError> {
        match op {
            Op::Bump => **state += 1,
            Op::BumpThenPanic => {
                **state += 10;
                panic!("after a write");
            }
            Op::BumpThenFail => {
                **state += 100;
                return Err("after a write".into());
            }
        }
        Ok(state.snapshot())
    }
}

#[tokio::test]
async fn snapshots_stay_as_they_were_and_failed_writes_vanish() {
    let sup = supervisor("state").await;
    let h = sup.start_child(unique("state"), Counter, 0).await.unwrap();
    let mut snapshots = Vec::new();
    let mut kept = Vec::new();
    for round in 0..50_u64 {
        snapshots.push(h.call(Op::Bump).await.unwrap());
        kept.push(h.last_state());
        if round % 3 == 0 {
            let crashed = h.call(Op::BumpThenPanic).await;
            assert!(
                matches!(crashed, Err(CallError::Crashed { .. })),
                "{crashed:?}"
            );
        }
        if round % 5 == 0 {
            assert!(h.call(Op::BumpThenFail).await.is_err());
        }
    }
    let seen: Vec<u64> = snapshots.iter().map(|s| **s).collect();
    assert_eq!(seen, (1..=50).collect::<Vec<_>>(), "snapshots changed");
    let kept: Vec<u64> = kept.iter().map(|s| **s).collect();
    assert_eq!(kept, (1..=50).collect::<Vec<_>>(), "kept copies changed");
    assert_eq!(*h.last_state(), 50);
    sup.stop().await;
}
