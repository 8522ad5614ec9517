//! The provider catalog: which providers Tollgate knows, which models they
//! serve, at what price and with which limits and capabilities.
//!
//! This crate owns:
//!
//! * [`ProviderConfig`] — a `[[providers]]` table of `tollgate.toml`, and
//!   its validation (errors name the provider and the key);
//! * provider listings (`provider-integration.txt`): [`parse_listing`] and
//!   [`load_listing_file`] report *every* problem of a listing, each naming
//!   the provider, the file, the model and the field;
//! * the runtime [`Catalog`] of [`ProviderEntry`], [`CatalogModel`] and
//!   [`CatalogEndpoint`] (prices in exact [`rust_decimal::Decimal`]), which
//!   routing, transforms and billing read;
//! * the Models API (`GET /models`, `/models/{id}/endpoints`,
//!   `/providers`) aggregated from it (see [`models_api`] for the rules);
//! * [`ModelId`]s with their [`Variant`] suffixes;
//! * the [`demo`] catalog of three mock providers used by `tollgated --dev`
//!   and by tests.
//!
//! The wire shapes themselves are `tollgate-schema`'s; this crate only fills
//! them.
//!
//! Architecture Invariant: the catalog is plain data. It depends only on
//! `tollgate-schema` (never on transport, store or gateway), needs no async
//! runtime and does no network I/O; reading listing files with `std::fs` is
//! its only I/O. A `models_url` listing is fetched by the caller and handed
//! in ([`Catalog::load_with`], [`Catalog::build`]).
#![deny(missing_docs)]

mod catalog;
mod config;
pub mod demo;
mod error;
mod listing;
mod model_id;
pub mod models_api;
mod validate;
pub mod vocab;

pub use catalog::{
    Catalog, CatalogEndpoint, CatalogModel, EndpointPricing, ProviderEntry,
    derive_supported_parameters,
};
pub use config::{
    ConfigErrors, ConfigProblem, DataCollection, Dialect, ProviderConfig, ProvidersFile,
    check_slug, parse_providers_toml, validate_providers,
};
pub use error::{Error, Result};
pub use listing::{
    ListingErrors, ListingProblem, load_listing_file, parse_listing, validate_listing,
};
pub use model_id::{AUTO_ROUTER, FREE_ROUTER, ModelId, ModelIdError, Variant};
pub use models_api::EndpointHealth;
