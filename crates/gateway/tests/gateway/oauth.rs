//! OAuth PKCE through the router: the approval page, the approval form's
//! redirect, the code exchange and server-side codes. Also the harness the
//! BYOK tests share: a gateway over the demo catalog (no providers are
//! called) with chosen BYOK and OAuth settings.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Method, Request, header};
use chrono::Utc;
use sqlx::Connection;
use tempfile::TempDir;
use tollgate_catalog::{Catalog, demo};
use tollgate_gateway::{Config, Gateway};
use tollgate_store::{
    ByokCipher, ChallengeMethod, CodeChallenge, KeyKind, NewApiKey, NewOAuthCode, Store,
};
use tower::ServiceExt as _;

use crate::support::*;

/// RFC 7636, appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A gateway for the account routes: one account with an inference and a
/// provisioning key, the demo catalog, a temporary SQLite database.
pub(crate) struct Accounts {
    pub(crate) gateway: Gateway,
    pub(crate) account_id: String,
    /// An inference key of the account.
    pub(crate) key: String,
    /// A provisioning key of the account.
    pub(crate) provisioning: String,
    pub(crate) dir: TempDir,
}

impl Accounts {
    /// With BYOK under `cipher` (or disabled) and a 10-minute code TTL.
    pub(crate) async fn start(cipher: Option<ByokCipher>) -> Accounts {
        Accounts::start_with(cipher, 600).await
    }

    pub(crate) async fn start_with(cipher: Option<ByokCipher>, ttl_secs: u64) -> Accounts {
        let dir = tempfile::Builder::new()
            .prefix("tollgate-accounts-test-")
            .tempdir()
            .unwrap();
        let pairs = demo::listings().unwrap();
        let mut config = Config::parse("", Path::new("accounts-test"), PathBuf::new()).unwrap();
        config.providers = pairs.iter().map(|(p, _)| p.clone()).collect();
        config.server.byok_cipher = cipher;
        config.server.oauth_code_ttl_secs = ttl_secs;
        let url = format!("sqlite://{}", dir.path().join("tollgate.db").display());
        let store = Store::connect(&url).await.unwrap();
        let account = store.create_account("accounts").await.unwrap();
        let key = new_key(&store, &account.id, KeyKind::Inference).await;
        let provisioning = new_key(&store, &account.id, KeyKind::Provisioning).await;
        let gateway = Gateway::from_parts(&config, Catalog::build(pairs).unwrap(), store).unwrap();
        Accounts {
            gateway,
            account_id: account.id,
            key,
            provisioning,
            dir,
        }
    }

    pub(crate) fn store(&self) -> &Store {
        self.gateway.store()
    }

    /// Sends a request through the router and reads the answer.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        let response = self
            .gateway
            .router()
            .oneshot(request.body(body.into()).unwrap())
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: axum::body::to_bytes(body, usize::MAX).await.unwrap(),
        }
    }

    /// JSON with a bearer key.
    pub(crate) async fn json(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: &Value,
    ) -> Reply {
        self.send(
            method,
            path,
            bearer,
            Some("application/json"),
            body.to_string(),
        )
        .await
    }

    /// One SQL count over the database file.
    pub(crate) async fn count(&self, table: &str) -> i64 {
        let url = format!("sqlite://{}", self.dir.path().join("tollgate.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        n
    }

    /// Every byte of the database's files, as text.
    pub(crate) fn raw_database(&self) -> String {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            all.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        String::from_utf8_lossy(&all).into_owned()
    }

    /// `GET /auth?query`.
    async fn auth_page(&self, query: &str) -> Reply {
        self.send(
            Method::GET,
            &format!("/auth?{query}"),
            None,
            None,
            Body::empty(),
        )
        .await
    }

    /// `POST /auth/approve` with form fields.
    async fn approve(&self, fields: &[(&str, &str)]) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.send(
            Method::POST,
            "/auth/approve",
            None,
            Some("application/x-www-form-urlencoded"),
            body,
        )
        .await
    }

    /// `POST /api/v1/auth/keys` as the seed's example sends it: JSON with
    /// no content type.
    async fn exchange(&self, body: &Value) -> Reply {
        self.send(
            Method::POST,
            "/api/v1/auth/keys",
            None,
            None,
            body.to_string(),
        )
        .await
    }
}

