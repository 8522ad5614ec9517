//! `GET /generation` and `GET /activity`.

use chrono::{Duration, NaiveTime, Utc};
use serde_json::json;
use tollgate_store::{ApiType, GenerationAttempt, GenerationRecord};

use super::{bare, d, generation};
use crate::support::assert_error;

#[tokio::test]
async fn a_recorded_generation_is_returned_in_the_wire_shape() {
    let gw = bare().await;
    let id = "gen-1754000000-AbCdEfGhIjKlMnOpQrSt";
    let path = format!("/api/v1/generation?id={id}");
    // Not recorded yet: 404 (clients retry).
    let error = assert_error(&gw.get(&path, &gw.key).await, 404);
    assert_eq!(error["message"], format!("generation `{id}` not found"));
    assert_eq!(error["metadata"]["error_type"], "not_found");

    let created = chrono::DateTime::parse_from_rfc3339("2025-08-01T10:20:30.123456Z")
        .unwrap()
        .with_timezone(&Utc);
    let g = GenerationRecord {
        upstream_id: Some("chatcmpl-9".to_owned()),
        streamed: true,
        finish_reason: Some("length".to_owned()),
        native_finish_reason: Some("max_tokens".to_owned()),
        tokens_prompt: 12,
        tokens_completion: 34,
        native_tokens_prompt: Some(13),
        native_tokens_completion: Some(35),
        native_tokens_reasoning: Some(7),
        native_tokens_cached: Some(8),
        native_tokens_cache_write: Some(2),
        total_cost: d("0.000123"),
        upstream_inference_cost: Some(d("0.000123")),
        latency_ms: Some(150),
        generation_time_ms: Some(900),
        attempts: vec![
            GenerationAttempt {
                provider: "mock-beta".to_owned(),
                outcome: "503".to_owned(),
            },
            GenerationAttempt {
                provider: "mock-alpha".to_owned(),
                outcome: "ok".to_owned(),
            },
        ],
        transforms: Some(json!({"middle-out": {"removed": 2}})),
        request_id: Some("req-7".to_owned()),
        origin: Some("https://app.example/".to_owned()),
        app_title: Some("Example".to_owned()),
        external_user: Some("user-1".to_owned()),
        user_agent: Some("ai-sdk/5".to_owned()),
        ..generation(id, &gw.account, &gw.key_hash, created)
    };
    gw.store().record_generation(&g).await.unwrap();

    // Parsed from text: one `json!` of every field passes the macro's
    // recursion limit.
    let expected: crate::support::Value = serde_json::from_str(
        r#"{"data": {
        "id": "gen-1754000000-AbCdEfGhIjKlMnOpQrSt",
        "upstream_id": "chatcmpl-9",
        "total_cost": 0.000123,
        "cache_discount": null,
        "upstream_inference_cost": 0.000123,
        "usage": 0.000123,
        "created_at": "2025-08-01T10:20:30.123456Z",
        "model": "mock/echo",
        "app_id": null,
        "streamed": true,
        "cancelled": false,
        "provider_name": "Mock Alpha",
        "latency": 150,
        "moderation_latency": null,
        "generation_time": 900,
        "finish_reason": "length",
        "native_finish_reason": "max_tokens",
        "tokens_prompt": 12,
        "tokens_completion": 34,
        "native_tokens_prompt": 13,
        "native_tokens_completion": 35,
        "native_tokens_completion_images": null,
        "native_tokens_reasoning": 7,
        "native_tokens_cached": 8,
        "num_media_prompt": null,
        "num_input_audio_prompt": null,
        "num_media_completion": null,
        "num_search_results": null,
        "num_fetches": null,
        "origin": "https://app.example/",
        "is_byok": false,
        "api_type": "completions",
        "router": null,
        "external_user": "user-1",
        "http_referer": "https://app.example/",
        "user_agent": "ai-sdk/5",
        "preset_id": null,
        "provider_responses": null,
        "data_region": "global",
        "service_tier": null,
        "web_search_engine": null,
        "workspace_id": null,
        "request_id": "req-7",
        "session_id": null,
        "response_cache_source_id": null,
        "provider": "mock-alpha",
        "app_title": "Example",
        "native_tokens_cache_write": 2,
        "attempts": [
            {"provider": "mock-beta", "outcome": "503"},
            {"provider": "mock-alpha", "outcome": "ok"}
        ],
        "transforms": {"middle-out": {"removed": 2}},
        "error": null
    }}"#,
    )
    .unwrap();
    let reply = gw.get(&path, &gw.key).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.json(), expected);
    // Any key of the account.
    assert_eq!(gw.get(&path, &gw.prov).await.json(), expected);

    // Another account's keys cannot see it.
    let other = gw.other().await;
    assert_error(&gw.get(&path, &other.key).await, 404);
    assert_error(&gw.get(&path, &other.prov).await, 404);
}

