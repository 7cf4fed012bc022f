//! Memory per instance and start rate: K trivial instances (a `u64` state)
//! started under one supervisor in batches of [`START_BATCH`] (`join_all`):
//! resident memory growth divided by K, and instances started per second;
//! then K plain ractor actors spawned the same way. Each phase runs in a
//! process of its own (see `scale.rs`); rounds alternate peeper first, then
//! ractor, and each figure is the median over the rounds.
//!
//! A new instance gets its worker only when it first needs one, so the
//! figures above are those of instances that were only started. A third
//! phase starts K instances, then gives each its worker (with
//! `Handle::actor_ref`) and sends it one call through the worker's mailbox:
//! `memory.per_instance.peeper_woken` is what an instance that has worked
//! costs.
//!
//! A fourth phase starts K instances and casts to each once a second for
//! [`CAST_ROUNDS`] seconds, each round answered (a call behind each cast)
//! before the next: `memory.per_instance.peeper_cast_every_second` is what
//! an instance under steady light traffic costs.
//!
//! A phase stops starting instances early if the machine runs short of
//! memory (a million instances take over 10 GiB), and the report then says
//! how many it started (`memory.instances.peeper`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::future::join_all;
use peeper::{Handle, Supervisor};
use peeper_testkit::bench::{Adder, PlainAdder};
use peeper_testkit::rss;

use super::{Effort, Report, median, phase, room_left};

/// Instances started at once.
const START_BATCH: u64 = 1_000;

const MIB: f64 = 1_048_576.0;

/// Seconds of the phase that casts to every instance once a second.
const CAST_ROUNDS: u32 = 5;

/// The memory phases, in the order each round runs them.
const KINDS: [&str; 4] = [
    "peeper",
    "peeper_woken",
    "peeper_cast_every_second",
    "ractor",
];

/// The memory and start figures and their ratios.
pub(super) fn run(report: &mut Report, e: Effort, workers: usize) {
    let mut samples: HashMap<String, Vec<f64>> = HashMap::new();
    for _ in 0..e.rounds {
        for kind in KINDS {
            for (name, value) in phase("memory", kind, e.instances, workers) {
                samples.entry(name).or_default().push(value);
            }
        }
    }
    let figures: HashMap<String, f64> = samples
        .into_iter()
        .map(|(name, s)| (name, median(s)))
        .collect();
    let get = |name: &str| figures.get(name).copied().unwrap_or(f64::NAN);
    for kind in KINDS {
        let started = get(&format!("memory.instances.{kind}"));
        if started < e.instances as f64 {
            // Short of memory: the figures are over fewer instances.
            report.whole(&format!("memory.instances.{kind}"), started, "instances");
        }
    }
    for kind in KINDS {
        let bytes = format!("memory.per_instance.{kind}");
        report.whole(&bytes, get(&bytes), "bytes");
    }
    report.ratio(
        "ratio.memory_per_instance_vs_ractor",
        get("memory.per_instance.peeper") / get("memory.per_instance.ractor"),
    );
    report.ratio(
        "ratio.memory_per_woken_instance_vs_ractor",
        get("memory.per_instance.peeper_woken") / get("memory.per_instance.ractor"),
    );
    report.ratio(
        "ratio.memory_per_instance_cast_every_second_vs_ractor",
        get("memory.per_instance.peeper_cast_every_second") / get("memory.per_instance.ractor"),
    );
    for kind in ["peeper", "ractor"] {
        let rate = format!("start_rate.{kind}");
        report.whole(&rate, get(&rate), "instances/s");
    }
    report.ratio(
        "ratio.start_rate_vs_ractor",
        get("start_rate.peeper") / get("start_rate.ractor"),
    );
}

/// Memory per instance and starts per second of `k` instances started in
/// `took`, resident memory having grown by `grown_mib`.
fn start_figures(kind: &str, k: usize, took: Duration, grown_mib: f64) -> Vec<(String, f64)> {
    vec![
        (format!("memory.instances.{kind}"), k as f64),
        (
            format!("memory.per_instance.{kind}"),
            grown_mib * MIB / k as f64,
        ),
        (format!("start_rate.{kind}"), k as f64 / took.as_secs_f64()),
    ]
}

