//! What a node keeps of an instance that moved away: a relay while messages
//! may still be addressed to the old instance, and a forwarding note.
//!
//! # The relay
//! Once the source decided go, the old instance's loop passes every message
//! left in its mailbox to the target, in order, behind `Go` on the same
//! connection. When the mailbox is drained, the loop **retires**: its actor
//! stops, the name is freed here, and the relay holds no state of its own
//! (only where the instance went). Handles still held here send through it,
//! by name, straight to that node; a call that finds the instance moved on
//! follows it there (the call was not handled, so this sends it once). The
//! relay lives exactly as long as such handles.
//!
//! # The forwarding note
//! The name is noted here with the node it went to, for a few minutes: a call
//! by name that arrives here is answered "elsewhere" (not handled, so the
//! caller sends it there), and a cast is passed on. Peers are told of the
//! move as it is decided, so their routes rarely need the note.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use parking_lot::Mutex;

use crate::cluster::kind::call_error;
use crate::cluster::node::Node;
use crate::cluster::wire::{self, Local, Request, Response, Way, Wire};
use crate::error::CallError;
use crate::instance::{Body, Relay};
use crate::portable::Portable;
use crate::registry;

mod note;

pub(crate) use note::{forwarded, note_back, note_left};

/// How many nodes a message follows an instance through.
pub(crate) const MAX_HOPS: u8 = 8;

/// Barriers sent by this node's relays, waiting to come back.
static BARRIERS: LazyLock<DashMap<u64, tokio::sync::oneshot::Sender<()>>> =
    LazyLock::new(DashMap::new);
static NEXT_BARRIER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The barrier `token` came back.
pub(crate) fn barrier_passed(token: u64) {
    if let Some((_, done)) = BARRIERS.remove(&token) {
        let _ = done.send(());
    }
}

/// Relays the messages of an instance that moved away; see the
/// [module docs](self).
pub(crate) struct Forwarder<A: Portable>(std::sync::Arc<Route<A>>);

/// What a [`Forwarder`] knows; shared with its barrier's task.
struct Route<A: Portable> {
    node: Node,
    name: String,
    /// Where the instance went; later hops are followed per call.
    to: String,
    /// Retired: the loop is gone and messages go straight out.
    direct: AtomicBool,
    /// Which way messages go; see [`Path`].
    path: Mutex<Path<A>>,
}

/// Which way a relay sends, once the instance may have come back to this
/// node: each change keeps every sender's order (see `Forwarder::relay`).
enum Path<A: Portable> {
    /// To the node it went to, by name.
    Away,
    /// The instance is back here: a barrier went the old way; what comes
    /// meanwhile waits, in order, until it returns.
    Probing(Vec<Body<A>>),
    /// Through this node's agent, behind what the old way brought back.
    ViaAgent,
    /// Straight into the instance, once the agent passed a barrier.
    Here,
}

impl<A: Portable> Forwarder<A> {
    pub(crate) fn new(node: Node, name: String, to: String) -> Self {
        Forwarder(std::sync::Arc::new(Route {
            node,
            name,
            to,
            direct: AtomicBool::new(false),
            path: Mutex::new(Path::Away),
        }))
    }
}

impl<A: Portable> Route<A> {
    /// Sends `body` to `node`'s agent, by name.
    fn send_to(&self, node: &str, body: Body<A>) {
        match body {
            Body::Call(msg, reply) => self.call(node, msg, reply),
            Body::Cast(msg) => self.one_way(node, postcard::to_stdvec(&msg), Way::Cast),
            // None comes here: a move queues its freeze only once every
            // stored durable cast is ahead of it, and refuses later ones
            // (see `durable::CastsHeld`).
            #[cfg(feature = "durable")]
            Body::Durable(msg, _) => self.one_way(node, postcard::to_stdvec(&msg), Way::Cast),
            Body::Info(msg) | Body::Fired(msg, _) => {
                self.one_way(node, postcard::to_stdvec(&msg), Way::Info);
            }
            Body::Wake => {}
            // A job for an instance that left has nothing to run on.
            Body::Run(job) => drop(tokio::spawn(job(None))),
        }
    }

    /// Whether the instance runs on this node again.
    fn back_here(&self) -> bool {
        registry::get(&self.name).is_some_and(|i| i.moved_to().is_none())
    }

