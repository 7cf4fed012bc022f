//! How children stop for good: the wait that `terminate_child` and
//! [`Supervisor::stop`] (all of them, then the supervisor) share, and what a
//! final stop leaves to do.

use std::sync::Arc;
use std::time::Duration;

use super::{Supervisor, SupervisorInner};
use crate::error::StopReason;
use crate::event::SupervisorEvent;
use crate::instance::{AnyInstance, Owner};
use crate::registry;

impl Supervisor {
    /// Stops every child as [`Supervisor::terminate_child`] does (queued
    /// messages handled, then `terminate`), all at once, then the supervisor
    /// itself, and frees its name. Idempotent.
    pub async fn stop(&self) {
        let children = self.inner.children().close();
        let timeout = self.inner.config.shutdown_timeout;
        let stops = children.iter().map(|child| async move {
            let reason = child.stop_reason().unwrap_or(StopReason::Shutdown);
            self.inner.wake_for_stop(child);
            child.mark_stopped(StopReason::Shutdown);
            stop_instance(&self.inner, child, timeout).await;
            self.inner.emit(|| SupervisorEvent::ChildStopped {
                name: child.name().to_owned(),
                id: child.id(),
                reason,
            });
        });
        futures::future::join_all(stops).await;
        if let Some(actor) = self.inner.actor.get() {
            let _ = actor.stop_and_wait(None, Some(timeout)).await;
        }
        let owner: Arc<dyn Owner> = self.inner.clone();
        registry::unregister_supervisor(&self.inner.name, &owner);
        tracing::info!(supervisor = %self.inner.name, "peeper: supervisor stopped");
    }
}

/// Stops an instance already marked as stopping for good, and waits for it:
/// new messages are refused at once, the ones already queued are handled,
/// then `terminate` runs. A stop that outlasts `timeout` becomes a kill. A
/// dormant instance gets its worker for it (see
/// [`SupervisorInner::wake_for_stop`]), which runs `terminate`.
pub(super) async fn stop_instance(
    supervisor: &SupervisorInner,
    child: &Arc<dyn AnyInstance>,
    timeout: Duration,
) {
    supervisor.wake_for_stop(child);
    if let Some(cell) = child.cell()
        && cell.drain_and_wait(Some(timeout)).await.is_err()
    {
        tracing::warn!(name = %child.name(), "peeper: stop timed out, killing");
        let _ = cell.kill_and_wait(Some(timeout)).await;
    }
    finish_stop(&**child);
}

/// What a final stop leaves to do once the actor is gone: timers cancelled,
/// name freed.
pub(crate) fn finish_stop(child: &dyn AnyInstance) {
    child.cancel_timers();
    registry::release(child.name(), child.id());
}
