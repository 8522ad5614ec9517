//! Reloading the catalog without a restart.
//!
//! The catalog, its provider adapters and the rendered `GET /models` body
//! live in one snapshot ([`Routes`]) behind an `ArcSwap`. A reload reads the
//! providers and their listing files again, validates them fully, builds
//! new adapters and swaps the snapshot in one step. A request takes the
//! snapshot once, when it plans, so requests in flight finish on the
//! catalog they started with. When anything is invalid nothing is swapped:
//! the previous catalog keeps serving and the error names the file, the
//! provider, the model and the field.
//!
//! Provider health is keyed by model and provider, not by snapshot, so the
//! health of endpoints that still exist survives a reload.
//!
//! Triggers: `SIGHUP` to `tollgated` and `POST /api/v1/admin/catalog/reload`.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use tollgate_catalog::{Catalog, Dialect, ProviderConfig};
use tollgate_transport::{
    AnthropicProvider, GeminiProvider, HttpClient, OpenAiProvider, Provider, ProviderSettings,
};

use crate::state::{AppState, Routes};
use crate::{Config, Error};

/// Where a reload reads the providers and their listings from.
#[derive(Debug, Clone)]
pub enum CatalogSource {
    /// A config file: its `[[providers]]` tables (read again, so providers
    /// can be added, changed or removed) and their listing files. The other
    /// sections are read at start-up only.
    ConfigFile(PathBuf),
    /// These provider tables' listing files (relative paths resolved
    /// against `base_dir`).
    Listings {
        /// The `[[providers]]` tables.
        providers: Vec<ProviderConfig>,
        /// The directory relative listing paths are resolved against.
        base_dir: PathBuf,
    },
    /// Nothing to reload from (a catalog built in memory, such as the
    /// embedded demo catalog of `--dev`): a reload answers with this
    /// explanation.
    Fixed(String),
}

impl CatalogSource {
    /// The source of a gateway whose catalog was built in memory.
    pub fn in_memory() -> CatalogSource {
        CatalogSource::Fixed(String::from(
            "nothing to reload: this gateway's catalog was built in memory, not read from a config file",
        ))
    }
}

/// Why a reload did not happen. Either way the previous catalog is still
/// served.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// This gateway has no file to reload its catalog from.
    #[error("{0}")]
    Unavailable(String),
    /// The configuration or a listing is invalid; the message names the
    /// file, the provider, the model and the field.
    #[error("{0}")]
    Invalid(String),
}

/// What a reload loaded.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadSummary {
    /// Every provider, in configuration order, with how many models it
    /// serves.
    pub providers: Vec<ProviderModels>,
    /// Distinct models.
    pub models: usize,
    /// Endpoints (a model at a provider).
    pub endpoints: usize,
    /// Models the new catalog has and the previous one did not.
    pub added_models: Vec<String>,
    /// Models the previous catalog had and the new one does not.
    pub removed_models: Vec<String>,
}

/// One provider of a [`ReloadSummary`].
#[derive(Debug, Clone, Serialize)]
pub struct ProviderModels {
    /// Its slug.
    pub slug: String,
    /// How many models it serves.
    pub models: usize,
}

/// The reload machinery a gateway keeps: where to read from and the HTTP
/// client new adapters share.
#[derive(Debug)]
pub struct Reloader {
    source: RwLock<CatalogSource>,
    client: HttpClient,
    /// One reload at a time.
    running: tokio::sync::Mutex<()>,
}

