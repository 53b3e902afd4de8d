//! The WebSocket protocol end to end, on both backends.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    helpers::{TestApp, TestUser},
    ws::{Ended, Ws},
};

backend_tests!(
    seed_frames_work_as_written,
    connected_frame_is_the_seeds_exactly,
    bad_tokens_in_the_url_are_refused_at_the_upgrade_with_403,
    origins_follow_cors_origins,
    plain_http_get_on_a_socket_path_is_not_found,
    token_outside_the_url,
    every_device_gets_rest_and_ws_messages_live,
    removed_members_and_strangers_receive_nothing,
    ack_after_commit_and_idempotent_resend_across_restart,
    reconnect_with_sync_gets_every_missed_message_once,
    a_slow_reader_is_cut_off_while_others_keep_up,
    bad_frames_get_errors_and_the_connection_survives,
    presence_follows_the_last_device,
    typing_is_relayed_to_others_and_expires,
    read_frames_move_the_position_on_every_device,
    outsiders_cannot_type_into_a_room,
    leave_room_overrides_subscribe_all,
    frame_floods_are_rate_limited,
    revoked_sessions_and_shutdown_close_sockets,
    room_ids_may_be_numeric_strings_and_are_echoed,
    oversized_frames_close_with_1009,
    binary_frames_get_an_error_and_count_toward_the_rate_limit,
);

/// The seed's error frame for a refused `join_room`.
fn no_access() -> Value {
    json!({"type": "error", "code": "forbidden", "message": "You don't have access to this room"})
}

/// The seed's error frame for a `message` or `typing` into a room the sender is not in.
fn not_in_room() -> Value {
    json!({"type": "error", "code": "forbidden", "message": "You are not in this room"})
}

/// `YYYY-MM-DD{sep}HH:MM:SS` plus an optional 6-digit fraction: Python's form, no offset, no `Z`.
fn assert_seed_time(t: &Value, sep: char) {
    let s = t.as_str().unwrap_or_else(|| panic!("a time string: {t}"));
    let ok = (s.len() == 19 || s.len() == 26)
        && s.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == sep,
            13 | 16 => c == ':',
            19 => c == '.',
            _ => c.is_ascii_digit(),
        });
    assert!(ok, "{s:?} is not YYYY-MM-DD{sep}HH:MM:SS[.ffffff]");
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().expect("object").keys().map(String::as_str).collect()
}

async fn pair_room(app: &TestApp, a: &TestUser, b: &TestUser) -> i64 {
    let (status, body) = app.post("/messages/send", &a.access, json!({"recipient_id": b.id, "content": "hi"})).await;
    assert_eq!(status, StatusCode::CREATED);
    body["data"]["room_id"].as_i64().expect("room")
}

async fn group_of(app: &TestApp, owner: &TestUser, members: &[&TestUser]) -> i64 {
    let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
    let (_, body) = app.post("/groups/create", &owner.access, json!({"name": "ws group", "member_ids": ids})).await;
    body["group"]["id"].as_i64().expect("group")
}

async fn seed_frames_work_as_written(app: TestApp) {
    let (john, jane) = (app.user("john").await, app.user("jane").await);
    let room = pair_room(&app, &john, &jane).await;
    let mut jw = Ws::open(&app, &format!("/ws/{}", john.access)).await;
    let hello = jw.next().await.expect("connected");
    assert_eq!(
        hello,
        json!({"type": "connected", "user_id": john.id, "username": john.username, "message": "Connected to chat server"})
    );
    let mut aw = Ws::connect(&app, &jane.access).await;

    jw.send(json!({"type": "join_room", "room_id": room})).await;
    assert_eq!(
        jw.expect("room_joined").await,
        json!({"type": "room_joined", "room_id": room, "message": format!("Joined room {room}")})
    );
    aw.send(json!({"type": "join_room", "room_id": room})).await;
    aw.expect("room_joined").await;
    let joined = jw.expect("user_joined").await;
    assert_eq!(joined, json!({"type": "user_joined", "room_id": room, "user_id": jane.id, "username": jane.username}));

    aw.send(json!({"type": "message", "room_id": room, "content": "Hi there!"})).await;
    for ws in [&mut jw, &mut aw] {
        let m = ws.expect("new_message").await;
        assert_eq!(m["room_id"], room);
        assert_eq!(m["sender_id"], jane.id);
        assert_eq!(m["sender_username"], jane.username.as_str());
        assert_eq!(m["content"], "Hi there!");
        assert_eq!(m["seq"], 2);
        assert_eq!(m["sender_full_name"], "jane Tester");
        assert!(m["message_id"].as_i64().is_some());
        assert_eq!(m["message"]["id"], m["message_id"]);
        assert_eq!(
            keys(&m),
            [
                "type",
                "room_id",
                "message_id",
                "sender_id",
                "sender_username",
                "sender_full_name",
                "content",
                "created_at",
                "seq",
                "client_id",
                "message"
            ]
        );
        assert_eq!(keys(&m["message"]), crate::seed::MESSAGE_KEYS);
        // The seed's WebSocket form has a space; the nested message is REST's, with a `T`. Same
        // instant, no offset in either.
        assert_seed_time(&m["created_at"], ' ');
        assert_seed_time(&m["message"]["created_at"], 'T');
        assert_eq!(
            m["created_at"].as_str().map(|t| t.replace(' ', "T")).as_deref(),
            m["message"]["created_at"].as_str()
        );
    }
    let ack = aw.expect("ack").await;
    assert_eq!(ack["message"]["content"], "Hi there!");
    assert_seed_time(&ack["message"]["created_at"], 'T');

    aw.send(json!({"type": "typing", "room_id": room})).await;
    let typing = jw.expect("user_typing").await;
    assert_eq!((typing["user_id"].as_i64(), typing["is_typing"].as_bool()), (Some(jane.id), Some(true)));

    aw.send(json!({"type": "ping"})).await;
    assert_eq!(aw.expect("pong").await, json!({"type": "pong"}));

    aw.send(json!({"type": "leave_room", "room_id": room})).await;
    assert_eq!(
        aw.expect("room_left").await,
        json!({"type": "room_left", "room_id": room, "message": format!("Left room {room}")})
    );
    let left = jw.expect("user_left").await;
    assert_eq!(left, json!({"type": "user_left", "room_id": room, "user_id": jane.id, "username": jane.username}));
}

