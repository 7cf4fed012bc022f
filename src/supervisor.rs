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

mod children;
mod config;
mod events;
mod inner;
mod options;
mod stop;

use std::fmt;
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use ractor::SpawnErr;
use tokio::sync::broadcast;

use crate::actor::{Actor, Start};
use crate::error::{Crash, StartError, StopError, StopReason, TransferError};
pub use crate::event::SupervisorEvent;
use crate::handle::Handle;
pub use crate::id::{InstanceId, SupervisorId};
use crate::instance::{AnyInstance, Kept, Owner, Worker};
use crate::registry;
pub(crate) use children::Children;
pub use config::{ChildInfo, ChildKind, SupervisorConfig};
use events::SupervisorActor;
pub(crate) use inner::SupervisorInner;
pub use options::StartOptions;
pub(crate) use stop::finish_stop;
use stop::stop_instance;

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
            id: SupervisorId::next(),
            name: name.clone(),
            config,
            actor: OnceLock::new(),
            children: Mutex::new(Children::default()),
            events,
            runtime: tokio::runtime::Handle::current(),
        });
        let owner: Arc<dyn Owner> = inner.clone();
        if !registry::register_supervisor(&name, owner.clone()) {
            return Err(StartError::NameTaken { name });
        }
        match ractor::Actor::spawn(None, SupervisorActor, inner.clone()).await {
            Ok((actor, _)) => {
                let _ = inner.actor.set(actor);
                Ok(Supervisor { inner })
            }
            Err(e) => {
                registry::unregister_supervisor(&name, &owner);
                Err(StartError::Spawn {
                    name,
                    reason: e.to_string(),
                })
            }
        }
    }

    /// The running supervisor named `name`.
    pub fn lookup(name: &str) -> Option<Supervisor> {
        registry::supervisor(name)
            .and_then(SupervisorInner::of)
            .map(|inner| Supervisor { inner })
    }

    /// Every running supervisor of this process.
    pub(crate) fn all() -> Vec<Supervisor> {
        registry::supervisors()
            .into_iter()
            .filter_map(SupervisorInner::of)
            .map(|inner| Supervisor { inner })
            .collect()
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

    /// Whether `owner` (an instance's current owner) is this supervisor.
    pub(crate) fn owns(&self, owner: Option<Arc<dyn Owner>>) -> bool {
        owner
            .and_then(SupervisorInner::of)
            .is_some_and(|o| Arc::ptr_eq(&o, &self.inner))
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
        self.start_child_with(name, behaviour, state, StartOptions::default())
            .await
    }

    /// As [`Supervisor::start_child`], with [`StartOptions`] of its own: a
    /// restart policy, a bounded inbox. A [`RestartPolicy`](crate::RestartPolicy)
    /// alone will do.
    ///
    /// # Errors
    /// As [`Supervisor::start_child`].
    pub async fn start_child_with<A: Actor>(
        &self,
        name: impl Into<String>,
        behaviour: A,
        state: A::State,
        options: impl Into<StartOptions>,
    ) -> Result<Handle<A>, StartError> {
        let options = options.into();
        let policy = options.policy_or(self.inner.config.restart_policy);
        let kept = Kept::fresh(
            name.into(),
            behaviour,
            state,
            policy,
            options.capacity_limit(),
        );
        self.adopt(kept, Start::Fresh).await
    }

    /// The restart policy children get unless they ask for another.
    pub(crate) fn default_policy(&self) -> crate::RestartPolicy {
        self.inner.config.restart_policy
    }

    /// Registers `kept` under its name, spawns its worker linked to this
    /// supervisor (running `init` with `start`) and lists it as a child.
    pub(crate) async fn adopt<A: Actor>(
        &self,
        kept: Arc<Kept<A>>,
        start: Start,
    ) -> Result<Handle<A>, StartError> {
        let name = kept.name();
        let stopped = || StartError::SupervisorStopped {
            supervisor: self.inner.name.clone(),
        };
        let cell = match self.inner.cell() {
            Some(cell) if self.is_running() => cell,
            _ => return Err(stopped()),
        };
        kept.set_owner(Some(self.owner()));
        if !registry::reserve(kept.clone()) {
            return Err(StartError::NameTaken {
                name: name.to_owned(),
            });
        }
        // A new instance, or one arriving from another node, that is not
        // durable starts dormant: no worker until it needs one (see
        // `instance/dormant.rs`). An arrival has nothing queued yet (what
        // was sent to it waits at its node until the source relayed its
        // queue) and its timers start after this: each wakes it as it
        // comes.
        let fresh = start == Start::Fresh;
        let start = if starts_dormant(&kept, &start) {
            match kept.start_dormant(start).await {
                Ok(()) => None,
                Err(crash) if fresh => {
                    registry::release(name, kept.id());
                    return Err(StartError::InitFailed {
                        name: name.to_owned(),
                        crash,
                    });
                }
                // An arrival has something to keep: its worker restores it,
                // as a worker whose `init` crashed after a move does.
                Err(crash) => Some(Start::Restored(crash)),
            }
        } else {
            Some(start)
        };
        let started = match start {
            None => Ok(()),
            Some(start) => {
                let worker = Worker::new(kept.clone());
                let args = (kept.clone(), Some(start));
                let spawned = ractor::Actor::spawn_linked(None, worker, args, cell).await;
                spawned
                    .map(drop)
                    .map_err(|e| start_error(name.to_owned(), e))
            }
        };
        if let Err(e) = started {
            registry::release(name, kept.id());
            return Err(e);
        }
        if !self.inner.children().insert(kept.clone()) {
            // `terminate` runs on a worker, as for any stop.
            let child: Arc<dyn AnyInstance> = kept.clone();
            self.inner.wake_for_stop(&child);
            kept.mark_stopped(StopReason::Shutdown);
            if let Some(cell) = AnyInstance::cell(&*kept) {
                cell.stop(Some("supervisor stopping".to_owned()));
            }
            finish_stop(&*kept);
            return Err(stopped());
        }
        registry::publish(&*kept);
        kept.wake_if_wanted();
        tracing::info!(supervisor = %self.inner.name, %name, "peeper: child started");
        self.inner.emit(|| SupervisorEvent::ChildStarted {
            name: name.to_owned(),
            id: kept.id(),
        });
        Ok(Handle::from_kept(kept))
    }

    fn owner(&self) -> Weak<dyn Owner> {
        let weak: Weak<SupervisorInner> = Arc::downgrade(&self.inner);
        weak
    }

    /// Forgets the child `id` after it moved to another node `to`: it leaves
    /// the children and stays alive as a relay.
    pub(crate) fn release_moved(&self, name: &str, id: InstanceId, to: String) {
        if children::release_moved(&self.inner, name, id) {
            self.inner.emit(|| SupervisorEvent::TransferredOut {
                name: name.to_owned(),
                id,
                to,
            });
        }
    }

    /// The children's names and actor types.
    pub(crate) fn children_types(&self) -> Vec<(String, &'static str)> {
        self.inner.children().types()
    }

    /// Every child, sorted by name, each listed as [`ChildKind::Supervisor`].
    pub fn which_children(&self) -> Vec<ChildInfo> {
        self.inner.children().list()
    }

    /// How many children it has.
    pub fn count(&self) -> usize {
        self.inner.children().len()
    }

    /// Stops the child `name` gracefully: from now on new messages are refused
    /// with [`CallError::Stopped`](crate::CallError::Stopped), the messages
    /// already queued are handled, `terminate` runs, the name is freed, and the
    /// last state is handed back. If all that outlasts the supervisor's
    /// `shutdown_timeout`, the instance's actor is killed (no `terminate`) and
    /// the last committed state is handed back.
    ///
    /// # Errors
    /// [`StopError::NotChild`], [`StopError::Lookup`] with
    /// [`LookupError::WrongType`](crate::LookupError::WrongType) (the child
    /// keeps running),
    /// [`StopError::Busy`] if a transfer of it is under way.
    pub async fn terminate_child<A: Actor>(&self, name: &str) -> Result<A::State, StopError> {
        let kept = self
            .inner
            .children()
            .claim_for_stop::<A>(name, &self.inner.name)?;
        let reason = kept.stop_reason().cloned().unwrap_or(StopReason::Normal);
        let child: Arc<dyn AnyInstance> = kept.clone();
        self.inner.wake_for_stop(&child);
        kept.mark_stopped(StopReason::Normal);
        stop_instance(&self.inner, &child, self.inner.config.shutdown_timeout).await;
        self.inner.emit(|| SupervisorEvent::ChildStopped {
            name: name.to_owned(),
            id: kept.id(),
            reason,
        });
        let last = kept.committed.lock().state.clone();
        Ok(Arc::unwrap_or_clone(last))
    }

    /// Subscribes to what happens to its children from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SupervisorEvent> {
        self.inner.events.subscribe()
    }

    /// Moves the instance `name` from this supervisor to `to` in O(1),
    /// copying nothing; see [`transfer`](mod@crate::transfer).
    ///
    /// # Errors
    /// Each leaves the instance here, running, with its state:
    /// [`TransferError::Lookup`] (no such name), [`TransferError::NotChild`]
    /// (not under this supervisor), [`TransferError::SameSupervisor`],
    /// [`TransferError::TargetStopped`], [`TransferError::SourceStopped`],
    /// [`TransferError::InProgress`] (another transfer, a move or a stop of
    /// it is under way).
    pub async fn transfer(&self, name: &str, to: &Supervisor) -> Result<(), TransferError> {
        children::transfer(name, &self.inner, &to.inner)
    }
}

/// Whether an instance started with `start` gets no worker until it needs
/// one: a new instance or an arrival, unless it is durable (a durable
/// instance's callbacks are stored in order by its worker).
fn starts_dormant<A: Actor>(kept: &Kept<A>, start: &Start) -> bool {
    let dormant_kind = match start {
        Start::Fresh => true,
        #[cfg(feature = "cluster")]
        Start::Moved { .. } => true,
        _ => false,
    };
    dormant_kind && !kept.is_durable()
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
