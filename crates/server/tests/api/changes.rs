//! Messages that change after they were sent (issue 14): edits, deletions (tombstones),
//! reactions, replies, read receipts ("Seen by"), the `message_updated` frame, and sync
//! replaying every change in its final state — on both backends, against `docs/PROTOCOL.md`.
//!
//! Bodies and frames are read as `serde_json::Value`, so the assertions pin the wire format
//! itself (exact fields), whatever the Rust types behind it are called.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    helpers::{dm, group, say},
    helpers::{unique, Backend, Storage, TestApp, TestUser},
    ws::{frames_of, Ws},
};

backend_tests!(
    changes_need_membership_and_authorship,
    group_creators_may_delete_any_message_but_edit_none,
    edits_follow_the_sending_rules_and_show_in_history,
    deletion_leaves_a_tombstone_and_erases_the_text,
    reactions_are_sets_per_user_in_first_use_order,
    reaction_emoji_must_be_one_emoji,
    a_message_takes_at_most_fifty_kinds_of_reaction,
    replies_carry_a_live_preview_of_the_original,
    replies_must_stay_in_their_room,
    every_change_reaches_every_device_in_seq_order,
    read_receipts_are_listed_and_sent_to_the_other_members,
    sync_replays_each_change_once_in_its_final_state,
    unread_counts_count_messages_only,
    changes_count_against_the_send_rate_limit,
    a_deleted_accounts_reactions_and_replies_stay,
);

const THUMBS: &str = "\u{1F44D}";
const THUMBS_MEDIUM: &str = "\u{1F44D}\u{1F3FD}";
const FRANCE: &str = "\u{1F1EB}\u{1F1F7}";
const CODER: &str = "\u{1F469}\u{200D}\u{1F4BB}";
const HEART: &str = "\u{2764}\u{FE0F}";
const PARTY: &str = "\u{1F389}";

// ---------------------------------------------------------------------------------------------
// Helpers

