//! The test kit's error type.

/// What can go wrong setting up a mock.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A dialect name that is not known.
    #[error("unknown dialect `{0}` (expected `openai`, `anthropic` or `gemini`)")]
    UnknownDialect(String),
}

/// A result with the test kit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
