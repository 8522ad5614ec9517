//! The Models API (`models-api.txt`, `WIRE-NOTES.md` §3) built from the
//! catalog: `GET /models`, `GET /models/{author}/{slug}/endpoints` and
//! `GET /providers`.
//!
//! Aggregation rules for one model:
//!
//! * `context_length` and `top_provider` come from the **top endpoint**
//!   ([`CatalogModel::top_endpoint`]): the largest context window, then the
//!   largest completion, then the provider configured first. `is_moderated`
//!   is that endpoint's listing flag (the gateway then checks input with
//!   its `[moderation]` backend).
//! * `pricing` is the whole price list of the **cheapest endpoint** by
//!   `prompt + completion` ([`CatalogModel::cheapest_endpoint`]; ties go to
//!   the provider configured first), every price written as a decimal
//!   string, `"0"` when free or absent.
//! * `supported_parameters` is the union over the endpoints, sorted.
//! * `architecture.modality` is the inputs joined by `+`, `->`, the outputs
//!   joined by `+` (`"text+image->text"`), in canonical order;
//!   `architecture.tokenizer` is the tokenizer group clients know (`GPT` for
//!   `o200k`, see [`crate::vocab::tokenizer_group`]).
//! * `canonical_slug` is the id; `per_request_limits`, `default_parameters`
//!   and `supported_voices` are null; `links.details` points at the model's
//!   endpoints list under `/api/v1`.

use serde_json::{Value, json};
use tollgate_schema::Extra;
use tollgate_schema::models::{
    Architecture, Endpoint, EndpointList, Model, ModelEndpoints, ModelList, Percentiles, Pricing,
    ProviderList, ProviderSummary, TopProvider,
};

use crate::catalog::{Catalog, CatalogEndpoint, CatalogModel, EndpointPricing, ProviderEntry};
use crate::vocab::tokenizer_group;

/// Live health of one endpoint, filled in by the gateway from its health
/// tracker when it serves `GET /models/{author}/{slug}/endpoints`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointHealth {
    /// 0 when up; negative when degraded or down (`-1`, `-2`, `-3`, `-5`,
    /// `-10`).
    pub status: Option<i32>,
    /// Share of successful requests over the last 30 minutes (0 to 100).
    pub uptime_last_30m: Option<f64>,
    /// Same, last 5 minutes.
    pub uptime_last_5m: Option<f64>,
    /// Same, last day.
    pub uptime_last_1d: Option<f64>,
    /// Latency percentiles in ms over the last 30 minutes.
    pub latency_last_30m: Option<Percentiles>,
    /// Throughput percentiles in tokens/s over the last 30 minutes.
    pub throughput_last_30m: Option<Percentiles>,
}

impl EndpointPricing {
    /// The Models API price list: all eight prices, `"0"` when free.
    pub fn to_api(&self) -> Pricing {
        Pricing {
            prompt: self.prompt,
            completion: self.completion,
            request: Some(self.request),
            image: Some(self.image),
            web_search: Some(self.web_search),
            internal_reasoning: Some(self.internal_reasoning),
            input_cache_read: Some(self.input_cache_read),
            input_cache_write: Some(self.input_cache_write),
            extra: Extra::new(),
        }
    }
}

impl CatalogModel {
    /// `architecture` of the Models API.
    pub fn architecture(&self) -> Architecture {
        Architecture {
            modality: Some(format!(
                "{}->{}",
                self.input_modalities.join("+"),
                self.output_modalities.join("+")
            )),
            input_modalities: self.input_modalities.clone(),
            output_modalities: self.output_modalities.clone(),
            tokenizer: tokenizer_group(self.tokenizer.as_deref().unwrap_or("Other")).to_string(),
            instruct_type: self.instruct_type.clone(),
            extra: Extra::new(),
        }
    }

    /// This model as one entry of `GET /models` (rules in the module docs).
    pub fn to_api(&self) -> Model {
        let top = self.top_endpoint();
        let pricing = self
            .cheapest_endpoint()
            .map(|e| e.pricing.to_api())
            .unwrap_or_else(|| EndpointPricing::default().to_api());
        let mut extra = Extra::new();
        extra.insert("supported_voices".into(), Value::Null);
        extra.insert(
            "links".into(),
            json!({ "details": format!("/api/v1/models/{}/endpoints", self.id) }),
        );
        Model {
            id: self.id.clone(),
            canonical_slug: self.id.clone(),
            hugging_face_id: self.hugging_face_id.clone(),
            name: self.name.clone(),
            created: self.created,
            description: self.description.clone().unwrap_or_default(),
            context_length: top.map_or(0, |e| e.context_length),
            architecture: self.architecture(),
            pricing,
            top_provider: TopProvider {
                context_length: top.map(|e| e.context_length),
                max_completion_tokens: top.map(|e| e.max_output_tokens),
                is_moderated: top.is_some_and(|e| e.is_moderated),
                extra: Extra::new(),
            },
            per_request_limits: None,
            supported_parameters: self.supported_parameters().into_iter().collect(),
            default_parameters: None,
            extra,
        }
    }

