//! The live view's server, over plain HTTP: the token rules, bad queries,
//! actions and their typed errors, search and pages, state shown only on
//! opt-in, and `/metrics`. The page itself is driven in a real browser by
//! testkit's `dashboard_browser`.
#![cfg(feature = "dashboard")]

use std::time::Duration;

use peeper::dashboard::{Dashboard, DashboardError, DashboardHandle};
use peeper::{Actor, BoxError, Context, StateMut, Supervisor, SupervisorEvent};

mod common;
use common::http::{http, http_as, json};

/// Counts; `Explode` panics.
struct Tally;

#[derive(Debug, Clone, Default)]
struct Count {
    n: u64,
}

enum Cast {
    Add(u64),
}

impl Actor for Tally {
    type State = Count;
    type Call = ();
    type Reply = u64;
    type Cast = Cast;
    type Info = ();

    async fn handle_call(
        &self,
        _: (),
        state: &mut StateMut<Count>,
        ctx: &mut Context<Self>,
    ) -> Result<u64, BoxError> {
        ctx.table::<u64, u64>("seen")?.insert(state.n, state.n);
        ctx.dictionary_mut().put("last", state.n);
        Ok(state.n)
    }

    async fn handle_cast(
        &self,
        Cast::Add(n): Cast,
        state: &mut StateMut<Count>,
        _: &mut Context<Self>,
    ) -> Result<(), BoxError> {
        state.n += n;
        Ok(())
    }
}

/// Another kind, whose state no dashboard is told to show.
struct Secret;

impl Actor for Secret {
    type State = String;
    type Call = ();
    type Reply = ();
    type Cast = ();
    type Info = ();
}

async fn serve(token: Option<&str>) -> DashboardHandle {
    let mut builder = Dashboard::builder()
        .addr(([127, 0, 0, 1], 0))
        .interval(Duration::from_millis(100))
        .show_state::<Tally>();
    if let Some(token) = token {
        builder = builder.token(token);
    }
    builder.serve().await.expect("the dashboard starts")
}

#[tokio::test]
async fn binding_outside_loopback_without_a_token_is_refused() {
    let refused = Dashboard::builder().addr(([0, 0, 0, 0], 0)).serve().await;
    assert!(matches!(refused, Err(DashboardError::TokenRequired { .. })));
    let empty = Dashboard::builder().token("").serve().await;
    assert!(matches!(empty, Err(DashboardError::BadToken)));
    let with_token = Dashboard::builder()
        .addr(([0, 0, 0, 0], 0))
        .token("s3cret")
        .serve()
        .await
        .expect("outside loopback with a token");
    with_token.shutdown().await;
}

#[tokio::test]
async fn with_a_token_every_view_and_action_needs_it() {
    let sup = Supervisor::start("dash-token-sup").await.unwrap();
    sup.start_child("dash-token-a", Tally, Count::default())
        .await
        .unwrap();
    let dash = serve(Some("s3cret")).await;
    let addr = dash.addr();
    let views = [
        "/",
        "/api/overview",
        "/api/instances",
        "/api/instances/dash-token-a",
        "/metrics",
    ];
    for path in views {
        assert_eq!(
            http(addr, "GET", path, None, false).await.status,
            401,
            "{path}"
        );
        assert_eq!(
            http(addr, "GET", path, Some("wrong"), false).await.status,
            401,
            "{path}"
        );
        assert_eq!(
            http(addr, "GET", path, Some("s3cret"), false).await.status,
            200,
            "{path}"
        );
    }
    let denied = http(addr, "GET", "/api/overview", None, false).await;
    assert_eq!(json(&denied)["kind"], "unauthorized");
    assert_eq!(http(addr, "GET", "/events", None, false).await.status, 401);
    let events = http(addr, "GET", "/events?token=s3cret", None, true).await;
    assert_eq!(events.status, 200);
    let by_query = http(addr, "GET", "/api/overview?token=s3cret", None, false).await;
    assert_eq!(by_query.status, 200);
    for path in ["/api/instances/dash-token-a/kill", "/api/drain"] {
        assert_eq!(
            http(addr, "POST", path, None, false).await.status,
            401,
            "{path}"
        );
    }
    // The script and style hold no state.
    assert_eq!(http(addr, "GET", "/app.js", None, false).await.status, 200);
    assert_eq!(
        http(addr, "GET", "/style.css", None, false).await.status,
        200
    );
    dash.shutdown().await;
    sup.stop().await;
}

