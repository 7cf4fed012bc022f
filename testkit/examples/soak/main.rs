//! Soak run: many instances take numbered messages from several senders
//! while a chaos task panics them, kills their workers and transfers them
//! between supervisors. At the end every instance is asked what it handled,
//! and every message is accounted for.
//!
//! ```text
//! cargo run --release -p peeper-testkit --example soak -- --seconds 30
//! cargo run --release -p peeper-testkit --example soak -- --seconds 600 --actors 50000
//! cargo run --release -p peeper-testkit --example soak -- --seconds 30 --nodes
//! ```
//!
//! With `--nodes` the chaos also moves instances to a second node process
//! and back (see `nodes.rs`).
//!
//! The last line reads `lost=0 duplicated=0 rss_start_mib=… rss_end_mib=…`
//! (resident memory once every instance has started, and at the end);
//! the process exits with status 1 if a message was lost, duplicated or
//! reordered.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use peeper::{Actor, BoxError, Context, Handle, RestartPolicy, StateMut, Supervisor};
use peeper_testkit::rss;
use serde::{Deserialize, Serialize};

mod nodes;
use nodes::Peer;

/// Counts what it is sent, per sender, and notices gaps and repeats.
struct Tally;

#[derive(Clone, Default, Serialize, Deserialize)]
struct Counts {
    /// The last sequence number seen from each sender.
    last: BTreeMap<u32, u64>,
    handled: u64,
    /// Messages that came again or out of order.
    repeated: u64,
    /// Sequence numbers skipped.
    skipped: u64,
}

#[derive(Serialize, Deserialize)]
enum Cast {
    Seq { sender: u32, seq: u64 },
    Panic,
}

impl Actor for Tally {
    type State = Counts;
    type Call = ();
    type Reply = Counts;
    type Cast = Cast;
    type Info = ();

    async fn handle_call(
        &self,
        (): (),
        state: &mut StateMut<Counts>,
        _: &mut Context<Self>,
    ) -> Result<Counts, BoxError> {
        Ok((**state).clone())
    }

    async fn handle_cast(
        &self,
        msg: Cast,
        state: &mut StateMut<Counts>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        match msg {
            Cast::Seq { sender, seq } => {
                let counts: &mut Counts = state;
                let last = counts.last.entry(sender).or_insert(0);
                if seq <= *last {
                    counts.repeated += 1;
                } else {
                    counts.skipped += seq - *last - 1;
                    *last = seq;
                }
                counts.handled += 1;
            }
            Cast::Panic => panic!("chaos"),
        }
        Ok(())
    }
}

