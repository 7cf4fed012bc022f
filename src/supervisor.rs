//! The dynamic supervisor: starts instances, lists and stops them, and hands
//! them to other supervisors.
//!
//! # Who owns what
//!
//! A supervisor is a ractor actor (it receives ractor's supervision events for
//! the actors of its instances, which are linked to it) plus a map of children
//! behind one lock, shared with every [`Supervisor`] handle. The map is the
//! truth about which instance is whose child: starts, stops and transfers
//! change it under its lock, and a transfer takes the locks of both supervisors
//! in the order of their ids, so two transfers can never deadlock and no
//! observer ever sees an instance under two supervisors or under none.
//!
//! A worker crash never reaches the supervisor as a failure: the instance
//! restarts its worker itself and only reports
//! [`SupervisorEvent::WorkerRestarted`]. The supervisor acts when an instance's
//! ractor actor ends: if the instance stopped for good it is removed and
//! [`SupervisorEvent::ChildStopped`] says why; if the actor was stopped from
//! outside peeper, a new actor is spawned over the same kept parts.
//!
//! Stopping a supervisor stops its children first, each running its
//! `terminate`, and then the supervisor's actor, so ractor never gets to kill
//! them abruptly.
//!
//! ```
//! # use peeper::{Actor, BoxError, ChildKind, Context, StateMut, Supervisor};
//! # struct Idle;
//! # impl Actor for Idle {
//! #     type State = u8;
//! #     type Call = ();
//! #     type Reply = ();
//! #     type Cast = ();
//! #     type Info = ();
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let sup = Supervisor::start("sup-doc").await.unwrap();
//! let handle = sup.start_child("idle-doc", Idle, 7).await.unwrap();
//! let children = sup.which_children();
//! assert_eq!(children.len(), 1);
//! assert_eq!(children[0].id, handle.id());
//! assert_eq!(children[0].kind, ChildKind::Supervisor);
//! assert_eq!(sup.terminate_child::<Idle>("idle-doc").await.unwrap(), 7);
//! assert_eq!(sup.count(), 0);
//! sup.stop().await;
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use parking_lot::{Mutex, MutexGuard};
use ractor::{ActorCell, ActorId, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};
use tokio::sync::broadcast;

use crate::actor::{Actor, Start};
use crate::error::{Crash, StartError, StopError, StopReason, TransferError};
use crate::handle::Handle;
use crate::instance::{ErasedInstance, InstanceActor, InstanceId, Shared};
use crate::registry;
use crate::restart::RestartPolicy;

/// How a supervisor treats its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupervisorConfig {
    /// The restart policy of children started without one of their own.
    pub restart_policy: RestartPolicy,
    /// How long a stopping child may take (its queued callback and its
    /// `terminate`) before its actor is killed. Default: 5 seconds.
    pub shutdown_timeout: Duration,
    /// How many events a slow [`Supervisor::subscribe`] receiver may fall
    /// behind before it misses some. Default: 1024.
    pub event_capacity: usize,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            restart_policy: RestartPolicy::default(),
            shutdown_timeout: Duration::from_secs(5),
            event_capacity: 1024,
        }
    }
}

/// What kind of child an entry of [`Supervisor::which_children`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    /// A peeper instance: it supervises its own worker, so it is listed as a
    /// supervisor, as in Erlang's `which_children`.
    Supervisor,
    /// A plain worker.
    Worker,
}

/// One entry of [`Supervisor::which_children`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// The instance's registered name.
    pub name: String,
    /// The instance's identity, as [`whereis`](crate::whereis) returns it.
    pub id: InstanceId,
    /// Always [`ChildKind::Supervisor`] for instances.
    pub kind: ChildKind,
    /// The Rust type of the instance's actor.
    pub actor_type: &'static str,
}