#[tokio::test]
async fn bad_query_parameters_get_400_with_a_message() {
    let sup = Supervisor::start("dash-bad-sup").await.unwrap();
    sup.start_child("dash-bad-a", Tally, Count::default())
        .await
        .unwrap();
    let dash = serve(Some("tok")).await;
    let addr = dash.addr();
    let bad = [
        ("GET", "/api/instances?per_page=0"),
        ("GET", "/api/instances?per_page=100000"),
        ("GET", "/api/instances?per_page=ten"),
        ("GET", "/api/instances?page=-1"),
        ("GET", "/api/instances?page=99999999999999999999999"),
        ("GET", "/api/instances?colour=red"),
        ("POST", "/api/instances/dash-bad-a/transfer"),
        ("POST", "/api/drain?parallel=0"),
        ("POST", "/api/drain?parallel=many"),
    ];
    for (method, path) in bad {
        let answer = http(addr, method, path, Some("tok"), false).await;
        assert_eq!(answer.status, 400, "{method} {path}: {}", answer.body);
        let body = json(&answer);
        assert_eq!(body["kind"], "bad_request", "{path}");
        assert!(!body["error"].as_str().unwrap().is_empty(), "{path}");
    }
    dash.shutdown().await;
    sup.stop().await;
}

#[tokio::test]
async fn without_a_token_actions_are_off_and_only_loopback_hosts_are_served() {
    let sup = Supervisor::start("dash-off-sup").await.unwrap();
    sup.start_child("dash-off-a", Tally, Count::default())
        .await
        .unwrap();
    let dash = serve(None).await;
    let answer = http(
        dash.addr(),
        "POST",
        "/api/instances/dash-off-a/kill",
        None,
        false,
    )
    .await;
    assert_eq!(answer.status, 403);
    assert_eq!(json(&answer)["kind"], "actions_disabled");
    // Views are open on loopback without a token...
    let open = http(dash.addr(), "GET", "/api/overview", None, false).await;
    assert_eq!(open.status, 200);
    let local = http_as(
        dash.addr(),
        "localhost",
        "GET",
        "/api/overview",
        None,
        false,
    )
    .await;
    assert_eq!(local.status, 200);
    // ...to pages of loopback hosts only: not through another name that
    // resolves here.
    let rebound = http_as(dash.addr(), "evil.example:80", "GET", "/", None, false).await;
    assert_eq!(rebound.status, 403);
    assert_eq!(json(&rebound)["kind"], "host");
    dash.shutdown().await;
    sup.stop().await;
}

#[tokio::test]
async fn a_kill_shows_as_a_restart_with_its_crash() {
    let sup = Supervisor::start("dash-kill-sup").await.unwrap();
    let handle = sup
        .start_child("dash-kill-a", Tally, Count::default())
        .await
        .unwrap();
    // Run on this task: it makes its table and its key, and stays dormant.
    handle.call(()).await.unwrap();
    assert!(handle.is_dormant(), "no worker yet");
    let dash = serve(Some("tok")).await;
    let addr = dash.addr();
    let mut events = sup.subscribe();
    let killed = http(
        addr,
        "POST",
        "/api/instances/dash-kill-a/kill",
        Some("tok"),
        false,
    )
    .await;
    assert_eq!(killed.status, 200, "{}", killed.body);
    // Nothing is sent to it: the kill alone restarts it, and the count is
    // noted before the event goes out.
    let restarted = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let SupervisorEvent::WorkerRestarted { name, .. } = events.recv().await.unwrap()
                && name == "dash-kill-a"
            {
                return;
            }
        }
    })
    .await;
    assert!(restarted.is_ok(), "no restart reported after the kill");
    let page = http(
        addr,
        "GET",
        "/api/instances?q=dash-kill-a",
        Some("tok"),
        false,
    )
    .await;
    let row = json(&page)["items"][0].clone();
    assert_eq!(row["restarts"], 1, "{row}");
    assert_eq!(row["last_crash"]["cause"], "killed");
    assert_eq!(row["supervisor"], "dash-kill-sup");
    assert_eq!(row["tables"][0]["name"], "seen");
    assert_eq!(row["dict_keys"][0], "last");
    assert_eq!(handle.call(()).await.unwrap(), 0, "restored");
    let unknown = http(
        addr,
        "POST",
        "/api/instances/nobody/kill",
        Some("tok"),
        false,
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(json(&unknown)["kind"], "LookupError::NotFound");
    dash.shutdown().await;
    sup.stop().await;
}