impl Reloader {
    pub(crate) fn new(source: CatalogSource, client: HttpClient) -> Reloader {
        Reloader {
            source: RwLock::new(source),
            client,
            running: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn set_source(&self, source: CatalogSource) {
        match self.source.write() {
            Ok(mut s) => *s = source,
            Err(poisoned) => *poisoned.into_inner() = source,
        }
    }

    fn source(&self) -> CatalogSource {
        match self.source.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Reads the catalog again from the gateway's [`CatalogSource`] and swaps
/// it in; on any error the previous catalog stays.
pub(crate) async fn reload(state: &AppState) -> Result<ReloadSummary, ReloadError> {
    let reloader = &state.reloader;
    let _one_at_a_time = reloader.running.lock().await;
    let source = reloader.source();
    if let CatalogSource::Fixed(why) = &source {
        return Err(ReloadError::Unavailable(why.clone()));
    }
    // Reading files blocks: keep it off the async workers.
    let (providers, catalog) = tokio::task::spawn_blocking(move || load(source))
        .await
        .map_err(|e| ReloadError::Invalid(format!("the reload task failed: {e}")))??;
    let routes = build_routes(&providers, catalog, &reloader.client)
        .map_err(|e| ReloadError::Invalid(e.to_string()))?;
    let new = Arc::new(routes);
    let old = state.routes.swap(new.clone());
    Ok(summary(&old.catalog, &new.catalog))
}

fn load(source: CatalogSource) -> Result<(Vec<ProviderConfig>, Catalog), ReloadError> {
    let invalid = |e: &dyn std::fmt::Display| ReloadError::Invalid(e.to_string());
    let (providers, base_dir) = match source {
        CatalogSource::ConfigFile(path) => {
            let config = Config::load(&path).map_err(|e| invalid(&e))?;
            (config.providers, config.base_dir)
        }
        CatalogSource::Listings {
            providers,
            base_dir,
        } => (providers, base_dir),
        CatalogSource::Fixed(why) => return Err(ReloadError::Unavailable(why)),
    };
    let catalog = Catalog::load(&providers, &base_dir).map_err(|e| invalid(&e))?;
    Ok((providers, catalog))
}

fn summary(old: &Catalog, new: &Catalog) -> ReloadSummary {
    let ids =
        |c: &Catalog| -> BTreeSet<String> { c.models().iter().map(|m| m.id.clone()).collect() };
    let (before, after) = (ids(old), ids(new));
    let mut per_provider: HashMap<&str, usize> = HashMap::new();
    let mut endpoints = 0;
    for model in new.models() {
        for ep in &model.endpoints {
            *per_provider.entry(ep.provider.as_str()).or_default() += 1;
            endpoints += 1;
        }
    }
    ReloadSummary {
        providers: new
            .providers()
            .iter()
            .map(|p| ProviderModels {
                slug: p.slug.clone(),
                models: per_provider.get(p.slug.as_str()).copied().unwrap_or(0),
            })
            .collect(),
        models: after.len(),
        endpoints,
        added_models: after.difference(&before).cloned().collect(),
        removed_models: before.difference(&after).cloned().collect(),
    }
}

/// The adapters of `providers` (keys read from the environment now), the
/// catalog restricted to what each adapter can translate, and the
/// rendered `GET /models` body.
pub(crate) fn build_routes(
    providers: &[ProviderConfig],
    catalog: Catalog,
    client: &HttpClient,
) -> Result<Routes, Error> {
    let mut adapters: foldhash::HashMap<String, Arc<dyn Provider>> = foldhash::HashMap::default();
    let mut secrets = tollgate_transport::Secrets::default();
    for p in providers {
        let api_key = match &p.api_key_env {
            Some(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Some(v),
                _ => {
                    tracing::warn!(provider = %p.slug, env = %var, "provider key variable is not set; calling without a key");
                    None
                }
            },
            None => None,
        };
        let mut settings =
            ProviderSettings::new(p.slug.clone(), p.name.clone(), p.base_url.clone());
        if let Some(key) = api_key {
            secrets.add(&key);
            settings = settings.with_api_key(key);
        }
        if let Some(secs) = p.timeout_secs {
            settings = settings.with_timeout(std::time::Duration::from_secs(secs));
        }
        settings.validate().map_err(|e| Error::Provider {
            provider: p.slug.clone(),
            message: e.to_string(),
        })?;
        let adapter: Arc<dyn Provider> = match p.dialect {
            Dialect::Openai => Arc::new(OpenAiProvider::new(settings, client.clone())),
            Dialect::Anthropic => Arc::new(AnthropicProvider::new(settings, client.clone())),
            Dialect::Gemini => Arc::new(GeminiProvider::new(settings, client.clone())),
        };
        adapters.insert(p.slug.clone(), adapter);
    }
    // Each endpoint advertises only the parameters its provider's adapter
    // can translate: the listing may name more than a dialect can send.
    let mut catalog = catalog;
    for (slug, adapter) in &adapters {
        catalog = catalog.restrict_parameters(slug, adapter.supported_parameters());
    }
    // `total_count` and `links` are required by the OpenAPI document (the
    // official SDKs validate them); the list is never paginated.
    let mut models = catalog.models_api();
    models
        .extra
        .insert("total_count".into(), models.data.len().into());
    models
        .extra
        .insert("links".into(), serde_json::json!({"next": null}));
    let models_json = serde_json::to_vec(&models)
        .map(bytes::Bytes::from)
        .map_err(|e| Error::Provider {
            provider: String::from("*"),
            message: e.to_string(),
        })?;
    Ok(Routes {
        catalog,
        providers: adapters,
        models_json,
        secrets,
    })
}
