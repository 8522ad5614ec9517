//! The operator's page: accounts (create, top up, balances), provider and
//! endpoint health, catalog reload.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde_json::Value;
use tollgate_store::{KeyKind, NewApiKey};

use super::layout::{self, csrf, usd, when};
use super::session::Session;
use super::{Dash, checked_form, csrf_refused, field, html_response, problem, require_operator};
use crate::routes::fields;

/// What the last action did, shown above the page.
enum Notice {
    /// A new account and its keys (shown once).
    Created {
        name: String,
        api_key: String,
        provisioning_key: String,
    },
    /// Something done, in words.
    Done(String),
    /// Something refused, in words.
    Refused(String),
}

/// `GET /operator`.
pub(super) async fn page(State(dash): State<Arc<Dash>>, headers: HeaderMap) -> Response {
    let s = match require_operator(&dash, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    render(&dash, &s, None, StatusCode::OK).await
}

async fn render(dash: &Dash, s: &Session, notice: Option<Notice>, status: StatusCode) -> Response {
    let accounts = match dash.state.store.list_accounts().await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: listing accounts");
            return problem(
                dash,
                Some(s),
                StatusCode::SERVICE_UNAVAILABLE,
                "The accounts could not be read; try again shortly.",
            );
        }
    };
    let mut rows = Vec::with_capacity(accounts.len());
    for a in accounts {
        let balance = dash.state.books.balance(&a.id).await.ok();
        rows.push((a, balance));
    }
    let body = html! {
        h1 { "Operator" }
        @if let Some(n) = &notice { (notice_markup(n)) }
        div.card {
            h2 { "Accounts" }
            form.inline method="post" action=(dash.p("/operator/accounts")) {
                (csrf(s))
                label for="account-name" { "New account" }
                input #account-name name="name" required maxlength="100" placeholder="name";
                button type="submit" { "Create account" }
            }
            div.scroll { table #accounts {
                thead { tr {
                    th scope="col" { "Account" } th scope="col" { "Created" }
                    th scope="col" class="num" { "Bought" } th scope="col" class="num" { "Used" }
                    th scope="col" class="num" { "Held" } th scope="col" class="num" { "Available" }
                    th scope="col" { "Top up" }
                } }
                tbody { @for (a, b) in &rows { tr {
                    td { (a.name) br; code.small { (a.id) } }
                    td { (when(a.created_at)) }
                    @if let Some(b) = b {
                        td.num { (usd(b.total_credits)) } td.num { (usd(b.total_usage)) }
                        td.num { (usd(b.held)) } td.num.available { (usd(b.available)) }
                    } @else { td colspan="4" { "—" } }
                    td {
                        form.inline method="post" action=(dash.p(&format!("/operator/accounts/{}/credits", a.id))) {
                            (csrf(s))
                            label.sr for=(format!("amount-{}", a.id)) { "Amount in USD for " (a.name) }
                            input.amount id=(format!("amount-{}", a.id)) name="amount" inputmode="decimal" required placeholder="USD";
                            label.sr for=(format!("note-{}", a.id)) { "Note" }
                            input id=(format!("note-{}", a.id)) name="note" maxlength="200" placeholder="note";
                            button.secondary type="submit" { "Add" }
                        }
                    }
                } } }
            } }
        }
        (health(dash))
        div.card {
            h2 { "Catalog" }
            p.muted { "Reads the provider listings again and swaps the catalog in; on an error the current one keeps serving." }
            form method="post" action=(dash.p("/operator/reload")) {
                (csrf(s))
                button.secondary type="submit" { "Reload the catalog" }
            }
        }
    };
    html_response(
        status,
        layout::page(dash, Some(s), "Operator", "/operator", body),
    )
}