async fn connected_frame_is_the_seeds_exactly(app: TestApp) {
    let user = app.user("hello").await;
    for path in [format!("/ws/{}", user.access), "/ws".into()] {
        let mut ws = Ws::open(&app, &path).await;
        if path == "/ws" {
            ws.send(json!({"type": "auth", "token": user.access})).await;
        }
        // Byte for byte, key order included.
        let expected = format!(
            r#"{{"type":"connected","user_id":{},"username":{},"message":"Connected to chat server"}}"#,
            user.id,
            Value::from(user.username.as_str())
        );
        assert_eq!(ws.next_text().await.expect("connected"), expected, "{path}");
    }
}

async fn bad_tokens_in_the_url_are_refused_at_the_upgrade_with_403(app: TestApp) {
    let user = app.user("badtok").await;
    let mut forged = user.access.clone();
    forged.push('x');
    // The seed's form refuses before upgrading: HTTP 403 with an empty body, never a socket.
    for token in ["garbage", "a.b.c", forged.as_str(), user.refresh.as_str()] {
        assert_eq!(Ws::refused(&app, &format!("/ws/{token}"), &[]).await, (403, Vec::new()), "{token}");
    }
    // A logged-out session's token is refused too, while a live one still connects.
    let other_device = app.login(&user).await;
    let (status, _) = app.post_anon("/auth/logout", json!({"refresh_token": user.refresh})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(Ws::refused(&app, &format!("/ws/{}", user.access), &[]).await, (403, Vec::new()));
    Ws::connect(&app, &other_device.access).await;
    // The token is checked before the Origin, so a bad one is the same 403 from any page.
    let evil = [("origin", "https://evil.example")];
    assert_eq!(Ws::refused(&app, "/ws/garbage", &evil).await, (403, Vec::new()));
}

async fn origins_follow_cors_origins(app: TestApp) {
    let user = app.user("origin").await;
    let path = format!("/ws/{}", user.access);
    // By default (CORS_ORIGINS unset = `*`, as in the seed) any page may open a socket.
    let mut ws = Ws::try_open(&app, &path, &[("origin", "https://evil.example")]).await.expect("any origin by default");
    assert_eq!(ws.expect("connected").await["user_id"], user.id);
    ws.close().await;

    // With a list, another site's page may not ride a user's token; the server's own origin and
    // the listed ones may.
    let storage = app.stop().await;
    let app = TestApp::start(storage, &[("CORS_ORIGINS", "https://good.example")]).await;
    let (status, _) = Ws::refused(&app, &path, &[("origin", "https://evil.example")]).await;
    assert_eq!(status, 403, "cross-origin upgrade refused");
    for origin in ["https://good.example".to_string(), format!("http://{}", app.addr)] {
        let mut ws = Ws::try_open(&app, &path, &[("origin", &origin)]).await.expect("allowed origin");
        assert_eq!(ws.expect("connected").await["user_id"], user.id, "{origin}");
    }
    // Non-browser clients send no Origin at all.
    Ws::connect(&app, &user.access).await;
}

async fn plain_http_get_on_a_socket_path_is_not_found(app: TestApp) {
    let user = app.user("plain").await;
    // Even with a valid token: a GET that is not an upgrade says nothing about the token.
    for path in ["/ws/anything".to_string(), format!("/ws/{}", user.access)] {
        let resp = app.client.get(app.url(&path)).send().await.expect("request sent");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = resp.json().await.expect("JSON body");
        assert_eq!(body, json!({"detail": "Not Found"}), "{path}");
    }
}

async fn token_outside_the_url(app: TestApp) {
    let user = app.user("noturl").await;
    let mut ws = Ws::open(&app, "/ws").await;
    ws.send(json!({"type": "auth", "token": user.access})).await;
    assert_eq!(ws.expect("connected").await["user_id"], user.id);

    let mut ws = Ws::open_request(&app, "/ws", &[("sec-websocket-protocol", &format!("bearer.{}", user.access))])
        .await
        .expect("subprotocol accepted");
    assert_eq!(ws.expect("connected").await["user_id"], user.id);

    // Banter's own forms answer a bad token after the upgrade, with 4001: the seed's 403 never
    // applies here, and nothing else comes first.
    let invalid = || Err(Ended::Closed(4001, "Invalid token".into()));
    let mut ws = Ws::open(&app, "/ws").await;
    ws.send(json!({"type": "auth", "token": "nope"})).await;
    assert_eq!(ws.next().await, invalid());
    let mut ws = Ws::open_request(&app, "/ws", &[("sec-websocket-protocol", "bearer.nope")])
        .await
        .expect("subprotocol accepted");
    assert_eq!(ws.next().await, invalid());
    // A revoked session's token, in either form.
    let (status, _) = app.post_anon("/auth/logout", json!({"refresh_token": user.refresh})).await;
    assert_eq!(status, StatusCode::OK);
    let mut ws = Ws::open(&app, "/ws").await;
    ws.send(json!({"type": "auth", "token": user.access})).await;
    assert_eq!(ws.next().await, invalid());
    let mut ws = Ws::open_request(&app, "/ws", &[("sec-websocket-protocol", &format!("bearer.{}", user.access))])
        .await
        .expect("subprotocol accepted");
    assert_eq!(ws.next().await, invalid());
}

async fn every_device_gets_rest_and_ws_messages_live(app: TestApp) {
    let (alice, bob) = (app.user("dev").await, app.user("dev").await);
    let alice_laptop = app.login(&alice).await;
    let mut phone = Ws::subscribed(&app, &alice.access).await;
    let mut laptop = Ws::subscribed(&app, &alice_laptop.access).await;
    let mut bob_ws = Ws::subscribed(&app, &bob.access).await;

    // A brand-new DM sent over REST: both devices learn the room, then get the message.
    let (_, sent) =
        app.post("/messages/send", &bob.access, json!({"recipient_id": alice.id, "content": "via REST"})).await;
    let room = sent["data"]["room_id"].as_i64().expect("room");
    for ws in [&mut phone, &mut laptop] {
        let frames = ws.until("new_message").await;
        assert!(frames.iter().any(|f| f["type"] == "room_added" && f["room"]["room_id"] == room), "{frames:?}");
        assert_eq!(frames.last().expect("frame")["content"], "via REST");
    }
    assert_eq!(bob_ws.expect("new_message").await["content"], "via REST", "the sender's own devices too");

    // Sent over WebSocket from one device: every device of both users gets it.
    phone.send(json!({"type": "message", "room_id": room, "content": "via WS", "client_id": "p-1"})).await;
    for ws in [&mut laptop, &mut bob_ws] {
        assert_eq!(ws.expect("new_message").await["content"], "via WS");
    }
    let frames = phone.until("ack").await;
    assert_eq!(frames.last().expect("ack")["client_id"], "p-1");
}

async fn removed_members_and_strangers_receive_nothing(app: TestApp) {
    let (owner, member, stranger) = (app.user("rm").await, app.user("rm").await, app.user("rm").await);
    let gid = group_of(&app, &owner, &[&member]).await;
    // A control room each listener is in, to prove ordering instead of sleeping.
    let member_control = pair_room(&app, &owner, &member).await;
    let stranger_control = pair_room(&app, &owner, &stranger).await;
    let mut mw = Ws::subscribed(&app, &member.access).await;
    let mut sw = Ws::subscribed(&app, &stranger.access).await;
    sw.send(json!({"type": "join_room", "room_id": gid})).await;
    assert_eq!(sw.expect("error").await, no_access(), "strangers cannot join");

    app.post("/groups/send", &owner.access, json!({"group_id": gid, "content": "before"})).await;
    assert_eq!(mw.expect("new_message").await["content"], "before");

    let (status, _) = app.delete(&format!("/groups/{gid}/members"), &owner.access, json!({"user_id": member.id})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mw.expect("room_removed").await["room_id"], gid);
    app.post("/groups/send", &owner.access, json!({"group_id": gid, "content": "after"})).await;
    app.post("/groups/send", &owner.access, json!({"group_id": gid, "content": "secret"})).await;
    app.post("/messages/send", &owner.access, json!({"recipient_id": member.id, "content": "control"})).await;
    app.post("/messages/send", &owner.access, json!({"recipient_id": stranger.id, "content": "control"})).await;
    // Frames for one connection are ordered: had "after"/"secret" reached them, they would come first.
    for (ws, control) in [(&mut mw, member_control), (&mut sw, stranger_control)] {
        let frames = ws.until("new_message").await;
        let last = frames.last().expect("frame");
        assert_eq!(
            (last["room_id"].as_i64(), last["content"].as_str()),
            (Some(control), Some("control")),
            "{frames:?}"
        );
        assert!(frames.iter().all(|f| f["room_id"] != gid || f["type"] == "room_removed"), "{frames:?}");
    }
    mw.send(json!({"type": "message", "room_id": gid, "content": "let me in", "client_id": "in-1"})).await;
    let mut refused = not_in_room();
    refused["client_id"] = json!("in-1");
    assert_eq!(mw.expect("error").await, refused);
    // Nor by joining again.
    mw.send(json!({"type": "join_room", "room_id": gid})).await;
    assert_eq!(mw.expect("error").await, no_access());
}

async fn ack_after_commit_and_idempotent_resend_across_restart(app: TestApp) {
    let (a, b) = (app.user("ack").await, app.user("ack").await);
    let room = pair_room(&app, &a, &b).await;
    let mut ws = Ws::connect(&app, &a.access).await;
    let frame = json!({"type": "message", "room_id": room, "content": "exactly once", "client_id": "c-77"});
    ws.send(frame.clone()).await;
    let ack = ws.expect("ack").await;
    assert_eq!(ack["client_id"], "c-77");
    let id = ack["message"]["id"].as_i64().expect("id");
    assert_eq!(ack["message"]["seq"], 2);
    // Acknowledged means committed: it is in the history already.
    let (_, history) = app.get(&format!("/rooms/{room}/messages"), &b.access).await;
    assert_eq!(history[1]["id"], id);

    ws.send(frame.clone()).await;
    assert_eq!(ws.expect("ack").await["message"]["id"], id, "a resend returns the original");
    ws.close().await;

    let storage = app.stop().await;
    let app = TestApp::start(storage, &[]).await;
    let mut ws = Ws::connect(&app, &a.access).await;
    ws.send(frame).await;
    assert_eq!(ws.expect("ack").await["message"]["id"], id, "and so after a server restart");
    let (_, history) = app.get(&format!("/rooms/{room}/messages"), &b.access).await;
    let count = history.as_array().expect("list").iter().filter(|m| m["content"] == "exactly once").count();
    assert_eq!(count, 1);
}

async fn reconnect_with_sync_gets_every_missed_message_once(app: TestApp) {
    let (me, bob) = (app.user("sync").await, app.user("sync").await);
    let room = pair_room(&app, &bob, &me).await;
    let mut ws = Ws::subscribed(&app, &me.access).await;
    app.post("/messages/send", &bob.access, json!({"recipient_id": me.id, "content": "seen"})).await;
    let last_seen = ws.expect("new_message").await["seq"].as_i64().expect("seq");
    ws.close().await;

    for i in 1..=5 {
        app.post("/messages/send", &bob.access, json!({"recipient_id": me.id, "content": format!("missed {i}")})).await;
    }
    let mut ws = Ws::connect(&app, &me.access).await;
    ws.send(json!({"type": "sync", "rooms": {room.to_string(): last_seen}})).await;
    let frames = ws.until("sync_complete").await;
    let missed: Vec<&str> =
        frames.iter().filter(|f| f["type"] == "new_message").map(|f| f["content"].as_str().expect("c")).collect();
    assert_eq!(missed, ["missed 1", "missed 2", "missed 3", "missed 4", "missed 5"]);
    assert_eq!(frames.last().expect("done")["rooms"][room.to_string()], last_seen + 5);
    assert_eq!(frames.last().expect("done")["complete"], true);
    // Then live, with no gap: sync subscribed the connection.
    app.post("/messages/send", &bob.access, json!({"recipient_id": me.id, "content": "live"})).await;
    let live = ws.expect("new_message").await;
    assert_eq!((live["content"].as_str(), live["seq"].as_i64()), (Some("live"), Some(last_seen + 6)));
}

async fn a_slow_reader_is_cut_off_while_others_keep_up(app: TestApp) {
    let (sender, fast, slow) = (app.user("slow").await, app.user("slow").await, app.user("slow").await);
    let gid = group_of(&app, &sender, &[&fast, &slow]).await;
    let mut fast_ws = Ws::subscribed(&app, &fast.access).await;
    // The slow client subscribes, then never reads again; a tiny receive buffer fills quickly.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let tcp = socket.connect(app.addr).await.expect("tcp");
    let url = format!("ws://{}/ws/{}", app.addr, slow.access);
    let (mut slow_ws, _) = tokio_tungstenite::client_async(url, tcp).await.expect("slow client");
    use futures_util::SinkExt as _;
    slow_ws
        .send(tokio_tungstenite::tungstenite::Message::text(json!({"type": "subscribe_all"}).to_string()))
        .await
        .expect("sub");
    let connections = |app: &TestApp| app.state.hub.connection_count();
    // Wait (on the hub's own count) until both are registered.
    while connections(&app) < 2 {
        tokio::task::yield_now().await;
    }

    let body = "x".repeat(5000);
    let mut sent = 0;
    // Bounded: stop as soon as the slow connection is gone, and never past 2,500 messages.
    while connections(&app) > 1 && sent < 2500 {
        let batch =
            (0..25).map(|_| app.post("/groups/send", &sender.access, json!({"group_id": gid, "content": body})));
        for (status, _) in futures_util::future::join_all(batch).await {
            assert_eq!(status, StatusCode::CREATED);
        }
        sent += 25;
        // The fast reader keeps up the whole time.
        for _ in 0..25 {
            fast_ws.expect("new_message").await;
        }
    }
    // Once told to stop, the connection tries for a second to send its close frame, then goes.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while connections(&app) > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(connections(&app), 1, "the slow connection was cut off after {sent} messages");
    // What the stalled client sees when it reads again: the frames that were on their way,
    // whole and in order, then the end — with a 4008 close frame if one got through (it cannot
    // while the client's buffers are full; the server tries for a moment).
    use futures_util::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;
    let mut seqs = Vec::new();
    loop {
        match tokio::time::timeout(crate::ws::WAIT, slow_ws.next()).await.expect("the stream ends") {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).expect("a whole JSON frame");
                if frame["type"] == "new_message" {
                    seqs.push(frame["seq"].as_i64().expect("seq"));
                }
            }
            Some(Ok(Message::Close(Some(close)))) => {
                assert_eq!(u16::from(close.code), 4008, "{close:?}");
                break;
            }
            Some(Ok(_)) => {}
            None | Some(Err(_)) => break,
        }
    }
    assert!(!seqs.is_empty() && seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    drop(slow_ws);
    app.post("/groups/send", &sender.access, json!({"group_id": gid, "content": "still flowing"})).await;
    assert_eq!(fast_ws.expect("new_message").await["content"], "still flowing");
}

