//! The node figures: two node processes on 127.0.0.1, both this same
//! program re-run with `--node-shell` to serve `peeper_testkit::shell`,
//! driven by line commands through `peeper_testkit::nodes::NodeProc`.
//!
//! - a move of a 1 GiB table: throughput against raw loopback TCP measured
//!   in the same run and against filling the same table in place on a fresh
//!   node (new memory costs page faults, which raw TCP into one reused buffer
//!   does not pay), how long the instance was frozen, the longest wait of
//!   a caller calling it throughout, and memory growth on each side (peak
//!   resident memory during the move against resident memory before);
//! - the frozen time of a small move, to show it does not grow with tables;
//! - a remote call against a plain ractor_cluster call (a ping);
//! - draining N small instances to a peer;
//! - on a fresh pair of nodes, resident memory before and after N small
//!   instances are drained back and forth (relays left by the moves must
//!   retire and free what they held), then the cost of a call through a
//!   handle held across many moves there and back, against a call by name,
//!   and the frozen time of a move whose dictionary holds one 96 MiB entry,
//!   against the small move's.

use std::process::Command;
use std::time::Instant;

use peeper_testkit::nodes::NodeProc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Report;

/// The flag that turns this program into a node shell.
pub const SHELL_FLAG: &str = "--node-shell";

const MIB: u64 = 1024 * 1024;

/// Runs the node shell if the arguments ask for it; its exit status.
pub fn serve_if_asked(args: &[String]) -> Option<i32> {
    if args.first().map(String::as_str) != Some(SHELL_FLAG) {
        return None;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    Some(rt.block_on(peeper_testkit::shell::serve(args[1..].to_vec())))
}

fn node(name: &str) -> NodeProc {
    let mut command = Command::new(std::env::current_exe().expect("this program's path"));
    command.arg(SHELL_FLAG);
    NodeProc::start_with(command, name, "bench-cookie", 600)
}

/// Resident and peak resident MiB of a node.
fn memory(n: &mut NodeProc) -> (f64, f64) {
    let w = n.ok("rss");
    (
        w[0].parse().unwrap_or(f64::NAN),
        w[1].parse().unwrap_or(f64::NAN),
    )
}

/// Heap MiB in use on a node.
fn heap(n: &mut NodeProc) -> f64 {
    n.ok("heap")
        .first()
        .and_then(|w| w.parse().ok())
        .unwrap_or(f64::NAN)
}

fn number(words: &[String], i: usize) -> f64 {
    words
        .get(i)
        .and_then(|w| w.parse().ok())
        .unwrap_or(f64::NAN)
}

/// MiB/s of raw loopback TCP: one connection, `bytes` in 1 MiB writes.
fn tcp_throughput(bytes: u64) -> f64 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let reader = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0_u8; MIB as usize];
            let mut got = 0_u64;
            while let Ok(n) = socket.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                got += n as u64;
            }
            got
        });
        let started = Instant::now();
        let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let chunk = vec![7_u8; MIB as usize];
        for _ in 0..bytes / MIB {
            socket.write_all(&chunk).await.expect("write");
        }
        socket.shutdown().await.expect("shutdown");
        let got = reader.await.expect("reader");
        got as f64 / MIB as f64 / started.elapsed().as_secs_f64()
    })
}

/// Moves `name` with `mv` (a `move …` command) on `from`; with `load`, a
/// caller on `from` calls it all along. Returns (seconds, frozen ms, longest
/// wait ms, or NaN without a caller).
fn timed_move(from: &mut NodeProc, name: &str, mv: &str, load: bool) -> (f64, f64, f64) {
    if load {
        from.ok(&format!("load {name} mover 0"));
    }
    let started = Instant::now();
    let moved = from.ok(mv);
    let took = started.elapsed().as_secs_f64();
    let mut longest = f64::NAN;
    if load {
        let waited = from.ok("wait mover");
        if waited.get(1).map(String::as_str) != Some("0") {
            eprintln!("calls failed during the move: {waited:?}");
        }
        longest = number(&waited, 2) / 1e3;
    }
    (took, number(&moved, 2) / 1e3, longest)
}

