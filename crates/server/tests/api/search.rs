//! Message search, mentions and per-member room settings (issue 15, without files): on both
//! backends, against `docs/PROTOCOL.md`.
//!
//! Search: words match whatever their case and accents, as a word or the start of one, all of
//! them (AND), newest first, paged by `next_before`; never a message of a room the caller is not
//! in; edits are found by their new text, deleted messages never. Mentions: `@username` of a
//! room member, in any case, the longest member name winning; recomputed by edits, cleared by
//! deletion, counted among unread messages in `mention_count`. Settings: `muted` per member,
//! announced to the user's devices, changing nothing about delivery or unread counts.
//!
//! Each test runs on a database of its own, so the words searched for are the test's alone.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    helpers::{dm, group, say},
    helpers::{TestApp, TestUser, PASSWORD},
    seed::MESSAGE_KEYS,
    ws::{frames_of, Ws},
};

backend_tests!(
    search_matches_words_whatever_their_case_and_accents,
    several_words_must_all_match,
    greek_final_sigma_is_a_case_of_sigma,
    highlight_marks_exactly_the_matched_words,
    search_pages_newest_first_without_gaps_or_duplicates,
    search_stays_in_the_callers_rooms,
    search_follows_edits_and_deletions,
    search_validates_its_query,
    mentions_name_room_members_in_any_case,
    the_longest_member_name_wins,
    edits_recompute_mentions_and_deletion_clears_them,
    mention_count_counts_unread_mentions_until_read,
    room_settings_are_per_member_and_reach_the_other_devices,
    muted_rooms_still_deliver_and_count,
    messages_from_before_search_are_indexed_at_startup,
);

// ---------------------------------------------------------------------------------------------
// Helpers

