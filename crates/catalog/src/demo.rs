//! The demo catalog: three OpenAI-dialect mock providers (`mock-alpha`,
//! `mock-beta`, `mock-gamma`) serving `mock/echo` and a few special-purpose
//! models, plus `mock-anthropic` and `mock-gemini` serving the same echo
//! behind the other two wire dialects, as
//! used by `tollgated --dev` and by tests across the workspace.
//!
//! The files live in `fixtures/providers/` and are embedded at compile time,
//! so the demo needs no file on disk. Their `base_url` is the placeholder
//! `http://127.0.0.1:0/v1`: dev mode sets the address of the mock it starts
//! before building the catalog:
//!
//! ```
//! let mut pairs = tollgate_catalog::demo::listings()?;
//! for (config, _) in &mut pairs {
//!     config.base_url = "http://127.0.0.1:4100/v1".into();
//! }
//! let catalog = tollgate_catalog::Catalog::build(pairs)?;
//! assert_eq!(catalog.model("mock/echo").map(|m| m.endpoints.len()), Some(3));
//! # Ok::<(), tollgate_catalog::Error>(())
//! ```

use std::path::PathBuf;

use tollgate_schema::listing::ProviderListing;

use crate::{Catalog, Error, ProviderConfig, Result, parse_listing, parse_providers_toml};

/// Path of the provider tables, relative to the workspace root (used in
/// messages).
pub const PROVIDERS_TOML_PATH: &str = "fixtures/providers/dev-providers.toml";

/// The `[[providers]]` tables of the three mock providers.
pub const PROVIDERS_TOML: &str = include_str!("../../../fixtures/providers/dev-providers.toml");

/// The listings, by the file name the provider tables use.
pub const LISTINGS: &[(&str, &str)] = &[
    (
        "mock-alpha.json",
        include_str!("../../../fixtures/providers/mock-alpha.json"),
    ),
    (
        "mock-beta.json",
        include_str!("../../../fixtures/providers/mock-beta.json"),
    ),
    (
        "mock-gamma.json",
        include_str!("../../../fixtures/providers/mock-gamma.json"),
    ),
    (
        "mock-anthropic.json",
        include_str!("../../../fixtures/providers/mock-anthropic.json"),
    ),
    (
        "mock-gemini.json",
        include_str!("../../../fixtures/providers/mock-gemini.json"),
    ),
];

/// The three provider tables, parsed and validated.
pub fn configs() -> Result<Vec<ProviderConfig>> {
    parse_providers_toml(PROVIDERS_TOML_PATH, PROVIDERS_TOML)
}

/// The provider tables with their parsed listings, ready for
/// [`Catalog::build`] (after setting `base_url`).
pub fn listings() -> Result<Vec<(ProviderConfig, ProviderListing)>> {
    let mut out = Vec::new();
    for config in configs()? {
        let file = config
            .models
            .as_ref()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let Some((_, text)) = LISTINGS.iter().find(|(name, _)| *name == file) else {
            return Err(Error::ReadListing {
                provider: config.slug.clone(),
                path: PathBuf::from(&file),
                reason: "not embedded in the demo catalog".into(),
                source: std::io::ErrorKind::NotFound.into(),
            });
        };
        let source = format!("fixtures/providers/{file}");
        let listing = parse_listing(&config.slug, &source, text.as_bytes())?;
        out.push((config, listing));
    }
    Ok(out)
}

/// The listing of `mock/moderated`, an endpoint marked `is_moderated`
/// (Mock Alpha serves it in `tollgated --dev`, beside a mock moderation
/// backend). [`listings`] leaves it out, so the demo catalog of tests
/// stays as it is; [`listings_with_moderated`] adds it.
pub const MODERATED_LISTING: &str = include_str!("../../../fixtures/providers/mock-moderated.json");

/// [`listings`] with `mock/moderated` added to Mock Alpha's listing.
pub fn listings_with_moderated() -> Result<Vec<(ProviderConfig, ProviderListing)>> {
    let mut pairs = listings()?;
    let moderated = parse_listing(
        "mock-alpha",
        "fixtures/providers/mock-moderated.json",
        MODERATED_LISTING.as_bytes(),
    )?;
    if let Some((_, alpha)) = pairs.iter_mut().find(|(p, _)| p.slug == "mock-alpha") {
        alpha.data.extend(moderated.data);
    }
    Ok(pairs)
}

/// The demo catalog, with the placeholder base URLs.
pub fn catalog() -> Result<Catalog> {
    Catalog::build(listings()?)
}
