//! Accounts and sessions: the rules behind `/auth/*`, shared by every transport.
//!
//! A *session* is one login on one device: the chain of refresh tokens that login rotates
//! through. Access tokens name their session, so ending a session ends its access tokens too.

use banter_protocol::{ServerFrame, UserPublic};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::{
        password,
        tokens::{new_refresh_token, new_session_id, refresh_token_hash},
    },
    chat,
    config::Registration,
    error::{Error, Result},
    events::Event,
    limits::Account,
    state::AppState,
    store::{self, NewUser, Rotation, StoreError, User},
    validate::{self, Checker},
};

/// The seed's `detail` for a bearer token that is missing its session, expired or forged.
pub const INVALID_CREDENTIALS: &str = "Invalid authentication credentials";

#[derive(Debug, ToSchema)]
pub struct RegisterRequest {
    /// 3–50 characters, any script; no control characters, no whitespace at either end.
    /// Unique, case-sensitively (as in the seed).
    #[schema(example = "john_doe", min_length = 3, max_length = 50)]
    pub username: String,
    /// Stored with its domain lower-cased; unique.
    #[schema(example = "john@example.com")]
    pub email: String,
    #[schema(example = "securepass123", min_length = 8, max_length = 100)]
    pub password: String,
    #[schema(example = "John Doe", max_length = 100)]
    pub full_name: Option<String>,
    /// With `REGISTRATION=invite`: the invite code (ignored otherwise).
    #[schema(max_length = 100)]
    pub invite_code: Option<String>,
}

/// A fresh pair of tokens, as the seed returns them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    /// Opaque; send it to `/auth/refresh` for a new pair. Each one works once: keep the one
    /// `/auth/refresh` returns.
    pub refresh_token: String,
    #[schema(example = "bearer")]
    pub token_type: String,
}

pub async fn register(state: &AppState, req: RegisterRequest) -> Result<(User, TokenPair)> {
    let account = NewAccount::checked(&req.username, &req.email, &req.password, req.full_name.as_deref())?;
    let invite_hash = match state.config.registration {
        Registration::Open => None,
        Registration::Closed => return Err(Error::Forbidden(REGISTRATION_CLOSED.into())),
        Registration::Invite => {
            let code = req.invite_code.as_deref().map(str::trim).filter(|c| !c.is_empty());
            Some(code.map(refresh_token_hash).ok_or_else(|| Error::Forbidden(INVITE_NEEDED.into()))?)
        }
    };
    // Everything slow (the names' checks, the password hash) before the invite's use is taken,
    // so that only the insert can still fail after it — and then the use is given back.
    let new = prepare_account(&state.store, account).await?;
    if let Some(hash) = &invite_hash {
        if !state.store.use_invite(hash).await? {
            return Err(Error::Forbidden(INVITE_NEEDED.into()));
        }
    }
    let created = insert_account(&state.store, new).await;
    if let (Err(_), Some(hash)) = (&created, &invite_hash) {
        if let Err(e) = state.store.return_invite(hash).await {
            tracing::warn!(error = %e, "an invite use taken by a failed registration was not given back");
        }
    }
    let user = created?;
    let invite = invite_hash;
    let tokens = start_session(state, user.id).await?;
    tracing::info!(user_id = user.id, invited = invite.is_some(), "user registered");
    Ok((user, tokens))
}

pub const REGISTRATION_CLOSED: &str = "Registration is closed";
pub const INVITE_NEEDED: &str = "A valid invite code is required to register";

/// A new account's validated fields (the password in clear, hashed on creation).
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub password: String,
    pub full_name: Option<String>,
}

