//! `/users/*` and `/ws/online-users`: finding people by name, public profiles, presence.

use axum::extract::State;
use banter_protocol::UserPublic;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    json::{Fields, FromFields, Id, Json, Query},
    Detail, ValidationDetail,
};
use crate::{
    auth::{AuthUser, MaybeAuthUser},
    chat,
    error::Result,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search)).routes(routes!(profile)).routes(routes!(online_users))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Prefix of a username or of a word of a full name, any case (1–50 characters).
    q: String,
    /// 1–50, default 20.
    #[param(minimum = 1, maximum = 50)]
    limit: Option<i64>,
    #[param(minimum = 0)]
    offset: Option<i64>,
}

impl FromFields for SearchQuery {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let q = f.string("q");
        let limit = f.opt_int("limit");
        let offset = f.opt_int("offset");
        Some(Self { q: q?, limit: limit?, offset: offset? })
    }
}

/// Find people by name. Never lists yourself; never shows emails; `online` only for people you
/// share a room with. With `DIRECTORY=shared`, lists only those people and an exact username.
#[utoipa::path(get, path = "/users/search", tag = "users", security(("HTTPBearer" = [])), params(SearchQuery),
    responses((status = 200, body = [UserPublic]), (status = 401, body = Detail), (status = 403, body = Detail),
        (status = 422, body = ValidationDetail)))]
async fn search(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(q): Query<SearchQuery>,
) -> Result<Json<Vec<UserPublic>>> {
    let found = chat::search_users(&state, &auth.user, &q.q, q.limit.unwrap_or(20), q.offset.unwrap_or(0)).await?;
    Ok(Json(found))
}

#[derive(Serialize, ToSchema)]
pub struct Profile {
    #[serde(flatten)]
    user: UserPublic,
    #[serde(with = "banter_protocol::time")]
    #[schema(value_type = String)]
    created_at: chrono::DateTime<chrono::Utc>,
}

/// A user's public profile; `online` only if you share a room.
#[utoipa::path(get, path = "/users/{user_id}", tag = "users", security(("HTTPBearer" = [])),
    params(("user_id" = i64, Path)),
    responses((status = 200, body = Profile), (status = 401, body = Detail), (status = 403, body = Detail),
        (status = 404, body = Detail), (status = 422, body = ValidationDetail)))]
async fn profile(State(state): State<AppState>, auth: AuthUser, Id(id): Id) -> Result<Json<Profile>> {
    let (user, created_at) = chat::user_public(&state, auth.user.id, id).await?;
    Ok(Json(Profile { user, created_at }))
}

#[derive(Serialize, ToSchema)]
pub struct OnlineUsers {
    /// Ids of the online users who share a room with you (and you, if connected).
    online_users: Vec<i64>,
    count: usize,
}

/// Who is online among the people you share a room with. The seed ignores credentials here and
/// lists everyone online (⚠BUG B14); Banter answers a request without valid credentials with an
/// empty list — the seed's clients keep working, and nobody learns who is online.
#[utoipa::path(get, path = "/ws/online-users", tag = "WebSocket", security((), ("HTTPBearer" = [])),
    responses((status = 200, body = OnlineUsers)))]
async fn online_users(State(state): State<AppState>, auth: MaybeAuthUser) -> Result<Json<OnlineUsers>> {
    let Some(auth) = auth.0 else { return Ok(Json(OnlineUsers { online_users: Vec::new(), count: 0 })) };
    let mut ids = state.store.co_member_ids(auth.user.id).await?;
    ids.push(auth.user.id);
    let mut online = state.hub.online_among(ids);
    online.sort_unstable();
    Ok(Json(OnlineUsers { count: online.len(), online_users: online }))
}
