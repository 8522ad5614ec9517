//! Bring your own key: an account's own provider keys are tried first for
//! their provider (overview: "BYOK keys are automatically prioritized").
//! If the user's key fails with a retryable error (refused, rate limited,
//! provider down) and it is not marked `always_use`, the same endpoint is
//! tried once more with the shared key.
//!
//! An account's stored keys are read once per [`TTL`] into [`ByokCache`]
//! (the BYOK routes forget an account's entry when its keys change), so a
//! request costs no database read; they are decrypted per request, only
//! for the providers its plan may call.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tollgate_store::{ByokKey, ProviderKey};
use tollgate_transport::ProviderError;

use super::Target;
use crate::error::ApiError;
use crate::state::AppState;

/// How long an account's stored keys are trusted before they are read
/// again: a key stored or deleted through another replica counts within
/// this time (at once on this one).
pub const TTL: Duration = Duration::from_secs(10);
/// Bound on cached accounts; the cache is cleared when it grows past it.
const MAX_ENTRIES: usize = 100_000;

/// An account's stored (still encrypted) keys, and when they were read.
type Stored = (Arc<Vec<ByokKey>>, Instant);

/// Each account's stored keys, by account id.
#[derive(Debug, Default)]
pub struct ByokCache {
    entries: RwLock<HashMap<String, Stored>>,
}

impl ByokCache {
    /// The account's stored keys, from the cache or the store.
    async fn stored(
        &self,
        state: &AppState,
        account_id: &str,
    ) -> Result<Arc<Vec<ByokKey>>, ApiError> {
        if let Ok(entries) = self.entries.read()
            && let Some((keys, at)) = entries.get(account_id)
            && at.elapsed() < TTL
        {
            return Ok(keys.clone());
        }
        let keys = Arc::new(state.store.list_byok_keys(account_id).await?);
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(account_id.to_owned(), (keys.clone(), Instant::now()));
        }
        Ok(keys)
    }

    /// Forgets the account's keys (after one is stored or deleted here).
    pub fn forget(&self, account_id: &str) {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(account_id);
        }
    }
}

/// The account's usable own keys, by provider slug.
#[derive(Clone, Default)]
pub struct Keys(Arc<HashMap<String, UserKey>>);

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Keys {
    /// The keys of `account_id` for the providers `target` may call.
    pub async fn load(
        state: &AppState,
        account_id: &str,
        target: &Target,
    ) -> Result<Keys, ApiError> {
        let stored = state.byok.stored(state, account_id).await?;
        if stored.is_empty() {
            return Ok(Keys::default());
        }
        let mut keys = HashMap::new();
        for planned in &target.endpoints {
            let slug = &planned.endpoint.provider;
            if keys.contains_key(slug) {
                continue;
            }
            let Some(sealed) = stored.iter().find(|k| &k.provider == slug) else {
                continue;
            };
            if let Some(key) = open(state, sealed)? {
                keys.insert(slug.clone(), key);
            }
        }
        Ok(Keys(Arc::new(keys)))
    }

    /// Runs `op` with the user's key for `provider` (when there is one),
    /// falling back to the shared key (`None`) as the rules say. Returns the
    /// answer and whether the user's key served it.
    pub async fn call<T, F, Fut>(
        &self,
        provider: &str,
        mut op: F,
    ) -> Result<(T, bool), ProviderError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let Some(user) = self.0.get(provider) else {
            return op(None).await.map(|v| (v, false));
        };
        match op(Some(user.key.expose().to_string())).await {
            Ok(v) => Ok((v, true)),
            Err(e) if !user.always_use && e.is_retryable() => {
                tracing::info!(provider, error = %e, "the user's own key failed; trying the shared key");
                op(None).await.map(|v| (v, false))
            }
            Err(e) => Err(e.with_byok(true)),
        }
    }
}

/// A user's own key for one provider, as the pipeline needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserKey {
    /// The key, for `ChatCall::with_api_key(key.expose())`.
    pub(crate) key: ProviderKey,
    /// Never fall back to the shared key for this provider.
    pub(crate) always_use: bool,
}

/// The account's own key for `provider`, decrypted, or `None` when it has
/// none (then the shared key is used, as always).
///
/// A stored key that cannot be used (BYOK disabled since it was stored, or
/// it was encrypted under another `TOLLGATE_SECRET_KEY`) is logged and
/// skipped, so the shared key serves, unless it is marked `always_use`:
/// then this is a 403 naming the provider, rather than silently spending
/// the account's credits. A database failure is a 500.
#[cfg(test)]
pub(crate) async fn key_for(
    state: &AppState,
    account_id: &str,
    provider: &str,
) -> Result<Option<UserKey>, ApiError> {
    match state.store.byok_key(account_id, provider).await? {
        Some(stored) => open(state, &stored),
        None => Ok(None),
    }
}

/// Decrypts a stored key, with [`key_for`]'s rules for one that cannot be
/// used.
pub(crate) fn open(state: &AppState, stored: &ByokKey) -> Result<Option<UserKey>, ApiError> {
    let (account_id, provider) = (&stored.account_id, &stored.provider);
    let opened = match &state.server.byok_cipher {
        Some(cipher) => cipher
            .decrypt(account_id, provider, &stored.sealed)
            .map_err(|e| e.to_string()),
        None => Err(String::from(
            "BYOK is disabled (TOLLGATE_SECRET_KEY is not set)",
        )),
    };
    match opened {
        Ok(key) => Ok(Some(UserKey {
            key,
            always_use: stored.always_use,
        })),
        Err(reason) => {
            tracing::warn!(
                account = %account_id,
                %provider,
                always_use = stored.always_use,
                %reason,
                "stored BYOK key cannot be used"
            );
            if stored.always_use {
                Err(ApiError::Forbidden(format!(
                    "your key for provider `{provider}` cannot be used by this server \
                     and is marked always_use; store it again with PUT /api/v1/byok/{provider}"
                )))
            } else {
                Ok(None)
            }
        }
    }
}
