//! `tollgate chat`: one prompt, or an interactive session with history,
//! line editing and slash commands.

use std::io::{BufRead, IsTerminal, Read, Write};

use futures::StreamExt;
use rustyline::error::ReadlineError;
use tollgate_schema::chat::{ChatRequest, Message, ReasoningConfig, Role, UsageRequest};
use tollgate_schema::client::Client;
use tollgate_schema::provider::ProviderPreferences;
use tollgate_schema::usage::Usage;

use crate::UsageError;
use crate::cli::ChatArgs;
use crate::config::Settings;
use crate::output;

/// Runs `tollgate chat`.
pub async fn run(settings: &Settings, args: ChatArgs, json: bool) -> anyhow::Result<()> {
    // MODEL and PROMPT are positional; with --model, the one positional
    // given is the prompt.
    let (mut models, prompt) = match (args.model_arg.clone(), args.prompt.clone()) {
        (Some(m), Some(p)) => (vec![m], Some(p)),
        (Some(p), None) if !args.models.is_empty() && !args.interactive => (Vec::new(), Some(p)),
        (m, p) => (m.into_iter().collect(), p),
    };
    models.extend(args.models.iter().cloned());
    if models.is_empty() {
        return Err(UsageError(String::from(
            "a MODEL is required: `tollgate chat MODEL PROMPT` or --model MODEL",
        ))
        .into());
    }
    let template = request(&args, &models);
    let mut history = Vec::new();
    if let Some(system) = &args.system {
        history.push(Message::text(Role::System, system.clone()));
    }
    let terminal = std::io::stdin().is_terminal();
    let prompt = match prompt {
        Some(p) => p,
        None if terminal || args.interactive => {
            return Session {
                client: settings.keyed_client()?,
                template,
                system: history.clone(),
                history,
                json,
            }
            .run(terminal)
            .await;
        }
        None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            if text.trim().is_empty() {
                return Err(UsageError(String::from(
                    "a PROMPT is required: give it as an argument, pipe it on stdin, or run in a terminal (or with --interactive) for an interactive chat",
                ))
                .into());
            }
            text.trim().to_string()
        }
    };
    let client = settings.keyed_client()?;
    one_shot(&client, template, history, prompt, json).await
}

/// The request without its messages.
fn request(args: &ChatArgs, models: &[String]) -> ChatRequest {
    let list = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
    let provider = ProviderPreferences {
        order: list(&args.provider_order),
        only: list(&args.provider_only),
        ignore: list(&args.provider_ignore),
        allow_fallbacks: args.no_fallbacks.then_some(false),
        ..ProviderPreferences::default()
    };
    let provider = (provider != ProviderPreferences::default()).then_some(provider);
    ChatRequest {
        model: models.first().cloned(),
        models: (models.len() > 1).then(|| models.to_vec()),
        provider,
        temperature: args.temperature,
        max_tokens: args.max_tokens,
        reasoning: args.reasoning.as_ref().map(|effort| ReasoningConfig {
            effort: Some(effort.clone()),
            ..ReasoningConfig::default()
        }),
        // Tokens and cost in the final chunk, for the line after a reply.
        usage: Some(UsageRequest {
            include: Some(true),
            ..UsageRequest::default()
        }),
        ..ChatRequest::default()
    }
}

async fn one_shot(
    client: &Client,
    mut request: ChatRequest,
    mut messages: Vec<Message>,
    prompt: String,
    json: bool,
) -> anyhow::Result<()> {
    messages.push(Message::text(Role::User, prompt));
    request.messages = Some(messages);
    let answer = stream_answer(client, &request, json).await?;
    // The summary is for a person watching: not for a script's stderr.
    if !json && std::io::stderr().is_terminal() {
        eprintln!("{}", output::dim_err(&answer.summary()));
    }
    Ok(())
}

/// One streamed answer.
#[derive(Debug, Default)]
struct Answer {
    /// The answer's text.
    text: String,
    /// The final usage chunk's figures.
    usage: Option<Usage>,
    /// The provider that served it.
    provider: Option<String>,
    /// The generation id (`X-Generation-Id`, the chunks' `id`).
    id: String,
}

