//! `/auth/*`: registration, login, token refresh, logout, password change, the current user.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{json::Json, Detail, MessageResponse, ValidationDetail};
use crate::{
    accounts::{self, ChangePasswordRequest, DeleteAccountRequest, RegisterRequest, TokenPair},
    auth::AuthUser,
    error::Result,
    state::AppState,
    store::User,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(change_password))
        .routes(routes!(me, delete_me))
}

/// The account as its owner sees it. Never carries the password hash.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserOut {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub is_active: bool,
    pub is_verified: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            full_name: u.full_name,
            is_active: u.is_active,
            is_verified: u.is_verified,
            created_at: u.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RegisterResponse {
    #[schema(example = "User registered successfully")]
    message: String,
    user: UserOut,
    tokens: TokenPair,
}

/// Create an account and log it in.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterRequest, responses(
    (status = 201, body = RegisterResponse),
    (status = 400, description = "Username or email already registered", body = Detail),
    (status = 422, description = "A field is missing or invalid", body = ValidationDetail),
))]
async fn register(
    State(state): State<AppState>,
    Json(req): Json<RegisterRequest>,
) -> Result<(StatusCode, Json<RegisterResponse>)> {
    let (user, tokens) = accounts::register(&state, req).await?;
    let body = RegisterResponse { message: "User registered successfully".into(), user: user.into(), tokens };
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Username or email, either case.
    #[schema(example = "john_doe")]
    username: String,
    #[schema(example = "securepass123")]
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    #[serde(flatten)]
    tokens: TokenPair,
    user: UserOut,
}

/// Log in with username (or email) and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = LoginResponse),
    (status = 401, description = "Incorrect username or password", body = Detail),
    (status = 422, body = ValidationDetail),
))]
async fn login(State(state): State<AppState>, Json(req): Json<LoginRequest>) -> Result<Json<LoginResponse>> {
    let (user, tokens) = accounts::login(&state, &req.username, &req.password).await?;
    Ok(Json(LoginResponse { tokens, user: user.into() }))
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Trade a refresh token for a new pair. The old refresh token stops working; presenting it
/// again ends the session.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = TokenPair),
    (status = 401, description = "Invalid, expired, revoked or reused refresh token", body = Detail),
))]
async fn refresh(State(state): State<AppState>, Json(req): Json<RefreshRequest>) -> Result<Json<TokenPair>> {
    Ok(Json(accounts::refresh(&state, &req.refresh_token).await?))
}

/// End this device's session: its refresh token and its access tokens stop working.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = MessageResponse),
))]
async fn logout(State(state): State<AppState>, Json(req): Json<RefreshRequest>) -> Result<Json<MessageResponse>> {
    accounts::logout(&state, &req.refresh_token).await?;
    Ok(MessageResponse::json("Successfully logged out"))
}

/// End every session of the caller, on every device.
#[utoipa::path(post, path = "/auth/logout-all", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = MessageResponse),
    (status = 401, body = Detail),
))]
async fn logout_all(State(state): State<AppState>, auth: AuthUser) -> Result<Json<MessageResponse>> {
    accounts::logout_all(&state, &auth.user).await?;
    Ok(MessageResponse::json("Successfully logged out from all devices"))
}

#[derive(Serialize, ToSchema)]
pub struct ChangePasswordResponse {
    #[schema(example = "Password changed successfully")]
    message: String,
    /// A new session for the caller: every other session has ended.
    tokens: TokenPair,
}

/// Change the password. Every session ends; the response carries a new one for this device.
#[utoipa::path(post, path = "/auth/change-password", tag = "auth", security(("bearer" = [])),
    request_body = ChangePasswordRequest, responses(
    (status = 200, body = ChangePasswordResponse),
    (status = 400, description = "Current password wrong, or new equals current", body = Detail),
    (status = 401, body = Detail),
    (status = 422, body = ValidationDetail),
))]
async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<ChangePasswordRequest>,
) -> Result<Json<ChangePasswordResponse>> {
    let tokens = accounts::change_password(&state, &auth.user, req).await?;
    Ok(Json(ChangePasswordResponse { message: "Password changed successfully".into(), tokens }))
}

/// The current user.
#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = [])), responses(
    (status = 200, body = UserOut),
    (status = 401, body = Detail),
))]
async fn me(auth: AuthUser) -> Json<UserOut> {
    Json(auth.user.into())
}

/// Delete your account (confirm with the password). Your messages stay, shown as sent by
/// "Deleted User"; groups you created pass to their longest-standing member.
#[utoipa::path(delete, path = "/auth/me", tag = "auth", security(("bearer" = [])), request_body = DeleteAccountRequest,
    responses(
    (status = 200, body = MessageResponse),
    (status = 400, description = "Wrong password", body = Detail),
    (status = 401, body = Detail),
))]
async fn delete_me(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(req): Json<DeleteAccountRequest>,
) -> Result<Json<MessageResponse>> {
    accounts::delete_account(&state, &auth.user, &req.password).await?;
    Ok(MessageResponse::json("Account deleted"))
}
