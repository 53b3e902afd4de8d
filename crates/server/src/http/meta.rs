//! Health, readiness, and the API documentation (Swagger UI, served from the binary).

use axum::{extract::State, response::Redirect, routing::get, Router};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{json::Json, Detail};
use crate::{
    error::{Error, Result},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ready))
}

/// Routes that are not part of the API description.
pub fn docs(api: utoipa::openapi::OpenApi) -> Router<AppState> {
    Router::new()
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", api))
        // No Redoc bundle ships in a crate, and fetching one at run time would break offline use;
        // the Swagger UI at /docs renders the same spec.
        .route("/redoc", get(|| async { Redirect::temporary("/docs/") }))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "healthy")]
    status: &'static str,
}

/// Liveness: the process answers. Does not touch the database.
#[utoipa::path(get, path = "/health", tag = "meta", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "healthy" })
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    #[schema(example = "ready")]
    status: &'static str,
    /// `sqlite` or `postgres`.
    database: &'static str,
    /// With several nodes (`REDIS_URL`): `up`, or `down` — the node still serves its own
    /// clients and stores every message; other nodes get them once Redis is back.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "up")]
    redis: Option<&'static str>,
}

/// Readiness: the database answers a query and the send pipeline's writer is running.
#[utoipa::path(get, path = "/ready", tag = "meta", responses(
    (status = 200, body = Ready),
    (status = 503, description = "The database is unreachable, or the send writer stopped", body = Detail),
))]
async fn ready(State(state): State<AppState>) -> Result<Json<Ready>> {
    if !state.pipeline.is_running() {
        return Err(Error::Unavailable("The send pipeline has stopped".into()));
    }
    state.store.ping().await?;
    let redis = state.broker.linked().map(|up| if up { "up" } else { "down" });
    Ok(Json(Ready { status: "ready", database: state.store.backend(), redis }))
}