/// Something that happened to a supervisor's children.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SupervisorEvent {
    /// A child was started.
    ChildStarted {
        /// Its name.
        name: String,
        /// Its identity.
        id: InstanceId,
    },
    /// A child's worker crashed and is being restarted with the kept parts.
    WorkerRestarted {
        /// Its name.
        name: String,
        /// Its identity.
        id: InstanceId,
        /// The crash.
        crash: Crash,
    },
    /// A child's actor was stopped from outside peeper and has been respawned.
    ActorRespawned {
        /// Its name.
        name: String,
        /// Its identity.
        id: InstanceId,
        /// What ended the old actor.
        crash: Crash,
    },
    /// A child stopped for good and is no longer a child.
    ChildStopped {
        /// Its name.
        name: String,
        /// Its identity.
        id: InstanceId,
        /// Why.
        reason: StopReason,
    },
    /// A child arrived from another supervisor.
    TransferredIn {
        /// Its name.
        name: String,
        /// Its identity.
        id: InstanceId,
        /// The supervisor it came from.
        from: String,
    },
    /// A child left for another supervisor.
    TransferredOut {
        /// Its name.
        name: String,
        /// Its identity.
        id: InstanceId,
        /// The supervisor it went to.
        to: String,
    },
}

/// The identity of a supervisor, unique in the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SupervisorId(u64);

impl fmt::Display for SupervisorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "supervisor#{}", self.0)
    }
}

static NEXT_SUPERVISOR_ID: AtomicU64 = AtomicU64::new(1);
static SUPERVISORS: LazyLock<DashMap<String, Supervisor>> = LazyLock::new(DashMap::new);

/// The children map; see the [module docs](self).
pub(crate) struct Children {
    pub(crate) stopping: bool,
    pub(crate) map: BTreeMap<String, Arc<dyn ErasedInstance>>,
}

pub(crate) struct SupervisorInner {
    id: SupervisorId,
    name: String,
    config: SupervisorConfig,
    actor: OnceLock<ActorRef<SupervisorMsg>>,
    children: Mutex<Children>,
    events: broadcast::Sender<SupervisorEvent>,
}

impl SupervisorInner {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn cell(&self) -> Option<ActorCell> {
        self.actor.get().map(ActorRef::get_cell)
    }

    pub(crate) fn children(&self) -> MutexGuard<'_, Children> {
        self.children.lock()
    }

    pub(crate) fn emit(&self, event: SupervisorEvent) {
        // No receiver is not an error: events are for whoever listens.
        let _ = self.events.send(event);
    }

    /// Handles the end of a child's actor.
    async fn on_actor_down(self: &Arc<Self>, actor: ActorId, crash: Crash) {
        let child = self
            .children()
            .map
            .values()
            .find(|c| c.actor_id() == Some(actor))
            .cloned();
        let Some(child) = child else {
            self.forward_to_owner(actor, crash);
            return;
        };
        if let Some(reason) = child.stop_reason() {
            let removed = {
                let mut children = self.children();
                let ours = children
                    .map
                    .get(child.name())
                    .is_some_and(|c| c.id() == child.id());
                ours && children.map.remove(child.name()).is_some()
            };
            child.cleanup();
            if removed {
                self.emit(SupervisorEvent::ChildStopped {
                    name: child.name().to_owned(),
                    id: child.id(),
                    reason,
                });
            }
            return;
        }
        if self.children().stopping {
            return;
        }
        let Some(cell) = self.cell() else { return };
        tracing::warn!(name = %child.name(), %crash, "peeper: actor lost, respawning");
        if child.clone().respawn(cell, crash.clone()).await {
            self.emit(SupervisorEvent::ActorRespawned {
                name: child.name().to_owned(),
                id: child.id(),
                crash,
            });
        }
    }

    /// An actor that died just as its instance was transferred away reports to
    /// the old supervisor; pass the news to the instance's owner now.
    fn forward_to_owner(&self, actor: ActorId, crash: Crash) {
        let Some(instance) = registry::find_by_actor(actor) else {
            return;
        };
        if let Some(owner) = instance.owner().filter(|o| o.id != self.id)
            && let Some(actor_ref) = owner.actor.get()
        {
            let _ = actor_ref.send_message(SupervisorMsg::ChildDown(actor, crash));
        }
    }
}

