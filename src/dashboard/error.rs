//! [`DashboardError`], why a dashboard did not start, and the errors the
//! API answers with, each a status, a kind and the error's text.

use std::fmt::Debug;
use std::net::SocketAddr;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why a dashboard did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashboardError {
    /// The address is not a loopback one and no token was given: anyone who
    /// can reach it would see every instance.
    #[error("the dashboard binds {addr}, outside loopback, without a token: set one with `token`")]
    TokenRequired {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The token is empty, or has characters a header cannot carry.
    #[error("the dashboard token must be non-empty printable ASCII without spaces")]
    BadToken,
    /// The address could not be bound.
    #[error("the dashboard could not bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// An error answer of the API: the status, a kind the page can match on,
/// and the error's text.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: String,
    message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    kind: &'a str,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        kind: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// A library error, its kind the enum's and the variant's names (as
    /// `TransferError::InProgress`) and its message its `Display`.
    pub(crate) fn typed<E: std::error::Error + Debug>(status: StatusCode, error: &E) -> Self {
        let enum_name = super::probe::short_type(std::any::type_name::<E>());
        let debug = format!("{error:?}");
        let variant: String = debug
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        ApiError::new(status, format!("{enum_name}::{variant}"), error.to_string())
    }

    pub(crate) fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid token is required: header `Authorization: Bearer <token>` or query `token=<token>`",
        )
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn not_found(what: &str, name: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} named {name:?}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(Body {
            error: &self.message,
            kind: &self.kind,
        });
        (self.status, body).into_response()
    }
}
