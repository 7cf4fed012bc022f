//! Calls and casts by name across nodes, and the routes they learn.
//!
//! # At most once
//! A call is sent once. It is sent again, to a fresher location, only when
//! the answer proves it was not handled: the node had no such instance
//! (`NotFound`), or said where the instance went (`Elsewhere`), or the
//! request never left (no connection to that node). Any other failure after
//! the request left (a connection closed, a timeout) is returned as it is,
//! because the call may have been handled. A call held back for an arriving
//! instance is in one list, served once.
//!
//! # Deadlines
//! A call carries what is left of the caller's timeout. The serving node
//! drops the call unhandled if the instance has not begun it by then, so a
//! call that timed out for its caller does not take effect later. A call
//! that waits for an instance to arrive waits within that deadline.
//!
//! # Routes
//! Each node remembers, per name, the node where it last found the instance;
//! a node that moves an instance away tells its peers (`Moved`), and a node
//! that lost a peer forgets the routes through it. No node keeps a route to
//! itself: a name found running here, or told to have moved here, drops
//! its route, so that a drain there and back leaves no route per name on
//! the node that runs them. A stale route costs one
//! more round trip, never a second handling.
//!
//! # Finding a name (`routes/locate.rs`)
//! Without a route, a node looks at what it knows itself, then asks every
//! peer `Whereis`. Each node answers with a [`Place`]: `Here` (it runs
//! there), `Arriving` (a move brings it there: requests by name are held
//! until it runs, in the order they came), `Gone(to)` (its relay or its
//! forwarding note names where it went) or `Nowhere`. A `Here` wins; else
//! an arrival, where the call waits; else each `Gone(to)` is followed by
//! asking `to` again, after the answer that named it, hop by hop.
//! `NotFound` comes back only when every peer answered and none of them
//! runs the name, holds it arriving, or sent it to a node that does: as
//! promptly as before, one round of questions. A call that finds "not
//! there" where only a route, a relay, a note or an arrival had sent it
//! looks again, with fresh answers; one sent where a node itself said
//! `Here` has its proof, and returns `NotFound`.
//!
//! # Every window of a move
//! A move of `n` from S to T, in the order things happen (see
//! [`handoff`](crate::cluster::handoff)); a drain is many such moves, and
//! a drain back the same with the roles swapped (T then also holds a
//! forwarding note from the first move, taken off when `n` starts there).
//!
//! | window | S answers | T answers | a caller on S | a caller on T |
//! |---|---|---|---|---|
//! | before `Begin` | `Here` | `Nowhere` (or `Gone(S)` from an earlier move) | runs it, or queues | asks, finds S |
//! | `Begin` to `Commit` (T holds requests for `n`), S running, then frozen | `Here` | `Arriving` | runs it, or queues behind the freeze | asks, finds S |
//! | `Commit` to `Go` (the name reserved at T, not resolving) | `Here` | `Arriving` | queues | asks, finds S; if S is silent, waits at T until the move ends |
//! | T started it, S not yet told | `Here` | `Here` | queues; relayed after | runs it at T |
//! | S's relay set, its queue relayed (the name still S's) | `Gone(T)` | `Here` | sent to T, held there behind the relay | runs it |
//! | the relay retired, the name freed at S | `Gone(T)` (the note) | `Here` | sent to T | runs it |
//! | T's hold released (`Drained`) | `Gone(T)` | `Here` | sent to T | runs it |
//!
//! A caller whose look at its own node came before a change and whose
//! question to a peer came after it (T looked before it started the
//! instance, S answered after its relay was set) gets `Gone(T)` from S and
//! asks again where it stands, now `Here`: S names T only once T answered
//! `Go`, so no pair of answers says `Nowhere` twice while a node has `n`.
//! A move that fails before `Go` leaves `n` at S, which answers `Here`
//! throughout; calls held at T are then served there, find nothing, and
//! their callers look again (casts held there are dropped, with a warning).
//! Casts by name (`Node::cast`) follow the same answers; on the node `n`
//! arrives at they join the held requests until its move ends, so that
//! they come behind what S relays.

use std::time::Duration;

use dashmap::DashMap;
use ractor::rpc::CallResult;

use crate::cluster::error::RemoteCallError;
use crate::cluster::handoff::{Held, relay};
use crate::cluster::kind::call_error;
use crate::cluster::node::Node;
#[cfg(doc)]
use crate::cluster::wire::Place;
use crate::cluster::wire::{self, Failure, Request, Response, Wire};
use crate::error::{CallError, LookupError};
use crate::portable::Portable;
use crate::registry;

mod cast;
mod locate;

use locate::Located;

/// How many times a call follows an instance that keeps moving.
const MAX_HOPS: usize = 8;

