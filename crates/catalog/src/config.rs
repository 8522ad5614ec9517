//! Provider configuration: one `[[providers]]` table of `tollgate.toml`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The wire dialect a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// OpenAI-compatible `/chat/completions`.
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// Gemini `generateContent`.
    Gemini,
}

impl Dialect {
    /// The config spelling (`"openai"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Openai => "openai",
            Dialect::Anthropic => "anthropic",
            Dialect::Gemini => "gemini",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a provider may keep or train on prompts (its published policy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataCollection {
    /// The provider may store or use prompts.
    #[default]
    Allow,
    /// The provider neither stores nor trains on prompts.
    Deny,
}

impl DataCollection {
    /// The config and wire spelling (`"allow"`).
    pub fn as_str(self) -> &'static str {
        match self {
            DataCollection::Allow => "allow",
            DataCollection::Deny => "deny",
        }
    }
}

impl fmt::Display for DataCollection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[[providers]]` table of `tollgate.toml`.
///
/// Secrets never live here: `api_key_env` names the environment variable
/// that holds the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Routing id used in `provider.order` / `only` / `ignore`; matches
    /// `[a-z0-9][a-z0-9._/-]*`.
    pub slug: String,
    /// Display name (`"OpenAI"`).
    pub name: String,
    /// Wire dialect.
    pub dialect: Dialect,
    /// Base URL of the provider's API (`https://api.openai.com/v1`).
    pub base_url: String,
    /// Name of the environment variable holding the provider key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Listing file; a relative path is resolved against the directory of
    /// the config file. At least one of `models` and `models_url` is set;
    /// with both, `models` is the local copy of `models_url` (written by
    /// `tollgate catalog sync`) and is what the gateway loads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<PathBuf>,
    /// URL of the provider's list-models endpoint (fetched by the caller:
    /// the catalog does no network I/O).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models_url: Option<String>,
    /// The provider's data policy.
    #[serde(default)]
    pub data_collection: DataCollection,
    /// Whether the provider guarantees zero data retention.
    #[serde(default)]
    pub zdr: bool,
    /// Privacy policy URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_policy_url: Option<String>,
    /// Terms of service URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_service_url: Option<String>,
    /// Status page URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_page_url: Option<String>,
    /// ISO 3166 alpha-2 country of the headquarters (`"US"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headquarters: Option<String>,
    /// Default cap on the messages of one request for this provider's
    /// endpoints (e.g. 1000 for Anthropic); a listing's `max_messages` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_messages: Option<u32>,
    /// Request timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

impl ProviderConfig {
    /// The listing file, resolved against `base_dir` (the config file's
    /// directory) when relative; `None` when the listing comes from
    /// `models_url`.
    pub fn listing_path(&self, base_dir: &Path) -> Option<PathBuf> {
        self.models.as_ref().map(|p| {
            if p.is_absolute() {
                p.clone()
            } else {
                base_dir.join(p)
            }
        })
    }

    /// Checks this table alone; [`validate_providers`] also checks that
    /// slugs are unique.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let label = if self.slug.is_empty() {
            "<no slug>".to_string()
        } else {
            self.slug.clone()
        };
        ConfigErrors::from_vec(self.problems(&label))
    }

    fn problems(&self, label: &str) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        let mut bad = |key: &str, message: String| {
            out.push(ConfigProblem {
                provider: label.to_string(),
                key: key.to_string(),
                message,
            });
        };
        if let Err(m) = check_slug(&self.slug) {
            bad("slug", m);
        }
        if self.name.trim().is_empty() {
            bad("name", "must not be empty".into());
        }
        if let Err(m) = check_http_url(&self.base_url) {
            bad("base_url", m);
        }
        if let Some(env) = &self.api_key_env
            && !is_env_var_name(env)
        {
            bad(
                "api_key_env",
                format!(
                    "`{}` is not an environment variable name (letters, digits and `_`, \
                         not starting with a digit); put the key in the environment and its \
                         name here",
                    redact(env)
                ),
            );
        }
        match (&self.models, &self.models_url) {
            (None, None) => bad(
                "models",
                "one of `models` (a listing file) or `models_url` is required, found neither"
                    .into(),
            ),
            (models, url) => {
                if models.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                    bad("models", "must not be empty".into());
                }
                if let Some(u) = url
                    && let Err(m) = check_http_url(u)
                {
                    bad("models_url", m);
                }
            }
        }
        for (key, value) in [
            ("privacy_policy_url", &self.privacy_policy_url),
            ("terms_of_service_url", &self.terms_of_service_url),
            ("status_page_url", &self.status_page_url),
        ] {
            if let Some(u) = value
                && let Err(m) = check_http_url(u)
            {
                bad(key, m);
            }
        }
        if let Some(hq) = &self.headquarters
            && !is_country_code(hq)
        {
            bad(
                "headquarters",
                format!("`{hq}` is not an ISO 3166 alpha-2 country code such as `US`"),
            );
        }
        if self.max_messages == Some(0) {
            bad("max_messages", "must be greater than 0".into());
        }
        if self.timeout_secs == Some(0) {
            bad("timeout_secs", "must be greater than 0".into());
        }
        out
    }
}

