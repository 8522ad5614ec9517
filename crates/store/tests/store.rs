//! `tollgate-store` against real databases. Every behaviour in the first
//! part runs twice, on SQLite (a file in a temp directory) and on PostgreSQL
//! (a fresh database from `testing::fresh_postgres`); the rest concerns one
//! backend's connection handling.

// Helpers outside `#[test]` functions are not covered by clippy.toml's test
// allowances.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use sqlx::Connection;
use tollgate_store::testing::{TempPostgres, fresh_postgres};
use tollgate_store::{
    API_KEY_PREFIX, ApiKey, Backend, Error, KeyKind, NewApiKey, Store, hash_api_key,
};

/// One test's database and a store connected to it.
struct Ctx {
    store: Store,
    url: String,
    sqlite_dir: Option<tempfile::TempDir>,
    postgres: Option<TempPostgres>,
}

impl Ctx {
    async fn sqlite() -> Ctx {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("tollgate.db").display());
        let store = Store::connect(&url).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        Ctx {
            store,
            url,
            sqlite_dir: Some(dir),
            postgres: None,
        }
    }

    async fn postgres() -> Ctx {
        let db = fresh_postgres().await.unwrap();
        let store = db.store().await.unwrap();
        assert_eq!(store.backend(), Backend::Postgres);
        Ctx {
            store,
            url: db.url().to_owned(),
            sqlite_dir: None,
            postgres: Some(db),
        }
    }

    async fn finish(self) {
        self.store.close().await;
        if let Some(db) = self.postgres {
            db.cleanup().await.unwrap();
        }
    }

    /// Everything the database holds, as text: for SQLite the raw bytes of
    /// every file of the database (main file, WAL, shared memory), for
    /// PostgreSQL every row of every table in the schema.
    async fn raw_contents(&self) -> String {
        if let Some(dir) = &self.sqlite_dir {
            let mut all = Vec::new();
            for entry in std::fs::read_dir(dir.path()).unwrap() {
                all.extend(std::fs::read(entry.unwrap().path()).unwrap());
            }
            return String::from_utf8_lossy(&all).into_owned();
        }
        let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert!(tables.iter().any(|t| t == "api_keys"), "{tables:?}");
        let mut all = String::new();
        for table in tables {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!(r#"SELECT t::text FROM "{table}" t"#))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            all.push_str(&rows.join("\n"));
            all.push('\n');
        }
        conn.close().await.unwrap();
        all
    }
}

/// Generates, for each named `async fn(&Ctx)`, a module with one test per
/// backend.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                let ctx = super::Ctx::sqlite().await;
                super::$test(&ctx).await;
                ctx.finish().await;
            }

            #[tokio::test]
            async fn postgres() {
                let ctx = super::Ctx::postgres().await;
                super::$test(&ctx).await;
                ctx.finish().await;
            }
        }
    )*};
}

/// [`on_both_backends!`] on a multi-threaded runtime, for the concurrency
/// tests: tasks then run in parallel, not only interleaved.
macro_rules! on_both_backends_in_parallel {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
            async fn sqlite() {
                let ctx = super::Ctx::sqlite().await;
                super::$test(&ctx).await;
                ctx.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
            async fn postgres() {
                let ctx = super::Ctx::postgres().await;
                super::$test(&ctx).await;
                ctx.finish().await;
            }
        }
    )*};
}

/// Credits: ledger, balances, holds, settlement, key limits.
#[path = "store/money/mod.rs"]
mod money;

/// Key management: creation options, updates, soft deletion, listings.
#[path = "store/keys_admin.rs"]
mod keys_admin;

/// Generations and activity.
#[path = "store/generations.rs"]
mod generations;

on_both_backends!(
    migrations_run_twice,
    create_and_get_account,
    list_accounts_oldest_first,
    create_key_returns_secret_once_and_stores_only_hash,
    find_key_by_secret,
    unknown_secret_is_none,
    disable_and_enable,
    import_is_idempotent,
    import_rejects_other_account_and_empty_secret,
    list_keys,
    key_for_unknown_account_is_account_not_found,
    concurrent_key_creation,
    ping,
);

fn inference(label: &str) -> NewApiKey {
    NewApiKey {
        label: label.to_owned(),
        kind: KeyKind::Inference,
    }
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
}

async fn migrations_run_twice(ctx: &Ctx) {
    let account = ctx.store.create_account("before").await.unwrap();
    for _ in 0..2 {
        let again = Store::connect(&ctx.url).await.unwrap();
        assert_eq!(
            again.get_account(&account.id).await.unwrap().as_ref(),
            Some(&account)
        );
        assert_eq!(again.list_accounts().await.unwrap().len(), 1);
        again.close().await;
    }
}

