//! The web client: the files under `crates/server/web/`, embedded in the binary (read from disk
//! in debug builds, so editing them needs no rebuild), served at `/` with a Content-Security-
//! Policy that allows only this origin.

use axum::{
    extract::Path,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};

use crate::{error::Error, state::AppState};

#[derive(rust_embed::Embed)]
#[folder = "web/"]
struct Assets;

/// Scripts, styles, images and sockets from this origin only; no inline code, no framing.
const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
     connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/app.css", get(|headers: HeaderMap| async move { asset("app.css", &headers) }))
        .route("/favicon.svg", get(|headers: HeaderMap| async move { asset("favicon.svg", &headers) }))
        .route(
            "/js/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move { asset(&format!("js/{path}"), &headers) }),
        )
}

/// The seed's answer at `/`, in its key order.
#[derive(serde::Serialize)]
struct Banner {
    message: &'static str,
    status: &'static str,
    docs: &'static str,
}

/// `/` is two things: for a browser (which asks for HTML) the web client; for anything else the
/// seed's API banner, `{"message": "Real-time Chat API", "status": "running", "docs": "/docs"}`.
async fn root(headers: HeaderMap) -> Response {
    let wants_html = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().starts_with("text/html")));
    let mut response = if wants_html {
        asset("index.html", &headers)
    } else {
        axum::Json(Banner { message: "Real-time Chat API", status: "running", docs: "/docs" }).into_response()
    };
    response.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

fn asset(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else { return Error::NotFound("Not Found".into()).into_response() };
    // Files are not fingerprinted, so browsers revalidate every time; the ETag makes that a 304.
    let etag =
        format!("\"{}\"", file.metadata.sha256_hash().iter().take(16).map(|b| format!("{b:02x}")).collect::<String>());
    let mut response = if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mime = file.metadata.mimetype().to_owned();
        let mime = if mime.starts_with("text/") || mime.ends_with("javascript") {
            format!("{mime}; charset=utf-8")
        } else {
            mime
        };
        ([(header::CONTENT_TYPE, mime)], file.data.into_owned()).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}