/// `by` removes `user` from the group (or `user` leaves, when `by` is `user`).
async fn remove_member(app: &TestApp, by: &TestUser, group_id: i64, user: &TestUser) {
    let (status, body) =
        app.delete(&format!("/groups/{group_id}/members"), &by.access, json!({"user_id": user.id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Registers a user with exactly this username.
async fn register(app: &TestApp, username: &str) -> TestUser {
    let (status, body) = app
        .post_anon(
            "/auth/register",
            json!({
                "username": username,
                "email": format!("{}@example.com", crate::helpers::unique("named")),
                "password": PASSWORD,
                "full_name": "Named Tester",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    TestUser {
        id: body["user"]["id"].as_i64().expect("id"),
        username: username.to_owned(),
        access: body["tokens"]["access_token"].as_str().expect("access").into(),
        refresh: body["tokens"]["refresh_token"].as_str().expect("refresh").into(),
    }
}

/// `PATCH /messages/{id}`: must succeed.
async fn edit(app: &TestApp, who: &TestUser, id: i64, content: &str) -> Value {
    let (status, body) = app
        .request(Method::PATCH, &format!("/messages/{id}"), Some(&who.access), Some(json!({"content": content})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `DELETE /messages/{id}`: must succeed.
async fn remove(app: &TestApp, who: &TestUser, id: i64) -> Value {
    let (status, body) = app.request(Method::DELETE, &format!("/messages/{id}"), Some(&who.access), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `GET /search/messages` with these query parameters (percent-encoded here), as `who`.
async fn search(app: &TestApp, who: Option<&TestUser>, params: &[(&str, &str)]) -> (StatusCode, Value) {
    let url = reqwest::Url::parse_with_params(&app.url("/search/messages"), params).expect("url");
    let mut req = app.client.get(url);
    if let Some(who) = who {
        req = req.bearer_auth(&who.access);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A search that must succeed: the page, its shape checked.
async fn search_ok(app: &TestApp, who: &TestUser, params: &[(&str, &str)]) -> Value {
    let (status, page) = search(app, Some(who), params).await;
    assert_eq!(status, StatusCode::OK, "{params:?}: {page}");
    assert_eq!(keys(&page), ["results", "next_before"], "{page}");
    let results = page["results"].as_array().unwrap_or_else(|| panic!("results: {page}"));
    for r in results {
        assert_eq!(keys(r), ["message", "room_id", "highlight"], "{r}");
        assert_eq!(keys(&r["message"]), MESSAGE_KEYS, "{r}");
        assert_eq!(r["room_id"], r["message"]["room_id"], "{r}");
        assert_eq!(r["message"]["deleted_at"], Value::Null, "a deleted message is never found: {r}");
        for f in r["highlight"].as_array().unwrap_or_else(|| panic!("highlight: {r}")) {
            assert_eq!(keys(f), ["text", "match"], "{r}");
            assert!(f["match"].is_boolean(), "{r}");
            assert!(f["text"].as_str().is_some_and(|t| !t.is_empty()), "no empty fragment: {r}");
        }
    }
    let ids = ids_of(&page);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first, each once: {ids:?}");
    if let Some(next) = page["next_before"].as_i64() {
        assert_eq!(ids.last(), Some(&next), "next_before is the last result's id: {page}");
    } else {
        assert_eq!(page["next_before"], Value::Null, "{page}");
    }
    page
}

/// The ids of a page's results, in order.
fn ids_of(page: &Value) -> Vec<i64> {
    page["results"].as_array().expect("results").iter().map(|r| id_of(&r["message"])).collect()
}

/// Everything `who` finds for `q` (one page of up to 50, which must be the last).
async fn found(app: &TestApp, who: &TestUser, q: &str) -> Vec<i64> {
    let page = search_ok(app, who, &[("q", q), ("limit", "50")]).await;
    assert_eq!(page["next_before"], Value::Null, "{q}: {page}");
    ids_of(&page)
}

/// The fragments of the first result for `q`, as `(text, match)`.
async fn highlight(app: &TestApp, who: &TestUser, q: &str) -> Vec<(String, bool)> {
    let page = search_ok(app, who, &[("q", q)]).await;
    fragments(&page["results"][0]["highlight"])
}

fn fragments(highlight: &Value) -> Vec<(String, bool)> {
    highlight
        .as_array()
        .unwrap_or_else(|| panic!("fragments: {highlight}"))
        .iter()
        .map(|f| (f["text"].as_str().expect("text").to_owned(), f["match"].as_bool().expect("match")))
        .collect()
}

fn frags(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|(t, m)| ((*t).to_owned(), *m)).collect()
}

/// A room's whole history (up to 100 messages) as `who` sees it, oldest first.
async fn history(app: &TestApp, who: &TestUser, room: i64) -> Vec<Value> {
    let (status, body) = app.get(&format!("/rooms/{room}/messages?limit=100"), &who.access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("list").clone()
}

/// `who`'s summary of `room` from `GET /rooms`.
async fn summary(app: &TestApp, who: &TestUser, room: i64) -> Value {
    let (status, rooms) = app.get("/rooms", &who.access).await;
    assert_eq!(status, StatusCode::OK, "{rooms}");
    rooms.as_array().expect("rooms").iter().find(|r| r["room_id"] == room).cloned().expect("room listed")
}

/// `who`'s entry for the DM `room` in `GET /messages/chats`.
async fn chat_entry(app: &TestApp, who: &TestUser, room: i64) -> Value {
    let (status, chats) = app.get("/messages/chats", &who.access).await;
    assert_eq!(status, StatusCode::OK, "{chats}");
    chats.as_array().expect("chats").iter().find(|c| c["chat_room_id"] == room).cloned().expect("chat listed")
}

/// `(unread_count, mention_count)` of `room` for `who`, as `GET /rooms` has them.
async fn counts(app: &TestApp, who: &TestUser, room: i64) -> (i64, i64) {
    let s = summary(app, who, room).await;
    (s["unread_count"].as_i64().expect("unread_count"), s["mention_count"].as_i64().expect("mention_count"))
}

/// `POST /rooms/{room}/read` up to `seq`: the answer.
async fn read_up_to(app: &TestApp, who: &TestUser, room: i64, seq: i64) -> Value {
    let (status, body) = app.post(&format!("/rooms/{room}/read"), &who.access, json!({"up_to": seq})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn id_of(m: &Value) -> i64 {
    m["id"].as_i64().unwrap_or_else(|| panic!("a message id: {m}"))
}

fn seq_of(m: &Value) -> i64 {
    m["seq"].as_i64().unwrap_or_else(|| panic!("a seq: {m}"))
}

fn room_of(m: &Value) -> i64 {
    m["room_id"].as_i64().unwrap_or_else(|| panic!("a room id: {m}"))
}

/// A message's `mentions`, sorted (the protocol does not fix their order).
fn mentions_of(m: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = m["mentions"]
        .as_array()
        .unwrap_or_else(|| panic!("mentions: {m}"))
        .iter()
        .map(|v| v.as_i64().unwrap_or_else(|| panic!("a user id: {m}")))
        .collect();
    ids.sort_unstable();
    ids
}

/// These users' ids, sorted.
fn users(list: &[&TestUser]) -> Vec<i64> {
    let mut ids: Vec<i64> = list.iter().map(|u| u.id).collect();
    ids.sort_unstable();
    ids
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap_or_else(|| panic!("an object: {v}")).keys().map(String::as_str).collect()
}

/// `v` without the named top-level fields.
fn without(v: &Value, fields: &[&str]) -> Value {
    let mut v = v.clone();
    let object = v.as_object_mut().unwrap_or_else(|| panic!("an object"));
    for f in fields {
        object.remove(*f);
    }
    v
}

/// Sends a ping and returns every frame up to the pong: what the socket had been sent before.
async fn drain(ws: &mut Ws) -> Vec<Value> {
    ws.send(json!({"type": "ping"})).await;
    ws.until("pong").await
}

fn room_not_found() -> (StatusCode, Value) {
    (StatusCode::NOT_FOUND, json!({"detail": "Room not found"}))
}

// ---------------------------------------------------------------------------------------------
// Search: matching

async fn search_matches_words_whatever_their_case_and_accents(app: TestApp) {
    let (alice, bob) = (app.user("sc").await, app.user("sc").await);
    let flore = dm(&app, &alice, &bob, "Rendez-vous au Café de Flore").await;
    let room = room_of(&flore);
    let noir = dm(&app, &bob, &alice, "CAFÉ noir, s'il vous plaît").await;
    let cafeteria = dm(&app, &alice, &bob, "lunch at the cafeteria at noon").await;
    let decaf = dm(&app, &bob, &alice, "decaf for me, thanks").await;
    // "café" with a combining accent (NFD), as some keyboards type it.
    let creme = dm(&app, &alice, &bob, "un cafe\u{301} cre\u{300}me").await;
    let resume = dm(&app, &bob, &alice, "my resume, 2nd draft").await;
    let greek = dm(&app, &alice, &bob, "Καλημέρα from Αθήνα").await;
    let russian = dm(&app, &bob, &alice, "Ёлка и ЁЖИК").await;
    let [flore, noir, cafeteria, decaf, creme, resume, greek, russian] =
        [&flore, &noir, &cafeteria, &decaf, &creme, &resume, &greek, &russian].map(id_of);

    // Every form of the word, and its start, finds every message with a word starting with it
    // ("cafeteria" too), never one where it only appears inside a word ("decaf").
    let cafes = vec![creme, cafeteria, noir, flore];
    for q in ["cafe", "Cafe", "CAFE", "café", "Café", "CAFÉ", "cafe\u{301}", "CAFE\u{301}", "caf", "CAF", "Caf"] {
        for who in [&alice, &bob] {
            assert_eq!(found(&app, who, q).await, cafes, "q={q:?}");
        }
    }
    for (q, expected) in [
        ("afe", vec![]),
        ("decaf", vec![decaf]),
        ("cafet", vec![cafeteria]),
        ("cafeterias", vec![]),
        ("creme", vec![creme]),
        ("CRÈME", vec![creme]),
        ("crème", vec![creme]),
        ("plait", vec![noir]),
        ("PLAÎT", vec![noir]),
        ("vous", vec![noir, flore]),
        ("rendez", vec![flore]),
        ("résumé", vec![resume]),
        ("RESUME", vec![resume]),
        ("2nd", vec![resume]),
        // One character matches a whole word only (as a prefix it would match nearly everything).
        ("2", vec![]),
        ("2nd", vec![resume]),
        ("αθηνα", vec![greek]),
        ("ΑΘΗΝΑ", vec![greek]),
        ("Αθήνα", vec![greek]),
        ("καλημέρα", vec![greek]),
        ("ΚΑΛ", vec![greek]),
        ("елка", vec![russian]),
        ("ЁЛКА", vec![russian]),
        ("ёжик", vec![russian]),
        ("ежик", vec![russian]),
        ("missing", vec![]),
    ] {
        assert_eq!(found(&app, &alice, q).await, expected, "q={q:?}");
    }

    // A result: the message as history has it, its room, and the matched word marked.
    let page = search_ok(&app, &bob, &[("q", "noir")]).await;
    assert_eq!(page["next_before"], Value::Null);
    let result = &page["results"][0];
    assert_eq!(result["room_id"], room);
    let listed = history(&app, &bob, room).await.into_iter().find(|m| id_of(m) == noir).expect("in history");
    assert_eq!(without(&result["message"], &["is_read"]), without(&listed, &["is_read"]));
    assert_eq!(result["message"]["content"], "CAFÉ noir, s'il vous plaît");
    assert_eq!(
        fragments(&result["highlight"]),
        frags(&[("CAFÉ ", false), ("noir", true), (", s'il vous plaît", false)])
    );
}

/// Σ has two lower-case forms, σ and ς (at the end of a word): "ΟΔΟΣ" and "οδός" are one word
/// in two cases, as Unicode's case folding (σ for all three) has it.
async fn greek_final_sigma_is_a_case_of_sigma(app: TestApp) {
    let (alice, bob) = (app.user("gs").await, app.user("gs").await);
    let upper = id_of(&dm(&app, &alice, &bob, "ΟΔΟΣ").await);
    let lower = id_of(&dm(&app, &bob, &alice, "οδός").await);
    for q in ["οδος", "ΟΔΟΣ", "οδός", "Οδός", "οδοσ"] {
        assert_eq!(found(&app, &alice, q).await, [lower, upper], "q={q:?}");
    }
}

async fn several_words_must_all_match(app: TestApp) {
    let (alice, bob) = (app.user("and").await, app.user("and").await);
    let a = id_of(&dm(&app, &alice, &bob, "red apples and green pears").await);
    let b = id_of(&dm(&app, &bob, &alice, "green apples only").await);
    let c = id_of(&dm(&app, &alice, &bob, "Pears, RED ones").await);
    let d = id_of(&dm(&app, &bob, &alice, "nothing of the sort").await);

    for (q, expected) in [
        ("apples", vec![b, a]),
        ("green apples", vec![b, a]),
        ("apples green", vec![b, a]),
        ("red pears", vec![c, a]),
        ("PEARS red", vec![c, a]),
        ("red green", vec![a]),
        ("red apples green pears", vec![a]),
        ("red apples green pears and", vec![a]),
        ("gre app", vec![b, a]),
        ("red only", vec![]),
        ("apples bananas", vec![]),
        // Punctuation between words is no word of its own.
        ("red, pears!", vec![c, a]),
        ("red - pears", vec![c, a]),
        // The same word twice asks nothing more.
        ("red red", vec![c, a]),
        ("sort", vec![d]),
    ] {
        assert_eq!(found(&app, &alice, q).await, expected, "q={q:?}");
    }
}

async fn highlight_marks_exactly_the_matched_words(app: TestApp) {
    let (alice, bob) = (app.user("hl").await, app.user("hl").await);
    let content = "We meet at the Café, then the CAFETERIA; decaf later.";
    dm(&app, &alice, &bob, content).await;

    // The fragments put together are the content; exactly the words found are marked, whole.
    assert_eq!(
        highlight(&app, &bob, "cafe").await,
        frags(&[
            ("We meet at the ", false),
            ("Café", true),
            (", then the ", false),
            ("CAFETERIA", true),
            ("; decaf later.", false),
        ])
    );
    assert_eq!(
        highlight(&app, &bob, "MEET caf").await,
        frags(&[
            ("We ", false),
            ("meet", true),
            (" at the ", false),
            ("Café", true),
            (", then the ", false),
            ("CAFETERIA", true),
            ("; decaf later.", false),
        ])
    );
    assert_eq!(
        highlight(&app, &alice, "later").await,
        frags(&[("We meet at the Café, then the CAFETERIA; decaf ", false), ("later", true), (".", false)])
    );
    assert_eq!(
        highlight(&app, &alice, "we").await,
        frags(&[("We", true), (" meet at the Café, then the CAFETERIA; decaf later.", false)])
    );

    // A long message: an excerpt of it around the match, cut into fragments (an ellipsis may
    // stand for what was left out at either end).
    let long = format!("start {}needle in the middle{} finish", "hay ".repeat(150), " straw".repeat(150));
    dm(&app, &bob, &alice, &long).await;
    let f = highlight(&app, &alice, "needle").await;
    assert_eq!(f.iter().filter(|(_, m)| *m).map(|(t, _)| t.as_str()).collect::<Vec<_>>(), ["needle"], "{f:?}");
    let mut inner: &[(String, bool)] = &f;
    if inner.first().is_some_and(|(t, m)| t == "…" && !m) {
        inner = &inner[1..];
    }
    if inner.last().is_some_and(|(t, m)| t == "…" && !m) {
        inner = &inner[..inner.len() - 1];
    }
    let excerpt: String = inner.iter().map(|(t, _)| t.as_str()).collect();
    assert!(long.contains(&excerpt), "an excerpt of the content: {excerpt:?}");
    assert!(excerpt.contains("needle"), "{excerpt:?}");

    // Accents typed as combining marks (NFD) belong to their word: found, and marked whole.
    dm(&app, &alice, &bob, "un cafe\u{301} cre\u{300}me").await;
    assert_eq!(
        highlight(&app, &bob, "creme").await,
        frags(&[("un cafe\u{301} ", false), ("cre\u{300}me", true)]),
        "the word found is the word marked"
    );
    assert_eq!(
        highlight(&app, &bob, "CAFÉ").await,
        frags(&[("un ", false), ("cafe\u{301}", true), (" cre\u{300}me", false)]),
        "the accent stays with its letter"
    );
}

// ---------------------------------------------------------------------------------------------
// Search: paging

async fn search_pages_newest_first_without_gaps_or_duplicates(app: TestApp) {
    let (alice, bob) = (app.user("pg").await, app.user("pg").await);
    let mut wanted = Vec::new();
    for i in 0..25 {
        let (from, to) = if i % 2 == 0 { (&alice, &bob) } else { (&bob, &alice) };
        wanted.push(id_of(&dm(&app, from, to, &format!("needle number {i}")).await));
        if i % 3 == 0 {
            dm(&app, to, from, &format!("haystack {i}")).await;
        }
    }
    wanted.reverse();
    let q = ("q", "needle");

    // The default page is 20.
    let page = search_ok(&app, &alice, &[q]).await;
    assert_eq!(ids_of(&page), wanted[..20]);
    assert_eq!(page["next_before"], wanted[19]);
    // Exactly all of them: no next page.
    let page = search_ok(&app, &alice, &[q, ("limit", "25")]).await;
    assert_eq!((ids_of(&page), &page["next_before"]), (wanted.clone(), &Value::Null));
    let page = search_ok(&app, &alice, &[q, ("limit", "24")]).await;
    assert_eq!((ids_of(&page), &page["next_before"]), (wanted[..24].to_vec(), &json!(wanted[23])));
    let page = search_ok(&app, &alice, &[q, ("limit", "50")]).await;
    assert_eq!((ids_of(&page), &page["next_before"]), (wanted.clone(), &Value::Null));

    // Pages of 10, while a new message arrives: the cursor stays put.
    let p1 = search_ok(&app, &bob, &[q, ("limit", "10")]).await;
    assert_eq!((ids_of(&p1), &p1["next_before"]), (wanted[..10].to_vec(), &json!(wanted[9])));
    let fresh = id_of(&dm(&app, &bob, &alice, "needle, fresh").await);
    let before = wanted[9].to_string();
    let p2 = search_ok(&app, &bob, &[q, ("limit", "10"), ("before", &before)]).await;
    assert_eq!((ids_of(&p2), &p2["next_before"]), (wanted[10..20].to_vec(), &json!(wanted[19])));
    let before = wanted[19].to_string();
    let p3 = search_ok(&app, &bob, &[q, ("limit", "10"), ("before", &before)]).await;
    assert_eq!((ids_of(&p3), &p3["next_before"]), (wanted[20..].to_vec(), &Value::Null));
    // From the top again: the new one first.
    let mut all = vec![fresh];
    all.extend(&wanted);
    assert_eq!(found(&app, &bob, "needle").await, all);

    // One at a time, to the end: each once, none missing.
    let (mut walked, mut before) = (Vec::new(), None::<String>);
    loop {
        let mut params = vec![q, ("limit", "1")];
        if let Some(b) = &before {
            params.push(("before", b));
        }
        let page = search_ok(&app, &alice, &params).await;
        walked.extend(ids_of(&page));
        match page["next_before"].as_i64() {
            Some(next) => before = Some(next.to_string()),
            None => break,
        }
        assert!(walked.len() <= all.len(), "the walk ends: {walked:?}");
    }
    assert_eq!(walked, all);

    // `before` is any message id: the matches older than it.
    let before = wanted[5].to_string();
    let page = search_ok(&app, &alice, &[q, ("limit", "3"), ("before", &before)]).await;
    assert_eq!((ids_of(&page), &page["next_before"]), (wanted[6..9].to_vec(), &json!(wanted[8])));
    let before = wanted[24].to_string();
    let page = search_ok(&app, &alice, &[q, ("before", &before)]).await;
    assert_eq!(page, json!({"results": [], "next_before": null}), "nothing older than the oldest");
}

// ---------------------------------------------------------------------------------------------
// Search: only one's own rooms

async fn search_stays_in_the_callers_rooms(app: TestApp) {
    let [alice, bob, carol, dave, eve, frank] = [
        app.user("sr").await,
        app.user("sr").await,
        app.user("sr").await,
        app.user("sr").await,
        app.user("sr").await,
        app.user("sr").await,
    ];
    let ab = dm(&app, &alice, &bob, "pineapple between alice and bob").await;
    let cd = dm(&app, &carol, &dave, "pineapple between carol and dave").await;
    let gid = group(&app, &alice, &[&bob, &carol]).await;
    let g1 = say(&app, &alice, gid, "pineapple for the group").await;
    let g2 = say(&app, &carol, gid, "pineapple from carol").await;
    let other = group(&app, &dave, &[&eve]).await;
    let g3 = say(&app, &dave, other, "pineapple elsewhere").await;
    let (ab_room, cd_room) = (room_of(&ab), room_of(&cd));
    let [ab, cd, g1, g2, g3] = [&ab, &cd, &g1, &g2, &g3].map(id_of);

    let app_ref = &app;
    let sees = move |who: &TestUser| {
        let who = who.clone();
        async move { found(app_ref, &who, "pineapple").await }
    };
    assert_eq!(sees(&alice).await, [g2, g1, ab]);
    assert_eq!(sees(&bob).await, [g2, g1, ab]);
    assert_eq!(sees(&carol).await, [g2, g1, cd]);
    assert_eq!(sees(&dave).await, [g3, cd]);
    assert_eq!(sees(&eve).await, [g3]);
    assert_eq!(sees(&frank).await, Vec::<i64>::new(), "no rooms, nothing found");

    // One room: a member's finds; anyone else's 404 (the same whether the room exists or not).
    let in_room = move |who: &TestUser, room: i64| {
        let who = who.clone();
        async move {
            let room = room.to_string();
            let page = search_ok(app_ref, &who, &[("q", "pineapple"), ("room_id", &room)]).await;
            ids_of(&page)
        }
    };
    assert_eq!(in_room(&alice, gid).await, [g2, g1]);
    assert_eq!(in_room(&alice, ab_room).await, [ab]);
    assert_eq!(in_room(&dave, other).await, [g3]);
    for (who, room) in
        [(&carol, ab_room), (&eve, gid), (&alice, cd_room), (&alice, other), (&frank, gid), (&alice, 999_999_999)]
    {
        let room = room.to_string();
        assert_eq!(
            search(&app, Some(who), &[("q", "pineapple"), ("room_id", &room)]).await,
            room_not_found(),
            "room {room}"
        );
    }

    // Removed from the group: nothing of it any more, not even what she wrote there.
    remove_member(&app, &alice, gid, &carol).await;
    let g4 = id_of(&say(&app, &alice, gid, "pineapple after carol").await);
    assert_eq!(sees(&carol).await, [cd]);
    assert_eq!(found(&app, &carol, "carol").await, [cd], "her own words in the group are gone for her");
    let room = gid.to_string();
    assert_eq!(search(&app, Some(&carol), &[("q", "pineapple"), ("room_id", &room)]).await, room_not_found());
    // Leaving is the same.
    remove_member(&app, &bob, gid, &bob).await;
    assert_eq!(sees(&bob).await, [ab]);
    assert_eq!(search(&app, Some(&bob), &[("q", "pineapple"), ("room_id", &room)]).await, room_not_found());
    assert_eq!(sees(&alice).await, [g4, g2, g1, ab], "the members who stay find everything");

    // Without credentials, or with bad ones, as everywhere else.
    let (status, body) = app.request(Method::GET, "/search/messages?q=pineapple", None, None).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": "Not authenticated"})));
    let (status, body) = app.request(Method::GET, "/search/messages?q=pineapple", Some("garbage"), None).await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid authentication credentials"})));
}

// ---------------------------------------------------------------------------------------------
// Search: edits and deletions

async fn search_follows_edits_and_deletions(app: TestApp) {
    let (alice, bob, carol) = (app.user("se").await, app.user("se").await, app.user("se").await);
    let m = dm(&app, &alice, &bob, "the old walrus sings").await;
    let keep = id_of(&dm(&app, &bob, &alice, "the walrus stays").await);
    let id = id_of(&m);
    assert_eq!(found(&app, &bob, "walrus").await, [keep, id]);

    // Found by the new text only.
    let edited = edit(&app, &alice, id, "the new Narwhal sings").await;
    for who in [&alice, &bob] {
        assert_eq!(found(&app, who, "walrus").await, [keep], "the old text is forgotten");
        assert_eq!(found(&app, who, "old").await, Vec::<i64>::new());
        assert_eq!(found(&app, who, "narwhal").await, [id]);
        assert_eq!(found(&app, who, "new sings").await, [id]);
    }
    let page = search_ok(&app, &bob, &[("q", "narwhal")]).await;
    let result = &page["results"][0];
    assert_eq!(without(&result["message"], &["is_read"]), without(&edited, &["is_read"]));
    assert!(result["message"]["edited_at"].is_string(), "{result}");
    assert_eq!(fragments(&result["highlight"]), frags(&[("the new ", false), ("Narwhal", true), (" sings", false)]));

    // Deleted: never found again, by any of its words.
    remove(&app, &alice, id).await;
    for q in ["narwhal", "sings", "new", "the new narwhal sings"] {
        assert_eq!(found(&app, &bob, q).await, Vec::<i64>::new(), "q={q:?}");
    }
    assert_eq!(found(&app, &bob, "the").await, [keep], "the others stay");

    // In a group, a message its creator deleted.
    let gid = group(&app, &alice, &[&bob, &carol]).await;
    let g = id_of(&say(&app, &carol, gid, "carol's octopus").await);
    let g2 = id_of(&say(&app, &carol, gid, "another octopus").await);
    assert_eq!(found(&app, &bob, "octopus").await, [g2, g]);
    remove(&app, &alice, g).await;
    assert_eq!(found(&app, &bob, "octopus").await, [g2]);
    assert_eq!(found(&app, &carol, "carol").await, Vec::<i64>::new());
    // Edited twice: only the newest text.
    edit(&app, &carol, g2, "first squid").await;
    edit(&app, &carol, g2, "then cuttlefish").await;
    for q in ["octopus", "squid", "first"] {
        assert_eq!(found(&app, &bob, q).await, Vec::<i64>::new(), "q={q:?}");
    }
    assert_eq!(found(&app, &bob, "cuttlefish").await, [g2]);
}

// ---------------------------------------------------------------------------------------------
// Search: validation

async fn search_validates_its_query(app: TestApp) {
    let (alice, bob) = (app.user("sv").await, app.user("sv").await);
    let m = dm(&app, &alice, &bob, "valid words here").await;
    let room = room_of(&m).to_string();

    let refused = |answer: (StatusCode, Value), field: &str, what: &str| {
        let (status, body) = answer;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
        let items = body["detail"].as_array().unwrap_or_else(|| panic!("{what}: a list of problems: {body}"));
        assert!(
            items.iter().any(|e| e["loc"] == json!(["query", field])),
            "{what}: a problem at [query, {field}]: {body}"
        );
    };
    // q: present, 1–200 characters (characters, not bytes).
    let (status, body) = search(&app, Some(&alice), &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["query", "q"]), "{body}");
    assert_eq!(body["detail"][0]["type"], "missing", "{body}");
    refused(search(&app, Some(&alice), &[("q", "")]).await, "q", "empty q");
    refused(search(&app, Some(&alice), &[("q", &"a".repeat(201))]).await, "q", "201 characters");
    refused(search(&app, Some(&alice), &[("q", &"é".repeat(201))]).await, "q", "201 characters");
    refused(search(&app, Some(&alice), &[("limit", "5")]).await, "q", "no q");
    let words = "valid ".repeat(33) + "here"; // 202 characters
    refused(search(&app, Some(&alice), &[("q", &words)]).await, "q", "202 characters of words");
    for fine in ["a".repeat(200), "é".repeat(200), "valid ".repeat(33) + "he"] {
        let (status, body) = search(&app, Some(&alice), &[("q", &fine)]).await;
        assert_eq!(status, StatusCode::OK, "{} characters: {body}", fine.chars().count());
    }
    // limit: 1–50.
    for bad in ["0", "51", "-1", "1000", "abc", "2.5"] {
        refused(search(&app, Some(&alice), &[("q", "valid"), ("limit", bad)]).await, "limit", bad);
    }
    for fine in ["1", "50"] {
        let page = search_ok(&app, &alice, &[("q", "valid"), ("limit", fine)]).await;
        assert_eq!(ids_of(&page), [id_of(&m)], "limit={fine}");
    }
    // before and room_id: integers.
    refused(search(&app, Some(&alice), &[("q", "valid"), ("before", "abc")]).await, "before", "before=abc");
    refused(search(&app, Some(&alice), &[("q", "valid"), ("room_id", "abc")]).await, "room_id", "room_id=abc");
    assert_eq!(ids_of(&search_ok(&app, &alice, &[("q", "valid"), ("room_id", &room)]).await), [id_of(&m)]);

    // A query with no letters or digits asks for no word: nothing found, and no error.
    for q in ["!!!", "...", "@", "#", "* & *", "\"", "-", "—", "🍍"] {
        let page = search_ok(&app, &alice, &[("q", q)]).await;
        assert_eq!(page, json!({"results": [], "next_before": null}), "q={q:?}");
    }
    // Characters the full-text engines read as syntax are only separators.
    for q in ["valid*", "\"valid\"", "valid OR nothing", "valid & here", "valid:*", "valid|x", "(valid)", "^valid"] {
        let expected = if q.contains("nothing") || q.contains("|x") { vec![] } else { vec![id_of(&m)] };
        assert_eq!(found(&app, &alice, q).await, expected, "q={q:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Mentions

async fn mentions_name_room_members_in_any_case(app: TestApp) {
    let [alice, bob, carol, dave, eve] =
        [app.user("mn").await, app.user("mn").await, app.user("mn").await, app.user("mn").await, app.user("mn").await];
    let gid = group(&app, &alice, &[&bob, &carol]).await;
    dm(&app, &alice, &dave, "hello dave").await; // Alice knows Dave, but he is not in the group.
    let (b, c) = (bob.username.clone(), carol.username.clone());

    let cases: Vec<(String, Vec<i64>)> = vec![
        (format!("@{b} hi"), users(&[&bob])),
        (format!("hi @{} and @{}", b.to_uppercase(), capitalized(&c)), users(&[&bob, &carol])),
        (format!("@{}, are you there?", dave.username), vec![]),
        ("@nobody_by_that_name here".to_owned(), vec![]),
        (format!("@{b}x is someone else"), vec![]),
        (format!("(@{b})"), users(&[&bob])),
        (format!("@{b}, @{b}: twice, once"), users(&[&bob])),
        (format!("ends with @{c}"), users(&[&carol])),
        (format!("@ {b} is no mention"), vec![]),
        (format!("no at sign: {b}"), vec![]),
        (format!("@{} note to self", alice.username), users(&[&alice])),
    ];
    let mut sent = Vec::new();
    for (content, expected) in &cases {
        let m = say(&app, &alice, gid, content).await;
        assert_eq!(mentions_of(&m), *expected, "{content}");
        sent.push(m);
    }
    // History carries them too, for every member.
    for who in [&alice, &bob, &carol] {
        let list = history(&app, who, gid).await;
        assert_eq!(list.len(), cases.len());
        for (m, (content, expected)) in list.iter().zip(&cases) {
            assert_eq!(m["content"], json!(content));
            assert_eq!(mentions_of(m), *expected, "{content}");
        }
    }
    // A message with no mention has `mentions: []`.
    assert_eq!(sent[3]["mentions"], json!([]));

    // Over WebSocket: the ack and every member's new_message.
    let mut aw = Ws::subscribed(&app, &alice.access).await;
    let mut bw = Ws::subscribed(&app, &bob.access).await;
    let mut cw = Ws::subscribed(&app, &carol.access).await;
    let content = format!("@{} and @{} look", alice.username.to_uppercase(), c);
    bw.send(json!({"type": "message", "room_id": gid, "content": content, "client_id": "mn-1"})).await;
    let [ack, own] = <[Value; 2]>::try_from(frames_of(&mut bw, &["ack", "new_message"]).await).expect("two frames");
    let expected = users(&[&alice, &carol]);
    assert_eq!(mentions_of(&ack["message"]), expected);
    assert_eq!(mentions_of(&own["message"]), expected);
    for ws in [&mut aw, &mut cw] {
        let frame = ws.expect("new_message").await;
        assert_eq!(frame["message_id"], ack["message"]["id"]);
        assert_eq!(mentions_of(&frame["message"]), expected);
    }
    let last = history(&app, &carol, gid).await.pop().expect("the WS message");
    assert_eq!((last["id"].clone(), mentions_of(&last)), (ack["message"]["id"].clone(), expected));

    // In a DM: the other member (even in its very first message), never anyone outside it.
    let first = dm(&app, &alice, &eve, &format!("@{} welcome!", eve.username)).await;
    assert_eq!(mentions_of(&first), users(&[&eve]));
    let other = dm(&app, &alice, &eve, &format!("@{b} is not here, @{}", eve.username.to_uppercase())).await;
    assert_eq!(mentions_of(&other), users(&[&eve]));
    let list = history(&app, &eve, room_of(&first)).await;
    assert_eq!(list.iter().map(mentions_of).collect::<Vec<_>>(), [users(&[&eve]), users(&[&eve])]);

    // Removed from the group: no longer a member, so no longer mentioned there.
    remove_member(&app, &alice, gid, &carol).await;
    let after = say(&app, &alice, gid, &format!("@{c} and @{b}")).await;
    assert_eq!(mentions_of(&after), users(&[&bob]));
}

/// `s` with its first letter upper case and the rest lower case.
fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|f| f.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect()).unwrap_or_default()
}

async fn the_longest_member_name_wins(app: TestApp) {
    let alice = app.user("lw").await;
    let base = crate::helpers::unique("lw");
    let short = register(&app, &base).await;
    let spaced = register(&app, &format!("{base} smith")).await;
    let dotted = register(&app, &format!("{base}.jr")).await;
    let gid = group(&app, &alice, &[&short, &spaced, &dotted]).await;
    let upper = base.to_uppercase();

    for (content, expected) in [
        (format!("@{base} smith, hello"), users(&[&spaced])),
        (format!("@{upper} SMITH"), users(&[&spaced])),
        (format!("hi @{base} smith"), users(&[&spaced])),
        // The longer name does not end there: the shorter one does (at the space).
        (format!("@{base} smithy"), users(&[&short])),
        (format!("@{base}"), users(&[&short])),
        (format!("@{base}!"), users(&[&short])),
        (format!("@{base}.jr, hi"), users(&[&dotted])),
        (format!("@{upper}.JR"), users(&[&dotted])),
        // The longer name does not end there; the shorter one ends at the punctuation.
        (format!("@{base}.jrx"), users(&[&short])),
        (format!("@{base}. Then"), users(&[&short])),
        (format!("@{base} smith and @{base}"), users(&[&short, &spaced])),
    ] {
        let m = say(&app, &alice, gid, &content).await;
        assert_eq!(mentions_of(&m), expected, "{content}");
    }
}

async fn edits_recompute_mentions_and_deletion_clears_them(app: TestApp) {
    let (alice, bob, carol) = (app.user("me").await, app.user("me").await, app.user("me").await);
    let gid = group(&app, &alice, &[&bob, &carol]).await;
    let (b, c) = (bob.username.clone(), carol.username.clone());
    let m = say(&app, &alice, gid, &format!("ping @{b}")).await;
    let id = id_of(&m);
    assert_eq!(mentions_of(&m), users(&[&bob]));
    assert_eq!((counts(&app, &bob, gid).await, counts(&app, &carol, gid).await), ((1, 1), (1, 0)));
    let mut bw = Ws::subscribed(&app, &bob.access).await;
    let mut cw = Ws::subscribed(&app, &carol.access).await;

    for (content, expected, bob_mentions, carol_mentions) in [
        (format!("ping @{c}"), users(&[&carol]), 0, 1),
        (format!("ping @{} and @{}", capitalized(&b), c.to_uppercase()), users(&[&bob, &carol]), 1, 1),
        ("ping nobody".to_owned(), vec![], 0, 0),
        (format!("@{b}"), users(&[&bob]), 1, 0),
    ] {
        let edited = edit(&app, &alice, id, &content).await;
        assert_eq!(mentions_of(&edited), expected, "{content}");
        for ws in [&mut bw, &mut cw] {
            let update = ws.expect("message_updated").await;
            assert_eq!((update["message"]["id"].as_i64(), &update["message"]["content"]), (Some(id), &json!(content)));
            assert_eq!(mentions_of(&update["message"]), expected, "{content}");
        }
        // (The sender's history: reading history marks the messages read for the reader.)
        let listed = history(&app, &alice, gid).await;
        assert_eq!(mentions_of(&listed[0]), expected, "{content}");
        assert_eq!(counts(&app, &bob, gid).await, (1, bob_mentions), "{content}");
        assert_eq!(counts(&app, &carol, gid).await, (1, carol_mentions), "{content}");
    }

    // Deleted: the tombstone mentions no one, and no one counts it.
    let tomb = remove(&app, &alice, id).await;
    assert_eq!(tomb["mentions"], json!([]));
    for ws in [&mut bw, &mut cw] {
        let update = ws.expect("message_updated").await;
        assert_eq!(update["message"]["mentions"], json!([]), "{update}");
    }
    assert_eq!((counts(&app, &bob, gid).await, counts(&app, &carol, gid).await), ((0, 0), (0, 0)));
    for who in [&alice, &bob, &carol] {
        assert_eq!(history(&app, who, gid).await[0]["mentions"], json!([]));
    }

    // Editing a DM: only its two members can be mentioned.
    let d = dm(&app, &alice, &bob, "plain").await;
    let edited = edit(&app, &alice, id_of(&d), &format!("@{c} @{b}")).await;
    assert_eq!(mentions_of(&edited), users(&[&bob]));
}

async fn mention_count_counts_unread_mentions_until_read(app: TestApp) {
    let (alice, bob, carol) = (app.user("mc").await, app.user("mc").await, app.user("mc").await);
    let a = alice.username.clone();
    // (Sending reads the room up to one's own message: Alice's comes first.)
    let a0 = dm(&app, &alice, &bob, &format!("hello @{}", bob.username)).await;
    let room = room_of(&a0);
    let b1 = dm(&app, &bob, &alice, &format!("@{a} one")).await;
    dm(&app, &bob, &alice, "plain").await;
    let b3 = dm(&app, &bob, &alice, &format!("two @{}!", a.to_uppercase())).await;
    let gid = group(&app, &carol, &[&alice, &bob]).await;
    say(&app, &carol, gid, &format!("@{a} in the group")).await;
    let g2 = say(&app, &bob, gid, &format!("@{} talks to himself", bob.username)).await;
    assert_eq!(mentions_of(&g2), users(&[&bob]));

    assert_eq!(counts(&app, &alice, room).await, (3, 2));
    assert_eq!(counts(&app, &alice, gid).await, (2, 1));
    // Bob read his DM by answering; in the group his own message read it up to there.
    assert_eq!(counts(&app, &bob, room).await, (0, 0));
    assert_eq!(counts(&app, &bob, gid).await, (0, 0), "one's own messages are never unread");
    let s = summary(&app, &alice, room).await;
    assert_eq!(s["muted"], false, "{s}");
    let chat = chat_entry(&app, &alice, room).await;
    assert_eq!(
        keys(&chat),
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
        ]
    );
    assert_eq!((&chat["unread_count"], &chat["mention_count"], &chat["muted"]), (&json!(3), &json!(2), &json!(false)));

    // Reading up to the first mention leaves the second.
    let read = read_up_to(&app, &alice, room, seq_of(&b1)).await;
    assert_eq!(read, json!({"room_id": room, "last_read_seq": seq_of(&b1), "unread_count": 2}));
    assert_eq!(counts(&app, &alice, room).await, (2, 1));
    assert_eq!(chat_entry(&app, &alice, room).await["mention_count"], 1);
    // Reading everything: none.
    read_up_to(&app, &alice, room, seq_of(&b3)).await;
    assert_eq!(counts(&app, &alice, room).await, (0, 0));
    assert_eq!(chat_entry(&app, &alice, room).await["mention_count"], 0);
    read_up_to(&app, &alice, gid, seq_of(&g2)).await;
    assert_eq!(counts(&app, &alice, gid).await, (0, 0));

    // A mention already read does not come back when edited to mention again.
    edit(&app, &bob, id_of(&b1), &format!("@{a} one, edited")).await;
    assert_eq!(counts(&app, &alice, room).await, (0, 0));

    // New ones count again; a deleted one no longer; an edit adding or dropping a mention counts.
    let b4 = dm(&app, &bob, &alice, &format!("@{a} three")).await;
    let b5 = dm(&app, &bob, &alice, "no mention yet").await;
    assert_eq!(counts(&app, &alice, room).await, (2, 1));
    edit(&app, &bob, id_of(&b5), &format!("now @{a}")).await;
    assert_eq!(counts(&app, &alice, room).await, (2, 2));
    remove(&app, &bob, id_of(&b4)).await;
    assert_eq!(counts(&app, &alice, room).await, (1, 1));
    edit(&app, &bob, id_of(&b5), "no mention after all").await;
    assert_eq!(counts(&app, &alice, room).await, (1, 0));
    edit(&app, &bob, id_of(&b5), &format!("@{a} after all")).await;
    let chat = chat_entry(&app, &alice, room).await;
    assert_eq!((&chat["unread_count"], &chat["mention_count"]), (&json!(1), &json!(1)));
    // Over the WebSocket `read` frame too.
    let mut aw = Ws::connect(&app, &alice.access).await;
    aw.send(json!({"type": "read", "room_id": room, "up_to": seq_of(&b5)})).await;
    let frame = aw.expect("read").await;
    assert_eq!(frame["unread_count"], 0, "{frame}");
    assert_eq!(counts(&app, &alice, room).await, (0, 0));
    // Bob's count of Alice's mention of him was cleared by his answer.
    assert_eq!(counts(&app, &bob, room).await, (0, 0));
}

// ---------------------------------------------------------------------------------------------
// Room settings

async fn room_settings_are_per_member_and_reach_the_other_devices(app: TestApp) {
    let (alice, bob, carol) = (app.user("rs").await, app.user("rs").await, app.user("rs").await);
    let room = room_of(&dm(&app, &alice, &bob, "hello").await);
    let gid = group(&app, &alice, &[&bob, &carol]).await;
    let settings = |r: i64| format!("/rooms/{r}/settings");
    let put = |who: &TestUser, r: i64, body: Value| {
        let (path, token) = (settings(r), who.access.clone());
        let app = &app;
        async move { app.request(Method::PUT, &path, Some(&token), Some(body)).await }
    };

    // Not muted at first, for anyone.
    for who in [&alice, &bob] {
        assert_eq!(
            app.get(&settings(room), &who.access).await,
            (StatusCode::OK, json!({"room_id": room, "muted": false}))
        );
        assert_eq!(summary(&app, who, room).await["muted"], false);
        assert_eq!(chat_entry(&app, who, room).await["muted"], false);
    }
    assert_eq!(app.get(&settings(gid), &carol.access).await, (StatusCode::OK, json!({"room_id": gid, "muted": false})));

    // Members only: the same 404 whether the room exists or not.
    for (who, r) in [(&carol, room), (&alice, 999_999_999)] {
        assert_eq!(app.get(&settings(r), &who.access).await, room_not_found(), "GET room {r}");
        assert_eq!(put(who, r, json!({"muted": true})).await, room_not_found(), "PUT room {r}");
    }

    // Alice mutes the DM from her phone: her laptop and her phone's socket hear of it; Bob not.
    let laptop = app.login(&alice).await;
    let mut phone_ws = Ws::subscribed(&app, &alice.access).await;
    let mut laptop_ws = Ws::connect(&app, &laptop.access).await;
    let mut bw = Ws::subscribed(&app, &bob.access).await;
    assert_eq!(
        put(&alice, room, json!({"muted": true})).await,
        (StatusCode::OK, json!({"room_id": room, "muted": true}))
    );
    let frame = json!({"type": "room_settings", "room_id": room, "muted": true});
    assert_eq!(laptop_ws.expect("room_settings").await, frame);
    assert_eq!(phone_ws.expect("room_settings").await, frame);
    assert!(drain(&mut bw).await.iter().all(|f| f["type"] != "room_settings"), "only Alice's devices");

    // Stored per member.
    assert_eq!(
        app.get(&settings(room), &laptop.access).await,
        (StatusCode::OK, json!({"room_id": room, "muted": true}))
    );
    assert_eq!(app.get(&settings(room), &bob.access).await, (StatusCode::OK, json!({"room_id": room, "muted": false})));
    assert_eq!(summary(&app, &alice, room).await["muted"], true);
    assert_eq!(chat_entry(&app, &alice, room).await["muted"], true);
    assert_eq!(summary(&app, &bob, room).await["muted"], false);
    assert_eq!(chat_entry(&app, &bob, room).await["muted"], false);
    assert_eq!(summary(&app, &alice, gid).await["muted"], false, "per room");

    // Unmuted from the laptop.
    assert_eq!(
        put(&laptop, room, json!({"muted": false})).await,
        (StatusCode::OK, json!({"room_id": room, "muted": false}))
    );
    let frame = json!({"type": "room_settings", "room_id": room, "muted": false});
    assert_eq!(phone_ws.expect("room_settings").await, frame);
    assert_eq!(laptop_ws.expect("room_settings").await, frame);
    assert_eq!(summary(&app, &alice, room).await["muted"], false);

    // A group, by Bob.
    assert_eq!(put(&bob, gid, json!({"muted": true})).await, (StatusCode::OK, json!({"room_id": gid, "muted": true})));
    assert_eq!(bw.expect("room_settings").await, json!({"type": "room_settings", "room_id": gid, "muted": true}));
    assert_eq!(summary(&app, &bob, gid).await["muted"], true);
    assert_eq!(summary(&app, &carol, gid).await["muted"], false);
    assert!(drain(&mut phone_ws).await.iter().all(|f| f["type"] != "room_settings"), "not Alice's");

    // The body: `muted` a boolean, read as Pydantic reads one (lax strings and 0/1 too).
    for (value, muted) in
        [(json!("yes"), true), (json!("off"), false), (json!(1), true), (json!("TRUE"), true), (json!(0), false)]
    {
        assert_eq!(
            put(&alice, gid, json!({"muted": value})).await,
            (StatusCode::OK, json!({"room_id": gid, "muted": muted})),
            "{value}"
        );
    }
    for (body, kind) in [
        (json!({}), "missing"),
        (json!({"mute": true}), "missing"),
        (json!({"muted": "maybe"}), "bool_parsing"),
        (json!({"muted": 2}), "bool_parsing"),
        (json!({"muted": null}), "bool_type"),
        (json!({"muted": [true]}), "bool_type"),
    ] {
        let (status, answer) = put(&alice, gid, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], json!(["body", "muted"]), "{body}: {answer}");
        assert_eq!(answer["detail"][0]["type"], kind, "{body}: {answer}");
    }
    let (status, answer) = app.request(Method::PUT, &settings(gid), Some(&alice.access), Some(json!([true]))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let resp = app
        .client
        .put(app.url(&settings(gid)))
        .bearer_auth(&alice.access)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get(&settings(gid), &alice.access).await,
        (StatusCode::OK, json!({"room_id": gid, "muted": false})),
        "refused bodies change nothing"
    );

    // A member who is removed has no settings for the room any more.
    remove_member(&app, &alice, gid, &carol).await;
    assert_eq!(app.get(&settings(gid), &carol.access).await, room_not_found());
    assert_eq!(put(&carol, gid, json!({"muted": true})).await, room_not_found());

    // Without credentials.
    for method in [Method::GET, Method::PUT] {
        let body = (method == Method::PUT).then(|| json!({"muted": true}));
        let got = app.request(method.clone(), &settings(room), None, body).await;
        assert_eq!(got, (StatusCode::FORBIDDEN, json!({"detail": "Not authenticated"})), "{method}");
    }
}

async fn muted_rooms_still_deliver_and_count(app: TestApp) {
    let (alice, bob, carol) = (app.user("mu").await, app.user("mu").await, app.user("mu").await);
    let first = dm(&app, &alice, &bob, "hello").await;
    let room = room_of(&first);
    let gid = group(&app, &bob, &[&alice, &carol]).await;
    for r in [room, gid] {
        let (status, body) = app
            .request(Method::PUT, &format!("/rooms/{r}/settings"), Some(&alice.access), Some(json!({"muted": true})))
            .await;
        assert_eq!((status, body), (StatusCode::OK, json!({"room_id": r, "muted": true})));
    }
    let mut aw = Ws::subscribed(&app, &alice.access).await;

    // Messages still reach every device, mentions or not; unread and mentions still count.
    let plain = dm(&app, &bob, &alice, "while muted").await;
    let frame = aw.expect("new_message").await;
    assert_eq!((frame["message_id"].clone(), frame["content"].clone()), (plain["id"].clone(), json!("while muted")));
    let mention = dm(&app, &bob, &alice, &format!("@{} while muted", alice.username)).await;
    let frame = aw.expect("new_message").await;
    assert_eq!(frame["message_id"], mention["id"]);
    assert_eq!(mentions_of(&frame["message"]), users(&[&alice]));
    assert_eq!(counts(&app, &alice, room).await, (2, 1));
    let chat = chat_entry(&app, &alice, room).await;
    assert_eq!((&chat["unread_count"], &chat["mention_count"], &chat["muted"]), (&json!(2), &json!(1), &json!(true)));

    let g = say(&app, &carol, gid, &format!("group @{} ping", alice.username)).await;
    let frame = aw.expect("new_message").await;
    assert_eq!((frame["message_id"].clone(), mentions_of(&frame["message"])), (g["id"].clone(), users(&[&alice])));
    say(&app, &bob, gid, "group plain").await;
    let frame = aw.expect("new_message").await;
    assert_eq!(frame["content"], "group plain");
    let s = summary(&app, &alice, gid).await;
    assert_eq!((&s["unread_count"], &s["mention_count"], &s["muted"]), (&json!(2), &json!(1), &json!(true)));
    // Edits reach a muted room too.
    edit(&app, &bob, id_of(&plain), "edited while muted").await;
    let update = aw.expect("message_updated").await;
    assert_eq!(update["message"]["content"], "edited while muted");

    // Reading works as ever; the room stays muted.
    read_up_to(&app, &alice, room, seq_of(&mention)).await;
    assert_eq!(counts(&app, &alice, room).await, (0, 0));
    assert_eq!(summary(&app, &alice, room).await["muted"], true);
}

/// A message stored before search existed (no search text) is indexed by the server when it
/// starts, folded as new ones are; one deleted meanwhile stays out.
async fn messages_from_before_search_are_indexed_at_startup(app: TestApp) {
    use sqlx::Connection as _;
    let (alice, bob) = (app.user("old").await, app.user("old").await);
    let kept = dm(&app, &alice, &bob, "An ancient Café scroll").await;
    let gone = dm(&app, &alice, &bob, "ancient secret").await;
    let (status, _) =
        app.request(Method::DELETE, &format!("/messages/{}", gone["id"]), Some(&alice.access), None).await;
    assert_eq!(status, StatusCode::OK);
    let storage = app.stop().await;
    // As a database migrated from before search: no search text yet.
    let sql = "UPDATE messages SET search_text = NULL";
    match storage.backend {
        crate::helpers::Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(&storage.database_url).await.expect("connect");
            sqlx::query(sql).execute(&mut db).await.expect("update");
        }
        crate::helpers::Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(&storage.database_url).await.expect("connect");
            sqlx::query(sql).execute(&mut db).await.expect("update");
        }
    }
    let app = TestApp::start(storage, &[]).await;
    // Indexing runs in the background at startup: wait (bounded) until it is done.
    let mut hits = Vec::new();
    for _ in 0..200 {
        hits = found(&app, &alice, "cafe ancient").await;
        if !hits.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(hits, vec![kept["id"].as_i64().expect("id")]);
    assert_eq!(found(&app, &bob, "ancient").await, vec![kept["id"].as_i64().expect("id")], "the deleted one stays out");
}