impl NewAccount {
    /// The registration rules for each field (every problem reported, as a 422 would).
    pub fn checked(username: &str, email: &str, password: &str, full_name: Option<&str>) -> Result<Self> {
        let mut check = Checker::default();
        let username = check.check("username", username, || validate::username(username));
        let email = check.check("email", email, || validate::email(email));
        let password = check.check("password", password, || validate::password(password));
        let full_name = match full_name {
            Some(name) => check.check("full_name", name, || validate::full_name(Some(name))),
            None => Some(None),
        };
        check.finish()?;
        match (username, email, password, full_name) {
            (Some(username), Some(email), Some(password), Some(full_name)) => {
                Ok(Self { username, email, password, full_name })
            }
            _ => Err(Error::Internal(anyhow::anyhow!("validated fields missing"))),
        }
    }
}

/// Creates an account (the checks of registration, without the session): for `banter user
/// create`.
pub async fn create_account(store: &store::DynStore, account: NewAccount) -> Result<User> {
    let new = prepare_account(store, account).await?;
    insert_account(store, new).await
}

/// Checks that the names are free and hashes the password.
async fn prepare_account(store: &store::DynStore, account: NewAccount) -> Result<NewUser> {
    let NewAccount { username, email, password, full_name } = account;
    // The seed checks the username first, then the email.
    let taken = |what: &str| Error::BadRequest(what.into());
    if store.username_taken(&username).await? {
        return Err(taken(USERNAME_TAKEN));
    }
    if store.email_taken(&email).await? {
        return Err(taken(EMAIL_TAKEN));
    }
    let hashed_password = password::hash(password).await?;
    Ok(NewUser { username, email, hashed_password, full_name })
}

