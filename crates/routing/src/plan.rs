//! The plan: which endpoints to try, in what order, and why the others are
//! left out.

use std::cmp::Ordering;
use std::fmt;

use rand::Rng;
use tollgate_catalog::{AUTO_ROUTER, Catalog, CatalogEndpoint, FREE_ROUTER, ModelId, Variant};

use crate::exclusion::Exclusion;
use crate::health::{EndpointHealth, HealthSnapshot};
use crate::prefs::{Prefs, SortBy};
use crate::price::Mix;
use crate::route::{Ctx, Out, Rules, SortKey, compare};
use crate::{Error, Policy, Result, RouteRequest, routers};

/// An ordered list of endpoints to try for one request, and the reason each
/// other endpoint considered was left out.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// The endpoints to try, in order: every endpoint of the first model,
    /// then of the next fallback model, ...
    pub attempts: Vec<PlannedAttempt<'a>>,
    /// The endpoints left out, with the reason.
    pub excluded: Vec<Exclusion<'a>>,
    /// `:online`: the gateway should run a web search and attach its
    /// results to the prompt (the `web` plugin).
    pub web_search: bool,
}

impl<'a> Plan<'a> {
    /// The first endpoint to try.
    pub fn first(&self) -> Option<&PlannedAttempt<'a>> {
        self.attempts.first()
    }

    /// The endpoints to try, in order.
    pub fn endpoints(&self) -> impl Iterator<Item = &'a CatalogEndpoint> + '_ {
        self.attempts.iter().map(|a| a.endpoint)
    }
}

/// One endpoint to try.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedAttempt<'a> {
    /// The id the client asked for that led here (`mock/echo:nitro`,
    /// `openrouter/auto`, or an entry of `models`).
    pub requested: &'a str,
    /// The endpoint. `endpoint.model` is the catalog model that will answer
    /// (the response's `model`); `endpoint.upstream_model` is what to send
    /// the provider.
    pub endpoint: &'a CatalogEndpoint,
    /// Why it is at this place.
    pub choice: Choice,
    /// The prompt does not fit the endpoint's context with the completion
    /// reserve: the gateway must compress it (middle-out) first. Only set
    /// when no endpoint of the model has room and the request allows it.
    pub compress: bool,
    /// The request's expected (blended) price there, USD per million
    /// tokens (see the crate docs).
    pub price_per_million: f64,
    /// The endpoint's health when planned, if known.
    pub health: Option<EndpointHealth>,
}

impl<'a> PlannedAttempt<'a> {
    /// The catalog model id that answers (the response's `model`).
    pub fn model(&self) -> &'a str {
        &self.endpoint.model
    }

    /// The provider's slug.
    pub fn provider(&self) -> &'a str {
        &self.endpoint.provider
    }

    /// The router that chose this endpoint's model (`openrouter/auto`,
    /// `openrouter/free`, without a variant), if a router did.
    pub fn router(&self) -> Option<&'a str> {
        let base = self.requested.split(':').next().unwrap_or(self.requested);
        matches!(base, AUTO_ROUTER | FREE_ROUTER).then_some(base)
    }

    /// The model id the answer names (`model` in the response and its
    /// chunks): the model that answers when a router chose it, else the
    /// id as the client asked for it (`mock/echo:nitro`, or the entry of
    /// `models` that led here).
    pub fn response_model(&self) -> &'a str {
        match self.router() {
            Some(_) => &self.endpoint.model,
            None => self.requested,
        }
    }
}

/// Why an endpoint is at its place in the plan.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Choice {
    /// Named at this position of `provider.order`.
    Ordered {
        /// Index in `provider.order`.
        position: usize,
    },
    /// Drawn first at random, weighted by price, with this probability.
    Drawn {
        /// The chance it had of being drawn (0 to 1).
        probability: f64,
    },
    /// A fallback after the drawn endpoint, cheapest first.
    Fallback,
    /// Placed by a sort (`provider.sort` or a variant).
    Sorted {
        /// The strategy.
        by: SortBy,
    },
    /// Had a significant outage recently: tried last.
    Outage,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Choice::Ordered { position } => write!(f, "provider.order[{position}]"),
            Choice::Drawn { probability } => {
                write!(f, "price-weighted draw (p={probability:.2})")
            }
            Choice::Fallback => f.write_str("fallback by price"),
            Choice::Sorted { by } => write!(f, "sorted by {by}"),
            Choice::Outage => f.write_str("recent outage, tried last"),
        }
    }
}

