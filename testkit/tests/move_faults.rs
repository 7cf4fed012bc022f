//! Failures during a move between nodes (scenario S7), with real `kill -9`
//! (and `kill -STOP`) of node processes. If the target dies or falls silent
//! while the table streams, the move fails and the instance runs on at the
//! source with its state; if the source dies after the target took over, the
//! instance runs on at the target. At no moment do two copies answer.

use peeper_testkit::nodes::{NodeProc, check};

/// The node binary, which cargo builds for these tests.
const PEEPER_NODE: &str = env!("CARGO_BIN_EXE_peeper-node");

const ROWS: u64 = 1_000_000;

fn two_nodes(cookie: &str) -> (NodeProc, NodeProc) {
    let mut a = NodeProc::start(PEEPER_NODE, "a", cookie);
    let mut b = NodeProc::start(PEEPER_NODE, "b", cookie);
    a.ok("supervisor src");
    b.ok("supervisor dst");
    a.ok(&format!("spawn src p {ROWS} 8"));
    a.ok("load p before 100");
    a.ok("wait before");
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    (a, b)
}

/// Starts moving `p` from a to b and returns once rows are on their way.
fn start_move(a: &mut NodeProc) {
    a.send_only("move p src b dst");
    loop {
        let line = a.line().expect("node a runs");
        if let Some(rest) = line.strip_prefix("progress Tables ") {
            let done: u64 = rest.split_whitespace().next().unwrap().parse().unwrap();
            if done > 0 {
                return;
            }
        }
        assert!(!line.starts_with("ok"), "the move ended too soon: {line}");
    }
}

/// After a failed move, `p` runs at a with everything it had.
fn runs_on_at_the_source(a: &mut NodeProc) {
    let answer = a.answer();
    assert!(answer.starts_with("error"), "the move must fail: {answer}");
    let at_a = check(a, "p");
    assert_eq!(at_a.handled, 100, "the state is the one before the move");
    assert_eq!(at_a.rows, ROWS, "the table is whole");
    assert_eq!(at_a.label, "1000000_rows");
    assert_eq!(at_a.supervisor, "src");
    a.ok("load p after 100");
    assert_eq!(
        a.ok("wait after")[..2],
        ["100", "0"],
        "it goes on answering"
    );
    assert_eq!(check(a, "p").handled, 200);
}

#[test]
fn the_instance_runs_on_at_the_source_when_the_target_dies_mid_move() {
    let (mut a, mut b) = two_nodes("s7-target");
    a.ok("timers p 1500 1000");
    start_move(&mut a);
    b.kill9();
    runs_on_at_the_source(&mut a);
    // Its timers, stopped when the move froze it, run again here (bounded wait).
    let mut at_a = check(&mut a, "p");
    for _ in 0..200 {
        if at_a.every >= 2 && at_a.once == 1 {
            break;
        }
        a.ok("pause 50");
        at_a = check(&mut a, "p");
    }
    assert_eq!((at_a.once, at_a.every >= 2), (1, true), "{at_a:?}");
}

#[test]
fn a_silent_target_is_detected_and_the_instance_runs_on_at_the_source() {
    // Frozen, not dead: its socket stays open; only the heartbeat notices.
    let (mut a, mut b) = two_nodes("s7-silent");
    start_move(&mut a);
    b.freeze();
    runs_on_at_the_source(&mut a);
    b.kill9();
}

#[test]
fn the_instance_runs_on_at_the_target_when_the_source_dies_after_the_move() {
    let (mut a, mut b) = two_nodes("s7-source");
    let moved = a.ok("move p src b dst");
    assert_eq!(moved[0], "1000000");
    a.kill9();

    let at_b = check(&mut b, "p");
    assert_eq!(at_b.handled, 100);
    assert_eq!(at_b.rows, ROWS);
    assert_eq!(at_b.supervisor, "dst");
    b.ok("load p after 100");
    assert_eq!(b.ok("wait after")[..2], ["100", "0"]);
    assert_eq!(check(&mut b, "p").handled, 200);
}
