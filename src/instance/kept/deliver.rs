//! Delivery: how a message reaches an instance's worker, or waits for the
//! next one (a worker being respawned, or the first of a dormant instance).

use ractor::{ActorId, MessagingErr};
use tokio::time::Instant;

use super::Kept;
use crate::actor::Actor;
use crate::error::StopReason;
use crate::instance::envelope::{Body, Envelope};
use crate::instance::inbox::Refused;

impl<A: Actor> Kept<A> {
    /// Queues `body` for the instance. Fails once it stopped for good, or
    /// while its bounded inbox is full, and then hands the body back.
    pub(crate) fn deliver(&self, body: Body<A>) -> Result<(), (Body<A>, Refused)> {
        #[cfg(feature = "dashboard")]
        crate::dashboard::probe::delivering(&body);
        self.deliver_bounded(body, false)
    }

    /// Queues a message relayed from an instance that moved away and came
    /// back, whatever the bound: it took its slot where it was sent.
    pub(crate) fn pass_on(&self, body: Body<A>) -> Result<(), (Body<A>, Refused)> {
        self.deliver_bounded(body, true)
    }

    /// Queues a message read back from a durable store, ahead of anything
    /// new and whatever the bound: it was accepted before the restart.
    #[cfg(feature = "durable")]
    pub(crate) fn requeue(&self, body: Body<A>) -> Result<(), (Body<A>, Refused)> {
        self.deliver_bounded(body, true)
    }

    pub(super) fn deliver_bounded(
        &self,
        body: Body<A>,
        over_bound: bool,
    ) -> Result<(), (Body<A>, Refused)> {
        if !self.inbox.try_take(over_bound) {
            return Err(match self.stop_reason() {
                Some(reason) => (body, Refused::Stopped(reason.clone())),
                None => (body, Refused::Full(self.inbox.capacity().unwrap_or(0))),
            });
        }
        let envelope = Envelope::kept(body, &self.inbox);
        // Sent through the borrowed reference: cloning the `ActorRef` would
        // touch a reference count that the worker also touches for every
        // message, a cache line bouncing between threads.
        let (refused, by) = match self.actor.read().as_ref() {
            Some(actor) => match actor.send_message(envelope) {
                Ok(()) => return Ok(()),
                Err(e) => (e, Some(actor.get_id())),
            },
            None => (MessagingErr::SendErr(envelope), None),
        };
        match refused {
            MessagingErr::SendErr(envelope) => match envelope.take_back() {
                Some(body) => self.deliver_late(body, by).map_err(|(body, reason)| {
                    self.inbox.release();
                    (body, Refused::Stopped(reason))
                }),
                None => Ok(()),
            },
            // Dropped inside ractor: the envelope put its body back itself.
            _ => Ok(()),
        }
    }

    /// As [`Kept::deliver`], but waits for room in a bounded inbox, until
    /// `deadline` if there is one.
    pub(crate) async fn deliver_waiting(
        &self,
        mut body: Body<A>,
        deadline: Option<Instant>,
    ) -> Result<(), (Body<A>, Refused)> {
        loop {
            match self.deliver(body) {
                Err((back, Refused::Full(capacity))) => {
                    if !self.inbox.room(deadline).await {
                        return Err((back, Refused::Full(capacity)));
                    }
                    body = back;
                }
                other => return other,
            }
        }
    }

    /// The rare path of [`Kept::deliver`]: the actor `by` refused `body`.
    #[cold]
    fn deliver_late(
        &self,
        mut body: Body<A>,
        mut by: Option<ActorId>,
    ) -> Result<(), (Body<A>, StopReason)> {
        loop {
            if let Some(reason) = self.stop_reason() {
                return Err((body, reason.clone()));
            }
            if let Some(relay) = self.relay.get().filter(|r| r.is_direct()) {
                self.inbox.release();
                relay.relay(body);
                return Ok(());
            }
            let current = self.actor.read().clone();
            if let Some(actor) = current.filter(|a| Some(a.get_id()) != by) {
                // A new worker took over since: it queued what was kept
                // before it became reachable, so this goes behind those.
                match actor.send_message(Envelope::kept(body, &self.inbox)) {
                    Ok(()) => return Ok(()),
                    Err(MessagingErr::SendErr(envelope)) => match envelope.take_back() {
                        Some(b) => (body, by) = (b, Some(actor.get_id())),
                        None => return Ok(()),
                    },
                    Err(_) => return Ok(()),
                }
                continue;
            }
            let mut lists = self.inbox.lists.lock();
            if self.relay.get().is_some_and(|r| r.is_direct()) {
                // Retired meanwhile: the top of the loop relays it.
                continue;
            }
            // Checked again under the lock the next worker takes the lists
            // under, so the body is either taken by it or sent to it.
            let still = self.actor.read().as_ref().map(|a| a.get_id()) == by;
            if self.stop_reason().is_none() && still {
                self.inbox.put_refused(&mut lists, body);
                drop(lists);
                // A dormant instance has no worker to take it: it gets one.
                self.wake();
                return Ok(());
            }
        }
    }
}
