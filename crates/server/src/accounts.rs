//! Accounts and sessions: the rules behind `/auth/*`, shared by every transport.
//!
//! A *session* is one login on one device: the chain of refresh tokens that login rotates
//! through. Access tokens name their session, so ending a session ends its access tokens too.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::{
        password,
        tokens::{new_refresh_token, new_session_id, refresh_token_hash},
    },
    error::{Error, Result},
    realtime::Event,
    state::AppState,
    store::{self, NewUser, Rotation, StoreError, User},
    validate::{self, Checker},
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// 3–50 letters, digits, `_`, `.` or `-`; unique regardless of case.
    #[schema(example = "john_doe")]
    pub username: String,
    #[schema(example = "john@example.com")]
    pub email: String,
    /// 8–100 characters.
    #[schema(example = "securepass123")]
    pub password: String,
    #[schema(example = "John Doe")]
    pub full_name: Option<String>,
}

/// A fresh pair of tokens, as the seed returns them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    /// Opaque; send it to `/auth/refresh` for a new pair. Each one works once.
    pub refresh_token: String,
    #[schema(example = "bearer")]
    pub token_type: String,
}

pub async fn register(state: &AppState, req: RegisterRequest) -> Result<(User, TokenPair)> {
    let mut check = Checker::default();
    let username = check.check("username", || validate::username(&req.username));
    let email = check.check("email", || validate::email(&req.email));
    let password = check.check("password", || validate::password(&req.password));
    let full_name = check.check("full_name", || validate::full_name(req.full_name.as_deref()));
    check.finish()?;
    let (Some(username), Some(email), Some(password), Some(full_name)) = (username, email, password, full_name) else {
        return Err(Error::Internal(anyhow::anyhow!("validated fields missing")));
    };

    if state.store.username_taken(&username).await? {
        return Err(Error::BadRequest("Username already registered".into()));
    }
    if state.store.email_taken(&email).await? {
        return Err(Error::BadRequest("Email already registered".into()));
    }
    let hashed_password = password::hash(password).await?;
    let user = match state.store.create_user(NewUser { username, email, hashed_password, full_name }).await {
        Ok(user) => user,
        // Lost a race with a concurrent registration of the same name or address.
        Err(StoreError::UniqueViolation(_)) => {
            return Err(Error::BadRequest("Username or email already registered".into()))
        }
        Err(e) => return Err(e.into()),
    };
    let tokens = start_session(state, user.id).await?;
    tracing::info!(user_id = user.id, "user registered");
    Ok((user, tokens))
}

/// Logs in by username or email. Unknown user and wrong password are indistinguishable, in
/// answer and in time.
pub async fn login(state: &AppState, login: &str, password: &str) -> Result<(User, TokenPair)> {
    // No stored username or email contains NUL (PostgreSQL could not even compare one).
    let login = login.trim();
    let user = if login.contains('\0') { None } else { state.store.user_by_login(login).await? };
    let ok = password::verify(password.to_owned(), user.as_ref().map(|u| u.hashed_password.clone())).await?;
    let user = match user {
        Some(user) if ok => user,
        _ => return Err(Error::Unauthorized("Incorrect username or password".into())),
    };
    if !user.is_active {
        return Err(Error::Forbidden("Inactive user".into()));
    }
    let tokens = start_session(state, user.id).await?;
    Ok((user, tokens))
}

async fn start_session(state: &AppState, user_id: i64) -> Result<TokenPair> {
    let session_id = new_session_id();
    let refresh_token = new_refresh_token();
    state
        .store
        .insert_refresh_token(user_id, &refresh_token_hash(&refresh_token), &session_id, refresh_expiry(state))
        .await?;
    pair(state, user_id, &session_id, refresh_token)
}

fn refresh_expiry(state: &AppState) -> store::Timestamp {
    let ttl = chrono::Duration::from_std(state.keys.refresh_ttl).unwrap_or(chrono::Duration::days(7));
    store::now() + ttl
}

fn pair(state: &AppState, user_id: i64, session_id: &str, refresh_token: String) -> Result<TokenPair> {
    Ok(TokenPair {
        access_token: state.keys.issue_access(user_id, session_id)?,
        refresh_token,
        token_type: "bearer".into(),
    })
}

