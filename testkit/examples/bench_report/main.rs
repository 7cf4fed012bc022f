//! Measures every performance claim in one run and prints one line per
//! figure, `name value unit`, ratios included: the local figures, the scale
//! figures (see `scale.rs`), the live view's figures (see `dashboard.rs`),
//! the durable figures (see `durable.rs`), then
//! the node figures, measured between node processes it starts itself (see
//! `remote.rs`).
//!
//! ```sh
//! cargo run --release -p peeper-testkit --example bench_report -- --quick        # < 1 minute
//! cargo run --release -p peeper-testkit --example bench_report                   # longer, steadier
//! cargo run --release -p peeper-testkit --example bench_report -- --svg out.svg  # plot elsewhere
//! cargo run --release -p peeper-testkit --example bench_report -- --quick --only-local
//! cargo run --release -p peeper-testkit --example bench_report -- --quick --only-remote
//! cargo run --release -p peeper-testkit --example bench_report -- --quick --only-scale
//! cargo run --release -p peeper-testkit --example bench_report -- --quick --only-durable
//! cargo run --release -p peeper-testkit --example bench_report -- --quick --only-dashboard
//! cargo run --release -p peeper-testkit --example bench_report -- --only-scale --workers 4
//! ```
//!
//! `--only-local` runs the local and scale figures, `--only-remote` the node
//! figures, `--only-scale` the scale figures alone, `--only-durable` the
//! durable figures alone, `--only-dashboard` the live view's figures alone;
//! with none of these, every figure. `--workers N`
//! (default 2) sets the worker threads of the multi-thread runtime of the
//! scale and durable figures.
//!
//! The scale figures, all but the overload ones set against plain ractor
//! actors doing the same on the same runtime:
//!
//! - `throughput.peeper.by_handle`, `throughput.peeper.by_name`,
//!   `throughput.ractor` and `ratio.throughput_vs_ractor`,
//!   `ratio.throughput_by_name_vs_ractor`: calls/s of 256 callers calling
//!   random instances among 1,000 (through handles, through names);
//! - `throughput.ractor_with_timeout`, `ratio.throughput_vs_ractor_with_timeout`:
//!   the ractor side calling with a timeout, as every peeper call has one;
//! - `throughput.peeper.hot`, `throughput.ractor.hot`,
//!   `ratio.hot_throughput_vs_ractor`: the same on 16 instances;
//! - the same figures and ratios on a current-thread runtime, with the
//!   suffix `.current_thread`;
//! - `memory.per_instance.peeper` and `.ractor` (bytes of resident memory),
//!   `start_rate.peeper` and `.ractor` (instances/s), with
//!   `ratio.memory_per_instance_vs_ractor` and `ratio.start_rate_vs_ractor`:
//!   100,000 instances (1,000,000 without `--quick`) started in batches of
//!   1,000; `memory.per_instance.peeper_woken` and
//!   `ratio.memory_per_woken_instance_vs_ractor`: the same instances once
//!   each got its worker and handled a call through its mailbox (a new
//!   instance gets its worker only when it first needs one);
//! - `overload.rss_growth_mib.unbounded` and `.bounded`, and
//!   `overload.refused.bounded`: resident memory growth while one sender
//!   floods an instance whose casts take 50 µs each, for 1 s (3 s without
//!   `--quick`), with an unbounded inbox and with one bounded to 10,000
//!   messages, and the casts the bounded one refused as full (beside them,
//!   `overload.accepted.*` and `overload.queued.*`: casts queued, and still
//!   queued at the end).
//!
//! The durable figures (on a store in `std::env::temp_dir()`, removed after):
//!
//! - `durable.calls_per_s_1`: calls/s of one caller calling one durable
//!   instance in a loop, each call a change whose reply waits for its fsync
//!   (300 calls; 2,000 without `--quick`);
//! - `durable.calls_per_s_1000`: the same with 1,000 instances, each called
//!   by a caller of its own, all at once (50 calls each; 200 without
//!   `--quick`), under group commit; `durable.calls_per_s_1000.single_fsync`,
//!   the same on a store with `max_batch(1)`, one fsync per change (3 calls
//!   each; 10 without `--quick`), and `ratio.durable_group_vs_single_fsync`;
//! - `durable.fill_100k_s`: starting 100,000 small durable instances on a
//!   store with `Durability::Batched(50 ms)`, until it is closed with all of
//!   them on disk; `durable.recover_100k_s`: `Durable::supervisor` bringing
//!   them all back from the reopened store.
//!
//! Each figure is the median over several batches of per-operation times, so
//! a noisy neighbour spoils a batch, not the figure (the overload and
//! durable figures come from one run each). Ratios compare figures taken in this same run on
//! the same runtime flavour.

