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
//! `heartbeat.rs`. ractor_cluster owns the
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
use std::time::Duration;

use dashmap::DashMap;
use ractor::{ActorRef, pg};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{NodeEventSubscription, NodeServerMessage};
use tokio::sync::broadcast;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::cluster::error::ClusterError;
use crate::cluster::node::{Node, NodeConfig, agent_group};
use crate::cluster::wire::{self, Hello, Local, Request, Response, Wire};

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

impl Node {
    /// Connects to the node listening at `addr` and returns its name once
    /// the handshake is done and its agent is reachable.
    ///
    /// # Errors
    /// [`ClusterError::Connect`] if no TCP connection opens,
    /// [`ClusterError::Refused`] if the peer closes it during the handshake
    /// (a wrong cookie), [`ClusterError::Timeout`] if the handshake does not
    /// finish within [`NodeConfig::connect_timeout`].
    pub async fn connect(&self, addr: SocketAddr) -> Result<String, ClusterError> {
        let peers = &self.inner.peers;
        let mut events = peers.sessions.subscribe();
        let text = addr.to_string();
        let connected = match &self.config().tls {
            None => ractor_cluster::client_connect(&self.inner.server, addr).await,
            Some(tls) => {
                let name = ServerName::try_from(tls.server_name.clone()).map_err(|e| {
                    ClusterError::Connect {
                        addr: text.clone(),
                        reason: format!("server name {:?}: {e}", tls.server_name),
                    }
                })?;
                let connector = tls.connector.clone();
                ractor_cluster::client_connect_enc(&self.inner.server, addr, connector, name).await
            }
        };
        connected.map_err(|e| ClusterError::Connect {
            addr: text.clone(),
            reason: e.to_string(),
        })?;
        let after = self.config().connect_timeout;
        let timeout = || ClusterError::Timeout {
            addr: text.clone(),
            after,
        };
        let handshake = async {
            loop {
                match events.recv().await {
                    Ok(SessionEvent::Ready { addr, name }) if addr == text => return Ok(name),
                    Ok(SessionEvent::Down { addr, .. }) if addr == text => {
                        return Err(ClusterError::Refused { addr });
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return Err(timeout()),
                }
            }
        };
        let name = match tokio::time::timeout(after, handshake).await {
            Ok(outcome) => outcome?,
            Err(_) => {
                // A half-open session to a frozen peer must not linger.
                self.close_sessions(|ses| ses.peer_addr == text, "handshake timeout")
                    .await;
                return Err(timeout());
            }
        };
        // The groups of each side reach the other right after the handshake:
        // wait until this node sees the peer's agent and the peer sees ours,
        // so that either side can call the other as soon as this returns.
        let deadline = tokio::time::Instant::now() + after;
        while !self.greet(&name).await {
            if tokio::time::Instant::now() >= deadline {
                return Err(timeout());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tracing::info!(node = %self.name(), peer = %name, "peeper: connected");
        Ok(name)
    }

    /// Exchanges `Hello`s with `peer`; whether each side sees the other.
    async fn greet(&self, peer: &str) -> bool {
        let Some(agent) = self.agent_of(peer) else {
            return false;
        };
        let req = Request::Hello(self.inner.peers.hello_for(peer));
        match wire::ask(&agent, &req, self.config().call_timeout).await {
            Some(Response::Hello(hello)) if hello.name == peer => {
                self.inner.peers.met(&hello);
                hello.sees_you
            }
            _ => false,
        }
    }

    /// The names of the connected nodes, sorted.
    pub fn peers(&self) -> Vec<String> {
        let prefix = agent_group("");
        let mut peers: Vec<String> = pg::which_groups()
            .into_iter()
            .filter_map(|g| g.strip_prefix(&prefix).map(str::to_owned))
            .filter(|n| n != self.name() && is_peer(n))
            .collect();
        peers.sort();
        peers
    }

    /// The agent of `node`: a peer's, or this node's own.
    pub(crate) fn agent_of(&self, node: &str) -> Option<ActorRef<Wire>> {
        let here = node == self.name();
        pg::get_members(&agent_group(node))
            .into_iter()
            .find(|cell| cell.get_id().is_local() == here)
            .map(ActorRef::from)
    }

    /// Closes every session `which` picks.
    async fn close_sessions(
        &self,
        which: impl Fn(&NodeServerSessionInformation) -> bool,
        why: &str,
    ) {
        let sessions = ractor::call_t!(self.inner.server, NodeServerMessage::GetSessions, 1_000);
        for ses in sessions.into_iter().flat_map(|m| m.into_values()) {
            if which(&ses) {
                ses.actor.stop(Some(why.to_owned()));
            }
        }
    }

    /// Declares `peer` lost and closes its connection.
    pub(crate) async fn disconnect(&self, peer: &str) {
        self.close_sessions(
            |ses| {
                ses.peer_name
                    .as_ref()
                    .is_some_and(|n| node_name(&n.name) == peer)
            },
            "heartbeat timeout",
        )
        .await;
        let _ = self.inner.peers.sessions.send(SessionEvent::Down {
            addr: String::new(),
            name: Some(peer.to_owned()),
        });
    }

    /// Waits until `peer` is declared lost or its connection closes.
    pub(crate) fn lost(
        &self,
        peer: &str,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut events = self.inner.peers.sessions.subscribe();
        let peer = peer.to_owned();
        async move {
            loop {
                match events.recv().await {
                    Ok(SessionEvent::Down { name: Some(n), .. }) if n == peer => return,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            }
        }
    }

    /// What can be said of `peer`, which ran as `incarnation`; see the
    /// [module docs](self).
    pub(crate) async fn fate(&self, peer: &str, incarnation: u64) -> Fate {
        let Some(known) = self.inner.peers.known(peer) else {
            return Fate::Silent;
        };
        if known.incarnation != incarnation {
            return Fate::Gone;
        }
        if is_peer(peer) {
            return Fate::Back;
        }
        let probe = tokio::time::timeout(
            self.config().connect_timeout,
            tokio::net::TcpStream::connect(known.addr),
        )
        .await;
        match probe {
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                self.inner.peers.mark_gone(peer);
                Fate::Gone
            }
            _ => Fate::Silent,
        }
    }

    /// Tells the agent, through its mailbox, of every session that closes,
    /// and dials lost peers again.
    pub(crate) fn watch_sessions(&self) {
        let mut events = self.inner.peers.sessions.subscribe();
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Some(inner) = weak.upgrade() else { return };
                let node = Node { inner };
                if let SessionEvent::Down {
                    name: Some(peer), ..
                } = event
                {
                    if let Some(agent) = node.agent() {
                        // Behind whatever the peer sent before it went.
                        let _ = agent.send_message(Wire::Local(Local::PeerDown(peer.clone())));
                    }
                    node.redial(peer);
                }
            }
        });
    }

