//! The command line: every subcommand, flag and its help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use rust_decimal::Decimal;

/// Talk to a Tollgate (or any OpenRouter-compatible) gateway.
///
/// Where to connect and with which key, from the highest precedence down:
/// flags (--base-url, --api-key, ...), the environment (TOLLGATE_BASE_URL,
/// TOLLGATE_API_KEY, then OPENROUTER_API_KEY, TOLLGATE_PROVISIONING_KEY,
/// TOLLGATE_ADMIN_KEY), then the config file ~/.config/tollgate/config.toml
/// (keys base_url, api_key, provisioning_key, admin_key; `tollgate login`
/// writes them), whose [profiles.NAME] tables are chosen with --profile or
/// TOLLGATE_PROFILE. Without any base URL, a local gateway
/// (http://127.0.0.1:8080/api/v1) is assumed, or OpenRouter when the key
/// came from OPENROUTER_API_KEY.
///
/// Output is for humans (tables) unless --json is given. Exit codes: 0 ok
/// (also when the reader of stdout went away, e.g. `| head`), 1 API,
/// network or file error, 2 usage error.
///
/// Examples:
///   tollgate models --search gpt --max-prompt-price 1
///   tollgate chat mock/echo "Hello there"
///   tollgate chat --model openai/gpt-4o --model mock/echo "Fallbacks"
///   tollgate credits --json
#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about,
    long_about,
    max_term_width = 100,
    verbatim_doc_comment
)]
pub struct Cli {
    /// Connection and output options.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub struct Global {
    /// API base URL, including /api/v1.
    #[arg(long, global = true, env = "TOLLGATE_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// API key (also read from OPENROUTER_API_KEY).
    #[arg(long, global = true, env = "TOLLGATE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Config file [default: ~/.config/tollgate/config.toml]; for
    /// `catalog sync`, the gateway's tollgate.toml.
    #[arg(long, global = true, env = "TOLLGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON (the API's shapes) instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Total time for each request in seconds, retries and (for chat) the
    /// whole streamed answer included [default: none].
    #[arg(long, global = true, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
    /// Retries after a failed attempt (connection failure, timeout, 408,
    /// 429, 5xx; never once an answer has started). 0 disables them.
    #[arg(long, global = true, value_name = "N", default_value_t = 2)]
    pub retries: u32,
    /// The config file's profile to use ([profiles.NAME]) [default: its
    /// top-level keys].
    #[arg(long, global = true, env = "TOLLGATE_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Chat with a model: one prompt, or an interactive session
    ///
    /// With a PROMPT, the answer is streamed to the terminal. Without one,
    /// the prompt is read from stdin when it is piped, and an interactive
    /// session (with the conversation's history, line editing and input
    /// history) starts when stdin is a terminal or with --interactive
    /// (then each line of stdin is one turn). After each answer its
    /// tokens, cost and provider are shown on stderr. Lines starting with
    /// / are commands, never sent to the model:
    ///   /help         list the commands
    ///   /model NAME   talk to another model from now on
    ///   /reset        forget the conversation
    ///   /save FILE    write the conversation (JSON messages) to FILE
    ///   /exit         leave (also /quit or Ctrl-D)
    ///
    /// With --reasoning, the model's reasoning is shown on stderr (dimmed
    /// on a terminal, unless NO_COLOR is set) before its answer.
    ///
    /// Examples:
    ///   tollgate chat mock/echo "Hello"
    ///   tollgate chat mock/reasoner --reasoning high "Why is the sky blue?"
    ///   echo "Summarise this" | tollgate chat openai/gpt-4o
    ///   tollgate chat --model a/x --model b/y --provider-order openai,azure "Hi"
    #[command(verbatim_doc_comment)]
    Chat(ChatArgs),
    /// List and search the models the gateway serves
    ///
    /// Prices are in USD per million tokens.
    ///
    /// Examples:
    ///   tollgate models --search llama --min-context 100000
    ///   tollgate models --modality image --max-prompt-price 0.5
    ///   tollgate models --provider openai --json
    #[command(verbatim_doc_comment)]
    Models(ModelsArgs),
    /// Show the providers serving a model, with prices and health.
    Endpoints {
        /// The model id, e.g. openai/gpt-4o.
        model: String,
    },
    /// List the providers the gateway routes to.
    Providers,
    /// Show the account's credits and usage.
    Credits,
    /// Show the API key's limit and usage.
    Key,
    /// Manage API keys (needs a provisioning key).
    Keys(KeysArgs),
    /// Show one generation's record: cost, tokens, provider, timings.
    Generation {
        /// The generation id, gen-... (the id of a chat answer).
        id: String,
    },
    /// Show the account's usage per day (the last 30 days by default).
    Activity(ActivityArgs),
    /// Work with provider listings.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Operator commands: accounts and credits (needs the admin key).
    Admin(AdminArgs),
    /// Store a base URL and API key in the config file
    ///
    /// Writes base_url and api_key to the config file (created with mode
    /// 0600), at the top level or, with --profile NAME, in
    /// [profiles.NAME]. The key comes from --api-key (or
    /// TOLLGATE_API_KEY), else it is read from stdin (one line). It is
    /// checked against the server first (GET /key) unless --no-verify is
    /// given.
    ///
    /// Examples:
    ///   tollgate login --base-url https://gw.example.com/api/v1
    ///   tollgate login --profile work --base-url https://gw.example.com/api/v1
    ///   tollgate --profile work models
    #[command(verbatim_doc_comment)]
    Login {
        /// Store the key without checking it against the server.
        #[arg(long)]
        no_verify: bool,
    },
    /// Print a shell completion script.
    ///
    /// Example: tollgate completions bash > ~/.local/share/bash-completion/completions/tollgate
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `tollgate chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// The model id (or give it with --model).
    #[arg(value_name = "MODEL")]
    pub model_arg: Option<String>,
    /// The prompt.
    #[arg(value_name = "PROMPT")]
    pub prompt: Option<String>,
    /// A model; repeat for fallbacks, tried in order.
    #[arg(long = "model", short = 'm', value_name = "MODEL")]
    pub models: Vec<String>,
    /// A system prompt.
    #[arg(long, short = 's')]
    pub system: Option<String>,
    /// Try these providers first, in order (comma-separated slugs).
    #[arg(long, value_delimiter = ',', value_name = "SLUGS")]
    pub provider_order: Vec<String>,
    /// Use only these providers (comma-separated slugs).
    #[arg(long, value_delimiter = ',', value_name = "SLUGS")]
    pub provider_only: Vec<String>,
    /// Never use these providers (comma-separated slugs).
    #[arg(long, value_delimiter = ',', value_name = "SLUGS")]
    pub provider_ignore: Vec<String>,
    /// Do not fall back to other providers than the preferred ones.
    #[arg(long)]
    pub no_fallbacks: bool,
    /// Sampling temperature.
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Completion token cap.
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Ask the model to reason with this effort, and show its reasoning.
    #[arg(long, value_name = "EFFORT", value_parser = ["none", "minimal", "low", "medium", "high", "xhigh", "max"])]
    pub reasoning: Option<String>,
    /// An interactive session even when stdin is not a terminal (one
    /// line per turn; slash commands work).
    #[arg(long, short = 'i', conflicts_with = "prompt")]
    pub interactive: bool,
}

/// `tollgate models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Only models whose id, name or description contains TEXT.
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Only models whose prompt price is at most this (USD per million
    /// tokens).
    #[arg(long, value_name = "USD")]
    pub max_prompt_price: Option<Decimal>,
    /// Only models whose completion price is at most this (USD per
    /// million tokens).
    #[arg(long, value_name = "USD")]
    pub max_completion_price: Option<Decimal>,
    /// Only models with at least this context length (tokens).
    #[arg(long, value_name = "TOKENS")]
    pub min_context: Option<u64>,
    /// Only models taking (or producing) this modality.
    #[arg(long, value_enum, value_name = "MODALITY")]
    pub modality: Option<Modality>,
    /// Only models one of whose endpoints is served by this provider
    /// (slug or name; asks for every model's endpoints).
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Option<String>,
    /// Sort by price (prompt, cheapest first), context (largest first) or
    /// id.
    #[arg(long, value_enum, default_value = "id")]
    pub sort: ModelSort,
}

/// `models --modality`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Modality {
    /// Text.
    Text,
    /// Images.
    Image,
    /// Audio.
    Audio,
    /// Files (PDF and the like).
    File,
    /// Video.
    Video,
    /// Embeddings.
    Embeddings,
}