impl Answer {
    /// `12 prompt + 5 completion tokens · $0.000017 · Provider · gen-...`.
    fn summary(&self) -> String {
        let mut parts = Vec::new();
        match &self.usage {
            Some(u) => {
                parts.push(format!(
                    "{} prompt + {} completion tokens",
                    u.prompt_tokens, u.completion_tokens
                ));
                if let Some(cost) = u.cost {
                    parts.push(output::usd(cost));
                }
            }
            None => parts.push(String::from("no usage reported")),
        }
        if let Some(p) = &self.provider {
            parts.push(p.clone());
        }
        if !self.id.is_empty() {
            parts.push(self.id.clone());
        }
        format!("[{}]", parts.join(" · "))
    }
}

/// Streams one answer to stdout (text, or one JSON chunk per line);
/// reasoning goes to stderr, dimmed on a terminal.
async fn stream_answer(
    client: &Client,
    request: &ChatRequest,
    json: bool,
) -> anyhow::Result<Answer> {
    let mut stream = client.chat_stream(request).await?;
    let mut out = std::io::stdout().lock();
    let mut answer = Answer::default();
    let mut failed = None;
    let mut reasoning = false;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                failed = Some(e);
                break;
            }
        };
        if answer.id.is_empty() {
            answer.id = chunk.id.clone();
        }
        if chunk.provider.is_some() {
            answer.provider = chunk.provider.clone();
        }
        if let Some(usage) = &chunk.usage {
            answer.usage = Some(Usage::clone(usage));
        }
        if json {
            writeln!(out, "{}", serde_json::to_string(&chunk)?)?;
            continue;
        }
        for c in &chunk.choices {
            if let Some(r) = c.delta.reasoning.as_deref().filter(|r| !r.is_empty()) {
                eprint!("{}", output::dim_err(r));
                reasoning = true;
            }
            if let Some(t) = c.delta.content.as_deref().filter(|t| !t.is_empty()) {
                if reasoning {
                    // The reasoning is over: end its line.
                    eprintln!();
                    reasoning = false;
                }
                write!(out, "{t}")?;
                out.flush()?;
                answer.text.push_str(t);
            }
        }
    }
    if reasoning {
        eprintln!();
    }
    if !json {
        // End the partial line before an error message goes to stderr.
        writeln!(out)?;
    }
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(answer),
    }
}

/// Where the session's lines come from: an editor on a terminal, else
/// stdin's lines.
enum Input {
    /// Line editing and history.
    Editor(Box<rustyline::DefaultEditor>),
    /// One line per turn, for pipes and tests.
    Lines(std::io::Lines<std::io::StdinLock<'static>>),
}

impl Input {
    /// The next line; `None` at the end (Ctrl-D) or on Ctrl-C.
    fn next(&mut self) -> anyhow::Result<Option<String>> {
        match self {
            Input::Editor(ed) => match ed.readline("> ") {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        // A history entry that cannot be added is no loss.
                        let _ = ed.add_history_entry(line.as_str());
                    }
                    Ok(Some(line))
                }
                Err(ReadlineError::Eof | ReadlineError::Interrupted) => Ok(None),
                Err(e) => Err(e.into()),
            },
            Input::Lines(lines) => {
                eprint!("{} ", output::bold_err(">"));
                std::io::stderr().flush()?;
                match lines.next() {
                    Some(line) => Ok(Some(line?)),
                    None => {
                        eprintln!();
                        Ok(None)
                    }
                }
            }
        }
    }
}

const HELP: &str = "\
/help         this list
/model NAME   talk to NAME from now on
/reset        forget the conversation
/save FILE    write the conversation (JSON) to FILE
/exit         leave (also /quit or Ctrl-D)
A line starting with // is sent with one / removed.";

/// `$XDG_STATE_HOME/tollgate/chat_history`, else
/// `~/.local/state/tollgate/chat_history`: the prompts typed in sessions
/// on a terminal.
fn history_path() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/state"))
        })?;
    Some(base.join("tollgate").join("chat_history"))
}

/// An interactive session.
struct Session {
    client: Client,
    template: ChatRequest,
    /// The system prompt, kept across /reset.
    system: Vec<Message>,
    history: Vec<Message>,
    json: bool,
}

/// What a line asks for.
enum Line<'a> {
    /// Nothing (a blank line).
    Nothing,
    /// Send this to the model.
    Prompt(&'a str),
    /// A slash command and its argument.
    Command(&'a str, &'a str),
}

