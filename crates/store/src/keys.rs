//! API keys: generating secrets, storing only their hash, and looking them up.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use rand::TryRngCore;
use rand::rngs::OsRng;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use tollgate_billing::LimitReset;

use crate::keys_admin::KeyOptions;
use crate::limits::parse_reset;
use crate::money::{Money, Sign, check_amount};
use crate::store::on_pool;
use crate::time::{Timestamp, now};
use crate::{Error, Result, Store};

/// The prefix of every generated API key secret: `sk-tg-v1-` then 64
/// lowercase hex digits. The version lets a later format coexist.
pub const API_KEY_PREFIX: &str = "sk-tg-v1-";

/// Random bytes in a generated secret (256 bits).
const SECRET_BYTES: usize = 32;

/// The columns of `api_keys`, in [`ApiKeyRow`] order.
pub(crate) const COLUMNS: &str = "hash, account_id, label, kind, disabled, created_at, updated_at, \
     credit_limit, limit_reset, include_byok_in_limit, expires_at, secret_hint";

/// Characters of the secret a [`ApiKey::hint`] shows on each side.
const HINT_CHARS: usize = 3;

/// Characters a secret (after [`API_KEY_PREFIX`], if it has it) must have
/// for a hint to show any of it: the hint then hides all but 6 of them.
const HINT_MIN_CHARS: usize = 24;

/// The hash under which an API key is stored and looked up: SHA-256 of the
/// secret's UTF-8 bytes, as 64 lowercase hex digits.
///
/// A fast, unsalted hash is the right choice here, unlike for passwords.
/// Generated secrets carry 256 random bits, so guessing one from its hash is
/// infeasible however fast the hash is; a slow KDF (argon2, bcrypt) only
/// helps against low-entropy inputs and would cost every authenticated
/// request. Being deterministic and unsalted, the hash is also the lookup
/// key, found through the primary-key index in one query, which leaves no
/// secret-dependent comparison in application code to time. (Imported keys,
/// see [`Store::import_api_key`], are as strong as the caller makes them.)
pub fn hash_api_key(secret: &str) -> String {
    // Into a buffer: `hex::encode` collects its characters one by one,
    // and every request hashes its key.
    let mut text = [0u8; 64];
    match hex::encode_to_slice(Sha256::digest(secret.as_bytes()), &mut text) {
        Ok(()) => String::from_utf8_lossy(&text).into_owned(),
        // 32 bytes always fill 64 hex digits.
        Err(_) => hex::encode(Sha256::digest(secret.as_bytes())),
    }
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// Calls the inference API (`/chat/completions` and friends).
    Inference,
    /// Manages other keys through `/keys`; cannot call inference.
    Provisioning,
}

impl KeyKind {
    /// The stored form: `inference` or `provisioning`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Inference => "inference",
            KeyKind::Provisioning => "provisioning",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<KeyKind> {
        match s {
            "inference" => Ok(KeyKind::Inference),
            "provisioning" => Ok(KeyKind::Provisioning),
            other => Err(Error::Corrupt {
                table: "api_keys",
                column: "kind",
                reason: format!("unknown key kind `{other}`"),
            }),
        }
    }
}

/// What the caller chooses when creating or importing a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// The key's name, shown in listings.
    pub label: String,
    /// What the key may do.
    pub kind: KeyKind,
}

/// A stored API key. Holds the hash, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// [`hash_api_key`] of the secret; the key's identity.
    pub hash: String,
    /// The owning account.
    pub account_id: String,
    /// The key's name.
    pub label: String,
    /// What the key may do.
    pub kind: KeyKind,
    /// A disabled key authenticates nothing.
    pub disabled: bool,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
    /// When the key was last changed, if ever.
    pub updated_at: Option<DateTime<Utc>>,
    /// The most the key may spend (USD) per reset period, or ever; `None`
    /// for no limit. See [`Store::set_api_key_limit`].
    pub limit: Option<Decimal>,
    /// When the limit starts again; `None` for never.
    pub limit_reset: Option<LimitReset>,
    /// Whether BYOK usage (what the user's own provider keys were charged,
    /// as recorded on generations) counts against [`ApiKey::limit`].
    pub include_byok_in_limit: bool,
    /// When the key stops authenticating; `None` for never. The gateway
    /// checks it with [`ApiKey::is_expired`].
    pub expires_at: Option<DateTime<Utc>>,
    /// A masked preview of the secret, `sk-tg-v1-abc...xyz` (the prefix and
    /// three characters on each side, 24 of 256 random bits), for telling
    /// keys apart in listings; `None` for keys stored before previews
    /// existed and for imported secrets too short to mask.
    pub hint: Option<String>,
}

