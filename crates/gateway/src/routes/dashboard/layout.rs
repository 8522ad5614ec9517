//! The page shell (head, navigation, sign-out) and small formatting
//! helpers shared by the pages.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use rust_decimal::Decimal;

use super::Dash;
use super::session::{Session, Who};

/// The navigation of an account's session: (path, label).
const ACCOUNT_NAV: &[(&str, &str)] = &[
    ("/activity", "Activity"),
    ("/models", "Models"),
    ("/playground", "Playground"),
    ("/generations", "Generations"),
    ("/keys", "Keys"),
    ("/credits", "Credits"),
    ("/byok", "BYOK"),
];

/// The operator's navigation.
const OPERATOR_NAV: &[(&str, &str)] = &[("/operator", "Operator"), ("/models", "Models")];

/// A whole page: `current` is the navigation entry to mark (`/keys`).
pub(super) fn page(
    dash: &Dash,
    s: Option<&Session>,
    title: &str,
    current: &str,
    body: Markup,
) -> Markup {
    let nav = match s.map(|s| &s.who) {
        Some(Who::Account { .. }) => ACCOUNT_NAV,
        Some(Who::Operator) => OPERATOR_NAV,
        None => &[],
    };
    let who = match s.map(|s| &s.who) {
        Some(Who::Account { label, .. }) => Some(format!("Key {label}")),
        Some(Who::Operator) => Some(String::from("Operator")),
        None => None,
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                @if let Some(s) = s { meta name="csrf-token" content=(s.csrf); }
                title { (title) " · Tollgate" }
                link rel="stylesheet" href=(dash.p("/assets/app.css"));
                link rel="icon" href="data:,";
                script src=(dash.p("/assets/app.js")) defer {}
            }
            body data-base=(dash.p("")) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href=(dash.p("/")) { "Tollgate" }
                    @if !nav.is_empty() {
                        nav aria-label="Main" {
                            ul {
                                @for (path, label) in nav {
                                    li {
                                        @if *path == current {
                                            a href=(dash.p(path)) aria-current="page" { (label) }
                                        } @else {
                                            a href=(dash.p(path)) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if let (Some(s), Some(who)) = (s, who) {
                        form.signout method="post" action=(dash.p("/signout")) {
                            span.muted { (who) }
                            input type="hidden" name="csrf" value=(s.csrf);
                            button.secondary type="submit" { "Sign out" }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

/// The hidden CSRF field of a session's form.
pub(super) fn csrf(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

/// USD, with at least two decimals and at most six.
pub(super) fn usd(d: Decimal) -> String {
    let r = d.round_dp(6).normalize();
    let s = if r.scale() < 2 {
        format!("{:.2}", r)
    } else {
        r.to_string()
    };
    match s.strip_prefix('-') {
        Some(rest) => format!("−${rest}"),
        None => format!("${s}"),
    }
}

/// A price per token as USD per million tokens.
pub(super) fn per_million(d: Decimal) -> String {
    if d.is_zero() {
        return String::from("free");
    }
    usd(d * Decimal::from(1_000_000))
}

/// A time, to the minute, UTC.
pub(super) fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A count with thin grouping (12 345).
pub(super) fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_counts_read_well() {
        assert_eq!(usd(Decimal::new(5, 0)), "$5.00");
        assert_eq!(usd(Decimal::new(1234567, 7)), "$0.123457");
        assert_eq!(usd(Decimal::new(-25, 1)), "−$2.50");
        assert_eq!(per_million(Decimal::new(15, 7)), "$1.50");
        assert_eq!(per_million(Decimal::ZERO), "free");
        assert_eq!(count(1234567), "1\u{202f}234\u{202f}567");
        assert_eq!(count(12), "12");
    }
}
