//! The HTTP API: one module per resource, each owning its routes; merged here with the OpenAPI
//! description, middleware (request ids, tracing, CORS, limits) and JSON 404/405 answers.

pub mod auth;
mod cors;
mod files;
mod groups;
pub mod json;
mod messages;
mod meta;
pub mod proxy;
mod rooms;
mod users;
mod web;

use axum::{
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{header, HeaderName, HeaderValue, StatusCode},
    response::Response,
    Router,
};
use serde::Serialize;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use utoipa::{
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
    Modify, OpenApi, ToSchema,
};
use utoipa_axum::router::OpenApiRouter;

use crate::{error::Error, state::AppState};

/// The largest request body accepted, in bytes. The largest legitimate body is a message of
/// 5,000 characters (at most 20 KB of UTF-8) with its JSON around it.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Banter", description = "Real-time Chat Application API: the seed's API, plus Banter's additions. \
        Authenticate with `POST /auth/login`, then send `Authorization: Bearer <access_token>`. \
        Times are UTC without an offset, as the seed writes them."),
    modifiers(&BearerAuth),
    tags(
        (name = "Authentication", description = "Accounts and sessions"),
        (name = "Messages", description = "Direct messages (the seed's endpoints)"),
        (name = "Groups", description = "Group chats (the seed's endpoints)"),
        (name = "WebSocket", description = "The WebSocket endpoint `/ws/{access_token}` and presence: see docs/PROTOCOL.md"),
        (name = "rooms", description = "Every conversation by room id: lists, history, read positions, catch-up"),
        (name = "users", description = "Finding people"),
        (name = "files", description = "Uploading files to send with messages, and downloading them"),
        (name = "meta", description = "Health and readiness"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        // The seed's (FastAPI's) name for the scheme.
        components.add_security_scheme("HTTPBearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// `{"detail": "..."}`, the seed's error shape.
#[derive(Serialize, ToSchema)]
pub struct Detail {
    detail: String,
}

/// `{"detail": [ {type, loc, msg}, ... ]}`, FastAPI's validation-error shape.
#[derive(Serialize, ToSchema)]
pub struct ValidationDetail {
    detail: Vec<crate::error::FieldError>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageResponse {
    message: String,
}

impl MessageResponse {
    pub fn json(message: &str) -> json::Json<Self> {
        json::Json(Self { message: message.into() })
    }
}

/// The API router and its OpenAPI description.
pub fn api(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router(state.clone()))
        .merge(messages::router())
        .merge(groups::router())
        .merge(rooms::router())
        .merge(users::router())
        .merge(files::router(state.config.max_upload_bytes))
        .merge(meta::router())
        .split_for_parts();
    complete_responses(&mut spec);
    (router, spec)
}

/// Operations limited by `AUTH_RATE_LIMIT` / `LOGIN_FAILURE_LIMIT` / `SEND_RATE_LIMIT` (429).
const RATE_LIMITED: [(&str, &str); 16] = [
    ("post", "/auth/register"),
    ("post", "/auth/login"),
    ("post", "/auth/refresh"),
    ("post", "/auth/change-password"),
    ("delete", "/auth/me"),
    ("patch", "/auth/me"),
    ("post", "/messages/send"),
    ("post", "/groups/send"),
    ("patch", "/groups/{group_id}"),
    ("post", "/groups/{group_id}/members"),
    ("delete", "/groups/{group_id}/members"),
    ("post", "/attachments"),
    // Edits, deletions and reactions count as sends.
    ("patch", "/messages/{message_id}"),
    ("delete", "/messages/{message_id}"),
    ("put", "/messages/{message_id}/reactions/{emoji}"),
    ("delete", "/messages/{message_id}/reactions/{emoji}"),
];

/// Adds to every operation the answers the server's common layers give, so the spec lists
/// every status an operation can answer: 401 and 403 where credentials are required (a bad
/// token; none at all, the seed's 403), 422 where there is input to refuse, 413 for bodies,
/// 429 for the rate-limited ones, 408 and 503 everywhere (a request not answered in time; the
/// database or the send queue not answering).
fn complete_responses(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let answer = |description: &str, schema: &str| {
        let response = ResponseBuilder::new().description(description);
        match schema {
            // No body: the timeout layer answers with the status alone.
            "" => response.build(),
            schema => response
                .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build())
                .build(),
        }
    };
    for (path, item) in &mut spec.paths.paths {
        let operations = [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ];
        for (method, operation) in operations {
            let Some(op) = operation.as_mut() else { continue };
            let security = serde_json::to_value(&op.security).unwrap_or_default();
            let required = security.as_array().is_some_and(|reqs| {
                !reqs.is_empty() && reqs.iter().all(|r| r.as_object().is_some_and(|o| !o.is_empty()))
            });
            let mut add = |status: &str, response: utoipa::openapi::Response| {
                op.responses.responses.entry(status.into()).or_insert_with(|| response.into());
            };
            if required {
                add("401", answer("Invalid, expired or revoked credentials", "Detail"));
                add("403", answer("No credentials (`Not authenticated`), or not allowed", "Detail"));
            }
            let has_input = op.request_body.is_some() || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            if has_input {
                add("422", answer("Validation error", "ValidationDetail"));
            }
            if op.request_body.is_some() {
                add("413", answer("Request body too large", "Detail"));
            }
            if RATE_LIMITED.contains(&(method, path.as_str())) {
                let retry_after = utoipa::openapi::HeaderBuilder::new()
                    .schema(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::Integer))
                    .description(Some("Seconds to wait before trying again"))
                    .build();
                let mut limited = answer("Too many requests", "Detail");
                limited.headers.insert("Retry-After".into(), retry_after);
                add("429", limited);
            }
            add("408", answer("Not answered in time", ""));
            add("503", answer("Service temporarily unavailable, or busy: try again", "Detail"));
        }
    }
}

pub fn router(state: AppState) -> Router {
    let (api, mut spec) = api(&state);
    spec.info.title.clone_from(&state.config.app_name);
    let redirects = std::sync::Arc::new(SlashRedirects::new(&spec));
    let request_id = HeaderName::from_static("x-request-id");
    let metrics_here = state.config.metrics && state.config.metrics_addr.is_none();
    let metrics = match (&state.metrics, metrics_here) {
        (Some(handle), true) => {
            let handle = handle.clone();
            Router::new().route(
                "/metrics",
                axum::routing::get(move |State(state): State<AppState>| async move {
                    crate::metrics::render(&state, &handle)
                }),
            )
        }
        _ => Router::new(),
    };
    let counted = state.metrics.is_some();
    Router::new()
        .merge(api)
        .merge(metrics)
        // The web client and the API docs are the large answers: compressed (brotli or gzip, as
        // the browser accepts), and revalidated by ETag.
        .merge(meta::docs(spec).layer(tower_http::compression::CompressionLayer::new()))
        .merge(crate::realtime::router())
        .merge(web::router().layer(tower_http::compression::CompressionLayer::new()))
        .fallback(move |req: Request| {
            let redirects = redirects.clone();
            async move { redirects.answer(&req) }
        })
        .method_not_allowed_fallback(|| async {
            (StatusCode::METHOD_NOT_ALLOWED, axum::Json(serde_json::json!({"detail": "Method Not Allowed"})))
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // A request that has not been answered in time (a body that trickles in, a stuck
        // handler) gets a 408 rather than holding its connection forever (WebSocket upgrades
        // answer at once, so sockets are not affected).
        .layer(axum::middleware::from_fn_with_state(state.config.request_timeout, deadline))
        .layer(axum::middleware::from_fn_with_state(state.config.cors_origins.clone(), cors::cors))
        .layer(axum::middleware::from_fn_with_state(state.config.trusted_proxies.clone(), proxy::client_addr))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        // No page of this server may be framed by another site (clickjacking): the web client
        // says so in its own policy, and everything else (the API docs) gets this.
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("frame-ancestors 'none'"),
        ))
        // API answers are private (tokens, messages): never kept by a browser or shared cache.
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, |response: &Response| {
            let json = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|ct| ct.as_bytes().starts_with(b"application/json"));
            json.then(|| HeaderValue::from_static("no-store"))
        }))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(Error::Internal(anyhow::anyhow!("handler panicked")))
        }))
        // Outside the timeout and panic layers, so their 408s and 500s are counted too.
        .layer(tower::util::option_layer(counted.then(|| axum::middleware::from_fn(crate::metrics::track))))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    let client = tracing::field::Empty;
                    tracing::info_span!("request", id, client, method = %req.method(), path = %log_path(req))
                })
                .on_request(())
                .on_response(
                    DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(tower_http::LatencyUnit::Micros),
                ),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// How long an upload (`POST /attachments`) may take: a large file on a slow link takes longer