#[cfg(feature = "cluster")]
impl ractor::Message for SupervisorMsg {}

/// Messages of the supervisor's actor.
pub(crate) enum SupervisorMsg {
    /// A child's actor ended; sent by another supervisor that got the event.
    ChildDown(ActorId, Crash),
}

struct SupervisorActor;

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

/// A handle to a dynamic supervisor; cheap to clone. See the [module docs](self).
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<SupervisorInner>,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("name", &self.inner.name)
            .field("id", &self.inner.id)
            .finish()
    }
}

impl Supervisor {
    /// Starts a supervisor named `name` with the default [`SupervisorConfig`].
    ///
    /// # Errors
    /// [`StartError::NameTaken`] if a running supervisor has this name.
    pub async fn start(name: impl Into<String>) -> Result<Supervisor, StartError> {
        Supervisor::start_with(name, SupervisorConfig::default()).await
    }

    /// Starts a supervisor named `name` with `config`.
    ///
    /// # Errors
    /// [`StartError::NameTaken`] if a running supervisor has this name,
    /// [`StartError::Spawn`] if ractor refused to spawn its actor.
    pub async fn start_with(
        name: impl Into<String>,
        config: SupervisorConfig,
    ) -> Result<Supervisor, StartError> {
        let name = name.into();
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        let inner = Arc::new(SupervisorInner {
            id: SupervisorId(NEXT_SUPERVISOR_ID.fetch_add(1, Ordering::Relaxed)),
            name: name.clone(),
            config,
            actor: OnceLock::new(),
            children: Mutex::new(Children {
                stopping: false,
                map: BTreeMap::new(),
            }),
            events,
        });
        let sup = Supervisor {
            inner: inner.clone(),
        };
        match SUPERVISORS.entry(name.clone()) {
            Entry::Occupied(_) => return Err(StartError::NameTaken { name }),
            Entry::Vacant(v) => {
                v.insert(sup.clone());
            }
        }
        match ractor::Actor::spawn(None, SupervisorActor, inner.clone()).await {
            Ok((actor, _)) => {
                let _ = inner.actor.set(actor);
                Ok(sup)
            }
            Err(e) => {
                SUPERVISORS.remove(&name);
                Err(StartError::Spawn {
                    name,
                    reason: e.to_string(),
                })
            }
        }
    }

