//! `config_toml`: `tollgate.toml` parsing and validation
//! (`tollgate_gateway::Config::parse`, and the catalog's providers file),
//! on TOML tables made of the real sections and keys with values of every
//! type and at the edges of their ranges.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tollgate_fuzz::Rand;
use tollgate_fuzz::generate::unicode;
use tollgate_fuzz::rand::Rng;
use toml::{Table, Value};

use crate::support::{maybe, pick};

/// Every section, and its keys.
const SECTIONS: &[(&str, &[&str])] = &[
    (
        "server",
        &[
            "listen",
            "replica_id",
            "public_url",
            "max_body_bytes",
            "max_upstream_response_bytes",
            "header_read_timeout_secs",
            "request_body_timeout_secs",
            "stream_keepalive_secs",
            "shutdown_grace_secs",
            "failover_budget_secs",
            "oauth_code_ttl_secs",
            "worker_threads",
        ],
    ),
    ("database", &["url"]),
    ("redis", &["url", "health_key_prefix"]),
    ("billing", &["holds", "lease_ttl_secs", "durable_replies"]),
    (
        "rate_limits",
        &[
            "free_per_minute",
            "free_per_day",
            "free_per_day_with_credits",
            "credits_threshold",
            "surge_per_second",
            "headers_on_success",
            "redis_key_prefix",
            "redis_timeout_ms",
        ],
    ),
    (
        "routing",
        &[
            "price_exponent",
            "free_price_floor",
            "outage_window_secs",
            "outage_min_failures",
            "outage_failure_ratio",
            "outage_min_requests",
            "exclude_outages",
            "default_completion_reserve",
            "expected_completion_tokens",
            "stats_half_life_secs",
            "exacto_providers",
            "auto_models",
            "router_fallback_models",
        ],
    ),
    (
        "telemetry",
        &["otlp_endpoint", "service_name", "sample_ratio", "headers"],
    ),
];

const PROVIDER_KEYS: &[&str] = &[
    "slug",
    "name",
    "dialect",
    "base_url",
    "api_key_env",
    "models",
    "models_url",
    "data_collection",
    "zdr",
    "privacy_policy_url",
    "terms_of_service_url",
    "status_page_url",
    "headquarters",
    "max_messages",
    "timeout_secs",
];

fn number(rng: &mut Rand) -> Value {
    match rng.random_range(0..8) {
        0 => Value::Integer(pick(
            rng,
            &[
                0,
                1,
                -1,
                1023,
                1024,
                86_400,
                86_401,
                3600,
                i64::MAX,
                i64::MIN,
                u32::MAX as i64,
            ],
        )),
        1 => Value::Integer(rng.random_range(-10..100_000)),
        2 => Value::Float(pick(
            rng,
            &[
                0.0,
                -0.0,
                0.5,
                1e-300,
                5e-324,
                1e20,
                1.8e19,
                1e300,
                f64::MAX,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
                86_400.0,
                86_400.5,
                3600.0,
                1.0,
            ],
        )),
        3 => Value::Float(rng.random_range(0.0..100.0)),
        _ => Value::Integer(rng.random_range(0..1000)),
    }
}

fn string(rng: &mut Rand, key: &str) -> Value {
    let s = match key {
        "listen" => pick(
            rng,
            &[
                "127.0.0.1:8080",
                "0.0.0.0:0",
                "[::1]:80",
                "nowhere",
                "1.2.3.4:99999",
                "",
            ],
        )
        .to_owned(),
        "url" => pick(
            rng,
            &[
                "sqlite://t.db",
                "sqlite::memory:",
                "postgres://u@h/db",
                "redis://127.0.0.1:6379/0",
                "mysql://x",
                "",
                "postgresql://",
            ],
        )
        .to_owned(),
        "holds" => pick(rng, &["lease", "table", "auto", "x"]).to_owned(),
        "dialect" => pick(rng, &["openai", "anthropic", "gemini", "x"]).to_owned(),
        "data_collection" => pick(rng, &["allow", "deny", "x"]).to_owned(),
        "slug" => pick(rng, &["openai", "a-b", "A", "", "x/y", "mock-alpha"]).to_owned(),
        "base_url" | "models_url" | "public_url" | "otlp_endpoint" | "privacy_policy_url" => pick(
            rng,
            &[
                "https://api.example.com/v1",
                "http://127.0.0.1:1",
                "ftp://x",
                "",
                "https://",
            ],
        )
        .to_owned(),
        "headquarters" => pick(rng, &["US", "DE", "us", "XXX", ""]).to_owned(),
        "credits_threshold" => pick(rng, &["10", "-1", "0.000001", "x", "1e5"]).to_owned(),
        _ => unicode(rng, 12),
    };
    Value::String(s)
}

