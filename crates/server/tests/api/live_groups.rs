//! Groups and people changing while others watch (issue 16): renaming a group, editing one's
//! profile, and the `room_changed` / `user_updated` frames that keep every member's client
//! current — members added, leaving, removed, a new owner, a deleted account.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    helpers::{dm, group, say, TestApp},
    ws::Ws,
};

backend_tests!(
    only_the_creator_renames_a_group_and_members_see_it_live,
    membership_changes_reach_every_member_as_room_changed,
    a_profile_change_reaches_the_people_who_share_a_room,
    a_deleted_account_is_announced_and_its_groups_handed_over,
    history_can_be_read_without_moving_the_read_position,
    group_notices_are_kept_in_order_for_members,
    notices_only_for_real_changes_and_a_handover_of_a_group_the_creator_left,
);

/// The next `room_changed` frame, skipping other chatter.
async fn room_changed(ws: &mut Ws) -> Value {
    ws.expect_skipping("room_changed").await
}

async fn only_the_creator_renames_a_group_and_members_see_it_live(app: TestApp) {
    let (owner, member, outsider) = (app.user("rn_owner").await, app.user("rn_member").await, app.user("rn_out").await);
    let gid = group(&app, &owner, &[&member]).await;
    let mut mw = Ws::subscribed(&app, &member.access).await;

    let rename = |token: &str, id: i64, body: Value| {
        let token = token.to_owned();
        let app = &app;
        async move { app.request(Method::PATCH, &format!("/groups/{id}"), Some(&token), Some(body)).await }
    };
    let (status, body) = rename(&owner.access, gid, json!({"name": "Weekend plans"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], gid);
    assert_eq!(body["name"], "Weekend plans");
    assert_eq!(body["member_count"], 2);
    assert_eq!(body["created_by"], owner.id);

    let frame = room_changed(&mut mw).await;
    assert_eq!(frame["room_id"], gid);
    assert_eq!(frame["change"], "renamed");
    assert_eq!(frame["name"], "Weekend plans");
    assert_eq!(frame["actor_id"], owner.id);
    assert_eq!(frame["users"], json!([]));
    let (_, rooms) = app.get("/rooms", &member.access).await;
    let listed = rooms.as_array().expect("rooms").iter().find(|r| r["room_id"] == gid).cloned().expect("listed");
    assert_eq!(listed["name"], "Weekend plans", "the list shows the new name");

    let (status, body) = rename(&member.access, gid, json!({"name": "Mine now"})).await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (StatusCode::FORBIDDEN, Some("Only the group creator can rename the group"))
    );
    let (status, body) = rename(&outsider.access, gid, json!({"name": "Hijacked"})).await;
    assert_eq!((status, body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Group not found")));
    let (status, _) = rename(&owner.access, 999_999_999, json!({"name": "Nowhere"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for bad in [json!({"name": ""}), json!({"name": "x".repeat(101)}), json!({}), json!({"name": 5})] {
        let (status, body) = rename(&owner.access, gid, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", "name"]), "{body}");
    }
    // A DM is not a group, and is not renamed.
    let m = dm(&app, &owner, &member, "hi").await;
    let (status, body) = rename(&owner.access, m["room_id"].as_i64().expect("room"), json!({"name": "Ours"})).await;
    assert_eq!((status, body["detail"].as_str()), (StatusCode::BAD_REQUEST, Some("This is not a group chat")));
    let (status, members) = app.get(&format!("/groups/{gid}/members"), &member.access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(members.as_array().map(Vec::len), Some(2), "nothing else changed");
}

async fn membership_changes_reach_every_member_as_room_changed(app: TestApp) {
    let (owner, a, b, c) =
        (app.user("mc_owner").await, app.user("mc_a").await, app.user("mc_b").await, app.user("mc_c").await);
    let gid = group(&app, &owner, &[&a, &b]).await;
    let mut aw = Ws::subscribed(&app, &a.access).await;
    let mut bw = Ws::subscribed(&app, &b.access).await;

    // Added: everyone (the newcomer too) learns the new count and who came.
    let (status, body) = app.post(&format!("/groups/{gid}/members"), &owner.access, json!({"user_ids": [c.id]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for ws in [&mut aw, &mut bw] {
        let f = room_changed(ws).await;
        assert_eq!((f["change"].as_str(), f["member_count"].as_i64()), (Some("members_added"), Some(4)), "{f}");
        assert_eq!(f["actor_id"], owner.id);
        assert_eq!(f["actor"], json!({"id": owner.id, "username": owner.username, "full_name": "mc_owner Tester"}));
        assert_eq!(f["users"], json!([{"id": c.id, "username": c.username, "full_name": "mc_c Tester"}]));
    }

    // Leaving: the others hear it; the one who left gets room_removed, not room_changed.
    let mut cw = Ws::subscribed(&app, &c.access).await;
    let (status, _) = app.delete(&format!("/groups/{gid}/members"), &c.access, json!({"user_id": c.id})).await;
    assert_eq!(status, StatusCode::OK);
    for ws in [&mut aw, &mut bw] {
        let f = room_changed(ws).await;
        assert_eq!((f["change"].as_str(), f["member_count"].as_i64()), (Some("member_left"), Some(3)), "{f}");
        assert_eq!((f["actor_id"].as_i64(), f["users"][0]["id"].as_i64()), (Some(c.id), Some(c.id)));
    }
    let gone = cw.expect_skipping("room_removed").await;
    assert_eq!(gone["room_id"], gid);

    // Removed by the creator: told apart from leaving.
    let (status, _) = app.delete(&format!("/groups/{gid}/members"), &owner.access, json!({"user_id": b.id})).await;
    assert_eq!(status, StatusCode::OK);
    let f = room_changed(&mut aw).await;
    assert_eq!((f["change"].as_str(), f["member_count"].as_i64()), (Some("member_removed"), Some(2)), "{f}");
    assert_eq!(
        (f["actor_id"].as_i64(), f["users"][0]["username"].as_str()),
        (Some(owner.id), Some(b.username.as_str()))
    );
    // The removed member's connection hears of its removal, and of nothing after it.
    let frames = bw.until("room_removed").await;
    assert!(frames.iter().all(|f| f["change"] != "member_removed"), "{frames:?}");
    let (status, _) = app
        .request(Method::PATCH, &format!("/groups/{gid}"), Some(&owner.access), Some(json!({"name": "After"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(room_changed(&mut aw).await["name"], "After");
    bw.send(json!({"type": "ping"})).await;
    let frames = bw.until("pong").await;
    assert!(frames.iter().all(|f| f["type"] != "room_changed"), "nothing about a room b left: {frames:?}");
}

async fn a_profile_change_reaches_the_people_who_share_a_room(app: TestApp) {
    let (me, friend, stranger) = (app.user("pf_me").await, app.user("pf_friend").await, app.user("pf_stranger").await);
    dm(&app, &me, &friend, "hello").await;
    let mut fw = Ws::subscribed(&app, &friend.access).await;
    let mut other_device = Ws::subscribed(&app, &me.access).await;
    let mut sw = Ws::subscribed(&app, &stranger.access).await;

    let (status, body) =
        app.request(Method::PATCH, "/auth/me", Some(&me.access), Some(json!({"full_name": "Ada Lovelace"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["id"].as_i64(), body["full_name"].as_str()), (Some(me.id), Some("Ada Lovelace")));
    assert_eq!(body["username"], me.username, "only the name changed");
    assert!(body.get("hashed_password").is_none() && body.get("password").is_none());
    let (_, again) = app.get("/auth/me", &me.access).await;
    assert_eq!(again["full_name"], "Ada Lovelace");

    for ws in [&mut fw, &mut other_device] {
        let f = ws.expect_skipping("user_updated").await;
        assert_eq!(f["user"]["id"], me.id);
        assert_eq!(f["user"]["full_name"], "Ada Lovelace");
        assert_eq!(f["deleted"], false);
    }
    // Someone who shares no room hears nothing.
    sw.send(json!({"type": "ping"})).await;
    let frames = sw.until("pong").await;
    assert!(frames.iter().all(|f| f["type"] != "user_updated"), "{frames:?}");

    // People search finds the new name; messages show it.
    let (_, found) = app.get("/users/search?q=lovelace", &friend.access).await;
    assert_eq!(found[0]["id"], me.id, "{found}");
    let m = dm(&app, &me, &friend, "as Ada").await;
    assert_eq!(m["sender_full_name"], "Ada Lovelace");

    // Cleared with null or ""; refused when invalid.
    let (status, body) =
        app.request(Method::PATCH, "/auth/me", Some(&me.access), Some(json!({"full_name": null}))).await;
    assert_eq!((status, &body["full_name"]), (StatusCode::OK, &Value::Null));
    for bad in
        [json!({"full_name": "n".repeat(101)}), json!({"full_name": "bell\u{7}"}), json!({"full_name": 3}), json!({})]
    {
        let (status, body) = app.request(Method::PATCH, "/auth/me", Some(&me.access), Some(bad.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", "full_name"]));
    }
    let (status, _) = app.request(Method::PATCH, "/auth/me", None, Some(json!({"full_name": "Nobody"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the seed's answer without credentials");
}

async fn a_deleted_account_is_announced_and_its_groups_handed_over(app: TestApp) {
    let (owner, heir, friend) = (app.user("da_owner").await, app.user("da_heir").await, app.user("da_friend").await);
    let gid = group(&app, &owner, &[&heir, &friend]).await;
    let dm_room = dm(&app, &owner, &friend, "bye soon").await["room_id"].as_i64().expect("dm room");
    let mut hw = Ws::subscribed(&app, &heir.access).await;
    let mut fw = Ws::subscribed(&app, &friend.access).await;

    let (status, body) = app
        .request(Method::DELETE, "/auth/me", Some(&owner.access), Some(json!({"password": crate::helpers::PASSWORD})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let f = fw.expect_skipping("user_updated").await;
    assert_eq!(f["user"], json!({"id": owner.id, "username": "Deleted User", "full_name": null, "online": false}));
    assert_eq!(f["deleted"], true);
    let frames = hw.until("user_updated").await;
    let changes: Vec<&Value> = frames.iter().filter(|f| f["type"] == "room_changed").collect();
    let left = changes.iter().find(|f| f["change"] == "member_left").expect("member_left");
    assert_eq!(
        (left["users"][0]["id"].as_i64(), left["users"][0]["username"].as_str()),
        (Some(owner.id), Some("Deleted User"))
    );
    let handed = changes.iter().find(|f| f["change"] == "owner_changed").expect("owner_changed");
    assert_eq!(handed["created_by"], heir.id, "the longest-standing member owns it now");
    assert_eq!(handed["users"][0]["id"], heir.id);
    assert_eq!(handed["member_count"], 2);
    // A message to the DM with nobody left in it is refused, over WebSocket as over REST.
    fw.send(json!({"type": "message", "room_id": dm_room, "content": "anyone?", "client_id": "da-1"})).await;
    let refused = fw.expect_skipping("error").await;
    assert_eq!(
        (refused["message"].as_str(), refused["client_id"].as_str()),
        (Some("Recipient user not found"), Some("da-1"))
    );
    let (status, body) =
        app.post("/messages/send", &friend.access, json!({"recipient_id": owner.id, "content": "x"})).await;
    assert_eq!((status, body["detail"].as_str()), (StatusCode::BAD_REQUEST, Some("Recipient user not found")));
    let (_, history) = app.get(&format!("/rooms/{dm_room}/messages"), &friend.access).await;
    assert_eq!(history.as_array().map(Vec::len), Some(1), "nothing stored: {history}");
    // And the new owner can rename it at once.
    let (status, _) =
        app.request(Method::PATCH, &format!("/groups/{gid}"), Some(&heir.access), Some(json!({"name": "Ours"}))).await;
    assert_eq!(status, StatusCode::OK);
}

async fn history_can_be_read_without_moving_the_read_position(app: TestApp) {
    let (a, b) = (app.user("mr_a").await, app.user("mr_b").await);
    let room = dm(&app, &a, &b, "one").await["room_id"].as_i64().expect("room");
    dm(&app, &a, &b, "two").await;
    let unread = |token: String| {
        let app = &app;
        async move {
            let (_, rooms) = app.get("/rooms", &token).await;
            rooms[0]["unread_count"].as_i64().expect("unread_count")
        }
    };
    let (status, page) = app.get(&format!("/rooms/{room}/messages?mark_read=false"), &b.access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.as_array().map(Vec::len), Some(2));
    assert_eq!(unread(b.access.clone()).await, 2, "reading with mark_read=false moves nothing");
    let (status, body) = app.get(&format!("/rooms/{room}/messages?mark_read=maybe"), &b.access).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["query", "mark_read"]));
    // The default is the seed's: reading marks read.
    app.get(&format!("/rooms/{room}/messages"), &b.access).await;
    assert_eq!(unread(b.access.clone()).await, 0);
}

/// Membership changes, renames and handovers are stored as notices (written with the change), read
/// back in order by members with the names people have now, and carried by the live frame.
async fn group_notices_are_kept_in_order_for_members(app: TestApp) {
    let (owner, a, b, c, outsider) = (
        app.user("gn_owner").await,
        app.user("gn_a").await,
        app.user("gn_b").await,
        app.user("gn_c").await,
        app.user("gn_out").await,
    );
    let gid = group(&app, &owner, &[&a, &b]).await;
    let mut aw = Ws::subscribed(&app, &a.access).await;
    let first = say(&app, &owner, gid, "before anyone came").await;
    let notices_of = |token: String, query: &'static str| {
        let app = &app;
        async move {
            let (status, body) = app.get(&format!("/rooms/{gid}/notices{query}"), &token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body.as_array().expect("a list").clone()
        }
    };
    assert_eq!(notices_of(a.access.clone(), "").await, Vec::<Value>::new(), "a new group has none");

    let (status, _) = app.post(&format!("/groups/{gid}/members"), &owner.access, json!({"user_ids": [c.id]})).await;
    assert_eq!(status, StatusCode::OK);
    let live = room_changed(&mut aw).await;
    let (status, _) =
        app.request(Method::PATCH, &format!("/groups/{gid}"), Some(&owner.access), Some(json!({"name": "Trip"}))).await;
    assert_eq!(status, StatusCode::OK);
    let second = say(&app, &a, gid, "hello all").await;
    let (status, _) = app.delete(&format!("/groups/{gid}/members"), &b.access, json!({"user_id": b.id})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.delete(&format!("/groups/{gid}/members"), &owner.access, json!({"user_id": c.id})).await;
    assert_eq!(status, StatusCode::OK);
    // Someone renames themself: notices name people as they are now.
    let (status, _) =
        app.request(Method::PATCH, "/auth/me", Some(&b.access), Some(json!({"full_name": "Bea Renamed"}))).await;
    assert_eq!(status, StatusCode::OK);

    let all = notices_of(a.access.clone(), "").await;
    let summary: Vec<(&str, Option<i64>, Vec<i64>)> = all
        .iter()
        .map(|n| {
            let users = n["users"].as_array().expect("users").iter().filter_map(|u| u["id"].as_i64()).collect();
            (n["change"].as_str().expect("change"), n["actor_id"].as_i64(), users)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("members_added", Some(owner.id), vec![c.id]),
            ("renamed", Some(owner.id), vec![]),
            ("member_left", Some(b.id), vec![b.id]),
            ("member_removed", Some(owner.id), vec![c.id]),
        ]
    );
    let ids: Vec<i64> = all.iter().map(|n| n["id"].as_i64().expect("id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
    assert!(all.iter().all(|n| n["room_id"] == gid && n["created_at"].is_string()), "{all:?}");
    // Each sits after the messages the room had when it happened.
    let seqs: Vec<i64> = all.iter().map(|n| n["after_seq"].as_i64().expect("after_seq")).collect();
    let (s1, s2) = (first["seq"].as_i64().expect("seq"), second["seq"].as_i64().expect("seq"));
    assert_eq!(seqs, vec![s1, s1, s2, s2]);
    assert_eq!(all[1]["name"], "Trip");
    assert_eq!(all[2]["users"][0], json!({"id": b.id, "username": b.username, "full_name": "Bea Renamed"}));
    assert_eq!(all[0]["actor"], json!({"id": owner.id, "username": owner.username, "full_name": "gn_owner Tester"}));
    // The live frame carried the same notice.
    assert_eq!(live["notice"], all[0], "{live}");

    // Paging back by id.
    let newest = notices_of(a.access.clone(), "?limit=2").await;
    assert_eq!(newest, all[2..].to_vec());
    let before = format!("?limit=2&before={}", ids[2]);
    let (_, older) = app.get(&format!("/rooms/{gid}/notices{before}"), &a.access).await;
    assert_eq!(older.as_array().expect("list").clone(), all[..2].to_vec());

    // Members only; bad paging is the usual 422.
    for token in [&b.access, &outsider.access] {
        let (status, body) = app.get(&format!("/rooms/{gid}/notices"), token).await;
        assert_eq!((status, body["detail"].as_str()), (StatusCode::NOT_FOUND, Some("Room not found")));
    }
    for (query, field) in [("limit=0", "limit"), ("limit=201", "limit"), ("before=0", "before"), ("limit=x", "limit")] {
        let (status, body) = app.get(&format!("/rooms/{gid}/notices?{query}"), &a.access).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["query", field]), "{body}");
    }
    let dm_room = dm(&app, &a, &outsider, "hi").await["room_id"].as_i64().expect("room");
    let (status, body) = app.get(&format!("/rooms/{dm_room}/notices"), &a.access).await;
    assert_eq!((status, body), (StatusCode::OK, json!([])), "a DM has none");

    // The owner deletes their account: they leave, the group passes to a, both kept; the
    // owner's earlier notices now name a deleted account.
    let (status, _) = app
        .request(Method::DELETE, "/auth/me", Some(&owner.access), Some(json!({"password": crate::helpers::PASSWORD})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let all = notices_of(a.access.clone(), "").await;
    assert_eq!(all.len(), 6, "{all:?}");
    assert_eq!((all[4]["change"].as_str(), all[4]["actor_id"].as_i64()), (Some("member_left"), None));
    assert_eq!(all[4]["users"][0], json!({"id": owner.id, "username": "Deleted User", "full_name": null}));
    assert_eq!((all[5]["change"].as_str(), all[5]["users"][0]["id"].as_i64()), (Some("owner_changed"), Some(a.id)));
    assert_eq!(all[0]["actor"]["username"], "Deleted User");
}

/// Nothing that changes nothing writes a notice; a creator who had left and then deletes their
/// account hands the group on with only `owner_changed` (no second "left"), live with its notice.
async fn notices_only_for_real_changes_and_a_handover_of_a_group_the_creator_left(app: TestApp) {
    let (owner, a, b) = (app.user("nr_owner").await, app.user("nr_a").await, app.user("nr_b").await);
    let gid = group(&app, &owner, &[&a, &b]).await;
    let notices = |token: String| {
        let app = &app;
        async move {
            let (status, body) = app.get(&format!("/rooms/{gid}/notices"), &token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body.as_array().expect("a list").clone()
        }
    };
    // The same name again, and people who are members already: no change, no notice.
    let (status, _) = app
        .request(Method::PATCH, &format!("/groups/{gid}"), Some(&owner.access), Some(json!({"name": "group"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) =
        app.post(&format!("/groups/{gid}/members"), &owner.access, json!({"user_ids": [a.id, b.id]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(notices(a.access.clone()).await, Vec::<Value>::new());

    // The creator leaves (keeping the group to manage, as in the seed), then deletes the account.
    let (status, _) = app.delete(&format!("/groups/{gid}/members"), &owner.access, json!({"user_id": owner.id})).await;
    assert_eq!(status, StatusCode::OK);
    let mut aw = Ws::subscribed(&app, &a.access).await;
    let (status, _) = app
        .request(Method::DELETE, "/auth/me", Some(&owner.access), Some(json!({"password": crate::helpers::PASSWORD})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let frame = room_changed(&mut aw).await;
    assert_eq!(
        (frame["change"].as_str(), frame["created_by"].as_i64()),
        (Some("owner_changed"), Some(a.id)),
        "{frame}"
    );
    let all = notices(a.access.clone()).await;
    let changes: Vec<(&str, Option<i64>)> =
        all.iter().map(|n| (n["change"].as_str().expect("change"), n["actor_id"].as_i64())).collect();
    assert_eq!(changes, vec![("member_left", Some(owner.id)), ("owner_changed", None)]);
    assert_eq!(all[0]["users"][0]["username"], "Deleted User");
    assert_eq!(all[1]["users"][0]["id"], a.id);
    assert_eq!(frame["notice"], all[1], "the live frame carries the stored notice");
}
