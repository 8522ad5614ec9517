//! The typed client: one chat answer, then the same question streamed.
//!
//! Run against `tollgated --dev` (or OpenRouter, with OPENROUTER_API_KEY):
//!
//! ```sh
//! TOLLGATE_BASE_URL=http://127.0.0.1:8080/api/v1 TOLLGATE_API_KEY=sk-tg-v1-... \
//!     cargo run --example typed_client -- mock/echo
//! ```

// An example prints its results.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

use futures::StreamExt;
use tollgate_schema::chat::{ChatRequest, Message, Role};
use tollgate_schema::client::{Client, ClientError};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mock/echo".into());
    // TOLLGATE_BASE_URL + TOLLGATE_API_KEY, or OPENROUTER_API_KEY.
    let client = Client::builder_from_env()?
        .title("typed_client example")
        .referer("https://example.invalid/typed_client")
        .build()?;

    let request = ChatRequest {
        model: Some(model),
        messages: Some(vec![
            Message::text(Role::System, "Answer in one sentence."),
            Message::text(Role::User, "What is a gateway?"),
        ]),
        ..ChatRequest::default()
    };

    // One answer.
    match client.chat(&request).await {
        Ok(answer) => {
            let text = answer
                .choices
                .first()
                .and_then(|c| c.message.content.clone())
                .unwrap_or_default();
            println!("{text}");
            if let Some(usage) = answer.usage {
                println!("({} tokens, cost {:?})", usage.total_tokens, usage.cost);
            }
        }
        // API errors carry the server's code, message and metadata.
        Err(e @ ClientError::Api { .. }) => {
            eprintln!("the API refused: {} ({:?})", e.message(), e.metadata());
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    }

    // The same, streamed: chunks as they come; an error chunk mid-stream
    // ends the stream with `ClientError::Stream`.
    let mut stream = client.chat_stream(&request).await?;
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        for choice in &chunk.choices {
            if let Some(text) = &choice.delta.content {
                write!(out, "{text}")?;
                out.flush()?;
            }
        }
        if let Some(usage) = chunk.usage {
            write!(out, "\n({} tokens)", usage.total_tokens)?;
        }
    }
    writeln!(out)?;
    Ok(())
}
