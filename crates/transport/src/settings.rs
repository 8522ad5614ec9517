//! What an adapter needs to know about its provider.
//!
//! Plain values for now; the catalog's provider entries convert into this
//! (`tollgate-transport` takes no catalog type in its public API yet, so that
//! the two crates can change independently).

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

/// One provider's connection settings.
///
/// `Debug` never shows the API key.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    /// Routing id, e.g. `mock-alpha`.
    pub slug: String,
    /// Display name, e.g. `Mock Alpha`: the `provider` field of responses and
    /// the `provider_name` of error metadata.
    pub name: String,
    /// API root, e.g. `https://api.openai.com/v1` (a trailing `/` is
    /// ignored); paths such as `/chat/completions` are appended to it.
    pub base_url: String,
    /// The operator's key for this provider, sent as `Authorization: Bearer`;
    /// no header at all when `None` (local servers).
    pub api_key: Option<String>,
    /// Total time allowed for a non-streamed call (and for a stream's
    /// response head), overriding the client's `request_timeout`.
    pub timeout: Option<Duration>,
    /// Forward the non-OpenAI sampling parameters `top_k`, `min_p`, `top_a`
    /// and `repetition_penalty`. Many OpenAI-compatible servers (vLLM,
    /// Together, DeepInfra, llama.cpp) accept them; OpenAI itself rejects
    /// them. Default `true`.
    pub extended_sampling: bool,
}

impl ProviderSettings {
    /// Settings with no key, no timeout override and extended sampling on.
    pub fn new(
        slug: impl Into<String>,
        name: impl Into<String>,
        base_url: impl Into<String>,
    ) -> Self {
        ProviderSettings {
            slug: slug.into(),
            name: name.into(),
            base_url: base_url.into(),
            api_key: None,
            timeout: None,
            extended_sampling: true,
        }
    }

    /// Sets the API key.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sets the total timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Turns extended sampling parameters on or off.
    pub fn with_extended_sampling(mut self, on: bool) -> Self {
        self.extended_sampling = on;
        self
    }

    /// Checks what can be checked before the first call: a slug, an
    /// `http(s)` base URL without query or fragment, a key usable in a
    /// header, a non-zero timeout. Errors name the field.
    pub fn validate(&self) -> Result<()> {
        let fail = |field, message: &str| Error::Settings {
            slug: self.slug.clone(),
            field,
            message: message.to_string(),
        };
        if self.slug.trim().is_empty() {
            return Err(fail("slug", "must not be empty"));
        }
        if self.name.trim().is_empty() {
            return Err(fail("name", "must not be empty"));
        }
        let url = reqwest::Url::parse(&self.base_url)
            .map_err(|e| fail("base_url", &format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(fail("base_url", "must be an http:// or https:// URL"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(fail("base_url", "must not have a query or fragment"));
        }
        if let Some(key) = &self.api_key
            && (key.is_empty() || key.bytes().any(|b| b.is_ascii_control() || !b.is_ascii()))
        {
            return Err(fail("api_key", "must be non-empty printable ASCII"));
        }
        if self.timeout == Some(Duration::ZERO) {
            return Err(fail("timeout", "must be more than zero"));
        }
        Ok(())
    }
}

impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("slug", &self.slug)
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| Redacted))
            .field("timeout", &self.timeout)
            .field("extended_sampling", &self.extended_sampling)
            .finish()
    }
}

/// Shown in place of a secret.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let s = ProviderSettings::new("a", "A", "http://x/v1").with_api_key("sk-very-secret");
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("sk-very-secret"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }

    #[test]
    fn validate_names_the_field() {
        let ok = ProviderSettings::new("a", "A", "https://api.example.com/v1/");
        assert!(ok.validate().is_ok());
        let cases = [
            (ProviderSettings::new("", "A", "http://x"), "slug"),
            (
                ProviderSettings::new("a", "A", "api.example.com"),
                "base_url",
            ),
            (ProviderSettings::new("a", "A", "ftp://x"), "base_url"),
            (
                ProviderSettings::new("a", "A", "http://x/v1?key=1"),
                "base_url",
            ),
            (
                ProviderSettings::new("a", "A", "http://x").with_api_key("sk\nx"),
                "api_key",
            ),
            (
                ProviderSettings::new("a", "A", "http://x").with_timeout(Duration::ZERO),
                "timeout",
            ),
        ];
        for (s, field) in cases {
            match s.validate() {
                Err(Error::Settings { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
