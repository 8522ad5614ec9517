//! The cheapest models of a gateway, by prompt plus completion price, with
//! each one's cheapest provider.
//!
//! ```sh
//! TOLLGATE_BASE_URL=http://127.0.0.1:8080/api/v1 cargo run --example list_cheapest_models -- 5
//! ```

// An example prints its results.
#![allow(clippy::print_stdout)]

use tollgate_schema::client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 10,
    };
    // `/models` needs no key; one is used when set.
    let client = Client::from_env()?;
    let mut models = client.models().await?.data;
    models.sort_by_key(|m| (m.pricing.prompt + m.pricing.completion, m.id.clone()));
    println!(
        "{:<36} {:>12} {:>16}  CHEAPEST PROVIDER",
        "MODEL", "PROMPT $/M", "COMPLETION $/M"
    );
    for m in models.iter().take(count) {
        // The endpoints list each provider's own price.
        let provider = client
            .endpoints(&m.id)
            .await
            .ok()
            .and_then(|e| {
                e.data
                    .endpoints
                    .into_iter()
                    .min_by_key(|ep| ep.pricing.prompt + ep.pricing.completion)
            })
            .map_or_else(|| String::from("-"), |ep| ep.provider_name);
        println!(
            "{:<36} {:>12} {:>16}  {provider}",
            m.id,
            per_million(m.pricing.prompt).normalize(),
            per_million(m.pricing.completion).normalize(),
        );
    }
    Ok(())
}

/// A per-token price per million tokens (generic, so this example needs
/// no direct dependency on `rust_decimal`).
fn per_million<D: std::ops::Mul<Output = D> + From<u32>>(price: D) -> D {
    price * D::from(1_000_000)
}