/// Stores a prepared account.
async fn insert_account(store: &store::DynStore, new: NewUser) -> Result<User> {
    let taken = |what: &str| Error::BadRequest(what.into());
    let username = new.username.clone();
    let user = match store.create_user(new).await {
        Ok(user) => user,
        // Lost a race with a concurrent registration of the same name or address.
        Err(StoreError::UniqueViolation(_)) => {
            let what = if store.username_taken(&username).await? { USERNAME_TAKEN } else { EMAIL_TAKEN };
            return Err(taken(what));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(user)
}

const USERNAME_TAKEN: &str = "Username already taken";
const EMAIL_TAKEN: &str = "Email already registered";

/// The accounts a login name may mean. The seed matches the username or the stored email
/// exactly; when neither matches, Banter also accepts a name that differs only in case, if it
/// names exactly one account (so registering case variants of a name can never hide the exact
/// account from its owner). An exact username and an exact email of two different accounts are
/// both returned (username first), so one account's username cannot lock the other out; the
/// price is a second password check for that rare login string.
async fn login_candidates(state: &AppState, login: &str) -> Result<Vec<User>> {
    // No stored username or email contains NUL (PostgreSQL could not even compare one).
    if login.is_empty() || login.contains('\0') || login.chars().count() > 254 {
        return Ok(Vec::new());
    }
    let email = validate::email(login).unwrap_or_else(|_| login.to_owned());
    let mut exact = state.store.users_by_login(login, &email).await?;
    if !exact.is_empty() {
        exact.sort_by_key(|u| u.username != login);
        return Ok(exact);
    }
    // Two rows are enough to know the name is ambiguous.
    let folded = state.store.users_by_key(&crate::store::fold(login), 2).await?;
    Ok(if folded.len() == 1 { folded } else { Vec::new() })
}

/// Logs in by username or email. Unknown user and wrong password are indistinguishable, in
/// answer and in time.
///
/// An account with `LOGIN_FAILURE_LIMIT` wrong passwords in 15 minutes is refused (429) until
/// the oldest of them is 15 minutes old, whatever the password and wherever it comes from; a
/// login name that matches no account is counted the same way, so the refusal tells nothing.
pub async fn login(state: &AppState, login: &str, password: &str) -> Result<(User, TokenPair)> {
    let candidates = login_candidates(state, login).await?;
    let mut found = None;
    if candidates.is_empty() {
        checked(state, Account::unknown(&crate::store::fold(login)), password, None).await?;
    }
    for user in candidates {
        if checked(state, Account::User(user.id), password, Some(user.hashed_password.clone())).await? {
            found = Some(user);
            break;
        }
    }
    let user = found.ok_or_else(|| Error::Unauthorized("Invalid username or password".into()))?;
    if !user.is_active {
        return Err(Error::Unauthorized("Account is inactive".into()));
    }
    let tokens = start_session(state, user.id).await?;
    Ok((user, tokens))
}

async fn start_session(state: &AppState, user_id: i64) -> Result<TokenPair> {
    let session_id = new_session_id();
    let refresh_token = new_refresh_token();
    let stored = state
        .store
        .insert_refresh_token(user_id, &refresh_token_hash(&refresh_token), &session_id, refresh_expiry(state))
        .await?;
    if !stored {
        return Err(Error::Unauthorized("Account is inactive".into()));
    }
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
/// belongs to is revoked (OWASP ASVS 10.4.5), the thief's copy and the owner's alike. The
/// answers are the seed's: an unknown token is `Invalid refresh token`, a token whose session
/// ended (logout, logout-all, password change, replay) `Refresh token not found`.
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
    let rejected = |detail: &str| Err(Error::RefreshRejected(detail.into()));
    match rotation {
        Rotation::Rotated { user_id, session_id } => pair(state, user_id, &session_id, new_token),
        Rotation::Reused { user_id, session_id } => {
            tracing::warn!(user_id, "refresh token reused; session revoked");
            close_sockets(state, user_id, Some(session_id));
            rejected("Refresh token not found")
        }
        Rotation::Ended => rejected("Refresh token not found"),
        Rotation::Expired => rejected("Refresh token expired"),
        Rotation::Invalid => rejected("Invalid refresh token"),
    }
}

/// Ends the session `refresh_token` belongs to (its refresh token and its access tokens). A
/// token that is unknown, or whose session already ended, is the seed's 400.
pub async fn logout(state: &AppState, refresh_token: &str) -> Result<()> {
    match state.store.revoke_session_of(&refresh_token_hash(refresh_token)).await? {
        Some((user_id, session_id)) => {
            close_sockets(state, user_id, Some(session_id));
            Ok(())
        }
        None => Err(Error::BadRequest("Invalid refresh token".into())),
    }
}

/// Ends every session of the user; returns how many were live.
pub async fn logout_all(state: &AppState, user: &User) -> Result<u64> {
    let ended = state.store.revoke_all_sessions(user.id).await?;
    close_sockets(state, user.id, None);
    Ok(ended)
}

/// Closes the WebSocket connections of one ended session, or of all the user's sessions.
fn close_sockets(state: &AppState, user_id: i64, session_id: Option<String>) {
    state.broker.publish(Event::SessionsRevoked { user_id, session_id });
}

#[derive(Debug, ToSchema)]
pub struct ChangePasswordRequest {
    /// The current password (`current_password` is accepted too).
    pub old_password: String,
    #[schema(min_length = 8, max_length = 100)]
    pub new_password: String,
}

/// Changes the password, ends every session (every device must log in again, as the seed's
/// answer says) and starts a new one for the caller, whose tokens are returned.
pub async fn change_password(state: &AppState, user: &User, req: ChangePasswordRequest) -> Result<TokenPair> {
    let mut check = Checker::default();
    let new_password = check.check("new_password", &req.new_password, || validate::password(&req.new_password));
    check.finish()?;
    let Some(new_password) = new_password else {
        return Err(Error::Internal(anyhow::anyhow!("validated field missing")));
    };
    if !checked_password(state, user, &req.old_password).await? {
        return Err(Error::BadRequest("Current password is incorrect".into()));
    }
    let hashed = password::hash(new_password).await?;
    state.store.set_password(user.id, &hashed).await?;
    state.store.revoke_all_sessions(user.id).await?;
    close_sockets(state, user.id, None);
    tracing::info!(user_id = user.id, "password changed; all sessions revoked");
    start_session(state, user.id).await
}

/// Whether `password` is the user's, under the failed-password limit (as for logins).
async fn checked_password(state: &AppState, user: &User, password: &str) -> Result<bool> {
    checked(state, Account::User(user.id), password, Some(user.hashed_password.clone())).await
}

/// Checks a password against `hash` (`None`: an account that does not exist, checked against
/// a dummy hash for equal timing) under `LOGIN_FAILURE_LIMIT`.
async fn checked(state: &AppState, account: Account, password: &str, hash: Option<String>) -> Result<bool> {
    state.limits.password_attempt(&account)?;
    match password::verify(password.to_owned(), hash).await {
        Ok(true) => {
            if let Account::User(id) = account {
                state.limits.password_succeeded(id);
            }
            Ok(true)
        }
        Ok(false) => Ok(false),
        Err(e) => {
            state.limits.password_unchecked(&account);
            Err(e)
        }
    }
}

/// The user an access token belongs to, if the token is valid and its session is still live.
pub async fn authenticate(state: &AppState, access_token: &str) -> Result<(User, String)> {
    let invalid = || Error::Unauthorized(INVALID_CREDENTIALS.into());
    let claims = state.keys.verify_access(access_token).ok_or_else(invalid)?;
    let user = state.store.user_in_session(claims.user_id, &claims.session_id).await?.ok_or_else(invalid)?;
    Ok((user, claims.session_id))
}

/// Changes the user's profile (their full name: `None` clears it). The people they share a
/// room with, and their own devices, get `user_updated`.
pub async fn update_profile(state: &AppState, user: &User, full_name: Option<&str>) -> Result<User> {
    let full_name = validate::full_name(full_name)
        .map_err(|p| Error::validation(p.field("full_name", full_name.map_or(serde_json::Value::Null, Into::into))))?;
    if full_name == user.full_name {
        return Ok(user.clone());
    }
    state.limits.send(user.id)?;
    state.store.set_full_name(user.id, full_name.as_deref()).await?;
    let updated =
        state.store.user_by_id(user.id).await?.ok_or_else(|| Error::Unauthorized(INVALID_CREDENTIALS.into()))?;
    let mut peers = state.store.co_member_ids(user.id).await?;
    if !peers.contains(&user.id) {
        peers.push(user.id);
    }
    let public = chat::public(state, user.id, updated.username.clone(), updated.full_name.clone());
    state
        .broker
        .publish(Event::Users { user_ids: peers, frame: ServerFrame::UserUpdated { user: public, deleted: false } });
    Ok(updated)
}

#[derive(Debug, ToSchema)]
pub struct DeleteAccountRequest {
    /// The current password, to confirm.
    pub password: String,
}

/// Deletes the account after checking the password. Sessions and memberships go; messages stay
/// and show as sent by "Deleted User"; groups the user created pass to their longest-standing
/// member (or are deleted when empty).
pub async fn delete_account(state: &AppState, user: &User, password: &str) -> Result<()> {
    if !checked_password(state, user, password).await? {
        return Err(Error::BadRequest("Password is incorrect".into()));
    }
    // Who must hear of it: read before the memberships go.
    let peers = state.store.co_member_ids(user.id).await?;
    let groups = state.store.delete_user(user.id).await?;
    for (room_id, _) in &groups {
        state.broker.publish(Event::MemberRemoved { room_id: *room_id, user_id: user.id });
    }
    close_sockets(state, user.id, None);
    // "Left (account deleted)" where they were a member; a new owner where they were the owner.
    for notice in groups.iter().flat_map(|(_, left)| &left.notices) {
        chat::room_changed(state, notice).await;
    }
    let gone = UserPublic { id: user.id, username: store::DELETED_USER.into(), full_name: None, online: false };
    state
        .broker
        .publish(Event::Users { user_ids: peers, frame: ServerFrame::UserUpdated { user: gone, deleted: true } });
    // Their unsent uploads (and any group deleted with them) leave files nothing refers to.
    state.files.nudge();
    tracing::info!(user_id = user.id, "account deleted");
    Ok(())
}