    /// The running supervisor named `name`.
    pub fn lookup(name: &str) -> Option<Supervisor> {
        SUPERVISORS.get(name).map(|s| s.clone())
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Its identity.
    pub fn id(&self) -> SupervisorId {
        self.inner.id
    }

    /// Whether it accepts children (it has not been asked to stop).
    pub fn is_running(&self) -> bool {
        !self.inner.children().stopping
    }

    pub(crate) fn inner(&self) -> &Arc<SupervisorInner> {
        &self.inner
    }

    /// Starts an instance of `behaviour` named `name` with `state`, under the
    /// supervisor's default restart policy. Returns once `init` has completed.
    ///
    /// # Errors
    /// [`StartError::NameTaken`], [`StartError::SupervisorStopped`],
    /// [`StartError::InitFailed`] (nothing is registered then).
    pub async fn start_child<A: Actor>(
        &self,
        name: impl Into<String>,
        behaviour: A,
        state: A::State,
    ) -> Result<Handle<A>, StartError> {
        let policy = self.inner.config.restart_policy;
        self.start_child_with(name, behaviour, state, policy).await
    }

    /// As [`Supervisor::start_child`], with a restart policy of its own.
    ///
    /// # Errors
    /// As [`Supervisor::start_child`].
    pub async fn start_child_with<A: Actor>(
        &self,
        name: impl Into<String>,
        behaviour: A,
        state: A::State,
        policy: RestartPolicy,
    ) -> Result<Handle<A>, StartError> {
        let shared = Arc::new(Shared::new(
            name.into(),
            behaviour,
            state,
            policy,
            Arc::downgrade(&self.inner),
        ));
        self.adopt(shared, Start::Fresh).await
    }

    /// Registers `shared` under its name, spawns its actor linked to this
    /// supervisor (running `init` with `start`) and lists it as a child.
    pub(crate) async fn adopt<A: Actor>(
        &self,
        shared: Arc<Shared<A>>,
        start: Start,
    ) -> Result<Handle<A>, StartError> {
        let name = shared.name().to_owned();
        let stopped = || StartError::SupervisorStopped {
            supervisor: self.inner.name.clone(),
        };
        let cell = match self.inner.cell() {
            Some(cell) if self.is_running() => cell,
            _ => return Err(stopped()),
        };
        shared.set_owner(Arc::downgrade(&self.inner));
        if !registry::reserve(&name, shared.id()) {
            return Err(StartError::NameTaken { name });
        }
        let worker = InstanceActor {
            behaviour: shared.behaviour.clone(),
        };
        let spawned =
            ractor::Actor::spawn_linked(None, worker, (shared.clone(), start), cell).await;
        if let Err(e) = spawned {
            registry::release(&name, shared.id());
            return Err(start_error(name, e));
        }
        {
            let mut children = self.inner.children();
            if children.stopping {
                drop(children);
                shared.mark_stopped(StopReason::Shutdown);
                if let Some(cell) = shared.cell() {
                    cell.stop(Some("supervisor stopping".to_owned()));
                }
                shared.cleanup();
                return Err(stopped());
            }
            children.map.insert(name.clone(), shared.clone());
        }
        registry::publish(shared.clone());
        tracing::info!(supervisor = %self.inner.name, %name, "peeper: child started");
        self.inner.emit(SupervisorEvent::ChildStarted {
            name,
            id: shared.id(),
        });
        Ok(Handle::from_shared(shared))
    }

    /// Every running supervisor of this process.
    #[cfg(feature = "cluster")]
    pub(crate) fn all() -> Vec<Supervisor> {
        SUPERVISORS.iter().map(|s| s.value().clone()).collect()
    }

    /// The children's names and actor types.
    #[cfg(feature = "cluster")]
    pub(crate) fn children_types(&self) -> Vec<(String, &'static str)> {
        self.inner
            .children()
            .map
            .values()
            .map(|c| (c.name().to_owned(), c.actor_type()))
            .collect()
    }

    /// Forgets the child `id` after it moved to another node: it leaves the
    /// children and its actor is unlinked (it stays alive as a relay).
    #[cfg(feature = "cluster")]
    pub(crate) fn release_moved(&self, name: &str, id: InstanceId, to: String) {
        let removed = {
            let mut children = self.inner.children();
            match children.map.get(name) {
                Some(c) if c.id() == id => children.map.remove(name),
                _ => None,
            }
        };
        if let Some(child) = removed {
            if let (Some(cell), Some(sup)) = (child.cell(), self.inner.cell()) {
                cell.unlink(sup);
            }
            self.inner.emit(SupervisorEvent::TransferredOut {
                name: name.to_owned(),
                id,
                to,
            });
        }
    }

    /// Every child, sorted by name, each listed as [`ChildKind::Supervisor`].
    pub fn which_children(&self) -> Vec<ChildInfo> {
        self.inner
            .children()
            .map
            .values()
            .map(|c| ChildInfo {
                name: c.name().to_owned(),
                id: c.id(),
                kind: ChildKind::Supervisor,
                actor_type: c.actor_type(),
            })
            .collect()
    }

    /// How many children it has.
    pub fn count(&self) -> usize {
        self.inner.children().map.len()
    }

    /// Stops the child `name` gracefully: from now on new messages are refused
    /// with [`CallError::Stopped`](crate::CallError::Stopped), the messages
    /// already queued are handled, `terminate` runs, the name is freed, and the
    /// last state is handed back. If all that outlasts the supervisor's
    /// `shutdown_timeout`, the instance's actor is killed (no `terminate`) and
    /// the last committed state is handed back.
    ///
    /// # Errors
    /// [`StopError::NotChild`], [`StopError::WrongType`] (the child keeps
    /// running), [`StopError::Busy`] if a transfer of it is under way.
    pub async fn terminate_child<A: Actor>(&self, name: &str) -> Result<A::State, StopError> {
        let shared = {
            let mut children = self.inner.children();
            let child = children
                .map
                .get(name)
                .cloned()
                .ok_or_else(|| StopError::NotChild {
                    name: name.to_owned(),
                    supervisor: self.inner.name.clone(),
                })?;
            let actual = child.actor_type();
            let shared = child
                .clone()
                .into_any()
                .downcast::<Shared<A>>()
                .map_err(|_| StopError::WrongType {
                    name: name.to_owned(),
                    actual,
                })?;
            if !child.try_claim() {
                return Err(StopError::Busy {
                    name: name.to_owned(),
                });
            }
            children.map.remove(name);
            shared
        };
        let reason = match shared.stop_reason() {
            Some(reason) => reason.clone(),
            None => {
                shared.mark_stopped(StopReason::Normal);
                StopReason::Normal
            }
        };
        stop_instance(&*shared, self.inner.config.shutdown_timeout).await;
        self.inner.emit(SupervisorEvent::ChildStopped {
            name: name.to_owned(),
            id: shared.id(),
            reason,
        });
        let last = shared.kept.lock().state.clone();
        Ok(Arc::unwrap_or_clone(last))
    }

    /// Subscribes to what happens to its children from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SupervisorEvent> {
        self.inner.events.subscribe()
    }

