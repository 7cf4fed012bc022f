//! The scale figures: many callers, many instances.
//!
//! - **Throughput**: 256 caller tasks each call random instances (a call
//!   adds to a `u64` and answers it) for a fixed time, batches interleaved
//!   between peeper and plain ractor actors doing the same with
//!   `ractor::call!`; the figure is the median of completed calls per second.
//!   Three shapes: spread over 1,000 instances through held handles, the
//!   same through names (`peeper::call`), and hot on 16 instances. Beside
//!   them, ractor calls with a timeout, as every peeper call has one. On a
//!   multi-thread runtime of `--workers` workers, then on a current-thread
//!   runtime (suffix `.current_thread`).
//! - **Memory per instance and start rate**: K trivial instances (a `u64`
//!   state) started under one supervisor in batches of 1,000 (`join_all`):
//!   resident memory growth divided by K, and instances started per second;
//!   then K plain ractor actors spawned the same way. Medians over three
//!   rounds.
//!
//! Resident memory (RSS) is what a process can measure, and it does not go
//! back down when memory is freed: the allocator keeps much of it for reuse,
//! so a phase run after another in the same process would reuse what the
//! first freed and look smaller. Each memory phase therefore runs in a
//! process of its own (this program re-run with `--scale-phase`), which
//! starts from the same baseline every time and ends its instances by
//! exiting. The phases still alternate in one order: peeper first, then
//! ractor.
//!
//! A memory phase stops starting instances early if the machine runs short
//! of memory (a million instances take over 10 GiB), and then says how many
//! it started.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use peeper::{Handle, Supervisor};
use peeper_testkit::bench::{Adder, AdderMsg, PlainAdder, XorShift};
use peeper_testkit::rss;
use ractor::ActorRef;

use super::{Report, runtime_with};

/// The flag that turns this program into one measuring phase.
pub const PHASE_FLAG: &str = "--scale-phase";

/// Instances of the spread shapes.
const SPREAD: usize = 1_000;
/// Instances of the hot shape.
const HOT: usize = 16;
/// Caller tasks of every shape.
const CALLERS: usize = 256;
/// Instances started at once.
const START_BATCH: u64 = 1_000;
/// A memory phase starts no more instances once the machine has less than
/// this available (MiB).
const MEMORY_FLOOR_MIB: f64 = 3072.0;

const MIB: f64 = 1_048_576.0;

/// How much work the scale figures get.
#[derive(Clone, Copy)]
pub struct Effort {
    /// Batches of each throughput figure, interleaved.
    batches: usize,
    /// How long one batch calls.
    window: Duration,
    /// Instances of each memory phase.
    instances: u64,
    /// Rounds of the memory phases (peeper, then ractor).
    rounds: usize,
}

/// About 1 s of calls per throughput figure.
pub const QUICK: Effort = Effort {
    batches: 5,
    window: Duration::from_millis(200),
    instances: 100_000,
    rounds: 3,
};

/// About 2 s of calls per throughput figure.
pub const FULL: Effort = Effort {
    batches: 10,
    window: Duration::from_millis(200),
    instances: 1_000_000,
    rounds: 3,
};

/// Every scale figure, measured with `workers` worker threads wherever the
/// runtime has several.
pub fn run(report: &mut Report, e: Effort, workers: usize) {
    run_throughput(report, e, workers);
    run_memory(report, e, workers);
}

/// What a caller calls: instance `i` of one set, one way.
#[derive(Clone)]
enum Targets {
    /// Peeper instances, through handles held by the callers.
    Handles(Arc<[Handle<Adder>]>),
    /// The same instances, looked up by name at each call.
    Names(Arc<[String]>),
    /// Plain ractor actors.
    Ractor(Arc<[ActorRef<AdderMsg>]>),
    /// Plain ractor actors, called with a timeout as long as peeper's.
    RactorWithTimeout(Arc<[ActorRef<AdderMsg>]>),
}

impl Targets {
    fn len(&self) -> usize {
        match self {
            Targets::Handles(h) => h.len(),
            Targets::Names(n) => n.len(),
            Targets::Ractor(r) | Targets::RactorWithTimeout(r) => r.len(),
        }
    }

