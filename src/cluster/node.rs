//! A node: this process's place in a cluster of peeper processes.
//!
//! A [`Node`] runs a ractor_cluster node server (TCP, cookie
//! authentication) and one agent actor that other nodes reach through a
//! ractor `pg` group named after the node. Agents answer each other's
//! requests: where an instance runs, calls and casts to it, and the steps of
//! a move (see [`crate::cluster::handoff`]).
//!
//! Names stay node-local, as in ractor: [`Node::call`] finds an instance on
//! any connected node, remembers where it found it, and follows it when a
//! reply says it has moved.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use parking_lot::Mutex;
use ractor::rpc::CallResult;
use ractor::{ActorRef, pg};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{
    IncomingEncryptionMode, NodeEventSubscription, NodeServer, NodeServerMessage,
};
use tokio::sync::broadcast;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::cluster::agent::Agent;
use crate::cluster::error::{ClusterError, MoveError, RemoteCallError};
use crate::cluster::handoff;
use crate::cluster::kind::{AnyKind, Kind, Staging, call_error};
use crate::cluster::portable::Portable;
use crate::cluster::wire::{self, MoveKey, Request, Response, Wire};
use crate::error::LookupError;
use crate::registry;
use crate::supervisor::Supervisor;

/// How to start a [`Node`].
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's name, unique in the cluster.
    pub name: String,
    /// The address to listen on. Default: 127.0.0.1.
    pub listen: IpAddr,
    /// The port to listen on; 0 picks a free one. Default: 0.
    pub port: u16,
    /// The shared secret every node of the cluster must have.
    pub cookie: String,
    /// How long [`Node::connect`] waits for the handshake. Default: 5 s.
    pub connect_timeout: Duration,
    /// How long one step of a move may wait for the target. Default: 30 s.
    pub step_timeout: Duration,
    /// How long a call across nodes waits for its reply. Default: 5 s.
    pub call_timeout: Duration,
    /// How often the node pings each peer. Default: 1 s.
    pub heartbeat_interval: Duration,
    /// A peer that does not answer a ping within this time is declared lost
    /// and its connection closed, even if its socket stays open (a frozen
    /// process, a silent network). Default: 10 s. A node whose own runtime is
    /// saturated answers late too: too short a timeout declares healthy but
    /// busy peers lost, and what is relayed to them fails.
    pub heartbeat_timeout: Duration,
    /// Encrypts every connection with ractor_cluster's TLS. Default: none.
    /// Every node of a cluster must use it, or none.
    pub tls: Option<Tls>,
}

/// TLS for a node's connections: how it accepts, how it connects, and the
/// name its peers' certificates must carry. Build the acceptor and the
/// connector with rustls, through [`crate::cluster::tokio_rustls`].
#[derive(Clone)]
pub struct Tls {
    /// Accepts incoming connections.
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// Opens outgoing connections.
    pub connector: tokio_rustls::TlsConnector,
    /// The server name checked against a peer's certificate.
    pub server_name: String,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl NodeConfig {
    /// A configuration with the defaults above.
    pub fn new(name: impl Into<String>, cookie: impl Into<String>) -> Self {
        NodeConfig {
            name: name.into(),
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            cookie: cookie.into(),
            connect_timeout: Duration::from_secs(5),
            step_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(10),
            tls: None,
        }
    }
}

/// Where a move stands, as reported to [`Node::subscribe_moves`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MovePhase {
    /// Table rows are streaming while the instance keeps running.
    Tables,
    /// Rows written during that copy are streaming, the instance still
    /// running.
    Changes,
    /// The instance is frozen; rows written during the copy are streaming.
    CatchUp,
    /// The state and dictionary are streaming.
    Snapshot,
    /// The target took over.
    Committed,
    /// The move failed; the instance runs on at the source.
    Aborted,
}

/// Progress of one move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveProgress {
    /// The instance moving.
    pub name: String,
    /// The node it moves to.
    pub to_node: String,
    /// Where the move stands.
    pub phase: MovePhase,
    /// Table rows sent so far.
    pub rows_done: u64,
    /// Table rows to send in all.
    pub rows_total: u64,
    /// Encoded bytes sent so far.
    pub bytes_done: u64,
}

