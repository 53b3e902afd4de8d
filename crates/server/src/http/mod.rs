//! The HTTP API: one module per resource, each owning its routes; merged here with the OpenAPI
//! description, middleware (request ids, tracing, CORS, limits) and JSON 404/405 answers.

pub mod auth;
mod groups;
pub mod json;
mod messages;
mod meta;
mod rooms;
mod users;
mod web;

use std::time::Duration;

use axum::{
    extract::{DefaultBodyLimit, MatchedPath, Request},
    http::{header, HeaderName, HeaderValue, Method, StatusCode},
    Router,
};
use serde::Serialize;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use utoipa::{
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
    Modify, OpenApi, ToSchema,
};
use utoipa_axum::router::OpenApiRouter;

use crate::{config::CorsOrigins, error::Error, state::AppState};

/// The largest request body accepted, in bytes. The largest legitimate body is a message of
/// 5,000 characters (at most 20 KB of UTF-8) with its JSON around it.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Banter", description = "A self-hosted real-time chat server. \
        Authenticate with `POST /auth/login`, then send `Authorization: Bearer <access_token>`."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "messages", description = "Direct messages (the seed's endpoints)"),
        (name = "groups", description = "Group chats (the seed's endpoints)"),
        (name = "rooms", description = "Every conversation by room id: lists, history, read positions, catch-up"),
        (name = "users", description = "Finding people"),
        (name = "realtime", description = "WebSocket endpoint and presence: see docs/PROTOCOL.md"),
        (name = "meta", description = "Health and readiness"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
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
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(messages::router())
        .merge(groups::router())
        .merge(rooms::router())
        .merge(users::router())
        .merge(meta::router())
        .split_for_parts()
}

pub fn router(state: AppState) -> Router {
    let (api, mut spec) = api();
    spec.info.title.clone_from(&state.config.app_name);
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(api)
        .merge(meta::docs(spec))
        .merge(crate::realtime::router())
        .merge(web::router())
        .fallback(|| async { Error::NotFound("Not Found".into()) })
        .method_not_allowed_fallback(|| async {
            (StatusCode::METHOD_NOT_ALLOWED, axum::Json(serde_json::json!({"detail": "Method Not Allowed"})))
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // A request that has not been answered in 30 s gets a 408 rather than holding its
        // connection forever (WebSocket upgrades answer at once, so sockets are not affected).
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(cors(&state.config.cors_origins))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(Error::Internal(anyhow::anyhow!("handler panicked")))
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", id, method = %req.method(), path = %log_path(req))
                })
                .on_request(())
                .on_response(
                    DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(tower_http::LatencyUnit::Micros),
                ),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
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

fn cors(origins: &CorsOrigins) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600));
    match origins {
        CorsOrigins::Any => layer.allow_origin(AllowOrigin::any()),
        CorsOrigins::List(list) => {
            layer.allow_origin(AllowOrigin::list(list.iter().filter_map(|o| HeaderValue::from_str(o).ok())))
        }
    }
}
