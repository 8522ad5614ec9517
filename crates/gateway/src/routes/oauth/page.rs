//! The HTML of the approval flow: two templates (`approve.html`,
//! `error.html`, embedded at compile time) and one renderer.
//!
//! Every value reaches a page through [`render`], which HTML-escapes it;
//! the only markup inserted is built here from escaped parts. The renderer
//! makes a single pass over the template, so a value that happens to
//! contain `{{name}}` is never expanded.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const APPROVE: &str = include_str!("approve.html");
const ERROR: &str = include_str!("error.html");

/// What the approval page shows and posts back.
#[derive(Debug, Clone, Copy)]
pub(super) struct Approval<'a> {
    /// The application, as the callback's host (and port).
    pub(super) app: &'a str,
    /// The callback URL.
    pub(super) callback: &'a str,
    /// The code challenge, or "".
    pub(super) challenge: &'a str,
    /// The challenge method, or "".
    pub(super) method: &'a str,
    /// Where the form posts.
    pub(super) action: &'a str,
    /// Why the last attempt failed, if it did.
    pub(super) error: Option<&'a str>,
}

/// A value for a template slot.
enum Slot<'a> {
    /// Text, escaped on the way in.
    Text(&'a str),
    /// Markup built by this module from escaped parts.
    Markup(String),
}

/// The approval page.
pub(super) fn approval(page: &Approval<'_>) -> String {
    let error = page
        .error
        .map(|e| {
            // Echoes of the request bounded, as in every error.
            let e = crate::error::bound_echoes(e);
            format!(r#"<p class="error" role="alert">{}</p>"#, escape(&e))
        })
        .unwrap_or_default();
    let pkce = if page.challenge.is_empty() {
        "This application does not use PKCE: anyone who intercepts the code can exchange it."
    } else {
        "The code only works together with a secret the application kept (PKCE)."
    };
    render(
        APPROVE,
        &[
            ("app", Slot::Text(page.app)),
            ("callback", Slot::Text(page.callback)),
            ("challenge", Slot::Text(page.challenge)),
            ("method", Slot::Text(page.method)),
            ("action", Slot::Text(page.action)),
            ("pkce", Slot::Text(pkce)),
            ("error", Slot::Markup(error)),
        ],
    )
}

/// The page for a request that cannot be approved at all.
pub(super) fn error(message: &str) -> String {
    let message = crate::error::bound_echoes(message);
    render(ERROR, &[("message", Slot::Text(&message))])
}

/// An HTML answer with the headers every page of the flow carries: no
/// caching (a page may echo a code challenge), no framing (clickjacking of
/// the approve button), no referrer (the callback URL may carry state), and
/// a policy that allows no script at all.
pub(super) fn respond(status: StatusCode, html: String) -> Response {
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // No `form-action`: browsers apply it to the redirect that follows the
    // post too, and that goes to the application's own origin.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    resp
}

/// `s` with the five characters that matter in HTML text and quoted
/// attribute values replaced by entities.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Fills the template's `{{name}}` slots in one pass. A name without a slot
/// is left as it is (the tests check no template has one).
fn render(template: &str, slots: &[(&str, Slot<'_>)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        match slots.iter().find(|(slot, _)| *slot == name) {
            Some((_, Slot::Text(text))) => out.push_str(&escape(text)),
            Some((_, Slot::Markup(markup))) => out.push_str(markup),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVIL: &str = r#""><script>alert('x')</script>&"#;

    fn page(error: Option<&str>) -> Approval<'_> {
        Approval {
            app: EVIL,
            callback: EVIL,
            challenge: EVIL,
            method: EVIL,
            action: "/auth/approve",
            error,
        }
    }

    #[test]
    fn escapes_the_five() {
        assert_eq!(
            escape(EVIL),
            "&quot;&gt;&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;"
        );
        assert_eq!(escape("plain é"), "plain é");
    }

    #[test]
    fn every_slot_is_escaped() {
        let html = approval(&page(Some(EVIL)));
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains(r#""><"#), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("{{"), "every slot filled: {html}");
        let html = error(EVIL);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("{{"), "{html}");
    }

    #[test]
    fn values_are_not_expanded_again() {
        let html = approval(&Approval {
            app: "{{error}}",
            error: Some("boom"),
            ..page(None)
        });
        assert!(html.contains("<strong>{{error}}</strong>"), "{html}");
        assert_eq!(html.matches("boom").count(), 1);
    }

    #[test]
    fn error_block_only_when_failed() {
        assert!(!approval(&page(None)).contains("role=\"alert\""));
        assert!(approval(&page(Some("Invalid API key"))).contains("Invalid API key"));
    }

    #[test]
    fn the_page_has_no_script() {
        for html in [APPROVE, ERROR] {
            assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
        }
    }
}
