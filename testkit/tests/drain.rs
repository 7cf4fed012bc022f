//! Draining a node before a deploy: every instance on node A moves to B and
//! C, spread by count, and every one still answers by name from A.

use peeper_testkit::nodes::NodeProc;

/// The node binary, which cargo builds for these tests.
const PEEPER_NODE: &str = env!("CARGO_BIN_EXE_peeper-node");

const INSTANCES: u64 = 300;

#[test]
fn a_drain_moves_every_instance_to_the_peers_spread_by_count() {
    let mut a = NodeProc::start(PEEPER_NODE, "a", "drain-cookie");
    let mut b = NodeProc::start(PEEPER_NODE, "b", "drain-cookie");
    let mut c = NodeProc::start(PEEPER_NODE, "c", "drain-cookie");
    for node in [&mut a, &mut b, &mut c] {
        node.ok("supervisor rooms");
    }
    a.ok(&format!("spawnmany rooms r {INSTANCES}"));
    b.ok("spawnmany rooms already-on-b 20");
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);
    assert_eq!(a.ok(&format!("connect {}", c.addr)), ["c"]);

    let drained = a.ok("drain");
    assert_eq!(
        drained[..2],
        [INSTANCES.to_string(), "0".to_owned()],
        "{drained:?}"
    );
    assert_eq!(a.ok("count rooms"), ["0"]);
    let on_b: u64 = b.ok("count rooms")[0].parse().unwrap();
    let on_c: u64 = c.ok("count rooms")[0].parse().unwrap();
    assert_eq!(on_b + on_c, INSTANCES + 20, "all landed");
    // Spread by count: B already had 20, so C gets 20 more than B.
    assert!(on_b.abs_diff(on_c) <= 1, "b {on_b}, c {on_c}");

    let answered = a.ok(&format!("callall r {INSTANCES}"));
    assert_eq!(answered, [INSTANCES.to_string(), "0".to_owned()]);
}

#[test]
fn instances_drained_with_nothing_queued_arrive_without_a_worker() {
    let mut a = NodeProc::start(PEEPER_NODE, "a", "drain-cookie");
    let mut b = NodeProc::start(PEEPER_NODE, "b", "drain-cookie");
    for node in [&mut a, &mut b] {
        node.ok("supervisor rooms");
    }
    a.ok("spawnmany rooms d 50");
    assert_eq!(a.ok("dormant d 50"), ["50", "0"], "started dormant");
    assert_eq!(a.ok(&format!("connect {}", b.addr)), ["b"]);

    let drained = a.ok("drain");
    assert_eq!(
        drained[..2],
        ["50".to_owned(), "0".to_owned()],
        "{drained:?}"
    );
    assert_eq!(b.ok("dormant d 50"), ["50", "0"], "arrived dormant");
    // Dormant, they still answer, from either node.
    assert_eq!(b.ok("callall d 50"), ["50", "0"]);
    assert_eq!(a.ok("callall d 50"), ["50", "0"]);

    // And back: still none gets a worker for the trip.
    let back = b.ok("drain");
    assert_eq!(back[..2], ["50".to_owned(), "0".to_owned()], "{back:?}");
    assert_eq!(a.ok("dormant d 50"), ["50", "0"], "back dormant");
}
