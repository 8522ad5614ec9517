//! Loading provider listings (`provider-integration.txt`) and reporting
//! every problem in them.
//!
//! A listing is first read as a [`serde_json::Value`] and walked field by
//! field (see `validate.rs`) so that one pass reports *every* problem, each
//! naming the provider, the file, the model and the field; only a listing
//! without problems is then deserialized into
//! [`tollgate_schema::listing::ProviderListing`].
//!
//! **Prices**: the format is decimal strings (`"0.000008"`), which is what
//! providers should publish and what Tollgate writes. JSON numbers are
//! accepted too, without a problem: a number is read through its shortest
//! round-trip text (`0.1` is exactly `0.1`), which is exact for every price
//! written with up to 15 significant digits. Scientific notation in strings
//! (`"1e-6"`) is accepted as well. Negative prices, non-numeric strings,
//! booleans, arrays and (for `prompt` / `completion`) null are problems.

use std::fmt;
use std::path::Path;

use serde_json::Value;
use tollgate_schema::listing::ProviderListing;

use crate::config::ProviderConfig;
use crate::error::io_reason;
use crate::{Error, Result, validate};

/// One problem in a listing.
///
/// Displays as
/// `file: provider p, model m: field pricing.prompt: "-1" is negative`
/// (the model and field parts are left out when they do not apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingProblem {
    /// The provider's slug.
    pub provider: String,
    /// The listing's file name (or URL).
    pub file: String,
    /// The model's `id`, or its position (`data[3]`) when the id is missing
    /// or invalid; `None` for problems with the whole document.
    pub model: Option<String>,
    /// Path of the field within the model (`pricing.prompt`,
    /// `supported_features[1]`), or within the document (`data`).
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ListingProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: provider {}", self.file, self.provider)?;
        if let Some(model) = &self.model {
            write!(f, ", model {model}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem of one or more listings (never empty), displayed one per
/// line in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingErrors {
    /// The problems.
    pub problems: Vec<ListingProblem>,
}

impl ListingErrors {
    /// Number of problems.
    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// Always false for an error returned by this crate.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// The problems, in document order.
    pub fn iter(&self) -> std::slice::Iter<'_, ListingProblem> {
        self.problems.iter()
    }
}

impl<'a> IntoIterator for &'a ListingErrors {
    type Item = &'a ListingProblem;
    type IntoIter = std::slice::Iter<'a, ListingProblem>;

    fn into_iter(self) -> Self::IntoIter {
        self.problems.iter()
    }
}

impl fmt::Display for ListingErrors {
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

impl std::error::Error for ListingErrors {}

/// Parses and validates a listing. `provider` is the provider's slug and
/// `source` the file name (or URL) used in messages; every problem is
/// reported, not only the first.
pub fn parse_listing(
    provider: &str,
    source: &str,
    bytes: &[u8],
) -> Result<ProviderListing, ListingErrors> {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            let message = e.to_string();
            let message = match message.rfind(" at line ") {
                Some(i) => &message[..i],
                None => &message,
            };
            return Err(ListingErrors {
                problems: vec![ListingProblem {
                    provider: provider.to_string(),
                    file: source.to_string(),
                    model: None,
                    field: None,
                    message: format!(
                        "invalid json at line {} column {}: {message}",
                        e.line(),
                        e.column()
                    ),
                }],
            });
        }
    };
    from_value(provider, source, value)
}

/// Validates an already-typed listing (one built in code, or fetched and
/// deserialized elsewhere) with the same checks as [`parse_listing`].
pub fn validate_listing(
    provider: &str,
    source: &str,
    listing: &ProviderListing,
) -> Result<(), ListingErrors> {
    let value = serde_json::to_value(listing).map_err(|e| ListingErrors {
        problems: vec![ListingProblem {
            provider: provider.to_string(),
            file: source.to_string(),
            model: None,
            field: None,
            message: format!("cannot be represented as json: {e}"),
        }],
    })?;
    let problems = validate::check_document(provider, source, &value);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ListingErrors { problems })
    }
}

fn from_value(
    provider: &str,
    source: &str,
    value: Value,
) -> Result<ProviderListing, ListingErrors> {
    let problems = validate::check_document(provider, source, &value);
    if !problems.is_empty() {
        return Err(ListingErrors { problems });
    }
    // The walk checks everything the schema type needs; this only fails if
    // the two disagree, which is reported rather than hidden.
    serde_json::from_value(value).map_err(|e| ListingErrors {
        problems: vec![ListingProblem {
            provider: provider.to_string(),
            file: source.to_string(),
            model: None,
            field: None,
            message: format!("does not match the listing format: {e}"),
        }],
    })
}

/// Reads and validates the listing file of `provider`, resolving a relative
/// `models` path against `base_dir` (the config file's directory).
pub fn load_listing_file(provider: &ProviderConfig, base_dir: &Path) -> Result<ProviderListing> {
    let Some(path) = provider.listing_path(base_dir) else {
        return Err(Error::NotFetched {
            provider: provider.slug.clone(),
            url: provider.models_url.clone().unwrap_or_default(),
        });
    };
    let bytes = std::fs::read(&path).map_err(|source| Error::ReadListing {
        provider: provider.slug.clone(),
        path: path.clone(),
        reason: io_reason(&source),
        source,
    })?;
    Ok(parse_listing(
        &provider.slug,
        &path.display().to_string(),
        &bytes,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_names_line_and_column() {
        let err = parse_listing("p", "f.json", b"{\n  \"data\": [\n    {\"id\": }\n").unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(
            err.to_string(),
            "f.json: provider p: invalid json at line 3 column 12: expected value"
        );
    }

    #[test]
    fn display_without_model_or_field() {
        let p = ListingProblem {
            provider: "p".into(),
            file: "f".into(),
            model: None,
            field: Some("data".into()),
            message: "missing".into(),
        };
        assert_eq!(p.to_string(), "f: provider p: field data: missing");
    }
}
