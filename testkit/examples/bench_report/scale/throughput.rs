//! Throughput under many callers: [`CALLERS`] tasks each call random
//! instances (a call adds to a `u64` and answers it) for a fixed time, and
//! the figure is completed calls per second, the median over batches that
//! alternate between the figures so that a slow spell of the machine hits
//! them all alike. Three shapes, each against plain ractor actors called
//! with `ractor::call!`: spread over [`SPREAD`] instances through held
//! handles, the same through names (`peeper::call`), and hot on [`HOT`]
//! instances. Beside them, the ractor actors called with a timeout, as every
//! peeper call has one. On a multi-thread runtime of `--workers` workers,
//! then on a current-thread runtime (suffix `.current_thread`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use peeper::{Handle, Supervisor};
use peeper_testkit::bench::{Adder, AdderMsg, PlainAdder, XorShift};
use ractor::ActorRef;

use super::{Effort, Report, median, runtime_with};

/// Instances of the spread shapes.
const SPREAD: usize = 1_000;
/// Instances of the hot shape.
const HOT: usize = 16;
/// Caller tasks of every shape.
const CALLERS: usize = 256;

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

/// The throughput figures and their ratios, on each runtime flavour.
pub(super) fn run(report: &mut Report, e: Effort, workers: usize) {
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
