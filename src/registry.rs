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
//! one lock.
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
use crate::handle::Handle;
use crate::id::InstanceId;
use crate::instance::{AnyInstance, Kept, Owner};

enum Slot {
    /// Taken by a start that has not completed.
    Reserved(InstanceId),
    Live(Arc<dyn AnyInstance>),
}

/// Keyed by the instance's own copy of its name (see `reserve`). Every start
/// hashes its name here twice (reserve, publish) and every call by name once:
/// a fast hasher, seeded at random per process so that names chosen from
/// outside still spread, costs a fraction of the default SipHash.
static NAMES: LazyLock<DashMap<Arc<str>, Slot, RandomState>> =
    LazyLock::new(|| DashMap::with_hasher(RandomState::default()));

/// Running supervisors, by name.
static SUPERVISORS: LazyLock<DashMap<String, Arc<dyn Owner>>> = LazyLock::new(DashMap::new);

/// Reserves `name` for instance `id`; `false` if another instance has it.
/// The entry shares the instance's name rather than copying it.
pub(crate) fn reserve(name: &Arc<str>, id: InstanceId) -> bool {
    match NAMES.entry(name.clone()) {
        Entry::Occupied(o) => matches!(o.get(), Slot::Reserved(r) if *r == id),
        Entry::Vacant(v) => {
            v.insert(Slot::Reserved(id));
            true
        }
    }
}

/// Makes a reserved name resolve to its instance.
pub(crate) fn publish(instance: Arc<dyn AnyInstance>) {
    // The reserved entry is reused: no second copy of the name.
    match NAMES.get_mut(instance.name()) {
        Some(mut slot) => *slot = Slot::Live(instance),
        None => {
            NAMES.insert(instance.shared_name().clone(), Slot::Live(instance));
        }
    }
}

/// Frees `name` if it resolves to an instance for which `keep_not` holds;
/// returns that instance.
pub(crate) fn release_if(
    name: &str,
    keep_not: impl Fn(&Arc<dyn AnyInstance>) -> bool,
) -> Option<Arc<dyn AnyInstance>> {
    let removed = NAMES.remove_if(name, |_, slot| matches!(slot, Slot::Live(i) if keep_not(i)));
    match removed {
        Some((_, Slot::Live(instance))) => Some(instance),
        _ => None,
    }
}

/// Frees `name` if it still belongs to instance `id`.
pub(crate) fn release(name: &str, id: InstanceId) {
    NAMES.remove_if(name, |_, slot| match slot {
        Slot::Reserved(r) => *r == id,
        Slot::Live(i) => i.id() == id,
    });
}

pub(crate) fn get(name: &str) -> Option<Arc<dyn AnyInstance>> {
    match NAMES.get(name).as_deref() {
        Some(Slot::Live(i)) => Some(i.clone()),
        _ => None,
    }
}

/// The instance whose current actor is `actor`, if any. A linear scan: only
/// used on the rare path of an actor that died during a transfer.
pub(crate) fn find_by_actor(actor: ActorId) -> Option<Arc<dyn AnyInstance>> {
    NAMES.iter().find_map(|e| match e.value() {
        Slot::Live(i) if i.actor_id() == Some(actor) => Some(i.clone()),
        _ => None,
    })
}

/// The typed handle of the instance registered as `name`.
///
/// # Errors
/// [`LookupError::NotFound`] if no instance has that name,
/// [`LookupError::WrongType`] if it runs another actor type.
pub fn lookup<A: Actor>(name: &str) -> Result<Handle<A>, LookupError> {
    let instance = get(name).ok_or_else(|| LookupError::NotFound {
        name: name.to_owned(),
    })?;
    let actual = instance.actor_type();
    instance
        .into_any()
        .downcast::<Kept<A>>()
        .map(Handle::from_kept)
        .map_err(|_| LookupError::WrongType {
            name: name.to_owned(),
            actual,
        })
}

/// Every instance whose name resolves, in no order: what the live view
/// lists. One pass over the map; nothing is copied but the pointers.
#[cfg(feature = "dashboard")]
pub(crate) fn live() -> Vec<Arc<dyn AnyInstance>> {
    NAMES
        .iter()
        .filter_map(|e| match e.value() {
            Slot::Live(i) => Some(i.clone()),
            Slot::Reserved(_) => None,
        })
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
        .filter(|e| matches!(e.value(), Slot::Live(_)))
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
pub async fn call<A: Actor>(name: &str, msg: A::Call) -> Result<A::Reply, CallError> {
    lookup::<A>(name)?.call(msg).await
}

/// Calls the instance registered as `name` with a timeout; see
/// [`Handle::call_timeout`].
///
/// # Errors
/// As [`call`].
pub async fn call_timeout<A: Actor>(
    name: &str,
    msg: A::Call,
    timeout: Duration,
) -> Result<A::Reply, CallError> {
    lookup::<A>(name)?.call_timeout(msg, timeout).await
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