/// Plans a request: the endpoints to try, in order, and why every other
/// endpoint considered is left out. A pure function of its inputs; `rng`
/// is only used for the price-weighted draw.
///
/// **Models.** `model` then each of `models` (duplicates skipped); every
/// endpoint of the first model comes before those of the next, each model's
/// endpoints ordered by its own rules (with `provider.sort` and
/// `sort.partition: "none"`, endpoints are instead sorted across models).
/// Variants:
///
/// * `:free` — only zero-price endpoints: those of a model the catalog
///   lists with the `:free` id, else those of the base model;
/// * `:nitro` — sorted by throughput; `:floor` — sorted by price; `:exacto`
///   — sorted by tool-calling quality ([`SortBy::Exacto`]); an explicit
///   `provider.sort` wins over these;
/// * `:online` — the base model's endpoints, and [`Plan::web_search`] set;
/// * `:extended`, `:thinking` — a model the catalog lists with exactly that
///   id, else [`Error::VariantUnavailable`];
/// * `openrouter/auto`, `openrouter/free` — see the `routers` rules in the
///   crate docs.
///
/// **Filters** (each left-out endpoint gets one [`crate::ExclusionReason`]):
/// `provider.ignore` and `provider.only` (a provider is named by slug or
/// display name, ignoring case, or by the part of its slug before a `/`),
/// `:free`, `data_collection: "deny"` (drops providers whose policy is
/// `allow`), `zdr: true`, `quantizations`, input modalities the endpoint
/// does not accept (images, audio, video), `require_parameters: true`
/// (every parameter sent must be supported), `max_price` (prompt and
/// completion in USD per million tokens against the per-token price x 1e6;
/// request and image per unit), outages (only with
/// `Policy::exclude_outages`), and the context length: prompt tokens plus
/// the completion reserve must fit (see `compress` on [`PlannedAttempt`]).
///
/// **Order** within a model:
///
/// 1. providers named in `provider.order`, in that order (an explicit
///    order wins over health);
/// 2. the rest: healthy endpoints meeting `preferred_max_latency` /
///    `preferred_min_throughput`, then other healthy ones, then endpoints in
///    outage (tried last, as in the seed's example). With a sort, each
///    group is sorted. Without (the default load balancing), the first
///    endpoint is drawn at random with probability proportional to
///    `price ^ -price_exponent` of its blended price, and the others follow
///    by the same weight, i.e. cheapest first. Fallbacks are ordered
///    deterministically rather than drawn again: the draw already spreads
///    the load (fallbacks only run when an attempt fails), a deterministic
///    tail minimizes the expected cost of a failover, and it is what the
///    seed's example shows (A first, then C, then B in outage).
///
/// `allow_fallbacks: false` keeps only the ordered providers, or without
/// `order` only the first choice; the others are excluded with
/// `NoFallbacks`.
///
/// **Partition.** `provider.sort.partition: "none"` sorts the endpoints
/// of every model together (ordered providers first, outages last) by
/// `provider.sort`, else the first variant's sort, else price. The
/// deprecated `route` is its alias (OpenAPI `DeprecatedRoute`): `"sort"`
/// is partition `none`, `"fallback"` partition `model` (the default); an
/// explicit `partition` wins, any other value is [`Error::InvalidRoute`].
///
/// **Soft cutoffs across models.** With `preferred_max_latency` /
/// `preferred_min_throughput` and fallback models, the models with an
/// endpoint meeting the cutoffs are tried before those without, each
/// keeping its order (the OpenAPI document: "this may cause a fallback
/// model to be used instead of the primary model if it meets the
/// threshold").
///
/// Not applied: `provider.enforce_distillable_text` (listings carry no
/// such data).
///
/// **Errors**: see [`Error`]; [`Error::NoEndpoint`] when no endpoint of any
/// model is left, with every exclusion.
pub fn plan<'a, R: Rng + ?Sized>(
    input: &'a RouteRequest,
    catalog: &'a Catalog,
    health: &HealthSnapshot,
    policy: &Policy,
    rng: &mut R,
) -> Result<Plan<'a>> {
    let chain = input.model_chain();
    if chain.is_empty() {
        return Err(Error::NoModel);
    }
    let ctx = Ctx {
        req: input,
        prefs: Prefs::new(&input.provider)?,
        policy,
        health,
        mix: Mix::new(input, policy),
    };
    let total: usize = chain
        .iter()
        .filter_map(|id| catalog.model(id))
        .map(|m| m.endpoints.len())
        .sum();
    let mut out = Out {
        attempts: Vec::with_capacity(total),
        excluded: Vec::new(),
    };
    let across = match (ctx.prefs.partition, parse_route(input.route.as_deref())?) {
        (Some(partition), _) => partition == "none",
        (None, route) => route == Some(Route::Sort),
    };
    let mut web_search = false;
    let mut variant_sort = None;
    for &requested in &chain {
        let id = ModelId::parse(requested)?;
        let variant = id.variant();
        web_search |= variant == Some(Variant::Online);
        let mut rules = Rules {
            free_only: variant == Some(Variant::Free),
            router: false,
            sort: match variant {
                Some(Variant::Nitro) => Some(SortBy::Throughput),
                Some(Variant::Floor) => Some(SortBy::Price),
                Some(Variant::Exacto) => Some(SortBy::Exacto),
                _ => None,
            },
        };
        variant_sort = variant_sort.or(rules.sort);
        if id.is_router() {
            rules.router = true;
            rules.free_only |= id.base() == FREE_ROUTER;
            for model in routers::pick(&ctx, catalog, rules, &mut out.excluded) {
                ctx.route_model(requested, model, rules, rng, &mut out);
            }
            continue;
        }
        let model = match variant {
            Some(v @ (Variant::Extended | Variant::Thinking)) => match catalog.model(id.as_str()) {
                Some(m) => m,
                None if catalog.model(id.base()).is_some() => {
                    return Err(Error::VariantUnavailable {
                        model: requested.to_string(),
                        variant: v,
                    });
                }
                None => return Err(Error::UnknownModel(requested.to_string())),
            },
            _ => catalog
                .resolve(&id)
                .ok_or_else(|| Error::UnknownModel(requested.to_string()))?,
        };
        ctx.route_model(requested, model, rules, rng, &mut out);
    }
    if across {
        let by = ctx.prefs.sort.or(variant_sort).unwrap_or(SortBy::Price);
        sort_across_models(&ctx, &mut out.attempts, by);
    } else if ctx.soft() && chain.len() > 1 {
        prefer_models_meeting_cutoffs(&ctx, &mut out.attempts);
    }
    if out.attempts.is_empty() {
        return Err(Error::NoEndpoint {
            model: chain.join(", "),
            excluded: out
                .excluded
                .into_iter()
                .map(Exclusion::into_owned)
                .collect(),
        });
    }
    Ok(Plan {
        attempts: out.attempts,
        excluded: out.excluded,
        web_search,
    })
}

