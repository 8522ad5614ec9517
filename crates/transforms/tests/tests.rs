//! Integration tests of tollgate-transforms: reference token counts and
//! property tests of middle-out.

// clippy.toml allows unwrap inside `#[test]` functions only; the shared
// helpers (fixture loading, strategies) unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fixtures;
mod props;
