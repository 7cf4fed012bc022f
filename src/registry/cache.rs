//! A per-thread cache of name lookups: a call by name whose name is cached
//! here takes no lock of the shared name map, whose shard locks every caller
//! on every thread would otherwise write.
//!
//! An entry is only as good as the map it was read from: every removal from
//! the map counts in [`REMOVALS`], and an entry read before the last removal
//! is looked up again. Entries are never wrong for longer than the lookup
//! that read them: the count is read before the map and bumped after each
//! removal, so an entry read from the map before a removal carries an older
//! count than any lookup that starts after that removal.
//!
//! Names are only added to the map by a start of a new instance, which does
//! not make any cached entry wrong, so additions count nothing. Churn of
//! instances elsewhere (starts and stops of other names) costs the cache its
//! entries, not correctness: a stale entry costs one lookup in the map.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use foldhash::fast::RandomState;
use smol_str::SmolStr;

use crate::instance::AnyInstance;

/// Removals from the name map so far.
static REMOVALS: AtomicU64 = AtomicU64::new(0);

/// Names kept per thread at most: past it the thread's cache starts over,
/// so that a thread that once called very many names does not keep them all.
const CAPACITY: usize = 4096;

struct Cached {
    /// [`REMOVALS`] as it was when the entry was read from the map.
    removals: u64,
    /// Weak: a cached name keeps no stopped instance's parts alive. Kept
    /// as `Any`, ready for the caller's downcast to its own type.
    instance: Weak<dyn Any + Send + Sync>,
    /// The instance's actor type, for a caller that expected another.
    actor_type: &'static str,
}

thread_local! {
    /// Keyed by `SmolStr`: a name of up to 23 bytes lies in the entry
    /// itself, so a hit compares it without reading one more allocation.
    static CACHE: RefCell<HashMap<SmolStr, Cached, RandomState>> =
        RefCell::new(HashMap::default());
}

/// Counts a removal from the name map; called after the removal.
pub(super) fn removed() {
    REMOVALS.fetch_add(1, Ordering::Release);
}

/// The instance registered as `name`: from this thread's cache if its entry
/// is still good, otherwise what `fetch` reads from the map, which is then
/// cached.
/// `Some(Err(actor type))` when it runs another actor type than `T`'s.
#[inline]
pub(super) fn get<T: Any + Send + Sync>(
    name: &str,
    fetch: impl FnOnce() -> Option<Arc<dyn AnyInstance>>,
) -> Option<Result<Arc<T>, &'static str>> {
    // Read before the map: see the module docs.
    let now = REMOVALS.load(Ordering::Acquire);
    // `try_with`: a lookup made while the thread is being torn down (from
    // another thread-local's destructor) goes to the map.
    let hit = CACHE
        .try_with(|cache| {
            let cache = cache.borrow();
            let cached = cache.get(name)?;
            if cached.removals != now {
                return None;
            }
            let instance = cached.instance.upgrade()?;
            Some(instance.downcast::<T>().map_err(|_| cached.actor_type))
        })
        .ok()
        .flatten();
    if hit.is_some() {
        return hit;
    }
    fill(name, now, fetch()?)
}

/// Caches `found`, read from the map as `name` after [`REMOVALS`] was `now`.
#[cold]
fn fill<T: Any + Send + Sync>(
    name: &str,
    now: u64,
    found: Arc<dyn AnyInstance>,
) -> Option<Result<Arc<T>, &'static str>> {
    let actor_type = found.actor_type();
    let found = found.into_any();
    let _ = CACHE.try_with(|cache| {
        let mut cache = cache.borrow_mut();
        let cached = Cached {
            removals: now,
            instance: Arc::downgrade(&found),
            actor_type,
        };
        if let Some(entry) = cache.get_mut(name) {
            *entry = cached;
            return;
        }
        if cache.len() >= CAPACITY {
            cache.clear();
        }
        cache.insert(SmolStr::new(name), cached);
    });
    Some(found.downcast::<T>().map_err(|_| actor_type))
}
