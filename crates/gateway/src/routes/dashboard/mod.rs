//! The web dashboard: server-rendered pages (maud) beside the API, at
//! `[dashboard] path`. Sign-in with an API key (the account's view) or the
//! admin key (the operator's view) starts a server-side session
//! ([`session`]); every form carries the session's CSRF token; the
//! playground runs the chat pipeline in-process, so no key reaches the
//! browser. Pages read the store and the books as the JSON routes do.
//!
//! Every asset is embedded (`assets/`): no CDN, no request leaves the
//! gateway. Each page answers with a strict Content-Security-Policy (no
//! inline script), no caching and no framing.

mod account;
mod activity;
mod layout;
mod models;
mod operator;
mod playground;
mod session;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use tollgate_store::{ApiKey, KeyKind, hash_api_key};

pub use session::Sessions;
use session::{COOKIE, SIGNIN_COOKIE, Session, Who};

use super::access::AdminAuth;
use crate::state::AppState;

/// Largest form the dashboard reads (the playground's conversation
/// included).
const MAX_FORM_BYTES: usize = 256 * 1024;

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

/// What every dashboard handler sees.
#[derive(Debug)]
pub(super) struct Dash {
    state: Arc<AppState>,
    admin: Arc<AdminAuth>,
    sessions: Arc<Sessions>,
}

impl Dash {
    /// A dashboard path: `/keys` under the configured prefix.
    fn p(&self, path: &str) -> String {
        let prefix = &self.sessions.prefix;
        if path == "/" && !prefix.is_empty() {
            prefix.clone()
        } else {
            format!("{prefix}{path}")
        }
    }
}

/// The dashboard's routes, under `[dashboard] path`.
pub(crate) fn router(
    state: Arc<AppState>,
    admin: Arc<AdminAuth>,
    sessions: Arc<Sessions>,
) -> Router {
    let prefix = sessions.prefix.clone();
    let dash = Arc::new(Dash {
        state,
        admin,
        sessions,
    });
    let pages = Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/assets/app.css", get(css))
        .route("/assets/app.js", get(js))
        .route("/models", get(models::list))
        .route("/models/{author}/{slug}", get(models::model))
        .route("/playground", get(playground::page))
        .route("/playground/chat", post(playground::chat))
        .route("/activity", get(activity::page))
        .route("/activity.csv", get(activity::csv))
        .route("/generations", get(activity::generations))
        .route("/generations/{id}", get(activity::generation))
        .route("/keys", get(account::keys).post(account::create_key))
        .route("/keys/{hash}/toggle", post(account::toggle_key))
        .route(
            "/keys/{hash}/delete",
            get(account::confirm_delete).post(account::delete_key),
        )
        .route("/credits", get(account::credits))
        .route("/byok", get(account::byok).post(account::store_byok))
        .route("/byok/{provider}/delete", post(account::delete_byok))
        .route("/operator", get(operator::page))
        .route("/operator/accounts", post(operator::create_account))
        .route("/operator/accounts/{id}/credits", post(operator::top_up))
        .route("/operator/reload", post(operator::reload))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(dash);
    if prefix.is_empty() {
        pages
    } else {
        Router::new().nest(&prefix, pages)
    }
}

/// An HTML answer with the headers every page carries.
fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut resp = (status, markup.into_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(h);
    resp
}

fn secure_headers(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
}

