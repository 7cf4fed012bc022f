//! The probe: what the core reports to the live view, and what that costs.
//!
//! The core calls in at three places only: a message being queued
//! ([`delivering`]; a call its caller runs counts as one), a crash being
//! counted ([`crashed`]) and a transfer done ([`count`]). While no dashboard runs, each call is one relaxed load of a
//! flag. While one runs, a message adds one to a counter of the calling
//! thread's own shard, so threads sending at once do not fight over one
//! cache line, and (for the first 63 threads) with no locked instruction.
//! Nothing is formatted or allocated on these paths; the
//! dashboard sums the shards when it samples or is scraped.
//!
//! Crashes are rarer, and note more: the instance's own history (total and
//! last crash, kept in its restart window) and counts per kind of actor and
//! cause, and per supervisor.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::actor::Actor;
use crate::error::Crash;
use crate::instance::{Body, Kept};

/// How many dashboards run; the probe counts while it is not zero.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// What the probe counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    /// Calls queued.
    Calls,
    /// Casts queued.
    Casts,
    /// Info messages queued (timers included).
    Infos,
    /// Crashes of any callback.
    Crashes,
    /// Crashes followed by a restart (the others hit the restart limit).
    Restarts,
    /// Transfers between supervisors of this process.
    Transfers,
    /// Moves to other nodes that committed.
    Moves,
    /// Bytes those moves sent.
    BytesMoved,
}

const COUNTERS: usize = 8;
const SHARDS: usize = 64;

/// One shard's counters, alone on its cache lines.
#[repr(align(128))]
struct Shard([AtomicU64; COUNTERS]);

static COUNTS: [Shard; SHARDS] = [const { Shard([const { AtomicU64::new(0) }; COUNTERS]) }; SHARDS];

/// The shards a thread holds for itself alone, one bit each. Shard 0 is
/// never held: it is shared by the threads past the others, with atomic adds.
static CLAIMED: AtomicU64 = AtomicU64::new(1);

/// A thread's shard. A thread that found one free holds it alone until it
/// ends, and adds with a plain load and store (no locked instruction); past
/// 63 threads, the others share shard 0 and add atomically.
struct Claim {
    shard: usize,
}

impl Claim {
    fn take() -> Self {
        let mut claimed = CLAIMED.load(Ordering::Relaxed);
        while claimed != u64::MAX {
            let shard = claimed.trailing_ones() as usize;
            match CLAIMED.compare_exchange_weak(
                claimed,
                claimed | 1 << shard,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Claim { shard },
                Err(now) => claimed = now,
            }
        }
        Claim { shard: 0 }
    }

    fn add(&self, counter: Counter, n: u64) {
        let cell = &COUNTS[self.shard].0[counter as usize];
        if self.shard == 0 {
            cell.fetch_add(n, Ordering::Relaxed);
        } else {
            cell.store(cell.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.shard != 0 {
            // Released: the next thread to claim it adds to what it counted.
            CLAIMED.fetch_and(!(1 << self.shard), Ordering::Release);
        }
    }
}

thread_local! {
    /// This thread's shard, once it counted something.
    static SHARD: Claim = Claim::take();
}

/// Crashes by kind of actor and cause, and by supervisor.
#[derive(Debug, Default)]
pub(crate) struct CrashTally {
    /// By (short actor type, cause).
    pub(crate) by_kind: HashMap<(&'static str, &'static str), u64>,
    /// By supervisor name.
    pub(crate) by_supervisor: HashMap<String, u64>,
}

static CRASHES: LazyLock<Mutex<CrashTally>> = LazyLock::new(Mutex::default);

/// Whether a dashboard runs.
#[inline]
pub(crate) fn on() -> bool {
    RUNNING.load(Ordering::Relaxed) > 0
}

/// A dashboard started: the probe counts from now on.
pub(crate) fn started() {
    RUNNING.fetch_add(1, Ordering::Relaxed);
}

/// A dashboard stopped.
pub(crate) fn stopped() {
    RUNNING.fetch_sub(1, Ordering::Relaxed);
}

/// Counts one `counter`, if a dashboard runs.
#[inline]
pub(crate) fn count(counter: Counter) {
    if on() {
        add(counter, 1);
    }
}

/// Adds `n` to `counter` in this thread's shard.
pub(crate) fn add(counter: Counter, n: u64) {
    if SHARD.try_with(|claim| claim.add(counter, n)).is_err() {
        // The thread is being torn down: its shard may be someone else's
        // already; shard 0 is everyone's.
        COUNTS[0].0[counter as usize].fetch_add(n, Ordering::Relaxed);
    }
}

/// The sum of `counter` over every shard.
pub(crate) fn total(counter: Counter) -> u64 {
    COUNTS
        .iter()
        .map(|shard| shard.0[counter as usize].load(Ordering::Relaxed))
        .sum()
}

/// A message is being queued for an instance.
#[inline]
pub(crate) fn delivering<A: Actor>(body: &Body<A>) {
    if !on() {
        return;
    }
    let counter = match body {
        Body::Call(..) => Counter::Calls,
        Body::Cast(..) => Counter::Casts,
        Body::Info(..) | Body::Fired(..) => Counter::Infos,
        _ => return,
    };
    add(counter, 1);
}

/// `kept`'s worker crashed with `crash`; `restarts` says whether it restarts
/// (or hit its restart limit). Noted in the instance's history whether a
/// dashboard runs or not: a page opened later still shows the last crash.
pub(crate) fn crashed<A: Actor>(kept: &Kept<A>, crash: &Crash, restarts: bool) {
    kept.restarts.lock().note(crash);
    if !on() {
        return;
    }
    add(Counter::Crashes, 1);
    if restarts {
        add(Counter::Restarts, 1);
    }
    let supervisor = kept.current_owner().map(|o| o.name().to_owned());
    let mut tally = CRASHES.lock();
    *tally
        .by_kind
        .entry((short_type(std::any::type_name::<A>()), cause(crash)))
        .or_default() += 1;
    if let Some(supervisor) = supervisor {
        *tally.by_supervisor.entry(supervisor).or_default() += 1;
    }
}

/// The crash counts so far, copied.
pub(crate) fn crash_tally() -> CrashTally {
    let tally = CRASHES.lock();
    CrashTally {
        by_kind: tally.by_kind.clone(),
        by_supervisor: tally.by_supervisor.clone(),
    }
}

/// A crash's cause as a metric label.
pub(crate) fn cause(crash: &Crash) -> &'static str {
    match crash {
        Crash::Panicked(_) => "panic",
        Crash::Failed(_) => "error",
        Crash::Killed => "killed",
        Crash::ActorLost(_) => "actor_lost",
    }
}

/// A Rust type's name without its module path (`app::rooms::Room` is
/// `Room`); generic arguments keep theirs.
pub(crate) fn short_type(full: &'static str) -> &'static str {
    let head = full.find('<').unwrap_or(full.len());
    match full[..head].rfind("::") {
        Some(at) => &full[at + 2..],
        None => full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_type_drops_the_path_only() {
        assert_eq!(short_type("app::rooms::Room"), "Room");
        assert_eq!(short_type("Room"), "Room");
        assert_eq!(short_type("app::Wrap<app::Inner>"), "Wrap<app::Inner>");
    }

    #[test]
    fn counts_only_add_up_across_threads() {
        let before = total(Counter::BytesMoved);
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| add(Counter::BytesMoved, 5)))
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(total(Counter::BytesMoved) >= before + 20);
    }
}
