//! Settings: flags, then the environment, then the config file, then
//! defaults.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tollgate_schema::client::{Client, OPENROUTER_BASE_URL};

use crate::UsageError;
use crate::cli::Global;

/// A local gateway, the default base URL.
pub const LOCAL_BASE_URL: &str = "http://127.0.0.1:8080/api/v1";

/// `~/.config/tollgate/config.toml`: the keys at the top level, and
/// named profiles with the same keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// API base URL.
    pub base_url: Option<String>,
    /// API key.
    pub api_key: Option<String>,
    /// Provisioning key (for `keys`).
    pub provisioning_key: Option<String>,
    /// Admin key (for `admin`).
    pub admin_key: Option<String>,
    /// `[profiles.NAME]`.
    #[serde(default)]
    pub profiles: BTreeMap<String, FileConfig>,
}

impl ConfigFile {
    /// The default profile: the top-level keys.
    fn top(&self) -> FileConfig {
        FileConfig {
            base_url: self.base_url.clone(),
            api_key: self.api_key.clone(),
            provisioning_key: self.provisioning_key.clone(),
            admin_key: self.admin_key.clone(),
        }
    }
}

/// One profile's keys.
#[derive(Debug, Default, Clone, Deserialize)]
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
    /// The bound on each request, retries included.
    pub timeout: Option<Duration>,
    /// Retries after a failed attempt.
    pub retries: u32,
    /// Retries made so far (for the final error message).
    pub retried: Arc<AtomicU32>,
}

/// `$XDG_CONFIG_HOME/tollgate/config.toml`, else
/// `~/.config/tollgate/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("tollgate").join("config.toml"))
}

/// The config file at `path`; a missing file is an empty one unless it
/// was named explicitly (then it is an I/O error, exit 1).
fn load(path: &Path, explicit: bool) -> anyhow::Result<ConfigFile> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(toml::from_str(&text).map_err(|e| {
            UsageError(format!(
                "config file {}: {}",
                path.display(),
                e.message().trim()
            ))
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            Ok(ConfigFile::default())
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot read config file {}: {e}",
            path.display()
        )),
    }
}

/// The config file to read and write: `--config`, else the default.
pub fn config_path(global: &Global) -> Option<PathBuf> {
    global.config.clone().or_else(default_path)
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
    pub fn resolve(global: &Global) -> anyhow::Result<Settings> {
        let config = match &global.config {
            Some(path) => load(path, true)?,
            None => match default_path() {
                Some(path) => load(&path, false)?,
                None => ConfigFile::default(),
            },
        };
        let file = match nonempty(global.profile.clone()) {
            None => config.top(),
            Some(name) => match config.profiles.get(&name) {
                Some(p) => p.clone(),
                None => {
                    let known = config.profiles.keys().cloned().collect::<Vec<_>>();
                    return Err(UsageError(format!(
                        "no profile `{name}` in the config file (--profile or TOLLGATE_PROFILE){}; `tollgate login --profile {name}` creates it",
                        if known.is_empty() {
                            String::new()
                        } else {
                            format!("; it has: {}", known.join(", "))
                        }
                    ))
                    .into());
                }
            },
        };
        let flag_key = nonempty(global.api_key.clone());
        let openrouter_key = env("OPENROUTER_API_KEY");
        let (api_key, from_openrouter) = match (flag_key, openrouter_key) {
            (Some(k), _) => (Some(k), false),
            (None, Some(k)) => (Some(k), true),
            (None, None) => (nonempty(file.api_key.clone()), false),
        };
        let given = nonempty(global.base_url.clone()).or_else(|| nonempty(file.base_url.clone()));
        let base_url_given = given.is_some();
        let base_url = given.unwrap_or_else(|| {
            if from_openrouter {
                OPENROUTER_BASE_URL.to_string()
            } else {
                LOCAL_BASE_URL.to_string()
            }
        });
        if from_openrouter && !base_url_given {
            eprintln!(
                "warning: only OPENROUTER_API_KEY is set, so requests go to {OPENROUTER_BASE_URL}; set --base-url or TOLLGATE_BASE_URL (and TOLLGATE_API_KEY) for a Tollgate gateway"
            );
        }
        Ok(Settings {
            base_url,
            api_key,
            file,
            timeout: global.timeout.map(Duration::from_secs),
            retries: global.retries,
            retried: Arc::new(AtomicU32::new(0)),
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
        let retried = Arc::clone(&self.retried);
        let tell = std::io::stderr().is_terminal();
        b = b.max_retries(self.retries).on_retry(move |n| {
            retried.fetch_add(1, Ordering::Relaxed);
            // A person waiting is told; a script's stderr stays one line.
            if tell {
                eprintln!(
                    "{}",
                    crate::output::dim_err(&format!(
                        "{}; retrying in {:.1} s (retry {} of {})",
                        n.reason,
                        n.wait.as_secs_f64(),
                        n.retry,
                        n.max_retries
                    ))
                );
            }
        });
        if let Some(t) = self.timeout {
            // Connecting gets most of the time, so that a server that
            // cannot be reached is told apart from one that is slow.
            b = b
                .timeout(t)
                .connect_timeout(t.mul_f64(0.9).min(Duration::from_secs(10)));
        }
        Ok(b.build()?)
    }

    /// A client without a key (for what needs none: models, providers).
    pub fn client(&self) -> anyhow::Result<Client> {
        self.client_with(self.api_key.as_deref())
    }

    /// A client with the API key, which must be set.
    pub fn keyed_client(&self) -> anyhow::Result<Client> {
        if self.api_key.is_none() {
            return Err(UsageError(String::from(
                "an API key is required: --api-key, TOLLGATE_API_KEY (or OPENROUTER_API_KEY), api_key in the config file, or `tollgate login`",
            ))
            .into());
        }
        self.client()
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
