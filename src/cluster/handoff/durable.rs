//! Durable instances in a move (feature `durable`; without it these are
//! empty). The source's store notes the move before `Commit` leaves and
//! forgets the instance once the target runs it; the target stores the
//! instance before it confirms the start. A source that restarts with an
//! instance still noted as moving starts it only once the target says it
//! does not hold it (see the failure windows in the [module docs](super)).

use std::sync::Arc;

use super::source::Mover;
use super::target::Staging;
use crate::cluster::error::MoveError;
use crate::instance::{Frozen, Kept};
use crate::portable::Portable;

/// Whether the instance is durable: the target must store it too.
pub(super) fn is_durable<A: Portable>(kept: &Kept<A>) -> bool {
    #[cfg(feature = "durable")]
    return kept.journal.get().is_some();
    #[cfg(not(feature = "durable"))]
    {
        let _ = kept;
        false
    }
}

/// Notes in the source's store that the instance is moving to the target,
/// and waits until that is stored.
#[cfg(feature = "durable")]
pub(super) async fn note_moving<A: Portable>(
    mover: &Mover,
    frozen: &Frozen<A>,
) -> Result<(), MoveError> {
    let kept = &frozen.kept;
    let Some(journal) = kept.journal.get() else {
        return Ok(());
    };
    journal.set_moving(Some(mover.to_node.clone()));
    journal.record(kept, &frozen.state, &frozen.dict, None);
    journal
        .flushed()
        .await
        .map_err(|reason| MoveError::NotPortable {
            name: kept.name().to_owned(),
            what: format!("its store could not note the move: {reason}"),
        })
}

#[cfg(not(feature = "durable"))]
pub(super) async fn note_moving<A: Portable>(_: &Mover, _: &Frozen<A>) -> Result<(), MoveError> {
    Ok(())
}

/// The move failed and the instance runs on here: its record loses the
/// note (stored with its next record, written now).
pub(super) fn unnote<A: Portable>(kept: &Kept<A>) {
    #[cfg(feature = "durable")]
    if let Some(journal) = kept.journal.get() {
        journal.set_moving(None);
        crate::instance::record_committed(kept);
    }
    #[cfg(not(feature = "durable"))]
    let _ = kept;
}

/// New durable casts held back for a move (see `durable::CastGate`): they
/// go in again when this is dropped, unless the move succeeded
/// ([`CastsHeld::gone`]). Dropped with the move's job if the job never runs.
pub(super) struct CastsHeld<A: Portable> {
    kept: Option<Arc<Kept<A>>>,
}

impl<A: Portable> CastsHeld<A> {
    /// Holds new durable casts back, and waits until those already stored
    /// are queued: they are then handled before the freeze.
    pub(super) async fn close(kept: &Arc<Kept<A>>) -> Self {
        // Made before the wait: a move given up during it lets casts in again.
        let held = CastsHeld {
            kept: Some(kept.clone()),
        };
        #[cfg(feature = "durable")]
        if let Some(journal) = kept.journal.get() {
            journal.casts().close().await;
        }
        held
    }

    /// The instance moved to `node`: durable casts here are refused from now on.
    pub(super) fn gone(mut self, node: &str) {
        self.release(Some(node));
    }

    /// Lets the held casts go, once: refused naming the node the instance
    /// moved to, or let in if it did not move.
    fn release(&mut self, moved_to: Option<&str>) {
        let kept = self.kept.take();
        #[cfg(feature = "durable")]
        if let Some(journal) = kept.as_ref().and_then(|k| k.journal.get()) {
            match moved_to {
                Some(node) => journal.casts().gone(node.to_owned()),
                None => journal.casts().reopen(),
            }
        }
        #[cfg(not(feature = "durable"))]
        let _ = (kept, moved_to);
    }
}

impl<A: Portable> Drop for CastsHeld<A> {
    fn drop(&mut self) {
        self.release(None);
    }
}

/// The target runs the instance and holds it in its store: the source's
/// records of it go.
pub(super) fn forget<A: Portable>(kept: &Kept<A>) {
    #[cfg(feature = "durable")]
    if let Some(journal) = kept.journal.get() {
        tokio::spawn(journal.forget());
    }
    #[cfg(not(feature = "durable"))]
    let _ = kept;
}

/// A durable instance's stage, with this node's store; refused here
/// without one.
pub(super) fn store_for(
    node: &crate::cluster::Node,
    stage: Box<dyn Staging>,
    durable: bool,
) -> Result<Box<dyn Staging>, String> {
    if !durable {
        return Ok(stage);
    }
    #[cfg(feature = "durable")]
    if let Some(store) = &node.config().durable {
        let mut stage = stage;
        stage.set_durable(store.clone());
        return Ok(stage);
    }
    #[cfg(not(feature = "durable"))]
    let _ = node;
    drop(stage);
    Err("the instance is durable and this node keeps no durable store".to_owned())
}

impl crate::cluster::Node {
    /// How this node holds the instance `name`, for a node that restarted
    /// with it noted as moving here. Asked through the agent, in turn with
    /// the steps of moves, so a start is never half seen.
    pub(crate) fn holding(&self, name: &str) -> crate::cluster::wire::Holding {
        use crate::cluster::wire::Holding;
        if crate::registry::get(name).is_some() || super::relay::forwarded(name).is_some() {
            return Holding::Runs;
        }
        if self.inner.stages.stages_name(name) {
            return Holding::Staged;
        }
        #[cfg(feature = "durable")]
        if let Some(durable) = &self.config().durable {
            return match durable.holds(name) {
                Ok(None) => Holding::Nothing,
                Ok(Some(false)) => Holding::Stored,
                // Noted as moving on from here, or unreadable: not "no".
                Ok(Some(true)) | Err(_) => Holding::Staged,
            };
        }
        Holding::Nothing
    }
}

/// Settles, with the nodes they were moving to, the instances this node's
/// store found noted as moving when it restarted: forgets those the target
/// holds, starts here those it does not. Runs while the node does.
#[cfg(feature = "durable")]
pub(crate) fn settle_in_doubt(node: &crate::cluster::Node) {
    use crate::cluster::wire::{self, Holding, Request, Response};
    let Some(durable) = node.config().durable.clone() else {
        return;
    };
    let weak = std::sync::Arc::downgrade(&node.inner);
    let tick = node.config().heartbeat_interval;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(tick).await;
            let Some(inner) = weak.upgrade() else { return };
            let node = crate::cluster::Node { inner };
            for (name, to) in durable.in_doubt() {
                let Some(agent) = node.agent_of(&to) else {
                    continue;
                };
                let ask = Request::Holds { name: name.clone() };
                match wire::ask(&agent, &ask, node.config().step_timeout).await {
                    Some(Response::Holds(Holding::Runs | Holding::Stored)) => {
                        tracing::info!(%name, %to, "peeper: moved before the restart; forgotten here");
                        durable.forget_in_doubt(&name).await;
                    }
                    Some(Response::Holds(Holding::Nothing)) => {
                        match durable.resume_in_doubt(&name).await {
                            Ok(true) => {
                                tracing::info!(%name, %to, "peeper: its move did not happen; it runs here");
                            }
                            Ok(false) => {}
                            Err(e) => {
                                tracing::error!(%name, error = %e, "peeper: could not start it again");
                            }
                        }
                    }
                    // Staged there, or no answer: ask again next time.
                    _ => {}
                }
            }
        }
    });
}
