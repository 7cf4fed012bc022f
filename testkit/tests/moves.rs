//! Moves between nodes (scenario S6): two nodes, two OS processes on
//! 127.0.0.1. `"p"` (state, dictionary, a table of 1M rows) runs under a
//! supervisor on A; callers on both nodes call it by name while it moves to a
//! supervisor on B. No call fails or is lost, each caller's order is kept, the
//! move reports progress, A's memory does not grow with the table, and
//! afterwards A has no copy and B answers with the same state. A node with
//! the wrong cookie cannot join. A handle held across moves keeps its
//! casts' order, reaches the instance back on its node as a fresh lookup
//! does (its calls run on their caller when it is idle), and a call it
//! sends through a relay waits as long as its caller asked.

use peeper_testkit::nodes::{NodeProc, check};

/// The node binary, which cargo builds for these tests.
const PEEPER_NODE: &str = env!("CARGO_BIN_EXE_peeper-node");

const ROWS: u64 = 1_000_000;
const CALLS: u64 = 3_000;

#[test]
fn a_live_instance_moves_to_another_node_while_both_call_it() {
    let mut a = NodeProc::start(PEEPER_NODE, "a", "s6-cookie");
    let mut b = NodeProc::start(PEEPER_NODE, "b", "s6-cookie");
    a.ok("supervisor src");
    b.ok("supervisor dst");
    a.ok(&format!("spawn src p {ROWS} 8"));
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    let rss_before = a.rss_mib();

    a.ok(&format!("load p from-a {CALLS}"));
    b.ok(&format!("load p from-b {CALLS}"));
    a.send_only("move p src b dst");
    let mut progress = 0;
    let moved = loop {
        let line = a.line().expect("node a runs");
        if line.starts_with("progress Tables") {
            progress += 1;
        } else if line.starts_with("ok") || line.starts_with("error") {
            break line;
        }
    };
    let words: Vec<&str> = moved.split_whitespace().collect();
    assert_eq!(words[..2], ["ok", "1000000"], "{moved}");
    assert!(progress > 2, "progress was reported {progress} times");

    let from_a = a.ok("wait from-a");
    assert_eq!(from_a[..2], ["3000", "0"], "calls from A: {from_a:?}");
    let from_b = b.ok("wait from-b");
    assert_eq!(from_b[..2], ["3000", "0"], "calls from B: {from_b:?}");

    let at_b = check(&mut b, "p");
    assert_eq!(at_b.handled, 2 * CALLS, "none lost or doubled");
    assert_eq!(at_b.value, 2 * CALLS as i64);
    assert_eq!(at_b.violations, 0, "each caller's order kept");
    assert_eq!(at_b.rows, ROWS, "the table arrived whole");
    assert_eq!(at_b.label, "1000000_rows", "the dictionary arrived");
    assert_eq!(at_b.supervisor, "dst");

    // A keeps nothing of it: the relay retires once its queue is relayed
    // (no table, no dictionary, no supervisor meanwhile), and a call by name
    // from A reaches B.
    let at_a = a.send("check p");
    if at_a.starts_with("ok") {
        let words: Vec<&str> = at_a.split_whitespace().collect();
        assert_eq!((words[4], words[5], words[6]), ("0", "-", "-"), "{at_a}");
    }
    a.ok("load p after-a 10");
    assert_eq!(a.ok("wait after-a")[..2], ["10", "0"]);
    assert_eq!(check(&mut b, "p").handled, 2 * CALLS + 10);
    let rss_after = a.rss_mib();
    assert!(
        rss_after < rss_before + 64.0,
        "A grew from {rss_before} MiB to {rss_after} MiB while sending"
    );
}

#[test]
fn a_node_with_the_wrong_cookie_cannot_join() {
    let mut a = NodeProc::start(PEEPER_NODE, "a", "right-cookie");
    let mut c = NodeProc::start(PEEPER_NODE, "c", "wrong-cookie");
    let answer = c.send(&format!("connect {}", a.addr));
    assert!(answer.starts_with("error"), "{answer}");
    let answer = a.send(&format!("connect {}", c.addr));
    assert!(answer.starts_with("error"), "{answer}");
}

#[test]
fn rows_written_during_the_move_arrive_as_they_end_up() {
    const ROUNDS: u64 = 20_000;
    let mut a = NodeProc::start(PEEPER_NODE, "a", "s6-churn");
    let mut b = NodeProc::start(PEEPER_NODE, "b", "s6-churn");
    a.ok("supervisor src");
    b.ok("supervisor dst");
    // Twins: `p` moves while it is written to, `q` stays and gets the same
    // writes; in the end their tables must be the same.
    a.ok(&format!("spawn src p {ROWS} 8"));
    a.ok(&format!("spawn src q {ROWS} 8"));
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);

    a.ok(&format!("churn p {ROUNDS} {ROWS}"));
    let moved = a.ok("move p src b dst");
    // Rows, bytes, microseconds frozen, rows sent again after the copy.
    eprintln!("move while churning: {moved:?}");
    let churned = a.ok("wait churn");
    assert_eq!(
        churned[..2],
        [ROUNDS.to_string(), "0".to_owned()],
        "{churned:?}"
    );
    a.ok(&format!("churn q {ROUNDS} {ROWS}"));
    a.ok("wait churn");

    let moved_digest = b.ok("digest p");
    let twin_digest = a.ok("digest q");
    assert_eq!(moved_digest, twin_digest, "after a move with {moved:?}");
}

