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
    creator_leaving_hands_the_group_over,
    non_members_get_nothing_and_learn_nothing,
    pagination_offset_and_cursors_agree,
    unread_counts_for_three_readers,
    fifty_concurrent_sends_are_gap_free,
    client_id_makes_rest_sends_idempotent,
    finding_people_by_name,
    deleted_accounts_leave_their_messages,
    rooms_list_and_sync_catch_up,
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
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Cannot send a message to yourself"})));
    let (status, body) = send(json!("hi"), 999_999_999).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"detail": "User not found"})));
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
    let (status, _) = app
        .request(reqwest::Method::POST, "/messages/send", None, Some(json!({"recipient_id": bob.id, "content": "x"})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Failed attempts created nothing: exactly one DM with one message.
    let (_, chats) = app.get("/messages/chats", &alice.access).await;
    assert_eq!(chats.as_array().map(Vec::len), Some(1), "{chats}");
    let (status, _) = app.get("/messages/chat/999999999", &alice.access).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&format!("/messages/chat/{}?limit=0", bob.id), &alice.access).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn chats_list_one_entry_per_dm_newest_first(app: TestApp) {
    let (me, bob, carol) = (app.user("me").await, app.user("bob").await, app.user("carol").await);
    dm(&app, &me, &bob, "to bob").await;
    dm(&app, &carol, &me, "from carol 1").await;
    dm(&app, &carol, &me, "from carol 2").await;
    dm(&app, &bob, &me, "bob again").await;
    let (status, chats) = app.get("/messages/chats", &me.access).await;
    assert_eq!(status, StatusCode::OK);
    let chats = chats.as_array().expect("list").clone();
    assert_eq!(chats.len(), 2);
    assert_eq!(chats[0]["user_id"], bob.id, "newest activity first");
    assert_eq!(chats[0]["username"], bob.username.as_str());
    assert_eq!(chats[0]["full_name"], "bob Tester");
    assert_eq!(chats[0]["last_message"], "bob again");
    assert_eq!(chats[0]["unread_count"], 1);
    assert_eq!(chats[1]["user_id"], carol.id);
    assert_eq!(chats[1]["unread_count"], 2);
    assert!(chats[1]["last_message_time"].is_string());
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
    assert_eq!((g["name"].as_str(), g["room_type"].as_str()), (Some("Team Discussion"), Some("group")));
    assert_eq!(g["created_by"], owner.id);
    assert_eq!(g["member_count"], 2, "creator included, duplicates ignored");
    let gid = g["id"].as_i64().expect("id");

    let (_, solo) = app.post("/groups/create", &owner.access, json!({"name": "Just me", "member_ids": []})).await;
    assert_eq!(solo["group"]["member_count"], 1);
    for bad in [
        json!({"name": "", "member_ids": []}),
        json!({"name": "n".repeat(101), "member_ids": []}),
        json!({"member_ids": []}),
    ] {
        assert_eq!(app.post("/groups/create", &owner.access, bad).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, body) =
        app.post("/groups/create", &owner.access, json!({"name": "x", "member_ids": [999_999_999]})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    say(&app, &a, gid, "hello team").await;
    let (status, history) = app.get(&format!("/groups/{gid}/messages?limit=50"), &owner.access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(contents(&history), ["hello team"]);

    // Only the creator adds; existing members are ignored in the count.
    let (status, _) = app.post(&format!("/groups/{gid}/members"), &a.access, json!({"user_ids": [b.id]})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) =
        app.post(&format!("/groups/{gid}/members"), &owner.access, json!({"user_ids": [b.id, c.id, a.id]})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"message": "Successfully added 2 members", "members_added": 2}));
    let (_, members) = app.get(&format!("/groups/{gid}/members"), &b.access).await;
    let names: Vec<&str> =
        members.as_array().expect("list").iter().map(|m| m["username"].as_str().expect("name")).collect();
    assert_eq!(names, [owner.username.as_str(), a.username.as_str(), b.username.as_str(), c.username.as_str()]);
    assert_eq!(members[0]["is_creator"], true);

    let (_, groups) = app.get("/groups/my-groups", &b.access).await;
    assert_eq!(groups[0]["id"], gid);
    assert_eq!(groups[0]["member_count"], 4);
    assert_eq!(groups[0]["last_message"], "hello team");
    assert_eq!(groups[0]["unread_count"], 1);

    // A member may not remove another; the creator may; anyone may leave.
    let (status, _) = app.delete(&format!("/groups/{gid}/members"), &a.access, json!({"user_id": b.id})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app.delete(&format!("/groups/{gid}/members"), &owner.access, json!({"user_id": b.id})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"message": "Member removed successfully"})));
    let (status, body) = app.delete(&format!("/groups/{gid}/members"), &c.access, json!({"user_id": c.id})).await;
    assert_eq!((status, body["message"].as_str()), (StatusCode::OK, Some("Left group successfully")));
    let (status, _) = app.delete(&format!("/groups/{gid}/members"), &owner.access, json!({"user_id": b.id})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no longer a member");

    // Removed and departed members lose access at once.
    for gone in [&b, &c] {
        let (status, body) = app.get(&format!("/groups/{gid}/messages"), &gone.access).await;
        assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"detail": "Group not found"})));
        let (status, _) =
            app.post("/groups/send", &gone.access, json!({"group_id": gid, "content": "let me in"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, groups) = app.get("/groups/my-groups", &gone.access).await;
        assert_eq!(groups, json!([]));
    }
}

