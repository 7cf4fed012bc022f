//! [`Kept`]: the parts of an instance that outlive every worker, and the
//! inbox that takes back the messages a stopped actor dropped.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use once_cell::race::OnceBox;
use parking_lot::{Mutex, RwLock};
use ractor::{ActorRef, MessagingErr};

use super::envelope::{Body, Envelope};
use super::guard::Kill;
use super::inbox::{Inbox, Lists};
use super::run::Run;
use crate::actor::Actor;
use crate::dictionary::Dictionary;
use crate::error::StopReason;
use crate::event::SupervisorEvent;
use crate::id::InstanceId;
use crate::restart::{RestartPolicy, RestartWindow};
use crate::table::TableSet;
use crate::timer::{TimerTarget, Timers};

mod committed;
mod deliver;

pub(crate) use committed::Committed;

/// What an instance knows of its supervisor.
pub(crate) trait Owner: Send + Sync + 'static {
    /// The supervisor's name.
    fn name(&self) -> &str;
    /// Reports what `event` builds, if anyone listens.
    fn emit(&self, event: &mut dyn FnMut() -> SupervisorEvent);
    /// The instance stopped for good: its name is free from now on.
    fn released(&self, name: &str, id: InstanceId);
    /// The supervisor itself, for the supervisor's own code.
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// Spawns the worker of `child`, a dormant instance, if it is listed
    /// here; `false` if it is not (see `instance/dormant.rs`).
    fn wake(&self, child: &Arc<dyn super::AnyInstance>) -> bool;
}

/// Passes an instance's messages on to where it moved.
pub(crate) trait Relay<A: Actor>: Send + Sync {
    /// The node the instance now lives on.
    fn node(&self) -> &str;
    /// Sends `body` on, in the order given.
    fn relay(&self, body: Body<A>);
    /// Whether the worker retired: messages are relayed as they come.
    fn is_direct(&self) -> bool;
    /// Marks the worker retired.
    fn go_direct(&self);
    /// The instance back on this node that everything relayed here now
    /// goes to straight, once nothing relayed before can be overtaken by a
    /// message given to it directly; `None` while messages go another way.
    fn here(&self) -> Option<Arc<Kept<A>>>;
}

/// The kept parts of one instance; see the [module docs](super).
pub(crate) struct Kept<A: Actor> {
    id: InstanceId,
    /// The instance itself, for a worker spawned where only a borrow of it
    /// is at hand (see `instance/dormant.rs`).
    pub(super) me: Weak<Kept<A>>,
    /// Shared with the registry's and the supervisor's entries, so that one
    /// instance holds one copy of its name.
    name: Arc<str>,
    pub(crate) behaviour: A,
    /// The current worker's actor; replaced only under the inbox's lock.
    pub(crate) actor: RwLock<Option<ActorRef<Envelope<A>>>>,
    pub(crate) committed: Mutex<Committed<A::State>>,
    pub(crate) tables: TableSet,
    pub(crate) timers: Timers<A::Info>,
    pub(crate) inbox: Arc<Inbox<A>>,
    pub(crate) kill: Kill,
    /// Who runs callbacks now: the worker, or a caller (see `Run`).
    pub(crate) run: Run<A>,
    policy: RestartPolicy,
    pub(crate) restarts: Mutex<RestartWindow>,
    /// Boxed: set once, at the end; inline, it would make every instance 48
    /// bytes larger.
    stop: OnceBox<StopReason>,
    owner: Mutex<Option<Weak<dyn Owner>>>,
    busy: AtomicBool,
    /// Set while the instance has no worker yet (see `instance/dormant.rs`);
    /// cleared, once, under the inbox's lock as its worker is installed.
    pub(super) dormant: AtomicBool,
    /// Set once the start completed: from then on the registry's entry,
    /// made when the start reserved the name, resolves.
    pub(crate) named: AtomicBool,
    /// How many times the instance moved between nodes: its fencing epoch.
    pub(crate) epoch: u64,
    /// Set once the instance moved to another node: from then on the loop
    /// only passes messages on.
    pub(crate) relay: OnceBox<Box<dyn Relay<A>>>,
    /// Set for a durable instance: where its changes are stored.
    #[cfg(feature = "durable")]
    pub(crate) journal: OnceBox<Box<dyn super::Journal<A>>>,
}

