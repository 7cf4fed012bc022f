//! Dormant instances: an instance started by
//! [`Supervisor::start_child`](crate::Supervisor::start_child) gets no
//! worker (no ractor actor) until it first needs one.
//!
//! So does an instance arriving from another node that is not durable:
//! nothing is queued for it yet (what was sent to it meanwhile is held at
//! its node until the source relayed its queue, and then reaches it as any
//! message does), and its timers start after it is listed.
//!
//! Its `init` runs on the starting task, under the same guard as on a
//! worker, and is committed; from then on callers run their calls to it
//! themselves (see `instance/direct.rs`), which needs no worker. An instance
//! nobody sends anything to costs its kept parts, its name and its entries
//! in its supervisor, and no task.
//!
//! A move to another node needs no worker either: a dormant instance with
//! nothing queued is frozen on the mover's own task (see
//! `instance/frozen.rs`), and arrives dormant.
//!
//! It gets its worker, once, the first time something needs one:
//! - a message that a caller cannot run itself (a cast, an info message, a
//!   timer firing, a call that found the instance busy): it waits in the
//!   inbox's lists, as it would while a worker is respawned, and the worker
//!   queues it first;
//! - a kill, a call that crashed or awaits on its caller's task: what was
//!   left for the worker is applied by it, as always;
//! - [`Handle::actor_ref`](crate::Handle::actor_ref): ractor code gets an
//!   actor;
//! - a stop: the worker handles what is queued, then runs `terminate`.
//!
//! The worker is spawned by the instance's supervisor under its children's
//! lock, so that a transfer sees either no worker or one linked to the
//! supervisor it leaves (and relinks it), never one linked to a supervisor
//! the instance no longer has. Its start completes before the lock is given
//! back: it is reachable, linked and listed before anything else can touch
//! it, exactly as a worker spawned at the start was.
//!
//! The failure windows, and what happens in each:
//! - **An arrival's `init` crashes** (`Start::Moved`): nothing of it is
//!   committed; the instance keeps what it brought and gets its worker at
//!   once, which restores it (`init` with `Start::Restored`, counted against
//!   its policy), as a worker whose `init` crashed after a move always did.
//! - **Something comes before the start listed the instance** (a cast from
//!   `init`, a timer, a kill): the wake finds it unlisted and gives up; the
//!   start, once it listed it, wakes it if anything waits or a kill is
//!   pending.
//! - **A stop claimed it** (`terminate_child`, `Supervisor::stop`): a wake
//!   finds it unlisted and gives up; what was accepted meanwhile waits in
//!   the lists. The stop wakes it before it marks it stopped (which would
//!   drop the lists), so the worker queues those first and handles them
//!   before `terminate`.
//! - **It was transferred meanwhile**: the old supervisor no longer lists
//!   it; the wake asks the new one.
//! - **Two wakes at once**: the supervisor's lock orders them; the second
//!   finds a worker. A worker that still finds one installed (a wake under
//!   another supervisor, after a transfer) refuses to start.
//! - **The worker is killed or stopped from outside right after its
//!   spawn**: it is linked and listed already; the supervisor respawns it,
//!   as any worker.
//! - **A kill while it is dormant**: the kill is asked, then wakes it; the
//!   worker's first message is the wake that follows, and it applies the
//!   kill before anything else, as a worker that was idle does: counted
//!   against the restart policy, noted in its crash history (the live
//!   view's restart count), reported as `WorkerRestarted` with
//!   `Crash::Killed`, then `init` with `Start::Restored`. All of it happens
//!   at once, with nothing else sent to the instance. Kills asked before
//!   the worker applied one coalesce into it. A kill racing a call its
//!   caller runs: a call that finds the kill pending is queued behind it;
//!   one that began first is ended at its next `.await` (the worker
//!   restores from the crash it leaves) or, run without awaiting, completes
//!   and the worker applies the kill right after it.
//! - **The task that wakes it has spent its budget**: the spawn is polled
//!   outside the budget, so it still completes at once.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskContext, Poll, Waker};

use ractor::{ActorCell, ActorId, ActorRef};

use super::any::AnyInstance;
use super::envelope::Envelope;
use super::guard::{guard, scope_of};
use super::kept::{Kept, Owner};
use super::worker::Worker;
use crate::actor::{Actor, Context, Start, StateMut};
use crate::crash_report::Callback;
use crate::error::Crash;

