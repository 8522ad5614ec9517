//! The Gemini API dialect: `POST {base_url}/models/{model}:generateContent`,
//! `:streamGenerateContent?alt=sse` and `:batchEmbedContents`, with the key
//! in the `x-goog-api-key` header (never in the URL, so it cannot leak into
//! logs). `base_url` is the API root, e.g.
//! `https://generativelanguage.googleapis.com/v1beta`.
//!
//! This module does the HTTP; [`translate`] holds the pure translations and
//! documents every mapping rule.

pub mod translate;

use async_trait::async_trait;
use tollgate_schema::chat::ChatCompletion;
use tollgate_schema::completions::TextCompletion;
use tollgate_schema::embeddings::EmbeddingResponse;
use tollgate_schema::listing::ProviderListing;

use self::translate::stream::GeminiDecoder;
use crate::error::{ErrorKind, ProviderError};
use crate::http::HttpClient;
use crate::native::http::{Upstream, now_unix};
use crate::native::stream::{self, StreamContext};
use crate::provider::{ChatCall, ChunkStream, CompletionCall, EmbedCall, Provider};
use crate::settings::ProviderSettings;

/// An adapter for the Gemini API at `settings.base_url`.
///
/// `Debug` never shows the key.
#[derive(Debug, Clone)]
pub struct GeminiProvider {
    upstream: Upstream,
}

impl GeminiProvider {
    /// An adapter using `client` (shared by every provider).
    pub fn new(settings: ProviderSettings, client: HttpClient) -> Self {
        GeminiProvider {
            upstream: Upstream::new(
                settings,
                client,
                "x-goog-api-key",
                &[],
                translate::error_from_status,
            ),
        }
    }

    /// The provider's settings.
    pub fn settings(&self) -> &ProviderSettings {
        self.upstream.settings()
    }

    fn translate(&self, call: &ChatCall) -> Result<translate::Translated, ProviderError> {
        translate::generate_body(&call.request).map_err(|e| {
            e.into_provider_error(self.upstream.slug(), self.upstream.name())
                .with_byok(call.api_key.is_some())
        })
    }

    fn unsupported(&self, what: &str) -> ProviderError {
        self.upstream.error(
            ErrorKind::Unsupported,
            format!("the Gemini dialect has no {what}"),
        )
    }
}

#[async_trait]
impl Provider for GeminiProvider {
    fn slug(&self) -> &str {
        self.upstream.slug()
    }

    fn name(&self) -> &str {
        self.upstream.name()
    }

    fn dialect(&self) -> &'static str {
        "gemini"
    }

    fn supported_parameters(&self) -> &'static [&'static str] {
        translate::SUPPORTED_PARAMETERS
    }

    async fn chat(&self, call: ChatCall) -> Result<ChatCompletion, ProviderError> {
        let translated = self.translate(&call)?;
        let auth = self.upstream.auth(call.api_key.as_deref());
        let path = format!(
            "/{}:generateContent",
            translate::model_path(&call.upstream_model)
        );
        let body = self
            .upstream
            .post_json(&path, &translated.body, &auth, call.deadline)
            .await?;
        translate::chat_completion(
            self.upstream.slug(),
            self.upstream.name(),
            &body,
            &call.upstream_model,
            &translated.mode,
            now_unix(),
        )
        .map_err(|e| self.upstream.seal(e, &auth))
    }

    async fn chat_stream(&self, call: ChatCall) -> Result<ChunkStream, ProviderError> {
        let translated = self.translate(&call)?;
        let auth = self.upstream.auth(call.api_key.as_deref());
        let path = format!(
            "/{}:streamGenerateContent?alt=sse",
            translate::model_path(&call.upstream_model)
        );
        let body = self
            .upstream
            .post_stream(&path, translated.body, &auth, call.deadline)
            .await?;
        let decoder = GeminiDecoder::new(
            self.upstream.name(),
            translated.mode,
            now_unix(),
            &call.upstream_model,
        );
        let chunks = stream::chunk_stream(
            body,
            decoder,
            StreamContext {
                slug: self.upstream.slug().to_string(),
                name: self.upstream.name().to_string(),
                idle_timeout: self.upstream.idle_timeout(),
                byok: auth.byok,
            },
        );
        Ok(crate::redact::sealed_stream(chunks, auth.key))
    }

    /// Not offered: legacy completions are mapped onto chat by the gateway.
    async fn completion(&self, _call: CompletionCall) -> Result<TextCompletion, ProviderError> {
        Err(self.unsupported("legacy completions endpoint"))
    }

    async fn embed(&self, call: EmbedCall) -> Result<EmbeddingResponse, ProviderError> {
        let body = translate::embed_body(&call.request, &call.upstream_model).map_err(|e| {
            e.into_provider_error(self.upstream.slug(), self.upstream.name())
                .with_byok(call.api_key.is_some())
        })?;
        let auth = self.upstream.auth(call.api_key.as_deref());
        let path = format!(
            "/{}:batchEmbedContents",
            translate::model_path(&call.upstream_model)
        );
        let bytes = self
            .upstream
            .post_json(&path, &body, &auth, call.deadline)
            .await?;
        translate::embeddings(
            self.upstream.slug(),
            self.upstream.name(),
            &bytes,
            &call.request,
            &call.upstream_model,
        )
        .map_err(|e| self.upstream.seal(e, &auth))
    }

    /// Not offered: Gemini's model list has no prices, so the catalog takes
    /// a `models` listing file for this provider.
    async fn list_models(&self) -> Result<ProviderListing, ProviderError> {
        Err(self.unsupported("provider listing; give the provider a `models` file"))
    }
}
