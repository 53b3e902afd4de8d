//! Changing messages: edits, deletions and reactions, and who has read how far.
//!
//! A change goes the way a send does: checked here, then written by this node's [`Pipeline`]
//! (`super::Pipeline`) in queue order with the sends, as a room event with the room's next `seq`,
//! and published as `message_updated` after the commit. Who may change what is decided in the
//! store, under the room's lock, by one rule function (`store::messages::decide`).

use banter_protocol::Message;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{check_content, member_room, to_message};
use crate::{
    error::{Error, Result},
    state::AppState,
    store::{Change, ChangeOutcome, ChangeRequest, Refusal, User},
    validate,
};

pub const MESSAGE_NOT_FOUND: &str = "Message not found";

/// What a user asks to change about a message.
#[derive(Debug, Clone, Copy)]
pub enum Requested<'a> {
    Edit {
        content: &'a str,
    },
    Delete,
    /// Add (`on`) or take back the user's reaction; `emoji` as the client sent it.
    React {
        emoji: &'a str,
        on: bool,
    },
}

/// Applies a change to message `message_id` and returns the message as it now is (for `user`).
/// Not a member of its room (or no such message): 404.
pub async fn change(state: &AppState, user: &User, message_id: i64, requested: Requested<'_>) -> Result<Message> {
    let change = match requested {
        Requested::Edit { content } => {
            check_content(content)?;
            // Who it mentions now: members of its room (any message's room; the store checks
            // the editor's membership under the room's lock).
            let mentions = match content.contains('@') {
                true => match state.store.messages_by_ids(&[message_id]).await?.first() {
                    Some(m) => super::mentioned(state, m.room_id, content).await?,
                    None => Vec::new(),
                },
                false => Vec::new(),
            };
            Change::Edit { content: content.to_owned(), search_text: super::text::search_text(content), mentions }
        }
        Requested::Delete => Change::Delete,
        Requested::React { emoji, on } => {
            let emoji = validate::emoji(emoji)
                .map_err(|p| Error::validation(p.at(vec!["path".into(), "emoji".into()], Value::from(emoji))))?;
            if on {
                Change::React(emoji)
            } else {
                Change::Unreact(emoji)
            }
        }
    };
    state.limits.send(user.id)?;
    let deleting = change == Change::Delete;
    let request = ChangeRequest { message_id, actor_id: user.id, change };
    let (row, is_read) = match state.pipeline.change(request).await? {
        ChangeOutcome::Changed { message, is_read, .. } => {
            if deleting {
                // Its files may have lost their last reference.
                state.files.nudge();
            }
            (message, is_read)
        }
        ChangeOutcome::Unchanged { message, is_read } => (message, is_read),
        ChangeOutcome::NotFound => return Err(Error::NotFound(MESSAGE_NOT_FOUND.into())),
        ChangeOutcome::Refused(why) => {
            return Err(match why {
                Refusal::NotSender => Error::Forbidden("You can only edit your own messages".into()),
                Refusal::NotSenderOrCreator => Error::Forbidden("You can only delete your own messages".into()),
                Refusal::Deleted => Error::Conflict("This message was deleted".into()),
                Refusal::TooManyReactions => Error::BadRequest("This message has too many different reactions".into()),
            })
        }
    };
    let mut message = to_message(row, is_read);
    message.personalize(user.id);
    Ok(message)
}

/// A member's read position ("Seen by").
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberRead {
    pub user_id: i64,
    pub username: String,
    pub full_name: Option<String>,
    /// Every message with `seq` up to this one has been read.
    pub last_read_seq: i64,
}

/// Every member's read position in a room the user is a member of.
pub async fn reads(state: &AppState, user: &User, room_id: i64) -> Result<Vec<MemberRead>> {
    member_room(state, user.id, room_id).await?;
    Ok(state
        .store
        .members(room_id)
        .await?
        .into_iter()
        .map(|m| MemberRead {
            user_id: m.user_id,
            username: m.username,
            full_name: m.full_name,
            last_read_seq: m.last_read_seq,
        })
        .collect())
}
