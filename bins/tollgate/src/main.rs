//! `tollgate`: the command-line client of an OpenRouter-compatible gateway.
//!
//! Thin: it parses flags and settings, calls the typed client
//! (`tollgate_schema::client`) and prints. Exit codes: 0 ok (also when
//! stdout's reader went away), 1 API, network or file error, 2 usage
//! error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

/// `println!` that returns the write's error instead of panicking on it
/// (a closed pipe is the common case: `tollgate models | head`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod cli;
mod commands;
mod config;
mod output;

use std::process::ExitCode;

use clap::Parser;
use tollgate_schema::client::ClientError;

use crate::cli::{Cli, Command};
use crate::config::Settings;

/// A mistake in how the command was called (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The command ran and reported a failure it already printed (exit 1, no
/// further message), e.g. an invalid listing.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

impl std::error::Error for Reported {}

/// A usage or configuration mistake the command already printed (exit 2,
/// no further message), e.g. every problem of a config file.
#[derive(Debug)]
pub struct ReportedUsage;

impl std::fmt::Display for ReportedUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("usage error")
    }
}

impl std::error::Error for ReportedUsage {}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout went away (`| head`): nothing is wrong.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if e.is::<Reported>() => ExitCode::from(1),
        Err(e) if e.is::<ReportedUsage>() => ExitCode::from(2),
        Err(e) => {
            // One line: a broken pipe or the like must not print a trace.
            let line = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {line}");
            if e.is::<UsageError>() || matches!(e.downcast_ref(), Some(ClientError::Config(_))) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Whether `e` is (caused by) a write to a closed pipe.
pub(crate) fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Adds what the error alone does not say: how many retries were made
/// before it, and, for a 404 from a base URL without `/api/v1`, that the
/// base URL is most likely wrong.
fn explain(e: anyhow::Error, settings: &Settings) -> anyhow::Error {
    let Some(client_error) = e.downcast_ref::<ClientError>() else {
        return e;
    };
    let mut notes = Vec::new();
    let retried = settings.retried.load(std::sync::atomic::Ordering::Relaxed);
    if retried > 0
        && matches!(
            client_error,
            ClientError::Api { .. } | ClientError::Http { .. }
        )
    {
        notes.push(format!(
            "after {retried} {}",
            if retried == 1 { "retry" } else { "retries" }
        ));
    }
    let base = settings.base_url.trim_end_matches('/');
    if matches!(client_error, ClientError::Api { status: 404, .. }) && !base.ends_with("/api/v1") {
        let suggested = match base.strip_suffix("/api") {
            Some(root) => format!("{root}/api/v1"),
            None => format!("{base}/api/v1"),
        };
        notes.push(format!(
            "hint: the base URL {base} does not end in /api/v1; did you mean --base-url {suggested}?"
        ));
    }
    if notes.is_empty() {
        return e;
    }
    anyhow::Error::new(Hinted(format!("{e:#} ({})", notes.join("; "))))
}

/// An error message with a hint added (exit 1).
#[derive(Debug)]
struct Hinted(String);

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Hinted {}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let json = cli.global.json;
    if let Command::Completions { shell } = cli.command {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        // Into a buffer: clap_complete panics when a write fails.
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cmd, "tollgate", &mut script);
        std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
        return Ok(());
    }
    if let Command::Catalog(c) = &cli.command {
        return commands::catalog::run(c, &cli.global).await;
    }
    if let Command::Login { no_verify } = cli.command {
        // Before the settings: the profile it writes may not exist yet.
        return commands::login::run(&cli.global, no_verify).await;
    }
    let settings = Settings::resolve(&cli.global)?;
    let result = dispatch(cli, &settings, json).await;
    result.map_err(|e| explain(e, &settings))
}

async fn dispatch(cli: Cli, settings: &Settings, json: bool) -> anyhow::Result<()> {
    match cli.command {
        Command::Chat(args) => commands::chat::run(settings, args, json).await,
        Command::Models(args) => commands::models::list(settings, &args, json).await,
        Command::Endpoints { model } => commands::models::endpoints(settings, &model, json).await,
        Command::Providers => commands::models::providers(settings, json).await,
        Command::Credits => commands::account::credits(settings, json).await,
        Command::Key => commands::account::key(settings, json).await,
        Command::Generation { id } => commands::account::generation(settings, &id, json).await,
        Command::Activity(args) => commands::account::activity(settings, &args, json).await,
        Command::Keys(args) => commands::keys::run(settings, args, json).await,
        Command::Admin(args) => commands::admin::run(settings, args, json).await,
        Command::Catalog(_) | Command::Completions { .. } | Command::Login { .. } => Ok(()),
    }
}
