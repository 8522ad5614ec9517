//! `tollgate catalog validate`: checks a provider listing offline;
//! `tollgate catalog sync` (in `catalog_sync`) fetches listings.

use serde_json::json;

use crate::Reported;
use crate::cli::{CatalogCommand, Global};
use crate::output;

/// Runs `tollgate catalog ...`.
pub async fn run(command: &CatalogCommand, global: &Global) -> anyhow::Result<()> {
    let json = global.json;
    match command {
        CatalogCommand::Sync(args) => super::catalog_sync::run(args, global).await,
        CatalogCommand::Validate { file, provider } => {
            // A file that cannot be read is an I/O error (exit 1), not a
            // usage one.
            let bytes = std::fs::read(file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let provider = provider.clone().unwrap_or_else(|| {
                file.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            let source = file.display().to_string();
            match tollgate_catalog::parse_listing(&provider, &source, &bytes) {
                Ok(listing) => {
                    if json {
                        return output::json(&json!({
                            "valid": true,
                            "file": source,
                            "provider": provider,
                            "models": listing.data.len(),
                            "problems": [],
                        }));
                    }
                    outln!(
                        "{} {source}: {} models, no problems",
                        output::green("ok"),
                        listing.data.len()
                    )?;
                    Ok(())
                }
                Err(errors) => {
                    if json {
                        let problems = problems_json(&errors);
                        output::json(&json!({
                            "valid": false,
                            "file": source,
                            "provider": provider,
                            "problems": problems,
                        }))?;
                    } else {
                        for p in &errors {
                            outln!("{p}")?;
                        }
                        eprintln!(
                            "error: {source}: {} problem{}",
                            errors.len(),
                            if errors.len() == 1 { "" } else { "s" }
                        );
                    }
                    Err(Reported.into())
                }
            }
        }
    }
}

/// Listing problems as JSON objects (provider, file, model, field,
/// message).
pub fn problems_json(errors: &tollgate_catalog::ListingErrors) -> Vec<serde_json::Value> {
    errors
        .iter()
        .map(|p| {
            json!({
                "provider": p.provider,
                "file": p.file,
                "model": p.model,
                "field": p.field,
                "message": p.message,
            })
        })
        .collect()
}
