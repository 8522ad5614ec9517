//! Persistence for Tollgate: accounts, hashed API keys with credit limits,
//! and the credit ledger with holds and settlement; generations, BYOK keys
//! and OAuth codes as they arrive.
//!
//! This crate owns the database schema (the migrations under `migrations/`,
//! one directory per backend, embedded in the binary) and every SQL query.
//! Callers see [`Store`] and plain data types, never a pool or a row.
//!
//! Two backends: SQLite (the embedded default; WAL mode; the file is created
//! if missing) and PostgreSQL (for several replicas sharing one database).
//! The same behaviour is tested against both.
//!
//! Architecture Invariant: this crate depends on `tollgate-schema` and
//! `tollgate-billing` at most, and never on `tollgate-gateway` or
//! `tollgate-transport`: persistence knows nothing of HTTP or providers.
//!
//! Architecture Invariant: a secret (an API key, a database password) never
//! appears in an error message, a log line or a `Debug` output of this crate;
//! only the SHA-256 hash of an API key is stored (plus a masked preview for
//! listings, [`ApiKey::hint`]: the prefix and three characters on each
//! side, 24 of a generated secret's 256 bits).
//! Users' own provider keys (BYOK) are stored encrypted only
//! ([`ByokCipher`], AES-256-GCM; see the `crypto` module), and OAuth codes
//! hashed like API keys.
//!
//! # Money
//!
//! - **Ledger** ([`LedgerEntry`]): append-only (database triggers refuse
//!   updates and deletes), signed amounts, so an account's available balance
//!   is the sum of its ledger; [`Balance`] is computed by the database from
//!   it. Kinds and signs: `topup +`, `refund +`, `adjust ±`, `hold −`,
//!   `release +` (a hold's amount returned), `settle −` (a charge), `fee −`.
//! - **Holds** ([`Hold`]): before a request, [`Store::place_hold`] reserves
//!   its maximum cost; [`Store::settle_hold`] replaces the reservation by
//!   the actual charge (idempotent), [`Store::release_hold`] returns it, and
//!   [`Store::expire_holds`] returns those a crash left open (released, not
//!   charged: see its docs for why this cannot create money).
//! - **Representation**: exact decimals with at most [`LEDGER_SCALE`] (12)
//!   places, never a float: `NUMERIC(28,12)` on PostgreSQL, INTEGER
//!   picodollars on SQLite (summed in two exact integer parts, so no
//!   overflow at realistic sizes), each amount at most [`MAX_AMOUNT`].
//!   Amounts with more places are refused, not rounded.
//! - **Concurrency**: each movement is one transaction with the check and
//!   the state it depends on, serialized per account: `BEGIN IMMEDIATE` on
//!   SQLite (the write lock is taken before the balance is read), and a
//!   `SELECT ... FOR NO KEY UPDATE` of the account row on PostgreSQL.
//! - **Time**: operations whose meaning depends on the time (hold expiry,
//!   key limit periods) take `now` from the caller, so tests are
//!   deterministic; periods are calendar periods in UTC ([`LimitReset`]).

#![deny(missing_docs)]

mod accounts;
mod batch;
mod byok;
mod crypto;
mod dialect;
mod error;
mod generations;
mod holds;
mod keys;
mod keys_admin;
mod ledger;
mod limits;
mod money;
mod oauth;
mod store;
pub mod testing;
mod time;
mod totals;

pub use accounts::Account;
pub use batch::{BatchWrite, BatchWriter, SettledHold};
pub use byok::{ByokKey, key_last4};
pub use crypto::{ByokCipher, CryptoError, ProviderKey, SealedSecret, SecretKeyError};
pub use error::{Error, Result};
pub use generations::{ActivityRow, ApiType, GenerationAttempt, GenerationRecord};
pub use holds::{Hold, HoldState, Settlement, lease_prefix, new_hold_id};
pub use keys::{API_KEY_PREFIX, ApiKey, KeyKind, NewApiKey, hash_api_key};
pub use keys_admin::{KeyListing, KeyOptions, UpdateKey};
pub use ledger::{Balance, LedgerEntry, LedgerKind};
pub use limits::KeyUsage;
pub use money::{LEDGER_SCALE, MAX_AMOUNT};
pub use oauth::{
    ChallengeMethod, CodeChallenge, CodeRejection, ExchangedKey, InvalidChallenge, NewOAuthCode,
    OAuthCode, UnknownMethod, s256_challenge,
};
pub use store::{Backend, Store};
pub use tollgate_billing::LimitReset;
