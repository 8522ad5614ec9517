//! `tollgate catalog sync`: fetches the `models_url` listings of the
//! providers of a gateway config file (tollgate.toml), checks them and
//! writes them where the gateway reads listings from.
//!
//! The order of work: the config file is read and checked (exit 2 on any
//! problem, before any request), the listings are fetched concurrently and
//! checked, and each valid one is written atomically (a temporary file in
//! the destination's directory, then a rename), so a failed provider's file
//! is never touched. Results are reported in config order.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_catalog::{ListingErrors, ProviderConfig, validate_providers};
use tollgate_schema::client::excerpt;
use tollgate_schema::listing::ProviderListing;

use crate::cli::{Global, SyncArgs};
use crate::output;
use crate::{Reported, ReportedUsage, UsageError};

/// Request timeout when neither `--timeout` nor the provider's
/// `timeout_secs` says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest listing accepted (OpenRouter's whole catalog is a few MB).
const MAX_LISTING_BYTES: usize = 64 << 20;
/// Listings fetched at once.
const CONCURRENCY: usize = 8;

/// The part of tollgate.toml that sync reads: its other sections
/// (`[server]`, `[database]`, `[routing]`, ...) are ignored.
#[derive(Debug, Deserialize)]
struct GatewayFile {
    #[serde(default)]
    providers: Vec<ProviderConfig>,
}

/// One provider to sync.
#[derive(Debug)]
struct Job {
    slug: String,
    url: String,
    /// Where the listing is written.
    dest: PathBuf,
    /// The provider's key, from the variable its `api_key_env` names.
    key: Option<String>,
    /// The variable named by `api_key_env`, for messages.
    key_env: Option<String>,
    timeout: Duration,
}

/// What became of one provider.
#[derive(Debug)]
struct Outcome {
    slug: String,
    url: String,
    dest: PathBuf,
    result: Result<Synced, Failure>,
}

/// A provider whose listing was fetched and is valid.
#[derive(Debug)]
struct Synced {
    models: usize,
    change: Change,
}

/// What happened to the destination file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// It did not exist and was written.
    Created,
    /// It was replaced.
    Updated,
    /// It already held exactly this listing and was left alone.
    Unchanged,
    /// `--dry-run`: nothing was written.
    Checked,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Unchanged => "unchanged",
            Change::Checked => "checked",
        }
    }
}

/// Why a provider failed.
#[derive(Debug)]
enum Failure {
    /// No connection, or no answer in time.
    Unreachable(String),
    /// A non-2xx answer.
    Status(String),
    /// The body is not a valid listing.
    Invalid(ListingErrors),
    /// The listing could not be written.
    Write(String),
}

impl Failure {
    fn kind(&self) -> &'static str {
        match self {
            Failure::Unreachable(_) => "unreachable",
            Failure::Status(_) => "http_status",
            Failure::Invalid(_) => "invalid_listing",
            Failure::Write(_) => "write",
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::Unreachable(m) | Failure::Status(m) | Failure::Write(m) => m.clone(),
            Failure::Invalid(e) => {
                format!("invalid listing: {} problem{}", e.len(), plural(e.len()))
            }
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Runs `tollgate catalog sync`.
pub async fn run(args: &SyncArgs, global: &Global) -> anyhow::Result<()> {
    let Some(config_path) = &global.config else {
        return Err(UsageError(String::from(
            "catalog sync needs the gateway's config file: --config FILE (or TOLLGATE_CONFIG)",
        ))
        .into());
    };
    let providers = load_providers(config_path)?;
    let base_dir = config_path.parent().unwrap_or(Path::new(""));
    let jobs = select(
        &providers,
        config_path,
        base_dir,
        args,
        global.timeout.map(Duration::from_secs),
    )?;

    let http = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("tollgate-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the HTTP client: {e}"))?;

    let progress = Progress::new(jobs.len());
    let total = jobs.len();
    let mut outcomes = Vec::with_capacity(total);
    {
        let progress = &progress;
        let http = &http;
        let mut fetched = futures::stream::iter(jobs)
            .map(|job| async move {
                let body = fetch(http, &job).await;
                progress.fetched(&job.slug);
                (job, body)
            })
            .buffered(CONCURRENCY);
        while let Some((job, body)) = fetched.next().await {
            let outcome = finish(job, body, args.dry_run);
            progress.done(&outcome, outcomes.len() + 1, total);
            outcomes.push(outcome);
        }
    }
    progress.finish();

    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    if global.json {
        print_json(&outcomes, config_path, args.dry_run)?;
    } else {
        print_human(&outcomes, args.dry_run)?;
    }
    if failed == 0 {
        return Ok(());
    }
    let names: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match &o.result {
            Err(f) => Some(format!("{} ({})", o.slug, f.message())),
            Ok(_) => None,
        })
        .collect();
    eprintln!(
        "error: {failed} of {total} provider{} failed, {}; {}",
        plural(total),
        names.join(", "),
        if args.dry_run {
            "nothing was written (dry run)"
        } else {
            "their files were left untouched"
        }
    );
    Err(Reported.into())
}

