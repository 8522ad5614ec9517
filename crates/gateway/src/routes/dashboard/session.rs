//! Dashboard sessions: an in-memory map from the SHA-256 of a random
//! cookie token to who signed in, with an expiry and a CSRF token. The
//! session holds the key's hash, never the key; the cookie is HttpOnly,
//! SameSite=Strict, scoped to the dashboard's path, and Secure behind TLS.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::config::DashboardConfig;

/// The session cookie.
pub(super) const COOKIE: &str = "tollgate_session";
/// The sign-in form's CSRF cookie (before there is a session).
pub(super) const SIGNIN_COOKIE: &str = "tollgate_signin";
/// Bound on live sessions; expired ones are swept when it is reached.
const MAX_SESSIONS: usize = 10_000;

/// Who a session belongs to.
#[derive(Debug, Clone)]
pub(super) enum Who {
    /// An account, signed in with one of its keys.
    Account {
        /// The account.
        account_id: String,
        /// The SHA-256 of the key signed in with.
        key_hash: String,
        /// The key's display label.
        label: String,
        /// Signed in with a provisioning key: may manage the account's API
        /// keys and BYOK keys (an inference key only sees them), and cannot
        /// call models.
        manages: bool,
    },
    /// The operator, signed in with the admin key.
    Operator,
}

/// A signed-in session.
#[derive(Debug, Clone)]
pub(super) struct Session {
    /// Who signed in.
    pub(super) who: Who,
    /// The token every form and the playground must send back.
    pub(super) csrf: String,
    expires: Instant,
}

impl Session {
    /// Whether an account (not the operator) signed in.
    pub(super) fn who_is_account(&self) -> bool {
        matches!(self.who, Who::Account { .. })
    }

    /// Whether the session may manage the account's keys (signed in with a
    /// provisioning key).
    pub(super) fn manages(&self) -> bool {
        matches!(self.who, Who::Account { manages: true, .. })
    }
}

/// The dashboard's settings and live sessions, shared by every router the
/// gateway builds.
#[derive(Debug)]
pub struct Sessions {
    pub(super) prefix: String,
    ttl: Duration,
    secure: bool,
    map: Mutex<HashMap<String, Session>>,
}

/// 32 random bytes as hex.
pub(super) fn token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Equal strings, compared in time independent of where they differ.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name` in the request.
pub(super) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Sessions {
    /// Sessions under `[dashboard]`'s settings.
    pub fn new(config: &DashboardConfig) -> Sessions {
        Sessions {
            prefix: config.prefix().to_owned(),
            ttl: Duration::from_secs(config.session_ttl_secs),
            secure: config.secure_cookie,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        match self.map.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Starts a session; returns its cookie token.
    pub(super) fn start(&self, who: Who) -> String {
        let token = token();
        let session = Session {
            who,
            csrf: self::token(),
            expires: Instant::now() + self.ttl,
        };
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            let now = Instant::now();
            map.retain(|_, s| s.expires > now);
        }
        map.insert(digest(&token), session);
        token
    }

    /// The live session the request's cookie names.
    pub(super) fn get(&self, headers: &HeaderMap) -> Option<Session> {
        let token = cookie(headers, COOKIE)?;
        let key = digest(token);
        let mut map = self.lock();
        match map.get(&key) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the request's session, if any.
    pub(super) fn end(&self, headers: &HeaderMap) {
        if let Some(token) = cookie(headers, COOKIE) {
            self.lock().remove(&digest(token));
        }
    }

    /// Whether cookies get `Secure`: configured, or the request came over
    /// HTTPS through a proxy.
    fn secure(&self, headers: &HeaderMap) -> bool {
        self.secure
            || headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("https"))
    }

    /// A `Set-Cookie` value: `value` for `max_age` seconds (0 deletes).
    pub(super) fn set_cookie(
        &self,
        headers: &HeaderMap,
        name: &str,
        value: &str,
        max_age: u64,
    ) -> Option<HeaderValue> {
        let path = if self.prefix.is_empty() {
            "/"
        } else {
            &self.prefix
        };
        let secure = if self.secure(headers) { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
        ))
        .ok()
    }

    /// The session cookie's lifetime in seconds.
    pub(super) fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(ttl: u64) -> Sessions {
        let config = DashboardConfig {
            session_ttl_secs: ttl,
            ..DashboardConfig::default()
        };
        Sessions::new(&config)
    }

    fn with_cookie(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE}={token}")).unwrap(),
        );
        h
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends() {
        let s = sessions(60);
        let token = s.start(Who::Operator);
        let got = s.get(&with_cookie(&token)).unwrap();
        assert!(matches!(got.who, Who::Operator));
        assert_eq!(got.csrf.len(), 64);
        assert_ne!(got.csrf, token);
        assert!(s.get(&with_cookie("not-a-session")).is_none());
        s.end(&with_cookie(&token));
        assert!(s.get(&with_cookie(&token)).is_none());
    }

    #[test]
    fn an_expired_session_is_gone() {
        let s = sessions(0);
        let token = s.start(Who::Operator);
        assert!(s.get(&with_cookie(&token)).is_none());
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_behind_tls() {
        let s = sessions(60);
        let plain = s.set_cookie(&HeaderMap::new(), COOKIE, "t", 60).unwrap();
        let plain = plain.to_str().unwrap();
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"));
        assert!(!plain.contains("Secure"));
        let mut tls = HeaderMap::new();
        tls.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let secure = s.set_cookie(&tls, COOKIE, "t", 60).unwrap();
        assert!(secure.to_str().unwrap().ends_with("; Secure"));
    }

    #[test]
    fn same_compares_whole_strings() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
