//! Generations: one record per completion or embedding the gateway served
//! (or failed to), for `GET /generation`, `GET /activity`, per-key BYOK
//! usage and the monthly BYOK request count.
//!
//! A [`GenerationRecord`] maps one to one onto the `data` of
//! `GET /api/v1/generation` (WIRE-NOTES §3); fields the wire has and
//! Tollgate does not track (`app_id`, media counts,
//! ...) are answered as `null` by the route, not stored here.
//! Tollgate does not track (`app_id`, `moderation_latency`, completion
//! media counts, ...) are answered as `null` by the route, not stored here.
//!
//! Records are written once ([`Store::record_generation`] is idempotent on
//! the id, the first write wins) and never changed: the gateway writes them
//! after the response has started, so recording never delays a first byte.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{ColumnIndex, Decode, FromRow, Type};
use tollgate_billing::LimitReset;

use crate::dialect::transaction;
use crate::money::{Money, ReadSum, Sign, check_amount};
use crate::store::on_pool;
use crate::time::Timestamp;
use crate::totals::TotalsDelta;
use crate::{Backend, Error, Result, Store};

/// The columns of `generations`, in [`GenerationRow`] order.
pub(crate) const COLUMNS: &str = "id, account_id, api_key_hash, model, provider, provider_name, \
     upstream_id, created_at, streamed, cancelled, finish_reason, native_finish_reason, \
     tokens_prompt, tokens_completion, native_tokens_prompt, native_tokens_completion, \
     native_tokens_reasoning, native_tokens_cached, native_tokens_cache_write, total_cost, \
     upstream_inference_cost, is_byok, latency_ms, generation_time_ms, attempts, transforms, \
     request_id, api_type, origin, app_title, external_user, user_agent, error, \
     num_search_results, web_search_engine, router, moderation_latency_ms, \
     cache_discount, num_media_prompt, session_id";

/// Which API a generation came through (`api_type` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiType {
    /// Chat and legacy text completions.
    Completions,
    /// Embeddings.
    Embeddings,
    /// The Anthropic Messages API (`/messages`).
    Messages,
    /// The OpenAI Responses API (`/responses`).
    Responses,
}

impl ApiType {
    /// The stored and wire form: `completions`, `embeddings`, `messages`
    /// or `responses`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiType::Completions => "completions",
            ApiType::Embeddings => "embeddings",
            ApiType::Messages => "messages",
            ApiType::Responses => "responses",
        }
    }
}

impl fmt::Display for ApiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApiType {
    type Err = Error;

    fn from_str(s: &str) -> Result<ApiType> {
        match s {
            "completions" => Ok(ApiType::Completions),
            "embeddings" => Ok(ApiType::Embeddings),
            "messages" => Ok(ApiType::Messages),
            "responses" => Ok(ApiType::Responses),
            other => Err(Error::Corrupt {
                table: "generations",
                column: "api_type",
                reason: format!("unknown api type `{other}`"),
            }),
        }
    }
}

/// One provider tried for a generation, in order (stored as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerationAttempt {
    /// The provider's slug.
    pub provider: String,
    /// `ok`, or what went wrong: an HTTP status, `connect`, `timeout`, ...
    pub outcome: String,
}

