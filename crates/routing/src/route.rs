//! Filtering and ordering the endpoints of one model.

use std::borrow::Cow;
use std::cmp::Ordering;

use rand::Rng;
use rust_decimal::Decimal;
use tollgate_catalog::vocab::{FEATURES, feature_parameters};
use tollgate_catalog::{CatalogEndpoint, CatalogModel, DataCollection};

use crate::exclusion::{Exclusion, ExclusionReason, PriceField};
use crate::health::{EndpointHealth, HealthSnapshot};
use crate::plan::{Choice, PlannedAttempt};
use crate::prefs::{Prefs, SortBy, names_any};
use crate::price::{Mix, weight};
use crate::{Policy, RouteRequest};

/// Everything shared by the models of one plan.
pub(crate) struct Ctx<'a, 'h> {
    pub req: &'a RouteRequest,
    pub prefs: Prefs<'a>,
    pub policy: &'h Policy,
    pub health: &'h HealthSnapshot,
    pub mix: Mix,
}

/// What the requested id adds to the preferences.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Rules {
    /// `:free` / `openrouter/free`: zero-price endpoints only.
    pub free_only: bool,
    /// Chosen by a router: the request's capability parameters (tools,
    /// response_format, reasoning, ...) are required.
    pub router: bool,
    /// Sort implied by the variant (`provider.sort` wins).
    pub sort: Option<SortBy>,
}

/// Where the plan's attempts and exclusions go.
pub(crate) struct Out<'a> {
    pub attempts: Vec<PlannedAttempt<'a>>,
    pub excluded: Vec<Exclusion<'a>>,
}

/// An endpoint that passed the filters.
#[derive(Debug, Clone, Copy)]
struct Candidate<'a, 'h> {
    endpoint: &'a CatalogEndpoint,
    health: Option<&'h EndpointHealth>,
    price: f64,
    fits: bool,
    group: u8,
    /// Index in `provider.order` (group `ORDERED` only).
    position: usize,
}

impl Candidate<'_, '_> {
    fn key(&self) -> SortKey<'_> {
        SortKey {
            endpoint: self.endpoint,
            health: self.health,
            price: self.price,
        }
    }
}

/// The parts of an endpoint that sorting reads.
#[derive(Clone, Copy)]
pub(crate) struct SortKey<'x> {
    pub endpoint: &'x CatalogEndpoint,
    pub health: Option<&'x EndpointHealth>,
    pub price: f64,
}

pub(crate) fn exclusion(e: &CatalogEndpoint, reason: ExclusionReason) -> Exclusion<'_> {
    Exclusion {
        model: Cow::Borrowed(&e.model),
        provider: Cow::Borrowed(&e.provider),
        reason,
    }
}

/// Whether `param` is enabled by a listing feature (`tools`,
/// `response_format`, `reasoning`, ...): what a router requires.
fn is_capability(param: &str) -> bool {
    FEATURES
        .iter()
        .any(|f| feature_parameters(f).contains(&param))
}

impl<'a, 'h> Ctx<'a, 'h> {
    /// Why `e` cannot serve the request, context length aside.
    pub fn check(
        &self,
        e: &CatalogEndpoint,
        rules: Rules,
        health: Option<&EndpointHealth>,
    ) -> Option<ExclusionReason> {
        let p = &self.prefs;
        if names_any(p.ignore, e) {
            return Some(ExclusionReason::Ignored);
        }
        if p.only.is_some_and(|only| !names_any(only, e)) {
            return Some(ExclusionReason::NotInOnly);
        }
        if rules.free_only && !e.is_free() {
            return Some(ExclusionReason::NotFree);
        }
        if p.deny_data_collection && e.data_collection == DataCollection::Allow {
            return Some(ExclusionReason::DataPolicy);
        }
        if p.zdr && !e.zdr {
            return Some(ExclusionReason::NotZdr);
        }
        if let Some(qs) = p.quantizations
            && !qs.iter().any(|q| q.eq_ignore_ascii_case(&e.quantization))
        {
            return Some(ExclusionReason::QuantizationExcluded {
                quantization: e.quantization.clone(),
            });
        }
        if let Some(m) = self
            .req
            .input_modalities
            .iter()
            .find(|m| !e.input_modalities.contains(m))
        {
            return Some(ExclusionReason::MissingFeature {
                feature: format!("{m} input"),
            });
        }
        if p.require_parameters || rules.router {
            let missing: Vec<String> = self
                .req
                .parameters
                .iter()
                .filter(|name| p.require_parameters || is_capability(name))
                .filter(|name| !e.supports_parameter(name))
                .cloned()
                .collect();
            if !missing.is_empty() {
                return Some(ExclusionReason::ParameterUnsupported { params: missing });
            }
        }
        if let Some(max) = p.max_price
            && let Some(reason) = over_max_price(e, max)
        {
            return Some(reason);
        }
        if self.policy.exclude_outages && health.is_some_and(|h| h.in_outage) {
            return Some(ExclusionReason::Outage);
        }
        None
    }

