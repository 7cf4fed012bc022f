//! One running instance: the kept parts, and the loop that runs callbacks and
//! survives their crashes.
//!
//! # Who owns what
//!
//! An instance is one ractor actor (its mailbox is the instance's inbox) plus
//! the kept parts in `Shared`, which every handle, the supervisor and the
//! registry point to:
//!
//! - **state and dictionary**: the actor's loop holds the last committed
//!   `Arc<State>` and [`Dictionary`]; after every callback that changed either,
//!   it publishes them to `Shared::kept`. Only the loop writes them, so the
//!   loop's copy and `kept` never disagree once a callback has completed.
//! - **tables and timers**: live in `Shared` directly; callbacks reach them
//!   through the [`Context`].
//! - **the inbox**: the ractor mailbox. The actor itself never stops on a
//!   crash: a user callback runs inside `catch_unwind`, raced against the
//!   instance's kill signal, so a panic, an error or a kill ends only that
//!   callback. The message that crashed is not retried; everything queued
//!   behind it stays queued.
//!
//! If the ractor actor is stopped from outside peeper (ractor code calling
//! `stop` or `kill` on it), its supervisor spawns a new actor over the same
//! `Shared`: state, dictionary, tables, timers, name and handles survive, the
//! messages queued at that moment do not.
//!
//! # One message
//!
//! 1. A pending kill is applied first: the worker restarts (`init` with
//!    [`Start::Restored`]) before the message is handled.
//! 2. The callback gets a [`StateMut`] over the committed `Arc` and the
//!    context's working copy of the dictionary.
//! 3. On completion both are committed (nothing is copied if nothing changed)
//!    and then the reply is sent. On a crash both are dropped, the caller gets
//!    [`CallError::Crashed`], the crash is counted against the
//!    [`RestartPolicy`], and `init` runs with [`Start::Restored`].

