//! [`Handle`]: the cheap, typed way to reach an instance.
//!
//! A handle points to the instance's kept parts, not to its worker, so it stays
//! valid across crashes, kills, restarts and transfers. It can be cloned freely
//! and used from any task; no ractor type is needed for the basic API.
//!
//! After a move to another node, the kept parts a handle points to relay
//! what it sends. Once the instance is back on this node and the relay
//! passes straight to it (everything sent before is in its inbox), calls,
//! casts and sends through the handle go to the instance back here, as
//! through a fresh lookup: a call to it while idle runs on its caller. A
//! message sent before that point goes the relay's way, and one sent after
//! it finds those ahead of it in the inbox, so a sender's order holds.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use ractor::ActorRef;
use tokio::sync::oneshot;

use crate::actor::Actor;
use crate::dictionary::Dictionary;
use crate::error::{CallError, SendError, StopReason, TableError, Undelivered};
use crate::id::InstanceId;
use crate::instance::{Body, Direct, Envelope, Kept, Refused, direct};
use crate::table::{TableKey, TableReader, TableValue};

/// The timeout of [`Handle::call`]: 5 seconds, as in Erlang's `gen_server`.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// What a call goes to: a handle its caller holds, or a name, looked up
/// when the call's future is first polled.
pub(crate) enum Callee<'a, A: Actor> {
    Handle(Handle<A>),
    Name(&'a str),
}

/// A typed handle to an instance; see the [module docs](self).
pub struct Handle<A: Actor> {
    kept: Arc<Kept<A>>,
}

impl<A: Actor> Clone for Handle<A> {
    fn clone(&self) -> Self {
        Handle {
            kept: self.kept.clone(),
        }
    }
}

impl<A: Actor> fmt::Debug for Handle<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("name", &self.kept.name())
            .field("id", &self.kept.id())
            .finish()
    }
}

impl<A: Actor> Handle<A> {
    pub(crate) fn from_kept(kept: Arc<Kept<A>>) -> Self {
        Handle { kept }
    }

    pub(crate) fn kept(&self) -> &Arc<Kept<A>> {
        &self.kept
    }

    /// This handle, or, once its instance moved away and came back to this
    /// node, one to the instance back here (see `Kept::moved_back`): a call
    /// through a handle held across moves then runs as a call by name does,
    /// on its caller's task when the instance is idle.
    fn followed(self) -> Self {
        match self.kept.moved_back() {
            Some(kept) => Handle { kept },
            None => self,
        }
    }

    /// The instance's identity, the same that [`whereis`](crate::whereis) and
    /// [`Supervisor::which_children`](crate::Supervisor::which_children) report.
    pub fn id(&self) -> InstanceId {
        self.kept.id()
    }

    /// The instance's registered name.
    pub fn name(&self) -> &str {
        self.kept.name()
    }

