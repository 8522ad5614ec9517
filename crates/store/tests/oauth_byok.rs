//! BYOK keys and OAuth PKCE codes against real databases: every test runs
//! twice, on SQLite (a file in a temp directory) and on PostgreSQL (a fresh
//! database from `testing::fresh_postgres`).

// Helpers outside `#[test]` functions are not covered by clippy.toml's test
// allowances.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use sqlx::Connection;
use tollgate_store::testing::{TempPostgres, fresh_postgres};
use tollgate_store::{
    ByokCipher, ChallengeMethod, CodeChallenge, CodeRejection, CryptoError, Error, ExchangedKey,
    KeyKind, LimitReset, NewOAuthCode, Store, hash_api_key, key_last4, s256_challenge,
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
        assert!(tables.iter().any(|t| t == "byok_keys"), "{tables:?}");
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
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let ctx = super::Ctx::sqlite().await;
                super::$test(&ctx).await;
                ctx.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let ctx = super::Ctx::postgres().await;
                super::$test(&ctx).await;
                ctx.finish().await;
            }
        }
    )*};
}

on_both_backends!(
    byok_round_trip_and_replace,
    byok_ciphertext_is_bound_to_its_row,
    byok_tampered_ciphertext_fails,
    byok_no_plaintext_in_the_database,
    byok_list_and_delete_per_account,
    byok_unknown_account,
    pkce_s256_happy_path_rfc_vector,
    pkce_plain_happy_path,
    code_without_challenge_needs_no_verifier,
    reused_code_is_refused,
    expired_code_is_refused,
    wrong_method_is_refused_and_code_survives,
    missing_verifier_is_refused,
    bad_verifier_is_refused_and_creates_nothing,
    unknown_code_is_refused,
    concurrent_exchanges_give_one_key,
    code_settings_carry_to_the_key,
    codes_store_no_secrets,
    purge_removes_expired_codes,
    code_for_unknown_account,
);

/// RFC 7636, appendix B.
const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

const TTL: Duration = Duration::from_secs(600);

fn cipher() -> ByokCipher {
    ByokCipher::from_secret("tollgate test secret key, long enough to pass").unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
}

fn new_code(challenge: Option<CodeChallenge>) -> NewOAuthCode {
    NewOAuthCode {
        callback_url: Some("https://app.example/cb".to_owned()),
        challenge,
        key_label: "OAuth: app.example".to_owned(),
        limit: None,
        limit_reset: None,
        key_expires_at: None,
    }
}

fn s256() -> Option<CodeChallenge> {
    Some(CodeChallenge::new(ChallengeMethod::S256, RFC_CHALLENGE).unwrap())
}

async fn key_count(store: &Store, account: &str) -> usize {
    store.list_api_keys(account).await.unwrap().len()
}

async fn byok_round_trip_and_replace(ctx: &Ctx) {
    let store = &ctx.store;
    let c = cipher();
    let account = store.create_account("byok").await.unwrap().id;
    assert_eq!(store.byok_key(&account, "openai").await.unwrap(), None);

    let secret = "sk-proj-first-key-0001";
    let sealed = c.encrypt(&account, "openai", secret).unwrap();
    let (stored, created) = store
        .put_byok_key(&account, "openai", &sealed, &key_last4(secret), false)
        .await
        .unwrap();
    assert!(created);
    assert_eq!(stored.last4, "0001");
    assert!(!stored.always_use);
    assert_eq!(stored.updated_at, None);
    assert_eq!(stored.sealed, sealed);

    let read = store.byok_key(&account, "openai").await.unwrap().unwrap();
    assert_eq!(read, stored, "read back exactly, timestamps included");
    let plain = c.decrypt(&account, "openai", &read.sealed).unwrap();
    assert_eq!(plain.expose(), secret);

    // Replacing keeps created_at, stamps updated_at, and re-encrypts.
    let second = "sk-proj-second-key-0002";
    let sealed2 = c.encrypt(&account, "openai", second).unwrap();
    let (replaced, created) = store
        .put_byok_key(&account, "openai", &sealed2, &key_last4(second), true)
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(replaced.created_at, stored.created_at);
    assert!(replaced.updated_at.is_some());
    assert!(replaced.always_use);
    assert_eq!(replaced.last4, "0002");
    let read = store.byok_key(&account, "openai").await.unwrap().unwrap();
    assert_eq!(
        c.decrypt(&account, "openai", &read.sealed)
            .unwrap()
            .expose(),
        second
    );
    assert_eq!(store.list_byok_keys(&account).await.unwrap().len(), 1);
}

