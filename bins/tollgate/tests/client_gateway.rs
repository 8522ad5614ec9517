//! The typed client (`tollgate_schema::client`) against the real gateway:
//! the `--dev` demo environment served in-process on `127.0.0.1:0`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::StreamExt;
use rust_decimal::Decimal;
use tollgate_gateway::dev::DevEnvironment;
use tollgate_schema::chat::{ChatRequest, Message, Role};
use tollgate_schema::client::types::{ActivityQuery, AuthKeysRequest, KeyUpdate, ListKeys, NewKey};
use tollgate_schema::client::{Client, ClientError};
use tollgate_schema::completions::{CompletionRequest, Prompt};

struct Served {
    api: String,
    env: DevEnvironment,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn serve() -> Served {
    let env = DevEnvironment::start(None).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let gateway = env.gateway.clone();
    tokio::spawn(async move {
        let _ = tollgate_gateway::serve(listener, gateway, async move {
            let _ = rx.await;
        })
        .await;
    });
    Served {
        api,
        env,
        _stop: stop,
    }
}

fn client(api: &str, key: &str) -> Client {
    Client::builder()
        .base_url(api)
        .api_key(key)
        .title("client-gateway-test")
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn hello(text: &str) -> ChatRequest {
    ChatRequest {
        model: Some("mock/echo".into()),
        messages: Some(vec![Message::text(Role::User, text)]),
        ..ChatRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_against_the_dev_gateway() {
    let s = serve().await;
    let c = client(&s.api, &s.env.api_key);

    let answer = c.chat(&hello("typed")).await.unwrap();
    assert_eq!(
        answer.choices[0].message.content.as_deref(),
        Some("echo: typed")
    );

    let mut stream = c.chat_stream(&hello("streamed")).await.unwrap();
    let mut text = String::new();
    let mut id = String::new();
    let mut usage = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        id.clone_from(&chunk.id);
        text.extend(chunk.choices.iter().filter_map(|c| c.delta.content.clone()));
        usage = usage.or(chunk.usage);
    }
    assert_eq!(text, "echo: streamed");
    assert!(usage.unwrap().total_tokens > 0);

    let completion = c
        .completions(&CompletionRequest {
            model: Some("mock/echo".into()),
            prompt: Prompt::Text("legacy".into()),
            ..serde_json::from_value(serde_json::json!({"prompt": ""})).unwrap()
        })
        .await
        .unwrap();
    assert!(
        completion.choices[0].text.contains("legacy"),
        "{completion:?}"
    );

    let models = c.models().await.unwrap();
    assert!(models.data.iter().any(|m| m.id == "mock/echo"));
    let eps = c.endpoints("mock/echo").await.unwrap();
    assert!(!eps.data.endpoints.is_empty());
    assert!(!c.providers().await.unwrap().data.is_empty());

    let credits = c.credits().await.unwrap();
    assert_eq!(credits.total_credits, Decimal::from(100));
    let key = c.key().await.unwrap();
    assert!(!key.is_provisioning_key);

    // The generation is recorded a moment after the stream ends.
    let mut generation = None;
    for _ in 0..50 {
        match c.generation(&id).await {
            Ok(g) => {
                generation = Some(g);
                break;
            }
            Err(e) if e.status() == Some(404) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let g = generation.expect("recorded");
    assert_eq!(g.model, "mock/echo");
    assert_eq!(g.streamed, Some(true));
    let rows = c
        .activity(&ActivityQuery {
            date: Some(g.created_at[..10].to_string()),
            ..ActivityQuery::default()
        })
        .await
        .unwrap();
    assert!(
        rows.iter().map(|r| r.requests).sum::<u64>() >= 1,
        "{rows:?}"
    );

    // Keys, with a provisioning key from the admin API.
    let created = c
        .admin_create_account(&s.env.admin_key, "typed")
        .await
        .unwrap();
    let prov = client(&s.api, &created.provisioning_key);
    let new = prov
        .keys_create(&NewKey {
            name: "typed-key".into(),
            limit: Some(Decimal::from(3)),
            ..NewKey::default()
        })
        .await
        .unwrap();
    assert_eq!(new.data.limit, Some(Decimal::from(3)));
    let listed = prov.keys_list(&ListKeys::default()).await.unwrap();
    assert_eq!(listed.len(), 2);
    let updated = prov
        .keys_update(
            &new.data.hash,
            &KeyUpdate {
                limit: Some(None),
                ..KeyUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.limit, None);
    assert_eq!(
        prov.keys_get(&new.data.hash).await.unwrap().name,
        "typed-key"
    );
    assert!(prov.keys_delete(&new.data.hash).await.unwrap().deleted);
    let top_up = c
        .admin_add_credits(&s.env.admin_key, &created.data.id, Decimal::from(5), None)
        .await
        .unwrap();
    assert_eq!(top_up.balance.total_credits, Decimal::from(5));
    assert!(
        c.admin_accounts(&s.env.admin_key)
            .await
            .unwrap()
            .iter()
            .any(|a| a.id == created.data.id)
    );

    // A bogus PKCE code is a typed 403.
    let e = Client::builder()
        .base_url(&s.api)
        .build()
        .unwrap()
        .auth_keys(&AuthKeysRequest {
            code: "nope".into(),
            ..AuthKeysRequest::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Api { status: 403, .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_errors_are_typed() {
    let s = serve().await;
    let e = client(&s.api, "sk-tg-v1-wrong")
        .credits()
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert!(!e.is_retryable());
    let c = client(&s.api, &s.env.api_key);
    let mut req = hello("x");
    req.model = Some("acme/nonexistent".into());
    let e = match c.chat_stream(&req).await {
        Ok(_) => panic!("an unknown model streamed"),
        Err(e) => e,
    };
    assert!(e.message().contains("acme/nonexistent"), "{e}");
    assert!(matches!(e, ClientError::Api { .. }), "{e:?}");
}
