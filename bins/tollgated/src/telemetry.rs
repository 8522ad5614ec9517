//! `[telemetry]`: the daemon's spans exported over OTLP/HTTP (protobuf).
//!
//! A `tracing-opentelemetry` layer hands finished spans to a batch span
//! processor, whose own thread sends them to the collector; a request only
//! pushes its span into a bounded queue, and when the collector is slow or
//! down the queue fills and spans are dropped — requests never wait for it.
//!
//! The exporter's HTTP client is the workspace's reqwest, run on the
//! daemon's Tokio runtime ([`RuntimeClient`]): opentelemetry-otlp's own
//! clients would build a second reqwest major version, and its blocking one
//! a second runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tollgate_gateway::config::TelemetryConfig;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::registry::LookupSpan;

/// Bound on one export request (the OTLP default exporter timeout).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for the last spans to reach the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest collector answer read (they are a few bytes).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A running exporter: call [`Telemetry::shutdown`] once serving has ended
/// so the spans still queued are sent.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    /// Where the spans go.
    url: String,
}

/// The exporting layer and its handle, or `None` when `[telemetry]` sets no
/// endpoint and `OTEL_EXPORTER_OTLP_ENDPOINT` is unset. Must be called on
/// the Tokio runtime that will carry the exports.
pub fn start<S>(config: &TelemetryConfig) -> Result<Option<(impl Layer<S>, Telemetry)>>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let Some(url) = config.traces_url()? else {
        return Ok(None);
    };
    let client = RuntimeClient::new()?;
    let exporter = SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url.clone())
        .with_headers(config.headers.clone().into_iter().collect())
        .build()
        .with_context(|| {
            format!("telemetry.otlp_endpoint: cannot build the OTLP exporter for `{url}`")
        })?;
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sample_ratio,
        ))))
        .with_resource(resource)
        .build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("tollgated"))
        .with_filter(exported());
    Ok(Some((layer, Telemetry { provider, url })))
}

/// What is exported, whatever `RUST_LOG` keeps in the logs: spans and
/// events at info and above (the request span and what happens inside it),
/// but nothing from the exporter itself, which would feed on its own
/// exports.
fn exported() -> Targets {
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("opentelemetry", LevelFilter::OFF)
        .with_target(module_path!(), LevelFilter::OFF)
}

impl Telemetry {
    /// Logs where spans go, once tracing is installed (header names only:
    /// their values may be credentials).
    pub fn announce(&self, config: &TelemetryConfig) {
        tracing::info!(
            url = self.url,
            service_name = config.service_name,
            sample_ratio = config.sample_ratio,
            headers = ?config.headers.keys().collect::<Vec<_>>(),
            "exporting traces over OTLP/HTTP"
        );
    }

    /// Sends the spans still queued (bounded by [`FLUSH_TIMEOUT`]) and stops
    /// the exporter. The processor blocks while it flushes, and the export
    /// itself runs on this runtime: so off the runtime's workers.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let flushed =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT))
                .await;
        match flushed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the last spans were not exported to the OTLP collector")
            }
            Err(e) => tracing::warn!(error = %e, "the OTLP exporter did not shut down"),
        }
    }
}

/// The exporter's HTTP client: reqwest on the daemon's runtime. The batch
/// processor calls it from its own thread (no runtime there), so each
/// request is spawned onto the runtime and its result awaited through the
/// task handle.
#[derive(Debug)]
struct RuntimeClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    /// Whether the last export failed: the first failure is logged, then
    /// the recovery, not every retry of every batch.
    failing: AtomicBool,
}

impl RuntimeClient {
    fn new() -> Result<RuntimeClient> {
        let client = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("telemetry: building the OTLP HTTP client")?;
        let runtime = tokio::runtime::Handle::try_current()
            .context("telemetry: the exporter needs the Tokio runtime")?;
        Ok(RuntimeClient {
            client,
            runtime,
            failing: AtomicBool::new(false),
        })
    }

    /// Logs a change between exporting and failing.
    fn note(&self, failure: Option<&str>) {
        match failure {
            Some(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        error,
                        "OTLP export failing; spans are dropped until the collector answers"
                    );
                }
            }
            None => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("OTLP export recovered");
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        // A runtime shutting down cancels the task: an error, not a hang.
        let sent = self.runtime.spawn(async move {
            let mut resp = client.execute(request).await?;
            let mut answer = Response::builder().status(resp.status());
            if let Some(headers) = answer.headers_mut() {
                *headers = std::mem::take(resp.headers_mut());
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await? {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(HttpError::from(format!(
                        "the collector's answer exceeds {MAX_RESPONSE_BYTES} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, HttpError>(answer.body(Bytes::from(body))?)
        });
        let result = match sent.await {
            Ok(result) => result,
            Err(e) => Err(HttpError::from(e)),
        };
        match &result {
            Ok(resp) if resp.status().is_success() => self.note(None),
            Ok(resp) => self.note(Some(&format!("the collector answered {}", resp.status()))),
            Err(e) => self.note(Some(&causes(e.as_ref()))),
        }
        result
    }
}

/// An error and its causes on one line (reqwest's own message hides why a
/// connection failed).
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