/// What a finished move did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveReport {
    /// The instance moved.
    pub name: String,
    /// The node it moved to.
    pub to_node: String,
    /// Table rows copied while the instance ran.
    pub rows: u64,
    /// Rows sent again because they were written during the copy.
    pub rows_resent: u64,
    /// Encoded bytes sent (tables and snapshot).
    pub bytes: u64,
    /// How long the instance handled no message: from the freeze to the
    /// hand-over. It does not grow with the tables, only with what was
    /// written to them during the copy and with the state.
    pub frozen_for: Duration,
    /// How long the whole move took.
    pub took: Duration,
    /// Whether the target confirmed that the instance runs there. `false`
    /// only if the target was lost right after it got ready: the instance
    /// then belongs to the target (the source never handles it again), and
    /// calls fail with an `Unreachable` error until the target is back.
    pub confirmed: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum SessionEvent {
    Ready { addr: String, name: String },
    Down { addr: String, name: Option<String> },
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

impl NodeInner {
    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }
}

pub(crate) struct NodeInner {
    config: NodeConfig,
    addr: SocketAddr,
    server: ActorRef<NodeServerMessage>,
    agent: OnceLock<ActorRef<Wire>>,
    sessions: broadcast::Sender<SessionEvent>,
    moves: broadcast::Sender<MoveProgress>,
    drains: broadcast::Sender<crate::cluster::drain::DrainProgress>,
    pub(crate) kinds: DashMap<String, Arc<dyn AnyKind>>,
    /// Where each name was last found: a node name.
    routes: DashMap<String, String>,
    /// Moves being received, by move.
    pub(crate) stagings: Mutex<std::collections::HashMap<MoveKey, Box<dyn Staging>>>,
}

/// A peeper node; cheap to clone.
///
/// ```no_run
/// use peeper::cluster::{Node, NodeConfig};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let a = Node::start(NodeConfig::new("a", "secret")).await?;
/// let b = Node::start(NodeConfig::new("b", "secret")).await?;
/// assert_eq!(a.connect(b.addr()).await?, "b");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.inner.config.name)
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

/// Whether `node` is a connected peer: its agent is reachable.
pub(crate) fn is_peer(node: &str) -> bool {
    pg::get_members(&agent_group(node))
        .iter()
        .any(|cell| !cell.get_id().is_local())
}

pub(crate) fn agent_group(node: &str) -> String {
    format!("peeper.agent.{node}")
}

/// The group of a node's heartbeat responder: an agent of its own, so that
/// pings are not held up behind a busy agent's work.
fn ping_group(node: &str) -> String {
    format!("peeper.ping.{node}")
}

impl Node {
    /// Starts a node: its server listens at once.
    ///
    /// # Errors
    /// [`ClusterError::Start`] if the port cannot be bound or the server or
    /// agent cannot start.
    pub async fn start(config: NodeConfig) -> Result<Node, ClusterError> {
        let name = config.name.clone();
        let fail = |reason: String| ClusterError::Start {
            node: name.clone(),
            reason,
        };
        if name.is_empty() || name.contains('@') {
            return Err(fail("a node name must be non-empty and without '@'".into()));
        }
        let port = if config.port == 0 {
            // ractor_cluster does not report the port it picked; take one the
            // OS says is free.
            let probe = TcpListener::bind((config.listen, 0)).map_err(|e| fail(e.to_string()))?;
            probe.local_addr().map_err(|e| fail(e.to_string()))?.port()
        } else {
            config.port
        };
        let addr = SocketAddr::new(config.listen, port);
        let encryption = config
            .tls
            .as_ref()
            .map(|tls| IncomingEncryptionMode::Tls(tls.acceptor.clone()));
        let server = NodeServer::new(
            port,
            config.cookie.clone(),
            config.name.clone(),
            config.listen.to_string(),
            encryption,
            None,
        )
        .with_listen_addr(config.listen)
        .with_max_inbound_frame_size(wire::MAX_MESSAGE as u64 + 1024 * 1024);
        let (server, _) = ractor::Actor::spawn(None, server, ())
            .await
            .map_err(|e| fail(e.to_string()))?;
        let (sessions, _) = broadcast::channel(256);
        server
            .cast(NodeServerMessage::SubscribeToEvents {
                id: "peeper".to_owned(),
                subscription: Box::new(Sessions(sessions.clone())),
            })
            .map_err(|e| fail(e.to_string()))?;
        let inner = Arc::new(NodeInner {
            config,
            addr,
            server,
            agent: OnceLock::new(),
            sessions,
            moves: broadcast::channel(1024).0,
            drains: broadcast::channel(1024).0,
            kinds: DashMap::new(),
            routes: DashMap::new(),
            stagings: Mutex::new(std::collections::HashMap::new()),
        });
        let (agent, _) = ractor::Actor::spawn(None, Agent, Arc::downgrade(&inner))
            .await
            .map_err(|e| fail(e.to_string()))?;
        pg::join(agent_group(&inner.config.name), vec![agent.get_cell()]);
        let _ = inner.agent.set(agent);
        let (pinger, _) = ractor::Actor::spawn(None, Agent, Arc::downgrade(&inner))
            .await
            .map_err(|e| fail(e.to_string()))?;
        pg::join(ping_group(&inner.config.name), vec![pinger.get_cell()]);
        let node = Node { inner };
        node.drop_stagings_of_lost_peers();
        node.watch_peers(pinger);
        tracing::info!(node = %node.name(), %addr, "peeper: node started");
        Ok(node)
    }