#[tokio::test]
async fn a_minimal_generation_has_nulls_and_an_empty_origin() {
    let gw = bare().await;
    let g = GenerationRecord {
        finish_reason: None,
        native_finish_reason: None,
        native_tokens_prompt: None,
        native_tokens_completion: None,
        upstream_inference_cost: None,
        latency_ms: None,
        generation_time_ms: None,
        total_cost: d("0"),
        api_type: ApiType::Embeddings,
        is_byok: true,
        error: Some("all providers failed".to_owned()),
        ..generation("gen-min", &gw.account, &gw.key_hash, Utc::now())
    };
    gw.store().record_generation(&g).await.unwrap();
    let data = gw
        .get("/api/v1/generation?id=gen-min", &gw.key)
        .await
        .json()["data"]
        .clone();
    assert_eq!(data["total_cost"], json!(0.0));
    assert_eq!(data["upstream_inference_cost"], json!(null));
    assert_eq!(data["latency"], json!(null));
    assert_eq!(data["finish_reason"], json!(null));
    assert_eq!(data["origin"], json!(""));
    assert_eq!(data["http_referer"], json!(null));
    assert_eq!(data["api_type"], json!("embeddings"));
    assert_eq!(data["is_byok"], json!(true));
    assert_eq!(data["error"], json!("all providers failed"));
}

#[tokio::test]
async fn generation_needs_an_id() {
    let gw = bare().await;
    for path in [
        "/api/v1/generation",
        "/api/v1/generation?id=",
        "/api/v1/generation?id=%20",
        "/api/v1/generation?other=1",
    ] {
        let error = assert_error(&gw.get(path, &gw.key).await, 400);
        assert_eq!(error["metadata"]["field"], "id", "{path}");
        assert_eq!(
            error["message"],
            "`id` is required: the generation id, gen-..."
        );
    }
    assert_error(
        &gw.call(
            axum::http::Method::GET,
            "/api/v1/generation?id=gen-1",
            None,
            None,
        )
        .await,
        401,
    );
}

