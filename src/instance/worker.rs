//! [`Worker`]: the ractor actor that runs an instance's callbacks and
//! survives their crashes; see the [module docs](super).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use ractor::{ActorProcessingErr, ActorRef, RpcReplyPort};

use super::envelope::{Body, Envelope, Frozen, Job};
use super::guard::{guard, scope_of};
use super::journal;
use super::kept::Kept;
use crate::actor::{Actor, Context, Start};
use crate::crash_report::{self, Callback};
use crate::error::{CallError, Crash, panic_text};

mod hold;
mod restore;
mod state;

pub(crate) use state::WorkerState;

/// The ractor actor that runs an instance's callbacks.
pub(crate) struct Worker<A: Actor> {
    /// The kept parts, for the behaviour they hold.
    kept: Arc<Kept<A>>,
}

impl<A: Actor> Worker<A> {
    pub(crate) fn new(kept: Arc<Kept<A>>) -> Self {
        Worker { kept }
    }

    fn behaviour(&self) -> &A {
        &self.kept.behaviour
    }
}

impl<A: Actor> Worker<A> {
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn would keep its arguments twice in the future"
    )]
    fn on_call<'a>(
        &'a self,
        myself: &'a ActorRef<Envelope<A>>,
        w: &'a mut WorkerState<A>,
        msg: A::Call,
        reply: RpcReplyPort<Result<A::Reply, CallError>>,
    ) -> impl Future<Output = ()> + 'a {
        async move {
            if reply.is_closed() {
                // The caller gave up (timeout) before handling began: a call
                // that timed out must not change the state.
                return;
            }
            let mut state = w.view();
            let scope = scope_of(&w.kept, Callback::Call);
            let call = self.behaviour().handle_call(msg, &mut state, &mut w.ctx);
            match guard(&w.kept.kill, scope, call).await {
                Ok(value) => {
                    w.commit(state);
                    journal::record(&w.kept, &w.state, &w.dict, None);
                    journal::answer(&w.kept, reply, value);
                }
                Err(crash) => {
                    w.rollback();
                    let _ = reply.send(Err(CallError::Crashed {
                        name: w.kept.name().to_owned(),
                        crash: crash.clone(),
                    }));
                    self.restore(myself, w, crash).await;
                }
            }
        }
    }

    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn would keep its arguments twice in the future"
    )]
    fn on_one_way<'a>(
        &'a self,
        myself: &'a ActorRef<Envelope<A>>,
        w: &'a mut WorkerState<A>,
        body: OneWay<A>,
        handled: Handled,
    ) -> impl Future<Output = ()> + 'a {
        async move {
            let mut state = w.view();
            let out = match body {
                OneWay::Cast(msg) => {
                    let scope = scope_of(&w.kept, Callback::Cast);
                    let cast = self.behaviour().handle_cast(msg, &mut state, &mut w.ctx);
                    guard(&w.kept.kill, scope, cast).await
                }
                OneWay::Info(msg) => {
                    let scope = scope_of(&w.kept, Callback::Info);
                    let info = self.behaviour().handle_info(msg, &mut state, &mut w.ctx);
                    guard(&w.kept.kill, scope, info).await
                }
            };
            let crashed = match out {
                Ok(()) => {
                    w.commit(state);
                    None
                }
                Err(crash) => {
                    w.rollback();
                    Some(crash)
                }
            };
            // Whether it crashed or not, the message is done with (not retried,
            // after a restart of the process either): its removal from a store
            // goes with the change it made, in one record.
            let stored = match handled {
                Handled::Plain => None,
                Handled::Stored(seq) => Some(seq),
                Handled::Timer(id) => {
                    w.kept.timers.handled(id);
                    None
                }
            };
            journal::record(&w.kept, &w.state, &w.dict, stored);
            if let Some(crash) = crashed {
                self.restore(myself, w, crash).await;
            }
        }
    }

    /// Runs a job with the loop frozen in it: messages queue behind it.
    async fn on_run(&self, w: &mut WorkerState<A>, job: Job<A>) {
        let frozen = Frozen {
            kept: w.kept.clone(),
            state: w.state.clone(),
            dict: w.dict.clone(),
        };
        job(Some(frozen)).await;
    }
}

/// Where a cast or an info message came from, for what is done with it
/// once handled.
enum Handled {
    /// Sent by a handle.
    Plain,
    /// Stored in a durable store under this number.
    Stored(u64),
    /// Fired by the timer with this id.
    Timer(u64),
}

/// A cast or an info message: handled alike, by different callbacks.
enum OneWay<A: Actor> {
    Cast(A::Cast),
    Info(A::Info),
}