fn value(rng: &mut Rand, key: &str) -> Value {
    match rng.random_range(0..10) {
        0..=3 => number(rng),
        4..=6 => string(rng, key),
        7 => Value::Boolean(rng.random()),
        8 => Value::Array(
            (0..rng.random_range(0..3))
                .map(|_| string(rng, key))
                .collect(),
        ),
        _ => {
            let mut t = Table::new();
            t.insert(unicode(rng, 5), string(rng, key));
            Value::Table(t)
        }
    }
}

/// Seconds at the edges: zero, tiny (rounds to a zero duration), huge
/// (no `Duration` holds it), infinite, not a number.
fn seconds(rng: &mut Rand) -> Value {
    Value::Float(pick(
        rng,
        &[
            0.0,
            0.001,
            0.5,
            2.0,
            30.0,
            86_400.0,
            86_400.5,
            1e-10,
            1e-300,
            5e-324,
            1.8e19,
            1e20,
            1e300,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
            -1.0,
        ],
    ))
}

/// A valid-looking value of `key`, so that the other keys do not fail a
/// config before the interesting one is read.
fn valid(rng: &mut Rand, key: &str) -> Value {
    let int = |rng: &mut Rand, lo: i64, hi: i64| Value::Integer(rng.random_range(lo..=hi));
    match key {
        k if k.ends_with("_secs")
            && k != "oauth_code_ttl_secs"
            && k != "timeout_secs"
            && k != "outage_window_secs"
            && k != "stats_half_life_secs" =>
        {
            if maybe(rng, 0.5) {
                seconds(rng)
            } else {
                Value::Float(rng.random_range(0.5..100.0))
            }
        }
        "oauth_code_ttl_secs" | "timeout_secs" | "outage_window_secs" | "stats_half_life_secs" => {
            int(rng, 1, 86_400)
        }
        "max_body_bytes" | "max_upstream_response_bytes" => int(rng, 1024, 1 << 30),
        "worker_threads"
        | "outage_min_failures"
        | "outage_min_requests"
        | "router_fallback_models"
        | "max_messages" => int(rng, 1, 64),
        "free_per_minute"
        | "free_per_day"
        | "free_per_day_with_credits"
        | "surge_per_second"
        | "redis_timeout_ms"
        | "default_completion_reserve"
        | "expected_completion_tokens" => int(rng, 0, 100_000),
        "price_exponent" | "free_price_floor" | "outage_failure_ratio" | "sample_ratio" => {
            Value::Float(pick(
                rng,
                &[0.0, 0.5, 1.0, 2.0, -1.0, 1e300, f64::NAN, f64::INFINITY],
            ))
        }
        "durable_replies" | "headers_on_success" | "exclude_outages" | "zdr" => {
            Value::Boolean(rng.random())
        }
        "exacto_providers" | "auto_models" => Value::Array(vec![string(rng, "slug")]),
        "headers" => {
            let mut t = Table::new();
            t.insert("x-key".into(), Value::String(unicode(rng, 6)));
            Value::Table(t)
        }
        "holds" => Value::String(pick(rng, &["auto", "memory", "lease", "database"]).to_owned()),
        "replica_id" => Value::String(pick(rng, &["gw-1", "a:b.c", ""]).to_owned()),
        "name" | "service_name" | "health_key_prefix" | "redis_key_prefix" | "api_key_env" => {
            Value::String(unicode(rng, 8))
        }
        "models" => Value::String("providers/x.json".into()),
        _ => string(rng, key),
    }
}

