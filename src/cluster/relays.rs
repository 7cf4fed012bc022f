//! Relays that gave up their name to an instance that came back, found by
//! name and epoch: messages still addressed to them must pass through them,
//! in order.

use std::sync::{Arc, LazyLock};

use dashmap::DashMap;

use crate::instance::AnyInstance;
use crate::registry;

static RELAYS: LazyLock<DashMap<(String, u64), Arc<dyn AnyInstance>>> = LazyLock::new(DashMap::new);

/// Frees `name` if it belongs to a relay of an instance that moved to
/// another node: the instance is coming back, and takes its name again. The
/// relay runs on, found by its epoch, for the handles and relays that still
/// send to it (it forwards to where the instance went, which forwards here).
pub(crate) fn release_relay(name: &str) {
    if let Some(relay) = registry::release_if(name, |i| i.moved_to().is_some()) {
        RELAYS.insert((name.to_owned(), relay.epoch()), relay);
    }
}

/// The instance or relay `name` at `epoch` on this node.
pub(crate) fn get_epoch(name: &str, epoch: u64) -> Option<Arc<dyn AnyInstance>> {
    match registry::get(name) {
        Some(i) if i.epoch() == epoch => Some(i),
        _ => RELAYS
            .get(&(name.to_owned(), epoch))
            .map(|r| r.value().clone()),
    }
}
