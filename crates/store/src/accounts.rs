//! Accounts: who owns keys, credits and generations.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::on_pool;
use crate::time::{Timestamp, now};
use crate::{Result, Store};

/// The prefix of every account id.
const ACCOUNT_ID_PREFIX: &str = "acct_";

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Account {
    /// `acct_` followed by a random UUID in simple (32 hex digit) form.
    pub id: String,
    /// A display name; not unique.
    pub name: String,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Creates an account with a fresh id.
    pub async fn create_account(&self, name: &str) -> Result<Account> {
        let account = Account {
            id: format!("{ACCOUNT_ID_PREFIX}{}", Uuid::new_v4().simple()),
            name: name.to_owned(),
            created_at: now(),
        };
        on_pool!(self, |pool| {
            sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(&account.id)
                .bind(&account.name)
                .bind(Timestamp(account.created_at))
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(account)
    }

    /// The account with this id, if any.
    pub async fn get_account(&self, id: &str) -> Result<Option<Account>> {
        let account = on_pool!(self, |pool| {
            sqlx::query_as::<_, Account>("SELECT id, name, created_at FROM accounts WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(account)
    }

    /// Every account, oldest first.
    pub async fn list_accounts(&self) -> Result<Vec<Account>> {
        let accounts = on_pool!(self, |pool| {
            sqlx::query_as::<_, Account>(
                "SELECT id, name, created_at FROM accounts ORDER BY created_at, id",
            )
            .fetch_all(pool)
            .await
        })?;
        Ok(accounts)
    }
}
