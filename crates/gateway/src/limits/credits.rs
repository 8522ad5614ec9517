//! What the credit-dependent limits read from the ledger, cached so a
//! request costs no ledger query once the answer is known: whether an
//! account has bought enough credits for the higher daily free-model limit,
//! and the credits available on a key for the credit-based request rate.

// foldhash: these maps are looked up on every request, with keys
// from the operator's configuration or the gateway itself; SipHash
// cost some 6,600 instructions a request across them.
use foldhash::HashMap;
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
/// How long the credits on a key are trusted: a rate that lags a top-up or
/// a spend by a few seconds is harmless, a ledger query per request is not.
const CREDITS_TTL: Duration = Duration::from_secs(5);
/// Bound on cached accounts; the cache is cleared when it grows past it.
const MAX_ENTRIES: usize = 100_000;

/// Cache of `total_credits >= threshold` by account, and of the credits on
/// a key by account and key.
#[derive(Debug, Default)]
pub struct CreditTierCache {
    entries: RwLock<HashMap<String, (bool, Instant)>>,
    /// `(account, limited key)` → (credits, when read).
    credits: RwLock<HashMap<CreditsOf, (Decimal, Instant)>>,
}

/// Whose credits: the account, and the key when it has a spending limit.
type CreditsOf = (String, Option<String>);

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

    /// The credits (USD) available on a key of `account_id`: the account's
    /// balance (credits bought less usage settled; holds in flight are not
    /// subtracted, so concurrent requests do not lower their own rate), or,
    /// for a key with a spending limit (`limited_key`, its hash), what is
    /// left of that limit when less.
    pub async fn credits_on_key(
        &self,
        store: &Store,
        account_id: &str,
        limited_key: Option<&str>,
    ) -> Result<Decimal, tollgate_store::Error> {
        let id = (account_id.to_owned(), limited_key.map(str::to_owned));
        if let Some((credits, at)) = self
            .credits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            && at.elapsed() < CREDITS_TTL
        {
            return Ok(*credits);
        }
        let balance = store.balance(account_id).await?;
        let mut credits = balance.total_credits - balance.total_usage;
        if let Some(hash) = limited_key
            && let Some(remaining) = store
                .key_usage(hash, chrono::Utc::now())
                .await?
                .and_then(|u| u.limit_remaining)
        {
            credits = credits.min(remaining);
        }
        let mut map = self.credits.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(id, (credits, Instant::now()));
        Ok(credits)
    }

    /// Forgets an account (after a top-up), so a new purchase lifts its
    /// daily limit and its credit-based rate at once.
    pub fn forget(&self, account_id: &str) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(account_id);
        self.credits
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(account, _), _| account != account_id);
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