    /// `GET /models/{author}/{slug}/endpoints` for this model, with `health`
    /// giving each endpoint's live status.
    pub fn endpoints_api_with(
        &self,
        mut health: impl FnMut(&CatalogEndpoint) -> EndpointHealth,
    ) -> EndpointList {
        EndpointList {
            data: ModelEndpoints {
                id: self.id.clone(),
                name: self.name.clone(),
                created: self.created,
                description: self.description.clone().unwrap_or_default(),
                architecture: self.architecture(),
                endpoints: self
                    .endpoints
                    .iter()
                    .map(|e| e.to_api(self, health(e)))
                    .collect(),
                extra: Extra::new(),
            },
        }
    }
}

impl CatalogEndpoint {
    /// This endpoint as the endpoints API shows it: name
    /// `"{provider name} | {model id}"`, tag = provider slug.
    pub fn to_api(&self, model: &CatalogModel, health: EndpointHealth) -> Endpoint {
        Endpoint {
            name: format!("{} | {}", self.provider_name, model.id),
            model_id: model.id.clone(),
            model_name: model.name.clone(),
            context_length: self.context_length,
            pricing: self.pricing.to_api(),
            provider_name: self.provider_name.clone(),
            tag: self.provider.clone(),
            quantization: Some(self.quantization.clone()),
            max_completion_tokens: Some(self.max_output_tokens),
            max_prompt_tokens: None,
            supported_parameters: self.supported_parameters.iter().cloned().collect(),
            status: health.status,
            uptime_last_30m: health.uptime_last_30m,
            uptime_last_5m: health.uptime_last_5m,
            uptime_last_1d: health.uptime_last_1d,
            supports_implicit_caching: false,
            latency_last_30m: health.latency_last_30m,
            throughput_last_30m: health.throughput_last_30m,
            extra: Extra::new(),
        }
    }
}

impl ProviderEntry {
    /// This provider as `GET /providers` shows it, with Tollgate's
    /// `data_collection`, `zdr` and `dialect` added.
    pub fn to_api(&self) -> ProviderSummary {
        let mut extra = Extra::new();
        extra.insert(
            "data_collection".into(),
            json!(self.data_collection.as_str()),
        );
        extra.insert("zdr".into(), json!(self.zdr));
        extra.insert("dialect".into(), json!(self.dialect.as_str()));
        ProviderSummary {
            name: self.name.clone(),
            slug: self.slug.clone(),
            privacy_policy_url: self.privacy_policy_url.clone(),
            terms_of_service_url: self.terms_of_service_url.clone(),
            status_page_url: self.status_page_url.clone(),
            headquarters: self.headquarters.clone(),
            datacenters: (!self.datacenters.is_empty()).then(|| self.datacenters.clone()),
            extra,
        }
    }
}

impl Catalog {
    /// `GET /models`: every model, sorted by id.
    pub fn models_api(&self) -> ModelList {
        ModelList {
            data: self.models().iter().map(CatalogModel::to_api).collect(),
            extra: Extra::new(),
        }
    }

    /// `GET /models/{author}/{slug}/endpoints` for the model with exactly
    /// this id, with no health data (`uptime_last_30m` null, no `status`).
    pub fn endpoints_api(&self, id: &str) -> Option<EndpointList> {
        self.endpoints_api_with(id, |_| EndpointHealth::default())
    }

    /// Like [`Catalog::endpoints_api`], with `health` giving each endpoint's
    /// live status (the endpoint names its provider and model).
    pub fn endpoints_api_with(
        &self,
        id: &str,
        health: impl FnMut(&CatalogEndpoint) -> EndpointHealth,
    ) -> Option<EndpointList> {
        self.model(id).map(|m| m.endpoints_api_with(health))
    }

    /// `GET /providers`: every configured provider, sorted by slug.
    pub fn providers_api(&self) -> ProviderList {
        let mut data: Vec<ProviderSummary> =
            self.providers().iter().map(ProviderEntry::to_api).collect();
        data.sort_by(|a, b| a.slug.cmp(&b.slug));
        ProviderList { data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn pricing_writes_every_price_as_a_string() {
        let p = EndpointPricing {
            prompt: Decimal::new(1, 6),
            completion: Decimal::new(2, 6),
            ..EndpointPricing::default()
        };
        assert_eq!(
            serde_json::to_value(p.to_api()).unwrap(),
            json!({
                "prompt": "0.000001", "completion": "0.000002", "request": "0", "image": "0",
                "web_search": "0", "internal_reasoning": "0", "input_cache_read": "0",
                "input_cache_write": "0"
            })
        );
    }

    #[test]
    fn modality_summary() {
        let m = CatalogModel {
            id: "a/b".into(),
            name: "B".into(),
            created: 0,
            description: None,
            hugging_face_id: None,
            input_modalities: vec!["text".into(), "image".into()],
            output_modalities: vec!["text".into()],
            tokenizer: None,
            instruct_type: None,
            endpoints: vec![],
        };
        let a = m.architecture();
        assert_eq!(a.modality.as_deref(), Some("text+image->text"));
        assert_eq!(a.tokenizer, "Other");
    }
}