    /// Calls the instance with [`DEFAULT_CALL_TIMEOUT`].
    ///
    /// # Errors
    /// See [`Handle::call_timeout`].
    // Not an `async fn`: the future is `call_timeout`'s own, not one more
    // layer around it that every call would poll through.
    pub fn call(
        &self,
        msg: A::Call,
    ) -> impl Future<Output = Result<A::Reply, CallError>> + Send + '_ {
        self.call_timeout(msg, DEFAULT_CALL_TIMEOUT)
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
    ///
    /// A stop of the instance's actor from outside peeper does not lose the
    /// call: the respawned actor handles it (see [`crate::instance`]).
    // Not an `async fn`: the future owns a clone of the handle, which the
    // call moves into the run of its callback (see `call_to`).
    pub fn call_timeout(
        &self,
        msg: A::Call,
        timeout: Duration,
    ) -> impl Future<Output = Result<A::Reply, CallError>> + Send + '_ {
        Self::call_to(Callee::Handle(self.clone()), msg, timeout)
    }

    /// [`Handle::call_timeout`] to `callee`. A call to an idle instance
    /// moves the handle into the run of its callback, which needs one, so a
    /// call by name takes no second reference; and a call by name and a call
    /// through a handle are one future, not one inside the other.
    pub(crate) async fn call_to(
        callee: Callee<'_, A>,
        msg: A::Call,
        timeout: Duration,
    ) -> Result<A::Reply, CallError> {
        let handle = match callee {
            Callee::Handle(handle) => handle.followed(),
            Callee::Name(name) => crate::registry::lookup::<A>(name)?,
        };
        if timeout.is_zero() {
            return Err(handle.timeout(timeout));
        }
        // A callback run on this task is not cut by the caller's timer. One
        // that blocked the thread past a timeout the caller chose is
        // answered `Timeout` (its change stays, as for any call whose
        // handling began before its caller gave up). The default timeout is
        // not watched: two reads of the clock cost half a call.
        let watched = (timeout != DEFAULT_CALL_TIMEOUT).then(tokio::time::Instant::now);
        match direct::call(handle.kept, msg).await {
            Direct::Done(kept, Ok(_))
                if watched.is_some_and(|began| began.elapsed() >= timeout) =>
            {
                Err(Handle::from_kept(kept).timeout(timeout))
            }
            Direct::Done(_, reply) => reply,
            // Both boxed: a call that runs on this task needs neither, and
            // inline they would make every call's future several times
            // larger (futures are moved by value).
            Direct::Handed(kept, rx) => {
                let left = watched.map_or(timeout, |began| timeout.saturating_sub(began.elapsed()));
                Box::pin(Handle::from_kept(kept).reply(rx, left)).await
            }
            Direct::Refused(kept, msg) => {
                Box::pin(Handle::from_kept(kept).call_queued(msg, timeout)).await
            }
        }
    }

    /// Queues a call and waits for its reply.
    async fn call_queued(self, msg: A::Call, timeout: Duration) -> Result<A::Reply, CallError> {
        let (tx, rx) = oneshot::channel();
        // The port carries the caller's timeout: a relay that passes the
        // call on to another node gives it that long there.
        match self.kept.deliver(Body::Call(msg, (tx, timeout).into())) {
            Ok(()) => {}
            Err((_, Refused::Stopped(reason))) => return Err(self.stopped(reason)),
            Err((call, Refused::Full(_))) => self.wait_for_room(call, timeout).await?,
        }
        self.reply(rx, timeout).await
    }

    /// Waits at most `timeout` for the reply of a call on its way.
    async fn reply(
        self,
        mut rx: oneshot::Receiver<Result<A::Reply, CallError>>,
        timeout: Duration,
    ) -> Result<A::Reply, CallError> {
        if let Some(reply) = first_look(&mut rx).await {
            return reply.unwrap_or_else(|_| Err(self.unanswered()));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(self.unanswered()),
            Err(_) => Err(self.timeout(timeout)),
        }
    }

    /// Queues a cast. A cast that returned `Ok` is handled, even if the
    /// instance's actor is stopped from outside peeper meanwhile (the
    /// respawned actor handles it, in order).
    ///
    /// # Errors
    /// [`Undelivered::Stopped`] when the instance stopped for good,
    /// [`Undelivered::Full`] when its bounded inbox is full (see
    /// [`StartOptions::capacity`](crate::StartOptions::capacity)); the
    /// message comes back inside the [`SendError`].
    pub fn cast(&self, msg: A::Cast) -> Result<(), SendError<A::Cast>> {
        let back = self.kept.moved_back();
        back.as_ref()
            .unwrap_or(&self.kept)
            .deliver(Body::Cast(msg))
            .map_err(|(body, refused)| self.refused(body, refused, Body::into_cast))
    }

    /// Queues a cast, waiting for room if the inbox is bounded and full.
    ///
    /// # Errors
    /// [`Undelivered::Stopped`] when the instance stopped for good, with the
    /// message handed back.
    pub async fn cast_wait(&self, msg: A::Cast) -> Result<(), SendError<A::Cast>> {
        let back = self.kept.moved_back();
        back.as_ref()
            .unwrap_or(&self.kept)
            .deliver_waiting(Body::Cast(msg), None)
            .await
            .map_err(|(body, refused)| self.refused(body, refused, Body::into_cast))
    }

    /// Queues an info message (what timers deliver).
    ///
    /// # Errors
    /// As [`Handle::cast`].
    pub fn send(&self, msg: A::Info) -> Result<(), SendError<A::Info>> {
        let back = self.kept.moved_back();
        back.as_ref()
            .unwrap_or(&self.kept)
            .deliver(Body::Info(msg))
            .map_err(|(body, refused)| self.refused(body, refused, Body::into_info))
    }

    /// How many messages are queued for the instance and not yet being
    /// handled. Exact for a bounded inbox; for an unbounded one it may count
    /// a message a sender is queueing at this very moment.
    pub fn queue_len(&self) -> usize {
        self.kept.inbox.len()
    }

    /// The bound of the instance's inbox, if it has one.
    pub fn capacity(&self) -> Option<usize> {
        self.kept.capacity()
    }

    /// Kills the worker: a callback that is awaiting is dropped at once and its
    /// caller gets [`CallError::Crashed`] with [`Crash::Killed`](crate::Crash::Killed);
    /// then `init` runs with [`Start::Restored`](crate::Start::Restored) and the
    /// queued messages are handled. A callback that is running without awaiting
    /// finishes first. Nothing but the aborted callback's changes is lost, and
    /// the kill counts against the restart policy.
    ///
    /// An idle instance, or a dormant one (no worker yet, which this wakes),
    /// applies the kill at once, with nothing sent to it: the restart is
    /// counted and reported, and `init` runs, before the next message.
    ///
    /// Kills coalesce: kills made before the worker applied the first one
    /// (for example three in a row while it is idle or inside one callback)
    /// give one restore, count once against the restart policy, and report
    /// one [`SupervisorEvent::WorkerRestarted`](crate::SupervisorEvent).
    pub fn kill(&self) {
        tracing::info!(name = %self.kept.name(), "peeper: worker kill requested");
        self.kept.kill_worker();
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
        self.kept.tables.reader(self.kept.id(), name)
    }

    /// The names of the instance's tables, sorted.
    pub fn table_names(&self) -> Vec<String> {
        self.kept.tables.names()
    }

    /// The state as of the last completed callback, without messaging the
    /// instance; also readable after the instance stopped. O(1): the `Arc` is
    /// shared, not copied.
    pub fn last_state(&self) -> Arc<A::State> {
        self.kept.committed.lock().state.clone()
    }

    /// The dictionary as of the last completed callback. O(1).
    pub fn dictionary(&self) -> Dictionary {
        self.kept.committed.lock().dict.clone()
    }

    /// Why the instance stopped, or `None` while it runs.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.kept.stop_reason().cloned()
    }

    /// The name of the supervisor the instance is under now, or `None` after
    /// it stopped.
    pub fn supervisor_name(&self) -> Option<String> {
        if self.kept.stop_reason().is_some() {
            return None;
        }
        self.kept.current_owner().map(|s| s.name().to_owned())
    }

    /// Whether the instance has no worker (no ractor actor) yet: it got
    /// none at its start, and nothing has needed one since. Calls to an
    /// idle instance run on their callers and need none; a cast, a timer, a
    /// kill, a stop or [`Handle::actor_ref`] give it one.
    pub fn is_dormant(&self) -> bool {
        self.kept.is_dormant()
    }

    /// The instance's current ractor actor, for ractor code: send it
    /// [`Envelope`]s. The actor changes only if it is stopped from outside
    /// peeper and respawned; prefer the handle, which follows it.
    ///
    /// An instance gets its actor the first time it needs one (calls to an
    /// idle instance run on their callers and need none): asking for it
    /// here gives it one. `None` once the instance stopped or moved away.
    pub fn actor_ref(&self) -> Option<ActorRef<Envelope<A>>> {
        self.kept.wake();
        self.kept.actor.read().clone()
    }

    /// Delivers a call that found the bounded inbox full, once there is room,
    /// within `timeout`.
    async fn wait_for_room(&self, call: Body<A>, timeout: Duration) -> Result<(), CallError> {
        let deadline = tokio::time::Instant::now() + timeout;
        match self.kept.deliver_waiting(call, Some(deadline)).await {
            Ok(()) => Ok(()),
            Err((_, Refused::Full(_))) => Err(self.timeout(timeout)),
            Err((_, Refused::Stopped(reason))) => Err(self.stopped(reason)),
        }
    }

    /// The error for a refused one-way message, with the message back.
    fn refused<M>(
        &self,
        body: Body<A>,
        refused: Refused,
        unwrap: fn(Body<A>) -> Option<M>,
    ) -> SendError<M> {
        let name = self.kept.name().to_owned();
        let reason = match refused {
            Refused::Stopped(reason) => Undelivered::Stopped { name, reason },
            Refused::Full(capacity) => Undelivered::Full { name, capacity },
        };
        let msg = unwrap(body).expect("a refused message comes back as it was sent");
        SendError::new(msg, reason)
    }

    fn stopped(&self, reason: StopReason) -> CallError {
        CallError::Stopped {
            name: self.kept.name().to_owned(),
            reason,
        }
    }

    /// The reply port was dropped without an answer.
    fn unanswered(&self) -> CallError {
        match self.kept.stop_reason() {
            Some(reason) => self.stopped(reason.clone()),
            None => CallError::Dropped {
                name: self.kept.name().to_owned(),
            },
        }
    }

    fn timeout(&self, timeout: Duration) -> CallError {
        CallError::Timeout {
            name: self.kept.name().to_owned(),
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
