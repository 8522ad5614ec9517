//! OAuth PKCE (RFC 7636) authorization codes: created when a user approves
//! an application, exchanged once for a new API key of their account.
//!
//! - A code is 32 random bytes in hex; only its SHA-256 ([`hash_api_key`],
//!   the same hash as API keys) is stored, so the table lends nothing to a
//!   reader of the database.
//! - A code expires `ttl` after its creation and is **single-use**:
//!   [`Store::exchange_oauth_code`] checks it, creates the key and marks the
//!   code used in one transaction, and the marking is a compare-and-set
//!   (`UPDATE ... WHERE used_at IS NULL`), so of two concurrent exchanges
//!   exactly one gets a key, on either backend.
//! - A code made with a [`CodeChallenge`] is only exchanged with the
//!   matching `code_verifier`: `S256` is `BASE64URL-NOPAD(SHA-256(verifier))
//!   == challenge`, `plain` is `verifier == challenge`, both compared in
//!   constant time. A failed check leaves the code usable (the verifier is
//!   the client's secret; a wrong one proves nothing against the user).
//! - The outcome of an exchange the protocol refuses is a
//!   [`CodeRejection`], kept apart from the store's [`Error`] (which means
//!   the database failed).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SubsecRound, Utc};
use rand::TryRngCore;
use rand::rngs::OsRng;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tollgate_billing::LimitReset;

use crate::keys::{API_KEY_PREFIX, ApiKey, KeyKind, hash_api_key, secret_hint};
use crate::limits::parse_reset;
use crate::money::{Money, Sign, check_amount};
use crate::store::{Pool, on_pool};
use crate::time::Timestamp;
use crate::{Error, Result, Store};

/// The longest code challenge accepted (OpenRouter: "up to 256 digits").
pub const MAX_CHALLENGE_LEN: usize = 256;

/// Random bytes in a code (256 bits).
const CODE_BYTES: usize = 32;

/// The columns of `oauth_codes`, in [`CodeRow`] order.
const COLUMNS: &str = "hash, account_id, callback_url, code_challenge, code_challenge_method, \
     key_label, credit_limit, limit_reset, key_expires_at, created_at, expires_at, used_at, \
     api_key_hash";

/// How a code challenge is derived from the verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChallengeMethod {
    /// `challenge = BASE64URL-NOPAD(SHA-256(ASCII(verifier)))`.
    S256,
    /// `challenge = verifier` (RFC 7636's default when no method is given).
    Plain,
}

impl ChallengeMethod {
    /// The wire and stored form: `S256` or `plain`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeMethod::S256 => "S256",
            ChallengeMethod::Plain => "plain",
        }
    }
}

impl fmt::Display for ChallengeMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A method name other than `S256` or `plain`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported code_challenge_method `{0}`, expected `S256` or `plain`")]
pub struct UnknownMethod(pub String);

impl FromStr for ChallengeMethod {
    type Err = UnknownMethod;

    /// Exactly `S256` or `plain`, as RFC 7636 spells them.
    fn from_str(s: &str) -> Result<ChallengeMethod, UnknownMethod> {
        match s {
            "S256" => Ok(ChallengeMethod::S256),
            "plain" => Ok(ChallengeMethod::Plain),
            other => Err(UnknownMethod(other.to_owned())),
        }
    }
}

/// `BASE64URL-NOPAD(SHA-256(verifier))`: the `S256` challenge of a verifier.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Why a code challenge is refused when a code is created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidChallenge {
    /// Empty.
    #[error("code_challenge is empty")]
    Empty,
    /// Longer than [`MAX_CHALLENGE_LEN`].
    #[error("code_challenge is longer than 256 characters")]
    TooLong,
    /// Holds a space, a control or a non-ASCII character.
    #[error("code_challenge may only contain printable ASCII characters without spaces")]
    Charset,
    /// An `S256` challenge that cannot be a SHA-256 digest.
    #[error(
        "an S256 code_challenge must be the base64url encoding of a SHA-256 digest (43 characters)"
    )]
    NotSha256,
}

