//! Web search: `:online`, the `web` plugin, `web_search_options` and the
//! `openrouter:web_search` server tool, run against the `[search]`
//! backend (Exa or SearXNG, [`backend`]).
//!
//! * **In the prompt** (`:online`, `plugins: [{"id": "web"}]`,
//!   `web_search_options`): one search with the last user message's text,
//!   before the upstream call; the results, introduced by the
//!   `search_prompt` (OpenRouter's text by default), are appended to that
//!   message as markdown links named by domain ([`prompt`]).
//! * **As a server tool** (`tools: [{"type": "openrouter:web_search"}]`):
//!   the model sees a function `web_search(query)`; when it calls it, the
//!   gateway searches, answers the call with the results and asks again,
//!   at most `[search] max_rounds` times, then once more without the tool
//!   ([`run`]).
//!
//! Either way the answer carries `annotations` of type `url_citation`
//! (on the message; in a stream, in the delta of the chunk that finishes),
//! `usage.server_tool_use_details.web_search_requests`, and `/generation`
//! `num_search_results` and `web_search_engine`. Results are priced per
//! result (`[search] price_per_result`): the hold covers the most results
//! the request may get (and the room they take in the prompt, each round),
//! and the results got are charged with the tokens, in the same
//! settlement.
//!
//! A search that fails (backend down, error status, unreadable answer) is
//! logged and the request goes on without results: no citations, nothing
//! charged for search. The server tool answers the model's call with
//! `web search failed` so it can answer from what it knows.

pub mod backend;
pub mod config;
pub mod prompt;
pub mod run;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use tollgate_catalog::{ModelId, Variant};
use tollgate_schema::chat::{ChatRequest, FunctionDef, Tool};
use tollgate_transport::HttpClient;

pub use backend::{Query, SearchBackend, SearchError, SearchResult};
pub use config::{BackendKind, SearchConfig};

use crate::error::ApiError;

/// The name of the function the model sees for the server tool.
pub const TOOL_NAME: &str = "web_search";

/// The gateway's search settings and backend.
#[derive(Debug)]
pub struct Search {
    /// `[search]`.
    pub config: SearchConfig,
    backend: Option<Box<dyn SearchBackend>>,
}

impl Search {
    /// The backend `config` names, calling out with `client`.
    pub fn new(config: SearchConfig, client: HttpClient) -> Search {
        let backend = backend::from_config(&config, client);
        Search { config, backend }
    }

    /// The engine searches run on, if search is on.
    pub fn engine(&self) -> Option<&'static str> {
        self.backend.as_ref().map(|b| b.engine())
    }
}

/// How a request uses web search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One search; the results in the prompt.
    Prompt,
    /// The `openrouter:web_search` server tool.
    Tool,
}

/// A request's web search, as its options resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSearch {
    /// Prompt or tool.
    pub mode: Mode,
    /// Results per search.
    pub max_results: u32,
    /// Content characters per result.
    pub max_characters: usize,
    /// The text introducing the results (`None`: OpenRouter's default).
    pub search_prompt: Option<String>,
}

/// Content characters per result for `search_context_size` (Exa's
/// mapping in the OpenAPI document), and when none is given.
fn context_characters(size: Option<&str>) -> usize {
    match size {
        Some("low") => 5_000,
        Some("medium") => 15_000,
        Some("high") => 30_000,
        _ => 3_000,
    }
}

/// What one search in a request has used, shared by the hold (which
/// charges it) and the search runs (which count it).
#[derive(Debug, Default)]
pub struct SearchUse {
    results: AtomicU64,
    searches: AtomicU64,
    tool_calls: AtomicU64,
    engine: Mutex<Option<&'static str>>,
    price: Mutex<Decimal>,
}

