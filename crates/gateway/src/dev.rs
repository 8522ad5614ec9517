//! `tollgated --dev`: a complete gateway that needs nothing but the binary.
//!
//! It starts the demo mock providers in-process (three OpenAI-dialect mocks
//! serving the demo catalog embedded from `fixtures/providers/`), opens
//! SQLite in a temporary directory, creates a demo account with an API key
//! and a provisioning key (for `/api/v1/keys`, `tollgate keys`), and
//! hands back everything the binary prints. The demo catalog also has
//! `mock/moderated`, an endpoint marked `is_moderated`, and a mock
//! moderation backend (OpenAI's moderation API) is started for it unless
//! the config has its own `[moderation]`: an input containing
//! `[mock:flag=violence]` gets the moderation 403. With a user config
//! (`--dev --config FILE`), the providers of FILE are served instead of the
//! demo catalog, and the other conveniences stay. Unless the config names
//! a `[search] backend`, a mock SearXNG serves web search, so
//! `mock/echo:online` answers with citations.

use tempfile::TempDir;
use tollgate_catalog::{Catalog, Dialect, demo};
use tollgate_store::{KeyKind, NewApiKey, Store};
use tollgate_testkit::{
    Dialect as MockDialect, MockConfig, MockHandle, MockModeration, MockSearch, MockServer,
    SearchDialect, SearchHandle,
};

use crate::{AdminAuth, Config, Gateway, Result};

/// Credits (USD) the demo account starts with.
pub const DEV_CREDITS: rust_decimal::Decimal =
    rust_decimal::Decimal::from_parts(100, 0, 0, false, 0);

/// A running dev environment. Dropping it stops the mocks and deletes the
/// temporary database.
#[derive(Debug)]
pub struct DevEnvironment {
    /// The gateway, ready to serve.
    pub gateway: Gateway,
    /// The admin key (from `TOLLGATE_ADMIN_KEY`, else generated).
    pub admin_key: String,
    /// The demo API key (from `TOLLGATE_DEV_API_KEY`, else generated).
    pub api_key: String,
    /// The demo account's provisioning key, for `/api/v1/keys` (from
    /// `TOLLGATE_DEV_PROVISIONING_KEY`, else generated).
    pub provisioning_key: String,
    /// The temporary database's URL.
    pub database_url: String,
    /// The demo account's id.
    pub account_id: String,
    /// The mock providers, when serving the demo catalog.
    pub mocks: Vec<MockHandle>,
    /// The mock search backend (SearXNG's API), unless the config names
    /// a `[search] backend`.
    pub search: Option<SearchHandle>,
    /// The mock moderation backend, when the config has no `[moderation]`.
    pub moderation: Option<MockModeration>,
    _dir: TempDir,
}

impl DevEnvironment {
    /// Starts a dev environment; `user` is the `--config` file, if given.
    pub async fn start(user: Option<Config>) -> Result<DevEnvironment> {
        let dir = tempfile::Builder::new().prefix("tollgate-dev-").tempdir()?;
        let db_url = format!("sqlite://{}", dir.path().join("tollgate.db").display());
        let mut mocks = Vec::new();
        let (mut config, catalog) = match user {
            Some(config) => {
                let catalog = Catalog::load(&config.providers, &config.base_dir)?;
                (config, catalog)
            }
            None => {
                let mut pairs = demo::listings_with_moderated()?;
                for (p, _) in &mut pairs {
                    let dialect = match p.dialect {
                        Dialect::Openai => MockDialect::OpenAi,
                        Dialect::Anthropic => MockDialect::Anthropic,
                        Dialect::Gemini => MockDialect::Gemini,
                    };
                    let mock = MockServer::start(MockConfig {
                        name: p.name.clone(),
                        dialect,
                        ..MockConfig::default()
                    })
                    .await?;
                    p.base_url = mock.base_url();
                    mocks.push(mock);
                }
                let providers = pairs.iter().map(|(p, _)| p.clone()).collect();
                let config = Config {
                    providers,
                    ..Config::parse("", std::path::Path::new("--dev"), Default::default())?
                };
                (config, Catalog::build(pairs)?)
            }
        };
        let moderation = match config.moderation {
            Some(_) => None,
            None => {
                let backend = MockModeration::start().await?;
                config.moderation = Some(crate::config::ModerationConfig {
                    base_url: backend.base_url(),
                    model: String::from("omni-moderation-latest"),
                    api_key_env: None,
                    timeout_secs: 10.0,
                });
                Some(backend)
            }
        };
        config.database.url = db_url;
        // A mock SearXNG, so `mock/echo:online` cites results out of the box.
        let search = match config.search.backend {
            Some(_) => None,
            None => {
                let mock = MockSearch::start(SearchDialect::Searxng).await?;
                config.search.backend = Some(crate::search::BackendKind::Searxng);
                config.search.base_url = Some(mock.base_url());
                Some(mock)
            }
        };
        let store = Store::connect(&config.database.url).await?;
        let account = store.create_account("demo").await?;
        store
            .top_up(&account.id, DEV_CREDITS, Some("dev mode starting credits"))
            .await?;
        let new = NewApiKey {
            label: String::from("demo"),
            kind: KeyKind::Inference,
        };
        let api_key = match std::env::var("TOLLGATE_DEV_API_KEY") {
            Ok(secret) if !secret.trim().is_empty() => {
                store
                    .import_api_key(&account.id, secret.trim(), new)
                    .await?;
                secret.trim().to_string()
            }
            _ => store.create_api_key(&account.id, new).await?.0,
        };
        let provisioning = NewApiKey {
            label: String::from("demo-provisioning"),
            kind: KeyKind::Provisioning,
        };
        let provisioning_key = match std::env::var("TOLLGATE_DEV_PROVISIONING_KEY") {
            Ok(secret) if !secret.trim().is_empty() => {
                store
                    .import_api_key(&account.id, secret.trim(), provisioning)
                    .await?;
                secret.trim().to_string()
            }
            _ => store.create_api_key(&account.id, provisioning).await?.0,
        };
        let admin_key = match std::env::var("TOLLGATE_ADMIN_KEY") {
            Ok(k) if !k.trim().is_empty() => k.trim().to_string(),
            _ => format!("sk-tg-admin-{}", random_hex(32)),
        };
        let gateway =
            Gateway::from_parts(&config, catalog, store)?.with_admin(AdminAuth::new(&admin_key));
        Ok(DevEnvironment {
            gateway,
            admin_key,
            api_key,
            provisioning_key,
            database_url: config.database.url.clone(),
            account_id: account.id,
            mocks,
            search,
            moderation,
            _dir: dir,
        })
    }
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}