impl<A: Actor> Kept<A> {
    /// Whether the instance has no worker yet.
    pub(crate) fn is_dormant(&self) -> bool {
        self.dormant.load(Ordering::Acquire)
    }

    /// Starts the instance without a worker: runs `init` with `start`
    /// ([`Start::Fresh`], or `Start::Moved` for an arrival) on this task and
    /// commits it. Callers may run calls from then on.
    ///
    /// # Errors
    /// The crash of `init` (a panic, an error or a kill): nothing of it is
    /// committed and the instance stays without a worker. A fresh start
    /// then fails; an arrival restores on a worker (see the
    /// [module docs](self)).
    pub(crate) async fn start_dormant(self: &Arc<Self>, start: Start) -> Result<(), Crash> {
        // Kills asked before the start have nothing to restart.
        self.kill.catch_up();
        let (state, dict) = self.read_committed();
        let before = Arc::as_ptr(&state).addr();
        let mut view = StateMut::with_spare(state, None);
        let mut ctx = Context::new(self.clone(), dict.clone());
        let scope = scope_of(self, Callback::Init);
        let init = self.behaviour.init(&mut view, start, &mut ctx);
        guard(&self.kill, scope, init).await?;
        drop(self.commit_outside(view, before, &dict, &ctx.dict));
        self.dormant.store(true, Ordering::Release);
        self.run.ready();
        Ok(())
    }

    /// For a start that just listed the instance: wakes it if something
    /// came for it before it was listed (a message, a kill), when no wake
    /// could reach it.
    pub(crate) fn wake_if_wanted(self: &Arc<Self>) {
        if self.is_dormant() && (!self.inbox.is_idle() || self.kill.pending()) {
            self.wake_worker();
        }
    }

    /// Gets a dormant instance its worker, through its supervisor; see the
    /// [module docs](self). Does nothing for an instance that has one.
    pub(crate) fn wake(&self) {
        if !self.is_dormant() {
            return;
        }
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let me: Arc<dyn AnyInstance> = me;
        let mut asked: Option<Arc<dyn Owner>> = None;
        while self.is_dormant() {
            let Some(owner) = self.current_owner() else {
                return;
            };
            if asked
                .as_ref()
                .is_some_and(|a| std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(&owner)))
            {
                // Not listed there, and not transferred since: its start or
                // its stop wakes it.
                return;
            }
            if owner.wake(&me) {
                return;
            }
            asked = Some(owner);
        }
    }

    /// For the worker spawned by [`Kept::spawn_woken`]: makes it the
    /// instance's worker if the instance is still dormant (it takes first
    /// what waited in the lists); `false` if another worker came first.
    pub(super) fn install_woken(&self, actor: ActorRef<Envelope<A>>) -> bool {
        let mut lists = self.inbox.lists.lock();
        if !self.is_dormant() {
            return false;
        }
        self.install_locked(&mut lists, actor);
        self.dormant.store(false, Ordering::Release);
        true
    }

    /// Spawns the worker of a dormant instance, linked to `supervisor`, and
    /// returns its actor; `None` if it has one already. The caller holds its
    /// supervisor's children's lock and is inside a tokio runtime.
    pub(super) fn spawn_woken(self: &Arc<Self>, supervisor: ActorCell) -> Option<ActorId> {
        if !self.is_dormant() {
            return None;
        }
        let worker = Worker::new(self.clone());
        // The worker's `pre_start` installs it under the inbox's lock if the
        // instance is still dormant, and never awaits: the spawn completes
        // at its first poll, before the children's lock is given back. Out
        // of the task's budget, which would make its first look at the
        // actor's signal channel wait.
        let spawned = ractor::Actor::spawn_linked(None, worker, (self.clone(), None), supervisor);
        let mut spawned = pin!(tokio::task::unconstrained(spawned));
        let mut cx = TaskContext::from_waker(Waker::noop());
        match spawned.as_mut().poll(&mut cx) {
            Poll::Ready(Ok((actor, _))) => Some(actor.get_id()),
            Poll::Ready(Err(e)) => {
                tracing::error!(name = %self.name(), error = %e, "peeper: waking failed");
                None
            }
            Poll::Pending => {
                tracing::error!(name = %self.name(), "peeper: a worker's start awaited");
                None
            }
        }
    }
}
