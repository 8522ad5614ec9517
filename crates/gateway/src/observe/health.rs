//! Provider health as scrape-time gauges: read from the health tracker when
//! `/metrics` is scraped, so the request path pays nothing for them.

use std::fmt;
use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::metrics::{EndpointLabels, PREFIX};
use crate::state::AppState;

/// Appends the health of every catalog endpoint (OpenMetrics text, no
/// `# EOF`).
pub(super) fn encode(state: &AppState, out: &mut String) -> fmt::Result {
    let up: Family<EndpointLabels, Gauge> = Family::default();
    let status: Family<EndpointLabels, Gauge> = Family::default();
    let uptime: Family<EndpointLabels, Gauge<f64, AtomicU64>> = Family::default();
    let snapshot = state.health();
    let routes = state.routes();
    for model in routes.catalog.models() {
        for ep in &model.endpoints {
            let labels = EndpointLabels::of(ep);
            // An endpoint the tracker has not seen is healthy, with no
            // statistics yet.
            let h = snapshot.endpoint(ep).copied().unwrap_or_default();
            up.get_or_create(&labels).set(i64::from(!h.in_outage));
            status.get_or_create(&labels).set(i64::from(h.status));
            if let Some(u) = h.uptime {
                uptime.get_or_create(&labels).set(u);
            }
        }
    }
    let mut registry = Registry::with_prefix(PREFIX);
    registry.register(
        "endpoint_up",
        "1 while the router considers an endpoint healthy, 0 during an outage or a Retry-After hold",
        up,
    );
    registry.register(
        "endpoint_status",
        "An endpoint's health status as the endpoints API reports it (0 up, -1 degraded, -2 outage, -3 held back)",
        status,
    );
    registry.register(
        "endpoint_uptime_ratio",
        "Decayed share of an endpoint's recent attempts that succeeded (0 to 1), once it has been tried",
        uptime,
    );
    prometheus_client::encoding::text::encode_registry(out, &registry)
}