/// A validated code challenge with its method.
///
/// An `S256` challenge is kept in its canonical form, base64url without
/// padding: one sent in standard base64 (`+`, `/`, `=` padding, as the
/// seed's wording "the base64 encoding of the sha256 hash" invites) is the
/// same digest and is converted, so either spelling verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge {
    method: ChallengeMethod,
    value: String,
}

impl CodeChallenge {
    /// Validates `challenge` for `method`: 1 to 256 printable ASCII
    /// characters, and for `S256` the encoding of 32 bytes.
    pub fn new(
        method: ChallengeMethod,
        challenge: &str,
    ) -> Result<CodeChallenge, InvalidChallenge> {
        if challenge.is_empty() {
            return Err(InvalidChallenge::Empty);
        }
        if challenge.len() > MAX_CHALLENGE_LEN {
            return Err(InvalidChallenge::TooLong);
        }
        if !challenge.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidChallenge::Charset);
        }
        let value = match method {
            ChallengeMethod::Plain => challenge.to_owned(),
            ChallengeMethod::S256 => {
                let canonical: String = challenge
                    .trim_end_matches('=')
                    .chars()
                    .map(|c| match c {
                        '+' => '-',
                        '/' => '_',
                        c => c,
                    })
                    .collect();
                match URL_SAFE_NO_PAD.decode(&canonical) {
                    Ok(digest) if digest.len() == 32 => canonical,
                    _ => return Err(InvalidChallenge::NotSha256),
                }
            }
        };
        Ok(CodeChallenge { method, value })
    }

    /// The method.
    pub fn method(&self) -> ChallengeMethod {
        self.method
    }

    /// The challenge (canonical form for `S256`).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether `verifier` answers this challenge, compared in constant time.
    pub fn verify(&self, verifier: &str) -> bool {
        let expected = match self.method {
            ChallengeMethod::S256 => s256_challenge(verifier),
            ChallengeMethod::Plain => verifier.to_owned(),
        };
        bool::from(expected.as_bytes().ct_eq(self.value.as_bytes()))
    }
}

/// What the caller chooses when creating a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOAuthCode {
    /// Where the user is sent back (kept for the record).
    pub callback_url: Option<String>,
    /// The PKCE challenge, if the application sent one.
    pub challenge: Option<CodeChallenge>,
    /// The label of the key the exchange creates.
    pub key_label: String,
    /// The credit limit of that key, USD (≥ 0, at most 12 decimals).
    pub limit: Option<Decimal>,
    /// When that limit resets.
    pub limit_reset: Option<LimitReset>,
    /// When that key stops authenticating; `None` for never.
    pub key_expires_at: Option<DateTime<Utc>>,
}

/// A stored code. Holds its hash, never the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthCode {
    /// [`hash_api_key`] of the code.
    pub hash: String,
    /// The account that approved it.
    pub account_id: String,
    /// Where the user was sent back.
    pub callback_url: Option<String>,
    /// The PKCE challenge, if any.
    pub challenge: Option<CodeChallenge>,
    /// The label of the key the exchange creates.
    pub key_label: String,
    /// The credit limit of that key.
    pub limit: Option<Decimal>,
    /// When that limit resets.
    pub limit_reset: Option<LimitReset>,
    /// When that key stops authenticating.
    pub key_expires_at: Option<DateTime<Utc>>,
    /// When the code was created.
    pub created_at: DateTime<Utc>,
    /// From then on it cannot be exchanged.
    pub expires_at: DateTime<Utc>,
    /// When it was exchanged, if it was.
    pub used_at: Option<DateTime<Utc>>,
    /// The hash of the key it was exchanged for.
    pub api_key_hash: Option<String>,
}