impl<A: Actor> Kept<A> {
    pub(crate) fn new(
        name: String,
        behaviour: A,
        committed: Committed<A::State>,
        tables: TableSet,
        policy: RestartPolicy,
        epoch: u64,
        capacity: Option<usize>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Kept {
            id: InstanceId::next(),
            me: me.clone(),
            name: name.into(),
            behaviour,
            actor: RwLock::new(None),
            committed: Mutex::new(committed),
            tables,
            timers: Timers::default(),
            inbox: Arc::new(Inbox::new(capacity)),
            kill: Kill::default(),
            run: Run::default(),
            policy,
            restarts: Mutex::new(RestartWindow::default()),
            stop: OnceBox::new(),
            owner: Mutex::new(None),
            busy: AtomicBool::new(false),
            dormant: AtomicBool::new(false),
            named: AtomicBool::new(false),
            epoch,
            relay: OnceBox::new(),
            #[cfg(feature = "durable")]
            journal: OnceBox::new(),
        })
    }

    /// The kept parts of a new instance with `state` and nothing else.
    pub(crate) fn fresh(
        name: String,
        behaviour: A,
        state: A::State,
        policy: RestartPolicy,
        capacity: Option<usize>,
    ) -> Arc<Self> {
        let committed = Committed {
            state: Arc::new(state),
            dict: Dictionary::default(),
        };
        Kept::new(
            name,
            behaviour,
            committed,
            TableSet::default(),
            policy,
            0,
            capacity,
        )
    }

    /// Whether its changes are stored (feature `durable`).
    pub(crate) fn is_durable(&self) -> bool {
        #[cfg(feature = "durable")]
        return self.journal.get().is_some();
        #[cfg(not(feature = "durable"))]
        false
    }

    /// The bound of the inbox, if it has one.
    pub(crate) fn capacity(&self) -> Option<usize> {
        self.inbox.capacity()
    }

    pub(crate) fn id(&self) -> InstanceId {
        self.id
    }

    /// Where the instance's timers fire into.
    pub(crate) fn timer_target(self: &Arc<Self>) -> Weak<dyn TimerTarget<A::Info>> {
        let target: Weak<Kept<A>> = Arc::downgrade(self);
        target
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The name, to key a map with without copying it.
    pub(crate) fn shared_name(&self) -> &Arc<str> {
        &self.name
    }

    /// The restart policy the instance runs under.
    pub(crate) fn policy(&self) -> RestartPolicy {
        self.policy
    }

    pub(crate) fn stop_reason(&self) -> Option<&StopReason> {
        self.stop.get()
    }

    /// Marks the instance as stopping for good; `false` if it already was.
    /// From then on nothing is kept for a next worker.
    pub(crate) fn mark_stopped(&self, reason: StopReason) -> bool {
        let first = self.stop.set(Box::new(reason)).is_ok();
        self.inbox.close();
        first
    }

    /// Asks the worker to restart: at once if a callback is awaiting, before
    /// the next message otherwise. Kills that come before the worker applied
    /// this one coalesce into it.
    pub(crate) fn kill_worker(&self) {
        self.kill.ask();
        self.wake_worker();
    }

    /// Sends the worker a message that does nothing but wake it: an idle
    /// worker would otherwise apply what was left for it (a kill, a caller's
    /// crash or unfinished call) only when the next message comes. Without a
    /// worker (one is being respawned) the next one applies it as it starts;
    /// a dormant instance gets its worker now.
    pub(crate) fn wake_worker(&self) {
        self.wake();
        if let Some(actor) = self.actor.read().as_ref() {
            let _ = actor.send_message(Envelope::plain(Body::Wake));
        }
    }

    pub(crate) fn try_claim(&self) -> bool {
        self.busy
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn release_claim(&self) {
        self.busy.store(false, Ordering::Release);
    }

    pub(crate) fn set_owner(&self, owner: Option<Weak<dyn Owner>>) {
        *self.owner.lock() = owner;
    }

    pub(crate) fn current_owner(&self) -> Option<Arc<dyn Owner>> {
        self.owner.lock().as_ref().and_then(Weak::upgrade)
    }

    pub(crate) fn notify_owner(&self, mut event: impl FnMut() -> SupervisorEvent) {
        if let Some(owner) = self.current_owner() {
            owner.emit(&mut event);
        }
    }

    /// After a move away: routes nothing more through the worker, and
    /// returns its actor. Every message already sent to it is in its mailbox
    /// (senders hold the read lock while they send); what comes later waits
    /// in the rescue lists until [`Kept::finish_retire`].
    pub(crate) fn detach_worker(&self) -> Option<ActorRef<Envelope<A>>> {
        let _lists = self.inbox.lists.lock();
        self.actor.write().take()
    }

    /// After the instance moved away and came back to this node: the
    /// instance back here, which a handle to this one may reach directly,
    /// as a fresh lookup would. Only once the worker retired (everything
    /// it held is relayed) and the relay passes straight to that instance:
    /// until then a message given to it could overtake one sent before.
    pub(crate) fn moved_back(&self) -> Option<Arc<Kept<A>>> {
        let relay = self.relay.get()?;
        if !relay.is_direct() {
            return None;
        }
        relay.here()
    }

    /// Run by the worker after the last message of its mailbox: relays what
    /// waited in the rescue lists, then everything as it comes.
    pub(crate) fn finish_retire(&self) {
        let Some(relay) = self.relay.get() else {
            return;
        };
        let mut lists = self.inbox.lists.lock();
        for body in lists.take() {
            self.inbox.release();
            relay.relay(body);
        }
        relay.go_direct();
    }

    /// Makes `actor` the worker's actor, queueing first in its mailbox what
    /// the previous one left unhandled.
    pub(crate) fn install(&self, actor: ActorRef<Envelope<A>>) {
        let mut lists = self.inbox.lists.lock();
        self.install_locked(&mut lists, actor);
    }

    /// [`Kept::install`] with the inbox's lists already locked.
    pub(super) fn install_locked(&self, lists: &mut Lists<A>, actor: ActorRef<Envelope<A>>) {
        let kept: Vec<Body<A>> = lists.take().collect();
        for body in kept {
            if let Err(MessagingErr::SendErr(envelope)) =
                actor.send_message(Envelope::kept(body, &self.inbox))
                && let Some(body) = envelope.take_back()
            {
                self.inbox.put_refused(lists, body);
            }
        }
        *self.actor.write() = Some(actor);
        // Everything kept is queued again, and counted: callers may look at
        // the count alone again.
        self.inbox.settled(lists);
    }
}

impl<A: Actor> TimerTarget<A::Info> for Kept<A> {
    fn fire(&self, msg: A::Info, id: u64) -> bool {
        self.deliver_bounded(Body::Fired(msg, id), true).is_ok()
    }

    fn timers(&self) -> &Timers<A::Info> {
        &self.timers
    }
}
