//! The account's activity (last 30 days: charts as server-rendered SVG, a
//! table, CSV export) and its generations (a filtered list, one
//! generation's page with every `/generation` field).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Days, NaiveDate, NaiveTime, Utc};
use maud::{Markup, html};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use serde_json::Value;
use tollgate_store::ActivityRow;

use super::layout::{self, count, usd, when};
use super::session::Session;
use super::{Dash, field, html_response, problem, require_account};
use crate::routes::fields;
use crate::routes::generation::generation_json;

/// Days the activity page covers, today included.
const DAYS: u64 = 30;
/// Generations listed.
const LIST: u32 = 100;

/// The first day covered and the rows of the last [`DAYS`] days.
async fn rows(dash: &Dash, account: &str) -> Result<(NaiveDate, Vec<ActivityRow>), String> {
    dash.state.books.flush().await;
    let today = Utc::now().date_naive();
    let first = today.checked_sub_days(Days::new(DAYS - 1)).unwrap_or(today);
    let start = first.and_time(NaiveTime::MIN).and_utc();
    let until = today
        .succ_opt()
        .unwrap_or(today)
        .and_time(NaiveTime::MIN)
        .and_utc();
    let rows = dash
        .state
        .store
        .activity(account, start, until, None)
        .await
        .map_err(|e| e.to_string())?;
    Ok((first, rows))
}

fn unavailable(dash: &Dash, s: &Session, e: &str) -> Response {
    tracing::warn!(error = %e, "dashboard: reading activity");
    problem(
        dash,
        Some(s),
        StatusCode::SERVICE_UNAVAILABLE,
        "The activity could not be read; try again shortly.",
    )
}

/// A bar chart of one value per day, as inline SVG.
fn bars(title: &str, first: NaiveDate, values: &[f64], label: impl Fn(f64) -> String) -> Markup {
    const W: f64 = 600.0;
    const H: f64 = 160.0;
    const PAD: f64 = 24.0;
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let n = values.len().max(1) as f64;
    let slot = W / n;
    let day = |i: usize| {
        first
            .checked_add_days(Days::new(i as u64))
            .unwrap_or(first)
            .format("%b %-d")
            .to_string()
    };
    let total: f64 = values.iter().sum();
    html! {
        figure.chart {
            figcaption { (title) " · total " strong { (label(total)) } }
            svg viewBox=(format!("0 0 {W} {}", H + PAD)) role="img" aria-label=(format!("{title}, per day: the last {} days", values.len())) preserveAspectRatio="none" {
                line x1="0" y1=(H) x2=(W) y2=(H) class="axis" {}
                @for (i, v) in values.iter().enumerate() {
                    @let h = if max > 0.0 { (v / max) * (H - 8.0) } else { 0.0 };
                    rect x=(format!("{:.1}", i as f64 * slot + 1.0)) y=(format!("{:.1}", H - h)) width=(format!("{:.1}", (slot - 2.0).max(1.0))) height=(format!("{h:.1}")) class="bar" {
                        title { (day(i)) ": " (label(*v)) }
                    }
                }
                text x="0" y=(H + 16.0) class="tick" { (day(0)) }
                text x=(W) y=(H + 16.0) class="tick end" { (day(values.len().saturating_sub(1))) }
                text x="2" y="12" class="tick" { "max " (label(max)) }
            }
        }
    }
}

/// A horizontal bar per model.
fn by_model(per_model: &[(String, Decimal, u64)]) -> Markup {
    let max = per_model
        .iter()
        .map(|m| m.1.to_f64().unwrap_or(0.0))
        .fold(0.0_f64, f64::max);
    let row_h = 30.0;
    let h = row_h * per_model.len().max(1) as f64;
    html! {
        figure.chart {
            figcaption { "Spend per model" }
            svg viewBox=(format!("0 0 1100 {h}")) role="img" aria-label="Spend per model, the last 30 days" {
                @for (i, (model, spend, requests)) in per_model.iter().enumerate() {
                    @let w = if max > 0.0 { spend.to_f64().unwrap_or(0.0) / max * 560.0 } else { 0.0 };
                    @let y = i as f64 * row_h;
                    text x="0" y=(y + 17.0) class="tick" { (model) }
                    rect x="400" y=(y + 5.0) width=(format!("{:.1}", w.max(1.0))) height="16" class="bar" {
                        title { (model) ": " (usd(*spend)) ", " (requests) " requests" }
                    }
                    text x=(format!("{:.1}", 408.0 + w.max(1.0))) y=(y + 17.0) class="tick" { (usd(*spend)) }
                }
            }
        }
    }
}