// --- the config file -------------------------------------------------------

/// Reads the `[[providers]]` tables of a gateway config file and checks
/// them. A syntax or type error names the line, column and key; every
/// problem of the tables is printed (one `error:` line each).
fn load_providers(path: &Path) -> anyhow::Result<Vec<ProviderConfig>> {
    // Unreadable is an I/O error (exit 1); malformed a usage one (2).
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read config file {}: {}",
            path.display(),
            io_reason(&e)
        )
    })?;
    let file: GatewayFile = serde_path_to_error::deserialize(toml::Deserializer::new(&text))
        .map_err(|e| {
            let mut message = format!("config file {}", path.display());
            if let Some(span) = e.inner().span() {
                let (line, column) = line_column(&text, span.start);
                message.push_str(&format!(": line {line}, column {column}"));
            }
            let key = e.path().to_string();
            if key != "." {
                message.push_str(&format!(": key `{key}`"));
            }
            message.push_str(&format!(": {}", e.inner().message().trim()));
            UsageError(message)
        })?;
    // Sync is how a `models` file is filled from `models_url`, so a table
    // may name both here (the gateway itself wants exactly one).
    let mut check = file.providers.clone();
    for c in &mut check {
        if c.models_url.is_some() {
            c.models = None;
        }
    }
    if let Err(errors) = validate_providers(&check) {
        for p in &errors.problems {
            eprintln!("error: config file {}: {p}", path.display());
        }
        return Err(ReportedUsage.into());
    }
    Ok(file.providers)
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// An I/O error without Rust's `(os error 2)` suffix.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The providers to sync: those named with `--provider`, else every one
/// with a `models_url`.
fn select(
    providers: &[ProviderConfig],
    config_path: &Path,
    base_dir: &Path,
    args: &SyncArgs,
    timeout: Option<Duration>,
) -> Result<Vec<Job>, UsageError> {
    let chosen: Vec<&ProviderConfig> = if args.providers.is_empty() {
        let with_url: Vec<_> = providers
            .iter()
            .filter(|p| p.models_url.is_some())
            .collect();
        if with_url.is_empty() {
            return Err(UsageError(format!(
                "no provider in {} has a models_url: nothing to sync",
                config_path.display()
            )));
        }
        with_url
    } else {
        let mut chosen: Vec<&ProviderConfig> = Vec::new();
        for slug in &args.providers {
            let Some(p) = providers.iter().find(|p| &p.slug == slug) else {
                let known: Vec<&str> = providers.iter().map(|p| p.slug.as_str()).collect();
                return Err(UsageError(format!(
                    "no provider `{slug}` in {} (its providers: {})",
                    config_path.display(),
                    if known.is_empty() {
                        String::from("none")
                    } else {
                        known.join(", ")
                    }
                )));
            };
            if p.models_url.is_none() {
                return Err(UsageError(format!(
                    "provider `{slug}` in {} has no models_url (its listing is a local file): \
                     nothing to sync",
                    config_path.display()
                )));
            }
            if !chosen.iter().any(|c| c.slug == p.slug) {
                chosen.push(p);
            }
        }
        // In config order, whatever the order of the flags.
        providers
            .iter()
            .filter(|p| chosen.iter().any(|c| c.slug == p.slug))
            .collect()
    };

    let mut jobs: Vec<Job> = Vec::with_capacity(chosen.len());
    for p in chosen {
        let Some(url) = p.models_url.clone() else {
            continue;
        };
        let dest = destination(p, base_dir, args.out_dir.as_deref());
        if let Some(other) = jobs.iter().find(|j| j.dest == dest) {
            return Err(UsageError(format!(
                "providers `{}` and `{}` would both be written to {}: give one of them a \
                 `models` path",
                other.slug,
                p.slug,
                dest.display()
            )));
        }
        let key = p
            .api_key_env
            .as_deref()
            .and_then(|name| std::env::var(name).ok())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        jobs.push(Job {
            slug: p.slug.clone(),
            url,
            dest,
            key,
            key_env: p.api_key_env.clone(),
            timeout: timeout
                .or(p.timeout_secs.map(Duration::from_secs))
                .unwrap_or(DEFAULT_TIMEOUT),
        });
    }
    Ok(jobs)
}