/// A generation as recorded: what `GET /api/v1/generation` answers.
/// Amounts in USD, durations in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationRecord {
    /// `gen-...`: the response's `id` and `X-Generation-Id`.
    pub id: String,
    /// The account that paid.
    pub account_id: String,
    /// The key the request came with.
    pub api_key_hash: String,
    /// The model id the client asked for (client-facing, e.g.
    /// `openai/gpt-4o`).
    pub model: String,
    /// The slug of the provider that served it (the last one tried when
    /// all failed).
    pub provider: String,
    /// That provider's display name (`provider_name`).
    pub provider_name: String,
    /// The provider's own id for the response.
    pub upstream_id: Option<String>,
    /// When the request arrived (stored at microsecond precision).
    pub created_at: DateTime<Utc>,
    /// Whether the answer was streamed.
    pub streamed: bool,
    /// Whether the client went away before the end.
    pub cancelled: bool,
    /// The normalized finish reason (`stop`, `length`, ...).
    pub finish_reason: Option<String>,
    /// The provider's own finish reason.
    pub native_finish_reason: Option<String>,
    /// Prompt tokens as reported to the client (`usage.prompt_tokens`).
    pub tokens_prompt: u64,
    /// Completion tokens as reported to the client.
    pub tokens_completion: u64,
    /// Prompt tokens as the provider counted them.
    pub native_tokens_prompt: Option<u64>,
    /// Completion tokens as the provider counted them (reasoning included).
    pub native_tokens_completion: Option<u64>,
    /// Of the completion tokens, how many were reasoning.
    pub native_tokens_reasoning: Option<u64>,
    /// Of the prompt tokens, how many were read from the provider's cache.
    pub native_tokens_cached: Option<u64>,
    /// Of the prompt tokens, how many were written to the provider's cache.
    pub native_tokens_cache_write: Option<u64>,
    /// What the account was charged for it: the settled charge plus any
    /// fee (`total_cost` and `usage`); for a BYOK generation, the fee.
    pub total_cost: Decimal,
    /// What the provider charged for the inference at its prices; for a
    /// BYOK generation, what the user's own key was charged (this is what
    /// `byok_usage` sums).
    pub upstream_inference_cost: Option<Decimal>,
    /// Whether the user's own provider key paid.
    pub is_byok: bool,
    /// Time to the first token (streamed) or the whole answer.
    pub latency_ms: Option<u64>,
    /// Time the provider spent generating.
    pub generation_time_ms: Option<u64>,
    /// Every provider tried, in order.
    pub attempts: Vec<GenerationAttempt>,
    /// What the transforms (middle-out) did, as the gateway describes it.
    pub transforms: Option<serde_json::Value>,
    /// The request id of the gateway's log.
    pub request_id: Option<String>,
    /// Which API.
    pub api_type: ApiType,
    /// The app's `HTTP-Referer`.
    pub origin: Option<String>,
    /// The app's `X-OpenRouter-Title` (or `X-Title`).
    pub app_title: Option<String>,
    /// The request's `user`.
    pub external_user: Option<String>,
    /// The request's `User-Agent`.
    pub user_agent: Option<String>,
    /// Why the generation failed, if it did.
    pub error: Option<String>,
    /// Web-search results added to the generation, when a search ran.
    pub num_search_results: Option<u64>,
    /// The search engine used (`exa`, `searxng`), when a search ran.
    pub web_search_engine: Option<String>,
    /// The router that chose the model (`openrouter/auto`,
    /// `openrouter/free`), if one did.
    pub router: Option<String>,
    /// How long the moderation backend took to check the input
    /// (`moderation_latency`), when it was asked.
    pub moderation_latency_ms: Option<u64>,
    /// What prompt caching saved against the plain prompt price, USD
    /// (negative when cache writes cost more); `None` when the prompt
    /// used no cache.
    pub cache_discount: Option<Decimal>,
    /// Media items (images, files, audio, video) in the prompt.
    pub num_media_prompt: Option<u64>,
    /// The request's `session_id` (or `x-session-id` header).
    pub session_id: Option<String>,
}

/// One line of `GET /activity`: an account's generations of one UTC day,
/// one model and one provider, summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRow {
    /// The UTC day.
    pub date: NaiveDate,
    /// The client-facing model id.
    pub model: String,
    /// The provider's slug.
    pub provider: String,
    /// The provider's display name (the greatest seen that day, should it
    /// have changed).
    pub provider_name: String,
    /// What was charged (sum of `total_cost`), USD.
    pub usage: Decimal,
    /// What BYOK generations were charged on the users' own keys (sum of
    /// their `upstream_inference_cost`), USD.
    pub byok_usage_inference: Decimal,
    /// How many generations (failed ones included).
    pub requests: u64,
    /// Sum of `tokens_prompt`.
    pub prompt_tokens: u64,
    /// Sum of `tokens_completion`.
    pub completion_tokens: u64,
    /// Sum of `native_tokens_reasoning`.
    pub reasoning_tokens: u64,
}

