//! Authentication: password hashing, tokens, and the extractor that guards every route.

pub mod password;
pub mod tokens;

use axum::{extract::FromRequestParts, http::request::Parts};

use crate::{accounts, error::Error, state::AppState, store::User};

/// The authenticated caller. Extracting it verifies the bearer token *and* that its session is
/// live, so a revoked session's access tokens stop working at once.
///
/// There is deliberately no `Option<AuthUser>`: a route either requires a user or it does not,
/// and a bad token must never silently downgrade to "anonymous".
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    pub session_id: String,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| Error::Unauthorized("Not authenticated".into()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Unauthorized("Not authenticated".into()))?;
        let (user, session_id) = accounts::authenticate(state, token).await?;
        Ok(Self { user, session_id })
    }
}
