//! Types of the account and management endpoints (WIRE-NOTES §3) and of
//! Tollgate's admin API, which have no home elsewhere in this crate.
//!
//! Every response type keeps the keys it does not know in `extra`, and
//! tolerates missing optional ones, so the client works against OpenRouter
//! as well as Tollgate. Money is [`Decimal`], read from JSON numbers or
//! decimal strings.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};

use crate::Extra;
use crate::decimal::{de_lenient, de_lenient_opt, ser_number, ser_number_opt, ser_string};

/// `{"data": T}`: the envelope of most answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Data<T> {
    /// The payload.
    pub data: T,
}

/// `GET /credits`: what the account bought and used, in USD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credits {
    /// Credits bought (top-ups, refunds, adjustments).
    #[serde(deserialize_with = "de_lenient", serialize_with = "ser_number")]
    pub total_credits: Decimal,
    /// Credits used.
    #[serde(deserialize_with = "de_lenient", serialize_with = "ser_number")]
    pub total_usage: Decimal,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Credits {
    /// What is left: credits minus usage.
    pub fn remaining(&self) -> Decimal {
        self.total_credits - self.total_usage
    }
}

/// USD spent by a key, per period (shared by [`CurrentKey`] and
/// [`KeyInfo`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct KeyUsage {
    /// All-time usage.
    #[serde(
        default,
        deserialize_with = "de_lenient",
        serialize_with = "ser_number"
    )]
    pub usage: Decimal,
    /// Today's (UTC).
    #[serde(
        default,
        deserialize_with = "de_lenient",
        serialize_with = "ser_number"
    )]
    pub usage_daily: Decimal,
    /// This week's.
    #[serde(
        default,
        deserialize_with = "de_lenient",
        serialize_with = "ser_number"
    )]
    pub usage_weekly: Decimal,
    /// This month's.
    #[serde(
        default,
        deserialize_with = "de_lenient",
        serialize_with = "ser_number"
    )]
    pub usage_monthly: Decimal,
    /// All-time usage with the user's own provider keys.
    #[serde(
        default,
        deserialize_with = "de_lenient",
        serialize_with = "ser_number"
    )]
    pub byok_usage: Decimal,
    /// Today's BYOK usage.
    #[serde(
        default,
        deserialize_with = "de_lenient",
        serialize_with = "ser_number"
    )]
    pub byok_usage_daily: Decimal,
    /// This week's BYOK usage.
    #[serde(
        default,
        deserialize_with = "de_lenient",
        serialize_with = "ser_number"
    )]
    pub byok_usage_weekly: Decimal,
    /// This month's BYOK usage.
    #[serde(
        default,
        deserialize_with = "de_lenient",
        serialize_with = "ser_number"
    )]
    pub byok_usage_monthly: Decimal,
}

