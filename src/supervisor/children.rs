//! The children map: every rule about which instance is whose child.
//!
//! The map is the truth about which instance is whose child: starts, stops,
//! transfers and moves change it only through this file, under its lock. A
//! transfer takes the locks of both supervisors in the order of their ids, so
//! two transfers can never deadlock and no observer ever sees an instance
//! under two supervisors or under none.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use foldhash::fast::RandomState;
use ractor::ActorId;

use super::SupervisorInner;
use super::config::{ChildInfo, ChildKind};
use crate::actor::Actor;
use crate::error::{LookupError, StopError, TransferError};
use crate::event::SupervisorEvent;
use crate::id::InstanceId;
use crate::instance::{AnyInstance, Kept, Owner};
use crate::registry;

/// The children of one supervisor, by name.
#[derive(Default)]
pub(crate) struct Children {
    /// Set once the supervisor was asked to stop: it takes no new child.
    pub(crate) stopping: bool,
    /// Keyed by the child's own copy of its name. A hash map with a fast
    /// hasher, not a B-tree: every start inserts here, while only the rare
    /// listings want the names in order, and they sort.
    map: HashMap<Arc<str>, Arc<dyn AnyInstance>, RandomState>,
    /// The children by their current actor's pid, so that the end of an
    /// actor is matched to its child without a scan. The actors of children
    /// claimed for a stop stay here until they end, with `None`: their end
    /// needs nothing more.
    actors: HashMap<u64, Option<Arc<dyn AnyInstance>>, RandomState>,
}

/// The key of a child's actor. Children's actors are local, so the pid
/// alone tells them apart, in a third of the room of an `ActorId`.
fn pid(actor: ActorId) -> Option<u64> {
    actor.is_local().then(|| actor.pid())
}

impl Children {
    /// Lists `child`; `false` if the supervisor is stopping.
    pub(crate) fn insert(&mut self, child: Arc<dyn AnyInstance>) -> bool {
        if self.stopping {
            return false;
        }
        if let Some(actor) = child.actor_id().and_then(pid) {
            self.actors.insert(actor, Some(child.clone()));
        }
        self.map.insert(child.shared_name().clone(), child);
        true
    }

    /// Whether `child` is listed here.
    pub(crate) fn lists(&self, child: &Arc<dyn AnyInstance>) -> bool {
        self.map
            .get(child.name())
            .is_some_and(|c| c.id() == child.id())
    }

    /// A dormant child got its first actor: index it (with `None`, its end
    /// is expected by a stop under way).
    pub(crate) fn index(&mut self, actor: ActorId, child: Option<Arc<dyn AnyInstance>>) {
        if let Some(actor) = pid(actor) {
            self.actors.insert(actor, child);
        }
    }

    /// The child's actor changed (it was respawned): index the new one.
    pub(crate) fn reindex(&mut self, old: ActorId, child: &Arc<dyn AnyInstance>) {
        if let Some(old) = pid(old) {
            self.actors.remove(&old);
        }
        if let Some(actor) = child.actor_id().and_then(pid) {
            self.actors.insert(actor, Some(child.clone()));
        }
    }

