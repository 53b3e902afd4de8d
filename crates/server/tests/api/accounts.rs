//! `/auth/*`: every endpoint's success and failure paths, token forging, rotation and reuse,
//! revocation of access tokens, and that no response ever carries a password or its hash.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{unique, TestApp, PASSWORD, SECRET};

backend_tests!(
    register_returns_the_user_and_a_working_token_pair,
    register_reports_every_invalid_field,
    register_rejects_malformed_bodies,
    register_refuses_duplicates_regardless_of_case,
    login_by_username_or_email_in_any_case,
    login_failures_are_indistinguishable,
    passwords_are_never_truncated,
    me_requires_a_valid_bearer_token,
    forged_and_expired_tokens_are_refused,
    refresh_rotates_and_reuse_revokes_the_session,
    concurrent_refresh_of_one_token_succeeds_once,
    logout_ends_one_session_only,
    logout_all_ends_every_session_at_once,
    change_password_checks_and_revokes,
    no_response_contains_a_password_or_hash,
    a_refresh_racing_logout_all_never_survives_it,
    non_ascii_emails_compare_the_same_on_both_backends,
);

async fn register_returns_the_user_and_a_working_token_pair(app: TestApp) {
    let username = unique("Reg");
    let (status, body) = app
        .post_anon(
            "/auth/register",
            json!({"username": username, "email": format!("{username}@Example.com"), "password": PASSWORD, "full_name": "Reg Istered"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["message"], "User registered successfully");
    assert_eq!(body["user"]["username"], username.as_str());
    assert_eq!(body["user"]["email"], format!("{username}@Example.com"));
    assert_eq!(body["user"]["full_name"], "Reg Istered");
    assert_eq!(body["user"]["is_active"], true);
    assert!(body["user"]["id"].as_i64().is_some_and(|id| id > 0));
    assert_eq!(body["tokens"]["token_type"], "bearer");

    let access = body["tokens"]["access_token"].as_str().expect("access token");
    let (status, me) = app.get("/auth/me", access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], body["user"]["id"]);
    assert_eq!(me["username"], username.as_str());
    assert!(me["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "UTC timestamps: {me}");
}

fn locs(body: &Value) -> Vec<String> {
    body["detail"]
        .as_array()
        .expect("a list of field errors")
        .iter()
        .map(|e| {
            assert!(e["msg"].as_str().is_some_and(|m| !m.is_empty()), "each error explains itself: {e}");
            e["loc"]
                .as_array()
                .expect("loc")
                .iter()
                .map(|p| p.as_str().map_or(p.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect()
}

async fn register_reports_every_invalid_field(app: TestApp) {
    let ok = unique("ok");
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"username": "ab", "email": format!("{ok}@x.io"), "password": PASSWORD}), vec!["body.username"]),
        (
            json!({"username": "x".repeat(51), "email": format!("{ok}@x.io"), "password": PASSWORD}),
            vec!["body.username"],
        ),
        (json!({"username": "bad name!", "email": format!("{ok}@x.io"), "password": PASSWORD}), vec!["body.username"]),
        (json!({"username": ok, "email": "not-an-email", "password": PASSWORD}), vec!["body.email"]),
        (json!({"username": ok, "email": format!("{ok}@x.io"), "password": "1234567"}), vec!["body.password"]),
        (json!({"username": ok, "email": format!("{ok}@x.io"), "password": "p".repeat(101)}), vec!["body.password"]),
        (
            json!({"username": ok, "email": format!("{ok}@x.io"), "password": PASSWORD, "full_name": "n".repeat(101)}),
            vec!["body.full_name"],
        ),
        (json!({"username": "a", "email": "b", "password": "c"}), vec!["body.username", "body.email", "body.password"]),
    ];
    for (body, expected) in cases {
        let (status, resp) = app.post_anon("/auth/register", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {resp}");
        assert_eq!(locs(&resp), expected, "{body}");
    }
    // Nothing was created by the failed attempts.
    let (status, _) = app.post_anon("/auth/login", json!({"username": ok, "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn register_rejects_malformed_bodies(app: TestApp) {
    let (status, body) = app.post_anon("/auth/register", json!({"email": "a@b.io", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["type"], "missing");
    assert_eq!(locs(&body), vec!["body.username"]);

    let (status, body) =
        app.post_anon("/auth/register", json!({"username": 42, "email": "a@b.io", "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(locs(&body), vec!["body.username"]);

    let resp = app.client.post(app.url("/auth/register")).body("{not json").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.expect("json error body");
    assert_eq!(body["detail"][0]["type"], "json_invalid");

    // Oversized bodies are refused before parsing.
    let huge = json!({"username": "x".repeat(100_000), "email": "a@b.io", "password": PASSWORD});
    let (status, _) = app.post_anon("/auth/register", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

async fn register_refuses_duplicates_regardless_of_case(app: TestApp) {
    let user = app.user("dup").await;
    let (status, body) = app
        .post_anon(
            "/auth/register",
            json!({"username": user.username.to_uppercase(), "email": format!("{}@other.io", unique("d")), "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"detail": "Username already registered"}));

    let (status, body) = app
        .post_anon(
            "/auth/register",
            json!({"username": unique("dup2"), "email": format!("{}@EXAMPLE.COM", user.username.to_uppercase()), "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"detail": "Email already registered"}));
}

async fn login_by_username_or_email_in_any_case(app: TestApp) {
    let user = app.user("login").await;
    for login in [
        user.username.clone(),
        user.username.to_uppercase(),
        format!("{}@example.com", user.username),
        format!("{}@EXAMPLE.com", user.username.to_uppercase()),
    ] {
        let (status, body) = app.post_anon("/auth/login", json!({"username": login, "password": PASSWORD})).await;
        assert_eq!(status, StatusCode::OK, "{login}: {body}");
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["user"]["id"], user.id);
        let (status, me) = app.get("/auth/me", body["access_token"].as_str().expect("token")).await;
        assert_eq!((status, me["id"].as_i64()), (StatusCode::OK, Some(user.id)));
    }
}

async fn login_failures_are_indistinguishable(app: TestApp) {
    let user = app.user("fail").await;
    let wrong = app.post_anon("/auth/login", json!({"username": user.username, "password": "wrong-password"})).await;
    let unknown = app.post_anon("/auth/login", json!({"username": unique("nobody"), "password": PASSWORD})).await;
    let nul = app
        .post_anon("/auth/login", json!({"username": format!("{}\u{0}", user.username), "password": PASSWORD}))
        .await;
    assert_eq!(nul, unknown, "a NUL in the login is just an unknown user, on both backends");
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.1, json!({"detail": "Incorrect username or password"}));
    let (status, body) = app.post_anon("/auth/login", json!({"username": user.username})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(locs(&body), vec!["body.password"]);
}

async fn passwords_are_never_truncated(app: TestApp) {
    let username = unique("long");
    let base = "p".repeat(99);
    let (status, _) = app
        .post_anon(
            "/auth/register",
            json!({"username": username, "email": format!("{username}@x.io"), "password": format!("{base}A")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app.post_anon("/auth/login", json!({"username": username, "password": format!("{base}B")})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the 100th character counts");
    let (status, _) = app.post_anon("/auth/login", json!({"username": username, "password": format!("{base}A")})).await;
    assert_eq!(status, StatusCode::OK);
}

async fn me_requires_a_valid_bearer_token(app: TestApp) {
    let resp = app.client.get(app.url("/auth/me")).send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers().get("www-authenticate").map(|v| v.as_bytes()), Some(&b"Bearer"[..]));
    assert_eq!(resp.json::<Value>().await.expect("json"), json!({"detail": "Not authenticated"}));

    let user = app.user("me").await;
    let resp = app
        .client
        .get(app.url("/auth/me"))
        .header("authorization", format!("Basic {}", user.access))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let (status, body) = app.get("/auth/me", "not.a.jwt").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"detail": "Could not validate credentials"}));

    // The refresh token is not an access token.
    let (status, _) = app.get("/auth/me", &user.refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Signs arbitrary claims with `alg` and `key`.
fn forge(alg: jsonwebtoken::Algorithm, key: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), claims, &jsonwebtoken::EncodingKey::from_secret(key))
        .expect("encode")
}

fn b64(v: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

async fn forged_and_expired_tokens_are_refused(app: TestApp) {
    use jsonwebtoken::Algorithm::{HS256, HS512};
    let user = app.user("forge").await;
    // The genuine token's claims, reused with one thing changed at a time.
    let payload = user.access.split('.').nth(1).expect("payload");
    let claims: Value = {
        use base64::Engine as _;
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("b64"))
            .expect("json")
    };
    let now = chrono::Utc::now().timestamp();
    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };

    let control = forge(HS256, SECRET.as_bytes(), &claims);
    assert_eq!(app.get("/auth/me", &control).await.0, StatusCode::OK, "re-signing the genuine claims works");

    let refused = [
        ("expired", forge(HS256, SECRET.as_bytes(), &with("exp", json!(now - 3600)))),
        ("other key", forge(HS256, &[b'x'; 48], &claims)),
        ("other HMAC algorithm", forge(HS512, SECRET.as_bytes(), &claims)),
        ("alg none", format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims))),
        ("wrong type", forge(HS256, SECRET.as_bytes(), &with("type", json!("refresh")))),
        ("other user", forge(HS256, SECRET.as_bytes(), &with("sub", json!((user.id + 1_000_000).to_string())))),
        ("non-numeric subject", forge(HS256, SECRET.as_bytes(), &with("sub", json!("admin")))),
        (
            "unknown session",
            forge(HS256, SECRET.as_bytes(), &with("sid", json!("00000000-0000-0000-0000-000000000000"))),
        ),
        ("no expiry", {
            let mut c = claims.clone();
            c.as_object_mut().expect("object").remove("exp");
            forge(HS256, SECRET.as_bytes(), &c)
        }),
    ];
    for (what, token) in refused {
        let (status, body) = app.get("/auth/me", &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(body, json!({"detail": "Could not validate credentials"}), "{what}");
    }
}

async fn refresh_rotates_and_reuse_revokes_the_session(app: TestApp) {
    let user = app.user("rot").await;
    let (status, first) = app.post_anon("/auth/refresh", json!({"refresh_token": user.refresh})).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let r1 = first["refresh_token"].as_str().expect("new refresh").to_owned();
    let a1 = first["access_token"].as_str().expect("new access").to_owned();
    assert_ne!(r1, user.refresh);
    assert_eq!(first["token_type"], "bearer");
    assert_eq!(app.get("/auth/me", &a1).await.0, StatusCode::OK);

    let (status, _) = app.post_anon("/auth/refresh", json!({"refresh_token": r1})).await;
    assert_eq!(status, StatusCode::OK, "the rotated token works once");

    // Replaying the first, already-rotated token: refused, and the whole session ends.
    let (status, body) = app.post_anon("/auth/refresh", json!({"refresh_token": user.refresh})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"detail": "Invalid refresh token"}));
    assert_eq!(app.get("/auth/me", &a1).await.0, StatusCode::UNAUTHORIZED, "the session's access tokens end too");
    assert_eq!(app.get("/auth/me", &user.access).await.0, StatusCode::UNAUTHORIZED);

    let (status, _) = app.post_anon("/auth/refresh", json!({"refresh_token": "made-up"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.post_anon("/auth/refresh", json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn concurrent_refresh_of_one_token_succeeds_once(app: TestApp) {
    let user = app.user("race").await;
    let attempts = (0..8).map(|_| app.post_anon("/auth/refresh", json!({"refresh_token": user.refresh})));
    let results = futures_util::future::join_all(attempts).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{results:?}");
}

async fn logout_ends_one_session_only(app: TestApp) {
    let phone = app.user("out").await;
    let laptop = app.login(&phone).await;
    let (status, body) = app.post_anon("/auth/logout", json!({"refresh_token": phone.refresh})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"message": "Successfully logged out"}));

    assert_eq!(app.get("/auth/me", &phone.access).await.0, StatusCode::UNAUTHORIZED, "access token ends at once");
    assert_eq!(
        app.post_anon("/auth/refresh", json!({"refresh_token": phone.refresh})).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/auth/me", &laptop.access).await.0, StatusCode::OK, "the other device stays in");

    // Logging out twice is harmless.
    assert_eq!(app.post_anon("/auth/logout", json!({"refresh_token": phone.refresh})).await.0, StatusCode::OK);
}

async fn logout_all_ends_every_session_at_once(app: TestApp) {
    let phone = app.user("all").await;
    let laptop = app.login(&phone).await;
    let (status, body) = app.post("/auth/logout-all", &phone.access, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["message"], "Successfully logged out from all devices");
    for device in [&phone, &laptop] {
        assert_eq!(app.get("/auth/me", &device.access).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.post_anon("/auth/refresh", json!({"refresh_token": device.refresh})).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // Logging in again works.
    let again = app.login(&phone).await;
    assert_eq!(app.get("/auth/me", &again.access).await.0, StatusCode::OK);
    assert_eq!(app.request(reqwest::Method::POST, "/auth/logout-all", None, None).await.0, StatusCode::UNAUTHORIZED);
}

async fn change_password_checks_and_revokes(app: TestApp) {
    let user = app.user("pw").await;
    let other_device = app.login(&user).await;
    let new = "a-brand-new-password";

    let (status, body) = app
        .post("/auth/change-password", &user.access, json!({"current_password": "wrong", "new_password": new}))
        .await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Current password is incorrect"})));
    let (status, body) = app
        .post("/auth/change-password", &user.access, json!({"current_password": PASSWORD, "new_password": "short"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(locs(&body), vec!["body.new_password"]);
    let (status, _) = app
        .post("/auth/change-password", &user.access, json!({"current_password": PASSWORD, "new_password": PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.post("/auth/change-password", &user.access, json!({"new_password": new})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get("/auth/me", &user.access).await.0, StatusCode::OK, "failed attempts change nothing");

    let (status, body) = app
        .post("/auth/change-password", &user.access, json!({"current_password": PASSWORD, "new_password": new}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Password changed successfully");
    for device in [&user, &other_device] {
        assert_eq!(
            app.get("/auth/me", &device.access).await.0,
            StatusCode::UNAUTHORIZED,
            "old access tokens end at once"
        );
        assert_eq!(
            app.post_anon("/auth/refresh", json!({"refresh_token": device.refresh})).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let fresh = body["tokens"]["access_token"].as_str().expect("new session");
    assert_eq!(app.get("/auth/me", fresh).await.0, StatusCode::OK);
    assert_eq!(
        app.post_anon("/auth/login", json!({"username": user.username, "password": PASSWORD})).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post_anon("/auth/login", json!({"username": user.username, "password": new})).await.0,
        StatusCode::OK
    );
}

async fn no_response_contains_a_password_or_hash(app: TestApp) {
    let username = unique("leak");
    let password = "s3cret-Pa55word-xyz";
    let mut bodies = Vec::new();
    let (_, b) = app
        .post_anon(
            "/auth/register",
            json!({"username": username, "email": format!("{username}@x.io"), "password": password}),
        )
        .await;
    bodies.push(b.clone());
    let access = b["tokens"]["access_token"].as_str().expect("token").to_owned();
    let (_, b) = app.post_anon("/auth/login", json!({"username": username, "password": password})).await;
    bodies.push(b);
    bodies.push(app.get("/auth/me", &access).await.1);
    bodies.push(
        app.post("/auth/change-password", &access, json!({"current_password": password, "new_password": "x"})).await.1,
    );
    bodies.push(app.post_anon("/auth/login", json!({"username": username, "password": "wrong-password"})).await.1);
    for body in bodies {
        let text = body.to_string();
        assert!(!text.contains(password), "{text}");
        assert!(!text.contains("$argon2"), "{text}");
        assert!(!text.contains("hashed_password"), "{text}");
    }
}

async fn a_refresh_racing_logout_all_never_survives_it(app: TestApp) {
    let user = app.user("racer").await;
    // Bounded: a fixed number of rounds, each a refresh and a logout-all sent together.
    for round in 0..12 {
        let device = app.login(&user).await;
        let refresh = app.post_anon("/auth/refresh", json!({"refresh_token": device.refresh}));
        let logout_all = app.post("/auth/logout-all", &device.access, json!({}));
        let ((status, pair), (out, _)) = tokio::join!(refresh, logout_all);
        if status == StatusCode::OK && out == StatusCode::OK {
            let access = pair["access_token"].as_str().expect("access");
            let refresh_token = pair["refresh_token"].as_str().expect("refresh");
            assert_eq!(app.get("/auth/me", access).await.0, StatusCode::UNAUTHORIZED, "round {round}");
            let (again, _) = app.post_anon("/auth/refresh", json!({"refresh_token": refresh_token})).await;
            assert_eq!(again, StatusCode::UNAUTHORIZED, "round {round}: the racing refresh outlived logout-all");
        }
    }
}

async fn non_ascii_emails_compare_the_same_on_both_backends(app: TestApp) {
    let tag = unique("u");
    let upper = format!("ÉLODIE_{tag}@EXÄMPLE.com");
    let lower = format!("élodie_{tag}@exämple.com");
    let (status, _) =
        app.post_anon("/auth/register", json!({"username": unique("elo"), "email": upper, "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) =
        app.post_anon("/auth/register", json!({"username": unique("elo"), "email": lower, "password": PASSWORD})).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Email already registered"})));
    let (status, body) = app.post_anon("/auth/login", json!({"username": lower, "password": PASSWORD})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["email"], upper.as_str(), "stored as given");
}
