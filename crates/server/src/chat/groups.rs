//! Groups: creation, membership changes and the member list.
//!
//! Only the creator adds or removes others; anyone may leave. When the creator leaves (or
//! deletes their account) the group passes to the longest-standing member; the last member
//! leaving deletes the group and its messages (the seed's cascade).

use banter_protocol::ServerFrame;
use serde::Serialize;
use utoipa::ToSchema;

use super::{member_room, public, room_summary, Target};
use crate::{
    error::{Error, FieldError, Result},
    realtime::Event,
    state::AppState,
    store::{Leave, Room, User},
};

pub const GROUP_NAME_MAX: usize = 100;
/// Ids one request may name; also the most members a group can have.
pub const IDS_MAX: usize = 256;
pub const GROUP_MAX: i64 = 1000;

fn check_name(name: &str) -> Result<String> {
    let trimmed = name.trim();
    let n = trimmed.chars().count();
    if n == 0 || n > GROUP_NAME_MAX || trimmed.chars().any(char::is_control) {
        return Err(Error::validation(FieldError::body(
            "value_error",
            "name",
            format!("Group name must be 1-{GROUP_NAME_MAX} characters, without control characters"),
        )));
    }
    Ok(trimmed.to_owned())
}

/// Checks that every id names a user; duplicates are dropped, order kept.
async fn existing_users(state: &AppState, field: &str, ids: &[i64]) -> Result<Vec<i64>> {
    if ids.len() > IDS_MAX {
        return Err(Error::validation(FieldError::body(
            "too_long",
            field,
            format!("At most {IDS_MAX} user ids per request"),
        )));
    }
    let mut unique = Vec::with_capacity(ids.len());
    for id in ids {
        if !unique.contains(id) {
            unique.push(*id);
        }
    }
    let found = state.store.existing_user_ids(&unique).await?;
    let missing: Vec<String> = unique.iter().filter(|id| !found.contains(id)).map(ToString::to_string).collect();
    if !missing.is_empty() {
        return Err(Error::NotFound(format!("User not found: {}", missing.join(", "))));
    }
    Ok(unique)
}

/// Tells each of `users` about a room they now belong to.
async fn announce_room(state: &AppState, room_id: i64, users: &[i64]) -> Result<()> {
    for &user in users {
        if let Some(room) = room_summary(state, user, room_id).await? {
            state.broker.publish(Event::Users { user_ids: vec![user], frame: ServerFrame::RoomAdded { room } });
        }
    }
    Ok(())
}

pub async fn create_group(state: &AppState, creator: &User, name: &str, member_ids: &[i64]) -> Result<Room> {
    let name = check_name(name)?;
    let members = existing_users(state, "member_ids", member_ids).await?;
    let room = state.store.create_group(&name, creator.id, &members).await?;
    let everyone = state.store.member_ids(room.id).await?;
    announce_room(state, room.id, &everyone).await?;
    tracing::info!(room_id = room.id, members = room.member_count, "group created");
    Ok(room)
}

async fn group_as_member(state: &AppState, user: &User, group_id: i64) -> Result<Room> {
    Ok(member_room(state, user.id, group_id, Target::Group(group_id)).await?.0)
}

/// Adds users (creator only). Returns how many were not members before.
pub async fn add_members(state: &AppState, actor: &User, group_id: i64, user_ids: &[i64]) -> Result<usize> {
    let room = group_as_member(state, actor, group_id).await?;
    if room.created_by != Some(actor.id) {
        return Err(Error::Forbidden("Only the group creator can add members".into()));
    }
    let ids = existing_users(state, "user_ids", user_ids).await?;
    let Some(added) = state.store.add_members(group_id, &ids, GROUP_MAX).await? else {
        return Err(Error::BadRequest(format!("A group can have at most {GROUP_MAX} members")));
    };
    announce_room(state, group_id, &added).await?;
    Ok(added.len())
}

/// Removes `target` from the group: the creator may remove anyone, a member only themself.
/// Returns the message to show.
pub async fn remove_member(state: &AppState, actor: &User, group_id: i64, target: i64) -> Result<&'static str> {
    let room = group_as_member(state, actor, group_id).await?;
    let leaving = target == actor.id;
    if !leaving && room.created_by != Some(actor.id) {
        return Err(Error::Forbidden("Only the group creator can remove members".into()));
    }
    let outcome = state.store.leave_group(group_id, target).await?;
    if outcome == Leave::NotMember {
        return Err(Error::NotFound("User is not a member of this group".into()));
    }
    state.broker.publish(Event::MemberRemoved { room_id: group_id, user_id: target });
    state
        .broker
        .publish(Event::Users { user_ids: vec![target], frame: ServerFrame::RoomRemoved { room_id: group_id } });
    tracing::info!(room_id = group_id, user_id = target, ?outcome, "member left group");
    Ok(if leaving { "Left group successfully" } else { "Member removed successfully" })
}

/// A member of a group, as other members see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberOut {
    pub user_id: i64,
    pub username: String,
    pub full_name: Option<String>,
    pub joined_at: chrono::DateTime<chrono::Utc>,
    pub is_creator: bool,
    pub online: bool,
}

pub async fn members(state: &AppState, user: &User, group_id: i64) -> Result<Vec<MemberOut>> {
    let room = group_as_member(state, user, group_id).await?;
    Ok(state
        .store
        .members(group_id)
        .await?
        .into_iter()
        .map(|m| {
            let online = public(state, m.user_id, String::new(), None).online;
            MemberOut {
                is_creator: room.created_by == Some(m.user_id),
                user_id: m.user_id,
                username: m.username,
                full_name: m.full_name,
                joined_at: m.joined_at,
                online,
            }
        })
        .collect())
}
