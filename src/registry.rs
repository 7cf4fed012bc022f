//! Names: every instance is registered under a unique string name in this
//! process, and can be called, cast to and sent to by that name.
//!
//! # When a name is taken and free
//!
//! [`Supervisor::start_child`](crate::Supervisor::start_child) reserves the name
//! before it spawns anything, so two racing starts of one name cannot both win:
//! the loser gets [`StartError::NameTaken`](crate::StartError::NameTaken). A
//! reserved name does not resolve until the instance's `init` has completed.
//! The name stays registered across crashes, restarts and transfers, and is
//! freed when the instance stops for good, before its stop is reported, so the
//! name can be reused as soon as `terminate_child` returns.
//!
//! Supervisors have names too, in a table of their own beside the instances'
//! ([`Supervisor::lookup`](crate::Supervisor::lookup)).
//!
//! Lookups use a sharded concurrent map, so callers by name do not contend on
//! one lock, and each thread keeps the names it looked up in a cache of its
//! own, so that a call by name usually takes no lock at all. The cache never
//! answers with an instance that lost its name before the lookup began.
//!
//! ```
//! # use peeper::{Actor, BoxError, Context, StateMut, Supervisor};
//! # struct Echo;
//! # impl Actor for Echo {
//! #     type State = ();
//! #     type Call = String;
//! #     type Reply = String;
//! #     type Cast = ();
//! #     type Info = ();
//! #     async fn handle_call(&self, s: String, _: &mut StateMut<()>, _: &mut Context<Self>)
//! #         -> Result<String, BoxError> { Ok(s) }
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let sup = Supervisor::start("registry-doc").await.unwrap();
//! sup.start_child("echo", Echo, ()).await.unwrap();
//! let reply = peeper::call::<Echo>("echo", "hi".to_owned()).await;
//! assert_eq!(reply.unwrap(), "hi");
//! assert!(matches!(
//!     peeper::call::<Echo>("nobody", String::new()).await,
//!     Err(peeper::CallError::Lookup(peeper::LookupError::NotFound { .. }))
//! ));
//! # sup.stop().await;
//! # }
//! ```

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use foldhash::fast::RandomState;
use ractor::ActorId;

use crate::actor::Actor;
use crate::error::{CallError, LookupError, SendError};
use crate::handle::{Callee, DEFAULT_CALL_TIMEOUT, Handle};
use crate::id::InstanceId;
use crate::instance::{AnyInstance, Kept, Owner};

mod cache;

/// Keyed by the instance's own copy of its name (see `reserve`). A start
/// enters its instance when it reserves the name; the entry resolves once
/// the instance says so ([`AnyInstance::named`]), so publishing it costs no
/// second trip through the map. Every start hashes its name here and every
/// call by name does: a fast hasher, seeded at random per process so that
/// names chosen from outside still spread, costs a fraction of SipHash.
static NAMES: LazyLock<DashMap<Arc<str>, Arc<dyn AnyInstance>, RandomState>> =
    LazyLock::new(|| DashMap::with_hasher(RandomState::default()));

/// Running supervisors, by name.
static SUPERVISORS: LazyLock<DashMap<String, Arc<dyn Owner>>> = LazyLock::new(DashMap::new);

/// Reserves the name of `instance` for it; `false` if another instance has
/// it, or this one already resolves under it. The entry shares the
/// instance's name rather than copying it.
pub(crate) fn reserve(instance: Arc<dyn AnyInstance>) -> bool {
    match NAMES.entry(instance.shared_name().clone()) {
        Entry::Occupied(o) => o.get().id() == instance.id() && !o.get().named(),
        Entry::Vacant(v) => {
            v.insert(instance);
            true
        }
    }
}

/// Makes a reserved name resolve to its instance. A name freed meanwhile
/// (the instance stopped for good during its start) stays free.
pub(crate) fn publish(instance: &dyn AnyInstance) {
    instance.set_named();
}

/// Frees `name` if it resolves to an instance for which `keep_not` holds;
/// returns that instance.
pub(crate) fn release_if(
    name: &str,
    keep_not: impl Fn(&Arc<dyn AnyInstance>) -> bool,
) -> Option<Arc<dyn AnyInstance>> {
    let removed = NAMES
        .remove_if(name, |_, i| i.named() && keep_not(i))
        .map(|(_, instance)| instance);
    if removed.is_some() {
        cache::removed();
    }
    removed
}

/// Frees `name` if it still belongs to instance `id`.
pub(crate) fn release(name: &str, id: InstanceId) {
    if NAMES.remove_if(name, |_, i| i.id() == id).is_some() {
        cache::removed();
    }
}

pub(crate) fn get(name: &str) -> Option<Arc<dyn AnyInstance>> {
    NAMES
        .get(name)
        .filter(|i| i.named())
        .map(|i| i.value().clone())
}

/// The instance whose current actor is `actor`, if any. A linear scan: only
/// used on the rare path of an actor that died during a transfer.
pub(crate) fn find_by_actor(actor: ActorId) -> Option<Arc<dyn AnyInstance>> {
    NAMES
        .iter()
        .find(|e| e.named() && e.actor_id() == Some(actor))
        .map(|e| e.value().clone())
}