async fn create_and_get_account(ctx: &Ctx) {
    let account = ctx.store.create_account("Acme").await.unwrap();
    let id = account.id.strip_prefix("acct_").unwrap();
    assert!(is_lower_hex(id, 32), "{}", account.id);
    assert_eq!(account.name, "Acme");
    let age = chrono::Utc::now() - account.created_at;
    assert!(age >= chrono::Duration::zero() && age < chrono::Duration::minutes(1));

    // Read back exactly, timestamp included.
    let got = ctx.store.get_account(&account.id).await.unwrap();
    assert_eq!(got, Some(account.clone()));
    assert_eq!(ctx.store.get_account("acct_missing").await.unwrap(), None);

    let other = ctx.store.create_account("Acme").await.unwrap();
    assert_ne!(other.id, account.id, "names are not unique, ids are");
}

async fn list_accounts_oldest_first(ctx: &Ctx) {
    assert!(ctx.store.list_accounts().await.unwrap().is_empty());
    let mut created = Vec::new();
    for name in ["a", "b", "c"] {
        created.push(ctx.store.create_account(name).await.unwrap());
    }
    let listed = ctx.store.list_accounts().await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed
            .windows(2)
            .all(|w| (w[0].created_at, &w[0].id) <= (w[1].created_at, &w[1].id))
    );
    let mut names: Vec<_> = listed.iter().map(|a| a.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["a", "b", "c"]);
}

async fn create_key_returns_secret_once_and_stores_only_hash(ctx: &Ctx) {
    let account = ctx.store.create_account("acme").await.unwrap();
    let (secret, key) = ctx
        .store
        .create_api_key(&account.id, inference("default"))
        .await
        .unwrap();

    let random = secret.strip_prefix(API_KEY_PREFIX).unwrap();
    assert!(secret.starts_with("sk-tg-v1-"));
    assert!(is_lower_hex(random, 64), "{secret}");
    assert_eq!(key.hash, hash_api_key(&secret));
    assert!(is_lower_hex(&key.hash, 64));
    assert_eq!(key.account_id, account.id);
    assert_eq!(key.label, "default");
    assert_eq!(key.kind, KeyKind::Inference);
    assert!(!key.disabled);
    assert_eq!(key.updated_at, None);
    assert!(!format!("{key:?}").contains(random));

    let contents = ctx.raw_contents().await;
    assert!(
        contents.contains(&key.hash),
        "the dump must see the key row"
    );
    assert!(!contents.contains(random), "the secret must not be stored");
    assert!(!contents.contains(&random[..16]));

    let (second, _) = ctx
        .store
        .create_api_key(&account.id, inference("other"))
        .await
        .unwrap();
    assert_ne!(second, secret);
}

async fn find_key_by_secret(ctx: &Ctx) {
    let account = ctx.store.create_account("acme").await.unwrap();
    let (secret, key) = ctx
        .store
        .create_api_key(
            &account.id,
            NewApiKey {
                label: "admin".to_owned(),
                kind: KeyKind::Provisioning,
            },
        )
        .await
        .unwrap();
    let found = ctx.store.find_api_key(&secret).await.unwrap();
    assert_eq!(found.as_ref(), Some(&key));
    assert_eq!(found.unwrap().kind, KeyKind::Provisioning);
    assert_eq!(
        ctx.store.get_api_key(&key.hash).await.unwrap(),
        Some(key.clone())
    );
    // The hash is not a secret that authenticates.
    assert_eq!(ctx.store.find_api_key(&key.hash).await.unwrap(), None);
}

async fn unknown_secret_is_none(ctx: &Ctx) {
    let account = ctx.store.create_account("acme").await.unwrap();
    ctx.store
        .create_api_key(&account.id, inference("k"))
        .await
        .unwrap();
    let unknown = format!("{API_KEY_PREFIX}{}", "0".repeat(64));
    assert_eq!(ctx.store.find_api_key(&unknown).await.unwrap(), None);
    assert_eq!(ctx.store.find_api_key("").await.unwrap(), None);
    assert_eq!(ctx.store.get_api_key("not-a-hash").await.unwrap(), None);
}