/// A count as stored (counts past `i64::MAX` are clamped: no real token
/// count gets there).
pub(crate) fn count_in(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored count (the schema keeps them ≥ 0).
fn count_out(n: i64, column: &'static str) -> Result<u64> {
    u64::try_from(n).map_err(|_| Error::Corrupt {
        table: "generations",
        column,
        reason: format!("negative count {n}"),
    })
}

fn count_out_opt(n: Option<i64>, column: &'static str) -> Result<Option<u64>> {
    n.map(|n| count_out(n, column)).transpose()
}

fn corrupt_json(column: &'static str, e: &serde_json::Error) -> Error {
    Error::Corrupt {
        table: "generations",
        column,
        reason: e.to_string(),
    }
}

/// A row of `generations` as the database returns it.
#[derive(sqlx::FromRow)]
struct GenerationRow {
    id: String,
    account_id: String,
    api_key_hash: String,
    model: String,
    provider: String,
    provider_name: String,
    upstream_id: Option<String>,
    created_at: DateTime<Utc>,
    streamed: bool,
    cancelled: bool,
    finish_reason: Option<String>,
    native_finish_reason: Option<String>,
    tokens_prompt: i64,
    tokens_completion: i64,
    native_tokens_prompt: Option<i64>,
    native_tokens_completion: Option<i64>,
    native_tokens_reasoning: Option<i64>,
    native_tokens_cached: Option<i64>,
    native_tokens_cache_write: Option<i64>,
    total_cost: Money,
    upstream_inference_cost: Option<Money>,
    is_byok: bool,
    latency_ms: Option<i64>,
    generation_time_ms: Option<i64>,
    attempts: String,
    transforms: Option<String>,
    request_id: Option<String>,
    api_type: String,
    origin: Option<String>,
    app_title: Option<String>,
    external_user: Option<String>,
    user_agent: Option<String>,
    error: Option<String>,
    num_search_results: Option<i64>,
    web_search_engine: Option<String>,
    router: Option<String>,
    moderation_latency_ms: Option<i64>,
    cache_discount: Option<Money>,
    num_media_prompt: Option<i64>,
    session_id: Option<String>,
}

impl TryFrom<GenerationRow> for GenerationRecord {
    type Error = Error;

    fn try_from(r: GenerationRow) -> Result<GenerationRecord> {
        Ok(GenerationRecord {
            tokens_prompt: count_out(r.tokens_prompt, "tokens_prompt")?,
            tokens_completion: count_out(r.tokens_completion, "tokens_completion")?,
            native_tokens_prompt: count_out_opt(r.native_tokens_prompt, "native_tokens_prompt")?,
            native_tokens_completion: count_out_opt(
                r.native_tokens_completion,
                "native_tokens_completion",
            )?,
            native_tokens_reasoning: count_out_opt(
                r.native_tokens_reasoning,
                "native_tokens_reasoning",
            )?,
            native_tokens_cached: count_out_opt(r.native_tokens_cached, "native_tokens_cached")?,
            native_tokens_cache_write: count_out_opt(
                r.native_tokens_cache_write,
                "native_tokens_cache_write",
            )?,
            num_search_results: count_out_opt(r.num_search_results, "num_search_results")?,
            web_search_engine: r.web_search_engine,
            latency_ms: count_out_opt(r.latency_ms, "latency_ms")?,
            num_media_prompt: count_out_opt(r.num_media_prompt, "num_media_prompt")?,
            cache_discount: r.cache_discount.map(|m| m.0),
            session_id: r.session_id,
            generation_time_ms: count_out_opt(r.generation_time_ms, "generation_time_ms")?,
            moderation_latency_ms: count_out_opt(r.moderation_latency_ms, "moderation_latency_ms")?,
            attempts: serde_json::from_str(&r.attempts)
                .map_err(|e| corrupt_json("attempts", &e))?,
            transforms: r
                .transforms
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| corrupt_json("transforms", &e))?,
            api_type: r.api_type.parse()?,
            total_cost: r.total_cost.0,
            upstream_inference_cost: r.upstream_inference_cost.map(|m| m.0),
            id: r.id,
            account_id: r.account_id,
            api_key_hash: r.api_key_hash,
            model: r.model,
            provider: r.provider,
            provider_name: r.provider_name,
            upstream_id: r.upstream_id,
            created_at: r.created_at,
            streamed: r.streamed,
            cancelled: r.cancelled,
            finish_reason: r.finish_reason,
            native_finish_reason: r.native_finish_reason,
            is_byok: r.is_byok,
            request_id: r.request_id,
            origin: r.origin,
            app_title: r.app_title,
            external_user: r.external_user,
            user_agent: r.user_agent,
            error: r.error,
            router: r.router,
        })
    }
}

