//! File attachments (issue 15, "Files"): uploads streamed to disk and stored once per content,
//! downloads only for the uploader and the members of the room a file was sent to, thumbnails,
//! `attachment_ids` on every way of sending, cleanup on deletion and by the sweep — on both
//! backends, against `notes/attachments-spec.md`.
//!
//! Each test has its own data directory (`Storage::data_dir()`), so counting files on disk
//! counts the test's own.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use reqwest::{header::HeaderMap, multipart, Method, StatusCode};
use serde_json::{json, Value};
use sha2::Digest as _;

use crate::{
    helpers::{dm, group, say},
    helpers::{TestApp, TestUser},
    node::Node,
    ws::{frames_of, Ws},
};

backend_tests!(
    uploads_come_back_byte_exact_with_their_headers,
    the_content_type_comes_from_the_bytes,
    filenames_are_sanitised_and_uploads_validated,
    the_same_bytes_are_stored_once,
    uploads_above_the_limit_are_refused,
    a_huge_streamed_upload_is_refused_in_flat_memory,
    only_the_uploader_and_room_members_may_download,
    attachment_ids_must_name_the_senders_unsent_uploads,
    messages_carry_their_attachments_everywhere,
    thumbnails_are_small_images_of_images,
    deleting_a_message_removes_its_files_once_unreferenced,
    the_sweep_removes_only_old_unattached_uploads,
    a_retried_client_id_returns_the_original_attachments,
    photos_are_stored_without_what_they_say_about_their_author,
    each_user_has_a_storage_quota_freed_by_deleting,
);

/// The fields of an upload's answer, and of each entry of a message's `attachments`.
const ATTACHMENT_KEYS: [&str; 7] = ["id", "filename", "content_type", "size", "url", "width", "height"];
const REFUSED_IDS: &str = "Value error, attachment_ids must name at most 10 of your own uploads not yet sent";
const NO_FILE: &str = "No file in the upload (a multipart field named 'file')";
/// How long a background effect (a file removed from disk) may take.
const EVENTUALLY: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Helpers: content

/// `len` pseudo-random bytes (xorshift), different for each `seed`.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn encode(img: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("the image encodes");
    out.into_inner()
}

/// An opaque `w`×`h` picture (a pattern, so it compresses like a picture), different per `seed`.
fn picture(w: u32, h: u32, seed: u8) -> image::DynamicImage {
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 251) as u8 ^ seed, (y % 241) as u8, ((x + 2 * y) % 239) as u8])
    }))
}

fn png(w: u32, h: u32, seed: u8) -> Vec<u8> {
    encode(&picture(w, h, seed), image::ImageFormat::Png)
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the spec keeps these bytes: `DATA_DIR/attachments/<first 2 hex>/<sha256 hex>`.
fn stored_path(app: &TestApp, bytes: &[u8]) -> PathBuf {
    let hex = sha256_hex(bytes);
    app.storage.data_dir().join("attachments").join(&hex[..2]).join(&hex)
}

/// Every file under `dir`, recursively (none if `dir` does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.map(|e| e.expect("a directory entry")) {
        let path = entry.path();
        if entry.file_type().expect("file type").is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found.sort();
    found
}

fn stored_files(app: &TestApp) -> Vec<PathBuf> {
    files_under(&app.storage.data_dir().join("attachments"))
}

/// The thumbnail files made of these bytes (`DATA_DIR/thumbnails/<2 hex>/<sha256 hex>.*`).
fn thumbnail_files(app: &TestApp, bytes: &[u8]) -> Vec<PathBuf> {
    let hex = sha256_hex(bytes);
    files_under(&app.storage.data_dir().join("thumbnails"))
        .into_iter()
        .filter(|p| p.file_stem().and_then(|s| s.to_str()) == Some(hex.as_str()))
        .collect()
}

/// Waits (bounded) until `cond` holds.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + EVENTUALLY;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {EVENTUALLY:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Percent-decodes an RFC 5987 value (`UTF-8''…`'s part after the quotes).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
            out.push(u8::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad escape in {s:?}")));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| panic!("not UTF-8 once decoded: {s:?}"))
}

// ---------------------------------------------------------------------------------------------
// Helpers: HTTP

/// A form with one `file` part (the filename sent as is, UTF-8, not percent-encoded).
fn file_form(bytes: Vec<u8>, filename: &str, mime: &str) -> multipart::Form {
    let part = multipart::Part::bytes(bytes).file_name(filename.to_owned()).mime_str(mime).expect("a mime type");
    multipart::Form::new().percent_encode_noop().part("file", part)
}

/// `len` bytes sent as a stream of 64 KiB chunks (so the request has no Content-Length), made
/// on the fly: the chunk pattern of `noise(64 KiB, seed)`, repeated.
fn streamed(len: usize, seed: u64) -> (reqwest::Body, impl Fn() -> Vec<u8>) {
    const CHUNK: usize = 64 * 1024;
    let pattern = noise(CHUNK, seed);
    let whole = {
        let pattern = pattern.clone();
        move || pattern.iter().copied().cycle().take(len).collect::<Vec<u8>>()
    };
    let chunks = len.div_ceil(CHUNK);
    let stream = futures_util::stream::iter((0..chunks).map(move |i| {
        let size = CHUNK.min(len - i * CHUNK);
        Ok::<Vec<u8>, std::io::Error>(pattern[..size].to_vec())
    }));
    (reqwest::Body::wrap_stream(stream), whole)
}