/// `GET /key`: the calling key's limits and usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentKey {
    /// The key's label (a name, or a redacted form of the secret).
    #[serde(default)]
    pub label: String,
    /// Spending limit in USD; `None` is unlimited.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_number_opt"
    )]
    pub limit: Option<Decimal>,
    /// What is left of the limit.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_number_opt"
    )]
    pub limit_remaining: Option<Decimal>,
    /// `daily`, `weekly`, `monthly`, or `None` (never resets).
    #[serde(default)]
    pub limit_reset: Option<String>,
    /// Usage per period.
    #[serde(flatten)]
    pub usage: KeyUsage,
    /// Whether BYOK usage counts against the limit.
    #[serde(default)]
    pub include_byok_in_limit: bool,
    /// Whether the account never bought credits.
    #[serde(default)]
    pub is_free_tier: bool,
    /// Whether this is a management (provisioning) key.
    #[serde(default)]
    pub is_management_key: bool,
    /// Same as `is_management_key` (older name).
    #[serde(default)]
    pub is_provisioning_key: bool,
    /// When the key stops working (RFC 3339).
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Unknown keys (`rate_limit`, `creator_user_id`, ...), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One inference key, as `GET /keys` and friends describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// The key's id in `/keys/{hash}`.
    pub hash: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its display label.
    #[serde(default)]
    pub label: String,
    /// Whether it is disabled.
    #[serde(default)]
    pub disabled: bool,
    /// Spending limit in USD; `None` is unlimited.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_number_opt"
    )]
    pub limit: Option<Decimal>,
    /// What is left of the limit.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_number_opt"
    )]
    pub limit_remaining: Option<Decimal>,
    /// `daily`, `weekly`, `monthly`, or `None`.
    #[serde(default)]
    pub limit_reset: Option<String>,
    /// Whether BYOK usage counts against the limit.
    #[serde(default)]
    pub include_byok_in_limit: bool,
    /// Usage per period.
    #[serde(flatten)]
    pub usage: KeyUsage,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub created_at: String,
    /// When it was last changed.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// When it stops working.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Unknown keys (`workspace_id`, `creator_user_id`, ...), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST /keys` answer: the new key's info and its secret (shown once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedKey {
    /// The key's info.
    pub data: KeyInfo,
    /// The secret, `sk-...`: store it now, it is not shown again.
    pub key: String,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST /keys` body.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewKey {
    /// The key's name (required).
    pub name: String,
    /// Spending limit in USD.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_number_opt",
        deserialize_with = "de_lenient_opt"
    )]
    pub limit: Option<Decimal>,
    /// `daily`, `weekly` or `monthly`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_reset: Option<String>,
    /// Whether BYOK usage counts against the limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_byok_in_limit: Option<bool>,
    /// When the key stops working (RFC 3339, in the future).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Other fields, sent as they are.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `PATCH /keys/{hash}` body: `None` leaves a field as it is;
/// `Some(None)` clears `limit` / `limit_reset`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct KeyUpdate {
    /// A new name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Disable (or enable) the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// A new limit (`Some(None)`: no limit).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_limit")]
    pub limit: Option<Option<Decimal>>,
    /// A new reset period (`Some(None)`: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_reset: Option<Option<String>>,
    /// Whether BYOK usage counts against the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_byok_in_limit: Option<bool>,
    /// Other fields, sent as they are.
    #[serde(flatten)]
    pub extra: Extra,
}

fn ser_limit<S: Serializer>(v: &Option<Option<Decimal>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(Some(d)) => ser_number(d, s),
        _ => s.serialize_none(),
    }
}

/// `GET /keys` query.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ListKeys {
    /// Skip this many keys (pages are 100 long on Tollgate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Include disabled keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_disabled: Option<bool>,
}

/// `DELETE /keys/{hash}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deleted {
    /// Always true.
    pub deleted: bool,
}

