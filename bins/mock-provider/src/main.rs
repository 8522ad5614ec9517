//! `mock-provider`: a standalone mock upstream model provider for demos,
//! benchmarks and SDK tests. All behaviour lives in `tollgate-testkit`; this
//! binary only parses flags, initialises tracing and waits for a signal.

#![allow(clippy::print_stdout)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use tokio::net::TcpListener;
use tollgate_testkit::{Dialect, Failure, MockConfig, MockServer};

/// A mock upstream model provider speaking a real provider wire dialect.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Wire dialect: `openai`, `anthropic` or `gemini`.
    #[arg(long, default_value = "openai")]
    dialect: Dialect,
    /// Name reported in the `x-mock-provider` header and model owners.
    #[arg(long, default_value = "mock")]
    name: String,
    /// Delay before response headers, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Delay before the first streamed token, in milliseconds.
    #[arg(long, default_value_t = 0)]
    ttft_ms: u64,
    /// Streaming speed (default: as fast as possible).
    #[arg(long)]
    tokens_per_second: Option<f64>,
    /// Answer every request with this HTTP status and an error body.
    #[arg(long)]
    fail_status: Option<u16>,
    /// Require this key, presented the dialect's way (OpenAI:
    /// `Authorization: Bearer <KEY>`; Anthropic: `x-api-key`; Gemini:
    /// `x-goog-api-key` or `?key=`).
    #[arg(long, env = "MOCK_PROVIDER_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// A model to serve (repeatable; default: accept any model).
    #[arg(long = "model")]
    models: Vec<String>,
    /// Refuse chat prompts longer than this many tokens with the dialect's
    /// context-length error (default: no limit).
    #[arg(long)]
    context_length: Option<u32>,
}

impl Cli {
    fn config(self) -> MockConfig {
        MockConfig {
            name: self.name,
            dialect: self.dialect,
            latency: Duration::from_millis(self.latency_ms),
            ttft: Duration::from_millis(self.ttft_ms),
            tokens_per_second: self.tokens_per_second,
            failure: self.fail_status.map(Failure::Status),
            api_key: self.api_key,
            models: self.models,
            // nobody can read recorded requests from outside: keep none
            max_recorded_requests: 0,
            context_length: self.context_length,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let listen = cli.listen;
    let config = cli.config();
    let dialect = config.dialect;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    // the base URL a provider configuration uses (see MockHandle::base_url)
    let base_path = dialect.base_path();
    println!("mock-provider ({dialect}) listening on http://{addr}{base_path}");
    std::io::stdout().flush()?;
    tracing::info!(%addr, %dialect, "mock provider ready");
    MockServer::serve(listener, config, shutdown_signal()).await?;
    tracing::info!("mock provider stopped");
    Ok(())
}

/// Completes on SIGINT or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received");
}
