//! The routes: the page and its assets, the JSON API, the event stream and
//! `/metrics`, behind the token check.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page |
//! | `GET /app.js`, `GET /style.css` | its script and style (no state: open) |
//! | `GET /api/overview` | nodes, supervisors, moves, drains, totals, chart |
//! | `GET /api/instances?q=&supervisor=&page=&per_page=` | one page of instances |
//! | `GET /api/instances/{name}` | one instance, with its state if its kind opted in |
//! | `GET /events` | the overview again at every sample (server-sent events) |
//! | `GET /metrics` | Prometheus text format |
//! | `POST /api/instances/{name}/kill` | kill its worker |
//! | `POST /api/instances/{name}/transfer?to=` | transfer it to another supervisor |
//! | `POST /api/instances/{name}/move?node=` | move it to a node (feature `cluster`) |
//! | `POST /api/drain?parallel=` | drain this node (feature `cluster`) |
//!
//! With a token set, every route but the two assets asks for it; without
//! one, the actions answer 403.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::Stream;
use tokio::sync::{broadcast, watch};

use super::actions;
use super::error::ApiError;
use super::metrics::Exporter;
use super::pump::{Pump, Watcher};
use super::view::{self, ListQuery, MAX_PER_PAGE, StateViews};

/// What every route shares.
pub(crate) struct App {
    pub(crate) token: Option<String>,
    pub(crate) node: String,
    pub(crate) views: StateViews,
    pub(crate) pump: Arc<Pump>,
    /// Each move's progress, as JSON (see `Heard::progress`).
    pub(crate) progress: broadcast::Sender<Arc<str>>,
    pub(crate) stop: watch::Receiver<bool>,
    pub(crate) exporter: Exporter,
    #[cfg(feature = "cluster")]
    pub(crate) cluster: Option<crate::cluster::Node>,
}

pub(crate) type Shared = Arc<App>;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

/// Every route, with the token check on all but the assets.
pub(crate) fn router(app: Shared) -> Router {
    let guarded = Router::new()
        .route("/", get(index))
        .route("/api/overview", get(overview))
        .route("/api/instances", get(instances))
        .route("/api/instances/{name}", get(instance))
        .route("/api/instances/{name}/kill", post(actions::kill))
        .route("/api/instances/{name}/transfer", post(actions::transfer))
        .route("/api/instances/{name}/move", post(actions::move_to))
        .route("/api/drain", post(actions::drain))
        .route("/events", get(events))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(app.clone(), check_token));
    Router::new()
        .route(
            "/app.js",
            get(|| async { asset("text/javascript", SCRIPT) }),
        )
        .route("/style.css", get(|| async { asset("text/css", STYLE) }))
        .merge(guarded)
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .with_state(app)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Lets a request through if it carries the token, in its
/// `Authorization: Bearer` header or its `token` query parameter; without a
/// token set, if it names a loopback host. A page elsewhere could otherwise
/// read the views through a name of its own that resolves to 127.0.0.1 (DNS
/// rebinding).
async fn check_token(State(app): State<Shared>, request: Request, next: Next) -> Response {
    let Some(token) = &app.token else {
        if !names_loopback(&request) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "host",
                "without a token, only requests to a loopback host (127.0.0.1, localhost) are served",
            )
            .into_response();
        }
        return next.run(request).await;
    };
    if carries(&request, token) {
        next.run(request).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// Whether the request's `Host` is a loopback address or `localhost` (or it
/// has none, as HTTP/1.0 allows).
fn names_loopback(request: &Request) -> bool {
    let Some(host) = request.headers().get(header::HOST) else {
        return true;
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether `request` carries `token`.
fn carries(request: &Request, token: &str) -> bool {
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same(given, token));
    from_header
        || Query::<HashMap<String, String>>::try_from_uri(request.uri())
            .ok()
            .and_then(|q| q.0.get("token").map(|given| same(given, token)))
            .unwrap_or(false)
}

/// Compares tokens in a time that does not depend on where they differ.
fn same(given: &str, token: &str) -> bool {
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        INDEX,
    )
        .into_response()
}

fn json_text(body: Arc<str>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn overview(State(app): State<Shared>) -> Response {
    json_text(app.pump.now().await)
}

async fn instances(
    State(app): State<Shared>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if query.per_page == 0 || query.per_page > MAX_PER_PAGE {
        return Err(ApiError::bad_request(format!(
            "per_page must be from 1 to {MAX_PER_PAGE}, not {}",
            query.per_page
        )));
    }
    let page = view::list(&query, &app.node);
    Ok(axum::Json(page).into_response())
}

async fn instance(
    State(app): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    view::detail(&name, &app.node, &app.views)
        .map(|d| axum::Json(d).into_response())
        .ok_or_else(|| ApiError::not_found("instance", &name))
}

/// The overview at once, then at every sample, and each move's progress as
/// it comes, until the dashboard stops.
async fn events(State(app): State<Shared>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (overview, watcher) = app.pump.watch();
    let stream = Updates {
        overview,
        progress: app.progress.subscribe(),
        stop: app.stop.clone(),
        first: true,
        _watcher: watcher,
    };
    Sse::new(futures::stream::unfold(stream, Updates::next)).keep_alive(KeepAlive::default())
}

/// One page's event stream.
struct Updates {
    overview: watch::Receiver<Arc<str>>,
    progress: broadcast::Receiver<Arc<str>>,
    stop: watch::Receiver<bool>,
    first: bool,
    _watcher: Watcher,
}

impl Updates {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Updates)> {
        if !self.first {
            loop {
                let progress = tokio::select! {
                    changed = self.overview.changed() => {
                        changed.ok()?;
                        break;
                    }
                    progress = self.progress.recv() => progress,
                    _ = self.stop.wait_for(|s| *s) => return None,
                };
                match progress {
                    Ok(json) => {
                        let event = Event::default().event("move").data(&*json);
                        return Some((Ok(event), self));
                    }
                    // Missed ones are superseded by the next sample.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
        self.first = false;
        let data = self.overview.borrow_and_update().clone();
        let event = Event::default().event("overview").data(&*data);
        Some((Ok(event), self))
    }
}

async fn metrics(State(app): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.exporter.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abd", "abc"));
        assert!(!same("ab", "abc"));
    }
}
