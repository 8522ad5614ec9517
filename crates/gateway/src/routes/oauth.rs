//! OAuth PKCE (api-reference.txt "OAuth PKCE", WIRE-NOTES §3): an
//! application sends its user to `GET /auth`, the user approves, and the
//! application exchanges the code it gets back for a new API key of the
//! user's account.
//!
//! 1. `GET /auth?callback_url=…&code_challenge=…&code_challenge_method=S256|plain`
//!    serves an approval page (HTML, a form, no script). Tollgate has no web
//!    login, so the page asks for one of the account's API keys (inference
//!    or provisioning) in a password field.
//! 2. `POST /auth/approve` (form-encoded `key`, `callback_url`,
//!    `code_challenge`, `code_challenge_method`) checks the key and the
//!    request again, creates a single-use code (32 random bytes, stored
//!    hashed, valid `server.oauth_code_ttl_secs`, 600 by default) and
//!    answers `303 See Other` to `callback_url` with `code=…` appended (its
//!    other query parameters and fragment kept). A bad key re-renders the
//!    form with the reason (401) and creates nothing.
//! 3. `POST /api/v1/auth/keys` `{code, code_verifier?, code_challenge_method?}`
//!    answers `{key: "sk-tg-v1-…", user_id: <account id>}`; the code must be
//!    unused, unexpired, and answered by the verifier (S256:
//!    `BASE64URL-NOPAD(SHA-256(verifier)) == challenge`; plain: equal).
//!    Refusals are 403 in the seed's error shape with a message saying
//!    what is wrong; malformed bodies are 400. The body is read as JSON
//!    whatever its content type (the seed's own example posts with
//!    `fetch` and no `Content-Type`), and the route allows cross-origin
//!    calls, since an application's front end may make it.
//! 4. `POST /api/v1/auth/keys/code` (bearer: an account key of either kind)
//!    creates a code without the browser step: `{callback_url, code_challenge?,
//!    code_challenge_method?, limit?, usage_limit_type?, expires_at?,
//!    key_label?}` → `{data: {id: <code>, app_id: 0, created_at}}`.
//!
//! Callback URLs must be absolute `http` or `https` URLs; anything else
//! (`javascript:`, `data:`, a relative path) is refused with a 400 page
//! before any form is shown.

mod page;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tollgate_store::{ApiKey, ChallengeMethod, CodeChallenge, NewOAuthCode, Store};
use tower_http::cors::{Any, CorsLayer};
use url::Url;

use super::access::authenticate_any;
use super::fields;
use super::{Route, Verb};
use crate::error::ApiError;
use crate::state::AppState;

/// The longest callback URL accepted.
const MAX_CALLBACK_LEN: usize = 2048;
/// The longest key label accepted (the OpenAPI `maxLength`).
const MAX_LABEL_CHARS: usize = 100;

/// `GET /auth` and `POST /auth/approve` (outside `/api/v1`), `POST
/// /api/v1/auth/keys` and `POST /api/v1/auth/keys/code`.
pub(super) fn routes() -> Vec<Route> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::POST])
        .allow_headers(Any);
    // The explicit OPTIONS route gives the CORS layer a preflight to
    // answer: the router's method-not-allowed fallback, installed later,
    // would not pass through it.
    let preflight = || async { StatusCode::NO_CONTENT };
    vec![
        Route::new(Verb::Get, "/auth", approval_page),
        Route::new(Verb::Post, "/auth/approve", approve),
        Route::new(Verb::Post, "/api/v1/auth/keys", exchange).layer(cors.clone()),
        Route::new(Verb::Options, "/api/v1/auth/keys", preflight).layer(cors),
        Route::new(Verb::Post, "/api/v1/auth/keys/code", create_code),
    ]
}

/// Authenticates a form's API key with the same rules as a bearer key on
/// the account's own routes ([`authenticate_any`]: any enabled, unexpired
/// key, inference or provisioning), so there is one policy for both.
async fn key_by_secret(store: &Store, secret: &str) -> Result<ApiKey, ApiError> {
    let bearer = HeaderValue::from_str(&format!("Bearer {secret}"))
        .map_err(|_| ApiError::Unauthorized(String::from("Invalid API key")))?;
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, bearer);
    authenticate_any(store, &headers).await
}