/// The provider's `models` file (relative to the config file's directory),
/// else `DIR/SLUG.json`, a `/` in the slug written as `-`.
fn destination(p: &ProviderConfig, base_dir: &Path, out_dir: Option<&Path>) -> PathBuf {
    match p.models.as_ref().filter(|m| !m.as_os_str().is_empty()) {
        Some(m) if m.is_absolute() => m.clone(),
        Some(m) => base_dir.join(m),
        None => out_dir
            .unwrap_or(base_dir)
            .join(format!("{}.json", p.slug.replace('/', "-"))),
    }
}

// --- fetching and writing --------------------------------------------------

/// GETs the listing: its body, or why there is none.
async fn fetch(http: &reqwest::Client, job: &Job) -> Result<Vec<u8>, Failure> {
    let mut request = http
        .get(&job.url)
        .timeout(job.timeout)
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(key) = &job.key {
        request = request.bearer_auth(key);
    }
    let unreachable = |e: reqwest::Error| {
        Failure::Unreachable(if e.is_timeout() {
            format!(
                "no answer from {} within {}s",
                job.url,
                job.timeout.as_secs_f64()
            )
        } else {
            format!("cannot reach {}: {}", job.url, innermost(&e))
        })
    };
    let mut response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_LISTING_BYTES {
            return Err(Failure::Status(format!(
                "{} sent more than {} MiB; not a listing",
                job.url,
                MAX_LISTING_BYTES >> 20
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let mut message = format!("HTTP {status} from {}", job.url);
        if let Some(detail) = error_detail(&body, job.key.as_deref()) {
            message.push_str(&format!(": {detail}"));
        }
        if matches!(status.as_u16(), 401 | 403) && job.key.is_none() {
            match &job.key_env {
                Some(env) => message.push_str(&format!(" (no key sent: ${env} is not set)")),
                None => message.push_str(" (no key sent: the provider has no api_key_env)"),
            }
        }
        return Err(Failure::Status(message));
    }
    Ok(body)
}

/// The most specific cause of a transport error ("Connection refused"),
/// rather than reqwest's outer "error sending request for url (...)".
fn innermost(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let s = cause.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A short, single-line reason from an error body: `error.message` of an
/// OpenAI-style body, else the start of the text; the key, if the provider
/// echoes it, is masked.
fn error_detail(body: &[u8], key: Option<&str>) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let from_json = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error"))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let mut detail = from_json.unwrap_or_else(|| text.into_owned());
    if let Some(key) = key {
        detail = detail.replace(key, "***");
    }
    // An HTML page becomes its title (or its text), one short line.
    let detail = excerpt(&detail, 200);
    (!detail.is_empty()).then_some(detail)
}

/// Checks a fetched body and, unless `dry_run`, writes it.
fn finish(job: Job, body: Result<Vec<u8>, Failure>, dry_run: bool) -> Outcome {
    let result = body.and_then(|bytes| {
        let listing = tollgate_catalog::parse_listing(&job.slug, &job.url, &bytes)
            .map_err(Failure::Invalid)?;
        let models = listing.data.len();
        let change = if dry_run {
            Change::Checked
        } else {
            write_listing(&job.dest, &listing)
                .map_err(|e| Failure::Write(format!("cannot write {}: {e}", job.dest.display())))?
        };
        Ok(Synced { models, change })
    });
    Outcome {
        slug: job.slug,
        url: job.url,
        dest: job.dest,
        result,
    }
}

/// Writes `listing` pretty-printed to `dest` through a temporary file in
/// the same directory and a rename, so `dest` is either the old file or
/// the whole new one. A file that already holds exactly this text is left
/// alone; a replaced file keeps its permissions.
fn write_listing(dest: &Path, listing: &ProviderListing) -> Result<Change, String> {
    let mut text = serde_json::to_string_pretty(listing).map_err(|e| e.to_string())?;
    text.push('\n');
    let existed = match std::fs::read(dest) {
        Ok(old) if old == text.as_bytes() => return Ok(Change::Unchanged),
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) => dest.exists(),
    };
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| io_reason(&e))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| String::from("not a file name"))?;
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(dest) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, dest)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_reason(&e));
    }
    Ok(if existed {
        Change::Updated
    } else {
        Change::Created
    })
}

