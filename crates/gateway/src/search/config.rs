//! `[search]`: the web-search backend and its price.

use rust_decimal::Decimal;
use serde::Deserialize;

/// `[search]`. Without a `backend`, web search is off: a request asking
/// for it is a 400 naming the field that asked.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// `"exa"` (Exa's `POST /search`) or `"searxng"` (a SearXNG instance's
    /// `GET /search?format=json`); absent: web search is off.
    #[serde(default)]
    pub backend: Option<BackendKind>,
    /// The API's origin: default `https://api.exa.ai` for Exa; required
    /// for SearXNG (no public default). `/search` is appended.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The environment variable holding the API key (sent as `x-api-key`
    /// to Exa; as `Authorization: Bearer` to SearXNG when set, for an
    /// instance behind a proxy). Default `EXA_API_KEY` for Exa, none for
    /// SearXNG. The key is read at start-up, never from this file.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// USD charged per search result (default 0.004: $4 per 1,000
    /// results), held before the search and settled with the tokens.
    #[serde(default = "default_price")]
    pub price_per_result: Decimal,
    /// Results per search when the request names no `max_results`
    /// (default 5).
    #[serde(default = "default_max_results")]
    pub default_max_results: u32,
    /// The most results one search may ask for (default 25).
    #[serde(default = "default_max_results_cap")]
    pub max_results_cap: u32,
    /// Searches the `openrouter:web_search` server tool may run in one
    /// request: model turns that call it, before the gateway asks for an
    /// answer without it (default 3).
    #[serde(default = "default_max_rounds")]
    pub max_rounds: u32,
    /// Seconds one search may take before it counts as failed (default 10).
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
}

/// `[search] backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Exa (`https://api.exa.ai/search`).
    Exa,
    /// SearXNG (`/search?format=json`).
    Searxng,
}

impl BackendKind {
    /// The engine's name, as `/generation`'s `web_search_engine` and a
    /// request's `engine` say it.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Exa => "exa",
            BackendKind::Searxng => "searxng",
        }
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            backend: None,
            base_url: None,
            api_key_env: None,
            price_per_result: default_price(),
            default_max_results: default_max_results(),
            max_results_cap: default_max_results_cap(),
            max_rounds: default_max_rounds(),
            timeout_secs: default_timeout(),
        }
    }
}

fn default_price() -> Decimal {
    Decimal::new(4, 3)
}
fn default_max_results() -> u32 {
    5
}
fn default_max_results_cap() -> u32 {
    25
}
fn default_max_rounds() -> u32 {
    3
}
fn default_timeout() -> f64 {
    10.0
}

impl SearchConfig {
    /// Checks the values, naming the key that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.price_per_result < Decimal::ZERO {
            return Err(String::from("search.price_per_result must not be negative"));
        }
        if !(1..=100).contains(&self.max_results_cap) {
            return Err(String::from(
                "search.max_results_cap must be between 1 and 100",
            ));
        }
        if !(1..=self.max_results_cap).contains(&self.default_max_results) {
            return Err(String::from(
                "search.default_max_results must be between 1 and search.max_results_cap",
            ));
        }
        if !(1..=10).contains(&self.max_rounds) {
            return Err(String::from("search.max_rounds must be between 1 and 10"));
        }
        if !(self.timeout_secs > 0.0 && self.timeout_secs <= 600.0) {
            return Err(String::from(
                "search.timeout_secs must be above 0 and at most 600",
            ));
        }
        if self.backend == Some(BackendKind::Searxng) && self.base_url.is_none() {
            return Err(String::from(
                "search.base_url is required with backend = \"searxng\"",
            ));
        }
        if let Some(url) = &self.base_url
            && url::Url::parse(url)
                .ok()
                .is_none_or(|u| !matches!(u.scheme(), "http" | "https"))
        {
            return Err(format!("search.base_url: `{url}` is not an http(s) URL"));
        }
        Ok(())
    }

    /// The origin searches go to.
    pub fn base_url(&self) -> &str {
        match (&self.base_url, self.backend) {
            (Some(url), _) => url.trim_end_matches('/'),
            (None, _) => "https://api.exa.ai",
        }
    }

    /// The variable the key is read from.
    pub fn api_key_env(&self) -> Option<&str> {
        match (&self.api_key_env, self.backend) {
            (Some(var), _) => Some(var),
            (None, Some(BackendKind::Exa)) => Some("EXA_API_KEY"),
            (None, _) => None,
        }
    }
}