/// How much longer than its budget a call's caller waits for the answer,
/// so that the serving node's own verdict (a timeout there) comes back.
const REPLY_GRACE: Duration = Duration::from_millis(250);

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

    /// `name` left `from` for `to`; `here` is this node, to which no route
    /// is kept (its registry answers for what runs here).
    pub(crate) fn moved(&self, name: &str, from: &str, to: &str, here: &str) {
        if to == here {
            self.map.remove_if(name, |_, route| route == from);
        } else if let Some(mut route) = self.map.get_mut(name)
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

/// What a call or cast does after one node: `Ok` to try `next` (or look
/// again if `None`), `Err` to end with that error.
fn after<T>(
    name: &str,
    at: Located,
    reached: Reached<T>,
    fresh: &mut bool,
) -> Result<Option<String>, Result<T, RemoteCallError>> {
    match reached {
        Reached::Done(out) => Err(out),
        Reached::Elsewhere(to) => Ok(Some(to)),
        // Only a route, a relay, a note or an arrival sent it there: they
        // may be stale, a fresh look says where it is.
        Reached::NotThere if !at.sure => {
            *fresh = true;
            Ok(None)
        }
        Reached::NotThere => Err(Err(LookupError::NotFound { name: name.into() }.into())),
        Reached::NotSent(_) if !*fresh => {
            *fresh = true;
            Ok(None)
        }
        Reached::NotSent(reason) => Err(Err(RemoteCallError::Unreachable {
            node: at.node,
            reason,
        })),
    }
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
    /// not begun it when `timeout` ends, it never will. An instance that is
    /// moving is reached where it is, or waited for where it arrives.
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
            let at = match next.take() {
                Some(node) => Located::hint(node),
                None => self.locate(name, fresh).await?,
            };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let reached = if at.node == self.name() {
                self.call_here::<A>(name, &body, left).await
            } else {
                self.call_there::<A>(&at.node, name, body.clone(), left)
                    .await
            };
            if matches!(reached, Reached::NotThere | Reached::NotSent(_)) {
                self.inner.routes.forget(name);
            }
            if let Reached::Elsewhere(to) = &reached {
                self.inner.routes.set(name, to);
            }
            match after(name, at, reached, &mut fresh) {
                Ok(then) => next = then,
                Err(out) => return out,
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
        // Twice: a hold that ends between the lookup and the hold lets the
        // instance in first.
        for _ in 0..2 {
            if let Ok(handle) = registry::lookup::<A>(name) {
                return self.call_handle(&handle, name, body, left).await;
            }
            if let Some(to) = relay::forwarded(name) {
                return Reached::Elsewhere(to);
            }
            if let Some(reached) = self.call_arriving::<A>(name, body, left).await {
                return reached;
            }
        }
        Reached::NotThere
    }

    async fn call_handle<A: Portable>(
        &self,
        handle: &crate::Handle<A>,
        name: &str,
        body: &[u8],
        left: Duration,
    ) -> Reached<A::Reply> {
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

    /// A call to an instance arriving here: held with what other nodes sent
    /// for it, served when its move ends, within `left`. `None` if nothing
    /// arrives here under `name`.
    async fn call_arriving<A: Portable>(
        &self,
        name: &str,
        body: &[u8],
        left: Duration,
    ) -> Option<Reached<A::Reply>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let held = Held::Call {
            kind: A::KIND.to_owned(),
            budget_ms: u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
            body: body.to_vec(),
            reply: Some(tx.into()),
            since: std::time::Instant::now(),
        };
        self.inner.stages.try_hold(name, held).ok()?;
        // The held call's own deadline ends first: its verdict comes back.
        let reached = match tokio::time::timeout(left + REPLY_GRACE, rx).await {
            Ok(Ok(bytes)) => self.reached::<A>(self.name(), name, &bytes),
            Ok(Err(_)) => Reached::Done(Err(RemoteCallError::Unreachable {
                node: self.name().to_owned(),
                reason: "the node stopped".to_owned(),
            })),
            Err(_) => Reached::Done(Err(CallError::Timeout {
                name: name.to_owned(),
                timeout: left,
            }
            .into())),
        };
        Some(reached)
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
        let wait = left + REPLY_GRACE;
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
        self.reached::<A>(node, name, &reply)
    }

    /// What a node's answer to a call to `name`, sent to `node`, says.
    fn reached<A: Portable>(&self, node: &str, name: &str, reply: &[u8]) -> Reached<A::Reply> {
        let codec = |reason: String| RemoteCallError::Codec {
            name: name.to_owned(),
            reason,
        };
        match wire::decode::<Response>(reply) {
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
}
