//! The scale figures: many callers, many instances, one overloaded instance.
//!
//! - `scale/throughput.rs`: 256 callers calling random instances among
//!   1,000 (by handle, by name) and among 16, against plain ractor actors.
//! - `scale/memory.rs`: memory per instance and start rate of 100,000
//!   instances (1,000,000 without `--quick`), against plain ractor actors.
//! - `scale/overload.rs`: an instance with slow casts and a sender casting
//!   as fast as it can, with an unbounded inbox and with a bounded one.
//!
//! Resident memory (RSS) is what a process can measure, and it does not go
//! back down when memory is freed: the allocator keeps much of it for reuse,
//! so a phase run after another in the same process would reuse what the
//! first freed and look smaller. Every phase that measures memory therefore
//! runs in a process of its own (this program re-run with `--scale-phase`),
//! which starts from the same baseline every time and ends what it started
//! by exiting. A phase also stops growing before the machine runs out of
//! memory, and the report then says how far it got.

mod memory;
mod overload;
mod throughput;

use std::collections::HashMap;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Report, runtime_with};

/// The flag that turns this program into one measuring phase.
pub const PHASE_FLAG: &str = "--scale-phase";

/// A phase stops growing once the machine has less memory than this
/// available (MiB).
const MEMORY_FLOOR_MIB: f64 = 3072.0;

/// How much work the scale figures get.
#[derive(Clone, Copy)]
pub struct Effort {
    /// Batches of each throughput figure, interleaved.
    batches: usize,
    /// How long one throughput batch calls.
    window: Duration,
    /// Instances of each memory phase.
    instances: u64,
    /// Rounds of the memory phases (peeper, then ractor).
    rounds: usize,
    /// How long the overloading sender casts.
    overload: Duration,
}

/// About 1 s of calls per throughput figure, 1 s of overload.
pub const QUICK: Effort = Effort {
    batches: 5,
    window: Duration::from_millis(200),
    instances: 100_000,
    rounds: 3,
    overload: Duration::from_secs(1),
};

/// About 2 s of calls per throughput figure, 3 s of overload.
pub const FULL: Effort = Effort {
    batches: 10,
    window: Duration::from_millis(200),
    instances: 1_000_000,
    rounds: 3,
    overload: Duration::from_secs(3),
};

/// Every scale figure, measured with `workers` worker threads wherever the
/// runtime has several.
pub fn run(report: &mut Report, e: Effort, workers: usize) {
    throughput::run(report, e, workers);
    memory::run(report, e, workers);
    overload::run(report, e, workers);
}

/// Whether the machine still has room for a phase to grow: more than
/// [`MEMORY_FLOOR_MIB`] available (`MemAvailable`; always, where unknown).
fn room_left() -> bool {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .is_none_or(|kib| kib / 1024.0 > MEMORY_FLOOR_MIB)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// A phase's work, giving its figures.
type Phase = Pin<Box<dyn Future<Output = Vec<(String, f64)>> + Send>>;

/// Runs one phase in a fresh process (this program with [`PHASE_FLAG`]) and
/// returns the figures it printed, one `name value` a line.
fn phase(what: &str, kind: &str, amount: u64, workers: usize) -> HashMap<String, f64> {
    let out = Command::new(std::env::current_exe().expect("this program's path"))
        .args([PHASE_FLAG, what, kind])
        .args([amount, workers as u64].map(|n| n.to_string()))
        .stderr(Stdio::inherit())
        .output()
        .expect("a phase process");
    assert!(out.status.success(), "phase {what} {kind}: {}", out.status);
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
/// Arguments: `--scale-phase memory peeper|peeper_woken|peeper_cast_every_second|ractor COUNT
/// WORKERS` or
/// `--scale-phase overload unbounded|bounded MILLISECONDS WORKERS`.
pub fn serve_if_asked(args: &[String]) -> Option<i32> {
    if args.first().map(String::as_str) != Some(PHASE_FLAG) {
        return None;
    }
    let arg = |i: usize| args.get(i).map_or("", String::as_str);
    let (Ok(amount), Ok(workers)) = (arg(3).parse::<u64>(), arg(4).parse::<usize>()) else {
        eprintln!("usage: {PHASE_FLAG} memory|overload KIND AMOUNT WORKERS");
        return Some(2);
    };
    let window = Duration::from_millis(amount);
    let phase: Phase = match (arg(1), arg(2)) {
        ("memory", "peeper") => Box::pin(memory::start_peeper(amount)),
        ("memory", "peeper_woken") => Box::pin(memory::start_peeper_woken(amount)),
        ("memory", "peeper_cast_every_second") => {
            Box::pin(memory::start_peeper_cast_every_second(amount))
        }
        ("memory", "ractor") => Box::pin(memory::start_ractor(amount)),
        ("overload", "unbounded") => Box::pin(overload::flood(None, window)),
        ("overload", "bounded") => Box::pin(overload::flood(Some(overload::CAPACITY), window)),
        _ => {
            eprintln!("unknown phase {:?}", &args[1..]);
            return Some(2);
        }
    };
    let rt = runtime_with("multi_thread", workers);
    // As application code would, the phase runs as a spawned task, not on
    // the blocking main thread.
    let figures = rt.block_on(async { tokio::spawn(phase).await.expect("phase task") });
    for (name, value) in figures {
        println!("{name} {value}");
    }
    // What the phase left running (instances, an overloaded inbox) ends
    // with the process, without waiting for it.
    rt.shutdown_background();
    Some(0)
}
