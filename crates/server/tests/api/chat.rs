//! Conversations over REST: DMs, groups, history and paging, read state, authorization,
//! concurrency, people search, account deletion and catch-up — on both backends.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{TestApp, TestUser, PASSWORD};

backend_tests!(
    direct_messages_round_trip_byte_exact,
    direct_message_rules,
    chats_list_one_entry_per_dm_newest_first,
    group_lifecycle_and_permissions,
    creator_keeps_the_group_after_leaving_and_hands_it_over_on_account_deletion,
    non_members_get_nothing_and_learn_nothing,
    pagination_offset_and_cursors_agree,
    unread_counts_for_three_readers,
    fifty_concurrent_sends_are_gap_free,
    client_id_makes_rest_sends_idempotent,
    finding_people_by_name,
    deleted_accounts_leave_their_messages,
    rooms_list_and_sync_catch_up,
    lax_integers_and_seed_validation_errors,
    dm_history_with_yourself_or_before_any_message,
    group_routes_refuse_dm_rooms,
    group_creation_rules,
    my_groups_in_join_order,
);

async fn dm(app: &TestApp, from: &TestUser, to: &TestUser, content: &str) -> Value {
    let (status, body) =
        app.post("/messages/send", &from.access, json!({"recipient_id": to.id, "content": content})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"].clone()
}

async fn group(app: &TestApp, owner: &TestUser, members: &[&TestUser], name: &str) -> i64 {
    let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
    let (status, body) = app.post("/groups/create", &owner.access, json!({"name": name, "member_ids": ids})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["group"]["id"].as_i64().expect("group id")
}

async fn say(app: &TestApp, who: &TestUser, group_id: i64, content: &str) -> Value {
    let (status, body) = app.post("/groups/send", &who.access, json!({"group_id": group_id, "content": content})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"].clone()
}

fn contents(list: &Value) -> Vec<String> {
    list.as_array().expect("list").iter().map(|m| m["content"].as_str().expect("content").to_owned()).collect()
}

fn seqs(list: &Value) -> Vec<i64> {
    list.as_array().expect("list").iter().map(|m| m["seq"].as_i64().expect("seq")).collect()
}

fn keys(object: &Value) -> Vec<&str> {
    object.as_object().expect("object").keys().map(String::as_str).collect()
}

/// The seed's HTTP time form: naive UTC, `T`-separated, no offset, fraction only when nonzero.
fn assert_seed_time(t: &Value) {
    let s = t.as_str().unwrap_or_else(|| panic!("a time string: {t}"));
    assert!(!s.ends_with('Z') && !s.contains('+'), "no offset: {s}");
    assert_eq!(s.as_bytes().get(10), Some(&b'T'), "{s}");
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    assert_eq!(whole.len(), 19, "{s}");
    assert!(fraction.is_empty() || fraction.len() == 6, "six fraction digits or none: {s}");
    assert!(chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok(), "{s}");
}

async fn direct_messages_round_trip_byte_exact(app: TestApp) {
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let texts = [
        "Hello! How are you?",
        "emoji 👩‍👩‍👧‍👦🎉 and é",
        "مرحبا بالعالم (RTL)",
        r#"quotes " ' ` and \backslash"#,
        "'; DROP TABLE messages; --",
        "  leading and trailing spaces  \n second line",
    ];
    let (status, first) =
        app.post("/messages/send", &alice.access, json!({"recipient_id": bob.id, "content": texts[0]})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(first["message"], "Message sent successfully");
    let m = &first["data"];
    assert_eq!(m["sender_id"], alice.id);
    assert_eq!(m["sender_username"], alice.username.as_str());
    assert_eq!(m["sender_full_name"], "alice Tester");
    assert_eq!(m["seq"], 1);
    assert_eq!(m["room_id"], m["chat_room_id"]);
    for (i, t) in texts.iter().enumerate().skip(1) {
        let from = if i % 2 == 0 { &alice } else { &bob };
        let to = if i % 2 == 0 { &bob } else { &alice };
        dm(&app, from, to, t).await;
    }
    for (reader, other) in [(&alice, &bob), (&bob, &alice)] {
        let (status, history) = app.get(&format!("/messages/chat/{}", other.id), &reader.access).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(contents(&history), texts, "byte-exact, oldest first");
        assert_eq!(seqs(&history), (1..=6).collect::<Vec<_>>());
    }
    // No DM yet with a third user: an empty history, not an error.
    let carol = app.user("carol").await;
    let (status, history) = app.get(&format!("/messages/chat/{}", carol.id), &alice.access).await;
    assert_eq!((status, history), (StatusCode::OK, json!([])));
}

async fn direct_message_rules(app: TestApp) {
    let (alice, bob) = (app.user("rules").await, app.user("rules").await);
    let send = |content: Value, to: i64| {
        app.post("/messages/send", &alice.access, json!({"recipient_id": to, "content": content}))
    };
    let (status, body) = send(json!("hi"), alice.id).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Cannot send message to yourself"})));
    let (status, body) = send(json!("hi"), 999_999_999).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Recipient user not found"})));
    for bad in [json!(""), json!("   \n\t "), json!("x".repeat(5001)), json!("nul \u{0} inside")] {
        let (status, body) = send(bad, bob.id).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", "content"]));
    }
    let (status, _) = send(json!("é".repeat(5000)), bob.id).await;
    assert_eq!(status, StatusCode::CREATED, "5,000 characters (10,000 bytes) is allowed");
    let (status, body) =
        app.post("/messages/send", &alice.access, json!({"recipient_id": "two", "content": "x"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["body", "recipient_id"]));
    let (status, _) = app
        .post(
            "/messages/send",
            &alice.access,
            json!({"recipient_id": bob.id, "content": "x", "client_id": "has space"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = app
        .request(reqwest::Method::POST, "/messages/send", None, Some(json!({"recipient_id": bob.id, "content": "x"})))
        .await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Not authenticated"})));
    // Failed attempts created nothing: exactly one DM with one message.
    let (_, chats) = app.get("/messages/chats", &alice.access).await;
    assert_eq!(chats.as_array().map(Vec::len), Some(1), "{chats}");
    let (_, history) = app.get(&format!("/messages/chat/{}", bob.id), &alice.access).await;
    assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");
    let (status, body) = app.get("/messages/chat/999999999", &alice.access).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"detail": "User not found"})));
    let (status, _) = app.get(&format!("/messages/chat/{}?limit=0", bob.id), &alice.access).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn chats_list_one_entry_per_dm_newest_first(app: TestApp) {
    let (me, bob, carol) = (app.user("me").await, app.user("bob").await, app.user("carol").await);
    let bob_room = dm(&app, &me, &bob, "to bob").await["chat_room_id"].clone();
    let carol_room = dm(&app, &carol, &me, "from carol 1").await["chat_room_id"].clone();
    dm(&app, &carol, &me, "from carol 2").await;
    let newest = dm(&app, &bob, &me, "bob again").await;
    // Groups are not chats.
    group(&app, &bob, &[&me], "not a chat").await;
    let (status, chats) = app.get("/messages/chats", &me.access).await;
    assert_eq!(status, StatusCode::OK);
    let chats = chats.as_array().expect("list").clone();
    assert_eq!(chats.len(), 2, "{chats:?}");
    assert_eq!(
        keys(&chats[0]),
        [
            "chat_room_id",
            "other_user_id",
            "other_user_username",
            "other_user_full_name",
            "last_message",
            "last_message_time",
            "unread_count",
            "online",
            "mention_count",
            "muted"
        ],
        "the seed's DirectChat fields, in its order, then Banter's"
    );
    assert_eq!(chats[0]["chat_room_id"], bob_room);
    assert_eq!(chats[0]["other_user_id"], bob.id, "newest activity first");
    assert_eq!(chats[0]["other_user_username"], bob.username.as_str());
    assert_eq!(chats[0]["other_user_full_name"], "bob Tester");
    assert_eq!(chats[0]["last_message"], "bob again");
    assert_eq!(chats[0]["last_message_time"], newest["created_at"]);
    assert_eq!(chats[0]["unread_count"], 1);
    assert_eq!(chats[0]["online"], false);
    assert_eq!(chats[1]["chat_room_id"], carol_room);
    assert_eq!(chats[1]["other_user_id"], carol.id);
    assert_eq!(chats[1]["unread_count"], 2);
    assert_seed_time(&chats[1]["last_message_time"]);
    assert_seed_time(&newest["created_at"]);
    assert!(!chats.iter().any(|c| c.to_string().contains("@example.com")), "no emails");
}

async fn group_lifecycle_and_permissions(app: TestApp) {
    let (owner, a, b, c) = (app.user("own").await, app.user("ga").await, app.user("gb").await, app.user("gc").await);
    let (status, body) = app
        .post("/groups/create", &owner.access, json!({"name": "Team Discussion", "member_ids": [a.id, a.id, owner.id]}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["message"], "Group created successfully");
    let g = &body["group"];
    assert_eq!(keys(g), ["id", "name", "room_type", "created_by", "member_count", "created_at"]);
    assert_eq!((g["name"].as_str(), g["room_type"].as_str()), (Some("Team Discussion"), Some("group")));
    assert_eq!(g["created_by"], owner.id);
    assert_eq!(g["member_count"], 2, "creator included, duplicates ignored");
    assert_seed_time(&g["created_at"]);
    let gid = g["id"].as_i64().expect("id");

    // The seed requires at least one other id; bad names and a missing list are 422s too.
    for bad in [
        json!({"name": "Just me", "member_ids": []}),
        json!({"name": "", "member_ids": [a.id]}),
        json!({"name": "n".repeat(101), "member_ids": [a.id]}),
        json!({"name": "no list"}),
        json!({"member_ids": [a.id]}),
    ] {
        let (status, body) = app.post("/groups/create", &owner.access, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let (status, body) =
        app.post("/groups/create", &owner.access, json!({"name": "x", "member_ids": [a.id, 999_999_999]})).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "User with ID 999999999 not found"})));
    let (_, groups) = app.get("/groups/my-groups", &a.access).await;
    assert_eq!(groups.as_array().map(Vec::len), Some(1), "refused creations made nothing: {groups}");

    say(&app, &a, gid, "hello team").await;
    let (status, history) = app.get(&format!("/groups/{gid}/messages?limit=50"), &owner.access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(contents(&history), ["hello team"]);

    // Only the creator adds; existing members are ignored in the count.
    for ids in [json!([b.id]), json!([999_999_999])] {
        let (status, body) = app.post(&format!("/groups/{gid}/members"), &a.access, json!({"user_ids": ids})).await;
        assert_eq!(
            (status, body),
            (StatusCode::FORBIDDEN, json!({"detail": "Only group creator can add members"})),
            "the creator check comes first"
        );
    }
    let (status, body) =
        app.post(&format!("/groups/{gid}/members"), &owner.access, json!({"user_ids": [b.id, 999_999_999]})).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "User with ID 999999999 not found"})));
    let (status, body) =
        app.post(&format!("/groups/{gid}/members"), &owner.access, json!({"user_ids": [b.id, c.id, a.id]})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"message": "Successfully added 2 members", "members_added": 2}));
    let (_, body) = app.post(&format!("/groups/{gid}/members"), &owner.access, json!({"user_ids": [a.id]})).await;
    assert_eq!(body, json!({"message": "Successfully added 0 members", "members_added": 0}));
    let (_, members) = app.get(&format!("/groups/{gid}/members"), &b.access).await;
    let names: Vec<&str> =
        members.as_array().expect("list").iter().map(|m| m["username"].as_str().expect("name")).collect();
    assert_eq!(names, [owner.username.as_str(), a.username.as_str(), b.username.as_str(), c.username.as_str()]);
    assert_eq!(members[0]["is_creator"], true);

    let (_, groups) = app.get("/groups/my-groups", &b.access).await;
    assert_eq!(
        keys(&groups[0]),
        [
            "id",
            "name",
            "room_type",
            "created_by",
            "member_count",
            "last_message",
            "last_message_time",
            "created_at",
            "unread_count"
        ]
    );
    assert_eq!(groups[0]["id"], gid);
    assert_eq!(groups[0]["created_by"], owner.id);
    assert_eq!(groups[0]["member_count"], 4);
    assert_eq!(groups[0]["last_message"], "hello team");
    assert_seed_time(&groups[0]["last_message_time"]);
    assert_eq!(groups[0]["unread_count"], 1);

    // A member may not remove another; the creator may; anyone may leave.
    let (status, body) = app.delete(&format!("/groups/{gid}/members"), &a.access, json!({"user_id": b.id})).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Not authorized to remove this member"})));
    let (status, body) = app.delete(&format!("/groups/{gid}/members"), &owner.access, json!({"user_id": b.id})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"message": "Member removed successfully"})));
    let (status, body) = app.delete(&format!("/groups/{gid}/members"), &c.access, json!({"user_id": c.id})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"message": "Member removed successfully"})), "leaving");
    let (status, body) = app.delete(&format!("/groups/{gid}/members"), &owner.access, json!({"user_id": b.id})).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Member not found in group"})));
    let (status, body) = app.delete(&format!("/groups/{gid}/members"), &c.access, json!({"user_id": c.id})).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Member not found in group"})), "left twice");

    // Removed and departed members lose access at once.
    for gone in [&b, &c] {
        let (status, body) = app.get(&format!("/groups/{gid}/messages"), &gone.access).await;
        assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "You are not a member of this group"})));
        let (status, body) = app.get(&format!("/groups/{gid}/members"), &gone.access).await;
        assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "You are not a member of this group"})));
        let (status, body) =
            app.post("/groups/send", &gone.access, json!({"group_id": gid, "content": "let me in"})).await;
        assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "You are not a member of this group"})));
        let (status, body) = app.get(&format!("/rooms/{gid}/messages"), &gone.access).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"detail": "Room not found"})));
        let (_, groups) = app.get("/groups/my-groups", &gone.access).await;
        assert_eq!(groups, json!([]));
    }
    let (_, history) = app.get(&format!("/groups/{gid}/messages"), &owner.access).await;
    assert_eq!(contents(&history), ["hello team"], "nothing sent by those who left");
}

