//! The crate's error type.

/// What can go wrong when reading wire JSON.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body is not JSON at all, or is truncated.
    #[error("malformed JSON at line {line} column {column}: {message}")]
    Syntax {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the parser expected.
        message: String,
    },
    /// The body is JSON but a field has the wrong type or value.
    #[error("invalid field `{path}`: {message}")]
    Field {
        /// Dotted path of the offending field, e.g. `messages[0].role`.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A required field is absent.
    #[error("missing required field `{path}`")]
    Missing {
        /// Dotted path of the missing field.
        path: String,
    },
}

impl Error {
    /// The dotted path of the field at fault, when there is one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Error::Syntax { .. } => None,
            Error::Field { path, .. } | Error::Missing { path } => Some(path),
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
