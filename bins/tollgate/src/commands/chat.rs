//! `tollgate chat`: one prompt, or an interactive session with history.

use std::io::{BufRead, IsTerminal, Read, Write};

use futures::StreamExt;
use tollgate_schema::chat::{ChatRequest, Message, Role};
use tollgate_schema::client::Client;
use tollgate_schema::provider::ProviderPreferences;

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
        (Some(p), None) if !args.models.is_empty() => (Vec::new(), Some(p)),
        (m, p) => (m.into_iter().collect(), p),
    };
    models.extend(args.models.iter().cloned());
    if models.is_empty() {
        return Err(UsageError(String::from(
            "a MODEL is required: `tollgate chat MODEL PROMPT` or --model MODEL",
        ))
        .into());
    }
    let client = settings.client()?;
    let template = request(&args, &models);
    let mut history = Vec::new();
    if let Some(system) = &args.system {
        history.push(Message::text(Role::System, system.clone()));
    }
    match prompt {
        Some(p) => one_shot(&client, template, history, p, json).await,
        None if std::io::stdin().is_terminal() => {
            interactive(&client, template, history, &models[0], json).await
        }
        None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            if text.trim().is_empty() {
                return Err(UsageError(String::from(
                    "a PROMPT is required: give it as an argument, pipe it on stdin, or run in a terminal for an interactive chat",
                ))
                .into());
            }
            one_shot(&client, template, history, text.trim().to_string(), json).await
        }
    }
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
    stream_answer(client, &request, json).await?;
    Ok(())
}

/// Streams one answer to stdout (text, or one JSON chunk per line); the
/// answer's text.
async fn stream_answer(
    client: &Client,
    request: &ChatRequest,
    json: bool,
) -> anyhow::Result<String> {
    let mut stream = client.chat_stream(request).await?;
    let mut out = std::io::stdout().lock();
    let mut text = String::new();
    let mut failed = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                failed = Some(e);
                break;
            }
        };
        if json {
            writeln!(out, "{}", serde_json::to_string(&chunk)?)?;
            continue;
        }
        for c in &chunk.choices {
            if let Some(t) = &c.delta.content {
                write!(out, "{t}")?;
                out.flush()?;
                text.push_str(t);
            }
        }
    }
    if !json {
        // End the partial line before an error message goes to stderr.
        writeln!(out)?;
    }
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(text),
    }
}

async fn interactive(
    client: &Client,
    template: ChatRequest,
    system: Vec<Message>,
    model: &str,
    json: bool,
) -> anyhow::Result<()> {
    let mut history = system.clone();
    eprintln!(
        "{}",
        output::dim(&format!(
            "Chatting with {model}. /reset forgets the conversation, /exit or Ctrl-D leaves."
        ))
    );
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        eprint!("{} ", output::bold(">"));
        std::io::stderr().flush()?;
        let Some(line) = lines.next() else {
            eprintln!();
            return Ok(());
        };
        let line = line?;
        let line = line.trim();
        match line {
            "" => continue,
            "/exit" | "/quit" => return Ok(()),
            "/reset" => {
                history = system.clone();
                eprintln!("{}", output::dim("(conversation forgotten)"));
                continue;
            }
            _ => {}
        }
        history.push(Message::text(Role::User, line));
        let mut request = template.clone();
        request.messages = Some(history.clone());
        match stream_answer(client, &request, json).await {
            Ok(answer) => history.push(Message::text(Role::Assistant, answer)),
            Err(e) => {
                // The session goes on; the failed turn is forgotten.
                history.pop();
                eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            }
        }
    }
}