mod dashboard;
mod durable;
mod remote;
mod scale;

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use peeper::{Handle, Supervisor};
use peeper_testkit::bench::{
    Bench, BenchState, Cast, PlainMsg, bench_instance, casts_then_call, kill_then_call, map_1mib,
    mpsc_actor, mpsc_call, plain_ractor, transfer_round_trips, transfer_setup, vec_1mib,
};
use ractor::ActorRef;
use tokio::runtime::{Builder, Runtime};

/// How much work each figure gets.
#[derive(Clone, Copy)]
struct Effort {
    batches: usize,
    calls: u64,
    cheap_casts: u64,
    copying_casts: u64,
    restarts: u64,
    transfers: u64,
    load_messages: u64,
}

const QUICK: Effort = Effort {
    batches: 7,
    calls: 50_000,
    cheap_casts: 50_000,
    copying_casts: 200,
    restarts: 5_000,
    transfers: 5_000,
    load_messages: 20_000,
};

const FULL: Effort = Effort {
    batches: 15,
    calls: 200_000,
    cheap_casts: 200_000,
    copying_casts: 1_000,
    restarts: 20_000,
    transfers: 20_000,
    load_messages: 100_000,
};

/// Prints figures as they come and keeps them for the plot.
#[derive(Default)]
struct Report {
    figures: Vec<(String, f64)>,
}

impl Report {
    fn time(&mut self, name: &str, d: Duration) -> f64 {
        let us = d.as_secs_f64() * 1e6;
        println!("{name} {us:.3} us");
        self.figures.push((name.to_owned(), us));
        us
    }

    fn ratio(&mut self, name: &str, value: f64) {
        println!("{name} {value:.2} x");
    }

    fn value(&mut self, name: &str, value: f64, unit: &str) {
        println!("{name} {value:.3} {unit}");
        self.figures.push((name.to_owned(), value));
    }

    /// A figure too large for decimals to mean anything.
    fn whole(&mut self, name: &str, value: f64, unit: &str) {
        println!("{name} {value:.0} {unit}");
        self.figures.push((name.to_owned(), value));
    }

    fn count(&mut self, name: &str, value: u64) {
        println!("{name} {value} messages");
    }

