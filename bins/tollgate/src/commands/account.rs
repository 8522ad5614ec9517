//! `tollgate credits`, `key`, `generation` and `activity`.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use tollgate_schema::client::types::ActivityQuery;

use crate::cli::ActivityArgs;
use crate::config::Settings;
use crate::output::{self, usd, usd_opt};

/// `tollgate credits`.
pub async fn credits(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let c = settings.keyed_client()?.credits().await?;
    if json {
        return output::json_data(&c);
    }
    output::print_fields(&[
        ("Credits", usd(c.total_credits)),
        ("Used", usd(c.total_usage)),
        ("Remaining", output::green(&usd(c.remaining()))),
    ])
}

/// `tollgate key`.
pub async fn key(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let k = settings.keyed_client()?.key().await?;
    if json {
        return output::json_data(&k);
    }
    let kind = if k.is_provisioning_key || k.is_management_key {
        "provisioning"
    } else {
        "inference"
    };
    let reset = k
        .limit_reset
        .as_deref()
        .map(|r| format!(" (resets {r})"))
        .unwrap_or_default();
    output::print_fields(&[
        ("Label", k.label.clone()),
        ("Kind", kind.to_string()),
        ("Limit", format!("{}{reset}", usd_opt(k.limit, "none"))),
        ("Remaining", usd_opt(k.limit_remaining, "unlimited")),
        ("Usage today", usd(k.usage.usage_daily)),
        ("This week", usd(k.usage.usage_weekly)),
        ("This month", usd(k.usage.usage_monthly)),
        ("All time", usd(k.usage.usage)),
        ("BYOK usage", usd(k.usage.byok_usage)),
        ("Free tier", k.is_free_tier.to_string()),
        (
            "Expires",
            k.expires_at
                .clone()
                .unwrap_or_else(|| String::from("never")),
        ),
    ])
}

/// `tollgate generation ID`.
pub async fn generation(settings: &Settings, id: &str, json: bool) -> anyhow::Result<()> {
    let g = settings.keyed_client()?.generation(id).await?;
    if json {
        return output::json_data(&g);
    }
    let opt = |v: Option<u64>| v.map_or_else(|| String::from("-"), |v| v.to_string());
    let ms = |v: Option<f64>| v.map_or_else(|| String::from("-"), |v| format!("{v} ms"));
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| String::from("-"));
    output::print_fields(&[
        ("Id", g.id.clone()),
        ("Model", g.model.clone()),
        ("Provider", text(&g.provider_name)),
        ("Created", g.created_at.clone()),
        ("Cost", usd(g.total_cost)),
        (
            "Tokens",
            format!(
                "{} prompt, {} completion",
                opt(g.tokens_prompt),
                opt(g.tokens_completion)
            ),
        ),
        ("Reasoning tokens", opt(g.native_tokens_reasoning)),
        ("Cached tokens", opt(g.native_tokens_cached)),
        ("Latency", ms(g.latency)),
        ("Generation time", ms(g.generation_time)),
        ("Finish reason", text(&g.finish_reason)),
        (
            "Streamed",
            g.streamed
                .map_or_else(|| String::from("-"), |s| s.to_string()),
        ),
    ])
}

#[derive(Default)]
struct Day {
    requests: u64,
    tokens: u64,
    usage: Decimal,
}

/// `tollgate activity`: per day (or day and model), with a bar of the
/// spend.
pub async fn activity(settings: &Settings, args: &ActivityArgs, json: bool) -> anyhow::Result<()> {
    let rows = settings
        .keyed_client()?
        .activity(&ActivityQuery {
            date: args.date.clone(),
            api_key_hash: args.key_hash.clone(),
        })
        .await?;
    if json {
        return output::json_data(&rows);
    }
    let mut days: BTreeMap<(String, String), Day> = BTreeMap::new();
    for r in &rows {
        let model = if args.by_model {
            r.model.clone()
        } else {
            String::new()
        };
        let d = days.entry((r.date.clone(), model)).or_default();
        d.requests += r.requests;
        d.tokens += r.prompt_tokens + r.completion_tokens;
        d.usage += r.usage;
    }
    let max = days
        .values()
        .map(|d| d.usage.to_f64().unwrap_or(0.0))
        .fold(0.0, f64::max);
    let max_requests = days.values().map(|d| d.requests).max().unwrap_or(0) as f64;
    let table: Vec<Vec<String>> = days
        .iter()
        .map(|((date, model), d)| {
            // Bars show spend; with no spend at all (free models), requests.
            let bar = if max > 0.0 {
                output::bar(d.usage.to_f64().unwrap_or(0.0), max, 30)
            } else {
                output::bar(d.requests as f64, max_requests, 30)
            };
            let mut row = vec![date.clone()];
            if args.by_model {
                row.push(model.clone());
            }
            row.extend([
                d.requests.to_string(),
                d.tokens.to_string(),
                usd(d.usage),
                bar,
            ]);
            row
        })
        .collect();
    let total: Decimal = days.values().map(|d| d.usage).sum();
    let requests: u64 = days.values().map(|d| d.requests).sum();
    if args.by_model {
        output::print_table(
            &["DATE", "MODEL", "REQUESTS", "TOKENS", "SPEND", ""],
            table,
            &[2, 3, 4],
        )?;
    } else {
        output::print_table(
            &["DATE", "REQUESTS", "TOKENS", "SPEND", ""],
            table,
            &[1, 2, 3],
        )?;
    }
    if !days.is_empty() {
        outln!(
            "{}",
            output::dim(&format!("total: {requests} requests, {}", usd(total)))
        )?;
    }
    Ok(())
}
