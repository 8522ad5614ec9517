//! Deterministic embeddings.

use sha2::{Digest, Sha256};

/// Dimensions of an embedding when the request does not ask for others.
pub const DEFAULT_EMBEDDING_DIMENSIONS: usize = 8;

/// The deterministic unit-length embedding of `text`.
///
/// Component `i` is drawn from SHA-256 of the text (counter mode) and mapped
/// to [-1, 1]; the first `dimensions` components are then normalised to unit
/// length. A shorter embedding is therefore the renormalised prefix of a
/// longer one, as with OpenAI's `dimensions` parameter.
pub fn embedding_for(text: &str, dimensions: usize) -> Vec<f32> {
    let mut raw = Vec::with_capacity(dimensions);
    let mut block = 0u64;
    while raw.len() < dimensions {
        let digest = Sha256::new()
            .chain_update(text.as_bytes())
            .chain_update(block.to_le_bytes())
            .finalize();
        for word in digest.chunks_exact(4) {
            if raw.len() == dimensions {
                break;
            }
            let n = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            raw.push(f64::from(n) / f64::from(u32::MAX) * 2.0 - 1.0);
        }
        block += 1;
    }
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    raw.into_iter()
        .map(|x| if norm > 0.0 { (x / norm) as f32 } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_are_unit_and_prefix_stable() {
        let e = embedding_for("hello", 8);
        assert_eq!(e, embedding_for("hello", 8));
        assert_ne!(e, embedding_for("hellO", 8));
        let norm: f32 = e.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert_eq!(embedding_for("hello", 20).len(), 20);
    }
}
