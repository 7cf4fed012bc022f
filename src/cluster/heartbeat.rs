//! The heartbeat: how a node tells a silent peer from a live one.
//!
//! Each interval the node pings every peer's **pulse**: a port on a thread
//! and runtime of the peer's own, which answers even while callbacks hold
//! every worker of the peer's runtime (a ping opens a connection there and
//! is answered at once; it authenticates nothing and carries nothing). A
//! peer that has no pulse is pinged through ractor_cluster, at its responder
//! actor. A peer silent for the heartbeat timeout, counted from the first ping it did
//! not answer, is declared lost and its connection closed. Time during which
//! this node's own runtime stood still (its timers fired late) is taken off
//! that silence: late answers are then this node's fault, not the peer's.
//!
//! The first round counts from the moment the peer was first pinged, so a
//! peer that freezes right after connecting is declared lost after one
//! timeout, not two.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ractor::{ActorRef, pg};

use crate::cluster::node::{Node, ping_group};
use crate::cluster::wire::{self, Request, Wire};

/// Notes how late this node's own timers fire: a saturated runtime makes
/// every peer look slow.
pub(crate) fn spawn_lag_monitor(lag_ms: Arc<AtomicU64>, stopped: Arc<AtomicBool>) {
    const TICK: Duration = Duration::from_millis(100);
    tokio::spawn(async move {
        while !stopped.load(Ordering::Acquire) {
            let before = tokio::time::Instant::now();
            tokio::time::sleep(TICK).await;
            let late = before.elapsed().saturating_sub(TICK);
            lag_ms.fetch_max(late.as_millis() as u64, Ordering::AcqRel);
        }
    });
}

impl Node {
    /// The round trip of one ping to `peer` (a plain ractor_cluster call to
    /// its heartbeat responder), or `None` if it did not answer within the
    /// heartbeat timeout.
    pub async fn ping_peer(&self, peer: &str) -> Option<Duration> {
        let started = std::time::Instant::now();
        self.ping(peer, self.config().heartbeat_timeout)
            .await
            .then(|| started.elapsed())
    }

    /// Whether `peer` answers within `timeout`: its pulse if it has one,
    /// its responder actor if not.
    async fn alive(&self, peer: &str, timeout: Duration) -> bool {
        match self.inner.peers.known(peer).and_then(|k| k.pulse_addr) {
            Some(addr) => pulse(self, addr, timeout).await,
            None => self.ping(peer, timeout).await,
        }
    }

    async fn ping(&self, peer: &str, timeout: Duration) -> bool {
        let Some(cell) = pg::get_members(&ping_group(peer))
            .into_iter()
            .find(|cell| !cell.get_id().is_local())
        else {
            return false;
        };
        let pinger: ActorRef<Wire> = cell.into();
        wire::ask(&pinger, &Request::Ping, timeout).await.is_some()
    }

    /// Pings every peer each interval; closes the connection to one that
    /// stays silent longer than the heartbeat timeout. ractor_cluster only
    /// logs late pongs, so without this a frozen peer would hold moves and
    /// calls until their own timeouts.
    pub(crate) fn watch_peers(&self, pinger: ActorRef<Wire>) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            // Since when each peer has not answered: the start of the first
            // round whose ping it missed.
            let mut silent_since: std::collections::HashMap<String, tokio::time::Instant> =
                std::collections::HashMap::new();
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let node = Node { inner };
                let interval = node.config().heartbeat_interval;
                let limit = node.config().heartbeat_timeout;
                // Only a responder that stops ends the heartbeat: right
                // after the node started, it may not read as running yet.
                let ended = matches!(
                    pinger.get_status(),
                    ractor::ActorStatus::Stopping | ractor::ActorStatus::Stopped
                );
                if ended || node.inner.peers.stopped.load(Ordering::Acquire) {
                    return;
                }
                let peers = node.peers();
                silent_since.retain(|p, _| peers.contains(p));
                let round = tokio::time::Instant::now();
                let pings = peers.iter().map(|peer| node.alive(peer, limit));
                let answers = futures::future::join_all(pings).await;
                let now = tokio::time::Instant::now();
                let lag = Duration::from_millis(node.inner.peers.lag_ms.swap(0, Ordering::AcqRel));
                for (peer, alive) in peers.into_iter().zip(answers) {
                    if alive {
                        silent_since.remove(&peer);
                        continue;
                    }
                    // Time this node itself stood still (its timers ran
                    // late) is not the peer's silence: the clock moves on
                    // by that much.
                    let first = *silent_since.entry(peer.clone()).or_insert(round);
                    let since = (first + lag).min(now);
                    silent_since.insert(peer.clone(), since);
                    if lag > limit / 4 {
                        tracing::info!(node = %node.name(), %peer, ?lag, "peeper: own runtime lagging, peer's silence counted without it");
                    }
                    if now.duration_since(since) >= limit {
                        tracing::warn!(node = %node.name(), %peer, "peeper: peer silent, disconnecting");
                        node.disconnect(&peer).await;
                        silent_since.remove(&peer);
                    }
                }
                drop(node);
                tokio::time::sleep(interval.saturating_sub(now.duration_since(round))).await;
            }
        });
    }
}

/// The key a ping names: no port expects it, so the port answers "unknown
/// key" at once, which is all a ping asks.
const PULSE_KEY: &[u8] = b"peeper-pulse";

/// A node's pulse: a data port on a thread and runtime of its own, which
/// answers pings even while callbacks hold every worker of the node's
/// runtime. It proves the process runs, nothing more: what a saturated
/// runtime delays (calls, moves) still fails on its own timeouts.
pub(crate) struct Pulse {
    addr: std::net::SocketAddr,
    /// Dropped with the node: the thread ends.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Pulse {
    /// Starts the pulse thread and its port on `ip`.
    pub(crate) fn start(
        ip: std::net::IpAddr,
        cookie: String,
        tls: Option<crate::cluster::node::Tls>,
    ) -> std::io::Result<Pulse> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, addr) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("peeper-pulse".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = bound.send(Err(e.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match crate::cluster::bulk::DataPort::bind(ip, cookie, tls).await {
                        Ok(port) => {
                            let _ = bound.send(Ok(port.addr()));
                            let _ = stopped.await;
                            drop(port);
                        }
                        Err(e) => {
                            let _ = bound.send(Err(e.to_string()));
                        }
                    }
                });
            })?;
        let addr = addr
            .recv()
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .map_err(std::io::Error::other)?;
        Ok(Pulse { addr, _stop: stop })
    }

    pub(crate) fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}

/// Pings the pulse at `addr`: `true` if the peer's pulse thread answered
/// within `timeout`.
async fn pulse(node: &Node, addr: std::net::SocketAddr, timeout: Duration) -> bool {
    let config = node.config();
    let opened = crate::cluster::bulk::Outgoing::open(
        addr,
        &config.cookie,
        config.tls.as_ref(),
        PULSE_KEY.to_vec(),
        timeout,
    );
    matches!(
        tokio::time::timeout(timeout, opened).await,
        Ok(Err(crate::cluster::bulk::BulkError::UnknownKey))
    )
}
