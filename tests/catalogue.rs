//! The catalogue's providers and pool against loopback servers: Mistral's wire format and
//! error shapes, and an LLM pool recording which model answered each row.

#[path = "support/canned_llm.rs"]
#[allow(dead_code)]
mod canned_llm;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use distil::llm::{GenerationParams, Llm, LlmPool, Mistral, OpenAi, Prompt};
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;
use distil::tasks::PooledGeneration;
use serde_json::json;

type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// A Mistral-like server: the status and body to answer with, and what it was sent.
async fn mistral_server(status: StatusCode, answer: Value) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            "/v1/chat/completions",
            post(
                move |State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>| {
                    let answer = answer.clone();
                    async move {
                        let auth = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(ToOwned::to_owned);
                        seen.lock().unwrap().push((auth, body));
                        (status, Json(answer))
                    }
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), seen)
}

fn mistral(url: &str) -> Mistral {
    Mistral::new("mistral-large-latest")
        .base_url(url)
        .api_key("mistral-secret")
        .no_proxy()
}

#[tokio::test]
async fn mistral_sends_openai_bodies_with_random_seed_and_reads_the_answer() {
    let answer = json!({
        "id": "cmpl-1", "object": "chat.completion", "model": "mistral-large-latest",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Bonjour"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    });
    let (url, seen) = mistral_server(StatusCode::OK, answer).await;
    let params = GenerationParams {
        seed: Some(7),
        temperature: Some(0.3),
        ..Default::default()
    };
    let generations = mistral(&url)
        .generate(&Prompt::from("Say hello in French"), &params)
        .await
        .unwrap();
    assert_eq!(generations.choices[0].text.as_deref(), Some("Bonjour"));
    assert_eq!(
        (generations.input_tokens, generations.output_tokens),
        (Some(7), Some(2))
    );
    let (auth, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(auth.as_deref(), Some("Bearer mistral-secret"));
    assert_eq!(body["model"], "mistral-large-latest");
    assert_eq!(body["random_seed"], 7);
    assert!(body.get("seed").is_none(), "{body}");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "Say hello in French"}])
    );
}

#[tokio::test]
async fn mistral_errors_are_read_from_its_shapes() {
    // 401: `{"message": .., "request_id": ..}` stops the run and never echoes the key.
    let (url, _) = mistral_server(
        StatusCode::UNAUTHORIZED,
        json!({"message": "Unauthorized", "request_id": "r1"}),
    )
    .await;
    let error = mistral(&url)
        .generate(&Prompt::from("hi"), &GenerationParams::default())
        .await
        .unwrap_err();
    assert!(error.is_fatal());
    assert!(
        error
            .message()
            .contains("Mistral rejected the request with HTTP 401: Unauthorized"),
        "{}",
        error.message()
    );
    assert!(!error.message().contains("mistral-secret"));
    // 422: `{"object": "error", "message": {"detail": [..]}, "type": ..}` fails the row.
    let (url, _) = mistral_server(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"object": "error", "message": {"detail": [{"loc": ["body", "temperature"], "msg": "must be <= 1.5"}]}, "type": "invalid_request_message_error"}),
    )
    .await;
    let error = mistral(&url)
        .generate(&Prompt::from("hi"), &GenerationParams::default())
        .await
        .unwrap_err();
    assert!(!error.is_fatal());
    assert!(
        error.message().contains("HTTP 422") && error.message().contains("must be <= 1.5"),
        "{}",
        error.message()
    );
    // Raw-text prompts have no endpoint at Mistral: the row fails before any request.
    let error = mistral(&url)
        .generate(&Prompt::Text("hi".into()), &GenerationParams::default())
        .await
        .unwrap_err();
    assert!(error.message().contains("chat prompts only"));
}

#[derive(Row, Clone)]
struct Seed {
    instruction: String,
}

#[tokio::test]
async fn a_pool_spreads_rows_and_each_row_names_the_model_that_answered() {
    let server = canned_llm::CannedLlm::start().await;
    let member =
        |m: &str| -> Arc<dyn Llm> { Arc::new(OpenAi::new(m).base_url(&server.v1).no_proxy()) };
    let pool = LlmPool::new(vec![member("model-a"), member("model-b")]);
    let rows: Vec<Seed> = (0..6)
        .map(|i| Seed {
            instruction: format!("question {i}"),
        })
        .collect();
    let mut pipeline = Pipeline::new("pool");
    pipeline.add("load", LoadDataFromDicts::new(rows));
    pipeline.add("generate", PooledGeneration::new(pool));
    pipeline.connect("load", "generate");
    let distiset = pipeline.run().await.unwrap();
    let rows = distiset.default_config().unwrap();
    assert_eq!(rows.len(), 6);
    let mut a = 0;
    for row in rows.rows() {
        let model = row["generation_model"].as_str().unwrap().to_owned();
        // The canned server starts each answer with the model that gave it.
        assert!(
            row["generation"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{model} answers")),
            "{row:?}"
        );
        assert_eq!(row["model_name"], "model-a|model-b");
        a += usize::from(model == "model-a");
    }
    assert_eq!(a, 3, "round robin gives each model half the rows");
}
