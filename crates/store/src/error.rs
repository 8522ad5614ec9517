//! The store's error type.

use std::path::PathBuf;
use std::time::Duration;

use rust_decimal::Decimal;

use crate::{Backend, HoldState};

/// Everything that can go wrong in the store.
///
/// Messages are lowercase without a trailing period and never contain a
/// secret: not an API key, not a database password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database url names a scheme this store does not speak.
    #[error("unsupported database url scheme `{0}`, expected sqlite:// or postgres://")]
    UnsupportedScheme(String),

    /// The database url has no `scheme:` at all.
    #[error("database url has no scheme, expected sqlite:// or postgres://")]
    MissingScheme,

    /// The url has the right scheme but cannot be parsed.
    #[error("invalid {backend} database url: {reason}")]
    InvalidUrl {
        /// The backend the scheme selected.
        backend: Backend,
        /// What is wrong with it.
        reason: String,
    },

    /// The directory that should hold the SQLite file does not exist. The
    /// store creates the file, not its directories, so that a typo in a path
    /// is an error rather than a new empty database somewhere unexpected.
    #[error(
        "cannot open sqlite database `{}`: directory `{}` does not exist",
        path.display(),
        dir.display()
    )]
    SqliteDirectoryMissing {
        /// The database file.
        path: PathBuf,
        /// Its missing parent directory.
        dir: PathBuf,
    },

    /// The SQLite database could not be opened.
    #[error("cannot open sqlite database `{}`: {cause}", path.display())]
    SqliteOpen {
        /// The database file.
        path: PathBuf,
        /// Why.
        cause: sqlx::Error,
    },

    /// The PostgreSQL server could not be reached or refused the connection.
    #[error(
        "cannot connect to postgres at {server} (database `{database}`, user `{user}`): {cause}"
    )]
    PostgresConnect {
        /// `host:port` or the socket path.
        server: String,
        /// The database name.
        database: String,
        /// The user name.
        user: String,
        /// Why.
        cause: sqlx::Error,
    },

    /// Applying the embedded migrations failed.
    #[error("migrating the {backend} database failed: {cause}")]
    Migrate {
        /// Which backend.
        backend: Backend,
        /// Why.
        cause: sqlx::migrate::MigrateError,
    },

    /// The account an operation refers to does not exist.
    #[error("account `{0}` not found")]
    AccountNotFound(String),

    /// An imported API key is already registered to a different account.
    #[error("api key is already registered to another account")]
    ApiKeyConflict,

    /// An imported API key secret belongs to a deleted key, which is never
    /// revived.
    #[error("api key was deleted")]
    ApiKeyDeleted,

    /// An imported API key secret is unusable (for example empty).
    #[error("invalid api key secret: {0}")]
    InvalidSecret(&'static str),

    /// The operating system's random number generator failed.
    #[error("operating system random number generator failed: {0}")]
    Rng(String),

    /// The account's available balance (its credits minus its charges and
    /// open holds) does not cover the hold. The gateway answers 402.
    #[error("insufficient credits: {available} available, {needed} needed")]
    InsufficientCredits {
        /// What the account has available, USD (may be negative).
        available: Decimal,
        /// What the hold needed, USD.
        needed: Decimal,
    },

    /// What is left of the API key's credit limit does not cover the hold.
    /// The gateway answers 402.
    #[error("api key credit limit reached: {remaining} of {limit} remaining, {needed} needed")]
    KeyLimitExceeded {
        /// The key's limit, USD.
        limit: Decimal,
        /// What is left of it in the current period, USD (never negative).
        remaining: Decimal,
        /// What the hold needed, USD.
        needed: Decimal,
    },

    /// An amount of money cannot be stored exactly or has the wrong sign.
    #[error("invalid amount {amount}: {reason}")]
    InvalidAmount {
        /// The amount as given.
        amount: Decimal,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A hold's time to live does not give a representable expiry.
    #[error("invalid hold ttl {0:?}")]
    InvalidTtl(Duration),

    /// No hold has this id.
    #[error("hold `{0}` not found")]
    HoldNotFound(String),

    /// The hold was closed in a way that forbids the operation (settling a
    /// released hold).
    #[error("hold `{id}` is already {state}")]
    HoldClosed {
        /// The hold.
        id: String,
        /// Its state.
        state: HoldState,
    },

    /// A money operation names an API key that does not exist.
    #[error("api key not found")]
    ApiKeyNotFound,

    /// A money operation names an API key of another account.
    #[error("api key does not belong to account `{0}`")]
    ApiKeyAccountMismatch(String),

    /// A row holds a value this version of the store cannot interpret.
    #[error("unexpected value in `{table}.{column}`: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