impl SearchUse {
    /// Counts one search on `engine` that gave `results` results, at
    /// `price` each.
    pub fn searched(&self, engine: &'static str, results: usize, price: Decimal) {
        self.results.fetch_add(
            u64::try_from(results).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.searches.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.engine.lock() {
            *e = Some(engine);
        }
        if let Ok(mut p) = self.price.lock() {
            *p = price;
        }
    }

    /// Counts a server-tool call the model made.
    pub fn tool_called(&self) {
        self.tool_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Results got so far.
    pub fn results(&self) -> u64 {
        self.results.load(Ordering::Relaxed)
    }

    /// Searches run so far.
    pub fn searches(&self) -> u64 {
        self.searches.load(Ordering::Relaxed)
    }

    /// The engine searched, once a search ran.
    pub fn engine(&self) -> Option<&'static str> {
        self.engine.lock().ok().and_then(|e| *e)
    }

    /// The price per result.
    pub fn price(&self) -> Decimal {
        self.price.lock().map(|p| *p).unwrap_or_default()
    }

    /// `pricing` with web search at the price of the results got (the
    /// endpoint's own `web_search` price is for its native search).
    pub fn pricing(
        &self,
        pricing: &tollgate_catalog::EndpointPricing,
    ) -> tollgate_catalog::EndpointPricing {
        let mut p = pricing.clone();
        if self.results() > 0 {
            p.web_search = self.price();
        }
        p
    }

    /// `usage.server_tool_use_details`, once something searched.
    pub fn usage_details(&self) -> Option<Value> {
        let searches = self.searches();
        let calls = self.tool_calls.load(Ordering::Relaxed);
        (searches > 0 || calls > 0).then(|| {
            let mut d = json!({ "web_search_requests": searches });
            if calls > 0 {
                d["tool_calls_requested"] = json!(calls);
                d["tool_calls_executed"] = json!(calls);
            }
            d
        })
    }
}

/// Takes the request's web-search options out of it (reads the `web`
/// plugin, removes `web_search_options`, an `openrouter:web_search` tool, which becomes
/// the function [`TOOL_NAME`]; `:online` stays in the model id), checks
/// them, and says how the request searches. A bad option is a 400 naming
/// its field; asking for search with no `[search] backend` is a 400 too.
pub fn take(search: &Search, request: &mut ChatRequest) -> Result<Option<WebSearch>, ApiError> {
    let cfg = &search.config;
    let mut wanted = false;
    let mut mode = Mode::Prompt;
    let mut max_results = None;
    let mut size: Option<String> = None;
    let mut max_characters = None;
    let mut search_prompt = None;
    let mut asked_by = String::new();

    // The `web` plugins stay in the list (nothing upstream reads it), so
    // that later stages name the client's own indices (`plugins[1].pdf`).
    for (i, plugin) in request.plugins.iter().flatten().enumerate() {
        if plugin.get("id").and_then(Value::as_str) != Some("web") {
            continue;
        }
        let at = format!("plugins[{i}]");
        let o = object(plugin, &at)?;
        if !flag(o, "enabled", &at)?.unwrap_or(true) {
            continue;
        }
        wanted = true;
        asked_by = at.clone();
        read(o, &at, cfg, search, &mut max_results, &mut search_prompt)?;
    }
    if let Some(options) = request.extra.remove("web_search_options") {
        let at = "web_search_options";
        let o = object(&options, at)?;
        wanted = true;
        asked_by = at.into();
        read(o, at, cfg, search, &mut max_results, &mut search_prompt)?;
        size = context_size(o, at)?.or(size);
    }
    let online = request
        .model
        .iter()
        .chain(request.models.iter().flatten())
        .any(|m| ModelId::parse(m).is_ok_and(|id| id.variant() == Some(Variant::Online)));
    if online {
        wanted = true;
        if asked_by.is_empty() {
            asked_by = String::from("model");
        }
    }
    if let Some(tools) = request.tools.as_mut() {
        for (i, tool) in tools.iter_mut().enumerate() {
            if !matches!(
                tool.kind.as_str(),
                "openrouter:web_search"
                    | "web_search"
                    | "web_search_preview"
                    | "web_search_preview_2025_03_11"
                    | "web_search_2025_08_26"
            ) {
                continue;
            }
            let at = format!("tools[{i}]");
            // `{type, parameters: {...}}`, or the shorthand's own keys.
            let settings = match tool.extra.get("parameters") {
                Some(p) => object(p, &format!("{at}.parameters"))?.clone(),
                None => tool.extra.clone().into_iter().collect(),
            };
            let at = match tool.extra.contains_key("parameters") {
                true => format!("{at}.parameters"),
                false => at,
            };
            read(
                &settings,
                &at,
                cfg,
                search,
                &mut max_results,
                &mut search_prompt,
            )?;
            size = context_size(&settings, &at)?.or(size);
            if let Some(v) = settings.get("max_characters") {
                let n = v
                    .as_u64()
                    .filter(|n| (1..=100_000).contains(n))
                    .ok_or_else(|| {
                        ApiError::field(
                            format!("{at}.max_characters"),
                            format!("`{at}.max_characters` must be an integer from 1 to 100000"),
                        )
                    })?;
                max_characters = usize::try_from(n).ok();
            }
            *tool = function_tool();
            wanted = true;
            mode = Mode::Tool;
            asked_by = at;
        }
    }
    if !wanted {
        return Ok(None);
    }
    if search.backend.is_none() {
        return Err(ApiError::field(
            asked_by.clone(),
            format!(
                "`{asked_by}` asks for web search, which this gateway does not offer (no [search] backend is configured)"
            ),
        ));
    }
    Ok(Some(WebSearch {
        mode,
        max_results: max_results.unwrap_or(cfg.default_max_results),
        max_characters: max_characters.unwrap_or_else(|| context_characters(size.as_deref())),
        search_prompt,
    }))
}

/// The function the model calls for the server tool.
fn function_tool() -> Tool {
    Tool {
        kind: String::from("function"),
        function: Some(FunctionDef {
            name: String::from(TOOL_NAME),
            description: Some(String::from(
                "Search the web for current information. Returns results as markdown links to cite.",
            )),
            parameters: Some(json!({
                "type": "object",
                "properties": {"query": {"type": "string", "description": "What to search for"}},
                "required": ["query"],
            })),
            strict: None,
            extra: Default::default(),
        }),
        extra: Default::default(),
    }
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object()
        .ok_or_else(|| ApiError::field(at, format!("`{at}` must be an object")))
}

fn flag(o: &Map<String, Value>, key: &str, at: &str) -> Result<Option<bool>, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::field(
            format!("{at}.{key}"),
            format!("`{at}.{key}` must be a boolean"),
        )),
    }
}

