//! `/messages/*`: the seed's direct-message endpoints.

use axum::{extract::State, http::StatusCode};
use banter_protocol::Message;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    json::{checked, Fields, FromFields, Id, IdAndText, Json, Query},
    Detail, ValidationDetail,
};
use crate::{
    auth::AuthUser,
    chat::{self, Target},
    error::Result,
    state::AppState,
    validate,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send))
        .routes(routes!(edit, delete))
        .route_layer(axum::middleware::from_fn(super::json::read_body))
        .routes(routes!(chat_history))
        .routes(routes!(chats))
        .routes(routes!(react, unreact))
}

#[derive(ToSchema)]
pub struct SendDirect {
    recipient_id: i64,
    /// 1–5,000 characters, not only whitespace; stored exactly as sent.
    #[schema(min_length = 1, max_length = 5000)]
    content: String,
    /// Optional idempotency key (Banter's addition): resending with the same one returns the
    /// original message.
    #[schema(max_length = 64)]
    client_id: Option<String>,
    /// Uploads to send with it (Banter's addition): at most 10 of your own (`POST
    /// /attachments`), not yet sent. `content` may then be `""`.
    attachment_ids: Option<Vec<i64>>,
    /// The message this one answers: one of the same conversation (Banter's addition).
    reply_to_id: Option<i64>,
}

impl FromFields for SendDirect {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let recipient_id = f.int("recipient_id");
        let content = f.message_content();
        let client_id = f.opt_string("client_id");
        let reply_to_id = f.opt_int("reply_to_id");
        let attachment_ids = f.opt_int_list("attachment_ids");
        Some(Self {
            recipient_id: recipient_id?,
            content: content?,
            client_id: client_id?,
            reply_to_id: reply_to_id?,
            attachment_ids: attachment_ids.map(Some)?,
        })
    }
}

impl SendDirect {
    fn outgoing(&self) -> chat::Outgoing<'_> {
        chat::Outgoing {
            content: &self.content,
            client_id: self.client_id.as_deref(),
            reply_to_id: self.reply_to_id,
            attachment_ids: self.attachment_ids.as_deref().unwrap_or_default(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Sent {
    #[schema(example = "Message sent successfully")]
    message: &'static str,
    data: Message,
}

impl Sent {
    pub fn response(message: Message, created: bool) -> (StatusCode, Json<Sent>) {
        // A resend with a known client_id created nothing: 200 with the original.
        let status = if created { StatusCode::CREATED } else { StatusCode::OK };
        (status, Json(Sent { message: "Message sent successfully", data: message }))
    }
}

/// Send a direct message (the DM room is created by the first message).
#[utoipa::path(post, path = "/messages/send", tag = "Messages", security(("HTTPBearer" = [])), request_body = SendDirect,
    responses(
        (status = 201, body = Sent),
        (status = 200, description = "Already sent with this client_id: the original message", body = Sent),
        (status = 400, description = "`Recipient user not found` or `Cannot send message to yourself`", body = Detail),
        (status = 401, body = Detail),
        (status = 403, description = "`Not authenticated`", body = Detail),
        (status = 409, description = "This client_id was used for a message to another room", body = Detail),
        (status = 422, description = "Bad fields, or `reply_to_id` not a message of this conversation", body = ValidationDetail),
    ))]
async fn send(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<SendDirect>,
) -> Result<(StatusCode, Json<Sent>)> {
    let (message, created) = chat::send(&state, &auth.user, Target::Direct(req.recipient_id), req.outgoing()).await?;
    Ok(Sent::response(message, created))
}

#[derive(ToSchema)]
pub struct Edit {
    /// As for sending: 1–5,000 characters, not only whitespace.
    #[schema(min_length = 1, max_length = 5000)]
    content: String,
}

impl FromFields for Edit {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self { content: f.required("content", checked(validate::content))? })
    }
}

