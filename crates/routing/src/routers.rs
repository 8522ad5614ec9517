//! `openrouter/auto` and `openrouter/free`: picking models from the
//! request's needs.
//!
//! A model is **eligible** when at least one of its endpoints passes every
//! filter of the request (provider preferences, input modalities, price
//! caps) with the request's *capability* parameters required, as if
//! `require_parameters` were set for them: `tools` needs a model with tool
//! calling, `response_format` one with JSON output, `reasoning` a reasoning
//! model, ... (sampling parameters are not required). Only models that
//! output text are considered, never the routers themselves. Models with an
//! endpoint whose context fits the prompt plus the completion reserve come
//! before those that would need the prompt compressed (the latter are
//! eligible only when the request allows compression).
//!
//! * `openrouter/auto`: with `Policy::auto_models` set, the first eligible
//!   model in that list (the operator's preference); otherwise among every
//!   model that is not entirely free (free tiers have low rate limits), the
//!   one with the lowest blended price at its cheapest eligible endpoint,
//!   then the largest context, then by id.
//! * `openrouter/free`: among models with a free endpoint (only free
//!   endpoints count), the largest context, then by id.
//!
//! The next `Policy::router_fallback_models` eligible models follow in the
//! plan as model fallbacks.

use std::cmp::Ordering;

use tollgate_catalog::{AUTO_ROUTER, Catalog, CatalogModel, FREE_ROUTER};

use crate::exclusion::{Exclusion, ExclusionReason};
use crate::route::{Ctx, Rules, exclusion};

struct Eligible<'a> {
    model: &'a CatalogModel,
    fits: bool,
    price: f64,
    context: u64,
    rank: usize,
}

fn is_router_id(id: &str) -> bool {
    let base = id.split(':').next().unwrap_or(id);
    base == AUTO_ROUTER || base == FREE_ROUTER
}

fn candidates<'a>(ctx: &Ctx<'a, '_>, catalog: &'a Catalog, rules: Rules) -> Vec<&'a CatalogModel> {
    let text = |m: &CatalogModel| m.output_modalities.iter().any(|o| o == "text");
    if rules.free_only {
        return catalog
            .models()
            .iter()
            .filter(|m| !is_router_id(&m.id) && text(m))
            .filter(|m| m.endpoints.iter().any(|e| e.is_free()))
            .collect();
    }
    if !ctx.policy.auto_models.is_empty() {
        return ctx
            .policy
            .auto_models
            .iter()
            .filter_map(|id| catalog.model(id))
            .filter(|m| !is_router_id(&m.id) && text(m))
            .collect();
    }
    catalog
        .models()
        .iter()
        .filter(|m| !is_router_id(&m.id) && text(m) && !m.is_free())
        .collect()
}

/// The models a router picks, best first: the choice, then up to
/// `router_fallback_models` fallbacks. When none is eligible, every
/// candidate endpoint's exclusion goes to `excluded`.
pub(crate) fn pick<'a>(
    ctx: &Ctx<'a, '_>,
    catalog: &'a Catalog,
    rules: Rules,
    excluded: &mut Vec<Exclusion<'a>>,
) -> Vec<&'a CatalogModel> {
    let models = candidates(ctx, catalog, rules);
    let mut eligible: Vec<Eligible<'a>> = Vec::new();
    for (rank, model) in models.iter().enumerate() {
        let health = ctx.health.model(&model.id);
        let mut best: Option<Eligible<'a>> = None;
        for e in &model.endpoints {
            let h = health.and_then(|m| m.get(&e.provider));
            if ctx.check(e, rules, h).is_some() {
                continue;
            }
            let fits = ctx.needed(e) <= e.context_length;
            let this = Eligible {
                model,
                fits,
                price: ctx.mix.blended(&e.pricing),
                context: e.context_length,
                rank,
            };
            best = Some(match best {
                None => this,
                Some(b) => Eligible {
                    fits: b.fits || this.fits,
                    price: b.price.min(this.price),
                    context: b.context.max(this.context),
                    ..b
                },
            });
        }
        if let Some(b) = best
            && (b.fits || ctx.req.compressible)
        {
            eligible.push(b);
        }
    }
    let operator_order = !rules.free_only && !ctx.policy.auto_models.is_empty();
    eligible.sort_by(|a, b| {
        let fit = b.fits.cmp(&a.fits);
        let rest = if operator_order {
            a.rank.cmp(&b.rank)
        } else if rules.free_only {
            b.context.cmp(&a.context).then(a.model.id.cmp(&b.model.id))
        } else {
            a.price
                .total_cmp(&b.price)
                .then(b.context.cmp(&a.context))
                .then(a.model.id.cmp(&b.model.id))
        };
        fit.then(rest).then(Ordering::Equal)
    });
    if eligible.is_empty() {
        for model in models {
            let health = ctx.health.model(&model.id);
            for e in &model.endpoints {
                let h = health.and_then(|m| m.get(&e.provider));
                let reason = ctx
                    .check(e, rules, h)
                    .unwrap_or(ExclusionReason::ContextTooSmall {
                        needed: ctx.needed(e),
                        available: e.context_length,
                    });
                excluded.push(exclusion(e, reason));
            }
        }
    }
    eligible
        .into_iter()
        .take(1 + ctx.policy.router_fallback_models)
        .map(|e| e.model)
        .collect()
}