/// Starts `k` [`Adder`] instances under one supervisor and leaves them
/// running: the process ends them. Their names are made while timed: a
/// peeper instance has one, and it counts in its memory. The handles held
/// count too, as ractor's refs do.
pub(super) async fn start_peeper(k: u64) -> Vec<(String, f64)> {
    let before = rss::resident_mib();
    let start = Instant::now();
    let (_sup, handles) = start_adders(k).await;
    let took = start.elapsed();
    let grown = rss::resident_mib() - before;
    start_figures("peeper", handles.len(), took, grown)
}

/// Starts `k` [`Adder`] instances as [`start_peeper`] does, then gives each
/// its worker and sends it a call through its mailbox. Only the memory
/// figure is kept: the start rate is [`start_peeper`]'s.
pub(super) async fn start_peeper_woken(k: u64) -> Vec<(String, f64)> {
    let before = rss::resident_mib();
    let start = Instant::now();
    let (_sup, handles) = start_adders(k).await;
    for batch in handles.chunks(START_BATCH as usize) {
        let calls = batch.iter().map(|h| async move {
            let actor = h.actor_ref().expect("a worker");
            ractor::call!(actor, peeper::Envelope::call, 1).expect("an answer")
        });
        for answered in join_all(calls).await {
            answered.expect("a call answered");
        }
    }
    let took = start.elapsed();
    let grown = rss::resident_mib() - before;
    start_figures("peeper_woken", handles.len(), took, grown)
        .into_iter()
        .filter(|(name, _)| !name.starts_with("start_rate"))
        .collect()
}

/// Starts `k` [`Adder`] instances as [`start_peeper`] does, then casts to
/// each once a second for [`CAST_ROUNDS`] seconds; a call behind each cast
/// says it was handled before the next round. Only the memory figure is
/// kept.
pub(super) async fn start_peeper_cast_every_second(k: u64) -> Vec<(String, f64)> {
    let before = rss::resident_mib();
    let (_sup, handles) = start_adders(k).await;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for _ in 0..CAST_ROUNDS {
        tick.tick().await;
        for batch in handles.chunks(START_BATCH as usize) {
            let rounds = batch.iter().map(|h| async move {
                h.cast(()).expect("a cast accepted");
                h.call(0).await.expect("an answer")
            });
            join_all(rounds).await;
        }
    }
    let grown = rss::resident_mib() - before;
    start_figures(
        "peeper_cast_every_second",
        handles.len(),
        Duration::ZERO,
        grown,
    )
    .into_iter()
    .filter(|(name, _)| !name.starts_with("start_rate"))
    .collect()
}

/// Starts `k` [`Adder`] instances under a new supervisor (fewer if memory
/// runs short), [`START_BATCH`] at a time; returns it and their handles.
async fn start_adders(k: u64) -> (Supervisor, Vec<Handle<Adder>>) {
    let sup = Supervisor::start("scale-memory").await.expect("supervisor");
    let mut handles = Vec::with_capacity(k as usize);
    for first in (0..k).step_by(START_BATCH as usize) {
        if !room_left() {
            break;
        }
        let batch = (first..k.min(first + START_BATCH))
            .map(|i| sup.start_child(format!("scale-memory-{i}"), Adder, 0));
        for started in join_all(batch).await {
            handles.push(started.expect("instance"));
        }
    }
    (sup, handles)
}

/// Spawns `k` [`PlainAdder`] actors as [`start_peeper`] starts instances.
pub(super) async fn start_ractor(k: u64) -> Vec<(String, f64)> {
    let mut actors = Vec::with_capacity(k as usize);
    let before = rss::resident_mib();
    let start = Instant::now();
    for first in (0..k).step_by(START_BATCH as usize) {
        if !room_left() {
            break;
        }
        let batch =
            (first..k.min(first + START_BATCH)).map(|_| ractor::Actor::spawn(None, PlainAdder, ()));
        for spawned in join_all(batch).await {
            actors.push(spawned.expect("ractor actor").0);
        }
    }
    let took = start.elapsed();
    let grown = rss::resident_mib() - before;
    start_figures("ractor", actors.len(), took, grown)
}
