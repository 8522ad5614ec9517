//! Settings: flags, then the environment, then the config file, then
//! defaults.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use tollgate_schema::client::{Client, OPENROUTER_BASE_URL};

use crate::UsageError;
use crate::cli::Global;

/// A local gateway, the default base URL.
pub const LOCAL_BASE_URL: &str = "http://127.0.0.1:8080/api/v1";

/// `~/.config/tollgate/config.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// API base URL.
    pub base_url: Option<String>,
    /// API key.
    pub api_key: Option<String>,
    /// Provisioning key (for `keys`).
    pub provisioning_key: Option<String>,
    /// Admin key (for `admin`).
    pub admin_key: Option<String>,
}

/// The settings in force.
#[derive(Debug)]
pub struct Settings {
    /// API base URL.
    pub base_url: String,
    /// API key, if any.
    pub api_key: Option<String>,
    /// The config file's keys, for commands that need others.
    pub file: FileConfig,
    /// Request timeout.
    pub timeout: Option<std::time::Duration>,
}

/// `$XDG_CONFIG_HOME/tollgate/config.toml`, else
/// `~/.config/tollgate/config.toml`.
fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("tollgate").join("config.toml"))
}

fn load(path: &Path, explicit: bool) -> Result<FileConfig, UsageError> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| {
            UsageError(format!(
                "config file {}: {}",
                path.display(),
                e.message().trim()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            Ok(FileConfig::default())
        }
        Err(e) => Err(UsageError(format!(
            "cannot read config file {}: {e}",
            path.display()
        ))),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl Settings {
    /// Resolves the settings from the global flags (which clap already
    /// merged with their environment variables) and the config file.
    pub fn resolve(global: &Global) -> Result<Settings, UsageError> {
        let file = match &global.config {
            Some(path) => load(path, true)?,
            None => match default_path() {
                Some(path) => load(&path, false)?,
                None => FileConfig::default(),
            },
        };
        let flag_key = nonempty(global.api_key.clone());
        let openrouter_key = env("OPENROUTER_API_KEY");
        let (api_key, from_openrouter) = match (flag_key, openrouter_key) {
            (Some(k), _) => (Some(k), false),
            (None, Some(k)) => (Some(k), true),
            (None, None) => (nonempty(file.api_key.clone()), false),
        };
        let base_url = nonempty(global.base_url.clone())
            .or_else(|| nonempty(file.base_url.clone()))
            .unwrap_or_else(|| {
                if from_openrouter {
                    OPENROUTER_BASE_URL.to_string()
                } else {
                    LOCAL_BASE_URL.to_string()
                }
            });
        Ok(Settings {
            base_url,
            api_key,
            file,
            timeout: global.timeout.map(std::time::Duration::from_secs),
        })
    }

    /// A client authenticating with `key` (or none).
    pub fn client_with(&self, key: Option<&str>) -> anyhow::Result<Client> {
        let mut b = Client::builder()
            .base_url(&self.base_url)
            .title("tollgate-cli");
        if let Some(key) = key {
            b = b.api_key(key);
        }
        if let Some(t) = self.timeout {
            b = b.timeout(t);
        }
        Ok(b.build()?)
    }

    /// A client with the API key.
    pub fn client(&self) -> anyhow::Result<Client> {
        self.client_with(self.api_key.as_deref())
    }

    /// The provisioning key: the flag or environment, else the file.
    pub fn provisioning_key(&self, flag: Option<&str>) -> Result<String, UsageError> {
        nonempty(flag.map(String::from))
            .or_else(|| nonempty(self.file.provisioning_key.clone()))
            .ok_or_else(|| {
                UsageError(String::from(
                    "a provisioning key is required: --provisioning-key, TOLLGATE_PROVISIONING_KEY or provisioning_key in the config file",
                ))
            })
    }

    /// The admin key: the flag or environment, else the file.
    pub fn admin_key(&self, flag: Option<&str>) -> Result<String, UsageError> {
        nonempty(flag.map(String::from))
            .or_else(|| nonempty(self.file.admin_key.clone()))
            .ok_or_else(|| {
                UsageError(String::from(
                    "the admin key is required: --admin-key, TOLLGATE_ADMIN_KEY or admin_key in the config file",
                ))
            })
    }
}
