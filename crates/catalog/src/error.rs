//! The catalog's error type.

use std::fmt;
use std::path::PathBuf;

use crate::config::ConfigErrors;
use crate::listing::ListingErrors;

/// Everything that can go wrong while loading or building the catalog.
/// Every message names the provider and, where there is one, the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// One or more provider tables are invalid.
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    /// A listing is invalid (every problem is listed, one per line).
    #[error(transparent)]
    Listing(#[from] ListingErrors),
    /// A listing file could not be read.
    #[error("provider `{provider}`: cannot read listing file {}: {reason}", path.display())]
    ReadListing {
        /// The provider's slug.
        provider: String,
        /// The resolved path.
        path: PathBuf,
        /// What went wrong, in words (`file not found`).
        reason: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The provider's listing comes from `models_url` and no fetcher was
    /// given (the catalog does no network I/O).
    #[error(
        "provider `{provider}`: listing comes from models_url {url}, which the catalog does not \
         fetch; fetch it and pass it to `Catalog::build` or `Catalog::load_with`"
    )]
    NotFetched {
        /// The provider's slug.
        provider: String,
        /// Its `models_url`.
        url: String,
    },
    /// The caller's fetcher failed for a `models_url`.
    #[error("provider `{provider}`: cannot fetch listing from {url}: {message}")]
    Fetch {
        /// The provider's slug.
        provider: String,
        /// Its `models_url`.
        url: String,
        /// The fetcher's message.
        message: String,
    },
    /// A providers TOML document is invalid.
    #[error("{file}: {message}")]
    Toml {
        /// The file name.
        file: String,
        /// The TOML parser's message (with line, column and key).
        message: String,
    },
    /// Several errors, from several files; displayed one per line.
    #[error("{}", Lines(.0))]
    Many(Vec<Error>),
}

impl Error {
    /// One error for a non-empty list, [`Error::Many`] for several.
    pub(crate) fn from_many(mut errors: Vec<Error>) -> Option<Error> {
        match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(Error::Many(errors)),
        }
    }

    /// Every leaf error, [`Error::Many`] flattened.
    pub fn iter(&self) -> Box<dyn Iterator<Item = &Error> + '_> {
        match self {
            Error::Many(errors) => Box::new(errors.iter().flat_map(Error::iter)),
            other => Box::new(std::iter::once(other)),
        }
    }
}

/// `Result` with the catalog's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

struct Lines<'a>(&'a [Error]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A lowercase description of an I/O error for messages.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "file not found".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        ErrorKind::IsADirectory => "is a directory".into(),
        _ => {
            let s = e.to_string();
            let mut chars = s.chars();
            match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => s,
            }
        }
    }
}
