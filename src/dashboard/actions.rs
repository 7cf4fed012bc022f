//! The actions: kill an instance, transfer it to another supervisor, move
//! it to a node, drain this node. Off unless a token is set; each goes
//! through the same API an application uses, and a refusal comes back as
//! the library's typed error ([`ApiError::typed`]).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::server::Shared;
use crate::error::LookupError;
use crate::instance::AnyInstance;
use crate::registry;
use crate::supervisor::Supervisor;

/// What an action that went through answers.
#[derive(Serialize)]
struct Done {
    ok: bool,
    message: String,
}

fn done(message: String) -> Response {
    Json(Done { ok: true, message }).into_response()
}

fn allowed(app: &Shared) -> Result<(), ApiError> {
    if app.token.is_some() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "actions_disabled",
            "actions are off: start the dashboard with a token to turn them on",
        ))
    }
}

fn running(name: &str) -> Result<Arc<dyn AnyInstance>, ApiError> {
    registry::get(name).ok_or_else(|| {
        ApiError::typed(
            StatusCode::NOT_FOUND,
            &LookupError::NotFound {
                name: name.to_owned(),
            },
        )
    })
}

/// The supervisor `instance` is under now.
fn supervisor_of(instance: &dyn AnyInstance) -> Result<Supervisor, ApiError> {
    instance
        .owner()
        .and_then(|o| Supervisor::lookup(o.name()))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "no_supervisor",
                format!(
                    "instance {:?} is under no running supervisor",
                    instance.name()
                ),
            )
        })
}

/// Kills the instance's worker, as [`Handle::kill`](crate::Handle::kill).
pub(crate) async fn kill(
    State(app): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    allowed(&app)?;
    running(&name)?.kill();
    Ok(done(format!("killed the worker of {name:?}")))
}

#[derive(Debug, Deserialize)]
pub(crate) struct TransferQuery {
    to: String,
    #[allow(dead_code, reason = "read by the token check")]
    token: Option<String>,
}

/// Transfers the instance to the supervisor `to`, with [`crate::transfer`].
pub(crate) async fn transfer(
    State(app): State<Shared>,
    Path(name): Path<String>,
    query: Result<Query<TransferQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    allowed(&app)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let instance = running(&name)?;
    let from = supervisor_of(&*instance)?;
    let to = Supervisor::lookup(&query.to)
        .ok_or_else(|| ApiError::not_found("supervisor", &query.to))?;
    crate::transfer(&name, &from, &to)
        .await
        .map_err(|e| ApiError::typed(StatusCode::CONFLICT, &e))?;
    Ok(done(format!("transferred {name:?} to {:?}", query.to)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct MoveQuery {
    node: String,
    #[allow(dead_code, reason = "read by the token check")]
    token: Option<String>,
}

/// Moves the instance to the supervisor of the same name on `node`, as
/// [`Node::move_to`](crate::cluster::Node::move_to) does; answers when the
/// move ended, while the page follows its progress.
pub(crate) async fn move_to(
    State(app): State<Shared>,
    Path(name): Path<String>,
    query: Result<Query<MoveQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    allowed(&app)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    #[cfg(feature = "cluster")]
    {
        let node = node(&app)?;
        let instance = running(&name)?;
        let from = supervisor_of(&*instance)?;
        let Some(kind) = node.kind_of_type(instance.actor_type()) else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "kind_not_registered",
                format!(
                    "{} is not registered on this node (Node::register), so it cannot move",
                    super::probe::short_type(instance.actor_type())
                ),
            ));
        };
        let report = kind
            .move_out(node.clone(), name.clone(), from, query.node.clone())
            .await
            .map_err(|e| ApiError::typed(StatusCode::CONFLICT, &e))?;
        Ok(done(format!(
            "moved {name:?} to {:?}: {} rows",
            report.to_node, report.rows
        )))
    }
    #[cfg(not(feature = "cluster"))]
    {
        let _ = (name, query);
        Err(no_cluster())
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct DrainQuery {
    #[serde(default = "default_parallel")]
    parallel: usize,
    #[allow(dead_code, reason = "read by the token check")]
    token: Option<String>,
}

fn default_parallel() -> usize {
    4
}

/// Drains this node, as [`Node::drain`](crate::cluster::Node::drain);
/// answers when the drain ended, with what failed.
pub(crate) async fn drain(
    State(app): State<Shared>,
    query: Result<Query<DrainQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    allowed(&app)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if query.parallel == 0 {
        return Err(ApiError::bad_request("parallel must be at least 1"));
    }
    #[cfg(feature = "cluster")]
    {
        let report = node(&app)?.drain(query.parallel).await;
        let failed: Vec<String> = report
            .failed
            .iter()
            .map(|(name, e)| format!("{name}: {e}"))
            .collect();
        let message = if failed.is_empty() {
            format!("drained: {} moved", report.moved_total())
        } else {
            format!(
                "drained: {} moved, {} failed ({})",
                report.moved_total(),
                failed.len(),
                failed.join("; ")
            )
        };
        Ok(done(message))
    }
    #[cfg(not(feature = "cluster"))]
    {
        Err(no_cluster())
    }
}

#[cfg(feature = "cluster")]
fn node(app: &Shared) -> Result<&crate::cluster::Node, ApiError> {
    app.cluster.as_ref().ok_or_else(no_cluster)
}

fn no_cluster() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "no_node",
        "moves and drains need a cluster node: give one to the dashboard with `node`",
    )
}