/// An [`ActivityRow`] as the database returns it (the money sums in the
/// backend's `SUM` form, read with [`ReadSum`]).
struct ActivityRaw {
    day: String,
    model: String,
    provider: String,
    provider_name: String,
    usage: Decimal,
    byok: Decimal,
    requests: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    reasoning_tokens: i64,
}

impl<'r, R> FromRow<'r, R> for ActivityRaw
where
    R: ReadSum,
    for<'a> &'a str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(ActivityRaw {
            day: row.try_get("day")?,
            model: row.try_get("model")?,
            provider: row.try_get("provider")?,
            provider_name: row.try_get("provider_name")?,
            usage: row.read_sum_of("usage_")?,
            byok: row.read_sum_of("byok_")?,
            requests: row.try_get("requests")?,
            prompt_tokens: row.try_get("prompt_tokens")?,
            completion_tokens: row.try_get("completion_tokens")?,
            reasoning_tokens: row.try_get("reasoning_tokens")?,
        })
    }
}

impl TryFrom<ActivityRaw> for ActivityRow {
    type Error = Error;

    fn try_from(r: ActivityRaw) -> Result<ActivityRow> {
        Ok(ActivityRow {
            date: NaiveDate::parse_from_str(&r.day, "%Y-%m-%d").map_err(|e| Error::Corrupt {
                table: "generations",
                column: "created_at",
                reason: format!("day `{}`: {e}", r.day),
            })?,
            model: r.model,
            provider: r.provider,
            provider_name: r.provider_name,
            usage: r.usage,
            byok_usage_inference: r.byok,
            requests: count_out(r.requests, "id")?,
            prompt_tokens: count_out(r.prompt_tokens, "tokens_prompt")?,
            completion_tokens: count_out(r.completion_tokens, "tokens_completion")?,
            reasoning_tokens: count_out(r.reasoning_tokens, "native_tokens_reasoning")?,
        })
    }
}

/// The activity query, in the backend's dialect: the UTC day of a
/// timestamp, and exact sums.
fn activity_sql(backend: Backend, by_key: bool) -> String {
    const BYOK: &str = "CASE WHEN is_byok THEN COALESCE(upstream_inference_cost, 0) ELSE 0 END";
    let (day, sums) = match backend {
        Backend::Sqlite => {
            let money = |expr: &str, p: &str| {
                format!(
                    "COALESCE(SUM(({expr}) / 1000000), 0) AS {p}hi, \
                     COALESCE(SUM(({expr}) % 1000000), 0) AS {p}lo"
                )
            };
            (
                // RFC 3339 text in UTC: the date is its first ten characters.
                "substr(created_at, 1, 10)",
                format!(
                    "{}, {}, COUNT(*) AS requests, \
                     COALESCE(SUM(tokens_prompt), 0) AS prompt_tokens, \
                     COALESCE(SUM(tokens_completion), 0) AS completion_tokens, \
                     COALESCE(SUM(native_tokens_reasoning), 0) AS reasoning_tokens",
                    money("total_cost", "usage_"),
                    money(BYOK, "byok_"),
                ),
            )
        }
        Backend::Postgres => (
            "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            // SUM(BIGINT) is NUMERIC on PostgreSQL.
            format!(
                "COALESCE(SUM(total_cost), 0) AS usage_hi, \
                 COALESCE(SUM({BYOK}), 0) AS byok_hi, COUNT(*) AS requests, \
                 CAST(COALESCE(SUM(tokens_prompt), 0) AS BIGINT) AS prompt_tokens, \
                 CAST(COALESCE(SUM(tokens_completion), 0) AS BIGINT) AS completion_tokens, \
                 CAST(COALESCE(SUM(native_tokens_reasoning), 0) AS BIGINT) AS reasoning_tokens"
            ),
        ),
    };
    let key = if by_key { " AND api_key_hash = $4" } else { "" };
    format!(
        "SELECT {day} AS day, model, provider, MAX(provider_name) AS provider_name, {sums} \
         FROM generations \
         WHERE account_id = $1 AND created_at >= $2 AND created_at < $3{key} \
         GROUP BY {day}, model, provider \
         ORDER BY day, model, provider"
    )
}

