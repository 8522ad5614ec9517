//! Per-key credit limits and what a key has spent.
//!
//! A key may carry a limit (USD) and a reset period (daily, weekly,
//! monthly; calendar periods in UTC, see [`LimitReset`]). What counts
//! against the limit is the key's settled charges and fees since the start
//! of the current period (since ever, without a period) plus its open holds,
//! so requests in flight cannot together overrun it. [`Store::place_hold`]
//! enforces it; [`Store::key_usage`] reports it.
//!
//! A key with `include_byok_in_limit` also counts its BYOK usage of the
//! period: the `upstream_inference_cost` of its BYOK generations (paid on
//! the user's own provider key, so never held: it counts once recorded).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tollgate_billing::{LimitReset, limit_remaining};

use crate::dialect::with_conn;
use crate::money::{Money, Sign, check_amount};
use crate::time::{Timestamp, now};
use crate::{Error, Result, Store};

/// A key's owner and limit, as the money paths read them.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyLimitRow {
    pub(crate) account_id: String,
    credit_limit: Option<Money>,
    limit_reset: Option<String>,
    include_byok_in_limit: bool,
}

impl KeyLimitRow {
    pub(crate) fn limit(&self) -> Option<Decimal> {
        self.credit_limit.map(|m| m.0)
    }

    /// Whether BYOK usage counts against the limit.
    pub(crate) fn includes_byok(&self) -> bool {
        self.include_byok_in_limit
    }

    pub(crate) fn reset(&self) -> Result<Option<LimitReset>> {
        parse_reset(self.limit_reset.as_deref())
    }
}

/// Reads a stored `limit_reset`.
pub(crate) fn parse_reset(stored: Option<&str>) -> Result<Option<LimitReset>> {
    stored
        .map(|s| {
            s.parse()
                .map_err(|e: tollgate_billing::Error| Error::Corrupt {
                    table: "api_keys",
                    column: "limit_reset",
                    reason: e.to_string(),
                })
        })
        .transpose()
}

/// What a key has spent, for `GET /key` and the key listings. USD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUsage {
    /// Settled charges and fees, ever.
    pub usage: Decimal,
    /// Since 00:00 UTC today.
    pub usage_daily: Decimal,
    /// Since Monday 00:00 UTC.
    pub usage_weekly: Decimal,
    /// Since the first of the month, 00:00 UTC.
    pub usage_monthly: Decimal,
    /// Open holds not past their expiry: requests in flight and credit
    /// leases.
    pub held: Decimal,
    /// BYOK usage, ever: what the key's BYOK generations were charged by
    /// the provider on the user's own key (their `upstream_inference_cost`),
    /// not through credits.
    pub byok_usage: Decimal,
    /// BYOK usage since 00:00 UTC today.
    pub byok_usage_daily: Decimal,
    /// BYOK usage since Monday 00:00 UTC.
    pub byok_usage_weekly: Decimal,
    /// BYOK usage since the first of the month, 00:00 UTC.
    pub byok_usage_monthly: Decimal,
    /// The key's limit, if any.
    pub limit: Option<Decimal>,
    /// When the limit resets, if it does.
    pub limit_reset: Option<LimitReset>,
    /// Whether BYOK usage counts against the limit.
    pub include_byok_in_limit: bool,
    /// The limit minus the usage of the current period (ever, without a
    /// reset; BYOK usage included when the key says so) minus the open
    /// holds, never below zero; `None` without a limit.
    pub limit_remaining: Option<Decimal>,
}

impl Store {
    /// Sets (or, with `None`, removes) the key's credit limit and its reset
    /// period and stamps `updated_at`. Returns whether the key exists.
    /// A limit must be ≥ 0 with at most 12 decimals.
    pub async fn set_api_key_limit(
        &self,
        hash: &str,
        limit: Option<Decimal>,
        reset: Option<LimitReset>,
    ) -> Result<bool> {
        let limit = limit
            .map(|l| check_amount(l, Sign::NonNegative))
            .transpose()?;
        let updated_at = Timestamp(now());
        let done = crate::store::on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE api_keys SET credit_limit = $1, limit_reset = $2, updated_at = $3 \
                 WHERE hash = $4 AND deleted_at IS NULL",
            )
            .bind(limit.map(Money))
            .bind(reset.map(LimitReset::as_str))
            .bind(updated_at)
            .bind(hash)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    /// What the key has spent as of `now`, or `None` for an unknown key.
    /// (Several statements, each consistent on its own: a settlement
    /// landing in between may show in one figure and not yet in another.)
    pub async fn key_usage(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<KeyUsage>> {
        with_conn!(self, |conn, d| {
            let Some(key) = d::key_limit(&mut conn, hash).await? else {
                return Ok(None);
            };
            let limit_reset = key.reset()?;
            let usage = d::key_spent(&mut conn, hash, None).await?;
            let since = |r: LimitReset| Some(r.period_start(now));
            let usage_daily = d::key_spent(&mut conn, hash, since(LimitReset::Daily)).await?;
            let usage_weekly = d::key_spent(&mut conn, hash, since(LimitReset::Weekly)).await?;
            let usage_monthly = d::key_spent(&mut conn, hash, since(LimitReset::Monthly)).await?;
            let held = d::key_held(&mut conn, hash, now).await?;
            let byok_usage = d::key_byok_spent(&mut conn, hash, None).await?;
            let byok_usage_daily =
                d::key_byok_spent(&mut conn, hash, since(LimitReset::Daily)).await?;
            let byok_usage_weekly =
                d::key_byok_spent(&mut conn, hash, since(LimitReset::Weekly)).await?;
            let byok_usage_monthly =
                d::key_byok_spent(&mut conn, hash, since(LimitReset::Monthly)).await?;
            let (period_usage, period_byok) = match limit_reset {
                None => (usage, byok_usage),
                Some(LimitReset::Daily) => (usage_daily, byok_usage_daily),
                Some(LimitReset::Weekly) => (usage_weekly, byok_usage_weekly),
                Some(LimitReset::Monthly) => (usage_monthly, byok_usage_monthly),
            };
            let include_byok_in_limit = key.includes_byok();
            let counted = if include_byok_in_limit {
                period_usage + period_byok
            } else {
                period_usage
            };
            let limit = key.limit();
            Ok(Some(KeyUsage {
                usage,
                usage_daily,
                usage_weekly,
                usage_monthly,
                held,
                byok_usage,
                byok_usage_daily,
                byok_usage_weekly,
                byok_usage_monthly,
                limit,
                limit_reset,
                include_byok_in_limit,
                limit_remaining: limit.map(|l| limit_remaining(l, counted + held)),
            }))
        })
    }
}
