//! The heartbeat between node processes: a frozen peer (`kill -STOP`, its
//! sockets open, its kernel still accepting connections) is declared lost
//! after the heartbeat timeout, within one interval, counted from the last
//! ping it answered.

use std::time::{SystemTime, UNIX_EPOCH};

use peeper_testkit::nodes::NodeProc;

const PEEPER_NODE: &str = env!("CARGO_BIN_EXE_peeper-node");

const INTERVAL_MS: u128 = 200;
const TIMEOUT_MS: u128 = 2_000;

fn unix_ms(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis()
}

/// Freezes `b` `after_ms` after a and b connected; returns how a saw it:
/// the freeze, the last answer, the verdict (Unix ms) and a's own lag.
fn freeze_and_wait_for_loss(cookie: &str, after_ms: u64) -> [u128; 4] {
    let flags = [
        "--heartbeat-ms",
        &INTERVAL_MS.to_string(),
        "--heartbeat-timeout-ms",
        &TIMEOUT_MS.to_string(),
    ]
    .map(|f| f.to_owned());
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut a = NodeProc::start_opts(PEEPER_NODE, "a", cookie, &[], &flags);
    let mut b = NodeProc::start_opts(PEEPER_NODE, "b", cookie, &[], &flags);
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    a.ok(&format!("pause {after_ms}"));
    let frozen = unix_ms(SystemTime::now());
    b.freeze();
    // Bounded: 3,000 polls of 20 ms is far past any verdict.
    let mut answer = None;
    for _ in 0..3_000 {
        let line = a.send("lost b");
        if let Some(rest) = line.strip_prefix("ok ") {
            answer = Some(rest.to_owned());
            break;
        }
        a.ok("pause 20");
    }
    b.kill9();
    let answer = answer.expect("a declares the frozen b lost");
    let parts: Vec<u128> = answer
        .split_whitespace()
        .map(|p| p.parse().expect("a number"))
        .collect();
    [frozen, parts[0], parts[1], parts[2]]
}

fn assert_lost_within_one_interval(cookie: &str, after_ms: u64) {
    let [frozen, heard, lost, lag] = freeze_and_wait_for_loss(cookie, after_ms);
    let from_freeze = lost.saturating_sub(frozen);
    let counted = lost - heard - lag;
    eprintln!(
        "{cookie}: lost {from_freeze} ms after the freeze; silence counted {counted} ms \
         (heard {} ms before the freeze, own lag {lag} ms)",
        frozen as i128 - heard as i128
    );
    // The silence counted is the timeout: the check wakes when it ends,
    // late at most by what a counts as its own lag.
    assert!(counted >= TIMEOUT_MS, "declared lost after {counted} ms");
    assert!(
        counted <= TIMEOUT_MS + INTERVAL_MS,
        "silence counted {counted} ms against a {TIMEOUT_MS} ms timeout"
    );
    // It starts at most one interval before the freeze (the last answered
    // ping), or one interval after connecting (the first ping). So from
    // the freeze: the timeout within an interval, plus a's own lag, plus
    // one interval for a busy machine's scheduling.
    assert!(
        from_freeze <= TIMEOUT_MS + 2 * INTERVAL_MS + lag,
        "lost {from_freeze} ms after the freeze (own lag {lag} ms)"
    );
}

#[test]
fn a_peer_frozen_while_idle_is_lost_after_the_timeout() {
    assert_lost_within_one_interval("hb-idle", 300);
}

#[test]
fn a_peer_frozen_right_after_connecting_is_lost_after_the_timeout() {
    assert_lost_within_one_interval("hb-early", 0);
}
