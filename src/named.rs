//! [`Named`]: a handle found by name once, and again only when it has to be.
//!
//! Calling by name ([`call`](crate::call), [`cast`](crate::cast)) looks the
//! name up in the registry every time: a hash, a shard lock and a reference
//! count on the instance, all shared with every other caller of that name. A
//! `Named` looks it up on first use and keeps the [`Handle`]: calls through it
//! cost what calls through a held handle cost. The handle it keeps stays valid
//! across crashes, kills, transfers and moves of the instance (a moved
//! instance's relay passes messages on, straight into the instance again if
//! it comes back to this node); only once the instance stops for good
//! does `Named` look the name up again, so it follows a new instance started
//! under the same name.
//!
//! ```
//! # use peeper::{Actor, BoxError, Context, Named, StateMut, Supervisor};
//! # struct Counter;
//! # impl Actor for Counter {
//! #     type State = u64;
//! #     type Call = ();
//! #     type Reply = u64;
//! #     type Cast = u64;
//! #     type Info = ();
//! #     async fn handle_call(&self, _: (), s: &mut StateMut<u64>, _: &mut Context<Self>)
//! #         -> Result<u64, BoxError> { Ok(**s) }
//! #     async fn handle_cast(&self, n: u64, s: &mut StateMut<u64>, _: &mut Context<Self>)
//! #         -> Result<(), BoxError> { **s += n; Ok(()) }
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let sup = Supervisor::start("named-doc").await.unwrap();
//! let counter = Named::<Counter>::new("named-counter");
//! sup.start_child("named-counter", Counter, 0).await.unwrap();
//! counter.cast(2).unwrap();
//! assert_eq!(counter.call(()).await.unwrap(), 2);
//!
//! // A new instance under the same name: `counter` follows it.
//! sup.terminate_child::<Counter>("named-counter").await.unwrap();
//! sup.start_child("named-counter", Counter, 40).await.unwrap();
//! assert_eq!(counter.call(()).await.unwrap(), 40);
//! # sup.stop().await;
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{MappedRwLockReadGuard, RwLock, RwLockReadGuard};

use crate::actor::Actor;
use crate::error::{CallError, LookupError, SendError};
use crate::handle::{DEFAULT_CALL_TIMEOUT, Handle};
use crate::registry;

/// A name with its handle cached; see the [module docs](self).
///
/// Cheap to clone, and each clone has a cache of its own: give each task its
/// clone, so that tasks on other threads never touch the same cache.
pub struct Named<A: Actor> {
    name: Arc<str>,
    cached: RwLock<Option<Handle<A>>>,
}

impl<A: Actor> Clone for Named<A> {
    fn clone(&self) -> Self {
        Named {
            name: self.name.clone(),
            cached: RwLock::new(self.cached.read().clone()),
        }
    }
}

impl<A: Actor> fmt::Debug for Named<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Named").field("name", &self.name).finish()
    }
}

impl<A: Actor> Named<A> {
    /// The instance registered as `name`, found on first use.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Named {
            name: name.into(),
            cached: RwLock::new(None),
        }
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The handle of the instance now registered under the name.
    ///
    /// # Errors
    /// [`LookupError`] if no instance of type `A` has the name.
    pub fn handle(&self) -> Result<Handle<A>, LookupError> {
        if let Some(h) = self.live() {
            return Ok(h.clone());
        }
        let found = registry::lookup::<A>(&self.name)?;
        *self.cached.write() = Some(found.clone());
        Ok(found)
    }

    /// The cached handle, while its instance has not stopped for good.
    fn live(&self) -> Option<MappedRwLockReadGuard<'_, Handle<A>>> {
        let cached = self.cached.read();
        RwLockReadGuard::try_map(cached, |c| c.as_ref().filter(|h| h.stop_reason().is_none())).ok()
    }

    /// Calls the instance; see [`Handle::call`].
    ///
    /// # Errors
    /// [`CallError::Lookup`] if no instance has the name, otherwise as
    /// [`Handle::call_timeout`].
    pub async fn call(&self, msg: A::Call) -> Result<A::Reply, CallError> {
        self.call_timeout(msg, DEFAULT_CALL_TIMEOUT).await
    }

    /// Calls the instance with a timeout; see [`Handle::call_timeout`].
    ///
    /// # Errors
    /// As [`Named::call`].
    pub async fn call_timeout(
        &self,
        msg: A::Call,
        timeout: Duration,
    ) -> Result<A::Reply, CallError> {
        self.handle()?.call_timeout(msg, timeout).await
    }

    /// Casts to the instance; see [`Handle::cast`].
    ///
    /// # Errors
    /// As [`Handle::cast`], and [`Undelivered::Lookup`](crate::Undelivered)
    /// if no instance has the name.
    pub fn cast(&self, msg: A::Cast) -> Result<(), SendError<A::Cast>> {
        if let Some(h) = self.live() {
            return h.cast(msg);
        }
        match self.handle() {
            Ok(h) => h.cast(msg),
            Err(e) => Err(SendError::new(msg, e.into())),
        }
    }
}
