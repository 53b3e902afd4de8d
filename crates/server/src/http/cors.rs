//! CORS as the seed answers it (Starlette's `CORSMiddleware` with any origin, any method, any
//! header and credentials allowed), or restricted to `CORS_ORIGINS`.
//!
//! tower-http's layer cannot say `access-control-allow-origin: *` together with
//! `access-control-allow-credentials: true`, which is the seed's answer to a simple request, and
//! answers a preflight without the seed's `OK` body — hence this small middleware.

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::config::CorsOrigins;

const ALLOW_METHODS: &str = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT";

pub async fn cors(State(origins): State<CorsOrigins>, req: Request, next: Next) -> Response {
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else { return next.run(req).await };
    let allowed = origin.to_str().is_ok_and(|o| origins.allows(o));
    let preflight =
        req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        return preflight_answer(req.headers(), origin, allowed);
    }
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    match origins {
        CorsOrigins::Any => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
        CorsOrigins::List(_) if allowed => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        CorsOrigins::List(_) => {}
    }
    response
}

fn preflight_answer(request: &HeaderMap, origin: HeaderValue, allowed: bool) -> Response {
    let mut response = if allowed {
        (StatusCode::OK, "OK").into_response()
    } else {
        (StatusCode::BAD_REQUEST, "Disallowed CORS origin").into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    if allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    response
}