use std::any::Any;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use futures::FutureExt;
use futures::future::BoxFuture;
use parking_lot::{Mutex, RwLock};
use ractor::{ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::watch;

use crate::actor::{Actor, Start, StateMut};
use crate::context::Context;
use crate::dictionary::Dictionary;
use crate::error::{BoxError, CallError, Crash, StopReason, panic_text};
use crate::registry;
use crate::restart::{RestartPolicy, RestartWindow};
use crate::supervisor::{SupervisorEvent, SupervisorInner};
use crate::table::TableSet;
use crate::timer::Timers;

/// The identity of an instance: unique in the process, unchanged by crashes,
/// restarts and transfers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(u64);

static NEXT_INSTANCE_ID: AtomicU64 = AtomicU64::new(1);

impl InstanceId {
    pub(crate) fn next() -> Self {
        InstanceId(NEXT_INSTANCE_ID.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "instance#{}", self.0)
    }
}

/// A message for an instance, as its ractor actor receives it.
///
/// ractor code that holds the instance's `ActorRef` (from
/// [`Handle::actor_ref`](crate::Handle::actor_ref)) builds envelopes with
/// [`Envelope::call`], [`Envelope::cast`] and [`Envelope::info`]:
///
/// ```
/// # use peeper::{Actor, BoxError, Context, Envelope, StateMut, Supervisor};
/// # struct Echo;
/// # impl Actor for Echo {
/// #     type State = ();
/// #     type Call = u32;
/// #     type Reply = u32;
/// #     type Cast = ();
/// #     type Info = ();
/// #     async fn handle_call(&self, n: u32, _: &mut StateMut<()>, _: &mut Context<Self>)
/// #         -> Result<u32, BoxError> { Ok(n) }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let sup = Supervisor::start("envelope-doc").await.unwrap();
/// # let handle = sup.start_child("echo-doc", Echo, ()).await.unwrap();
/// let actor = handle.actor_ref().expect("running");
/// let reply = ractor::call!(actor, Envelope::call, 7).expect("delivered");
/// assert_eq!(reply, Ok(7));
/// # sup.stop().await;
/// # }
/// ```
pub struct Envelope<A: Actor>(pub(crate) Letter<A>);

pub(crate) enum Letter<A: Actor> {
    Call(A::Call, RpcReplyPort<Result<A::Reply, CallError>>),
    Cast(A::Cast),
    Info(A::Info),
    /// Wakes the loop so that a kill of an idle worker takes effect.
    Wake,
    /// Freezes the instance in its mailbox order and runs a move to another
    /// node; see [`crate::cluster::handoff`].
    #[cfg(feature = "cluster")]
    Handoff(HandoffJob<A>),
}

/// Passes an instance's messages on to where it moved.
#[cfg(feature = "cluster")]
pub(crate) trait Relay<A: Actor>: Send + Sync {
    /// The node the instance now lives on.
    fn node(&self) -> &str;
    /// Sends `letter` on, in the order given.
    fn relay(&self, letter: Letter<A>);
}

/// The instance as a move sees it while the loop is frozen in the job.
#[cfg(feature = "cluster")]
pub(crate) struct Frozen<A: Actor> {
    pub(crate) shared: Arc<Shared<A>>,
    pub(crate) state: Arc<A::State>,
    pub(crate) dict: Dictionary,
}

/// A move run by the loop itself, so that every message queued before it is
/// handled here and every message after it goes to the target. It gets `None`
/// if the instance has already moved away. If the target took over, it
/// installs the relay itself or returns it for the loop to install.
#[cfg(feature = "cluster")]
pub(crate) type HandoffJob<A> =
    Box<dyn FnOnce(Option<Frozen<A>>) -> BoxFuture<'static, Option<Box<dyn Relay<A>>>> + Send>;

impl<A: Actor> Envelope<A> {
    /// A call whose reply goes to `reply`.
    pub fn call(msg: A::Call, reply: RpcReplyPort<Result<A::Reply, CallError>>) -> Self {
        Envelope(Letter::Call(msg, reply))
    }

    /// A cast.
    pub fn cast(msg: A::Cast) -> Self {
        Envelope(Letter::Cast(msg))
    }

    /// An info message.
    pub fn info(msg: A::Info) -> Self {
        Envelope(Letter::Info(msg))
    }
}

// With ractor's `cluster` feature on, ractor no longer implements `Message`
// for every type; an instance's envelope stays a local-only message.
#[cfg(feature = "cluster")]
impl<A: Actor> ractor::Message for Envelope<A> {}

/// The committed state and dictionary, as published by the loop.
pub(crate) struct Kept<S> {
    pub(crate) state: Arc<S>,
    pub(crate) dict: Dictionary,
}

/// The kept parts of one instance; see the [module docs](self).
pub(crate) struct Shared<A: Actor> {
    id: InstanceId,
    name: String,
    pub(crate) behaviour: Arc<A>,
    pub(crate) actor: RwLock<Option<ActorRef<Envelope<A>>>>,
    pub(crate) kept: Mutex<Kept<A::State>>,
    pub(crate) tables: TableSet,
    pub(crate) timers: Timers,
    kill: watch::Sender<u64>,
    policy: RestartPolicy,
    restarts: Mutex<RestartWindow>,
    stop: OnceLock<StopReason>,
    owner: Mutex<Weak<SupervisorInner>>,
    busy: AtomicBool,
    /// How many times the instance moved between nodes: its fencing epoch.
    #[cfg(feature = "cluster")]
    pub(crate) epoch: u64,
    /// Set once the instance moved to another node: from then on the loop
    /// only passes messages on.
    #[cfg(feature = "cluster")]
    pub(crate) relay: OnceLock<Box<dyn Relay<A>>>,
}

impl<A: Actor> Shared<A> {
    pub(crate) fn new(
        name: String,
        behaviour: A,
        state: A::State,
        policy: RestartPolicy,
        owner: Weak<SupervisorInner>,
    ) -> Self {
        Shared {
            id: InstanceId::next(),
            name,
            behaviour: Arc::new(behaviour),
            actor: RwLock::new(None),
            kept: Mutex::new(Kept {
                state: Arc::new(state),
                dict: Dictionary::default(),
            }),
            tables: TableSet::default(),
            timers: Timers::default(),
            kill: watch::Sender::new(0),
            policy,
            restarts: Mutex::new(RestartWindow::default()),
            stop: OnceLock::new(),
            owner: Mutex::new(owner),
            busy: AtomicBool::new(false),
            #[cfg(feature = "cluster")]
            epoch: 0,
            #[cfg(feature = "cluster")]
            relay: OnceLock::new(),
        }
    }

    /// The kept parts of an instance that arrives from another node.
    #[cfg(feature = "cluster")]
    pub(crate) fn arrived(
        name: String,
        behaviour: A,
        state: A::State,
        dict: Dictionary,
        tables: TableSet,
        policy: RestartPolicy,
        epoch: u64,
    ) -> Self {
        let mut shared = Shared::new(name, behaviour, state, policy, Weak::new());
        shared.kept.get_mut().dict = dict;
        shared.tables = tables;
        shared.epoch = epoch;
        shared
    }

    /// The restart policy the instance runs under.
    #[cfg(feature = "cluster")]
    pub(crate) fn policy(&self) -> RestartPolicy {
        self.policy
    }

    pub(crate) fn id(&self) -> InstanceId {
        self.id
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn stop_reason(&self) -> Option<&StopReason> {
        self.stop.get()
    }

    /// Asks the worker to restart: at once if a callback is awaiting, before
    /// the next message otherwise.
    pub(crate) fn kill_worker(&self) {
        self.kill.send_modify(|n| *n = n.wrapping_add(1));
        if let Some(actor) = self.actor.read().as_ref() {
            // Without a message an idle worker would restart only when the
            // next message comes; this one makes the restart prompt.
            let _ = actor.send_message(Envelope(Letter::Wake));
        }
    }

    pub(crate) fn current_owner(&self) -> Option<Arc<SupervisorInner>> {
        self.owner.lock().upgrade()
    }

    fn notify_owner(&self, event: SupervisorEvent) {
        if let Some(owner) = self.current_owner() {
            owner.emit(event);
        }
    }
}

/// What a supervisor needs of an instance, with the actor type erased.
pub(crate) trait ErasedInstance: Send + Sync + 'static {
    fn id(&self) -> InstanceId;
    fn name(&self) -> &str;
    fn actor_type(&self) -> &'static str;
    fn cell(&self) -> Option<ActorCell>;
    fn actor_id(&self) -> Option<ActorId>;
    fn stop_reason(&self) -> Option<StopReason>;
    /// Marks the instance as stopping for good; `false` if it already was.
    fn mark_stopped(&self, reason: StopReason) -> bool;
    /// Claims the instance for a transfer or a stop; `false` if one is under way.
    fn try_claim(&self) -> bool;
    fn release_claim(&self);
    fn set_owner(&self, owner: Weak<SupervisorInner>);
    fn owner(&self) -> Option<Arc<SupervisorInner>>;
    /// Cancels timers and frees the name: what a final stop leaves to do.
    fn cleanup(&self);
    /// The node the instance moved to, if it did.
    #[cfg(feature = "cluster")]
    fn moved_to(&self) -> Option<String>;
    /// How many times it moved between nodes.
    #[cfg(feature = "cluster")]
    fn epoch(&self) -> u64;
    /// Spawns a new actor over the same kept parts, linked to `supervisor`.
    fn respawn(self: Arc<Self>, supervisor: ActorCell, crash: Crash) -> BoxFuture<'static, bool>;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<A: Actor> ErasedInstance for Shared<A> {
    fn id(&self) -> InstanceId {
        self.id
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn actor_type(&self) -> &'static str {
        std::any::type_name::<A>()
    }

    fn cell(&self) -> Option<ActorCell> {
        self.actor.read().as_ref().map(ActorRef::get_cell)
    }

    fn actor_id(&self) -> Option<ActorId> {
        self.actor.read().as_ref().map(|a| a.get_id())
    }

    fn stop_reason(&self) -> Option<StopReason> {
        self.stop.get().cloned()
    }

    fn mark_stopped(&self, reason: StopReason) -> bool {
        self.stop.set(reason).is_ok()
    }

    fn try_claim(&self) -> bool {
        self.busy
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn release_claim(&self) {
        self.busy.store(false, Ordering::Release);
    }

    fn set_owner(&self, owner: Weak<SupervisorInner>) {
        *self.owner.lock() = owner;
    }

    fn owner(&self) -> Option<Arc<SupervisorInner>> {
        self.current_owner()
    }

    #[cfg(feature = "cluster")]
    fn moved_to(&self) -> Option<String> {
        self.relay.get().map(|r| r.node().to_owned())
    }

    #[cfg(feature = "cluster")]
    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn cleanup(&self) {
        self.timers.cancel_all();
        registry::release(&self.name, self.id);
    }

    fn respawn(self: Arc<Self>, supervisor: ActorCell, crash: Crash) -> BoxFuture<'static, bool> {
        Box::pin(async move {
            let worker = InstanceActor {
                behaviour: self.behaviour.clone(),
            };
            let spawned = ractor::Actor::spawn_linked(
                None,
                worker,
                (self.clone(), Start::Restored(crash)),
                supervisor,
            )
            .await;
            match spawned {
                Ok(_) => true,
                Err(e) => {
                    tracing::error!(name = %self.name, error = %e, "peeper: respawn failed");
                    false
                }
            }
        })
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// The ractor actor that runs an instance's callbacks.
pub(crate) struct InstanceActor<A: Actor> {
    pub(crate) behaviour: Arc<A>,
}

/// The actor's own state: the committed copies and what a callback needs.
pub(crate) struct Worker<A: Actor> {
    shared: Arc<Shared<A>>,
    state: Arc<A::State>,
    dict: Dictionary,
    ctx: Context<A>,
    kill: watch::Receiver<u64>,
    /// Set when the actor was respawned: `init` must restore before messages.
    pending_restore: Option<Crash>,
    /// Set once the restart limit was hit; later messages are not handled.
    stopping: bool,
}

impl<A: Actor> Worker<A> {
    /// Makes the callback's changes the kept ones. Copies nothing and takes
    /// no lock when the callback changed nothing.
    fn commit(&mut self, state: StateMut<A::State>) {
        let state = state.into_arc();
        let state_changed = !Arc::ptr_eq(&state, &self.state);
        let dict_changed = !self.ctx.dict.same_as(&self.dict);
        if !(state_changed || dict_changed) {
            return;
        }
        self.state = state;
        if dict_changed {
            self.dict = self.ctx.dict.clone();
        }
        let mut kept = self.shared.kept.lock();
        kept.state = self.state.clone();
        kept.dict = self.dict.clone();
    }

    /// Drops a crashed callback's dictionary writes.
    fn rollback(&mut self) {
        self.ctx.dict = self.dict.clone();
    }
}

/// Runs a callback: its outcome, or the crash that ended it.
async fn guard<T>(
    kill: &mut watch::Receiver<u64>,
    callback: impl Future<Output = Result<T, BoxError>>,
) -> Result<T, Crash> {
    let caught = AssertUnwindSafe(callback).catch_unwind();
    tokio::select! {
        // The callback is polled first, so one that completes without
        // awaiting is never cut off by a kill: the kill applies after it.
        biased;
        out = caught => match out {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(Crash::Failed(e.to_string())),
            Err(payload) => Err(Crash::Panicked(panic_text(&*payload))),
        },
        () = killed(kill) => Err(Crash::Killed),
    }
}

async fn killed(kill: &mut watch::Receiver<u64>) {
    if kill.changed().await.is_err() {
        // The sender lives as long as the instance; never a kill.
        std::future::pending::<()>().await;
    }
}

impl<A: Actor> InstanceActor<A> {
    /// Counts `crash` and runs `init` with [`Start::Restored`] until it
    /// succeeds. Returns `false` if the restart limit stopped the instance.
    async fn restore(
        &self,
        myself: &ActorRef<Envelope<A>>,
        w: &mut Worker<A>,
        mut crash: Crash,
    ) -> bool {
        loop {
            let counted = w
                .shared
                .restarts
                .lock()
                .record(&w.shared.policy, tokio::time::Instant::now());
            if let Err(restarts) = counted {
                let reason = StopReason::RestartLimit {
                    restarts,
                    within: w.shared.policy.within,
                    last: crash,
                };
                tracing::error!(name = %w.shared.name, %reason, "peeper: restart limit reached");
                let _ = w.shared.stop.set(reason.clone());
                w.stopping = true;
                myself.stop(Some(reason.to_string()));
                return false;
            }
            tracing::warn!(name = %w.shared.name, %crash, "peeper: worker restarting");
            w.shared.notify_owner(SupervisorEvent::WorkerRestarted {
                name: w.shared.name.clone(),
                id: w.shared.id,
                crash: crash.clone(),
            });
            let mut state = StateMut::new(w.state.clone());
            let start = Start::Restored(crash);
            match guard(
                &mut w.kill,
                self.behaviour.init(&mut state, start, &mut w.ctx),
            )
            .await
            {
                Ok(()) => {
                    w.commit(state);
                    return true;
                }
                Err(next) => {
                    w.rollback();
                    crash = next;
                }
            }
        }
    }

    /// Applies a kill that arrived while no callback was running.
    async fn apply_pending_kill(&self, myself: &ActorRef<Envelope<A>>, w: &mut Worker<A>) {
        if w.kill.has_changed().unwrap_or(false) {
            w.kill.borrow_and_update();
            self.restore(myself, w, Crash::Killed).await;
        }
    }

    async fn on_call(
        &self,
        myself: &ActorRef<Envelope<A>>,
        w: &mut Worker<A>,
        msg: A::Call,
        reply: RpcReplyPort<Result<A::Reply, CallError>>,
    ) {
        if reply.is_closed() {
            // The caller gave up (timeout) before handling began: a call
            // that timed out must not change the state.
            return;
        }
        let mut state = StateMut::new(w.state.clone());
        let out = guard(
            &mut w.kill,
            self.behaviour.handle_call(msg, &mut state, &mut w.ctx),
        )
        .await;
        match out {
            Ok(value) => {
                w.commit(state);
                let _ = reply.send(Ok(value));
            }
            Err(crash) => {
                w.rollback();
                let _ = reply.send(Err(CallError::Crashed {
                    name: w.shared.name.clone(),
                    crash: crash.clone(),
                }));
                self.restore(myself, w, crash).await;
            }
        }
    }

    async fn on_cast(&self, myself: &ActorRef<Envelope<A>>, w: &mut Worker<A>, msg: A::Cast) {
        let mut state = StateMut::new(w.state.clone());
        let out = guard(
            &mut w.kill,
            self.behaviour.handle_cast(msg, &mut state, &mut w.ctx),
        )
        .await;
        self.settle(myself, w, state, out).await;
    }

    async fn on_info(&self, myself: &ActorRef<Envelope<A>>, w: &mut Worker<A>, msg: A::Info) {
        let mut state = StateMut::new(w.state.clone());
        let out = guard(
            &mut w.kill,
            self.behaviour.handle_info(msg, &mut state, &mut w.ctx),
        )
        .await;
        self.settle(myself, w, state, out).await;
    }

    /// Passes `letter` on if the instance has moved to another node; gives it
    /// back otherwise.
    #[cfg(feature = "cluster")]
    async fn moved_away(&self, w: &mut Worker<A>, letter: Letter<A>) -> Option<Letter<A>> {
        let Some(relay) = w.shared.relay.get() else {
            return Some(letter);
        };
        match letter {
            Letter::Handoff(job) => {
                job(None).await;
            }
            Letter::Wake => {}
            other => relay.relay(other),
        }
        None
    }

    /// Runs a move with the loop frozen: messages queue behind it.
    #[cfg(feature = "cluster")]
    async fn on_handoff(&self, w: &mut Worker<A>, job: HandoffJob<A>) {
        let frozen = Frozen {
            shared: w.shared.clone(),
            state: w.state.clone(),
            dict: w.dict.clone(),
        };
        if let Some(relay) = job(Some(frozen)).await {
            let _ = w.shared.relay.set(relay);
        }
    }

    /// Commits or restores after a one-way message.
    async fn settle(
        &self,
        myself: &ActorRef<Envelope<A>>,
        w: &mut Worker<A>,
        state: StateMut<A::State>,
        out: Result<(), Crash>,
    ) {
        match out {
            Ok(()) => w.commit(state),
            Err(crash) => {
                w.rollback();
                self.restore(myself, w, crash).await;
            }
        }
    }
}

impl<A: Actor> ractor::Actor for InstanceActor<A> {
    type Msg = Envelope<A>;
    type State = Worker<A>;
    /// The kept parts, and why the actor starts: [`Start::Restored`] for a
    /// respawn, in which case `init` runs in `post_start`.
    type Arguments = (Arc<Shared<A>>, Start);

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (shared, start): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let (restore, start) = match start {
            Start::Restored(crash) => (Some(crash), None),
            other => (None, Some(other)),
        };
        *shared.actor.write() = Some(myself);
        let (state, dict) = {
            let kept = shared.kept.lock();
            (kept.state.clone(), kept.dict.clone())
        };
        let mut w = Worker {
            kill: shared.kill.subscribe(),
            ctx: Context::new(shared.clone(), dict.clone()),
            shared,
            state,
            dict,
            pending_restore: restore,
            stopping: false,
        };
        if let Some(start) = start {
            let fresh = start == Start::Fresh;
            let mut state = StateMut::new(w.state.clone());
            let out = guard(
                &mut w.kill,
                self.behaviour.init(&mut state, start, &mut w.ctx),
            )
            .await;
            match out {
                Ok(()) => w.commit(state),
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
        if let Some(crash) = w.pending_restore.take() {
            self.restore(&myself, w, crash).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        Envelope(letter): Self::Msg,
        w: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        #[cfg(feature = "cluster")]
        let letter = match self.moved_away(w, letter).await {
            Some(letter) => letter,
            None => return Ok(()),
        };
        self.apply_pending_kill(&myself, w).await;
        if w.stopping {
            return Ok(());
        }
        match letter {
            Letter::Call(msg, reply) => self.on_call(&myself, w, msg, reply).await,
            Letter::Cast(msg) => self.on_cast(&myself, w, msg).await,
            Letter::Info(msg) => self.on_info(&myself, w, msg).await,
            Letter::Wake => {}
            #[cfg(feature = "cluster")]
            Letter::Handoff(job) => self.on_handoff(w, job).await,
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        w: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Without a recorded reason this stop came from outside peeper: the
        // supervisor respawns the actor, and `terminate` must not run.
        let Some(reason) = w.shared.stop.get().cloned() else {
            return Ok(());
        };
        let state = w.state.clone();
        let terminate = self.behaviour.terminate(&reason, &state, &mut w.ctx);
        if let Err(payload) = AssertUnwindSafe(terminate).catch_unwind().await {
            tracing::error!(
                name = %w.shared.name,
                panic = %panic_text(&*payload),
                "peeper: terminate panicked"
            );
        }
        w.shared.cleanup();
        Ok(())
    }
}
