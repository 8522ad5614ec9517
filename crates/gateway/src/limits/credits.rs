//! Whether an account has bought enough credits for the higher daily
//! free-model limit, cached so a free-model request costs no ledger query
//! once the answer is known.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use tollgate_store::Store;

/// How long a "yes" is trusted: credits bought stay bought (only an
/// operator's negative adjustment takes them back).
const YES_TTL: Duration = Duration::from_secs(600);
/// How long a "no" is trusted, unless [`CreditTierCache::forget`] is called
/// on a top-up.
const NO_TTL: Duration = Duration::from_secs(30);
/// Bound on cached accounts; the cache is cleared when it grows past it.
const MAX_ENTRIES: usize = 100_000;

/// Cache of `total_credits >= threshold` by account.
#[derive(Debug, Default)]
pub struct CreditTierCache {
    entries: RwLock<HashMap<String, (bool, Instant)>>,
}

impl CreditTierCache {
    /// Whether `account_id` has bought at least `threshold` USD (the
    /// ledger's `total_credits`: top-ups, refunds and adjustments).
    pub async fn has_bought(
        &self,
        store: &Store,
        account_id: &str,
        threshold: Decimal,
    ) -> Result<bool, tollgate_store::Error> {
        if let Some(answer) = self.get(account_id) {
            return Ok(answer);
        }
        let balance = store.balance(account_id).await?;
        let answer = balance.total_credits >= threshold;
        self.put(account_id, answer);
        Ok(answer)
    }

    /// Forgets an account (after a top-up), so a new purchase lifts its
    /// daily limit at once.
    pub fn forget(&self, account_id: &str) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(account_id);
    }

    fn get(&self, account_id: &str) -> Option<bool> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let (answer, at) = entries.get(account_id)?;
        let ttl = if *answer { YES_TTL } else { NO_TTL };
        (at.elapsed() < ttl).then_some(*answer)
    }

    fn put(&self, account_id: &str, answer: bool) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(account_id.to_owned(), (answer, Instant::now()));
    }
}
