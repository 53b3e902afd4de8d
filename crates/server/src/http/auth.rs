//! `/auth/*`: registration, login, token refresh, logout, password change, the current user —
//! the seed's shapes and texts, plus account deletion.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::proxy::ClientAddr;
use super::{
    json::{checked, string, Fields, FromFields, Json},
    Detail, MessageResponse, ValidationDetail,
};
use crate::{
    accounts::{self, ChangePasswordRequest, DeleteAccountRequest, RegisterRequest, TokenPair},
    auth::AuthUser,
    error::Result,
    state::AppState,
    store::User,
    validate,
};

/// `AUTH_RATE_LIMIT`: requests per client address to the endpoints that check a password or
/// start a session (the rest of `/auth` is not limited beyond what the token allows).
async fn limit_account_requests(
    axum::extract::State(state): axum::extract::State<AppState>,
    client: Option<axum::Extension<ClientAddr>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::{http::Method, response::IntoResponse as _};
    let limited = matches!(
        (req.method(), req.uri().path()),
        (&Method::POST, "/auth/register" | "/auth/login" | "/auth/refresh" | "/auth/change-password")
            | (&Method::DELETE, "/auth/me")
    );
    if let (true, Some(axum::Extension(client))) = (limited, client) {
        if let Err(e) = state.limits.auth_request(&client) {
            tracing::info!(client = %client.ip, "account requests rate-limited");
            return e.into_response();
        }
    }
    next.run(req).await
}

pub fn router(state: AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(change_password))
        .routes(routes!(me, delete_me, update_me))
        .routes(routes!(registration))
        .route_layer(axum::middleware::from_fn(super::json::read_body))
        .route_layer(axum::middleware::from_fn_with_state(state, limit_account_requests))
        // No body: whatever is sent is ignored, as the seed ignores it.
        .routes(routes!(logout_all))
}

/// The account as its owner sees it, in the seed's key order. Never carries the password hash.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserOut {
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub id: i64,
    pub is_active: bool,
    pub is_verified: bool,
    /// UTC, without an offset (the seed's form).
    #[serde(with = "banter_protocol::time")]
    #[schema(value_type = String, example = "2026-11-30T16:34:18.951466")]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        Self {
            username: u.username,
            email: u.email,
            full_name: u.full_name,
            id: u.id,
            is_active: u.is_active,
            is_verified: u.is_verified,
            created_at: u.created_at,
        }
    }
}

impl FromFields for RegisterRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let username = f.required("username", checked(validate::username));
        // Checked for its problems only; `accounts` stores it normalised.
        let email = f.required("email", checked(validate::email));
        let password = f.required("password", checked(validate::password));
        let full_name = f.optional("full_name", |v| {
            let name = string(v)?;
            validate::full_name(Some(&name))?;
            Ok(name)
        });
        let invite_code = f.optional("invite_code", string);
        Some(Self {
            username: username?,
            email: email?,
            password: password?,
            full_name: full_name?,
            invite_code: invite_code?,
        })
    }
}

/// `{message, user, tokens}`: what both registration and login answer.
#[derive(Serialize, ToSchema)]
pub struct Welcome {
    #[schema(example = "Login successful")]
    message: &'static str,
    user: UserOut,
    tokens: TokenPair,
}

/// Create an account and log it in.
#[utoipa::path(post, path = "/auth/register", tag = "Authentication", request_body = RegisterRequest, responses(
    (status = 201, body = Welcome, description = "`message` is `User registered successfully`"),
    (status = 400, description = "`Username already taken` or `Email already registered`", body = Detail),
    (status = 403, description = "`Registration is closed` (`REGISTRATION=closed`), or `A valid invite code is required to register` (`REGISTRATION=invite`)", body = Detail),
    (status = 422, description = "A field is missing or invalid", body = ValidationDetail),
    (status = 503, description = "`Server busy, please retry`: too many password checks waiting", body = Detail),
))]
async fn register(
    State(state): State<AppState>,
    Json(req): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<Welcome>)> {
    let (user, tokens) = accounts::register(&state, req).await?;
    let body = Welcome { message: "User registered successfully", user: user.into(), tokens };
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(ToSchema)]
pub struct LoginRequest {
    /// Username or email.
    #[schema(example = "john_doe")]
    username: String,
    #[schema(example = "securepass123")]
    password: String,
}

