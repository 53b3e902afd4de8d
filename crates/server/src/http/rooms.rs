//! `/rooms/*` and `/sync`: Banter's additions for real clients — one list of every
//! conversation, history by room id, explicit read positions, and catch-up after a disconnect.

use axum::extract::State;
use banter_protocol::{Message, Positions, RoomNotice, RoomSummary};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    json::{Fields, FromFields, Id, Json, Query},
    messages::HistoryQuery,
    Detail, ValidationDetail,
};
use crate::{
    auth::AuthUser,
    chat::{self, MemberRead, ReadState, Replay, Target},
    error::Result,
    state::AppState,
    validate::Problem,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read))
        .routes(routes!(sync))
        .routes(routes!(settings, set_settings))
        .route_layer(axum::middleware::from_fn(super::json::read_body))
        .routes(routes!(list))
        .routes(routes!(history))
        .routes(routes!(reads))
        .routes(routes!(notices))
        .routes(routes!(search))
}

/// Every conversation (DMs and groups), newest activity first: what a sidebar needs.
#[utoipa::path(get, path = "/rooms", tag = "rooms", security(("HTTPBearer" = [])),
    responses((status = 200, body = [RoomSummary])))]
async fn list(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Vec<RoomSummary>>> {
    Ok(Json(chat::rooms(&state, &auth.user).await?))
}

/// Any room's history by id, oldest → newest. Reading marks it read.
#[utoipa::path(get, path = "/rooms/{room_id}/messages", tag = "rooms", security(("HTTPBearer" = [])),
    params(("room_id" = i64, Path), HistoryQuery),
    responses((status = 200, body = [Message]), (status = 404, body = Detail), (status = 422, body = ValidationDetail)))]
async fn history(
    State(state): State<AppState>,
    auth: AuthUser,
    Id(room_id): Id,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Vec<Message>>> {
    Ok(Json(chat::history(&state, &auth.user, Target::Room(room_id), q.page()?, q.marks_read()).await?))
}

#[derive(ToSchema)]
pub struct ReadRequest {
    /// Mark every message with `seq <= up_to` as read (never moves backwards).
    #[schema(minimum = 0)]
    up_to: i64,
}

impl FromFields for ReadRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self { up_to: f.int("up_to")? })
    }
}

/// Move your read position in a room.
#[utoipa::path(post, path = "/rooms/{room_id}/read", tag = "rooms", security(("HTTPBearer" = [])),
    params(("room_id" = i64, Path)), request_body = ReadRequest,
    responses((status = 200, body = ReadState), (status = 404, body = Detail)))]
async fn read(
    State(state): State<AppState>,
    auth: AuthUser,
    Id(room_id): Id,
    Json(req): Json<ReadRequest>,
) -> Result<Json<ReadState>> {
    Ok(Json(chat::mark_read(&state, &auth.user, room_id, req.up_to).await?))
}

#[derive(ToSchema)]
pub struct SyncRequest {
    /// The last `seq` seen per room id, e.g. `{"7": 13}`; rooms left out count from 0.
    #[schema(value_type = Object)]
    rooms: Positions,
}

impl FromFields for SyncRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let rooms = f.optional("rooms", |v| {
            banter_protocol::deserialize_positions(v)
                .map_err(|e| Problem::value(&format!("rooms must map room ids to seq numbers: {e}")))
        })?;
        Some(Self { rooms: rooms.unwrap_or_default() })
    }
}

/// Every member's read position ("Seen by"). Members only.
#[utoipa::path(get, path = "/rooms/{room_id}/reads", tag = "rooms", security(("HTTPBearer" = [])),
    params(("room_id" = i64, Path)),
    responses((status = 200, body = [MemberRead]), (status = 404, description = "`Room not found`", body = Detail)))]
async fn reads(State(state): State<AppState>, auth: AuthUser, Id(room_id): Id) -> Result<Json<Vec<MemberRead>>> {
    Ok(Json(chat::reads(&state, &auth.user, room_id).await?))
}

/// Paging of a group's notices.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoticesQuery {
    /// 1–200, default 100.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// Only notices with a smaller `id` (paging back).
    #[param(minimum = 1)]
    before: Option<i64>,
}

impl FromFields for NoticesQuery {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let limit = f.opt_int("limit");
        let before = f.opt_int("before");
        Some(Self { limit: limit?, before: before? })
    }
}

/// What happened to a group — members added, left or removed, renames, new owners — as lines
/// for its timeline: the newest `limit` (with `id` below `before`), oldest first. Each sits
/// after the messages up to its `after_seq`. Members only; a DM has none.
#[utoipa::path(get, path = "/rooms/{room_id}/notices", tag = "rooms", security(("HTTPBearer" = [])),
    params(("room_id" = i64, Path), NoticesQuery),
    responses((status = 200, body = [RoomNotice]), (status = 404, description = "`Room not found`", body = Detail),
        (status = 422, body = ValidationDetail)))]
