//! Casts by name across nodes: found as calls are (see the
//! [module docs](super)), sent without an answer.

use super::{Located, MAX_HOPS, Reached, after};
use crate::cluster::error::RemoteCallError;
use crate::cluster::handoff::{Held, relay};
use crate::cluster::node::Node;
use crate::cluster::wire::{self, Request, Way, Wire};
use crate::portable::Portable;
use crate::registry;

impl Node {
    /// Casts to the instance `name` of kind `A`, wherever it runs. Casts
    /// from one node keep their order as long as the route does not change;
    /// a node that the instance left passes casts on to where it went, and
    /// the node it is arriving at holds them until it runs there.
    ///
    /// # Errors
    /// As [`Node::call`], for finding the instance.
    pub async fn cast<A: Portable>(&self, name: &str, msg: A::Cast) -> Result<(), RemoteCallError> {
        let codec = |reason: String| RemoteCallError::Codec {
            name: name.to_owned(),
            reason,
        };
        let body = postcard::to_stdvec(&msg).map_err(|e| codec(e.to_string()))?;
        let mut fresh = false;
        let mut next = None;
        for _ in 0..MAX_HOPS {
            let at = match next.take() {
                Some(node) => Located::hint(node),
                None => self.locate(name, fresh).await?,
            };
            let reached = if at.node == self.name() {
                self.cast_here::<A>(name, &body)
            } else {
                self.cast_there::<A>(&at.node, name, &body)
            };
            if matches!(reached, Reached::NotThere | Reached::NotSent(_)) {
                self.inner.routes.forget(name);
            }
            match after(name, at, reached, &mut fresh) {
                Ok(then) => next = then,
                Err(out) => return out,
            }
        }
        Err(RemoteCallError::Unreachable {
            node: self.name().to_owned(),
            reason: format!("{name:?} moved more than {MAX_HOPS} times during the cast"),
        })
    }

    fn cast_here<A: Portable>(&self, name: &str, body: &[u8]) -> Reached<()> {
        // Held first while it arrives: behind what its source relays.
        let held = Held::OneWay {
            kind: A::KIND.to_owned(),
            way: Way::Cast,
            hops: 0,
            body: body.to_vec(),
        };
        if self.inner.stages.try_hold(name, held).is_ok() {
            return Reached::Done(Ok(()));
        }
        if let Ok(h) = registry::lookup::<A>(name) {
            let sent = postcard::from_bytes(body)
                .map_err(|e| RemoteCallError::Codec {
                    name: name.to_owned(),
                    reason: e.to_string(),
                })
                .and_then(|msg| {
                    h.cast(msg).map_err(|e| RemoteCallError::Unreachable {
                        node: self.name().to_owned(),
                        reason: e.to_string(),
                    })
                });
            return Reached::Done(sent);
        }
        match relay::forwarded(name) {
            Some(to) => Reached::Elsewhere(to),
            None => Reached::NotThere,
        }
    }

    fn cast_there<A: Portable>(&self, node: &str, name: &str, body: &[u8]) -> Reached<()> {
        let req = Request::OneWay {
            name: name.to_owned(),
            kind: A::KIND.to_owned(),
            way: Way::Cast,
            hops: 0,
            body: body.to_vec(),
        };
        let bytes = match wire::encode(&req) {
            Ok(bytes) => bytes,
            Err(reason) => {
                return Reached::Done(Err(RemoteCallError::Codec {
                    name: name.to_owned(),
                    reason,
                }));
            }
        };
        match self.agent_of(node) {
            Some(agent) if agent.send_message(Wire::Cast(bytes)).is_ok() => Reached::Done(Ok(())),
            Some(_) => Reached::NotSent("connection closed".to_owned()),
            None => Reached::NotSent("not connected".to_owned()),
        }
    }
}