async fn creator_keeps_the_group_after_leaving_and_hands_it_over_on_account_deletion(app: TestApp) {
    let (owner, first, second) = (app.user("ho").await, app.user("h1").await, app.user("h2").await);
    let gid = group(&app, &owner, &[&first], "handover").await;
    let members_path = format!("/groups/{gid}/members");
    let (status, _) = app.post(&members_path, &owner.access, json!({"user_ids": [second.id]})).await;
    assert_eq!(status, StatusCode::OK);

    // The creator leaves: the group keeps its creator, who is no longer a member.
    let (status, body) = app.delete(&members_path, &owner.access, json!({"user_id": owner.id})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"message": "Member removed successfully"})));
    let (_, groups) = app.get("/groups/my-groups", &first.access).await;
    assert_eq!((groups[0]["id"].as_i64(), groups[0]["created_by"].as_i64()), (Some(gid), Some(owner.id)));
    assert_eq!(groups[0]["member_count"], 2);
    let (_, members) = app.get(&members_path, &first.access).await;
    assert!(members.as_array().expect("list").iter().all(|m| m["is_creator"] == false), "{members}");
    let (status, _) = app.get(&format!("/groups/{gid}/messages"), &owner.access).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a creator who left reads nothing");
    assert_eq!(app.get("/groups/my-groups", &owner.access).await.1, json!([]));

    // No member inherits the creator's powers...
    let (status, body) = app.delete(&members_path, &first.access, json!({"user_id": second.id})).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Not authorized to remove this member"})));
    let (status, body) = app.post(&members_path, &first.access, json!({"user_ids": [owner.id]})).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Only group creator can add members"})));
    // ...which the creator keeps after leaving: removing and adding.
    let (status, body) = app.delete(&members_path, &owner.access, json!({"user_id": second.id})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"message": "Member removed successfully"})));
    let (status, body) = app.post(&members_path, &owner.access, json!({"user_ids": [second.id]})).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"message": "Successfully added 1 members", "members_added": 1}))
    );

    // The last member leaving keeps the group: the creator can bring people back.
    for who in [&first, &second] {
        let (status, _) = app.delete(&members_path, &who.access, json!({"user_id": who.id})).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, body) = app.post(&members_path, &owner.access, json!({"user_ids": [first.id, second.id]})).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"message": "Successfully added 2 members", "members_added": 2}))
    );
    say(&app, &first, gid, "back again").await;

    // The creator deletes their account: the longest-standing member now owns the group.
    let (status, _) = app.delete("/auth/me", &owner.access, json!({"password": PASSWORD})).await;
    assert_eq!(status, StatusCode::OK);
    for who in [&first, &second] {
        let (_, groups) = app.get("/groups/my-groups", &who.access).await;
        assert_eq!(groups.as_array().map(Vec::len), Some(1), "{groups}");
        assert_eq!(groups[0]["id"], gid);
        assert_eq!(groups[0]["created_by"], first.id, "handed over: {groups}");
    }
    let (status, body) = app.delete(&members_path, &second.access, json!({"user_id": first.id})).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Not authorized to remove this member"})));
    let (status, _) = app.delete(&members_path, &first.access, json!({"user_id": second.id})).await;
    assert_eq!(status, StatusCode::OK, "the new owner has the creator's powers");
    // The new owner leaves too: the group is kept (it still has a creator) and theirs to refill.
    let (status, _) = app.delete(&members_path, &first.access, json!({"user_id": first.id})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.post(&members_path, &second.access, json!({"user_ids": [second.id]})).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Only group creator can add members"})));

    // A group with neither members nor a creator is deleted.
    let (status, _) = app.delete("/auth/me", &first.access, json!({"password": PASSWORD})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.post(&members_path, &second.access, json!({"user_ids": [second.id]})).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Group not found"})));
}

async fn non_members_get_nothing_and_learn_nothing(app: TestApp) {
    let (owner, member, stranger) = (app.user("nm").await, app.user("nm").await, app.user("nm").await);
    let gid = group(&app, &owner, &[&member], "secret").await;
    say(&app, &owner, gid, "classified").await;
    let dm_room = dm(&app, &owner, &member, "private").await["room_id"].as_i64().expect("room");
    let missing = 999_999_999;
    let probes = |room: i64| {
        vec![
            (reqwest::Method::GET, format!("/groups/{room}/messages"), None),
            (reqwest::Method::POST, "/groups/send".to_owned(), Some(json!({"group_id": room, "content": "hi"}))),
            (reqwest::Method::GET, format!("/groups/{room}/members"), None),
            (reqwest::Method::POST, format!("/groups/{room}/members"), Some(json!({"user_ids": [stranger.id]}))),
            (reqwest::Method::DELETE, format!("/groups/{room}/members"), Some(json!({"user_id": owner.id}))),
            (reqwest::Method::DELETE, format!("/groups/{room}/members"), Some(json!({"user_id": stranger.id}))),
            (reqwest::Method::GET, format!("/rooms/{room}/messages"), None),
            (reqwest::Method::POST, format!("/rooms/{room}/read"), Some(json!({"up_to": 1}))),
        ]
    };
    // The seed's answers to a non-member, for (a group, a DM room, no room). Reading is refused
    // alike whether the room exists or not; the seed's management errors do tell rooms apart
    // (§7), but no answer carries anything from inside the room.
    let (forbidden, bad, not_found) = (StatusCode::FORBIDDEN, StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND);
    let not_member = "You are not a member of this group";
    let (not_group, no_group, no_room) = ("This is not a group chat", "Group not found", "Room not found");
    let expected = [
        [(forbidden, not_member), (forbidden, not_member), (forbidden, not_member)],
        [(bad, not_member), (bad, not_group), (bad, no_group)],
        [(forbidden, not_member), (forbidden, not_member), (forbidden, not_member)],
        // Management: authorization comes before the room type, so a stranger cannot tell a
        // DM from a group here.
        [
            (forbidden, "Only group creator can add members"),
            (forbidden, "Only group creator can add members"),
            (forbidden, no_group),
        ],
        [
            (forbidden, "Not authorized to remove this member"),
            (forbidden, "Not authorized to remove this member"),
            (forbidden, no_group),
        ],
        [(forbidden, "Member not found in group"), (forbidden, "Member not found in group"), (forbidden, no_group)],
        [(not_found, no_room), (not_found, no_room), (not_found, no_room)],
        [(not_found, no_room), (not_found, no_room), (not_found, no_room)],
    ];
    for (column, room) in [gid, dm_room, missing].into_iter().enumerate() {
        for ((method, path, body), answers) in probes(room).into_iter().zip(&expected) {
            let (status, got) = app.request(method, &path, Some(&stranger.access), body).await;
            let (want_status, want_detail) = answers[column];
            assert_eq!((status, &got), (want_status, &json!({"detail": want_detail})), "{path}");
        }
    }
    // Nothing the stranger tried changed anything.
    let (_, members) = app.get(&format!("/groups/{gid}/members"), &owner.access).await;
    let ids: Vec<i64> = members.as_array().expect("list").iter().map(|m| m["user_id"].as_i64().expect("id")).collect();
    assert_eq!(ids, [owner.id, member.id]);
    let (_, history) = app.get(&format!("/groups/{gid}/messages"), &member.access).await;
    assert_eq!(contents(&history), ["classified"]);
    let (_, history) = app.get(&format!("/messages/chat/{}", owner.id), &member.access).await;
    assert_eq!(contents(&history), ["private"]);
    let (_, rooms) = app.get("/rooms", &stranger.access).await;
    assert_eq!(rooms, json!([]));
    assert_eq!(app.get("/groups/my-groups", &stranger.access).await.1, json!([]));
    assert_eq!(app.get("/messages/chats", &stranger.access).await.1, json!([]));
    let (_, sync) = app.post("/sync", &stranger.access, json!({"rooms": {gid.to_string(): 0}})).await;
    assert_eq!(sync["messages"], json!([]), "sync never returns rooms you are not in");
}

async fn pagination_offset_and_cursors_agree(app: TestApp) {
    let (a, b) = (app.user("pg").await, app.user("pg").await);
    for i in 1..=25 {
        dm(&app, &a, &b, &format!("m{i}")).await;
    }
    let path = format!("/messages/chat/{}", b.id);
    let (app, a) = (&app, &a);
    let page = |q: String| {
        let p = format!("{path}?{q}");
        async move { app.get(&p, &a.access).await }
    };
    let (_, p0) = page("limit=10&offset=0".into()).await;
    let (_, p1) = page("limit=10&offset=10".into()).await;
    let (_, p2) = page("limit=10&offset=20".into()).await;
    assert_eq!(seqs(&p0), (16..=25).collect::<Vec<_>>(), "page 0: the newest, oldest first");
    assert_eq!(seqs(&p1), (6..=15).collect::<Vec<_>>());
    assert_eq!(seqs(&p2), (1..=5).collect::<Vec<_>>());
    // Cursors walk the same pages and stay put while new messages arrive.
    dm(app, &b, a, "m26").await;
    let (_, c1) = page("limit=10&before=16".into()).await;
    assert_eq!(seqs(&c1), seqs(&p1));
    let (_, c2) = page("limit=10&before=6".into()).await;
    assert_eq!(seqs(&c2), seqs(&p2));
    let (_, after) = page("limit=3&after=20".into()).await;
    assert_eq!(seqs(&after), [21, 22, 23], "after: the oldest following, oldest first");
    let (_, tail) = page("after=25".into()).await;
    assert_eq!(contents(&tail), ["m26"]);
    for bad in ["limit=0", "limit=101", "offset=-1", "limit=abc", "before=5&after=1"] {
        let (status, body) = page(bad.into()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["detail"][0]["loc"][0], "query", "{bad}");
    }
}

async fn unread_of(app: &TestApp, user: &TestUser, room: i64) -> i64 {
    let (_, rooms) = app.get("/rooms", &user.access).await;
    let entry = rooms.as_array().expect("rooms").iter().find(|r| r["room_id"] == room).cloned().expect("room listed");
    entry["unread_count"].as_i64().expect("count")
}

async fn unread_counts_for_three_readers(app: TestApp) {
    let (a, b, c) = (app.user("ra").await, app.user("rb").await, app.user("rc").await);
    let gid = group(&app, &a, &[&b, &c], "readers").await;
    for i in 1..=3 {
        say(&app, &a, gid, &format!("from a {i}")).await;
    }
    assert_eq!(
        (unread_of(&app, &a, gid).await, unread_of(&app, &b, gid).await, unread_of(&app, &c, gid).await),
        (0, 3, 3)
    );
    // B reads the history; C does not.
    let (_, history) = app.get(&format!("/groups/{gid}/messages"), &b.access).await;
    assert!(history.as_array().expect("list").iter().all(|m| m["is_read"] == false), "C has not read them: {history}");
    assert_eq!((unread_of(&app, &b, gid).await, unread_of(&app, &c, gid).await), (0, 3));
    say(&app, &b, gid, "from b").await;
    assert_eq!(
        (unread_of(&app, &a, gid).await, unread_of(&app, &b, gid).await, unread_of(&app, &c, gid).await),
        (1, 0, 4)
    );
    // C reads up to seq 2 explicitly, then everything.
    let (status, read) = app.post(&format!("/rooms/{gid}/read"), &c.access, json!({"up_to": 2})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, json!({"room_id": gid, "last_read_seq": 2, "unread_count": 2}));
    let (_, read) = app.post(&format!("/rooms/{gid}/read"), &c.access, json!({"up_to": 1})).await;
    assert_eq!(read["last_read_seq"], 2, "never moves backwards");
    let (_, read) = app.post(&format!("/rooms/{gid}/read"), &c.access, json!({"up_to": 1_000})).await;
    assert_eq!(read["last_read_seq"], 4, "clamped to the newest message");
    // A's own read of this page counts in the answer (the seed marks read, then answers).
    let (_, history) = app.get(&format!("/groups/{gid}/messages"), &a.access).await;
    let flags: Vec<bool> =
        history.as_array().expect("list").iter().map(|m| m["is_read"].as_bool().expect("flag")).collect();
    assert_eq!(flags, [true, true, true, true], "everyone but the sender has read each, A by this very read");
    let (_, history) = app.get(&format!("/groups/{gid}/messages"), &b.access).await;
    assert_eq!(history[3]["is_read"], true, "B's own message, read by A and C");
}

async fn fifty_concurrent_sends_are_gap_free(app: TestApp) {
    let (a, b, c) = (app.user("cc").await, app.user("cc").await, app.user("cc").await);
    let gid = group(&app, &a, &[&b, &c], "busy").await;
    let senders = [&a, &b, &c];
    let sends = (0..50).map(|i| {
        let who = senders[i % 3];
        app.post("/groups/send", &who.access, json!({"group_id": gid, "content": format!("msg {i}")}))
    });
    let results = futures_util::future::join_all(sends).await;
    assert!(results.iter().all(|(s, _)| *s == StatusCode::CREATED), "{results:?}");
    let mut all = Vec::new();
    for offset in [0, 100] {
        let (_, page) = app.get(&format!("/groups/{gid}/messages?limit=100&offset={offset}"), &a.access).await;
        all.extend(page.as_array().expect("list").clone());
    }
    let seqs: Vec<i64> = all.iter().map(|m| m["seq"].as_i64().expect("seq")).collect();
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>(), "strictly increasing, gap-free");
    let mut texts: Vec<String> = all.iter().map(|m| m["content"].as_str().expect("c").to_owned()).collect();
    texts.sort();
    let mut expected: Vec<String> = (0..50).map(|i| format!("msg {i}")).collect();
    expected.sort();
    assert_eq!(texts, expected, "each persisted exactly once");
}