fn notice_markup(n: &Notice) -> Markup {
    match n {
        Notice::Created {
            name,
            api_key,
            provisioning_key,
        } => html! {
            div.card.notice role="status" {
                h2 { "Account “" (name) "” created" }
                p { "Hand these keys over now: they are shown only once." }
                p { "API key" }
                div.secret { code #new-api-key { (api_key) } button.secondary type="button" data-copy="new-api-key" { "Copy" } }
                p { "Provisioning key (manages the account's keys)" }
                div.secret { code #new-provisioning-key { (provisioning_key) } button.secondary type="button" data-copy="new-provisioning-key" { "Copy" } }
            }
        },
        Notice::Done(m) => html! { p.notice role="status" { (m) } },
        Notice::Refused(m) => html! { p.error role="alert" { (m) } },
    }
}

/// Providers and endpoints with their live health.
fn health(dash: &Dash) -> Markup {
    let routes = dash.state.routes();
    let snapshot = dash.state.health();
    let providers = routes.catalog.providers_api().data;
    html! {
        div.card.scroll {
            h2 { "Providers and endpoints" }
            table #health {
                thead { tr {
                    th scope="col" { "Provider" } th scope="col" { "Model" } th scope="col" { "Status" }
                    th scope="col" class="num" { "Uptime 30m" } th scope="col" class="num" { "Recent failures" }
                } }
                tbody {
                    @for m in routes.catalog.models() { @for e in &m.endpoints {
                        @let h = snapshot.get(&e.model, &e.provider);
                        tr {
                            td { (e.provider_name) }
                            td { code.small { (e.model) } }
                            td { @match h {
                                Some(h) if h.in_outage => { span.badge.off { "outage" } }
                                Some(h) if h.status < 0 => { span.badge.off { "degraded" } }
                                Some(_) => { span.badge.on { "up" } }
                                None => { span.badge { "no traffic yet" } }
                            } }
                            td.num { (h.and_then(|h| h.uptime).map_or_else(|| String::from("—"), |u| format!("{:.1}%", u * 100.0))) }
                            td.num { (h.map_or_else(|| String::from("—"), |h| format!("{} of {}", h.failures_in_window, h.requests_in_window))) }
                        }
                    } }
                }
            }
            p.muted { (providers.len()) " providers configured." }
        }
    }
}

/// `POST /operator/accounts` `name`.
pub(super) async fn create_account(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = match require_operator(&dash, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(f) = checked_form(&s, &body) else {
        return csrf_refused(&dash, Some(&s));
    };
    let Some(name) = field(&f, "name").filter(|n| n.chars().count() <= 100) else {
        let n = Notice::Refused(String::from(
            "An account needs a name of at most 100 characters.",
        ));
        return render(&dash, &s, Some(n), StatusCode::BAD_REQUEST).await;
    };
    let store = &dash.state.store;
    let key = |label: &str, kind| NewApiKey {
        label: label.to_owned(),
        kind,
    };
    let created = async {
        let account = store.create_account(name).await?;
        let (provisioning_key, _) = store
            .create_api_key(&account.id, key("provisioning", KeyKind::Provisioning))
            .await?;
        let (api_key, _) = store
            .create_api_key(&account.id, key("default", KeyKind::Inference))
            .await?;
        Ok::<_, tollgate_store::Error>((account, api_key, provisioning_key))
    }
    .await;
    match created {
        Ok((account, api_key, provisioning_key)) => {
            tracing::info!(account = %account.id, "account created through the dashboard");
            let n = Notice::Created {
                name: account.name,
                api_key,
                provisioning_key,
            };
            render(&dash, &s, Some(n), StatusCode::CREATED).await
        }
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: creating an account");
            let n = Notice::Refused(String::from("The account could not be created."));
            render(&dash, &s, Some(n), StatusCode::SERVICE_UNAVAILABLE).await
        }
    }
}

/// `POST /operator/accounts/{id}/credits` `amount, note`.
pub(super) async fn top_up(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let s = match require_operator(&dash, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(f) = checked_form(&s, &body) else {
        return csrf_refused(&dash, Some(&s));
    };
    let amount = field(&f, "amount").unwrap_or_default();
    let amount = match fields::usd("amount", &Value::String(amount.to_owned()), true, true) {
        Ok(a) => a,
        Err(e) => {
            let n = Notice::Refused(e.to_string());
            return render(&dash, &s, Some(n), StatusCode::BAD_REQUEST).await;
        }
    };
    let account = match dash.state.store.get_account(&id).await {
        Ok(Some(a)) if fields::can_be_id(&id) => a,
        _ => return problem(&dash, Some(&s), StatusCode::NOT_FOUND, "No such account."),
    };
    let note = field(&f, "note");
    let (status, n) = match dash.state.store.top_up(&account.id, amount, note).await {
        Ok(_) => {
            dash.state.books.invalidate();
            tracing::info!(account = %account.id, amount = %amount, "credits added through the dashboard");
            (
                StatusCode::OK,
                Notice::Done(format!("Added {} to {}.", usd(amount), account.name)),
            )
        }
        Err(e) => (StatusCode::BAD_REQUEST, Notice::Refused(e.to_string())),
    };
    render(&dash, &s, Some(n), status).await
}

/// `POST /operator/reload`.
pub(super) async fn reload(
    State(dash): State<Arc<Dash>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = match require_operator(&dash, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if checked_form(&s, &body).is_none() {
        return csrf_refused(&dash, Some(&s));
    }
    let (status, n) = match crate::reload::reload(&dash.state).await {
        Ok(summary) => {
            tracing::info!(
                models = summary.models,
                "catalog reloaded through the dashboard"
            );
            (
                StatusCode::OK,
                Notice::Done(format!(
                    "Catalog reloaded: {} models, {} endpoints ({} added, {} removed).",
                    summary.models,
                    summary.endpoints,
                    summary.added_models.len(),
                    summary.removed_models.len()
                )),
            )
        }
        // The page itself rendered: its notice says the reload failed.
        Err(e) => (
            StatusCode::OK,
            Notice::Refused(format!(
                "Catalog not reloaded (the current one keeps serving): {e}"
            )),
        ),
    };
    render(&dash, &s, Some(n), status).await
}
