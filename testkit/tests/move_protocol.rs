//! Each transition of the move protocol (see `peeper::cluster::handoff`),
//! with real node processes stopped or killed at the exact step: the node
//! signals itself at a fault point (`PEEPER_FAULT`, feature `faults`). In
//! every case the instance ends up running on exactly one node, with the
//! state it had when it froze, and no message is handled twice.

use std::time::Duration;

use peeper_testkit::nodes::{Check, NodeProc, check, wait_check};

const PEEPER_NODE: &str = env!("CARGO_BIN_EXE_peeper-node");

const ROWS: u64 = 20_000;

/// Short heartbeats, so that a frozen peer is declared lost in about a
/// second; long steps, so that only the heartbeat decides.
const TIMINGS: &[&str] = &[
    "--heartbeat-ms",
    "200",
    "--heartbeat-timeout-ms",
    "1500",
    "--step-timeout-ms",
    "60000",
];

/// For the test in which a silent node must not be mistaken for a dead one
/// before it froze: a heartbeat patient enough that a busy machine does not
/// make a live node look lost.
const PATIENT: &[&str] = &[
    "--heartbeat-ms",
    "500",
    "--heartbeat-timeout-ms",
    "5000",
    "--step-timeout-ms",
    "60000",
];

fn node(name: &str, cookie: &str, fault: Option<&str>) -> NodeProc {
    node_with(name, cookie, fault, TIMINGS)
}

fn node_with(name: &str, cookie: &str, fault: Option<&str>, timings: &[&str]) -> NodeProc {
    let env: Vec<(&str, &str)> = fault.map(|f| ("PEEPER_FAULT", f)).into_iter().collect();
    NodeProc::start_opts(PEEPER_NODE, name, cookie, &env, timings)
}

/// a runs `p` (100 calls handled, a table, a label), connected to b.
fn two_nodes(cookie: &str, fault_a: Option<&str>, fault_b: Option<&str>) -> (NodeProc, NodeProc) {
    two_nodes_with(cookie, fault_a, fault_b, TIMINGS)
}

fn two_nodes_with(
    cookie: &str,
    fault_a: Option<&str>,
    fault_b: Option<&str>,
    timings: &[&str],
) -> (NodeProc, NodeProc) {
    let mut a = node_with("a", cookie, fault_a, timings);
    let mut b = node_with("b", cookie, fault_b, timings);
    a.ok("supervisor src");
    b.ok("supervisor dst");
    a.ok(&format!("spawn src p {ROWS} 8"));
    a.ok("load p before 100");
    a.ok("wait before");
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    (a, b)
}

/// `p` answers on `n`: what it holds.
fn runs(n: &mut NodeProc) -> Check {
    wait_check(n, "p")
}

/// `p` has everything it had when it froze, and answers.
fn whole(n: &mut NodeProc, supervisor: &str) {
    let at = runs(n);
    assert_eq!(at.handled, 100, "the state it froze with: {at:?}");
    assert_eq!(at.rows, ROWS, "the table is whole");
    assert_eq!(at.label, "20000_rows", "the dictionary is whole");
    assert_eq!(at.supervisor, supervisor);
    assert_eq!((at.violations, at.dups), (0, 0));
    n.ok("load p after 50");
    assert_eq!(n.ok("wait after")[..2], ["50", "0"], "it answers");
}

#[test]
fn the_target_starts_the_instance_when_the_source_dies_before_go() {
    // Ready at the target, decided at the source, `Go` not sent: the source
    // is gone for certain (its address refuses), so the target runs it.
    let (mut a, mut b) = two_nodes("p-src-dies", Some("source.go:KILL"), None);
    a.send_only("move p src b dst");
    a.wait_dead();
    whole(&mut b, "dst");
}

#[test]
fn go_is_applied_even_when_the_source_dies_as_it_leaves() {
    // `Go` is in the target's mailbox when the source's connection closes:
    // the clean-up comes behind it, and the instance starts.
    let (mut a, mut b) = two_nodes("p-go-leaves", Some("source.sent_go:KILL"), None);
    a.send_only("move p src b dst");
    a.wait_dead();
    whole(&mut b, "dst");
}

#[test]
fn the_target_waits_for_a_frozen_source_and_runs_the_instance_once_it_decides() {
    // The source froze once it had decided go, before sending `Go`; the
    // target is ready. Silence proves nothing: the target must not start
    // the instance, whatever the heartbeat says. When the source resumes,
    // it sends `Go` or answers the target's question, and the instance runs
    // at the target only.
    let (mut a, mut b) = two_nodes_with("p-src-frozen", Some("source.go:STOP"), None, PATIENT);
    a.send_only("move p src b dst");
    a.wait_stopped(Duration::from_secs(60));
    // Past the heartbeat timeout, b has dropped the connection: still no
    // instance there.
    for _ in 0..4 {
        b.ok("pause 2000");
        assert!(
            b.send("check p").starts_with("error"),
            "b must not run p while a is silent"
        );
    }
    a.thaw();
    whole(&mut b, "dst");
    let moved = a.answer();
    assert!(moved.starts_with("ok"), "the move completes: {moved}");
    let at_a = a.send("check p");
    if at_a.starts_with("ok") {
        // A relay that has not retired yet: it answers from b, where p has
        // no supervisor of a's (`check` lines: ok value handled violations
        // rows label supervisor …). Asking again could find it retired.
        let words: Vec<&str> = at_a.split_whitespace().collect();
        assert_eq!(words.get(6), Some(&"-"), "{at_a}");
    }
}