/// Runs every node figure into `report`.
pub fn run(report: &mut Report, quick: bool) {
    let table_bytes = 1024 * MIB;
    let tcp = tcp_throughput(table_bytes);
    report.value("tcp.loopback.throughput", tcp, "MiB/s");

    let mut a = node("a");
    let mut b = node("b");
    a.ok("supervisor src");
    b.ok("supervisor dst");
    a.ok(&format!("connect {}", b.addr));

    // A small move first, with a caller: its frozen time is the baseline.
    a.ok("spawn src small 16 65536");
    let (_, small_frozen, _) = timed_move(&mut a, "small", "move small src b dst", true);
    report.value("remote_move.1mib.frozen", small_frozen, "ms");

    // The big one over, alone: throughput and memory.
    // Filling the same table in place, on a fresh node: what making 1 GiB
    // of rows in new memory costs at all, which bounds what a move can do.
    let filled = Instant::now();
    a.ok(&format!("spawn src big {} 65536", table_bytes / 65536));
    let fill = table_bytes as f64 / MIB as f64 / filled.elapsed().as_secs_f64();
    report.value("table.fill_1gib.throughput", fill, "MiB/s");
    report.ratio("ratio.table_fill_vs_tcp", fill / tcp);
    let (a_before, _) = memory(&mut a);
    let (b_before, _) = memory(&mut b);
    let (took, _, _) = timed_move(&mut a, "big", "move big src b dst", false);
    let (_, a_peak) = memory(&mut a);
    let (_, b_peak) = memory(&mut b);
    let throughput = table_bytes as f64 / MIB as f64 / took;
    report.value("remote_move.1gib.throughput", throughput, "MiB/s");
    report.ratio("ratio.remote_move_vs_tcp", throughput / tcp);
    report.ratio("ratio.remote_move_vs_table_fill", throughput / fill);
    report.value("memory.source_growth", a_peak - a_before, "MiB");
    let table_mib = table_bytes as f64 / MIB as f64;
    report.value(
        "memory.target_growth_beyond_table",
        b_peak - b_before - table_mib,
        "MiB",
    );

    // And back, with a caller on b calling it all along: downtime.
    let (_, frozen, longest) = timed_move(&mut b, "big", "move big dst a src", true);
    report.value("remote_move.1gib.frozen", frozen, "ms");
    report.ratio(
        "ratio.remote_move_frozen_1gib_vs_1mib",
        frozen / small_frozen,
    );
    report.value("remote_move.1gib.longest_call_wait", longest, "ms");

    // `small` lives on b: a's calls go there.
    a.ok("callbench small 100");
    let remote_call = number(&a.ok("callbench small 2000"), 0) / 1e3;
    let ping = number(&a.ok("pingbench b 2000"), 0) / 1e3;
    report.value("remote_call.peeper", remote_call, "us");
    report.value("remote_call.ractor_cluster", ping, "us");
    report.ratio("ratio.remote_call_vs_ractor_cluster", remote_call / ping);

    a.ok("stop src");
    a.ok("supervisor rooms");
    b.ok("supervisor rooms");
    let sizes: &[u64] = if quick { &[10_000] } else { &[10_000, 100_000] };
    for &n in sizes {
        a.ok(&format!("spawnmany rooms r{n}- {n}"));
        let drained = a.ok("drain");
        if drained.get(1).map(String::as_str) != Some("0") {
            eprintln!("drain of {n} had failures: {drained:?}");
        }
        report.value(&format!("drain.{n}"), number(&drained, 2), "ms");
    }

    // The figures below want processes whose memory the ones above have
    // not grown.
    drop(a);
    drop(b);
    let (mut a, mut b) = memory_after_moves(report, quick);
    a.ok("supervisor src");
    b.ok("supervisor dst");
    held_handle_after_moves(report, &mut a, &mut b, quick);
    big_dictionary_move(report, &mut a, &b.name, small_frozen);
}

/// Instances registered on a node (its `names` command).
fn names(n: &mut NodeProc) -> u64 {
    n.ok("names")
        .first()
        .and_then(|w| w.parse().ok())
        .unwrap_or(u64::MAX)
}

