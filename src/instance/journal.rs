//! The seam through which a durable instance's changes reach its store
//! (feature `durable`; without it, these are empty and cost nothing).
//!
//! The worker calls [`record`] after every callback that completed, and
//! answers calls through [`answer`]: a reply leaves only once the change it
//! follows is stored as the instance's durability asks.

use std::sync::Arc;

#[cfg(feature = "durable")]
use futures::future::BoxFuture;
use ractor::RpcReplyPort;

use super::kept::Kept;
use crate::actor::Actor;
use crate::dictionary::Dictionary;
use crate::error::{CallError, StopReason};

/// What a durable instance's kept parts hold to reach their store.
#[cfg(feature = "durable")]
pub(crate) trait Journal<A: Actor>: Send + Sync {
    /// Stores what changed since the last record (state, declared
    /// dictionary entries and tables, timers), and with `handled` removes
    /// that durable message, all in one transaction. Does not wait.
    fn record(
        &self,
        kept: &Kept<A>,
        state: &Arc<A::State>,
        dict: &Dictionary,
        handled: Option<u64>,
    );
    /// Notes in the next record that the instance is being moved to the
    /// node `to` (or no longer is, with `None`).
    fn set_moving(&self, to: Option<String>);
    /// Waits until every record so far is stored as the durability asks;
    /// why not, if this instance's last change could not be stored.
    fn settle(&self) -> BoxFuture<'static, Result<(), String>>;
    /// As [`Journal::settle`], but waits for the store whatever the
    /// durability: a move relies on what it stored.
    fn flushed(&self) -> BoxFuture<'static, Result<(), String>>;
    /// Stores a durable message; its number, once stored.
    fn store_message(&self, msg: Vec<u8>) -> BoxFuture<'static, Result<u64, String>>;
    /// How the instance's one-shot timers copy their message when they
    /// fire: they stay stored until it is handled.
    fn one_shot_clone(&self) -> crate::timer::CloneFn<A::Info>;
    /// Takes back a stored message that could not be queued.
    fn unstore_message(&self, seq: u64);
    /// The instance stopped for good: its records go.
    fn forget(&self) -> BoxFuture<'static, ()>;
    /// When durable casts may be stored and queued; a move closes it.
    fn casts(&self) -> &crate::durable::CastGate;
}

/// After a callback: stores what changed, for a durable instance.
#[cfg(feature = "durable")]
pub(crate) fn record<A: Actor>(
    kept: &Kept<A>,
    state: &Arc<A::State>,
    dict: &Dictionary,
    handled: Option<u64>,
) {
    if let Some(journal) = kept.journal.get() {
        journal.record(kept, state, dict, handled);
    }
}

#[cfg(not(feature = "durable"))]
#[inline(always)]
pub(crate) fn record<A: Actor>(_: &Kept<A>, _: &Arc<A::State>, _: &Dictionary, _: Option<u64>) {}

/// How a durable instance's one-shot timers copy their message (see
/// `Journal::one_shot_clone`); `None` for others.
#[cfg(feature = "durable")]
pub(crate) fn one_shot_clone<A: Actor>(kept: &Kept<A>) -> Option<crate::timer::CloneFn<A::Info>> {
    kept.journal.get().map(|j| j.one_shot_clone())
}

#[cfg(not(feature = "durable"))]
#[inline(always)]
pub(crate) fn one_shot_clone<A: Actor>(_: &Kept<A>) -> Option<crate::timer::CloneFn<A::Info>> {
    None
}

/// Records a durable instance's committed state now, from outside its
/// loop: after a transfer (its record names its new supervisor at once, so
/// that a restart brings it back there), or when a move starts or gives up
/// the instance.
#[cfg(feature = "durable")]
pub(crate) fn record_committed<A: Actor>(kept: &Kept<A>) {
    if let Some(journal) = kept.journal.get() {
        let (state, dict) = kept.read_committed();
        journal.record(kept, &state, &dict, None);
    }
}

#[cfg(not(feature = "durable"))]
#[inline(always)]
pub(crate) fn record_committed<A: Actor>(_: &Kept<A>) {}

/// Answers a call: at once, or for a durable instance once the change the
/// reply follows is stored as its durability asks. That wait runs beside
/// the loop, which goes on with the next message: its change is stored in
/// the same transaction or a later one, never before.
#[cfg(feature = "durable")]
pub(crate) fn answer<A: Actor>(
    kept: &Arc<Kept<A>>,
    reply: RpcReplyPort<Result<A::Reply, CallError>>,
    value: A::Reply,
) {
    let Some(journal) = kept.journal.get() else {
        let _ = reply.send(Ok(value));
        return;
    };
    let settled = journal.settle();
    let kept = kept.clone();
    tokio::spawn(async move {
        let answer = settled.await.map(|()| value).map_err(|reason| {
            kept.notify_owner(|| crate::event::SupervisorEvent::NotStored {
                name: kept.name().to_owned(),
                id: kept.id(),
                reason: reason.clone(),
            });
            CallError::NotDurable {
                name: kept.name().to_owned(),
                reason,
            }
        });
        let _ = reply.send(answer);
    });
}

#[cfg(not(feature = "durable"))]
#[inline(always)]
pub(crate) fn answer<A: Actor>(
    _: &Arc<Kept<A>>,
    reply: RpcReplyPort<Result<A::Reply, CallError>>,
    value: A::Reply,
) {
    let _ = reply.send(Ok(value));
}

/// The instance stopped for good: a durable one's records go, unless it
/// stopped with its supervisor (a shutdown), after which a restart on the
/// same store brings it back.
#[cfg(feature = "durable")]
pub(crate) async fn stopped<A: Actor>(kept: &Kept<A>, reason: &StopReason) {
    if matches!(reason, StopReason::Shutdown) {
        return;
    }
    if let Some(journal) = kept.journal.get() {
        journal.forget().await;
    }
}

#[cfg(not(feature = "durable"))]
#[inline(always)]
pub(crate) async fn stopped<A: Actor>(_: &Kept<A>, _: &StopReason) {}
