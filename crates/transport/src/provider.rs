//! The [`Provider`] trait every dialect adapter implements, and the calls it
//! takes.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::Stream;
use tollgate_schema::chat::{ChatChunk, ChatCompletion, ChatRequest};
use tollgate_schema::completions::{CompletionRequest, TextCompletion};
use tollgate_schema::embeddings::{EmbeddingRequest, EmbeddingResponse};
use tollgate_schema::listing::ProviderListing;

use crate::error::ProviderError;
use crate::settings::Redacted;

/// A streamed chat completion: chunks as they arrive, then at most one
/// error, then the end.
///
/// Lazy and cancellation-safe: nothing is read until polled, and dropping
/// the stream drops the upstream response, which closes its connection (how
/// a client disconnect cancels upstream work).
///
/// Chunks come boxed: a chunk is some hundreds of bytes, and the relay
/// moves each one through several layers of `Option` and `Result`; as a
/// pointer, those moves cost nothing (they were 15 % of a stream's CPU).
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Box<ChatChunk>, ProviderError>> + Send>>;

/// One model provider, reached through one dialect.
///
/// Object-safe: the gateway holds `Arc<dyn Provider>`.
#[async_trait]
pub trait Provider: Send + Sync + fmt::Debug {
    /// Routing id, e.g. `mock-alpha`.
    fn slug(&self) -> &str;

    /// Display name, e.g. `Mock Alpha`: goes in responses' `provider` field
    /// and in error metadata's `provider_name`.
    fn name(&self) -> &str;

    /// The wire dialect: `openai`, `anthropic` or `gemini`.
    fn dialect(&self) -> &'static str;

    /// Request parameters this adapter translates (the catalog intersects
    /// this with each listing's).
    fn supported_parameters(&self) -> &'static [&'static str];

    /// A non-streamed chat completion.
    async fn chat(&self, call: ChatCall) -> Result<ChatCompletion, ProviderError>;

    /// A streamed chat completion. `Ok` only once the upstream answered 2xx
    /// with an event stream; a failure before that (connect, timeout,
    /// non-2xx) is an `Err`, so the gateway can fail over before anything
    /// reached its client.
    async fn chat_stream(&self, call: ChatCall) -> Result<ChunkStream, ProviderError>;

    /// A legacy text completion (`/completions`), passed through.
    async fn completion(&self, call: CompletionCall) -> Result<TextCompletion, ProviderError>;

    /// Embeddings.
    async fn embed(&self, call: EmbedCall) -> Result<EmbeddingResponse, ProviderError>;

    /// The provider's models, in the provider listing format.
    async fn list_models(&self) -> Result<ProviderListing, ProviderError>;
}

/// One call of an endpoint: the request (`R` is the chat, legacy
/// completion or embeddings request) and how to make it.
///
/// `Debug` never shows the key.
#[derive(Clone)]
pub struct Call<R> {
    /// The provider's id for the model (`model` upstream).
    pub upstream_model: String,
    /// The request, already transformed by the gateway (middle-out, ...).
    /// A chat request's `stream` flag is ignored: [`Provider::chat`] and
    /// [`Provider::chat_stream`] decide.
    pub request: Arc<R>,
    /// The caller's own key (BYOK); `None` uses the provider's.
    pub api_key: Option<String>,
    /// The most time this call may take: the whole exchange for a
    /// non-streamed call, the wait for the response head for a stream (whose
    /// body is then bounded by the client's idle read timeout, so a long
    /// generation is not cut). The shorter of this and the provider's total
    /// timeout applies.
    pub deadline: Option<Duration>,
    /// The endpoint's largest completion (the catalog's
    /// `max_output_tokens`), when known. Dialects that must always send a
    /// completion cap (Anthropic's required `max_tokens`) bound their
    /// default and the request's cap by it; the others ignore it.
    pub max_output_tokens: Option<u32>,
}

/// A chat call for one endpoint.
pub type ChatCall = Call<ChatRequest>;
/// A legacy completion call for one endpoint (non-streamed).
pub type CompletionCall = Call<CompletionRequest>;
/// An embeddings call for one endpoint.
pub type EmbedCall = Call<EmbeddingRequest>;

impl<R> Call<R> {
    /// A call with no key override, no deadline and no known output cap.
    pub fn new(upstream_model: impl Into<String>, request: impl Into<Arc<R>>) -> Self {
        Call {
            upstream_model: upstream_model.into(),
            request: request.into(),
            api_key: None,
            deadline: None,
            max_output_tokens: None,
        }
    }

    /// Sets the endpoint's largest completion.
    pub fn with_max_output_tokens(mut self, max: u32) -> Self {
        self.max_output_tokens = Some(max);
        self
    }

    /// Uses the caller's own key.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sets the deadline.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }
}

impl<R: fmt::Debug> fmt::Debug for Call<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("upstream_model", &self.upstream_model)
            .field("request", &self.request)
            .field("api_key", &self.api_key.as_ref().map(|_| Redacted))
            .field("deadline", &self.deadline)
            .field("max_output_tokens", &self.max_output_tokens)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_debug_hides_the_key() {
        let call = ChatCall::new("m", ChatRequest::default()).with_api_key("sk-byok-secret");
        let dbg = format!("{call:?}");
        assert!(!dbg.contains("sk-byok-secret"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }

    #[test]
    fn provider_is_object_safe() {
        fn takes(_: Option<Arc<dyn Provider>>) {}
        takes(None);
    }
}
