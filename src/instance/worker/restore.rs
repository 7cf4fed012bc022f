//! How a worker restores an instance after a crash: `init` with
//! [`Start::Restored`], counted against the restart policy.

use futures::future::BoxFuture;
use ractor::ActorRef;

use super::{Worker, WorkerState};
use crate::actor::{Actor, Start};
use crate::crash_report::Callback;
use crate::error::{Crash, StopReason};
use crate::event::SupervisorEvent;
use crate::instance::envelope::Envelope;
use crate::instance::guard::{guard, scope_of};
use crate::instance::journal;

impl<A: Actor> Worker<A> {
    /// Counts `crash` and runs `init` with [`Start::Restored`], boxed: a
    /// restore is rare, and kept inline its state (an `init` future) would
    /// make every message's future larger. A plain fn, so that the arguments
    /// go into the box too, not beside it.
    pub(super) fn restore<'a>(
        &'a self,
        myself: &'a ActorRef<Envelope<A>>,
        w: &'a mut WorkerState<A>,
        crash: Crash,
    ) -> BoxFuture<'a, bool> {
        Box::pin(self.restore_inline(myself, w, crash))
    }

    /// Counts `crash` and runs `init` with [`Start::Restored`] until it
    /// succeeds. Returns `false` if the restart limit stopped the instance.
    async fn restore_inline(
        &self,
        myself: &ActorRef<Envelope<A>>,
        w: &mut WorkerState<A>,
        mut crash: Crash,
    ) -> bool {
        loop {
            let policy = w.kept.policy();
            let counted = w
                .kept
                .restarts
                .lock()
                .record(&policy, tokio::time::Instant::now());
            #[cfg(feature = "dashboard")]
            crate::dashboard::probe::crashed(&*w.kept, &crash, counted.is_ok());
            if let Err(restarts) = counted {
                let reason = StopReason::RestartLimit {
                    restarts,
                    within: policy.within,
                    last: crash,
                };
                tracing::error!(name = %w.kept.name(), %reason, "peeper: restart limit reached");
                w.kept.mark_stopped(reason.clone());
                w.stopping = true;
                myself.stop(Some(reason.to_string()));
                return false;
            }
            tracing::warn!(name = %w.kept.name(), %crash, "peeper: worker restarting");
            w.kept.notify_owner(|| SupervisorEvent::WorkerRestarted {
                name: w.kept.name().to_owned(),
                id: w.kept.id(),
                crash: crash.clone(),
            });
            let mut state = w.view();
            let start = Start::Restored(crash);
            let scope = scope_of(&w.kept, Callback::Init);
            let init = self.behaviour().init(&mut state, start, &mut w.ctx);
            match guard(&w.kept.kill, scope, init).await {
                Ok(()) => {
                    w.commit(state);
                    journal::record(&w.kept, &w.state, &w.dict, None);
                    return true;
                }
                Err(next) => {
                    w.rollback();
                    crash = next;
                }
            }
        }
    }
}