/// Drains N small instances from a fresh node `a2` to a fresh node `b2` and
/// back, round after round, and reports resident memory on both before and
/// after, once every relay the moves left has retired. Returns the two
/// nodes, connected, each with a supervisor `rooms`, the N instances on
/// `a2`.
fn memory_after_moves(report: &mut Report, quick: bool) -> (NodeProc, NodeProc) {
    let (n, rounds): (u64, u64) = if quick { (5_000, 1) } else { (10_000, 3) };
    let mut a = node("a2");
    let mut b = node("b2");
    a.ok("supervisor rooms");
    b.ok("supervisor rooms");
    a.ok(&format!("connect {}", b.addr));
    a.ok(&format!("spawnmany rooms m {n}"));
    let (a_before, _) = memory(&mut a);
    let (b_before, _) = memory(&mut b);
    let (a_heap_before, b_heap_before) = (heap(&mut a), heap(&mut b));
    // Like with like: the heap after is a leak check only if the instances
    // are in the state they were in before, each without a worker.
    let a_dormant_before = number(&a.ok(&format!("dormant m {n}")), 0);
    for round in 0..rounds {
        for side in [&mut a, &mut b] {
            let drained = side.ok("drain");
            if number(&drained, 0) != n as f64 || number(&drained, 1) != 0.0 {
                eprintln!(
                    "round {round}: drain on {} moved not all of {n}: {drained:?}",
                    side.name
                );
            }
        }
    }
    // A relay frees its name once it has relayed its queue: with every name
    // back where it lives, whatever the relays held is released.
    let mut settled = false;
    for _ in 0..200 {
        if names(&mut a) == n && names(&mut b) == 0 {
            settled = true;
            break;
        }
        a.ok("pause 50");
    }
    if !settled {
        eprintln!(
            "relays not retired after 10 s: {} names on a2, {} on b2",
            names(&mut a),
            names(&mut b)
        );
    }
    let (a_after, _) = memory(&mut a);
    let (b_after, _) = memory(&mut b);
    let (a_heap_after, b_heap_after) = (heap(&mut a), heap(&mut b));
    let a_dormant_after = number(&a.ok(&format!("dormant m {n}")), 0);
    if a_dormant_after != a_dormant_before {
        eprintln!(
            "the heap figures compare {a_dormant_before} dormant instances with {a_dormant_after}"
        );
    }
    report.value("moves.count", (2 * n * rounds) as f64, "moves");
    // Resident memory keeps what the allocator holds for reuse; the heap in
    // use is what the program holds, the measure of a leak.
    report.value("moves.memory_before.a", a_before, "MiB");
    report.value("moves.memory_before.b", b_before, "MiB");
    report.value("moves.memory_after.a", a_after, "MiB");
    report.value("moves.memory_after.b", b_after, "MiB");
    report.whole("moves.dormant_before.a", a_dormant_before, "instances");
    report.whole("moves.dormant_after.a", a_dormant_after, "instances");
    report.value("moves.heap_before.a", a_heap_before, "MiB");
    report.value("moves.heap_before.b", b_heap_before, "MiB");
    report.value("moves.heap_after.a", a_heap_after, "MiB");
    report.value("moves.heap_after.b", b_heap_after, "MiB");
    report.ratio(
        "ratio.heap_after_moves_vs_before.a",
        a_heap_after / a_heap_before,
    );
    // b ran none of them before and runs none after: what it keeps is the
    // forwarding notes (a few minutes) and the capacity of its indexes.
    report.value(
        "moves.heap_kept_per_name.b",
        (b_heap_after - b_heap_before) * 1024.0 * 1024.0 / n as f64,
        "B",
    );
    (a, b)
}

/// A handle held on `a` while its instance moves to `b` and back many
/// times: a call through it against a call by name. `a` has a supervisor
/// `src`, `b` one named `dst`.
fn held_handle_after_moves(report: &mut Report, a: &mut NodeProc, b: &mut NodeProc, quick: bool) {
    let round_trips = if quick { 100 } else { 500 };
    let casts = if quick { 20_000 } else { 100_000 };
    a.ok("spawn src h 0 8");
    a.ok("hold h");
    let (there, back) = (
        format!("move h src {} dst", b.name),
        format!("move h dst {} src", a.name),
    );
    let direct = number(&a.ok(&format!("heldcasts direct {casts}")), 0);
    for trip in 0..round_trips {
        a.ok(&there);
        if trip == 0 {
            // Casts through the relay the move left, to the node it went to.
            let relayed = number(&a.ok(&format!("heldcasts relayed {casts}")), 0);
            report.value("held_handle.casts_direct", direct, "casts/s");
            report.value("held_handle.casts_relayed", relayed, "casts/s");
            report.ratio("ratio.relayed_vs_direct_casts", relayed / direct);
            // And calls while it is away: through the relay, and by name.
            let calls = if quick { 300 } else { 2_000 };
            a.ok("heldbench 50");
            a.ok("callbench h 50");
            let held = number(&a.ok(&format!("heldbench {calls}")), 0) / 1e3;
            let by_name = number(&a.ok(&format!("callbench h {calls}")), 0) / 1e3;
            report.value("held_handle.call_while_away", held, "us");
            report.value("by_name.call_while_away", by_name, "us");
            report.ratio("ratio.held_vs_by_name_while_away", held / by_name);
        }
        b.ok(&back);
    }
    a.ok("heldbench 100");
    a.ok("callbench h 100");
    let held = number(&a.ok("heldbench 2000"), 0) / 1e3;
    let by_name = number(&a.ok("callbench h 2000"), 0) / 1e3;
    report.value("held_handle.call_after_moves", held, "us");
    report.value("by_name.call_after_moves", by_name, "us");
    report.ratio("ratio.held_vs_by_name_after_moves", held / by_name);
}

/// The frozen time of a move whose dictionary holds one 96 MiB entry, with
/// a caller calling it all along as for the small move it is set against.
/// `a` has a supervisor `src` and is connected to `b`, which has one named
/// `dst`.
fn big_dictionary_move(report: &mut Report, a: &mut NodeProc, b: &str, small_frozen: f64) {
    a.ok("spawn src d 0 8");
    a.ok("bigentry d 96");
    let (_, frozen, _) = timed_move(a, "d", &format!("move d src {b} dst"), true);
    report.value("remote_move.dict_96mib.frozen", frozen, "ms");
    report.ratio(
        "ratio.remote_move_frozen_dict_96mib_vs_1mib",
        frozen / small_frozen,
    );
}
