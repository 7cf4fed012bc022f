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
//! # A handle held across moves
//! Once the instance is back on this node, the first message a held handle
//! sends through the relay starts a probe: a barrier goes the old way (to
//! the node the instance went to, which passes it behind what it relays
//! back), then, when it returned, one through this node's agent (behind
//! what the old way brought back, or held there for an arrival). Messages
//! sent meanwhile wait here, in order; when both barriers returned, they go
//! into the instance that runs here, under the lock later messages wait
//! for, and from then on the relay passes everything straight to it, and
//! handles to the old instance reach it directly (`Kept::moved_back`), as a
//! fresh lookup would: a call to it while idle runs on its caller. So that
//! handle pays one slow call, then what a call by name costs.
//!
//! Windows: the node it went to killed or frozen while the first barrier is
//! out: the probe waits until that node is lost or a step timeout passed
//! (what that node still held is lost with it, as before), and calls that
//! waited meanwhile past their caller's timeout are dropped unhandled. The
//! instance moved away again before the barriers returned: the waiting
//! messages go into it all the same, and its own relay passes them on; if
//! its name is already free, by name through this node's agent, which
//! passes them on by its forwarding note, and the relay stays on that way.
//! An instance reached this way that moves away and back again: a handle
//! goes through both relays until the newer one settled, then straight to
//! the newest (the older relay keeps that one instead, so a chain of
//! relays does not grow with the moves). The instance stops for good: a
//! handle's calls get `Stopped`, as a fresh handle's would.
//!
//! # The forwarding note
//! The name is noted here with the node it went to, for a few minutes: a call
//! by name that arrives here is answered "elsewhere" (not handled, so the
//! caller sends it there), and a cast is passed on. Peers are told of the
//! move as it is decided, so their routes rarely need the note.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use dashmap::DashMap;
use parking_lot::Mutex;

use crate::cluster::node::Node;
use crate::cluster::wire::{self, Local, Request, Way, Wire};
use crate::instance::{Body, Kept, Relay};
use crate::portable::Portable;
use crate::registry;

mod call;
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
/// node: each change keeps every sender's order (see `Route::relay`).
enum Path<A: Portable> {
    /// To the node it went to, by name.
    Away,
    /// The instance is back here: a barrier went the old way, then one
    /// through this node's agent; what comes meanwhile waits, in order,
    /// until both returned.
    Probing(Vec<Body<A>>),
    /// Gone again when they returned: by name, through this node's agent.
    ViaAgent,
    /// Straight into the instance that was back here when the barriers
    /// returned (whose own relay takes over if it left again).
    Here(Arc<Kept<A>>),
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
            // What the old way brought back is in this node's agent's
            // mailbox, or held there for an arrival: behind it.
            let (tx, rx) = tokio::sync::oneshot::channel();
            if let Some(agent) = relay.node.agent() {
                let _ = agent.send_message(Wire::Local(Local::Barrier {
                    name: relay.name.clone(),
                    done: tx,
                }));
            }
            let _ = rx.await;
            relay.settle();
        });
    }

    /// Both barriers returned: what waited goes into the instance here, and
    /// from now on everything does, straight. The waiting messages are
    /// passed on under the lock that new ones wait for, so none overtakes
    /// them; nothing went through the agent since the barrier did.
    fn settle(&self) {
        let mut path = self.path.lock();
        let Path::Probing(waiting) = std::mem::replace(&mut *path, Path::ViaAgent) else {
            return;
        };
        match registry::lookup::<A>(&self.name) {
            Ok(h) => {
                let kept = h.kept().clone();
                for body in waiting {
                    self.pass_to(&kept, body);
                }
                *path = Path::Here(kept);
            }
            Err(_) => {
                for body in waiting {
                    self.send_to(self.node.name(), body);
                }
            }
        }
    }

    /// Queues `body` in `kept`, which ran here when the barriers returned;
    /// if it stopped for good since, by name through this node's agent.
    fn pass_to(&self, kept: &Kept<A>, body: Body<A>) {
        if let Err((body, _)) = kept.pass_on(body) {
            self.send_to(self.node.name(), body);
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

    fn here(&self) -> Option<Arc<Kept<A>>> {
        let mut path = self.0.path.lock();
        let Path::Here(kept) = &mut *path else {
            return None;
        };
        if kept.relay.get().is_none() {
            return Some(kept.clone());
        }
        // It left again and came back: its relay passed everything it got
        // from here into the one back now, so this one may too. Keeping
        // that one shortens the chain a handle held over many moves
        // follows (the lock order is older relay first: none points back).
        let next = kept.moved_back()?;
        *kept = next.clone();
        Some(next)
    }
}

impl<A: Portable> Route<A> {
    /// Sends `body` on, in order with everything relayed before. While the
    /// instance is away, messages go to the node it went to, which passes
    /// them on. Once it is back here (a held handle, after moves there and
    /// back), a barrier goes the old way and, when it returns, one through
    /// this node's agent (behind what the old way brought back); messages
    /// wait until both returned, then go straight into the instance, and
    /// handles to the one that left reach it directly (`Kept::moved_back`):
    /// a held handle then costs what a call by name does.
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
            Path::Here(kept) => {
                let kept = kept.clone();
                drop(path);
                self.pass_to(&kept, body);
            }
        }
    }
}