async fn creator_leaving_hands_the_group_over(app: TestApp) {
    let (owner, first, second) = (app.user("ho").await, app.user("h1").await, app.user("h2").await);
    let gid = group(&app, &owner, &[&first], "handover").await;
    app.post(&format!("/groups/{gid}/members"), &owner.access, json!({"user_ids": [second.id]})).await;
    let (status, _) = app.delete(&format!("/groups/{gid}/members"), &owner.access, json!({"user_id": owner.id})).await;
    assert_eq!(status, StatusCode::OK);
    let (_, members) = app.get(&format!("/groups/{gid}/members"), &first.access).await;
    assert_eq!(members[0]["user_id"], first.id);
    assert_eq!(members[0]["is_creator"], true, "the longest-standing member now owns the group: {members}");
    // The new owner has the creator's powers.
    let (status, _) = app.delete(&format!("/groups/{gid}/members"), &first.access, json!({"user_id": second.id})).await;
    assert_eq!(status, StatusCode::OK);
    // The last member leaving deletes the group.
    let (status, _) = app.delete(&format!("/groups/{gid}/members"), &first.access, json!({"user_id": first.id})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get(&format!("/groups/{gid}/messages"), &first.access).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
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
            (reqwest::Method::GET, format!("/rooms/{room}/messages"), None),
            (reqwest::Method::POST, format!("/rooms/{room}/read"), Some(json!({"up_to": 1}))),
        ]
    };
    for room in [gid, dm_room] {
        for ((method, path, body), (_, missing_path, missing_body)) in probes(room).into_iter().zip(probes(missing)) {
            let seen = app.request(method.clone(), &path, Some(&stranger.access), body).await;
            let absent = app.request(method, &missing_path, Some(&stranger.access), missing_body).await;
            assert_eq!(seen.0, StatusCode::NOT_FOUND, "{path}: {}", seen.1);
            assert_eq!(seen, absent, "{path}: same answer as for a room that does not exist");
            assert!(!seen.1.to_string().contains("classified") && !seen.1.to_string().contains("private"));
        }
    }
    let (_, rooms) = app.get("/rooms", &stranger.access).await;
    assert_eq!(rooms, json!([]));
    let (_, sync) = app.post("/sync", &stranger.access, json!({"rooms": {gid.to_string(): 0}})).await;
    assert_eq!(sync["messages"], json!([]), "sync never returns rooms you are not in");
    // A DM room is not a group, even for its members.
    let (status, _) = app.get(&format!("/groups/{dm_room}/messages"), &member.access).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
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
    let (_, history) = app.get(&format!("/groups/{gid}/messages"), &a.access).await;
    let flags: Vec<bool> =
        history.as_array().expect("list").iter().map(|m| m["is_read"].as_bool().expect("flag")).collect();
    assert_eq!(flags, [true, true, true, false], "everyone but the sender read 1-3; A has not read B's");
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