#[tokio::test]
async fn a_transfer_goes_through_and_its_refusal_is_typed() {
    let a = Supervisor::start("dash-tr-a").await.unwrap();
    let b = Supervisor::start("dash-tr-b").await.unwrap();
    a.start_child("dash-tr-x", Tally, Count::default())
        .await
        .unwrap();
    let dash = serve(Some("tok")).await;
    let addr = dash.addr();
    let path = "/api/instances/dash-tr-x/transfer?to=dash-tr-b";
    let moved = http(addr, "POST", path, Some("tok"), false).await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(b.count(), 1);
    let again = http(addr, "POST", path, Some("tok"), false).await;
    assert_eq!(again.status, 409);
    let body = json(&again);
    assert_eq!(body["kind"], "TransferError::SameSupervisor");
    assert!(body["error"].as_str().unwrap().contains("dash-tr-x"));
    let nowhere = "/api/instances/dash-tr-x/transfer?to=nowhere";
    assert_eq!(
        http(addr, "POST", nowhere, Some("tok"), false).await.status,
        404
    );
    dash.shutdown().await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn instances_are_searched_and_paginated_on_the_server() {
    let sup = Supervisor::start("dash-page-sup").await.unwrap();
    for i in 0..120 {
        sup.start_child(format!("dash-page-{i:03}"), Tally, Count::default())
            .await
            .unwrap();
    }
    let dash = serve(None).await;
    let addr = dash.addr();
    let path = "/api/instances?q=DASH-PAGE-&page=2&per_page=50";
    let page = json(&http(addr, "GET", path, None, false).await);
    assert_eq!(page["matched"], 120);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 20);
    assert_eq!(items[0]["name"], "dash-page-100");
    assert_eq!(items[19]["name"], "dash-page-119");
    let by_sup = "/api/instances?supervisor=dash-page-sup&per_page=1";
    assert_eq!(
        json(&http(addr, "GET", by_sup, None, false).await)["matched"],
        120
    );
    let past = json(
        &http(
            addr,
            "GET",
            "/api/instances?q=dash-page-&page=9",
            None,
            false,
        )
        .await,
    );
    assert_eq!(past["items"].as_array().unwrap().len(), 0);
    dash.shutdown().await;
    sup.stop().await;
}

#[tokio::test]
async fn state_is_shown_only_for_kinds_that_opt_in() {
    let sup = Supervisor::start("dash-state-sup").await.unwrap();
    let shown = sup
        .start_child("dash-state-shown", Tally, Count { n: 41 })
        .await
        .unwrap();
    shown.cast(Cast::Add(1)).unwrap();
    shown.call(()).await.unwrap();
    sup.start_child("dash-state-hidden", Secret, "password".to_owned())
        .await
        .unwrap();
    let dash = serve(None).await;
    let detail = json(
        &http(
            dash.addr(),
            "GET",
            "/api/instances/dash-state-shown",
            None,
            false,
        )
        .await,
    );
    assert!(
        detail["state"].as_str().unwrap().contains("n: 42"),
        "{detail}"
    );
    let hidden = json(
        &http(
            dash.addr(),
            "GET",
            "/api/instances/dash-state-hidden",
            None,
            false,
        )
        .await,
    );
    assert!(hidden["state"].is_null());
    assert!(!hidden.to_string().contains("password"));
    let missing = http(
        dash.addr(),
        "GET",
        "/api/instances/nobody-here",
        None,
        false,
    )
    .await;
    assert_eq!(missing.status, 404);
    dash.shutdown().await;
    sup.stop().await;
}

#[tokio::test]
async fn metrics_are_in_prometheus_text_format() {
    let sup = Supervisor::start("dash-metrics-sup").await.unwrap();
    let handle = sup
        .start_child("dash-metrics-a", Tally, Count::default())
        .await
        .unwrap();
    let dash = serve(None).await;
    for _ in 0..3 {
        handle.call(()).await.unwrap();
    }
    handle.kill();
    handle.call(()).await.unwrap();
    let answer = http(dash.addr(), "GET", "/metrics", None, false).await;
    assert_eq!(answer.status, 200);
    let mut seen = std::collections::HashMap::new();
    for line in answer
        .body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (name, value) = line.rsplit_once(' ').expect("name value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("float in {line:?}"));
        let bare = name.split('{').next().unwrap();
        assert!(
            bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line:?}"
        );
        seen.insert(name.to_owned(), value);
    }
    assert!(seen["peeper_calls_total"] >= 4.0, "{}", answer.body);
    assert!(seen["peeper_instances"] >= 1.0);
    assert!(seen["peeper_restarts_total"] >= 1.0);
    let killed = seen
        .iter()
        .find(|(k, _)| k.starts_with("peeper_crashes_total") && k.contains("cause=\"killed\""));
    assert!(killed.is_some(), "{}", answer.body);
    assert!(seen.contains_key("peeper_supervisor_children{supervisor=\"dash-metrics-sup\"}"));
    dash.shutdown().await;
    sup.stop().await;
}