async fn answer_of(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `POST /attachments` with `form`, as `token` (or none).
async fn post_form(app: &TestApp, token: Option<&str>, form: multipart::Form) -> (StatusCode, Value) {
    let mut req = app.client.post(app.url("/attachments")).multipart(form);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    answer_of(req.send().await.expect("request sent")).await
}

/// Uploads `bytes` as `filename` with the part type `mime`: the 201 answer, its shape checked.
async fn upload_as(app: &TestApp, who: &TestUser, bytes: &[u8], filename: &str, mime: &str) -> Value {
    let (status, body) = post_form(app, Some(&who.access), file_form(bytes.to_vec(), filename, mime)).await;
    assert_eq!(status, StatusCode::CREATED, "upload of {filename}: {body}");
    assert_upload(&body, bytes.len());
    body
}

/// Uploads `bytes` as `filename` (part type application/octet-stream), filename kept as is.
async fn upload(app: &TestApp, who: &TestUser, bytes: &[u8], filename: &str) -> Value {
    let body = upload_as(app, who, bytes, filename, "application/octet-stream").await;
    assert_eq!(body["filename"], filename, "{body}");
    body
}

fn assert_upload(body: &Value, size: usize) {
    assert_eq!(keys(body), ATTACHMENT_KEYS, "{body}");
    let id = id_of(body);
    assert_eq!(body["url"], format!("/attachments/{id}"), "{body}");
    assert_eq!(body["size"], size, "{body}");
    assert!(body["content_type"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    assert!(body["filename"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
}

/// An answer to a GET of a file.
struct Got {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header: {:?}", self.headers))
            .to_str()
            .unwrap_or_else(|_| panic!("{name} is not ASCII"))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// `(status, JSON body)`, for refusals.
    fn answer(&self) -> (StatusCode, Value) {
        (self.status, self.json())
    }
}

/// `GET path` (an attachment's `url`, or its thumbnail) as `token`, with extra headers.
async fn fetch_with(app: &TestApp, token: Option<&str>, path: &str, headers: &[(&str, &str)]) -> Got {
    let mut req = app.client.get(app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request sent");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = resp.bytes().await.expect("body").to_vec();
    Got { status, headers, body }
}

async fn fetch(app: &TestApp, who: &TestUser, path: &str) -> Got {
    fetch_with(app, Some(&who.access), path, &[]).await
}

/// Downloads `upload` as `who`: must be the bytes.
async fn assert_downloads(app: &TestApp, who: &TestUser, upload: &Value, bytes: &[u8]) {
    let got = fetch(app, who, &url_of(upload)).await;
    assert_eq!(got.status, StatusCode::OK, "{} as {}: {:?}", upload["url"], who.username, got.json());
    assert_eq!(got.body.len(), bytes.len(), "{}", upload["url"]);
    assert!(got.body == bytes, "{}: byte-exact", upload["url"]);
}

/// The file, opened on its own, runs nothing: its Content-Security-Policy has a bare `sandbox`
/// (no `allow-scripts` or other exception) and `default-src 'none'`, and allows no script.
/// (The spec's exact policy is `sandbox; default-src 'none'`; image and inline-style sources
/// added so that a picture opened in a tab shows are tolerated.)
fn assert_sandboxed(got: &Got) {
    let csp = got.header("content-security-policy");
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    assert!(directives.contains(&"sandbox"), "a bare sandbox: {csp}");
    assert!(directives.contains(&"default-src 'none'"), "{csp}");
    assert!(!csp.contains("allow-") && !csp.contains("script-src") && !csp.contains("*"), "{csp}");
}

/// The Content-Disposition is `kind` (`inline` or `attachment`) with the name in RFC 5987 form,
/// `filename*=UTF-8''<percent-encoded>`, decoding to `name`. (The spec writes only that
/// parameter; an ASCII `filename="…"` fallback before it, as RFC 6266 recommends, is allowed:
/// it must be plain quoted ASCII, and the name itself when that is plain ASCII.)
fn assert_disposition(got: &Got, kind: &str, name: &str) {
    let header = got.header("content-disposition");
    let params: Vec<&str> = header.split(';').map(str::trim).collect();
    assert_eq!(params[0], kind, "{header}");
    let encoded = params
        .iter()
        .find_map(|p| p.strip_prefix("filename*=UTF-8''"))
        .unwrap_or_else(|| panic!("no filename*=UTF-8'' in {header}"));
    assert!(!encoded.contains([' ', '"', ';', '\'', '\\']), "only attr-chars and escapes: {header}");
    assert_eq!(percent_decode(encoded), name, "{header}");
    for p in &params[1..] {
        if let Some(fallback) = p.strip_prefix("filename=") {
            let inner =
                fallback.strip_prefix('"').and_then(|f| f.strip_suffix('"')).unwrap_or_else(|| panic!("{header}"));
            assert!(
                inner.chars().all(|c| c.is_ascii_graphic() || c == ' ') && !inner.contains(['"', '\\']),
                "plain ASCII: {header}"
            );
            if name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
                assert_eq!(inner, name, "{header}");
            }
        } else {
            assert!(p.starts_with("filename*="), "an unexpected parameter in {header}");
        }
    }
    assert_eq!(params.len(), if header.contains("filename=\"") { 3 } else { 2 }, "{header}");
}

fn not_found() -> (StatusCode, Value) {
    (StatusCode::NOT_FOUND, json!({"detail": "Attachment not found"}))
}

/// `who` gets the same 404 for the file and its thumbnail.
async fn assert_hidden(app: &TestApp, who: &TestUser, upload: &Value) {
    let url = url_of(upload);
    assert_eq!(fetch(app, who, &url).await.answer(), not_found(), "GET {url} as {}", who.username);
    let thumb = format!("{url}/thumbnail");
    assert_eq!(fetch(app, who, &thumb).await.answer(), not_found(), "GET {thumb} as {}", who.username);
}

fn url_of(upload: &Value) -> String {
    upload["url"].as_str().unwrap_or_else(|| panic!("a url: {upload}")).to_owned()
}

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("an id: {v}"))
}

fn room_of(m: &Value) -> i64 {
    m["room_id"].as_i64().unwrap_or_else(|| panic!("a room id: {m}"))
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap_or_else(|| panic!("an object: {v}")).keys().map(String::as_str).collect()
}

/// `POST /messages/send` with `attachment_ids`.
async fn send_dm(app: &TestApp, from: &TestUser, to: &TestUser, content: &str, ids: &[i64]) -> (StatusCode, Value) {
    app.post("/messages/send", &from.access, json!({"recipient_id": to.id, "content": content, "attachment_ids": ids}))
        .await
}

/// `POST /groups/send` with `attachment_ids`.
async fn send_group(app: &TestApp, from: &TestUser, gid: i64, content: &str, ids: &[i64]) -> (StatusCode, Value) {
    app.post("/groups/send", &from.access, json!({"group_id": gid, "content": content, "attachment_ids": ids})).await
}

/// A send that must succeed (201): the stored message.
fn created((status, body): (StatusCode, Value)) -> Value {
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"].clone()
}

/// A send refused for its `attachment_ids`.
fn assert_refused_ids((status, body): (StatusCode, Value), what: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
    let detail = &body["detail"][0];
    assert_eq!(detail["type"], "value_error", "{what}: {body}");
    assert_eq!(detail["loc"], json!(["body", "attachment_ids"]), "{what}: {body}");
    assert_eq!(detail["msg"], REFUSED_IDS, "{what}: {body}");
}

/// A room's whole history (up to 100 messages) as `who` sees it, oldest first.
async fn history(app: &TestApp, who: &TestUser, room: i64) -> Vec<Value> {
    let (status, body) = app.get(&format!("/rooms/{room}/messages?limit=100"), &who.access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("list").clone()
}

/// One message of a room's history, as `who` sees it.
async fn message_in(app: &TestApp, who: &TestUser, room: i64, id: i64) -> Value {
    history(app, who, room).await.into_iter().find(|m| id_of(m) == id).unwrap_or_else(|| panic!("message {id} listed"))
}

/// `DELETE /messages/{id}`: must succeed; the tombstone.
async fn remove(app: &TestApp, who: &TestUser, id: i64) -> Value {
    let (status, body) = app.request(Method::DELETE, &format!("/messages/{id}"), Some(&who.access), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// An HTTP/1.1 request written by hand (`head` without the blank line), and the answer read
/// back: `(status, JSON body)`. Bounded: a server waiting for a body it should refuse fails.
async fn raw_exchange(app: &TestApp, head: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    stream.write_all(format!("{head}\r\n\r\n").as_bytes()).await.expect("head sent");
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                let body = &buf[end + 4..];
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse::<usize>().expect("a length"));
                let chunked = head.lines().any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
                let complete = match length {
                    Some(n) => (body.len() >= n).then(|| body[..n].to_vec()),
                    None if chunked => body.ends_with(b"0\r\n\r\n").then(|| dechunk(body)),
                    None => None,
                };
                if let Some(body) = complete {
                    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
                    return (status, serde_json::from_slice(&body).unwrap_or(Value::Null));
                }
            }
            let n = stream.read(&mut chunk).await.expect("the answer is read");
            assert!(n > 0, "the connection closed before a whole answer: {}", String::from_utf8_lossy(&buf));
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(EVENTUALLY, read).await.expect("an answer without the body being sent")
}

/// A chunked body's data.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").expect("a chunk size line");
        let size_text = std::str::from_utf8(&body[..line_end]).expect("ascii");
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or_default().trim(), 16).expect("hex");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
        body = &body[line_end + 2 + size + 2..];
    }
}

/// A field of `/proc/<pid>/status`, in KiB.
fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

// ---------------------------------------------------------------------------------------------
// Uploading and downloading

async fn uploads_come_back_byte_exact_with_their_headers(app: TestApp) {
    let alice = app.user("up").await;

    // A binary blob.
    let blob = noise(300 * 1024, 1);
    assert!(infer::get(&blob).is_none() && std::str::from_utf8(&blob).is_err(), "the blob is of no known type");
    let b = upload(&app, &alice, &blob, "blob.bin").await;
    assert_eq!(b["content_type"], "application/octet-stream", "{b}");
    assert_eq!((&b["width"], &b["height"]), (&Value::Null, &Value::Null), "{b}");
    let got = fetch(&app, &alice, &url_of(&b)).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.json());
    assert!(got.body == blob, "byte-exact ({} bytes back)", got.body.len());
    assert_eq!(got.header("content-type"), "application/octet-stream");
    assert_eq!(got.header("content-length"), blob.len().to_string());
    assert_eq!(got.header("x-content-type-options"), "nosniff");
    assert_disposition(&got, "attachment", "blob.bin");
    assert_eq!(got.header("cache-control"), "private, max-age=31536000, immutable");
    assert_eq!(got.header("accept-ranges"), "bytes");
    assert_sandboxed(&got);

    // A real PNG.
    let cat = png(640, 480, 7);
    let p = upload_as(&app, &alice, &cat, "cat.png", "image/png").await;
    assert_eq!(
        p,
        json!({"id": id_of(&p), "filename": "cat.png", "content_type": "image/png", "size": cat.len(),
            "url": format!("/attachments/{}", id_of(&p)), "width": 640, "height": 480})
    );
    assert_ne!(id_of(&p), id_of(&b));
    let got = fetch(&app, &alice, &url_of(&p)).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.json());
    assert!(got.body == cat, "byte-exact ({} bytes back)", got.body.len());
    assert_eq!(got.header("content-type"), "image/png");
    assert_eq!(got.header("content-length"), cat.len().to_string());
    assert_eq!(got.header("x-content-type-options"), "nosniff");
    assert_disposition(&got, "inline", "cat.png");
    assert_eq!(got.header("cache-control"), "private, max-age=31536000, immutable");
    assert_sandboxed(&got);

    // Ranges: a slice of the bytes, with Content-Range.
    let size = blob.len();
    let tail = format!("bytes={}-", size - 100);
    for (range, from, to) in
        [("bytes=0-9", 0, 9), ("bytes=1000-1999", 1000, 1999), (tail.as_str(), size - 100, size - 1)]
    {
        let got = fetch_with(&app, Some(&alice.access), &url_of(&b), &[("Range", range)]).await;
        assert_eq!(got.status, StatusCode::PARTIAL_CONTENT, "{range}: {:?}", got.json());
        assert_eq!(got.header("content-range"), format!("bytes {from}-{to}/{size}"), "{range}");
        assert_eq!(got.header("content-length"), (to - from + 1).to_string(), "{range}");
        assert!(got.body == blob[from..=to], "{range}: the slice ({} bytes back)", got.body.len());
    }
    let got = fetch_with(&app, Some(&alice.access), &url_of(&p), &[("Range", "bytes=0-7")]).await;
    assert_eq!(got.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(got.body, b"\x89PNG\r\n\x1a\n", "the PNG signature");

    // Both are still there, whole, after the ranges.
    assert_downloads(&app, &alice, &b, &blob).await;
    assert_downloads(&app, &alice, &p, &cat).await;
}