    /// Prompt tokens plus the completion reserve: the request's `max_tokens`
    /// (else the policy's default reserve), capped at the endpoint's
    /// largest completion (the gateway clamps `max_tokens` to it).
    pub fn needed(&self, e: &CatalogEndpoint) -> u64 {
        let reserve = self
            .req
            .max_output_tokens
            .unwrap_or(self.policy.default_completion_reserve)
            .min(e.max_output_tokens);
        self.req.prompt_tokens.saturating_add(reserve)
    }

    /// The effective sort: `provider.sort`, else the variant's.
    fn sort(&self, rules: Rules) -> Option<SortBy> {
        self.prefs.sort.or(rules.sort)
    }

    /// Whether any soft preference (`preferred_max_latency`,
    /// `preferred_min_throughput`) is set.
    pub fn soft(&self) -> bool {
        self.prefs.max_latency.is_set() || self.prefs.min_throughput.is_set()
    }

    /// Whether an endpoint meets the soft `preferred_max_latency` /
    /// `preferred_min_throughput` cutoffs, against its percentiles of the
    /// last 30 minutes (latency cutoffs in seconds, percentiles in
    /// milliseconds). An unmeasured endpoint meets them.
    pub fn preferred(&self, h: Option<&EndpointHealth>) -> bool {
        let lat_ok = self.prefs.max_latency.met_by(
            h.and_then(|h| h.latency_percentiles.as_ref()),
            |ms, secs| ms <= secs * 1000.0,
        );
        let tps_ok = self.prefs.min_throughput.met_by(
            h.and_then(|h| h.throughput_percentiles.as_ref()),
            |tps, min| tps >= min,
        );
        lat_ok && tps_ok
    }

    /// Filters and orders the endpoints of `model` into `out`.
    ///
    /// One vector of candidates, tagged with their group (ordered,
    /// preferred, other healthy, outage), sorted once; then the first
    /// endpoint of the first healthy group is drawn by weight and moved to
    /// the front of its group (the rest keep their price order).
    pub fn route_model<R: Rng + ?Sized>(
        &self,
        requested: &'a str,
        model: &'a CatalogModel,
        rules: Rules,
        rng: &mut R,
        out: &mut Out<'a>,
    ) {
        let health = self.health.model(&model.id);
        let mut cands: Vec<Candidate<'a, 'h>> = Vec::with_capacity(model.endpoints.len());
        let mut any_fits = false;
        for e in &model.endpoints {
            let h = health.and_then(|m| m.get(e.provider.as_str()));
            if let Some(reason) = self.check(e, rules, h) {
                out.excluded.push(exclusion(e, reason));
                continue;
            }
            let fits = self.needed(e) <= e.context_length;
            any_fits |= fits;
            cands.push(Candidate {
                endpoint: e,
                health: h,
                price: self.mix.blended(&e.pricing),
                fits,
                group: 0,
                position: 0,
            });
        }
        // Without room anywhere, a compressible prompt keeps them all.
        let compress = !any_fits && !cands.is_empty() && self.req.compressible;
        if !compress {
            cands.retain(|c| {
                if !c.fits {
                    out.excluded.push(exclusion(
                        c.endpoint,
                        ExclusionReason::ContextTooSmall {
                            needed: self.needed(c.endpoint),
                            available: c.endpoint.context_length,
                        },
                    ));
                }
                c.fits
            });
        }

        let soft = self.soft();
        let ordering = !self.prefs.order.is_empty();
        for c in &mut cands {
            c.group = match ordering
                .then(|| self.prefs.order_position(c.endpoint))
                .flatten()
            {
                Some(position) => {
                    c.position = position;
                    ORDERED
                }
                None if c.health.is_some_and(|h| h.in_outage) => OUTAGE,
                None if soft && !self.preferred(c.health) => OTHER,
                None => PREFERRED,
            };
        }
        if !self.prefs.allow_fallbacks && ordering {
            cands.retain(|c| {
                if c.group != ORDERED {
                    out.excluded
                        .push(exclusion(c.endpoint, ExclusionReason::NoFallbacks));
                }
                c.group == ORDERED
            });
        }

        let sort = self.sort(rules);
        match sort {
            None | Some(SortBy::Price) => cands.sort_by(|a, b| {
                (a.group, a.position)
                    .cmp(&(b.group, b.position))
                    .then(a.price.total_cmp(&b.price))
            }),
            Some(by @ (SortBy::Throughput | SortBy::Latency)) => {
                // `compare`'s order, as a key computed once per endpoint.
                cands.sort_by_cached_key(|c| (c.group, c.position, measured_key(by, c.key())));
            }
            Some(by) => {
                let exacto = &self.policy.exacto_providers;
                cands.sort_by(|a, b| {
                    (a.group, a.position)
                        .cmp(&(b.group, b.position))
                        .then_with(|| compare(by, a.key(), b.key(), exacto))
                });
            }
        }

        // The default balancing: draw the first of the first healthy group.
        let mut drawn = None;
        if sort.is_none()
            && let Some(start) = cands.iter().position(|c| c.group != ORDERED)
            && cands[start].group != OUTAGE
        {
            let group = cands[start].group;
            let len = cands[start..]
                .iter()
                .take_while(|c| c.group == group)
                .count();
            let (i, probability) = draw(&cands[start..start + len], self.policy, rng);
            cands[start..=start + i].rotate_right(1);
            drawn = Some((start, probability));
        }

        let keep = if !self.prefs.allow_fallbacks && !ordering {
            1
        } else {
            cands.len()
        };
        out.attempts.reserve(keep.min(cands.len()));
        for (i, c) in cands.iter().enumerate() {
            if i >= keep {
                out.excluded
                    .push(exclusion(c.endpoint, ExclusionReason::NoFallbacks));
                continue;
            }
            let choice = match (c.group, drawn, sort) {
                (ORDERED, ..) => Choice::Ordered {
                    position: c.position,
                },
                (OUTAGE, ..) => Choice::Outage,
                (_, Some((at, probability)), _) if at == i => Choice::Drawn { probability },
                (_, _, Some(by)) => Choice::Sorted { by },
                (_, _, None) => Choice::Fallback,
            };
            out.attempts.push(PlannedAttempt {
                requested,
                endpoint: c.endpoint,
                choice,
                compress,
                price_per_million: c.price,
                health: c.health.copied(),
            });
        }
    }
}

