//! People and conversation lists: finding users by name, public profiles, and the sidebar's
//! list of rooms with last message, unread count and presence.

use std::collections::HashMap;

use banter_protocol::{Message, RoomSummary, UserPublic};

use super::{public, to_message};
use crate::{
    config::Directory,
    error::{Error, FieldError, Result},
    state::AppState,
    store::{MessageRow, RoomRow, User, UserSearch, DELETED_USER},
};

pub const QUERY_MAX: usize = 50;

/// Users whose username or full name starts with `q` (case-insensitive), never the caller.
pub async fn search_users(state: &AppState, user: &User, q: &str, limit: i64, offset: i64) -> Result<Vec<UserPublic>> {
    let q = q.trim();
    let mut errors = Vec::new();
    if let Err(p) = crate::validate::length(q, 1, QUERY_MAX) {
        errors.push(p.at(vec!["query".into(), "q".into()], q.into()));
    } else if q.contains('\0') {
        errors.push(FieldError::query("value_error", "q", "Value error, q must not contain NUL", q.into()));
    }
    errors.extend(super::out_of_range("limit", limit, 1, Some(50)));
    errors.extend(super::out_of_range("offset", offset, 0, None));
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let shared_only = state.config.directory == Directory::Shared;
    let search = UserSearch { prefix: q, viewer: user.id, limit, offset, shared_only };
    let found = state.store.search_users(&search).await?;
    Ok(found
        .into_iter()
        .map(|f| {
            let mut found = public(state, f.id, f.username, f.full_name);
            // Presence is for the people you share a room with.
            found.online &= f.shared;
            found
        })
        .collect())
}

/// A user's public profile, as `viewer` may see it: whether they are online only if the two
/// share a room (or it is the viewer).
pub async fn user_public(
    state: &AppState,
    viewer: i64,
    id: i64,
) -> Result<(UserPublic, chrono::DateTime<chrono::Utc>)> {
    let user = state
        .store
        .user_by_id(id)
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(|| Error::NotFound("User not found".into()))?;
    let mut profile = public(state, user.id, user.username, user.full_name);
    if profile.online && id != viewer && !state.store.share_a_room(viewer, id).await? {
        profile.online = false;
    }
    Ok((profile, user.created_at))
}

/// The user's conversations, newest activity first.
pub async fn rooms(state: &AppState, user: &User) -> Result<Vec<RoomSummary>> {
    let rows = state.store.room_rows(user.id, None).await?;
    summaries(state, user.id, rows).await
}

/// The user's groups in the order they joined them (the seed's `/groups/my-groups` order).
pub async fn groups_in_join_order(state: &AppState, user: &User) -> Result<Vec<RoomSummary>> {
    let mut rows: Vec<RoomRow> = state
        .store
        .room_rows(user.id, None)
        .await?
        .into_iter()
        .filter(|r| r.room_type == banter_protocol::RoomKind::Group)
        .collect();
    rows.sort_by_key(|r| r.membership_id);
    summaries(state, user.id, rows).await
}

/// One conversation of `user_id`, if they are a member.
pub async fn room_summary(state: &AppState, user_id: i64, room_id: i64) -> Result<Option<RoomSummary>> {
    let rows = state.store.room_rows(user_id, Some(room_id)).await?;
    Ok(summaries(state, user_id, rows).await?.into_iter().next())
}

/// The rows as summaries, with each room's last message (read in one query).
async fn summaries(state: &AppState, viewer: i64, rows: Vec<RoomRow>) -> Result<Vec<RoomSummary>> {
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.lm_id).collect();
    let mut last: HashMap<i64, MessageRow> =
        state.store.messages_by_ids(&ids).await?.into_iter().map(|m| (m.id, m)).collect();
    Ok(rows
        .into_iter()
        .map(|row| {
            let last_message = row.lm_id.and_then(|id| last.remove(&id)).map(|m| {
                let mut m = to_message(m, false);
                m.personalize(viewer);
                m
            });
            summary(state, row, last_message)
        })
        .collect())
}

fn summary(state: &AppState, row: RoomRow, last_message: Option<Message>) -> RoomSummary {
    let other_user = match (row.other_id, row.other_username) {
        (Some(id), Some(username)) => Some(public(state, id, username, row.other_full_name)),
        _ => None,
    };
    let name = match (&row.name, &other_user) {
        (Some(name), _) => name.clone(),
        (None, Some(other)) => other.username.clone(),
        (None, None) => DELETED_USER.into(),
    };
    RoomSummary {
        room_id: row.room_id,
        room_type: row.room_type,
        name,
        other_user,
        created_by: row.created_by,
        member_count: row.member_count,
        last_seq: row.last_seq,
        last_message_time: last_message.as_ref().map(|m| m.created_at).or(row.last_message_at),
        last_message,
        unread_count: row.unread_count,
        mention_count: row.mention_count,
        muted: row.muted,
        last_read_seq: row.last_read_seq,
        created_at: row.created_at,
    }
}