/// A JSON body decoded into `T`: 400 naming the field on a wrong value,
/// whatever the content type.
pub(super) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("invalid JSON body: {inner}"))
        } else if path == "." {
            ApiError::bad_request(format!("invalid request body: {inner}"))
        } else {
            ApiError::field(path.clone(), format!("invalid `{path}`: {inner}"))
        }
    })
}

/// `v` unless it is empty: an empty parameter counts as absent.
fn present(v: Option<&str>) -> Option<&str> {
    v.filter(|v| !v.is_empty())
}

/// An `/auth` request, validated.
#[derive(Debug, Clone)]
struct AuthRequest {
    callback: Url,
    challenge: Option<CodeChallenge>,
}

/// A refused field of an `/auth` request.
#[derive(Debug, Clone)]
struct Invalid {
    field: &'static str,
    message: String,
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> ApiError {
        ApiError::field(e.field, e.message)
    }
}

impl AuthRequest {
    /// Validates the three parameters (an empty one counts as absent).
    fn parse(
        callback_url: Option<&str>,
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<AuthRequest, Invalid> {
        let callback = parse_callback(present(callback_url))?;
        let invalid = |field, message: String| Invalid { field, message };
        let method = present(method)
            .map(ChallengeMethod::from_str)
            .transpose()
            .map_err(|e| invalid("code_challenge_method", e.to_string()))?;
        let challenge = match (present(challenge), method) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(invalid(
                    "code_challenge",
                    String::from("code_challenge_method is set but code_challenge is missing"),
                ));
            }
            // RFC 7636 §4.3: without a method, the challenge is plain.
            (Some(c), method) => Some(
                CodeChallenge::new(method.unwrap_or(ChallengeMethod::Plain), c)
                    .map_err(|e| invalid("code_challenge", e.to_string()))?,
            ),
        };
        Ok(AuthRequest {
            callback,
            challenge,
        })
    }

    /// The application's name as the user sees it: the callback's host and
    /// port.
    fn app(&self) -> String {
        let host = self.callback.host_str().unwrap_or_default();
        match self.callback.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    /// The default label of the key the code becomes.
    fn key_label(&self) -> String {
        format!("OAuth: {}", self.app())
            .chars()
            .take(MAX_LABEL_CHARS)
            .collect()
    }

    fn challenge_value(&self) -> &str {
        self.challenge.as_ref().map_or("", CodeChallenge::value)
    }

    fn method_value(&self) -> &str {
        self.challenge.as_ref().map_or("", |c| c.method().as_str())
    }
}

