//! A ready target whose source's session closed: the move is resolved from
//! what is certain of the source (gone, back, or silent); see the
//! [module docs](super::super).

use std::collections::HashSet;

use crate::cluster::node::Node;
use crate::cluster::peers::Fate;
use crate::cluster::wire::{self, Decision, Local, MoveKey, Request, Response, Wire};

impl Node {
    /// The session of `peer` closed: moves from it that are not ready are
    /// dropped; the ready ones are resolved.
    pub(crate) fn peer_down(&self, peer: &str) {
        self.inner.routes.forget_node(peer);
        let mut open = self.inner.stages.open.lock();
        open.retain(|_, stage| stage.from().0 != peer || stage.is_ready());
        let arriving: HashSet<String> = open.keys().map(|mv| mv.name.clone()).collect();
        // Names from that peer no longer arriving (dropped, or started and
        // waiting for a `Drained` that cannot come) let their requests in.
        let stale: Vec<String> = self
            .inner
            .stages
            .holding
            .lock()
            .iter()
            .filter(|(name, h)| h.from == peer && !arriving.contains(*name))
            .map(|(name, _)| name.clone())
            .collect();
        let ready: Vec<(MoveKey, u64)> = open
            .iter()
            .filter(|(_, stage)| stage.from().0 == peer)
            .map(|(mv, stage)| (mv.clone(), stage.from().1))
            .collect();
        drop(open);
        for name in stale {
            self.release_held(&name);
        }
        for (mv, incarnation) in ready {
            self.resolve(mv, peer.to_owned(), incarnation);
        }
    }

    /// Finds out what became of a ready move whose source was lost, and
    /// tells the agent, through its mailbox.
    fn resolve(&self, mv: MoveKey, from: String, incarnation: u64) {
        if !self.inner.stages.resolving.lock().insert(mv.clone()) {
            return;
        }
        tracing::warn!(name = %mv.name, source = %from, "peeper: source lost with a ready move; resolving");
        let weak = std::sync::Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let node = Node { inner };
                if !node.inner.stages.open.lock().contains_key(&mv) {
                    break;
                }
                let go = match node.fate(&from, incarnation).await {
                    Fate::Gone => Some(true),
                    Fate::Back => match node.ask_outcome(&from, &mv).await {
                        Some(Decision::Go | Decision::Unknown) => Some(true),
                        Some(Decision::Aborted) => Some(false),
                        None => None,
                    },
                    Fate::Silent => None,
                };
                if let Some(go) = go {
                    tracing::info!(name = %mv.name, go, "peeper: resolved a move whose source was lost");
                    if let Some(agent) = node.agent() {
                        let _ =
                            agent.send_message(Wire::Local(Local::Resolved { mv: mv.clone(), go }));
                    }
                    break;
                }
                let tick = node.config().heartbeat_interval;
                drop(node);
                tokio::time::sleep(tick).await;
            }
            if let Some(inner) = weak.upgrade() {
                inner.stages.resolving.lock().remove(&mv);
            }
        });
    }

    async fn ask_outcome(&self, source: &str, mv: &MoveKey) -> Option<Decision> {
        let agent = self.agent_of(source)?;
        let req = Request::Outcome { mv: mv.clone() };
        match wire::ask(&agent, &req, self.config().step_timeout).await {
            Some(Response::Outcome(decision)) => Some(decision),
            _ => None,
        }
    }
}
