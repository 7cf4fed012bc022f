//! [`CastGate`]: when a durable cast may be stored and queued at this node.
//!
//! A durable cast is stored here, then queued in the instance's mailbox.
//! One still in the mailbox when the instance moves to another node would
//! be passed on as a plain message, and this node's store would forget it
//! with the instance: a kill of the target before it handled the message
//! would lose it, although the cast was acknowledged. So a move closes the
//! gate before it freezes the instance and waits for the casts already
//! inside: every stored cast is then queued ahead of the freeze, handled
//! before it, and its effect travels in the snapshot. Casts that come
//! meanwhile wait for the outcome: they go in if the move failed, and are
//! refused with the node's name if it succeeded.

use parking_lot::Mutex;
use tokio::sync::Notify;

/// When durable casts may go in; see the [module docs](self).
#[derive(Default)]
pub(crate) struct CastGate {
    inner: Mutex<Inner>,
    changed: Notify,
}

#[derive(Default)]
struct Inner {
    phase: Phase,
    /// Casts between their entry and their queueing.
    inside: usize,
}

#[derive(Default)]
enum Phase {
    #[default]
    Open,
    /// A move is under way.
    Moving,
    /// The instance moved to the node named.
    Gone(String),
}

/// A cast allowed in: the gate does not close behind it before it is dropped.
pub(crate) struct Pass<'a> {
    gate: &'a CastGate,
}

impl CastGate {
    /// Lets a cast in, waiting while a move is under way; the node the
    /// instance moved to, if it did.
    pub(crate) async fn enter(&self) -> Result<Pass<'_>, String> {
        self.wait_for(|inner| match &inner.phase {
            Phase::Open => {
                inner.inside += 1;
                Some(Ok(()))
            }
            Phase::Gone(node) => Some(Err(node.clone())),
            Phase::Moving => None,
        })
        .await
        .map(|()| Pass { gate: self })
    }

    /// Closes the gate for a move and waits until every cast let in before
    /// is queued.
    pub(crate) async fn close(&self) {
        self.wait_for(|inner| {
            inner.phase = Phase::Moving;
            (inner.inside == 0).then_some(())
        })
        .await;
    }

    /// Runs `step` under the lock until it gives an answer, again after
    /// each change.
    async fn wait_for<T>(&self, mut step: impl FnMut(&mut Inner) -> Option<T>) -> T {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the step reads: a change after the read wakes.
            changed.as_mut().enable();
            if let Some(answer) = step(&mut self.inner.lock()) {
                return answer;
            }
            changed.await;
        }
    }

    /// The move failed: casts go in again, the waiting ones first.
    pub(crate) fn reopen(&self) {
        self.inner.lock().phase = Phase::Open;
        self.changed.notify_waiters();
    }

    /// The move succeeded: casts here are refused from now on, naming `node`.
    pub(crate) fn gone(&self, node: String) {
        self.inner.lock().phase = Phase::Gone(node);
        self.changed.notify_waiters();
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut inner = self.gate.inner.lock();
        inner.inside -= 1;
        if inner.inside == 0 {
            drop(inner);
            self.gate.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_move_waits_for_the_casts_inside_and_holds_new_ones() {
        let gate = Arc::new(CastGate::default());
        let pass = gate.enter().await.expect("open");
        let closing = tokio::spawn({
            let gate = gate.clone();
            async move { gate.close().await }
        });
        // The gate is closing: a new cast waits.
        tokio::task::yield_now().await;
        let late = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter().await.map(drop) }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!closing.is_finished(), "the cast inside holds the close");
        assert!(!late.is_finished(), "a cast during the move waits");
        drop(pass);
        closing.await.unwrap();
        assert!(!late.is_finished(), "still moving");
        gate.gone("b".into());
        assert_eq!(late.await.unwrap(), Err("b".to_owned()));
        assert_eq!(gate.enter().await.map(drop), Err("b".to_owned()));
    }

    #[tokio::test]
    async fn a_failed_move_lets_the_waiting_casts_in() {
        let gate = Arc::new(CastGate::default());
        gate.close().await;
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter().await.map(drop) }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished());
        gate.reopen();
        assert_eq!(waiting.await.unwrap(), Ok(()));
    }
}
