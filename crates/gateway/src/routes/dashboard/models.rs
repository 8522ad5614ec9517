//! The models: a searchable, filterable, sortable list, and a model's page
//! with its endpoints and their live health.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;
use tollgate_schema::models::{Endpoint, Model};

use super::layout::{self, count, per_million};
use super::{Dash, field, html_response, problem, require};

/// The list's query: `q`, `modality`, `min_context`, `param`, `free`, `sort`.
type Params = HashMap<String, String>;

/// The best median throughput (tokens/s) of a model's endpoints.
fn throughput(dash: &Dash, id: &str) -> Option<f64> {
    let routes = dash.state.routes();
    let list = routes
        .catalog
        .endpoints_api_with(id, |ep| dash.state.api_health(ep))?;
    list.data
        .endpoints
        .iter()
        .filter_map(|e| e.throughput_last_30m.as_ref().map(|p| p.p50))
        .fold(None, |best, t| Some(best.map_or(t, |b: f64| b.max(t))))
}

fn is_free(m: &Model) -> bool {
    m.pricing.prompt.is_zero() && m.pricing.completion.is_zero()
}

/// `GET /models`.
pub(super) async fn list(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    let s = match require(&dash, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let all = dash.state.routes().catalog.models_api().data;
    let mut modalities: Vec<String> = all
        .iter()
        .flat_map(|m| m.architecture.input_modalities.iter().cloned())
        .collect();
    modalities.sort();
    modalities.dedup();
    let mut params: Vec<String> = all
        .iter()
        .flat_map(|m| m.supported_parameters.iter().cloned())
        .collect();
    params.sort();
    params.dedup();

    let search = field(&q, "q").map(str::to_lowercase);
    let modality = field(&q, "modality");
    let param = field(&q, "param");
    let min_context: u64 = field(&q, "min_context")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let free = field(&q, "free") == Some("1");
    let sort = field(&q, "sort").unwrap_or("name");
    let mut shown: Vec<(Model, Option<f64>)> = all
        .into_iter()
        .filter(|m| {
            search.as_ref().is_none_or(|s| {
                m.id.to_lowercase().contains(s) || m.name.to_lowercase().contains(s)
            }) && modality.is_none_or(|x| m.architecture.input_modalities.iter().any(|i| i == x))
                && param.is_none_or(|p| m.supported_parameters.iter().any(|i| i == p))
                && m.context_length >= min_context
                && (!free || is_free(m))
        })
        .map(|m| {
            let t = throughput(&dash, &m.id);
            (m, t)
        })
        .collect();
    match sort {
        "price" => shown.sort_by(|a, b| {
            (a.0.pricing.prompt + a.0.pricing.completion)
                .cmp(&(b.0.pricing.prompt + b.0.pricing.completion))
        }),
        "context" => shown.sort_by_key(|m| std::cmp::Reverse(m.0.context_length)),
        "throughput" => shown.sort_by(|a, b| b.1.unwrap_or(0.0).total_cmp(&a.1.unwrap_or(0.0))),
        _ => shown.sort_by(|a, b| a.0.name.cmp(&b.0.name)),
    }
    let selected = |v: Option<&str>, x: &str| v == Some(x);
    let body = html! {
        h1 { "Models" }
        form.filters method="get" action=(dash.p("/models")) role="search" {
            div { label for="q" { "Search" } input #q name="q" type="search" value=(field(&q, "q").unwrap_or("")) placeholder="name or id"; }
            div { label for="modality" { "Input" }
                select #modality name="modality" {
                    option value="" { "any" }
                    @for m in &modalities { option value=(m) selected[selected(modality, m)] { (m) } }
                } }
            div { label for="min_context" { "Context at least" }
                select #min_context name="min_context" {
                    @for (v, l) in [("0", "any"), ("8000", "8K"), ("32000", "32K"), ("128000", "128K"), ("1000000", "1M")] {
                        option value=(v) selected[min_context.to_string() == v] { (l) }
                    }
                } }
            div { label for="param" { "Supports" }
                select #param name="param" {
                    option value="" { "any parameter" }
                    @for p in &params { option value=(p) selected[selected(param, p)] { (p) } }
                } }
            div { label for="sort" { "Sort by" }
                select #sort name="sort" {
                    @for (v, l) in [("name", "name"), ("price", "price, lowest"), ("context", "context, largest"), ("throughput", "throughput, fastest")] {
                        option value=(v) selected[sort == v] { (l) }
                    }
                } }
            div.check { input #free name="free" type="checkbox" value="1" checked[free]; label for="free" { "Free only" } }
            div.actions { button type="submit" { "Apply" } }
        }
        p.muted { (shown.len()) " models" }
        div.card.scroll {
            table #models {
                thead { tr {
                    th scope="col" { "Model" } th scope="col" class="num" { "Context" }
                    th scope="col" class="num" { "Input / 1M" } th scope="col" class="num" { "Output / 1M" }
                    th scope="col" { "Input modalities" } th scope="col" class="num" { "Throughput" }
                } }
                tbody { @for (m, t) in &shown { tr {
                    td { a href=(dash.p(&format!("/models/{}", m.id))) { (m.name) } br; code.small { (m.id) } }
                    td.num { (count(m.context_length)) }
                    td.num { (per_million(m.pricing.prompt)) }
                    td.num { (per_million(m.pricing.completion)) }
                    td { (m.architecture.input_modalities.join(", ")) }
                    td.num { @match t { Some(t) => { (format!("{t:.0} tok/s")) }, None => { "—" } } }
                } } }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout::page(&dash, Some(&s), "Models", "/models", body),
    )
}