/// An absolute http(s) URL with a host.
fn parse_callback(raw: Option<&str>) -> Result<Url, Invalid> {
    let invalid = |message: String| Invalid {
        field: "callback_url",
        message,
    };
    let raw = raw.ok_or_else(|| invalid(String::from("callback_url is required")))?;
    if raw.len() > MAX_CALLBACK_LEN {
        return Err(invalid(format!(
            "callback_url is longer than {MAX_CALLBACK_LEN} characters"
        )));
    }
    let url = Url::parse(raw)
        .map_err(|e| invalid(format!("callback_url `{raw}` is not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "callback_url must be an http or https URL, not `{}:`",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(format!("callback_url `{raw}` has no host")));
    }
    Ok(url)
}

/// Form or query parameters by name; the first of a repeated name wins.
fn form_params(input: &[u8]) -> HashMap<String, String> {
    let mut params = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(input) {
        params
            .entry(name.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    params
}

/// `callback` with `code=<code>` appended to its query. Its other
/// parameters are kept byte for byte (not re-encoded), a stale `code`
/// parameter is dropped so the application reads ours, and the fragment
/// stays where it is.
fn redirect_with_code(callback: &Url, code: &str) -> Url {
    let mut query: Vec<&str> = callback
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("code"))
        .collect();
    let ours = format!("code={code}");
    query.push(&ours);
    let mut url = callback.clone();
    url.set_query(Some(&query.join("&")));
    url
}

/// Where the approval form posts: under `server.public_url` when set
/// (behind a proxy that mounts the gateway on a path), else this host.
fn approve_action(state: &AppState) -> String {
    match &state.server.public_url {
        Some(base) => format!("{}/auth/approve", base.trim_end_matches('/')),
        None => String::from("/auth/approve"),
    }
}

fn approval_form(
    state: &AppState,
    request: &AuthRequest,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let app = request.app();
    let action = approve_action(state);
    let html = page::approval(&page::Approval {
        app: &app,
        callback: request.callback.as_str(),
        challenge: request.challenge_value(),
        method: request.method_value(),
        action: &action,
        error,
    });
    page::respond(status, html)
}

/// `GET /auth`: the approval page, or a 400 page naming what is wrong.
async fn approval_page(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let params = form_params(query.unwrap_or_default().as_bytes());
    let get = |name: &str| params.get(name).map(String::as_str);
    match AuthRequest::parse(
        get("callback_url"),
        get("code_challenge"),
        get("code_challenge_method"),
    ) {
        Ok(request) => approval_form(&state, &request, StatusCode::OK, None),
        Err(invalid) => page::respond(StatusCode::BAD_REQUEST, page::error(&invalid.message)),
    }
}

/// `POST /auth/approve`: checks the key, issues a code, redirects.
async fn approve(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return page::respond(
            StatusCode::BAD_REQUEST,
            page::error("the form could not be read"),
        );
    };
    let params = form_params(&body);
    let get = |name: &str| params.get(name).map(String::as_str);
    let request = match AuthRequest::parse(
        get("callback_url"),
        get("code_challenge"),
        get("code_challenge_method"),
    ) {
        Ok(request) => request,
        Err(invalid) => {
            return page::respond(StatusCode::BAD_REQUEST, page::error(&invalid.message));
        }
    };
    let secret = get("key").map(str::trim).unwrap_or_default();
    if secret.is_empty() {
        return approval_form(
            &state,
            &request,
            StatusCode::UNAUTHORIZED,
            Some("Enter an API key of your account."),
        );
    }
    let key = match key_by_secret(&state.store, secret).await {
        Ok(key) => key,
        Err(ApiError::Unauthorized(message)) => {
            return approval_form(&state, &request, StatusCode::UNAUTHORIZED, Some(&message));
        }
        Err(other) => return server_error_page(other),
    };
    let new = NewOAuthCode {
        callback_url: Some(request.callback.to_string()),
        challenge: request.challenge.clone(),
        key_label: request.key_label(),
        limit: None,
        limit_reset: None,
        key_expires_at: None,
    };
    let ttl = Duration::from_secs(state.server.oauth_code_ttl_secs);
    let code = match state
        .store
        .create_oauth_code(&key.account_id, new, ttl, Utc::now())
        .await
    {
        Ok((code, _)) => code,
        Err(e) => return server_error_page(e.into()),
    };
    tracing::info!(account = %key.account_id, app = %request.app(), "oauth code issued");
    let target = redirect_with_code(&request.callback, &code);
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let h = resp.headers_mut();
    match HeaderValue::from_str(target.as_str()) {
        Ok(location) => {
            h.insert(header::LOCATION, location);
        }
        // `Url` serializes to ASCII, so this cannot happen.
        Err(_) => return server_error_page(ApiError::Internal(String::from("bad redirect"))),
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// A 500 page; the detail goes to the log only.
fn server_error_page(error: ApiError) -> Response {
    tracing::error!(%error, "oauth approval failed");
    page::respond(
        StatusCode::INTERNAL_SERVER_ERROR,
        page::error("Internal server error. Please try again."),
    )
}

/// `POST /api/v1/auth/keys` body. No `Debug`: it holds the code and the
/// verifier.
#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct ExchangeBody {
    /// The code the callback received.
    code: String,
    /// The PKCE verifier, when the code was made with a challenge.
    #[serde(default)]
    code_verifier: Option<String>,
    /// `S256` or `plain`.
    #[serde(default)]
    code_challenge_method: Option<String>,
}

/// `POST /api/v1/auth/keys`: a code for a new key.
async fn exchange(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| ApiError::from_body_rejection(e, state.server.max_body_bytes))?;
    let req: ExchangeBody = parse_json(&body)?;
    if req.code.is_empty() {
        return Err(ApiError::field("code", "code must not be empty"));
    }
    // A code or verifier with a control character was never issued (and
    // PostgreSQL could not even look it up).
    if !super::fields::can_be_id(&req.code)
        || req
            .code_verifier
            .as_deref()
            .is_some_and(|v| !super::fields::can_be_id(v))
    {
        return Err(ApiError::Forbidden(
            tollgate_store::CodeRejection::Unknown.to_string(),
        ));
    }
    let method = req
        .code_challenge_method
        .as_deref()
        .map(ChallengeMethod::from_str)
        .transpose()
        .map_err(|e| ApiError::field("code_challenge_method", e.to_string()))?;
    let outcome = state
        .store
        .exchange_oauth_code(&req.code, req.code_verifier.as_deref(), method, Utc::now())
        .await?;
    let exchanged = outcome.map_err(|rejection| ApiError::Forbidden(rejection.to_string()))?;
    tracing::info!(
        account = %exchanged.key.account_id,
        key = %exchanged.key.hash.get(..12).unwrap_or_default(),
        "oauth code exchanged for a key"
    );
    Ok(Json(serde_json::json!({
        "key": exchanged.secret,
        "user_id": exchanged.key.account_id,
    }))
    .into_response())
}

/// `POST /api/v1/auth/keys/code` body (WIRE-NOTES §3). `workspace_id` and
/// other fields are accepted and ignored: Tollgate has no workspaces.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct CodeBody {
    /// Where the user is sent back with `?code=`.
    callback_url: String,
    #[serde(default)]
    code_challenge: Option<String>,
    #[serde(default)]
    code_challenge_method: Option<String>,
    #[serde(default)]
    limit: Option<Value>,
    #[serde(default)]
    usage_limit_type: Option<Value>,
    #[serde(default)]
    expires_at: Option<Value>,
    #[serde(default)]
    key_label: Option<String>,
}

/// `POST /api/v1/auth/keys/code`: a code created by the account itself.
async fn create_code(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let key = authenticate_any(&state.store, &headers).await?;
    let body = body.map_err(|e| ApiError::from_body_rejection(e, state.server.max_body_bytes))?;
    let req: CodeBody = parse_json(&body)?;
    let request = AuthRequest::parse(
        Some(&req.callback_url),
        req.code_challenge.as_deref(),
        req.code_challenge_method.as_deref(),
    )?;
    let now = Utc::now();
    let given = |v: Option<Value>| v.filter(|v| !v.is_null());
    let limit = given(req.limit)
        .map(|v| fields::usd("limit", &v, false, false))
        .transpose()?;
    let limit_reset = given(req.usage_limit_type)
        .map(|v| fields::limit_reset("usage_limit_type", &v))
        .transpose()?;
    let key_expires_at = given(req.expires_at)
        .map(|v| fields::timestamp("expires_at", &v))
        .transpose()?;
    if key_expires_at.is_some_and(|at| at <= now) {
        return Err(ApiError::field("expires_at", "`expires_at` is in the past"));
    }
    let key_label = match req.key_label {
        Some(label) if label.chars().count() > MAX_LABEL_CHARS => {
            return Err(ApiError::field(
                "key_label",
                format!("key_label is longer than {MAX_LABEL_CHARS} characters"),
            ));
        }
        Some(label) if label.chars().any(char::is_control) => {
            return Err(ApiError::field(
                "key_label",
                "key_label must not contain control characters",
            ));
        }
        Some(label) if !label.trim().is_empty() => label,
        _ => request.key_label(),
    };
    let new = NewOAuthCode {
        callback_url: Some(request.callback.to_string()),
        challenge: request.challenge.clone(),
        key_label,
        limit,
        limit_reset,
        key_expires_at,
    };
    let ttl = Duration::from_secs(state.server.oauth_code_ttl_secs);
    let (code, record) = state
        .store
        .create_oauth_code(&key.account_id, new, ttl, now)
        .await
        .map_err(|e| match e {
            tollgate_store::Error::InvalidAmount { amount, reason } => {
                ApiError::field("limit", format!("limit {amount} is invalid: {reason}"))
            }
            other => other.into(),
        })?;
    tracing::info!(account = %key.account_id, app = %request.app(), "oauth code created by the account");
    Ok(Json(serde_json::json!({
        "data": {
            "id": code,
            "app_id": 0,
            "created_at": fields::iso(record.created_at),
        }
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn redirect_keeps_query_and_fragment() {
        let cases = [
            ("https://app.example/cb", "https://app.example/cb?code=C"),
            (
                "https://app.example/cb?state=xyz&x=a%20b+c",
                "https://app.example/cb?state=xyz&x=a%20b+c&code=C",
            ),
            (
                "https://app.example/cb?code=stale&state=1#frag",
                "https://app.example/cb?state=1&code=C#frag",
            ),
            ("http://localhost:3000/?", "http://localhost:3000/?code=C"),
            (
                "https://app.example/cb?codex=1&a=&&b",
                "https://app.example/cb?codex=1&a=&b&code=C",
            ),
        ];
        for (callback, expected) in cases {
            assert_eq!(
                redirect_with_code(&url(callback), "C").as_str(),
                expected,
                "{callback}"
            );
        }
    }

    #[test]
    fn callback_urls() {
        for ok in [
            "https://app.example/cb",
            "http://localhost:3000/callback",
            "http://127.0.0.1:8765/",
        ] {
            assert!(parse_callback(Some(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "/relative",
            "ftp://x.example/",
            "file:///etc/passwd",
            "https://",
            "not a url",
        ] {
            let e = parse_callback(Some(bad)).unwrap_err();
            assert_eq!(e.field, "callback_url", "{bad}");
        }
        assert!(
            parse_callback(None)
                .unwrap_err()
                .message
                .contains("required")
        );
        let long = format!("https://app.example/{}", "a".repeat(MAX_CALLBACK_LEN));
        assert!(parse_callback(Some(&long)).is_err());
    }

    #[test]
    fn challenge_parameters() {
        let cb = Some("https://app.example/cb");
        let r = AuthRequest::parse(cb, None, None).unwrap();
        assert!(r.challenge.is_none());
        assert_eq!(r.app(), "app.example");
        assert_eq!(r.key_label(), "OAuth: app.example");
        // Empty parameters count as absent (the hidden form fields).
        assert!(
            AuthRequest::parse(cb, Some(""), Some(""))
                .unwrap()
                .challenge
                .is_none()
        );
        let r = AuthRequest::parse(cb, Some("abc"), None).unwrap();
        assert_eq!(r.method_value(), "plain", "RFC 7636 default");
        let e = AuthRequest::parse(cb, None, Some("S256")).unwrap_err();
        assert_eq!(e.field, "code_challenge");
        let e = AuthRequest::parse(cb, Some("abc"), Some("S512")).unwrap_err();
        assert_eq!(e.field, "code_challenge_method");
        let e = AuthRequest::parse(cb, Some("abc"), Some("S256")).unwrap_err();
        assert_eq!(e.field, "code_challenge");
        let r = AuthRequest::parse(
            Some("http://localhost:3000/cb"),
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            Some("S256"),
        )
        .unwrap();
        assert_eq!(r.app(), "localhost:3000");
    }

    #[test]
    fn form_params_first_wins() {
        let p = form_params(b"a=1&b=x+y&a=2&c=%3Cz%3E");
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "x y");
        assert_eq!(p["c"], "<z>");
    }
}
