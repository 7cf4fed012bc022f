//! [`AnyInstance`]: the kept parts of an instance with the actor type erased,
//! as supervisors and the registry hold them.

use std::any::Any;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use futures::future::BoxFuture;
use ractor::{ActorCell, ActorId, ActorRef};

use super::kept::{Kept, Owner};
use super::worker::Worker;
use crate::actor::{Actor, Start};
use crate::error::{Crash, StopReason};
use crate::id::InstanceId;

/// What a supervisor and the registry need of an instance.
pub(crate) trait AnyInstance: Send + Sync + 'static {
    fn id(&self) -> InstanceId;
    fn name(&self) -> &str;
    /// The name, to key a map with without copying it.
    fn shared_name(&self) -> &Arc<str>;
    fn actor_type(&self) -> &'static str;
    fn cell(&self) -> Option<ActorCell>;
    fn actor_id(&self) -> Option<ActorId>;
    fn stop_reason(&self) -> Option<StopReason>;
    /// Marks the instance as stopping for good; `false` if it already was.
    fn mark_stopped(&self, reason: StopReason) -> bool;
    /// Claims the instance for a transfer, a move or a stop; `false` if one
    /// is under way.
    fn try_claim(&self) -> bool;
    fn release_claim(&self);
    /// Whether its name resolves: its start completed (see the registry).
    fn named(&self) -> bool;
    /// Makes its name resolve, once its start completed.
    fn set_named(&self);
    fn set_owner(&self, owner: Option<Weak<dyn Owner>>);
    fn owner(&self) -> Option<Arc<dyn Owner>>;
    /// Cancels its timers: what a final stop leaves to do besides freeing
    /// the name.
    fn cancel_timers(&self);
    /// The node the instance moved to, if it did.
    fn moved_to(&self) -> Option<String>;
    /// Whether it has no worker yet (see `instance/dormant.rs`).
    fn is_dormant(&self) -> bool;
    /// Spawns the worker of a dormant instance, linked to `supervisor`; its
    /// actor, or `None` if it has one already. Called under the
    /// supervisor's children's lock, inside a tokio runtime.
    fn wake_in(self: Arc<Self>, supervisor: ActorCell) -> Option<ActorId>;
    /// Spawns a new worker over the same kept parts, linked to `supervisor`.
    fn respawn(self: Arc<Self>, supervisor: ActorCell, crash: Crash) -> BoxFuture<'static, bool>;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// What the live view shows of it, read from the kept parts.
    #[cfg(feature = "dashboard")]
    fn vitals(&self) -> Vitals;
    /// Messages queued and not yet being handled.
    #[cfg(feature = "dashboard")]
    fn queue_len(&self) -> usize;
    /// Asks its worker to restart, as [`Handle::kill`](crate::Handle::kill).
    #[cfg(feature = "dashboard")]
    fn kill(&self);
}

/// An instance as the live view shows it (feature `dashboard`).
#[cfg(feature = "dashboard")]
#[derive(Debug, Clone)]
pub(crate) struct Vitals {
    /// Messages queued and not yet being handled.
    pub(crate) queue_len: usize,
    /// How many times it moved between nodes.
    pub(crate) epoch: u64,
    /// Its crashes since it started.
    pub(crate) crashes: Option<crate::restart::CrashHistory>,
    /// Its tables, sorted by name, with their row counts.
    pub(crate) tables: Vec<(String, usize)>,
    /// Its dictionary's keys as of the last completed callback, sorted.
    pub(crate) dict_keys: Vec<String>,
    /// Its supervisor's name.
    pub(crate) supervisor: Option<String>,
}

impl<A: Actor> AnyInstance for Kept<A> {
    fn id(&self) -> InstanceId {
        Kept::id(self)
    }

    fn name(&self) -> &str {
        Kept::name(self)
    }

    fn shared_name(&self) -> &Arc<str> {
        Kept::shared_name(self)
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
        Kept::stop_reason(self).cloned()
    }

    fn mark_stopped(&self, reason: StopReason) -> bool {
        Kept::mark_stopped(self, reason)
    }

    fn try_claim(&self) -> bool {
        Kept::try_claim(self)
    }

    fn release_claim(&self) {
        Kept::release_claim(self);
    }

    fn named(&self) -> bool {
        self.named.load(Ordering::Acquire)
    }

    fn set_named(&self) {
        self.named.store(true, Ordering::Release);
    }

    fn set_owner(&self, owner: Option<Weak<dyn Owner>>) {
        let adopted = owner.is_some();
        Kept::set_owner(self, owner);
        if adopted {
            // A durable instance's record names its supervisor.
            super::journal::record_committed(self);
        }
    }

    fn owner(&self) -> Option<Arc<dyn Owner>> {
        self.current_owner()
    }

    fn cancel_timers(&self) {
        self.timers.cancel_all();
    }

    fn moved_to(&self) -> Option<String> {
        self.relay.get().map(|r| r.node().to_owned())
    }

    fn is_dormant(&self) -> bool {
        Kept::is_dormant(self)
    }

    fn wake_in(self: Arc<Self>, supervisor: ActorCell) -> Option<ActorId> {
        self.spawn_woken(supervisor)
    }

    fn respawn(self: Arc<Self>, supervisor: ActorCell, crash: Crash) -> BoxFuture<'static, bool> {
        Box::pin(async move {
            let worker = Worker::new(self.clone());
            let spawned = ractor::Actor::spawn_linked(
                None,
                worker,
                (self.clone(), Some(Start::Restored(crash))),
                supervisor,
            )
            .await;
            match spawned {
                Ok(_) => true,
                Err(e) => {
                    tracing::error!(name = %self.name(), error = %e, "peeper: respawn failed");
                    false
                }
            }
        })
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    #[cfg(feature = "dashboard")]
    fn vitals(&self) -> Vitals {
        let mut dict_keys: Vec<String> = {
            let committed = self.committed.lock();
            committed.dict.keys().map(str::to_owned).collect()
        };
        dict_keys.sort_unstable();
        Vitals {
            queue_len: self.inbox.len(),
            epoch: self.epoch,
            crashes: self.restarts.lock().history().cloned(),
            tables: self.tables.sizes(),
            dict_keys,
            supervisor: self.current_owner().map(|o| o.name().to_owned()),
        }
    }

    #[cfg(feature = "dashboard")]
    fn queue_len(&self) -> usize {
        self.inbox.len()
    }

    #[cfg(feature = "dashboard")]
    fn kill(&self) {
        tracing::info!(name = %self.name(), "peeper: worker kill requested");
        self.kill_worker();
    }
}
