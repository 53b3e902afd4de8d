//! `/groups/*`: the seed's group endpoints, plus the member list.

use axum::{extract::State, http::StatusCode};
use banter_protocol::Message;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    json::{checked, Fields, FromFields, Id, Json, Query},
    messages::{HistoryQuery, Sent},
    Detail, MessageResponse, ValidationDetail,
};
use crate::{
    auth::AuthUser,
    chat::{self, MemberOut, Target},
    error::Result,
    state::AppState,
    store::Room,
    validate,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(send))
        .routes(routes!(members, add_members, remove_member))
        .routes(routes!(rename))
        .route_layer(axum::middleware::from_fn(super::json::read_body))
        .routes(routes!(history))
        .routes(routes!(my_groups))
}

/// A new group, in the seed's shape (`GroupCreated`).
#[derive(Serialize, ToSchema)]
pub struct GroupOut {
    id: i64,
    name: String,
    room_type: banter_protocol::RoomKind,
    created_by: Option<i64>,
    member_count: i64,
    #[serde(with = "banter_protocol::time")]
    #[schema(value_type = String, example = "2026-11-30T16:34:18.951466")]
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

#[derive(ToSchema)]
pub struct RenameGroup {
    /// 1–100 characters, as when creating.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
}

impl FromFields for RenameGroup {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self { name: f.required("name", checked(validate::group_name))? })
    }
}

/// Rename a group (its creator only). Every member's devices get `room_changed` (`renamed`).
#[utoipa::path(patch, path = "/groups/{group_id}", tag = "Groups", security(("HTTPBearer" = [])),
    params(("group_id" = i64, Path)), request_body = RenameGroup,
    responses(
        (status = 200, description = "The group as it now is", body = GroupOut),
        (status = 400, description = "`This is not a group chat`", body = Detail),
        (status = 401, body = Detail),
        (status = 403, description = "`Only the group creator can rename the group`", body = Detail),
        (status = 404, description = "`Group not found` (or you are not a member)", body = Detail),
        (status = 422, body = ValidationDetail),
    ))]
async fn rename(
    State(state): State<AppState>,
    auth: AuthUser,
    Id(group_id): Id,
    Json(req): Json<RenameGroup>,
) -> Result<Json<GroupOut>> {
    Ok(Json(chat::rename_group(&state, &auth.user, group_id, &req.name).await?.into()))
}

#[derive(ToSchema)]
pub struct CreateGroup {
    /// 1–100 characters.
    #[schema(example = "Team Discussion", min_length = 1, max_length = 100)]
    name: String,
    /// At least one user id; the creator is always a member, listed or not. Duplicates are
    /// ignored.
    #[schema(min_items = 1, max_items = 256)]
    member_ids: Vec<i64>,
}

impl FromFields for CreateGroup {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let name = f.required("name", checked(validate::group_name));
        let member_ids = f.int_list("member_ids", 1);
        Some(Self { name: name?, member_ids: member_ids? })
    }
}

#[derive(Serialize, ToSchema)]
pub struct Created {
    #[schema(example = "Group created successfully")]
    message: &'static str,
    group: GroupOut,
}

/// Create a group.
#[utoipa::path(post, path = "/groups/create", tag = "Groups", security(("HTTPBearer" = [])), request_body = CreateGroup,
    responses(
        (status = 201, body = Created),
        (status = 400, description = "`User with ID {id} not found`", body = Detail),
        (status = 401, body = Detail),
        (status = 403, description = "`Not authenticated`", body = Detail),
        (status = 422, body = ValidationDetail),
    ))]
async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<CreateGroup>,
) -> Result<(StatusCode, Json<Created>)> {
    let room = chat::create_group(&state, &auth.user, &req.name, &req.member_ids).await?;
    Ok((StatusCode::CREATED, Json(Created { message: "Group created successfully", group: room.into() })))
}