const ORDERED: u8 = 0;
const PREFERRED: u8 = 1;
const OTHER: u8 = 2;
const OUTAGE: u8 = 3;

/// Picks one candidate with probability proportional to its weight; returns
/// its index and that probability.
fn draw<R: Rng + ?Sized>(
    group: &[Candidate<'_, '_>],
    policy: &Policy,
    rng: &mut R,
) -> (usize, f64) {
    if group.len() <= 1 {
        return (0, 1.0);
    }
    let total: f64 = group.iter().map(|c| weight(c.price, policy)).sum();
    if !(total.is_finite() && total > 0.0) {
        return (0, 1.0 / group.len() as f64);
    }
    let mut r = rng.random::<f64>() * total;
    let mut last = (0, 0.0);
    for (i, c) in group.iter().enumerate() {
        let w = weight(c.price, policy);
        if r < w {
            return (i, w / total);
        }
        r -= w;
        last = (i, w / total);
    }
    // Rounding left `r` just above the last weight.
    last
}

/// Orders two endpoints under a sort strategy; ties keep catalog order
/// (the sorts are stable).
/// An integer ordered as [`f64::total_cmp`] orders `x`.
fn ordered(x: f64) -> i64 {
    let bits = x.to_bits().cast_signed();
    bits ^ ((bits >> 63).cast_unsigned() >> 1).cast_signed()
}

/// [`compare`]'s order for the measured sorts (throughput, latency) as a
/// key: measured endpoints first, best first, then by price; `None` for
/// the other sorts.
pub(crate) fn measured_key(by: SortBy, k: SortKey<'_>) -> Option<(bool, i64, i64)> {
    let (value, higher_is_better) = match by {
        SortBy::Throughput => (k.health.and_then(|h| h.throughput_tps), true),
        SortBy::Latency => (k.health.and_then(|h| h.latency_ms), false),
        SortBy::Price | SortBy::Exacto => return None,
    };
    let rank = value.map_or(0, |v| {
        if higher_is_better {
            !ordered(v)
        } else {
            ordered(v)
        }
    });
    Some((value.is_none(), rank, ordered(k.price)))
}

