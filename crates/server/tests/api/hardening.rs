//! Hardening for the open internet: privacy of presence, the people directory, and response
//! headers (more limits and timeouts alongside).

use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::{
    helpers::{execute, session_of, Storage, TestApp},
    ws::{Ended, Ws},
};

backend_tests!(
    presence_is_shown_only_to_people_who_share_a_room,
    a_shared_directory_lists_only_people_you_share_a_room_with,
    a_socket_ends_with_its_session,
);

fn names(found: &Value) -> Vec<&str> {
    found.as_array().expect("a list").iter().map(|u| u["username"].as_str().expect("username")).collect()
}

/// A stranger (no room in common) never learns whether someone is online; a co-member does.
async fn presence_is_shown_only_to_people_who_share_a_room(app: TestApp) {
    let (online, friend, stranger) = (app.user("seen").await, app.user("friend").await, app.user("stranger").await);
    let (status, _) = app.post("/groups/create", &friend.access, json!({"name": "f", "member_ids": [online.id]})).await;
    assert_eq!(status, StatusCode::CREATED);
    let _socket = Ws::subscribed(&app, &online.access).await;

    let (_, profile) = app.get(&format!("/users/{}", online.id), &friend.access).await;
    assert_eq!(
        (profile["username"].as_str(), profile["online"].as_bool()),
        (Some(online.username.as_str()), Some(true))
    );
    let (_, profile) = app.get(&format!("/users/{}", online.id), &stranger.access).await;
    assert_eq!(
        (profile["username"].as_str(), profile["online"].as_bool()),
        (Some(online.username.as_str()), Some(false))
    );
    let (_, me) = app.get(&format!("/users/{}", online.id), &online.access).await;
    assert_eq!(me["online"], true, "your own presence: {me}");

    let search = format!("/users/search?q={}", online.username);
    let (_, found) = app.get(&search, &friend.access).await;
    assert_eq!((names(&found), found[0]["online"].as_bool()), (vec![online.username.as_str()], Some(true)));
    let (_, found) = app.get(&search, &stranger.access).await;
    assert_eq!((names(&found), found[0]["online"].as_bool()), (vec![online.username.as_str()], Some(false)));
}

/// `DIRECTORY=shared`: search finds the people you share a room with, and someone else only by
/// their exact username (in any case) — never by a prefix or their full name.
async fn a_shared_directory_lists_only_people_you_share_a_room_with(app: TestApp) {
    let storage: Storage = app.stop().await;
    let app = TestApp::start(storage, &[("DIRECTORY", "shared")]).await;
    let me = app.user("dirme").await;
    let (friend, other) = (app.user("dirpal").await, app.user("dirpal").await);
    let (status, _) = app.post("/groups/create", &me.access, json!({"name": "d", "member_ids": [friend.id]})).await;
    assert_eq!(status, StatusCode::CREATED);

    // Both names start with "dirpal_": only the co-member is listed.
    let (_, found) = app.get("/users/search?q=dirpal", &me.access).await;
    assert_eq!(names(&found), vec![friend.username.as_str()]);
    // By full name ("dirpal Tester"): the same.
    let (_, found) = app.get("/users/search?q=dirpal%20tester", &me.access).await;
    assert_eq!(names(&found), vec![friend.username.as_str()]);
    // The exact username, even in another case, finds anyone.
    let (_, found) = app.get(&format!("/users/search?q={}", other.username.to_uppercase()), &me.access).await;
    assert_eq!(names(&found), vec![other.username.as_str()]);
    assert_eq!(found[0]["online"], false);
}

/// Token answers are never cached; no page can be framed by another site.
#[tokio::test]
async fn private_answers_are_not_cached_and_pages_cannot_be_framed() {
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Sqlite).await else { return };
    let user = app.user("hdr").await;
    let login = app
        .client
        .post(app.url("/auth/login"))
        .json(&json!({"username": user.username, "password": crate::helpers::PASSWORD}))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(login.headers()[header::CACHE_CONTROL], "no-store");
    for path in ["/docs/", "/redoc", "/"] {
        let page = app.client.get(app.url(path)).header(header::ACCEPT, "text/html").send().await.expect("sent");
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY", "{path}");
        let csp = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    }
    // Static files keep their own caching (revalidated by ETag).
    let css = app.client.get(app.url("/app.css")).send().await.expect("sent");
    assert_eq!(css.headers()[header::CACHE_CONTROL], "no-cache");
}

/// An open socket lives only as long as its session: one that expired, or was revoked without
/// this node hearing of it (the event lost), is closed at the next check — and only that one.
async fn a_socket_ends_with_its_session(app: TestApp) {
    let storage: Storage = app.stop().await;
    let app = TestApp::start(storage.clone(), &[("SESSION_CHECK_SECONDS", "1")]).await;
    let user = app.user("sess").await;
    let (expiring, revoked) = (app.login(&user).await, app.login(&user).await);
    let mut stays = Ws::subscribed(&app, &user.access).await;
    let mut expires = Ws::subscribed(&app, &expiring.access).await;
    let mut dies = Ws::subscribed(&app, &revoked.access).await;

    let sql = "UPDATE refresh_tokens SET expires_at = created_at WHERE session_id = $1";
    assert!(execute(&storage, sql, &session_of(&expiring.access)).await > 0);
    let sql = "UPDATE refresh_tokens SET revoked_at = created_at WHERE session_id = $1";
    assert!(execute(&storage, sql, &session_of(&revoked.access)).await > 0);

    assert_eq!(expires.ended().await, Ended::Closed(4003, "session revoked".into()));
    assert_eq!(dies.ended().await, Ended::Closed(4003, "session revoked".into()));
    stays.send(json!({"type": "ping"})).await;
    stays.expect("pong").await;
}