/// `GET /activity`.
pub(super) async fn page(State(dash): State<Arc<Dash>>, headers: HeaderMap) -> Response {
    let (s, account, _) = match require_account(&dash, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (first, rows) = match rows(&dash, &account).await {
        Ok(r) => r,
        Err(e) => return unavailable(&dash, &s, &e),
    };
    let mut spend = vec![0.0; DAYS as usize];
    let mut requests = vec![0.0; DAYS as usize];
    let mut models: BTreeMap<String, (Decimal, u64, u64, u64)> = BTreeMap::new();
    for r in &rows {
        if let Some(i) = usize::try_from((r.date - first).num_days())
            .ok()
            .filter(|i| *i < spend.len())
        {
            spend[i] += r.usage.to_f64().unwrap_or(0.0);
            requests[i] += r.requests as f64;
        }
        let m = models.entry(r.model.clone()).or_default();
        m.0 += r.usage;
        m.1 += r.requests;
        m.2 += r.prompt_tokens;
        m.3 += r.completion_tokens;
    }
    let mut per_model: Vec<(String, Decimal, u64)> =
        models.iter().map(|(k, v)| (k.clone(), v.0, v.1)).collect();
    per_model.sort_by_key(|m| std::cmp::Reverse(m.1));
    let money = |v: f64| usd(Decimal::from_f64_retain(v).unwrap_or_default());
    let body = html! {
        div.heading {
            h1 { "Activity" }
            a.button.secondary href=(dash.p("/activity.csv")) download="tollgate-activity.csv" { "Export CSV" }
        }
        p.muted { "The last 30 days, today included (UTC)." }
        div.charts {
            (bars("Spend", first, &spend, money))
            (bars("Requests", first, &requests, |v| count(v as u64)))
        }
        @if !per_model.is_empty() { (by_model(&per_model)) }
        div.card.scroll {
            h2 { "Per day, model and provider" }
            @if rows.is_empty() { p.muted { "No requests in the last 30 days." } } @else {
                table #activity {
                    thead { tr {
                        th scope="col" { "Day" } th scope="col" { "Model" } th scope="col" { "Provider" }
                        th scope="col" class="num" { "Requests" } th scope="col" class="num" { "Prompt tokens" }
                        th scope="col" class="num" { "Completion tokens" } th scope="col" class="num" { "Spend" }
                    } }
                    tbody { @for r in rows.iter().rev() { tr {
                        td { (r.date.format("%Y-%m-%d")) } td { (r.model) } td { (r.provider_name) }
                        td.num { (count(r.requests)) } td.num { (count(r.prompt_tokens)) }
                        td.num { (count(r.completion_tokens)) } td.num { (usd(r.usage)) }
                    } } }
                }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout::page(&dash, Some(&s), "Activity", "/activity", body),
    )
}

/// A CSV field, quoted when it must be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// `GET /activity.csv`: the activity table as CSV.
pub(super) async fn csv(State(dash): State<Arc<Dash>>, headers: HeaderMap) -> Response {
    let (s, account, _) = match require_account(&dash, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let rows = match rows(&dash, &account).await {
        Ok(r) => r.1,
        Err(e) => return unavailable(&dash, &s, &e),
    };
    let mut out = String::from(
        "date,model,provider,requests,prompt_tokens,completion_tokens,reasoning_tokens,usage,byok_usage_inference\n",
    );
    for r in &rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\n",
            r.date.format("%Y-%m-%d"),
            csv_field(&r.model),
            csv_field(&r.provider_name),
            r.requests,
            r.prompt_tokens,
            r.completion_tokens,
            r.reasoning_tokens,
            r.usage,
            r.byok_usage_inference,
        ));
    }
    let mut resp = out.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"tollgate-activity.csv\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /generations?model=`.
pub(super) async fn generations(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (s, account, _) = match require_account(&dash, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    dash.state.books.flush().await;
    let model = field(&q, "model");
    let list = match dash
        .state
        .store
        .recent_generations(&account, model, LIST)
        .await
    {
        Ok(l) => l,
        Err(e) => return unavailable(&dash, &s, &e.to_string()),
    };
    let body = html! {
        h1 { "Generations" }
        form.filters method="get" action=(dash.p("/generations")) role="search" {
            div { label for="model" { "Model" } input #model name="model" value=(model.unwrap_or("")) placeholder="author/model"; }
            div.actions { button type="submit" { "Filter" } }
        }
        p.muted { "The most recent " (LIST) ", newest first." }
        div.card.scroll {
            @if list.is_empty() { p.muted { "No generations yet." } } @else {
                table #generations {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Model" } th scope="col" { "Provider" }
                        th scope="col" class="num" { "Tokens in / out" } th scope="col" class="num" { "Cost" }
                        th scope="col" { "Finish" } th scope="col" { "Id" }
                    } }
                    tbody { @for g in &list { tr {
                        td { (when(g.created_at)) } td { (g.model) } td { (g.provider_name) }
                        td.num { (count(g.tokens_prompt)) " / " (count(g.tokens_completion)) }
                        td.num { (usd(g.total_cost)) }
                        td { @if g.error.is_some() { span.badge.off { "error" } } @else if g.cancelled { span.badge { "cancelled" } } @else { (g.finish_reason.as_deref().unwrap_or("—")) } }
                        td { a href=(dash.p(&format!("/generations/{}", g.id))) { code.small { (g.id) } } }
                    } } }
                }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout::page(&dash, Some(&s), "Generations", "/generations", body),
    )
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => String::from("—"),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `GET /generations/{id}`: every field of `GET /api/v1/generation`.
pub(super) async fn generation(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (s, account, _) = match require_account(&dash, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !fields::can_be_id(&id) {
        return problem(
            &dash,
            Some(&s),
            StatusCode::NOT_FOUND,
            "No such generation.",
        );
    }
    dash.state.books.flush().await;
    let g = match dash.state.store.get_generation(&id, &account).await {
        Ok(Some(g)) => g,
        Ok(None) => {
            return problem(
                &dash,
                Some(&s),
                StatusCode::NOT_FOUND,
                "No such generation (yet).",
            );
        }
        Err(e) => return unavailable(&dash, &s, &e.to_string()),
    };
    let data = generation_json(&g);
    let body = html! {
        p { a href=(dash.p("/generations")) { "← All generations" } }
        h1 { "Generation" }
        p { code #generation-id { (g.id) } }
        div.stats {
            div.stat { span.label { "Model" } span.value.small { (g.model) } }
            div.stat { span.label { "Provider" } span.value.small { (g.provider_name) } }
            div.stat { span.label { "Cost" } span.value { (usd(g.total_cost)) } }
            div.stat { span.label { "Tokens in / out" } span.value { (count(g.tokens_prompt)) " / " (count(g.tokens_completion)) } }
        }
        div.card {
            h2 { "Attempts" }
            @if g.attempts.is_empty() { p.muted { "None recorded." } } @else {
                ol.attempts { @for a in &g.attempts { li { (a.provider) ": " (a.outcome) } } }
            }
        }
        div.card.scroll {
            h2 { "Every field" }
            @if let Value::Object(map) = &data {
                dl.fields { @for (k, v) in map { @if k != "attempts" { dt { code { (k) } } dd { (show(v)) } } } }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout::page(&dash, Some(&s), "Generation", "/generations", body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("openai/gpt-4o"), "openai/gpt-4o");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