/// Every byte percent-encoded, as a client puts an emoji in a path (`%F0%9F%91%8D`).
fn enc(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

async fn call(app: &TestApp, method: Method, path: &str, who: &TestUser, body: Option<Value>) -> (StatusCode, Value) {
    app.request(method, path, Some(&who.access), body).await
}

/// `PATCH /messages/{id}`.
async fn edit(app: &TestApp, who: &TestUser, id: i64, content: &str) -> (StatusCode, Value) {
    call(app, Method::PATCH, &format!("/messages/{id}"), who, Some(json!({"content": content}))).await
}

/// `DELETE /messages/{id}` (no body).
async fn remove(app: &TestApp, who: &TestUser, id: i64) -> (StatusCode, Value) {
    call(app, Method::DELETE, &format!("/messages/{id}"), who, None).await
}

/// `PUT /messages/{id}/reactions/{emoji}`, the emoji percent-encoded.
async fn react(app: &TestApp, who: &TestUser, id: i64, emoji: &str) -> (StatusCode, Value) {
    call(app, Method::PUT, &format!("/messages/{id}/reactions/{}", enc(emoji)), who, None).await
}

/// `DELETE /messages/{id}/reactions/{emoji}`, the emoji percent-encoded.
async fn unreact(app: &TestApp, who: &TestUser, id: i64, emoji: &str) -> (StatusCode, Value) {
    call(app, Method::DELETE, &format!("/messages/{id}/reactions/{}", enc(emoji)), who, None).await
}

/// A change that must succeed: its 200 answer (a Message).
async fn ok(answer: impl std::future::Future<Output = (StatusCode, Value)>) -> Value {
    let (status, body) = answer.await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A room's whole history (up to 100 messages) as `who` sees it, oldest first.
async fn history(app: &TestApp, who: &TestUser, room: i64) -> Vec<Value> {
    let (status, body) = app.get(&format!("/rooms/{room}/messages?limit=100"), &who.access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("list").clone()
}

/// One message of a room's history, as `who` sees it.
async fn message_in(app: &TestApp, who: &TestUser, room: i64, id: i64) -> Value {
    history(app, who, room).await.into_iter().find(|m| m["id"] == id).unwrap_or_else(|| panic!("message {id} listed"))
}

/// `who`'s summary of `room` from `GET /rooms`.
async fn summary(app: &TestApp, who: &TestUser, room: i64) -> Value {
    let (status, rooms) = app.get("/rooms", &who.access).await;
    assert_eq!(status, StatusCode::OK, "{rooms}");
    rooms.as_array().expect("rooms").iter().find(|r| r["room_id"] == room).cloned().expect("room listed")
}

async fn last_seq(app: &TestApp, who: &TestUser, room: i64) -> i64 {
    summary(app, who, room).await["last_seq"].as_i64().expect("last_seq")
}

fn id_of(m: &Value) -> i64 {
    m["id"].as_i64().unwrap_or_else(|| panic!("a message id: {m}"))
}

fn seq_of(m: &Value) -> i64 {
    m["seq"].as_i64().unwrap_or_else(|| panic!("a seq: {m}"))
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap_or_else(|| panic!("an object: {v}")).keys().map(String::as_str).collect()
}

/// `v` without the named top-level fields (e.g. `is_read`, which reading history changes).
fn without(v: &Value, fields: &[&str]) -> Value {
    let mut v = v.clone();
    let object = v.as_object_mut().unwrap_or_else(|| panic!("an object"));
    for f in fields {
        object.remove(*f);
    }
    v
}

/// One entry of a message's `reactions`.
fn reaction(emoji: &str, user_ids: &[i64], me: bool) -> Value {
    json!({"emoji": emoji, "count": user_ids.len(), "user_ids": user_ids, "me": me})
}

/// The `reply_to` of a reply to `original`.
fn preview(original: &Value, content: &str, deleted: bool) -> Value {
    json!({
        "id": original["id"],
        "sender_id": original["sender_id"],
        "sender_username": original["sender_username"],
        "content": content,
        "deleted": deleted,
    })
}

fn not_found() -> Value {
    json!({"detail": "Message not found"})
}

/// The seed's time form: naive UTC, `T`-separated, no offset, six fraction digits or none.
fn time_of(t: &Value) -> chrono::NaiveDateTime {
    let s = t.as_str().unwrap_or_else(|| panic!("a time string: {t}"));
    assert!(!s.ends_with('Z') && !s.contains('+'), "no offset: {s}");
    assert_eq!(s.as_bytes().get(10), Some(&b'T'), "{s}");
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    assert_eq!(whole.len(), 19, "{s}");
    assert!(fraction.is_empty() || fraction.len() == 6, "six fraction digits or none: {s}");
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// `m` is the tombstone of `original`: same message, same place, nothing of its content left.
fn assert_tombstone(m: &Value, original: &Value) {
    assert_eq!(m["id"], original["id"], "{m}");
    assert_eq!(m["seq"], original["seq"], "{m}");
    assert_eq!(m["room_id"], original["room_id"], "{m}");
    assert_eq!(m["sender_id"], original["sender_id"], "{m}");
    assert_eq!(m["created_at"], original["created_at"], "{m}");
    assert_eq!(m["content"], "", "{m}");
    assert_eq!(m["reactions"], json!([]), "{m}");
    assert_eq!(m["reply_to"], Value::Null, "{m}");
    let deleted = time_of(&m["deleted_at"]);
    assert!(deleted >= time_of(&original["created_at"]), "{m}");
}

/// The tables of the storage's database holding `needle` anywhere in a row, with how many rows:
/// read behind the server's back, every column of every table.
async fn tables_holding(storage: &Storage, needle: &str) -> Vec<(String, i64)> {
    use sqlx::Connection as _;
    let mut found = Vec::new();
    match storage.backend {
        Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(&storage.database_url).await.expect("connect");
            let tables: Vec<String> =
                sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                    .fetch_all(&mut db)
                    .await
                    .expect("tables");
            for table in tables {
                let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
                    .bind(table.as_str())
                    .fetch_all(&mut db)
                    .await
                    .expect("columns");
                let test: Vec<String> =
                    columns.iter().map(|c| format!(r#"instr(CAST("{c}" AS TEXT), $1) > 0"#)).collect();
                let sql = format!(r#"SELECT COUNT(*) FROM "{table}" WHERE {}"#, test.join(" OR "));
                let rows: i64 =
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(needle).fetch_one(&mut db).await.expect("scan");
                if rows > 0 {
                    found.push((table, rows));
                }
            }
            db.close().await.expect("close");
        }
        Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(&storage.database_url).await.expect("connect");
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )
            .fetch_all(&mut db)
            .await
            .expect("tables");
            for table in tables {
                let sql = format!(r#"SELECT COUNT(*) FROM "{table}" AS r WHERE strpos(r::text, $1) > 0"#);
                let rows: i64 =
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(needle).fetch_one(&mut db).await.expect("scan");
                if rows > 0 {
                    found.push((table, rows));
                }
            }
            db.close().await.expect("close");
        }
    }
    found
}

/// `messages` rows whose content holds `needle`.
async fn message_rows_holding(storage: &Storage, needle: &str) -> i64 {
    use sqlx::Connection as _;
    match storage.backend {
        Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(&storage.database_url).await.expect("connect");
            sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE instr(content, $1) > 0")
                .bind(needle)
                .fetch_one(&mut db)
                .await
                .expect("count")
        }
        Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(&storage.database_url).await.expect("connect");
            sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE strpos(content, $1) > 0")
                .bind(needle)
                .fetch_one(&mut db)
                .await
                .expect("count")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Authorization

/// The four changes of one message: (method, path, body).
fn change_probes(id: i64) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::PATCH, format!("/messages/{id}"), Some(json!({"content": "not yours"}))),
        (Method::DELETE, format!("/messages/{id}"), None),
        (Method::PUT, format!("/messages/{id}/reactions/{}", enc(THUMBS)), None),
        (Method::DELETE, format!("/messages/{id}/reactions/{}", enc(THUMBS)), None),
    ]
}

async fn changes_need_membership_and_authorship(app: TestApp) {
    let (alice, bob, carol) = (app.user("au").await, app.user("au").await, app.user("au").await);
    let m = dm(&app, &alice, &bob, "alice's words").await;
    let (id, room) = (id_of(&m), m["room_id"].as_i64().expect("room"));
    let bobs = dm(&app, &bob, &alice, "bob's words").await;
    let seq_before = last_seq(&app, &alice, room).await;

    // A stranger learns nothing: the same 404 whether the message exists or not.
    for target in [id, id_of(&bobs), 999_999_999] {
        for (method, path, body) in change_probes(target) {
            let got = call(&app, method.clone(), &path, &carol, body).await;
            assert_eq!(got, (StatusCode::NOT_FOUND, not_found()), "{method} {path} by a stranger");
        }
    }
    // A member asking about a message that does not exist: the same 404.
    for (method, path, body) in change_probes(999_999_999) {
        let got = call(&app, method.clone(), &path, &alice, body).await;
        assert_eq!(got, (StatusCode::NOT_FOUND, not_found()), "{method} {path}");
    }
    // Read positions are for members only.
    let room_not_found = (StatusCode::NOT_FOUND, json!({"detail": "Room not found"}));
    assert_eq!(app.get(&format!("/rooms/{room}/reads"), &carol.access).await, room_not_found);
    assert_eq!(app.get("/rooms/999999999/reads", &alice.access).await, room_not_found);

    // The other member of the DM: may not edit or delete it (reacting is fine, below).
    assert_eq!(
        edit(&app, &bob, id, "rewritten by bob").await,
        (StatusCode::FORBIDDEN, json!({"detail": "You can only edit your own messages"}))
    );
    assert_eq!(
        remove(&app, &bob, id).await,
        (StatusCode::FORBIDDEN, json!({"detail": "You can only delete your own messages"}))
    );
    // Alice made the DM room (her message came first), yet a DM has no moderator: Bob's message
    // is his alone.
    assert_eq!(
        remove(&app, &alice, id_of(&bobs)).await,
        (StatusCode::FORBIDDEN, json!({"detail": "You can only delete your own messages"}))
    );
    assert_eq!(
        edit(&app, &alice, id_of(&bobs), "rewritten by alice").await,
        (StatusCode::FORBIDDEN, json!({"detail": "You can only edit your own messages"}))
    );

    // Without credentials, or with bad ones, as everywhere else.
    let mut probes = change_probes(id);
    probes.push((Method::GET, format!("/rooms/{room}/reads"), None));
    for (method, path, body) in probes {
        let got = app.request(method.clone(), &path, None, body.clone()).await;
        assert_eq!(got, (StatusCode::FORBIDDEN, json!({"detail": "Not authenticated"})), "{method} {path}");
        let got = app.request(method.clone(), &path, Some("garbage"), body).await;
        assert_eq!(
            got,
            (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid authentication credentials"})),
            "{method} {path}"
        );
    }

    // Nothing any refused attempt tried changed anything, nor took a seq.
    let now = message_in(&app, &alice, room, id).await;
    assert_eq!(without(&now, &["is_read"]), without(&m, &["is_read"]));
    assert_eq!(now["content"], "alice's words");
    assert_eq!((&now["edited_at"], &now["deleted_at"], &now["reactions"]), (&Value::Null, &Value::Null, &json!([])));
    let now = message_in(&app, &alice, room, id_of(&bobs)).await;
    assert_eq!(without(&now, &["is_read"]), without(&bobs, &["is_read"]));
    assert_eq!(last_seq(&app, &bob, room).await, seq_before);
}

async fn group_creators_may_delete_any_message_but_edit_none(app: TestApp) {
    let (owner, p, q) = (app.user("gc").await, app.user("gc").await, app.user("gc").await);
    let gid = group(&app, &owner, &[&p, &q]).await;
    let pm = say(&app, &p, gid, "p's message").await;
    let om = say(&app, &owner, gid, "owner's message").await;
    let qm = say(&app, &q, gid, "q's message").await;

    let cannot_edit = (StatusCode::FORBIDDEN, json!({"detail": "You can only edit your own messages"}));
    let cannot_delete = (StatusCode::FORBIDDEN, json!({"detail": "You can only delete your own messages"}));
    assert_eq!(edit(&app, &q, id_of(&pm), "q edits p").await, cannot_edit);
    assert_eq!(remove(&app, &q, id_of(&pm)).await, cannot_delete, "a plain member may not delete another's");
    assert_eq!(remove(&app, &p, id_of(&om)).await, cannot_delete, "nor the creator's");
    assert_eq!(edit(&app, &owner, id_of(&pm), "owner edits p").await, cannot_edit, "the creator may not edit");
    assert_eq!(message_in(&app, &q, gid, id_of(&pm)).await["content"], "p's message");

    // The creator may delete a member's message: a tombstone everyone sees.
    let (status, tomb) = remove(&app, &owner, id_of(&pm)).await;
    assert_eq!(status, StatusCode::OK, "{tomb}");
    assert_tombstone(&tomb, &pm);
    for who in [&owner, &p, &q] {
        let seen = message_in(&app, who, gid, id_of(&pm)).await;
        assert_tombstone(&seen, &pm);
    }
    assert_eq!(
        edit(&app, &p, id_of(&pm), "p wants it back").await,
        (StatusCode::CONFLICT, json!({"detail": "This message was deleted"}))
    );

    // A member who left or was removed can no longer touch even their own messages.
    let (status, _) = app.delete(&format!("/groups/{gid}/members"), &owner.access, json!({"user_id": q.id})).await;
    assert_eq!(status, StatusCode::OK);
    for (method, path, body) in change_probes(id_of(&qm)) {
        let got = call(&app, method.clone(), &path, &q, body).await;
        assert_eq!(got, (StatusCode::NOT_FOUND, not_found()), "{method} {path} by a removed member");
    }
    assert_eq!(
        app.get(&format!("/rooms/{gid}/reads"), &q.access).await,
        (StatusCode::NOT_FOUND, json!({"detail": "Room not found"}))
    );
    let still = message_in(&app, &owner, gid, id_of(&qm)).await;
    assert_eq!((still["content"].as_str(), &still["reactions"]), (Some("q's message"), &json!([])));
}

// ---------------------------------------------------------------------------------------------
// Edits

async fn edits_follow_the_sending_rules_and_show_in_history(app: TestApp) {
    let (alice, bob) = (app.user("ed").await, app.user("ed").await);
    let m = dm(&app, &alice, &bob, "first draft").await;
    let (id, room) = (id_of(&m), m["room_id"].as_i64().expect("room"));
    assert_eq!(
        (&m["edited_at"], &m["deleted_at"], &m["reactions"], &m["reply_to"]),
        (&Value::Null, &Value::Null, &json!([]), &Value::Null),
        "a new message: {m}"
    );
    assert_eq!(keys(&m), crate::seed::MESSAGE_KEYS, "the seed's fields first, Banter's after");
    let seq0 = last_seq(&app, &alice, room).await;

    let edited = ok(edit(&app, &alice, id, "second thought")).await;
    assert_eq!(edited["content"], "second thought");
    assert!(time_of(&edited["edited_at"]) >= time_of(&m["created_at"]), "{edited}");
    let unchanged = ["content", "edited_at", "is_read"];
    assert_eq!(without(&edited, &unchanged), without(&m, &unchanged), "only the content and edited_at change");
    assert_eq!(keys(&edited), keys(&m));

    // The content rules are the sending rules; a refused edit changes nothing.
    for bad in [json!(""), json!("   \n\t "), json!("x".repeat(5001)), json!("nul \u{0} inside"), json!(5)] {
        let (status, body) =
            call(&app, Method::PATCH, &format!("/messages/{id}"), &alice, Some(json!({"content": bad}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", "content"]), "{body}");
    }
    let (status, body) = call(&app, Method::PATCH, &format!("/messages/{id}"), &alice, Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no content: {body}");
    assert_eq!(message_in(&app, &bob, room, id).await["content"], "second thought");
    assert_eq!(last_seq(&app, &alice, room).await, seq0 + 1, "one seq for the one edit, none for refusals");

    // 5,000 characters (10,000 bytes) is allowed, as for sending; then a final version.
    let long = ok(edit(&app, &alice, id, &"é".repeat(5000))).await;
    assert_eq!(long["content"].as_str().map(|c| c.chars().count()), Some(5000));
    let last = ok(edit(&app, &alice, id, "final words")).await;
    assert!(time_of(&last["edited_at"]) >= time_of(&edited["edited_at"]));

    // History shows the edit, for both members, in the message's own place.
    for who in [&alice, &bob] {
        let list = history(&app, who, room).await;
        assert_eq!(list.len(), 1, "an edit is not a new message: {list:?}");
        assert_eq!(without(&list[0], &["is_read"]), without(&last, &["is_read"]));
    }
    let s = summary(&app, &bob, room).await;
    assert_eq!(s["last_seq"], seq0 + 3, "each edit took the room's next seq");
    assert_eq!(s["last_message"]["content"], "final words");
    assert_eq!(s["last_message"]["edited_at"], last["edited_at"]);

    // A deleted message cannot be edited (or reacted to).
    ok(remove(&app, &alice, id)).await;
    let deleted = (StatusCode::CONFLICT, json!({"detail": "This message was deleted"}));
    assert_eq!(edit(&app, &alice, id, "undo").await, deleted);
    assert_eq!(react(&app, &bob, id, THUMBS).await, deleted);
    let after = message_in(&app, &bob, room, id).await;
    assert_eq!((after["content"].as_str(), &after["reactions"]), (Some(""), &json!([])));
    assert_eq!(last_seq(&app, &alice, room).await, seq0 + 4, "only the deletion took a seq");
}

// ---------------------------------------------------------------------------------------------
// Deletion

async fn deletion_leaves_a_tombstone_and_erases_the_text(app: TestApp) {
    let (alice, bob) = (app.user("del").await, app.user("del").await);
    let (secret, revised, kept) = (unique("secretword"), unique("revisedword"), unique("keptword"));
    let question = dm(&app, &bob, &alice, "what is the plan?").await;
    let room = question["room_id"].as_i64().expect("room");
    let (status, sent) = app
        .post(
            "/messages/send",
            &alice.access,
            json!({"recipient_id": bob.id, "content": format!("the plan is {secret}"), "reply_to_id": id_of(&question)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let m = sent["data"].clone();
    let id = id_of(&m);
    ok(edit(&app, &alice, id, &format!("revised: {revised}"))).await;
    ok(react(&app, &bob, id, THUMBS)).await;
    let after = dm(&app, &bob, &alice, &format!("after it {kept}")).await;
    // Seen from the database before: the scan finds what is there.
    assert_eq!(tables_holding(&app.storage, &revised).await, [("messages".to_owned(), 1)]);

    let mut bw = Ws::subscribed(&app, &bob.access).await;
    let (status, tomb) = remove(&app, &alice, id).await;
    assert_eq!(status, StatusCode::OK, "{tomb}");
    assert_tombstone(&tomb, &m);
    assert_eq!(tomb["reply_to"], Value::Null, "a tombstone answers nothing");
    let update = bw.expect("message_updated").await;
    assert_eq!(keys(&update), ["type", "room_id", "seq", "message"]);
    assert_eq!((update["room_id"].as_i64(), update["seq"].as_i64()), (Some(room), Some(seq_of(&after) + 1)));
    assert_eq!(without(&update["message"], &["is_read"]), without(&tomb, &["is_read"]));

    // Deleting again: 200, the same tombstone, no new event.
    let (status, again) = remove(&app, &alice, id).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(without(&again, &["is_read"]), without(&tomb, &["is_read"]), "changes nothing");
    let control = dm(&app, &alice, &bob, "control").await;
    let frames = bw.until("new_message").await;
    assert!(frames.iter().all(|f| f["type"] != "message_updated"), "no second message_updated: {frames:?}");
    assert_eq!(seq_of(&control), seq_of(&update) + 1, "the second deletion took no seq");

    // History keeps it in its place: same id, same seq, between the same neighbours.
    for who in [&alice, &bob] {
        let list = history(&app, who, room).await;
        let places: Vec<(i64, i64)> = list.iter().map(|m| (id_of(m), seq_of(m))).collect();
        let expected: Vec<(i64, i64)> =
            [&question, &m, &after, &control].iter().map(|m| (id_of(m), seq_of(m))).collect();
        assert_eq!(places, expected);
        assert_eq!(without(&list[1], &["is_read"]), without(&tomb, &["is_read"]));
        assert_eq!(list[2]["content"], format!("after it {kept}"));
    }
    // The newest message deleted: the conversation list shows its tombstone.
    let tomb2 = ok(remove(&app, &alice, id_of(&control))).await;
    let s = summary(&app, &bob, room).await;
    assert_tombstone(&s["last_message"], &control);
    assert_eq!(without(&s["last_message"], &["is_read"]), without(&tomb2, &["is_read"]));

    // Gone from the database, not only hidden: both the first and the edited text.
    for text in [secret.as_str(), revised.as_str()] {
        assert_eq!(message_rows_holding(&app.storage, text).await, 0, "{text} still in messages");
        assert_eq!(tables_holding(&app.storage, text).await, Vec::<(String, i64)>::new(), "{text} still stored");
    }
    assert_eq!(message_rows_holding(&app.storage, &kept).await, 1, "other messages are untouched");
}

// ---------------------------------------------------------------------------------------------
// Reactions

async fn reactions_are_sets_per_user_in_first_use_order(app: TestApp) {
    let (alice, bob) = (app.user("re").await, app.user("re").await);
    let m = dm(&app, &alice, &bob, "react to me").await;
    let (id, room) = (id_of(&m), m["room_id"].as_i64().expect("room"));
    let seq0 = last_seq(&app, &alice, room).await;
    let (a, b) = (alice.id, bob.id);

    // Twice by the same user is one reaction. `me` is the caller's.
    for _ in 0..2 {
        let r = ok(react(&app, &alice, id, THUMBS)).await;
        assert_eq!(r["reactions"], json!([reaction(THUMBS, &[a], true)]));
        let same = ["reactions", "is_read"];
        assert_eq!(without(&r, &same), without(&m, &same), "a reaction is no edit: {r}");
    }
    // The literal form from the protocol document, lower-case hex too.
    let path = format!("/messages/{id}/reactions/%F0%9F%91%8D");
    let r = ok(call(&app, Method::PUT, &path, &alice, None)).await;
    assert_eq!(r["reactions"], json!([reaction(THUMBS, &[a], true)]));
    let r = ok(call(&app, Method::PUT, &path.to_lowercase(), &alice, None)).await;
    assert_eq!(r["reactions"], json!([reaction(THUMBS, &[a], true)]));
    assert_eq!(message_in(&app, &bob, room, id).await["reactions"], json!([reaction(THUMBS, &[a], false)]));

    // A second user: count 2, in the order they reacted; new emoji after the first used.
    let r = ok(react(&app, &bob, id, THUMBS)).await;
    assert_eq!(r["reactions"], json!([reaction(THUMBS, &[a, b], true)]));
    let r = ok(react(&app, &bob, id, FRANCE)).await;
    assert_eq!(r["reactions"], json!([reaction(THUMBS, &[a, b], true), reaction(FRANCE, &[b], true)]));
    let r = ok(react(&app, &alice, id, CODER)).await;
    assert_eq!(
        r["reactions"],
        json!([reaction(THUMBS, &[a, b], true), reaction(FRANCE, &[b], false), reaction(CODER, &[a], true)])
    );
    ok(react(&app, &alice, id, THUMBS_MEDIUM)).await;
    let r = ok(react(&app, &bob, id, HEART)).await;
    let for_bob = json!([
        reaction(THUMBS, &[a, b], true),
        reaction(FRANCE, &[b], true),
        reaction(CODER, &[a], false),
        reaction(THUMBS_MEDIUM, &[a], false),
        reaction(HEART, &[b], true),
    ]);
    let for_alice = json!([
        reaction(THUMBS, &[a, b], true),
        reaction(FRANCE, &[b], false),
        reaction(CODER, &[a], true),
        reaction(THUMBS_MEDIUM, &[a], true),
        reaction(HEART, &[b], false),
    ]);
    assert_eq!(r["reactions"], for_bob);
    assert_eq!(keys(&r["reactions"][0]), ["emoji", "count", "user_ids", "me"]);
    assert_eq!(message_in(&app, &alice, room, id).await["reactions"], for_alice);
    assert_eq!(message_in(&app, &bob, room, id).await["reactions"], for_bob);
    let (_, rooms) = app.get("/rooms", &alice.access).await;
    assert_eq!(rooms[0]["last_message"]["reactions"], for_alice, "the conversation list's copy too");

    // Taking one back, twice: idempotent. An entry nobody holds any more is gone.
    for _ in 0..2 {
        let r = ok(unreact(&app, &bob, id, THUMBS)).await;
        assert_eq!(
            r["reactions"],
            json!([
                reaction(THUMBS, &[a], false),
                reaction(FRANCE, &[b], true),
                reaction(CODER, &[a], false),
                reaction(THUMBS_MEDIUM, &[a], false),
                reaction(HEART, &[b], true),
            ])
        );
    }
    let r = ok(unreact(&app, &alice, id, CODER)).await;
    let left = json!([
        reaction(THUMBS, &[a], true),
        reaction(FRANCE, &[b], false),
        reaction(THUMBS_MEDIUM, &[a], true),
        reaction(HEART, &[b], false),
    ]);
    assert_eq!(r["reactions"], left);
    // Removing what was never there is a 200 that changes nothing.
    let r = ok(unreact(&app, &alice, id, PARTY)).await;
    assert_eq!(r["reactions"], left);
    let r = ok(unreact(&app, &alice, id, HEART)).await;
    assert_eq!(r["reactions"], left, "Bob's heart is not Alice's to take");
    assert_eq!(message_in(&app, &alice, room, id).await["reactions"], left);
    let m_now = message_in(&app, &alice, room, id).await;
    assert_eq!((&m_now["content"], &m_now["edited_at"]), (&json!("react to me"), &Value::Null));

    // Seqs: one per actual change (a👍 b👍 b🇫🇷 a👩‍💻 a👍🏽 b❤️, then b-👍 a-👩‍💻), none for no-ops.
    assert_eq!(last_seq(&app, &alice, room).await, seq0 + 8);
}

async fn reaction_emoji_must_be_one_emoji(app: TestApp) {
    let (alice, bob) = (app.user("em").await, app.user("em").await);
    let m = dm(&app, &alice, &bob, "emoji rules").await;
    let (id, room) = (id_of(&m), m["room_id"].as_i64().expect("room"));
    let seq0 = last_seq(&app, &alice, room).await;
    let family = "\u{1F468}\u{1F3FD}\u{200D}\u{1F469}\u{1F3FD}\u{200D}\u{1F467}\u{1F3FD}\u{200D}\u{1F466}\u{1F3FD}";
    assert!(family.len() > 32, "one emoji, but {} bytes", family.len());
    let too_long = "x".repeat(33);
    for bad in ["a", "ab", "\u{1F44D}\u{1F44D}", " ", too_long.as_str(), family, "\u{1F44D}a"] {
        let (status, body) = react(&app, &alice, id, bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}: {body}");
        assert!(body["detail"].is_array() || body["detail"].is_string(), "{bad:?}: {body}");
    }
    // An empty emoji is no reaction path at all.
    let (status, body) = call(&app, Method::PUT, &format!("/messages/{id}/reactions/"), &alice, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "empty emoji: {body}");
    // Single emoji of every shape are fine: ZWJ sequences, flags, skin tones, variation selectors.
    let mut expected = Vec::new();
    for good in [CODER, FRANCE, THUMBS_MEDIUM, HEART, "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466}"] {
        let r = ok(react(&app, &alice, id, good)).await;
        expected.push(reaction(good, &[alice.id], true));
        assert_eq!(r["reactions"], json!(expected), "{good}");
    }
    assert_eq!(last_seq(&app, &alice, room).await, seq0 + 5, "the refusals took no seq");
}

async fn a_message_takes_at_most_fifty_kinds_of_reaction(app: TestApp) {
    let (alice, bob) = (app.user("k50").await, app.user("k50").await);
    let m = dm(&app, &alice, &bob, "so many feelings").await;
    let id = id_of(&m);
    // U+1F600… are all emoji (the Emoticons block).
    let emoji: Vec<String> = (0..51).map(|i| char::from_u32(0x1F600 + i).expect("a char").to_string()).collect();
    for (i, e) in emoji.iter().take(50).enumerate() {
        let who = if i % 2 == 0 { &alice } else { &bob };
        ok(react(&app, who, id, e)).await;
    }
    assert_eq!(
        react(&app, &alice, id, &emoji[50]).await,
        (StatusCode::BAD_REQUEST, json!({"detail": "This message has too many different reactions"}))
    );
    // A kind already there still takes more people.
    let r = ok(react(&app, &bob, id, &emoji[0])).await;
    let list = r["reactions"].as_array().expect("reactions");
    let order: Vec<&str> = list.iter().map(|x| x["emoji"].as_str().expect("emoji")).collect();
    let want: Vec<&str> = emoji.iter().take(50).map(String::as_str).collect();
    assert_eq!(order, want, "first use order");
    assert_eq!(list[0], reaction(&emoji[0], &[alice.id, bob.id], true));
}

// ---------------------------------------------------------------------------------------------
// Replies

async fn replies_carry_a_live_preview_of_the_original(app: TestApp) {
    let (alice, bob, carol) = (app.user("rp").await, app.user("rp").await, app.user("rp").await);
    // 250 characters, 400 bytes: the preview is the first 200 characters.
    let long = format!("{}{}", "ü".repeat(150), "x".repeat(100));
    let first_200 = format!("{}{}", "ü".repeat(150), "x".repeat(50));
    let original = dm(&app, &bob, &alice, &long).await;
    let room = original["room_id"].as_i64().expect("room");

    // Over REST.
    let (status, body) = app
        .post(
            "/messages/send",
            &alice.access,
            json!({"recipient_id": bob.id, "content": "answer over REST", "reply_to_id": id_of(&original)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let rest_reply = body["data"].clone();
    assert_eq!(rest_reply["reply_to"], preview(&original, &first_200, false));
    assert_eq!(keys(&rest_reply["reply_to"]), ["id", "sender_id", "sender_username", "content", "deleted"]);
    assert_eq!(rest_reply["reply_to"]["sender_username"], bob.username.as_str());
    assert_eq!(rest_reply["content"], "answer over REST");

    // Over WebSocket: the ack and every member's new_message carry it.
    let mut aw = Ws::connect(&app, &alice.access).await;
    let mut bw = Ws::subscribed(&app, &bob.access).await;
    aw.send(json!({"type": "message", "room_id": room, "content": "answer over WS", "client_id": "rp-1",
        "reply_to_id": id_of(&original)}))
        .await;
    let ack = aw.expect("ack").await;
    assert_eq!(ack["client_id"], "rp-1");
    assert_eq!(ack["message"]["reply_to"], preview(&original, &first_200, false));
    let ws_reply = ack["message"].clone();
    let live = bw.expect("new_message").await;
    assert_eq!(live["message"]["id"], ws_reply["id"]);
    assert_eq!(live["message"]["reply_to"], preview(&original, &first_200, false));

    // In a group, over REST.
    let gid = group(&app, &bob, &[&alice, &carol]).await;
    let question = say(&app, &bob, gid, "group question").await;
    let (status, body) = app
        .post(
            "/groups/send",
            &carol.access,
            json!({"group_id": gid, "content": "group answer", "reply_to_id": id_of(&question)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let group_reply = body["data"].clone();
    assert_eq!(group_reply["reply_to"], preview(&question, "group question", false));

    // The preview is the original as it is now: edited…
    ok(edit(&app, &bob, id_of(&original), "short now")).await;
    ok(edit(&app, &bob, id_of(&question), "better question")).await;
    for who in [&alice, &bob] {
        for reply in [&rest_reply, &ws_reply] {
            let seen = message_in(&app, who, room, id_of(reply)).await;
            assert_eq!(seen["reply_to"], preview(&original, "short now", false));
            assert_eq!(seen["edited_at"], Value::Null, "the reply itself was not edited");
        }
    }
    let seen = message_in(&app, &alice, gid, id_of(&group_reply)).await;
    assert_eq!(seen["reply_to"], preview(&question, "better question", false));

    // …and deleted.
    ok(remove(&app, &bob, id_of(&original))).await;
    ok(remove(&app, &bob, id_of(&question))).await;
    for who in [&alice, &bob] {
        for reply in [&rest_reply, &ws_reply] {
            let seen = message_in(&app, who, room, id_of(reply)).await;
            assert_eq!(seen["reply_to"], preview(&original, "", true));
            assert_eq!(seen["content"], reply["content"], "the reply stays");
        }
    }
    let seen = message_in(&app, &carol, gid, id_of(&group_reply)).await;
    assert_eq!(seen["reply_to"], preview(&question, "", true));
}

async fn replies_must_stay_in_their_room(app: TestApp) {
    let (alice, bob, carol) = (app.user("rr").await, app.user("rr").await, app.user("rr").await);
    let here = dm(&app, &alice, &bob, "in the DM").await;
    let room = here["room_id"].as_i64().expect("room");
    let gid = group(&app, &alice, &[&bob]).await;
    let there = say(&app, &bob, gid, "in the group").await;
    let (room_seq, group_seq) = (last_seq(&app, &alice, room).await, last_seq(&app, &alice, gid).await);

    let refused = |status: StatusCode, body: &Value, what: &str| {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", "reply_to_id"]), "{what}: {body}");
    };
    for reply_to in [id_of(&there), 999_999_999] {
        let (status, body) = app
            .post(
                "/messages/send",
                &alice.access,
                json!({"recipient_id": bob.id, "content": "x", "reply_to_id": reply_to}),
            )
            .await;
        refused(status, &body, "DM reply to another room's message");
    }
    for reply_to in [id_of(&here), 999_999_999] {
        let (status, body) = app
            .post("/groups/send", &alice.access, json!({"group_id": gid, "content": "x", "reply_to_id": reply_to}))
            .await;
        refused(status, &body, "group reply to another room's message");
    }
    // A first message to Carol answering the DM with Bob: refused, and no DM room is made.
    let (status, body) = app
        .post(
            "/messages/send",
            &alice.access,
            json!({"recipient_id": carol.id, "content": "x", "reply_to_id": id_of(&here)}),
        )
        .await;
    refused(status, &body, "a new DM replying elsewhere");
    assert_eq!(app.get("/messages/chats", &carol.access).await.1, json!([]));
    assert_eq!(app.get("/rooms", &carol.access).await.1, json!([]));

    // Over WebSocket: a validation_error for that send, nothing stored.
    let mut aw = Ws::connect(&app, &alice.access).await;
    for reply_to in [id_of(&there), 999_999_999] {
        aw.send(json!({"type": "message", "room_id": room, "content": "x", "client_id": "bad-reply", "reply_to_id": reply_to}))
            .await;
        let err = aw.expect("error").await;
        assert_eq!(
            (err["code"].as_str(), err["client_id"].as_str()),
            (Some("validation_error"), Some("bad-reply")),
            "{err}"
        );
    }
    aw.send(json!({"type": "ping"})).await;
    aw.expect("pong").await;

    let list = history(&app, &bob, room).await;
    assert_eq!(list.iter().map(id_of).collect::<Vec<_>>(), [id_of(&here)], "nothing stored");
    let list = history(&app, &bob, gid).await;
    assert_eq!(list.iter().map(id_of).collect::<Vec<_>>(), [id_of(&there)], "nothing stored");
    assert_eq!((last_seq(&app, &bob, room).await, last_seq(&app, &bob, gid).await), (room_seq, group_seq));
}

// ---------------------------------------------------------------------------------------------
// Live

async fn every_change_reaches_every_device_in_seq_order(app: TestApp) {
    let (alice, bob, carol) = (app.user("lv").await, app.user("lv").await, app.user("lv").await);
    let laptop_session = app.login(&alice).await;
    let m = dm(&app, &alice, &bob, "original").await;
    let (id, room) = (id_of(&m), m["room_id"].as_i64().expect("room"));
    dm(&app, &alice, &carol, "carol's own DM").await;
    let mut phone = Ws::subscribed(&app, &alice.access).await;
    let mut laptop = Ws::subscribed(&app, &laptop_session.access).await;
    let mut bw = Ws::subscribed(&app, &bob.access).await;
    let mut cw = Ws::subscribed(&app, &carol.access).await;

    // A reply over WebSocket: the ack and every device's new_message carry reply_to.
    bw.send(json!({"type": "message", "room_id": room, "content": "a reply", "client_id": "lv-1", "reply_to_id": id}))
        .await;
    let quoted = preview(&m, "original", false);
    let [ack, own] = <[Value; 2]>::try_from(frames_of(&mut bw, &["ack", "new_message"]).await).expect("two");
    assert_eq!(ack["message"]["reply_to"], quoted);
    assert_eq!(own["message"]["reply_to"], quoted);
    let reply_seq = seq_of(&ack["message"]);
    assert_eq!(reply_seq, seq_of(&m) + 1);
    for ws in [&mut phone, &mut laptop] {
        let frame = ws.expect("new_message").await;
        assert_eq!((frame["seq"].as_i64(), &frame["message"]["reply_to"]), (Some(reply_seq), &quoted));
    }

    // Four changes in a row, by both members.
    let edited = ok(edit(&app, &alice, id, "edited original")).await;
    let reacted = ok(react(&app, &bob, id, THUMBS)).await;
    let unreacted = ok(unreact(&app, &bob, id, THUMBS)).await;
    let deleted = ok(remove(&app, &alice, id)).await;
    assert_eq!(reacted["reactions"], json!([reaction(THUMBS, &[bob.id], true)]));
    assert_tombstone(&deleted, &m);

    for (ws, viewer) in [(&mut phone, alice.id), (&mut laptop, alice.id), (&mut bw, bob.id)] {
        let mut frames = Vec::new();
        for _ in 0..4 {
            let f = ws.expect("message_updated").await;
            assert_eq!(keys(&f), ["type", "room_id", "seq", "message"]);
            assert_eq!(f["room_id"], room);
            assert_eq!(f["message"]["id"], id);
            assert_eq!(f["message"]["seq"], m["seq"], "the message's own seq stays");
            frames.push(f);
        }
        let seqs: Vec<i64> = frames.iter().map(seq_of).collect();
        assert_eq!(seqs, (reply_seq + 1..=reply_seq + 4).collect::<Vec<_>>(), "consecutive, in order");
        let states: Vec<Value> = frames.iter().map(|f| without(&f["message"], &["is_read"])).collect();
        // Edit: the new content with edited_at; reaction: `me` as this device's user sees it.
        assert_eq!(states[0], without(&edited, &["is_read"]));
        assert_eq!(states[1]["reactions"], json!([reaction(THUMBS, &[bob.id], viewer == bob.id)]));
        assert_eq!(without(&states[1], &["reactions"]), without(&reacted, &["reactions", "is_read"]));
        assert_eq!(states[2], without(&unreacted, &["is_read"]));
        assert_eq!(states[3], without(&deleted, &["is_read"]));
        assert_eq!(states[1]["content"], "edited original");
    }

    // Someone outside the room hears none of it.
    dm(&app, &alice, &carol, "control").await;
    let frames = cw.until("new_message").await;
    assert!(frames.iter().all(|f| f["type"] != "message_updated" && f["room_id"] != room), "{frames:?}");
    assert_eq!(frames.last().expect("frame")["content"], "control");
    assert_eq!(last_seq(&app, &bob, room).await, reply_seq + 4);
}

// ---------------------------------------------------------------------------------------------
// Read receipts

async fn read_receipts_are_listed_and_sent_to_the_other_members(app: TestApp) {
    let (a, b, c) = (app.user("rc").await, app.user("rc").await, app.user("rc").await);
    let gid = group(&app, &a, &[&b, &c]).await;
    let app_ref = &app;
    let reads = move |viewer: &TestUser| {
        let path = format!("/rooms/{gid}/reads");
        let token = viewer.access.clone();
        let app = app_ref;
        async move {
            let (status, body) = app.get(&path, &token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let mut list = body.as_array().expect("list").clone();
            list.sort_by_key(|r| r["user_id"].as_i64());
            list
        }
    };
    let entry = |u: &TestUser, seq: i64| json!({"user_id": u.id, "username": u.username, "full_name": "rc Tester", "last_read_seq": seq});
    let mut members = [&a, &b, &c];
    members.sort_by_key(|u| u.id);

    let m1 = say(&app, &a, gid, "one").await;
    let m2 = say(&app, &a, gid, "two").await;
    // Everyone's position, as each sees their own in GET /rooms.
    let mut own = BTreeMap::new();
    for u in members {
        own.insert(u.id, summary(&app, u, gid).await["last_read_seq"].as_i64().expect("last_read_seq"));
    }
    let listed = reads(&c).await;
    assert_eq!(listed, members.iter().map(|u| entry(u, own[&u.id])).collect::<Vec<_>>());
    assert_eq!(keys(&listed[0]), ["user_id", "username", "full_name", "last_read_seq"]);
    assert_eq!(own[&b.id], 0, "B has read nothing yet");

    let b_laptop = app.login(&b).await;
    let mut aw = Ws::subscribed(&app, &a.access).await;
    let mut b1 = Ws::subscribed(&app, &b.access).await;
    let mut b2 = Ws::connect(&app, &b_laptop.access).await;
    let mut cs = Ws::subscribed(&app, &c.access).await;
    let mut cu = Ws::connect(&app, &c.access).await;

    // Over REST.
    let (status, body) = app.post(&format!("/rooms/{gid}/read"), &b.access, json!({"up_to": seq_of(&m1)})).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"room_id": gid, "last_read_seq": seq_of(&m1), "unread_count": 1}))
    );
    let seen_by = json!({"type": "read", "room_id": gid, "user_id": b.id, "last_read_seq": seq_of(&m1)});
    for ws in [&mut aw, &mut cs] {
        assert_eq!(ws.expect("read").await, seen_by, "the others: no unread_count");
    }
    let mine =
        json!({"type": "read", "room_id": gid, "user_id": b.id, "last_read_seq": seq_of(&m1), "unread_count": 1});
    for ws in [&mut b1, &mut b2] {
        assert_eq!(ws.expect("read").await, mine, "every device of the reader, with unread_count");
    }

    // Over WebSocket.
    b1.send(json!({"type": "read", "room_id": gid, "up_to": seq_of(&m2)})).await;
    let seen_by = json!({"type": "read", "room_id": gid, "user_id": b.id, "last_read_seq": seq_of(&m2)});
    for ws in [&mut aw, &mut cs] {
        assert_eq!(ws.expect("read").await, seen_by);
    }
    let mine =
        json!({"type": "read", "room_id": gid, "user_id": b.id, "last_read_seq": seq_of(&m2), "unread_count": 0});
    for ws in [&mut b1, &mut b2] {
        assert_eq!(ws.expect("read").await, mine);
    }
    // A connection of another member that is not subscribed to the room gets no "Seen by".
    cu.send(json!({"type": "ping"})).await;
    let frames = cu.until("pong").await;
    assert!(frames.iter().all(|f| f["type"] != "read"), "{frames:?}");
    // Nor does the reader hear about itself twice, nor the others about more than that.
    for ws in [&mut aw, &mut cs, &mut b1, &mut b2] {
        ws.send(json!({"type": "ping"})).await;
        let frames = ws.until("pong").await;
        assert!(frames.iter().all(|f| f["type"] != "read"), "{frames:?}");
    }

    own.insert(b.id, seq_of(&m2));
    for viewer in [&a, &b, &c] {
        assert_eq!(reads(viewer).await, members.iter().map(|u| entry(u, own[&u.id])).collect::<Vec<_>>());
    }
    // Read positions are state, not events: they took no seq.
    assert_eq!(last_seq(&app, &a, gid).await, seq_of(&m2));

    // In a DM too.
    let first = dm(&app, &a, &c, "dm").await;
    let room = first["room_id"].as_i64().expect("room");
    let (status, _) = app.post(&format!("/rooms/{room}/read"), &c.access, json!({"up_to": seq_of(&first)})).await;
    assert_eq!(status, StatusCode::OK);
    // (A's socket also gets the new room and its message first.)
    let frame = loop {
        let f = aw.expect_skipping("read").await;
        if f["user_id"] == c.id {
            break f;
        }
    };
    assert_eq!(frame, json!({"type": "read", "room_id": room, "user_id": c.id, "last_read_seq": seq_of(&first)}));
    let (status, body) = app.get(&format!("/rooms/{room}/reads"), &a.access).await;
    assert_eq!(status, StatusCode::OK);
    let c_entry = body.as_array().expect("list").iter().find(|r| r["user_id"] == c.id).cloned();
    assert_eq!(c_entry, Some(entry(&c, seq_of(&first))));
    assert_eq!(body.as_array().map(Vec::len), Some(2));
}

// ---------------------------------------------------------------------------------------------
// Sync

/// `POST /sync` from `positions`: the answer.
async fn sync(app: &TestApp, who: &TestUser, positions: Value) -> Value {
    let (status, body) = app.post("/sync", &who.access, json!({"rooms": positions})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["complete"], true, "{body}");
    body
}

/// The entries of a sync list (`messages` or `updates`) that belong to `room`, in answer order.
fn in_room(list: &Value, room: i64) -> Vec<Value> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .filter(|m| m["room_id"] == room)
        .cloned()
        .collect()
}

async fn sync_replays_each_change_once_in_its_final_state(app: TestApp) {
    let (alice, bob) = (app.user("sy").await, app.user("sy").await);
    // What Alice has seen before going offline: o1…o4 in the DM, g1 in the group.
    let o1 = dm(&app, &bob, &alice, "old 1").await;
    let room = o1["room_id"].as_i64().expect("room");
    let o2 = dm(&app, &bob, &alice, "old 2").await;
    let o3 = dm(&app, &bob, &alice, "old 3").await;
    let o4 = dm(&app, &alice, &bob, "mine").await;
    let gid = group(&app, &bob, &[&alice]).await;
    let g1 = say(&app, &bob, gid, "group old").await;
    assert_eq!([&o1, &o2, &o3, &o4].map(seq_of), [1, 2, 3, 4]);
    assert_eq!(seq_of(&g1), 1);

    // Alice has no socket; Bob changes things. Seqs in the DM from here: 5, 6, …
    let n1 = dm(&app, &bob, &alice, "new 1").await; // 5
    let n2 = dm(&app, &bob, &alice, "new 2").await; // 6
    ok(edit(&app, &bob, id_of(&o1), "old 1 edited")).await; // 7
    ok(remove(&app, &bob, id_of(&o2))).await; // 8
    ok(react(&app, &bob, id_of(&o3), THUMBS)).await; // 9
    ok(react(&app, &bob, id_of(&o3), HEART)).await; // 10
    ok(unreact(&app, &bob, id_of(&o3), THUMBS)).await; // 11
    ok(edit(&app, &bob, id_of(&n1), "new 1 edited")).await; // 12
    ok(react(&app, &bob, id_of(&n2), PARTY)).await; // 13
    let n3 = dm(&app, &bob, &alice, "new 3").await; // 14
    ok(remove(&app, &bob, id_of(&n3))).await; // 15
    ok(react(&app, &bob, id_of(&o4), THUMBS)).await; // 16
    ok(unreact(&app, &bob, id_of(&o4), THUMBS)).await; // 17
    ok(react(&app, &bob, id_of(&g1), PARTY)).await; // group 2
    let g2 = say(&app, &bob, gid, "group new").await; // group 3
    assert_eq!((seq_of(&n1), seq_of(&n2), seq_of(&n3), seq_of(&g2)), (5, 6, 14, 3));
    assert_eq!((last_seq(&app, &bob, room).await, last_seq(&app, &bob, gid).await), (17, 3));
    let latest = json!({room.to_string(): 17, gid.to_string(): 3});
    let (ids, upd) = (
        |list: &[Value]| list.iter().map(|m| (seq_of(m), id_of(m))).collect::<Vec<_>>(),
        |list: &[Value]| list.iter().map(|u| (seq_of(u), id_of(&u["message"]))).collect::<Vec<_>>(),
    );

    // From where Alice left off.
    let s = sync(&app, &alice, json!({room.to_string(): 4, gid.to_string(): 1})).await;
    assert_eq!(keys(&s), ["messages", "updates", "rooms", "complete"]);
    assert_eq!(s["rooms"], latest, "positions: each room's newest event");
    let messages = in_room(&s["messages"], room);
    assert_eq!(ids(&messages), [(5, id_of(&n1)), (6, id_of(&n2)), (14, id_of(&n3))], "new messages once each");
    let updates = in_room(&s["updates"], room);
    assert_eq!(
        upd(&updates),
        [(7, id_of(&o1)), (8, id_of(&o2)), (11, id_of(&o3)), (17, id_of(&o4))],
        "older messages once each, at their newest change"
    );
    for u in &updates {
        assert_eq!(keys(u), ["room_id", "seq", "message"]);
    }
    assert_eq!(ids(&in_room(&s["messages"], gid)), [(3, id_of(&g2))]);
    assert_eq!(upd(&in_room(&s["updates"], gid)), [(2, id_of(&g1))]);
    assert_eq!(s["messages"].as_array().map(Vec::len), Some(4), "no other room: {s}");
    assert_eq!(s["updates"].as_array().map(Vec::len), Some(5), "no other room: {s}");
    // Final states, as Alice sees them.
    assert_eq!((messages[0]["content"].as_str(), messages[0]["edited_at"].is_string()), (Some("new 1 edited"), true));
    assert_eq!(messages[1]["reactions"], json!([reaction(PARTY, &[bob.id], false)]));
    assert_tombstone(&messages[2], &n3);
    assert_eq!(
        (updates[0]["message"]["content"].as_str(), updates[0]["message"]["edited_at"].is_string()),
        (Some("old 1 edited"), true)
    );
    assert_tombstone(&updates[1]["message"], &o2);
    assert_eq!(updates[2]["message"]["reactions"], json!([reaction(HEART, &[bob.id], false)]));
    assert_eq!(
        (updates[3]["message"]["content"].as_str(), &updates[3]["message"]["reactions"]),
        (Some("mine"), &json!([]))
    );
    assert_eq!(in_room(&s["updates"], gid)[0]["message"]["reactions"], json!([reaction(PARTY, &[bob.id], false)]));

    // From the very start (rooms left out count as 0): every message once, as it is now.
    let all = sync(&app, &alice, json!({})).await;
    assert_eq!(all["rooms"], latest);
    let ordered = [&o1, &o2, &o3, &o4, &n1, &n2, &n3].map(|m| (seq_of(m), id_of(m)));
    assert_eq!(ids(&in_room(&all["messages"], room)), ordered);
    assert_eq!(ids(&in_room(&all["messages"], gid)), [(1, id_of(&g1)), (3, id_of(&g2))]);
    assert_eq!(all["updates"], json!([]), "all created after position 0: nothing is an update");

    // From the middle: n3 created after 9 comes once (as a tombstone), its deletion not again.
    let mid = sync(&app, &alice, json!({room.to_string(): 9, gid.to_string(): 2})).await;
    assert_eq!(ids(&in_room(&mid["messages"], room)), [(14, id_of(&n3))]);
    assert_eq!(
        upd(&in_room(&mid["updates"], room)),
        [(11, id_of(&o3)), (12, id_of(&n1)), (13, id_of(&n2)), (17, id_of(&o4))]
    );
    assert_eq!(ids(&in_room(&mid["messages"], gid)), [(3, id_of(&g2))]);
    assert_eq!(in_room(&mid["updates"], gid), Vec::<Value>::new());

    // Up to date: nothing.
    let none = sync(&app, &alice, latest.clone()).await;
    assert_eq!((&none["messages"], &none["updates"], &none["rooms"]), (&json!([]), &json!([]), &latest));

    // The same over the WebSocket: one frame per message, in seq order per room, then
    // sync_complete.
    let mut ws = Ws::connect(&app, &alice.access).await;
    ws.send(json!({"type": "sync", "rooms": {room.to_string(): 4, gid.to_string(): 1}})).await;
    let frames = ws.until("sync_complete").await;
    let done = frames.last().expect("sync_complete");
    assert_eq!((&done["rooms"], &done["complete"]), (&latest, &json!(true)));
    let events: Vec<&Value> =
        frames.iter().filter(|f| f["type"] == "new_message" || f["type"] == "message_updated").collect();
    let per_room = |r: i64| -> Vec<(String, i64, i64)> {
        events
            .iter()
            .filter(|f| f["room_id"] == r)
            .map(|f| (f["type"].as_str().expect("type").to_owned(), seq_of(f), id_of(&f["message"])))
            .collect()
    };
    let (nm, mu) = ("new_message".to_owned(), "message_updated".to_owned());
    assert_eq!(
        per_room(room),
        [
            (nm.clone(), 5, id_of(&n1)),
            (nm.clone(), 6, id_of(&n2)),
            (mu.clone(), 7, id_of(&o1)),
            (mu.clone(), 8, id_of(&o2)),
            (mu.clone(), 11, id_of(&o3)),
            (nm.clone(), 14, id_of(&n3)),
            (mu.clone(), 17, id_of(&o4)),
        ]
    );
    assert_eq!(per_room(gid), [(mu, 2, id_of(&g1)), (nm, 3, id_of(&g2))]);
    assert_eq!(events.len(), 9, "no other room: {frames:?}");
    // Each carries the same final state as POST /sync.
    let mut by_id: BTreeMap<i64, Value> = BTreeMap::new();
    for m in s["messages"].as_array().expect("list") {
        by_id.insert(id_of(m), without(m, &["is_read"]));
    }
    for u in s["updates"].as_array().expect("list") {
        by_id.insert(id_of(&u["message"]), without(&u["message"], &["is_read"]));
    }
    for f in &events {
        assert_eq!(without(&f["message"], &["is_read"]), by_id[&id_of(&f["message"])], "{f}");
        if f["type"] == "new_message" {
            assert_eq!(f["content"], f["message"]["content"], "{f}");
        }
    }
    // …which is exactly the current state, as history shows it: every message of both rooms
    // changed or came after Alice's positions, so each is there, once, as it is now.
    let mut current = 0;
    for r in [room, gid] {
        for m in history(&app, &alice, r).await {
            assert_eq!(by_id.get(&id_of(&m)), Some(&without(&m, &["is_read"])), "{m}");
            current += 1;
        }
    }
    assert_eq!(current, by_id.len());

    // Then live, with nothing repeated: the next change is seq 18.
    ok(edit(&app, &bob, id_of(&o1), "old 1 edited twice")).await;
    let frames = ws.until("message_updated").await;
    assert!(frames.iter().all(|f| f["type"] != "new_message"), "nothing replayed twice: {frames:?}");
    let live = frames.last().expect("frame");
    assert_eq!((live["seq"].as_i64(), live["message"]["content"].as_str()), (Some(18), Some("old 1 edited twice")));
}

// ---------------------------------------------------------------------------------------------
// Unread counts

async fn unread_counts_count_messages_only(app: TestApp) {
    let (alice, bob) = (app.user("un").await, app.user("un").await);
    // (Sending reads the room up to one's own message: Alice's comes first.)
    let a1 = dm(&app, &alice, &bob, "mine").await;
    let room = a1["room_id"].as_i64().expect("room");
    let b1 = dm(&app, &bob, &alice, "one").await;
    let b2 = dm(&app, &bob, &alice, "two").await;
    let gid = group(&app, &bob, &[&alice]).await;
    let g1 = say(&app, &bob, gid, "group one").await;

    // What Alice's three lists say about her unread messages: (GET /rooms DM, GET /rooms group,
    // GET /messages/chats, GET /groups/my-groups).
    let (app_ref, alice_ref) = (&app, &alice);
    let unread = move || async move {
        let (app, alice) = (app_ref, alice_ref);
        let dm_room = summary(app, alice, room).await["unread_count"].as_i64().expect("count");
        let group_room = summary(app, alice, gid).await["unread_count"].as_i64().expect("count");
        let (_, chats) = app.get("/messages/chats", &alice.access).await;
        let chat = chats.as_array().expect("chats").iter().find(|c| c["chat_room_id"] == room).cloned().expect("chat");
        let (_, groups) = app.get("/groups/my-groups", &alice.access).await;
        let g = groups.as_array().expect("groups").iter().find(|g| g["id"] == gid).cloned().expect("group");
        (dm_room, group_room, chat["unread_count"].as_i64().expect("count"), g["unread_count"].as_i64().expect("count"))
    };
    assert_eq!(unread().await, (2, 1, 2, 1));
    let read_all = move |r: i64| async move {
        let (app, alice) = (app_ref, alice_ref);
        let up_to = last_seq(app, alice, r).await;
        let (status, body) = app.post(&format!("/rooms/{r}/read"), &alice.access, json!({"up_to": up_to})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    };
    assert_eq!(read_all(room).await["unread_count"], 0);
    assert_eq!(read_all(gid).await["unread_count"], 0);
    assert_eq!(unread().await, (0, 0, 0, 0));

    // Edits and reactions by Bob are events, not messages: nothing becomes unread.
    ok(edit(&app, &bob, id_of(&b1), "one, edited")).await;
    ok(react(&app, &bob, id_of(&a1), THUMBS)).await;
    ok(react(&app, &bob, id_of(&b2), PARTY)).await;
    ok(edit(&app, &bob, id_of(&g1), "group one, edited")).await;
    ok(react(&app, &bob, id_of(&g1), HEART)).await;
    let s = summary(&app, &alice, room).await;
    assert!(s["last_seq"].as_i64() > s["last_read_seq"].as_i64(), "the room moved on: {s}");
    assert_eq!(unread().await, (0, 0, 0, 0));

    // New messages count; a deleted one no longer does.
    let b3 = dm(&app, &bob, &alice, "three").await;
    let b4 = dm(&app, &bob, &alice, "four").await;
    let g2 = say(&app, &bob, gid, "group two").await;
    say(&app, &bob, gid, "group three").await;
    assert_eq!(unread().await, (2, 2, 2, 2));
    ok(remove(&app, &bob, id_of(&b3))).await;
    ok(remove(&app, &bob, id_of(&g2))).await;
    assert_eq!(unread().await, (1, 1, 1, 1));
    ok(react(&app, &bob, id_of(&b4), THUMBS)).await;
    ok(edit(&app, &bob, id_of(&b4), "four, edited")).await;
    assert_eq!(unread().await, (1, 1, 1, 1));
    // Reading up to the tombstone leaves the one after it.
    let (_, body) = app.post(&format!("/rooms/{room}/read"), &alice.access, json!({"up_to": seq_of(&b3)})).await;
    assert_eq!(body["unread_count"], 1, "{body}");
    // Deleting a message already read changes nothing either.
    ok(remove(&app, &bob, id_of(&b2))).await;
    assert_eq!(unread().await.0, 1);
    assert_eq!(read_all(room).await["unread_count"], 0);
    assert_eq!(read_all(gid).await["unread_count"], 0);
    assert_eq!(unread().await, (0, 0, 0, 0));
}

// ---------------------------------------------------------------------------------------------
// Limits

/// `SEND_RATE_LIMIT=1` (one a second, bursts of two): changes count like sends.
async fn changes_count_against_the_send_rate_limit(app: TestApp) {
    let storage: Storage = app.stop().await;
    let app = TestApp::start(storage, &[("SEND_RATE_LIMIT", "1")]).await;
    let (alice, bob) = (app.user("rl").await, app.user("rl").await);
    let m = dm(&app, &alice, &bob, "limited").await;
    let id = id_of(&m);
    let mut limited = None;
    for i in 0..8 {
        let (status, body) = if i % 2 == 0 {
            react(&app, &alice, id, THUMBS).await
        } else {
            edit(&app, &alice, id, &format!("v{i}")).await
        };
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(body);
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(limited, Some(json!({"detail": "Too many messages; slow down"})));
    // Bob's allowance is his own.
    ok(react(&app, &bob, id, HEART)).await;
}

/// Deleting an account changes no message behind its readers' backs: its reactions stay (as its
/// messages do), so the room's log still describes every message exactly; a reply to one of its
/// messages shows "Deleted User".
async fn a_deleted_accounts_reactions_and_replies_stay(app: TestApp) {
    let (alice, bob) = (app.user("gone").await, app.user("gone").await);
    let first = dm(&app, &alice, &bob, "hello").await;
    let room = first["room_id"].as_i64().expect("room");
    let theirs = dm(&app, &bob, &alice, "bye").await;
    ok(react(&app, &bob, id_of(&first), "\u{1F44B}")).await;
    let (status, _) = call(
        &app,
        Method::POST,
        "/messages/send",
        &alice,
        Some(json!({
            "recipient_id": bob.id, "content": "see you", "reply_to_id": id_of(&theirs)
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let before = last_seq(&app, &alice, room).await;
    let (status, body) = app.delete("/auth/me", &bob.access, json!({"password": crate::helpers::PASSWORD})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let messages = history(&app, &alice, room).await;
    assert_eq!(messages[0]["reactions"], json!([reaction("\u{1F44B}", &[bob.id], false)]));
    assert_eq!(messages[1]["sender_username"], "Deleted User");
    assert_eq!(messages[2]["reply_to"]["sender_username"], "Deleted User");
    assert_eq!(messages[2]["reply_to"]["sender_id"], Value::Null);
    assert_eq!(last_seq(&app, &alice, room).await, before, "nothing changed, so nothing was logged");
    // Others still react beside him.
    let m = ok(react(&app, &alice, id_of(&first), "\u{1F44B}")).await;
    assert_eq!(m["reactions"], json!([reaction("\u{1F44B}", &[bob.id, alice.id], true)]));
}
