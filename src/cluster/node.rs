//! A node: this process's place in a cluster of peeper processes.
//!
//! A [`Node`] runs a ractor_cluster node server (TCP, cookie
//! authentication), a data port for the bulk of moves, and one agent actor
//! that other nodes reach through a ractor `pg` group named after the node.
//! This module holds its configuration and its life cycle; each role has a
//! module of its own, which owns its state: [`peers`](super::peers) (who is
//! connected and alive), `routes` (calls and casts by name),
//! [`handoff`] (moves), `agent` (serving other nodes).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use ractor::{ActorRef, pg};
use ractor_cluster::{IncomingEncryptionMode, NodeServer, NodeServerMessage};
use tokio::sync::broadcast;

use crate::cluster::agent::Agent;
use crate::cluster::bulk::DataPort;
use crate::cluster::drain::{DrainProgress, DrainReport};
use crate::cluster::error::{ClusterError, MoveError};
use crate::cluster::handoff::{self, Decisions, MoveProgress, MoveReport, Stages};
use crate::cluster::heartbeat::Pulse;
use crate::cluster::kind::{AnyKind, Kind};
use crate::cluster::peers::Peers;
use crate::cluster::routes::Routes;
use crate::cluster::wire::{self, Wire};
use crate::portable::Portable;
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
    /// A peer that answers no ping for this time, counted from the sending
    /// of the last ping it answered, is declared lost and its connection
    /// closed, even if its socket stays open (a frozen process, a silent
    /// network): between this timeout less one interval and this timeout
    /// after it froze. Default: 10 s. Time during which this
    /// node's own runtime stood still is not counted as a peer's silence,
    /// and peers answer pings from a thread of their own (see
    /// [`crate::cluster::peers`]). A lost peer is dialled again until it
    /// answers.
    pub heartbeat_timeout: Duration,
    /// Encrypts every connection with ractor_cluster's TLS. Default: none.
    /// Every node of a cluster must use it, or none.
    pub tls: Option<Tls>,
    /// The store durable instances moved here are kept in (feature
    /// `durable`); a node without one refuses them. It also lets a node that
    /// restarted settle, with the node they were moving to, the instances
    /// its store noted as moving. Default: none.
    #[cfg(feature = "durable")]
    pub durable: Option<crate::durable::Durable>,
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

impl Tls {
    /// TLS from PEM: the certificate authority every node's certificate is
    /// checked against, this node's certificate chain and private key, and
    /// the server name the certificates carry. A cluster that shares one
    /// self-signed certificate passes it as both `ca` and `cert`.
    ///
    /// # Errors
    /// [`ClusterError::Tls`] if a PEM block cannot be read or rustls refuses
    /// the certificate or the key.
    pub fn from_pem(
        ca: &[u8],
        cert: &[u8],
        key: &[u8],
        server_name: &str,
    ) -> Result<Tls, ClusterError> {
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
        let fail = |what: &str, e: &dyn fmt::Display| ClusterError::Tls {
            reason: format!("{what}: {e}"),
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<_, _>>()
            .map_err(|e| fail("the certificate", &e))?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| fail("the key", &e))?;
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(ca) {
            let ca = ca.map_err(|e| fail("the authority", &e))?;
            roots.add(ca).map_err(|e| fail("the authority", &e))?;
        }
        let server = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| fail("the certificate and key", &e))?;
        let client = ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
            connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
            server_name: server_name.to_owned(),
        })
    }
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
            #[cfg(feature = "durable")]
            durable: None,
        }
    }
}

pub(crate) struct NodeInner {
    pub(crate) config: NodeConfig,
    pub(crate) addr: SocketAddr,
    pub(crate) server: ActorRef<NodeServerMessage>,
    pub(crate) agent: OnceLock<ActorRef<Wire>>,
    /// Where moves' data streams arrive.
    pub(crate) data: DataPort,
    /// Answers pings from a thread of its own.
    _pulse: Pulse,
    pub(crate) peers: Peers,
    pub(crate) routes: Routes,
    /// Moves being received, as the target.
    pub(crate) stages: Stages,
    /// Moves made, as the source: what was decided.
    pub(crate) decisions: Decisions,
    moves: broadcast::Sender<MoveProgress>,
    drains: broadcast::Sender<DrainProgress>,
    pub(crate) kinds: DashMap<String, Arc<dyn AnyKind>>,
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
    pub(crate) inner: Arc<NodeInner>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.inner.config.name)
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

pub(crate) fn agent_group(node: &str) -> String {
    format!("peeper.agent.{node}")
}

/// The group of a node's heartbeat responder: an agent of its own, so that
/// pings are not held up behind a busy agent's work.
pub(crate) fn ping_group(node: &str) -> String {
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
        let data = DataPort::bind(config.listen, config.cookie.clone(), config.tls.clone())
            .await
            .map_err(|e| fail(format!("data port: {e}")))?;
        let pulse = Pulse::start(config.listen, config.cookie.clone(), config.tls.clone())
            .map_err(|e| fail(format!("pulse: {e}")))?;
        let peers = Peers::new(&config, addr, Some(data.addr()), Some(pulse.addr()));
        peers
            .subscribe_to(&server)
            .map_err(|e| fail(e.to_string()))?;
        let inner = Arc::new(NodeInner {
            config,
            addr,
            server,
            agent: OnceLock::new(),
            data,
            _pulse: pulse,
            peers,
            routes: Routes::default(),
            stages: Stages::default(),
            decisions: Decisions::default(),
            moves: broadcast::channel(1024).0,
            drains: broadcast::channel(1024).0,
            kinds: DashMap::new(),
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
        node.watch_sessions();
        node.watch_peers(pinger);
        #[cfg(feature = "durable")]
        crate::cluster::handoff::settle_in_doubt(&node);
        tracing::info!(node = %node.name(), %addr, "peeper: node started");
        Ok(node)
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    /// The address the node listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    pub(crate) fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    pub(crate) fn agent(&self) -> Option<&ActorRef<Wire>> {
        self.inner.agent.get()
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

    /// The registered kind whose behaviour has this Rust type.
    pub(crate) fn kind_of_type(&self, actor_type: &str) -> Option<Arc<dyn AnyKind>> {
        self.inner
            .kinds
            .iter()
            .find(|k| k.value().actor_type() == actor_type)
            .map(|k| k.value().clone())
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
    /// the target runs it. What happens in each failure is written in
    /// [`handoff`].
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
    pub async fn drain(&self, parallel: usize) -> DrainReport {
        crate::cluster::drain::drain(self, parallel).await
    }

    /// Progress of this node's drains.
    pub fn subscribe_drain(&self) -> broadcast::Receiver<DrainProgress> {
        self.inner.drains.subscribe()
    }

    pub(crate) fn emit_drain(&self, progress: DrainProgress) {
        let _ = self.inner.drains.send(progress);
    }

    /// Stops the node's agents and server; connections close.
    pub async fn stop(self) {
        self.inner.peers.stop();
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