struct Options {
    seconds: u64,
    actors: usize,
    senders: u32,
    supervisors: usize,
    /// Move instances to a second node and back too.
    nodes: bool,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        seconds: 30,
        actors: 10_000,
        senders: 4,
        supervisors: 4,
        nodes: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--nodes" {
            o.nodes = true;
            continue;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |_| format!("{flag}: not a number: {value}");
        match flag.as_str() {
            "--seconds" => o.seconds = value.parse().map_err(bad)?,
            "--actors" => o.actors = value.parse().map_err(bad)?,
            "--senders" => o.senders = value.parse().map_err(bad)?,
            "--supervisors" => o.supervisors = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if o.actors == 0 || o.senders == 0 || o.supervisors < 2 {
        return Err("need --actors ≥ 1, --senders ≥ 1, --supervisors ≥ 2".into());
    }
    Ok(o)
}

/// A small xorshift generator: the soak needs spread, not quality.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[derive(Default)]
struct Chaos {
    panics: AtomicU64,
    kills: AtomicU64,
    transfers: AtomicU64,
    node_moves: AtomicU64,
}

/// Sends numbered casts to random instances until told to stop; returns how
/// many it sent to each.
async fn send(
    sender: u32,
    handles: Arc<Vec<Handle<Tally>>>,
    stop: Arc<AtomicBool>,
    sent_total: Arc<AtomicU64>,
    paced: bool,
) -> Vec<u64> {
    let mut sent = vec![0_u64; handles.len()];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(sender + 1));
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..256 {
            let i = rng.below(handles.len());
            sent[i] += 1;
            handles[i]
                .cast(Cast::Seq {
                    sender,
                    seq: sent[i],
                })
                .expect("an instance under a generous policy never stops");
        }
        sent_total.fetch_add(256, Ordering::Relaxed);
        if paced {
            // Leaves the runtime time for the moves' round trips and the
            // heartbeat: a node saturated for seconds looks dead to its peer.
            tokio::time::sleep(Duration::from_millis(1)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
    sent
}

/// Panics, kills and transfers random instances until told to stop; with a
/// peer, also moves them to the other node and back.
async fn disturb(
    handles: Arc<Vec<Handle<Tally>>>,
    sups: Arc<Vec<Supervisor>>,
    mut owner: Vec<usize>,
    stop: Arc<AtomicBool>,
    chaos: Arc<Chaos>,
    mut peer: Option<Peer>,
) -> Option<Peer> {
    // Which instances are on the other node now.
    let mut away = vec![false; handles.len()];
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    // A batch per turn: with thousands of instance tasks in the run queue, a
    // turn comes round rarely.
    for turn in 0_u64.. {
        if turn % 32 == 0 {
            tokio::task::yield_now().await;
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let i = rng.below(handles.len());
        let kinds = if peer.is_some() { 4 } else { 3 };
        match rng.below(kinds) {
            // The handle reaches the instance wherever it is, through the
            // relays it left behind.
            0 => {
                handles[i].cast(Cast::Panic).expect("instance alive");
                chaos.panics.fetch_add(1, Ordering::Relaxed);
            }
            3 => {
                if move_across(peer.as_mut(), &handles[i], &sups[owner[i]], away[i]).await {
                    away[i] = !away[i];
                    chaos.node_moves.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ if away[i] => {}
            1 => {
                // After a round trip to the other node, the instance here is
                // a new one: find it by name.
                if let Ok(h) = peeper::lookup::<Tally>(handles[i].name()) {
                    h.kill();
                    chaos.kills.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {
                let to = (owner[i] + 1 + rng.below(sups.len() - 1)) % sups.len();
                peeper::transfer(handles[i].name(), &sups[owner[i]], &sups[to])
                    .await
                    .expect("transfer between live supervisors");
                owner[i] = to;
                chaos.transfers.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    peer
}

/// Moves an instance to the other node, or back if it is `away`; whether
/// it moved.
async fn move_across(
    peer: Option<&mut Peer>,
    h: &Handle<Tally>,
    sup: &Supervisor,
    away: bool,
) -> bool {
    let Some(peer) = peer else { return false };
    let moved = if away {
        peer.move_back(h.name(), sup.name()).await
    } else {
        peer.move_out(h.name(), sup).await
    };
    if let Err(e) = &moved {
        eprintln!("move of {} failed: {e}", h.name());
    }
    moved.is_ok()
}

/// Node b, with `--nodes`.
async fn start_peer(o: &Options) -> Result<Option<Peer>, Box<dyn std::error::Error>> {
    if o.nodes {
        return Ok(Some(Peer::start(o.supervisors).await?));
    }
    Ok(None)
}

async fn stop_peer(peer: Option<Peer>) {
    if let Some(peer) = peer {
        peer.stop().await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some(nodes::PEER_FLAG) {
        let supervisors = std::env::args()
            .nth(3)
            .and_then(|s| s.parse().ok())
            .unwrap_or(4);
        return nodes::serve_peer(supervisors).await;
    }
    let o = options().map_err(|e| {
        format!(
            "{e}\nusage: soak [--seconds N] [--actors N] [--senders N] [--supervisors N] [--nodes]"
        )
    })?;
    // Thousands of deliberate panics: keep their messages off the terminal.
    std::panic::set_hook(Box::new(|_| {}));

    let mut sups = Vec::new();
    for s in 0..o.supervisors {
        sups.push(Supervisor::start(format!("soak-{s}")).await?);
    }
    let policy = RestartPolicy::new(u32::MAX, Duration::from_secs(1));
    let mut handles = Vec::with_capacity(o.actors);
    let mut owner = Vec::with_capacity(o.actors);
    for i in 0..o.actors {
        let s = i % o.supervisors;
        let name = format!("soak-actor-{i}");
        handles.push(
            sups[s]
                .start_child_with(name, Tally, Counts::default(), policy)
                .await?,
        );
        owner.push(s);
    }
    let peer = start_peer(&o).await?;
    let rss_start = rss::resident_mib();
    println!(
        "started {} instances under {} supervisors; rss {rss_start:.1} MiB",
        o.actors, o.supervisors
    );

    let (handles, sups) = (Arc::new(handles), Arc::new(sups));
    let stop = Arc::new(AtomicBool::new(false));
    let sent_total = Arc::new(AtomicU64::new(0));
    let chaos = Arc::new(Chaos::default());
    let senders: Vec<_> = (0..o.senders)
        .map(|s| {
            tokio::spawn(send(
                s,
                handles.clone(),
                stop.clone(),
                sent_total.clone(),
                o.nodes,
            ))
        })
        .collect();
    let disturber = tokio::spawn(disturb(
        handles.clone(),
        sups.clone(),
        owner,
        stop.clone(),
        chaos.clone(),
        peer,
    ));

    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.seconds);
    while Instant::now() < deadline {
        let left = deadline - Instant::now();
        tokio::time::sleep(left.min(Duration::from_secs(5))).await;
        println!(
            "{:>4}s sent={} panics={} kills={} transfers={} node_moves={} rss={:.1} MiB",
            started.elapsed().as_secs(),
            sent_total.load(Ordering::Relaxed),
            chaos.panics.load(Ordering::Relaxed),
            chaos.kills.load(Ordering::Relaxed),
            chaos.transfers.load(Ordering::Relaxed),
            chaos.node_moves.load(Ordering::Relaxed),
            rss::resident_mib()
        );
    }
    stop.store(true, Ordering::Relaxed);
    let mut sent: Vec<Vec<u64>> = Vec::new();
    for s in senders {
        sent.push(s.await?);
    }
    let peer = disturber.await?;

    // A call queues behind every cast sent before it: its answer covers all.
    let (mut lost, mut duplicated, mut handled) = (0_u64, 0_u64, 0_u64);
    for (i, h) in handles.iter().enumerate() {
        let counts = h.call(()).await?;
        handled += counts.handled;
        duplicated += counts.repeated;
        let expected: u64 = sent.iter().map(|per| per[i]).sum();
        lost += expected.saturating_sub(counts.handled - counts.repeated);
        for (sender, per) in sent.iter().enumerate() {
            let last = counts.last.get(&(sender as u32)).copied().unwrap_or(0);
            if last != per[i] {
                eprintln!(
                    "instance {i}: sender {sender} sent {} but {last} arrived last",
                    per[i]
                );
            }
        }
    }
    for s in sups.iter() {
        s.stop().await;
    }
    stop_peer(peer).await;
    let total: u64 = sent.iter().flatten().sum();
    println!(
        "handled {handled} of {total} messages in {:.1}s with {} panics, {} kills, {} transfers, {} node moves",
        started.elapsed().as_secs_f64(),
        chaos.panics.load(Ordering::Relaxed),
        chaos.kills.load(Ordering::Relaxed),
        chaos.transfers.load(Ordering::Relaxed),
        chaos.node_moves.load(Ordering::Relaxed),
    );
    println!(
        "lost={lost} duplicated={duplicated} rss_start_mib={rss_start:.1} rss_end_mib={:.1}",
        rss::resident_mib()
    );
    if lost != 0 || duplicated != 0 {
        std::process::exit(1);
    }
    Ok(())
}