/// `GET /generation?id=`: one generation's record. The most used fields
/// are typed; the rest (`provider_responses`, `router`, Tollgate's
/// `attempts`, ...) are in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// `gen-...`.
    pub id: String,
    /// The provider's id for it.
    #[serde(default)]
    pub upstream_id: Option<String>,
    /// What it cost, USD.
    #[serde(
        default,
        deserialize_with = "de_lenient",
        serialize_with = "ser_number"
    )]
    pub total_cost: Decimal,
    /// What the provider charged, when known.
    #[serde(
        default,
        deserialize_with = "de_lenient_opt",
        serialize_with = "ser_number_opt"
    )]
    pub upstream_inference_cost: Option<Decimal>,
    /// When it was made (RFC 3339).
    #[serde(default)]
    pub created_at: String,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// Whether it was streamed.
    #[serde(default)]
    pub streamed: Option<bool>,
    /// Whether the client went away before the end.
    #[serde(default)]
    pub cancelled: Option<bool>,
    /// The provider that answered.
    #[serde(default)]
    pub provider_name: Option<String>,
    /// Time to first token, ms.
    #[serde(default)]
    pub latency: Option<f64>,
    /// Total generation time, ms.
    #[serde(default)]
    pub generation_time: Option<f64>,
    /// Normalised finish reason.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// The provider's finish reason.
    #[serde(default)]
    pub native_finish_reason: Option<String>,
    /// Prompt tokens (normalised).
    #[serde(default)]
    pub tokens_prompt: Option<u64>,
    /// Completion tokens (normalised).
    #[serde(default)]
    pub tokens_completion: Option<u64>,
    /// Prompt tokens, by the provider's tokenizer.
    #[serde(default)]
    pub native_tokens_prompt: Option<u64>,
    /// Completion tokens, by the provider's tokenizer.
    #[serde(default)]
    pub native_tokens_completion: Option<u64>,
    /// Reasoning tokens.
    #[serde(default)]
    pub native_tokens_reasoning: Option<u64>,
    /// Cached prompt tokens.
    #[serde(default)]
    pub native_tokens_cached: Option<u64>,
    /// Whether the user's own provider key was used.
    #[serde(default)]
    pub is_byok: Option<bool>,
    /// `completions`, `embeddings`, ...
    #[serde(default)]
    pub api_type: Option<String>,
    /// Unknown and less used keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One line of `GET /activity`: one day, model and provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityRow {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// The model.
    #[serde(default)]
    pub model: String,
    /// The model's permanent slug.
    #[serde(default)]
    pub model_permaslug: Option<String>,
    /// The endpoint.
    #[serde(default)]
    pub endpoint_id: Option<String>,
    /// The provider.
    #[serde(default)]
    pub provider_name: Option<String>,
    /// USD spent.
    #[serde(
        default,
        deserialize_with = "de_lenient",
        serialize_with = "ser_number"
    )]
    pub usage: Decimal,
    /// USD of BYOK inference.
    #[serde(
        default,
        deserialize_with = "de_lenient",
        serialize_with = "ser_number"
    )]
    pub byok_usage_inference: Decimal,
    /// Requests.
    #[serde(default)]
    pub requests: u64,
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Completion tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Reasoning tokens.
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `GET /activity` query.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ActivityQuery {
    /// One day, `YYYY-MM-DD`; default: the last 30 completed UTC days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Only this key's activity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_hash: Option<String>,
}

/// `POST /auth/keys` body: the PKCE code exchange.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct AuthKeysRequest {
    /// The code from the callback URL.
    pub code: String,
    /// The PKCE verifier whose challenge started the flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<String>,
    /// `S256` or `plain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_challenge_method: Option<String>,
}

/// `POST /auth/keys` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthKeysResponse {
    /// The new API key.
    pub key: String,
    /// The user (on Tollgate, the account) it belongs to.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An account of Tollgate's admin API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// `acct_...`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub created_at: String,
    /// Its balance (`GET /admin/accounts/{id}` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Balance>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST /admin/accounts` answer: the account and its first keys (shown
/// once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedAccount {
    /// The account.
    pub data: Account,
    /// Its provisioning key (manages its inference keys).
    pub provisioning_key: String,
    /// Its first inference key.
    pub api_key: String,
}

/// An account's balance in the admin API (exact decimal strings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Balance {
    /// Credits bought.
    #[serde(deserialize_with = "de_lenient", serialize_with = "ser_string")]
    pub total_credits: Decimal,
    /// Credits used.
    #[serde(deserialize_with = "de_lenient", serialize_with = "ser_string")]
    pub total_usage: Decimal,
    /// Held for requests in flight.
    #[serde(
        default,
        deserialize_with = "de_lenient",
        serialize_with = "ser_string"
    )]
    pub held: Decimal,
    /// What can be spent now.
    #[serde(
        default,
        deserialize_with = "de_lenient",
        serialize_with = "ser_string"
    )]
    pub available: Decimal,
}

/// One ledger entry of the admin API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Its id.
    pub id: serde_json::Value,
    /// `top_up`, `charge`, ...
    pub kind: String,
    /// USD.
    #[serde(deserialize_with = "de_lenient", serialize_with = "ser_string")]
    pub amount: Decimal,
    /// A note.
    #[serde(default)]
    pub note: Option<String>,
    /// When (RFC 3339).
    #[serde(default)]
    pub created_at: String,
}

/// `POST /admin/accounts/{id}/credits` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopUp {
    /// The ledger entry of the top-up.
    pub entry: LedgerEntry,
    /// The balance after it.
    pub balance: Balance,
}