#[derive(ToSchema)]
pub struct SendGroup {
    group_id: i64,
    #[schema(min_length = 1, max_length = 5000)]
    content: String,
    /// Optional idempotency key (Banter's addition).
    #[schema(max_length = 64)]
    client_id: Option<String>,
    /// Uploads to send with it (Banter's addition): at most 10 of your own (`POST
    /// /attachments`), not yet sent. `content` may then be `""`.
    attachment_ids: Option<Vec<i64>>,
    /// The message this one answers: one of the same group (Banter's addition).
    reply_to_id: Option<i64>,
}

impl FromFields for SendGroup {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let group_id = f.int("group_id");
        let content = f.message_content();
        let client_id = f.opt_string("client_id");
        let reply_to_id = f.opt_int("reply_to_id");
        let attachment_ids = f.opt_int_list("attachment_ids");
        Some(Self {
            group_id: group_id?,
            content: content?,
            client_id: client_id?,
            reply_to_id: reply_to_id?,
            attachment_ids: attachment_ids.map(Some)?,
        })
    }
}

/// Send a message to a group you are a member of.
#[utoipa::path(post, path = "/groups/send", tag = "Groups", security(("HTTPBearer" = [])), request_body = SendGroup,
    responses(
        (status = 201, body = Sent),
        (status = 200, description = "Already sent with this client_id: the original message", body = Sent),
        (status = 400, description = "`Group not found`, `This is not a group chat` or \
            `You are not a member of this group`", body = Detail),
        (status = 401, body = Detail),
        (status = 403, description = "`Not authenticated`", body = Detail),
        (status = 409, description = "This client_id was used for a message to another room", body = Detail),
        (status = 422, body = ValidationDetail),
    ))]
async fn send(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<SendGroup>,
) -> Result<(StatusCode, Json<Sent>)> {
    let out = chat::Outgoing {
        content: &req.content,
        client_id: req.client_id.as_deref(),
        reply_to_id: req.reply_to_id,
        attachment_ids: req.attachment_ids.as_deref().unwrap_or_default(),
    };
    let (message, created) = chat::send(&state, &auth.user, Target::Group(req.group_id), out).await?;
    Ok(Sent::response(message, created))
}

/// A group's history, oldest → newest. Reading moves your read position.
#[utoipa::path(get, path = "/groups/{group_id}/messages", tag = "Groups", security(("HTTPBearer" = [])),
    params(("group_id" = i64, Path), HistoryQuery),
    responses(
        (status = 200, body = [Message]),
        (status = 400, description = "`This is not a group chat`", body = Detail),
        (status = 401, body = Detail),
        (status = 403, description = "`You are not a member of this group` (also for a group that does not exist)",
            body = Detail),
        (status = 422, body = ValidationDetail),
    ))]
async fn history(
    State(state): State<AppState>,
    auth: AuthUser,
    Id(group_id): Id,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Vec<Message>>> {
    Ok(Json(chat::history(&state, &auth.user, Target::Group(group_id), q.page()?, q.marks_read()).await?))
}

/// One of your groups, in the seed's shape (`GroupListItem`), plus `unread_count`.
#[derive(Serialize, ToSchema)]
pub struct MyGroup {
    id: i64,
    name: String,
    room_type: banter_protocol::RoomKind,
    created_by: Option<i64>,
    member_count: i64,
    last_message: Option<String>,
    #[serde(with = "banter_protocol::time::option")]
    #[schema(value_type = Option<String>)]
    last_message_time: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(with = "banter_protocol::time")]
    #[schema(value_type = String)]
    created_at: chrono::DateTime<chrono::Utc>,
    /// Messages after your read position (Banter's addition).
    unread_count: i64,
}

/// The groups you are in, in the order you joined them (as the seed lists them).
#[utoipa::path(get, path = "/groups/my-groups", tag = "Groups", security(("HTTPBearer" = [])),
    responses(
        (status = 200, body = [MyGroup]),
        (status = 401, body = Detail),
        (status = 403, description = "`Not authenticated`", body = Detail),
    ))]