    /// A move being received from a node that goes away is dropped.
    fn drop_stagings_of_lost_peers(&self) {
        let mut events = self.inner.sessions.subscribe();
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Some(inner) = weak.upgrade() else { return };
                if let SessionEvent::Down {
                    name: Some(peer), ..
                } = event
                {
                    inner.stagings.lock().retain(|_, s| s.sender() != peer);
                    inner.routes.retain(|_, node| *node != peer);
                }
            }
        });
    }

    /// Pings every peer each interval; closes the connection to one that
    /// stays silent longer than the heartbeat timeout. ractor_cluster only
    /// logs late pongs, so without this a frozen peer would hold moves and
    /// calls until their own timeouts.
    fn watch_peers(&self, pinger: ActorRef<Wire>) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut last_seen: std::collections::HashMap<String, tokio::time::Instant> =
                std::collections::HashMap::new();
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let node = Node { inner };
                let interval = node.inner.config.heartbeat_interval;
                let limit = node.inner.config.heartbeat_timeout;
                if pinger.get_status() != ractor::ActorStatus::Running {
                    return;
                }
                let peers = node.peers();
                last_seen.retain(|p, _| peers.contains(p));
                let pings = peers
                    .iter()
                    .map(|peer| node.ping(peer, interval.max(limit)));
                let answers = futures::future::join_all(pings).await;
                let now = tokio::time::Instant::now();
                for (peer, alive) in peers.into_iter().zip(answers) {
                    let seen = *last_seen.entry(peer.clone()).or_insert(now);
                    if alive {
                        last_seen.insert(peer, now);
                    } else if now.duration_since(seen) >= limit {
                        tracing::warn!(node = %node.name(), %peer, "peeper: peer silent, disconnecting");
                        node.disconnect(&peer).await;
                        last_seen.remove(&peer);
                    }
                }
                drop(node);
                tokio::time::sleep(interval).await;
            }
        });
    }

    /// The round trip of one ping to `peer` (a plain ractor_cluster call to
    /// its heartbeat responder), or `None` if it did not answer within the
    /// heartbeat timeout.
    pub async fn ping_peer(&self, peer: &str) -> Option<Duration> {
        let started = std::time::Instant::now();
        self.ping(peer, self.inner.config.heartbeat_timeout)
            .await
            .then(|| started.elapsed())
    }

    async fn ping(&self, peer: &str, timeout: Duration) -> bool {
        let Some(cell) = pg::get_members(&ping_group(peer)).into_iter().next() else {
            return false;
        };
        let pinger: ActorRef<Wire> = cell.into();
        wire::ask(&pinger, &Request::Ping, timeout).await.is_some()
    }

    /// Declares `peer` lost and closes its connection.
    async fn disconnect(&self, peer: &str) {
        let _ = self.inner.sessions.send(SessionEvent::Down {
            addr: String::new(),
            name: Some(peer.to_owned()),
        });
        let sessions = ractor::call_t!(self.inner.server, NodeServerMessage::GetSessions, 1_000);
        for ses in sessions.into_iter().flat_map(|m| m.into_values()) {
            if ses
                .peer_name
                .as_ref()
                .is_some_and(|n| node_name(&n.name) == peer)
            {
                ses.actor.stop(Some("heartbeat timeout".to_owned()));
            }
        }
    }

    /// Waits until `peer` is declared lost.
    pub(crate) fn lost(
        &self,
        peer: &str,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut events = self.inner.sessions.subscribe();
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

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    /// The address the node listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    pub(crate) fn step_timeout(&self) -> Duration {
        self.inner.config.step_timeout
    }

    /// Connects to the node listening at `addr` and returns its name once
    /// the handshake is done and its agent is reachable.
    ///
    /// # Errors
    /// [`ClusterError::Connect`] if no TCP connection opens,
    /// [`ClusterError::Refused`] if the peer closes it during the handshake
    /// (a wrong cookie), [`ClusterError::Timeout`] if the handshake does not
    /// finish within [`NodeConfig::connect_timeout`].
    pub async fn connect(&self, addr: SocketAddr) -> Result<String, ClusterError> {
        let mut events = self.inner.sessions.subscribe();
        let text = addr.to_string();
        let connected = match &self.inner.config.tls {
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
        let after = self.inner.config.connect_timeout;
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
        let name = tokio::time::timeout(after, handshake)
            .await
            .map_err(|_| timeout())??;
        // The groups of each side reach the other right after the handshake:
        // wait until this node sees the peer's agent and the peer sees ours,
        // so that either side can call the other as soon as this returns.
        let deadline = tokio::time::Instant::now() + after;
        while !(self.agent_of(&name).is_some() && self.known_by(&name).await) {
            if tokio::time::Instant::now() >= deadline {
                return Err(timeout());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tracing::info!(node = %self.name(), peer = %name, "peeper: connected");
        Ok(name)
    }

    /// Whether `peer` sees this node's agent.
    async fn known_by(&self, peer: &str) -> bool {
        let Some(agent) = self.agent_of(peer) else {
            return false;
        };
        let req = Request::Knows {
            node: self.name().to_owned(),
        };
        let answer = wire::ask(&agent, &req, self.inner.config.call_timeout).await;
        matches!(answer, Some(Response::Here(true)))
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

    pub(crate) fn agent_of(&self, node: &str) -> Option<ActorRef<Wire>> {
        pg::get_members(&agent_group(node))
            .into_iter()
            .next()
            .map(ActorRef::from)
    }

    /// Lets this node receive instances of kind `A` and serve calls to them
    /// from other nodes; `factory` builds the behaviour of an instance that
    /// arrives. Every node that runs, calls or receives `A` registers it.
    pub fn register<A: Portable>(&self, factory: impl Fn() -> A + Send + Sync + 'static) {
        self.inner.kinds.insert(
            A::KIND.to_owned(),
            Arc::new(Kind::<A> {
                factory: Arc::new(factory),
            }),
        );
    }

    /// Progress of the moves this node makes.
    pub fn subscribe_moves(&self) -> broadcast::Receiver<MoveProgress> {
        self.inner.moves.subscribe()
    }

    pub(crate) fn emit(&self, progress: MoveProgress) {
        let _ = self.inner.moves.send(progress);
    }

    /// Moves the instance `name` of kind `A` from `from`, a supervisor on
    /// this node, to the supervisor `to_supervisor` on the node `to_node`,
    /// with its state, dictionary, tables and queued messages. Returns once
    /// the target runs it.
    ///
    /// # Errors
    /// A [`MoveError`]; in every case the instance runs on here, with its
    /// state, and its queued messages are handled here.
    pub async fn move_to<A: Portable>(
        &self,
        name: &str,
        from: &Supervisor,
        to_node: &str,
        to_supervisor: &str,
    ) -> Result<MoveReport, MoveError> {
        handoff::move_out::<A>(self, name, from, to_node, to_supervisor).await
    }

    /// Moves every instance of a registered kind off this node, to the peers
    /// with the fewest instances, under the supervisor of the same name on
    /// each; at most `parallel` moves at a time. Returns when every move
    /// ended. Instances whose move failed run on here; the report lists them.
    pub async fn drain(&self, parallel: usize) -> crate::cluster::drain::DrainReport {
        crate::cluster::drain::drain(self, parallel).await
    }

    /// Progress of this node's drains.
    pub fn subscribe_drain(&self) -> broadcast::Receiver<crate::cluster::drain::DrainProgress> {
        self.inner.drains.subscribe()
    }

    pub(crate) fn emit_drain(&self, progress: crate::cluster::drain::DrainProgress) {
        let _ = self.inner.drains.send(progress);
    }

    /// The registered kind whose behaviour has this Rust type.
    pub(crate) fn kind_of_type(&self, actor_type: &str) -> Option<Arc<dyn AnyKind>> {
        self.inner
            .kinds
            .iter()
            .find(|k| k.value().actor_type() == actor_type)
            .map(|k| k.value().clone())
    }

    /// Calls the instance `name` of kind `A`, wherever it runs.
    ///
    /// # Errors
    /// [`RemoteCallError::Lookup`] if no node runs it,
    /// [`RemoteCallError::Unreachable`] if its node cannot be reached, and the
    /// instance's own [`CallError`](crate::CallError)s.
    pub async fn call<A: Portable>(
        &self,
        name: &str,
        msg: A::Call,
    ) -> Result<A::Reply, RemoteCallError> {
        let body = postcard::to_stdvec(&msg).map_err(|e| RemoteCallError::Codec {
            name: name.to_owned(),
            reason: e.to_string(),
        })?;
        // A cached route may be stale (its node went away): one fresh look.
        for fresh in [false, true] {
            let node = self.locate(name, fresh).await?;
            if node == self.name() {
                let handle = registry::lookup::<A>(name);
                if let Ok(h) = handle {
                    let msg = postcard::from_bytes(&body).map_err(|e| RemoteCallError::Codec {
                        name: name.to_owned(),
                        reason: e.to_string(),
                    })?;
                    let reply = h.call(msg).await?;
                    if let Some(to) = crate::instance::AnyInstance::moved_to(&**h.kept()) {
                        self.inner.routes.insert(name.to_owned(), to);
                    }
                    return Ok(reply);
                }
                self.inner.routes.remove(name);
                continue;
            }
            match self.remote_call::<A>(&node, name, body.clone()).await {
                Err(
                    RemoteCallError::Lookup(LookupError::NotFound { .. })
                    | RemoteCallError::Unreachable { .. },
                ) if !fresh => {
                    self.inner.routes.remove(name);
                }
                other => return other,
            }
        }
        Err(RemoteCallError::Lookup(LookupError::NotFound {
            name: name.to_owned(),
        }))
    }

    /// Casts to the instance `name` of kind `A`, wherever it runs. Casts
    /// from one node keep their order as long as the route does not change.
    ///
    /// # Errors
    /// As [`Node::call`], for finding the instance.
    pub async fn cast<A: Portable>(&self, name: &str, msg: A::Cast) -> Result<(), RemoteCallError> {
        let node = self.locate(name, false).await?;
        if node == self.name() {
            let h = registry::lookup::<A>(name).map_err(|_| {
                RemoteCallError::Lookup(LookupError::NotFound {
                    name: name.to_owned(),
                })
            })?;
            return h.cast(msg).map_err(|e| RemoteCallError::Unreachable {
                node,
                reason: e.to_string(),
            });
        }
        let codec = |reason: String| RemoteCallError::Codec {
            name: name.to_owned(),
            reason,
        };
        let body = postcard::to_stdvec(&msg).map_err(|e| codec(e.to_string()))?;
        let req = Request::Cast {
            name: name.to_owned(),
            kind: A::KIND.to_owned(),
            epoch: None,
            body,
        };
        let bytes = wire::encode(&req).map_err(codec)?;
        let agent = self
            .agent_of(&node)
            .ok_or_else(|| RemoteCallError::Unreachable {
                node: node.clone(),
                reason: "not connected".to_owned(),
            })?;
        agent
            .send_message(Wire::Cast(bytes))
            .map_err(|e| RemoteCallError::Unreachable {
                node,
                reason: e.to_string(),
            })
    }

    /// The node that runs `name`: the cached route, this node, or the first
    /// peer that says it runs it.
    async fn locate(&self, name: &str, fresh: bool) -> Result<String, RemoteCallError> {
        if !fresh && let Some(node) = self.inner.routes.get(name) {
            return Ok(node.clone());
        }
        if let Some(instance) = registry::get(name) {
            let node = instance
                .moved_to()
                .unwrap_or_else(|| self.name().to_owned());
            self.inner.routes.insert(name.to_owned(), node.clone());
            return Ok(node);
        }
        let asks = self.peers().into_iter().map(|peer| async move {
            let here = self.ask_whereis(&peer, name).await;
            here.then_some(peer)
        });
        let found = futures::future::join_all(asks).await;
        let node = found.into_iter().flatten().next().ok_or_else(|| {
            RemoteCallError::Lookup(LookupError::NotFound {
                name: name.to_owned(),
            })
        })?;
        self.inner.routes.insert(name.to_owned(), node.clone());
        Ok(node)
    }

    async fn ask_whereis(&self, peer: &str, name: &str) -> bool {
        let Some(agent) = self.agent_of(peer) else {
            return false;
        };
        let req = Request::Whereis {
            name: name.to_owned(),
        };
        let answer = wire::ask(&agent, &req, self.inner.config.call_timeout).await;
        matches!(answer, Some(Response::Here(true)))
    }

    async fn remote_call<A: Portable>(
        &self,
        node: &str,
        name: &str,
        body: Vec<u8>,
    ) -> Result<A::Reply, RemoteCallError> {
        let unreachable = |reason: String| RemoteCallError::Unreachable {
            node: node.to_owned(),
            reason,
        };
        let codec = |reason: String| RemoteCallError::Codec {
            name: name.to_owned(),
            reason,
        };
        let agent = self
            .agent_of(node)
            .ok_or_else(|| unreachable("not connected".to_owned()))?;
        let req = Request::Call {
            name: name.to_owned(),
            kind: A::KIND.to_owned(),
            epoch: None,
            body,
        };
        let bytes = wire::encode(&req).map_err(codec)?;
        let timeout = self.inner.config.call_timeout;
        let reply = match agent
            .call(|port| Wire::Call(bytes, port), Some(timeout))
            .await
        {
            Ok(CallResult::Success(reply)) => reply,
            Ok(CallResult::Timeout) => {
                return Err(RemoteCallError::Call(crate::CallError::Timeout {
                    name: name.to_owned(),
                    timeout,
                }));
            }
            Ok(CallResult::SenderError) => return Err(unreachable("connection closed".into())),
            Err(e) => return Err(unreachable(e.to_string())),
        };
        match wire::decode::<Response>(&reply).map_err(codec)? {
            Response::Called { reply, at } => {
                if at != node {
                    self.inner.routes.insert(name.to_owned(), at);
                }
                match reply {
                    Ok(bytes) => postcard::from_bytes(&bytes).map_err(|e| codec(e.to_string())),
                    Err(crate::cluster::wire::Failure::NotFound) => {
                        Err(RemoteCallError::Lookup(LookupError::NotFound {
                            name: name.to_owned(),
                        }))
                    }
                    Err(crate::cluster::wire::Failure::WrongKind) => {
                        Err(RemoteCallError::Lookup(LookupError::WrongType {
                            name: name.to_owned(),
                            actual: "another kind",
                        }))
                    }
                    Err(f) => Err(RemoteCallError::Call(call_error(name, f))),
                }
            }
            other => Err(codec(format!("unexpected answer {other:?}"))),
        }
    }

    /// Stops the node's agents and server; connections close.
    pub async fn stop(self) {
        for cell in pg::get_members(&ping_group(self.name())) {
            pg::leave(ping_group(self.name()), vec![cell.clone()]);
            cell.stop(None);
        }
        if let Some(agent) = self.inner.agent.get() {
            pg::leave(agent_group(self.name()), vec![agent.get_cell()]);
            let _ = agent
                .stop_and_wait(None, Some(Duration::from_secs(5)))
                .await;
        }
        let _ = self
            .inner
            .server
            .stop_and_wait(None, Some(Duration::from_secs(5)))
            .await;
    }
}