async fn client_id_makes_rest_sends_idempotent(app: TestApp) {
    let (a, b) = (app.user("idem").await, app.user("idem").await);
    let body = json!({"recipient_id": b.id, "content": "once", "client_id": "c-123"});
    let (s1, first) = app.post("/messages/send", &a.access, body.clone()).await;
    let (s2, again) = app.post("/messages/send", &a.access, body).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(first["data"]["id"], again["data"]["id"]);
    assert_eq!(again["data"]["client_id"], "c-123");
    let gid = group(&app, &a, &[&b], "idem").await;
    let (status, _) =
        app.post("/groups/send", &a.access, json!({"group_id": gid, "content": "x", "client_id": "c-123"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a client id belongs to one message");
    let (_, history) = app.get(&format!("/messages/chat/{}", a.id), &b.access).await;
    assert_eq!(contents(&history), ["once"]);
}

async fn finding_people_by_name(app: TestApp) {
    let me = app.user("finder").await;
    let target = app.user("zed").await;
    let (status, byname) = app.get(&format!("/users/search?q={}", target.username.to_uppercase()), &me.access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        byname,
        json!([{"id": target.id, "username": target.username, "full_name": "zed Tester", "online": false}])
    );
    // A word of the full name, any case; and never yourself.
    let (_, mine) = app.get(&format!("/users/search?q={}", me.username), &me.access).await;
    assert_eq!(mine, json!([]));
    let surname = crate::helpers::unique("Lovelace");
    let ada = crate::helpers::unique("ada");
    let (status, _) = app
        .post_anon(
            "/auth/register",
            json!({"username": ada, "email": format!("{ada}@example.com"), "password": PASSWORD, "full_name": format!("Ada {surname}")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, byword) = app.get(&format!("/users/search?q={}", surname.to_uppercase()), &me.access).await;
    assert_eq!(byword.as_array().map(Vec::len), Some(1), "{byword}");
    assert_eq!(byword[0]["username"], ada.as_str());
    assert!(!byword.to_string().contains("@example.com"));
    // Case-insensitive beyond ASCII, the same on both backends.
    let umlaut = crate::helpers::unique("Ärger");
    let zoe = crate::helpers::unique("zoe");
    let (status, _) = app
        .post_anon(
            "/auth/register",
            json!({"username": zoe, "email": format!("{zoe}@example.com"), "password": PASSWORD, "full_name": format!("Zoë {umlaut}")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let q: String = umlaut.to_lowercase().bytes().map(|b| format!("%{b:02X}")).collect();
    let (_, found) = app.get(&format!("/users/search?q={q}"), &me.access).await;
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["username"], zoe.as_str());
    let (_, wild) = app.get("/users/search?q=%25", &me.access).await;
    assert_eq!(wild, json!([]), "LIKE wildcards are literal");
    for bad in ["q=", "q=x&limit=0", "limit=5", "q=a%00b"] {
        assert_eq!(
            app.get(&format!("/users/search?{bad}"), &me.access).await.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    let (status, profile) = app.get(&format!("/users/{}", target.id), &me.access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(profile["username"], target.username.as_str());
    assert!(profile.get("email").is_none() && profile.get("hashed_password").is_none(), "{profile}");
    assert_eq!(app.get("/users/999999999", &me.access).await.0, StatusCode::NOT_FOUND);
}

async fn deleted_accounts_leave_their_messages(app: TestApp) {
    let (leaver, friend, other) = (app.user("del").await, app.user("del").await, app.user("del").await);
    dm(&app, &leaver, &friend, "remember me").await;
    let gid = group(&app, &leaver, &[&friend, &other], "orphan").await;
    say(&app, &leaver, gid, "bye all").await;
    let (status, _) = app.delete("/auth/me", &leaver.access, json!({"password": "wrong-password"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = app.delete("/auth/me", &leaver.access, json!({"password": PASSWORD})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"message": "Account deleted"})));
    assert_eq!(app.get("/auth/me", &leaver.access).await.0, StatusCode::UNAUTHORIZED, "sessions end");
    assert_eq!(
        app.post_anon("/auth/login", json!({"username": leaver.username, "password": PASSWORD})).await.0,
        StatusCode::UNAUTHORIZED
    );

    let (_, history) = app.get(&format!("/groups/{gid}/messages"), &friend.access).await;
    assert_eq!(history[0]["content"], "bye all");
    assert_eq!(history[0]["sender_username"], "Deleted User");
    assert_eq!(history[0]["sender_id"], Value::Null);
    let (_, members) = app.get(&format!("/groups/{gid}/members"), &friend.access).await;
    assert_eq!(members.as_array().map(Vec::len), Some(2));
    assert_eq!(members[0]["user_id"], friend.id);
    assert_eq!(members[0]["is_creator"], true, "the group passed on: {members}");
    let (_, rooms) = app.get("/rooms", &friend.access).await;
    let dm_entry = rooms.as_array().expect("rooms").iter().find(|r| r["room_type"] == "direct").expect("dm kept");
    assert_eq!(dm_entry["name"], "Deleted User");
    assert_eq!(dm_entry["last_message"]["sender_username"], "Deleted User");
    assert_eq!(app.get(&format!("/users/{}", leaver.id), &friend.access).await.0, StatusCode::NOT_FOUND);
    let (_, chats) = app.get("/messages/chats", &friend.access).await;
    assert_eq!(chats[0]["chat_room_id"], dm_entry["room_id"]);
    assert_eq!((&chats[0]["other_user_id"], &chats[0]["other_user_username"]), (&Value::Null, &json!("Deleted User")));
    assert_eq!(chats[0]["last_message"], "remember me");
    let (status, body) =
        app.post("/messages/send", &friend.access, json!({"recipient_id": leaver.id, "content": "hello?"})).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Recipient user not found"})));
    let (status, body) = app.get(&format!("/messages/chat/{}", leaver.id), &friend.access).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"detail": "User not found"})));
}

async fn rooms_list_and_sync_catch_up(app: TestApp) {
    let (me, bob, carol) = (app.user("sy").await, app.user("sy").await, app.user("sy").await);
    let dm_room = dm(&app, &bob, &me, "dm 1").await["room_id"].as_i64().expect("room");
    let gid = group(&app, &carol, &[&me], "sync group").await;
    say(&app, &carol, gid, "group 1").await;
    let (_, rooms) = app.get("/rooms", &me.access).await;
    let rooms = rooms.as_array().expect("rooms").clone();
    assert_eq!(rooms.len(), 2);
    assert_eq!(rooms[0]["room_id"], gid, "newest activity first");
    assert_eq!(rooms[0]["room_type"], "group");
    assert_eq!(rooms[0]["name"], "sync group");
    assert_eq!(rooms[0]["unread_count"], 1);
    assert_eq!(rooms[0]["last_message"]["content"], "group 1");
    assert_eq!(rooms[1]["other_user"]["id"], bob.id);
    assert_eq!(rooms[1]["name"], bob.username.as_str());

    // Catch up from known positions: only what was missed, once, in order per room.
    dm(&app, &bob, &me, "dm 2").await;
    dm(&app, &bob, &me, "dm 3").await;
    say(&app, &carol, gid, "group 2").await;
    let (status, sync) =
        app.post("/sync", &me.access, json!({"rooms": {dm_room.to_string(): 1, gid.to_string(): 1}})).await;
    assert_eq!(status, StatusCode::OK);
    let got: Vec<(i64, String)> = sync["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| (m["room_id"].as_i64().expect("room"), m["content"].as_str().expect("c").to_owned()))
        .collect();
    let dm_part: Vec<&str> = got.iter().filter(|(r, _)| *r == dm_room).map(|(_, c)| c.as_str()).collect();
    let group_part: Vec<&str> = got.iter().filter(|(r, _)| *r == gid).map(|(_, c)| c.as_str()).collect();
    assert_eq!(dm_part, ["dm 2", "dm 3"]);
    assert_eq!(group_part, ["group 2"]);
    assert_eq!(sync["rooms"], json!({dm_room.to_string(): 3, gid.to_string(): 2}));
    assert_eq!(sync["complete"], true);
    let (_, again) = app.post("/sync", &me.access, json!({"rooms": sync["rooms"]})).await;
    assert_eq!(again["messages"], json!([]), "nothing twice");
}

fn int_parsing(loc: Value, input: &str) -> Value {
    json!({
        "type": "int_parsing",
        "loc": loc,
        "msg": "Input should be a valid integer, unable to parse string as an integer",
        "input": input,
        "url": "https://errors.pydantic.dev/2.5/v/int_parsing",
    })
}

async fn lax_integers_and_seed_validation_errors(app: TestApp) {
    let (alice, bob) = (app.user("lax").await, app.user("lax").await);
    // Integers are lax, as in Pydantic: a numeric string or a whole float is the number.
    let (status, body) = app
        .post("/messages/send", &alice.access, json!({"recipient_id": bob.id.to_string(), "content": "as text"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["content"], "as text");
    #[allow(clippy::cast_precision_loss)]
    let as_float = json!({"recipient_id": bob.id as f64, "content": "as float"});
    let (status, body) = app.post("/messages/send", &alice.access, as_float).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, history) = app.get(&format!("/messages/chat/{}", bob.id), &alice.access).await;
    assert_eq!(contents(&history), ["as text", "as float"], "one DM");
    let (status, body) =
        app.post("/groups/create", &alice.access, json!({"name": "lax", "member_ids": [bob.id.to_string()]})).await;
    assert_eq!((status, body["group"]["member_count"].as_i64()), (StatusCode::CREATED, Some(2)), "{body}");
    let gid = body["group"]["id"].as_i64().expect("id");
    let (status, _) =
        app.post("/groups/send", &bob.access, json!({"group_id": gid.to_string(), "content": "lax too"})).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, body) =
        app.post("/messages/send", &alice.access, json!({"recipient_id": "abc", "content": "x"})).await;
    assert_eq!(
        (status, body),
        (StatusCode::UNPROCESSABLE_ENTITY, json!({"detail": [int_parsing(json!(["body", "recipient_id"]), "abc")]}))
    );
    let (status, body) = app.get("/messages/chat/abc", &alice.access).await;
    assert_eq!(
        (status, body),
        (StatusCode::UNPROCESSABLE_ENTITY, json!({"detail": [int_parsing(json!(["path", "other_user_id"]), "abc")]}))
    );
    let (status, body) = app.get("/groups/abc/messages", &alice.access).await;
    assert_eq!(
        (status, body),
        (StatusCode::UNPROCESSABLE_ENTITY, json!({"detail": [int_parsing(json!(["path", "group_id"]), "abc")]}))
    );
    // Authentication is checked before the path.
    let (status, body) = app.request(reqwest::Method::GET, "/messages/chat/abc", None, None).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Not authenticated"})));

    // limit 1..=100, offset >= 0: Pydantic's bound errors, the raw query text as input.
    let at_least = |name: &str, min: i64, input: &str| {
        json!({
            "type": "greater_than_equal",
            "loc": ["query", name],
            "msg": format!("Input should be greater than or equal to {min}"),
            "input": input,
            "ctx": {"ge": min},
            "url": "https://errors.pydantic.dev/2.5/v/greater_than_equal",
        })
    };
    let too_many = json!({
        "type": "less_than_equal",
        "loc": ["query", "limit"],
        "msg": "Input should be less than or equal to 100",
        "input": "101",
        "ctx": {"le": 100},
        "url": "https://errors.pydantic.dev/2.5/v/less_than_equal",
    });
    for history in [format!("/messages/chat/{}", bob.id), format!("/groups/{gid}/messages")] {
        for (query, items) in [
            ("limit=0", json!([at_least("limit", 1, "0")])),
            ("limit=101", json!([too_many.clone()])),
            ("offset=-1", json!([at_least("offset", 0, "-1")])),
            ("limit=0&offset=-1", json!([at_least("limit", 1, "0"), at_least("offset", 0, "-1")])),
            ("limit=abc", json!([int_parsing(json!(["query", "limit"]), "abc")])),
        ] {
            let (status, body) = app.get(&format!("{history}?{query}"), &alice.access).await;
            assert_eq!(
                (status, body),
                (StatusCode::UNPROCESSABLE_ENTITY, json!({"detail": items})),
                "{history}?{query}"
            );
        }
        for fine in ["limit=1", "limit=100", "offset=0", "limit=100&offset=0"] {
            assert_eq!(app.get(&format!("{history}?{fine}"), &alice.access).await.0, StatusCode::OK, "{fine}");
        }
    }
}

async fn dm_history_with_yourself_or_before_any_message(app: TestApp) {
    let (alice, bob, carol) = (app.user("dh").await, app.user("dh").await, app.user("dh").await);
    let own = format!("/messages/chat/{}", alice.id);
    let (status, body) = app.get(&own, &alice.access).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Cannot open a chat with yourself"})));
    // No DM yet: an empty history, and nothing created for either side.
    let (status, body) = app.get(&format!("/messages/chat/{}", bob.id), &alice.access).await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
    let (status, body) = app.get(&format!("/messages/chat/{}", alice.id), &bob.access).await;
    assert_eq!((status, body), (StatusCode::OK, json!([])));
    for who in [&alice, &bob] {
        assert_eq!(app.get("/messages/chats", &who.access).await, (StatusCode::OK, json!([])));
        assert_eq!(app.get("/rooms", &who.access).await.1, json!([]));
    }
    // With a DM of their own, asking for a chat with yourself still shows nobody's conversation.
    dm(&app, &bob, &carol, "between bob and carol").await;
    dm(&app, &alice, &bob, "first").await;
    let (status, body) = app.get(&own, &alice.access).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Cannot open a chat with yourself"})));
    let (_, chats) = app.get("/messages/chats", &alice.access).await;
    assert_eq!(chats.as_array().map(Vec::len), Some(1), "{chats}");
    assert_eq!(chats[0]["other_user_id"], bob.id);
    let (_, history) = app.get(&format!("/messages/chat/{}", bob.id), &alice.access).await;
    assert_eq!(contents(&history), ["first"]);
}

async fn group_routes_refuse_dm_rooms(app: TestApp) {
    let (alice, bob, carol) = (app.user("gd").await, app.user("gd").await, app.user("gd").await);
    // Alice's first message made the DM room, so she is its created_by.
    let room = dm(&app, &alice, &bob, "just us").await["chat_room_id"].as_i64().expect("room");
    let not_group = json!({"detail": "This is not a group chat"});
    for member in [&alice, &bob] {
        let (status, body) =
            app.post("/groups/send", &member.access, json!({"group_id": room, "content": "as a group"})).await;
        assert_eq!((status, &body), (StatusCode::BAD_REQUEST, &not_group));
        let (status, body) = app.get(&format!("/groups/{room}/messages"), &member.access).await;
        assert_eq!((status, &body), (StatusCode::BAD_REQUEST, &not_group));
        let (status, body) = app.get(&format!("/groups/{room}/members"), &member.access).await;
        assert_eq!((status, &body), (StatusCode::BAD_REQUEST, &not_group));
        // Managing members: the seed's authorization first (only the DM's creator, Alice, may
        // add or remove others), then the refusal of a DM.
        let is_creator = member.id == alice.id;
        let (status, body) =
            app.post(&format!("/groups/{room}/members"), &member.access, json!({"user_ids": [carol.id]})).await;
        let want = if is_creator { not_group.clone() } else { json!({"detail": "Only group creator can add members"}) };
        assert_eq!((status, &body), (StatusCode::FORBIDDEN, &want));
        for target in [&alice, &bob] {
            let (status, body) =
                app.delete(&format!("/groups/{room}/members"), &member.access, json!({"user_id": target.id})).await;
            let want = if is_creator || target.id == member.id {
                not_group.clone()
            } else {
                json!({"detail": "Not authorized to remove this member"})
            };
            assert_eq!((status, &body), (StatusCode::FORBIDDEN, &want));
        }
    }
    // The DM is untouched: still the two of them, still one message, no third member.
    let (_, history) = app.get(&format!("/messages/chat/{}", alice.id), &bob.access).await;
    assert_eq!(contents(&history), ["just us"]);
    assert_eq!(app.get(&format!("/rooms/{room}/messages"), &carol.access).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/messages/chats", &carol.access).await.1, json!([]));
    for who in [&alice, &bob] {
        assert_eq!(app.get("/groups/my-groups", &who.access).await.1, json!([]), "a DM is not a group");
        let (_, chats) = app.get("/messages/chats", &who.access).await;
        assert_eq!(chats.as_array().map(Vec::len), Some(1));
    }
}

async fn group_creation_rules(app: TestApp) {
    let (owner, a, b, c) = (app.user("gr").await, app.user("gr").await, app.user("gr").await, app.user("gr").await);
    let create = |body: Value| app.post("/groups/create", &owner.access, body);
    let (status, body) = create(json!({"name": "nobody", "member_ids": []})).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": [{
                "type": "too_short",
                "loc": ["body", "member_ids"],
                "msg": "List should have at least 1 item after validation, not 0",
                "input": [],
                "ctx": {"field_type": "List", "min_length": 1, "actual_length": 0},
                "url": "https://errors.pydantic.dev/2.5/v/too_short",
            }]})
        )
    );
    // Names: 1-100 characters, kept as written, but something visible and nothing unsafe.
    for (name, msg) in [
        ("   ", "Value error, Group name must contain a visible character"),
        ("\u{a0}\u{3000} ", "Value error, Group name must contain a visible character"),
        ("\u{200b}", "Value error, Group name must contain a visible character"),
        ("bell\u{7}", "Value error, Group name must not contain control characters"),
        ("tab\tnewline\n", "Value error, Group name must not contain control characters"),
    ] {
        let (status, body) = create(json!({"name": name, "member_ids": [a.id]})).await;
        assert_eq!(
            (status, body),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"detail": [{"type": "value_error", "loc": ["body", "name"], "msg": msg, "input": name,
                    "ctx": {"error": {}}, "url": "https://errors.pydantic.dev/2.5/v/value_error"}]})
            ),
            "{name:?}"
        );
    }
    let (status, body) = create(json!({"name": "n".repeat(101), "member_ids": [a.id]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "string_too_long");
    assert_eq!(body["detail"][0]["ctx"], json!({"max_length": 100}));
    for name in ["  Padded name  ", "x", &"n".repeat(100)] {
        let (status, body) = create(json!({"name": name, "member_ids": [a.id]})).await;
        assert_eq!((status, body["group"]["name"].as_str()), (StatusCode::CREATED, Some(name)));
    }
    // The first unknown id, in list order, is named; nothing is created.
    let (status, body) = create(json!({"name": "ghosts", "member_ids": [a.id, 999_999_998, 999_999_999]})).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "User with ID 999999998 not found"})));
    // Duplicates are counted once (the seed failed on them).
    let (status, body) = create(json!({"name": "dups", "member_ids": [a.id, a.id, b.id, owner.id, b.id]})).await;
    assert_eq!((status, body["group"]["member_count"].as_i64()), (StatusCode::CREATED, Some(3)), "{body}");
    let gid = body["group"]["id"].as_i64().expect("id");
    let (status, body) =
        app.post(&format!("/groups/{gid}/members"), &owner.access, json!({"user_ids": [c.id, c.id, a.id]})).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"message": "Successfully added 1 members", "members_added": 1}))
    );
    let (_, members) = app.get(&format!("/groups/{gid}/members"), &c.access).await;
    let ids: Vec<i64> = members.as_array().expect("list").iter().map(|m| m["user_id"].as_i64().expect("id")).collect();
    assert_eq!(ids.len(), 4, "{members}");
    for id in [owner.id, a.id, b.id, c.id] {
        assert!(ids.contains(&id), "{members}");
    }
    let (_, groups) = app.get("/groups/my-groups", &c.access).await;
    assert_eq!(groups[0]["member_count"], 4);
    let (_, groups) = app.get("/groups/my-groups", &a.access).await;
    assert_eq!(groups.as_array().map(Vec::len), Some(4), "x, padded, 100 chars, dups: {groups}");
}

