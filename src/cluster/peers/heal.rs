//! What becomes of a peer: waiting for its loss, telling whether it is gone
//! for certain, back or silent, and dialling a lost one again; see the
//! [module docs](super).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::broadcast;

use super::{Fate, SessionEvent, is_peer};
use crate::cluster::error::ClusterError;
use crate::cluster::node::Node;
use crate::cluster::wire::{Local, Wire};

impl Node {
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