fn parse(line: &str) -> Line<'_> {
    let line = line.trim();
    if line.is_empty() {
        Line::Nothing
    } else if let Some(rest) = line.strip_prefix("//") {
        Line::Prompt(line.get(1..).filter(|_| !rest.is_empty()).unwrap_or(line))
    } else if let Some(cmd) = line.strip_prefix('/') {
        let (name, arg) = cmd.split_once(char::is_whitespace).unwrap_or((cmd, ""));
        Line::Command(name, arg.trim())
    } else {
        Line::Prompt(line)
    }
}

impl Session {
    async fn run(mut self, terminal: bool) -> anyhow::Result<()> {
        let model = self.template.model.clone().unwrap_or_default();
        eprintln!(
            "{}",
            output::dim_err(&format!(
                "Chatting with {model}. /help lists the commands, /exit or Ctrl-D leaves."
            ))
        );
        let history_file = history_path();
        let mut input = if terminal {
            let mut editor = rustyline::DefaultEditor::new()?;
            if let Some(path) = &history_file {
                // No history yet (or an unreadable one) is a fresh start.
                let _ = editor.load_history(path);
            }
            Input::Editor(Box::new(editor))
        } else {
            Input::Lines(std::io::stdin().lock().lines())
        };
        let result = self.lines(&mut input).await;
        if let (Input::Editor(editor), Some(path)) = (&mut input, &history_file) {
            // Kept for the next session (readable by its owner only); a
            // history that cannot be written is not worth failing for.
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = editor.save_history(path);
        }
        result
    }

    async fn lines(&mut self, input: &mut Input) -> anyhow::Result<()> {
        while let Some(line) = input.next()? {
            match parse(&line) {
                Line::Nothing => {}
                Line::Prompt(p) => self.turn(p).await?,
                Line::Command(name, arg) => {
                    if !self.command(name, arg)? {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs a slash command; false when the session ends.
    fn command(&mut self, name: &str, arg: &str) -> anyhow::Result<bool> {
        let note = |s: &str| eprintln!("{}", output::dim_err(s));
        match name {
            "exit" | "quit" => return Ok(false),
            "help" | "?" => note(HELP),
            "reset" => {
                self.history = self.system.clone();
                note("(conversation forgotten)");
            }
            "model" if arg.is_empty() => note(&format!(
                "(talking to {}; /model NAME changes it)",
                self.template.model.as_deref().unwrap_or("?")
            )),
            "model" => {
                self.template.model = Some(arg.to_string());
                self.template.models = None;
                note(&format!("(now talking to {arg})"));
            }
            "save" if arg.is_empty() => eprintln!("error: /save needs a FILE"),
            "save" => {
                let doc = serde_json::json!({
                    "model": self.template.model,
                    "messages": self.history,
                });
                let written = serde_json::to_vec_pretty(&doc)
                    .map_err(std::io::Error::other)
                    .and_then(|bytes| std::fs::write(arg, bytes));
                match written {
                    Ok(()) => note(&format!("(saved {} messages to {arg})", self.history.len())),
                    Err(e) => eprintln!("error: cannot write {arg}: {e}"),
                }
            }
            other => eprintln!("error: unknown command /{other}; /help lists them"),
        }
        Ok(true)
    }

    /// Sends `prompt` with the conversation so far and prints the answer.
    async fn turn(&mut self, prompt: &str) -> anyhow::Result<()> {
        self.history.push(Message::text(Role::User, prompt));
        let mut request = self.template.clone();
        request.messages = Some(self.history.clone());
        match stream_answer(&self.client, &request, self.json).await {
            Ok(answer) => {
                if !self.json {
                    eprintln!("{}", output::dim_err(&answer.summary()));
                }
                self.history
                    .push(Message::text(Role::Assistant, answer.text));
                Ok(())
            }
            // The reader of stdout went away: the session cannot go on.
            Err(e) if crate::broken_pipe(&e) => Err(e),
            Err(e) => {
                // The session goes on; the failed turn is forgotten.
                self.history.pop();
                eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_prompts_commands_or_escaped() {
        assert!(matches!(parse("  "), Line::Nothing));
        assert!(matches!(parse("hello"), Line::Prompt("hello")));
        assert!(matches!(
            parse("/model a/b "),
            Line::Command("model", "a/b")
        ));
        assert!(matches!(parse("/reset"), Line::Command("reset", "")));
        assert!(matches!(parse("//etc/hosts"), Line::Prompt("/etc/hosts")));
    }
}