async fn my_groups_in_join_order(app: TestApp) {
    let (owner, me, other) = (app.user("jo").await, app.user("jo").await, app.user("jo").await);
    let older = group(&app, &owner, &[&other], "older, joined last").await;
    let first = group(&app, &owner, &[&me], "joined first").await;
    let mine = group(&app, &me, &[&owner], "mine").await;
    let (status, _) = app.post(&format!("/groups/{older}/members"), &owner.access, json!({"user_ids": [me.id]})).await;
    assert_eq!(status, StatusCode::OK);
    // Activity does not reorder the list.
    say(&app, &owner, first, "first").await;
    say(&app, &owner, older, "newest activity").await;
    let ids = |list: &Value| -> Vec<i64> {
        list.as_array().expect("list").iter().map(|g| g["id"].as_i64().expect("id")).collect()
    };
    let (status, groups) = app.get("/groups/my-groups", &me.access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&groups), [first, mine, older]);
    assert_eq!(groups[2]["last_message"], "newest activity");
    assert_eq!(groups[1]["last_message"], Value::Null);
    assert_eq!(groups[1]["last_message_time"], Value::Null);
    assert_eq!(ids(&app.get("/groups/my-groups", &owner.access).await.1), [older, first, mine]);
    // Leaving and being added back counts as joining again.
    let (status, _) = app.delete(&format!("/groups/{first}/members"), &me.access, json!({"user_id": me.id})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.post(&format!("/groups/{first}/members"), &owner.access, json!({"user_ids": [me.id]})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&app.get("/groups/my-groups", &me.access).await.1), [mine, older, first]);
}
