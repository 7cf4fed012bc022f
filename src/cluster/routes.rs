//! Calls and casts by name across nodes, and the routes they learn.
//!
//! # At most once
//! A call is sent once. It is sent again, to a fresher location, only when
//! the answer proves it was not handled: the node had no such instance
//! (`NotFound`), or said where the instance went (`Elsewhere`), or the
//! request never left (no connection to that node). Any other failure after
//! the request left (a connection closed, a timeout) is returned as it is,
//! because the call may have been handled.
//!
//! # Deadlines
//! A call carries what is left of the caller's timeout. The serving node
//! drops the call unhandled if the instance has not begun it by then, so a
//! call that timed out for its caller does not take effect later.
//!
//! # Routes
//! Each node remembers, per name, the node where it last found the instance;
//! a node that moves an instance away tells its peers (`Moved`), and a node
//! that lost a peer forgets the routes through it. A stale route costs one
//! more round trip, never a second handling.

use std::time::Duration;

use dashmap::DashMap;
use ractor::rpc::CallResult;

use crate::cluster::error::RemoteCallError;
use crate::cluster::handoff::relay;
use crate::cluster::kind::call_error;
use crate::cluster::node::Node;
use crate::cluster::peers::is_peer;
use crate::cluster::wire::{self, Failure, Request, Response, Way, Wire};
use crate::error::{CallError, LookupError};
use crate::portable::Portable;
use crate::registry;

/// How many times a call follows an instance that keeps moving.
const MAX_HOPS: usize = 8;

/// Where each name was last found: a node name.
#[derive(Default)]
pub(crate) struct Routes {
    map: DashMap<String, String>,
}

impl Routes {
    pub(crate) fn set(&self, name: &str, node: &str) {
        self.map.insert(name.to_owned(), node.to_owned());
    }

    fn get(&self, name: &str) -> Option<String> {
        self.map.get(name).map(|n| n.clone())
    }

    fn forget(&self, name: &str) {
        self.map.remove(name);
    }

    /// Forgets every route through `node`.
    pub(crate) fn forget_node(&self, node: &str) {
        self.map.retain(|_, n| n != node);
    }

    /// `name` left `from` for `to`.
    pub(crate) fn moved(&self, name: &str, from: &str, to: &str) {
        if let Some(mut route) = self.map.get_mut(name)
            && *route == from
        {
            *route = to.to_owned();
        }
    }
}

/// What became of a request sent to one node.
enum Reached<T> {
    /// It was answered, or may have been handled: the end of the call.
    Done(Result<T, RemoteCallError>),
    /// Not handled there: the instance is elsewhere, or the node has none.
    Elsewhere(String),
    NotThere,
    /// It never left.
    NotSent(String),
}

impl Node {
    /// Calls the instance `name` of kind `A`, wherever it runs, within
    /// [`NodeConfig::call_timeout`](crate::cluster::NodeConfig::call_timeout).
    ///
    /// # Errors
    /// As [`Node::call_timeout`].
    pub async fn call<A: Portable>(
        &self,
        name: &str,
        msg: A::Call,
    ) -> Result<A::Reply, RemoteCallError> {
        self.call_timeout::<A>(name, msg, self.config().call_timeout)
            .await
    }