// --- progress --------------------------------------------------------------

/// Progress on stderr: a bar on a terminal, otherwise one line per
/// provider.
enum Progress {
    Bar(ProgressBar),
    Lines,
}

impl Progress {
    fn new(len: usize) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::Lines;
        }
        let style = ProgressStyle::with_template(
            "{spinner} fetching listings [{bar:30}] {pos}/{len} {wide_msg}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr())
            .with_style(style);
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress::Bar(bar)
    }

    /// A provider's answer arrived (in any order).
    fn fetched(&self, slug: &str) {
        if let Progress::Bar(bar) = self {
            bar.inc(1);
            bar.set_message(slug.to_string());
        }
    }

    /// A provider is done (in config order).
    fn done(&self, outcome: &Outcome, n: usize, total: usize) {
        if let Progress::Lines = self {
            let line = match &outcome.result {
                Ok(s) => match s.change {
                    Change::Checked => format!(
                        "[{n}/{total}] {}: {} model{}, valid (dry run, not written)",
                        outcome.slug,
                        s.models,
                        plural(s.models)
                    ),
                    Change::Unchanged => format!(
                        "[{n}/{total}] {}: {} model{}, {} unchanged",
                        outcome.slug,
                        s.models,
                        plural(s.models),
                        outcome.dest.display()
                    ),
                    Change::Created | Change::Updated => format!(
                        "[{n}/{total}] {}: {} model{}, written to {}",
                        outcome.slug,
                        s.models,
                        plural(s.models),
                        outcome.dest.display()
                    ),
                },
                Err(f) => format!("[{n}/{total}] {}: failed: {}", outcome.slug, f.message()),
            };
            eprintln!("{line}");
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

// --- the summary -------------------------------------------------------------

fn print_human(outcomes: &[Outcome], dry_run: bool) -> anyhow::Result<()> {
    let rows = outcomes
        .iter()
        .map(|o| match &o.result {
            Ok(s) => vec![
                o.slug.clone(),
                s.models.to_string(),
                s.change.as_str().to_string(),
                if dry_run {
                    format!("{} (not written)", o.dest.display())
                } else {
                    o.dest.display().to_string()
                },
            ],
            Err(f) => vec![
                o.slug.clone(),
                String::from("-"),
                String::from("failed"),
                f.message(),
            ],
        })
        .collect();
    output::print_table(&["PROVIDER", "MODELS", "STATUS", "FILE"], rows, &[1])?;
    let mut out = std::io::stdout().lock();
    let problems: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match &o.result {
            Err(Failure::Invalid(e)) => Some(e),
            _ => None,
        })
        .flatten()
        .collect();
    if !problems.is_empty() {
        writeln!(out)?;
        for p in problems {
            writeln!(out, "{p}")?;
        }
    }
    let synced: Vec<&Synced> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok())
        .collect();
    let models: usize = synced.iter().map(|s| s.models).sum();
    writeln!(
        out,
        "\n{} {} of {} provider{}, {models} model{}{}",
        if dry_run { "checked" } else { "synced" },
        synced.len(),
        outcomes.len(),
        plural(outcomes.len()),
        plural(models),
        if dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        },
    )?;
    Ok(())
}