    async fn call(&self, i: usize) {
        let sum = match self {
            Targets::Handles(h) => h[i].call(1).await.expect("peeper call"),
            Targets::Names(n) => peeper::call::<Adder>(&n[i], 1)
                .await
                .expect("peeper call by name"),
            Targets::Ractor(r) => ractor::call!(r[i], AdderMsg::Add, 1).expect("ractor call"),
            Targets::RactorWithTimeout(r) => {
                let timeout = peeper::DEFAULT_CALL_TIMEOUT.as_millis() as u64;
                ractor::call_t!(r[i], AdderMsg::Add, timeout, 1).expect("ractor call")
            }
        };
        std::hint::black_box(sum);
    }
}

/// Completed calls per second of [`CALLERS`] tasks calling random targets
/// for `window`. A call that ends after the window is not counted.
async fn calls_per_second(targets: &Targets, window: Duration, seed: u64) -> f64 {
    let over = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..CALLERS as u64)
        .map(|c| {
            let (targets, over) = (targets.clone(), over.clone());
            tokio::spawn(async move {
                let mut pick = XorShift::new(seed * CALLERS as u64 + c);
                let mut done = 0_u64;
                loop {
                    targets.call(pick.below(targets.len())).await;
                    if over.load(Ordering::Relaxed) {
                        return done;
                    }
                    done += 1;
                }
            })
        })
        .collect();
    let start = Instant::now();
    tokio::time::sleep(window).await;
    over.store(true, Ordering::Relaxed);
    let took = start.elapsed();
    let mut done = 0;
    for caller in callers {
        done += caller.await.expect("caller task");
    }
    done as f64 / took.as_secs_f64()
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The throughput figures' names, in the order [`throughput`] measures them.
const SHAPES: [&str; 6] = [
    "throughput.peeper.by_handle",
    "throughput.peeper.by_name",
    "throughput.ractor",
    "throughput.ractor_with_timeout",
    "throughput.peeper.hot",
    "throughput.ractor.hot",
];

/// Medians of calls per second for [`SHAPES`], batches interleaved so that a
/// slow spell of the machine hits them all alike.
async fn throughput(flavour: &'static str, e: Effort) -> Vec<f64> {
    let sup = Supervisor::start(format!("scale-{flavour}"))
        .await
        .expect("supervisor");
    let names: Vec<String> = (0..SPREAD)
        .map(|i| format!("scale-{flavour}-{i}"))
        .collect();
    let mut handles = Vec::with_capacity(SPREAD);
    let mut actors = Vec::with_capacity(SPREAD);
    for name in &names {
        handles.push(sup.start_child(name, Adder, 0).await.expect("instance"));
        let (actor, _) = ractor::Actor::spawn(None, PlainAdder, ())
            .await
            .expect("ractor actor");
        actors.push(actor);
    }
    let shapes = [
        Targets::Handles(handles.clone().into()),
        Targets::Names(names.into()),
        Targets::Ractor(actors.clone().into()),
        Targets::RactorWithTimeout(actors.clone().into()),
        Targets::Handles(handles[..HOT].into()),
        Targets::Ractor(actors[..HOT].into()),
    ];
    let mut samples = vec![Vec::new(); shapes.len()];
    for batch in 0..e.batches {
        for (i, targets) in shapes.iter().enumerate() {
            let seed = (batch * shapes.len() + i) as u64;
            samples[i].push(calls_per_second(targets, e.window, seed).await);
        }
    }
    for actor in actors {
        actor.stop(None);
    }
    sup.stop().await;
    samples.into_iter().map(median).collect()
}

fn run_throughput(report: &mut Report, e: Effort, workers: usize) {
    for flavour in ["multi_thread", "current_thread"] {
        let rt = runtime_with(flavour, workers);
        // As application code would, the callers start from a spawned task,
        // not from the blocking main thread.
        let rates = rt.block_on(async move {
            tokio::spawn(throughput(flavour, e))
                .await
                .expect("bench task")
        });
        let suffix = if flavour == "current_thread" {
            ".current_thread"
        } else {
            ""
        };
        for (name, rate) in SHAPES.iter().zip(&rates) {
            report.whole(&format!("{name}{suffix}"), *rate, "calls/s");
        }
        for (ratio, peeper, ractor) in [
            ("ratio.throughput_vs_ractor", 0, 2),
            ("ratio.throughput_by_name_vs_ractor", 1, 2),
            ("ratio.throughput_vs_ractor_with_timeout", 0, 3),
            ("ratio.hot_throughput_vs_ractor", 4, 5),
        ] {
            report.ratio(&format!("{ratio}{suffix}"), rates[peeper] / rates[ractor]);
        }
    }
}