async fn disable_and_enable(ctx: &Ctx) {
    let account = ctx.store.create_account("acme").await.unwrap();
    let (secret, key) = ctx
        .store
        .create_api_key(&account.id, inference("k"))
        .await
        .unwrap();

    assert!(
        ctx.store
            .set_api_key_disabled(&key.hash, true)
            .await
            .unwrap()
    );
    let disabled = ctx.store.find_api_key(&secret).await.unwrap().unwrap();
    assert!(disabled.disabled);
    let updated = disabled.updated_at.unwrap();
    assert!(updated >= key.created_at);
    assert_eq!(disabled.created_at, key.created_at);

    assert!(
        ctx.store
            .set_api_key_disabled(&key.hash, false)
            .await
            .unwrap()
    );
    let enabled = ctx.store.get_api_key(&key.hash).await.unwrap().unwrap();
    assert!(!enabled.disabled);
    assert!(enabled.updated_at.unwrap() >= updated);

    let unknown = hash_api_key("unknown");
    assert!(
        !ctx.store
            .set_api_key_disabled(&unknown, true)
            .await
            .unwrap()
    );
}

async fn import_is_idempotent(ctx: &Ctx) {
    let account = ctx.store.create_account("dev").await.unwrap();
    let secret = "sk-tg-v1-dev-key-from-the-environment";
    let first = ctx
        .store
        .import_api_key(&account.id, secret, inference("dev"))
        .await
        .unwrap();
    assert_eq!(first.hash, hash_api_key(secret));
    assert_eq!(first.label, "dev");

    // Again, even with other details: the stored key is returned unchanged.
    let second = ctx
        .store
        .import_api_key(
            &account.id,
            secret,
            NewApiKey {
                label: "renamed".to_owned(),
                kind: KeyKind::Provisioning,
            },
        )
        .await
        .unwrap();
    assert_eq!(second, first);
    assert_eq!(
        ctx.store.list_api_keys(&account.id).await.unwrap(),
        std::slice::from_ref(&first)
    );
    assert_eq!(ctx.store.find_api_key(secret).await.unwrap(), Some(first));
    assert!(!ctx.raw_contents().await.contains(secret));
}

async fn import_rejects_other_account_and_empty_secret(ctx: &Ctx) {
    let owner = ctx.store.create_account("owner").await.unwrap();
    let intruder = ctx.store.create_account("intruder").await.unwrap();
    let secret = "sk-tg-v1-shared";
    let key = ctx
        .store
        .import_api_key(&owner.id, secret, inference("k"))
        .await
        .unwrap();

    let err = ctx
        .store
        .import_api_key(&intruder.id, secret, inference("k"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ApiKeyConflict), "{err:?}");
    assert!(!err.to_string().contains(secret));
    assert!(!err.to_string().contains(&key.hash));
    assert!(
        ctx.store
            .list_api_keys(&intruder.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ctx.store
            .find_api_key(secret)
            .await
            .unwrap()
            .unwrap()
            .account_id,
        owner.id
    );

    let err = ctx
        .store
        .import_api_key(&owner.id, "", inference("k"))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "invalid api key secret: must not be empty");
}

async fn list_keys(ctx: &Ctx) {
    let a = ctx.store.create_account("a").await.unwrap();
    let b = ctx.store.create_account("b").await.unwrap();
    let mut created: Vec<ApiKey> = Vec::new();
    for label in ["one", "two", "three"] {
        created.push(
            ctx.store
                .create_api_key(&a.id, inference(label))
                .await
                .unwrap()
                .1,
        );
    }
    let (_, b_key) = ctx
        .store
        .create_api_key(&b.id, inference("b"))
        .await
        .unwrap();
    ctx.store
        .set_api_key_disabled(&created[1].hash, true)
        .await
        .unwrap();

    let listed = ctx.store.list_api_keys(&a.id).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        listed
            .windows(2)
            .all(|w| (w[0].created_at, &w[0].hash) <= (w[1].created_at, &w[1].hash))
    );
    let hashes: HashSet<_> = listed.iter().map(|k| k.hash.clone()).collect();
    assert_eq!(hashes, created.iter().map(|k| k.hash.clone()).collect());
    assert_eq!(listed.iter().filter(|k| k.disabled).count(), 1);
    assert!(listed.iter().all(|k| k.account_id == a.id));

    assert_eq!(ctx.store.list_api_keys(&b.id).await.unwrap(), [b_key]);
    assert!(
        ctx.store
            .list_api_keys("acct_missing")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn key_for_unknown_account_is_account_not_found(ctx: &Ctx) {
    let err = ctx
        .store
        .create_api_key("acct_missing", inference("k"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AccountNotFound(ref id) if id == "acct_missing"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "account `acct_missing` not found");

    let err = ctx
        .store
        .import_api_key("acct_missing", "sk-tg-v1-x", inference("k"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AccountNotFound(_)), "{err:?}");
    assert_eq!(ctx.store.find_api_key("sk-tg-v1-x").await.unwrap(), None);
}

async fn concurrent_key_creation(ctx: &Ctx) {
    let account = ctx.store.create_account("busy").await.unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = ctx.store.clone();
            let id = account.id.clone();
            tokio::spawn(
                async move { store.create_api_key(&id, inference(&format!("k{i}"))).await },
            )
        })
        .collect();
    let mut secrets = HashSet::new();
    for task in tasks {
        let (secret, _) = task.await.unwrap().unwrap();
        secrets.insert(secret);
    }
    assert_eq!(secrets.len(), 32);
    assert_eq!(
        ctx.store.list_api_keys(&account.id).await.unwrap().len(),
        32
    );
}