/// [`Store::byok_requests_in_month`]'s query (`$1` the account, `$2` and
/// `$3` the month's bounds). `is_byok` stands bare, not compared with a
/// bound value, so both databases see that the partial index
/// `generations_byok_by_account` (BYOK generations only) covers it.
pub(crate) const BYOK_REQUESTS_IN_MONTH: &str = "SELECT COUNT(*) FROM generations \
     WHERE account_id = $1 AND is_byok AND error IS NULL AND created_at >= $2 AND created_at < $3";

/// A generation's `INSERT` (idempotent on its id), written once.
static INSERT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO generations ({COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, \
         $34, $35, $36, $37, $38, $39, $40) \
         ON CONFLICT (id) DO NOTHING"
    )
});

/// The `INSERT` of one generation (see [`INSERT_SQL`]).
pub(crate) fn insert_sql() -> &'static str {
    &INSERT_SQL
}

/// A generation record checked and serialized for its `INSERT`, which is
/// written once ([`bind_generation!`]) and run on a pool or inside a
/// transaction of either backend.
pub(crate) struct GenerationInsert<'g> {
    pub(crate) g: &'g GenerationRecord,
    pub(crate) total_cost: Decimal,
    pub(crate) upstream_cost: Option<Decimal>,
    pub(crate) cache_discount: Option<Decimal>,
    pub(crate) attempts: String,
    pub(crate) transforms: Option<String>,
    pub(crate) created_at: Timestamp,
}

impl<'g> GenerationInsert<'g> {
    /// Checks the record's amounts (≥ 0, at most 12 decimals) and
    /// serializes its JSON columns.
    pub(crate) fn of(g: &'g GenerationRecord) -> Result<GenerationInsert<'g>> {
        let total_cost = check_amount(g.total_cost, Sign::NonNegative)?;
        let upstream_cost = g
            .upstream_inference_cost
            .map(|c| check_amount(c, Sign::NonNegative))
            .transpose()?;
        let cache_discount = g
            .cache_discount
            .map(|c| check_amount(c, Sign::Any))
            .transpose()?;
        let attempts =
            serde_json::to_string(&g.attempts).map_err(|e| corrupt_json("attempts", &e))?;
        let transforms = g
            .transforms
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| corrupt_json("transforms", &e))?;
        Ok(GenerationInsert {
            g,
            total_cost,
            upstream_cost,
            cache_discount,
            attempts,
            transforms,
            created_at: Timestamp(g.created_at.trunc_subsecs(6)),
        })
    }
}

impl GenerationInsert<'_> {
    /// What the generation adds to its key's BYOK spending (see
    /// `crate::totals`), if it is a BYOK generation with an upstream cost.
    pub(crate) fn byok_spend(&self) -> Option<Decimal> {
        self.upstream_cost.filter(|_| self.g.is_byok)
    }

    /// Its `INSERT`, answering the id when the row was new.
    pub(crate) fn returning_sql(&self) -> String {
        format!("{} RETURNING id", insert_sql())
    }
}