impl FromFields for LoginRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let username = f.string("username");
        let password = f.string("password");
        Some(Self { username: username?, password: password? })
    }
}

/// Log in with username (or email) and password.
#[utoipa::path(post, path = "/auth/login", tag = "Authentication", request_body = LoginRequest, responses(
    (status = 200, body = Welcome, description = "`message` is `Login successful`"),
    (status = 401, description = "`Invalid username or password` (or `Account is inactive`)", body = Detail),
    (status = 422, body = ValidationDetail),
    (status = 503, description = "`Server busy, please retry`: too many password checks waiting", body = Detail),
))]
async fn login(State(state): State<AppState>, Json(req): Json<LoginRequest>) -> Result<Json<Welcome>> {
    let (user, tokens) = accounts::login(&state, &req.username, &req.password).await?;
    Ok(Json(Welcome { message: "Login successful", user: user.into(), tokens }))
}

#[derive(ToSchema)]
pub struct RefreshRequest {
    refresh_token: String,
}

impl FromFields for RefreshRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self { refresh_token: f.string("refresh_token")? })
    }
}

/// Trade a refresh token for a new pair. The old refresh token stops working (keep the new
/// one); presenting it again ends the session.
#[utoipa::path(post, path = "/auth/refresh", tag = "Authentication", request_body = RefreshRequest, responses(
    (status = 200, body = TokenPair),
    (status = 401, description = "`Invalid refresh token`, `Refresh token not found` (session ended) or \
        `Refresh token expired`", body = Detail),
    (status = 422, body = ValidationDetail),
))]
async fn refresh(State(state): State<AppState>, Json(req): Json<RefreshRequest>) -> Result<Json<TokenPair>> {
    Ok(Json(accounts::refresh(&state, &req.refresh_token).await?))
}

/// End this device's session: its refresh token and its access tokens stop working.
#[utoipa::path(post, path = "/auth/logout", tag = "Authentication", request_body = RefreshRequest, responses(
    (status = 200, body = MessageResponse, description = "`Logout successful`"),
    (status = 400, description = "`Invalid refresh token`: unknown, or its session already ended", body = Detail),
    (status = 422, body = ValidationDetail),
))]
async fn logout(State(state): State<AppState>, Json(req): Json<RefreshRequest>) -> Result<Json<MessageResponse>> {
    accounts::logout(&state, &req.refresh_token).await?;
    Ok(MessageResponse::json("Logout successful"))
}

#[derive(Serialize, ToSchema)]
pub struct LoggedOutAll {
    #[schema(example = "Logged out from all devices")]
    message: &'static str,
    /// How many sessions were still live.
    sessions_terminated: u64,
}

/// End every session of the caller, on every device, at once.
#[utoipa::path(post, path = "/auth/logout-all", tag = "Authentication", security(("HTTPBearer" = [])), responses(
    (status = 200, body = LoggedOutAll),
    (status = 401, body = Detail),
    (status = 403, description = "`Not authenticated`", body = Detail),
))]
async fn logout_all(State(state): State<AppState>, auth: AuthUser) -> Result<Json<LoggedOutAll>> {
    let ended = accounts::logout_all(&state, &auth.user).await?;
    Ok(Json(LoggedOutAll { message: "Logged out from all devices", sessions_terminated: ended }))
}

impl FromFields for ChangePasswordRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        // The seed's name is `old_password`; Banter's earlier `current_password` still works.
        let old = if f.has("old_password") || !f.has("current_password") {
            f.string("old_password")
        } else {
            f.string("current_password")
        };
        let new_password = f.required("new_password", checked(validate::password));
        Some(Self { old_password: old?, new_password: new_password? })
    }
}

#[derive(Serialize, ToSchema)]
pub struct ChangePasswordResponse {
    #[schema(example = "Password changed successfully. Please login again.")]
    message: &'static str,
    /// A new session for this device (Banter's addition): every other session has ended.
    tokens: TokenPair,
}

