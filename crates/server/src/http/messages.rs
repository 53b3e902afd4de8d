//! `/messages/*`: the seed's direct-message endpoints.

use axum::{extract::State, http::StatusCode};
use banter_protocol::Message;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    json::{Json, Path, Query},
    Detail, ValidationDetail,
};
use crate::{
    auth::AuthUser,
    chat::{self, Target},
    error::Result,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(send)).routes(routes!(chat_history)).routes(routes!(chats))
}

#[derive(Deserialize, ToSchema)]
pub struct SendDirect {
    recipient_id: i64,
    /// 1–5,000 characters, not only whitespace; stored exactly as sent.
    content: String,
    /// Optional idempotency key: resending with the same one returns the original message.
    client_id: Option<String>,
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
#[utoipa::path(post, path = "/messages/send", tag = "messages", security(("bearer" = [])), request_body = SendDirect,
    responses(
        (status = 201, body = Sent),
        (status = 200, description = "Already sent with this client_id: the original message", body = Sent),
        (status = 400, description = "Message to yourself", body = Detail),
        (status = 404, description = "No such user", body = Detail),
        (status = 422, body = ValidationDetail),
    ))]
async fn send(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<SendDirect>,
) -> Result<(StatusCode, Json<Sent>)> {
    let (message, created) =
        chat::send(&state, &auth.user, Target::Direct(req.recipient_id), &req.content, req.client_id.as_deref())
            .await?;
    Ok(Sent::response(message, created))
}

/// History paging. With `limit`/`offset` (the seed's form) page 0 is the newest `limit`
/// messages; `before`/`after` are message `seq` cursors. Every form returns oldest → newest.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// 1–100, default 50.
    limit: Option<i64>,
    /// Skip this many of the newest messages.
    offset: Option<i64>,
    /// Only messages with a smaller `seq` (scrolling back).
    before: Option<i64>,
    /// Only messages with a larger `seq` (catching up).
    after: Option<i64>,
}

impl HistoryQuery {
    pub fn page(&self) -> Result<crate::store::Page> {
        chat::page(self.limit, self.offset, self.before, self.after)
    }
}

/// The DM history with another user, oldest → newest. Reading marks it read.
#[utoipa::path(get, path = "/messages/chat/{other_user_id}", tag = "messages", security(("bearer" = [])),
    params(("other_user_id" = i64, Path), HistoryQuery),
    responses((status = 200, body = [Message]), (status = 404, body = Detail), (status = 422, body = ValidationDetail)))]
async fn chat_history(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(other): Path<i64>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Vec<Message>>> {
    Ok(Json(chat::history(&state, &auth.user, Target::Direct(other), q.page()?).await?))
}

#[derive(Serialize, ToSchema)]
pub struct ChatEntry {
    room_id: i64,
    /// The other user (`null` if they deleted their account).
    user_id: Option<i64>,
    username: String,
    full_name: Option<String>,
    online: bool,
    /// The newest message's text.
    last_message: Option<String>,
    last_message_time: Option<chrono::DateTime<chrono::Utc>>,
    unread_count: i64,
}

/// One entry per DM, newest activity first.
#[utoipa::path(get, path = "/messages/chats", tag = "messages", security(("bearer" = [])),
    responses((status = 200, body = [ChatEntry])))]
async fn chats(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Vec<ChatEntry>>> {
    let rooms = chat::rooms(&state, &auth.user).await?;
    Ok(Json(
        rooms
            .into_iter()
            .filter(|r| r.room_type == "direct")
            .map(|r| ChatEntry {
                room_id: r.room_id,
                user_id: r.other_user.as_ref().map(|u| u.id),
                full_name: r.other_user.as_ref().and_then(|u| u.full_name.clone()),
                online: r.other_user.as_ref().is_some_and(|u| u.online),
                username: r.name,
                last_message: r.last_message.map(|m| m.content),
                last_message_time: r.last_message_time,
                unread_count: r.unread_count,
            })
            .collect(),
    ))
}