fn run_memory(report: &mut Report, e: Effort, workers: usize) {
    let k = e.instances.to_string();
    let mut samples: HashMap<String, Vec<f64>> = HashMap::new();
    for _ in 0..e.rounds {
        for kind in ["peeper", "ractor"] {
            for (name, value) in phase(&["memory", kind, &k], workers) {
                samples.entry(name).or_default().push(value);
            }
        }
    }
    let figures: HashMap<String, f64> = samples
        .into_iter()
        .map(|(name, s)| (name, median(s)))
        .collect();
    let get = |name: &str| figures.get(name).copied().unwrap_or(f64::NAN);
    for kind in ["peeper", "ractor"] {
        let started = get(&format!("memory.instances.{kind}"));
        if started < e.instances as f64 {
            // Short of memory: the figures are over fewer instances.
            report.whole(&format!("memory.instances.{kind}"), started, "instances");
        }
    }
    for kind in ["peeper", "ractor"] {
        let bytes = format!("memory.per_instance.{kind}");
        report.whole(&bytes, get(&bytes), "bytes");
    }
    report.ratio(
        "ratio.memory_per_instance_vs_ractor",
        get("memory.per_instance.peeper") / get("memory.per_instance.ractor"),
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

/// Runs one phase in a fresh process (this program with [`PHASE_FLAG`]) and
/// returns the figures it printed, one `name value` a line.
fn phase(args: &[&str], workers: usize) -> HashMap<String, f64> {
    let out = Command::new(std::env::current_exe().expect("this program's path"))
        .arg(PHASE_FLAG)
        .args(args)
        .arg(workers.to_string())
        .stderr(Stdio::inherit())
        .output()
        .expect("a phase process");
    assert!(out.status.success(), "phase {args:?}: {}", out.status);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Runs the phase the arguments ask for, if they ask for one: prints its
/// figures and returns the exit status.
///
/// Arguments: `--scale-phase memory peeper|ractor COUNT WORKERS`.
pub fn serve_if_asked(args: &[String]) -> Option<i32> {
    if args.first().map(String::as_str) != Some(PHASE_FLAG) {
        return None;
    }
    let arg = |i: usize| args.get(i).map_or("", String::as_str);
    let (Ok(count), Ok(workers)) = (arg(3).parse::<u64>(), arg(4).parse::<usize>()) else {
        eprintln!("usage: {PHASE_FLAG} memory peeper|ractor COUNT WORKERS");
        return Some(2);
    };
    let rt = runtime_with("multi_thread", workers);
    let figures = match (arg(1), arg(2)) {
        ("memory", "peeper") => {
            rt.block_on(async move { tokio::spawn(start_peeper(count)).await.expect("phase task") })
        }
        ("memory", "ractor") => {
            rt.block_on(async move { tokio::spawn(start_ractor(count)).await.expect("phase task") })
        }
        _ => {
            eprintln!("unknown phase {:?}", &args[1..]);
            return Some(2);
        }
    };
    for (name, value) in figures {
        println!("{name} {value}");
    }
    // Whatever is left (an overloaded inbox) ends with the process.
    rt.shutdown_background();
    Some(0)
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

/// Whether the machine still has room for more instances: more than
/// [`MEMORY_FLOOR_MIB`] available (`MemAvailable`; always, where unknown).
fn room_left() -> bool {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .is_none_or(|kib| kib / 1024.0 > MEMORY_FLOOR_MIB)
}

/// Starts `k` [`Adder`] instances under one supervisor and leaves them
/// running: the process ends them. Their names are made while timed: a
/// peeper instance has one, and it counts in its memory. The handles held
/// count too, as ractor's refs do.
async fn start_peeper(k: u64) -> Vec<(String, f64)> {
    let sup = Supervisor::start("scale-memory").await.expect("supervisor");
    let mut handles = Vec::with_capacity(k as usize);
    let before = rss::resident_mib();
    let start = Instant::now();
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
    let took = start.elapsed();
    let grown = rss::resident_mib() - before;
    start_figures("peeper", handles.len(), took, grown)
}

/// Spawns `k` [`PlainAdder`] actors as [`start_peeper`] starts instances.
async fn start_ractor(k: u64) -> Vec<(String, f64)> {
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