pub(crate) fn compare(by: SortBy, a: SortKey<'_>, b: SortKey<'_>, exacto: &[String]) -> Ordering {
    let price = a.price.total_cmp(&b.price);
    // Measured values first (better first), unmeasured after, by price.
    let measured = |x: Option<f64>, y: Option<f64>, higher_is_better: bool| match (x, y) {
        (Some(x), Some(y)) if higher_is_better => y.total_cmp(&x),
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    match by {
        SortBy::Price => price,
        SortBy::Throughput => measured(
            a.health.and_then(|h| h.throughput_tps),
            b.health.and_then(|h| h.throughput_tps),
            true,
        )
        .then(price),
        SortBy::Latency => measured(
            a.health.and_then(|h| h.latency_ms),
            b.health.and_then(|h| h.latency_ms),
            false,
        )
        .then(price),
        SortBy::Exacto => {
            let listed = |k: &SortKey<'_>| !exacto.iter().any(|s| s == &k.endpoint.provider);
            let tools = |k: &SortKey<'_>| !k.endpoint.has_feature("tools");
            let uptime = |k: &SortKey<'_>| k.health.and_then(|h| h.uptime).unwrap_or(1.0);
            listed(&a)
                .cmp(&listed(&b))
                .then(tools(&a).cmp(&tools(&b)))
                .then(precision(&b.endpoint.quantization).cmp(&precision(&a.endpoint.quantization)))
                .then(uptime(&b).total_cmp(&uptime(&a)))
                .then(price)
        }
    }
}

/// Rank of a quantization for `:exacto` (higher is more precise).
fn precision(q: &str) -> u8 {
    match q.to_ascii_lowercase().as_str() {
        "fp32" => 9,
        "bf16" | "fp16" => 8,
        "fp8" | "mxfp8" => 6,
        "fp6" | "int8" => 5,
        "fp4" | "mxfp4" | "nvfp4" => 3,
        "int4" => 2,
        _ => 4,
    }
}

/// The first `max_price` cap the endpoint is above. Prompt and completion
/// caps are USD per million tokens, against the per-token price x 1e6.
fn over_max_price(
    e: &CatalogEndpoint,
    max: &tollgate_schema::provider::MaxPrice,
) -> Option<ExclusionReason> {
    let million = Decimal::from(1_000_000u32);
    let checks = [
        (PriceField::Prompt, max.prompt, e.pricing.prompt * million),
        (
            PriceField::Completion,
            max.completion,
            e.pricing.completion * million,
        ),
        (PriceField::Request, max.request, e.pricing.request),
        (PriceField::Image, max.image, e.pricing.image),
    ];
    checks.into_iter().find_map(|(field, cap, price)| {
        let cap = cap?;
        (price > cap).then(|| ExclusionReason::OverMaxPrice {
            field,
            price: price.normalize(),
            max: cap.normalize(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_feature_parameters() {
        for p in [
            "tools",
            "tool_choice",
            "response_format",
            "reasoning",
            "web_search_options",
        ] {
            assert!(is_capability(p), "{p}");
        }
        for p in ["temperature", "seed", "max_tokens", "stop"] {
            assert!(!is_capability(p), "{p}");
        }
    }

    #[test]
    fn the_measured_sort_key_orders_as_compare_does() {
        let e = crate::prefs::tests::endpoint("p", "P");
        let values = [
            None,
            Some(0.0),
            Some(-0.0),
            Some(1.5),
            Some(20.0),
            Some(400.0),
            Some(f64::MAX),
        ];
        let healths: Vec<Option<EndpointHealth>> = values
            .iter()
            .map(|v| {
                v.map(|v| EndpointHealth {
                    throughput_tps: Some(v),
                    latency_ms: Some(v),
                    ..Default::default()
                })
            })
            .chain([Some(EndpointHealth::default())])
            .collect();
        let keys: Vec<SortKey<'_>> = healths
            .iter()
            .flat_map(|h| {
                [0.5, 2.0, 0.0].map(|price| SortKey {
                    endpoint: &e,
                    health: h.as_ref(),
                    price,
                })
            })
            .collect();
        for by in [SortBy::Throughput, SortBy::Latency] {
            for a in &keys {
                for b in &keys {
                    assert_eq!(
                        measured_key(by, *a).cmp(&measured_key(by, *b)),
                        compare(by, *a, *b, &[]),
                        "{by:?}: {:?}/{} vs {:?}/{}",
                        a.health,
                        a.price,
                        b.health,
                        b.price
                    );
                }
            }
        }
        assert_eq!(measured_key(SortBy::Price, keys[0]), None);
    }

    #[test]
    fn precision_ranks() {
        assert!(precision("fp32") > precision("BF16"));
        assert!(precision("fp16") > precision("fp8"));
        assert!(precision("fp8") > precision("unknown"));
        assert!(precision("unknown") > precision("int4"));
    }
}