async fn ping(ctx: &Ctx) {
    ctx.store.ping().await.unwrap();
    let debug = format!("{:?}", ctx.store);
    assert!(
        debug.contains(&format!("{:?}", ctx.store.backend())),
        "{debug}"
    );
    assert!(!debug.contains(&ctx.url), "{debug}");
}

// ---- connection handling, one backend at a time ----

#[tokio::test]
async fn unsupported_scheme_is_named() {
    let err = Store::connect("mysql://root@localhost/tollgate")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported database url scheme `mysql`, expected sqlite:// or postgres://"
    );
    let err = Store::connect("tollgate.db").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "database url has no scheme, expected sqlite:// or postgres://"
    );
}

#[tokio::test]
async fn sqlite_missing_directory_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let path = missing.join("tollgate.db");
    let err = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::SqliteDirectoryMissing { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("does not exist"), "{message}");
    assert!(!missing.exists(), "no directory is created");
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    assert!(!path.exists());
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.exists());
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // Timestamps are stored as fixed-width RFC 3339 UTC text.
    let account = store.create_account("a").await.unwrap();
    let stored: String = sqlx::query_scalar("SELECT created_at FROM accounts WHERE id = $1")
        .bind(&account.id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        stored.len(),
        "2025-01-02T03:04:05.000006Z".len(),
        "{stored}"
    );
    assert!(stored.ends_with('Z'), "{stored}");
    conn.close().await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn sqlite_in_memory_stores_are_private() {
    let one = Store::connect("sqlite::memory:").await.unwrap();
    let two = Store::connect("sqlite::memory:").await.unwrap();
    let account = one.create_account("a").await.unwrap();
    let (secret, key) = one
        .create_api_key(&account.id, inference("k"))
        .await
        .unwrap();
    assert_eq!(one.find_api_key(&secret).await.unwrap(), Some(key));
    assert_eq!(two.get_account(&account.id).await.unwrap(), None);
    // The one connection stays open, so the data survives idle time.
    assert_eq!(one.list_accounts().await.unwrap(), [account]);
}

#[tokio::test]
async fn postgres_connect_error_names_server_not_password() {
    let err = Store::connect("postgres://alice:hunter2@127.0.0.1:1/tollgate")
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::PostgresConnect { .. }), "{err:?}");
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(message.contains("`tollgate`"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!format!("{err:?}").contains("hunter2"));
}

#[tokio::test]
async fn fresh_postgres_is_dropped_on_cleanup() {
    let db = fresh_postgres().await.unwrap();
    let name = db.name().to_owned();
    assert!(name.starts_with("tollgate_test_"));
    assert!(db.url().ends_with(&format!("/{name}")));
    let store = db.store().await.unwrap();
    store.create_account("a").await.unwrap();
    // Cleanup succeeds even with the store's connections still open.
    db.cleanup().await.unwrap();
    assert!(store.ping().await.is_err());

    let other = fresh_postgres().await.unwrap();
    let mut conn = sqlx::PgConnection::connect(other.url()).await.unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(!exists);
    conn.close().await.unwrap();

    // Dropping without cleanup removes the database too (best effort).
    let dropped_name = other.name().to_owned();
    drop(other);
    let admin = fresh_postgres().await.unwrap();
    let mut conn = sqlx::PgConnection::connect(admin.url()).await.unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&dropped_name)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(!exists);
    conn.close().await.unwrap();
    admin.cleanup().await.unwrap();
}

#[tokio::test]
async fn sqlite_unopenable_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the database file should be.
    let path = dir.path().join("db-is-a-dir");
    std::fs::create_dir(&path).unwrap();
    let started = std::time::Instant::now();
    let err = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SqliteOpen { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
