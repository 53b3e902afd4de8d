//! Groups: creation, membership changes and the member list.
//!
//! The seed's rules: only the creator adds or removes others, and keeps that right after
//! leaving; anyone may leave. Banter adds what the seed has no API for: when the creator deletes
//! their account the group passes to its longest-standing member, and a group with neither
//! members nor a creator is deleted with its messages.

use banter_protocol::{MemberRef, RoomNotice, ServerFrame};
use serde::Serialize;
use utoipa::ToSchema;

use serde_json::json;

use super::{public, room_summary};
use crate::{
    error::{Error, FieldError, Result},
    events::Event,
    state::AppState,
    store::{Leave, Member, Notice, Room, User, DELETED_USER},
    validate,
};

/// Ids one request may name; also the most members a group can have.
pub const IDS_MAX: usize = 256;
pub const GROUP_MAX: i64 = 1000;

fn check_name(name: &str) -> Result<String> {
    validate::group_name(name).map_err(|p| Error::validation(p.field("name", name)))
}

/// Checks that every id names a user: the first that does not is the seed's
/// `User with ID {id} not found`, answered with `status`. Duplicates are dropped (the seed
/// failed on them: ⚠BUG B3), order kept.
async fn existing_users(state: &AppState, field: &str, ids: &[i64], status: fn(String) -> Error) -> Result<Vec<i64>> {
    if ids.len() > IDS_MAX {
        let msg = format!("List should have at most {IDS_MAX} items after validation, not {}", ids.len());
        let error = FieldError::body("too_long", field, msg, json!(ids))
            .with_ctx(json!({"field_type": "List", "max_length": IDS_MAX, "actual_length": ids.len()}));
        return Err(Error::validation(error));
    }
    let mut unique = Vec::with_capacity(ids.len());
    for id in ids {
        if !unique.contains(id) {
            unique.push(*id);
        }
    }
    let found = state.store.existing_user_ids(&unique).await?;
    if let Some(missing) = unique.iter().find(|id| !found.contains(id)) {
        return Err(status(format!("User with ID {missing} not found")));
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

/// Creates a group of the creator and `member_ids` (at least one id, as the seed requires;
/// the creator is always a member, listed or not).
pub async fn create_group(state: &AppState, creator: &User, name: &str, member_ids: &[i64]) -> Result<Room> {
    let name = check_name(name)?;
    let members = existing_users(state, "member_ids", member_ids, Error::BadRequest).await?;
    let room = state.store.create_group(&name, creator.id, &members).await?;
    let everyone = state.store.member_ids(room.id).await?;
    announce_room(state, room.id, &everyone).await?;
    tracing::info!(room_id = room.id, members = room.member_count, "group created");
    Ok(room)
}

/// The room a membership change names, as the seed looks it up first (all 403).
async fn room_to_manage(state: &AppState, group_id: i64) -> Result<Room> {
    state.store.room(group_id).await?.ok_or_else(|| Error::Forbidden("Group not found".into()))
}

/// Banter refuses membership changes of direct rooms (⚠BUG B4). Checked after the seed's
/// authorization, so only a DM's own participants learn that its id is a DM.
fn must_be_group(room: &Room) -> Result<()> {
    if room.is_group() {
        Ok(())
    } else {
        Err(Error::Forbidden("This is not a group chat".into()))
    }
}

/// Adds users (the creator only, even one who has left the group, as in the seed). Returns how
/// many were not members before.
pub async fn add_members(state: &AppState, actor: &User, group_id: i64, user_ids: &[i64]) -> Result<usize> {
    // Every change is a notice for every member: limited as sends are.
    state.limits.send(actor.id)?;
    let room = room_to_manage(state, group_id).await?;
    if room.created_by != Some(actor.id) {
        return Err(Error::Forbidden("Only group creator can add members".into()));
    }
    must_be_group(&room)?;
    let ids = existing_users(state, "user_ids", user_ids, Error::Forbidden).await?;
    let Some((added, notice)) = state.store.add_members(group_id, actor.id, &ids, GROUP_MAX).await? else {
        return Err(Error::BadRequest(format!("A group can have at most {GROUP_MAX} members")));
    };
    announce_room(state, group_id, &added).await?;
    if let Some(notice) = notice {
        room_changed(state, &notice).await;
    }
    Ok(added.len())
}

/// Renames a group (its creator only); every member's devices hear of it.
pub async fn rename_group(state: &AppState, actor: &User, group_id: i64, name: &str) -> Result<Room> {
    state.limits.send(actor.id)?;
    let not_found = || Error::NotFound("Group not found".into());
    state.store.membership(group_id, actor.id).await?.ok_or_else(not_found)?;
    let room = state.store.room(group_id).await?.ok_or_else(not_found)?;
    if !room.is_group() {
        return Err(Error::BadRequest("This is not a group chat".into()));
    }
    if room.created_by != Some(actor.id) {
        return Err(Error::Forbidden("Only the group creator can rename the group".into()));
    }
    let name = check_name(name)?;
    if room.name.as_deref() == Some(name.as_str()) {
        return Ok(room);
    }
    let notice = state.store.rename_group(group_id, &name, actor.id).await?.ok_or_else(not_found)?;
    room_changed(state, &notice).await;
    state.store.room(group_id).await?.ok_or_else(not_found)
}

/// Tells every current member what changed about the group (the notice the change wrote), with
/// the group as it now is. Best effort: the change and its notice are already committed, so a
/// failure to tell is logged, not answered (clients catch up from `GET /rooms` and
/// `GET /rooms/{id}/notices` when they reconnect).
pub async fn room_changed(state: &AppState, notice: &Notice) {
    if let Err(e) = tell_room_changed(state, notice).await {
        tracing::warn!(room_id = notice.room_id, change = ?notice.change, error = %e, "could not announce a group change");
    }
}

/// The user `id` with their names: from `members` (the room's, read once), else from `others`
/// (looked up), else a deleted account.
fn member_ref(members: &[Member], others: &[(i64, String, Option<String>)], id: i64) -> MemberRef {
    if let Some(m) = members.iter().find(|m| m.user_id == id) {
        return MemberRef { id, username: m.username.clone(), full_name: m.full_name.clone() };
    }
    match others.iter().find(|(uid, ..)| *uid == id) {
        Some((_, username, full_name)) => MemberRef { id, username: username.clone(), full_name: full_name.clone() },
        None => MemberRef { id, username: DELETED_USER.into(), full_name: None },
    }
}

/// Notices as clients see them, with everyone they name as they are now: `members` (the
/// room's, read once) and one query for the rest (those who left, deleted accounts).
async fn public_notices(state: &AppState, members: &[Member], notices: &[Notice]) -> Result<Vec<RoomNotice>> {
    let mut others: Vec<i64> = notices
        .iter()
        .flat_map(|n| n.user_ids.iter().copied().chain(n.actor_id))
        .filter(|id| !members.iter().any(|m| m.user_id == *id))
        .collect();
    others.sort_unstable();
    others.dedup();
    let others = state.store.names(&others).await?;
    Ok(notices
        .iter()
        .map(|n| RoomNotice {
            id: n.id,
            room_id: n.room_id,
            change: n.change,
            actor_id: n.actor_id,
            actor: n.actor_id.map(|id| member_ref(members, &others, id)),
            users: n.user_ids.iter().map(|&id| member_ref(members, &others, id)).collect(),
            name: n.name.clone(),
            after_seq: n.after_seq,
            created_at: n.created_at,
        })
        .collect())
}

async fn tell_room_changed(state: &AppState, notice: &Notice) -> Result<()> {
    let room_id = notice.room_id;
    let Some(room) = state.store.room(room_id).await? else { return Ok(()) };
    let members = state.store.members(room_id).await?;
    let Some(public) = public_notices(state, &members, std::slice::from_ref(notice)).await?.pop() else {
        return Ok(());
    };
    let members: Vec<i64> = members.iter().map(|m| m.user_id).collect();
    let frame = ServerFrame::RoomChanged {
        room_id,
        name: room.name,
        created_by: room.created_by,
        member_count: room.member_count,
        change: public.change,
        actor_id: public.actor_id,
        actor: public.actor.clone(),
        users: public.users.clone(),
        notice: Some(public),
    };
    state.broker.publish(Event::Users { user_ids: members, frame });
    Ok(())
}

/// Most notices one request returns.
pub const NOTICES_MAX: i64 = 200;

/// A group's notices (members only; a DM has none), the newest `limit` (1–200, default 100)
/// with an id below `before`, oldest first.
pub async fn notices(
    state: &AppState,
    user: &User,
    room_id: i64,
    before: Option<i64>,
    limit: Option<i64>,
) -> Result<Vec<RoomNotice>> {
    let limit = limit.unwrap_or(100);
    let mut errors: Vec<FieldError> = super::out_of_range("limit", limit, 1, Some(NOTICES_MAX)).into_iter().collect();
    errors.extend(before.and_then(|b| super::out_of_range("before", b, 1, None)));
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    super::member_room(state, user.id, room_id).await?;
    let notices = state.store.notices(room_id, before, limit).await?;
    if notices.is_empty() {
        return Ok(Vec::new());
    }
    let members = state.store.members(room_id).await?;
    public_notices(state, &members, &notices).await
}

/// Removes `target` from the group: the creator may remove anyone (themself included), a member
/// only themself (leaving).
pub async fn remove_member(state: &AppState, actor: &User, group_id: i64, target: i64) -> Result<()> {
    state.limits.send(actor.id)?;
    let room = room_to_manage(state, group_id).await?;
    if target != actor.id && room.created_by != Some(actor.id) {
        return Err(Error::Forbidden("Not authorized to remove this member".into()));
    }
    if !room.is_group() {
        // A non-participant "leaving" a DM learns no more than for any room they are not in.
        if state.store.membership(group_id, actor.id).await?.is_none() {
            return Err(Error::Forbidden("Member not found in group".into()));
        }
        must_be_group(&room)?;
    }
    let left = state.store.leave_group(group_id, target, actor.id).await?;
    let outcome = left.outcome;
    if outcome == Leave::NotMember {
        return Err(Error::Forbidden("Member not found in group".into()));
    }
    state.broker.publish(Event::MemberRemoved { room_id: group_id, user_id: target });
    state
        .broker
        .publish(Event::Users { user_ids: vec![target], frame: ServerFrame::RoomRemoved { room_id: group_id } });
    for notice in &left.notices {
        room_changed(state, notice).await;
    }
    tracing::info!(room_id = group_id, user_id = target, ?outcome, "member left group");
    Ok(())
}

/// A member of a group, as other members see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberOut {
    pub user_id: i64,
    pub username: String,
    pub full_name: Option<String>,
    #[serde(with = "banter_protocol::time")]
    #[schema(value_type = String)]
    pub joined_at: chrono::DateTime<chrono::Utc>,
    pub is_creator: bool,
    pub online: bool,
}

/// The members of a group the caller is in (a non-member gets the seed's 403, as for history).
pub async fn members(state: &AppState, user: &User, group_id: i64) -> Result<Vec<MemberOut>> {
    let (room, _) = super::group_to_read(state, user.id, group_id).await?;
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
