//! Bearer-key authentication with a short-lived in-memory cache, so a
//! request costs no database round trip once its key has been seen.

// foldhash: these maps are looked up on every request, with keys
// from the operator's configuration or the gateway itself; SipHash
// cost some 6,600 instructions a request across them.
use foldhash::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use tollgate_store::{ApiKey, KeyKind, Store, hash_api_key};

use crate::error::ApiError;

/// How long a looked-up key is trusted before it is read again (so that a
/// key disabled elsewhere stops working within this time).
const TTL: Duration = Duration::from_secs(10);
/// Bound on cached keys; the cache is cleared when it grows past it.
const MAX_ENTRIES: usize = 100_000;

/// Cache of keys by hash.
#[derive(Debug, Default)]
pub struct KeyCache {
    entries: RwLock<HashMap<String, (ApiKey, Instant)>>,
}

impl KeyCache {
    fn get(&self, hash: &str) -> Option<ApiKey> {
        let entries = self.entries.read().ok()?;
        let (key, at) = entries.get(hash)?;
        (at.elapsed() < TTL).then(|| key.clone())
    }

    fn put(&self, key: ApiKey) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key.hash.clone(), (key, Instant::now()));
        }
    }

    /// Forgets a key (after it is disabled or deleted here).
    pub fn forget(&self, hash: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(hash);
        }
    }
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized(String::from(
            "No auth credentials found: send an `Authorization: Bearer <key>` header",
        ))
    })?;
    let value = value.to_str().map_err(|_| {
        ApiError::Unauthorized(String::from("Authorization header is not valid text"))
    })?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized(String::from("Authorization header must be `Bearer <key>`"))
        })?;
    Ok(token)
}

/// Authenticates an inference request: the key must exist and be enabled.
pub async fn authenticate(
    store: &Store,
    cache: &KeyCache,
    headers: &HeaderMap,
) -> Result<ApiKey, ApiError> {
    let secret = bearer(headers)?;
    let hash = hash_api_key(secret);
    let key = match cache.get(&hash) {
        Some(k) => k,
        None => {
            let key = store
                .get_api_key(&hash)
                .await?
                .ok_or_else(|| ApiError::Unauthorized(String::from("Invalid API key")))?;
            cache.put(key.clone());
            key
        }
    };
    crate::observe::span_key(&key.label);
    if key.disabled {
        return Err(ApiError::Unauthorized(format!(
            "API key `{}` is disabled",
            key.label
        )));
    }
    if key.is_expired(chrono::Utc::now()) {
        return Err(ApiError::Unauthorized(format!(
            "API key `{}` has expired",
            key.label
        )));
    }
    if key.kind == KeyKind::Provisioning {
        return Err(ApiError::Forbidden(String::from(
            "provisioning keys manage API keys and cannot call models; use an inference key",
        )));
    }
    Ok(key)
}
