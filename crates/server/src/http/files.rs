//! `/attachments`: uploading files and downloading them (and images' thumbnails).
//!
//! An upload is a `multipart/form-data` body with one part named `file`. It is streamed to disk
//! (see [`crate::files`]); its size is checked as it arrives and, when the client declares it,
//! before anything is read. Downloads are served from disk with ranges, only to those who may
//! see the file.

use std::time::Duration;

use axum::{
    extract::{multipart::MultipartRejection, DefaultBodyLimit, Multipart, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use banter_protocol::Attachment;
use futures_util::StreamExt as _;
use tower::ServiceExt as _;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{json::Id, json::Json, Detail};
use crate::{
    auth::AuthUser,
    chat,
    error::{Error, Result},
    files::{clean_filename, UploadError, INLINE_IMAGES},
    state::AppState,
    store::AttachmentRow,
};

/// How long an upload may wait for its next piece of body before it is dropped.
const UPLOAD_IDLE: Duration = Duration::from_secs(30);
/// What a multipart body may carry besides the file (boundaries, part headers).
const MULTIPART_SLACK: u64 = 64 * 1024;
/// How long, and how much, of an over-limit body is read and thrown away before answering 413,
/// so that a client still sending reads the answer instead of a reset connection.
const DRAIN_FOR: Duration = Duration::from_secs(5);
const DRAIN_BYTES: u64 = 64 * 1024 * 1024;

const NOT_FOUND: &str = "Attachment not found";

pub fn router(max_upload: u64) -> OpenApiRouter<AppState> {
    let limit = usize::try_from(max_upload.saturating_add(MULTIPART_SLACK)).unwrap_or(usize::MAX);
    OpenApiRouter::new()
        .routes(routes!(upload))
        // Not the API's 64 KiB: the file, plus room for the multipart framing. The parser stops
        // there whatever it is reading (a part's headers are buffered until complete).
        .layer(DefaultBodyLimit::max(limit))
        .merge(OpenApiRouter::new().routes(routes!(download)).routes(routes!(thumbnail)))
}

/// The multipart form of an upload (for the API docs).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file; its name is kept (its last path component, without control characters).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Upload a file (then send it: `attachment_ids` on a message). Its type is found from its
/// bytes. Uploads never sent are removed after 24 hours.
#[utoipa::path(post, path = "/attachments", tag = "files", security(("HTTPBearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = Attachment),
        (status = 400, description = "No part named `file`, or the upload broke off", body = Detail),
        (status = 401, body = Detail),
        (status = 413, description = "`File too large: the limit is N bytes` (`MAX_UPLOAD_BYTES`), or `Storage quota reached: …` (the uploader's files take `UPLOAD_QUOTA_BYTES` already)", body = Detail),
    ))]
async fn upload(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Attachment>)> {
    let limit = state.files.max_upload();
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.saturating_add(MULTIPART_SLACK)) {
        // Refused before a byte of the body is read.
        return Err(Error::FileTooLarge { limit });
    }
    state.limits.send(auth.user.id)?;
    let no_file = || Error::BadRequest("No file in the upload (a multipart field named 'file')".into());
    let mut multipart = multipart.map_err(|_| no_file())?;
    let refused = |e: UploadError| match e {
        UploadError::TooLarge => Error::FileTooLarge { limit },
        UploadError::StorageFull { used, quota } => Error::StorageFull { used, quota },
        UploadError::QuotaFull => Error::RateLimited {
            detail: "Too many files uploaded and not sent: send them, or wait a day for them to expire".into(),
            retry_after: Duration::from_secs(3600),
        },
        UploadError::Busy => Error::Unavailable("Server busy, please retry".into()),
        UploadError::Interrupted(why) => broken(&why),
        UploadError::Io(e) => Error::Internal(anyhow::Error::new(e).context("storing an upload")),
        UploadError::Store(e) => e.into(),
    };
    // What it may add to the uploader's files: what the request says it holds, else the most.
    let size = declared.unwrap_or(limit);
    let _admission = state.files.admit(auth.user.id, size, &state.store).await.map_err(refused)?;
    loop {
        let field = match tokio::time::timeout(UPLOAD_IDLE, multipart.next_field()).await {
            Err(_) => return Err(broken("no data for too long")),
            Ok(Ok(Some(field))) => field,
            Ok(Ok(None)) => return Err(no_file()),
            Ok(Err(e)) => return Err(refused(upload_error(&e))),
        };
        if field.name() != Some("file") {
            continue;
        }
        let filename = clean_filename(field.file_name().unwrap_or_default());
        let body = field.map(|chunk| chunk.map_err(|e| upload_error(&e)));
        let stored = state.files.upload(&state.store, auth.user.id, &filename, body, UPLOAD_IDLE).await;
        return match stored {
            Ok(row) => Ok((StatusCode::CREATED, Json(chat::to_attachment(&row)))),
            Err(UploadError::TooLarge) => {
                drain(&mut multipart).await;
                Err(Error::FileTooLarge { limit })
            }
            Err(e) => Err(refused(e)),
        };
    }
}

/// A multipart error as an upload's: past the body limit it is "too large".
fn upload_error(e: &axum::extract::multipart::MultipartError) -> UploadError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        UploadError::TooLarge
    } else {
        UploadError::Interrupted(e.body_text())
    }
}

fn broken(why: &str) -> Error {
    tracing::debug!(why, "upload broke off");
    Error::BadRequest("The upload broke off before the file was complete".into())
}