/// Edit your own message: every member's devices get `message_updated`.
#[utoipa::path(patch, path = "/messages/{message_id}", tag = "Messages", security(("HTTPBearer" = [])),
    params(("message_id" = i64, Path)), request_body = Edit,
    responses(
        (status = 200, description = "The message, with `edited_at` set", body = Message),
        (status = 401, body = Detail),
        (status = 403, description = "`You can only edit your own messages`", body = Detail),
        (status = 404, description = "`Message not found` (or in a room you are not in)", body = Detail),
        (status = 409, description = "`This message was deleted`", body = Detail),
        (status = 422, body = ValidationDetail),
    ))]
async fn edit(
    State(state): State<AppState>,
    auth: AuthUser,
    Id(id): Id,
    Json(req): Json<Edit>,
) -> Result<Json<Message>> {
    let requested = chat::Requested::Edit { content: &req.content };
    Ok(Json(chat::change(&state, &auth.user, id, requested).await?))
}

/// Delete a message: yours, or any in a group you created. It stays in history as a tombstone
/// (`deleted_at` set, `content` `""`, no reactions); its text is gone from the database.
/// Deleting twice changes nothing.
#[utoipa::path(delete, path = "/messages/{message_id}", tag = "Messages", security(("HTTPBearer" = [])),
    params(("message_id" = i64, Path)),
    responses(
        (status = 200, description = "The tombstone", body = Message),
        (status = 401, body = Detail),
        (status = 403, description = "`You can only delete your own messages`", body = Detail),
        (status = 404, description = "`Message not found` (or in a room you are not in)", body = Detail),
    ))]
async fn delete(State(state): State<AppState>, auth: AuthUser, Id(id): Id) -> Result<Json<Message>> {
    Ok(Json(chat::change(&state, &auth.user, id, chat::Requested::Delete).await?))
}

/// React to a message with one emoji (percent-encoded in the path). Idempotent.
#[utoipa::path(put, path = "/messages/{message_id}/reactions/{emoji}", tag = "Messages", security(("HTTPBearer" = [])),
    params(("message_id" = i64, Path), ("emoji" = String, Path, description = "One emoji, at most 32 bytes")),
    responses(
        (status = 200, body = Message),
        (status = 400, description = "`This message has too many different reactions` (50 kinds)", body = Detail),
        (status = 401, body = Detail),
        (status = 404, description = "`Message not found` (or in a room you are not in)", body = Detail),
        (status = 409, description = "`This message was deleted`", body = Detail),
        (status = 422, description = "Not exactly one emoji", body = ValidationDetail),
    ))]
async fn react(
    State(state): State<AppState>,
    auth: AuthUser,
    IdAndText(id, emoji): IdAndText,
) -> Result<Json<Message>> {
    let requested = chat::Requested::React { emoji: &emoji, on: true };
    Ok(Json(chat::change(&state, &auth.user, id, requested).await?))
}

/// Take back your reaction. Idempotent.
#[utoipa::path(delete, path = "/messages/{message_id}/reactions/{emoji}", tag = "Messages", security(("HTTPBearer" = [])),
    params(("message_id" = i64, Path), ("emoji" = String, Path, description = "One emoji, at most 32 bytes")),
    responses(
        (status = 200, body = Message),
        (status = 401, body = Detail),
        (status = 404, description = "`Message not found` (or in a room you are not in)", body = Detail),
        (status = 422, description = "Not exactly one emoji", body = ValidationDetail),
    ))]
async fn unreact(
    State(state): State<AppState>,
    auth: AuthUser,
    IdAndText(id, emoji): IdAndText,
) -> Result<Json<Message>> {
    let requested = chat::Requested::React { emoji: &emoji, on: false };
    Ok(Json(chat::change(&state, &auth.user, id, requested).await?))
}