/// Binds a [`GenerationInsert`]'s 40 values, in `COLUMNS` order, with
/// `$bind` (`bind` on a query, `push_bind` on a `QueryBuilder`'s row).
macro_rules! bind_generation {
    ($q:expr, $bind:ident, $row:expr) => {{
        let row = $row;
        let g = row.g;
        $q.$bind(&g.id)
            .$bind(&g.account_id)
            .$bind(&g.api_key_hash)
            .$bind(&g.model)
            .$bind(&g.provider)
            .$bind(&g.provider_name)
            .$bind(&g.upstream_id)
            .$bind(row.created_at)
            .$bind(g.streamed)
            .$bind(g.cancelled)
            .$bind(&g.finish_reason)
            .$bind(&g.native_finish_reason)
            .$bind($crate::generations::count_in(g.tokens_prompt))
            .$bind($crate::generations::count_in(g.tokens_completion))
            .$bind(g.native_tokens_prompt.map($crate::generations::count_in))
            .$bind(
                g.native_tokens_completion
                    .map($crate::generations::count_in),
            )
            .$bind(g.native_tokens_reasoning.map($crate::generations::count_in))
            .$bind(g.native_tokens_cached.map($crate::generations::count_in))
            .$bind(
                g.native_tokens_cache_write
                    .map($crate::generations::count_in),
            )
            .$bind($crate::money::Money(row.total_cost))
            .$bind(row.upstream_cost.map($crate::money::Money))
            .$bind(g.is_byok)
            .$bind(g.latency_ms.map($crate::generations::count_in))
            .$bind(g.generation_time_ms.map($crate::generations::count_in))
            .$bind(&row.attempts)
            .$bind(&row.transforms)
            .$bind(&g.request_id)
            .$bind(g.api_type.as_str())
            .$bind(&g.origin)
            .$bind(&g.app_title)
            .$bind(&g.external_user)
            .$bind(&g.user_agent)
            .$bind(&g.error)
            .$bind(g.num_search_results.map($crate::generations::count_in))
            .$bind(&g.web_search_engine)
            .$bind(&g.router)
            .$bind(g.moderation_latency_ms.map($crate::generations::count_in))
            .$bind(row.cache_discount.map($crate::money::Money))
            .$bind(g.num_media_prompt.map($crate::generations::count_in))
            .$bind(&g.session_id)
    }};
}
pub(crate) use bind_generation;

/// Runs a [`GenerationInsert`] on `$exec` (a pool, or `&mut *tx`), giving
/// `Result<(), sqlx::Error>`.
macro_rules! insert_generation {
    ($exec:expr, $row:expr) => {{
        let row = &$row;
        $crate::generations::bind_generation!(sqlx::query(insert_sql()), bind, row)
            .execute($exec)
            .await
            .map(|_| ())
    }};
}

