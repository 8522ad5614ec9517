//! Tollgate: a self-hostable, OpenRouter-compatible LLM gateway.
//!
//! This facade re-exports the workspace crates under short names, so an
//! embedding application can depend on one crate. Each crate owns one layer;
//! see `ARCHITECTURE.md` for the map and the direction of dependencies.

pub use tollgate_billing as billing;
pub use tollgate_catalog as catalog;
pub use tollgate_gateway as gateway;
pub use tollgate_routing as routing;
pub use tollgate_schema as schema;
pub use tollgate_store as store;
pub use tollgate_transforms as transforms;
pub use tollgate_transport as transport;