/// Change the password. Every session ends; the response carries a new one for this device.
#[utoipa::path(post, path = "/auth/change-password", tag = "Authentication", security(("HTTPBearer" = [])),
    request_body = ChangePasswordRequest, responses(
    (status = 200, body = ChangePasswordResponse),
    (status = 400, description = "`Current password is incorrect`", body = Detail),
    (status = 401, body = Detail),
    (status = 403, description = "`Not authenticated`", body = Detail),
    (status = 422, body = ValidationDetail),
    (status = 503, description = "`Server busy, please retry`: too many password checks waiting", body = Detail),
))]
async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<ChangePasswordRequest>,
) -> Result<Json<ChangePasswordResponse>> {
    let tokens = accounts::change_password(&state, &auth.user, req).await?;
    Ok(Json(ChangePasswordResponse { message: "Password changed successfully. Please login again.", tokens }))
}

/// The current user.
#[utoipa::path(get, path = "/auth/me", tag = "Authentication", security(("HTTPBearer" = [])), responses(
    (status = 200, body = UserOut),
    (status = 401, description = "`Invalid authentication credentials`", body = Detail),
    (status = 403, description = "`Not authenticated`", body = Detail),
))]
async fn me(auth: AuthUser) -> Json<UserOut> {
    Json(auth.user.into())
}

#[derive(ToSchema)]
pub struct UpdateProfile {
    /// Up to 100 characters, kept as given (`""` or `null`: no name).
    #[schema(max_length = 100)]
    full_name: Option<String>,
}

impl FromFields for UpdateProfile {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        // Required (an empty body changes nothing by mistake); `null` clears it.
        let full_name = f.required("full_name", |v| if v.is_null() { Ok(None) } else { string(v).map(Some) });
        Some(Self { full_name: full_name? })
    }
}

/// Change your profile (your full name). The people you share a room with, and your other
/// devices, get `user_updated`.
#[utoipa::path(patch, path = "/auth/me", tag = "Authentication", security(("HTTPBearer" = [])),
    request_body = UpdateProfile, responses(
    (status = 200, description = "You, as now", body = UserOut),
    (status = 401, body = Detail),
    (status = 403, body = Detail),
    (status = 422, body = ValidationDetail),
))]
async fn update_me(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<UpdateProfile>,
) -> Result<Json<UserOut>> {
    Ok(Json(accounts::update_profile(&state, &auth.user, req.full_name.as_deref()).await?.into()))
}

impl FromFields for DeleteAccountRequest {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Self { password: f.string("password")? })
    }
}

/// Delete your account (confirm with the password). Your messages stay, shown as sent by
/// "Deleted User"; groups you created pass to their longest-standing member.
#[utoipa::path(delete, path = "/auth/me", tag = "Authentication", security(("HTTPBearer" = [])),
    request_body = DeleteAccountRequest, responses(
    (status = 200, body = MessageResponse),
    (status = 400, description = "`Password is incorrect`", body = Detail),
    (status = 401, body = Detail),
    (status = 403, body = Detail),
    (status = 422, body = ValidationDetail),
    (status = 503, description = "`Server busy, please retry`: too many password checks waiting", body = Detail),
))]
async fn delete_me(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<DeleteAccountRequest>,
) -> Result<Json<MessageResponse>> {
    accounts::delete_account(&state, &auth.user, &req.password).await?;
    Ok(MessageResponse::json("Account deleted"))
}

#[derive(Serialize, ToSchema)]
pub struct RegistrationMode {
    /// `open` (anyone), `invite` (with an `invite_code`) or `closed` (accounts are made by an
    /// operator).
    mode: crate::config::Registration,
}

/// Who may create an account here (`REGISTRATION`), for clients to show the right form.
#[utoipa::path(get, path = "/auth/registration", tag = "Authentication",
    responses((status = 200, body = RegistrationMode)))]
async fn registration(State(state): State<AppState>) -> Json<RegistrationMode> {
    Json(RegistrationMode { mode: state.config.registration })
}