async fn new_key(store: &Store, account: &str, kind: KeyKind) -> String {
    store
        .create_api_key(
            account,
            NewApiKey {
                label: format!("{kind}"),
                kind,
            },
        )
        .await
        .unwrap()
        .0
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

fn query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn assert_html(reply: &Reply, status: u16) -> String {
    assert_eq!(reply.status.as_u16(), status, "{}", text(reply));
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    let csp = reply.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    text(reply)
}

/// Approves with the account's key and returns the redirect target.
async fn approved(h: &Accounts, callback: &str, challenge: &str, method: &str) -> url::Url {
    let reply = h
        .approve(&[
            ("key", &h.key),
            ("callback_url", callback),
            ("code_challenge", challenge),
            ("code_challenge_method", method),
        ])
        .await;
    assert_eq!(reply.status, 303, "{}", text(&reply));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    url::Url::parse(reply.header("location").unwrap()).unwrap()
}

fn code_of(target: &url::Url) -> String {
    let codes: Vec<String> = target
        .query_pairs()
        .filter(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(codes.len(), 1, "exactly one code: {target}");
    codes[0].clone()
}

#[tokio::test]
async fn approval_page_is_a_form_carrying_the_request() {
    let h = Accounts::start(None).await;
    let reply = h
        .auth_page(&query(&[
            ("callback_url", "https://app.example/cb?state=xyz"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    let html = assert_html(&reply, 200);
    assert!(
        html.contains(r#"<form method="post" action="/auth/approve">"#),
        "{html}"
    );
    assert!(html.contains(r#"type="password""#), "{html}");
    assert!(html.contains(r#"name="key""#), "{html}");
    assert!(
        html.contains(r#"name="callback_url" value="https://app.example/cb?state=xyz""#),
        "{html}"
    );
    assert!(html.contains(&format!(r#"value="{CHALLENGE}""#)), "{html}");
    assert!(
        html.contains(r#"name="code_challenge_method" value="S256""#),
        "{html}"
    );
    assert!(html.contains("<strong>app.example</strong>"), "{html}");
    assert!(!html.contains("{{"), "every slot filled");
    assert!(!html.to_lowercase().contains("<script"), "no script needed");
    assert_eq!(
        h.count("oauth_codes").await,
        0,
        "showing the page creates nothing"
    );
}

#[tokio::test]
async fn approval_page_escapes_what_it_echoes() {
    let h = Accounts::start(None).await;
    let evil = r#""><script>alert(1)</script>"#;
    // A plain challenge may hold any printable character.
    let reply = h
        .auth_page(&query(&[
            (
                "callback_url",
                "https://app.example/cb?x=\"><img src=x onerror=alert(1)>",
            ),
            ("code_challenge", evil),
            ("code_challenge_method", "plain"),
        ]))
        .await;
    let html = assert_html(&reply, 200);
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains(r#""><"#), "{html}");
    assert!(
        html.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );

    // The error page of a refused callback echoes it, escaped.
    let reply = h
        .auth_page(&query(&[(
            "callback_url",
            r#"javascript:"><script>alert(1)</script>"#,
        )]))
        .await;
    let html = assert_html(&reply, 400);
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("http or https"), "{html}");

    // And so does the message for an unknown method.
    let reply = h
        .auth_page(&query(&[
            ("callback_url", "https://app.example/cb"),
            ("code_challenge", "abc"),
            ("code_challenge_method", "<b>S256</b>"),
        ]))
        .await;
    let html = assert_html(&reply, 400);
    assert!(html.contains("&lt;b&gt;S256&lt;/b&gt;"), "{html}");
    assert!(!html.contains("<b>S256"), "{html}");
}

#[tokio::test]
async fn callbacks_that_are_not_http_are_refused_with_a_page() {
    let h = Accounts::start(None).await;
    for callback in [
        "javascript:alert(1)",
        "data:text/html,<h1>hi</h1>",
        "/relative/path",
        "ftp://files.example/",
        "",
    ] {
        let reply = h.auth_page(&query(&[("callback_url", callback)])).await;
        let html = assert_html(&reply, 400);
        assert!(html.contains("Authorization failed"), "{callback}: {html}");
        // Nor does the approval form accept one.
        let reply = h
            .approve(&[("key", &h.key), ("callback_url", callback)])
            .await;
        assert_html(&reply, 400);
    }
    let reply = h.auth_page("").await;
    assert!(assert_html(&reply, 400).contains("callback_url is required"));
    let reply = h
        .auth_page(&query(&[
            ("callback_url", "https://app.example/cb"),
            ("code_challenge", "not-a-digest"),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    assert!(assert_html(&reply, 400).contains("SHA-256"));
    assert_eq!(h.count("oauth_codes").await, 0);
}

#[tokio::test]
async fn s256_flow_end_to_end() {
    let h = Accounts::start(None).await;
    let callback = "https://app.example/cb?state=xyz&keep=a%20b#section";
    let target = approved(&h, callback, CHALLENGE, "S256").await;
    // Back to the callback, its query and fragment kept.
    assert_eq!(target.host_str(), Some("app.example"));
    assert_eq!(target.path(), "/cb");
    assert_eq!(target.fragment(), Some("section"));
    let q = target.query().unwrap();
    assert!(q.starts_with("state=xyz&keep=a%20b&code="), "{q}");
    let code = code_of(&target);
    assert_eq!(code.len(), 64);

    let reply = h
        .exchange(&json!({
            "code": code,
            "code_verifier": VERIFIER,
            "code_challenge_method": "S256",
        }))
        .await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
    let body = reply.json();
    assert_eq!(body["user_id"], json!(h.account_id));
    let key = body["key"].as_str().unwrap();
    assert!(key.starts_with("sk-tg-v1-"), "{key}");
    assert_ne!(key, h.key, "a new key, not the one typed in");
    let stored = h.store().find_api_key(key).await.unwrap().unwrap();
    assert_eq!(stored.account_id, h.account_id);
    assert_eq!(stored.kind, KeyKind::Inference);
    assert_eq!(stored.label, "OAuth: app.example");

    // Single use.
    let again = h
        .exchange(&json!({"code": code, "code_verifier": VERIFIER}))
        .await;
    let error = assert_error(&again, 403);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("already been used"),
        "{error}"
    );
}

#[tokio::test]
async fn plain_flow_and_no_pkce_flow() {
    let h = Accounts::start(None).await;
    let verifier = "a-plain-verifier-of-the-app-0123456789";
    let target = approved(&h, "http://localhost:3000/cb", verifier, "plain").await;
    let reply = h
        .exchange(&json!({"code": code_of(&target), "code_verifier": verifier}))
        .await;
    assert_eq!(reply.status, 200, "{}", text(&reply));

    // Without a challenge, no verifier is needed (the seed's step 2).
    let target = approved(&h, "http://localhost:3000/cb", "", "").await;
    let reply = h.exchange(&json!({"code": code_of(&target)})).await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
}

#[tokio::test]
async fn a_provisioning_key_may_approve() {
    let h = Accounts::start(None).await;
    let reply = h
        .approve(&[
            ("key", &h.provisioning),
            ("callback_url", "https://app.example/cb"),
        ])
        .await;
    assert_eq!(reply.status, 303, "{}", text(&reply));
    let target = url::Url::parse(reply.header("location").unwrap()).unwrap();
    let body = h.exchange(&json!({"code": code_of(&target)})).await.json();
    let stored = h
        .store()
        .find_api_key(body["key"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.kind,
        KeyKind::Inference,
        "the app gets an inference key"
    );
}

#[tokio::test]
async fn bad_keys_on_the_form_show_an_error_and_create_nothing() {
    let h = Accounts::start(None).await;
    let fields = |key: &'static str| {
        vec![
            ("key", key),
            ("callback_url", "https://app.example/cb"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
    };
    let reply = h.approve(&fields("sk-tg-v1-not-a-key")).await;
    let html = assert_html(&reply, 401);
    assert!(reply.header("location").is_none());
    assert!(html.contains("Invalid API key"), "{html}");
    // The form is shown again, still carrying the request.
    assert!(html.contains(&format!(r#"value="{CHALLENGE}""#)), "{html}");
    assert!(html.contains(r#"type="password""#), "{html}");

    let reply = h.approve(&fields("")).await;
    assert!(assert_html(&reply, 401).contains("Enter an API key"));

    let (disabled, hash) = {
        let (secret, key) = h
            .store()
            .create_api_key(
                &h.account_id,
                NewApiKey {
                    label: "old".to_owned(),
                    kind: KeyKind::Inference,
                },
            )
            .await
            .unwrap();
        (secret, key.hash)
    };
    h.store().set_api_key_disabled(&hash, true).await.unwrap();
    let reply = h
        .approve(&[
            ("key", &disabled),
            ("callback_url", "https://app.example/cb"),
        ])
        .await;
    assert!(assert_html(&reply, 401).contains("disabled"));

    assert_eq!(h.count("oauth_codes").await, 0, "no code was created");
}

#[tokio::test]
async fn every_refused_exchange_is_a_403_saying_why() {
    let h = Accounts::start(None).await;
    let s256 = CodeChallenge::new(ChallengeMethod::S256, CHALLENGE).unwrap();
    let new = |challenge: Option<CodeChallenge>| NewOAuthCode {
        callback_url: None,
        challenge,
        key_label: "t".to_owned(),
        limit: None,
        limit_reset: None,
        key_expires_at: None,
    };
    let code = |created: chrono::DateTime<Utc>| {
        let new = new(Some(s256.clone()));
        let store = h.store().clone();
        let account = h.account_id.clone();
        async move {
            store
                .create_oauth_code(&account, new, std::time::Duration::from_secs(600), created)
                .await
                .unwrap()
                .0
        }
    };
    let now = Utc::now();
    let fresh = code(now).await;
    let expired = code(now - chrono::Duration::minutes(11)).await;
    let cases = [
        (
            json!({"code": fresh, "code_verifier": "wrong"}),
            "does not match the code_challenge",
        ),
        (
            json!({"code": fresh, "code_verifier": VERIFIER, "code_challenge_method": "plain"}),
            "does not match the authorization request's `S256`",
        ),
        (json!({"code": fresh}), "code_verifier is required"),
        (
            json!({"code": fresh, "code_verifier": null}),
            "code_verifier is required",
        ),
        (
            json!({"code": expired, "code_verifier": VERIFIER}),
            "expired",
        ),
        (
            json!({"code": "0".repeat(64), "code_verifier": VERIFIER}),
            "invalid authorization code",
        ),
    ];
    for (body, message) in cases {
        let reply = h.exchange(&body).await;
        let error = assert_error(&reply, 403);
        assert!(
            error["message"].as_str().unwrap().contains(message),
            "{body}: {error}"
        );
        assert_eq!(error["metadata"]["error_type"], "permission_denied");
    }
    // None of those used the fresh code up.
    let reply = h
        .exchange(&json!({"code": fresh, "code_verifier": VERIFIER}))
        .await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
}

#[tokio::test]
async fn malformed_exchange_bodies_are_400() {
    let h = Accounts::start(None).await;
    for (body, field) in [
        ("not json", None),
        ("[]", None),
        ("{}", None),
        (r#"{"code": 5}"#, Some("code")),
        (r#"{"code": ""}"#, Some("code")),
        (
            r#"{"code": "abc", "code_challenge_method": "S512"}"#,
            Some("code_challenge_method"),
        ),
        (
            r#"{"code": "abc", "code_verifier": 12}"#,
            Some("code_verifier"),
        ),
    ] {
        let reply = h
            .send(
                Method::POST,
                "/api/v1/auth/keys",
                None,
                Some("application/json"),
                body,
            )
            .await;
        let error = assert_error(&reply, 400);
        if let Some(field) = field {
            assert_eq!(error["metadata"]["field"], field, "{body}: {error}");
        }
    }
}

#[tokio::test]
async fn the_code_ttl_is_a_setting() {
    let h = Accounts::start_with(None, 90).await;
    let target = approved(&h, "https://app.example/cb", CHALLENGE, "S256").await;
    let record = h
        .store()
        .get_oauth_code(&code_of(&target))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.expires_at - record.created_at,
        chrono::Duration::seconds(90)
    );
}

#[tokio::test]
async fn server_side_codes() {
    let h = Accounts::start(None).await;
    let reply = h
        .json(
            Method::POST,
            "/api/v1/auth/keys/code",
            Some(&h.key),
            &json!({
                "callback_url": "https://myapp.com/auth/callback",
                "code_challenge": CHALLENGE,
                "code_challenge_method": "S256",
                "limit": 100,
                "usage_limit_type": "monthly",
                "key_label": "My Custom Key",
                "workspace_id": "ignored",
            }),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
    let data = reply.json()["data"].clone();
    assert_eq!(data["app_id"], 0);
    assert!(
        data["created_at"].as_str().unwrap().ends_with('Z'),
        "{data}"
    );
    let code = data["id"].as_str().unwrap();

    let reply = h
        .exchange(
            &json!({"code": code, "code_verifier": VERIFIER, "code_challenge_method": "S256"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
    let key = h
        .store()
        .find_api_key(reply.json()["key"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(key.label, "My Custom Key");
    assert_eq!(key.limit, Some(100.into()));
    assert_eq!(key.limit_reset, Some(tollgate_store::LimitReset::Monthly));

    // A provisioning key may create codes too; no key may not.
    let body = json!({"callback_url": "https://myapp.com/cb"});
    let reply = h
        .json(
            Method::POST,
            "/api/v1/auth/keys/code",
            Some(&h.provisioning),
            &body,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
    let reply = h
        .json(Method::POST, "/api/v1/auth/keys/code", None, &body)
        .await;
    assert_error(&reply, 401);
    let reply = h
        .json(
            Method::POST,
            "/api/v1/auth/keys/code",
            Some("sk-tg-v1-nope"),
            &body,
        )
        .await;
    assert_error(&reply, 401);

    for (body, field) in [
        (json!({}), None),
        (
            json!({"callback_url": "javascript:alert(1)"}),
            Some("callback_url"),
        ),
        (
            json!({"callback_url": "https://a.example/", "code_challenge_method": "S256"}),
            Some("code_challenge"),
        ),
        (
            json!({"callback_url": "https://a.example/", "limit": -1}),
            Some("limit"),
        ),
        (
            json!({"callback_url": "https://a.example/", "usage_limit_type": "hourly"}),
            Some("usage_limit_type"),
        ),
        (
            json!({"callback_url": "https://a.example/", "expires_at": "2001-01-01T00:00:00Z"}),
            Some("expires_at"),
        ),
        (
            json!({"callback_url": "https://a.example/", "key_label": "x".repeat(101)}),
            Some("key_label"),
        ),
    ] {
        let reply = h
            .json(Method::POST, "/api/v1/auth/keys/code", Some(&h.key), &body)
            .await;
        let error = assert_error(&reply, 400);
        if let Some(field) = field {
            assert_eq!(error["metadata"]["field"], field, "{body}: {error}");
        }
    }
}

#[tokio::test]
async fn the_exchange_may_be_called_from_a_browser() {
    let h = Accounts::start(None).await;
    let request = Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/v1/auth/keys")
        .header(header::ORIGIN, "https://app.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
        .body(Body::empty())
        .unwrap();
    let response = h.gateway.router().oneshot(request).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
}