impl Modality {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::Text => "text",
            Modality::Image => "image",
            Modality::Audio => "audio",
            Modality::File => "file",
            Modality::Video => "video",
            Modality::Embeddings => "embeddings",
        }
    }
}

/// `models --sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelSort {
    /// By id.
    Id,
    /// Cheapest prompt price first.
    Price,
    /// Largest context first.
    Context,
}

/// `tollgate keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// The provisioning (management) key.
    #[arg(
        long,
        global = true,
        env = "TOLLGATE_PROVISIONING_KEY",
        hide_env_values = true
    )]
    pub provisioning_key: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// `tollgate keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the account's API keys.
    List {
        /// Include disabled keys.
        #[arg(long)]
        all: bool,
    },
    /// Create an API key; its secret is printed once.
    Create {
        /// The key's name.
        name: String,
        /// Spending limit in USD.
        #[arg(long)]
        limit: Option<Decimal>,
        /// When the limit resets: daily, weekly or monthly.
        #[arg(long, value_parser = ["daily", "weekly", "monthly"])]
        limit_reset: Option<String>,
        /// When the key stops working (RFC 3339, e.g. 2030-01-31T00:00:00Z).
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Show one key.
    Get {
        /// The key: its hash, a prefix of it, or its name (from `keys
        /// list`).
        #[arg(value_name = "KEY")]
        hash: String,
    },
    /// Change a key.
    Update {
        /// The key: its hash, a prefix of it, or its name.
        #[arg(value_name = "KEY")]
        hash: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// Disable the key.
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Enable the key.
        #[arg(long)]
        enable: bool,
        /// A new spending limit in USD.
        #[arg(long, conflicts_with = "no_limit")]
        limit: Option<Decimal>,
        /// Remove the spending limit.
        #[arg(long)]
        no_limit: bool,
        /// When the limit resets: daily, weekly, monthly or never.
        #[arg(long, value_parser = ["daily", "weekly", "monthly", "never"])]
        limit_reset: Option<String>,
    },
    /// Delete a key (it stops working at once)
    ///
    /// Asks for confirmation on a terminal; without a terminal, --yes is
    /// required.
    Delete {
        /// The key: its hash, a prefix of it, or its name.
        #[arg(value_name = "KEY")]
        hash: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// `tollgate activity`.
#[derive(Debug, Args)]
pub struct ActivityArgs {
    /// One UTC day, YYYY-MM-DD (default: the last 30 completed days).
    #[arg(long)]
    pub date: Option<String>,
    /// Only this key's activity (its hash).
    #[arg(long, value_name = "HASH")]
    pub key_hash: Option<String>,
    /// One line per day and model instead of per day.
    #[arg(long)]
    pub by_model: bool,
}

/// `tollgate catalog ...`.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Check a provider listing and report every problem with its location.
    ///
    /// Exit code 1 when the listing has problems.
    Validate {
        /// The listing (JSON, `{"data": [...]}`).
        file: PathBuf,
        /// The provider's slug, used in messages [default: the file's stem].
        #[arg(long)]
        provider: Option<String>,
    },
    /// Fetch providers' `models_url` listings, check them and write them
    ///
    /// Reads the [[providers]] tables of the gateway's config file
    /// (tollgate.toml, given with --config or TOLLGATE_CONFIG; its other
    /// sections are ignored) and GETs the `models_url` of every provider
    /// that has one, or of the providers named with --provider. When the
    /// provider has `api_key_env` and that variable is set, its value is
    /// sent as `Authorization: Bearer ...` (and never printed).
    ///
    /// Each listing is checked like `catalog validate` and written,
    /// pretty-printed, to the provider's `models` file when one is set
    /// (relative to the config file's directory), else to DIR/SLUG.json
    /// (DIR: --out-dir, or the config file's directory). A listing with
    /// problems is reported and never written: the file is replaced
    /// atomically, so the previous one stays as it was.
    ///
    /// Progress goes to stderr (a progress bar on a terminal, otherwise one
    /// line per provider), the summary to stdout. Exit codes: 0 every
    /// provider synced, 1 any failed (unreachable, HTTP error, invalid
    /// listing; the others are still written), 2 usage or config error.
    ///
    /// Examples:
    ///   tollgate catalog sync --config /etc/tollgate/tollgate.toml
    ///   tollgate catalog sync --config tollgate.toml --provider openai --dry-run
    ///   tollgate catalog sync --config tollgate.toml --out-dir listings --json
    #[command(verbatim_doc_comment)]
    Sync(SyncArgs),
}

/// `tollgate catalog sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Where listings of providers without a `models` file are written
    /// [default: the config file's directory].
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Only this provider (its slug); repeat for more.
    #[arg(long = "provider", value_name = "SLUG")]
    pub providers: Vec<String>,
    /// Fetch and check the listings, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `tollgate admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The gateway's admin key.
    #[arg(
        long,
        global = true,
        env = "TOLLGATE_ADMIN_KEY",
        hide_env_values = true
    )]
    pub admin_key: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// `tollgate admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Accounts.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Top up an account's credits.
    Credits {
        /// The account id, acct_...
        account: String,
        /// USD to add, e.g. 10 or 2.50.
        amount: Decimal,
        /// A note for the ledger.
        #[arg(long)]
        note: Option<String>,
    },
}

/// `tollgate admin accounts ...`.
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Create an account with a provisioning key and an API key (printed
    /// once).
    Create {
        /// The account's name.
        name: String,
    },
    /// List the accounts.
    List,
    /// Show one account and its balance.
    Get {
        /// The account id, acct_...
        id: String,
    },
}
