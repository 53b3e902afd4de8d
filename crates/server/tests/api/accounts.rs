//! `/auth/*`: every endpoint's success and failure paths in the seed's exact shapes and texts,
//! the seed's name rules (case-sensitive, any script), token forging, rotation and reuse,
//! revocation of access tokens, and that no response ever carries a password or its hash.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{unique, TestApp, PASSWORD, SECRET};

backend_tests!(
    register_returns_the_user_and_a_working_token_pair,
    register_reports_every_invalid_field,
    register_rejects_malformed_bodies,
    register_refuses_exact_duplicates_but_takes_case_variants_as_new_accounts,
    usernames_take_any_script_but_must_display_safely,
    case_variant_usernames_are_separate_accounts,
    emails_keep_their_local_part_and_lower_case_their_domain,
    a_username_equal_to_another_users_email_cannot_lock_them_out,
    case_variants_registered_in_advance_cannot_lock_anyone_out,
    reserved_and_special_use_names_are_refused,
    full_name_is_kept_exactly_as_given,
    login_matches_exactly_or_by_a_case_variant_naming_one_account,
    login_failures_are_indistinguishable,
    passwords_are_never_truncated,
    me_requires_a_valid_bearer_token,
    forged_and_expired_tokens_are_refused,
    refresh_rotates_and_reuse_revokes_the_session,
    concurrent_refresh_of_one_token_succeeds_once,
    logout_ends_one_session_only,
    logout_all_ends_every_session_at_once,
    change_password_checks_and_revokes,
    change_password_accepts_the_same_password_and_the_old_field_name,
    no_response_contains_a_password_or_hash,
    a_refresh_racing_logout_all_never_survives_it,
    non_ascii_emails_normalise_the_same_on_both_backends,
);

/// The seed's `User`, key for key, in its order.
const USER_KEYS: [&str; 7] = ["username", "email", "full_name", "id", "is_active", "is_verified", "created_at"];
const TOKEN_KEYS: [&str; 3] = ["access_token", "refresh_token", "token_type"];
const BAD_CREDENTIALS: &str = "Invalid authentication credentials";

/// Status, `WWW-Authenticate` header and JSON body (`Null` if none) of one answer.
type Answer = (StatusCode, Option<String>, Value);