/// The request's `route` (deprecated alias of `provider.sort.partition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `fallback`: partition `model`, the default.
    Fallback,
    /// `sort`: partition `none`.
    Sort,
}

fn parse_route(route: Option<&str>) -> Result<Option<Route>> {
    match route {
        None => Ok(None),
        Some("fallback") => Ok(Some(Route::Fallback)),
        Some("sort") => Ok(Some(Route::Sort)),
        Some(other) => Err(Error::InvalidRoute(other.to_string())),
    }
}

/// Partition `none` (`provider.sort.partition: "none"` or `route:
/// "sort"`): ordered providers first (as planned), then every other
/// endpoint of every model by the sort (those meeting the soft cutoffs
/// first when some are set), outages last.
fn sort_across_models(ctx: &Ctx<'_, '_>, attempts: &mut [PlannedAttempt<'_>], by: SortBy) {
    let soft = ctx.soft();
    let class = |a: &PlannedAttempt<'_>| match a.choice {
        Choice::Ordered { .. } => 0,
        Choice::Outage => 3,
        _ if soft && !ctx.preferred(a.health.as_ref()) => 2,
        _ => 1,
    };
    attempts.sort_by(|a, b| {
        let (ca, cb) = (class(a), class(b));
        if ca != cb || ca == 0 {
            return ca.cmp(&cb);
        }
        compare(by, key(a), key(b), &ctx.policy.exacto_providers).then(Ordering::Equal)
    });
    for a in attempts {
        if matches!(a.choice, Choice::Drawn { .. } | Choice::Fallback) {
            a.choice = Choice::Sorted { by };
        }
    }
}

/// With soft cutoffs and fallback models: the models with an endpoint
/// (not in outage) meeting them come first, each keeping its own order
/// (OpenAPI `PreferredMaxLatency`: "this may cause a fallback model to be
/// used instead of the primary model if it meets the threshold").
fn prefer_models_meeting_cutoffs(ctx: &Ctx<'_, '_>, attempts: &mut [PlannedAttempt<'_>]) {
    let met: Vec<&str> = attempts
        .iter()
        .filter(|a| a.choice != Choice::Outage && ctx.preferred(a.health.as_ref()))
        .map(|a| a.requested)
        .collect();
    // Stable: each model keeps its order.
    attempts.sort_by_key(|a| !met.contains(&a.requested));
}

fn key<'x>(a: &'x PlannedAttempt<'_>) -> SortKey<'x> {
    SortKey {
        endpoint: a.endpoint,
        health: a.health.as_ref(),
        price: a.price_per_million,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_display_for_headers() {
        let cases = [
            (Choice::Ordered { position: 1 }, "provider.order[1]"),
            (
                Choice::Drawn { probability: 0.545 },
                "price-weighted draw (p=0.55)",
            ),
            (Choice::Fallback, "fallback by price"),
            (
                Choice::Sorted {
                    by: SortBy::Throughput,
                },
                "sorted by throughput",
            ),
            (Choice::Outage, "recent outage, tried last"),
        ];
        for (choice, want) in cases {
            assert_eq!(choice.to_string(), want);
        }
    }
}