    /// Moves the instance `name` from this supervisor to `to`; see
    /// [`transfer`](crate::transfer()).
    ///
    /// # Errors
    /// As [`transfer`](crate::transfer()).
    pub async fn transfer(&self, name: &str, to: &Supervisor) -> Result<(), TransferError> {
        crate::transfer::transfer(name, self, to).await
    }

    /// Stops every child as [`Supervisor::terminate_child`] does (queued
    /// messages handled, then `terminate`), all at once, then the supervisor
    /// itself, and frees its name. Idempotent.
    pub async fn stop(&self) {
        let children: Vec<Arc<dyn ErasedInstance>> = {
            let mut children = self.inner.children();
            children.stopping = true;
            std::mem::take(&mut children.map).into_values().collect()
        };
        let timeout = self.inner.config.shutdown_timeout;
        let stops = children.iter().map(|child| async move {
            let reason = child.stop_reason().unwrap_or(StopReason::Shutdown);
            child.mark_stopped(StopReason::Shutdown);
            stop_instance(&**child, timeout).await;
            self.inner.emit(SupervisorEvent::ChildStopped {
                name: child.name().to_owned(),
                id: child.id(),
                reason,
            });
        });
        futures::future::join_all(stops).await;
        if let Some(actor) = self.inner.actor.get() {
            let _ = actor.stop_and_wait(None, Some(timeout)).await;
        }
        SUPERVISORS.remove_if(&self.inner.name, |_, s| s.inner.id == self.inner.id);
        tracing::info!(supervisor = %self.inner.name, "peeper: supervisor stopped");
    }
}

/// Stops an instance already marked as stopping for good, and waits for it:
/// new messages are refused at once, the ones already queued are handled,
/// then `terminate` runs. A stop that outlasts `timeout` becomes a kill.
async fn stop_instance(child: &dyn ErasedInstance, timeout: Duration) {
    if let Some(cell) = child.cell() {
        if cell.drain_and_wait(Some(timeout)).await.is_err() {
            tracing::warn!(name = %child.name(), "peeper: stop timed out, killing");
            let _ = cell.kill_and_wait(Some(timeout)).await;
        }
    }
    child.cleanup();
}

fn start_error(name: String, e: SpawnErr) -> StartError {
    match e {
        SpawnErr::StartupFailed(err) => match err.downcast::<Crash>() {
            Ok(crash) => StartError::InitFailed {
                name,
                crash: *crash,
            },
            Err(other) => StartError::Spawn {
                name,
                reason: other.to_string(),
            },
        },
        other => StartError::Spawn {
            name,
            reason: other.to_string(),
        },
    }
}