/// than any other request, and its handler drops a body that stalls on its own.
const UPLOAD_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Answers 408 to a request not answered within `limit` (uploads: [`UPLOAD_DEADLINE`]).
async fn deadline(State(limit): State<std::time::Duration>, req: Request, next: axum::middleware::Next) -> Response {
    let upload = req.method() == axum::http::Method::POST && req.uri().path() == "/attachments";
    let limit = if upload { limit.max(UPLOAD_DEADLINE) } else { limit };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            let mut response = Response::new(axum::body::Body::empty());
            *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
            response
        }
    }
}

/// The seed (Starlette) answers a path that matches a route only once its trailing slash is
/// removed (`/auth/me/`) with a 307 to the route; anything else is `{"detail": "Not Found"}`.
struct SlashRedirects(matchit::Router<()>);

impl SlashRedirects {
    fn new(spec: &utoipa::openapi::OpenApi) -> Self {
        let mut routes = matchit::Router::new();
        for path in spec.paths.paths.keys().map(String::as_str).chain(["/docs", "/redoc", "/openapi.json"]) {
            if let Err(e) = routes.insert(path, ()) {
                tracing::warn!(path, error = %e, "route not added to the slash redirects");
            }
        }
        Self(routes)
    }

    fn answer(&self, req: &Request) -> axum::response::Response {
        use axum::response::IntoResponse as _;
        let path = req.uri().path();
        let trimmed = path.trim_end_matches('/');
        if path.len() > 1 && trimmed.len() < path.len() && !trimmed.is_empty() && self.0.at(trimmed).is_ok() {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
            if let Ok(location) = HeaderValue::from_str(&format!("http://{host}{trimmed}{query}")) {
                return (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)]).into_response();
            }
        }
        Error::NotFound("Not Found".into()).into_response()
    }
}

/// The path to log: the route's template where there is one (so `/ws/{token}` never logs a
/// token), else the path without its query string.
fn log_path(req: &Request) -> String {
    if let Some(matched) = req.extensions().get::<MatchedPath>() {
        return matched.as_str().to_owned();
    }
    let path = req.uri().path();
    if path.starts_with("/ws/") {
        "/ws/{token}".into()
    } else {
        path.chars().take(200).collect()
    }
}
