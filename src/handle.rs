//! [`Handle`]: the cheap, typed way to reach an instance.
//!
//! A handle points to the instance's kept parts, not to its worker, so it stays
//! valid across crashes, kills, restarts and transfers. It can be cloned freely
//! and used from any task; no ractor type is needed for the basic API.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use ractor::ActorRef;
use tokio::sync::oneshot;

use crate::actor::Actor;
use crate::dictionary::Dictionary;
use crate::error::{CallError, SendError, StopReason, TableError};
use crate::instance::{Envelope, InstanceId, Letter, Shared};
use crate::table::{TableKey, TableReader, TableValue};

/// The timeout of [`Handle::call`]: 5 seconds, as in Erlang's `gen_server`.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A typed handle to an instance; see the [module docs](self).
pub struct Handle<A: Actor> {
    shared: Arc<Shared<A>>,
}

impl<A: Actor> Clone for Handle<A> {
    fn clone(&self) -> Self {
        Handle {
            shared: self.shared.clone(),
        }
    }
}

impl<A: Actor> fmt::Debug for Handle<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("name", &self.shared.name())
            .field("id", &self.shared.id())
            .finish()
    }
}

impl<A: Actor> Handle<A> {
    pub(crate) fn from_shared(shared: Arc<Shared<A>>) -> Self {
        Handle { shared }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared<A>> {
        &self.shared
    }

    /// The instance's identity, the same that [`whereis`](crate::whereis) and
    /// [`Supervisor::which_children`](crate::Supervisor::which_children) report.
    pub fn id(&self) -> InstanceId {
        self.shared.id()
    }

    /// The instance's registered name.
    pub fn name(&self) -> &str {
        self.shared.name()
    }

    /// Calls the instance with [`DEFAULT_CALL_TIMEOUT`].
    ///
    /// # Errors
    /// See [`Handle::call_timeout`].
    pub async fn call(&self, msg: A::Call) -> Result<A::Reply, CallError> {
        self.call_timeout(msg, DEFAULT_CALL_TIMEOUT).await
    }

    /// Calls the instance and waits at most `timeout` for the reply.
    ///
    /// # Errors
    /// - [`CallError::Timeout`] when no reply came in time. A zero timeout
    ///   fails at once and sends nothing. A call whose handling had not begun
    ///   when the timeout elapsed is dropped unhandled, so it changes nothing.
    /// - [`CallError::Crashed`] at once when the worker crashed handling this
    ///   call; the state is the one before the call.
    /// - [`CallError::Stopped`] when the instance stopped for good.
    /// - [`CallError::Dropped`] when its actor was stopped from outside peeper
    ///   while the call was queued.
    pub async fn call_timeout(
        &self,
        msg: A::Call,
        timeout: Duration,
    ) -> Result<A::Reply, CallError> {
        if timeout.is_zero() {
            return Err(self.timeout(timeout));
        }
        let (tx, mut rx) = oneshot::channel();
        self.deliver(Envelope(Letter::Call(msg, tx.into())))
            .map_err(|e| self.call_error(e))?;
        if let Some(reply) = first_look(&mut rx).await {
            return reply.unwrap_or_else(|_| Err(self.call_error(self.gone())));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(self.call_error(self.gone())),
            Err(_) => Err(self.timeout(timeout)),
        }
    }

    /// Queues a cast.
    ///
    /// # Errors
    /// [`SendError::Stopped`] when the instance stopped for good,
    /// [`SendError::Restarting`] in the short window while its actor is
    /// respawned after a stop from outside peeper.
    pub fn cast(&self, msg: A::Cast) -> Result<(), SendError> {
        self.deliver(Envelope(Letter::Cast(msg)))
    }

    /// Queues an info message (what timers deliver).
    ///
    /// # Errors
    /// As [`Handle::cast`].
    pub fn send(&self, msg: A::Info) -> Result<(), SendError> {
        self.deliver(Envelope(Letter::Info(msg)))
    }

    /// Kills the worker: a callback that is awaiting is dropped at once and its
    /// caller gets [`CallError::Crashed`] with [`Crash::Killed`](crate::Crash::Killed);
    /// then `init` runs with [`Start::Restored`](crate::Start::Restored) and the
    /// queued messages are handled. A callback that is running without awaiting
    /// finishes first. Nothing but the aborted callback's changes is lost, and
    /// the kill counts against the restart policy.
    pub fn kill(&self) {
        tracing::info!(name = %self.shared.name(), "peeper: worker kill requested");
        self.shared.kill_worker();
    }

    /// Opens the instance's table `name` for reading, from any task, without
    /// messaging the instance.
    ///
    /// # Errors
    /// [`TableError::NotFound`] if the instance has not created it,
    /// [`TableError::WrongType`] if it has other key or value types.
    pub fn table<K: TableKey, V: TableValue>(
        &self,
        name: &str,
    ) -> Result<TableReader<K, V>, TableError> {
        self.shared.tables.reader(self.shared.id(), name)
    }

    /// The names of the instance's tables, sorted.
    pub fn table_names(&self) -> Vec<String> {
        self.shared.tables.names()
    }

    /// The state as of the last completed callback, without messaging the
    /// instance; also readable after the instance stopped. O(1): the `Arc` is
    /// shared, not copied.
    pub fn last_state(&self) -> Arc<A::State> {
        self.shared.kept.lock().state.clone()
    }

    /// The dictionary as of the last completed callback. O(1).
    pub fn dictionary(&self) -> Dictionary {
        self.shared.kept.lock().dict.clone()
    }

    /// Why the instance stopped, or `None` while it runs.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.shared.stop_reason().cloned()
    }

