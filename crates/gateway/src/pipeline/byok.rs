//! Bring your own key: an account's own provider keys are tried first for
//! their provider (overview: "BYOK keys are automatically prioritized").
//! If the user's key fails with a retryable error (refused, rate limited,
//! provider down) and it is not marked `always_use`, the same endpoint is
//! tried once more with the shared key.
//!
//! The keys of a request's account are loaded once per request, and only
//! decrypted for providers the plan may call; accounts without BYOK keys
//! cost one indexed read.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use tollgate_transport::ProviderError;

use super::Target;
use crate::error::ApiError;
use crate::routes::byok::{UserKey, key_for};
use crate::state::AppState;

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
        let stored = state.store.list_byok_keys(account_id).await?;
        if stored.is_empty() {
            return Ok(Keys::default());
        }
        let mut keys = HashMap::new();
        for planned in &target.endpoints {
            let slug = &planned.endpoint.provider;
            if keys.contains_key(slug) || !stored.iter().any(|k| &k.provider == slug) {
                continue;
            }
            if let Some(key) = key_for(state, account_id, slug).await? {
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
