//! Managing API keys: the settings `POST /api/v1/keys` creates a key with,
//! updating them, deleting keys, and listing an account's keys a page at a
//! time.
//!
//! # Deleting keeps the row
//!
//! Ledger entries, holds and generations reference a key's hash (the ledger
//! is append-only, and history must survive the key), so a deleted key is
//! not removed: [`Store::delete_api_key`] stamps `deleted_at` and disables
//! it. From then on the key is invisible to [`Store::get_api_key`],
//! [`Store::find_api_key`] and the listings, so it no longer authenticates
//! (the gateway's short key cache aside), and it cannot be updated,
//! re-enabled or re-imported. Its open holds still settle normally.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tollgate_billing::LimitReset;

use crate::keys::{ApiKeyRow, COLUMNS};
use crate::money::{Money, Sign, check_amount};
use crate::store::on_pool;
use crate::time::{Timestamp, now};
use crate::{ApiKey, KeyKind, Result, Store};

/// Settings a key is created with beyond its name and kind (all off by
/// default): see [`Store::create_api_key_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyOptions {
    /// The most the key may spend (USD) per period, or ever; `None` for no
    /// limit.
    pub limit: Option<Decimal>,
    /// When the limit starts again; `None` for never.
    pub limit_reset: Option<LimitReset>,
    /// Whether BYOK usage counts against the limit.
    pub include_byok_in_limit: bool,
    /// When the key stops authenticating; `None` for never. Stored at
    /// microsecond precision.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A change to a key's settings (`PATCH /api/v1/keys/{hash}`). `None`
/// leaves a setting as it is; for the nullable settings `Some(None)` clears
/// it (no limit, no reset period).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateKey {
    /// A new name.
    pub name: Option<String>,
    /// Disable or re-enable the key.
    pub disabled: Option<bool>,
    /// A new limit (`Some(None)`: remove the limit).
    pub limit: Option<Option<Decimal>>,
    /// A new reset period (`Some(None)`: never reset).
    pub limit_reset: Option<Option<LimitReset>>,
    /// Whether BYOK usage counts against the limit.
    pub include_byok_in_limit: Option<bool>,
}

/// Which of an account's keys [`Store::list_api_keys_page`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyListing {
    /// Only keys of this kind; `None` for every kind.
    pub kind: Option<KeyKind>,
    /// Whether disabled keys are listed too.
    pub include_disabled: bool,
    /// Keys to skip (in listing order: oldest first).
    pub offset: u64,
    /// The most keys to return.
    pub limit: u64,
}

impl Default for KeyListing {
    fn default() -> Self {
        KeyListing {
            kind: None,
            include_disabled: false,
            offset: 0,
            limit: 100,
        }
    }
}

/// A count as a bind parameter (counts past `i64::MAX` are clamped).
fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Applies `update` to the key with this hash if it belongs to
    /// `account_id` and is not deleted, stamps `updated_at`, and returns
    /// the key as stored; `None` when there is no such key (unknown,
    /// another account's, deleted). A limit must be ≥ 0 with at most 12
    /// decimals ([`crate::Error::InvalidAmount`]). One statement: concurrent
    /// updates apply one after the other, field by field.
    pub async fn update_api_key(
        &self,
        hash: &str,
        account_id: &str,
        update: &UpdateKey,
    ) -> Result<Option<ApiKey>> {
        let limit = match update.limit {
            Some(Some(l)) => Some(Some(check_amount(l, Sign::NonNegative)?)),
            other => other,
        };
        let updated_at = Timestamp(now());
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE api_keys SET \
                 label = CASE WHEN $1 THEN $2 ELSE label END, \
                 disabled = CASE WHEN $3 THEN $4 ELSE disabled END, \
                 credit_limit = CASE WHEN $5 THEN $6 ELSE credit_limit END, \
                 limit_reset = CASE WHEN $7 THEN $8 ELSE limit_reset END, \
                 include_byok_in_limit = CASE WHEN $9 THEN $10 ELSE include_byok_in_limit END, \
                 updated_at = $11 \
                 WHERE hash = $12 AND account_id = $13 AND deleted_at IS NULL",
            )
            .bind(update.name.is_some())
            .bind(update.name.as_deref().unwrap_or_default())
            .bind(update.disabled.is_some())
            .bind(update.disabled.unwrap_or_default())
            .bind(limit.is_some())
            .bind(limit.flatten().map(Money))
            .bind(update.limit_reset.is_some())
            .bind(update.limit_reset.flatten().map(LimitReset::as_str))
            .bind(update.include_byok_in_limit.is_some())
            .bind(update.include_byok_in_limit.unwrap_or_default())
            .bind(updated_at)
            .bind(hash)
            .bind(account_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        if done == 0 {
            return Ok(None);
        }
        // A delete landing in between makes this `None`, as it should.
        self.get_api_key(hash).await
    }

    /// Deletes the key with this hash if it belongs to `account_id` (see
    /// the module docs: the row stays, disabled and hidden). Returns whether
    /// a key was deleted; `false` for an unknown, another account's or an
    /// already deleted key.
    pub async fn delete_api_key(&self, hash: &str, account_id: &str) -> Result<bool> {
        let at = Timestamp(now());
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE api_keys SET deleted_at = $1, updated_at = $1, disabled = $2 \
                 WHERE hash = $3 AND account_id = $4 AND deleted_at IS NULL",
            )
            .bind(at)
            .bind(true)
            .bind(hash)
            .bind(account_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// A page of the account's keys, oldest first, deleted ones never,
    /// disabled ones if asked.
    pub async fn list_api_keys_page(
        &self,
        account_id: &str,
        listing: KeyListing,
    ) -> Result<Vec<ApiKey>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM api_keys \
             WHERE account_id = $1 AND deleted_at IS NULL \
             AND ($2 OR disabled = $3) AND ($4 IS NULL OR kind = $4) \
             ORDER BY created_at, hash LIMIT $5 OFFSET $6"
        );
        let kind = listing.kind.map(KeyKind::as_str);
        let rows = on_pool!(self, |pool| {
            sqlx::query_as::<_, ApiKeyRow>(&sql)
                .bind(account_id)
                .bind(listing.include_disabled)
                .bind(false)
                .bind(kind)
                .bind(as_i64(listing.limit))
                .bind(as_i64(listing.offset))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(ApiKey::try_from).collect()
    }
}