/// An uptime of the endpoints API (a percentage, 0 to 100).
fn pct(p: Option<f64>) -> String {
    p.map_or_else(|| String::from("—"), |u| format!("{u:.1}%"))
}

fn status(e: &Endpoint) -> (&'static str, &'static str) {
    match e.status {
        None => ("unknown", "badge"),
        Some(s) if s >= 0 => ("up", "badge on"),
        Some(_) => ("degraded", "badge off"),
    }
}

/// `GET /models/{author}/{slug}`: the model and its endpoints.
pub(super) async fn model(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    Path((author, slug)): Path<(String, String)>,
) -> Response {
    let s = match require(&dash, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let id = format!("{author}/{slug}");
    let routes = dash.state.routes();
    let (Some(m), Some(list)) = (
        routes.catalog.model(&id).map(|m| m.to_api()),
        routes
            .catalog
            .endpoints_api_with(&id, |ep| dash.state.api_health(ep)),
    ) else {
        return problem(&dash, Some(&s), StatusCode::NOT_FOUND, "No such model.");
    };
    let ms = |p: &Option<tollgate_schema::models::Percentiles>, unit: &str| match p {
        Some(p) => format!("{:.0} / {:.0} {unit}", p.p50, p.p90),
        None => String::from("—"),
    };
    let body = html! {
        p { a href=(dash.p("/models")) { "← All models" } }
        h1 { (m.name) }
        p { code { (m.id) } }
        @if !m.description.is_empty() { p.description { (m.description) } }
        div.stats {
            div.stat { span.label { "Context" } span.value { (count(m.context_length)) } }
            div.stat { span.label { "Input / 1M tokens" } span.value { (per_million(m.pricing.prompt)) } }
            div.stat { span.label { "Output / 1M tokens" } span.value { (per_million(m.pricing.completion)) } }
            div.stat { span.label { "Modalities" } span.value.small { (m.architecture.input_modalities.join(", ")) " → " (m.architecture.output_modalities.join(", ")) } }
        }
        @if s.who_is_account() && !s.manages() {
            p { a.button href=(dash.p(&format!("/playground?model={}", m.id))) { "Try it in the playground" } }
        }
        div.card.scroll {
            h2 { "Endpoints" }
            table #endpoints {
                thead { tr {
                    th scope="col" { "Provider" } th scope="col" { "Status" }
                    th scope="col" class="num" { "Input / 1M" } th scope="col" class="num" { "Output / 1M" }
                    th scope="col" class="num" { "Context" } th scope="col" class="num" { "Max output" }
                    th scope="col" { "Quantization" } th scope="col" class="num" { "Uptime 30m" }
                    th scope="col" class="num" { "Latency p50 / p90" } th scope="col" class="num" { "Throughput p50 / p90" }
                } }
                tbody { @for e in &list.data.endpoints {
                    @let (label, class) = status(e);
                    tr {
                        td { (e.provider_name) br; code.small { (e.tag) } }
                        td { span class=(class) { (label) } }
                        td.num { (per_million(e.pricing.prompt)) }
                        td.num { (per_million(e.pricing.completion)) }
                        td.num { (count(e.context_length)) }
                        td.num { (e.max_completion_tokens.map_or_else(|| String::from("—"), count)) }
                        td { (e.quantization.as_deref().unwrap_or("—")) }
                        td.num { (pct(e.uptime_last_30m)) }
                        td.num { (ms(&e.latency_last_30m, "ms")) }
                        td.num { (ms(&e.throughput_last_30m, "tok/s")) }
                    }
                } }
            }
        }
        @if !m.supported_parameters.is_empty() {
            div.card { h2 { "Supported parameters" } p { @for p in &m.supported_parameters { code.chip { (p) } " " } } }
        }
    };
    html_response(
        StatusCode::OK,
        layout::page(&dash, Some(&s), &m.name, "/models", body),
    )
}
