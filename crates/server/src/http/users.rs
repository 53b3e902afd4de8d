//! `/users/*` and `/ws/online-users`: finding people by name, public profiles, presence.

use axum::extract::State;
use banter_protocol::UserPublic;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    json::{Json, Path, Query},
    Detail, ValidationDetail,
};
use crate::{auth::AuthUser, chat, error::Result, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search)).routes(routes!(profile)).routes(routes!(online_users))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Prefix of a username or of a word of a full name, any case (1–50 characters).
    q: String,
    /// 1–50, default 20.
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Find people by name. Never lists yourself; never shows emails.
#[utoipa::path(get, path = "/users/search", tag = "users", security(("bearer" = [])), params(SearchQuery),
    responses((status = 200, body = [UserPublic]), (status = 422, body = ValidationDetail)))]
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
    created_at: chrono::DateTime<chrono::Utc>,
}

/// A user's public profile.
#[utoipa::path(get, path = "/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("user_id" = i64, Path)), responses((status = 200, body = Profile), (status = 404, body = Detail)))]
async fn profile(State(state): State<AppState>, _auth: AuthUser, Path(id): Path<i64>) -> Result<Json<Profile>> {
    let (user, created_at) = chat::user_public(&state, id).await?;
    Ok(Json(Profile { user, created_at }))
}

#[derive(Serialize, ToSchema)]
pub struct OnlineUsers {
    /// Ids of the online users who share a room with you (and you, if connected).
    online_users: Vec<i64>,
    count: usize,
}

/// Who is online among the people you share a room with.
#[utoipa::path(get, path = "/ws/online-users", tag = "realtime", security(("bearer" = [])),
    responses((status = 200, body = OnlineUsers)))]
async fn online_users(State(state): State<AppState>, auth: AuthUser) -> Result<Json<OnlineUsers>> {
    let mut ids = state.store.co_member_ids(auth.user.id).await?;
    ids.push(auth.user.id);
    let mut online = state.hub.online_among(ids);
    online.sort_unstable();
    Ok(Json(OnlineUsers { count: online.len(), online_users: online }))
}