fn config(rng: &mut Rand) -> Table {
    let mut root = Table::new();
    let field = |rng: &mut Rand, key: &str| {
        if maybe(rng, 0.1) {
            value(rng, key)
        } else {
            valid(rng, key)
        }
    };
    for (section, keys) in SECTIONS {
        if !maybe(rng, 0.6) {
            continue;
        }
        let mut t = Table::new();
        for key in *keys {
            if maybe(rng, 0.3) {
                t.insert((*key).to_owned(), field(rng, key));
            }
        }
        if maybe(rng, 0.03) {
            t.insert(unicode(rng, 6), value(rng, "x"));
        }
        root.insert((*section).to_owned(), Value::Table(t));
    }
    if maybe(rng, 0.5) {
        let providers: Vec<Value> = (0..rng.random_range(0..4))
            .map(|i| {
                let mut t = Table::new();
                for key in PROVIDER_KEYS {
                    let required = matches!(*key, "slug" | "name" | "dialect" | "base_url");
                    if maybe(rng, if required { 0.95 } else { 0.2 }) {
                        let v = if *key == "slug" && maybe(rng, 0.8) {
                            Value::String(format!("p{i}"))
                        } else {
                            field(rng, key)
                        };
                        t.insert((*key).to_owned(), v);
                    }
                }
                Value::Table(t)
            })
            .collect();
        root.insert("providers".into(), Value::Array(providers));
    }
    root
}

fn target(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let _ = tollgate_catalog::parse_providers_toml("fuzz.toml", text).map_err(|e| e.to_string());
    let config = match tollgate_gateway::Config::parse(text, Path::new("fuzz.toml"), PathBuf::new())
    {
        Ok(config) => config,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    // What start-up accepts, the server can use: every duration in
    // seconds converts (the gateway builds them with
    // `Duration::from_secs_f64`, which panics on what it cannot hold),
    // and a keep-alive interval is not zero (`tokio::time::interval`
    // panics on it).
    let server = &config.server;
    for (key, secs) in [
        ("header_read_timeout_secs", server.header_read_timeout_secs),
        (
            "request_body_timeout_secs",
            server.request_body_timeout_secs,
        ),
        ("stream_keepalive_secs", server.stream_keepalive_secs),
        ("shutdown_grace_secs", server.shutdown_grace_secs),
        ("failover_budget_secs", server.failover_budget_secs),
    ] {
        assert!(
            Duration::try_from_secs_f64(secs).is_ok(),
            "server.{key} = {secs} is accepted but is no duration"
        );
    }
    assert!(
        !Duration::from_secs_f64(server.stream_keepalive_secs).is_zero(),
        "server.stream_keepalive_secs = {} is accepted but rounds to a zero interval",
        server.stream_keepalive_secs
    );
    let _ = config.billing.lease_ttl();
    let _ = server.replica();
    let _ = config.telemetry.traces_url();
    let _ = config.redis.effective_url();
}

#[test]
fn config_toml() {
    let dictionary: Vec<&str> = SECTIONS
        .iter()
        .flat_map(|(s, keys)| std::iter::once(*s).chain(keys.iter().copied()))
        .chain(PROVIDER_KEYS.iter().copied())
        .chain([
            "[[providers]]",
            "[server]",
            "\"\"\"",
            "= ",
            "inf",
            "nan",
            "1e300",
            "0x10",
            "1_000",
        ])
        .collect();
    tollgate_fuzz::Fuzzer::new("config_toml")
        .generator(|rng| {
            toml::to_string(&config(rng))
                .unwrap_or_default()
                .into_bytes()
        })
        .dictionary(&dictionary)
        .run(target);
}