/// A 303 to `to`.
fn redirect(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// A plain error page.
fn problem(dash: &Dash, s: Option<&Session>, status: StatusCode, message: &str) -> Response {
    let body = html! {
        div.card role="alert" {
            h1 { (status.canonical_reason().unwrap_or("Error")) }
            p { (message) }
            p { a href=(dash.p("/")) { "Back to the dashboard" } }
        }
    };
    html_response(status, layout::page(dash, s, "Error", "", body))
}

/// The live session of the request, or a redirect to the sign-in page.
/// An account's session ends as soon as its key is disabled, deleted or
/// expired.
async fn require(dash: &Dash, headers: &HeaderMap) -> Result<Session, Response> {
    let Some(s) = dash.sessions.get(headers) else {
        return Err(redirect(&dash.p("/signin")));
    };
    if let Who::Account { key_hash, .. } = &s.who {
        match dash.state.store.get_api_key(key_hash).await {
            Ok(Some(k)) if usable(&k) => {}
            Ok(_) => {
                dash.sessions.end(headers);
                return Err(redirect(&dash.p("/signin")));
            }
            Err(e) => {
                tracing::warn!(error = %e, "dashboard: reading the session's key");
                return Err(problem(
                    dash,
                    None,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database does not answer; try again shortly.",
                ));
            }
        }
    }
    Ok(s)
}

/// The account of an account session, or a 403 page for the operator.
async fn require_account(
    dash: &Dash,
    headers: &HeaderMap,
) -> Result<(Session, String, String), Response> {
    let s = require(dash, headers).await?;
    match &s.who {
        Who::Account {
            account_id,
            key_hash,
            ..
        } => {
            let (a, k) = (account_id.clone(), key_hash.clone());
            Ok((s, a, k))
        }
        Who::Operator => Err(problem(
            dash,
            Some(&s),
            StatusCode::FORBIDDEN,
            "This page is an account's: sign in with one of its API keys.",
        )),
    }
}

/// Why an inference key's session only sees the account's keys.
pub(super) const MANAGE_NEEDS_PROVISIONING: &str =
    "Managing keys needs a provisioning key: sign in with one.";

/// The account of a session that may manage its API and BYOK keys (signed
/// in with a provisioning key), or a 403 page: an inference key may be
/// embedded in a browser app, so a leaked one must not mint keys.
async fn require_manager(
    dash: &Dash,
    headers: &HeaderMap,
) -> Result<(Session, String, String), Response> {
    let (s, account, key_hash) = require_account(dash, headers).await?;
    if !s.manages() {
        return Err(problem(
            dash,
            Some(&s),
            StatusCode::FORBIDDEN,
            MANAGE_NEEDS_PROVISIONING,
        ));
    }
    Ok((s, account, key_hash))
}

/// An operator session, or a 403 page.
async fn require_operator(dash: &Dash, headers: &HeaderMap) -> Result<Session, Response> {
    let s = require(dash, headers).await?;
    match s.who {
        Who::Operator => Ok(s),
        Who::Account { .. } => Err(problem(
            dash,
            Some(&s),
            StatusCode::FORBIDDEN,
            "This page is the operator's: sign in with the admin key.",
        )),
    }
}

fn usable(k: &ApiKey) -> bool {
    !k.disabled && !k.is_expired(chrono::Utc::now())
}

/// A urlencoded form's fields.
fn form(body: &Bytes) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The form of a session's POST, or `None` when its CSRF token is missing
/// or wrong (answer [`csrf_refused`]).
fn checked_form(s: &Session, body: &Bytes) -> Option<HashMap<String, String>> {
    let f = form(body);
    match f.get("csrf") {
        Some(t) if session::same(t, &s.csrf) => Some(f),
        _ => None,
    }
}

fn csrf_refused(dash: &Dash, s: Option<&Session>) -> Response {
    problem(
        dash,
        s,
        StatusCode::FORBIDDEN,
        "The form's security token is missing or stale. Reload the page and try again.",
    )
}

/// A non-empty trimmed field.
fn field<'f>(f: &'f HashMap<String, String>, name: &str) -> Option<&'f str> {
    f.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// `/`: the account's models page or the operator's page.
async fn home(State(dash): State<Arc<Dash>>, headers: HeaderMap) -> Response {
    match dash.sessions.get(&headers).map(|s| s.who) {
        Some(Who::Operator) => redirect(&dash.p("/operator")),
        Some(Who::Account { .. }) => redirect(&dash.p("/activity")),
        None => redirect(&dash.p("/signin")),
    }
}