impl<A: Actor> ractor::Actor for Worker<A> {
    type Msg = Envelope<A>;
    type State = WorkerState<A>;
    /// The kept parts, and why the actor starts: [`Start::Restored`] for a
    /// respawn, in which case `init` runs in `post_start`; `None` for a
    /// dormant instance that needs its first worker (no `init` then: it ran
    /// when the instance started; see `instance/dormant.rs`).
    type Arguments = (Arc<Kept<A>>, Option<Start>);

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (kept, start): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let (restore, start) = match start {
            None => {
                if !kept.install_woken(myself) {
                    return Err("the instance has a worker already".into());
                }
                (None, None)
            }
            Some(Start::Restored(crash)) => {
                kept.install(myself);
                (Some(crash), None)
            }
            Some(other) => {
                kept.install(myself);
                (None, Some(other))
            }
        };
        if start.is_some() {
            // A new instance: no caller runs calls before `post_start`.
            kept.kill.catch_up();
        }
        // Read before the state: a caller's commit after this read is taken
        // at the next message.
        let commits = kept.run.commits();
        let (state, dict) = kept.read_committed();
        let mut w = WorkerState {
            commits,
            ctx: Context::new(kept.clone(), dict.clone()),
            kept,
            state,
            dict,
            pending_restore: restore,
            stopping: false,
            spare: None,
        };
        if let Some(start) = start {
            let fresh = start == Start::Fresh;
            let mut state = w.view();
            let scope = scope_of(&w.kept, Callback::Init);
            let init = self.behaviour().init(&mut state, start, &mut w.ctx);
            match guard(&w.kept.kill, scope, init).await {
                Ok(()) => {
                    w.commit(state);
                    journal::record(&w.kept, &w.state, &w.dict, None);
                }
                // A fresh start has nothing to keep: it fails. An instance
                // that arrived from another node has: it restores instead.
                Err(crash) if fresh => return Err(Box::new(crash)),
                Err(crash) => {
                    w.rollback();
                    w.pending_restore = Some(crash);
                }
            }
        }
        Ok(w)
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        w: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let held = self.hold(&myself, w).await;
        if let Some(crash) = w.pending_restore.take() {
            // A respawned worker: its start applies every kill asked so far.
            self.kept.kill.catch_up();
            self.restore(&myself, w, crash).await;
        }
        self.kept.run.ready();
        drop(held);
        Ok(())
    }

    fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        envelope: Self::Msg,
        w: &mut Self::State,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        // Boxed: ractor keeps this future inline in the actor's task for the
        // actor's whole life, and moves it twice per message. As a pointer it
        // costs no memory while the actor is idle, and one allocation per
        // message instead of the copies.
        Box::pin(async move {
            // Taken before the envelope is opened: until then the message
            // counts as queued, and no caller runs a call ahead of it.
            let _held = self.hold(&myself, w).await;
            let Some(body) = envelope.open() else {
                return Ok(());
            };
            if let Some(relay) = w.kept.relay.get() {
                // Moved away: pass everything on, in order.
                match body {
                    Body::Run(job) => job(None).await,
                    Body::Wake => {}
                    other => relay.relay(other),
                }
                return Ok(());
            }
            // A kill that arrived while no callback was running.
            if w.kept.kill.take_new() {
                self.restore(&myself, w, Crash::Killed).await;
            }
            if w.stopping {
                return Ok(());
            }
            match body {
                Body::Call(msg, reply) => self.on_call(&myself, w, msg, reply).await,
                Body::Cast(msg) => {
                    self.on_one_way(&myself, w, OneWay::Cast(msg), Handled::Plain)
                        .await;
                }
                #[cfg(feature = "durable")]
                Body::Durable(msg, seq) => {
                    self.on_one_way(&myself, w, OneWay::Cast(msg), Handled::Stored(seq))
                        .await;
                }
                Body::Info(msg) => {
                    self.on_one_way(&myself, w, OneWay::Info(msg), Handled::Plain)
                        .await;
                }
                Body::Fired(msg, id) => {
                    self.on_one_way(&myself, w, OneWay::Info(msg), Handled::Timer(id))
                        .await;
                }
                Body::Wake => {}
                Body::Run(job) => self.on_run(w, job).await,
            }
            Ok(())
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        w: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Without a recorded reason this stop came from outside peeper: the
        // supervisor respawns the actor, and `terminate` must not run.
        let Some(reason) = w.kept.stop_reason().cloned() else {
            return Ok(());
        };
        // A call a caller runs or handed over completes before `terminate`.
        let _held = self.hold(&myself, w).await;
        let state = w.state.clone();
        let scope = scope_of(&w.kept, Callback::Terminate);
        let terminate = self.behaviour().terminate(&reason, &state, &mut w.ctx);
        let caught = crash_report::scoped(scope, AssertUnwindSafe(terminate).catch_unwind());
        if let Err(payload) = caught.await {
            tracing::error!(
                name = %w.kept.name(),
                panic = %panic_text(&*payload),
                "peeper: terminate panicked"
            );
        }
        w.kept.timers.cancel_all();
        journal::stopped(&w.kept, &reason).await;
        if let Some(owner) = w.kept.current_owner() {
            owner.released(w.kept.name(), w.kept.id());
        }
        Ok(())
    }
}