    /// Sends a barrier the old way: once it returns, everything sent that
    /// way before it is in this node's agent's mailbox.
    fn probe(self: &std::sync::Arc<Self>) {
        let token = NEXT_BARRIER.fetch_add(1, Ordering::Relaxed);
        let req = Request::Barrier {
            name: self.name.clone(),
            kind: A::KIND.to_owned(),
            from: self.node.name().to_owned(),
            token,
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        BARRIERS.insert(token, tx);
        let sent = match (self.node.agent_of(&self.to), wire::encode(&req)) {
            (Some(agent), Ok(bytes)) => agent.send_message(Wire::Cast(bytes)).is_ok(),
            _ => false,
        };
        let relay = self.clone();
        tokio::spawn(async move {
            if sent {
                // A node lost meanwhile brings nothing back: wait no longer
                // than a step.
                let wait = relay.node.config().step_timeout;
                let lost = relay.node.lost(&relay.to);
                tokio::select! {
                    _ = tokio::time::timeout(wait, rx) => {}
                    () = lost => {}
                }
            }
            BARRIERS.remove(&token);
            relay.switch_to_agent().await;
        });
    }

    async fn switch_to_agent(&self) {
        let here = self.node.name().to_owned();
        {
            let mut path = self.path.lock();
            if let Path::Probing(waiting) = std::mem::replace(&mut *path, Path::ViaAgent) {
                for body in waiting {
                    self.send_to(&here, body);
                }
            }
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Some(agent) = self.node.agent() {
            let _ = agent.send_message(Wire::Local(Local::Barrier {
                name: self.name.clone(),
                done: tx,
            }));
        }
        if rx.await.is_ok() {
            *self.path.lock() = Path::Here;
        }
    }

    fn one_way(&self, to: &str, body: Result<Vec<u8>, postcard::Error>, way: Way) {
        let Ok(body) = body else {
            tracing::error!(name = %self.name, "peeper: could not encode a relayed message");
            return;
        };
        let req = Request::OneWay {
            name: self.name.clone(),
            kind: A::KIND.to_owned(),
            way,
            hops: 1,
            body,
        };
        let sent = match (self.node.agent_of(to), wire::encode(&req)) {
            (Some(agent), Ok(bytes)) => agent.send_message(Wire::Cast(bytes)).is_ok(),
            _ => false,
        };
        if !sent {
            tracing::error!(name = %self.name, node = %to, "peeper: could not relay a message");
        }
    }

    fn call(
        &self,
        to: &str,
        msg: A::Call,
        reply: ractor::RpcReplyPort<Result<A::Reply, CallError>>,
    ) {
        if reply.is_closed() {
            // Its caller gave up while it waited here: it is dropped
            // unhandled, as the instance's own loop would drop it.
            return;
        }
        let name = self.name.clone();
        // The caller's whole timeout: how much of it is left is not known
        // here, so the far end may begin the call up to the time it waited
        // here after its caller gave up.
        let budget = reply
            .get_timeout()
            .unwrap_or(self.node.config().call_timeout);
        let body = match postcard::to_stdvec(&msg) {
            Ok(body) => body,
            Err(e) => {
                let _ = reply.send(Err(CallError::Unreachable {
                    name,
                    reason: format!("could not encode the call: {e}"),
                }));
                return;
            }
        };
        let Some(agent) = self.node.agent_of(to) else {
            let _ = reply.send(Err(CallError::Unreachable {
                name,
                reason: format!("node {to} is not connected"),
            }));
            return;
        };
        // Queued now, in mailbox order; only the wait is spawned.
        let first = send_call::<A>(&agent, &name, &body, budget);
        crate::cluster::fault::point("relay.call");
        let node = self.node.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + budget;
            let mut answer = match first {
                Ok(rx) => wait_reply::<A>(&name, rx, budget).await,
                Err(e) => Err(e),
            };
            for _ in 0..MAX_HOPS {
                let Err(Hop::Elsewhere(to)) = answer else {
                    break;
                };
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                answer = match node.agent_of(&to) {
                    Some(agent) => match send_call::<A>(&agent, &name, &body, left) {
                        Ok(rx) => wait_reply::<A>(&name, rx, left).await,
                        Err(e) => Err(e),
                    },
                    None => Err(Hop::Failed(CallError::Unreachable {
                        name: name.clone(),
                        reason: format!("node {to} is not connected"),
                    })),
                };
            }
            let out = answer.map_err(|hop| match hop {
                Hop::Failed(e) => e,
                Hop::Elsewhere(_) => CallError::Unreachable {
                    name: name.clone(),
                    reason: "the instance kept moving".to_owned(),
                },
            });
            let _ = reply.send(out);
        });
    }
}