#[test]
fn the_source_runs_on_when_the_target_dies_while_committing() {
    // The target got ready and died before answering: the source probes
    // it, finds it gone, and the instance runs on where it was.
    let (mut a, mut b) = two_nodes("p-dst-dies", None, Some("target.ready:KILL"));
    let moved = a.send("move p src b dst");
    assert!(moved.starts_with("error"), "the move fails: {moved}");
    b.wait_dead();
    whole(&mut a, "src");
}

#[test]
fn a_frozen_target_keeps_the_instance_frozen_until_it_answers() {
    // The target froze once ready, before answering `Commit`: the source
    // cannot know whether it will start the instance, so it stays frozen
    // (calls wait, or time out unhandled) until the target answers. Then
    // the move completes, and the instance runs at the target only.
    let (mut a, mut b) = two_nodes("p-dst-frozen", None, Some("target.ready:STOP"));
    a.ok("load p during 0");
    a.send_only("move p src b dst");
    b.wait_stopped(Duration::from_secs(60));
    // Frozen past the heartbeat timeout: a declares b lost, and cannot tell
    // a frozen b from a dead one (its port still accepts connections).
    std::thread::sleep(Duration::from_secs(4));
    b.thaw();
    let moved = a.answer();
    assert!(moved.starts_with("ok"), "the move completes: {moved}");
    let during = a.ok("wait during");
    let (answered, failed): (u64, u64) = (during[0].parse().unwrap(), during[1].parse().unwrap());
    let at_b = runs(&mut b);
    assert_eq!(at_b.supervisor, "dst");
    assert_eq!(at_b.rows, ROWS);
    // Every call answered was handled once. A call that timed out while the
    // instance was frozen was dropped unhandled, but one whose connection
    // closed after it left may have been handled: at most once, never twice.
    assert!(
        (100 + answered..=100 + answered + failed).contains(&at_b.handled),
        "{at_b:?}, {during:?}"
    );
    assert_eq!(at_b.dups, 0);
}

#[test]
fn a_call_that_timed_out_is_never_handled_later() {
    let mut a = node("a", "p-deadline", None);
    let mut b = node("b", "p-deadline", None);
    b.ok("supervisor dst");
    b.ok("spawn dst p 0 8");
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    // The instance is busy for 1.5 s; the call gives up after 0.3 s.
    a.ok("slow p 1500");
    let late = a.send("calltimeout p x 1 300");
    assert!(late.starts_with("error timeout"), "{late}");
    // The same number again, once it is free: handled as the first.
    a.ok("calltimeout p x 1 10000");
    let at_b = check(&mut b, "p");
    assert_eq!(
        (at_b.handled, at_b.violations, at_b.dups),
        (1, 0, 0),
        "the call that timed out was dropped unhandled: {at_b:?}"
    );
}

#[test]
fn a_call_whose_relay_dies_is_not_sent_again() {
    // A call from c waits in p's mailbox at a while p is frozen for its move
    // to b (the source pauses before `Commit`); once a hands over, it relays
    // that call to b and dies as it does. c must not send the call again:
    // it may have been handled.
    let fault = "source.commit:SLEEP500,relay.call:KILL";
    let mut a = node("a", "p-relay-dies", Some(fault));
    let mut b = node("b", "p-relay-dies", None);
    let mut c = node("c", "p-relay-dies", None);
    a.ok("supervisor src");
    b.ok("supervisor dst");
    a.ok("spawn src p 0 8");
    assert_eq!(c.ok(&format!("connect {}", a.addr)), ["a"]);
    assert_eq!(c.ok(&format!("connect {}", b.addr)), ["b"]);
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    c.ok("load p c 0");
    a.send_only("move p src b dst");
    a.wait_dead();
    let done = c.ok("wait c");
    let (answered, failed): (u64, u64) = (done[0].parse().unwrap(), done[1].parse().unwrap());
    assert_eq!(failed, 1, "the relayed call failed for c: {done:?}");
    let at_b = runs(&mut b);
    assert_eq!(at_b.dups, 0, "no call handled twice: {at_b:?}");
    // Each answered call was handled once, and the failed one at most once.
    assert!(
        (answered..=answered + 1).contains(&at_b.handled),
        "{at_b:?} {done:?}"
    );
}

