//! The durable figures (feature `durable`): calls whose change must be on
//! disk before the reply leaves, and bringing instances back from the store.
//!
//! - `durable/calls.rs`: calls/s of one instance with one caller, of 1,000
//!   instances each with its own caller under group commit, and the same
//!   with one transaction (one fsync) per change (`max_batch(1)`).
//! - `durable/recovery.rs`: filling a store with 100,000 small instances,
//!   then the time `Durable::supervisor` takes to bring them all back.
//!
//! Every store lives in a fresh folder under `std::env::temp_dir()` (the
//! disk the figures are about), removed when the figures are done, also if
//! one of them panics. Counts are fixed, not durations: an fsync takes what
//! the disk makes it take, and the figure is how many fit in a second.

mod calls;
mod recovery;

use std::path::{Path, PathBuf};

use peeper::portable::Portable;
use peeper::{Actor, BoxError, Context, StateMut};

use super::{Report, runtime_with};

/// How much work the durable figures get.
#[derive(Clone, Copy)]
pub struct Effort {
    /// Calls of the one caller to its one instance.
    calls_one: u64,
    /// Calls of each of the 1,000 callers under group commit.
    calls_each_group: u64,
    /// Calls of each of the 1,000 callers with one fsync per change: each
    /// costs a whole fsync, so fewer keep the figure's time in bounds.
    calls_each_single: u64,
    /// Instances filled into the store and brought back.
    recovered: u64,
}

/// A few seconds of calls, plus the 100,000 instances the recovery figure
/// is about.
pub const QUICK: Effort = Effort {
    calls_one: 300,
    calls_each_group: 50,
    calls_each_single: 3,
    recovered: 100_000,
};

/// Longer runs of the same.
pub const FULL: Effort = Effort {
    calls_one: 2_000,
    calls_each_group: 200,
    calls_each_single: 10,
    recovered: 100_000,
};

/// A durable counter: each call adds to it, so each call is a change that
/// must be stored before its reply.
struct Tally;

impl Actor for Tally {
    type State = u64;
    type Call = u64;
    type Reply = u64;
    type Cast = u64;
    type Info = ();

    async fn handle_call(
        &self,
        n: u64,
        s: &mut StateMut<u64>,
        _: &mut Context<Self>,
    ) -> Result<u64, BoxError> {
        **s += n;
        Ok(**s)
    }

    async fn handle_cast(
        &self,
        n: u64,
        s: &mut StateMut<u64>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        **s += n;
        Ok(())
    }
}

impl Portable for Tally {
    const KIND: &'static str = "bench-tally";
    const VERSION: u32 = 1;
}

/// A folder for the stores, removed on drop: a figure that panics leaves
/// no store behind on the disk.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("peeper-bench-durable-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a folder for the stores");
        Scratch(dir)
    }

    fn store(&self, name: &str) -> PathBuf {
        self.0.join(format!("{name}.redb"))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every durable figure, on a multi-thread runtime of `workers` workers.
pub fn run(report: &mut Report, e: Effort, workers: usize) {
    let scratch = Scratch::new();
    println!("durable.disk {} -", scratch.path().display());
    let rt = runtime_with("multi_thread", workers);
    calls::run(report, &rt, &scratch, e);
    recovery::run(report, &rt, &scratch, e);
    // The stores are closed by now; the folder goes with `scratch`.
}