/// Reads `max_results`, `search_prompt` and `engine` of one option set.
fn read(
    o: &Map<String, Value>,
    at: &str,
    cfg: &SearchConfig,
    search: &Search,
    max_results: &mut Option<u32>,
    search_prompt: &mut Option<String>,
) -> Result<(), ApiError> {
    if let Some(v) = o.get("max_results").filter(|v| !v.is_null()) {
        let cap = cfg.max_results_cap;
        let n = v
            .as_u64()
            .filter(|n| (1..=u64::from(cap)).contains(n))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                ApiError::field(
                    format!("{at}.max_results"),
                    format!("`{at}.max_results` must be an integer from 1 to {cap}"),
                )
            })?;
        *max_results = Some(n);
    }
    if let Some(v) = o.get("search_prompt").filter(|v| !v.is_null()) {
        let p = v.as_str().filter(|p| p.len() <= 4096).ok_or_else(|| {
            ApiError::field(
                format!("{at}.search_prompt"),
                format!("`{at}.search_prompt` must be a string of at most 4096 bytes"),
            )
        })?;
        *search_prompt = Some(p.to_owned());
    }
    if let Some(v) = o.get("engine").filter(|v| !v.is_null()) {
        let ours = search.engine();
        match v.as_str() {
            // "native" runs on the provider's own search where it has one;
            // no adapter of ours does, so it falls back like "auto".
            Some("auto" | "native") => {}
            Some(e) if Some(e) == ours => {}
            Some(e @ ("exa" | "searxng" | "firecrawl" | "parallel" | "perplexity")) => {
                return Err(ApiError::field(
                    format!("{at}.engine"),
                    format!(
                        "`{at}.engine` \"{e}\" is not available on this gateway; it searches with {}",
                        ours.map_or_else(|| String::from("no engine"), |o| format!("\"{o}\""))
                    ),
                ));
            }
            _ => {
                return Err(ApiError::field(
                    format!("{at}.engine"),
                    format!(
                        "`{at}.engine` must be one of \"auto\", \"native\", \"exa\", \"firecrawl\", \"parallel\", \"perplexity\""
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn context_size(o: &Map<String, Value>, at: &str) -> Result<Option<String>, ApiError> {
    match o.get("search_context_size") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if matches!(s.as_str(), "low" | "medium" | "high") => {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(ApiError::field(
            format!("{at}.search_context_size"),
            format!("`{at}.search_context_size` must be \"low\", \"medium\" or \"high\""),
        )),
    }
}