async fn the_content_type_comes_from_the_bytes(app: TestApp) {
    let alice = app.user("ct").await;

    // PNG bytes called a text file, with a text part type: a PNG all the same.
    let bytes = png(64, 32, 1);
    let p = upload_as(&app, &alice, &bytes, "notes.txt", "text/plain").await;
    assert_eq!(
        (p["filename"].as_str(), p["content_type"].as_str(), p["width"].as_i64(), p["height"].as_i64()),
        (Some("notes.txt"), Some("image/png"), Some(64), Some(32)),
        "{p}"
    );
    let got = fetch(&app, &alice, &url_of(&p)).await;
    assert_eq!(got.header("content-type"), "image/png");
    assert_disposition(&got, "inline", "notes.txt");

    // A JPEG called a PNG.
    let bytes = encode(&picture(80, 60, 2), image::ImageFormat::Jpeg);
    let j = upload_as(&app, &alice, &bytes, "photo.png", "image/png").await;
    assert_eq!(
        (j["content_type"].as_str(), j["width"].as_i64(), j["height"].as_i64()),
        (Some("image/jpeg"), Some(80), Some(60)),
        "{j}"
    );
    assert_eq!(fetch(&app, &alice, &url_of(&j)).await.header("content-type"), "image/jpeg");

    // Plain UTF-8 text of no known type, sent as binary: text.
    let text = "Grüße aus Köln — 1, 2, 3\nsecond line\n".as_bytes();
    let t = upload_as(&app, &alice, text, "data.bin", "application/octet-stream").await;
    assert_eq!(t["content_type"], "text/plain; charset=utf-8", "{t}");
    assert_eq!((&t["width"], &t["height"]), (&Value::Null, &Value::Null), "{t}");
    let got = fetch(&app, &alice, &url_of(&t)).await;
    assert_eq!(got.header("content-type"), "text/plain; charset=utf-8");
    assert_disposition(&got, "attachment", "data.bin"); // text is not shown inline
    assert!(got.body == text);

    // Random bytes called a PNG: nothing known.
    let random = noise(4096, 3);
    assert!(infer::get(&random).is_none() && std::str::from_utf8(&random).is_err());
    let r = upload_as(&app, &alice, &random, "photo.png", "image/png").await;
    assert_eq!(r["content_type"], "application/octet-stream", "{r}");
    assert_eq!((&r["width"], &r["height"]), (&Value::Null, &Value::Null), "{r}");
    let got = fetch(&app, &alice, &url_of(&r)).await;
    assert_eq!(got.header("content-type"), "application/octet-stream");
    assert_disposition(&got, "attachment", "photo.png");

    // Text with a NUL in it is not text.
    let nul = b"abc\0def".to_vec();
    let n = upload_as(&app, &alice, &nul, "nul.txt", "text/plain").await;
    assert_eq!(n["content_type"], "application/octet-stream", "{n}");

    // Markup a browser would run is never shown inline, and runs in a sandbox if opened.
    let html = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>".to_vec();
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
    for (bytes, name, mime) in [(html, "page.html", "text/html"), (svg, "image.svg", "image/svg+xml")] {
        let u = upload_as(&app, &alice, &bytes, name, mime).await;
        let got = fetch(&app, &alice, &url_of(&u)).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_disposition(&got, "attachment", name);
        assert_sandboxed(&got);
        assert_eq!(got.header("x-content-type-options"), "nosniff", "{u}");
    }
}

async fn filenames_are_sanitised_and_uploads_validated(app: TestApp) {
    let alice = app.user("fn").await;
    let bytes = b"some text".to_vec();

    // Sanitised: the last path component, control characters dropped, "file" if nothing is left.
    for (sent, kept) in [
        ("../../etc/passwd", "passwd"),
        ("/var/tmp/report.txt", "report.txt"),
        ("tab\there.txt", "tabhere.txt"),
        ("", "file"),
    ] {
        let u = upload_as(&app, &alice, &bytes, sent, "text/plain").await;
        assert_eq!(u["filename"], kept, "{sent:?}: {u}");
    }
    // Non-ASCII names are kept, and sent back in RFC 5987 form.
    let name = "résumé final 😀.txt";
    let u = upload_as(&app, &alice, &bytes, name, "text/plain").await;
    assert_eq!(u["filename"], name, "{u}");
    let got = fetch(&app, &alice, &url_of(&u)).await;
    assert_disposition(&got, "attachment", name);
    // At most 255 bytes, cut between characters.
    let long = format!("{}.txt", "é".repeat(200));
    let u = upload_as(&app, &alice, &bytes, &long, "text/plain").await;
    let kept = u["filename"].as_str().expect("filename");
    assert!(!kept.is_empty() && kept.len() <= 255, "{} bytes: {kept}", kept.len());
    assert!(kept.chars().all(|c| c == 'é' || ".txt".contains(c)), "{kept}");

    // An empty file is a file.
    let e = upload_as(&app, &alice, &[], "empty.txt", "text/plain").await;
    assert_eq!(e["size"], 0, "{e}");
    let got = fetch(&app, &alice, &url_of(&e)).await;
    assert_eq!((got.status, got.body.len()), (StatusCode::OK, 0));
    assert_eq!(got.header("content-length"), "0");

    // No `file` part, or not multipart at all: 400.
    let other = multipart::Form::new().part("photo", multipart::Part::bytes(bytes.clone()).file_name("x.txt"));
    assert_eq!(
        post_form(&app, Some(&alice.access), other).await,
        (StatusCode::BAD_REQUEST, json!({"detail": NO_FILE})),
        "a part of another name"
    );
    let text_only = multipart::Form::new().text("title", "no file here");
    assert_eq!(
        post_form(&app, Some(&alice.access), text_only).await,
        (StatusCode::BAD_REQUEST, json!({"detail": NO_FILE})),
        "a text field only"
    );
    assert_eq!(
        app.post("/attachments", &alice.access, json!({"file": "aGVsbG8="})).await,
        (StatusCode::BAD_REQUEST, json!({"detail": NO_FILE})),
        "JSON"
    );

    // Without credentials, or with bad ones: refused, nothing stored.
    let before = stored_files(&app);
    // (Without a token, the answer every route of the API gives; the spec's "401 without a
    // token" is this API's 401 for a bad one.)
    assert_eq!(
        post_form(&app, None, file_form(noise(100, 9), "anon.bin", "application/octet-stream")).await,
        (StatusCode::FORBIDDEN, json!({"detail": "Not authenticated"})),
        "no token"
    );
    let (status, body) =
        post_form(&app, Some("garbage"), file_form(noise(100, 9), "anon.bin", "application/octet-stream")).await;
    assert_eq!(
        (status, body),
        (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid authentication credentials"})),
        "a bad token"
    );
    assert_eq!(stored_files(&app), before, "nothing stored for refused uploads");
    assert!(!stored_path(&app, &noise(100, 9)).exists());
}

async fn the_same_bytes_are_stored_once(app: TestApp) {
    let (alice, bob) = (app.user("dd").await, app.user("dd").await);
    let bytes = noise(50_000, 11);
    let first = upload(&app, &alice, &bytes, "first.bin").await;
    let second = upload(&app, &alice, &bytes, "second.bin").await;
    let bobs = upload(&app, &bob, &bytes, "bobs.bin").await;
    let ids = [id_of(&first), id_of(&second), id_of(&bobs)];
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "three uploads, three ids: {ids:?}");

    // One file, where the spec says, holding the bytes.
    let path = stored_path(&app, &bytes);
    assert_eq!(stored_files(&app), std::slice::from_ref(&path), "one file for the same bytes");
    assert!(std::fs::read(&path).expect("the stored file") == bytes);

    // Each upload keeps its own name.
    for (u, who, name) in [(&first, &alice, "first.bin"), (&second, &alice, "second.bin"), (&bobs, &bob, "bobs.bin")] {
        assert_downloads(&app, who, u, &bytes).await;
        let got = fetch(&app, who, &url_of(u)).await;
        assert_disposition(&got, "attachment", name);
    }
    // Other bytes, another file.
    upload(&app, &alice, &noise(50_000, 12), "other.bin").await;
    assert_eq!(stored_files(&app).len(), 2);
    assert!(files_under(&app.storage.data_dir().join("tmp")).is_empty(), "no temp file left");
}