#[tokio::test]
async fn activity_sums_the_last_thirty_completed_days() {
    let gw = bare().await;
    let store = gw.store();
    let other = gw.other().await;
    let today = Utc::now().date_naive();
    let at = |days_ago: u64, h: u32| {
        (today - chrono::Days::new(days_ago))
            .and_time(NaiveTime::from_hms_opt(h, 0, 0).unwrap())
            .and_utc()
    };
    let (second, second_hash) = gw.key_with("second", Default::default()).await;
    let _ = second;
    let mut n = 0;
    let mut record = |g: GenerationRecord| {
        n += 1;
        GenerationRecord {
            id: format!("gen-{n}"),
            ..g
        }
    };
    let echo = |when, cost: &str, key: &str| GenerationRecord {
        total_cost: d(cost),
        native_tokens_reasoning: Some(1),
        ..generation("", &gw.account, key, when)
    };
    let records = [
        // Yesterday: two at alpha (one through the second key), one BYOK
        // at beta.
        record(echo(at(1, 1), "0.25", &gw.key_hash)),
        record(echo(at(1, 23), "0.5", &second_hash)),
        record(GenerationRecord {
            provider: "mock-beta".to_owned(),
            provider_name: "Mock Beta".to_owned(),
            is_byok: true,
            total_cost: d("0"),
            upstream_inference_cost: Some(d("2")),
            ..echo(at(1, 5), "0", &gw.key_hash)
        }),
        // Thirty days ago: the oldest day included.
        record(echo(at(30, 0), "1", &gw.key_hash)),
        // Thirty-one days ago and today: outside.
        record(echo(at(31, 23), "100", &gw.key_hash)),
        record(echo(at(0, 0), "100", &gw.key_hash)),
    ];
    for g in &records {
        store.record_generation(g).await.unwrap();
    }
    store
        .record_generation(&generation(
            "gen-theirs",
            &other.account,
            &other.key_hash,
            at(1, 2),
        ))
        .await
        .unwrap();

    let day = |days_ago: u64| {
        (today - chrono::Days::new(days_ago))
            .format("%Y-%m-%d")
            .to_string()
    };
    let row = |days_ago, provider: &str, name: &str, usage: f64, byok: f64, requests: u64| {
        json!({
            "date": day(days_ago),
            "model": "mock/echo",
            "model_permaslug": "mock/echo",
            "endpoint_id": format!("{provider}:mock/echo"),
            "provider_name": name,
            "usage": usage,
            "byok_usage_inference": byok,
            "requests": requests,
            "prompt_tokens": 10 * requests,
            "completion_tokens": 5 * requests,
            "reasoning_tokens": requests,
        })
    };
    let thirty = row(30, "mock-alpha", "Mock Alpha", 1.0, 0.0, 1);
    let alpha = row(1, "mock-alpha", "Mock Alpha", 0.75, 0.0, 2);
    let beta = row(1, "mock-beta", "Mock Beta", 0.0, 2.0, 1);

    // Both key kinds of the account see the same.
    for key in [&gw.key, &gw.prov] {
        let reply = gw.get("/api/v1/activity", key).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(
            reply.json(),
            json!({"data": [thirty.clone(), alpha.clone(), beta.clone()]})
        );
    }
    // One day.
    let one = gw
        .get(&format!("/api/v1/activity?date={}", day(1)), &gw.key)
        .await;
    assert_eq!(one.json(), json!({"data": [alpha.clone(), beta.clone()]}));
    // Today, on demand (partial), and an empty day.
    let today_only = gw
        .get(&format!("/api/v1/activity?date={}", day(0)), &gw.key)
        .await
        .json();
    assert_eq!(today_only["data"][0]["usage"], json!(100.0));
    let empty = gw
        .get(&format!("/api/v1/activity?date={}", day(2)), &gw.key)
        .await;
    assert_eq!(empty.json(), json!({"data": []}));
    // One key.
    let by_key = gw
        .get(
            &format!(
                "/api/v1/activity?date={}&api_key_hash={second_hash}",
                day(1)
            ),
            &gw.prov,
        )
        .await;
    assert_eq!(
        by_key.json(),
        json!({"data": [row(1, "mock-alpha", "Mock Alpha", 0.5, 0.0, 1)]})
    );
    // The other account sees only its own.
    let theirs = gw.get("/api/v1/activity", &other.key).await.json();
    assert_eq!(theirs["data"].as_array().unwrap().len(), 1);
    assert_eq!(theirs["data"][0]["usage"], json!(0.0001));

    let tomorrow = (today + Duration::days(1)).format("%Y-%m-%d").to_string();
    for bad in ["2025-13-01", "yesterday", "2025-1-1x", tomorrow.as_str()] {
        let error = assert_error(
            &gw.get(&format!("/api/v1/activity?date={bad}"), &gw.key)
                .await,
            400,
        );
        assert_eq!(error["metadata"]["field"], "date", "{bad}");
    }
}