impl Store {
    /// Records a generation. Idempotent on its id: recording an id again
    /// changes nothing (the first record wins), so a retried write is safe.
    /// Amounts must be ≥ 0 with at most 12 decimals
    /// ([`Error::InvalidAmount`]); an unknown account is
    /// [`Error::AccountNotFound`], an unknown key [`Error::ApiKeyNotFound`].
    pub async fn record_generation(&self, g: &GenerationRecord) -> Result<()> {
        let row = GenerationInsert::of(g)?;
        let inserted = match row.byok_spend() {
            None => on_pool!(self, |pool| insert_generation!(pool, row)).map_err(Error::from),
            // The upstream cost joins the key's BYOK spending in the same
            // transaction, if the row is new (see `crate::totals`).
            Some(cost) => transaction!(self, |tx, d| {
                let sql = row.returning_sql();
                let new: Option<String> = bind_generation!(sqlx::query_scalar(&sql), bind, &row)
                    .fetch_optional(&mut *tx)
                    .await?;
                if new.is_some() {
                    let mut delta = TotalsDelta::default();
                    delta.add_byok(&g.api_key_hash, row.created_at.0, cost);
                    d::add_totals(&mut tx, &delta).await?;
                }
                Ok(())
            }),
        };
        match inserted {
            Ok(()) => Ok(()),
            Err(Error::Database(e))
                if e.as_database_error()
                    .is_some_and(|d| d.is_foreign_key_violation()) =>
            {
                if self.get_account(&g.account_id).await?.is_none() {
                    Err(Error::AccountNotFound(g.account_id.clone()))
                } else {
                    Err(Error::ApiKeyNotFound)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The generation with this id if it belongs to `account_id`; another
    /// account's generation is `None`, like an unknown one.
    pub async fn get_generation(
        &self,
        id: &str,
        account_id: &str,
    ) -> Result<Option<GenerationRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM generations WHERE id = $1 AND account_id = $2");
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, GenerationRow>(&sql)
                .bind(id)
                .bind(account_id)
                .fetch_optional(pool)
                .await
        })?;
        row.map(GenerationRecord::try_from).transpose()
    }

    /// The account's most recent generations, newest first, at most
    /// `limit` (1 to 500); only those of `model` when given.
    pub async fn recent_generations(
        &self,
        account_id: &str,
        model: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GenerationRecord>> {
        let limit = i64::from(limit.clamp(1, 500));
        let filter = if model.is_some() {
            " AND model = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM generations WHERE account_id = $1{filter} \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows = on_pool!(self, |pool| {
            let q = sqlx::query_as::<_, GenerationRow>(&sql)
                .bind(account_id)
                .bind(limit);
            match model {
                Some(m) => q.bind(m).fetch_all(pool).await,
                None => q.fetch_all(pool).await,
            }
        })?;
        rows.into_iter().map(GenerationRecord::try_from).collect()
    }

    /// The account's generations created in `[since, until)`, summed per
    /// UTC day, model and provider, ordered by day, model and provider;
    /// only those of one key when `api_key_hash` is given.
    pub async fn activity(
        &self,
        account_id: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        api_key_hash: Option<&str>,
    ) -> Result<Vec<ActivityRow>> {
        let sql = activity_sql(self.backend(), api_key_hash.is_some());
        let (since, until) = (Timestamp(since), Timestamp(until));
        let rows: Vec<ActivityRaw> = on_pool!(self, |pool| {
            let q = sqlx::query_as(&sql)
                .bind(account_id)
                .bind(since)
                .bind(until);
            match api_key_hash {
                Some(hash) => q.bind(hash).fetch_all(pool).await,
                None => q.fetch_all(pool).await,
            }
        })?;
        rows.into_iter().map(ActivityRow::try_from).collect()
    }

    /// How many BYOK generations of the account completed (without error)
    /// in the UTC calendar month of `now`: what decides whether the BYOK
    /// fee applies (`tollgate_billing::BillingPolicy::byok_fee`).
    pub async fn byok_requests_in_month(
        &self,
        account_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let since = Timestamp(LimitReset::Monthly.period_start(now));
        let until = Timestamp(LimitReset::Monthly.next_reset(now));
        let n: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar(BYOK_REQUESTS_IN_MONTH)
                .bind(account_id)
                .bind(since)
                .bind(until)
                .fetch_one(pool)
                .await
        })?;
        count_out(n, "id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_types_round_trip() {
        for t in [ApiType::Completions, ApiType::Embeddings] {
            assert_eq!(t.as_str().parse::<ApiType>().unwrap(), t);
        }
        assert!("rerank".parse::<ApiType>().is_err());
    }

    #[test]
    fn attempts_are_stored_as_a_json_array() {
        let attempts = vec![
            GenerationAttempt {
                provider: "a".to_owned(),
                outcome: "503".to_owned(),
            },
            GenerationAttempt {
                provider: "b".to_owned(),
                outcome: "ok".to_owned(),
            },
        ];
        let json = serde_json::to_string(&attempts).unwrap();
        assert_eq!(
            json,
            r#"[{"provider":"a","outcome":"503"},{"provider":"b","outcome":"ok"}]"#
        );
    }
}