    /// Dials `peer` again until it answers or this node stops.
    fn redial(&self, peer: String) {
        let peers = &self.inner.peers;
        if peers.stopped.load(Ordering::Acquire) || peers.redialing.contains_key(&peer) {
            return;
        }
        let Some(known) = peers.known(&peer) else {
            return;
        };
        peers.redialing.insert(peer.clone(), ());
        let weak = Arc::downgrade(&self.inner);
        let interval = self.config().heartbeat_interval;
        let first = if self.name() < peer.as_str() {
            interval
        } else {
            interval * 3
        };
        tokio::spawn(async move {
            let mut wait = first;
            loop {
                tokio::time::sleep(wait).await;
                let Some(inner) = weak.upgrade() else { return };
                let node = Node { inner };
                if node.inner.peers.stopped.load(Ordering::Acquire) {
                    break;
                }
                if is_peer(&peer) {
                    break;
                }
                let addr = node.inner.peers.known(&peer).map_or(known.addr, |k| k.addr);
                match node.connect(addr).await {
                    Ok(_) => {
                        tracing::info!(node = %node.name(), %peer, "peeper: peer back");
                        break;
                    }
                    // Nothing listens there: gone, unless it starts again.
                    Err(ClusterError::Connect { .. }) => node.inner.peers.mark_gone(&peer),
                    Err(_) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(5)).max(interval);
            }
            if let Some(inner) = weak.upgrade() {
                inner.peers.redialing.remove(&peer);
            }
        });
    }
}