/// Why an exchange is refused. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeRejection {
    /// No such code (never issued, or purged long after expiring).
    #[error("invalid authorization code: it was not issued by this server or was purged")]
    Unknown,
    /// Already exchanged.
    #[error("authorization code has already been used; start a new authorization")]
    AlreadyUsed,
    /// Past its expiry.
    #[error("authorization code has expired; start a new authorization")]
    Expired,
    /// The code has a challenge and no verifier was sent.
    #[error("code_verifier is required: the authorization request had a code_challenge")]
    MissingVerifier,
    /// The request names another method than the code was made with.
    #[error(
        "code_challenge_method `{sent}` does not match the authorization request's `{expected}`"
    )]
    MethodMismatch {
        /// The code's method.
        expected: ChallengeMethod,
        /// The one sent.
        sent: ChallengeMethod,
    },
    /// The verifier does not answer the challenge.
    #[error("code_verifier does not match the code_challenge")]
    VerifierMismatch,
}

/// A successful exchange: the new key's secret (shown this once) and the
/// stored key. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ExchangedKey {
    /// The new key's secret, `sk-tg-v1-…`.
    pub secret: String,
    /// The stored key (inference, of the code's account).
    pub key: ApiKey,
}

impl fmt::Debug for ExchangedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangedKey")
            .field("secret", &"<redacted>")
            .field("key", &self.key)
            .finish()
    }
}

/// A row of `oauth_codes` as the database returns it.
#[derive(sqlx::FromRow)]
struct CodeRow {
    hash: String,
    account_id: String,
    callback_url: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    key_label: String,
    credit_limit: Option<Money>,
    limit_reset: Option<String>,
    key_expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    used_at: Option<DateTime<Utc>>,
    api_key_hash: Option<String>,
}

impl TryFrom<CodeRow> for OAuthCode {
    type Error = Error;

    fn try_from(row: CodeRow) -> Result<OAuthCode> {
        let corrupt = |column: &'static str, reason: String| Error::Corrupt {
            table: "oauth_codes",
            column,
            reason,
        };
        let challenge = match (row.code_challenge_method, row.code_challenge) {
            (Some(method), Some(value)) => {
                let method: ChallengeMethod = method
                    .parse()
                    .map_err(|e: UnknownMethod| corrupt("code_challenge_method", e.to_string()))?;
                // Stored values were validated (and canonicalized) on the
                // way in, so this keeps them as they are.
                Some(CodeChallenge { method, value })
            }
            (None, None) => None,
            _ => {
                return Err(corrupt(
                    "code_challenge",
                    "challenge and method must both be set or both be null".to_owned(),
                ));
            }
        };
        Ok(OAuthCode {
            limit_reset: parse_reset(row.limit_reset.as_deref())?,
            limit: row.credit_limit.map(|m| m.0),
            challenge,
            hash: row.hash,
            account_id: row.account_id,
            callback_url: row.callback_url,
            key_label: row.key_label,
            key_expires_at: row.key_expires_at,
            created_at: row.created_at,
            expires_at: row.expires_at,
            used_at: row.used_at,
            api_key_hash: row.api_key_hash,
        })
    }
}

/// `bytes` random bytes from the operating system in lowercase hex.
fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    OsRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| Error::Rng(e.to_string()))?;
    Ok(hex::encode(buf))
}

/// Checks the exchange request against the code's challenge.
fn check_verifier(
    code: &OAuthCode,
    verifier: Option<&str>,
    method: Option<ChallengeMethod>,
) -> Result<(), CodeRejection> {
    // A code made without a challenge has nothing to check: a verifier or
    // method sent anyway is ignored, as the seed makes both optional.
    let Some(challenge) = &code.challenge else {
        return Ok(());
    };
    if let Some(sent) = method
        && sent != challenge.method()
    {
        return Err(CodeRejection::MethodMismatch {
            expected: challenge.method(),
            sent,
        });
    }
    let verifier = verifier.ok_or(CodeRejection::MissingVerifier)?;
    if challenge.verify(verifier) {
        Ok(())
    } else {
        Err(CodeRejection::VerifierMismatch)
    }
}

/// Runs `body` (evaluating to `Result<Result<T, CodeRejection>>`) in a
/// transaction that commits only when the exchange is accepted: a rejection
/// rolls back whatever the body wrote. `BEGIN IMMEDIATE` on SQLite takes
/// the write lock up front, as the money paths do.
macro_rules! exchange_transaction {
    ($store:expr, |$tx:ident| $body:block) => {
        match &$store.pool {
            Pool::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out: Result<Result<_, CodeRejection>> = async { $body }.await;
                commit_if_accepted($tx, out).await
            }
            Pool::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let out: Result<Result<_, CodeRejection>> = async { $body }.await;
                commit_if_accepted($tx, out).await
            }
        }
    };
}

