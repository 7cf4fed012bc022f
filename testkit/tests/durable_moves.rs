//! Moves of durable instances between node processes that each keep a
//! store, with the target or the source killed (`kill -9`) and started
//! again on the same store. The instance always comes back on exactly one
//! node, with the state it had when it froze.

use std::path::{Path, PathBuf};

use peeper_testkit::nodes::{Check, NodeProc, wait_check};

const PEEPER_NODE: &str = env!("CARGO_BIN_EXE_peeper-node");

const ROWS: u64 = 5_000;

const TIMINGS: &[&str] = &[
    "--heartbeat-ms",
    "200",
    "--heartbeat-timeout-ms",
    "1500",
    "--step-timeout-ms",
    "60000",
];

/// A fresh directory for one test's two stores.
fn stores(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peeper-dmoves-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts node `name` on its store in `dir`, with a fault point if asked,
/// and its supervisor (which brings back what the store holds).
fn node(dir: &Path, name: &str, cookie: &str, sup: &str, fault: Option<&str>) -> NodeProc {
    let store = dir.join(format!("{name}.redb"));
    let store = store.to_str().unwrap().to_owned();
    let mut flags: Vec<&str> = TIMINGS.to_vec();
    flags.extend(["--store", store.as_str()]);
    let env: Vec<(&str, &str)> = fault.map(|f| ("PEEPER_FAULT", f)).into_iter().collect();
    let mut n = NodeProc::start_opts(PEEPER_NODE, name, cookie, &env, &flags);
    n.ok(&format!("supervisor {sup}"));
    n
}

/// a runs the durable `p` (100 calls handled, a table, a label), connected
/// to b.
fn two_nodes(
    dir: &Path,
    cookie: &str,
    fault_a: Option<&str>,
    fault_b: Option<&str>,
) -> (NodeProc, NodeProc) {
    let mut a = node(dir, "a", cookie, "src", fault_a);
    let b = node(dir, "b", cookie, "dst", fault_b);
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

/// `p` runs on `n` with everything it had when it froze.
fn whole(n: &mut NodeProc, supervisor: &str) {
    let at = runs(n);
    assert_eq!(at.handled, 100, "the state it froze with: {at:?}");
    assert_eq!(at.rows, ROWS, "the table is whole");
    assert_eq!(at.label, format!("{ROWS}_rows"), "the dictionary is whole");
    assert_eq!(at.supervisor, supervisor);
    assert_eq!((at.violations, at.dups), (0, 0));
}

/// Waits until `n` has settled every instance its store noted as moving.
fn settled(n: &mut NodeProc) {
    for _ in 0..400 {
        if n.ok("indoubt") == ["0"] {
            return;
        }
        n.ok("pause 50");
    }
    panic!("{} never settled its moves", n.name);
}

/// Node `name` started again on its store, connected to `peer`.
fn restarted(dir: &Path, name: &str, cookie: &str, sup: &str, peer: &NodeProc) -> NodeProc {
    let mut n = node(dir, name, cookie, sup, None);
    n.ok(&format!("connect {}", peer.addr));
    n
}

/// `n` runs nothing: no instance is registered there.
fn runs_nothing(n: &mut NodeProc) {
    assert_eq!(n.ok("names"), ["0"], "{} runs an instance", n.name);
}

#[test]
fn a_moved_instance_comes_back_on_its_target_after_a_kill_and_nowhere_else() {
    let dir = stores("target-killed");
    let (mut a, mut b) = two_nodes(&dir, "dm-target", None, None);
    a.ok("move p src b dst");
    whole(&mut b, "dst");
    b.kill9();
    let mut b = restarted(&dir, "b", "dm-target", "dst", &a);
    whole(&mut b, "dst");
    // The source, killed and started again too, does not bring it back.
    a.kill9();
    let mut a = restarted(&dir, "a", "dm-target", "src", &b);
    settled(&mut a);
    runs_nothing(&mut a);
    whole(&mut b, "dst");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_source_killed_after_noting_the_move_runs_it_again_when_the_target_never_got_it() {
    // The source's store notes the move, then the source dies before
    // `Commit` leaves: the target drops the move, and the source, started
    // again, asks it and runs the instance itself.
    let dir = stores("before-commit");
    let (mut a, mut b) = two_nodes(&dir, "dm-commit", Some("source.commit:KILL"), None);
    a.send_only("move p src b dst");
    a.wait_dead();
    let mut a = node(&dir, "a", "dm-commit", "src", None);
    assert_eq!(a.ok("indoubt"), ["1"], "noted as moving: not started yet");
    runs_nothing(&mut a);
    a.ok(&format!("connect {}", b.addr));
    settled(&mut a);
    whole(&mut a, "src");
    runs_nothing(&mut b);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_source_killed_after_go_forgets_the_instance_its_target_runs() {
    let dir = stores("after-go");
    let (mut a, mut b) = two_nodes(&dir, "dm-go", Some("source.sent_go:KILL"), None);
    a.send_only("move p src b dst");
    a.wait_dead();
    whole(&mut b, "dst");
    let mut a = restarted(&dir, "a", "dm-go", "src", &b);
    settled(&mut a);
    runs_nothing(&mut a);
    whole(&mut b, "dst");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_target_killed_before_it_started_the_instance_leaves_it_at_the_source() {
    // The target answers ready and dies before `Go`: its store never held
    // the instance. The source waits for the node in its place to say so,
    // then runs the instance on.
    let dir = stores("target-before-go");
    let (mut a, b) = two_nodes(
        &dir,
        "dm-ready",
        None,
        Some("target.answered:SLEEP300+KILL"),
    );
    let mut b = b;
    a.send_only("move p src b dst");
    b.wait_dead();
    let mut b = restarted(&dir, "b", "dm-ready", "dst", &a);
    let answer = a.answer();
    assert!(answer.starts_with("error"), "the move failed: {answer}");
    whole(&mut a, "src");
    runs_nothing(&mut b);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_target_killed_after_storing_the_instance_keeps_it_and_the_source_does_not_resume() {
    // The target started the instance and stored it, then died before its
    // answer to `Go` left. It is gone for certain, but a restart there
    // brings the instance back: the source must not run it on. It waits,
    // frozen, for the node in the target's place, which holds it.
    let dir = stores("target-stored");
    let (mut a, b) = two_nodes(&dir, "dm-stored", None, Some("target.stored:KILL"));
    let mut b = b;
    a.send_only("move p src b dst");
    b.wait_dead();
    let mut b = restarted(&dir, "b", "dm-stored", "dst", &a);
    whole(&mut b, "dst");
    let answer = a.answer();
    assert!(answer.starts_with("ok"), "the move happened: {answer}");
    // a forgets it: killed and started again, it does not bring it back.
    a.kill9();
    let mut a = restarted(&dir, "a", "dm-stored", "src", &b);
    settled(&mut a);
    runs_nothing(&mut a);
    whole(&mut b, "dst");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn durable_casts_made_during_a_move_survive_a_kill_of_the_target_and_are_refused_after() {
    // Durable casts stream through one handle on a while `p` moves to b.
    // Those acknowledged before the move decided were handled before the
    // freeze, and travel in what b stored: a kill -9 of b right after the
    // move loses none. Once `p` has gone, the handle's next durable cast is
    // refused, naming b, and nothing is stored on a.
    let dir = stores("casts");
    let (mut a, mut b) = two_nodes(&dir, "dm-casts", None, None);
    // Far more than go in before the move ends: the last are refused.
    a.ok("dcastload p d 20000");
    a.ok("pause 100");
    a.ok("move p src b dst");
    let waited = a.ok("wait d");
    let acked: u64 = waited[0].parse().unwrap();
    assert!(acked > 0, "no cast went in before the move: {waited:?}");
    let refusal = waited[3..].join(" ");
    assert!(
        refusal.contains("moved to node \"b\""),
        "the cast after the move: {waited:?}"
    );
    b.kill9();
    let mut b = restarted(&dir, "b", "dm-casts", "dst", &a);
    let at = runs(&mut b);
    assert_eq!(
        at.handled,
        100 + acked,
        "every acknowledged cast, once: {at:?}"
    );
    assert_eq!((at.violations, at.dups), (0, 0), "{at:?}");
    a.kill9();
    let mut a = restarted(&dir, "a", "dm-casts", "src", &b);
    settled(&mut a);
    runs_nothing(&mut a);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_handle_held_across_a_move_there_and_back_casts_durably_again() {
    let dir = stores("back");
    let (mut a, mut b) = two_nodes(&dir, "dm-back", None, None);
    a.ok("hold p");
    a.ok("move p src b dst");
    let refused = a.send("helddcasts h 1");
    assert!(
        refused.starts_with("error") && refused.contains("moved to node \"b\""),
        "{refused:?}"
    );
    b.ok("move p dst a src");
    a.ok("helddcasts h 10");
    let at = runs(&mut a);
    assert_eq!(at.handled, 110, "{at:?}");
    assert_eq!((at.violations, at.dups), (0, 0), "{at:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