async fn byok_ciphertext_is_bound_to_its_row(ctx: &Ctx) {
    let store = &ctx.store;
    let c = cipher();
    let alice = store.create_account("alice").await.unwrap().id;
    let mallory = store.create_account("mallory").await.unwrap().id;
    let sealed = c.encrypt(&alice, "openai", "sk-alice-secret").unwrap();
    store
        .put_byok_key(&alice, "openai", &sealed, "cret", false)
        .await
        .unwrap();
    // Someone with write access to the table copies Alice's ciphertext into
    // Mallory's row, and into another provider's row of Alice.
    let stolen = store
        .byok_key(&alice, "openai")
        .await
        .unwrap()
        .unwrap()
        .sealed;
    store
        .put_byok_key(&mallory, "openai", &stolen, "cret", false)
        .await
        .unwrap();
    store
        .put_byok_key(&alice, "anthropic", &stolen, "cret", false)
        .await
        .unwrap();
    let moved = store.byok_key(&mallory, "openai").await.unwrap().unwrap();
    assert_eq!(
        c.decrypt(&mallory, "openai", &moved.sealed),
        Err(CryptoError::Decrypt)
    );
    let moved = store.byok_key(&alice, "anthropic").await.unwrap().unwrap();
    assert_eq!(
        c.decrypt(&alice, "anthropic", &moved.sealed),
        Err(CryptoError::Decrypt)
    );
    // The original still decrypts.
    let own = store.byok_key(&alice, "openai").await.unwrap().unwrap();
    assert_eq!(
        c.decrypt(&alice, "openai", &own.sealed).unwrap().expose(),
        "sk-alice-secret"
    );
}

async fn byok_tampered_ciphertext_fails(ctx: &Ctx) {
    let store = &ctx.store;
    let c = cipher();
    let account = store.create_account("t").await.unwrap().id;
    let mut sealed = c.encrypt(&account, "openai", "sk-tamper-me").unwrap();
    sealed.ciphertext[3] ^= 0x20;
    store
        .put_byok_key(&account, "openai", &sealed, "r-me", false)
        .await
        .unwrap();
    let read = store.byok_key(&account, "openai").await.unwrap().unwrap();
    assert_eq!(
        c.decrypt(&account, "openai", &read.sealed),
        Err(CryptoError::Decrypt)
    );
    // Under another secret: told apart from tampering.
    let other = ByokCipher::from_secret(&"z".repeat(32)).unwrap();
    let sealed = other.encrypt(&account, "anthropic", "sk-other").unwrap();
    store
        .put_byok_key(&account, "anthropic", &sealed, "ther", false)
        .await
        .unwrap();
    let read = store
        .byok_key(&account, "anthropic")
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        c.decrypt(&account, "anthropic", &read.sealed),
        Err(CryptoError::KeyMismatch { .. })
    ));
}

async fn byok_no_plaintext_in_the_database(ctx: &Ctx) {
    let store = &ctx.store;
    let c = cipher();
    let account = store.create_account("p").await.unwrap().id;
    let secret = "sk-ant-PLAINTEXT-MUST-NOT-LEAK-4242";
    let sealed = c.encrypt(&account, "anthropic", secret).unwrap();
    let (stored, _) = store
        .put_byok_key(&account, "anthropic", &sealed, &key_last4(secret), true)
        .await
        .unwrap();
    let raw = ctx.raw_contents().await;
    assert!(raw.contains(&account), "the dump sees the rows");
    for needle in ["PLAINTEXT-MUST-NOT-LEAK", "sk-ant-PLAINTEXT"] {
        assert!(!raw.contains(needle), "{needle} found in the database");
    }
    // Nor does any Debug output show it.
    let shown = format!("{stored:?} {sealed:?} {c:?}");
    assert!(!shown.contains("PLAINTEXT"), "{shown}");
    let plain = c.decrypt(&account, "anthropic", &stored.sealed).unwrap();
    assert!(!format!("{plain:?}").contains("PLAINTEXT"));
}