async fn bad_frames_get_errors_and_the_connection_survives(app: TestApp) {
    let user = app.user("bad").await;
    let mut ws = Ws::connect(&app, &user.access).await;
    let bad_frame = |message: &str| json!({"type": "error", "code": "bad_frame", "message": message});
    let exact: [(&str, Value); 9] = [
        ("[1, 2]", bad_frame("Frames must be JSON objects")),
        (r#""ping""#, bad_frame("Frames must be JSON objects")),
        (r#"{"room_id": 1}"#, bad_frame("Unknown message type: None")),
        (r#"{"type": null}"#, bad_frame("Unknown message type: None")),
        (r#"{"type": "teleport"}"#, bad_frame("Unknown message type: teleport")),
        (r#"{"type": "join_room"}"#, no_access()),
        (r#"{"type": "join_room", "room_id": null}"#, no_access()),
        (r#"{"type": "join_room", "room_id": "abc"}"#, no_access()),
        (r#"{"type": "join_room", "room_id": 999999999}"#, no_access()),
    ];
    for (raw, expected) in exact {
        ws.send_raw(raw.into()).await;
        assert_eq!(ws.expect("error").await, expected, "{raw}");
    }
    ws.send_raw("{not json".into()).await;
    let err = ws.expect("error").await;
    assert_eq!(err["code"], "bad_frame", "{err}");
    assert!(err["message"].as_str().is_some_and(|m| m.starts_with("Invalid JSON: ")), "{err}");
    // Invalid content is refused whatever the room, before anything is stored.
    let long = "x".repeat(5001);
    for content in ["", "   ", long.as_str()] {
        ws.send(json!({"type": "message", "room_id": 1, "content": content})).await;
        let err = ws.expect("error").await;
        assert_eq!(err["code"], "validation_error", "{content:?}: {err}");
        assert!(err["message"].as_str().is_some_and(|m| m.contains("content")), "{err}");
    }
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.expect("pong").await, json!({"type": "pong"}));
}

async fn presence_follows_the_last_device(app: TestApp) {
    let (watcher, bob) = (app.user("pw").await, app.user("pb").await);
    pair_room(&app, &watcher, &bob).await;
    let mut ww = Ws::connect(&app, &watcher.access).await;
    let phone = Ws::connect(&app, &bob.access).await;
    let p = ww.until("presence").await.pop().expect("presence");
    assert_eq!((p["user_id"].as_i64(), p["online"].as_bool()), (Some(bob.id), Some(true)));
    let (_, online) = app.get("/ws/online-users", &watcher.access).await;
    assert_eq!(online["online_users"], json!([watcher.id.min(bob.id), watcher.id.max(bob.id)]));
    let (_, rooms) = app.get("/rooms", &watcher.access).await;
    assert_eq!(rooms[0]["other_user"]["online"], true);

    let laptop_session = app.login(&bob).await;
    let laptop = Ws::connect(&app, &laptop_session.access).await;
    phone.close().await;
    // Still online: no presence frame yet. Closing the last device sends offline.
    laptop.close().await;
    let p = ww.until("presence").await.pop().expect("presence");
    assert_eq!(
        (p["user_id"].as_i64(), p["online"].as_bool()),
        (Some(bob.id), Some(false)),
        "only after the last device"
    );
    let (_, online) = app.get("/ws/online-users", &watcher.access).await;
    assert_eq!(online["online_users"], json!([watcher.id]));
}

async fn typing_is_relayed_to_others_and_expires(app: TestApp) {
    let (typist, reader, outsider) = (app.user("ty").await, app.user("ty").await, app.user("ty").await);
    let room = pair_room(&app, &typist, &reader).await;
    let mut tw = Ws::subscribed(&app, &typist.access).await;
    let mut rw = Ws::subscribed(&app, &reader.access).await;
    tw.send(json!({"type": "typing", "room_id": room, "is_typing": true})).await;
    let on = rw.expect("user_typing").await;
    assert_eq!((on["user_id"].as_i64(), on["is_typing"].as_bool()), (Some(typist.id), Some(true)));
    // It ends by itself a few seconds later (waited for as an event, bounded by the wait).
    let off = rw.expect("user_typing").await;
    assert_eq!((off["user_id"].as_i64(), off["is_typing"].as_bool()), (Some(typist.id), Some(false)));
    // The typist never hears their own typing; an outsider cannot type into the room.
    tw.send(json!({"type": "ping"})).await;
    let frames = tw.until("pong").await;
    assert!(frames.iter().all(|f| f["type"] != "user_typing"), "{frames:?}");
    let mut ow = Ws::connect(&app, &outsider.access).await;
    ow.send(json!({"type": "typing", "room_id": room})).await;
    assert_eq!(ow.expect("error").await, not_in_room());

    // Typing, sending, and typing again at once: the message ends the first indicator and the
    // next keystroke starts a new one, announced at once (not held back by the flood guard).
    tw.send(json!({"type": "typing", "room_id": room, "is_typing": true})).await;
    assert_eq!(rw.expect("user_typing").await["is_typing"], true);
    tw.send(json!({"type": "message", "room_id": room, "content": "sent", "client_id": "ty-1"})).await;
    tw.expect_skipping("ack").await;
    tw.send(json!({"type": "typing", "room_id": room, "is_typing": true})).await;
    let frames = rw.until("user_typing").await;
    let frames = [frames, rw.until("user_typing").await].concat();
    let typing: Vec<bool> =
        frames.iter().filter(|f| f["type"] == "user_typing").filter_map(|f| f["is_typing"].as_bool()).collect();
    assert_eq!(typing, [false, true], "stopped by the message, started again: {frames:?}");
}

async fn revoked_sessions_and_shutdown_close_sockets(app: TestApp) {
    let user = app.user("rev").await;
    let mut ws = Ws::connect(&app, &user.access).await;
    app.post("/auth/logout-all", &user.access, json!({})).await;
    assert_eq!(ws.ended().await, Ended::Closed(4003, "session revoked".into()));

    let again = app.login(&user).await;
    let other = app.user("rev").await;
    let room = pair_room(&app, &again, &other).await;
    let mut ws = Ws::connect(&app, &again.access).await;
    ws.send(json!({"type": "message", "room_id": room, "content": "last words", "client_id": "lw"})).await;
    let ack: Value = ws.expect("ack").await;
    assert_eq!(ack["client_id"], "lw");
    let stopping = tokio::spawn(app.stop());
    assert_eq!(ws.ended().await, Ended::Closed(1001, "server shutting down".into()));
    stopping.await.expect("server stopped");
}

async fn read_frames_move_the_position_on_every_device(app: TestApp) {
    use banter_protocol::ClientFrame;
    let (reader, writer) = (app.user("rd").await, app.user("rd").await);
    let room = pair_room(&app, &writer, &reader).await;
    app.post("/messages/send", &writer.access, json!({"recipient_id": reader.id, "content": "two"})).await;
    let other_device = app.login(&reader).await;
    let mut phone = Ws::connect(&app, &reader.access).await;
    let mut laptop = Ws::connect(&app, &other_device.access).await;
    phone.send_frame(&ClientFrame::Read { room_id: room, up_to: 1 }).await;
    for ws in [&mut phone, &mut laptop] {
        let read = ws.expect("read").await;
        assert_eq!(
            read,
            json!({"type": "read", "room_id": room, "user_id": reader.id, "last_read_seq": 1, "unread_count": 1})
        );
    }
    let (_, rooms) = app.get("/rooms", &reader.access).await;
    assert_eq!(rooms[0]["unread_count"], 1);
    phone.send_frame(&ClientFrame::Read { room_id: 999_999_999, up_to: 1 }).await;
    assert_eq!(phone.expect("error").await["code"], "not_found");
}

#[tokio::test]
async fn connections_past_the_limit_are_refused_with_503() {
    let storage = crate::helpers::Storage::new(crate::helpers::Backend::Sqlite).await.expect("sqlite");
    let app = TestApp::start(storage, &[("MAX_CONNECTIONS", "2")]).await;
    let user = app.user("cap").await;
    let _one = Ws::connect(&app, &user.access).await;
    let two = Ws::connect(&app, &user.access).await;
    let refused = Ws::open_request(&app, &format!("/ws/{}", user.access), &[]).await;
    assert!(refused.as_ref().is_err_and(|e| e.contains("503")), "{:?}", refused.err());
    // The server closes the socket only after the hub has forgotten the connection, so once the
    // close completes the slot is free.
    two.close().await;
    assert_eq!(app.state.hub.connection_count(), 1);
    Ws::connect(&app, &user.access).await;
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_dropped() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let storage = crate::helpers::Storage::new(crate::helpers::Backend::Sqlite).await.expect("sqlite");
    let app = TestApp::start(storage, &[("WS_PING_SECONDS", "1")]).await;
    let user = app.user("dead").await;
    // A raw client: it completes the handshake, then never writes again (no pongs), only reads
    // until the server hangs up. Any WebSocket library would answer pings for it.
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.expect("tcp");
    let request = format!(
        "GET /ws/{} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        user.access, app.addr
    );
    tcp.write_all(request.as_bytes()).await.expect("handshake sent");
    let mut received = Vec::new();
    let read = tokio::time::timeout(crate::ws::WAIT, tcp.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the server hung up on the silent peer within the wait");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    assert!(text.contains("Connected to chat server"), "it was a live connection first");
    // The last frame is a close (opcode 8) with code 1001 (0x03E9) and a reason.
    let close = received.windows(4).rposition(|w| w[0] == 0x88 && w[2] == 0x03 && w[3] == 0xE9);
    assert!(close.is_some(), "closed with 1001: {text}");
    assert!(text.ends_with("no answer to ping"), "{text}");
    assert_eq!(app.state.hub.connection_count(), 0);
}

async fn outsiders_cannot_type_into_a_room(app: TestApp) {
    let (owner, member, outsider) = (app.user("ot").await, app.user("ot").await, app.user("ot").await);
    let room = pair_room(&app, &owner, &member).await;
    let mut mw = Ws::subscribed(&app, &member.access).await;
    let mut ow = Ws::connect(&app, &outsider.access).await;
    ow.send(json!({"type": "typing", "room_id": room, "is_typing": true})).await;
    assert_eq!(ow.expect("error").await, not_in_room());
    // A stop from outside is refused the same way, and relays nothing either.
    ow.send(json!({"type": "typing", "room_id": room, "is_typing": false})).await;
    assert_eq!(ow.expect("error").await, not_in_room());
    ow.send(json!({"type": "ping"})).await;
    ow.expect("pong").await;
    app.post("/messages/send", &owner.access, json!({"recipient_id": member.id, "content": "control"})).await;
    let frames = mw.until("new_message").await;
    assert!(frames.iter().all(|f| f["type"] != "user_typing"), "{frames:?}");
}

async fn leave_room_overrides_subscribe_all(app: TestApp) {
    let (me, a, b) = (app.user("lr").await, app.user("lr").await, app.user("lr").await);
    let quiet = pair_room(&app, &a, &me).await;
    let control = pair_room(&app, &b, &me).await;
    let mut ws = Ws::subscribed(&app, &me.access).await;
    ws.send(json!({"type": "leave_room", "room_id": quiet})).await;
    ws.expect("room_left").await;
    app.post("/messages/send", &a.access, json!({"recipient_id": me.id, "content": "muted"})).await;
    app.post("/messages/send", &b.access, json!({"recipient_id": me.id, "content": "control"})).await;
    let frames = ws.until("new_message").await;
    let last = frames.last().expect("frame");
    assert_eq!((last["room_id"].as_i64(), last["content"].as_str()), (Some(control), Some("control")), "{frames:?}");
    // Joining again brings it back.
    ws.send(json!({"type": "join_room", "room_id": quiet})).await;
    ws.expect("room_joined").await;
    app.post("/messages/send", &a.access, json!({"recipient_id": me.id, "content": "back"})).await;
    assert_eq!(ws.expect("new_message").await["content"], "back");
}

async fn frame_floods_are_rate_limited(app: TestApp) {
    let user = app.user("flood").await;
    let mut ws = Ws::connect(&app, &user.access).await;
    for _ in 0..400 {
        ws.send(json!({"type": "ping"})).await;
    }
    let mut pongs = 0;
    let mut limited = 0;
    while pongs + limited < 400 {
        let frame = ws.next().await.expect("frame");
        match frame["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") if frame["code"] == "rate_limited" => limited += 1,
            other => panic!("unexpected {other:?}: {frame}"),
        }
    }
    assert!(pongs >= 200 && limited > 0, "{pongs} answered, {limited} refused");
}

async fn room_ids_may_be_numeric_strings_and_are_echoed(app: TestApp) {
    let (me, peer) = (app.user("str").await, app.user("str").await);
    let room = pair_room(&app, &me, &peer).await;
    let mut mw = Ws::connect(&app, &me.access).await;
    let mut pw = Ws::connect(&app, &peer.access).await;
    pw.send(json!({"type": "join_room", "room_id": room})).await;
    pw.expect("room_joined").await;

    // A numeric string names the same room, and is echoed as sent.
    let as_text = room.to_string();
    mw.send(json!({"type": "join_room", "room_id": as_text})).await;
    assert_eq!(
        mw.expect("room_joined").await,
        json!({"type": "room_joined", "room_id": as_text, "message": format!("Joined room {room}")})
    );
    let joined = pw.expect("user_joined").await;
    assert_eq!(joined, json!({"type": "user_joined", "room_id": room, "user_id": me.id, "username": me.username}));
    // Joined through the string, the socket gets the room's messages; sent through the string,
    // a message lands in the room.
    let said = |m: &Value| (m["room_id"].as_i64(), m["content"].as_str().map(str::to_owned));
    pw.send(json!({"type": "message", "room_id": room, "content": "to the number"})).await;
    pw.until("ack").await;
    assert_eq!(said(&mw.expect("new_message").await), (Some(room), Some("to the number".into())));
    mw.send(json!({"type": "message", "room_id": as_text, "content": "from the string", "client_id": "s-1"})).await;
    assert_eq!(said(&pw.expect("new_message").await), (Some(room), Some("from the string".into())));
    let frames = mw.until("ack").await;
    assert_eq!(frames.last().expect("ack")["client_id"], "s-1");

    mw.send(json!({"type": "leave_room", "room_id": as_text})).await;
    assert_eq!(
        mw.expect("room_left").await,
        json!({"type": "room_left", "room_id": as_text, "message": format!("Left room {room}")})
    );
    assert_eq!(pw.expect("user_left").await["user_id"], me.id);
    // Leaving always answers, even with no room at all.
    mw.send(json!({"type": "leave_room", "room_id": null})).await;
    assert_eq!(
        mw.expect("room_left").await,
        json!({"type": "room_left", "room_id": null, "message": "Left room None"})
    );
    mw.send(json!({"type": "leave_room"})).await;
    assert_eq!(
        mw.expect("room_left").await,
        json!({"type": "room_left", "room_id": null, "message": "Left room None"})
    );
    // Left through the string means left: the next message reaches only the control ping.
    pw.send(json!({"type": "message", "room_id": room, "content": "after leaving"})).await;
    pw.until("ack").await;
    mw.send(json!({"type": "ping"})).await;
    let frames = mw.until("pong").await;
    assert!(frames.iter().all(|f| f["type"] != "new_message"), "{frames:?}");
}

/// A JSON `ping` frame of exactly `len` bytes.
fn padded_ping(len: usize) -> String {
    let overhead = r#"{"type": "ping", "pad": ""}"#.len();
    let frame = format!(r#"{{"type": "ping", "pad": "{}"}}"#, "x".repeat(len - overhead));
    assert_eq!(frame.len(), len);
    frame
}

async fn oversized_frames_close_with_1009(app: TestApp) {
    let user = app.user("big").await;
    let mut ws = Ws::connect(&app, &user.access).await;
    // 65,536 bytes is still a frame.
    ws.send_raw(padded_ping(65_536)).await;
    assert_eq!(ws.expect("pong").await, json!({"type": "pong"}));
    // One byte past it, and well past it: a clean close handshake with 1009 and a reason, which
    // the client receives as a Close frame (not a reset connection).
    ws.send_raw(padded_ping(70_000)).await;
    match ws.ended().await {
        Ended::Closed(code, reason) => {
            assert_eq!(code, 1009);
            assert!(!reason.is_empty(), "a reason");
        }
        Ended::Dropped => panic!("a 70,000-byte frame must get a close frame, not a dropped connection"),
    }

    // 2 MB is past what the server reads at all: it stops at the frame's header. Whether the
    // client still reads the 1009 close before the connection goes away depends on timing, so
    // only the outcome's kind is checked (never a normal frame), and the server keeps serving.
    let mut ws = Ws::connect(&app, &user.access).await;
    let sent = ws.try_send_raw(padded_ping(2_000_000)).await;
    let seen = ws.next_message().await;
    eprintln!("2 MB frame: send -> {sent:?}; client then saw -> {seen:?}");
    match seen {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(close)))) => {
            assert_eq!(u16::from(close.code), 1009);
        }
        Some(Ok(other)) => panic!("a 2 MB frame must end the connection, got {other:?}"),
        Some(Err(_)) | None => {}
    }
    let mut ws = Ws::connect(&app, &user.access).await;
    ws.send(json!({"type": "ping"})).await;
    ws.expect("pong").await;
}

async fn binary_frames_get_an_error_and_count_toward_the_rate_limit(app: TestApp) {
    let user = app.user("bin").await;
    let mut ws = Ws::connect(&app, &user.access).await;
    let refused = json!({"type": "error", "code": "bad_frame", "message": "Frames must be JSON text"});
    // Even a binary frame holding valid JSON: the seed's protocol is text.
    for data in [vec![0u8, 159, 146, 150], br#"{"type": "ping"}"#.to_vec()] {
        ws.send_binary(data).await;
        assert_eq!(ws.expect("error").await, refused);
        ws.send(json!({"type": "ping"})).await;
        assert_eq!(ws.expect("pong").await, json!({"type": "pong"}), "the connection keeps working");
    }
    // A flood of binary frames is rate limited like one of text frames (on a fresh budget).
    ws.close().await;
    let mut ws = Ws::connect(&app, &user.access).await;
    for _ in 0..400 {
        ws.send_binary(b"x".to_vec()).await;
    }
    let (mut answered, mut limited) = (0, 0);
    while answered + limited < 400 {
        let frame = ws.next().await.expect("frame");
        match frame["code"].as_str() {
            Some("bad_frame") => answered += 1,
            Some("rate_limited") => limited += 1,
            _ => panic!("unexpected {frame}"),
        }
    }
    assert!(answered >= 200 && limited > 0, "{answered} answered, {limited} refused");
    // Still alive: once the budget refills, ping is answered. A refusal says how long to wait,
    // and a client that keeps hammering instead is cut off — so this one waits as told.
    loop {
        ws.send(json!({"type": "ping"})).await;
        let frame = ws.next().await.expect("frame");
        if frame["type"] == "pong" {
            break;
        }
        assert_eq!(frame["code"], "rate_limited", "{frame}");
        let wait = frame["retry_after_ms"].as_u64().expect("retry_after_ms").min(1000);
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
    }
}