/// Why a relayed call did not get its reply at one node.
enum Hop {
    /// Not handled: the instance is there.
    Elsewhere(String),
    Failed(CallError),
}

fn send_call<A: Portable>(
    agent: &ractor::ActorRef<Wire>,
    name: &str,
    body: &[u8],
    budget: Duration,
) -> Result<tokio::sync::oneshot::Receiver<Vec<u8>>, Hop> {
    let unreachable = |reason: String| {
        Hop::Failed(CallError::Unreachable {
            name: name.to_owned(),
            reason,
        })
    };
    let req = Request::Call {
        name: name.to_owned(),
        kind: A::KIND.to_owned(),
        budget_ms: u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
        body: body.to_vec(),
    };
    let bytes = wire::encode(&req).map_err(unreachable)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    agent
        .send_message(Wire::Call(bytes, tx.into()))
        .map_err(|e| unreachable(e.to_string()))?;
    Ok(rx)
}

async fn wait_reply<A: Portable>(
    name: &str,
    rx: tokio::sync::oneshot::Receiver<Vec<u8>>,
    budget: Duration,
) -> Result<A::Reply, Hop> {
    let failed = |e: CallError| Hop::Failed(e);
    let unreachable = |reason: String| {
        failed(CallError::Unreachable {
            name: name.to_owned(),
            reason,
        })
    };
    let bytes = match tokio::time::timeout(budget + Duration::from_millis(250), rx).await {
        Err(_) => {
            return Err(failed(CallError::Timeout {
                name: name.to_owned(),
                timeout: budget,
            }));
        }
        Ok(Err(_)) => return Err(unreachable("connection closed".into())),
        Ok(Ok(bytes)) => bytes,
    };
    match wire::decode::<Response>(&bytes).map_err(unreachable)? {
        Response::Called { reply: Ok(r), .. } => {
            postcard::from_bytes(&r).map_err(|e| unreachable(e.to_string()))
        }
        Response::Called { reply: Err(f), .. } => Err(failed(call_error(name, f))),
        Response::Elsewhere { to } => Err(Hop::Elsewhere(to)),
        other => Err(unreachable(format!("unexpected answer {other:?}"))),
    }
}

impl<A: Portable> Relay<A> for Forwarder<A> {
    fn node(&self) -> &str {
        &self.0.to
    }

    fn relay(&self, body: Body<A>) {
        self.0.relay(body);
    }

    fn is_direct(&self) -> bool {
        self.0.direct.load(Ordering::Acquire)
    }

    fn go_direct(&self) {
        self.0.direct.store(true, Ordering::Release);
    }
}

impl<A: Portable> Route<A> {
    /// Sends `body` on, in order with everything relayed before. While the
    /// instance is away, messages go to the node it went to, which passes
    /// them on. Once it is back here (a held handle, after moves there and
    /// back), a barrier goes the old way; messages wait until it returns,
    /// then go through this node's agent (behind what the old way brought
    /// back), and once the agent has passed a barrier of its own, straight
    /// into the instance: a held handle then costs what a call by name does.
    fn relay(self: &std::sync::Arc<Self>, body: Body<A>) {
        let mut path = self.path.lock();
        match &mut *path {
            Path::Away if self.back_here() && self.node.agent().is_some() => {
                *path = Path::Probing(vec![body]);
                drop(path);
                self.probe();
            }
            Path::Away => {
                drop(path);
                self.send_to(&self.to, body);
            }
            Path::Probing(waiting) => waiting.push(body),
            Path::ViaAgent => {
                drop(path);
                self.send_to(self.node.name(), body);
            }
            Path::Here => {
                drop(path);
                match registry::lookup::<A>(&self.name) {
                    Ok(h) => {
                        if let Err((body, _)) = h.kept().deliver(body) {
                            self.send_to(self.node.name(), body);
                        }
                    }
                    Err(_) => self.send_to(self.node.name(), body),
                }
            }
        }
    }
}