/// Checks every table and that no two share a slug. Problems name the
/// provider (its slug, or `providers[i]` when the slug is empty) and the key.
pub fn validate_providers(configs: &[ProviderConfig]) -> Result<(), ConfigErrors> {
    let mut problems = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, config) in configs.iter().enumerate() {
        let label = if config.slug.is_empty() {
            format!("providers[{i}]")
        } else {
            config.slug.clone()
        };
        problems.extend(config.problems(&label));
        if config.slug.is_empty() {
            continue;
        }
        if let Some(first) = seen.insert(&config.slug, i) {
            // Keep pointing at the first table with this slug.
            seen.insert(&config.slug, first);
            problems.push(ConfigProblem {
                provider: label,
                key: "slug".into(),
                message: format!(
                    "duplicate slug: providers[{i}] and providers[{first}] are both `{}`",
                    config.slug
                ),
            });
        }
    }
    ConfigErrors::from_vec(problems)
}

/// The `[[providers]]` tables of a TOML document that holds nothing else,
/// such as `fixtures/providers/dev-providers.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidersFile {
    /// The provider tables, in file order.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
}

/// Parses and validates a providers-only TOML document. `source` names the
/// file in messages.
pub fn parse_providers_toml(source: &str, text: &str) -> Result<Vec<ProviderConfig>> {
    let file: ProvidersFile = toml::from_str(text).map_err(|e| Error::Toml {
        file: source.to_string(),
        message: e.to_string().trim_end().to_string(),
    })?;
    validate_providers(&file.providers)?;
    Ok(file.providers)
}

/// One problem with a provider table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The provider's slug, or `providers[i]` when it has none.
    pub provider: String,
    /// The key at fault (`models_url`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "provider `{}`: key `{}`: {}",
            self.provider, self.key, self.message
        )
    }
}

/// Every problem found in the provider tables (never empty), displayed one
/// per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The problems, in table order.
    pub problems: Vec<ConfigProblem>,
}

impl ConfigErrors {
    fn from_vec(problems: Vec<ConfigProblem>) -> Result<(), ConfigErrors> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors { problems })
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Checks a provider slug: `[a-z0-9][a-z0-9._/-]*`.
pub fn check_slug(slug: &str) -> Result<(), String> {
    let mut chars = slug.chars();
    match chars.next() {
        None => return Err("must not be empty".into()),
        Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit() => {}
        Some(_) => {
            return Err(format!(
                "`{slug}` must start with a lowercase letter or a digit \
                 (pattern [a-z0-9][a-z0-9._/-]*)"
            ));
        }
    }
    if let Some(c) =
        chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._/-".contains(*c)))
    {
        return Err(format!(
            "`{slug}` contains {c:?}; use lowercase letters, digits, `.`, `_`, `/` and `-` \
             (pattern [a-z0-9][a-z0-9._/-]*)"
        ));
    }
    Ok(())
}

fn check_http_url(s: &str) -> Result<(), String> {
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        Ok(u) => Err(format!(
            "`{s}` has scheme `{}`; expected http or https",
            u.scheme()
        )),
        Err(e) => Err(format!("`{s}` is not a valid url: {e}")),
    }
}

fn is_env_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Shows only the start of a value that may be a pasted secret.
fn redact(s: &str) -> String {
    if s.chars().count() <= 8 {
        s.to_string()
    } else {
        let head: String = s.chars().take(4).collect();
        format!("{head}…")
    }
}

pub(crate) fn is_country_code(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ProviderConfig {
        ProviderConfig {
            slug: "openai".into(),
            name: "OpenAI".into(),
            dialect: Dialect::Openai,
            base_url: "https://api.openai.com/v1".into(),
            api_key_env: Some("OPENAI_API_KEY".into()),
            models: Some("openai.json".into()),
            models_url: None,
            data_collection: DataCollection::Deny,
            zdr: true,
            privacy_policy_url: None,
            terms_of_service_url: None,
            status_page_url: None,
            headquarters: Some("US".into()),
            max_messages: None,
            timeout_secs: Some(60),
        }
    }

    fn messages(c: &ProviderConfig) -> Vec<String> {
        match c.validate() {
            Ok(()) => vec![],
            Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn valid_config_passes() {
        assert_eq!(messages(&config()), Vec::<String>::new());
    }

    #[test]
    fn slug_rules() {
        assert!(check_slug("deepinfra/fp8").is_ok());
        assert!(check_slug("a.b_c-d").is_ok());
        assert!(check_slug("").is_err());
        assert!(check_slug("-x").is_err());
        assert!(check_slug("Open").is_err());
        assert!(check_slug("open ai").unwrap_err().contains("' '"));
    }

    #[test]
    fn secret_in_api_key_env_is_refused_and_redacted() {
        let mut c = config();
        c.api_key_env = Some("sk-proj-abcdefghijklmnop".into());
        let m = messages(&c);
        assert_eq!(m.len(), 1);
        assert!(
            m[0].starts_with("provider `openai`: key `api_key_env`: `sk-p…`"),
            "{m:?}"
        );
        assert!(!m[0].contains("abcdefgh"));
    }

    #[test]
    fn listing_path_resolution() {
        let c = config();
        assert_eq!(
            c.listing_path(Path::new("/etc/tollgate")),
            Some(PathBuf::from("/etc/tollgate/openai.json"))
        );
        let mut abs = config();
        abs.models = Some("/srv/x.json".into());
        assert_eq!(
            abs.listing_path(Path::new("/etc")),
            Some(PathBuf::from("/srv/x.json"))
        );
    }

    #[test]
    fn dialect_and_policy_spelling() {
        let t: ProvidersFile = toml::from_str(
            r#"
            [[providers]]
            slug = "a"
            name = "A"
            dialect = "anthropic"
            base_url = "https://x.example/v1"
            models = "a.json"
            "#,
        )
        .unwrap();
        assert_eq!(t.providers[0].dialect, Dialect::Anthropic);
        assert_eq!(t.providers[0].data_collection, DataCollection::Allow);
        assert!(!t.providers[0].zdr);
    }
}
