//! An account's keys, credits and BYOK keys.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{NaiveDate, NaiveTime, Utc};
use maud::{Markup, html};
use serde_json::Value;
use tollgate_store::{
    ApiKey, KeyKind, KeyListing, KeyOptions, KeyUsage, LimitReset, NewApiKey, UpdateKey, key_last4,
};

use super::layout::{self, csrf, usd, when};
use super::session::Session;
use super::{
    Dash, MANAGE_NEEDS_PROVISIONING, checked_form, csrf_refused, field, html_response, problem,
    redirect, require_account, require_manager,
};
use crate::routes::fields;

/// Keys listed on the page.
const MAX_KEYS: u64 = 500;

/// A key created just now: its secret, shown once.
struct Created {
    label: String,
    secret: String,
}

/// `GET /keys`.
pub(super) async fn keys(State(dash): State<Arc<Dash>>, headers: HeaderMap) -> Response {
    let (s, account, _) = match require_account(&dash, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    keys_page(&dash, &s, &account, None, None, StatusCode::OK).await
}

async fn keys_page(
    dash: &Dash,
    s: &Session,
    account: &str,
    created: Option<Created>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let listing = KeyListing {
        kind: Some(KeyKind::Inference),
        include_disabled: true,
        offset: 0,
        limit: MAX_KEYS,
    };
    let keys = match dash.state.store.list_api_keys_page(account, listing).await {
        Ok(k) => k,
        Err(e) => return failed(dash, s, &e.to_string()),
    };
    let now = Utc::now();
    let mut rows = Vec::with_capacity(keys.len());
    for k in keys {
        let usage = dash
            .state
            .books
            .key_usage(&k.hash, now)
            .await
            .ok()
            .flatten();
        rows.push((k, usage));
    }
    let body = html! {
        h1 { "API keys" }
        @if let Some(c) = &created {
            div.card.notice role="status" {
                h2 { "Key “" (c.label) "” created" }
                p { "Copy it now: it is shown only once." }
                div.secret {
                    code #new-key { (c.secret) }
                    button.secondary type="button" data-copy="new-key" { "Copy" }
                }
            }
        }
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        @if !s.manages() { (read_only()) }
        @if s.manages() { div.card {
            h2 { "Create a key" }
            form.grid method="post" action=(dash.p("/keys")) {
                (csrf(s))
                div { label for="name" { "Name" } input #name name="name" required maxlength="100"; }
                div { label for="limit" { "Credit limit (USD, optional)" } input #limit name="limit" inputmode="decimal" placeholder="e.g. 10"; }
                div {
                    label for="limit_reset" { "Limit resets" }
                    select #limit_reset name="limit_reset" {
                        option value="" { "never" }
                        option value="daily" { "daily" }
                        option value="weekly" { "weekly" }
                        option value="monthly" { "monthly" }
                    }
                }
                div { label for="expires" { "Expires (optional)" } input #expires name="expires" type="date"; }
                div.actions { button type="submit" { "Create key" } }
            }
        } }
        div.card {
            h2 { "Your keys" }
            @if rows.is_empty() { p.muted { "No keys yet." } } @else {
                div.scroll { table {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Key" } th scope="col" { "Status" }
                        th scope="col" { "Limit" } th scope="col" class="num" { "Usage (today / month / all)" }
                        th scope="col" { "Expires" }
                        @if s.manages() { th scope="col" { span.sr { "Actions" } } }
                    } }
                    tbody {
                        @for (k, u) in &rows { (key_row(dash, s, k, u.as_ref())) }
                    }
                } }
            }
        }
    };
    html_response(status, layout::page(dash, Some(s), "Keys", "/keys", body))
}

fn key_row(dash: &Dash, s: &Session, k: &ApiKey, u: Option<&KeyUsage>) -> Markup {
    let zero = rust_decimal::Decimal::ZERO;
    let usage = |f: fn(&KeyUsage) -> rust_decimal::Decimal| usd(u.map_or(zero, f));
    let limit = match (k.limit, k.limit_reset) {
        (None, _) => String::from("none"),
        (Some(l), None) => usd(l),
        (Some(l), Some(r)) => format!("{} {}", usd(l), r.as_str()),
    };
    html! {
        tr {
            td { (k.label) }
            td { code { (k.display_label()) } }
            td { @if k.disabled { span.badge.off { "disabled" } } @else { span.badge.on { "active" } } }
            td { (limit) }
            td.num { (usage(|u| u.usage_daily)) " / " (usage(|u| u.usage_monthly)) " / " (usage(|u| u.usage)) }
            td { (k.expires_at.map(when).unwrap_or_else(|| String::from("never"))) }
            @if s.manages() { td { div.row-actions {
                form method="post" action=(dash.p(&format!("/keys/{}/toggle", k.hash))) {
                    (csrf(s))
                    button.secondary type="submit" aria-label=(format!("{} key {}", if k.disabled { "Enable" } else { "Disable" }, k.label)) {
                        @if k.disabled { "Enable" } @else { "Disable" }
                    }
                }
                a.button.danger href=(dash.p(&format!("/keys/{}/delete", k.hash))) aria-label=(format!("Delete key {}", k.label)) { "Delete" }
            } } }
        }
    }
}

/// The notice of a session that only sees the account's keys.
fn read_only() -> Markup {
    html! { p.notice #read-only role="status" { (MANAGE_NEEDS_PROVISIONING) } }
}

fn failed(dash: &Dash, s: &Session, e: &str) -> Response {
    tracing::warn!(error = %e, "dashboard: a page's read failed");
    problem(
        dash,
        Some(s),
        StatusCode::SERVICE_UNAVAILABLE,
        "The page could not be read from the database; try again shortly.",
    )
}

/// `POST /keys` `name, limit, limit_reset, expires`.
pub(super) async fn create_key(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (s, account, _) = match require_manager(&dash, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(f) = checked_form(&s, &body) else {
        return csrf_refused(&dash, Some(&s));
    };
    let options = match key_options(&f) {
        Ok(o) => o,
        Err(e) => {
            return keys_page(&dash, &s, &account, None, Some(e), StatusCode::BAD_REQUEST).await;
        }
    };
    let Some(name) = field(&f, "name").filter(|n| n.chars().count() <= 100) else {
        let e = String::from("A key needs a name of at most 100 characters.");
        return keys_page(&dash, &s, &account, None, Some(e), StatusCode::BAD_REQUEST).await;
    };
    let new = NewApiKey {
        label: name.to_owned(),
        kind: KeyKind::Inference,
    };
    match dash
        .state
        .store
        .create_api_key_with(&account, new, &options)
        .await
    {
        Ok((secret, key)) => {
            let created = Created {
                label: key.label,
                secret,
            };
            keys_page(
                &dash,
                &s,
                &account,
                Some(created),
                None,
                StatusCode::CREATED,
            )
            .await
        }
        Err(e) => failed(&dash, &s, &e.to_string()),
    }
}

fn key_options(f: &std::collections::HashMap<String, String>) -> Result<KeyOptions, String> {
    let limit = field(f, "limit")
        .map(|l| fields::usd("limit", &Value::String(l.to_owned()), true, false))
        .transpose()
        .map_err(|e| e.to_string())?;
    let limit_reset: Option<LimitReset> = field(f, "limit_reset")
        .map(|r| fields::limit_reset("limit_reset", &Value::String(r.to_owned())))
        .transpose()
        .map_err(|e| e.to_string())?;
    let expires_at = match field(f, "expires") {
        None => None,
        Some(d) => {
            let day = NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| String::from("The expiry must be a date."))?;
            let at = day.and_time(NaiveTime::MIN).and_utc();
            if at <= Utc::now() {
                return Err(String::from("The expiry must be in the future."));
            }
            Some(at)
        }
    };
    Ok(KeyOptions {
        limit,
        limit_reset,
        include_byok_in_limit: false,
        expires_at,
    })
}

/// The account's inference key `hash`, if it is one.
async fn own_key(dash: &Dash, account: &str, hash: &str) -> Option<ApiKey> {
    if !fields::can_be_id(hash) {
        return None;
    }
    match dash.state.store.get_api_key(hash).await {
        Ok(Some(k)) if k.account_id == account && k.kind == KeyKind::Inference => Some(k),
        _ => None,
    }
}

/// What a key's form `POST` acts on: a managing session whose CSRF token
/// the form carries, its account, and the account's key `hash`; else the
/// answer to send (sign-in, 403, 404).
async fn posted_own_key(
    dash: &Dash,
    headers: &HeaderMap,
    hash: &str,
    body: &Bytes,
) -> Result<(Session, String, ApiKey), Response> {
    let (s, account, _) = require_manager(dash, headers).await?;
    if checked_form(&s, body).is_none() {
        return Err(csrf_refused(dash, Some(&s)));
    }
    let Some(k) = own_key(dash, &account, hash).await else {
        return Err(problem(
            dash,
            Some(&s),
            StatusCode::NOT_FOUND,
            "No such key.",
        ));
    };
    Ok((s, account, k))
}

/// `POST /keys/{hash}/toggle`: disables or enables the key.
pub(super) async fn toggle_key(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    Path(hash): Path<String>,
    body: Bytes,
) -> Response {
    let (s, account, k) = match posted_own_key(&dash, &headers, &hash, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let update = UpdateKey {
        disabled: Some(!k.disabled),
        ..UpdateKey::default()
    };
    if let Err(e) = dash
        .state
        .store
        .update_api_key(&k.hash, &account, &update)
        .await
    {
        return failed(&dash, &s, &e.to_string());
    }
    dash.state.keys.forget(&k.hash);
    dash.state.books.invalidate();
    redirect(&dash.p("/keys"))
}

/// `GET /keys/{hash}/delete`: asks for confirmation.
pub(super) async fn confirm_delete(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Response {
    let (s, account, _) = match require_manager(&dash, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(k) = own_key(&dash, &account, &hash).await else {
        return problem(&dash, Some(&s), StatusCode::NOT_FOUND, "No such key.");
    };
    let body = html! {
        div.card.narrow {
            h1 { "Delete key “" (k.label) "”?" }
            p { "Requests with " code { (k.display_label()) } " stop working at once. Its history (generations, spend) stays. This cannot be undone." }
            form method="post" action=(dash.p(&format!("/keys/{}/delete", k.hash))) {
                (csrf(&s))
                div.actions {
                    button.danger type="submit" { "Delete key" }
                    a.button.secondary href=(dash.p("/keys")) { "Cancel" }
                }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout::page(&dash, Some(&s), "Delete key", "/keys", body),
    )
}

/// `POST /keys/{hash}/delete`.
pub(super) async fn delete_key(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    Path(hash): Path<String>,
    body: Bytes,
) -> Response {
    let (s, account, k) = match posted_own_key(&dash, &headers, &hash, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(e) = dash.state.store.delete_api_key(&k.hash, &account).await {
        return failed(&dash, &s, &e.to_string());
    }
    dash.state.keys.forget(&k.hash);
    redirect(&dash.p("/keys"))
}

/// `GET /credits`: balance, held and the ledger.
pub(super) async fn credits(State(dash): State<Arc<Dash>>, headers: HeaderMap) -> Response {
    let (s, account, _) = match require_account(&dash, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let balance = match dash.state.books.balance(&account).await {
        Ok(b) => b,
        Err(e) => return failed(&dash, &s, &e.to_string()),
    };
    dash.state.books.flush().await;
    let mut ledger = match dash.state.store.ledger(&account).await {
        Ok(l) => l,
        Err(e) => return failed(&dash, &s, &e.to_string()),
    };
    ledger.reverse();
    ledger.truncate(200);
    let body = html! {
        h1 { "Credits" }
        div.stats {
            div.stat { span.label { "Available" } span.value #available { (usd(balance.available)) } }
            div.stat { span.label { "Bought" } span.value #total-credits { (usd(balance.total_credits)) } }
            div.stat { span.label { "Used" } span.value { (usd(balance.total_usage)) } }
            div.stat { span.label { "Held for requests in flight" } span.value { (usd(balance.held)) } }
        }
        div.card {
            h2 { "Ledger" }
            @if ledger.is_empty() { p.muted { "No entries yet." } } @else {
                div.scroll { table #ledger {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Kind" } th scope="col" class="num" { "Amount" } th scope="col" { "Note" } th scope="col" { "Generation" } } }
                    tbody { @for e in &ledger { tr {
                        td { (when(e.created_at)) }
                        td { (e.kind.as_str()) }
                        td.num { (usd(e.amount)) }
                        td { (e.note.as_deref().unwrap_or("")) }
                        td { @if let Some(g) = &e.generation_id { a href=(dash.p(&format!("/generations/{g}"))) { code { (g) } } } }
                    } } }
                } }
            }
        }
    };
    html_response(
        StatusCode::OK,
        layout::page(&dash, Some(&s), "Credits", "/credits", body),
    )
}

/// `GET /byok`: the account's own provider keys (last four characters).
pub(super) async fn byok(State(dash): State<Arc<Dash>>, headers: HeaderMap) -> Response {
    let (s, account, _) = match require_account(&dash, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    byok_page(&dash, &s, &account, None, StatusCode::OK).await
}

async fn byok_page(
    dash: &Dash,
    s: &Session,
    account: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let enabled = dash.state.server.byok_cipher.is_some();
    let keys = if enabled {
        match dash.state.store.list_byok_keys(account).await {
            Ok(k) => k,
            Err(e) => return failed(dash, s, &e.to_string()),
        }
    } else {
        Vec::new()
    };
    let routes = dash.state.routes();
    let providers: Vec<String> = routes
        .catalog
        .providers()
        .iter()
        .map(|p| p.slug.clone())
        .collect();
    let body = html! {
        h1 { "Your provider keys (BYOK)" }
        p.muted { "Requests to a provider you hold a key for use your key; Tollgate charges a small fee instead of the model price. Only a key's last four characters are ever shown." }
        @if !enabled {
            p.notice role="status" { "BYOK is off on this gateway: its operator has not set " code { "TOLLGATE_SECRET_KEY" } "." }
        } @else {
            @if let Some(e) = error { p.error role="alert" { (e) } }
            @if !s.manages() { (read_only()) }
            @if s.manages() { div.card {
                h2 { "Store a key" }
                form.grid method="post" action=(dash.p("/byok")) {
                    (csrf(s))
                    div { label for="provider" { "Provider" }
                        select #provider name="provider" required { @for p in &providers { option value=(p) { (p) } } } }
                    div { label for="api_key" { "Provider API key" } input #api_key name="api_key" type="password" autocomplete="off" required; }
                    div.check { input #always_use name="always_use" type="checkbox" value="true"; label for="always_use" { "Always use it (no fallback to the gateway's key)" } }
                    div.actions { button type="submit" { "Store key" } }
                }
            } }
            div.card {
                h2 { "Stored keys" }
                @if keys.is_empty() { p.muted { "None stored." } } @else {
                    table { thead { tr { th scope="col" { "Provider" } th scope="col" { "Key" } th scope="col" { "Always use" } th scope="col" { "Stored" } @if s.manages() { th scope="col" { span.sr { "Actions" } } } } }
                    tbody { @for k in &keys { tr {
                        td { (k.provider) } td { code { "…" (k.last4) } } td { @if k.always_use { "yes" } @else { "no" } }
                        td { (when(k.updated_at.unwrap_or(k.created_at))) }
                        @if s.manages() { td { form method="post" action=(dash.p(&format!("/byok/{}/delete", k.provider))) {
                            (csrf(s)) button.danger type="submit" aria-label=(format!("Remove the {} key", k.provider)) { "Remove" } } } }
                    } } } }
                }
            }
        }
    };
    html_response(status, layout::page(dash, Some(s), "BYOK", "/byok", body))
}

/// `POST /byok` `provider, api_key, always_use`.
pub(super) async fn store_byok(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (s, account, _) = match require_manager(&dash, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(f) = checked_form(&s, &body) else {
        return csrf_refused(&dash, Some(&s));
    };
    let Some(cipher) = &dash.state.server.byok_cipher else {
        return byok_page(&dash, &s, &account, None, StatusCode::NOT_FOUND).await;
    };
    let provider = field(&f, "provider").unwrap_or_default();
    if dash.state.routes().catalog.provider(provider).is_none() {
        return byok_page(
            &dash,
            &s,
            &account,
            Some("Unknown provider."),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let key = field(&f, "api_key").unwrap_or_default();
    if !(8..=4096).contains(&key.chars().count()) || !key.bytes().all(|b| b.is_ascii_graphic()) {
        let e = "A provider key is 8 to 4096 printable characters without spaces.";
        return byok_page(&dash, &s, &account, Some(e), StatusCode::BAD_REQUEST).await;
    }
    let sealed = match cipher.encrypt(&account, provider, key) {
        Ok(x) => x,
        Err(e) => return failed(&dash, &s, &e.to_string()),
    };
    let always = field(&f, "always_use") == Some("true");
    if let Err(e) = dash
        .state
        .store
        .put_byok_key(&account, provider, &sealed, &key_last4(key), always)
        .await
    {
        return failed(&dash, &s, &e.to_string());
    }
    dash.state.byok.forget(&account);
    redirect(&dash.p("/byok"))
}

/// `POST /byok/{provider}/delete`.
pub(super) async fn delete_byok(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    Path(provider): Path<String>,
    body: Bytes,
) -> Response {
    let (s, account, _) = match require_manager(&dash, &headers).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if checked_form(&s, &body).is_none() {
        return csrf_refused(&dash, Some(&s));
    }
    if fields::can_be_id(&provider)
        && let Err(e) = dash.state.store.delete_byok_key(&account, &provider).await
    {
        return failed(&dash, &s, &e.to_string());
    }
    dash.state.byok.forget(&account);
    redirect(&dash.p("/byok"))
}