// ---------------------------------------------------------------------------------------------
// Limits

/// `MAX_UPLOAD_BYTES=1048576`: a file of exactly the limit is taken, one byte more is not; a
/// declared Content-Length above the limit is refused before any of the body is sent.
async fn uploads_above_the_limit_are_refused(app: TestApp) {
    const LIMIT: usize = 1_048_576;
    let storage = app.stop().await;
    let app = TestApp::start(storage, &[("MAX_UPLOAD_BYTES", "1048576")]).await;
    let alice = app.user("big").await;
    let too_large = json!({"detail": format!("File too large: the limit is {LIMIT} bytes")});

    // Declared too large: answered at once, though not a byte of the body has come.
    for declared in ["5000000", "10000000000"] {
        let head = format!(
            "POST /attachments HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: multipart/form-data; boundary=banterboundary\r\nContent-Length: {declared}",
            app.addr, alice.access
        );
        let (status, body) = raw_exchange(&app, &head).await;
        assert_eq!((status, &body), (413, &too_large), "Content-Length: {declared}");
    }

    // Streamed (no Content-Length): exactly the limit is fine…
    let (body, whole) = streamed(LIMIT, 21);
    let part = multipart::Part::stream(body).file_name("exact.bin").mime_str("application/octet-stream").expect("mime");
    let (status, exact) = post_form(&app, Some(&alice.access), multipart::Form::new().part("file", part)).await;
    assert_eq!(status, StatusCode::CREATED, "{exact}");
    assert_eq!(exact["size"], LIMIT, "{exact}");
    assert_downloads(&app, &alice, &exact, &whole()).await;

    // …and so with a Content-Length (which counts the multipart framing too).
    let exact_declared = noise(LIMIT, 24);
    let u = upload(&app, &alice, &exact_declared, "exact2.bin").await;
    assert_eq!(u["size"], LIMIT, "{u}");

    // One byte more is not, and leaves nothing behind.
    let (body, whole) = streamed(LIMIT + 1, 22);
    let part = multipart::Part::stream(body).file_name("over.bin").mime_str("application/octet-stream").expect("mime");
    let (status, over) = post_form(&app, Some(&alice.access), multipart::Form::new().part("file", part)).await;
    assert_eq!((status, &over), (StatusCode::PAYLOAD_TOO_LARGE, &too_large));
    assert!(!stored_path(&app, &whole()).exists(), "the refused file is not stored");
    assert_eq!(stored_files(&app).len(), 2, "only the accepted files");
    let tmp = app.storage.data_dir().join("tmp");
    eventually("no temp file left after a refused upload", || files_under(&tmp).is_empty()).await;

    // The same with a Content-Length and the whole body sent: refused too (or, if the server
    // closed the connection on the body it would not read, nothing stored).
    let over2 = noise(LIMIT + 4096, 23);
    let sent = app
        .client
        .post(app.url("/attachments"))
        .bearer_auth(&alice.access)
        .multipart(file_form(over2.clone(), "over2.bin", "application/octet-stream"))
        .send()
        .await;
    match sent {
        Ok(resp) => assert_eq!(answer_of(resp).await, (StatusCode::PAYLOAD_TOO_LARGE, too_large.clone())),
        Err(e) => eprintln!("the over-limit upload ended without an answer (connection closed): {e}"),
    }
    assert!(!stored_path(&app, &over2).exists(), "the refused file is not stored");
    assert_eq!(stored_files(&app).len(), 2, "only the accepted files");
    // The server still takes small files.
    upload(&app, &alice, b"small", "small.txt").await;
}

