//! The heartbeat: how a node tells a silent peer from a live one.
//!
//! Each interval the node pings every peer's **pulse**: a port on a thread
//! and runtime of the peer's own, which answers even while callbacks hold
//! every worker of the peer's runtime (a ping opens a connection there and
//! is answered at once; it authenticates nothing and carries nothing). A
//! peer that has no pulse is pinged through ractor_cluster, at its responder
//! actor. A peer silent for the heartbeat timeout, counted from the sending
//! of the last ping it answered, is declared lost and its connection closed.
//! Time during which this node's own runtime stood still (its timers fired
//! late, or the check itself ran late) is taken off that silence: late
//! answers are then this node's fault, not the peer's.
//!
//! # Windows
//! - **The peer freezes** (`kill -STOP`) at any moment: the last ping it
//!   answered was sent before the freeze. Pings run on tasks of their own,
//!   one per peer at a time, and the silence is checked every interval
//!   whatever they wait for, so a ping stuck on the frozen peer (its kernel
//!   still accepts connections into the listen backlog, so a ping waits its
//!   whole timeout) holds nothing. The check also wakes when the earliest
//!   silence reaches the timeout, so the peer is declared lost between one
//!   timeout less one interval and one timeout after the freeze, plus this
//!   node's own lag. Counting from a missed ping instead
//!   made any lag of a few milliseconds push the verdict to the next
//!   missed ping, a whole timeout later.
//! - **The peer freezes right after connecting**: its silence counts from
//!   the first check that sees it (at most one interval after the
//!   connection), when its first ping goes out.
//! - **This node stalls** (its runtime saturated, or the process stopped):
//!   the stall is counted as lag and taken off every peer's silence.
//! - **A slow answer** (a round trip longer than an interval): the next ping
//!   waits for it; the peer is silent from the sending of the answered one.
//! - Declaring a peer lost is noted first ([`Node::last_loss`]), then its
//!   sessions are closed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use dashmap::DashMap;
use ractor::{ActorRef, pg};
use tokio::time::Instant;

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
    ///
    /// The pings run on tasks of their own, at most one per peer at a time,
    /// and the check runs every interval whatever they wait for: a ping that
    /// gets no answer holds only itself, not the count of the silence.
    pub(crate) fn watch_peers(&self, pinger: ActorRef<Wire>) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let pings = Arc::new(Pings::default());
            let mut watched: HashMap<String, Silence> = HashMap::new();
            let mut woke = Instant::now();
            let mut due = woke;
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
                let now = Instant::now();
                // This check's own lateness is this node's lag too: a check
                // that ran late must not read as the peer's silence.
                let late = woke.saturating_duration_since(due);
                let lag = late.max(Duration::from_millis(
                    node.inner.peers.lag_ms.swap(0, Ordering::AcqRel),
                ));
                let peers = node.peers();
                watched.retain(|p, _| peers.contains(p));
                pings.heard.retain(|p, _| peers.contains(p));
                for peer in peers {
                    let silence = watched.entry(peer.clone()).or_insert(Silence {
                        // The first ping goes out now: a peer that froze
                        // right after connecting is silent from here.
                        since: now,
                        lag: Duration::ZERO,
                    });
                    if let Some((_, sent)) = pings.heard.remove(&peer)
                        && sent > silence.since
                    {
                        *silence = Silence {
                            since: sent,
                            lag: Duration::ZERO,
                        };
                    }
                    // Time this node itself stood still (its timers ran
                    // late) is not the peer's silence: the clock moves on
                    // by that much.
                    let shifted = (silence.since + lag).min(now);
                    silence.lag += shifted.duration_since(silence.since);
                    silence.since = shifted;
                    if lag > limit / 4 {
                        tracing::info!(node = %node.name(), %peer, ?lag, "peeper: own runtime lagging, peer's silence counted without it");
                    }
                    if now.duration_since(silence.since) >= limit {
                        let loss = Loss::at(now, silence);
                        tracing::warn!(node = %node.name(), %peer, ?loss, "peeper: peer silent, disconnecting");
                        node.inner.peers.losses.insert(peer.clone(), loss);
                        watched.remove(&peer);
                        node.disconnect(&peer).await;
                        continue;
                    }
                    pings.send(&node, &peer, limit);
                }
                drop(node);
                // The check wakes at the end of the earliest silence too, so
                // that a verdict waits for no interval boundary.
                due = watched
                    .values()
                    .map(|s| s.since + limit)
                    .fold(now + interval, Instant::min)
                    .max(now + Duration::from_millis(1));
                tokio::time::sleep_until(due).await;
                woke = Instant::now();
            }
        });
    }

    /// How `peer` was last declared lost, if it was.
    pub fn last_loss(&self, peer: &str) -> Option<Loss> {
        self.inner.peers.losses.get(peer).map(|l| *l)
    }
}

/// How long a peer has been silent, as the heartbeat counts it.
struct Silence {
    /// When the last answered ping was sent, moved on by this node's own
    /// lag since.
    since: Instant,
    /// How much of this node's lag was taken off the silence.
    lag: Duration,
}

/// The pings in flight and the answers not yet read by the check.
#[derive(Default)]
struct Pings {
    in_flight: DashMap<String, ()>,
    /// When the latest answered ping to each peer was sent.
    heard: DashMap<String, Instant>,
}

impl Pings {
    /// Pings `peer` on a task of its own unless a ping to it still waits.
    /// The answer counts from when the ping was sent: the peer answered
    /// after that, so it was alive then.
    fn send(self: &Arc<Self>, node: &Node, peer: &str, limit: Duration) {
        if self.in_flight.insert(peer.to_owned(), ()).is_some() {
            return;
        }
        let (pings, node, peer) = (self.clone(), node.clone(), peer.to_owned());
        tokio::spawn(async move {
            let sent = Instant::now();
            if node.alive(&peer, limit).await {
                let mut heard = pings.heard.entry(peer.clone()).or_insert(sent);
                *heard = (*heard).max(sent);
            }
            pings.in_flight.remove(&peer);
        });
    }
}

/// When a peer was declared lost, and what its silence was counted from;
/// see [`Node::last_loss`].
///
/// `lost_at - heard_at - lag` is the silence counted: the heartbeat
/// timeout, give or take how late this node's check ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loss {
    /// When the last ping the peer answered was sent (or, for a peer that
    /// never answered one, when the heartbeat first saw it).
    pub heard_at: SystemTime,
    /// When the peer was declared lost.
    pub lost_at: SystemTime,
    /// This node's own lag taken off the silence meanwhile.
    pub lag: Duration,
}

impl Loss {
    fn at(now: Instant, silence: &Silence) -> Loss {
        let lost_at = SystemTime::now();
        let counted = now.duration_since(silence.since) + silence.lag;
        Loss {
            heard_at: lost_at.checked_sub(counted).unwrap_or(lost_at),
            lost_at,
            lag: silence.lag,
        }
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
