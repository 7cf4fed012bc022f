//! Peers: the nodes this one is connected to, who they are, whether they are
//! alive, and how a lost one comes back.
//!
//! # What a node can know of a peer
//! - **Alive**: it answered a ping within the heartbeat timeout.
//! - **Gone for certain**: nothing listens any more at the address it
//!   listened on (the connection is refused), or it answers as another
//!   incarnation (a new process, which holds nothing of the old one).
//! - **Silent**: neither. A frozen process, a partition and a runtime that
//!   cannot run its tasks look the same from outside: silence proves nothing,
//!   and nothing that needs certainty is decided on it.
//!
//! # Who owns what
//! `Peers` owns the book of every peer met (its address, incarnation and
//! data port, learnt by a `Hello` exchange on each connection) and the
//! redial of lost peers; the heartbeat that declares a peer lost is in
//! `heartbeat.rs`; `peers/sessions.rs` connects, greets and closes,
//! `peers/heal.rs` tells a peer's fate and dials it again. ractor_cluster owns the
//! connections; a session that closes is reported to the node's agent through
//! its mailbox, behind every request the peer sent before it, so that no
//! clean-up overtakes a request already received (a move's `Go` among them).
//!
//! # Healing
//! A lost peer is dialled again at its listening address, every interval at
//! first and then less often (at most every 5 s), until it answers; the node
//! whose name sorts first dials at once, the other after a few intervals, so
//! that two nodes rarely dial each other at the same moment.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use dashmap::DashMap;
use ractor::{ActorRef, pg};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{NodeEventSubscription, NodeServerMessage};
use tokio::sync::broadcast;

use crate::cluster::node::{NodeConfig, agent_group};
use crate::cluster::wire::Hello;

mod heal;
mod sessions;

/// A session opened or closed, as ractor_cluster reports it.
#[derive(Debug, Clone)]
pub(crate) enum SessionEvent {
    Ready { addr: String, name: String },
    Down { addr: String, name: Option<String> },
}

/// What is known of a peer met once.
#[derive(Debug, Clone)]
pub(crate) struct Known {
    pub(crate) addr: SocketAddr,
    pub(crate) incarnation: u64,
    pub(crate) data_addr: Option<SocketAddr>,
    pub(crate) pulse_addr: Option<SocketAddr>,
    /// Its address refused a connection since it was lost.
    pub(crate) gone: bool,
}

/// What a node can say of a peer it lost; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Connected again, as the same process.
    Back,
    /// Gone for certain.
    Gone,
    /// Silent: nothing certain.
    Silent,
}

/// The peers of one node; see the [module docs](self).
pub(crate) struct Peers {
    me: Hello,
    book: DashMap<String, Known>,
    sessions: broadcast::Sender<SessionEvent>,
    redialing: DashMap<String, ()>,
    /// The longest lateness of this node's own timers since the heartbeat
    /// last looked, in milliseconds.
    pub(crate) lag_ms: Arc<AtomicU64>,
    pub(crate) stopped: Arc<AtomicBool>,
    /// How each peer was last declared lost.
    pub(crate) losses: DashMap<String, crate::cluster::heartbeat::Loss>,
}

/// ractor_cluster names a node `name@host`; peeper uses the name alone.
fn node_name(full: &str) -> String {
    full.split('@').next().unwrap_or(full).to_owned()
}

struct Sessions(broadcast::Sender<SessionEvent>);

impl NodeEventSubscription for Sessions {
    fn node_session_opened(&self, _: NodeServerSessionInformation) {}

    fn node_session_disconnected(&self, ses: NodeServerSessionInformation) {
        let _ = self.0.send(SessionEvent::Down {
            addr: ses.peer_addr,
            name: ses.peer_name.map(|n| node_name(&n.name)),
        });
    }

    fn node_session_authenticated(&self, _: NodeServerSessionInformation) {}

    fn node_session_ready(&self, ses: NodeServerSessionInformation) {
        if let Some(peer) = ses.peer_name {
            let _ = self.0.send(SessionEvent::Ready {
                addr: ses.peer_addr,
                name: node_name(&peer.name),
            });
        }
    }
}

/// Whether `node` is a connected peer: its agent is reachable.
pub(crate) fn is_peer(node: &str) -> bool {
    pg::get_members(&agent_group(node))
        .iter()
        .any(|cell| !cell.get_id().is_local())
}

impl Peers {
    pub(crate) fn new(
        config: &NodeConfig,
        addr: SocketAddr,
        data_addr: Option<SocketAddr>,
        pulse_addr: Option<SocketAddr>,
    ) -> Self {
        let incarnation = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        let lag_ms = Arc::new(AtomicU64::new(0));
        let stopped = Arc::new(AtomicBool::new(false));
        crate::cluster::heartbeat::spawn_lag_monitor(lag_ms.clone(), stopped.clone());
        Peers {
            me: Hello {
                name: config.name.clone(),
                addr: addr.to_string(),
                incarnation,
                data_addr: data_addr.map(|a| a.to_string()),
                pulse_addr: pulse_addr.map(|a| a.to_string()),
                sees_you: false,
            },
            book: DashMap::new(),
            sessions: broadcast::channel(256).0,
            redialing: DashMap::new(),
            lag_ms,
            stopped,
            losses: DashMap::new(),
        }
    }

    /// Subscribes to the sessions of `server`.
    pub(crate) fn subscribe_to(
        &self,
        server: &ActorRef<NodeServerMessage>,
    ) -> Result<(), ractor::MessagingErr<NodeServerMessage>> {
        server.cast(NodeServerMessage::SubscribeToEvents {
            id: "peeper".to_owned(),
            subscription: Box::new(Sessions(self.sessions.clone())),
        })
    }

    pub(crate) fn incarnation(&self) -> u64 {
        self.me.incarnation
    }

    /// Notes who a peer is, from its `Hello`.
    pub(crate) fn met(&self, hello: &Hello) {
        let Ok(addr) = hello.addr.parse() else { return };
        let data_addr = hello.data_addr.as_deref().and_then(|a| a.parse().ok());
        let pulse_addr = hello.pulse_addr.as_deref().and_then(|a| a.parse().ok());
        self.book.insert(
            hello.name.clone(),
            Known {
                addr,
                incarnation: hello.incarnation,
                data_addr,
                pulse_addr,
                gone: false,
            },
        );
    }

    pub(crate) fn known(&self, peer: &str) -> Option<Known> {
        self.book.get(peer).map(|k| k.clone())
    }

    /// Peers met once that are not known to be gone.
    pub(crate) fn lost_peers(&self) -> Vec<String> {
        self.book
            .iter()
            .filter(|k| !k.value().gone)
            .map(|k| k.key().clone())
            .collect()
    }

    fn mark_gone(&self, peer: &str) {
        if let Some(mut known) = self.book.get_mut(peer) {
            known.gone = true;
        }
    }

    /// This node's `Hello`, as an answer to `asker`.
    pub(crate) fn hello_for(&self, asker: &str) -> Hello {
        Hello {
            sees_you: is_peer(asker),
            ..self.me.clone()
        }
    }

    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }
}
