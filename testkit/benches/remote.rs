//! Criterion benches across two node processes on 127.0.0.1: a call by name
//! to an instance on the other node against a plain ractor_cluster call, a
//! live move of a table against its size, and a drain of N small instances.
//! The nodes are `peeper-node` processes; each sample asks a node to run the
//! operation `iters` times and report the time.
//!
//! `cargo bench -p peeper-testkit --bench remote`; the one-run summary with
//! ratios is `cargo run --release -p peeper-testkit --example bench_report --
//! --quick --only-remote`.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use peeper_testkit::nodes::NodeProc;

/// A node that lives as long as a long bench may need.
fn node(name: &str, cookie: &str) -> NodeProc {
    let program = std::process::Command::new(env!("CARGO_BIN_EXE_peeper-node"));
    NodeProc::start_with(program, name, cookie, 1800)
}

fn pair(cookie: &str) -> (NodeProc, NodeProc) {
    let mut a = node("a", cookie);
    let mut b = node("b", cookie);
    for n in [&mut a, &mut b] {
        n.ok("supervisor src");
        n.ok("supervisor dst");
    }
    a.ok(&format!("connect {}", b.addr));
    (a, b)
}

/// Mean nanoseconds reported by a node, times `iters`.
fn reported(n: &mut NodeProc, command: &str, iters: u64) -> Duration {
    let ns: u64 = n.ok(command)[0].parse().expect("nanoseconds");
    Duration::from_nanos(ns.saturating_mul(iters))
}

fn remote_calls(c: &mut Criterion) {
    let (mut a, mut b) = pair("crit-calls");
    b.ok("spawn dst far 1 8");
    let mut group = c.benchmark_group("remote_call");
    group.bench_function("peeper_by_name", |bench| {
        bench.iter_custom(|iters| reported(&mut a, &format!("callbench far {iters}"), iters));
    });
    group.bench_function("plain_ractor_cluster", |bench| {
        bench.iter_custom(|iters| reported(&mut a, &format!("pingbench b {iters}"), iters));
    });
    group.finish();
}

fn remote_moves(c: &mut Criterion) {
    let (mut a, mut b) = pair("crit-moves");
    let mut group = c.benchmark_group("remote_move");
    group.sample_size(10);
    for mib in [1_u64, 64, 256] {
        let name = format!("t{mib}");
        a.ok(&format!("spawn src {name} {} 65536", mib * 16));
        group.throughput(criterion::Throughput::Bytes(mib * 1024 * 1024));
        group.bench_function(BenchmarkId::new("table_mib", mib), |bench| {
            bench.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // There and back: each leg is one move.
                    let started = Instant::now();
                    a.ok(&format!("move {name} src b dst"));
                    b.ok(&format!("move {name} dst a src"));
                    total += started.elapsed() / 2;
                }
                total
            });
        });
    }
    group.finish();
}

fn drains(c: &mut Criterion) {
    let mut group = c.benchmark_group("drain");
    group.sample_size(10);
    for n in [1_000_u64, 10_000] {
        let (mut a, mut b) = pair(&format!("crit-drain-{n}"));
        a.ok("supervisor rooms");
        b.ok("supervisor rooms");
        let mut round = 0;
        group.bench_function(BenchmarkId::new("instances", n), |bench| {
            bench.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    round += 1;
                    a.ok(&format!("spawnmany rooms r{round}- {n}"));
                    let ms: u64 = a.ok("drain")[2].parse().expect("milliseconds");
                    total += Duration::from_millis(ms);
                }
                total
            });
        });
    }
    group.finish();
}

criterion_group!(benches, remote_calls, remote_moves, drains);
criterion_main!(benches);
