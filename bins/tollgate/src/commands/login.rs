//! `tollgate login`: stores a base URL and API key in the config file,
//! at the top level or in a named profile.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::Context;
use tollgate_schema::client::Client;

use crate::UsageError;
use crate::cli::Global;
use crate::config::{LOCAL_BASE_URL, config_path};

/// Runs `tollgate login`.
pub async fn run(global: &Global, no_verify: bool) -> anyhow::Result<()> {
    let path = config_path(global).ok_or_else(|| {
        UsageError(String::from(
            "no config file location: set --config, TOLLGATE_CONFIG, XDG_CONFIG_HOME or HOME",
        ))
    })?;
    let profile = global
        .profile
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let base_url = global
        .base_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .unwrap_or(LOCAL_BASE_URL)
        .trim_end_matches('/')
        .to_string();
    let key = match global
        .api_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        Some(k) => k.to_string(),
        None => read_key()?,
    };
    if !no_verify {
        let client = Client::builder()
            .base_url(&base_url)
            .api_key(&key)
            .title("tollgate-cli")
            .max_retries(global.retries)
            .build()?;
        client
            .key()
            .await
            .context("the key was not accepted (use --no-verify to store it anyway)")?;
    }
    store(&path, profile, &base_url, &key)?;
    let which = profile.map_or_else(
        || String::from("the default profile"),
        |p| format!("profile `{p}`"),
    );
    eprintln!(
        "Stored {base_url} and the key in {} ({which}).",
        path.display()
    );
    Ok(())
}

/// One line of stdin: the key.
fn read_key() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("API key: ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let key = line.trim().to_string();
    if key.is_empty() {
        return Err(UsageError(String::from(
            "an API key is required: --api-key, TOLLGATE_API_KEY, or one line on stdin",
        ))
        .into());
    }
    Ok(key)
}

/// Writes `base_url` and `api_key` into the config file at `path` (its
/// other keys and profiles kept), readable by its owner only.
fn store(path: &Path, profile: Option<&str>, base_url: &str, key: &str) -> anyhow::Result<()> {
    let mut doc: toml::Table = match std::fs::read_to_string(path) {
        Ok(text) => text.parse().map_err(|e: toml::de::Error| {
            UsageError(format!(
                "config file {}: {}",
                path.display(),
                e.message().trim()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    };
    let table = match profile {
        None => &mut doc,
        Some(name) => {
            let profiles = doc
                .entry("profiles")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(profiles) = profiles else {
                return Err(UsageError(format!(
                    "config file {}: `profiles` is not a table",
                    path.display()
                ))
                .into());
            };
            let entry = profiles
                .entry(name)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(entry) = entry else {
                return Err(UsageError(format!(
                    "config file {}: `profiles.{name}` is not a table",
                    path.display()
                ))
                .into());
            };
            entry
        }
    };
    table.insert("base_url".into(), toml::Value::String(base_url.into()));
    table.insert("api_key".into(), toml::Value::String(key.into()));
    let text = toml::to_string_pretty(&doc)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_private(path, text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes `bytes` to `path` with mode 0600 (also when it existed with a
/// wider one), replacing it atomically.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("toml.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}
