//! `tollgate keys`: API keys, managed with a provisioning key.

use tollgate_schema::client::types::{KeyInfo, KeyUpdate, ListKeys, NewKey};

use crate::UsageError;
use crate::cli::{KeysArgs, KeysCommand};
use crate::config::Settings;
use crate::output::{self, usd, usd_opt};

fn row(k: &KeyInfo) -> Vec<String> {
    // No colour inside tables: escape codes would upset the alignment.
    let state = if k.disabled { "disabled" } else { "active" }.to_string();
    vec![
        k.hash.clone(),
        k.name.clone(),
        state,
        usd_opt(k.limit, "-"),
        usd(k.usage.usage),
        k.created_at.clone(),
    ]
}

const HEADER: [&str; 6] = ["HASH", "NAME", "STATE", "LIMIT", "USAGE", "CREATED"];

fn show(k: &KeyInfo) -> anyhow::Result<()> {
    output::print_fields(&[
        ("Hash", k.hash.clone()),
        ("Name", k.name.clone()),
        ("Disabled", k.disabled.to_string()),
        (
            "Limit",
            format!(
                "{}{}",
                usd_opt(k.limit, "none"),
                k.limit_reset
                    .as_deref()
                    .map(|r| format!(" (resets {r})"))
                    .unwrap_or_default()
            ),
        ),
        ("Remaining", usd_opt(k.limit_remaining, "unlimited")),
        ("Usage", usd(k.usage.usage)),
        ("Created", k.created_at.clone()),
        (
            "Expires",
            k.expires_at
                .clone()
                .unwrap_or_else(|| String::from("never")),
        ),
    ])
}

/// Runs `tollgate keys ...`.
pub async fn run(settings: &Settings, args: KeysArgs, json: bool) -> anyhow::Result<()> {
    let key = settings.provisioning_key(args.provisioning_key.as_deref())?;
    let client = settings.client_with(Some(&key))?;
    match args.command {
        KeysCommand::List { all } => {
            let keys = client
                .keys_list(&ListKeys {
                    include_disabled: all.then_some(true),
                    ..ListKeys::default()
                })
                .await?;
            if json {
                return output::json_data(&keys);
            }
            output::print_table(&HEADER, keys.iter().map(row).collect(), &[3, 4])
        }
        KeysCommand::Create {
            name,
            limit,
            limit_reset,
            expires_at,
        } => {
            let created = client
                .keys_create(&NewKey {
                    name,
                    limit,
                    limit_reset,
                    expires_at,
                    ..NewKey::default()
                })
                .await?;
            if json {
                return output::json(&created);
            }
            show(&created.data)?;
            println!();
            println!("{}", output::bold(&created.key));
            eprintln!(
                "{}",
                output::dim("Store this key now: it is not shown again.")
            );
            Ok(())
        }
        KeysCommand::Get { hash } => {
            let k = client.keys_get(&hash).await?;
            if json {
                return output::json_data(&k);
            }
            show(&k)
        }
        KeysCommand::Update {
            hash,
            name,
            disable,
            enable,
            limit,
            no_limit,
            limit_reset,
        } => {
            let update = KeyUpdate {
                name,
                disabled: if disable {
                    Some(true)
                } else if enable {
                    Some(false)
                } else {
                    None
                },
                limit: if no_limit {
                    Some(None)
                } else {
                    limit.map(Some)
                },
                limit_reset: limit_reset.map(|r| (r != "never").then_some(r)),
                ..KeyUpdate::default()
            };
            if update == KeyUpdate::default() {
                return Err(UsageError(String::from(
                    "nothing to change: give --name, --disable, --enable, --limit, --no-limit or --limit-reset",
                ))
                .into());
            }
            let k = client.keys_update(&hash, &update).await?;
            if json {
                return output::json_data(&k);
            }
            show(&k)
        }
        KeysCommand::Delete { hash } => {
            let deleted = client.keys_delete(&hash).await?;
            if json {
                return output::json(&deleted);
            }
            println!("deleted {hash}");
            Ok(())
        }
    }
}
