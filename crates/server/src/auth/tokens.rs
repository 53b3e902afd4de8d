//! Access tokens (short-lived JWTs) and refresh tokens (random, stored only as a SHA-256).
//!
//! An access token names the session it belongs to (`sid`). Every authenticated request checks
//! that session is still live, so logout, logout-all and password changes end access tokens at
//! once instead of when they expire.

use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::config::SecretKey;

const ACCESS: &str = "access";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string (RFC 7519 says `sub` is a string).
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    /// Always `access`: a token of another type is refused.
    #[serde(rename = "type")]
    pub kind: String,
    /// The session (refresh-token family) this token was issued in.
    pub sid: String,
}

/// The verified content of an access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: i64,
    pub session_id: String,
}

#[derive(Clone)]
pub struct TokenKeys {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl TokenKeys {
    pub fn new(key: &SecretKey, algorithm: Algorithm, access_ttl: Duration, refresh_ttl: Duration) -> Self {
        // Only the configured algorithm is accepted: no `none`, no switching HS256 for HS512.
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            algorithm,
            encoding: EncodingKey::from_secret(key.expose()),
            decoding: DecodingKey::from_secret(key.expose()),
            validation,
            access_ttl,
            refresh_ttl,
        }
    }

    pub fn issue_access(&self, user_id: i64, session_id: &str) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            iat: now,
            exp: now + i64::try_from(self.access_ttl.as_secs()).unwrap_or(i64::MAX / 2),
            kind: ACCESS.into(),
            sid: session_id.into(),
        };
        Ok(jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.encoding)?)
    }

    /// Verifies signature, algorithm, expiry and type. `None` for anything invalid: callers
    /// answer every bad token the same way.
    pub fn verify_access(&self, token: &str) -> Option<AccessClaims> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        let claims = data.claims;
        (claims.kind == ACCESS).then_some(())?;
        Some(AccessClaims { user_id: claims.sub.parse().ok()?, session_id: claims.sid })
    }
}

/// A new refresh token: 256 random bits, URL-safe base64.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored for a refresh token. A plain SHA-256 suffices: the token is 256 random bits,
/// so there is nothing to brute-force, unlike a password.
pub fn refresh_token_hash(token: &str) -> String {
    sha2::Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn new_session_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(alg: Algorithm) -> TokenKeys {
        let key = SecretKey::new(vec![7; 32]).expect("key");
        TokenKeys::new(&key, alg, Duration::from_secs(60), Duration::from_secs(600))
    }

    #[test]
    fn round_trip() {
        let k = keys(Algorithm::HS256);
        let t = k.issue_access(42, "s1").expect("issue");
        assert_eq!(k.verify_access(&t), Some(AccessClaims { user_id: 42, session_id: "s1".into() }));
    }

    #[test]
    fn other_algorithms_are_refused() {
        let t = keys(Algorithm::HS512).issue_access(1, "s").expect("issue");
        assert_eq!(keys(Algorithm::HS256).verify_access(&t), None);
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, b) = (new_refresh_token(), new_refresh_token());
        assert_ne!(a, b);
        assert!(a.len() >= 43);
        assert_eq!(refresh_token_hash(&a).len(), 64);
        assert_ne!(refresh_token_hash(&a), a);
    }
}
