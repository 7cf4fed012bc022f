//! The live view's figures:
//!
//! - `call.peeper.dashboard_off`, `call.peeper.dashboard_on` and
//!   `ratio.call_dashboard_on_vs_off`: one call round trip on a
//!   current-thread runtime, with no dashboard running and with one started
//!   (no page open), batches alternated, the dashboard started and shut
//!   down around each of its batches;
//! - `dashboard.page_load_100k_ms`: with 100,000 instances running, what a
//!   page load asks of the server: the HTML, the overview and the first page
//!   of instances, each on a fresh connection (median of several loads);
//!   `dashboard.search_100k_ms`: one search among them.

use std::time::{Duration, Instant};

use peeper::Supervisor;
use peeper::dashboard::{Dashboard, DashboardHandle};
use peeper_testkit::bench::{Bench, bench_instance};
use peeper_testkit::browser;

use super::{Effort, Report, median, runtime};

const INSTANCES: usize = 100_000;
const TOKEN: &str = "bench-report";

pub(super) fn run(report: &mut Report, e: Effort) {
    let rt = runtime("current_thread");
    let (off, on) = rt.block_on(calls(e));
    let off = report.time("call.peeper.dashboard_off", off);
    let on = report.time("call.peeper.dashboard_on", on);
    report.ratio("ratio.call_dashboard_on_vs_off", on / off);
    let rt = runtime("multi_thread");
    let (load, search) = rt.block_on(async {
        tokio::spawn(page_load(e.batches))
            .await
            .expect("page load task")
    });
    report.value(
        "dashboard.page_load_100k_ms",
        load.as_secs_f64() * 1e3,
        "ms",
    );
    report.value("dashboard.search_100k_ms", search.as_secs_f64() * 1e3, "ms");
}

async fn serve() -> DashboardHandle {
    Dashboard::builder()
        .addr(([127, 0, 0, 1], 0))
        .token(TOKEN)
        .serve()
        .await
        .expect("the dashboard starts")
}

/// Median call time without and with a dashboard, batches alternated, the
/// first of each pair swapped every time.
async fn calls(e: Effort) -> (Duration, Duration) {
    let (sup, h) = bench_instance("call-dashboard", 0_u64).await;
    let n = e.calls;
    let mut off = Vec::new();
    let mut on = Vec::new();
    for batch in 0..e.batches * 2 {
        let with = (batch % 2 == 0) == (batch % 4 < 2);
        let dashboard = if with { Some(serve().await) } else { None };
        let t = Instant::now();
        for _ in 0..n {
            h.call(()).await.expect("peeper call");
        }
        let per_call = t.elapsed() / n as u32;
        if let Some(d) = dashboard {
            d.shutdown().await;
            on.push(per_call);
        } else {
            off.push(per_call);
        }
    }
    sup.stop().await;
    (median(off), median(on))
}

/// Median page load and search with [`INSTANCES`] instances.
async fn page_load(loads: usize) -> (Duration, Duration) {
    let sup = Supervisor::start("dashboard-load")
        .await
        .expect("supervisor");
    for chunk in 0..INSTANCES / 1000 {
        let starts = (0..1000).map(|i| {
            let name = format!("load-{:06}", chunk * 1000 + i);
            sup.start_child(name, Bench::<u64>::new(), 0)
        });
        for started in futures::future::join_all(starts).await {
            started.expect("an instance starts");
        }
    }
    let dashboard = serve().await;
    let addr = dashboard.addr().to_string();
    let mut load = Vec::new();
    let mut search = Vec::new();
    for _ in 0..loads {
        let t = Instant::now();
        for path in ["/", "/api/overview", "/api/instances?page=0&per_page=50"] {
            let (status, _) = browser::get(&addr, path, TOKEN).await;
            assert_eq!(status, 200, "{path}");
        }
        load.push(t.elapsed());
        let t = Instant::now();
        let (status, body) = browser::get(&addr, "/api/instances?q=load-09999", TOKEN).await;
        assert_eq!(status, 200);
        assert!(
            body.contains("\"matched\":10,"),
            "the search found another count"
        );
        search.push(t.elapsed());
    }
    dashboard.shutdown().await;
    sup.stop().await;
    (median(load), median(search))
}