    fn get(&self, name: &str) -> f64 {
        self.figures
            .iter()
            .find(|(n, _)| n == name)
            .map_or(f64::NAN, |(_, v)| *v)
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn runtime(flavour: &str) -> Runtime {
    runtime_with(flavour, 2)
}

/// A runtime of `flavour`, with `workers` worker threads if it has several.
fn runtime_with(flavour: &str, workers: usize) -> Runtime {
    let mut builder = if flavour == "current_thread" {
        Builder::new_current_thread()
    } else {
        let mut b = Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    builder.enable_all().build().expect("a tokio runtime")
}

/// Call round trips: peeper, plain ractor (with and without a timeout), and
/// a hand-written mpsc + oneshot actor, batches interleaved.
async fn calls(flavour: &'static str, e: Effort) -> [Duration; 4] {
    let (sup, h) = bench_instance(&format!("call-{flavour}"), 0_u64).await;
    let ractor = plain_ractor().await;
    let mpsc = mpsc_actor();
    let n = e.calls;
    let mut samples: [Vec<Duration>; 4] = Default::default();
    for _ in 0..e.batches {
        let t = Instant::now();
        for _ in 0..n {
            h.call(()).await.expect("peeper call");
        }
        samples[0].push(t.elapsed() / n as u32);
        let t = Instant::now();
        for _ in 0..n {
            ractor::call!(ractor, PlainMsg::Get).expect("ractor call");
        }
        samples[1].push(t.elapsed() / n as u32);
        let t = Instant::now();
        for _ in 0..n {
            ractor
                .call(PlainMsg::Get, Some(Duration::from_secs(5)))
                .await
                .expect("ractor call with timeout");
        }
        samples[2].push(t.elapsed() / n as u32);
        let t = Instant::now();
        for _ in 0..n {
            mpsc_call(&mpsc).await;
        }
        samples[3].push(t.elapsed() / n as u32);
    }
    ractor.stop(None);
    sup.stop().await;
    samples.map(median)
}

fn run_calls(report: &mut Report, e: Effort) {
    for flavour in ["current_thread", "multi_thread"] {
        let rt = runtime(flavour);
        // On the multi-thread runtime the bench runs as a spawned task, as
        // application code would, not on the blocking main thread.
        let [peeper, ractor, ractor_t, mpsc] =
            rt.block_on(async move { tokio::spawn(calls(flavour, e)).await.expect("bench task") });
        let p = report.time(&format!("call.peeper.{flavour}"), peeper);
        let r = report.time(&format!("call.ractor.{flavour}"), ractor);
        let rt_ = report.time(&format!("call.ractor_with_timeout.{flavour}"), ractor_t);
        report.time(&format!("call.tokio_mpsc.{flavour}"), mpsc);
        let suffix = if flavour == "current_thread" {
            String::new()
        } else {
            format!(".{flavour}")
        };
        report.ratio(&format!("ratio.call_vs_ractor{suffix}"), p / r);
        report.ratio(
            &format!("ratio.call_vs_ractor_with_timeout{suffix}"),
            p / rt_,
        );
    }
}

/// A batch of one figure: runs some operations, returns the time of one.
type Batch = Box<dyn FnMut() -> Pin<Box<dyn Future<Output = Duration>>>>;

/// Runs the batches of several figures round-robin, so that a slow spell of
/// the machine hits them all alike; reports the median of each.
async fn interleaved(report: &mut Report, batches: usize, mut figures: Vec<(String, Batch)>) {
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); figures.len()];
    for _ in 0..batches {
        for (i, (_, batch)) in figures.iter_mut().enumerate() {
            samples[i].push(batch().await);
        }
    }
    for ((name, _), s) in figures.iter().zip(samples) {
        report.time(name, median(s));
    }
}

/// No-op and state-changing casts of one instance; `n` changing casts a batch.
fn cast_figures<S: BenchState>(
    label: &str,
    h: Handle<Bench<S>>,
    n: u64,
    e: Effort,
) -> Vec<(String, Batch)> {
    let cheap = e.cheap_casts;
    let noop_h = h.clone();
    vec![
        (
            format!("cast.noop.{label}"),
            Box::new(move || {
                let h = noop_h.clone();
                Box::pin(async move {
                    casts_then_call(&h, cheap, || Cast::Noop).await / (cheap as u32 + 1)
                })
            }),
        ),
        (
            format!("cast.change.{label}"),
            Box::new(move || {
                let h = h.clone();
                Box::pin(
                    async move { casts_then_call(&h, n, || Cast::Touch).await / (n as u32 + 1) },
                )
            }),
        ),
    ]
}

/// Kill → next call answered, for one instance.
fn restart_figure<S: BenchState>(label: &str, h: Handle<Bench<S>>, e: Effort) -> (String, Batch) {
    let n = e.restarts;
    (
        format!("restart.kill_to_reply.{label}"),
        Box::new(move || {
            let h = h.clone();
            Box::pin(async move { kill_then_call(&h, n).await / n as u32 })
        }),
    )
}

/// A plain call to one instance, measured beside the restarts.
fn call_figure<S: BenchState>(name: &str, h: Handle<Bench<S>>, e: Effort) -> (String, Batch) {
    let n = e.restarts;
    (
        name.to_owned(),
        Box::new(move || {
            let h = h.clone();
            Box::pin(async move {
                let t = Instant::now();
                for _ in 0..n {
                    h.call(()).await.expect("call");
                }
                t.elapsed() / n as u32
            })
        }),
    )
}

/// A plain ractor call, measured beside the restarts on the same runtime.
fn ractor_call_figure(name: &str, actor: ActorRef<PlainMsg>, e: Effort) -> (String, Batch) {
    let n = e.restarts;
    (
        name.to_owned(),
        Box::new(move || {
            let actor = actor.clone();
            Box::pin(async move {
                let t = Instant::now();
                for _ in 0..n {
                    ractor::call!(actor, PlainMsg::Get).expect("ractor call");
                }
                t.elapsed() / n as u32
            })
        }),
    )
}

/// Local transfers of one instance back and forth.
fn transfer_figure(
    label: &str,
    a: Supervisor,
    b: Supervisor,
    name: String,
    e: Effort,
) -> (String, Batch) {
    let n = e.transfers;
    (
        format!("transfer.local.{label}"),
        Box::new(move || {
            let (a, b, name) = (a.clone(), b.clone(), name.clone());
            Box::pin(async move { transfer_round_trips(&a, &b, &name, n).await / (2 * n as u32) })
        }),
    )
}

fn run_state_costs(report: &mut Report, e: Effort) {
    let rt = runtime("current_thread");
    rt.block_on(async {
        let mut sups = Vec::new();
        let (s1, small) = bench_instance("cast-8b", 0_u64).await;
        let (s2, vec) = bench_instance("cast-1mib-vec", vec_1mib()).await;
        let (s3, map) = bench_instance("cast-1mib-map", map_1mib()).await;
        let ractor = plain_ractor().await;
        let mut casts = cast_figures("8b", small.clone(), e.cheap_casts, e);
        casts.extend(cast_figures("1mib_vec", vec.clone(), e.copying_casts, e));
        casts.extend(cast_figures("1mib_im_map", map, e.cheap_casts, e));
        interleaved(report, e.batches, casts).await;

        let restarts = vec![
            call_figure("call.peeper.beside_restarts", small.clone(), e),
            ractor_call_figure("call.ractor.beside_restarts", ractor.clone(), e),
            restart_figure("8b", small, e),
            restart_figure("1mib_vec", vec, e),
        ];
        interleaved(report, e.batches, restarts).await;
        ractor.stop(None);
        sups.extend([s1, s2, s3]);

        let mut transfers = Vec::new();
        for (label, state, rows, bytes) in [
            ("empty", Vec::new(), 0, 0),
            ("1mib_state_100k_rows", vec_1mib(), 100_000, 16),
            ("1gib_table", Vec::new(), 1024, 1 << 20),
        ] {
            let name = format!("transfer-{label}");
            let (a, b, _) = transfer_setup(&name, state, rows, bytes).await;
            transfers.push(transfer_figure(label, a.clone(), b.clone(), name, e));
            sups.extend([a, b]);
        }
        interleaved(report, e.batches, transfers).await;
        for s in sups {
            s.stop().await;
        }
    });
    let noop_ratio = report.get("cast.noop.1mib_vec") / report.get("cast.noop.8b");
    report.ratio("ratio.noop_cast_1mib_vs_8b", noop_ratio);
    let restart = report.get("restart.kill_to_reply.8b");
    report.ratio(
        "ratio.restart_vs_call",
        restart / report.get("call.peeper.beside_restarts"),
    );
    // A call to an idle instance runs on its caller and costs a fraction of
    // a mailbox trip, so the ratio above measures the restart against a
    // figure far below any actor's call; this one keeps the goal in terms
    // of what a plain ractor actor costs.
    report.ratio(
        "ratio.restart_vs_ractor_call",
        restart / report.get("call.ractor.beside_restarts"),
    );
    report.ratio(
        "ratio.restart_1mib_vs_8b",
        report.get("restart.kill_to_reply.1mib_vec") / restart,
    );
    let empty = report.get("transfer.local.empty");
    report.ratio(
        "ratio.transfer_big_vs_empty",
        report.get("transfer.local.1mib_state_100k_rows") / empty,
    );
    report.ratio(
        "ratio.transfer_1gib_vs_empty",
        report.get("transfer.local.1gib_table") / empty,
    );
}

/// Senders cast numbered messages while the instance is transferred back and
/// forth and its worker killed; counts what did not arrive exactly once, in
/// order.
async fn load(e: Effort) -> (u64, u64, u64) {
    const SENDERS: u32 = 4;
    let name = "load-p";
    let (a, b, h) = transfer_setup(name, 0_u64, 0, 0).await;
    let start = Arc::new(tokio::sync::Barrier::new(SENDERS as usize + 1));
    let mut tasks = Vec::new();
    for sender in 1..=SENDERS {
        let (h, start) = (h.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            for seq in 1..=e.load_messages {
                h.cast(Cast::Seq(sender, seq)).expect("cast");
                if seq % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    start.wait().await;
    let mut i = 0_u64;
    while !tasks.iter().all(|t| t.is_finished()) {
        let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        peeper::transfer(name, from, to).await.expect("transfer");
        if i % 8 == 0 {
            h.kill();
        }
        i += 1;
        tokio::task::yield_now().await;
    }
    for t in tasks {
        t.await.expect("sender");
    }
    h.call_timeout((), Duration::from_secs(60))
        .await
        .expect("drained");
    let dict = h.dictionary();
    let handled: u64 = (1..=SENDERS)
        .map(|s| dict.get::<u64>(&format!("s{s}")).copied().unwrap_or(0))
        .sum();
    let disorder = dict.get::<u64>("bad").copied().unwrap_or(0);
    let sent = u64::from(SENDERS) * e.load_messages;
    a.stop().await;
    b.stop().await;
    (sent.saturating_sub(handled), disorder, i)
}

fn run_load(report: &mut Report, e: Effort) {
    let rt = runtime("multi_thread");
    let (lost, disorder, transfers) =
        rt.block_on(async move { tokio::spawn(load(e)).await.expect("load task") });
    println!("load.transfers_during_load {transfers} transfers");
    report.count("lost_messages", lost);
    report.count("out_of_order_or_duplicated", disorder);
}

/// One line of the plot: its label, its colour, and (figure, bytes) points.
struct Line {
    label: &'static str,
    color: plotters::style::RGBColor,
    points: &'static [(&'static str, f64)],
}

const MIB: f64 = 1_048_576.0;

fn plot(report: &Report, path: &PathBuf) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let lines = [
        Line {
            label: "no-op cast",
            color: BLUE,
            points: &[("cast.noop.8b", 8.0), ("cast.noop.1mib_vec", MIB)],
        },
        Line {
            label: "changing cast (Vec)",
            color: RED,
            points: &[("cast.change.8b", 8.0), ("cast.change.1mib_vec", MIB)],
        },
        Line {
            label: "changing cast (im map)",
            color: MAGENTA,
            points: &[("cast.change.8b", 8.0), ("cast.change.1mib_im_map", MIB)],
        },
        Line {
            label: "kill -> next reply",
            color: GREEN,
            points: &[
                ("restart.kill_to_reply.8b", 8.0),
                ("restart.kill_to_reply.1mib_vec", MIB),
            ],
        },
        Line {
            label: "local transfer",
            color: BLACK,
            points: &[
                ("transfer.local.empty", 8.0),
                (
                    "transfer.local.1mib_state_100k_rows",
                    MIB + 100_000.0 * 24.0,
                ),
                ("transfer.local.1gib_table", 1024.0 * MIB),
            ],
        },
    ];
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "peeper: cost against state / table size",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d((4.0_f64..4e9).log_scale(), (0.01_f64..1e4).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("bytes of state + table (log)")
        .y_desc("microseconds per operation (log)")
        .draw()?;
    for line in lines {
        let data: Vec<(f64, f64)> = line
            .points
            .iter()
            .map(|(name, size)| (*size, report.get(name)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        let color = line.color;
        chart
            .draw_series(LineSeries::new(data, color.stroke_width(2)))?
            .label(line.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(status) = remote::serve_if_asked(&args) {
        std::process::exit(status);
    }
    if let Some(status) = scale::serve_if_asked(&args) {
        std::process::exit(status);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let svg = args
        .iter()
        .position(|a| a == "--svg")
        .and_then(|i| args.get(i + 1))
        .map_or_else(|| PathBuf::from("target/bench_report.svg"), PathBuf::from);
    let workers = match args.iter().position(|a| a == "--workers") {
        Some(i) => match args.get(i + 1).and_then(|n| n.parse().ok()) {
            Some(n) if n > 0 => n,
            _ => {
                eprintln!("--workers wants a number of threads, at least 1");
                std::process::exit(2);
            }
        },
        None => 2,
    };
    let effort = if quick { QUICK } else { FULL };
    let started = Instant::now();
    println!("mode {} -", if quick { "quick" } else { "full" });
    let mut report = Report::default();
    // `--only-remote` skips the local and scale figures, `--only-local` the
    // node ones, `--only-scale` all but the scale figures, `--only-durable`
    // all but the durable ones; the durable figures run only in the whole
    // report or alone.
    let only = |flag: &str| args.iter().any(|a| a == flag);
    let only_scale = only("--only-scale");
    let only_durable = only("--only-durable");
    let only_dashboard = only("--only-dashboard");
    let everything = ![
        "--only-local",
        "--only-remote",
        "--only-scale",
        "--only-durable",
        "--only-dashboard",
    ]
    .into_iter()
    .any(only);
    if only_dashboard {
        dashboard::run(&mut report, effort);
    }
    let local = !only_scale && !only_durable && !only_dashboard && !only("--only-remote");
    if local {
        run_calls(&mut report, effort);
        dashboard::run(&mut report, effort);
        run_state_costs(&mut report, effort);
        run_load(&mut report, effort);
    }
    if only_scale || local {
        let scale_effort = if quick { scale::QUICK } else { scale::FULL };
        scale::run(&mut report, scale_effort, workers);
    }
    if everything || only_durable {
        let durable_effort = if quick { durable::QUICK } else { durable::FULL };
        durable::run(&mut report, durable_effort, workers);
    }
    if !only_scale && !only_durable && !only_dashboard && !only("--only-local") {
        remote::run(&mut report, quick);
    }
    if let Some(dir) = svg.parent().filter(|d| !d.as_os_str().is_empty()) {
        // A missing folder shows up as the plot's error just below.
        let _ = std::fs::create_dir_all(dir);
    }
    // The plot draws local figures only.
    if local {
        match plot(&report, &svg) {
            Ok(()) => println!("plot {} svg", svg.display()),
            Err(e) => eprintln!("could not write the plot {}: {e}", svg.display()),
        }
    }
    println!("wall_time {:.1} s", started.elapsed().as_secs_f64());
}