#[test]
fn pending_timers_travel_and_fire_at_the_target() {
    let mut a = NodeProc::start(PEEPER_NODE, "a", "s6-timers");
    let mut b = NodeProc::start(PEEPER_NODE, "b", "s6-timers");
    a.ok("supervisor src");
    b.ok("supervisor dst");
    a.ok("spawn src p 1000 8");
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    // Long enough that neither fires before the move.
    a.ok("timers p 1500 1000");
    a.ok("move p src b dst");
    // Wait (bounded) for the interval timer to have fired three times at b.
    let mut at_b = check(&mut b, "p");
    for _ in 0..200 {
        if at_b.every >= 3 {
            break;
        }
        b.ok("pause 50");
        at_b = check(&mut b, "p");
    }
    assert!(at_b.every >= 3, "the interval timer runs at b: {at_b:?}");
    assert_eq!(at_b.once, 1, "the one-shot timer fired once, at b");
    assert_eq!(at_b.supervisor, "dst");
}

#[test]
fn casts_through_a_held_handle_keep_their_order_over_moves_there_and_back() {
    const CASTS: u64 = 50_000;
    let mut a = NodeProc::start(PEEPER_NODE, "a", "s6-relays");
    let mut b = NodeProc::start(PEEPER_NODE, "b", "s6-relays");
    a.ok("supervisor src");
    b.ok("supervisor dst");
    a.ok("spawn src p 10 8");
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    // The handle held on A ends up behind a chain of relays: A, B, A, B.
    a.ok(&format!("castload p held {CASTS}"));
    a.ok("move p src b dst");
    b.ok("move p dst a src");
    a.ok("move p src b dst");
    let sent = a.ok("wait held");
    assert_eq!(
        sent,
        [CASTS.to_string(), "0".to_owned(), "0".to_owned()],
        "{sent:?}"
    );
    let at_b = check(&mut b, "p");
    assert_eq!(at_b.handled, CASTS, "none lost or doubled");
    assert_eq!(at_b.violations, 0, "the order kept");
}

/// Calls `name` by name on `node` until one runs on its caller: from then
/// on the instance is idle (its worker let go of it after its last
/// message), and stays so while nothing is sent to it. At most 1,000 calls.
fn until_idle(node: &mut NodeProc, name: &str) {
    let calls = (1..=1_000)
        .find(|_| node.ok(&format!("where {name}")) == ["caller"])
        .map(|_| ());
    assert_eq!(calls, Some(()), "{name} on {} never idle", node.name);
}

#[test]
fn a_handle_held_over_moves_there_and_back_runs_its_calls_on_the_callers_task() {
    let mut a = NodeProc::start(PEEPER_NODE, "a", "s6-held");
    let mut b = NodeProc::start(PEEPER_NODE, "b", "s6-held");
    a.ok("supervisor src");
    b.ok("supervisor dst");
    a.ok("spawn src p 0 8");
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    a.ok("hold p");
    until_idle(&mut a, "p");
    assert_eq!(a.ok("heldwhere"), ["caller"], "before any move");
    for _ in 0..3 {
        a.ok("move p src b dst");
        b.ok("move p dst a src");
    }
    // The first call through the held handle may find its way through the
    // relays (and through the worker); once the worker is done with it, the
    // handle reaches the instance as a fresh lookup does.
    a.ok("heldwhere");
    until_idle(&mut a, "p");
    assert_eq!(a.ok("heldwhere"), ["caller"], "after moves there and back");
    // While away, through the relays; back again, directly again.
    a.ok("move p src b dst");
    a.ok("heldcall 30000");
    b.ok("move p dst a src");
    a.ok("heldwhere");
    until_idle(&mut a, "p");
    assert_eq!(
        a.ok("heldwhere"),
        ["caller"],
        "after one more move there and back"
    );
    let at_a = check(&mut a, "p");
    assert_eq!(at_a.violations, 0);
}

#[test]
fn a_call_relayed_from_a_held_handle_keeps_its_callers_timeout() {
    // The node's own call timeout, 1 s, is shorter than the instance stays
    // busy ahead of the call, and than the call's own timeout.
    let flags = ["--call-timeout-ms", "1000"];
    let mut a = NodeProc::start_opts(PEEPER_NODE, "a", "s6-budget", &[], &flags);
    let mut b = NodeProc::start_opts(PEEPER_NODE, "b", "s6-budget", &[], &flags);
    a.ok("supervisor src");
    b.ok("supervisor dst");
    a.ok("spawn src p 0 8");
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    a.ok("hold p");
    a.ok("move p src b dst");
    // Queued at b before the call: the call waits behind 3 s of it.
    b.ok("slow p 3000");
    let answer = a.send("heldcall 60000");
    assert_eq!(
        answer, "ok",
        "the relayed call waited its own 60 s: {answer}"
    );
}