/// A 64 MiB upload streamed (chunked, so nothing declares its size) to a server process whose
/// limit is 4 MiB: refused with 413, the process's peak memory barely moves, nothing is left
/// on disk, and the server goes on working.
async fn a_huge_streamed_upload_is_refused_in_flat_memory(app: TestApp) {
    const HUGE: usize = 64 << 20;
    let storage = app.stop().await;
    let data_dir = storage.data_dir();
    // (`Node` passes the storage's DATA_DIR.)
    let node = Node::start_with(&storage, &[("MAX_UPLOAD_BYTES", "4194304")]).await;
    let pid = node.pid();
    let client = reqwest::Client::new();
    let name = crate::helpers::unique("huge");
    let (status, body) = answer_of(
        client
            .post(format!("{}/auth/register", node.base))
            .json(&json!({"username": name, "email": format!("{name}@example.com"),
                "password": crate::helpers::PASSWORD, "full_name": "Huge Tester"}))
            .send()
            .await
            .expect("register"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["tokens"]["access_token"].as_str().expect("token").to_owned();
    let upload_to_node = |form: multipart::Form| {
        client.post(format!("{}/attachments", node.base)).bearer_auth(&token).multipart(form).send()
    };

    // Warm up the upload path (so its one-time allocations are not counted).
    let warm = noise(256 * 1024, 31);
    let (status, body) =
        answer_of(upload_to_node(file_form(warm.clone(), "warm.bin", "application/octet-stream")).await.expect("sent"))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Peak memory from here: reset the high-water mark (as the process's owner may).
    let reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let baseline = proc_kib(pid, "VmRSS");

    let (stream, _) = streamed(HUGE, 32);
    let part =
        multipart::Part::stream(stream).file_name("huge.bin").mime_str("application/octet-stream").expect("mime");
    let sent = tokio::time::timeout(Duration::from_secs(60), upload_to_node(multipart::Form::new().part("file", part)))
        .await
        .expect("an answer (or a closed connection) within a minute");
    match sent {
        Ok(resp) => {
            let (status, body) = answer_of(resp).await;
            assert_eq!(
                (status, body),
                (StatusCode::PAYLOAD_TOO_LARGE, json!({"detail": "File too large: the limit is 4194304 bytes"}))
            );
        }
        // The server may close the connection on a body it will not read.
        Err(e) => eprintln!("the huge upload ended without an answer (the server closed the connection): {e}"),
    }
    let peak = proc_kib(pid, "VmHWM");
    let growth_mib = peak.saturating_sub(baseline) as f64 / 1024.0;
    assert!(
        growth_mib < 24.0,
        "peak memory grew by {growth_mib:.1} MiB for a {} MiB body (RSS before {baseline} KiB, peak {peak} KiB, \
         high-water mark reset: {reset})",
        HUGE >> 20
    );

    // Nothing of it left on disk.
    let tmp = data_dir.join("tmp");
    eventually("no temp file left after the huge upload", || files_under(&tmp).is_empty()).await;
    let hex = sha256_hex(&warm);
    assert_eq!(
        files_under(&data_dir.join("attachments")),
        [data_dir.join("attachments").join(&hex[..2]).join(&hex)],
        "only the warm-up file is stored"
    );

    // And the server goes on.
    let small = noise(10_000, 33);
    let (status, body) = answer_of(
        upload_to_node(file_form(small.clone(), "after.bin", "application/octet-stream")).await.expect("sent"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let back = client
        .get(format!("{}{}", node.base, body["url"].as_str().expect("url")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("download");
    assert_eq!(back.status(), StatusCode::OK);
    assert!(back.bytes().await.expect("bytes") == small);
}

// ---------------------------------------------------------------------------------------------
// Authorization

async fn only_the_uploader_and_room_members_may_download(app: TestApp) {
    let (alice, bob, carol, dave) =
        (app.user("az").await, app.user("az").await, app.user("az").await, app.user("az").await);
    let picture = png(400, 300, 41);

    // Unattached: the uploader only.
    let secret = upload(&app, &alice, &picture, "secret.png").await;
    assert_downloads(&app, &alice, &secret, &picture).await;
    assert_eq!(fetch(&app, &alice, &format!("{}/thumbnail", url_of(&secret))).await.status, StatusCode::OK);
    for who in [&bob, &carol] {
        assert_hidden(&app, who, &secret).await;
    }
    // An unknown id: the same 404.
    let unknown = json!({"url": "/attachments/999999999"});
    assert_hidden(&app, &alice, &unknown).await;
    // Without credentials, or with bad ones.
    let got = fetch_with(&app, None, &url_of(&secret), &[]).await;
    assert_eq!(got.answer(), (StatusCode::FORBIDDEN, json!({"detail": "Not authenticated"})), "no token");
    let got = fetch_with(&app, Some("garbage"), &url_of(&secret), &[]).await;
    assert_eq!(got.answer(), (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid authentication credentials"})));

    // Sent in the DM with Bob: Bob too, Carol still not.
    let m = created(send_dm(&app, &alice, &bob, "for your eyes", &[id_of(&secret)]).await);
    for who in [&alice, &bob] {
        assert_downloads(&app, who, &secret, &picture).await;
        let thumb = fetch(&app, who, &format!("{}/thumbnail", url_of(&secret))).await;
        assert_eq!(thumb.status, StatusCode::OK, "thumbnail as {}", who.username);
    }
    assert_hidden(&app, &carol, &secret).await;
    assert_hidden(&app, &dave, &secret).await;

    // Sent in a group of Alice, Bob and Dave: its members, not Carol.
    let gid = group(&app, &alice, &[&bob, &dave]).await;
    let plan = noise(20_000, 42);
    let shared = upload(&app, &alice, &plan, "plan.bin").await;
    assert_hidden(&app, &dave, &shared).await;
    created(send_group(&app, &alice, gid, "the plan", &[id_of(&shared)]).await);
    for who in [&alice, &bob, &dave] {
        assert_downloads(&app, who, &shared, &plan).await;
    }
    assert_hidden(&app, &carol, &shared).await;
    // The DM's file stays the DM's.
    assert_hidden(&app, &dave, &secret).await;

    // Dave, removed from the group, loses the group's files.
    let (status, body) =
        app.delete(&format!("/groups/{gid}/members"), &alice.access, json!({"user_id": dave.id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_hidden(&app, &dave, &shared).await;
    assert_downloads(&app, &bob, &shared, &plan).await;

    // A room of her own with Alice opens neither: Carol in a DM with Alice.
    dm(&app, &alice, &carol, "hi carol").await;
    assert_hidden(&app, &carol, &secret).await;
    assert_hidden(&app, &carol, &shared).await;
    assert_eq!(message_in(&app, &bob, room_of(&m), id_of(&m)).await["attachments"], json!([secret]));
}

// ---------------------------------------------------------------------------------------------
// Sending

async fn attachment_ids_must_name_the_senders_unsent_uploads(app: TestApp) {
    let (alice, bob) = (app.user("ai").await, app.user("ai").await);
    let first = dm(&app, &alice, &bob, "hello").await;
    let room = room_of(&first);
    let gid = group(&app, &alice, &[&bob]).await;
    let g0 = say(&app, &alice, gid, "group hello").await;
    let alices = upload(&app, &alice, b"alice's own file", "a.txt").await;
    let bobs = upload(&app, &bob, b"bob's own file", "b.txt").await;
    let (aid, bid) = (id_of(&alices), id_of(&bobs));

    // Bob names Alice's upload (alone or beside his own), an unknown id, or nonsense: refused
    // over REST…
    let forged: [&[i64]; 5] = [&[aid], &[bid, aid], &[999_999_999], &[0], &[-1]];
    for ids in forged {
        assert_refused_ids(send_dm(&app, &bob, &alice, "look", ids).await, &format!("DM {ids:?}"));
        assert_refused_ids(send_group(&app, &bob, gid, "look", ids).await, &format!("group {ids:?}"));
        assert_refused_ids(send_dm(&app, &bob, &alice, "", ids).await, &format!("DM {ids:?}, no text"));
    }
    // …and over WebSocket: an error frame for that send.
    let mut bw = Ws::connect(&app, &bob.access).await;
    for (i, ids) in forged.iter().enumerate() {
        for r in [room, gid] {
            let client_id = format!("forged-{r}-{i}");
            bw.send(json!({"type": "message", "room_id": r, "content": "look", "client_id": client_id,
                "attachment_ids": ids}))
                .await;
            let err = bw.expect("error").await;
            assert_eq!(
                (err["code"].as_str(), err["client_id"].as_str()),
                (Some("validation_error"), Some(client_id.as_str())),
                "{ids:?}: {err}"
            );
        }
    }
    bw.send(json!({"type": "ping"})).await;
    bw.expect("pong").await;

    // Nothing was stored, and nothing opened Alice's file to Bob.
    assert_eq!(history(&app, &alice, room).await.iter().map(id_of).collect::<Vec<_>>(), [id_of(&first)]);
    assert_eq!(history(&app, &alice, gid).await.iter().map(id_of).collect::<Vec<_>>(), [id_of(&g0)]);
    assert_hidden(&app, &bob, &alices).await;

    // Bob's own upload was not used up by the refused sends: he sends it now, text-less.
    let m = created(send_dm(&app, &bob, &alice, "", &[bid]).await);
    assert_eq!(m["content"], "", "{m}");
    assert_eq!(m["attachments"], json!([bobs]), "{m}");
    // Once sent, it cannot be sent again, anywhere, however.
    assert_refused_ids(send_dm(&app, &bob, &alice, "again", &[bid]).await, "resent in the DM");
    assert_refused_ids(send_group(&app, &bob, gid, "again", &[bid]).await, "resent in the group");
    bw.send(
        json!({"type": "message", "room_id": gid, "content": "again", "client_id": "resend", "attachment_ids": [bid]}),
    )
    .await;
    let err = bw.expect("error").await;
    assert_eq!((err["code"].as_str(), err["client_id"].as_str()), (Some("validation_error"), Some("resend")), "{err}");
    // Not even by Alice, who can now download it.
    assert_downloads(&app, &alice, &bobs, b"bob's own file").await;
    assert_refused_ids(send_dm(&app, &alice, &bob, "fwd", &[bid]).await, "someone else's, though visible");

    // At most ten, in the order given.
    let mut uploads = Vec::new();
    for i in 0..11 {
        uploads.push(upload(&app, &alice, format!("file number {i}").as_bytes(), &format!("f{i}.txt")).await);
    }
    let eleven: Vec<i64> = uploads.iter().map(id_of).collect();
    assert_refused_ids(send_group(&app, &alice, gid, "eleven", &eleven).await, "eleven ids");
    let ten: Vec<i64> = eleven[..10].iter().rev().copied().collect();
    let m = created(send_group(&app, &alice, gid, "ten", &ten).await);
    let expected: Vec<Value> = uploads[..10].iter().rev().cloned().collect();
    assert_eq!(m["attachments"], json!(expected), "in the order of attachment_ids");
    // The eleventh is still free.
    let m = created(send_group(&app, &alice, gid, "", &[eleven[10]]).await);
    assert_eq!(m["attachments"], json!([uploads[10]]));
    // Alice's first upload, never sent by Bob's attempts, is still hers to send.
    let m = created(send_dm(&app, &alice, &bob, "mine", &[aid]).await);
    assert_eq!(m["attachments"], json!([alices]));

    // Without attachments, empty content is still refused.
    for body in [
        json!({"recipient_id": bob.id, "content": ""}),
        json!({"recipient_id": bob.id, "content": "", "attachment_ids": []}),
    ] {
        let (status, answer) = app.post("/messages/send", &alice.access, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], json!(["body", "content"]), "{body}: {answer}");
    }
    let (status, answer) = send_group(&app, &alice, gid, "", &[]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    bw.send(json!({"type": "message", "room_id": room, "content": "", "client_id": "empty", "attachment_ids": []}))
        .await;
    let err = bw.expect("error").await;
    assert_eq!(err["client_id"], "empty", "{err}");

    // Exactly what was accepted is stored.
    let contents =
        |list: Vec<Value>| list.iter().map(|m| m["content"].as_str().expect("content").to_owned()).collect::<Vec<_>>();
    assert_eq!(contents(history(&app, &bob, room).await), ["hello", "", "mine"]);
    assert_eq!(contents(history(&app, &bob, gid).await), ["group hello", "ten", ""]);
}

async fn messages_carry_their_attachments_everywhere(app: TestApp) {
    let (alice, bob) = (app.user("ev").await, app.user("ev").await);
    let first = dm(&app, &alice, &bob, "hi").await;
    let room = room_of(&first);
    assert_eq!(first["attachments"], json!([]), "none: an empty list: {first}");
    let mut bw = Ws::subscribed(&app, &bob.access).await;
    let mut aw = Ws::subscribed(&app, &alice.access).await;

    // Over REST, text-less: the answer, Bob's new_message, both histories.
    let cat = png(640, 480, 51);
    let blob = noise(5000, 52);
    let p = upload(&app, &alice, &cat, "cat.png").await;
    let b = upload(&app, &alice, &blob, "blob.bin").await;
    let both = json!([p, b]);
    for entry in [&p, &b] {
        assert_eq!(keys(entry), ATTACHMENT_KEYS);
    }
    let m = created(send_dm(&app, &alice, &bob, "", &[id_of(&p), id_of(&b)]).await);
    assert_eq!((m["content"].as_str(), &m["attachments"]), (Some(""), &both), "{m}");
    let live = bw.expect("new_message").await;
    assert_eq!((id_of(&live["message"]), &live["message"]["attachments"]), (id_of(&m), &both), "{live}");
    assert_eq!(aw.expect("new_message").await["message"]["attachments"], both);
    for who in [&alice, &bob] {
        assert_eq!(message_in(&app, who, room, id_of(&m)).await["attachments"], both, "history for {}", who.username);
    }
    // The seed's DM history too.
    let (status, list) = app.get(&format!("/messages/chat/{}", alice.id), &bob.access).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed = list.as_array().expect("list").iter().find(|x| id_of(x) == id_of(&m)).cloned().expect("listed");
    assert_eq!(listed["attachments"], both);
    assert_eq!(list[0]["attachments"], json!([]), "{list}");

    // Over WebSocket: the ack, and every member's new_message.
    let w = upload(&app, &alice, b"sent over the socket", "ws.txt").await;
    aw.send(json!({"type": "message", "room_id": room, "content": "over ws", "client_id": "ev-1",
        "attachment_ids": [id_of(&w)]}))
        .await;
    let [ack, own] = <[Value; 2]>::try_from(frames_of(&mut aw, &["ack", "new_message"]).await).expect("two");
    assert_eq!(ack["client_id"], "ev-1");
    assert_eq!(ack["message"]["attachments"], json!([w]), "{ack}");
    assert_eq!(own["message"]["attachments"], json!([w]), "{own}");
    let theirs = bw.expect("new_message").await;
    assert_eq!(theirs["message"]["attachments"], json!([w]), "{theirs}");
    assert_downloads(&app, &bob, &w, b"sent over the socket").await;
    // Text-less over WebSocket too.
    let w2 = upload(&app, &alice, b"and another", "ws2.txt").await;
    aw.send(
        json!({"type": "message", "room_id": room, "content": "", "client_id": "ev-2", "attachment_ids": [id_of(&w2)]}),
    )
    .await;
    let [ack2, _] = <[Value; 2]>::try_from(frames_of(&mut aw, &["ack", "new_message"]).await).expect("two");
    assert_eq!((ack2["message"]["content"].as_str(), &ack2["message"]["attachments"]), (Some(""), &json!([w2])));
    assert_eq!(bw.expect("new_message").await["message"]["attachments"], json!([w2]));

    // In a group over REST.
    let gid = group(&app, &alice, &[&bob]).await;
    let g = upload(&app, &bob, b"group file", "group.txt").await;
    let gm = created(send_group(&app, &bob, gid, "for the group", &[id_of(&g)]).await);
    assert_eq!(gm["attachments"], json!([g]));
    let frame = aw.expect_skipping("new_message").await;
    assert_eq!(frame["message"]["attachments"], json!([g]), "{frame}");
    bw.expect_skipping("new_message").await;

    // Edited: the attachments stay, in the answer and in message_updated.
    let (status, edited) = app
        .request(
            Method::PATCH,
            &format!("/messages/{}", id_of(&m)),
            Some(&alice.access),
            Some(json!({"content": "a cat"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!((edited["content"].as_str(), &edited["attachments"]), (Some("a cat"), &both), "{edited}");
    let upd = bw.expect_skipping("message_updated").await;
    assert_eq!(upd["message"]["attachments"], both, "{upd}");

    // Sync (REST and WebSocket) and search carry them.
    let (status, s) = app.post("/sync", &bob.access, json!({"rooms": {}})).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    let synced: Vec<&Value> = s["messages"].as_array().expect("messages").iter().collect();
    let of = |id: i64| synced.iter().find(|x| id_of(x) == id).map(|x| x["attachments"].clone());
    assert_eq!(of(id_of(&m)), Some(both.clone()));
    assert_eq!(of(id_of(&ack["message"])), Some(json!([w])));
    assert_eq!(of(id_of(&gm)), Some(json!([g])));
    assert_eq!(of(id_of(&first)), Some(json!([])));
    bw.send(json!({"type": "sync", "rooms": {}})).await;
    let frames = bw.until("sync_complete").await;
    let replayed = frames.iter().find(|f| f["message"]["id"] == m["id"]).expect("replayed");
    assert_eq!(replayed["message"]["attachments"], both, "{replayed}");
    let url = reqwest::Url::parse_with_params(&app.url("/search/messages"), &[("q", "cat")]).expect("url");
    let (status, page) = answer_of(app.client.get(url).bearer_auth(&bob.access).send().await.expect("sent")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["results"][0]["message"]["id"], m["id"], "{page}");
    assert_eq!(page["results"][0]["message"]["attachments"], both, "{page}");
}

// ---------------------------------------------------------------------------------------------
// Thumbnails

async fn thumbnails_are_small_images_of_images(app: TestApp) {
    let alice = app.user("th").await;
    let thumb_of = |u: &Value| format!("{}/thumbnail", url_of(u));

    // Opaque pictures: at most 320×320, aspect kept, never upscaled.
    for (w, h, tw, th, format) in [
        (1000, 500, 320, 160, image::ImageFormat::Png),
        (500, 1000, 160, 320, image::ImageFormat::Png),
        (800, 600, 320, 240, image::ImageFormat::Jpeg),
        (100, 50, 100, 50, image::ImageFormat::Png),
    ] {
        let bytes = encode(&picture(w, h, (w % 200) as u8), format);
        let u = upload(&app, &alice, &bytes, "pic").await;
        assert_eq!((u["width"].as_u64(), u["height"].as_u64()), (Some(w.into()), Some(h.into())), "{u}");
        let got = fetch(&app, &alice, &thumb_of(&u)).await;
        assert_eq!(got.status, StatusCode::OK, "{w}×{h}: {:?}", got.json());
        assert_eq!(got.header("content-type"), "image/jpeg", "{w}×{h}: an opaque picture's thumbnail is a JPEG");
        let format = image::guess_format(&got.body).expect("a known image format");
        assert_eq!(format, image::ImageFormat::Jpeg, "{w}×{h}: the Content-Type says what the bytes are");
        let thumb = image::load_from_memory(&got.body).expect("the thumbnail decodes");
        assert_eq!((thumb.width(), thumb.height()), (tw, th), "{w}×{h}");
        assert_eq!(got.header("x-content-type-options"), "nosniff");
        // Asked again: the same.
        let again = fetch(&app, &alice, &thumb_of(&u)).await;
        assert!(again.status == StatusCode::OK && again.body == got.body, "{w}×{h}: the same thumbnail twice");
    }

    // Transparent: a PNG that keeps its transparency.
    let clear = image::DynamicImage::ImageRgba8(image::RgbaImage::from_fn(400, 200, |x, _| {
        image::Rgba([200, 20, 20, if x < 200 { 0 } else { 255 }])
    }));
    let u = upload(&app, &alice, &encode(&clear, image::ImageFormat::Png), "clear.png").await;
    let got = fetch(&app, &alice, &thumb_of(&u)).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.json());
    assert_eq!(got.header("content-type"), "image/png", "transparency needs a PNG");
    let thumb = image::load_from_memory_with_format(&got.body, image::ImageFormat::Png).expect("decodes").to_rgba8();
    assert_eq!(thumb.dimensions(), (320, 160));
    assert!(thumb.get_pixel(10, 80)[3] < 16, "the transparent half stays transparent");
    assert!(thumb.get_pixel(310, 80)[3] > 240, "the opaque half stays opaque");

    // Not an image: no thumbnail.
    let no_thumbnail = (StatusCode::NOT_FOUND, json!({"detail": "This attachment has no thumbnail"}));
    for (bytes, name) in [(noise(3000, 61), "blob.bin"), (b"just words".to_vec(), "words.txt")] {
        let u = upload(&app, &alice, &bytes, name).await;
        assert_eq!(fetch(&app, &alice, &thumb_of(&u)).await.answer(), no_thumbnail, "{name}");
    }
    // An unknown id: not found.
    assert_eq!(fetch(&app, &alice, "/attachments/999999999/thumbnail").await.answer(), not_found());
}

// ---------------------------------------------------------------------------------------------
// Cleanup

async fn deleting_a_message_removes_its_files_once_unreferenced(app: TestApp) {
    let (alice, bob, carol) = (app.user("dl").await, app.user("dl").await, app.user("dl").await);
    let gid = group(&app, &alice, &[&bob]).await;

    // P: a picture sent once (its thumbnail made too).
    let p_bytes = png(600, 400, 71);
    let p = upload(&app, &alice, &p_bytes, "p.png").await;
    let mp = created(send_dm(&app, &alice, &bob, "a picture", &[id_of(&p)]).await);
    let room = room_of(&mp);
    assert_eq!(fetch(&app, &bob, &format!("{}/thumbnail", url_of(&p))).await.status, StatusCode::OK);
    assert!(stored_path(&app, &p_bytes).exists());
    assert!(!thumbnail_files(&app, &p_bytes).is_empty(), "the thumbnail is kept on disk");

    // S: the same bytes sent twice, in the DM and in the group.
    let s_bytes = noise(30_000, 72);
    let s1 = upload(&app, &alice, &s_bytes, "s1.bin").await;
    let s2 = upload(&app, &alice, &s_bytes, "s2.bin").await;
    let m1 = created(send_dm(&app, &alice, &bob, "s once", &[id_of(&s1)]).await);
    created(send_group(&app, &alice, gid, "s twice", &[id_of(&s2)]).await);

    // T: sent by Alice, and uploaded (never sent) by Carol.
    let t_bytes = noise(30_000, 73);
    let t = upload(&app, &alice, &t_bytes, "t.bin").await;
    let carols_t = upload(&app, &carol, &t_bytes, "carols.bin").await;
    let mt = created(send_dm(&app, &alice, &bob, "t", &[id_of(&t)]).await);
    assert_eq!(stored_files(&app).len(), 3);

    // Deleting: a tombstone without attachments; the file is gone for the room at once.
    let mut bw = Ws::subscribed(&app, &bob.access).await;
    for (m, u) in [(&m1, &s1), (&mt, &t)] {
        let tomb = remove(&app, &alice, id_of(m)).await;
        assert_eq!((tomb["content"].as_str(), &tomb["attachments"]), (Some(""), &json!([])), "{tomb}");
        let upd = bw.expect_skipping("message_updated").await;
        assert_eq!((id_of(&upd["message"]), &upd["message"]["attachments"]), (id_of(m), &json!([])), "{upd}");
        for who in [&alice, &bob] {
            assert_hidden(&app, who, u).await;
            assert_eq!(message_in(&app, who, room, id_of(m)).await["attachments"], json!([]));
        }
    }
    let tomb = remove(&app, &alice, id_of(&mp)).await;
    assert_eq!(tomb["attachments"], json!([]), "{tomb}");
    for who in [&alice, &bob] {
        assert_hidden(&app, who, &p).await;
    }
    // Unattached again? No: it cannot be sent a second time.
    assert_refused_ids(send_dm(&app, &alice, &bob, "again", &[id_of(&p)]).await, "a deleted message's upload");

    // P's file (and thumbnail) goes from disk, nothing else referring to its bytes…
    let p_path = stored_path(&app, &p_bytes);
    eventually("the deleted message's file removed from disk", || !p_path.exists()).await;
    eventually("the deleted message's thumbnail removed from disk", || thumbnail_files(&app, &p_bytes).is_empty())
        .await;
    // …while S (still in the group) and T (still Carol's upload) stay, whole.
    assert!(stored_path(&app, &s_bytes).exists(), "S is still sent in the group");
    assert!(stored_path(&app, &t_bytes).exists(), "T is still Carol's upload");
    assert_eq!(stored_files(&app).len(), 2, "{:?}", stored_files(&app));
    for who in [&alice, &bob] {
        assert_downloads(&app, who, &s2, &s_bytes).await;
    }
    assert_downloads(&app, &carol, &carols_t, &t_bytes).await;
    // Carol can still send hers.
    let mc = created(send_dm(&app, &carol, &bob, "", &[id_of(&carols_t)]).await);
    assert_eq!(mc["attachments"], json!([carols_t]));
}

async fn the_sweep_removes_only_old_unattached_uploads(app: TestApp) {
    let (alice, bob) = (app.user("sw").await, app.user("sw").await);
    let u_bytes = noise(20_000, 81);
    let v_bytes = noise(20_000, 82);
    let u = upload(&app, &alice, &u_bytes, "unsent.bin").await;
    let v = upload(&app, &alice, &v_bytes, "sent.bin").await;
    created(send_dm(&app, &alice, &bob, "v", &[id_of(&v)]).await);
    // W: Bob's unsent upload of V's bytes.
    let w = upload(&app, &bob, &v_bytes, "bobs.bin").await;

    let swept = app.state.files.sweep(&*app.state.store, Duration::from_secs(3600)).await.expect("the sweep runs");
    assert_eq!((swept.uploads, swept.files), (0, 0), "nothing is an hour old");
    assert_downloads(&app, &alice, &u, &u_bytes).await;
    assert_downloads(&app, &bob, &w, &v_bytes).await;
    assert_eq!(stored_files(&app).len(), 2);

    let swept = app.state.files.sweep(&*app.state.store, Duration::ZERO).await.expect("the sweep runs");
    assert_eq!((swept.uploads, swept.files), (2, 1), "U and W swept; U's file removed, V's kept");
    assert_hidden(&app, &alice, &u).await;
    assert_hidden(&app, &bob, &w).await;
    assert!(!stored_path(&app, &u_bytes).exists(), "U's file is gone");
    assert_eq!(stored_files(&app), [stored_path(&app, &v_bytes)]);
    // The sent one is never swept.
    for who in [&alice, &bob] {
        assert_downloads(&app, who, &v, &v_bytes).await;
    }
    // A swept upload cannot be sent.
    assert_refused_ids(send_dm(&app, &alice, &bob, "late", &[id_of(&u)]).await, "a swept upload");
    let swept = app.state.files.sweep(&*app.state.store, Duration::ZERO).await.expect("the sweep runs");
    assert_eq!((swept.uploads, swept.files), (0, 0), "nothing left to sweep");
    assert_downloads(&app, &bob, &v, &v_bytes).await;
}

// ---------------------------------------------------------------------------------------------
// Retries

async fn a_retried_client_id_returns_the_original_attachments(app: TestApp) {
    let (alice, bob) = (app.user("rt").await, app.user("rt").await);
    let gid = group(&app, &alice, &[&bob]).await;

    // REST, DM: 201, then 200 with the original.
    let x = upload(&app, &alice, b"x marks the spot", "x.txt").await;
    let body = json!({"recipient_id": bob.id, "content": "", "attachment_ids": [id_of(&x)], "client_id": "att-1"});
    let (s1, first) = app.post("/messages/send", &alice.access, body.clone()).await;
    let (s2, again) = app.post("/messages/send", &alice.access, body).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK), "{first} {again}");
    assert_eq!(again["data"]["id"], first["data"]["id"]);
    assert_eq!(again["data"]["attachments"], json!([x]), "{again}");
    assert_eq!(first["data"]["attachments"], json!([x]), "{first}");
    let room = room_of(&first["data"]);
    assert_eq!(history(&app, &bob, room).await.len(), 1, "stored once");

    // REST, group.
    let y = upload(&app, &alice, b"y not", "y.txt").await;
    let z = upload(&app, &alice, b"zed", "z.txt").await;
    let body =
        json!({"group_id": gid, "content": "two", "attachment_ids": [id_of(&z), id_of(&y)], "client_id": "att-2"});
    let (s1, first) = app.post("/groups/send", &alice.access, body.clone()).await;
    let (s2, again) = app.post("/groups/send", &alice.access, body).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::OK), "{first} {again}");
    assert_eq!(again["data"]["id"], first["data"]["id"]);
    assert_eq!(again["data"]["attachments"], json!([z, y]), "{again}");

    // WebSocket: the same ack twice.
    let w = upload(&app, &alice, b"over the socket", "w.txt").await;
    let mut aw = Ws::connect(&app, &alice.access).await;
    let frame =
        json!({"type": "message", "room_id": gid, "content": "", "client_id": "att-3", "attachment_ids": [id_of(&w)]});
    aw.send(frame.clone()).await;
    let ack = aw.expect_skipping("ack").await;
    aw.send(frame).await;
    let again = aw.expect_skipping("ack").await;
    assert_eq!(ack["message"]["attachments"], json!([w]), "{ack}");
    assert_eq!(
        (&again["message"]["id"], &again["message"]["attachments"]),
        (&ack["message"]["id"], &json!([w])),
        "{again}"
    );
    assert_eq!(history(&app, &bob, gid).await.len(), 2, "each stored once");
}

/// A camera's JPEG: EXIF naming its author and turned a quarter (orientation 6), and a video
/// after the picture, as phones append them.
fn camera_photo(w: u32, h: u32) -> Vec<u8> {
    // TIFF, big-endian: IFD0 with Orientation = 6 and Artist = "SECRET AUTHOR" (at offset 38).
    let mut tiff = vec![b'M', b'M', 0, 42, 0, 0, 0, 8, 0, 2];
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]);
    tiff.extend_from_slice(&[0x01, 0x3B, 0, 2, 0, 0, 0, 14, 0, 0, 0, 38]);
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    tiff.extend_from_slice(b"SECRET AUTHOR\0");
    let mut bytes = Vec::new();
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85);
    image::ImageEncoder::set_exif_metadata(&mut encoder, tiff).expect("EXIF is supported");
    picture(w, h, 7).write_with_encoder(encoder).expect("encodes");
    bytes.extend_from_slice(b"ftypmp42 SECRET AUTHOR's video");
    bytes
}

/// Uploaded JPEGs lose their EXIF (but keep their orientation) and whatever follows the picture:
/// the file served is that, stored under its own hash, the same for the same photo twice.
async fn photos_are_stored_without_what_they_say_about_their_author(app: TestApp) {
    use image::ImageDecoder as _;
    let alice = app.user("exif").await;
    let photo = camera_photo(64, 48);
    let secret = |bytes: &[u8]| bytes.windows(13).any(|w| w == b"SECRET AUTHOR");
    assert!(secret(&photo));
    let (status, u) =
        post_form(&app, Some(&alice.access), file_form(photo.clone(), "IMG_0001.jpg", "image/jpeg")).await;
    assert_eq!(status, StatusCode::CREATED, "{u}");
    assert_eq!(
        (u["content_type"].as_str(), u["width"].as_i64(), u["height"].as_i64()),
        (Some("image/jpeg"), Some(48), Some(64)),
        "still shown turned: {u}"
    );
    let got = fetch(&app, &alice, &url_of(&u)).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(!secret(&got.body), "nothing of the EXIF or the video is served");
    assert_eq!(u["size"].as_u64(), Some(got.body.len() as u64), "the size is the stored file's");
    assert!(got.body.len() < photo.len());
    let mut decoder = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(&got.body)).expect("a JPEG");
    assert_eq!(decoder.orientation().expect("orientation"), image::metadata::Orientation::Rotate90);
    let shown = image::load_from_memory(&got.body).expect("the picture decodes");
    assert_eq!((shown.width(), shown.height()), (64, 48), "the picture itself, untouched");
    assert!(stored_path(&app, &got.body).exists(), "stored under the hash of what is served");
    assert!(!stored_path(&app, &photo).exists(), "the original is not kept");
    assert!(!files_under(&app.storage.data_dir().join("tmp"))
        .iter()
        .any(|p| secret(&std::fs::read(p).unwrap_or_default())));

    // The same photo again: the same stored file.
    let before = stored_files(&app);
    let again = upload_as_jpeg(&app, &alice, &photo).await;
    assert_eq!(again["size"], u["size"]);
    assert_eq!(stored_files(&app), before, "stored once");
    // A photo cut short inside its EXIF is kept as far as it could be read: without it.
    let cut = upload_as_jpeg(&app, &alice, &photo[..40]).await;
    let got_cut = fetch(&app, &alice, &url_of(&cut)).await;
    assert!(!secret(&got_cut.body) && !got_cut.body.windows(4).any(|w| w == b"Exif"), "fails closed");
    assert_eq!(&got_cut.body[got_cut.body.len() - 2..], &[0xFF, 0xD9], "ended");
    // Its thumbnail is turned as the photo is.
    let thumb = fetch(&app, &alice, &format!("{}/thumbnail", url_of(&u))).await;
    let thumb = image::load_from_memory(&thumb.body).expect("the thumbnail decodes");
    assert_eq!((thumb.width(), thumb.height()), (48, 64));
}

async fn upload_as_jpeg(app: &TestApp, who: &TestUser, bytes: &[u8]) -> Value {
    let (status, body) = post_form(app, Some(&who.access), file_form(bytes.to_vec(), "again.jpg", "image/jpeg")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// `UPLOAD_QUOTA_BYTES` bounds what one user's files take, sent or not: an upload that would pass
/// it is refused with 413 until messages with files are deleted; uploads at once cannot pass it
/// together; other users are not affected.
async fn each_user_has_a_storage_quota_freed_by_deleting(app: TestApp) {
    let storage = app.stop().await;
    let app = TestApp::start(storage, &[("UPLOAD_QUOTA_BYTES", "50000")]).await;
    let (alice, bob, carol) = (app.user("quota").await, app.user("quota").await, app.user("quota").await);
    let a = upload(&app, &alice, &noise(30_000, 81), "a.bin").await;
    let m = created(send_dm(&app, &alice, &bob, "the first", &[id_of(&a)]).await);
    // 30,000 more would not fit; 10 bytes do.
    let (status, body) =
        post_form(&app, Some(&alice.access), file_form(noise(30_000, 82), "b.bin", "text/plain")).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(
        body["detail"],
        "Not enough storage left: your files take 30000 of your 50000 bytes. Delete messages with files to make room"
    );
    upload(&app, &alice, &noise(10, 83), "c.bin").await;
    // Someone else may still upload.
    upload(&app, &bob, &noise(30_000, 84), "bobs.bin").await;
    // Deleting the message with the first file makes room.
    remove(&app, &alice, id_of(&m)).await;
    upload(&app, &alice, &noise(30_000, 82), "b.bin").await;

    // Six uploads of 20,000 bytes at once: together they stay within the quota.
    let sends = (0..6u64)
        .map(|i| post_form(&app, Some(&carol.access), file_form(noise(20_000, 90 + i), "x.bin", "text/plain")));
    let answers = futures_util::future::join_all(sends).await;
    let stored: Vec<u64> =
        answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).filter_map(|(_, b)| b["size"].as_u64()).collect();
    assert!(!stored.is_empty(), "{answers:?}");
    assert!(stored.iter().sum::<u64>() <= 50_000, "{stored:?}");
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::CREATED || *s == StatusCode::PAYLOAD_TOO_LARGE),
        "{answers:?}"
    );
}
