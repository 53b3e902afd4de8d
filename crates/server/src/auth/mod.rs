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
        let token = bearer_token(parts)?;
        let (user, session_id) = accounts::authenticate(state, token).await?;
        Ok(Self { user, session_id })
    }
}

/// The caller if the request carries valid credentials, else `None` — for the one route whose
/// seed answer ignores credentials (`/ws/online-users`), where "nobody" is the safe answer to
/// anyone not proven to be someone. Other routes take [`AuthUser`]: a bad token must never
/// quietly become "anonymous" where that would mean more than nothing.
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        match AuthUser::from_request_parts(parts, state).await {
            Ok(user) => Ok(Self(Some(user))),
            Err(Error::Forbidden(_) | Error::Unauthorized(_)) => Ok(Self(None)),
            // The database did not answer: say so rather than "nobody".
            Err(e) => Err(e),
        }
    }
}

/// The credentials of an `Authorization: Bearer …` header, checked as the seed's `HTTPBearer`
/// checks them: no header or no credentials is 403 `Not authenticated`, another scheme is 403
/// `Invalid authentication credentials` (a bad token, later, is 401).
fn bearer_token(parts: &Parts) -> Result<&str, Error> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(Error::not_authenticated)?;
    let (scheme, credentials) = header.split_once(' ').unwrap_or((header, ""));
    let credentials = credentials.trim();
    if scheme.is_empty() || credentials.is_empty() {
        return Err(Error::not_authenticated());
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Error::Forbidden(accounts::INVALID_CREDENTIALS.into()));
    }
    Ok(credentials)
}
