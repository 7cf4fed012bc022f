//! The worker's side of the run token (see `instance/run.rs`): taking it
//! for a message, and first doing what callers left.

use futures::future::BoxFuture;
use ractor::ActorRef;

use super::{Worker, WorkerState};
use crate::actor::Actor;
use crate::error::CallError;
use crate::instance::envelope::Envelope;
use crate::instance::run::{Handed, Held};

impl<A: Actor> Worker<A> {
    /// Takes the run token, then does first what callers left: finishes a
    /// call one handed over, takes their commits, and restores from a crash
    /// of theirs.
    pub(super) async fn hold<'a>(
        &'a self,
        myself: &ActorRef<Envelope<A>>,
        w: &mut WorkerState<A>,
    ) -> Held<'a, A> {
        if !self.kept.run.try_take() {
            return self.wait_hold(myself, w).await;
        }
        let held = Held(&self.kept.run);
        self.settle(myself, w).await;
        held
    }

    /// [`Worker::hold`] when a caller holds the token: boxed for the same
    /// reason as [`Worker::restore`], it is rare.
    fn wait_hold<'a, 'b>(
        &'a self,
        myself: &'b ActorRef<Envelope<A>>,
        w: &'b mut WorkerState<A>,
    ) -> BoxFuture<'b, Held<'a, A>>
    where
        'a: 'b,
    {
        Box::pin(async move {
            let handed = self.kept.run.take().await;
            let held = Held(&self.kept.run);
            if let Some(handed) = handed {
                self.finish(handed).await;
            }
            self.settle(myself, w).await;
            held
        })
    }

    /// Finishes a call a caller began and handed over.
    async fn finish(&self, Handed { call, reply }: Handed<A>) {
        let (_, out) = call.await;
        let _ = reply.send(out.map_err(|crash| {
            // The restore follows in `settle`, as for a caller's crash.
            self.kept.run.leave_crash(crash.clone());
            CallError::Crashed {
                name: self.kept.name().to_owned(),
                crash,
            }
        }));
    }

    /// With the token held: takes callers' commits, and restores from a
    /// crash a caller's call left.
    async fn settle(&self, myself: &ActorRef<Envelope<A>>, w: &mut WorkerState<A>) {
        w.catch_up();
        if let Some(crash) = self.kept.run.take_crash()
            && self.kept.stop_reason().is_none()
        {
            self.restore(myself, w, crash).await;
        }
    }
}
