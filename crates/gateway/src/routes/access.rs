//! Who may call the management endpoints: any key of an account (`/key`,
//! `/credits`, `/generation`, `/activity`), provisioning keys only
//! (`/keys`), and the operator's admin key (`/admin/...`).
//!
//! Unlike [`crate::auth::authenticate`] (the inference path), these read the
//! key from the store on every call, without the key cache: management
//! calls are rare, and a key disabled, deleted or expired here must stop
//! working at once.

use std::fmt;

use axum::http::HeaderMap;
use chrono::Utc;
use tollgate_store::{ApiKey, KeyKind, Store, hash_api_key};

use crate::auth::bearer;
use crate::error::ApiError;

/// The environment variable holding the operator's admin key.
pub const ADMIN_KEY_ENV: &str = "TOLLGATE_ADMIN_KEY";

/// Authenticates a management request with any enabled, unexpired key of
/// an account, inference or provisioning.
pub async fn authenticate_any(store: &Store, headers: &HeaderMap) -> Result<ApiKey, ApiError> {
    let secret = bearer(headers)?;
    let key = store
        .find_api_key(secret)
        .await?
        .ok_or_else(|| ApiError::Unauthorized(String::from("Invalid API key")))?;
    crate::observe::span_key(&key.label);
    if key.disabled {
        return Err(ApiError::Unauthorized(format!(
            "API key `{}` is disabled",
            key.label
        )));
    }
    if key.is_expired(Utc::now()) {
        return Err(ApiError::Unauthorized(format!(
            "API key `{}` has expired",
            key.label
        )));
    }
    Ok(key)
}

/// [`authenticate_any`], then requires a provisioning (management) key.
pub async fn authenticate_provisioning(
    store: &Store,
    headers: &HeaderMap,
) -> Result<ApiKey, ApiError> {
    let key = authenticate_any(store, headers).await?;
    if key.kind != KeyKind::Provisioning {
        return Err(ApiError::Forbidden(String::from(
            "Only provisioning (management) keys can manage API keys and BYOK provider keys; this is an inference key",
        )));
    }
    Ok(key)
}

/// The operator's admin key, as its hash: `/api/v1/admin/...` answers
/// requests bearing it and no other. Built once, at start-up
/// ([`AdminAuth::from_env`]); without a key the admin API is disabled.
#[derive(Clone, Default)]
pub struct AdminAuth {
    /// SHA-256 hex of the admin key; `None`: disabled.
    hash: Option<String>,
    /// The key's runs, masked in provider errors.
    secrets: tollgate_transport::Secrets,
}

// By hand: not even the hash goes to a log.
impl fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminAuth")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

// `from_env` and `new` are called where the gateway is built (lib.rs,
// dev.rs), which layers the result on its router as an `Extension`.
impl AdminAuth {
    /// From [`ADMIN_KEY_ENV`] (surrounding whitespace trimmed); unset or
    /// empty disables the admin API. Call it once, when the gateway is
    /// built.
    pub fn from_env() -> AdminAuth {
        match std::env::var(ADMIN_KEY_ENV) {
            Ok(secret) => AdminAuth::new(&secret),
            Err(_) => AdminAuth::disabled(),
        }
    }

    /// For this admin key (an empty or blank one disables the admin API).
    pub fn new(secret: &str) -> AdminAuth {
        let secret = secret.trim();
        AdminAuth {
            hash: (!secret.is_empty()).then(|| hash_api_key(secret)),
            secrets: tollgate_transport::Secrets::new([secret]),
        }
    }

    /// The admin API disabled.
    pub fn disabled() -> AdminAuth {
        AdminAuth::default()
    }

    /// The admin key's runs, to mask wherever an upstream could echo them.
    pub fn secrets(&self) -> &tollgate_transport::Secrets {
        &self.secrets
    }

    /// Whether an admin key is configured.
    pub fn is_enabled(&self) -> bool {
        self.hash.is_some()
    }

    /// Admits a request bearing the admin key: 403 when the admin API is
    /// disabled, 401 for a missing or wrong key. The comparison is of
    /// hashes, in time independent of where they differ.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = &self.hash else {
            return Err(ApiError::Forbidden(format!(
                "admin API disabled: set {ADMIN_KEY_ENV}"
            )));
        };
        let presented = hash_api_key(bearer(headers)?);
        if constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            crate::observe::span_key("admin");
            Ok(())
        } else {
            Err(ApiError::Unauthorized(String::from("Invalid admin key")))
        }
    }
}

/// Equality of two byte strings whose running time depends only on their
/// lengths (here always 64), not on where they first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use axum::http::header::AUTHORIZATION;

    use super::*;

    fn bearing(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    #[test]
    fn admin_key_checks() {
        let admin = AdminAuth::new("  s3cret-admin\n");
        assert!(admin.is_enabled());
        assert!(admin.check(&bearing("s3cret-admin")).is_ok());
        for wrong in ["s3cret-admiN", "s3cret-admin2", "x"] {
            let err = admin.check(&bearing(wrong)).unwrap_err();
            assert_eq!(err.status(), 401, "{wrong}");
        }
        assert_eq!(admin.check(&HeaderMap::new()).unwrap_err().status(), 401);
        assert!(!format!("{admin:?}").contains(&hash_api_key("s3cret-admin")));

        for disabled in [
            AdminAuth::disabled(),
            AdminAuth::new(" "),
            AdminAuth::default(),
        ] {
            let err = disabled.check(&bearing("anything")).unwrap_err();
            assert_eq!(err.status(), 403);
            assert_eq!(
                err.to_string(),
                "admin API disabled: set TOLLGATE_ADMIN_KEY"
            );
        }
    }

    #[test]
    fn constant_time_eq_is_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