/// Rotates a refresh token. A token that was already rotated is a replay: the whole session it
/// belongs to is revoked (OWASP ASVS 10.4.5), the thief's copy and the owner's alike.
pub async fn refresh(state: &AppState, refresh_token: &str) -> Result<TokenPair> {
    let new_token = new_refresh_token();
    let rotation = state
        .store
        .rotate_refresh_token(
            &refresh_token_hash(refresh_token),
            &refresh_token_hash(&new_token),
            refresh_expiry(state),
        )
        .await?;
    match rotation {
        Rotation::Rotated { user_id, session_id } => pair(state, user_id, &session_id, new_token),
        Rotation::Reused { user_id, session_id: _session_id } => {
            tracing::warn!(user_id, "refresh token reused; session revoked");
            close_sockets(state, user_id, Some(_session_id));
            Err(Error::Unauthorized("Invalid refresh token".into()))
        }
        Rotation::Invalid => Err(Error::Unauthorized("Invalid refresh token".into())),
    }
}

/// Ends the session `refresh_token` belongs to. Idempotent: an unknown token is not an error,
/// since the outcome the caller wants (that token no longer works) already holds.
pub async fn logout(state: &AppState, refresh_token: &str) -> Result<()> {
    if let Some((user_id, session_id)) = state.store.revoke_session_of(&refresh_token_hash(refresh_token)).await? {
        close_sockets(state, user_id, Some(session_id));
    }
    Ok(())
}

pub async fn logout_all(state: &AppState, user: &User) -> Result<()> {
    state.store.revoke_all_sessions(user.id).await?;
    close_sockets(state, user.id, None);
    Ok(())
}

/// Closes the WebSocket connections of one ended session, or of all the user's sessions.
fn close_sockets(state: &AppState, user_id: i64, session_id: Option<String>) {
    state.broker.publish(Event::SessionsRevoked { user_id, session_id });
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    #[serde(alias = "old_password")]
    pub current_password: String,
    /// 8–100 characters, different from the current one.
    pub new_password: String,
}

/// Changes the password, ends every session (every device must log in again) and starts a new
/// one for the caller, whose tokens are returned.
pub async fn change_password(state: &AppState, user: &User, req: ChangePasswordRequest) -> Result<TokenPair> {
    let mut check = Checker::default();
    let new_password = check.check("new_password", || validate::password(&req.new_password));
    check.finish()?;
    let Some(new_password) = new_password else {
        return Err(Error::Internal(anyhow::anyhow!("validated field missing")));
    };
    if !password::verify(req.current_password.clone(), Some(user.hashed_password.clone())).await? {
        return Err(Error::BadRequest("Current password is incorrect".into()));
    }
    if req.current_password == new_password {
        return Err(Error::BadRequest("New password must be different from the current password".into()));
    }
    let hashed = password::hash(new_password).await?;
    state.store.set_password(user.id, &hashed).await?;
    state.store.revoke_all_sessions(user.id).await?;
    close_sockets(state, user.id, None);
    tracing::info!(user_id = user.id, "password changed; all sessions revoked");
    start_session(state, user.id).await
}

/// The user an access token belongs to, if the token is valid and its session is still live.
pub async fn authenticate(state: &AppState, access_token: &str) -> Result<(User, String)> {
    let invalid = || Error::Unauthorized("Could not validate credentials".into());
    let claims = state.keys.verify_access(access_token).ok_or_else(invalid)?;
    let user = state.store.user_in_session(claims.user_id, &claims.session_id).await?.ok_or_else(invalid)?;
    Ok((user, claims.session_id))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteAccountRequest {
    /// The current password, to confirm.
    pub password: String,
}

/// Deletes the account after checking the password. Sessions and memberships go; messages stay
/// and show as sent by "Deleted User"; groups the user created pass to their longest-standing
/// member (or are deleted when empty).
pub async fn delete_account(state: &AppState, user: &User, password: &str) -> Result<()> {
    if !password::verify(password.to_owned(), Some(user.hashed_password.clone())).await? {
        return Err(Error::BadRequest("Password is incorrect".into()));
    }
    let groups = state.store.delete_user(user.id).await?;
    for (room_id, _) in groups {
        state.broker.publish(Event::MemberRemoved { room_id, user_id: user.id });
    }
    close_sockets(state, user.id, None);
    tracing::info!(user_id = user.id, "account deleted");
    Ok(())
}
