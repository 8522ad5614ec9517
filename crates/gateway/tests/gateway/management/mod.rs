//! The management endpoints: `/key`, `/credits`, `/keys`, `/generation`,
//! `/activity` and the admin API's answer when it is disabled.
//!
//! These need no provider, so each test builds a bare gateway over the demo
//! catalog (its providers never called) and a SQLite file in its own
//! temporary directory, which a test may read raw. Every key is created
//! fresh, so the inference path's 10-second key cache never hides a change.

mod account;
mod admin;
mod generation;
mod keys;

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Method, Request, header};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tempfile::TempDir;
use tollgate_catalog::{Catalog, demo};
use tollgate_gateway::{Config, Gateway};
use tollgate_store::{GenerationRecord, KeyKind, KeyOptions, NewApiKey, Store};
use tower::ServiceExt as _;

use crate::support::{Reply, Value};

/// A gateway with one account holding an inference and a provisioning key.
pub(crate) struct Bare {
    pub(crate) gateway: Gateway,
    pub(crate) account: String,
    /// The inference key's secret and hash.
    pub(crate) key: String,
    pub(crate) key_hash: String,
    /// The provisioning key's secret and hash.
    pub(crate) prov: String,
    pub(crate) prov_hash: String,
    dir: TempDir,
}

/// Another account of the same gateway with its two keys.
pub(crate) struct Other {
    pub(crate) account: String,
    pub(crate) key: String,
    pub(crate) key_hash: String,
    pub(crate) prov: String,
}

pub(crate) async fn bare() -> Bare {
    let dir = tempfile::Builder::new()
        .prefix("tollgate-management-test-")
        .tempdir()
        .unwrap();
    let pairs = demo::listings().unwrap();
    let mut config = Config::parse("", Path::new("management-test"), PathBuf::new()).unwrap();
    config.providers = pairs.iter().map(|(p, _)| p.clone()).collect();
    let catalog = Catalog::build(pairs).unwrap();
    let url = format!("sqlite://{}", dir.path().join("tollgate.db").display());
    let store = Store::connect(&url).await.unwrap();
    let gateway = Gateway::from_parts(&config, catalog, store).unwrap();
    let (account, key, key_hash, prov, prov_hash) =
        account_with_keys(gateway.store(), "acme").await;
    Bare {
        gateway,
        account,
        key,
        key_hash,
        prov,
        prov_hash,
        dir,
    }
}

/// A new account with an inference key and a provisioning key:
/// (account, key, key hash, provisioning key, provisioning hash).
async fn account_with_keys(store: &Store, name: &str) -> (String, String, String, String, String) {
    let account = store.create_account(name).await.unwrap();
    let (key, k) = store
        .create_api_key(&account.id, new_key("default", KeyKind::Inference))
        .await
        .unwrap();
    let (prov, p) = store
        .create_api_key(&account.id, new_key("ops", KeyKind::Provisioning))
        .await
        .unwrap();
    (account.id, key, k.hash, prov, p.hash)
}

pub(crate) fn new_key(label: &str, kind: KeyKind) -> NewApiKey {
    NewApiKey {
        label: label.to_owned(),
        kind,
    }
}

pub(crate) fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

impl Bare {
    pub(crate) fn store(&self) -> &Store {
        self.gateway.store()
    }

    pub(crate) async fn other(&self) -> Other {
        let (account, key, key_hash, prov, _) = account_with_keys(self.store(), "other").await;
        Other {
            account,
            key,
            key_hash,
            prov,
        }
    }

    /// A new inference key of the account with these settings: (secret,
    /// hash).
    pub(crate) async fn key_with(&self, label: &str, options: KeyOptions) -> (String, String) {
        let (secret, key) = self
            .store()
            .create_api_key_with(&self.account, new_key(label, KeyKind::Inference), &options)
            .await
            .unwrap();
        (secret, key.hash)
    }

    /// `method path` with `key` as the bearer (if any) and `body` as JSON
    /// (if any), through the router.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        self.raw(request).await
    }

    pub(crate) async fn raw(&self, request: Request<Body>) -> Reply {
        let response = self.gateway.router().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub(crate) async fn get(&self, path: &str, key: &str) -> Reply {
        self.call(Method::GET, path, Some(key), None).await
    }

    /// Every byte of the database's files (main file, WAL, shared memory)
    /// as text, to show what is and is not stored.
    pub(crate) fn raw_database(&self) -> String {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            all.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        String::from_utf8_lossy(&all).into_owned()
    }
}

/// A successful chat generation of the account through `key`.
pub(crate) fn generation(
    id: &str,
    account: &str,
    key: &str,
    created_at: DateTime<Utc>,
) -> GenerationRecord {
    GenerationRecord {
        native_tokens_prompt: Some(10),
        native_tokens_completion: Some(5),
        total_cost: d("0.0001"),
        upstream_inference_cost: Some(d("0.0001")),
        latency_ms: Some(12),
        generation_time_ms: Some(30),
        ..tollgate_store::testing::generation(id, account, key, created_at)
    }
}