    /// Calls the instance `name` of kind `A`, wherever it runs, waiting at
    /// most `timeout`. The call is handled at most once; if the instance has
    /// not begun it when `timeout` ends, it never will.
    ///
    /// # Errors
    /// [`RemoteCallError::Lookup`] if no node runs it and every peer
    /// answered; [`RemoteCallError::Unreachable`] if a node that runs it, or
    /// may run it, cannot be reached (then the call may or may not have been
    /// handled if it had left), and the instance's own
    /// [`CallError`]s.
    pub async fn call_timeout<A: Portable>(
        &self,
        name: &str,
        msg: A::Call,
        timeout: Duration,
    ) -> Result<A::Reply, RemoteCallError> {
        let codec = |reason: String| RemoteCallError::Codec {
            name: name.to_owned(),
            reason,
        };
        let body = postcard::to_stdvec(&msg).map_err(|e| codec(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut fresh = false;
        let mut next = None;
        for _ in 0..MAX_HOPS {
            let node = match next.take() {
                Some(node) => node,
                None => self.locate(name, fresh).await?,
            };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let reached = if node == self.name() {
                self.call_here::<A>(name, &body, left).await
            } else {
                self.call_there::<A>(&node, name, body.clone(), left).await
            };
            match reached {
                Reached::Done(out) => return out,
                Reached::Elsewhere(to) => {
                    self.inner.routes.set(name, &to);
                    next = Some(to);
                }
                Reached::NotThere | Reached::NotSent(_) if !fresh => {
                    self.inner.routes.forget(name);
                    fresh = true;
                }
                Reached::NotThere => return Err(LookupError::NotFound { name: name.into() }.into()),
                Reached::NotSent(reason) => {
                    return Err(RemoteCallError::Unreachable { node, reason });
                }
            }
        }
        Err(RemoteCallError::Unreachable {
            node: self.name().to_owned(),
            reason: format!("{name:?} moved more than {MAX_HOPS} times during the call"),
        })
    }

    async fn call_here<A: Portable>(
        &self,
        name: &str,
        body: &[u8],
        left: Duration,
    ) -> Reached<A::Reply> {
        let Ok(handle) = registry::lookup::<A>(name) else {
            return match relay::forwarded(name) {
                Some(to) => Reached::Elsewhere(to),
                None => Reached::NotThere,
            };
        };
        let msg = match postcard::from_bytes(body) {
            Ok(msg) => msg,
            Err(e) => {
                return Reached::Done(Err(RemoteCallError::Codec {
                    name: name.to_owned(),
                    reason: e.to_string(),
                }));
            }
        };
        let reply = handle.call_timeout(msg, left).await;
        if let Some(to) = crate::instance::AnyInstance::moved_to(&**handle.kept()) {
            self.inner.routes.set(name, &to);
        }
        Reached::Done(reply.map_err(RemoteCallError::from))
    }

    async fn call_there<A: Portable>(
        &self,
        node: &str,
        name: &str,
        body: Vec<u8>,
        left: Duration,
    ) -> Reached<A::Reply> {
        let unreachable = |reason: String| RemoteCallError::Unreachable {
            node: node.to_owned(),
            reason,
        };
        let codec = |reason: String| RemoteCallError::Codec {
            name: name.to_owned(),
            reason,
        };
        let Some(agent) = self.agent_of(node) else {
            return Reached::NotSent("not connected".to_owned());
        };
        let req = Request::Call {
            name: name.to_owned(),
            kind: A::KIND.to_owned(),
            budget_ms: u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
            body,
        };
        let bytes = match wire::encode(&req) {
            Ok(bytes) => bytes,
            Err(e) => return Reached::Done(Err(codec(e))),
        };
        // A little longer than the budget, so that the serving node's own
        // verdict (a timeout there) is what comes back.
        let wait = left + Duration::from_millis(250);
        let reply = match agent.call(|port| Wire::Call(bytes, port), Some(wait)).await {
            Ok(CallResult::Success(reply)) => reply,
            Ok(CallResult::Timeout) => {
                return Reached::Done(Err(CallError::Timeout {
                    name: name.to_owned(),
                    timeout: left,
                }
                .into()));
            }
            Ok(CallResult::SenderError) => {
                return Reached::Done(Err(unreachable("connection closed".into())));
            }
            // Refused by the local session before it left.
            Err(e) => return Reached::NotSent(e.to_string()),
        };
        match wire::decode::<Response>(&reply) {
            Err(e) => Reached::Done(Err(codec(e))),
            Ok(Response::Elsewhere { to }) => Reached::Elsewhere(to),
            Ok(Response::Called { reply, at }) => {
                if at != node {
                    self.inner.routes.set(name, &at);
                }
                match reply {
                    Ok(bytes) => Reached::Done(
                        postcard::from_bytes(&bytes).map_err(|e| codec(e.to_string())),
                    ),
                    Err(Failure::NotFound) => Reached::NotThere,
                    Err(Failure::WrongKind) => Reached::Done(Err(LookupError::WrongType {
                        name: name.to_owned(),
                        actual: "another kind",
                    }
                    .into())),
                    Err(f) => Reached::Done(Err(RemoteCallError::Call(call_error(name, f)))),
                }
            }
            Ok(other) => Reached::Done(Err(codec(format!("unexpected answer {other:?}")))),
        }
    }

    /// Casts to the instance `name` of kind `A`, wherever it runs. Casts
    /// from one node keep their order as long as the route does not change;
    /// a node that the instance left passes casts on to where it went.
    ///
    /// # Errors
    /// As [`Node::call`], for finding the instance.
    pub async fn cast<A: Portable>(&self, name: &str, msg: A::Cast) -> Result<(), RemoteCallError> {
        let codec = |reason: String| RemoteCallError::Codec {
            name: name.to_owned(),
            reason,
        };
        let body = postcard::to_stdvec(&msg).map_err(|e| codec(e.to_string()))?;
        for fresh in [false, true] {
            let node = self.locate(name, fresh).await?;
            if node == self.name() {
                if let Ok(h) = registry::lookup::<A>(name) {
                    let msg = postcard::from_bytes(&body).map_err(|e| codec(e.to_string()))?;
                    return h.cast(msg).map_err(|e| RemoteCallError::Unreachable {
                        node,
                        reason: e.to_string(),
                    });
                }
                self.inner.routes.forget(name);
                continue;
            }
            let req = Request::OneWay {
                name: name.to_owned(),
                kind: A::KIND.to_owned(),
                way: Way::Cast,
                hops: 0,
                body: body.clone(),
            };
            let bytes = wire::encode(&req).map_err(codec)?;
            match self.agent_of(&node) {
                Some(agent) if agent.send_message(Wire::Cast(bytes)).is_ok() => return Ok(()),
                _ => self.inner.routes.forget(name),
            }
        }
        Err(LookupError::NotFound { name: name.into() }.into())
    }

    /// The node that runs `name`: the cached route, this node, where it went
    /// from here, or the peer that says it runs it.
    async fn locate(&self, name: &str, fresh: bool) -> Result<String, RemoteCallError> {
        if !fresh && let Some(node) = self.inner.routes.get(name) {
            return Ok(node);
        }
        if let Some(instance) = registry::get(name) {
            let node = instance
                .moved_to()
                .unwrap_or_else(|| self.name().to_owned());
            self.inner.routes.set(name, &node);
            return Ok(node);
        }
        if let Some(to) = relay::forwarded(name) {
            self.inner.routes.set(name, &to);
            return Ok(to);
        }
        let peers = self.peers();
        let asks = peers.iter().map(|peer| self.ask_whereis(peer, name));
        let answers = futures::future::join_all(asks).await;
        let mut silent = Vec::new();
        for (peer, answer) in peers.iter().zip(answers) {
            match answer {
                Some(true) => {
                    self.inner.routes.set(name, peer);
                    return Ok(peer.clone());
                }
                Some(false) => {}
                None => silent.push(peer.clone()),
            }
        }
        // Peers met before and lost since may run it: say so rather than
        // "no such instance".
        silent.extend(
            self.inner
                .peers
                .lost_peers()
                .into_iter()
                .filter(|p| !is_peer(p)),
        );
        if silent.is_empty() {
            Err(LookupError::NotFound { name: name.into() }.into())
        } else {
            Err(RemoteCallError::Unreachable {
                node: silent.join(","),
                reason: format!("no connected node runs {name:?}, and these did not answer"),
            })
        }
    }

    /// Whether `peer` runs `name`; `None` if it did not answer.
    async fn ask_whereis(&self, peer: &str, name: &str) -> Option<bool> {
        let agent = self.agent_of(peer)?;
        let req = Request::Whereis {
            name: name.to_owned(),
        };
        match wire::ask(&agent, &req, self.config().call_timeout).await {
            Some(Response::Here(here)) => Some(here),
            _ => None,
        }
    }
}
