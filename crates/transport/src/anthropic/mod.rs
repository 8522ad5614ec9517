//! The Anthropic Messages dialect (`POST {base_url}/messages`, key in
//! `x-api-key`, `anthropic-version: 2023-06-01`). `base_url` is the API
//! root, e.g. `https://api.anthropic.com/v1`.
//!
//! This module does the HTTP; [`translate`] holds the pure translations and
//! documents every mapping rule.

pub mod translate;

use async_trait::async_trait;
use tollgate_schema::chat::ChatCompletion;
use tollgate_schema::completions::TextCompletion;
use tollgate_schema::embeddings::EmbeddingResponse;
use tollgate_schema::listing::ProviderListing;

use self::translate::stream::AnthropicDecoder;
use crate::error::{ErrorKind, ProviderError};
use crate::http::HttpClient;
use crate::native::http::{Upstream, now_unix};
use crate::native::stream::{self, StreamContext};
use crate::provider::{ChatCall, ChunkStream, CompletionCall, EmbedCall, Provider};
use crate::settings::ProviderSettings;

/// An adapter for the Anthropic Messages API at `settings.base_url`.
///
/// `Debug` never shows the key.
#[derive(Debug, Clone)]
pub struct AnthropicProvider {
    upstream: Upstream,
}

const HEADERS: &[(&str, &str)] = &[("anthropic-version", translate::API_VERSION)];

impl AnthropicProvider {
    /// An adapter using `client` (shared by every provider).
    pub fn new(settings: ProviderSettings, client: HttpClient) -> Self {
        AnthropicProvider {
            upstream: Upstream::new(
                settings,
                client,
                "x-api-key",
                HEADERS,
                translate::error_from_status,
            ),
        }
    }

    /// The provider's settings.
    pub fn settings(&self) -> &ProviderSettings {
        self.upstream.settings()
    }

    fn translate(
        &self,
        call: &ChatCall,
        stream: bool,
    ) -> Result<translate::Translated, ProviderError> {
        translate::messages_body(
            &call.request,
            &call.upstream_model,
            stream,
            call.max_output_tokens,
        )
        .map_err(|e| {
            e.into_provider_error(self.upstream.slug(), self.upstream.name())
                .with_byok(call.api_key.is_some())
        })
    }

    fn unsupported(&self, what: &str) -> ProviderError {
        self.upstream.error(
            ErrorKind::Unsupported,
            format!("the Anthropic dialect has no {what}"),
        )
    }
}

#[async_trait]
impl Provider for AnthropicProvider {
    fn slug(&self) -> &str {
        self.upstream.slug()
    }

    fn name(&self) -> &str {
        self.upstream.name()
    }

    fn dialect(&self) -> &'static str {
        "anthropic"
    }

    fn supported_parameters(&self) -> &'static [&'static str] {
        translate::SUPPORTED_PARAMETERS
    }

    async fn chat(&self, call: ChatCall) -> Result<ChatCompletion, ProviderError> {
        let translated = self.translate(&call, false)?;
        let auth = self.upstream.auth(call.api_key.as_deref());
        let body = self
            .upstream
            .post_json("/messages", &translated.body, &auth, call.deadline)
            .await?;
        translate::chat_completion(
            self.upstream.slug(),
            self.upstream.name(),
            &body,
            &translated.mode,
            now_unix(),
        )
        .map_err(|e| self.upstream.seal(e, &auth))
    }

    async fn chat_stream(&self, call: ChatCall) -> Result<ChunkStream, ProviderError> {
        let translated = self.translate(&call, true)?;
        let auth = self.upstream.auth(call.api_key.as_deref());
        let body = self
            .upstream
            .post_stream("/messages", translated.body, &auth, call.deadline)
            .await?;
        let decoder = AnthropicDecoder::new(
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

    async fn embed(&self, _call: EmbedCall) -> Result<EmbeddingResponse, ProviderError> {
        Err(self.unsupported("embeddings"))
    }

    /// Not offered: Anthropic's model list has no prices or limits, so
    /// the catalog takes a `models` listing file for this provider.
    async fn list_models(&self) -> Result<ProviderListing, ProviderError> {
        Err(self.unsupported("provider listing; give the provider a `models` file"))
    }
}
