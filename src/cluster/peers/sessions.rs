//! Sessions with peers: connecting, the `Hello` that follows, the list of
//! peers, and closing sessions; see the [module docs](super).

use std::net::SocketAddr;
use std::time::Duration;

use ractor::{ActorRef, pg};
use ractor_cluster::NodeServerMessage;
use ractor_cluster::node::NodeServerSessionInformation;
use tokio::sync::broadcast;
use tokio_rustls::rustls::pki_types::ServerName;

use super::{SessionEvent, is_peer, node_name};
use crate::cluster::error::ClusterError;
use crate::cluster::node::{Node, agent_group};
use crate::cluster::wire::{self, Request, Response, Wire};

impl Node {
    /// Connects to the node listening at `addr` and returns its name once
    /// the handshake is done and its agent is reachable.
    ///
    /// # Errors
    /// [`ClusterError::Connect`] if no TCP connection opens,
    /// [`ClusterError::Refused`] if the peer closes it during the handshake
    /// (a wrong cookie), [`ClusterError::Timeout`] if the handshake does not
    /// finish within [`NodeConfig::connect_timeout`](crate::cluster::NodeConfig::connect_timeout).
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
}
