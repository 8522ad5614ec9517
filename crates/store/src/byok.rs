//! BYOK: users' own provider keys, stored encrypted.
//!
//! The store keeps [`SealedSecret`]s only: callers encrypt with
//! [`ByokCipher`](crate::ByokCipher) before [`Store::put_byok_key`] and
//! decrypt after [`Store::byok_key`]. Besides the ciphertext, a row holds the
//! last four characters of the key (all that listings show), whether the
//! key must always be used, and when it was stored.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::crypto::{NONCE_LEN, SealedSecret};
use crate::store::on_pool;
use crate::time::{Timestamp, now};
use crate::{Error, Result, Store};

/// The columns of `byok_keys`, in [`ByokRow`] order.
const COLUMNS: &str =
    "account_id, provider, nonce, ciphertext, key_id, last4, always_use, created_at, updated_at";

/// The last four characters of a key: what listings show of it.
pub fn key_last4(key: &str) -> String {
    let start = key.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
    key[start..].to_owned()
}

/// A stored BYOK key: its metadata and its ciphertext. `Debug` shows the
/// ciphertext's size only.
#[derive(Clone, PartialEq, Eq)]
pub struct ByokKey {
    /// The owning account.
    pub account_id: String,
    /// The provider's slug.
    pub provider: String,
    /// The key's last four characters.
    pub last4: String,
    /// Use only this key for the provider, never the gateway's shared key.
    pub always_use: bool,
    /// When the key was first stored.
    pub created_at: DateTime<Utc>,
    /// When it was last replaced, if ever.
    pub updated_at: Option<DateTime<Utc>>,
    /// The encrypted key.
    pub sealed: SealedSecret,
}

impl fmt::Debug for ByokKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByokKey")
            .field("account_id", &self.account_id)
            .field("provider", &self.provider)
            .field("last4", &self.last4)
            .field("always_use", &self.always_use)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("sealed", &self.sealed)
            .finish()
    }
}

/// A row of `byok_keys` as the database returns it.
#[derive(sqlx::FromRow)]
struct ByokRow {
    account_id: String,
    provider: String,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
    key_id: String,
    last4: String,
    always_use: bool,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
}

impl TryFrom<ByokRow> for ByokKey {
    type Error = Error;

    fn try_from(row: ByokRow) -> Result<ByokKey> {
        let nonce: [u8; NONCE_LEN] = row.nonce.try_into().map_err(|_| Error::Corrupt {
            table: "byok_keys",
            column: "nonce",
            reason: format!("expected {NONCE_LEN} bytes"),
        })?;
        Ok(ByokKey {
            account_id: row.account_id,
            provider: row.provider,
            last4: row.last4,
            always_use: row.always_use,
            created_at: row.created_at,
            updated_at: row.updated_at,
            sealed: SealedSecret {
                nonce,
                ciphertext: row.ciphertext,
                key_id: row.key_id,
            },
        })
    }
}

impl Store {
    /// Stores the account's key for `provider` (replacing any), encrypted
    /// by the caller, with its last four characters (see [`key_last4`]).
    /// Returns the stored key and whether it was created (`false`: an
    /// existing key was replaced; its `created_at` is kept). An unknown
    /// account is [`Error::AccountNotFound`].
    pub async fn put_byok_key(
        &self,
        account_id: &str,
        provider: &str,
        sealed: &SealedSecret,
        last4: &str,
        always_use: bool,
    ) -> Result<(ByokKey, bool)> {
        let at = Timestamp(now());
        // `updated_at` is only set by the conflict branch, so a NULL in the
        // returned row means the insert happened.
        let sql = format!(
            "INSERT INTO byok_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL) \
             ON CONFLICT (account_id, provider) DO UPDATE SET \
             nonce = excluded.nonce, ciphertext = excluded.ciphertext, key_id = excluded.key_id, \
             last4 = excluded.last4, always_use = excluded.always_use, \
             updated_at = excluded.created_at \
             RETURNING {COLUMNS}"
        );
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, ByokRow>(&sql)
                .bind(account_id)
                .bind(provider)
                .bind(sealed.nonce.as_slice())
                .bind(sealed.ciphertext.as_slice())
                .bind(&sealed.key_id)
                .bind(last4)
                .bind(always_use)
                .bind(at)
                .fetch_one(pool)
                .await
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
        let key = ByokKey::try_from(row)?;
        let created = key.updated_at.is_none();
        Ok((key, created))
    }

    /// The account's key for `provider`, if it stored one.
    pub async fn byok_key(&self, account_id: &str, provider: &str) -> Result<Option<ByokKey>> {
        let sql =
            format!("SELECT {COLUMNS} FROM byok_keys WHERE account_id = $1 AND provider = $2");
        let row = on_pool!(self, |pool| {
            sqlx::query_as::<_, ByokRow>(&sql)
                .bind(account_id)
                .bind(provider)
                .fetch_optional(pool)
                .await
        })?;
        row.map(ByokKey::try_from).transpose()
    }

    /// The account's keys, by provider slug.
    pub async fn list_byok_keys(&self, account_id: &str) -> Result<Vec<ByokKey>> {
        let sql =
            format!("SELECT {COLUMNS} FROM byok_keys WHERE account_id = $1 ORDER BY provider");
        let rows = on_pool!(self, |pool| {
            sqlx::query_as::<_, ByokRow>(&sql)
                .bind(account_id)
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(ByokKey::try_from).collect()
    }

    /// Deletes the account's key for `provider`. Returns whether there was
    /// one.
    pub async fn delete_byok_key(&self, account_id: &str, provider: &str) -> Result<bool> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM byok_keys WHERE account_id = $1 AND provider = $2")
                .bind(account_id)
                .bind(provider)
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
    fn last4() {
        assert_eq!(key_last4("sk-proj-abcdef1234"), "1234");
        assert_eq!(key_last4("abc"), "abc");
        assert_eq!(key_last4(""), "");
        assert_eq!(key_last4("xxé€ab"), "é€ab");
    }
}
