//! Durable calls per second. Each call adds to its instance's counter, so
//! its reply waits for that change to be fsync'd.
//!
//! - `durable.calls_per_s_1`: one caller calling one instance in a loop;
//!   every call pays a whole commit, as nothing else is waiting to share it.
//! - `durable.calls_per_s_1000`: 1,000 instances, each called in a loop by
//!   a caller task of its own, all at once, with the default group commit.
//! - `durable.calls_per_s_1000.single_fsync`: the same on a store opened
//!   with `max_batch(1)`, one transaction and one fsync per change, and
//!   `ratio.durable_group_vs_single_fsync`, the first over the second.
//!
//! Each store is new and its instances are started (and stored) before the
//! clock starts; the clock stops when the last reply is in.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use futures::future::join_all;
use peeper::Handle;
use peeper::durable::{Durable, DurableOptions};
use tokio::runtime::Runtime;
use tokio::sync::Barrier;

use super::{Effort, Report, Scratch, Tally};

/// Instances (and callers) of the many-instance figures.
const INSTANCES: usize = 1_000;

pub(super) fn run(report: &mut Report, rt: &Runtime, scratch: &Scratch, e: Effort) {
    let one = scratch.store("one");
    let rate = rt.block_on(async move { tokio::spawn(one_caller(one, e.calls_one)).await });
    report.whole(
        "durable.calls_per_s_1",
        rate.expect("bench task"),
        "calls/s",
    );

    let group = scratch.store("group");
    let options = Durable::options();
    let each = e.calls_each_group;
    let rate = rt.block_on(async move { tokio::spawn(many_callers(group, options, each)).await });
    let group = rate.expect("bench task");
    report.whole("durable.calls_per_s_1000", group, "calls/s");

    let single = scratch.store("single");
    let options = Durable::options().max_batch(1);
    let each = e.calls_each_single;
    let rate = rt.block_on(async move { tokio::spawn(many_callers(single, options, each)).await });
    let single = rate.expect("bench task");
    report.whole("durable.calls_per_s_1000.single_fsync", single, "calls/s");
    report.ratio("ratio.durable_group_vs_single_fsync", group / single);
}

/// Opens a new store at `path` that knows [`Tally`].
fn open(path: &Path, options: DurableOptions) -> Durable {
    let durable = options.open(path).expect("a new store");
    durable.register(|| Tally);
    durable
}

/// Calls/s of one caller making `n` durable calls to one instance.
async fn one_caller(path: impl AsRef<Path>, n: u64) -> f64 {
    let durable = open(path.as_ref(), Durable::options());
    let sup = durable.supervisor("dbench-one").await.expect("supervisor");
    let h = durable
        .start_child(&sup, "dbench-one-0", Tally, 0)
        .await
        .expect("instance");
    let start = Instant::now();
    for i in 1..=n {
        let total = h.call(1).await.expect("durable call");
        assert_eq!(total, i, "every call is one change");
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    sup.stop().await;
    rate
}

/// Calls/s of [`INSTANCES`] callers each making `each` durable calls to an
/// instance of its own, all at once, on a new store opened with `options`.
async fn many_callers(path: impl AsRef<Path>, options: DurableOptions, each: u64) -> f64 {
    let durable = open(path.as_ref(), options);
    let sup = durable.supervisor("dbench-many").await.expect("supervisor");
    // Started all at once, so that even one fsync per change starts them
    // as fast as the disk allows; each is stored when its start returns.
    let starts = (0..INSTANCES).map(|i| {
        let (durable, sup) = (&durable, &sup);
        async move {
            durable
                .start_child(sup, format!("dbench-many-{i}"), Tally, 0)
                .await
                .expect("instance")
        }
    });
    let handles: Vec<Handle<Tally>> = join_all(starts).await;
    let go = Arc::new(Barrier::new(INSTANCES + 1));
    let callers: Vec<_> = handles
        .into_iter()
        .map(|h| {
            let go = go.clone();
            tokio::spawn(async move {
                go.wait().await;
                for i in 1..=each {
                    let total = h.call(1).await.expect("durable call");
                    assert_eq!(total, i, "every call is one change");
                }
            })
        })
        .collect();
    go.wait().await;
    let start = Instant::now();
    for caller in callers {
        caller.await.expect("caller task");
    }
    let rate = (INSTANCES as u64 * each) as f64 / start.elapsed().as_secs_f64();
    sup.stop().await;
    rate
}