fn print_json(outcomes: &[Outcome], config: &Path, dry_run: bool) -> anyhow::Result<()> {
    let providers: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            let (status, models, error, problems) = match &o.result {
                Ok(s) => (s.change.as_str(), Some(s.models), Value::Null, Vec::new()),
                Err(f) => (
                    "failed",
                    None,
                    json!({ "kind": f.kind(), "message": f.message() }),
                    match f {
                        Failure::Invalid(e) => super::catalog::problems_json(e),
                        _ => Vec::new(),
                    },
                ),
            };
            json!({
                "provider": o.slug,
                "url": o.url,
                "file": o.dest.display().to_string(),
                "status": status,
                "written": matches!(status, "created" | "updated"),
                "models": models,
                "error": error,
                "problems": problems,
            })
        })
        .collect();
    let synced = outcomes.iter().filter(|o| o.result.is_ok()).count();
    let models: usize = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok())
        .map(|s| s.models)
        .sum();
    output::json(&json!({
        "ok": synced == outcomes.len(),
        "dry_run": dry_run,
        "config": config.display().to_string(),
        "synced": synced,
        "failed": outcomes.len() - synced,
        "models": models,
        "providers": providers,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let text = "a = 1\nbé = x\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 11), (2, 5));
    }

    #[test]
    fn error_detail_prefers_the_message_and_masks_the_key() {
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-secret-123"}}"#;
        assert_eq!(
            error_detail(body, Some("sk-secret-123")).unwrap(),
            "Incorrect API key provided: ***"
        );
        assert_eq!(
            error_detail(b"  Bad\n gateway ", None).unwrap(),
            "Bad gateway"
        );
        assert_eq!(error_detail(b"", None), None);
        let long = "x".repeat(500);
        assert_eq!(
            error_detail(long.as_bytes(), None).unwrap().chars().count(),
            201
        );
    }

    #[test]
    fn destinations() {
        let p: ProviderConfig = toml::from_str(
            r#"
            slug = "deepinfra/fp8"
            name = "D"
            dialect = "openai"
            base_url = "https://x.example/v1"
            models_url = "https://x.example/v1/models"
            "#,
        )
        .unwrap();
        assert_eq!(
            destination(&p, Path::new("/etc/tg"), None),
            PathBuf::from("/etc/tg/deepinfra-fp8.json")
        );
        assert_eq!(
            destination(&p, Path::new("/etc/tg"), Some(Path::new("out"))),
            PathBuf::from("out/deepinfra-fp8.json")
        );
        let mut with_models = p.clone();
        with_models.models = Some("listings/d.json".into());
        assert_eq!(
            destination(&with_models, Path::new("/etc/tg"), Some(Path::new("out"))),
            PathBuf::from("/etc/tg/listings/d.json")
        );
    }
}
