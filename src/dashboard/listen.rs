//! What the dashboard hears from its cluster node: the progress of moves
//! and drains, as the node broadcasts them (a task each, ending when the
//! dashboard stops), and the peers' round trips, by pinging each after a
//! sample while a page is open.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::{broadcast, watch};

use super::overview::{DrainRow, Heard, MoveRow, Peer};
use super::probe::{self, Counter};
use crate::cluster::{DrainProgress, MovePhase, MoveProgress, Node};

/// Starts the listeners of `node`.
pub(crate) fn spawn(node: &Node, heard: &Arc<Mutex<Heard>>, stop: &watch::Receiver<bool>) {
    let moves = node.subscribe_moves();
    tokio::spawn(until(stop.clone(), follow(moves, heard.clone(), on_move)));
    let drains = node.subscribe_drain();
    tokio::spawn(until(stop.clone(), follow(drains, heard.clone(), on_drain)));
}

async fn until(mut stop: watch::Receiver<bool>, work: impl Future<Output = ()>) {
    tokio::select! {
        _ = stop.wait_for(|s| *s) => {}
        () = work => {}
    }
}

async fn follow<T: Clone>(
    mut rx: broadcast::Receiver<T>,
    heard: Arc<Mutex<Heard>>,
    note: fn(&mut Heard, T),
) {
    loop {
        match rx.recv().await {
            Ok(progress) => {
                let mut heard = heard.lock();
                note(&mut heard, progress);
                heard.news.notify_one();
            }
            // Some progress was missed; the next report says where it stands.
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

fn on_move(heard: &mut Heard, p: MoveProgress) {
    let done = matches!(p.phase, MovePhase::Committed | MovePhase::Aborted);
    if p.phase == MovePhase::Committed {
        probe::add(Counter::Moves, 1);
        probe::add(Counter::BytesMoved, p.bytes_done);
    }
    let fraction = match p.phase {
        MovePhase::Committed => 1.0,
        _ if p.rows_total > 0 => p.rows_done as f64 / p.rows_total as f64,
        MovePhase::Tables => 0.0,
        MovePhase::Changes => 0.5,
        MovePhase::CatchUp => 0.7,
        MovePhase::Snapshot => 0.9,
        MovePhase::Aborted => 0.0,
    };
    let row = MoveRow {
        name: p.name.clone(),
        to_node: p.to_node,
        phase: format!("{:?}", p.phase),
        rows_done: p.rows_done,
        rows_total: p.rows_total,
        bytes_done: p.bytes_done,
        fraction: fraction.clamp(0.0, 1.0),
        done,
        seq: heard.move_seq + 1,
    };
    heard.move_seq = row.seq;
    if heard.progress.receiver_count() > 0
        && let Ok(json) = serde_json::to_string(&row)
    {
        // No page may be left to listen: that is fine.
        let _ = heard.progress.send(json.into());
    }
    heard.moves.insert(p.name, (row, Instant::now()));
}

fn on_drain(heard: &mut Heard, p: DrainProgress) {
    let row = DrainRow {
        moved: p.moved,
        failed: p.failed,
        total: p.total,
        done: p.moved + p.failed >= p.total,
    };
    heard.drain = Some((row, Instant::now()));
}

/// Pings every peer once, all at once, and notes their round trips.
pub(crate) async fn ping(node: Node, heard: Arc<Mutex<Heard>>) {
    let pings = node.peers().into_iter().map(|name| {
        let node = node.clone();
        async move {
            let rtt = node.ping_peer(&name).await;
            Peer {
                name,
                rtt_ms: rtt.map(|d| d.as_secs_f64() * 1000.0),
            }
        }
    });
    let peers = futures::future::join_all(pings).await;
    heard.lock().peers = peers;
}
