//! `tollgate keys`: API keys, managed with a provisioning key.

use std::io::{BufRead, IsTerminal, Write};

use tollgate_schema::client::Client;
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

/// The most pages of keys `resolve` reads.
const MAX_PAGES: usize = 100;

/// The key `given` names: a full hash as it is, else the one
/// key whose hash starts with it or whose name is it. None matching is an
/// error (exit 1); more than one is a usage error listing them.
async fn resolve(client: &Client, given: &str) -> anyhow::Result<KeyInfo> {
    // A whole hash is asked for directly (the server's 404 if unknown).
    if given.len() == 64 && given.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(client.keys_get(given).await?);
    }
    let mut keys = Vec::new();
    // Every page (a bounded number: 100 keys each on Tollgate).
    for _ in 0..MAX_PAGES {
        let page = client
            .keys_list(&ListKeys {
                offset: Some(keys.len() as u64),
                include_disabled: Some(true),
            })
            .await?;
        if page.is_empty() {
            break;
        }
        keys.extend(page);
    }
    let by_name: Vec<&KeyInfo> = keys.iter().filter(|k| k.name == given).collect();
    let by_prefix: Vec<&KeyInfo> = keys
        .iter()
        .filter(|k| !given.is_empty() && k.hash.starts_with(given))
        .collect();
    // A name wins over a prefix: names are chosen, prefixes typed.
    let matches = if by_name.is_empty() {
        by_prefix
    } else {
        by_name
    };
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(anyhow::anyhow!(
            "no key has the hash, hash prefix or name `{given}` (see `tollgate keys list --all`)"
        )),
        many => Err(UsageError(format!(
            "`{given}` matches {} keys; give more of the hash: {}",
            many.len(),
            many.iter()
                .map(|k| format!("{} ({})", k.hash, k.name))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}

/// Asks on a terminal whether to go on; without a terminal, refuses
/// (the caller must pass --yes).
pub fn confirm(question: &str, what: &str) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(UsageError(format!(
            "refusing to {what} without confirmation: stdin is not a terminal, so pass --yes"
        ))
        .into());
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
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
            outln!()?;
            outln!("{}", output::bold(&created.key))?;
            eprintln!(
                "{}",
                output::dim("Store this key now: it is not shown again.")
            );
            Ok(())
        }
        KeysCommand::Get { hash } => {
            let hash = resolve(&client, &hash).await?.hash;
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
            let hash = resolve(&client, &hash).await?.hash;
            let k = client.keys_update(&hash, &update).await?;
            if json {
                return output::json_data(&k);
            }
            show(&k)
        }
        KeysCommand::Delete { hash, yes } => {
            let key = resolve(&client, &hash).await?;
            let hash = key.hash;
            if !yes
                && !confirm(
                    &format!(
                        "Delete key `{}` ({hash})? It stops working at once.",
                        key.name
                    ),
                    "delete a key",
                )?
            {
                eprintln!("not deleted");
                return Ok(());
            }
            let deleted = client.keys_delete(&hash).await?;
            if json {
                return output::json(&deleted);
            }
            outln!("deleted {hash}")?;
            Ok(())
        }
    }
}