/// The typed handle of the instance registered as `name`.
///
/// # Errors
/// [`LookupError::NotFound`] if no instance has that name,
/// [`LookupError::WrongType`] if it runs another actor type.
#[inline]
pub fn lookup<A: Actor>(name: &str) -> Result<Handle<A>, LookupError> {
    match cache::get::<Kept<A>>(name, || get(name)) {
        Some(Ok(kept)) => Ok(Handle::from_kept(kept)),
        Some(Err(actual)) => Err(wrong_type(name, actual)),
        None => Err(not_found(name)),
    }
}

/// [`lookup`] past this thread's cache. For a path that reads each name
/// once, a move or a drain: cached, its entries would stay behind, each
/// with a weak pointer that keeps the memory of an instance that has left
/// (up to the cache's bound on every thread that moved some).
pub(crate) fn lookup_uncached<A: Actor>(name: &str) -> Result<Handle<A>, LookupError> {
    let found = get(name).ok_or_else(|| not_found(name))?;
    let actual = found.actor_type();
    found
        .into_any()
        .downcast::<Kept<A>>()
        .map(Handle::from_kept)
        .map_err(|_| wrong_type(name, actual))
}

#[cold]
fn not_found(name: &str) -> LookupError {
    LookupError::NotFound {
        name: name.to_owned(),
    }
}

#[cold]
fn wrong_type(name: &str, actual: &'static str) -> LookupError {
    LookupError::WrongType {
        name: name.to_owned(),
        actual,
    }
}

/// Every instance whose name resolves, in no order: what the live view
/// lists. One pass over the map; nothing is copied but the pointers.
#[cfg(feature = "dashboard")]
pub(crate) fn live() -> Vec<Arc<dyn AnyInstance>> {
    NAMES
        .iter()
        .filter(|e| e.named())
        .map(|e| e.value().clone())
        .collect()
}

/// The identity of the instance registered as `name`, whatever its type.
pub fn whereis(name: &str) -> Option<InstanceId> {
    get(name).map(|i| i.id())
}

/// The names of all registered instances, sorted.
pub fn registered() -> Vec<String> {
    let mut names: Vec<String> = NAMES
        .iter()
        .filter(|e| e.named())
        .map(|e| e.key().to_string())
        .collect();
    names.sort();
    names
}

/// Calls the instance registered as `name`; see [`Handle::call`].
///
/// # Errors
/// [`CallError::Lookup`] at once for an unknown name, otherwise as
/// [`Handle::call_timeout`].
pub fn call<A: Actor>(
    name: &str,
    msg: A::Call,
) -> impl Future<Output = Result<A::Reply, CallError>> + Send + '_ {
    call_timeout::<A>(name, msg, DEFAULT_CALL_TIMEOUT)
}

/// Calls the instance registered as `name` with a timeout; see
/// [`Handle::call_timeout`].
///
/// # Errors
/// As [`call`].
pub fn call_timeout<A: Actor>(
    name: &str,
    msg: A::Call,
    timeout: Duration,
) -> impl Future<Output = Result<A::Reply, CallError>> + Send + '_ {
    Handle::<A>::call_to(Callee::Name(name), msg, timeout)
}

/// Casts to the instance registered as `name`; see [`Handle::cast`].
///
/// # Errors
/// [`Undelivered::Lookup`](crate::Undelivered::Lookup) at once for an unknown
/// name, otherwise as [`Handle::cast`]; the message comes back either way.
pub fn cast<A: Actor>(name: &str, msg: A::Cast) -> Result<(), SendError<A::Cast>> {
    match lookup::<A>(name) {
        Ok(handle) => handle.cast(msg),
        Err(e) => Err(SendError::new(msg, e.into())),
    }
}

/// Sends an info message to the instance registered as `name`; see
/// [`Handle::send`].
///
/// # Errors
/// As [`cast`].
pub fn send<A: Actor>(name: &str, msg: A::Info) -> Result<(), SendError<A::Info>> {
    match lookup::<A>(name) {
        Ok(handle) => handle.send(msg),
        Err(e) => Err(SendError::new(msg, e.into())),
    }
}

/// Registers a supervisor under `name`; `false` if a running one has it.
pub(crate) fn register_supervisor(name: &str, supervisor: Arc<dyn Owner>) -> bool {
    match SUPERVISORS.entry(name.to_owned()) {
        Entry::Occupied(_) => false,
        Entry::Vacant(v) => {
            v.insert(supervisor);
            true
        }
    }
}

/// Frees the supervisor name `name` if it still belongs to `supervisor`.
pub(crate) fn unregister_supervisor(name: &str, supervisor: &Arc<dyn Owner>) {
    SUPERVISORS.remove_if(name, |_, s| Arc::ptr_eq(s, supervisor));
}

/// The running supervisor named `name`.
pub(crate) fn supervisor(name: &str) -> Option<Arc<dyn Owner>> {
    SUPERVISORS.get(name).map(|s| s.value().clone())
}

/// Every running supervisor.
pub(crate) fn supervisors() -> Vec<Arc<dyn Owner>> {
    SUPERVISORS.iter().map(|s| s.value().clone()).collect()
}