/// History paging. With `limit`/`offset` (the seed's form) page 0 is the newest `limit`
/// messages; `before`/`after` are message `seq` cursors (Banter's). Every form returns
/// oldest → newest.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Skip this many of the newest messages (0 or more).
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// Only messages with a smaller `seq` (scrolling back).
    #[param(minimum = 1)]
    before: Option<i64>,
    /// Only messages with a larger `seq` (catching up).
    #[param(minimum = 0)]
    after: Option<i64>,
    /// Banter's addition: `false` reads without moving your read position (a client that marks
    /// what has been on screen, with `POST /rooms/{id}/read`). Default `true`, as in the seed.
    mark_read: Option<bool>,
}

impl FromFields for HistoryQuery {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let limit = f.opt_int("limit");
        let offset = f.opt_int("offset");
        let before = f.opt_int("before");
        let after = f.opt_int("after");
        let mark_read = f.optional("mark_read", super::json::boolean);
        Some(Self { limit: limit?, offset: offset?, before: before?, after: after?, mark_read: mark_read? })
    }
}

impl HistoryQuery {
    pub fn page(&self) -> Result<crate::store::Page> {
        chat::page(self.limit, self.offset, self.before, self.after)
    }

    pub fn marks_read(&self) -> bool {
        self.mark_read.unwrap_or(true)
    }
}

/// The DM history with another user, oldest → newest. Reading marks it read.
#[utoipa::path(get, path = "/messages/chat/{other_user_id}", tag = "Messages", security(("HTTPBearer" = [])),
    params(("other_user_id" = i64, Path), HistoryQuery),
    responses(
        (status = 200, body = [Message]),
        (status = 400, description = "`Cannot open a chat with yourself`", body = Detail),
        (status = 401, body = Detail),
        (status = 403, description = "`Not authenticated`", body = Detail),
        (status = 404, description = "`User not found`", body = Detail),
        (status = 422, body = ValidationDetail),
    ))]
async fn chat_history(
    State(state): State<AppState>,
    auth: AuthUser,
    Id(other): Id,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Vec<Message>>> {
    Ok(Json(chat::history(&state, &auth.user, Target::Direct(other), q.page()?, q.marks_read()).await?))
}

/// One direct conversation, in the seed's shape (`DirectChat`), plus `online`.
#[derive(Serialize, ToSchema)]
pub struct ChatEntry {
    chat_room_id: i64,
    /// The other user (`null` if they deleted their account).
    other_user_id: Option<i64>,
    /// `"Deleted User"` if they deleted their account.
    other_user_username: String,
    other_user_full_name: Option<String>,
    /// The newest message's text.
    last_message: Option<String>,
    #[serde(with = "banter_protocol::time::option")]
    #[schema(value_type = Option<String>, example = "2026-11-30T16:34:18.951466")]
    last_message_time: Option<chrono::DateTime<chrono::Utc>>,
    /// Messages after your read position.
    unread_count: i64,
    /// The other user has a connection open (Banter's addition).
    online: bool,
    /// Unread messages that mention you (Banter's addition).
    mention_count: i64,
    /// You muted the conversation (Banter's addition).
    muted: bool,
}

/// One entry per DM, newest activity first.
#[utoipa::path(get, path = "/messages/chats", tag = "Messages", security(("HTTPBearer" = [])),
    responses(
        (status = 200, body = [ChatEntry]),
        (status = 401, body = Detail),
        (status = 403, description = "`Not authenticated`", body = Detail),
    ))]
async fn chats(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Vec<ChatEntry>>> {
    let rooms = chat::rooms(&state, &auth.user).await?;
    Ok(Json(
        rooms
            .into_iter()
            .filter(|r| r.room_type == banter_protocol::RoomKind::Direct)
            .map(|r| ChatEntry {
                chat_room_id: r.room_id,
                other_user_id: r.other_user.as_ref().map(|u| u.id),
                other_user_full_name: r.other_user.as_ref().and_then(|u| u.full_name.clone()),
                online: r.other_user.as_ref().is_some_and(|u| u.online),
                other_user_username: r.name,
                last_message: r.last_message.map(|m| m.content),
                last_message_time: r.last_message_time,
                unread_count: r.unread_count,
                mention_count: r.mention_count,
                muted: r.muted,
            })
            .collect(),
    ))
}