    /// The name of the supervisor the instance is under now, or `None` after
    /// it stopped.
    pub fn supervisor_name(&self) -> Option<String> {
        if self.shared.stop_reason().is_some() {
            return None;
        }
        self.shared.current_owner().map(|s| s.name().to_owned())
    }

    /// The instance's current ractor actor, for ractor code: send it
    /// [`Envelope`]s. The actor changes only if it is stopped from outside
    /// peeper and respawned; prefer the handle, which follows it.
    pub fn actor_ref(&self) -> Option<ActorRef<Envelope<A>>> {
        self.shared.actor.read().clone()
    }

    fn deliver(&self, envelope: Envelope<A>) -> Result<(), SendError> {
        // Send through the borrowed reference: cloning the `ActorRef` would
        // touch a reference count that the instance's own loop also touches
        // for every message, a cache line bouncing between threads.
        match self.shared.actor.read().as_ref() {
            Some(actor) => actor.send_message(envelope).map_err(|_| self.gone()),
            None => Err(self.gone()),
        }
    }

    /// Why a message could not reach the instance or got no answer.
    fn gone(&self) -> SendError {
        let name = self.shared.name().to_owned();
        match self.shared.stop_reason() {
            Some(reason) => SendError::Stopped {
                name,
                reason: reason.clone(),
            },
            None => SendError::Restarting { name },
        }
    }

    fn call_error(&self, e: SendError) -> CallError {
        match e {
            SendError::Stopped { name, reason } => CallError::Stopped { name, reason },
            SendError::NotFound { name } => CallError::NotFound { name },
            SendError::WrongType { name, actual } => CallError::WrongType { name, actual },
            SendError::Restarting { name } => CallError::Dropped { name },
        }
    }

    fn timeout(&self, timeout: Duration) -> CallError {
        CallError::Timeout {
            name: self.shared.name().to_owned(),
            timeout,
        }
    }
}

/// Polls `rx` once, and once more after every task already queued to run has
/// had its turn; `None` if the reply is still not there then.
///
/// Arming a timer costs about as much as the rest of a call, and nearly every
/// reply comes within that one turn, so [`Handle::call_timeout`] arms its
/// timeout only when this returns `None`.
async fn first_look<T>(
    rx: &mut oneshot::Receiver<T>,
) -> Option<Result<T, oneshot::error::RecvError>> {
    let mut looked = false;
    std::future::poll_fn(|cx| match Pin::new(&mut *rx).poll(cx) {
        Poll::Ready(reply) => Poll::Ready(Some(reply)),
        Poll::Pending if !looked => {
            looked = true;
            // Wake ourselves: we run again right after the tasks already
            // queued, the instance among them.
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Poll::Pending => Poll::Ready(None),
    })
    .await
}