/// Sends a request with a raw `Authorization` header (or none) and an optional JSON body.
async fn call(app: &TestApp, method: Method, path: &str, authorization: Option<&str>, body: Option<Value>) -> Answer {
    let mut req = app.client.request(method, app.url(path));
    if let Some(authorization) = authorization {
        req = req.header("authorization", authorization);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let www = resp.headers().get("www-authenticate").map(|v| v.to_str().expect("ascii header").to_owned());
    let text = resp.text().await.expect("body");
    (status, www, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn me(app: &TestApp, token: &str) -> Answer {
    call(app, Method::GET, "/auth/me", Some(&format!("Bearer {token}")), None).await
}

async fn login(app: &TestApp, username: &str, password: &str) -> Answer {
    call(app, Method::POST, "/auth/login", None, Some(json!({"username": username, "password": password}))).await
}

async fn refresh(app: &TestApp, token: &str) -> Answer {
    call(app, Method::POST, "/auth/refresh", None, Some(json!({"refresh_token": token}))).await
}

async fn register(app: &TestApp, username: &str, email: &str, password: &str) -> (StatusCode, Value) {
    app.post_anon("/auth/register", json!({"username": username, "email": email, "password": password})).await
}

/// The seed's answer to a bearer token that is not (or no longer) valid.
fn refused_bearer() -> Answer {
    (StatusCode::UNAUTHORIZED, Some("Bearer".into()), json!({"detail": BAD_CREDENTIALS}))
}

/// The seed's answer to a request without credentials: 403, and no `WWW-Authenticate`.
fn not_authenticated() -> Answer {
    (StatusCode::FORBIDDEN, None, json!({"detail": "Not authenticated"}))
}

fn failed_login() -> Answer {
    (StatusCode::UNAUTHORIZED, Some("Bearer".into()), json!({"detail": "Invalid username or password"}))
}

/// A refused refresh token: 401 *without* `WWW-Authenticate`.
fn refused_refresh(detail: &str) -> Answer {
    (StatusCode::UNAUTHORIZED, None, json!({"detail": detail}))
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap_or_else(|| panic!("an object: {v}")).keys().map(String::as_str).collect()
}

/// Python's `isoformat()` of a naive UTC time: no offset, no `Z`, microseconds (6 digits) only
/// when non-zero; and it is now, so it is UTC.
fn assert_seed_time(t: &str) {
    let parsed =
        chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").unwrap_or_else(|e| panic!("{t}: {e}"));
    assert!(t.len() == 19 || (t.len() == 26 && t.as_bytes()[19] == b'.'), "no offset, 0 or 6 fraction digits: {t}");
    let skew = chrono::Utc::now().naive_utc() - parsed;
    assert!(skew.num_seconds().abs() < 300, "a UTC time: {t}");
}

/// The URL Pydantic 2.5 links an error kind to.
fn doc(kind: &str) -> String {
    format!("https://errors.pydantic.dev/2.5/v/{kind}")
}

/// Asserts a 422 whose `detail` is exactly `expected`, each item's keys in Pydantic's order.
fn assert_422(status: StatusCode, body: &Value, expected: &[Value]) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let items = body["detail"].as_array().unwrap_or_else(|| panic!("a list of field errors: {body}"));
    assert_eq!(items.as_slice(), expected, "{body}");
    for (item, want) in items.iter().zip(expected) {
        assert_eq!(keys(item), keys(want), "key order: {item}");
    }
}

/// One of Banter's own checks, in Pydantic's terms: `value_error`, "Value error, ...".
fn value_error(field: &str, msg: &str, input: impl Into<Value>) -> Value {
    json!({"type": "value_error", "loc": ["body", field], "msg": format!("Value error, {msg}"), "input": input.into(),
           "ctx": {"error": {}}, "url": doc("value_error")})
}

fn missing(loc: Value, input: Value) -> Value {
    json!({"type": "missing", "loc": loc, "msg": "Field required", "input": input, "url": doc("missing")})
}

fn too_short(field: &str, min: usize, input: &str) -> Value {
    json!({"type": "string_too_short", "loc": ["body", field], "msg": format!("String should have at least {min} characters"),
        "input": input, "ctx": {"min_length": min}, "url": doc("string_too_short")})
}

fn too_long(field: &str, max: usize, input: &str) -> Value {
    json!({"type": "string_too_long", "loc": ["body", field], "msg": format!("String should have at most {max} characters"),
        "input": input, "ctx": {"max_length": max}, "url": doc("string_too_long")})
}

fn not_a_string(field: &str, input: Value) -> Value {
    json!({"type": "string_type", "loc": ["body", field], "msg": "Input should be a valid string", "input": input,
        "url": doc("string_type")})
}

async fn register_returns_the_user_and_a_working_token_pair(app: TestApp) {
    let username = unique("Reg");
    let (status, body) = app
        .post_anon(
            "/auth/register",
            json!({"username": username, "email": format!("{username}@Example.COM"), "password": PASSWORD, "full_name": "Reg Istered"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(keys(&body), ["message", "user", "tokens"]);
    assert_eq!(body["message"], "User registered successfully");
    let user = &body["user"];
    assert_eq!(keys(user), USER_KEYS);
    assert_eq!(user["username"], username.as_str());
    assert_eq!(user["email"], format!("{username}@example.com"), "the domain is lower-cased, the local part kept");
    assert_eq!(user["full_name"], "Reg Istered");
    assert_eq!((&user["is_active"], &user["is_verified"]), (&json!(true), &json!(false)));
    assert!(user["id"].as_i64().is_some_and(|id| id > 0));
    assert_seed_time(user["created_at"].as_str().expect("created_at"));
    assert_eq!(keys(&body["tokens"]), TOKEN_KEYS);
    assert_eq!(body["tokens"]["token_type"], "bearer");

    let access = body["tokens"]["access_token"].as_str().expect("access token");
    let (status, _, me) = me(&app, access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&me), USER_KEYS);
    assert_eq!(&me, user, "/auth/me is the bare user, the same as registration returned");
    let (status, _, pair) = refresh(&app, body["tokens"]["refresh_token"].as_str().expect("refresh token")).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
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
        (json!({"username": " padded ", "email": format!("{ok}@x.io"), "password": PASSWORD}), vec!["body.username"]),
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

    // Every failing field at once, each item exactly as Pydantic words it.
    let long_name = "n".repeat(101);
    let (status, body) = app
        .post_anon(
            "/auth/register",
            json!({"username": "ab", "email": "not-an-email", "password": "1234567", "full_name": long_name}),
        )
        .await;
    let reason = "The email address is not valid. It must have exactly one @-sign.";
    assert_422(
        status,
        &body,
        &[
            too_short("username", 3, "ab"),
            json!({"type": "value_error", "loc": ["body", "email"], "msg": format!("value is not a valid email address: {reason}"),
                "input": "not-an-email", "ctx": {"reason": reason}}),
            too_short("password", 8, "1234567"),
            too_long("full_name", 100, &long_name),
        ],
    );
    let (status, body) = register(&app, &"x".repeat(51), &format!("{ok}@x.io"), &"p".repeat(101)).await;
    assert_422(
        status,
        &body,
        &[too_long("username", 50, &"x".repeat(51)), too_long("password", 100, &"p".repeat(101))],
    );

    // Nothing was created by the failed attempts.
    assert_eq!(login(&app, &ok, PASSWORD).await, failed_login());
}

async fn register_rejects_malformed_bodies(app: TestApp) {
    let (status, body) = app.post_anon("/auth/register", json!({"email": "a@b.io", "password": PASSWORD})).await;
    assert_422(
        status,
        &body,
        &[missing(json!(["body", "username"]), json!({"email": "a@b.io", "password": PASSWORD}))],
    );

    let (status, body) =
        app.post_anon("/auth/register", json!({"username": 42, "email": "a@b.io", "password": PASSWORD})).await;
    assert_422(status, &body, &[not_a_string("username", json!(42))]);

    // Malformed JSON (no content type counts as JSON): where it broke, as a character offset.
    let resp = app.client.post(app.url("/auth/register")).body("{not json").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.expect("json error body");
    let item = &body["detail"][0];
    assert_eq!(keys(item), ["type", "loc", "msg", "input", "ctx"], "{body}");
    assert_eq!(
        (&item["type"], &item["loc"], &item["msg"], &item["input"]),
        (&json!("json_invalid"), &json!(["body", 1]), &json!("JSON decode error"), &json!({}))
    );
    assert!(item["ctx"]["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    assert_eq!(body["detail"].as_array().map(Vec::len), Some(1));

    // No body at all.
    let resp = app.client.post(app.url("/auth/register")).send().await.expect("sent");
    let status = resp.status();
    assert_422(status, &resp.json::<Value>().await.expect("json"), &[missing(json!(["body"]), Value::Null)]);

    // A body that is not a JSON object, or not sent as JSON.
    let not_an_object = |input: Value| {
        json!({"type": "model_attributes_type", "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from", "input": input,
            "url": doc("model_attributes_type")})
    };
    let (status, body) = app.post_anon("/auth/register", json!([1])).await;
    assert_422(status, &body, &[not_an_object(json!([1]))]);
    let resp = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "text/plain")
        .body("username=x")
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    assert_422(status, &resp.json::<Value>().await.expect("json"), &[not_an_object(json!("username=x"))]);

    // Oversized bodies are refused before parsing.
    let huge = json!({"username": "x".repeat(100_000), "email": "a@b.io", "password": PASSWORD});
    let (status, _) = app.post_anon("/auth/register", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

async fn register_refuses_exact_duplicates_but_takes_case_variants_as_new_accounts(app: TestApp) {
    let user = app.user("dup").await;
    let taken = |detail: &str| (StatusCode::BAD_REQUEST, json!({"detail": detail}));

    // The exact username: refused, and it is checked before the email.
    let fresh = format!("{}@other.io", unique("d"));
    assert_eq!(register(&app, &user.username, &fresh, PASSWORD).await, taken("Username already taken"));
    let both = format!("{}@example.com", user.username);
    assert_eq!(register(&app, &user.username, &both, PASSWORD).await, taken("Username already taken"));

    // The same letters in another case are another name: a second account.
    let upper = user.username.to_uppercase();
    let (status, body) = register(&app, &upper, &format!("{}@other.io", unique("d")), PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"]["username"], upper.as_str());
    assert_ne!(body["user"]["id"], user.id);

    // The email is compared after normalisation: the domain's case does not matter...
    let domain_variant = format!("{}@EXAMPLE.COM", user.username);
    assert_eq!(register(&app, &unique("dup2"), &domain_variant, PASSWORD).await, taken("Email already registered"));
    // ...the local part's does.
    let local_variant = format!("{}@example.com", user.username.to_uppercase());
    let (status, body) = register(&app, &unique("dup3"), &local_variant, PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"]["email"], local_variant.as_str());
}

async fn usernames_take_any_script_but_must_display_safely(app: TestApp) {
    for prefix in ["o'brien", "josé", "a b", "李小龙", "Ünïcødé"] {
        let name = unique(prefix);
        let (status, body) = register(&app, &name, &format!("{}@example.com", unique("u")), PASSWORD).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        assert_eq!(body["user"]["username"], name.as_str(), "kept exactly");
        let (status, _, session) = login(&app, &name, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{name}: {session}");
        assert_eq!(session["user"]["id"], body["user"]["id"]);
    }

    // Lengths count characters, not bytes: 50 accented letters are fine, 51 are not.
    let tail = unique("x");
    let fifty = format!("{}{tail}", "é".repeat(50 - tail.chars().count()));
    let (status, body) = register(&app, &fifty, &format!("{}@example.com", unique("u")), PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let fifty_one = format!("é{fifty}");
    let (status, body) = register(&app, &fifty_one, &format!("{}@example.com", unique("u")), PASSWORD).await;
    assert_422(status, &body, &[too_long("username", 50, &fifty_one)]);

    let email = format!("{}@example.com", unique("bad"));
    for (name, msg) in [
        (" lead", "Username must not start or end with whitespace"),
        ("trail ", "Username must not start or end with whitespace"),
        ("\u{200b}\u{200b}\u{200b}", "Username must contain a visible character"),
        ("   ", "Username must contain a visible character"),
        ("tab\tin", "Username must not contain control characters"),
        ("nul\0x", "Username must not contain control characters"),
        ("evil\u{202e}gnp.exe", "Username must not contain control characters"),
    ] {
        let (status, body) = register(&app, name, &email, PASSWORD).await;
        assert_422(status, &body, &[value_error("username", msg, name)]);
    }
    assert_eq!(login(&app, &email, PASSWORD).await, failed_login(), "none of them was created");
}

async fn case_variant_usernames_are_separate_accounts(app: TestApp) {
    let tag = unique("");
    let (upper, lower) = (format!("CaseX{tag}"), format!("casex{tag}"));
    let mut ids = Vec::new();
    for (name, password) in [(&upper, "upper-password"), (&lower, "lower-password")] {
        let (status, body) = register(&app, name, &format!("{}@example.com", unique("cx")), password).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {body}");
        ids.push(body["user"]["id"].as_i64().expect("id"));
    }
    assert_ne!(ids[0], ids[1]);

    // Each logs in with its own exact name.
    for (name, password, id) in [(&upper, "upper-password", ids[0]), (&lower, "lower-password", ids[1])] {
        let (status, _, body) = login(&app, name, password).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        assert_eq!((body["user"]["id"].as_i64(), body["user"]["username"].as_str()), (Some(id), Some(name.as_str())));
    }
    // An exact match is never traded for a case variant, whatever the password.
    assert_eq!(login(&app, &lower, "upper-password").await, failed_login());
    assert_eq!(login(&app, &upper, "lower-password").await, failed_login());
    // A name that matches neither exactly but both in another case names no one.
    let neither = format!("CASEX{}", tag.to_uppercase());
    assert_eq!(login(&app, &neither, "upper-password").await, failed_login());
    assert_eq!(login(&app, &neither, "lower-password").await, failed_login());
}

async fn emails_keep_their_local_part_and_lower_case_their_domain(app: TestApp) {
    let local = format!("Foo{}", unique(""));
    let (status, body) = register(&app, &unique("mail"), &format!("{local}@Example.COM"), PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let stored = format!("{local}@example.com");
    assert_eq!(body["user"]["email"], stored.as_str());
    let first = body["user"]["id"].as_i64().expect("id");
    let (_, _, me) = me(&app, body["tokens"]["access_token"].as_str().expect("token")).await;
    assert_eq!(me["email"], stored.as_str());

    // Login by the exact email, or by one that normalises to it.
    for by in [stored.clone(), format!("{local}@EXAMPLE.com")] {
        let (status, _, body) = login(&app, &by, PASSWORD).await;
        assert_eq!((status, body["user"]["id"].as_i64()), (StatusCode::OK, Some(first)), "{by}");
    }
    // While it is the only account it could mean, a case variant of the local part works too.
    let (status, _, body) = login(&app, &format!("{}@example.com", local.to_uppercase()), PASSWORD).await;
    assert_eq!((status, body["user"]["id"].as_i64()), (StatusCode::OK, Some(first)), "{body}");

    let (status, body) = register(&app, &unique("mail"), &stored, PASSWORD).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Email already registered"})));

    // The local part is case-sensitive: `foo…` is another address, and another account.
    let other = format!("{}@example.com", local.to_lowercase());
    let (status, body) = register(&app, &unique("mail"), &other, PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let second = body["user"]["id"].as_i64().expect("id");
    for (by, id) in [(&stored, first), (&other, second)] {
        let (status, _, body) = login(&app, by, PASSWORD).await;
        assert_eq!((status, body["user"]["id"].as_i64()), (StatusCode::OK, Some(id)), "{by}");
    }
    // Now the upper-case variant could mean either: it means neither.
    assert_eq!(login(&app, &format!("{}@example.com", local.to_uppercase()), PASSWORD).await, failed_login());
}

async fn a_username_equal_to_another_users_email_cannot_lock_them_out(app: TestApp) {
    let victim = app.user("victim").await;
    let victim_email = format!("{}@example.com", victim.username);
    let (status, body) =
        register(&app, &victim_email, &format!("{}@example.com", unique("squat")), "squatter-password").await;
    assert_eq!(status, StatusCode::CREATED, "a username may look like an address: {body}");
    let squatter = body["user"]["id"].as_i64().expect("id");

    let (status, _, body) = login(&app, &victim_email, PASSWORD).await;
    assert_eq!((status, body["user"]["id"].as_i64()), (StatusCode::OK, Some(victim.id)), "{body}");
    let (status, _, body) = login(&app, &victim_email, "squatter-password").await;
    assert_eq!((status, body["user"]["id"].as_i64()), (StatusCode::OK, Some(squatter)), "{body}");
    assert_eq!(login(&app, &victim_email, "neither-password").await, failed_login());
}

/// Someone registers many case variants of a name (and of an address) before its owner does:
/// the owner's exact name and address still log in, and the variants each log in to their own
/// account.
async fn case_variants_registered_in_advance_cannot_lock_anyone_out(app: TestApp) {
    let base = unique("bobby").to_lowercase();
    let domain = format!("{}.example.com", unique("corp").to_lowercase().replace('_', "-"));
    let variants: Vec<String> = (0..10)
        .map(|i| {
            base.chars()
                .enumerate()
                .map(|(j, c)| if (i >> (j % 4)) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect()
        })
        .filter(|v: &String| *v != base)
        .collect();
    for (i, v) in variants.iter().enumerate() {
        let (status, body) = register(&app, v, &format!("{}@{domain}", v), &format!("squatter-{i}-pw")).await;
        assert_eq!(status, StatusCode::CREATED, "{v}: {body}");
    }
    let (status, body) = register(&app, &base, &format!("{base}@{domain}"), PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let owner = body["user"]["id"].as_i64().expect("id");
    for login_name in [base.clone(), format!("{base}@{domain}")] {
        let (status, _, body) = login(&app, &login_name, PASSWORD).await;
        assert_eq!((status, body["user"]["id"].as_i64()), (StatusCode::OK, Some(owner)), "{login_name}: {body}");
    }
    let (status, _, body) = login(&app, &variants[0], "squatter-0-pw").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A case variant nobody registered is ambiguous now: no account is guessed.
    assert_eq!(login(&app, &base.to_uppercase(), PASSWORD).await, failed_login());
}

async fn reserved_and_special_use_names_are_refused(app: TestApp) {
    for name in ["Deleted User", "deleted user", "DELETED USER"] {
        let (status, body) = register(&app, name, &format!("{}@example.com", unique("del")), PASSWORD).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        assert_eq!(body["detail"][0], value_error("username", "This username is reserved", name), "{body}");
    }
    for domain in ["example.test", "printer.local", "box.localhost", "x.invalid"] {
        let email = format!("{}@{domain}", unique("sp"));
        let (status, body) = register(&app, &unique("sp"), &email, PASSWORD).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{email}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", "email"]));
        assert!(body["detail"][0]["msg"].as_str().is_some_and(|m| m.contains("special-use")), "{body}");
    }
}

async fn full_name_is_kept_exactly_as_given(app: TestApp) {
    for (given, stored) in [
        (Some(json!("")), json!("")),
        (Some(json!(" Ada  Lovelace ")), json!(" Ada  Lovelace ")),
        (Some(json!("李小龙")), json!("李小龙")),
        (Some(Value::Null), Value::Null),
        (None, Value::Null),
    ] {
        let username = unique("fn");
        let mut body = json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD});
        if let Some(given) = given.clone() {
            body["full_name"] = given;
        }
        let (status, resp) = app.post_anon("/auth/register", body).await;
        assert_eq!(status, StatusCode::CREATED, "{given:?}: {resp}");
        assert_eq!(resp["user"]["full_name"], stored, "{given:?}");
        let (_, _, me) = me(&app, resp["tokens"]["access_token"].as_str().expect("token")).await;
        assert_eq!(me["full_name"], stored, "{given:?}");
    }

    let username = unique("fn");
    let email = format!("{username}@example.com");
    let long = "n".repeat(101);
    for (given, expected) in [
        (json!(long), too_long("full_name", 100, &long)),
        (json!("bell\u{7}"), value_error("full_name", "Full name must not contain control characters", "bell\u{7}")),
        (json!(5), not_a_string("full_name", json!(5))),
    ] {
        let (status, body) = app
            .post_anon(
                "/auth/register",
                json!({"username": username, "email": email, "password": PASSWORD, "full_name": given}),
            )
            .await;
        assert_422(status, &body, &[expected]);
    }
}

async fn login_matches_exactly_or_by_a_case_variant_naming_one_account(app: TestApp) {
    let user = app.user("login").await;
    for by in [
        user.username.clone(),
        format!("{}@example.com", user.username),
        format!("{}@EXAMPLE.com", user.username),
        user.username.to_uppercase(),
        format!("{}@example.com", user.username.to_uppercase()),
    ] {
        let (status, _, body) = login(&app, &by, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{by}: {body}");
        assert_eq!(keys(&body), ["message", "user", "tokens"], "no flat token fields: {body}");
        assert_eq!(body["message"], "Login successful");
        assert_eq!(keys(&body["user"]), USER_KEYS);
        assert_eq!(body["user"]["id"], user.id);
        assert_eq!(body["user"]["username"], user.username.as_str());
        assert_eq!(body["user"]["email"], format!("{}@example.com", user.username));
        assert_seed_time(body["user"]["created_at"].as_str().expect("created_at"));
        assert_eq!(keys(&body["tokens"]), TOKEN_KEYS);
        assert_eq!(body["tokens"]["token_type"], "bearer");
        let (status, _, me) = me(&app, body["tokens"]["access_token"].as_str().expect("token")).await;
        assert_eq!((status, me["id"].as_i64()), (StatusCode::OK, Some(user.id)));
    }
}

async fn login_failures_are_indistinguishable(app: TestApp) {
    let user = app.user("fail").await;
    let wrong = login(&app, &user.username, "wrong-password").await;
    let unknown = login(&app, &unique("nobody"), PASSWORD).await;
    let nul = login(&app, &format!("{}\u{0}", user.username), PASSWORD).await;
    assert_eq!(nul, unknown, "a NUL in the login is just an unknown user, on both backends");
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, failed_login());
    let (status, body) = app.post_anon("/auth/login", json!({"username": user.username})).await;
    assert_422(status, &body, &[missing(json!(["body", "password"]), json!({"username": user.username}))]);
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
    let user = app.user("me").await;
    let get = |authorization: Option<String>| {
        let app = &app;
        async move { call(app, Method::GET, "/auth/me", authorization.as_deref(), None).await }
    };
    assert_eq!(get(None).await, not_authenticated(), "no header");
    assert_eq!(get(Some("Bearer".into())).await, not_authenticated(), "no credentials");
    assert_eq!(get(Some("Bearer    ".into())).await, not_authenticated(), "blank credentials");
    assert_eq!(
        get(Some(format!("Basic {}", user.access))).await,
        (StatusCode::FORBIDDEN, None, json!({"detail": BAD_CREDENTIALS})),
        "another scheme"
    );
    assert_eq!(get(Some("Bearer not.a.jwt".into())).await, refused_bearer());
    assert_eq!(
        get(Some(format!("Bearer {}", user.refresh))).await,
        refused_bearer(),
        "a refresh token is not an access token"
    );

    let (status, _, me) = get(Some(format!("bearer {}", user.access))).await;
    assert_eq!((status, me["id"].as_i64()), (StatusCode::OK, Some(user.id)), "the scheme is case-insensitive");
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
        assert_eq!(me(&app, &token).await, refused_bearer(), "{what}");
    }
}

async fn refresh_rotates_and_reuse_revokes_the_session(app: TestApp) {
    let user = app.user("rot").await;
    let other_device = app.login(&user).await;
    let (status, _, first) = refresh(&app, &user.refresh).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(keys(&first), TOKEN_KEYS, "the pair at the top level");
    let r1 = first["refresh_token"].as_str().expect("new refresh").to_owned();
    let a1 = first["access_token"].as_str().expect("new access").to_owned();
    assert_ne!(r1, user.refresh, "Banter rotates refresh tokens (deliberately unlike the seed)");
    assert_eq!(first["token_type"], "bearer");
    assert_eq!(me(&app, &a1).await.0, StatusCode::OK);

    let (status, _, second) = refresh(&app, &r1).await;
    assert_eq!(status, StatusCode::OK, "the rotated token works once");
    let r2 = second["refresh_token"].as_str().expect("newest refresh").to_owned();
    let a2 = second["access_token"].as_str().expect("newest access").to_owned();

    // Replaying the first, already-rotated token: refused, and the whole session ends.
    assert_eq!(refresh(&app, &user.refresh).await, refused_refresh("Refresh token not found"));
    for (what, access) in [("first", &user.access), ("rotated", &a1), ("newest", &a2)] {
        assert_eq!(me(&app, access).await, refused_bearer(), "the session's {what} access token ends too");
    }
    assert_eq!(
        refresh(&app, &r2).await,
        refused_refresh("Refresh token not found"),
        "so does its newest refresh token"
    );
    // Only that session: the other device is still in.
    assert_eq!(me(&app, &other_device.access).await.0, StatusCode::OK);
    assert_eq!(refresh(&app, &other_device.refresh).await.0, StatusCode::OK);

    assert_eq!(refresh(&app, "made-up").await, refused_refresh("Invalid refresh token"));
    assert_eq!(refresh(&app, &a1).await, refused_refresh("Invalid refresh token"), "an access token is not one");
    let (status, body) = app.post_anon("/auth/refresh", json!({})).await;
    assert_422(status, &body, &[missing(json!(["body", "refresh_token"]), json!({}))]);
}

async fn concurrent_refresh_of_one_token_succeeds_once(app: TestApp) {
    let user = app.user("race").await;
    let attempts = (0..8).map(|_| app.post_anon("/auth/refresh", json!({"refresh_token": user.refresh})));
    let results = futures_util::future::join_all(attempts).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{results:?}");
    for (status, body) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!((*status, body), (StatusCode::UNAUTHORIZED, &json!({"detail": "Refresh token not found"})));
    }
}

async fn logout_ends_one_session_only(app: TestApp) {
    let phone = app.user("out").await;
    let laptop = app.login(&phone).await;
    let (status, body) = app.post_anon("/auth/logout", json!({"refresh_token": phone.refresh})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"message": "Logout successful"})));

    assert_eq!(me(&app, &phone.access).await, refused_bearer(), "the access token ends at once");
    assert_eq!(refresh(&app, &phone.refresh).await, refused_refresh("Refresh token not found"));
    assert_eq!(me(&app, &laptop.access).await.0, StatusCode::OK, "the other device stays in");
    assert_eq!(refresh(&app, &laptop.refresh).await.0, StatusCode::OK);

    // Logging out again, or with a token never issued, is the seed's 400.
    let invalid = (StatusCode::BAD_REQUEST, json!({"detail": "Invalid refresh token"}));
    assert_eq!(app.post_anon("/auth/logout", json!({"refresh_token": phone.refresh})).await, invalid);
    assert_eq!(app.post_anon("/auth/logout", json!({"refresh_token": "made-up"})).await, invalid);
    let (status, body) = app.post_anon("/auth/logout", json!({})).await;
    assert_422(status, &body, &[missing(json!(["body", "refresh_token"]), json!({}))]);
}

async fn logout_all_ends_every_session_at_once(app: TestApp) {
    let phone = app.user("all").await;
    let laptop = app.login(&phone).await;
    // A rotated session is still one session.
    let (status, _, pair) = refresh(&app, &phone.refresh).await;
    assert_eq!(status, StatusCode::OK);
    let phone_access = pair["access_token"].as_str().expect("access").to_owned();
    let phone_refresh = pair["refresh_token"].as_str().expect("refresh").to_owned();

    let (status, body) = app.post("/auth/logout-all", &phone_access, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), ["message", "sessions_terminated"]);
    assert_eq!(body, json!({"message": "Logged out from all devices", "sessions_terminated": 2}));
    for (access, refresh_token) in [(&phone_access, &phone_refresh), (&laptop.access, &laptop.refresh)] {
        assert_eq!(me(&app, access).await, refused_bearer());
        assert_eq!(refresh(&app, refresh_token).await, refused_refresh("Refresh token not found"));
    }
    // Logging in again works, and only live sessions are counted.
    let again = app.login(&phone).await;
    assert_eq!(me(&app, &again.access).await.0, StatusCode::OK);
    let (status, body) = app.post("/auth/logout-all", &again.access, json!({})).await;
    assert_eq!((status, body["sessions_terminated"].as_u64()), (StatusCode::OK, Some(1)));
    assert_eq!(call(&app, Method::POST, "/auth/logout-all", None, None).await, not_authenticated());
}

async fn change_password_checks_and_revokes(app: TestApp) {
    let user = app.user("pw").await;
    let other_device = app.login(&user).await;
    let new = "a-brand-new-password";
    let bearer = format!("Bearer {}", user.access);
    let change = |authorization: Option<String>, body: Value| {
        let app = &app;
        async move { call(app, Method::POST, "/auth/change-password", authorization.as_deref(), Some(body)).await }
    };

    assert_eq!(
        change(Some(bearer.clone()), json!({"old_password": "wrong", "new_password": new})).await,
        (StatusCode::BAD_REQUEST, None, json!({"detail": "Current password is incorrect"}))
    );
    let (status, _, body) =
        change(Some(bearer.clone()), json!({"old_password": PASSWORD, "new_password": "short"})).await;
    assert_422(status, &body, &[too_short("new_password", 8, "short")]);
    let (status, _, body) = change(Some(bearer.clone()), json!({"new_password": new})).await;
    assert_422(status, &body, &[missing(json!(["body", "old_password"]), json!({"new_password": new}))]);
    // Authentication comes before the fields; only malformed JSON comes before authentication.
    assert_eq!(change(None, json!({})).await, not_authenticated());
    let resp = app.client.post(app.url("/auth/change-password")).body("{oops").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(resp.json::<Value>().await.expect("json")["detail"][0]["type"], "json_invalid");
    for device in [&user, &other_device] {
        assert_eq!(me(&app, &device.access).await.0, StatusCode::OK, "failed attempts change nothing");
    }

    let (status, _, body) = change(Some(bearer.clone()), json!({"old_password": PASSWORD, "new_password": new})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), ["message", "tokens"]);
    assert_eq!(body["message"], "Password changed successfully. Please login again.");
    assert_eq!(keys(&body["tokens"]), TOKEN_KEYS);
    for device in [&user, &other_device] {
        assert_eq!(me(&app, &device.access).await, refused_bearer(), "old access tokens end at once");
        assert_eq!(refresh(&app, &device.refresh).await, refused_refresh("Refresh token not found"));
    }
    let fresh = body["tokens"]["access_token"].as_str().expect("new session");
    assert_eq!(me(&app, fresh).await.0, StatusCode::OK);
    assert_eq!(login(&app, &user.username, PASSWORD).await, failed_login());
    assert_eq!(login(&app, &user.username, new).await.0, StatusCode::OK);
}

async fn change_password_accepts_the_same_password_and_the_old_field_name(app: TestApp) {
    let user = app.user("same").await;
    let (status, body) = app
        .post("/auth/change-password", &user.access, json!({"current_password": PASSWORD, "new_password": PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Password changed successfully. Please login again.");
    assert_eq!(me(&app, &user.access).await, refused_bearer(), "the old sessions still end");
    assert_eq!(refresh(&app, &user.refresh).await, refused_refresh("Refresh token not found"));
    assert_eq!(me(&app, body["tokens"]["access_token"].as_str().expect("token")).await.0, StatusCode::OK);
    assert_eq!(login(&app, &user.username, PASSWORD).await.0, StatusCode::OK);
    // `old_password` wins when both names are sent.
    let again = app.login(&user).await;
    let (status, body) = app
        .post(
            "/auth/change-password",
            &again.access,
            json!({"old_password": "wrong-password", "current_password": PASSWORD, "new_password": PASSWORD}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Current password is incorrect"})));
}

async fn no_response_contains_a_password_or_hash(app: TestApp) {
    let username = unique("leak");
    let password = "s3cret-Pa55word-xyz";
    let changed = "n3w-s3cret-Pa55word";
    let mut bodies = Vec::new();
    let (_, b) = app
        .post_anon(
            "/auth/register",
            json!({"username": username, "email": format!("{username}@x.io"), "password": password}),
        )
        .await;
    bodies.push(b.clone());
    let access = b["tokens"]["access_token"].as_str().expect("token").to_owned();
    let refresh_token = b["tokens"]["refresh_token"].as_str().expect("token").to_owned();
    let (_, b) = app.post_anon("/auth/login", json!({"username": username, "password": password})).await;
    bodies.push(b);
    bodies.push(app.get("/auth/me", &access).await.1);
    bodies.push(app.post_anon("/auth/refresh", json!({"refresh_token": refresh_token})).await.1);
    bodies.push(
        app.post("/auth/change-password", &access, json!({"old_password": password, "new_password": "x"})).await.1,
    );
    bodies.push(app.post_anon("/auth/login", json!({"username": username, "password": "wrong-password"})).await.1);
    let (status, b) =
        app.post("/auth/change-password", &access, json!({"old_password": password, "new_password": changed})).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let fresh = b["tokens"]["access_token"].as_str().expect("token").to_owned();
    bodies.push(b);
    bodies.push(app.get("/auth/me", &fresh).await.1);
    bodies.push(app.post("/auth/logout-all", &fresh, json!({})).await.1);
    for body in bodies {
        let text = body.to_string();
        assert!(!text.contains(password) && !text.contains(changed), "{text}");
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

async fn non_ascii_emails_normalise_the_same_on_both_backends(app: TestApp) {
    let tag = unique("u");
    let given = format!("ÉLODIE_{tag}@EXÄMPLE.com");
    let stored = format!("ÉLODIE_{tag}@exämple.com");
    let (status, body) = register(&app, &unique("elo"), &given, PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"]["email"], stored.as_str(), "the domain lower-cased, the local part as given");
    let first = body["user"]["id"].as_i64().expect("id");

    let same = format!("ÉLODIE_{tag}@exÄmple.COM");
    let (status, body) = register(&app, &unique("elo"), &same, PASSWORD).await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!({"detail": "Email already registered"})));

    let lower = format!("élodie_{tag}@exämple.com");
    let (status, body) = register(&app, &unique("elo"), &lower, PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "the local part is case-sensitive: {body}");
    let second = body["user"]["id"].as_i64().expect("id");

    for (by, id) in [(&given, first), (&same, first), (&lower, second)] {
        let (status, _, body) = login(&app, by, PASSWORD).await;
        assert_eq!((status, body["user"]["id"].as_i64()), (StatusCode::OK, Some(id)), "{by}: {body}");
    }
    // Folded, `Élodie…` is both addresses, so it logs in to neither.
    assert_eq!(login(&app, &format!("Élodie_{tag}@exämple.com"), PASSWORD).await, failed_login());
}