async fn byok_list_and_delete_per_account(ctx: &Ctx) {
    let store = &ctx.store;
    let c = cipher();
    let a = store.create_account("a").await.unwrap().id;
    let b = store.create_account("b").await.unwrap().id;
    for provider in ["openai", "anthropic", "gemini"] {
        let secret = format!("sk-{provider}-key-of-a");
        let sealed = c.encrypt(&a, provider, &secret).unwrap();
        store
            .put_byok_key(&a, provider, &sealed, &key_last4(&secret), false)
            .await
            .unwrap();
    }
    let sealed = c.encrypt(&b, "openai", "sk-b-key").unwrap();
    store
        .put_byok_key(&b, "openai", &sealed, "-key", false)
        .await
        .unwrap();

    let listed: Vec<String> = store
        .list_byok_keys(&a)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.provider)
        .collect();
    assert_eq!(listed, ["anthropic", "gemini", "openai"]);

    assert!(store.delete_byok_key(&a, "openai").await.unwrap());
    assert!(!store.delete_byok_key(&a, "openai").await.unwrap());
    assert_eq!(store.byok_key(&a, "openai").await.unwrap(), None);
    assert_eq!(store.list_byok_keys(&a).await.unwrap().len(), 2);
    // B's key for the same provider is untouched.
    assert!(store.byok_key(&b, "openai").await.unwrap().is_some());
    assert!(!store.delete_byok_key(&b, "anthropic").await.unwrap());
}

async fn byok_unknown_account(ctx: &Ctx) {
    let sealed = cipher().encrypt("acct_missing", "openai", "sk-x").unwrap();
    let err = ctx
        .store
        .put_byok_key("acct_missing", "openai", &sealed, "sk-x", false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AccountNotFound(ref id) if id == "acct_missing"),
        "{err}"
    );
}

/// Exchanges and unwraps an accepted exchange.
async fn exchange_ok(
    store: &Store,
    code: &str,
    verifier: Option<&str>,
    method: Option<ChallengeMethod>,
    now: DateTime<Utc>,
) -> ExchangedKey {
    store
        .exchange_oauth_code(code, verifier, method, now)
        .await
        .unwrap()
        .unwrap_or_else(|r| panic!("refused: {r}"))
}

async fn exchange_err(
    store: &Store,
    code: &str,
    verifier: Option<&str>,
    method: Option<ChallengeMethod>,
    now: DateTime<Utc>,
) -> CodeRejection {
    match store
        .exchange_oauth_code(code, verifier, method, now)
        .await
        .unwrap()
    {
        Ok(_) => panic!("exchange accepted"),
        Err(rejection) => rejection,
    }
}

