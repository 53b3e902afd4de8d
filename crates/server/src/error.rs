//! The one error type of Banter's service layer, mapped once to an HTTP status and the seed's
//! JSON shape `{"detail": ...}` (and, for WebSocket clients, to an `error` frame's code).
//! Internal causes are logged with their whole chain and never sent to clients.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use banter_protocol::ErrorCode;
use serde::Serialize;
use serde_json::{json, Value};

use crate::store::StoreError;

/// One problem with one field of a request, in the shape FastAPI (Pydantic 2.5) gives it, so
/// clients and tools written against the seed read Banter's 422s the same way:
/// `{"type", "loc", "msg", "input", "ctx"?, "url"?}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Machine-readable kind, e.g. `missing`, `string_too_short`, `int_parsing`, `value_error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Where: `["body", "username"]`, `["query", "limit"]`, `["body", "member_ids", 0]`.
    #[schema(value_type = Vec<LocItem>)]
    pub loc: Vec<Value>,
    /// What is wrong, for people.
    pub msg: String,
    /// The value that was refused (for a missing field: the object it is missing from).
    #[schema(value_type = serde_json::Value)]
    pub input: Value,
    /// The rule's parameters, e.g. `{"min_length": 8}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub ctx: Option<Value>,
    /// Pydantic's page about this kind of error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// An element of a `loc`: a field name or a list index (in the spec: a string or an integer).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum LocItem {
    Name(String),
    Index(i64),
}

impl FieldError {
    /// An error of `kind` at `loc`, with Pydantic's link for its kind (FastAPI's own
    /// `json_invalid` has none).
    pub fn new(kind: &'static str, loc: Vec<Value>, msg: impl Into<String>, input: Value) -> Self {
        let url = (kind != "json_invalid").then(|| format!("https://errors.pydantic.dev/2.5/v/{kind}"));
        Self { kind, loc, msg: msg.into(), input, ctx: None, url }
    }

    /// An error about `field` of the body.
    pub fn body(kind: &'static str, field: &str, msg: impl Into<String>, input: Value) -> Self {
        Self::new(kind, vec!["body".into(), field.into()], msg, input)
    }

    /// An error about query parameter `name`.
    pub fn query(kind: &'static str, name: &str, msg: impl Into<String>, input: Value) -> Self {
        Self::new(kind, vec!["query".into(), name.into()], msg, input)
    }

    pub fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }

    /// The same error at another place (a rule checked in the domain layer, placed by the
    /// transport that received the value).
    pub fn at(mut self, loc: Vec<Value>) -> Self {
        self.loc = loc;
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A malformed request: missing or ill-typed fields, values out of range (422).
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// A well-formed request that breaks a rule (400).
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials (401, with `WWW-Authenticate: Bearer`): a bad bearer token or a
    /// failed login.
    #[error("{0}")]
    Unauthorized(String),
    /// A refused refresh token (401 *without* `WWW-Authenticate`, as the seed answers
    /// `/auth/refresh`).
    #[error("{0}")]
    RefreshRejected(String),
    /// Not allowed (403); also the seed's answer to a request with no credentials at all.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Request body too large")]
    PayloadTooLarge,
    /// An upload above `MAX_UPLOAD_BYTES` (413).
    #[error("File too large: the limit is {limit} bytes")]
    FileTooLarge { limit: u64 },
    /// The user's files would pass their quota, `UPLOAD_QUOTA_BYTES` (413).
    #[error("Not enough storage left: your files take {used} of your {quota} bytes. Delete messages with files to make room")]
    StorageFull { used: u64, quota: u64 },
    /// Too many requests (429, with `Retry-After`): a rate limit or a connection cap.
    #[error("{detail}")]
    RateLimited { detail: String, retry_after: std::time::Duration },
    /// A dependency (the database) is not answering (503).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn validation(field: FieldError) -> Self {
        Self::Validation(vec![field])
    }

    /// The seed's answer to a request without credentials.
    pub fn not_authenticated() -> Self {
        Self::Forbidden("Not authenticated".into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::RefreshRejected(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge | Self::FileTooLarge { .. } | Self::StorageFull { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code of a WebSocket `error` frame.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Validation(_) => ErrorCode::ValidationError,
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Unauthorized(_) | Self::RefreshRejected(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::PayloadTooLarge | Self::FileTooLarge { .. } | Self::StorageFull { .. } => ErrorCode::TooLarge,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// The `detail` a client sees. Internal errors say nothing about their cause.
    pub fn detail(&self) -> Value {
        match self {
            Self::Validation(fields) => json!(fields),
            Self::Internal(_) => json!("Internal server error"),
            other => json!(other.to_string()),
        }
    }

    /// For a rate limit: how long to wait before trying again.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// A one-line message for a WebSocket `error` frame.
    pub fn message(&self) -> String {
        match self {
            Self::Validation(fields) => {
                fields.iter().map(|f| format!("{}: {}", loc_name(&f.loc), f.msg)).collect::<Vec<_>>().join("; ")
            }
            Self::Internal(_) => "Internal server error".into(),
            other => other.to_string(),
        }
    }
}

fn loc_name(loc: &[Value]) -> String {
    loc.iter().skip(1).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect::<Vec<_>>().join(".")
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(e) => {
                tracing::error!(error = %e, "database unavailable");
                Self::Unavailable("Service temporarily unavailable".into())
            }
            StoreError::Conflict(e) => {
                tracing::warn!(error = %e, "a write met a concurrent one and was rolled back");
                Self::Unavailable("Server busy, please retry".into())
            }
            other => Self::Internal(anyhow::Error::new(other)),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            // `{:#}` prints the whole context chain on one line.
            tracing::error!(error = format!("{cause:#}"), "internal error");
        }
        let status = self.status();
        let mut response = (status, Json(json!({ "detail": self.detail() }))).into_response();
        if matches!(self, Self::Unauthorized(_)) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(wait) = self.retry_after() {
            // Whole seconds, rounded up: never "0", which would invite an immediate retry.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}
