//! Calls and casts by name reach an instance that is moving between node
//! processes, also when they are a node's first to it: they find it or wait
//! for it, and never answer `NotFound` while a node runs it.
//!
//! The first two tests park the first caller on the target where its lookup
//! found nothing on its own node (fault point `locate.asking`, action
//! `HOLD`), move the instance there meanwhile, then let the caller ask the
//! source, which no longer runs it. The storm drains a node there and back
//! under callers on both nodes.

use peeper_testkit::nodes::{NodeProc, check};

const PEEPER_NODE: &str = env!("CARGO_BIN_EXE_peeper-node");

const PARK: &str = "locate.asking";

/// a runs `p`; b, connected to it, parks its first caller by name.
fn source_and_parking_target(cookie: &str) -> (NodeProc, NodeProc) {
    let fault = format!("{PARK}:HOLD");
    let mut a = NodeProc::start(PEEPER_NODE, "a", cookie);
    let mut b = NodeProc::start_opts(PEEPER_NODE, "b", cookie, &[("PEEPER_FAULT", &fault)], &[]);
    a.ok("supervisor rooms");
    b.ok("supervisor rooms");
    a.ok("spawn rooms p 0 8");
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    (a, b)
}

/// Moves `p` from a to b while b's first caller is parked, then lets it go.
fn move_under_the_parked_caller(a: &mut NodeProc, b: &mut NodeProc) {
    b.ok(&format!("faultreached {PARK}"));
    a.ok("move p rooms b rooms");
    b.ok(&format!("faultrelease {PARK}"));
}

#[test]
fn a_first_call_on_the_target_reaches_an_instance_that_arrived_meanwhile() {
    let (mut a, mut b) = source_and_parking_target("first-call-arrived");
    b.ok("load p from-b 1");
    move_under_the_parked_caller(&mut a, &mut b);
    let waited = b.ok("wait from-b");
    assert_eq!(waited[..2], ["1", "0"], "{waited:?}");
    let at_b = check(&mut b, "p");
    assert_eq!((at_b.handled, at_b.violations), (1, 0), "{at_b:?}");
}

#[test]
fn a_first_cast_on_the_target_reaches_an_instance_that_arrived_meanwhile() {
    let (mut a, mut b) = source_and_parking_target("first-cast-arrived");
    b.ok("castname p from-b 1");
    move_under_the_parked_caller(&mut a, &mut b);
    let waited = b.ok("wait from-b");
    assert_eq!(waited[..2], ["1", "0"], "{waited:?}");
    // The cast may still wait at b behind what a relays: bounded polling.
    let mut at_b = check(&mut b, "p");
    for _ in 0..400 {
        if at_b.handled == 1 {
            break;
        }
        b.ok("pause 50");
        at_b = check(&mut b, "p");
    }
    assert_eq!((at_b.handled, at_b.violations), (1, 0), "{at_b:?}");
}

const STORM: u64 = 2_000;

/// Starts a caller on `node` named `sender` for the instances `from..to`.
fn caller(node: &mut NodeProc, sender: &str, from: u64, to: u64) {
    node.ok(&format!("loadround r {from} {to} {sender}"));
}

/// The caller `sender` on `node` stops; none of its calls failed.
fn none_failed(node: &mut NodeProc, sender: &str) {
    let waited = node.ok(&format!("wait {sender}"));
    assert_eq!(waited[1], "0", "{sender} on {}: {waited:?}", node.name);
}

#[test]
fn no_call_by_name_fails_while_a_node_drains_there_and_back() {
    let mut a = NodeProc::start(PEEPER_NODE, "a", "drain-storm");
    let mut b = NodeProc::start(PEEPER_NODE, "b", "drain-storm");
    a.ok("supervisor rooms");
    b.ok("supervisor rooms");
    a.ok(&format!("spawnmany rooms r {STORM}"));
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    let quarter = STORM / 4;
    caller(&mut a, "a1", 0, quarter);
    caller(&mut a, "a2", quarter, 2 * quarter);

    // b's callers make their first calls while a drains to b.
    a.send_only("drain");
    caller(&mut b, "b1", 2 * quarter, 3 * quarter);
    caller(&mut b, "b2", 3 * quarter, STORM);
    let drained = a.answer();
    assert!(drained.starts_with(&format!("ok {STORM} 0 ")), "{drained}");

    // And fresh callers on both nodes while b drains back to a (b's shell
    // answers one command at a time: its caller starts first).
    caller(&mut b, "b3", 0, 2 * quarter);
    b.send_only("drain");
    caller(&mut a, "a3", 2 * quarter, STORM);
    let drained = b.answer();
    assert!(drained.starts_with(&format!("ok {STORM} 0 ")), "{drained}");

    for sender in ["a1", "a2", "a3"] {
        none_failed(&mut a, sender);
    }
    for sender in ["b1", "b2", "b3"] {
        none_failed(&mut b, sender);
    }
    assert_eq!(a.ok("count rooms"), [STORM.to_string()]);
    for i in [0, quarter, 2 * quarter, 3 * quarter, STORM - 1] {
        let at_a = check(&mut a, &format!("r{i}"));
        assert_eq!((at_a.violations, at_a.dups), (0, 0), "r{i}: {at_a:?}");
    }
}
