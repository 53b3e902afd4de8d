//! The send pipeline: group commit keeps every guarantee of one-message-per-transaction — gap-free
//! `seq` with several server processes on one database, acknowledged ⇒ durable through SIGKILL,
//! idempotent `client_id` within and across batches, membership checked at write time.

use std::collections::{BTreeMap, HashSet};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    helpers::{unique, TestApp, PASSWORD},
    node::Node,
    ws::Ws,
};

/// A writer that cannot write (another process holds SQLite's write lock) fills the queue;
/// past it, sends are refused at once with "server busy" rather than piling up, and a retry
/// with the same `client_id` succeeds once the database is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_send_queue_answers_busy_and_a_retry_succeeds() {
    use sqlx::{Connection as _, Executor as _};
    let storage = crate::helpers::Storage::new(crate::helpers::Backend::Sqlite).await.expect("sqlite");
    let app = TestApp::start(storage, &[("SEND_QUEUE", "1"), ("SEND_QUEUE_WAIT", "1")]).await;
    let (a, b) = (app.user("busy").await, app.user("busy").await);
    let (_, group) = app.post("/groups/create", &a.access, json!({"name": "busy", "member_ids": [b.id]})).await;
    let room = group["group"]["id"].as_i64().expect("room");

    let mut blocker = sqlx::SqliteConnection::connect(&app.storage.database_url).await.expect("second connection");
    blocker.execute("BEGIN IMMEDIATE").await.expect("write lock");
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..10 {
        let (client, base, token, done) = (app.client.clone(), app.base.clone(), a.access.clone(), done_tx.clone());
        tokio::spawn(async move {
            let body = json!({"group_id": room, "content": format!("m{i}"), "client_id": format!("b-{i}")});
            let answer = send_raw(&client, &base, &token, body).await;
            let _ = done.send((i, answer));
        });
    }
    // The writer holds what it took before the lock stopped it, the queue one more; the rest wait
    // a second for room and are refused. The database is set free at the first refusal.
    let mut refused = Vec::new();
    let mut created = 0;
    let mut check = |i: usize, status: StatusCode, body: Value, refused: &mut Vec<usize>| {
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(body, json!({"detail": "Server busy, please retry"}), "m{i}");
            refused.push(i);
        } else {
            assert_eq!(status, StatusCode::CREATED, "m{i}: {body}");
            created += 1;
        }
    };
    while refused.is_empty() {
        let (i, (status, body)) = done.recv().await.expect("answers");
        check(i, status, body, &mut refused);
    }
    blocker.execute("ROLLBACK").await.expect("release");
    drop(done_tx);
    while let Some((i, (status, body))) = done.recv().await {
        check(i, status, body, &mut refused);
    }
    assert_eq!(refused.len() + created, 10);
    // A retry with the same client_id is safe: each refused send is stored once now.
    for i in refused {
        let (status, _) = app
            .post(
                "/groups/send",
                &a.access,
                json!({"group_id": room, "content": format!("m{i}"), "client_id": format!("b-{i}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "m{i}");
    }
    let (_, history) = app.get(&format!("/rooms/{room}/messages"), &a.access).await;
    assert_eq!(seqs(history.as_array().expect("list")), (1..=10).collect::<Vec<_>>());
}

async fn send_raw(client: &reqwest::Client, base: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let resp = client.post(format!("{base}/groups/send")).bearer_auth(token).json(&body).send().await.expect("sent");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

backend_tests!(
    two_processes_on_one_database_number_a_room_without_gaps,
    acknowledged_messages_survive_kill_9_exactly_once,
    concurrent_resends_of_one_client_id_store_one_message,
    a_removed_member_cannot_send_in_a_later_batch,
    sends_racing_their_senders_account_deletion_fail_alone,
    a_row_the_database_refuses_fails_only_its_own_send,
    a_socket_waiting_for_its_send_still_receives,
);

/// A registered user on a node: (id, access token).
pub async fn register(client: &reqwest::Client, base: &str, prefix: &str) -> (i64, String) {
    let name = unique(prefix);
    let body = json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
    let resp: Value = client
        .post(format!("{base}/auth/register"))
        .json(&body)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    (resp["user"]["id"].as_i64().expect("id"), resp["tokens"]["access_token"].as_str().expect("token").to_owned())
}

pub async fn create_group(client: &reqwest::Client, base: &str, token: &str, members: &[i64]) -> i64 {
    let resp: Value = client
        .post(format!("{base}/groups/create"))
        .bearer_auth(token)
        .json(&json!({"name": "pipeline", "member_ids": members}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    resp["group"]["id"].as_i64().expect("group id")
}

/// `POST /groups/send`: the status and body, or `None` if the server could not be reached.
async fn send(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    group: i64,
    content: &str,
    client_id: &str,
) -> Option<(StatusCode, Value)> {
    let resp = client
        .post(format!("{base}/groups/send"))
        .bearer_auth(token)
        .json(&json!({"group_id": group, "content": content, "client_id": client_id}))
        .send()
        .await
        .ok()?;
    let status = resp.status();
    Some((status, resp.json().await.ok()?))
}

/// Every message of a room, oldest first, paging by cursor.
async fn all_messages(client: &reqwest::Client, base: &str, token: &str, room: i64) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    loop {
        let after = out.last().and_then(|m| m["seq"].as_i64()).unwrap_or(0);
        let page: Vec<Value> = client
            .get(format!("{base}/rooms/{room}/messages?after={after}&limit=100"))
            .bearer_auth(token)
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

fn seqs(messages: &[Value]) -> Vec<i64> {
    messages.iter().map(|m| m["seq"].as_i64().expect("seq")).collect()
}

async fn two_processes_on_one_database_number_a_room_without_gaps(app: TestApp) {
    let storage = app.storage.clone();
    drop(app);
    let (a, b) = (Node::start(&storage).await, Node::start(&storage).await);
    let client = reqwest::Client::new();
    let mut users = Vec::new();
    for _ in 0..4 {
        users.push(register(&client, &a.base, "two").await);
    }
    let members: Vec<i64> = users.iter().skip(1).map(|(id, _)| *id).collect();
    let room = create_group(&client, &a.base, &users[0].1, &members).await;

    // Every user sends through both processes at once: 4 users × 2 nodes × 25 messages.
    let mut sends = Vec::new();
    for (u, (_, token)) in users.iter().enumerate() {
        for (n, node) in [&a, &b].into_iter().enumerate() {
            for i in 0..25 {
                let content = format!("u{u} n{n} m{i}");
                let cid = format!("two-{u}-{n}-{i}");
                let client = &client;
                sends.push(async move { send(client, &node.base, token, room, &content, &cid).await });
            }
        }
    }
    let results = join_all(sends).await;
    for r in &results {
        let (status, body) = r.as_ref().expect("both servers answer");
        assert_eq!(*status, StatusCode::CREATED, "{body}");
    }
    let messages = all_messages(&client, &b.base, &users[0].1, room).await;
    assert_eq!(seqs(&messages), (1..=200).collect::<Vec<_>>(), "one gap-free sequence across both processes");
    let ids: HashSet<i64> = messages.iter().map(|m| m["id"].as_i64().expect("id")).collect();
    assert_eq!(ids.len(), 200, "no message twice");
    // Each answer's seq is the seq stored for that message.
    let stored: BTreeMap<i64, i64> =
        messages.iter().map(|m| (m["id"].as_i64().expect("id"), m["seq"].as_i64().expect("seq"))).collect();
    for r in results.into_iter().flatten() {
        let data = &r.1["data"];
        assert_eq!(stored.get(&data["id"].as_i64().expect("id")), data["seq"].as_i64().as_ref());
    }
}

async fn acknowledged_messages_survive_kill_9_exactly_once(app: TestApp) {
    let storage = app.storage.clone();
    drop(app);
    let node = Node::start(&storage).await;
    let client = reqwest::Client::new();
    let (owner, token) = register(&client, &node.base, "kill").await;
    let (other, _) = register(&client, &node.base, "kill").await;
    let _ = owner;
    let room = create_group(&client, &node.base, &token, &[other]).await;

    // A burst of 300 sends; SIGKILL once 60 of them are acknowledged.
    const BURST: usize = 300;
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel::<(String, i64, i64)>();
    let mut burst = Vec::new();
    for i in 0..BURST {
        let (client, base, token, acked) = (client.clone(), node.base.clone(), token.clone(), acked_tx.clone());
        burst.push(tokio::spawn(async move {
            let cid = format!("kill-{i}");
            if let Some((StatusCode::CREATED, body)) = send(&client, &base, &token, room, &format!("m{i}"), &cid).await
            {
                let data = &body["data"];
                let _ = acked.send((cid, data["id"].as_i64().expect("id"), data["seq"].as_i64().expect("seq")));
            }
        }));
    }
    drop(acked_tx);
    let mut acked: Vec<(String, i64, i64)> = Vec::new();
    while acked.len() < 60 {
        acked.push(acked_rx.recv().await.expect("60 acks before the burst ends"));
    }
    let node = node.restart_after_kill().await;
    // Acks that arrived between the 60th and the kill count too.
    for task in burst {
        let _ = task.await;
    }
    while let Ok(a) = acked_rx.try_recv() {
        acked.push(a);
    }

    let messages = all_messages(&client, &node.base, &token, room).await;
    let n = messages.len();
    assert!(n >= acked.len(), "{n} stored, {} acknowledged", acked.len());
    assert_eq!(seqs(&messages), (1..=n as i64).collect::<Vec<_>>(), "no gap after the crash");
    for (cid, id, seq) in &acked {
        let found: Vec<&Value> = messages.iter().filter(|m| m["client_id"] == cid.as_str()).collect();
        assert_eq!(found.len(), 1, "{cid} acknowledged, so stored exactly once");
        assert_eq!((found[0]["id"].as_i64(), found[0]["seq"].as_i64()), (Some(*id), Some(*seq)), "{cid}");
    }
    // Retrying every send is safe: the acknowledged (and any stored but unacknowledged) ones
    // answer with their original, the rest are stored now — 300 messages, none twice.
    let retries = join_all((0..BURST).map(|i| {
        let (client, base, token) = (client.clone(), node.base.clone(), token.clone());
        async move { send(&client, &base, &token, room, &format!("m{i}"), &format!("kill-{i}")).await }
    }))
    .await;
    for (i, r) in retries.iter().enumerate() {
        let (status, body) = r.as_ref().expect("the restarted server answers");
        assert!(matches!(*status, StatusCode::OK | StatusCode::CREATED), "kill-{i}: {status} {body}");
        if let Some((_, id, _)) = acked.iter().find(|(cid, _, _)| *cid == format!("kill-{i}")) {
            assert_eq!((*status, body["data"]["id"].as_i64()), (StatusCode::OK, Some(*id)), "kill-{i}");
        }
    }
    let messages = all_messages(&client, &node.base, &token, room).await;
    assert_eq!(seqs(&messages), (1..=BURST as i64).collect::<Vec<_>>());
    let cids: HashSet<&str> = messages.iter().filter_map(|m| m["client_id"].as_str()).collect();
    assert_eq!(cids.len(), BURST);
}

async fn concurrent_resends_of_one_client_id_store_one_message(app: TestApp) {
    let (a, b) = (app.user("dup").await, app.user("dup").await);
    let (_, group) = app.post("/groups/create", &a.access, json!({"name": "dups", "member_ids": [b.id]})).await;
    let room = group["group"]["id"].as_i64().expect("room");
    // Thirty copies at once: they land in one batch (or a few); one is stored.
    let copies = join_all((0..30).map(|_| {
        app.post("/groups/send", &a.access, json!({"group_id": room, "content": "once", "client_id": "same-key"}))
    }))
    .await;
    let created = copies.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    assert_eq!(created, 1, "{copies:?}");
    let ids: HashSet<i64> = copies.iter().map(|(_, b)| b["data"]["id"].as_i64().expect("id")).collect();
    assert_eq!(ids.len(), 1, "every copy answers with the one message");
    assert!(copies.iter().all(|(s, b)| matches!(*s, StatusCode::OK | StatusCode::CREATED) && b["data"]["seq"] == 1));
    // In a later batch, the same.
    let (status, again) = app
        .post("/groups/send", &a.access, json!({"group_id": room, "content": "once", "client_id": "same-key"}))
        .await;
    assert_eq!((status, again["data"]["id"].as_i64()), (StatusCode::OK, ids.iter().next().copied()));
    // Mixed in one batch with other messages, the copies take no seq: the others are 2, 3, 4.
    let mixed = join_all((0..6).map(|i| {
        let cid = if i % 2 == 0 { "same-key".to_owned() } else { format!("other-{i}") };
        app.post("/groups/send", &a.access, json!({"group_id": room, "content": format!("m{i}"), "client_id": cid}))
    }))
    .await;
    let mut new_seqs: Vec<i64> = mixed
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b["data"]["seq"].as_i64().expect("seq"))
        .collect();
    new_seqs.sort_unstable();
    assert_eq!(new_seqs, [2, 3, 4]);
    let (_, history) = app.get(&format!("/rooms/{room}/messages"), &a.access).await;
    assert_eq!(seqs(history.as_array().expect("list")), [1, 2, 3, 4]);
    // The key names one message of one sender: another room is a conflict, another sender free.
    let (_, dm) = app.post("/messages/send", &a.access, json!({"recipient_id": b.id, "content": "hi"})).await;
    let dm_room = dm["data"]["room_id"].as_i64().expect("dm");
    let (status, _) = app
        .post("/messages/send", &a.access, json!({"recipient_id": b.id, "content": "x", "client_id": "same-key"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .post("/groups/send", &b.access, json!({"group_id": room, "content": "mine", "client_id": "same-key"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, dm_history) = app.get(&format!("/rooms/{dm_room}/messages"), &a.access).await;
    assert_eq!(seqs(dm_history.as_array().expect("list")), [1]);
}

async fn a_removed_member_cannot_send_in_a_later_batch(app: TestApp) {
    let (owner, member) = (app.user("rm").await, app.user("rm").await);
    let (_, group) = app.post("/groups/create", &owner.access, json!({"name": "rm", "member_ids": [member.id]})).await;
    let room = group["group"]["id"].as_i64().expect("room");
    let mut ws = Ws::subscribed(&app, &member.access).await;
    ws.send(json!({"type": "message", "room_id": room, "content": "still in", "client_id": "in-1"})).await;
    let ack = ws.expect_skipping("ack").await;
    assert_eq!(ack["message"]["seq"], 1);

    let (status, _) =
        app.delete(&format!("/groups/{room}/members"), &owner.access, json!({"user_id": member.id})).await;
    assert_eq!(status, StatusCode::OK);
    // Whatever batch the next sends land in, membership is checked there, under the room lock.
    ws.send(json!({"type": "message", "room_id": room, "content": "after", "client_id": "in-2"})).await;
    let error = ws.expect_skipping("error").await;
    assert_eq!((&error["message"], &error["client_id"]), (&json!("You are not in this room"), &json!("in-2")));
    let sends = join_all(
        (0..10)
            .map(|i| app.post("/groups/send", &member.access, json!({"group_id": room, "content": format!("x{i}")}))),
    )
    .await;
    assert!(
        sends.iter().all(|(s, b)| *s == StatusCode::BAD_REQUEST && b["detail"] == "You are not a member of this group"),
        "{sends:?}"
    );
    let (_, history) = app.get(&format!("/rooms/{room}/messages"), &owner.access).await;
    assert_eq!(seqs(history.as_array().expect("list")), [1], "nothing stored, no seq taken");
    let (status, _) = app.post("/groups/send", &owner.access, json!({"group_id": room, "content": "next"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, history) = app.get(&format!("/rooms/{room}/messages"), &owner.access).await;
    assert_eq!(seqs(history.as_array().expect("list")), [1, 2]);
}

/// A sender deletes their account while their messages and others' are queued, in the same
/// batches: the others' sends all succeed, the deleted sender's are stored or refused (never a
/// 500), and the room's sequence has no gap.
async fn sends_racing_their_senders_account_deletion_fail_alone(app: TestApp) {
    let (leaver, b, c) = (app.user("leaver").await, app.user("stays").await, app.user("stays").await);
    let (_, group) =
        app.post("/groups/create", &b.access, json!({"name": "race", "member_ids": [leaver.id, c.id]})).await;
    let room = group["group"]["id"].as_i64().expect("room");
    // The DM too: account deletion removes direct memberships without a group's leave rule.
    let (status, dm) = app.post("/messages/send", &b.access, json!({"recipient_id": leaver.id, "content": "hi"})).await;
    assert_eq!(status, StatusCode::CREATED, "{dm}");
    let dm_room = dm["data"]["room_id"].as_i64().expect("dm room");

    // Every send queued while the writer is held, then the deletion, then the writer let go:
    // the deletion and the batches holding the leaver's sends run at the same time.
    let blocker = Blocker::hold(&app, room).await;
    let mut sends = Vec::new();
    for i in 0..40 {
        for (who, user, to) in [("leaver", &leaver, b.id), ("b", &b, leaver.id), ("c", &c, 0)] {
            let (client, base, token) = (app.client.clone(), app.base.clone(), user.access.clone());
            let to_dm = i % 2 == 1 && who != "c";
            let content = format!("{who} {i}");
            let (path, body) = if to_dm {
                ("/messages/send", json!({"recipient_id": to, "content": content}))
            } else {
                let cid = format!("race-{who}-{i}");
                ("/groups/send", json!({"group_id": room, "content": content, "client_id": cid}))
            };
            sends.push(tokio::spawn(async move {
                let resp = client.post(format!("{base}{path}")).bearer_auth(token).json(&body).send().await;
                let resp = resp.expect("answered");
                let status = resp.status();
                (who, to_dm, content, status, resp.json::<Value>().await.unwrap_or(Value::Null))
            }));
        }
    }
    wait_until(|| app.state.pipeline.pending() == 120).await;
    let deletion = tokio::spawn({
        let (client, url, token) = (app.client.clone(), app.url("/auth/me"), leaver.access.clone());
        async move {
            let resp = client.delete(url).bearer_auth(token).json(&json!({"password": PASSWORD})).send().await;
            resp.expect("answered").status()
        }
    });
    blocker.release().await;
    let results = join_all(sends.into_iter().map(|h| async { h.await.expect("send task") })).await;
    assert_eq!(deletion.await.expect("deletion task"), StatusCode::OK);
    let (mut stored, mut stored_dm) = (Vec::new(), 1);
    for (who, to_dm, content, status, body) in results {
        assert!(status.as_u16() < 500, "{who}: {status} {body}");
        match (who, to_dm) {
            // The others' group sends never fail because of someone else's deletion.
            ("b" | "c", false) => assert_eq!(status, StatusCode::CREATED, "{who}: {body}"),
            // Anything to or from the leaver: stored before the deletion, or refused after it.
            _ => assert!(status == StatusCode::CREATED || status.is_client_error(), "{who}: {status} {body}"),
        }
        if status == StatusCode::CREATED {
            if to_dm {
                stored_dm += 1;
            } else {
                stored.push(content);
            }
        }
    }
    let dm_messages = all_messages(&app.client, &app.base, &b.access, dm_room).await;
    assert_eq!(seqs(&dm_messages), (1..=stored_dm).collect::<Vec<_>>());
    let messages = all_messages(&app.client, &app.base, &b.access, room).await;
    assert_eq!(seqs(&messages), (1..=stored.len() as i64).collect::<Vec<_>>(), "gap-free");
    let mut contents: Vec<String> =
        messages.iter().map(|m| m["content"].as_str().expect("content").to_owned()).collect();
    contents.sort();
    stored.sort();
    assert_eq!(contents, stored, "every acknowledged send is there, and nothing else");
}

/// A row the database refuses (here: a trigger rejects one content) fails its own send, not the
/// others written in the same batch: they are written again one by one.
async fn a_row_the_database_refuses_fails_only_its_own_send(app: TestApp) {
    use sqlx::{Connection as _, Executor as _};
    match app.storage.backend {
        crate::helpers::Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(&app.storage.database_url).await.expect("connect");
            db.execute(
                "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.content = 'poison' \
                 BEGIN SELECT RAISE(ABORT, 'poisoned row'); END",
            )
            .await
            .expect("trigger");
        }
        crate::helpers::Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(&app.storage.database_url).await.expect("connect");
            db.execute(
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.content = 'poison' THEN RAISE EXCEPTION 'poisoned row'; END IF; RETURN NEW; END $$; \
                 CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION poison();",
            )
            .await
            .expect("trigger");
        }
    }
    let (a, b) = (app.user("poison").await, app.user("poison").await);
    let (_, group) = app.post("/groups/create", &a.access, json!({"name": "poison", "member_ids": [b.id]})).await;
    let room = group["group"]["id"].as_i64().expect("room");
    // The writer is held (the database is locked) until every send is queued, so they go
    // into one or two batches with the poisoned ones.
    let blocker = Blocker::hold(&app, room).await;
    let sends = (0..60).map(|i| {
        let (client, base, token) =
            (app.client.clone(), app.base.clone(), if i % 2 == 0 { a.access.clone() } else { b.access.clone() });
        let content = if i % 6 == 0 { "poison".to_owned() } else { format!("fine {i}") };
        tokio::spawn(async move {
            let body = json!({"group_id": room, "content": content, "client_id": format!("p-{i}")});
            (i, send_raw(&client, &base, &token, body).await)
        })
    });
    let sends: Vec<_> = sends.collect();
    wait_until(|| app.state.pipeline.pending() == 60).await;
    blocker.release().await;
    let sends = join_all(sends.into_iter().map(|h| async { h.await.expect("send task") }));
    let mut fine = Vec::new();
    for (i, (status, body)) in sends.await {
        if i % 6 == 0 {
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "poison {i}: {body}");
            assert_eq!(body, json!({"detail": "Internal server error"}), "no database text leaks");
        } else {
            assert_eq!(status, StatusCode::CREATED, "fine {i}: {body}");
            fine.push(body["data"]["content"].as_str().expect("content").to_owned());
        }
    }
    let messages = all_messages(&app.client, &app.base, &a.access, room).await;
    assert_eq!(seqs(&messages), (1..=50).collect::<Vec<_>>(), "the refused rows took no seq");
    let mut stored: Vec<String> = messages.iter().map(|m| m["content"].as_str().expect("content").to_owned()).collect();
    stored.sort();
    fine.sort();
    assert_eq!(stored, fine);
}

/// Holds the database so that the send writer cannot write: SQLite's write lock, or the room's
/// row lock on PostgreSQL.
enum Blocker {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Blocker {
    async fn hold(app: &TestApp, room: i64) -> Self {
        use sqlx::{Connection as _, Executor as _};
        match app.storage.backend {
            crate::helpers::Backend::Sqlite => {
                let mut db = sqlx::SqliteConnection::connect(&app.storage.database_url).await.expect("connect");
                db.execute("BEGIN IMMEDIATE").await.expect("write lock");
                Self::Sqlite(db)
            }
            crate::helpers::Backend::Postgres => {
                let mut db = sqlx::PgConnection::connect(&app.storage.database_url).await.expect("connect");
                db.execute("BEGIN").await.expect("begin");
                db.execute(sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT id FROM chat_rooms WHERE id = {room} FOR UPDATE"
                ))))
                .await
                .expect("row lock");
                Self::Postgres(db)
            }
        }
    }

    async fn release(self) {
        use sqlx::Executor as _;
        match self {
            Self::Sqlite(mut db) => db.execute("ROLLBACK").await.map(drop),
            Self::Postgres(mut db) => db.execute("ROLLBACK").await.map(drop),
        }
        .expect("released");
    }
}

/// Waits (bounded: 10 s) until `done` holds, checking every few milliseconds.
async fn wait_until(done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "condition not reached in 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// While a connection waits for its own send to commit, what others do still reaches it: the
/// connection's task writes its queue while it handles a frame, and the ack comes after.
async fn a_socket_waiting_for_its_send_still_receives(app: TestApp) {
    let (a, b) = (app.user("waits").await, app.user("types").await);
    let (_, group) = app.post("/groups/create", &a.access, json!({"name": "wait", "member_ids": [b.id]})).await;
    let room = group["group"]["id"].as_i64().expect("room");
    let mut aw = Ws::subscribed(&app, &a.access).await;
    let mut bw = Ws::subscribed(&app, &b.access).await;
    let blocker = Blocker::hold(&app, room).await;
    aw.send(json!({"type": "message", "room_id": room, "content": "held", "client_id": "held-1"})).await;
    wait_until(|| app.state.pipeline.pending() == 1).await;
    bw.send(json!({"type": "typing", "room_id": room, "is_typing": true})).await;
    let typing = aw.expect("user_typing").await;
    assert_eq!((typing["user_id"].as_i64(), typing["is_typing"].as_bool()), (Some(b.id), Some(true)));
    blocker.release().await;
    let frames = aw.until("ack").await;
    let new: Vec<&Value> = frames.iter().filter(|f| f["type"] == "new_message").collect();
    assert_eq!(new.len(), 1, "{frames:?}");
    assert_eq!(new[0]["content"], "held");
    let ack = frames.last().expect("ack");
    assert_eq!((ack["client_id"].as_str(), ack["message"]["seq"].as_i64()), (Some("held-1"), Some(1)));
}