#[test]
fn a_lost_peer_comes_back_and_its_instances_answer_again() {
    let mut a = node("a", "p-heal", None);
    let mut b = node("b", "p-heal", None);
    b.ok("supervisor dst");
    b.ok("spawn dst p 0 8");
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    a.ok("calltimeout p x 1 5000");
    b.freeze();
    // Declared lost after the heartbeat timeout (bounded wait).
    for _ in 0..200 {
        if a.ok("peers").is_empty() {
            break;
        }
        a.ok("pause 50");
    }
    assert!(a.ok("peers").is_empty(), "b is declared lost");
    let meanwhile = a.send("calltimeout p x 2 500");
    assert!(
        meanwhile.starts_with("error unreachable"),
        "unreachable, not \"no such instance\": {meanwhile}"
    );
    b.thaw();
    for _ in 0..400 {
        if a.ok("peers") == ["b"] {
            break;
        }
        a.ok("pause 50");
    }
    assert_eq!(a.ok("peers"), ["b"], "b is back");
    a.ok("calltimeout p x 2 5000");
    let at_b = check(&mut b, "p");
    assert_eq!((at_b.handled, at_b.violations, at_b.dups), (2, 0, 0));
}

#[test]
fn relays_retire_after_moves_there_and_back() {
    let mut a = node("a", "p-retire", None);
    let mut b = node("b", "p-retire", None);
    a.ok("supervisor rooms");
    b.ok("supervisor rooms");
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    a.ok("spawnmany rooms r 500");
    for _ in 0..3 {
        assert_eq!(a.ok("drain")[..2], ["500", "0"]);
        assert_eq!(b.ok("drain")[..2], ["500", "0"]);
    }
    // Once their queues are relayed, the relays let their names go: only
    // the live instances are named, on a; b keeps none.
    for (n, live) in [(&mut a, "500"), (&mut b, "0")] {
        for _ in 0..200 {
            if n.ok("names") == [live] {
                break;
            }
            n.ok("pause 50");
        }
        assert_eq!(n.ok("names"), [live], "names on {}", n.name);
    }
    assert_eq!(a.ok("callall r 500")[..2], ["500", "0"]);
}

#[test]
fn a_refused_move_says_why_and_the_instance_runs_on() {
    // No rows: `Begin` goes without waiting, and `Commit` reports why it
    // was refused.
    let mut a = node("a", "p-refused", None);
    let mut b = node("b", "p-refused", None);
    a.ok("supervisor src");
    b.ok("supervisor dst");
    a.ok("spawn src q 0 8");
    a.ok("load q before 10");
    a.ok("wait before");
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    let refused = a.send("move q src b nowhere");
    assert!(
        refused.starts_with("error") && refused.contains("no running supervisor"),
        "{refused}"
    );
    let at_a = check(&mut a, "q");
    assert_eq!((at_a.handled, at_a.supervisor.as_str()), (10, "src"));
    a.ok("load q after 10");
    assert_eq!(a.ok("wait after")[..2], ["10", "0"]);
}

#[test]
fn a_target_never_starts_what_its_source_never_committed() {
    // The source dies once everything was sent, before `Commit`: the target
    // was receiving, not ready, so it drops the move. The instance dies with
    // its only node; it is never started a second time elsewhere.
    let (mut a, mut b) = two_nodes("p-src-dies-early", Some("source.commit:KILL"), None);
    a.send_only("move p src b dst");
    a.wait_dead();
    for _ in 0..6 {
        b.ok("pause 500");
        assert!(b.send("check p").starts_with("error"), "b must not run p");
    }
    // Nothing was kept reserved: the name is free at b.
    b.ok("spawn dst p 0 8");
}

#[test]
fn a_node_whose_runtime_is_held_by_callbacks_is_not_declared_lost() {
    // Both of b's runtime workers are blocked for longer than the heartbeat
    // timeout: b answers pings from its pulse thread, so a keeps it.
    let mut a = node("a", "p-busy", None);
    let mut b = node("b", "p-busy", None);
    b.ok("supervisor dst");
    b.ok("spawn dst p 0 8");
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    a.ok("calltimeout p x 1 5000");
    b.ok("block 4000");
    a.ok("pause 3500");
    assert_eq!(a.ok("peers"), ["b"], "b is still a peer");
    // Once free, b answers the calls that waited.
    a.ok("calltimeout p x 2 10000");
    let at_b = check(&mut b, "p");
    assert_eq!((at_b.handled, at_b.dups), (2, 0));
}

#[test]
fn the_source_runs_on_when_the_target_dies_before_confirming_the_start() {
    // The target answered ready and died before `Go` reached it: the source
    // decided go, but the only copy left is its own, frozen: it finds the
    // target gone and the instance runs on where it was.
    let (mut a, mut b) = two_nodes(
        "p-dst-dies-ready",
        None,
        Some("target.answered:SLEEP300+KILL"),
    );
    let moved = a.send("move p src b dst");
    b.wait_dead();
    whole(&mut a, "src");
    assert!(moved.starts_with("error"), "the move fails: {moved}");
}
