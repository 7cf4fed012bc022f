//! [`SupervisorInner`]: the parts of a supervisor every handle shares, and
//! what an instance sees of it ([`Owner`]).

use std::any::Any;
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, MutexGuard};
use ractor::{ActorCell, ActorRef};
use tokio::sync::broadcast;

use super::children::Children;
use super::config::SupervisorConfig;
use super::events::SupervisorMsg;
use crate::event::SupervisorEvent;
use crate::id::{InstanceId, SupervisorId};
use crate::instance::{AnyInstance, Owner};
use crate::registry;

/// A supervisor's shared parts: its actor, its children, its events.
pub(crate) struct SupervisorInner {
    pub(crate) id: SupervisorId,
    pub(crate) name: String,
    pub(crate) config: SupervisorConfig,
    pub(crate) actor: OnceLock<ActorRef<SupervisorMsg>>,
    pub(crate) children: Mutex<Children>,
    pub(crate) events: broadcast::Sender<SupervisorEvent>,
    /// The runtime it started on, where the workers of its dormant children
    /// are spawned when they wake, whatever thread wakes them.
    pub(crate) runtime: tokio::runtime::Handle,
}

impl SupervisorInner {
    pub(crate) fn cell(&self) -> Option<ActorCell> {
        self.actor.get().map(ActorRef::get_cell)
    }

    pub(crate) fn children(&self) -> MutexGuard<'_, Children> {
        self.children.lock()
    }

    /// Sends the event `event` builds, if anyone listens: without a
    /// subscriber nothing is built (starts and restarts stay cheap).
    pub(crate) fn emit(&self, event: impl FnOnce() -> SupervisorEvent) {
        if self.events.receiver_count() > 0 {
            // A receiver that left meanwhile is not an error.
            let _ = self.events.send(event());
        }
    }

    /// Spawns the worker of `child`, a dormant instance: if it is listed
    /// here, or anyway for a stop that claimed it (`for_stop`), whose end the
    /// stop then handles. `false` if it is not listed and not stopping.
    pub(crate) fn wake_child(&self, child: &Arc<dyn AnyInstance>, for_stop: bool) -> bool {
        let mut children = self.children();
        if !for_stop && !children.lists(child) {
            return false;
        }
        let Some(cell) = self.cell() else {
            return true;
        };
        let _runtime = self.runtime.enter();
        if let Some(actor) = child.clone().wake_in(cell) {
            children.index(actor, (!for_stop).then(|| child.clone()));
        }
        true
    }

    /// For a stop that claimed `child`: gives it its worker if it is
    /// dormant. Called before the stop marks it stopped, which drops what
    /// waits in the inbox's lists: a message accepted after the claim waits
    /// there (no wake reaches an instance no longer listed), and the worker
    /// takes it first, so that the stop handles it.
    pub(crate) fn wake_for_stop(&self, child: &Arc<dyn AnyInstance>) {
        if child.is_dormant() {
            self.wake_child(child, true);
        }
    }

    /// The supervisor behind an instance's owner.
    pub(crate) fn of(owner: Arc<dyn Owner>) -> Option<Arc<SupervisorInner>> {
        owner.as_any().downcast::<SupervisorInner>().ok()
    }
}

impl Owner for SupervisorInner {
    fn name(&self) -> &str {
        &self.name
    }

    fn emit(&self, event: &mut dyn FnMut() -> SupervisorEvent) {
        SupervisorInner::emit(self, event);
    }

    fn released(&self, name: &str, id: InstanceId) {
        registry::release(name, id);
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn wake(&self, child: &Arc<dyn AnyInstance>) -> bool {
        self.wake_child(child, false)
    }
}
