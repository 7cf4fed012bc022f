//! Durable instances across `kill -9`, with real processes: a
//! `peeper-durable-node` storms its instances with numbered calls and
//! durable casts and is killed with SIGKILL at a pseudo-random moment, then
//! another one recovers the same store and reports. Round after round on
//! one store: nothing acknowledged is lost, nothing is handled twice or out
//! of order, the table, the dictionary and the state agree, and timers
//! pending at the kill fire after the recovery.
//!
//! `PEEPER_KILL_SEED=<n>` replays another sequence of kill moments.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use peeper_testkit::durable_node::EXIT_LOCKED;
use peeper_testkit::durable_node::figures::{Ack, Figures};
use peeper_testkit::durable_node::procs::{Checked, Storm};

/// The node binary, which cargo builds for these tests.
const NODE: &str = env!("CARGO_BIN_EXE_peeper-durable-node");

const ROUNDS: usize = 20;
const INSTANCES: usize = 4;
const SENDERS: usize = 3;
/// Acks to wait for before choosing the kill moment: the storm is under way.
const MIN_ACKS: usize = 10;
/// Lifetimes of the processes: far beyond what a round needs, so that
/// none outlives the test for long if the test itself dies.
const STORM_LIFETIME_SECS: u64 = 60;
const CHECK_LIFETIME_SECS: u64 = 30;
const DEFAULT_SEED: u64 = 0x5eed_d0ab_1e00_0001;

/// A directory of its own for one test's store, removed when done.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("peeper-durable-kill-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the store's directory");
        TempDir(dir)
    }

    fn store(&self) -> PathBuf {
        self.0.join("store.redb")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Kill moments from a seed (splitmix64): the same seed, the same moments.
struct KillClock(u64);

impl KillClock {
    fn from_env() -> KillClock {
        let seed = std::env::var("PEEPER_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_SEED);
        eprintln!("durable_kill: seed {seed}");
        KillClock(seed)
    }

    /// How long to let the storm run before the kill: 20 to 400 ms.
    fn next(&mut self) -> Duration {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Duration::from_millis(20 + z % 381)
    }
}

/// The highest seq acknowledged, by (instance, sender), over every round.
#[derive(Default)]
struct Acked(HashMap<(String, String), u64>);

impl Acked {
    fn note(&mut self, acks: Vec<Ack>) {
        for ack in acks {
            let top = self.0.entry((ack.instance, ack.sender)).or_default();
            *top = (*top).max(ack.seq);
        }
    }

    /// Every ack to `f`'s instance is among the ops it handled.
    fn all_kept_by(&self, f: &Figures, round: usize) {
        for ((instance, sender), &seq) in &self.0 {
            if *instance == f.instance {
                let handled = f.last_seq.get(sender).copied().unwrap_or(0);
                assert!(
                    seq <= handled,
                    "round {round}: {sender} seq {seq} was acknowledged and lost: {f}"
                );
            }
        }
    }
}

/// What every instance must show after any number of kills.
fn consistent(f: &Figures, round: usize) {
    assert_eq!(f.violations, 0, "round {round}: ops out of order: {f}");
    assert_eq!(f.dups, 0, "round {round}: ops handled twice: {f}");
    assert_eq!(f.rows, f.handled, "round {round}: one ops row per op: {f}");
    assert_eq!(
        f.last.unwrap_or(0),
        f.handled,
        "round {round}: the dictionary agrees with the state: {f}"
    );
    let numbered: u64 = f.last_seq.values().sum();
    assert_eq!(
        numbered, f.handled,
        "round {round}: each sender's ops 1..=last, each once: {f}"
    );
    // The storm of each round recovered it, and each check did.
    assert_eq!(
        f.recoveries,
        2 * round as u64 - 1,
        "round {round}: every recovery's own change was stored: {f}"
    );
}

/// Timers set whose message was never handled and that are not pending
/// either: none, since a one-shot timer stays stored until the change its
/// message made is (`durable_timer_loss.rs` shows the window
/// deterministically).
fn lost_timers(f: &Figures) -> u64 {
    f.timers_set
        .saturating_sub(f.timer_fired)
        .saturating_sub(f.pending_timers)
}

fn run_round(store: &Path, round: usize, clock: &mut KillClock, acked: &mut Acked) -> Vec<Figures> {
    let mut storm = Storm::start(NODE, store, INSTANCES, SENDERS, STORM_LIFETIME_SECS);
    storm.wait_acks(MIN_ACKS);
    // Only to choose the kill's moment; nothing waits on it.
    std::thread::sleep(clock.next());
    let acks = storm.kill9();
    let count = acks.len();
    acked.note(acks);
    let figures = Checked::run(NODE, store, INSTANCES, CHECK_LIFETIME_SECS).figures();
    assert_eq!(figures.len(), INSTANCES, "round {round}: {figures:?}");
    let handled: u64 = figures.iter().map(|f| f.handled).sum();
    // Once: a timer's removal from the store goes with its message's change.
    let refired: u64 = figures
        .iter()
        .map(|f| f.timer_fired.saturating_sub(f.timers_set))
        .sum();
    let lost: u64 = figures.iter().map(lost_timers).sum();
    eprintln!(
        "durable_kill: round {round}: {count} acks, {handled} ops handled in all; \
         timers: {refired} fired more than once, {lost} lost"
    );
    assert_eq!(
        (refired, lost),
        (0, 0),
        "round {round}: timers handled once each"
    );
    figures
}

#[test]
fn acknowledged_ops_survive_kill_9_once_each_in_order() {
    let dir = TempDir::new("storm");
    let store = dir.store();
    let mut clock = KillClock::from_env();
    let mut acked = Acked::default();
    let mut timers_came_back = 0;
    for round in 1..=ROUNDS {
        for f in run_round(&store, round, &mut clock, &mut acked) {
            consistent(&f, round);
            acked.all_kept_by(&f, round);
            // No op is sent after the recovery, so no timer is set: one
            // that fired since was pending in the store at the kill.
            if f.timer_fired > f.fired_at_recovery {
                timers_came_back += 1;
            }
        }
    }
    assert!(
        timers_came_back > 0,
        "no round had a timer pending at the kill that fired after the recovery"
    );
}

#[test]
fn a_second_process_on_a_held_store_is_told_it_is_locked() {
    let dir = TempDir::new("locked");
    let store = dir.store();
    // `ready` means it holds the store.
    let storm = Storm::start(NODE, &store, INSTANCES, SENDERS, STORM_LIFETIME_SECS);
    let checked = Checked::run(NODE, &store, INSTANCES, CHECK_LIFETIME_SECS);
    assert_eq!(checked.status.code(), Some(EXIT_LOCKED), "{checked:?}");
    assert_eq!(checked.lines, ["locked"], "{checked:?}");
    storm.kill9();
}