async fn my_groups(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Vec<MyGroup>>> {
    let rooms = chat::groups_in_join_order(&state, &auth.user).await?;
    Ok(Json(
        rooms
            .into_iter()
            .map(|r| MyGroup {
                id: r.room_id,
                name: r.name,
                room_type: r.room_type,
                created_by: r.created_by,
                member_count: r.member_count,
                last_message: r.last_message.map(|m| m.content),
                last_message_time: r.last_message_time,
                created_at: r.created_at,
                unread_count: r.unread_count,
            })
            .collect(),
    ))
}

/// The members of a group you are in, longest-standing first.
#[utoipa::path(get, path = "/groups/{group_id}/members", tag = "Groups", security(("HTTPBearer" = [])),
    params(("group_id" = i64, Path)),
    responses(
        (status = 200, body = [MemberOut]),
        (status = 400, description = "`This is not a group chat`", body = Detail),
        (status = 401, body = Detail),
        (status = 403, description = "`You are not a member of this group`", body = Detail),
        (status = 422, body = ValidationDetail),
    ))]
async fn members(State(state): State<AppState>, auth: AuthUser, Id(group_id): Id) -> Result<Json<Vec<MemberOut>>> {
    Ok(Json(chat::members(&state, &auth.user, group_id).await?))
}

#[derive(ToSchema)]
pub struct AddMembers {
    #[schema(min_items = 1, max_items = 256)]
    user_ids: Vec<i64>,
}

impl FromFields for AddMembers {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self { user_ids: f.int_list("user_ids", 1)? })
    }
}

#[derive(Serialize, ToSchema)]
pub struct Added {
    #[schema(example = "Successfully added 2 members")]
    message: String,
    /// Users who were not members before.
    members_added: usize,
}

/// Add members (the group's creator only). Existing members are ignored.
#[utoipa::path(post, path = "/groups/{group_id}/members", tag = "Groups", security(("HTTPBearer" = [])),
    params(("group_id" = i64, Path)), request_body = AddMembers,
    responses(
        (status = 200, body = Added),
        (status = 400, description = "The group would exceed 1,000 members", body = Detail),
        (status = 401, body = Detail),
        (status = 403, description = "`Group not found`, `This is not a group chat`, \
            `Only group creator can add members` or `User with ID {id} not found`", body = Detail),
        (status = 422, body = ValidationDetail),
    ))]
async fn add_members(
    State(state): State<AppState>,
    auth: AuthUser,
    Id(group_id): Id,
    Json(req): Json<AddMembers>,
) -> Result<Json<Added>> {
    let n = chat::add_members(&state, &auth.user, group_id, &req.user_ids).await?;
    Ok(Json(Added { message: format!("Successfully added {n} members"), members_added: n }))
}

#[derive(ToSchema)]
pub struct RemoveMember {
    user_id: i64,
}

impl FromFields for RemoveMember {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self { user_id: f.int("user_id")? })
    }
}

/// Remove a member (the creator: anyone; a member: themself, i.e. leave).
#[utoipa::path(delete, path = "/groups/{group_id}/members", tag = "Groups", security(("HTTPBearer" = [])),
    params(("group_id" = i64, Path)), request_body = RemoveMember,
    responses(
        (status = 200, body = MessageResponse, description = "`Member removed successfully`"),
        (status = 401, body = Detail),
        (status = 403, description = "`Group not found`, `This is not a group chat`, \
            `Not authorized to remove this member` or `Member not found in group`", body = Detail),
        (status = 422, body = ValidationDetail),
    ))]
async fn remove_member(
    State(state): State<AppState>,
    auth: AuthUser,
    Id(group_id): Id,
    Json(req): Json<RemoveMember>,
) -> Result<Json<MessageResponse>> {
    chat::remove_member(&state, &auth.user, group_id, req.user_id).await?;
    Ok(MessageResponse::json("Member removed successfully"))
}