impl ApiKey {
    /// Whether the key has expired at `now` (an expiry at `now` counts).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// The `label` of the OpenRouter wire shapes: the masked secret when
    /// known, else the key's name.
    pub fn display_label(&self) -> &str {
        self.hint.as_deref().unwrap_or(&self.label)
    }
}

/// A row of `api_keys` as the database returns it.
#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    hash: String,
    account_id: String,
    label: String,
    kind: String,
    disabled: bool,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
    credit_limit: Option<Money>,
    limit_reset: Option<String>,
    include_byok_in_limit: bool,
    expires_at: Option<DateTime<Utc>>,
    secret_hint: Option<String>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = Error;

    fn try_from(row: ApiKeyRow) -> Result<ApiKey> {
        Ok(ApiKey {
            kind: row.kind.parse()?,
            limit: row.credit_limit.map(|m| m.0),
            limit_reset: parse_reset(row.limit_reset.as_deref())?,
            hash: row.hash,
            account_id: row.account_id,
            label: row.label,
            disabled: row.disabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
            include_byok_in_limit: row.include_byok_in_limit,
            expires_at: row.expires_at,
            hint: row.secret_hint,
        })
    }
}

/// A fresh secret: the prefix and 32 bytes from the operating system's RNG
/// in lowercase hex.
fn generate_secret() -> Result<String> {
    let mut bytes = [0u8; SECRET_BYTES];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| Error::Rng(e.to_string()))?;
    Ok(format!("{API_KEY_PREFIX}{}", hex::encode(bytes)))
}

/// The masked preview stored with a key (see [`ApiKey::hint`]): the
/// [`API_KEY_PREFIX`] (when the secret has it), the next three characters,
/// `...`, and the last three. `None` when fewer than 24 characters follow
/// the prefix, so a preview never shows much of a short secret.
pub(crate) fn secret_hint(secret: &str) -> Option<String> {
    let (prefix, rest) = match secret.strip_prefix(API_KEY_PREFIX) {
        Some(rest) => (API_KEY_PREFIX, rest),
        None => ("", secret),
    };
    let chars: Vec<char> = rest.chars().collect();
    if chars.len() < HINT_MIN_CHARS {
        return None;
    }
    let head: String = chars[..HINT_CHARS].iter().collect();
    let tail: String = chars[chars.len() - HINT_CHARS..].iter().collect();
    Some(format!("{prefix}{head}...{tail}"))
}

/// Turns a foreign-key violation on `api_keys.account_id` into
/// [`Error::AccountNotFound`].
fn account_missing(err: sqlx::Error, account_id: &str) -> Error {
    let fk = err
        .as_database_error()
        .is_some_and(|e| e.is_foreign_key_violation());
    if fk {
        Error::AccountNotFound(account_id.to_owned())
    } else {
        Error::Database(err)
    }
}

impl Store {
    /// Creates a key for the account with a freshly generated secret
    /// (`sk-tg-v1-` + 64 hex digits) and returns the secret with the stored
    /// key. Only the hash is stored: this is the one time the secret is
    /// available, and it cannot be recovered later.
    pub async fn create_api_key(
        &self,
        account_id: &str,
        new: NewApiKey,
    ) -> Result<(String, ApiKey)> {
        self.create_api_key_with(account_id, new, &KeyOptions::default())
            .await
    }

    /// [`Store::create_api_key`] with a limit, an expiry and the BYOK
    /// setting from the start (what `POST /api/v1/keys` creates). A limit
    /// must be ≥ 0 with at most 12 decimals ([`Error::InvalidAmount`]).
    pub async fn create_api_key_with(
        &self,
        account_id: &str,
        new: NewApiKey,
        options: &KeyOptions,
    ) -> Result<(String, ApiKey)> {
        let secret = generate_secret()?;
        let key = self
            .insert_api_key(account_id, &secret, new, options)
            .await?;
        Ok((secret, key))
    }

    /// Stores a key whose secret the caller chose (as `tollgated --dev` does
    /// with `TOLLGATE_DEV_API_KEY`). Idempotent: if the key is already
    /// stored for this account, returns it as stored (its label, kind and
    /// disabled flag are left unchanged). A key stored for another account is
    /// [`Error::ApiKeyConflict`]; an empty secret is [`Error::InvalidSecret`].
    pub async fn import_api_key(
        &self,
        account_id: &str,
        secret: &str,
        new: NewApiKey,
    ) -> Result<ApiKey> {
        if secret.is_empty() {
            return Err(Error::InvalidSecret("must not be empty"));
        }
        let key = self
            .insert_api_key(account_id, secret, new, &KeyOptions::default())
            .await?;
        if key.account_id != account_id {
            return Err(Error::ApiKeyConflict);
        }
        Ok(key)
    }

