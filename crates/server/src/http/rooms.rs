//! `/rooms/*` and `/sync`: Banter's additions for real clients — one list of every
//! conversation, history by room id, explicit read positions, and catch-up after a disconnect.

use axum::extract::State;
use banter_protocol::{Message, Positions, RoomSummary};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    json::{Json, Path, Query},
    messages::HistoryQuery,
    Detail, ValidationDetail,
};
use crate::{
    auth::AuthUser,
    chat::{self, ReadState, Target},
    error::Result,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(history)).routes(routes!(read)).routes(routes!(sync))
}

/// Every conversation (DMs and groups), newest activity first: what a sidebar needs.
#[utoipa::path(get, path = "/rooms", tag = "rooms", security(("bearer" = [])),
    responses((status = 200, body = [RoomSummary])))]
async fn list(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Vec<RoomSummary>>> {
    Ok(Json(chat::rooms(&state, &auth.user).await?))
}

/// Any room's history by id, oldest → newest. Reading marks it read.
#[utoipa::path(get, path = "/rooms/{room_id}/messages", tag = "rooms", security(("bearer" = [])),
    params(("room_id" = i64, Path), HistoryQuery),
    responses((status = 200, body = [Message]), (status = 404, body = Detail), (status = 422, body = ValidationDetail)))]
async fn history(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<i64>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Vec<Message>>> {
    Ok(Json(chat::history(&state, &auth.user, Target::Room(room_id), q.page()?).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct ReadRequest {
    /// Mark every message with `seq <= up_to` as read (never moves backwards).
    up_to: i64,
}

/// Move your read position in a room.
#[utoipa::path(post, path = "/rooms/{room_id}/read", tag = "rooms", security(("bearer" = [])),
    params(("room_id" = i64, Path)), request_body = ReadRequest,
    responses((status = 200, body = ReadState), (status = 404, body = Detail)))]
async fn read(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<i64>,
    Json(req): Json<ReadRequest>,
) -> Result<Json<ReadState>> {
    Ok(Json(chat::mark_read(&state, &auth.user, room_id, req.up_to).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct SyncRequest {
    /// The last `seq` seen per room id, e.g. `{"7": 13}`; rooms left out count from 0.
    #[serde(default, deserialize_with = "banter_protocol::deserialize_positions")]
    #[schema(value_type = Object)]
    rooms: Positions,
}

#[derive(Serialize, ToSchema)]
pub struct SyncResponse {
    /// Every message after the given positions, per room in `seq` order.
    messages: Vec<Message>,
    /// The position per room after these messages: send it back next time.
    #[schema(value_type = Object)]
    rooms: Positions,
    /// `false` if there was more than one answer holds: call again with `rooms`.
    complete: bool,
}

/// Catch up after a disconnect: everything missed, exactly once, in order per room.
#[utoipa::path(post, path = "/sync", tag = "rooms", security(("bearer" = [])), request_body = SyncRequest,
    responses((status = 200, body = SyncResponse)))]
async fn sync(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<SyncRequest>,
) -> Result<Json<SyncResponse>> {
    let (messages, rooms, complete) = chat::sync(&state, &auth.user, &req.rooms).await?;
    Ok(Json(SyncResponse { messages, rooms, complete }))
}