async fn notices(
    State(state): State<AppState>,
    auth: AuthUser,
    Id(room_id): Id,
    Query(q): Query<NoticesQuery>,
) -> Result<Json<Vec<RoomNotice>>> {
    Ok(Json(chat::notices(&state, &auth.user, room_id, q.before, q.limit).await?))
}

/// Your settings for a room (members only).
#[utoipa::path(get, path = "/rooms/{room_id}/settings", tag = "rooms", security(("HTTPBearer" = [])),
    params(("room_id" = i64, Path)),
    responses((status = 200, body = chat::RoomSettings), (status = 404, description = "`Room not found`", body = Detail)))]
async fn settings(State(state): State<AppState>, auth: AuthUser, Id(room_id): Id) -> Result<Json<chat::RoomSettings>> {
    Ok(Json(chat::room_settings(&state, &auth.user, room_id).await?))
}

#[derive(ToSchema)]
pub struct SettingsRequest {
    /// Mute the room: clients do not notify for it (except mentions); it still counts unread.
    muted: bool,
}

impl FromFields for SettingsRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self { muted: f.required("muted", super::json::boolean)? })
    }
}

/// Change your settings for a room; your other devices get a `room_settings` frame.
#[utoipa::path(put, path = "/rooms/{room_id}/settings", tag = "rooms", security(("HTTPBearer" = [])),
    params(("room_id" = i64, Path)), request_body = SettingsRequest,
    responses(
        (status = 200, body = chat::RoomSettings),
        (status = 404, description = "`Room not found`", body = Detail),
        (status = 422, body = ValidationDetail),
    ))]
async fn set_settings(
    State(state): State<AppState>,
    auth: AuthUser,
    Id(room_id): Id,
    Json(req): Json<SettingsRequest>,
) -> Result<Json<chat::RoomSettings>> {
    Ok(Json(chat::set_room_settings(&state, &auth.user, room_id, req.muted).await?))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// 1–200 characters: every word must match (as a word or the start of one), whatever the
    /// case and accents; at most 10 words count.
    #[param(min_length = 1, max_length = 200)]
    q: String,
    /// Only this room (one you are a member of).
    room_id: Option<i64>,
    /// 1–50, default 20.
    #[param(minimum = 1, maximum = 50)]
    limit: Option<i64>,
    /// Only messages with a smaller id: the previous page's `next_before`.
    #[param(minimum = 1)]
    before: Option<i64>,
}

impl FromFields for SearchParams {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let q = f.string("q");
        let room_id = f.opt_int("room_id");
        let limit = f.opt_int("limit");
        let before = f.opt_int("before");
        Some(Self { q: q?, room_id: room_id?, limit: limit?, before: before? })
    }
}

/// Search the messages of your rooms, newest first.
#[utoipa::path(get, path = "/search/messages", tag = "rooms", security(("HTTPBearer" = [])),
    params(SearchParams),
    responses(
        (status = 200, body = chat::SearchPage),
        (status = 404, description = "`Room not found`: a `room_id` you are not a member of", body = Detail),
        (status = 422, body = ValidationDetail),
    ))]
async fn search(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(p): Query<SearchParams>,
) -> Result<Json<chat::SearchPage>> {
    let query = chat::SearchQuery { q: p.q, room_id: p.room_id, limit: p.limit, before: p.before };
    Ok(Json(chat::search(&state, &auth.user, &query).await?))
}

/// A change to a message seen before: its newest change's `seq` and its whole state now.
#[derive(Serialize, ToSchema)]
pub struct Update {
    room_id: i64,
    seq: i64,
    message: Message,
}

#[derive(Serialize, ToSchema)]
pub struct SyncResponse {
    /// Every message created after the given positions, once, as it is now (edited, or a
    /// tombstone), per room in `seq` order.
    messages: Vec<Message>,
    /// Every message created up to the given positions and changed since, once, as it is now,
    /// per room in `seq` order (of its newest change).
    updates: Vec<Update>,
    /// The position per room after these messages: send it back next time.
    #[schema(value_type = Object)]
    rooms: Positions,
    /// `false` if there was more than one answer holds: call again with `rooms`.
    complete: bool,
}

/// Catch up after a disconnect: everything missed, exactly once, in order per room.
#[utoipa::path(post, path = "/sync", tag = "rooms", security(("HTTPBearer" = [])), request_body = SyncRequest,
    responses((status = 200, body = SyncResponse)))]
async fn sync(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<SyncRequest>,
) -> Result<Json<SyncResponse>> {
    let (replay, rooms, complete) = chat::sync(&state, &auth.user, &req.rooms).await?;
    let (mut messages, mut updates) = (Vec::new(), Vec::new());
    for entry in replay {
        match entry {
            Replay::New(m) => messages.push(m),
            Replay::Updated { seq, message } => updates.push(Update { room_id: message.room_id, seq, message }),
        }
    }
    Ok(Json(SyncResponse { messages, updates, rooms, complete }))
}
