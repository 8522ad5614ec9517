//! `tollgate models`, `endpoints` and `providers`.

use futures::StreamExt;
use rust_decimal::Decimal;
use tollgate_schema::client::Client;
use tollgate_schema::models::{Model, ModelList};

use crate::cli::{ModelSort, ModelsArgs};
use crate::config::Settings;
use crate::output::{self, per_million};

/// Whether `model` passes the filters that need no other request.
fn matches(m: &Model, args: &ModelsArgs) -> bool {
    let million = Decimal::from(1_000_000);
    if let Some(text) = &args.search {
        let text = text.to_lowercase();
        let hay = [&m.id, &m.name, &m.description];
        if !hay.iter().any(|h| h.to_lowercase().contains(&text)) {
            return false;
        }
    }
    if let Some(max) = args.max_prompt_price
        && m.pricing.prompt * million > max
    {
        return false;
    }
    if let Some(max) = args.max_completion_price
        && m.pricing.completion * million > max
    {
        return false;
    }
    if let Some(min) = args.min_context
        && m.context_length < min
    {
        return false;
    }
    if let Some(modality) = &args.modality {
        let a = &m.architecture;
        let want = modality.as_str();
        let has = a
            .input_modalities
            .iter()
            .chain(&a.output_modalities)
            .any(|x| x.eq_ignore_ascii_case(want));
        if !has {
            return false;
        }
    }
    true
}

/// Whether one of `model`'s endpoints is served by `provider` (slug, tag
/// or name).
async fn served_by(client: &Client, model: &str, provider: &str) -> anyhow::Result<bool> {
    let eps = client.endpoints(model).await?;
    let p = provider.to_lowercase();
    Ok(eps.data.endpoints.iter().any(|e| {
        let tag = e.tag.to_lowercase();
        tag == p || tag.split('/').next() == Some(&p) || e.provider_name.to_lowercase() == p
    }))
}

/// `tollgate models`.
pub async fn list(settings: &Settings, args: &ModelsArgs, json: bool) -> anyhow::Result<()> {
    let client = settings.client()?;
    let list = client.models().await?;
    let mut models: Vec<Model> = list.data.into_iter().filter(|m| matches(m, args)).collect();
    if let Some(provider) = &args.provider {
        let checks = futures::stream::iter(models.iter().map(|m| {
            let client = client.clone();
            let id = m.id.clone();
            async move { served_by(&client, &id, provider).await }
        }))
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
        let keep = checks.into_iter().collect::<anyhow::Result<Vec<bool>>>()?;
        let mut keep = keep.into_iter();
        models.retain(|_| keep.next().unwrap_or(false));
    }
    match args.sort {
        ModelSort::Id => models.sort_by(|a, b| a.id.cmp(&b.id)),
        ModelSort::Price => models.sort_by(|a, b| {
            (a.pricing.prompt, a.pricing.completion, &a.id).cmp(&(
                b.pricing.prompt,
                b.pricing.completion,
                &b.id,
            ))
        }),
        ModelSort::Context => models.sort_by(|a, b| {
            b.context_length
                .cmp(&a.context_length)
                .then(a.id.cmp(&b.id))
        }),
    }
    if json {
        return output::json(&ModelList {
            data: models,
            extra: Default::default(),
        });
    }
    let rows = models
        .iter()
        .map(|m| {
            vec![
                m.id.clone(),
                m.context_length.to_string(),
                per_million(m.pricing.prompt),
                per_million(m.pricing.completion),
            ]
        })
        .collect();
    output::print_table(
        &["MODEL", "CONTEXT", "PROMPT $/M", "COMPLETION $/M"],
        rows,
        &[1, 2, 3],
    )
}

/// `tollgate endpoints MODEL`.
pub async fn endpoints(settings: &Settings, model: &str, json: bool) -> anyhow::Result<()> {
    let list = settings.client()?.endpoints(model).await?;
    if json {
        return output::json(&list);
    }
    let rows = list
        .data
        .endpoints
        .iter()
        .map(|e| {
            let uptime = e
                .uptime_last_30m
                .map_or_else(|| String::from("-"), |u| format!("{u:.1}%"));
            let status = match e.status {
                Some(0) | None => String::from("ok"),
                Some(s) => s.to_string(),
            };
            vec![
                e.tag.clone(),
                e.provider_name.clone(),
                e.context_length.to_string(),
                per_million(e.pricing.prompt),
                per_million(e.pricing.completion),
                e.quantization.clone().unwrap_or_else(|| String::from("-")),
                status,
                uptime,
            ]
        })
        .collect();
    outln!(
        "{}",
        output::bold(&format!("{} ({})", list.data.name, list.data.id))
    )?;
    output::print_table(
        &[
            "PROVIDER",
            "NAME",
            "CONTEXT",
            "PROMPT $/M",
            "COMPLETION $/M",
            "QUANT",
            "STATUS",
            "UPTIME 30M",
        ],
        rows,
        &[2, 3, 4, 7],
    )
}

/// `tollgate providers`.
pub async fn providers(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let list = settings.client()?.providers().await?;
    if json {
        return output::json(&list);
    }
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| String::from("-"));
    let rows = list
        .data
        .iter()
        .map(|p| {
            vec![
                p.slug.clone(),
                p.name.clone(),
                dash(&p.headquarters),
                dash(&p.privacy_policy_url),
            ]
        })
        .collect();
    output::print_table(&["SLUG", "NAME", "HQ", "PRIVACY POLICY"], rows, &[])
}
