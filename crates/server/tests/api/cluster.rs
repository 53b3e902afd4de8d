//! Several nodes on one database, linked by Redis (`REDIS_URL`): a private `redis-server`
//! started by each test on a free port (never the machine's), two Banter servers, clients
//! spread over them.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    helpers::TestApp,
    node::Node,
    pipeline::{create_group, register},
    ws::{Ended, Ws},
};

backend_tests!(
    messages_typing_and_revocation_cross_nodes,
    a_redis_restart_loses_nothing_and_keeps_order,
    a_node_killed_mid_traffic_loses_nothing,
    presence_is_cluster_wide,
    a_node_stopped_gracefully_takes_its_users_offline_at_once,
    a_logout_during_a_redis_outage_still_closes_sockets_everywhere,
    two_nodes_writing_to_one_room_at_once_deliver_everything_once_in_order,
    changes_made_on_two_nodes_reach_both_in_one_order,
);

/// A private Redis, killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> Self {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a port");
        let mut server = Self { child: None, port, dir: tempfile::tempdir().expect("dir") };
        server.spawn();
        server
    }

    /// Starts again on the same port, and waits until it accepts connections.
    async fn restart(&mut self) {
        self.spawn();
        // `spawn` waited for the port; this yields to the runtime before traffic resumes.
        tokio::task::yield_now().await;
    }

    /// Starts the process and waits (bounded) until it accepts connections — and is still the
    /// one running (not another process on a port it could not take).
    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(child) = self.child.as_mut() {
                assert!(matches!(child.try_wait(), Ok(None)), "redis-server exited (port {} taken?)", self.port);
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "redis-server did not listen in 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits (bounded) until the node's `/ready` says Redis is `state`.
async fn redis_is(node: &TestApp, state: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, ready) = node.request(reqwest::Method::GET, "/ready", None, None).await;
        if ready["redis"] == state {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "redis never {state}: {ready}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next `n` `new_message` frames.
async fn messages(ws: &mut Ws, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(ws.expect("new_message").await);
    }
    out
}

/// Two nodes on the test's database, linked by a private Redis.
async fn cluster(app: TestApp) -> (RedisServer, TestApp, TestApp) {
    cluster_with(app, &[]).await
}

/// [`cluster`], with extra settings for both nodes.
async fn cluster_with(app: TestApp, extra: &[(&str, &str)]) -> (RedisServer, TestApp, TestApp) {
    let storage = app.stop().await;
    let redis = RedisServer::start();
    let url = redis.url();
    let mut settings = vec![("REDIS_URL", url.as_str())];
    settings.extend_from_slice(extra);
    let one = TestApp::start(storage.clone(), &settings).await;
    let two = TestApp::start(storage, &settings).await;
    redis_is(&one, "up").await;
    redis_is(&two, "up").await;
    (redis, one, two)
}

async fn messages_typing_and_revocation_cross_nodes(app: TestApp) {
    let (_redis, one, two) = cluster(app).await;
    let (a, b) = (one.user("cross").await, one.user("cross").await);
    let (_, group) = one.post("/groups/create", &a.access, json!({"name": "cross", "member_ids": [b.id]})).await;
    let room = group["group"]["id"].as_i64().expect("room");
    // b and a's second device on node two; a's first device on node one.
    let mut b_two = Ws::subscribed(&two, &b.access).await;
    let mut a_two = Ws::subscribed(&two, &a.access).await;
    let mut a_one = Ws::subscribed(&one, &a.access).await;

    // A REST send on node one reaches every device on node two.
    let (status, sent) = one.post("/groups/send", &a.access, json!({"group_id": room, "content": "over REST"})).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    for ws in [&mut b_two, &mut a_two, &mut a_one] {
        let m = ws.expect("new_message").await;
        assert_eq!((m["content"].as_str(), m["seq"].as_i64()), (Some("over REST"), Some(1)));
    }
    // A WebSocket send on node one: acknowledged there, delivered on node two, in order.
    a_one.send(json!({"type": "message", "room_id": room, "content": "over WS", "client_id": "x-1"})).await;
    assert_eq!(a_one.until("ack").await.last().expect("ack")["message"]["seq"], 2);
    let m = b_two.expect("new_message").await;
    assert_eq!((m["content"].as_str(), m["seq"].as_i64()), (Some("over WS"), Some(2)));
    // And the other way: b on node two, a on node one.
    b_two.send(json!({"type": "message", "room_id": room, "content": "reply", "client_id": "x-2"})).await;
    let own = b_two.until("ack").await;
    assert_eq!(own.len(), 2, "its own new_message, then the ack: {own:?}");
    let m = a_one.expect("new_message").await;
    assert_eq!((m["content"].as_str(), m["seq"].as_i64()), (Some("reply"), Some(3)));
    // Typing on node one is seen on node two.
    a_one.send(json!({"type": "typing", "room_id": room, "is_typing": true})).await;
    let t = b_two.expect("user_typing").await;
    assert_eq!((t["user_id"].as_i64(), t["is_typing"].as_bool()), (Some(a.id), Some(true)));
    // A third member, removed on node one, stops receiving the room on node two at once.
    let c = one.user("cross").await;
    let (status, _) = one.post(&format!("/groups/{room}/members"), &a.access, json!({"user_ids": [c.id]})).await;
    assert_eq!(status, StatusCode::OK);
    let mut c_two = Ws::subscribed(&two, &c.access).await;
    let (status, _) = one.delete(&format!("/groups/{room}/members"), &a.access, json!({"user_id": c.id})).await;
    assert_eq!(status, StatusCode::OK);
    // b, on node two, hears of both changes with their stored notices, in order.
    let added = b_two.expect_skipping("room_changed").await;
    let removed = b_two.expect_skipping("room_changed").await;
    assert_eq!((added["change"].as_str(), removed["change"].as_str()), (Some("members_added"), Some("member_removed")));
    let notice_id = |f: &Value| f["notice"]["id"].as_i64().expect("the frame carries its notice");
    assert!(notice_id(&added) < notice_id(&removed), "{added} {removed}");
    assert_eq!((removed["notice"]["users"][0]["id"].as_i64(), removed["member_count"].as_i64()), (Some(c.id), Some(2)));
    let (status, _) = one.post("/groups/send", &a.access, json!({"group_id": room, "content": "after removal"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(b_two.expect_skipping("new_message").await["content"], "after removal", "b still receives");
    c_two.send(json!({"type": "ping"})).await;
    let seen = c_two.until("pong").await;
    assert!(seen.iter().all(|f| f["type"] != "new_message"), "a removed member received: {seen:?}");

    // Logging out everywhere on node one closes b's socket on node two.
    let (status, _) = one.post("/auth/logout-all", &b.access, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(b_two.ended().await, Ended::Closed(4003, "session revoked".into()));
}

async fn a_redis_restart_loses_nothing_and_keeps_order(app: TestApp) {
    let (mut redis, one, two) = cluster(app).await;
    let (a, b) = (one.user("outage").await, one.user("outage").await);
    let (_, group) = one.post("/groups/create", &a.access, json!({"name": "outage", "member_ids": [b.id]})).await;
    let room = group["group"]["id"].as_i64().expect("room");
    let mut b_two = Ws::subscribed(&two, &b.access).await;
    let (one_ref, token) = (&one, a.access.clone());
    let send = |i: usize| {
        let body = json!({"group_id": room, "content": format!("m{i}"), "client_id": format!("o-{i}")});
        let token = token.clone();
        async move {
            let (status, sent) = one_ref.post("/groups/send", &token, body).await;
            assert_eq!(status, StatusCode::CREATED, "m{i}: {sent}");
        }
    };
    let mut received: Vec<Value> = Vec::new();
    for i in 1..=10 {
        send(i).await;
    }
    received.extend(messages(&mut b_two, 10).await);
    // Redis goes away: sends are still stored and acknowledged.
    redis.stop();
    redis_is(&one, "down").await;
    for i in 11..=20 {
        send(i).await;
    }
    // It comes back: node two catches up from the database on its own (nothing else is sent
    // until it has), then live delivery goes on.
    redis.restart().await;
    redis_is(&one, "up").await;
    redis_is(&two, "up").await;
    received.extend(messages(&mut b_two, 10).await);
    for i in 21..=30 {
        send(i).await;
    }
    received.extend(messages(&mut b_two, 10).await);
    let seqs: Vec<i64> = received.iter().map(|m| m["seq"].as_i64().expect("seq")).collect();
    assert_eq!(seqs, (1..=30).collect::<Vec<_>>(), "every message once, in order");
    let contents: Vec<&str> = received.iter().map(|m| m["content"].as_str().expect("content")).collect();
    assert_eq!(contents, (1..=30).map(|i| format!("m{i}")).collect::<Vec<_>>());
    // Nothing more arrives (no duplicate): the next frame is the answer to a ping.
    b_two.send(json!({"type": "ping"})).await;
    let rest = b_two.until("pong").await;
    assert!(rest.iter().all(|f| f["type"] != "new_message"), "{rest:?}");
}

/// A subscribed socket to a node process, as a client would open it.
async fn socket_to(node: &Node, token: &str) -> Ws {
    let url = format!("ws://127.0.0.1:{}/ws/{token}", node.port);
    let (stream, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
    let mut ws = Ws::from_stream(stream);
    ws.expect("connected").await;
    ws.send(json!({"type": "subscribe_all"})).await;
    ws.expect("subscribed").await;
    ws
}

/// Three server processes on one database and one Redis; one is killed with SIGKILL in the
/// middle of the traffic. Its senders retry on another node with the same `client_id`; its
/// receiver reconnects to another node and catches up with `sync`. Every acknowledged message
/// exists once; every receiver ends up with every message once, in order.
async fn a_node_killed_mid_traffic_loses_nothing(app: TestApp) {
    let storage = app.stop().await;
    let redis = RedisServer::start();
    let url = redis.url();
    let settings = [("REDIS_URL", url.as_str())];
    let nodes = [
        Node::start_with(&storage, &settings).await,
        Node::start_with(&storage, &settings).await,
        Node::start_with(&storage, &settings).await,
    ];
    let client = reqwest::Client::new();
    let (_, a_token) = register(&client, &nodes[0].base, "killa").await;
    let (b, b_token) = register(&client, &nodes[0].base, "killb").await;
    let (c, c_token) = register(&client, &nodes[0].base, "killc").await;
    let room = create_group(&client, &nodes[0].base, &a_token, &[b, c]).await;
    // b on node 2 (survives) and on node 1 (killed); c only on node 1.
    let mut b_two = socket_to(&nodes[2], &b_token).await;
    let mut b_one = socket_to(&nodes[1], &b_token).await;
    let _c_one = socket_to(&nodes[1], &c_token).await;

    // 20 messages over the three nodes, then node 1 dies (SIGKILL), then 20 more over the two
    // that are left.
    for i in 1..=20 {
        assert_eq!(send_to(&client, &nodes[i % 3].base, &a_token, room, i).await, StatusCode::CREATED, "k{i}");
    }
    let before: Vec<Value> = messages(&mut b_one, 20).await;
    let [n0, n1, n2] = nodes;
    let _storage = n1.kill();
    let nodes = [n0, n2];
    for i in 21..=40 {
        assert_eq!(send_to(&client, &nodes[i % 2].base, &a_token, room, i).await, StatusCode::CREATED, "k{i}");
    }
    // The surviving receiver got everything live, once, in order.
    let live: Vec<i64> = messages(&mut b_two, 40).await.iter().map(|m| m["seq"].as_i64().expect("seq")).collect();
    assert_eq!(live, (1..=40).collect::<Vec<_>>());
    // The dropped one reconnects to another node and catches up from its last seq.
    assert_eq!(b_one.ended().await, Ended::Dropped);
    let last_seen = before.last().and_then(|m| m["seq"].as_i64()).expect("seq");
    let mut again = socket_to(&nodes[0], &b_token).await;
    again.send(json!({"type": "sync", "rooms": {room.to_string(): last_seen}})).await;
    let caught_up = again.until("sync_complete").await;
    let mut seqs: Vec<i64> = before.iter().map(|m| m["seq"].as_i64().expect("seq")).collect();
    seqs.extend(caught_up.iter().filter(|f| f["type"] == "new_message").map(|f| f["seq"].as_i64().expect("seq")));
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>(), "no gap, no duplicate across the reconnect");
    // Every acknowledged message exists once.
    let (_, history) = get_json(&client, &format!("{}/rooms/{room}/messages?limit=100", nodes[1].base), &b_token).await;
    let contents: Vec<&str> =
        history.as_array().expect("messages").iter().map(|m| m["content"].as_str().expect("content")).collect();
    assert_eq!(contents, (1..=40).map(|i| format!("k{i}")).collect::<Vec<_>>());

    // c was connected to the dead node only: once its presence record expires, every node
    // counts c offline, and the survivors tell the users who share a room with c.
    offline_announced(&mut b_two, c).await;
    let (_, found) = get_json(&client, &format!("{}/users/{c}", nodes[0].base), &b_token).await;
    assert_eq!(found["online"], false, "{found}");
}

/// Waits (bounded: a dead node's presence record expires in 10 s, and records are read every
/// 2 s) for a `presence` frame saying `user` went offline, pinging meanwhile to keep frames coming.
async fn offline_announced(ws: &mut Ws, user: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        ws.send(json!({"type": "ping"})).await;
        let seen = ws.until("pong").await;
        if seen.iter().any(|f| f["type"] == "presence" && f["user_id"] == user && f["online"] == false) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "no presence frame saying {user} is offline");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn send_to(client: &reqwest::Client, base: &str, token: &str, room: i64, i: usize) -> StatusCode {
    let body = json!({"group_id": room, "content": format!("k{i}"), "client_id": format!("k-{i}")});
    client
        .post(format!("{base}/groups/send"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("a live node answers")
        .status()
}

/// Waits (bounded) until `node` shows `user` as `online`.
async fn shows_online(node: &TestApp, token: &str, user: i64, online: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, found) = node.get(&format!("/users/{user}"), token).await;
        if found["online"] == online {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "user {user} never online={online}: {found}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A user connected to one node is online on every node; offline once their last connection,
/// on any node, closes — and not before.
async fn presence_is_cluster_wide(app: TestApp) {
    let (_redis, one, two) = cluster(app).await;
    let (u, v) = (one.user("here").await, one.user("there").await);
    let (_, _) = one.post("/groups/create", &v.access, json!({"name": "presence", "member_ids": [u.id]})).await;
    let mut v_two = Ws::subscribed(&two, &v.access).await;
    shows_online(&two, &v.access, u.id, false).await;

    let u_one = Ws::subscribed(&one, &u.access).await;
    shows_online(&two, &v.access, u.id, true).await;
    let p = v_two.expect("presence").await;
    assert_eq!((p["user_id"].as_i64(), p["online"].as_bool()), (Some(u.id), Some(true)));

    // Connected on both nodes: closing one connection does not make u offline anywhere.
    let u_two = Ws::subscribed(&two, &u.access).await;
    shows_online(&one, &v.access, u.id, true).await;
    drop(u_one);
    v_two.send(json!({"type": "ping"})).await;
    let seen = v_two.until("pong").await;
    assert!(seen.iter().all(|f| f["type"] != "presence" || f["online"] == true), "{seen:?}");
    shows_online(&two, &v.access, u.id, true).await;

    // The last one closes: offline everywhere, and said so.
    drop(u_two);
    let p = v_two.expect("presence").await;
    assert_eq!((p["user_id"].as_i64(), p["online"].as_bool()), (Some(u.id), Some(false)));
    shows_online(&one, &v.access, u.id, false).await;
    shows_online(&two, &v.access, u.id, false).await;
}

/// The presence records in a Redis (one per node with users connected).
async fn presence_records(redis: &RedisServer) -> usize {
    let client = redis::Client::open(redis.url()).expect("redis url");
    let mut conn = client.get_multiplexed_async_connection().await.expect("redis answers");
    let keys: Vec<String> = redis::cmd("KEYS").arg("banter:presence:*").query_async(&mut conn).await.expect("KEYS");
    keys.len()
}

/// A node stopped with SIGTERM (a rolling deploy) closes its sockets with 1001, tells the other
/// nodes its users left, and removes its presence record before it exits — its users do not
/// linger online until the record would have expired.
async fn a_node_stopped_gracefully_takes_its_users_offline_at_once(app: TestApp) {
    let storage = app.stop().await;
    let redis = RedisServer::start();
    let url = redis.url();
    let settings = [("REDIS_URL", url.as_str())];
    let (stays, goes) = (Node::start_with(&storage, &settings).await, Node::start_with(&storage, &settings).await);
    let client = reqwest::Client::new();
    let (_, b_token) = register(&client, &stays.base, "gentleb").await;
    let (c, c_token) = register(&client, &stays.base, "gentlec").await;
    create_group(&client, &stays.base, &b_token, &[c]).await;
    let mut b_ws = socket_to(&stays, &b_token).await;
    let mut c_ws = socket_to(&goes, &c_token).await;
    let p = b_ws.expect("presence").await;
    assert_eq!((p["user_id"].as_i64(), p["online"].as_bool()), (Some(c), Some(true)));
    // Both nodes have written their record (every 2 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while presence_records(&redis).await < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the nodes never wrote their presence records");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert!(goes.terminate(), "a clean exit");
    assert_eq!(c_ws.ended().await, Ended::Closed(1001, "server shutting down".into()));
    assert_eq!(presence_records(&redis).await, 1, "the stopped node's record is gone");
    let p = b_ws.expect("presence").await;
    assert_eq!((p["user_id"].as_i64(), p["online"].as_bool()), (Some(c), Some(false)));
    let (_, found) = get_json(&client, &format!("{}/users/{c}", stays.base), &b_token).await;
    assert_eq!(found["online"], false, "{found}");
}

async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> (StatusCode, Value) {
    let response = client.get(url).bearer_auth(token).send().await.expect("sent");
    (response.status(), response.json().await.expect("json"))
}

/// Logging out while Redis is down: the revocation event cannot travel, yet the session's socket
/// on the other node is closed at that node's next session check.
async fn a_logout_during_a_redis_outage_still_closes_sockets_everywhere(app: TestApp) {
    let (mut redis, one, two) = cluster_with(app, &[("SESSION_CHECK_SECONDS", "1")]).await;
    let user = one.user("outage").await;
    let mut socket = Ws::subscribed(&two, &user.access).await;
    redis.stop();
    redis_is(&one, "down").await;
    let (status, body) = one.post("/auth/logout-all", &user.access, json!({})).await;
    assert_eq!((status, body["sessions_terminated"].as_i64()), (StatusCode::OK, Some(1)), "{body}");
    assert_eq!(socket.ended().await, Ended::Closed(4003, "session revoked".into()));
}

/// Two nodes write to one room at the same time (each has senders of its own): their
/// publications cross in Redis, so each node regularly sees a later `seq` before an earlier one.
/// A receiver on each node gets every message once, in `seq` order.
async fn two_nodes_writing_to_one_room_at_once_deliver_everything_once_in_order(app: TestApp) {
    let (_redis, one, two) = cluster(app).await;
    let (a, b, reader) = (one.user("race").await, one.user("race").await, one.user("race").await);
    let (_, group) =
        one.post("/groups/create", &a.access, json!({"name": "race", "member_ids": [b.id, reader.id]})).await;
    let room = group["group"]["id"].as_i64().expect("room");
    let mut on_one = Ws::subscribed(&one, &reader.access).await;
    let mut on_two = Ws::subscribed(&two, &reader.access).await;
    const EACH: usize = 60;
    tokio::join!(send_many(&one, &a.access, room, "a", EACH), send_many(&two, &b.access, room, "b", EACH));
    for ws in [&mut on_one, &mut on_two] {
        let seqs: Vec<i64> = messages(ws, 2 * EACH).await.iter().map(|m| m["seq"].as_i64().expect("seq")).collect();
        assert_eq!(seqs, (1..=2 * EACH as i64).collect::<Vec<_>>());
        ws.send(json!({"type": "ping"})).await;
        let rest = ws.until("pong").await;
        assert!(rest.iter().all(|f| f["type"] != "new_message"), "a duplicate: {rest:?}");
    }
}

/// Edits on one node and reactions on the other, to the same messages at once: every device on
/// either node gets the room's log — messages and changes — once each, in seq order, ending in
/// the same final state, with reactions' `me` for its own user.
async fn changes_made_on_two_nodes_reach_both_in_one_order(app: TestApp) {
    let (_redis, one, two) = cluster(app).await;
    let (a, b) = (one.user("chg").await, one.user("chg").await);
    let (_, group) = one.post("/groups/create", &a.access, json!({"name": "chg", "member_ids": [b.id]})).await;
    let room = group["group"]["id"].as_i64().expect("room");
    let mut b_one = Ws::subscribed(&one, &b.access).await;
    let mut a_two = Ws::subscribed(&two, &a.access).await;
    const N: usize = 10;
    send_many(&one, &a.access, room, "m", N).await;
    let (_, history) = one.get(&format!("/rooms/{room}/messages"), &a.access).await;
    let ids: Vec<i64> = history.as_array().expect("history").iter().map(|m| m["id"].as_i64().expect("id")).collect();
    assert_eq!(ids.len(), N);
    let edits = ids.iter().map(|id| {
        let path = format!("/messages/{id}");
        let (one, a) = (&one, &a);
        async move {
            let (status, m) =
                one.request(reqwest::Method::PATCH, &path, Some(&a.access), Some(json!({"content": "edited"}))).await;
            assert_eq!(status, StatusCode::OK, "{m}");
        }
    });
    let reactions = ids.iter().map(|id| {
        let path = format!("/messages/{id}/reactions/%F0%9F%91%8D");
        let (two, b) = (&two, &b);
        async move {
            let (status, m) = two.request(reqwest::Method::PUT, &path, Some(&b.access), None).await;
            assert_eq!(status, StatusCode::OK, "{m}");
        }
    });
    tokio::join!(futures_util::future::join_all(edits), futures_util::future::join_all(reactions));
    let total = 3 * N;
    for (ws, viewer) in [(&mut b_one, b.id), (&mut a_two, a.id)] {
        let mut seqs = Vec::new();
        let mut last: std::collections::HashMap<i64, Value> = std::collections::HashMap::new();
        while seqs.len() < total {
            let f = ws.next().await.expect("open");
            let kind = f["type"].as_str().unwrap_or_default();
            if kind != "new_message" && kind != "message_updated" {
                continue;
            }
            seqs.push(f["seq"].as_i64().expect("seq"));
            last.insert(f["message"]["id"].as_i64().expect("id"), f["message"].clone());
        }
        assert_eq!(seqs, (1..=total as i64).collect::<Vec<_>>(), "once each, in order");
        for id in &ids {
            let m = &last[id];
            assert_eq!(m["content"], "edited", "{m}");
            assert_eq!(m["reactions"], json!([{"emoji": "👍", "count": 1, "user_ids": [b.id], "me": viewer == b.id}]));
        }
        ws.send(json!({"type": "ping"})).await;
        let rest = ws.until("pong").await;
        assert!(rest.iter().all(|f| f["type"] != "new_message" && f["type"] != "message_updated"), "twice: {rest:?}");
    }
}

/// `n` sends to a group at once through `node`, each with its own `client_id`.
async fn send_many(node: &TestApp, token: &str, room: i64, tag: &str, n: usize) {
    let requests = (0..n).map(|i| {
        let body = json!({"group_id": room, "content": format!("{tag}{i}"), "client_id": format!("{tag}-{i}")});
        async move {
            let (status, sent) = node.post("/groups/send", token, body).await;
            assert_eq!(status, StatusCode::CREATED, "{sent}");
        }
    });
    futures_util::future::join_all(requests).await;
}