    /// Inserts the key unless its hash exists, then returns the stored key:
    /// one race-free path for both creating and importing. A hash that
    /// exists but was deleted is [`Error::ApiKeyDeleted`]: a deleted key is
    /// never revived.
    async fn insert_api_key(
        &self,
        account_id: &str,
        secret: &str,
        new: NewApiKey,
        options: &KeyOptions,
    ) -> Result<ApiKey> {
        let limit = options
            .limit
            .map(|l| check_amount(l, Sign::NonNegative))
            .transpose()?;
        let hash = hash_api_key(secret);
        let created_at = Timestamp(now());
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO api_keys (hash, account_id, label, kind, disabled, created_at, \
                 credit_limit, limit_reset, include_byok_in_limit, expires_at, secret_hint) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (hash) DO NOTHING",
            )
            .bind(&hash)
            .bind(account_id)
            .bind(&new.label)
            .bind(new.kind.as_str())
            .bind(false)
            .bind(created_at)
            .bind(limit.map(Money))
            .bind(options.limit_reset.map(LimitReset::as_str))
            .bind(options.include_byok_in_limit)
            .bind(options.expires_at.map(|t| Timestamp(t.trunc_subsecs(6))))
            .bind(secret_hint(secret))
            .execute(pool)
            .await
            .map(|_| ())
        })
        .map_err(|e| account_missing(e, account_id))?;
        // Keys are soft-deleted, never removed: a row that is not found
        // now is a deleted one.
        self.get_api_key(&hash).await?.ok_or(Error::ApiKeyDeleted)
    }

    /// The key whose secret this is, or `None` for an unknown secret. The
    /// caller decides what a disabled key means.
    pub async fn find_api_key(&self, secret: &str) -> Result<Option<ApiKey>> {
        self.get_api_key(&hash_api_key(secret)).await
    }

    /// The key with this hash, if any (a deleted key is `None`).
    pub async fn get_api_key(&self, hash: &str) -> Result<Option<ApiKey>> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE hash = $1 AND deleted_at IS NULL");
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, ApiKeyRow>(&sql)
                .bind(hash)
                .fetch_optional(pool)
                .await
        })?;
        row.map(ApiKey::try_from).transpose()
    }

    /// The account's keys, oldest first (disabled ones included, deleted
    /// ones not). See [`Store::list_api_keys_page`] for a page of them.
    pub async fn list_api_keys(&self, account_id: &str) -> Result<Vec<ApiKey>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM api_keys WHERE account_id = $1 AND deleted_at IS NULL \
             ORDER BY created_at, hash"
        );
        let rows = on_pool!(self, |pool| {
            sqlx::query_as::<_, ApiKeyRow>(&sql)
                .bind(account_id)
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(ApiKey::try_from).collect()
    }

    /// Disables or re-enables the key with this hash and stamps
    /// `updated_at`. Returns whether the key exists (and is not deleted).
    pub async fn set_api_key_disabled(&self, hash: &str, disabled: bool) -> Result<bool> {
        let updated_at = Timestamp(now());
        let done = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE api_keys SET disabled = $1, updated_at = $2 \
                 WHERE hash = $3 AND deleted_at IS NULL",
            )
            .bind(disabled)
            .bind(updated_at)
            .bind(hash)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_format() {
        let secret = generate_secret().unwrap();
        let hex = secret.strip_prefix(API_KEY_PREFIX).unwrap();
        assert_eq!(hex.len(), 64);
        assert!(hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_ne!(secret, generate_secret().unwrap());
    }

    #[test]
    fn hash_is_sha256_hex() {
        // SHA-256("abc"), FIPS 180-2 test vector.
        assert_eq!(
            hash_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hints_mask_all_but_six_characters() {
        let secret = generate_secret().unwrap();
        let hex = secret.strip_prefix(API_KEY_PREFIX).unwrap();
        assert_eq!(
            secret_hint(&secret).unwrap(),
            format!("sk-tg-v1-{}...{}", &hex[..3], &hex[61..])
        );
        assert_eq!(
            secret_hint("abcdefghijklmnopqrstuvwxyz").as_deref(),
            Some("abc...xyz")
        );
        // Too short to mask: nothing shown.
        assert_eq!(secret_hint("sk-tg-v1-dev-key"), None);
        assert_eq!(secret_hint(""), None);
        // Characters, not bytes.
        assert_eq!(secret_hint(&"é".repeat(30)).as_deref(), Some("ééé...ééé"));
    }

    #[test]
    fn key_kind_round_trips() {
        for kind in [KeyKind::Inference, KeyKind::Provisioning] {
            assert_eq!(kind.as_str().parse::<KeyKind>().unwrap(), kind);
        }
        assert!("admin".parse::<KeyKind>().is_err());
    }
}