async fn pkce_s256_happy_path_rfc_vector(ctx: &Ctx) {
    let store = &ctx.store;
    assert_eq!(s256_challenge(RFC_VERIFIER), RFC_CHALLENGE);
    let account = store.create_account("oauth").await.unwrap().id;
    let (code, record) = store
        .create_oauth_code(&account, new_code(s256()), TTL, t0())
        .await
        .unwrap();
    assert_eq!(code.len(), 64);
    assert!(code.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(record.hash, hash_api_key(&code));
    assert_eq!(
        record.expires_at - record.created_at,
        chrono::Duration::minutes(10)
    );
    assert_eq!(
        store.get_oauth_code(&code).await.unwrap(),
        Some(record.clone())
    );

    let before = key_count(store, &account).await;
    let now = t0() + chrono::Duration::seconds(30);
    let got = exchange_ok(
        store,
        &code,
        Some(RFC_VERIFIER),
        Some(ChallengeMethod::S256),
        now,
    )
    .await;
    assert!(got.secret.starts_with("sk-tg-v1-"), "{}", got.secret);
    assert_eq!(got.key.account_id, account);
    assert_eq!(got.key.kind, KeyKind::Inference);
    assert_eq!(got.key.label, "OAuth: app.example");
    assert!(!got.key.disabled);
    assert_eq!(got.key.hash, hash_api_key(&got.secret));
    assert_eq!(
        store.find_api_key(&got.secret).await.unwrap().as_ref(),
        Some(&got.key)
    );
    assert_eq!(key_count(store, &account).await, before + 1);
    let used = store.get_oauth_code(&code).await.unwrap().unwrap();
    assert_eq!(used.used_at, Some(now));
    assert_eq!(used.api_key_hash.as_deref(), Some(got.key.hash.as_str()));
    // Debug of the result never shows the secret.
    let shown = format!("{got:?}");
    assert!(!shown.contains(&got.secret), "{shown}");
}

async fn pkce_plain_happy_path(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("oauth").await.unwrap().id;
    let verifier = "plain-verifier-with-enough-entropy-0123456789";
    let challenge = CodeChallenge::new(ChallengeMethod::Plain, verifier).unwrap();
    let (code, _) = store
        .create_oauth_code(&account, new_code(Some(challenge)), TTL, t0())
        .await
        .unwrap();
    // No method in the request: the code's own.
    let got = exchange_ok(store, &code, Some(verifier), None, t0()).await;
    assert_eq!(got.key.account_id, account);
}

async fn code_without_challenge_needs_no_verifier(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("oauth").await.unwrap().id;
    let (code, record) = store
        .create_oauth_code(&account, new_code(None), TTL, t0())
        .await
        .unwrap();
    assert_eq!(record.challenge, None);
    exchange_ok(store, &code, None, None, t0()).await;
}

async fn reused_code_is_refused(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("oauth").await.unwrap().id;
    let (code, _) = store
        .create_oauth_code(&account, new_code(s256()), TTL, t0())
        .await
        .unwrap();
    exchange_ok(store, &code, Some(RFC_VERIFIER), None, t0()).await;
    let keys = key_count(store, &account).await;
    let again = exchange_err(store, &code, Some(RFC_VERIFIER), None, t0()).await;
    assert_eq!(again, CodeRejection::AlreadyUsed);
    assert_eq!(key_count(store, &account).await, keys, "no second key");
}

async fn expired_code_is_refused(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("oauth").await.unwrap().id;
    let (code, _) = store
        .create_oauth_code(&account, new_code(s256()), TTL, t0())
        .await
        .unwrap();
    // At the expiry instant it is over.
    let at_expiry = t0() + chrono::Duration::seconds(600);
    assert_eq!(
        exchange_err(store, &code, Some(RFC_VERIFIER), None, at_expiry).await,
        CodeRejection::Expired
    );
    assert_eq!(key_count(store, &account).await, 0);
    // A microsecond earlier it still works.
    let just_before = at_expiry - chrono::Duration::microseconds(1);
    exchange_ok(store, &code, Some(RFC_VERIFIER), None, just_before).await;
}

async fn wrong_method_is_refused_and_code_survives(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("oauth").await.unwrap().id;
    let (code, _) = store
        .create_oauth_code(&account, new_code(s256()), TTL, t0())
        .await
        .unwrap();
    // The plain method with the challenge itself as the "verifier" is the
    // downgrade this check exists for.
    let rejection = exchange_err(
        store,
        &code,
        Some(RFC_CHALLENGE),
        Some(ChallengeMethod::Plain),
        t0(),
    )
    .await;
    assert_eq!(
        rejection,
        CodeRejection::MethodMismatch {
            expected: ChallengeMethod::S256,
            sent: ChallengeMethod::Plain
        }
    );
    assert!(rejection.to_string().contains("`plain`"), "{rejection}");
    exchange_ok(
        store,
        &code,
        Some(RFC_VERIFIER),
        Some(ChallengeMethod::S256),
        t0(),
    )
    .await;
}

async fn missing_verifier_is_refused(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("oauth").await.unwrap().id;
    let (code, _) = store
        .create_oauth_code(&account, new_code(s256()), TTL, t0())
        .await
        .unwrap();
    assert_eq!(
        exchange_err(store, &code, None, None, t0()).await,
        CodeRejection::MissingVerifier
    );
    assert_eq!(key_count(store, &account).await, 0);
}

async fn bad_verifier_is_refused_and_creates_nothing(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("oauth").await.unwrap().id;
    let (code, _) = store
        .create_oauth_code(&account, new_code(s256()), TTL, t0())
        .await
        .unwrap();
    for bad in ["", "wrong", RFC_CHALLENGE, &RFC_VERIFIER[1..]] {
        assert_eq!(
            exchange_err(store, &code, Some(bad), None, t0()).await,
            CodeRejection::VerifierMismatch,
            "{bad:?}"
        );
    }
    assert_eq!(key_count(store, &account).await, 0, "rolled back");
    let record = store.get_oauth_code(&code).await.unwrap().unwrap();
    assert_eq!(record.used_at, None);
    // The right verifier still works.
    exchange_ok(store, &code, Some(RFC_VERIFIER), None, t0()).await;
}

async fn unknown_code_is_refused(ctx: &Ctx) {
    let store = &ctx.store;
    for code in ["", "nope", &"0".repeat(64)] {
        assert_eq!(
            exchange_err(store, code, Some(RFC_VERIFIER), None, t0()).await,
            CodeRejection::Unknown
        );
    }
}

async fn concurrent_exchanges_give_one_key(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("race").await.unwrap().id;
    let (code, _) = store
        .create_oauth_code(&account, new_code(s256()), TTL, t0())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            let code = code.clone();
            tokio::spawn(async move {
                store
                    .exchange_oauth_code(&code, Some(RFC_VERIFIER), None, t0())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(rejection) => assert_eq!(rejection, CodeRejection::AlreadyUsed),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(key_count(store, &account).await, 1);
}

async fn code_settings_carry_to_the_key(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("settings").await.unwrap().id;
    let expires = t0() + chrono::Duration::days(30);
    let new = NewOAuthCode {
        key_label: "My Custom Key".to_owned(),
        limit: Some(Decimal::from_str("12.5").unwrap()),
        limit_reset: Some(LimitReset::Monthly),
        key_expires_at: Some(expires),
        ..new_code(None)
    };
    let (code, record) = store
        .create_oauth_code(&account, new, TTL, t0())
        .await
        .unwrap();
    assert_eq!(record.limit, Some(Decimal::from_str("12.5").unwrap()));
    let got = exchange_ok(store, &code, None, None, t0()).await;
    assert_eq!(got.key.label, "My Custom Key");
    assert_eq!(got.key.limit, Some(Decimal::from_str("12.5").unwrap()));
    assert_eq!(got.key.limit_reset, Some(LimitReset::Monthly));
    assert_eq!(got.key.expires_at, Some(expires));
    assert!(
        got.key.hint.is_some(),
        "a masked preview like other created keys"
    );

    // A limit the ledger cannot hold exactly is refused up front.
    let bad = NewOAuthCode {
        limit: Some(Decimal::from_str("-1").unwrap()),
        ..new_code(None)
    };
    let err = store
        .create_oauth_code(&account, bad, TTL, t0())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidAmount { .. }), "{err}");
}

async fn codes_store_no_secrets(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("secrets").await.unwrap().id;
    let (code, _) = store
        .create_oauth_code(&account, new_code(None), TTL, t0())
        .await
        .unwrap();
    let got = exchange_ok(store, &code, None, None, t0()).await;
    let raw = ctx.raw_contents().await;
    assert!(
        raw.contains(&hash_api_key(&code)),
        "the dump sees the codes"
    );
    assert!(!raw.contains(&code), "the code is stored hashed");
    let secret_hex = got.secret.trim_start_matches("sk-tg-v1-");
    assert!(!raw.contains(secret_hex), "the key is stored hashed");
}

async fn purge_removes_expired_codes(ctx: &Ctx) {
    let store = &ctx.store;
    let account = store.create_account("purge").await.unwrap().id;
    let (old, _) = store
        .create_oauth_code(&account, new_code(None), TTL, t0())
        .await
        .unwrap();
    let later = t0() + chrono::Duration::hours(1);
    let (fresh, _) = store
        .create_oauth_code(&account, new_code(None), TTL, later)
        .await
        .unwrap();
    assert_eq!(store.purge_oauth_codes(later).await.unwrap(), 1);
    assert_eq!(store.get_oauth_code(&old).await.unwrap(), None);
    assert_eq!(
        exchange_err(store, &old, None, None, later).await,
        CodeRejection::Unknown
    );
    exchange_ok(store, &fresh, None, None, later).await;
}

async fn code_for_unknown_account(ctx: &Ctx) {
    let err = ctx
        .store
        .create_oauth_code("acct_missing", new_code(None), TTL, t0())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AccountNotFound(_)), "{err}");
}