/// `GET /signin`: the form, with a fresh CSRF cookie.
async fn signin_page(State(dash): State<Arc<Dash>>, headers: HeaderMap) -> Response {
    signin_form(&dash, &headers, None, StatusCode::OK)
}

fn signin_form(
    dash: &Dash,
    headers: &HeaderMap,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let csrf = session::token();
    let body = html! {
        div.card.narrow {
            h1 { "Sign in" }
            p.muted { "Use one of your account's API keys (a provisioning key to manage keys), or the operator's admin key. The key is only used to start a session: it is not kept in the browser." }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action=(dash.p("/signin")) {
                input type="hidden" name="csrf" value=(csrf);
                label for="key" { "API key or admin key" }
                input #key name="key" type="password" autocomplete="off" required autofocus placeholder="sk-tg-v1-…";
                button type="submit" { "Sign in" }
            }
        }
    };
    let mut resp = html_response(status, layout::page(dash, None, "Sign in", "", body));
    if let Some(c) = dash
        .sessions
        .set_cookie(headers, SIGNIN_COOKIE, &csrf, 3600)
    {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// `POST /signin` `key=...&csrf=...`.
async fn signin(State(dash): State<Arc<Dash>>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let expected = session::cookie(&headers, SIGNIN_COOKIE);
    match (f.get("csrf"), expected) {
        (Some(t), Some(e)) if session::same(t, e) => {}
        _ => return csrf_refused(&dash, None),
    }
    let Some(secret) = field(&f, "key") else {
        return signin_form(
            &dash,
            &headers,
            Some("Enter a key."),
            StatusCode::BAD_REQUEST,
        );
    };
    let who = if dash.admin.is_enabled() && admin_matches(&dash.admin, secret) {
        Some(Who::Operator)
    } else {
        match dash.state.store.get_api_key(&hash_api_key(secret)).await {
            Ok(Some(k)) if usable(&k) => Some(Who::Account {
                account_id: k.account_id.clone(),
                key_hash: k.hash.clone(),
                label: k.display_label().to_owned(),
                manages: k.kind == KeyKind::Provisioning,
            }),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "dashboard sign-in: reading the key");
                None
            }
        }
    };
    let Some(who) = who else {
        return signin_form(
            &dash,
            &headers,
            Some("That key is unknown, disabled or expired."),
            StatusCode::UNAUTHORIZED,
        );
    };
    let operator = matches!(who, Who::Operator);
    tracing::info!(operator, "dashboard: signed in");
    let token = dash.sessions.start(who);
    let mut resp = redirect(&dash.p("/"));
    let ttl = dash.sessions.ttl_secs();
    for c in [
        dash.sessions.set_cookie(&headers, COOKIE, &token, ttl),
        dash.sessions.set_cookie(&headers, SIGNIN_COOKIE, "", 0),
    ]
    .into_iter()
    .flatten()
    {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

fn admin_matches(admin: &AdminAuth, secret: &str) -> bool {
    let mut h = HeaderMap::new();
    match HeaderValue::from_str(&format!("Bearer {secret}")) {
        Ok(v) => {
            h.insert(header::AUTHORIZATION, v);
            admin.check(&h).is_ok()
        }
        Err(_) => false,
    }
}

/// `POST /signout`: ends the session (CSRF-checked).
async fn signout(State(dash): State<Arc<Dash>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(s) = dash.sessions.get(&headers) else {
        return redirect(&dash.p("/signin"));
    };
    if checked_form(&s, &body).is_none() {
        return csrf_refused(&dash, Some(&s));
    }
    dash.sessions.end(&headers);
    let mut resp = redirect(&dash.p("/signin"));
    if let Some(c) = dash.sessions.set_cookie(&headers, COOKIE, "", 0) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}
