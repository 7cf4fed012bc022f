//! Draining a node: moving every instance off it to its peers, the
//! rolling-deploy case.
//!
//! Every child of every supervisor on this node whose kind is registered
//! moves to the peer that runs the fewest instances at that moment (asked
//! once at the start, then counted as moves are assigned), under the
//! supervisor of the same name there. Moves run a bounded number at a time.
//! An instance whose move fails stays here, running, and is listed in the
//! report.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::cluster::error::MoveError;
use crate::cluster::node::Node;
use crate::cluster::wire::{self, Request, Response};
use crate::supervisor::Supervisor;

/// Progress of a drain, as reported to [`Node::subscribe_drain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainProgress {
    /// Instances moved so far.
    pub moved: usize,
    /// Instances whose move failed so far.
    pub failed: usize,
    /// Instances to move in all.
    pub total: usize,
}

/// What a drain did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainReport {
    /// Instances moved, per peer.
    pub moved: HashMap<String, usize>,
    /// Instances that stay here, with why their move failed.
    pub failed: Vec<(String, MoveError)>,
    /// How long the drain took.
    pub took: Duration,
}

impl DrainReport {
    /// Instances moved in all.
    pub fn moved_total(&self) -> usize {
        self.moved.values().sum()
    }
}

/// See the [module docs](self) and [`Node::drain`].
pub(crate) async fn drain(node: &Node, parallel: usize) -> DrainReport {
    let started = Instant::now();
    let peers = node.peers();
    let mut load: Vec<(String, u64)> = Vec::new();
    for peer in &peers {
        load.push((peer.clone(), count(node, peer).await));
    }
    let mut work = Vec::new();
    let mut stranded = Vec::new();
    for sup in Supervisor::all() {
        for (name, actor_type) in sup.children_types() {
            let Some(port) = node.kind_of_type(actor_type) else {
                continue;
            };
            // The least loaded peer gets the next instance.
            let Some(target) = load.iter_mut().min_by_key(|(_, n)| *n) else {
                stranded.push((
                    name,
                    MoveError::UnknownNode {
                        node: "(no connected peer)".to_owned(),
                    },
                ));
                continue;
            };
            target.1 += 1;
            let fut = port.move_out(node.clone(), name.clone(), sup.clone(), target.0.clone());
            let peer = target.0.clone();
            work.push(async move { (name, peer, fut.await) });
        }
    }
    let total = work.len();
    let mut report = DrainReport {
        moved: HashMap::new(),
        failed: stranded,
        took: Duration::ZERO,
    };
    let mut results = futures::stream::iter(work).buffer_unordered(parallel.max(1));
    while let Some((name, peer, result)) = results.next().await {
        match result {
            Ok(_) => *report.moved.entry(peer).or_default() += 1,
            Err(e) => report.failed.push((name, e)),
        }
        node.emit_drain(DrainProgress {
            moved: report.moved_total(),
            failed: report.failed.len(),
            total,
        });
    }
    report.took = started.elapsed();
    tracing::info!(node = %node.name(), moved = report.moved_total(), failed = report.failed.len(), "peeper: drained");
    report
}

/// How many live instances `peer` runs; 0 if it does not say.
async fn count(node: &Node, peer: &str) -> u64 {
    let Some(agent) = node.agent_of(peer) else {
        return 0;
    };
    match wire::ask(&agent, &Request::Count, node.config().step_timeout).await {
        Some(Response::Count(n)) => n,
        _ => 0,
    }
}
