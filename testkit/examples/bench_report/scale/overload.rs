//! Overload: one instance whose casts are slow (each burns [`SPIN`] of CPU)
//! and one sender casting to it as fast as it can for a fixed time, yielding
//! every [`YIELD_EVERY`] casts. The figure is the growth of resident memory
//! from before the sender starts to its end: with an unbounded inbox (the
//! default) the casts it cannot keep up with pile up in memory; with one
//! bounded to [`CAPACITY`] messages, casts past the bound are refused with
//! [`Undelivered::Full`] (and counted) instead. Each run in a process of its
//! own (see `scale.rs`), unbounded first. The unbounded run grows by about
//! 1 GiB a second here; if the machine runs short of memory the sender stops
//! early and the report says after how long (`overload.seconds.unbounded`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use peeper::{Handle, StartOptions, Supervisor, Undelivered};
use peeper_testkit::bench::Spin;
use peeper_testkit::rss;

use super::{Effort, Report, phase, room_left};

/// How long one cast keeps the instance busy.
const SPIN: Duration = Duration::from_micros(50);
/// The bound of the bounded run.
pub(super) const CAPACITY: usize = 10_000;
/// The sender yields to the runtime once every so many casts.
const YIELD_EVERY: u64 = 1_000;
/// The sender looks at the machine's free memory once every so many yields.
const LOOK_EVERY: u64 = 64;

/// The overload figures, unbounded and bounded.
pub(super) fn run(report: &mut Report, e: Effort, workers: usize) {
    let millis = e.overload.as_millis() as u64;
    let mut figures = HashMap::new();
    for inbox in ["unbounded", "bounded"] {
        figures.extend(phase("overload", inbox, millis, workers));
    }
    let get = |name: &str| figures.get(name).copied().unwrap_or(f64::NAN);
    for inbox in ["unbounded", "bounded"] {
        let seconds = format!("overload.seconds.{inbox}");
        if get(&seconds) < e.overload.as_secs_f64() {
            // Short of memory: the sender stopped early.
            report.value(&seconds, get(&seconds), "s");
        }
    }
    for inbox in ["unbounded", "bounded"] {
        let growth = format!("overload.rss_growth_mib.{inbox}");
        report.value(&growth, get(&growth), "MiB");
    }
    report.count(
        "overload.refused.bounded",
        get("overload.refused.bounded") as u64,
    );
    for inbox in ["unbounded", "bounded"] {
        for what in ["accepted", "queued"] {
            let name = format!("overload.{what}.{inbox}");
            report.count(&name, get(&name) as u64);
        }
    }
}

/// Starts a [`Spin`] instance, bounded to `capacity` if given, and has one
/// sender flood it with casts for `window`: resident memory growth (MiB),
/// casts accepted and refused, how many were still queued at the end, and
/// how long the sender sent.
pub(super) async fn flood(capacity: Option<usize>, window: Duration) -> Vec<(String, f64)> {
    let inbox = if capacity.is_some() {
        "bounded"
    } else {
        "unbounded"
    };
    let options = match capacity {
        Some(n) => StartOptions::default().capacity(n),
        None => StartOptions::default(),
    };
    let sup = Supervisor::start("scale-overload")
        .await
        .expect("supervisor");
    let h = sup
        .start_child_with("overloaded", Spin(SPIN), 0, options)
        .await
        .expect("instance");
    let before = rss::resident_mib();
    let start = Instant::now();
    let (accepted, refused) = tokio::spawn(send_for(h.clone(), window))
        .await
        .expect("sender task");
    let took = start.elapsed();
    let grown = rss::resident_mib() - before;
    vec![
        (format!("overload.seconds.{inbox}"), took.as_secs_f64()),
        (format!("overload.rss_growth_mib.{inbox}"), grown),
        (format!("overload.accepted.{inbox}"), accepted as f64),
        (format!("overload.refused.{inbox}"), refused as f64),
        (format!("overload.queued.{inbox}"), h.queue_len() as f64),
    ]
}

/// Casts to `h` in a tight loop for `window` (less if memory runs short):
/// casts accepted, and casts refused because the inbox was full (dropped,
/// not retried).
async fn send_for(h: Handle<Spin>, window: Duration) -> (u64, u64) {
    let end = Instant::now() + window;
    let (mut accepted, mut refused) = (0_u64, 0_u64);
    let mut rounds = 0_u64;
    while Instant::now() < end {
        rounds += 1;
        if rounds % LOOK_EVERY == 0 && !room_left() {
            break;
        }
        for _ in 0..YIELD_EVERY {
            match h.cast(accepted) {
                Ok(()) => accepted += 1,
                Err(e) if matches!(e.reason(), Undelivered::Full { .. }) => refused += 1,
                Err(e) => panic!("cast refused: {e}"),
            }
        }
        tokio::task::yield_now().await;
    }
    (accepted, refused)
}
