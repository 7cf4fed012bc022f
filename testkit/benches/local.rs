//! Criterion benches of every local cost: call round trips against plain
//! ractor and a hand-written tokio actor, casts and restarts against the size
//! of the state, and local transfers against the size of state and tables.
//!
//! `cargo bench -p peeper-testkit --bench local`; the one-run summary with
//! ratios is `cargo run --release -p peeper-testkit --example bench_report --
//! --quick --only-local`.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use peeper_testkit::bench::{
    BenchState, Cast, PlainMsg, bench_instance, casts_then_call, kill_then_call, map_1mib,
    mpsc_actor, mpsc_call, plain_ractor, transfer_round_trips, transfer_setup, vec_1mib,
};
use tokio::runtime::{Builder, Runtime};

fn runtime(multi_thread: bool) -> Runtime {
    let mut builder = if multi_thread {
        let mut b = Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        Builder::new_current_thread()
    };
    builder.enable_all().build().expect("a tokio runtime")
}

fn calls(c: &mut Criterion) {
    let mut group = c.benchmark_group("call");
    for (flavour, multi) in [("current_thread", false), ("multi_thread", true)] {
        let rt = runtime(multi);
        let (sup, h) = rt.block_on(bench_instance(&format!("crit-call-{flavour}"), 0_u64));
        let ractor = rt.block_on(plain_ractor());
        let mpsc = rt.block_on(async { mpsc_actor() });
        group.bench_function(BenchmarkId::new("peeper", flavour), |b| {
            b.iter_custom(|iters| {
                let h = h.clone();
                rt.block_on(async move {
                    tokio::spawn(async move {
                        let t = Instant::now();
                        for _ in 0..iters {
                            h.call(()).await.expect("call");
                        }
                        t.elapsed()
                    })
                    .await
                    .expect("bench task")
                })
            });
        });
        group.bench_function(BenchmarkId::new("ractor", flavour), |b| {
            b.iter_custom(|iters| {
                let r = ractor.clone();
                rt.block_on(async move {
                    tokio::spawn(async move {
                        let t = Instant::now();
                        for _ in 0..iters {
                            ractor::call!(r, PlainMsg::Get).expect("call");
                        }
                        t.elapsed()
                    })
                    .await
                    .expect("bench task")
                })
            });
        });
        group.bench_function(BenchmarkId::new("ractor_with_timeout", flavour), |b| {
            b.iter_custom(|iters| {
                let r = ractor.clone();
                rt.block_on(async move {
                    tokio::spawn(async move {
                        let t = Instant::now();
                        for _ in 0..iters {
                            r.call(PlainMsg::Get, Some(Duration::from_secs(5)))
                                .await
                                .expect("call");
                        }
                        t.elapsed()
                    })
                    .await
                    .expect("bench task")
                })
            });
        });
        group.bench_function(BenchmarkId::new("tokio_mpsc", flavour), |b| {
            b.iter_custom(|iters| {
                let m = mpsc.clone();
                rt.block_on(async move {
                    tokio::spawn(async move {
                        let t = Instant::now();
                        for _ in 0..iters {
                            mpsc_call(&m).await;
                        }
                        t.elapsed()
                    })
                    .await
                    .expect("bench task")
                })
            });
        });
        ractor.stop(None);
        rt.block_on(sup.stop());
    }
    group.finish();
}

fn casts_of<S: BenchState>(c: &mut Criterion, label: &str, state: S) {
    let rt = runtime(false);
    let (sup, h) = rt.block_on(bench_instance(&format!("crit-cast-{label}"), state));
    let mut group = c.benchmark_group("cast");
    group.bench_function(BenchmarkId::new("noop", label), |b| {
        b.iter_custom(|iters| {
            rt.block_on(casts_then_call(&h, iters, || Cast::Noop)) * (iters as u32 + 1)
                / iters.max(1) as u32
        });
    });
    group.bench_function(BenchmarkId::new("change", label), |b| {
        b.iter_custom(|iters| {
            rt.block_on(casts_then_call(&h, iters, || Cast::Touch)) * (iters as u32 + 1)
                / iters.max(1) as u32
        });
    });
    group.finish();
    rt.block_on(sup.stop());
}

fn casts(c: &mut Criterion) {
    casts_of(c, "8b", 0_u64);
    casts_of(c, "1mib_vec", vec_1mib());
    casts_of(c, "1mib_im_map", map_1mib());
}

fn restarts_of<S: BenchState>(c: &mut Criterion, label: &str, state: S) {
    let rt = runtime(false);
    let (sup, h) = rt.block_on(bench_instance(&format!("crit-restart-{label}"), state));
    c.bench_function(&format!("restart/kill_to_reply/{label}"), |b| {
        b.iter_custom(|iters| rt.block_on(kill_then_call(&h, iters)));
    });
    rt.block_on(sup.stop());
}

fn restarts(c: &mut Criterion) {
    restarts_of(c, "8b", 0_u64);
    restarts_of(c, "1mib_vec", vec_1mib());
}

fn transfers_of<S: BenchState>(c: &mut Criterion, label: &str, state: S, rows: u64, bytes: usize) {
    let rt = runtime(false);
    let name = format!("crit-transfer-{label}");
    let (a, b, _h) = rt.block_on(transfer_setup(&name, state, rows, bytes));
    c.bench_function(&format!("transfer/local/{label}"), |bench| {
        bench.iter_custom(|iters| {
            // Round trips keep the instance where it started; an odd count
            // of transfers is rounded up to the next round trip.
            rt.block_on(transfer_round_trips(&a, &b, &name, iters.div_ceil(2)))
        });
    });
    rt.block_on(a.stop());
    rt.block_on(b.stop());
}

fn transfers(c: &mut Criterion) {
    transfers_of(c, "empty", 0_u64, 0, 0);
    transfers_of(c, "1mib_state_100k_rows", vec_1mib(), 100_000, 16);
    transfers_of(c, "1gib_table", 0_u64, 1024, 1 << 20);
}

criterion_group! {
    name = local;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = calls, casts, restarts, transfers
}
criterion_main!(local);