/// Reads and discards what is left of an over-limit body, for a few seconds at most.
async fn drain(multipart: &mut Multipart) {
    let _ = tokio::time::timeout(DRAIN_FOR, async {
        let mut read = 0u64;
        while let Ok(Some(mut field)) = multipart.next_field().await {
            while let Ok(Some(chunk)) = field.chunk().await {
                read += chunk.len() as u64;
                if read > DRAIN_BYTES {
                    return;
                }
            }
        }
    })
    .await;
}

/// The attachment, if the user may see it.
async fn readable(state: &AppState, user_id: i64, id: i64) -> Result<AttachmentRow> {
    state.store.readable_attachment(id, user_id).await?.ok_or_else(|| Error::NotFound(NOT_FOUND.into()))
}

/// Download a file: for its uploader and the members of the room it was sent in (anyone else:
/// 404). Ranges are served; the answer may be cached for good (an id's bytes never change).
#[utoipa::path(get, path = "/attachments/{attachment_id}", tag = "files", security(("HTTPBearer" = [])),
    params(("attachment_id" = i64, Path)),
    responses(
        (status = 200, description = "The bytes, as `Content-Type` says (what they were found to be)", content_type = "*/*"),
        (status = 206, description = "The range asked for", content_type = "*/*"),
        (status = 401, body = Detail),
        (status = 404, description = "`Attachment not found` (or not yours to see)", body = Detail),
    ))]
async fn download(State(state): State<AppState>, auth: AuthUser, Id(id): Id, request: Request) -> Result<Response> {
    let row = readable(&state, auth.user.id, id).await?;
    let path = state.files.blob_path(&row.sha256);
    let inline = INLINE_IMAGES.contains(&row.content_type.as_str());
    serve(request, &path, &row.content_type, &row.filename, inline).await
}

/// An image's thumbnail: at most 320×320, JPEG (PNG if it has transparency), made once.
#[utoipa::path(get, path = "/attachments/{attachment_id}/thumbnail", tag = "files", security(("HTTPBearer" = [])),
    params(("attachment_id" = i64, Path)),
    responses(
        (status = 200, description = "The thumbnail", content_type = "image/*"),
        (status = 401, body = Detail),
        (status = 404, description = "`Attachment not found`, or `This attachment has no thumbnail` (not an image)",
            body = Detail),
    ))]
async fn thumbnail(State(state): State<AppState>, auth: AuthUser, Id(id): Id, request: Request) -> Result<Response> {
    let row = readable(&state, auth.user.id, id).await?;
    let Some((path, kind)) = state.files.thumbnail(&row).await? else {
        return Err(Error::NotFound("This attachment has no thumbnail".into()));
    };
    let stem = row.filename.rsplit_once('.').map_or(row.filename.as_str(), |(stem, _)| stem);
    let name = format!("{stem}-thumbnail.{}", if kind == "image/png" { "png" } else { "jpg" });
    serve(request, &path, kind, &name, true).await
}

/// Serves a file from disk (ranges, `Last-Modified`, `If-Modified-Since`) as `content_type`,
/// named `filename`: shown in the browser only if `inline` (safe images), else downloaded.
async fn serve(
    request: Request,
    path: &std::path::Path,
    content_type: &str,
    filename: &str,
    inline: bool,
) -> Result<Response> {
    let served = tower_http::services::ServeFile::new(path)
        .oneshot(request)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("serving {}: {e}", path.display())))?;
    let (mut parts, body) = served.into_parts();
    match parts.status {
        StatusCode::OK | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED => {}
        // Recorded but not on disk: the file was removed under a stale reference.
        StatusCode::NOT_FOUND => return Err(Error::NotFound(NOT_FOUND.into())),
        status if status.is_server_error() => {
            return Err(Error::Internal(anyhow::anyhow!("serving {} answered {status}", path.display())));
        }
        // A range that cannot be satisfied (416), a failed precondition (412): as served, but
        // never with the file's headers.
        _ => return Ok(Response::from_parts(parts, body).into_response()),
    }
    let h = &mut parts.headers;
    // When the bytes were last written says when someone last uploaded the same ones.
    h.remove(header::LAST_MODIFIED);
    if let Ok(value) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, value);
    }
    let disposition = format!(
        "{}; filename=\"{}\"; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        ascii_fallback(filename),
        encode(filename)
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, value);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    // A browser shared by two accounts never answers one from what the other fetched.
    h.insert(header::VARY, HeaderValue::from_static("Authorization"));
    // Opened on its own, a file runs no script and loads nothing but same-origin images.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"),
    );
    Ok(Response::from_parts(parts, body).into_response())
}

/// A file name for clients that do not read `filename*`: ASCII letters, digits and a few safe
/// marks; anything else becomes `_`.
fn ascii_fallback(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || " .-_()".contains(c) { c } else { '_' }).collect()
}

/// Percent-encodes a file name for `filename*=UTF-8''…` (RFC 5987: only attr-chars stay).
fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn file_names_are_encoded_for_content_disposition() {
        assert_eq!(super::encode("cat.png"), "cat.png");
        assert_eq!(super::encode("my \"cat\"; x.png"), "my%20%22cat%22%3B%20x.png");
        assert_eq!(super::encode("é.txt"), "%C3%A9.txt");
        assert_eq!(super::ascii_fallback("my \"cat\"; é.png"), "my _cat__ _.png");
    }
}
