//! Bringing instances back: a store is filled with 100,000 small instances
//! (a `u64` each) under one supervisor, everything is let go, and the store
//! is opened again.
//!
//! - `durable.fill_100k_s`: starting them, 1,000 at a time, on a store
//!   opened with `Durability::Batched(50 ms)` (a start does not wait for its
//!   fsync, a transaction takes up to 4,096 of them), until the store is
//!   closed with every one of them on disk.
//! - `durable.recover_100k_s`: `Durable::supervisor` on the reopened store,
//!   from the call until it returns with every instance running again.
//!
//! Both run in the report's process; the 100,000 first instances are
//! stopped (a shutdown, which keeps them in the store) and their store
//! closed before the reopening, as after a restart of the program.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::future::join_all;
use peeper::durable::{Durability, Durable};
use tokio::runtime::Runtime;

use super::{Effort, Report, Scratch, Tally};

/// Instances started at once while filling.
const START_BATCH: u64 = 1_000;
/// The supervisor the instances are stored under.
const SUPERVISOR: &str = "dbench-recover";

pub(super) fn run(report: &mut Report, rt: &Runtime, scratch: &Scratch, e: Effort) {
    let path = scratch.store("recover");
    let n = e.recovered;
    let figures = rt.block_on(async move { tokio::spawn(fill_then_recover(path, n)).await });
    let (fill, recover) = figures.expect("bench task");
    report.value(&name("durable.fill", n), fill.as_secs_f64(), "s");
    report.value(&name("durable.recover", n), recover.as_secs_f64(), "s");
}

/// `durable.fill_100k_s` for 100,000; another count says its own.
fn name(what: &str, n: u64) -> String {
    if n % 1_000 == 0 {
        format!("{what}_{}k_s", n / 1_000)
    } else {
        format!("{what}_{n}_s")
    }
}

fn instance(i: u64) -> String {
    format!("dbench-r-{i}")
}

async fn fill_then_recover(path: PathBuf, n: u64) -> (Duration, Duration) {
    let fill = fill(&path, n).await;
    let recover = recover(&path, n).await;
    (fill, recover)
}

/// Starts `n` instances on a new store and closes it; the time until the
/// store is closed, every start on disk.
async fn fill(path: &Path, n: u64) -> Duration {
    let durable = Durable::options()
        .durability(Durability::Batched(Duration::from_millis(50)))
        .open(path)
        .expect("a new store");
    durable.register(|| Tally);
    let sup = durable.supervisor(SUPERVISOR).await.expect("supervisor");
    let start = Instant::now();
    for first in (0..n).step_by(START_BATCH as usize) {
        let starts = (first..n.min(first + START_BATCH)).map(|i| {
            let (durable, sup) = (&durable, &sup);
            async move {
                durable
                    .start_child(sup, instance(i), Tally, i)
                    .await
                    .expect("instance")
            }
        });
        join_all(starts).await;
    }
    // Batched starts return before their fsync; closing the store waits
    // for every one, and joining its writer thread blocks.
    tokio::task::spawn_blocking(move || drop(durable))
        .await
        .expect("the store closed");
    let took = start.elapsed();
    // A shutdown: the instances stay in the store.
    sup.stop().await;
    took
}

/// Reopens the store and brings the `n` instances back; the time
/// `Durable::supervisor` took.
async fn recover(path: &Path, n: u64) -> Duration {
    let durable = Durable::open(path).expect("the store again");
    durable.register(|| Tally);
    let start = Instant::now();
    let sup = durable.supervisor(SUPERVISOR).await.expect("recovery");
    let took = start.elapsed();
    assert_eq!(sup.count() as u64, n, "every instance is back");
    for i in [0, n / 2, n - 1] {
        let total = peeper::call::<Tally>(&instance(i), 0)
            .await
            .expect("a recovered instance answers");
        assert_eq!(total, i, "{} came back with its state", instance(i));
    }
    sup.stop().await;
    tokio::task::spawn_blocking(move || drop(durable))
        .await
        .expect("the store closed");
    took
}