    /// Forgets the ended actor `actor`; whether it was one of a child leaving
    /// for a stop (nothing more to do then).
    pub(crate) fn actor_ended(&mut self, actor: ActorId) -> bool {
        let Some(actor) = pid(actor) else {
            return false;
        };
        matches!(self.actors.get(&actor), Some(None)) && self.actors.remove(&actor).is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Every child, sorted by name.
    pub(crate) fn list(&self) -> Vec<ChildInfo> {
        self.sorted()
            .map(|c| ChildInfo {
                name: c.name().to_owned(),
                id: c.id(),
                kind: ChildKind::Supervisor,
                actor_type: c.actor_type(),
            })
            .collect()
    }

    /// The children's names and actor types, sorted by name.
    pub(crate) fn types(&self) -> Vec<(String, &'static str)> {
        self.sorted()
            .map(|c| (c.name().to_owned(), c.actor_type()))
            .collect()
    }

    fn sorted(&self) -> impl Iterator<Item = &Arc<dyn AnyInstance>> {
        let mut children: Vec<_> = self.map.iter().collect();
        children.sort_unstable_by(|a, b| a.0.cmp(b.0));
        children.into_iter().map(|(_, c)| c)
    }

    /// Takes no child from now on and hands out every child, sorted by name
    /// (the order they stop and are reported in), to stop them.
    pub(crate) fn close(&mut self) -> Vec<Arc<dyn AnyInstance>> {
        self.stopping = true;
        self.actors.clear();
        let children = self.sorted().cloned().collect();
        self.map.clear();
        children
    }

    /// The child whose current actor is `actor`.
    pub(crate) fn by_actor(&self, actor: ActorId) -> Option<Arc<dyn AnyInstance>> {
        self.actors.get(&pid(actor)?).cloned().flatten()
    }

    /// Removes the child `name` if it is still instance `id`.
    pub(crate) fn remove(&mut self, name: &str, id: InstanceId) -> Option<Arc<dyn AnyInstance>> {
        match self.map.get(name) {
            Some(c) if c.id() == id => {
                if let Some(actor) = c.actor_id().and_then(pid) {
                    self.actors.remove(&actor);
                }
                self.map.remove(name)
            }
            _ => None,
        }
    }

    /// Claims the child `name` of type `A` for a stop and removes it.
    pub(crate) fn claim_for_stop<A: Actor>(
        &mut self,
        name: &str,
        supervisor: &str,
    ) -> Result<Arc<Kept<A>>, StopError> {
        let child = self
            .map
            .get(name)
            .cloned()
            .ok_or_else(|| StopError::NotChild {
                name: name.to_owned(),
                supervisor: supervisor.to_owned(),
            })?;
        let actual = child.actor_type();
        let kept = child
            .clone()
            .into_any()
            .downcast::<Kept<A>>()
            .map_err(|_| LookupError::WrongType {
                name: name.to_owned(),
                actual,
            })?;
        if !child.try_claim() {
            return Err(StopError::Busy {
                name: name.to_owned(),
            });
        }
        self.map.remove(name);
        if let Some(actor) = child.actor_id().and_then(pid) {
            // Its end is expected: the stop handles it.
            self.actors.insert(actor, None);
        }
        Ok(kept)
    }
}

/// Transfers the instance `name` from `from` to `to`: claims it, moves it
/// ([`relink`]), and reports it on both sides.
pub(crate) fn transfer(
    name: &str,
    from: &Arc<SupervisorInner>,
    to: &Arc<SupervisorInner>,
) -> Result<(), TransferError> {
    let instance = registry::get(name).ok_or_else(|| LookupError::NotFound {
        name: name.to_owned(),
    })?;
    if from.id == to.id {
        return Err(TransferError::SameSupervisor {
            name: name.to_owned(),
            supervisor: from.name.clone(),
        });
    }
    if !instance.try_claim() {
        return Err(TransferError::InProgress {
            name: name.to_owned(),
        });
    }
    let moved = relink(&instance, from, to);
    instance.release_claim();
    moved?;
    tracing::info!(%name, from = %from.name, to = %to.name, "peeper: transferred");
    #[cfg(feature = "dashboard")]
    crate::dashboard::probe::count(crate::dashboard::probe::Counter::Transfers);
    from.emit(|| SupervisorEvent::TransferredOut {
        name: name.to_owned(),
        id: instance.id(),
        to: to.name.clone(),
    });
    to.emit(|| SupervisorEvent::TransferredIn {
        name: name.to_owned(),
        id: instance.id(),
        from: from.name.clone(),
    });
    Ok(())
}

/// Moves `instance` from `from`'s children to `to`'s: checks, then the links
/// and the map entry, under both locks. A refusal changes nothing.
fn relink(
    instance: &Arc<dyn AnyInstance>,
    from: &Arc<SupervisorInner>,
    to: &Arc<SupervisorInner>,
) -> Result<(), TransferError> {
    let name = instance.name();
    let (mut source, mut target);
    if from.id < to.id {
        source = from.children();
        target = to.children();
    } else {
        target = to.children();
        source = from.children();
    }
    let ours = source
        .map
        .get(name)
        .is_some_and(|c| c.id() == instance.id());
    if !ours {
        return Err(TransferError::NotChild {
            name: name.to_owned(),
            supervisor: from.name.clone(),
        });
    }
    if source.stopping {
        return Err(TransferError::SourceStopped {
            supervisor: from.name.clone(),
        });
    }
    let target_stopped = || TransferError::TargetStopped {
        supervisor: to.name.clone(),
    };
    if target.stopping {
        return Err(target_stopped());
    }
    if instance.stop_reason().is_some() {
        return Err(TransferError::InProgress {
            name: name.to_owned(),
        });
    }
    let (Some(from_cell), Some(to_cell)) = (from.cell(), to.cell()) else {
        return Err(target_stopped());
    };
    if let Some(cell) = instance.cell() {
        cell.unlink(from_cell);
        cell.link(to_cell);
    }
    if let Some(entry) = source.remove(name, instance.id()) {
        target.insert(entry);
    }
    let owner: Weak<SupervisorInner> = Arc::downgrade(to);
    instance.set_owner(Some(owner as Weak<dyn Owner>));
    Ok(())
}

/// Forgets the child `id` after it moved to another node: it leaves the
/// children and its actor is unlinked (it stays alive as a relay). Whether
/// it was still a child here.
pub(crate) fn release_moved(supervisor: &SupervisorInner, name: &str, id: InstanceId) -> bool {
    let removed = supervisor.children().remove(name, id);
    let Some(child) = removed else {
        return false;
    };
    if let (Some(cell), Some(sup)) = (child.cell(), supervisor.cell()) {
        cell.unlink(sup);
    }
    child.set_owner(None);
    true
}
