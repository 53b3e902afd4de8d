//! `/groups/*`: the seed's group endpoints, plus the member list.

use axum::{extract::State, http::StatusCode};
use banter_protocol::Message;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    json::{Json, Path, Query},
    messages::{HistoryQuery, Sent},
    Detail, MessageResponse, ValidationDetail,
};
use crate::{
    auth::AuthUser,
    chat::{self, MemberOut, Target},
    error::Result,
    state::AppState,
    store::Room,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(send))
        .routes(routes!(history))
        .routes(routes!(my_groups))
        .routes(routes!(members, add_members, remove_member))
}

#[derive(Serialize, ToSchema)]
pub struct GroupOut {
    id: i64,
    name: String,
    #[schema(example = "group")]
    room_type: String,
    created_by: Option<i64>,
    member_count: i64,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Room> for GroupOut {
    fn from(r: Room) -> Self {
        Self {
            id: r.id,
            name: r.name.unwrap_or_default(),
            room_type: r.room_type,
            created_by: r.created_by,
            member_count: r.member_count,
            created_at: r.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CreateGroup {
    /// 1–100 characters.
    #[schema(example = "Team Discussion")]
    name: String,
    /// Other members; the creator is always one. Duplicates are ignored.
    #[serde(default)]
    member_ids: Vec<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Created {
    #[schema(example = "Group created successfully")]
    message: &'static str,
    group: GroupOut,
}

/// Create a group.
#[utoipa::path(post, path = "/groups/create", tag = "groups", security(("bearer" = [])), request_body = CreateGroup,
    responses((status = 201, body = Created), (status = 404, description = "Unknown member id", body = Detail),
        (status = 422, body = ValidationDetail)))]
async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<CreateGroup>,
) -> Result<(StatusCode, Json<Created>)> {
    let room = chat::create_group(&state, &auth.user, &req.name, &req.member_ids).await?;
    Ok((StatusCode::CREATED, Json(Created { message: "Group created successfully", group: room.into() })))
}

#[derive(Deserialize, ToSchema)]
pub struct SendGroup {
    group_id: i64,
    content: String,
    client_id: Option<String>,
}

/// Send a message to a group you are a member of.
#[utoipa::path(post, path = "/groups/send", tag = "groups", security(("bearer" = [])), request_body = SendGroup,
    responses((status = 201, body = Sent), (status = 200, body = Sent), (status = 404, body = Detail),
        (status = 422, body = ValidationDetail)))]
async fn send(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<SendGroup>,
) -> Result<(StatusCode, Json<Sent>)> {
    let (message, created) =
        chat::send(&state, &auth.user, Target::Group(req.group_id), &req.content, req.client_id.as_deref()).await?;
    Ok(Sent::response(message, created))
}

/// A group's history, oldest → newest. Reading marks it read.
#[utoipa::path(get, path = "/groups/{group_id}/messages", tag = "groups", security(("bearer" = [])),
    params(("group_id" = i64, Path), HistoryQuery),
    responses((status = 200, body = [Message]), (status = 404, body = Detail), (status = 422, body = ValidationDetail)))]
async fn history(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(group_id): Path<i64>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Vec<Message>>> {
    Ok(Json(chat::history(&state, &auth.user, Target::Group(group_id), q.page()?).await?))
}

#[derive(Serialize, ToSchema)]
pub struct MyGroup {
    #[serde(flatten)]
    group: GroupOut,
    last_message: Option<String>,
    last_message_time: Option<chrono::DateTime<chrono::Utc>>,
    unread_count: i64,
}

/// The groups you are in, newest activity first.
#[utoipa::path(get, path = "/groups/my-groups", tag = "groups", security(("bearer" = [])),
    responses((status = 200, body = [MyGroup])))]
async fn my_groups(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Vec<MyGroup>>> {
    let rooms = chat::rooms(&state, &auth.user).await?;
    Ok(Json(
        rooms
            .into_iter()
            .filter(|r| r.room_type == "group")
            .map(|r| MyGroup {
                group: GroupOut {
                    id: r.room_id,
                    name: r.name,
                    room_type: r.room_type,
                    created_by: r.created_by,
                    member_count: r.member_count,
                    created_at: r.created_at,
                },
                last_message: r.last_message.map(|m| m.content),
                last_message_time: r.last_message_time,
                unread_count: r.unread_count,
            })
            .collect(),
    ))
}

/// The members of a group you are in, longest-standing first.
#[utoipa::path(get, path = "/groups/{group_id}/members", tag = "groups", security(("bearer" = [])),
    params(("group_id" = i64, Path)), responses((status = 200, body = [MemberOut]), (status = 404, body = Detail)))]
async fn members(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(group_id): Path<i64>,
) -> Result<Json<Vec<MemberOut>>> {
    Ok(Json(chat::members(&state, &auth.user, group_id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct AddMembers {
    user_ids: Vec<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Added {
    #[schema(example = "Successfully added 2 members")]
    message: String,
    members_added: usize,
}

/// Add members (the creator only). Existing members are ignored.
#[utoipa::path(post, path = "/groups/{group_id}/members", tag = "groups", security(("bearer" = [])),
    params(("group_id" = i64, Path)), request_body = AddMembers,
    responses((status = 200, body = Added), (status = 403, description = "Not the creator", body = Detail),
        (status = 404, body = Detail), (status = 422, body = ValidationDetail)))]
async fn add_members(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(group_id): Path<i64>,
    Json(req): Json<AddMembers>,
) -> Result<Json<Added>> {
    let n = chat::add_members(&state, &auth.user, group_id, &req.user_ids).await?;
    Ok(Json(Added { message: format!("Successfully added {n} members"), members_added: n }))
}

#[derive(Deserialize, ToSchema)]
pub struct RemoveMember {
    user_id: i64,
}

/// Remove a member (the creator: anyone; a member: themself, i.e. leave). A creator who leaves
/// hands the group to the longest-standing member; the last member leaving deletes it.
#[utoipa::path(delete, path = "/groups/{group_id}/members", tag = "groups", security(("bearer" = [])),
    params(("group_id" = i64, Path)), request_body = RemoveMember,
    responses((status = 200, body = MessageResponse), (status = 403, body = Detail), (status = 404, body = Detail)))]
async fn remove_member(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(group_id): Path<i64>,
    Json(req): Json<RemoveMember>,
) -> Result<Json<MessageResponse>> {
    let message = chat::remove_member(&state, &auth.user, group_id, req.user_id).await?;
    Ok(MessageResponse::json(message))
}
