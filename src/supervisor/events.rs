//! The supervisor's ractor actor: it hears when a child's actor ends, and
//! either records a final stop or respawns the actor over the same kept parts.
//!
//! A worker crash never reaches the supervisor as a failure: the instance
//! restarts its worker itself and only reports
//! [`SupervisorEvent::WorkerRestarted`]. The supervisor acts when an
//! instance's ractor actor ends: if the instance stopped for good it is
//! removed and [`SupervisorEvent::ChildStopped`] says why; if the actor was
//! stopped from outside peeper, a new actor is spawned over the same kept
//! parts and queues first what the old one left unhandled.

use std::sync::Arc;

use ractor::{ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};

use super::{SupervisorInner, finish_stop};
use crate::error::{Crash, StopReason};
use crate::event::SupervisorEvent;
use crate::instance::AnyInstance;
use crate::registry;

/// Messages of the supervisor's actor.
pub(crate) enum SupervisorMsg {
    /// A child's actor ended; sent by another supervisor that got the event.
    ChildDown(ActorId, Crash),
}

#[cfg(feature = "cluster")]
impl ractor::Message for SupervisorMsg {}

/// The supervisor's ractor actor.
pub(crate) struct SupervisorActor;

impl SupervisorInner {
    /// Handles the end of a child's actor.
    async fn on_actor_down(self: &Arc<Self>, actor: ActorId, crash: Crash) {
        let child = {
            let mut children = self.children();
            if children.stopping || children.actor_ended(actor) {
                // A stop of this supervisor or of this child is under way,
                // and finishes the child itself.
                return;
            }
            children.by_actor(actor)
        };
        let Some(child) = child else {
            self.forward_to_owner(actor, crash);
            return;
        };
        if let Some(reason) = child.stop_reason() {
            self.retire(&child, reason);
            return;
        }
        if self.children().stopping {
            return;
        }
        let Some(cell) = self.cell() else { return };
        tracing::warn!(name = %child.name(), %crash, "peeper: actor lost, respawning");
        if child.clone().respawn(cell, crash.clone()).await {
            self.children().reindex(actor, &child);
            self.emit(|| SupervisorEvent::ActorRespawned {
                name: child.name().to_owned(),
                id: child.id(),
                crash,
            });
        } else {
            // Nothing will handle what it kept: callers learn it stopped.
            child.mark_stopped(StopReason::Shutdown);
            self.retire(&child, StopReason::Shutdown);
        }
    }

    /// A child whose actor ended for good: no longer a child, its name free.
    fn retire(&self, child: &Arc<dyn AnyInstance>, reason: StopReason) {
        let removed = self.children().remove(child.name(), child.id()).is_some();
        finish_stop(&**child);
        if removed {
            self.emit(|| SupervisorEvent::ChildStopped {
                name: child.name().to_owned(),
                id: child.id(),
                reason,
            });
        }
    }

    /// An actor that died just as its instance was transferred away reports to
    /// the old supervisor; pass the news to the instance's owner now.
    fn forward_to_owner(&self, actor: ActorId, crash: Crash) {
        let Some(instance) = registry::find_by_actor(actor) else {
            return;
        };
        let owner = instance.owner().and_then(SupervisorInner::of);
        if let Some(owner) = owner.filter(|o| o.id != self.id)
            && let Some(actor_ref) = owner.actor.get()
        {
            let _ = actor_ref.send_message(SupervisorMsg::ChildDown(actor, crash));
        }
    }
}

impl ractor::Actor for SupervisorActor {
    type Msg = SupervisorMsg;
    type State = Arc<SupervisorInner>;
    type Arguments = Arc<SupervisorInner>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        inner: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(inner)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        inner: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::ChildDown(actor, crash) => inner.on_actor_down(actor, crash).await,
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        inner: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let why = reason.unwrap_or_else(|| "stopped".to_owned());
                inner
                    .on_actor_down(cell.get_id(), Crash::ActorLost(why))
                    .await;
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                inner
                    .on_actor_down(cell.get_id(), Crash::ActorLost(err.to_string()))
                    .await;
            }
            _ => {}
        }
        Ok(())
    }
}