/// Commits an accepted exchange; rolls back a rejected or failed one.
async fn commit_if_accepted<DB: sqlx::Database, T>(
    tx: sqlx::Transaction<'static, DB>,
    out: Result<Result<T, CodeRejection>>,
) -> Result<Result<T, CodeRejection>> {
    if let Ok(Ok(_)) = &out {
        tx.commit().await?;
    } else if let Err(rollback) = tx.rollback().await {
        // The connection is closed on failure; the transaction dies with it.
        tracing::warn!(%rollback, "rollback after a refused code exchange failed");
    }
    out
}

impl Store {
    /// Creates a code for `account_id`, valid until `now + ttl`, and returns
    /// the code (64 hex digits; shown this once, only its hash is stored)
    /// with the stored record. An unknown account is
    /// [`Error::AccountNotFound`]; a negative or inexact limit
    /// [`Error::InvalidAmount`].
    pub async fn create_oauth_code(
        &self,
        account_id: &str,
        new: NewOAuthCode,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<(String, OAuthCode)> {
        let limit = new
            .limit
            .map(|l| check_amount(l, Sign::NonNegative))
            .transpose()?;
        let now = now.trunc_subsecs(6);
        let expires_at = chrono::Duration::from_std(ttl)
            .ok()
            .and_then(|ttl| now.checked_add_signed(ttl))
            .ok_or(Error::InvalidTtl(ttl))?;
        let code = random_hex(CODE_BYTES)?;
        let record = OAuthCode {
            hash: hash_api_key(&code),
            account_id: account_id.to_owned(),
            callback_url: new.callback_url,
            challenge: new.challenge,
            key_label: new.key_label,
            limit,
            limit_reset: new.limit_reset,
            key_expires_at: new.key_expires_at.map(|t| t.trunc_subsecs(6)),
            created_at: now,
            expires_at,
            used_at: None,
            api_key_hash: None,
        };
        let sql = format!(
            "INSERT INTO oauth_codes ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL)"
        );
        on_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(&record.hash)
                .bind(&record.account_id)
                .bind(&record.callback_url)
                .bind(record.challenge.as_ref().map(CodeChallenge::value))
                .bind(record.challenge.as_ref().map(|c| c.method().as_str()))
                .bind(&record.key_label)
                .bind(record.limit.map(Money))
                .bind(record.limit_reset.map(LimitReset::as_str))
                .bind(record.key_expires_at.map(Timestamp))
                .bind(Timestamp(record.created_at))
                .bind(Timestamp(record.expires_at))
                .execute(pool)
                .await
                .map(|_| ())
        })
        .map_err(|e| {
            if e.as_database_error()
                .is_some_and(|d| d.is_foreign_key_violation())
            {
                Error::AccountNotFound(account_id.to_owned())
            } else {
                Error::Database(e)
            }
        })?;
        Ok((code, record))
    }

    /// The stored record of a code, if any (by the code itself).
    pub async fn get_oauth_code(&self, code: &str) -> Result<Option<OAuthCode>> {
        let sql = format!("SELECT {COLUMNS} FROM oauth_codes WHERE hash = $1");
        let hash = hash_api_key(code);
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, CodeRow>(&sql)
                .bind(&hash)
                .fetch_optional(pool)
                .await
        })?;
        row.map(OAuthCode::try_from).transpose()
    }

    /// Exchanges a code for a new inference key of its account, as of `now`.
    ///
    /// `verifier` and `method` are the request's `code_verifier` and
    /// `code_challenge_method` (`None` for the code's own method). In one
    /// transaction: the code must exist, be unused and unexpired, and its
    /// challenge (if any) must be answered; then the key is created (label,
    /// limit, reset and expiry from the code) and the code marked used with a
    /// compare-and-set, so a concurrent exchange of the same code gets
    /// [`CodeRejection::AlreadyUsed`] and no key. A rejection writes
    /// nothing; `Err` is a database failure.
    pub async fn exchange_oauth_code(
        &self,
        code: &str,
        verifier: Option<&str>,
        method: Option<ChallengeMethod>,
        now: DateTime<Utc>,
    ) -> Result<Result<ExchangedKey, CodeRejection>> {
        let hash = hash_api_key(code);
        let now = now.trunc_subsecs(6);
        let select = format!("SELECT {COLUMNS} FROM oauth_codes WHERE hash = $1");
        let secret = format!("{API_KEY_PREFIX}{}", random_hex(CODE_BYTES)?);
        let key_hash = hash_api_key(&secret);
        let outcome = exchange_transaction!(self, |tx| {
            let row: Option<CodeRow> = sqlx::query_as(&select)
                .bind(&hash)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(record) = row.map(OAuthCode::try_from).transpose()? else {
                return Ok(Err(CodeRejection::Unknown));
            };
            if record.used_at.is_some() {
                return Ok(Err(CodeRejection::AlreadyUsed));
            }
            if record.expires_at <= now {
                return Ok(Err(CodeRejection::Expired));
            }
            if let Err(rejection) = check_verifier(&record, verifier, method) {
                return Ok(Err(rejection));
            }
            sqlx::query(
                "INSERT INTO api_keys \
                 (hash, account_id, label, kind, disabled, created_at, credit_limit, limit_reset, \
                 expires_at, secret_hint) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&key_hash)
            .bind(&record.account_id)
            .bind(&record.key_label)
            .bind(KeyKind::Inference.as_str())
            .bind(false)
            .bind(Timestamp(now))
            .bind(record.limit.map(Money))
            .bind(record.limit_reset.map(LimitReset::as_str))
            .bind(record.key_expires_at.map(Timestamp))
            .bind(secret_hint(&secret))
            .execute(&mut *tx)
            .await?;
            let claimed = sqlx::query(
                "UPDATE oauth_codes SET used_at = $1, api_key_hash = $2 \
                 WHERE hash = $3 AND used_at IS NULL AND expires_at > $1",
            )
            .bind(Timestamp(now))
            .bind(&key_hash)
            .bind(&hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed != 1 {
                // Another exchange won between our read and this write.
                return Ok(Err(CodeRejection::AlreadyUsed));
            }
            Ok(Ok(()))
        })?;
        if let Err(rejection) = outcome {
            return Ok(Err(rejection));
        }
        let key = self.get_api_key(&key_hash).await?.ok_or(Error::Corrupt {
            table: "api_keys",
            column: "hash",
            reason: "key created by a code exchange not found".to_owned(),
        })?;
        Ok(Ok(ExchangedKey { secret, key }))
    }

    /// Deletes the codes that expired at or before `now` (used or not), and
    /// returns how many. Run it now and then: expired codes are useless, and
    /// an exchange of a purged code is [`CodeRejection::Unknown`] instead
    /// of [`CodeRejection::Expired`].
    pub async fn purge_oauth_codes(&self, now: DateTime<Utc>) -> Result<u64> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM oauth_codes WHERE expires_at <= $1")
                .bind(Timestamp(now))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636, appendix B. (A value circulating as this vector,
    /// `E9Melhoa2OwvFrEMTJguCQAoeKoW2WoUp6o-jjuMt-cM`, is a corruption: 44
    /// characters, not a SHA-256 digest; the RFC and the OpenAPI example
    /// have the one below, which Python's hashlib agrees with.)
    const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(s256_challenge(RFC_VERIFIER), RFC_CHALLENGE);
        let c = CodeChallenge::new(ChallengeMethod::S256, RFC_CHALLENGE).unwrap();
        assert!(c.verify(RFC_VERIFIER));
        assert!(!c.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"));
        assert_eq!(
            CodeChallenge::new(
                ChallengeMethod::S256,
                "E9Melhoa2OwvFrEMTJguCQAoeKoW2WoUp6o-jjuMt-cM"
            ),
            Err(InvalidChallenge::NotSha256)
        );
        assert!(!c.verify(RFC_CHALLENGE));
        assert!(!c.verify(""));
    }

    #[test]
    fn standard_base64_challenge_is_canonicalized() {
        let standard = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM=";
        let c = CodeChallenge::new(ChallengeMethod::S256, standard).unwrap();
        assert_eq!(c.value(), RFC_CHALLENGE);
        assert!(c.verify(RFC_VERIFIER));
    }

    #[test]
    fn plain_compares_exactly() {
        let c = CodeChallenge::new(ChallengeMethod::Plain, RFC_VERIFIER).unwrap();
        assert!(c.verify(RFC_VERIFIER));
        assert!(!c.verify(&RFC_VERIFIER[1..]));
        assert!(!c.verify(&format!("{RFC_VERIFIER}x")));
        assert!(!c.verify(&s256_challenge(RFC_VERIFIER)));
    }

    #[test]
    fn invalid_challenges() {
        use ChallengeMethod::{Plain, S256};
        assert_eq!(CodeChallenge::new(Plain, ""), Err(InvalidChallenge::Empty));
        assert_eq!(
            CodeChallenge::new(Plain, &"a".repeat(257)),
            Err(InvalidChallenge::TooLong)
        );
        assert!(CodeChallenge::new(Plain, &"a".repeat(256)).is_ok());
        for bad in ["a b", "tab\there", "é", "nl\n"] {
            assert_eq!(
                CodeChallenge::new(Plain, bad),
                Err(InvalidChallenge::Charset),
                "{bad:?}"
            );
        }
        // Hex of a digest, a verifier sent as its own challenge, a digest of
        // the wrong size: none is 32 bytes of base64url.
        for bad in [
            hex::encode(Sha256::digest(b"x")),
            RFC_VERIFIER[..42].to_owned(),
            URL_SAFE_NO_PAD.encode([0u8; 31]),
        ] {
            assert_eq!(
                CodeChallenge::new(S256, &bad),
                Err(InvalidChallenge::NotSha256),
                "{bad}"
            );
        }
    }

    #[test]
    fn methods_parse_exactly() {
        assert_eq!("S256".parse::<ChallengeMethod>(), Ok(ChallengeMethod::S256));
        assert_eq!(
            "plain".parse::<ChallengeMethod>(),
            Ok(ChallengeMethod::Plain)
        );
        for bad in ["s256", "PLAIN", "", "S512"] {
            assert_eq!(
                bad.parse::<ChallengeMethod>(),
                Err(UnknownMethod(bad.to_owned()))
            );
        }
    }

    fn code(challenge: Option<CodeChallenge>) -> OAuthCode {
        let now = Utc::now();
        OAuthCode {
            hash: String::new(),
            account_id: String::new(),
            callback_url: None,
            challenge,
            key_label: String::new(),
            limit: None,
            limit_reset: None,
            key_expires_at: None,
            created_at: now,
            expires_at: now,
            used_at: None,
            api_key_hash: None,
        }
    }

    #[test]
    fn verifier_checks() {
        use ChallengeMethod::{Plain, S256};
        let s256 = code(Some(CodeChallenge::new(S256, RFC_CHALLENGE).unwrap()));
        assert_eq!(check_verifier(&s256, Some(RFC_VERIFIER), None), Ok(()));
        assert_eq!(
            check_verifier(&s256, Some(RFC_VERIFIER), Some(S256)),
            Ok(())
        );
        assert_eq!(
            check_verifier(&s256, Some(RFC_VERIFIER), Some(Plain)),
            Err(CodeRejection::MethodMismatch {
                expected: S256,
                sent: Plain
            })
        );
        assert_eq!(
            check_verifier(&s256, None, None),
            Err(CodeRejection::MissingVerifier)
        );
        assert_eq!(
            check_verifier(&s256, Some("wrong"), None),
            Err(CodeRejection::VerifierMismatch)
        );
        let none = code(None);
        assert_eq!(check_verifier(&none, None, None), Ok(()));
        assert_eq!(check_verifier(&none, Some("anything"), Some(S256)), Ok(()));
    }
}
