//! Test support for this and other crates: a throwaway PostgreSQL database.
//!
//! ```no_run
//! # async fn demo() -> tollgate_store::Result<()> {
//! let db = tollgate_store::testing::fresh_postgres().await?;
//! let store = db.store().await?;
//! // ... exercise `store` ...
//! store.close().await;
//! db.cleanup().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Not behind a feature: it is small, and gateway and end-to-end tests use it.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use uuid::Uuid;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::{ApiType, Backend, Error, GenerationAttempt, GenerationRecord, Result, Store};

/// The environment variable naming the PostgreSQL server for tests: a url to
/// a database the user may connect to and create databases from.
pub const TEST_POSTGRES_ENV: &str = "TOLLGATE_TEST_POSTGRES";

/// The server used when [`TEST_POSTGRES_ENV`] is unset.
pub const DEFAULT_TEST_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The user tried when `postgres` is refused.
const FALLBACK_USER: &str = "root";

/// A PostgreSQL database created for one test, dropped by [`cleanup`]
/// (or, best effort, when dropped).
///
/// [`cleanup`]: TempPostgres::cleanup
#[derive(Debug)]
pub struct TempPostgres {
    url: String,
    name: String,
    admin_url: String,
    dropped: bool,
}

/// Creates a database `tollgate_test_<random>` on the test server (see
/// [`TEST_POSTGRES_ENV`]; if user `postgres` is refused, user `root` is
/// tried) and returns it, empty: [`TempPostgres::store`] runs migrations.
pub async fn fresh_postgres() -> Result<TempPostgres> {
    let admin_url = std::env::var(TEST_POSTGRES_ENV)
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_POSTGRES.to_owned());
    match create_database(&admin_url).await {
        Err(first) => {
            let Some(fallback) = with_fallback_user(&admin_url) else {
                return Err(first);
            };
            // Report the first failure if the fallback fails too: it names
            // the server the caller configured.
            create_database(&fallback).await.map_err(|_| first)
        }
        ok => ok,
    }
}

impl TempPostgres {
    /// The database's url, for [`Store::connect`] or a child process.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connects a [`Store`] to the database (running migrations).
    pub async fn store(&self) -> Result<Store> {
        Store::connect(&self.url).await
    }

    /// Drops the database, disconnecting anyone still connected.
    pub async fn cleanup(mut self) -> Result<()> {
        drop_database(&self.admin_url, &self.name).await?;
        self.dropped = true;
        Ok(())
    }
}

impl Drop for TempPostgres {
    /// Best effort for a test that panicked before [`TempPostgres::cleanup`]:
    /// drops the database from a separate thread with its own runtime (the
    /// current thread may be inside an async runtime that cannot block).
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => {
                    if let Err(error) = runtime.block_on(drop_database(&admin_url, &name)) {
                        tracing::warn!(%error, database = %name, "could not drop test database");
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, database = %name, "could not drop test database");
                }
            }
        });
        let _ = dropper.join();
    }
}

fn admin_options(admin_url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(admin_url).map_err(|e| Error::InvalidUrl {
        backend: Backend::Postgres,
        reason: e.to_string(),
    })
}

async fn connect_admin(admin_url: &str) -> Result<PgConnection> {
    let options = admin_options(admin_url)?;
    options
        .connect()
        .await
        .map_err(|cause| Error::PostgresConnect {
            server: format!("{}:{}", options.get_host(), options.get_port()),
            database: options.get_database().unwrap_or_default().to_owned(),
            user: options.get_username().to_owned(),
            cause,
        })
}

async fn create_database(admin_url: &str) -> Result<TempPostgres> {
    let mut admin = connect_admin(admin_url).await?;
    let name = format!("tollgate_test_{}", Uuid::new_v4().simple());
    // The name is ours (a fixed prefix and hex digits), so quoting it as an
    // identifier is safe; CREATE DATABASE takes no bind parameters.
    sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
        .execute(&mut admin)
        .await?;
    let _ = admin.close().await;
    let mut url = url::Url::parse(admin_url).map_err(|e| Error::InvalidUrl {
        backend: Backend::Postgres,
        reason: e.to_string(),
    })?;
    url.set_path(&name);
    Ok(TempPostgres {
        url: url.into(),
        name,
        admin_url: admin_url.to_owned(),
        dropped: false,
    })
}

async fn drop_database(admin_url: &str, name: &str) -> Result<()> {
    let mut admin = connect_admin(admin_url).await?;
    sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
        .execute(&mut admin)
        .await?;
    let _ = admin.close().await;
    Ok(())
}

/// The same url with user `root` if its user is `postgres`.
fn with_fallback_user(admin_url: &str) -> Option<String> {
    let mut url = url::Url::parse(admin_url).ok()?;
    if url.username() != "postgres" {
        return None;
    }
    url.set_username(FALLBACK_USER).ok()?;
    Some(url.into())
}

/// A successful, non-BYOK chat generation of `account` through `key`
/// with small round figures, free, and nothing optional set but its
/// finish reasons and one attempt: a base for tests to change with
/// `GenerationRecord { field: value, ..generation(..) }`.
pub fn generation(
    id: &str,
    account: &str,
    key: &str,
    created_at: DateTime<Utc>,
) -> GenerationRecord {
    GenerationRecord {
        id: id.to_owned(),
        account_id: account.to_owned(),
        api_key_hash: key.to_owned(),
        model: "mock/echo".to_owned(),
        provider: "mock-alpha".to_owned(),
        provider_name: "Mock Alpha".to_owned(),
        upstream_id: None,
        created_at,
        streamed: false,
        cancelled: false,
        finish_reason: Some("stop".to_owned()),
        native_finish_reason: Some("stop".to_owned()),
        tokens_prompt: 10,
        tokens_completion: 5,
        native_tokens_prompt: None,
        native_tokens_completion: None,
        native_tokens_reasoning: None,
        native_tokens_cached: None,
        native_tokens_cache_write: None,
        total_cost: Decimal::ZERO,
        upstream_inference_cost: None,
        is_byok: false,
        latency_ms: None,
        generation_time_ms: None,
        attempts: vec![GenerationAttempt {
            provider: "mock-alpha".to_owned(),
            outcome: "ok".to_owned(),
        }],
        transforms: None,
        request_id: None,
        api_type: ApiType::Completions,
        origin: None,
        app_title: None,
        external_user: None,
        user_agent: None,
        error: None,
        num_search_results: None,
        web_search_engine: None,
        router: None,
        moderation_latency_ms: None,
        cache_discount: None,
        num_media_prompt: None,
        session_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_user_replaces_postgres_only() {
        assert_eq!(
            with_fallback_user(DEFAULT_TEST_POSTGRES).as_deref(),
            Some("postgres://root@127.0.0.1:5432/postgres")
        );
        assert_eq!(with_fallback_user("postgres://alice@h/db"), None);
    }
}
