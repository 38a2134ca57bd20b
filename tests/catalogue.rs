//! The catalogue's providers and pool against loopback servers: Mistral's wire format and
//! error shapes, an LLM pool recording which model answered each row, and catalogue tasks run
//! over HTTP, a malformed answer failing only its row; embeddings over `/v1/embeddings` and
//! the near-duplicate filter over them.

#[path = "support/canned_llm.rs"]
#[allow(dead_code)]
mod canned_llm;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use distil::llm::{
    ChatTemplate, Embeddings, GenerationParams, Llm, LlmPool, Mistral, OpenAi, Prompt,
};
use distil::prelude::*;
use distil::steps::{EmbeddingDedup, LoadDataFromDicts};
use distil::tasks::{
    Clair, EvolComplexityGenerator, EvolInstructGenerator, GenerateEmbeddings, Magpie,
    MagpieGenerator, PooledGeneration, TextClassification, Urial,
};
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

/// An OpenAI-compatible server answering chat and completion requests with `answer(prompt)`.
async fn scripted_server(answer: fn(&str) -> String) -> String {
    async fn reply(body: Value, text: String) -> Json<Value> {
        let choice = if body.get("messages").is_some() {
            json!({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"})
        } else {
            json!({"index": 0, "text": text, "finish_reason": "stop"})
        };
        Json(json!({
            "id": "x", "model": body["model"], "choices": [choice],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5}
        }))
    }
    let app = Router::new()
        .route(
            "/v1/chat/completions",
            post(move |Json(body): Json<Value>| {
                let user = body["messages"]
                    .as_array()
                    .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
                    .and_then(|m| m["content"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                reply(body.clone(), answer(&user))
            }),
        )
        .route(
            "/v1/completions",
            post(move |Json(body): Json<Value>| {
                let prompt = body["prompt"].as_str().unwrap_or_default().to_owned();
                reply(body.clone(), answer(&prompt))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

fn metadata(distiset: &Distiset) -> Vec<Value> {
    distiset
        .default_config()
        .unwrap()
        .column(distil::METADATA_COLUMN)
        .cloned()
        .collect()
}

fn cells(distiset: &Distiset, name: &str) -> Vec<Value> {
    distiset
        .default_config()
        .unwrap()
        .column(name)
        .cloned()
        .collect()
}

#[derive(Row, Clone)]
struct Review {
    text: String,
}

#[derive(Row, Clone)]
struct Attempt {
    task: String,
    student_solution: String,
}

/// A classifier and a reviser run over HTTP: good answers become columns, a malformed one
/// fails only its row, whose metadata keeps the raw output and the parser's reason.
#[tokio::test]
async fn classification_and_clair_rows_fail_alone_with_their_raw_output() {
    let url = scripted_server(|user| {
        if user.contains("broke") {
            "{\"labels\": \"negative\"}".to_owned()
        } else if user.contains("love") {
            "Sure! ```json\n{\"labels\": [\"Positive\"]}\n```".to_owned()
        } else if user.contains("12 * 12") {
            "Teacher Reasoning: wrong product\n\nCorrected Student Solution: 144".to_owned()
        } else {
            "I think it is mixed.".to_owned()
        }
    })
    .await;
    let llm = || OpenAi::new("judge").base_url(&url).no_proxy();
    let reviews = ["It broke in a day", "I love it", "Meh"].map(|t| Review { text: t.into() });
    let mut pipeline = Pipeline::new("classify");
    pipeline.add("load", LoadDataFromDicts::new(reviews.to_vec()));
    pipeline.add(
        "classify",
        TextClassification::new(llm()).available_labels(["positive", "negative"]),
    );
    pipeline.connect("load", "classify");
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(
        cells(&distiset, "labels"),
        [json!("negative"), json!("positive"), Value::Null]
    );
    let meta = metadata(&distiset);
    assert!(meta[0].get("errors").is_none(), "{}", meta[0]);
    assert_eq!(meta[2]["raw_output_classify"], "I think it is mixed.");
    assert_eq!(meta[2]["errors"][0]["step"], "classify");
    let message = meta[2]["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("no JSON object"), "{message}");

    let attempts = [("What is 12 * 12?", "124"), ("Spell cat", "kat")].map(|(t, s)| Attempt {
        task: t.into(),
        student_solution: s.into(),
    });
    let mut pipeline = Pipeline::new("revise");
    pipeline.add("load", LoadDataFromDicts::new(attempts.to_vec()));
    pipeline.add("revise", Clair::new(llm()));
    pipeline.connect("load", "revise");
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(cells(&distiset, "revision"), [json!("144"), Value::Null]);
    assert_eq!(
        cells(&distiset, "rational"),
        [json!("wrong product"), Value::Null]
    );
    let meta = metadata(&distiset);
    assert_eq!(meta[1]["raw_output_revise"], "I think it is mixed.");
    assert!(
        meta[1]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Corrected Student Solution"),
        "{}",
        meta[1]
    );
}

#[derive(Row, Clone)]
struct Ask {
    instruction: String,
}

/// URIAL's raw-text prompt goes to the completions endpoint; the answer stops where the model
/// starts the next user turn.
#[tokio::test]
async fn urial_prompts_a_completions_endpoint() {
    let url = scripted_server(|prompt| {
        assert!(
            prompt.ends_with("# User:\n\nName a prime.\n\n# Assistant:\n\n"),
            "{prompt}"
        );
        "Seven.\n\n# User:\n\nAnd another?".to_owned()
    })
    .await;
    let mut pipeline = Pipeline::new("urial");
    pipeline.add(
        "load",
        LoadDataFromDicts::new(vec![Ask {
            instruction: "Name a prime.".into(),
        }]),
    );
    pipeline.add(
        "answer",
        Urial::new(OpenAi::new("base").base_url(&url).no_proxy()),
    );
    pipeline.connect("load", "answer");
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(cells(&distiset, "generation"), [json!("Seven.")]);
}

type Requests = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// The letter counts of a text: texts with the same letters point the same way.
fn letters(text: &str) -> Vec<f32> {
    let mut counts = vec![0.0; 26];
    for c in text.bytes().filter(u8::is_ascii_lowercase) {
        counts[(c - b'a') as usize] += 1.0;
    }
    counts
}

/// An OpenAI-compatible `/v1/embeddings` server: letter-count vectors, `data` in reverse
/// order (servers need not keep it), a 400 for a text holding `too long`, a vector short for
/// a text holding `garbled`, a 401 for any other key than `embed-secret`.
async fn embeddings_server() -> (String, Requests) {
    let seen: Requests = Arc::default();
    let app = Router::new()
        .route(
            "/v1/embeddings",
            post(
                |State(seen): State<Requests>, headers: HeaderMap, Json(body): Json<Value>| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(ToOwned::to_owned);
                    seen.lock().unwrap().push((auth.clone(), body.clone()));
                    if auth.as_deref() != Some("Bearer embed-secret") {
                        let error = json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}});
                        return (StatusCode::UNAUTHORIZED, Json(error));
                    }
                    let texts: Vec<String> = body["input"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_str().unwrap().to_owned())
                        .collect();
                    if texts.iter().any(|t| t.contains("too long")) {
                        let error = json!({"error": {"message": "This model's maximum context length is 8192 tokens", "type": "invalid_request_error"}});
                        return (StatusCode::BAD_REQUEST, Json(error));
                    }
                    let mut data: Vec<Value> = texts
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| !t.contains("garbled"))
                        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": letters(t)}))
                        .collect();
                    data.reverse();
                    let tokens = texts.iter().map(|t| t.split(' ').count()).sum::<usize>();
                    (
                        StatusCode::OK,
                        Json(json!({
                            "object": "list", "data": data, "model": body["model"],
                            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
                        })),
                    )
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), seen)
}

fn embedder(url: &str, key: &str) -> OpenAi {
    OpenAi::new("text-embedding-3-small")
        .base_url(url)
        .api_key(key)
        .no_proxy()
        .retry(distil::llm::RetryPolicy {
            max_attempts: 2,
            initial_delay: std::time::Duration::from_millis(1),
            max_delay: std::time::Duration::from_millis(1),
        })
}

#[derive(Row, Clone)]
struct Doc {
    text: String,
}

fn docs(texts: &[&str]) -> LoadDataFromDicts<Doc> {
    LoadDataFromDicts::new(
        texts
            .iter()
            .map(|t| Doc {
                text: (*t).to_owned(),
            })
            .collect::<Vec<_>>(),
    )
}

/// Texts are embedded over the wire in batches, and near-duplicates are marked; a request the
/// server refuses or garbles fails only its rows.
#[tokio::test]
async fn embeddings_are_generated_over_http_and_near_duplicates_marked() {
    let (url, seen) = embeddings_server().await;
    let texts = [
        "the cat sat",
        "the cat sat",
        "tac eht tas",
        "dogs run fast",
        "too long text",
        "garbled text",
    ];
    let mut pipeline = Pipeline::new("embed");
    pipeline.add("load", docs(&texts));
    pipeline.add(
        "embed",
        GenerateEmbeddings::new(embedder(&url, "embed-secret")).texts_per_request(2),
    );
    pipeline.add("dedup", EmbeddingDedup::new().threshold(0.99));
    pipeline.connect("load", "embed");
    pipeline.connect("embed", "dedup");
    let distiset = pipeline.run().await.unwrap();

    let embeddings = cells(&distiset, "embedding");
    let expected = |t: &str| json!(letters(t));
    assert_eq!(embeddings[0], expected("the cat sat"));
    assert_eq!(embeddings[3], expected("dogs run fast"));
    // "too long text" shares a request with "garbled text": both rows fail.
    assert_eq!(embeddings[4], Value::Null);
    assert_eq!(embeddings[5], Value::Null);
    assert_eq!(
        cells(&distiset, "keep_row_after_embedding_filtering"),
        [true, false, false, true, true, true].map(Value::Bool)
    );
    assert_eq!(
        cells(&distiset, "model_name"),
        vec![json!("text-embedding-3-small"); 6]
    );
    let meta = metadata(&distiset);
    let message = |row: usize| {
        meta[row]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        message(4).contains("HTTP 400") && message(4).contains("maximum context length"),
        "{}",
        message(4)
    );
    assert!(message(5).contains("HTTP 400"), "{}", message(5));
    assert!(meta[0].get("errors").is_none(), "{}", meta[0]);

    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 3, "six texts, two to a request");
    assert!(
        requests
            .iter()
            .all(|(auth, _)| auth.as_deref() == Some("Bearer embed-secret"))
    );
    let inputs: Vec<Value> = requests
        .iter()
        .map(|(_, body)| body["input"].clone())
        .collect();
    assert!(
        inputs.contains(&json!(["the cat sat", "the cat sat"])),
        "{inputs:?}"
    );
    assert!(
        requests
            .iter()
            .all(|(_, body)| body["model"] == "text-embedding-3-small")
    );
}

#[tokio::test]
async fn embedding_errors_are_read_from_their_shapes() {
    let (url, seen) = embeddings_server().await;
    // A rejected key stops the run and never shows the key.
    let error = embedder(&url, "wrong-key")
        .embed(&["hi".to_owned()])
        .await
        .unwrap_err();
    assert!(error.is_fatal());
    assert!(
        error.message().contains("HTTP 401") && error.message().contains("Incorrect API key"),
        "{}",
        error.message()
    );
    assert!(!error.message().contains("wrong-key"));
    // A 2xx answer with a vector missing is malformed: retried, then the texts fail.
    let model = embedder(&url, "embed-secret");
    let error = model
        .embed(&["fine".to_owned(), "garbled".to_owned()])
        .await
        .unwrap_err();
    assert!(!error.is_fatal());
    assert!(
        error
            .message()
            .contains("malformed answer: 1 vectors for 2 texts"),
        "{}",
        error.message()
    );
    assert_eq!(Embeddings::usage(&model).retries, 1);
    // A good answer: vectors in the texts' order, whatever order `data` came in.
    let embedded = model
        .embed(&["ab".to_owned(), "zz".to_owned()])
        .await
        .unwrap();
    assert_eq!(embedded.vectors, [letters("ab"), letters("zz")]);
    assert_eq!(embedded.input_tokens, Some(2));
    assert_eq!(seen.lock().unwrap().len(), 4);
}

/// A generator task feeds a task: instructions written and evolved over HTTP, then answered.
#[tokio::test]
async fn evolved_instructions_are_generated_then_answered() {
    let url = scripted_server(|user| {
        if user.contains("#The Given Prompt#") {
            "#Rewritten Prompt#:\nExplain tides to a sailor, in three steps.".to_owned()
        } else if user.contains("these words") {
            "#Instruction#: Explain tides.".to_owned()
        } else {
            format!("Answer to: {user}")
        }
    })
    .await;
    let llm = || OpenAi::new("writer").base_url(&url).no_proxy();
    let mut pipeline = Pipeline::new("evol-generator");
    pipeline.add(
        "instructions",
        EvolInstructGenerator::new(llm())
            .num_instructions(5)
            .num_evolutions(1),
    );
    pipeline.add("answer", distil::tasks::TextGeneration::new(llm()));
    pipeline.connect("instructions", "answer");
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(
        cells(&distiset, "instruction"),
        vec![json!("Explain tides to a sailor, in three steps."); 5]
    );
    assert_eq!(
        cells(&distiset, "generation"),
        vec![json!("Answer to: Explain tides to a sailor, in three steps."); 5]
    );
}

/// The in-depth mutations, as the generators' prompts name their method, and the one
/// (`breadth`) EvolComplexityGenerator never uses.
const IN_DEPTH: [&str; 5] = [
    "Add one more constraint",
    "increase the depth and breadth",
    "Replace general concepts",
    "multi-step reasoning",
    "Add structured input",
];
const BREADTH: &str = "Write a brand-new prompt";

/// EvolComplexityGenerator over HTTP: seed instructions evolved with in-depth mutations only,
/// each final one answered; its batches are kept, so a second run sends nothing.
#[tokio::test]
async fn evol_complexity_generator_evolves_in_depth_and_answers() {
    // The rewrite names the method it was asked for, so the rows show which were drawn.
    let url = scripted_server(|user| {
        if let Some(rest) = user.split("#The Given Prompt#:\n").nth(1) {
            let given = rest.split("\n\n#Rewritten Prompt#").next().unwrap();
            let method = user
                .split("Method: ")
                .nth(1)
                .unwrap()
                .lines()
                .next()
                .unwrap();
            let tag = IN_DEPTH
                .iter()
                .position(|m| method.contains(m))
                .map_or_else(|| format!("[{method}]"), |i| format!("[depth {i}]"));
            format!("#Rewritten Prompt#:\n{given} {tag}")
        } else if user.contains("these words") {
            "#Instruction#: Explain tides.".to_owned()
        } else {
            format!("Answer to: {user}")
        }
    })
    .await;
    assert!(!IN_DEPTH.iter().any(|m| m.starts_with(BREADTH)));
    // A seed of this process's own: the first run finds no batch of an earlier one cached.
    let seed = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
    let build = || {
        let mut pipeline = Pipeline::new("evol-complexity-generator");
        pipeline.add(
            "instructions",
            EvolComplexityGenerator::new(OpenAi::new("writer").base_url(&url).no_proxy())
                .num_instructions(12)
                .num_evolutions(3)
                .seed(seed)
                .generate_answers(true),
        );
        pipeline
    };
    // Every request is sent (no answer of an earlier process's from the response cache).
    let options = |out: &std::path::Path| {
        RunOptions::new()
            .output_dir(out.join("run"))
            .response_cache(false)
            .progress(false)
    };
    let first_out = tempfile::tempdir().unwrap();
    let mut pipeline = build();
    let distiset = pipeline.run_with(options(first_out.path())).await.unwrap();
    let instructions = cells(&distiset, "instruction");
    let answers = cells(&distiset, "answer");
    assert_eq!(instructions.len(), 12);
    for (instruction, answer) in instructions.iter().zip(&answers) {
        let instruction = instruction.as_str().unwrap();
        assert!(
            instruction.starts_with("Explain tides. [depth "),
            "{instruction}"
        );
        assert_eq!(instruction.matches("[depth ").count(), 3, "{instruction}");
        assert!(!instruction.contains(BREADTH), "{instruction}");
        assert_eq!(answer, &json!(format!("Answer to: {instruction}")));
    }
    let summary = pipeline.summary().unwrap();
    // A seed, three evolutions and an answer per row.
    let usage = &summary.steps[0].llm.as_ref().unwrap().usage;
    assert_eq!(usage.requests, 12 * 5, "{summary}");

    let second_out = tempfile::tempdir().unwrap();
    let mut again = build();
    let replayed = again.run_with(options(second_out.path())).await.unwrap();
    assert_eq!(cells(&replayed, "instruction"), instructions);
    assert_eq!(cells(&replayed, "answer"), answers);
    let summary = again.summary().unwrap();
    assert_eq!(summary.steps[0].replayed_rows, 12, "{summary}");
    assert_eq!(
        summary.steps[0].llm.as_ref().unwrap().usage.requests,
        0,
        "{summary}"
    );
}

/// A raw-completions server for a Llama 3 model: a prompt ending in a user turn's start gets
/// a query, one ending in the assistant's a response (both with the end-of-turn token a
/// server may leave in), a query about `empty` an empty response; it records the bodies.
async fn llama_completions_server() -> (String, Requests) {
    let seen: Requests = Arc::default();
    let app = Router::new()
        .route(
            "/v1/completions",
            post(
                |State(seen): State<Requests>, Json(body): Json<Value>| async move {
                    seen.lock().unwrap().push((None, body.clone()));
                    let prompt = body["prompt"].as_str().unwrap_or_default();
                    let turns = prompt.matches("<|start_header_id|>user").count();
                    let text = if prompt.ends_with("user<|end_header_id|>\n\n") {
                        if prompt.contains("Only empty answers") {
                            "Say nothing.<|eot_id|>".to_owned()
                        } else {
                            format!("Question {turns}?<|eot_id|>")
                        }
                    } else if prompt.contains("Say nothing.") {
                        "<|eot_id|>".to_owned()
                    } else {
                        format!(" Answer {turns}.")
                    };
                    Json(json!({
                        "id": "c", "object": "text_completion", "model": body["model"],
                        "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 20, "completion_tokens": 4}
                    }))
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), seen)
}

fn llama(url: &str) -> OpenAi {
    OpenAi::new("llama-3-8b-instruct")
        .base_url(url)
        .no_proxy()
        .chat_template(ChatTemplate::llama3())
}

#[derive(Row, Clone)]
struct Persona {
    system_prompt: Option<String>,
}

/// Magpie writes both sides of a conversation from the start of a user turn, in the model's
/// own format, over raw completions; an empty turn fails only its row.
#[tokio::test]
async fn magpie_writes_queries_and_answers_from_the_chat_template() {
    let (url, seen) = llama_completions_server().await;
    let personas = vec![
        Persona {
            system_prompt: Some("You are a math tutor.".into()),
        },
        Persona {
            system_prompt: None,
        },
        Persona {
            system_prompt: Some("Only empty answers.".into()),
        },
    ];
    let mut pipeline = Pipeline::new("magpie");
    pipeline.add("load", LoadDataFromDicts::new(personas));
    pipeline.add("magpie", Magpie::new(llama(&url)).temperature(1.0));
    pipeline.connect("load", "magpie");
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(
        cells(&distiset, "instruction"),
        [json!("Question 1?"), json!("Question 1?"), Value::Null]
    );
    assert_eq!(
        cells(&distiset, "response"),
        [json!("Answer 1."), json!("Answer 1."), Value::Null]
    );
    let meta = metadata(&distiset);
    assert_eq!(
        meta[2]["errors"][0]["message"],
        "the model wrote an empty response"
    );
    assert_eq!(meta[2]["raw_output_magpie"], "<|eot_id|>");

    let bodies: Vec<Value> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b.clone())
        .collect();
    let prompts: Vec<&str> = bodies
        .iter()
        .map(|b| b["prompt"].as_str().unwrap())
        .collect();
    assert!(prompts.contains(&"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a math tutor.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"), "{prompts:?}");
    assert!(
        prompts.contains(&"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"),
        "{prompts:?}"
    );
    assert!(prompts.contains(&"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nQuestion 1?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"), "{prompts:?}");
    assert!(bodies.iter().all(
        |b| b["stop"] == json!(["<|eot_id|>", "<|start_header_id|>"]) && b["temperature"] == 1.0
    ));
}

#[tokio::test]
async fn magpie_generator_writes_multi_turn_conversations() {
    let (url, _) = llama_completions_server().await;
    let mut pipeline = Pipeline::new("magpie-generator");
    pipeline.add(
        "magpie",
        MagpieGenerator::new(llama(&url)).num_rows(3).n_turns(2),
    );
    let distiset = pipeline.run().await.unwrap();
    let conversations = cells(&distiset, "conversation");
    assert_eq!(conversations.len(), 3);
    assert_eq!(
        conversations[0],
        json!([
            {"role": "user", "content": "Question 1?"},
            {"role": "assistant", "content": "Answer 1."},
            {"role": "user", "content": "Question 2?"},
            {"role": "assistant", "content": "Answer 2."},
        ])
    );
    assert_eq!(cells(&distiset, "model_name")[2], "llama-3-8b-instruct");
}

#[tokio::test]
async fn magpie_needs_a_chat_template_and_chat_prompts_use_it_on_raw_servers() {
    let (url, seen) = llama_completions_server().await;
    let plain = OpenAi::new("llama-3-8b-instruct").base_url(&url).no_proxy();
    let mut pipeline = Pipeline::new("magpie-untemplated");
    pipeline.add("magpie", MagpieGenerator::new(plain).num_rows(1));
    let error = pipeline.run().await.unwrap_err().to_string();
    assert!(error.contains("has no chat template"), "{error}");
    assert!(
        seen.lock().unwrap().is_empty(),
        "no request before the check"
    );

    // A chat prompt to a templated client is rendered and sent to /completions.
    let generations = llama(&url)
        .generate(&Prompt::from("Hi"), &GenerationParams::default())
        .await
        .unwrap();
    assert_eq!(generations.choices[0].text.as_deref(), Some(" Answer 1."));
    let body = seen.lock().unwrap()[0].1.clone();
    assert_eq!(
        body["prompt"],
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    assert_eq!(body["stop"], json!(["<|eot_id|>", "<|start_header_id|>"]));
    assert!(body.get("messages").is_none());
}

/// What a Google-like server was sent: path, headers of interest, body.
type GoogleSeen = Arc<Mutex<Vec<(String, Option<String>, Option<String>, Value)>>>;

/// A server speaking `generateContent` under any path: it answers `(status, body)` from
/// `answer(request body)` and records each request.
async fn google_server(answer: fn(&Value) -> (StatusCode, Value)) -> (String, GoogleSeen) {
    let seen: GoogleSeen = Arc::default();
    let app = Router::new()
        .fallback(
            move |State(seen): State<GoogleSeen>,
                  uri: axum::http::Uri,
                  headers: HeaderMap,
                  Json(body): Json<Value>| async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(ToOwned::to_owned)
                };
                seen.lock().unwrap().push((
                    uri.path().to_owned(),
                    header("x-goog-api-key"),
                    header("authorization"),
                    body.clone(),
                ));
                let (status, reply) = answer(&body);
                (status, Json(reply))
            },
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn gemini_answer(body: &Value) -> (StatusCode, Value) {
    let last = body["contents"]
        .as_array()
        .and_then(|c| c.last())
        .and_then(|c| c["parts"][0]["text"].as_str())
        .unwrap_or_default()
        .to_owned();
    match last.as_str() {
        "bad key" => (
            StatusCode::BAD_REQUEST,
            json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}),
        ),
        "bad temperature" => (
            StatusCode::BAD_REQUEST,
            json!({"error": {"code": 400, "message": "Unable to submit request because temperature must be in [0, 2]", "status": "INVALID_ARGUMENT"}}),
        ),
        "busy" => (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}),
        ),
        "expired" => (
            StatusCode::UNAUTHORIZED,
            json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}),
        ),
        "blocked" => (
            StatusCode::OK,
            json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}),
        ),
        _ => (
            StatusCode::OK,
            json!({
                "candidates": [{
                    "content": {"role": "model", "parts": [
                        {"text": "Thinking about it.", "thought": true},
                        {"text": "Bonjour"}, {"text": " !"}
                    ]},
                    "finishReason": "STOP", "index": 0
                }],
                "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 3, "thoughtsTokenCount": 5, "totalTokenCount": 20},
                "modelVersion": "gemini-2.5-flash"
            }),
        ),
    }
}

fn fast(llm: distil::llm::Gemini) -> distil::llm::Gemini {
    llm.no_proxy().retry(distil::llm::RetryPolicy {
        max_attempts: 2,
        initial_delay: std::time::Duration::from_millis(1),
        max_delay: std::time::Duration::from_millis(1),
    })
}

#[tokio::test]
async fn gemini_sends_generate_content_and_reads_candidates() {
    let (url, seen) = google_server(gemini_answer).await;
    let gemini = fast(
        distil::llm::Gemini::new("gemini-2.5-flash")
            .base_url(format!("{url}/v1beta"))
            .api_key("gem-secret"),
    );
    let prompt = Prompt::Chat(vec![
        ChatMessage::system("Answer in French."),
        ChatMessage::user("Hello"),
        ChatMessage::assistant("Salut"),
        ChatMessage::user("Say hello"),
    ]);
    let params = GenerationParams {
        temperature: Some(0.4),
        max_new_tokens: Some(64),
        stop: Some(vec!["END".into()]),
        seed: Some(3),
        response_format: Some(json!({"name": "Greeting", "schema": {"type": "object"}})),
        ..Default::default()
    };
    let generations = gemini.generate(&prompt, &params).await.unwrap();
    assert_eq!(generations.choices[0].text.as_deref(), Some("Bonjour !"));
    assert_eq!(
        generations.choices[0].finish_reason.as_deref(),
        Some("STOP")
    );
    assert_eq!(
        (generations.input_tokens, generations.output_tokens),
        (Some(12), Some(8))
    );
    let (path, key, auth, body) = seen.lock().unwrap()[0].clone();
    assert_eq!(path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(key.as_deref(), Some("gem-secret"));
    assert_eq!(auth, None);
    assert_eq!(
        body,
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "Hello"}]},
                {"role": "model", "parts": [{"text": "Salut"}]},
                {"role": "user", "parts": [{"text": "Say hello"}]},
            ],
            "systemInstruction": {"parts": [{"text": "Answer in French."}]},
            "generationConfig": {
                "temperature": 0.4, "maxOutputTokens": 64, "stopSequences": ["END"], "seed": 3,
                "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}
            }
        })
    );

    // Through a task: one request asks for both generations (`candidateCount`).
    let mut pipeline = Pipeline::new("gemini");
    pipeline.add(
        "load",
        LoadDataFromDicts::new(vec![Ask {
            instruction: "Say hello".into(),
        }]),
    );
    pipeline.add(
        "generate",
        distil::tasks::TextGeneration::new(gemini.clone()).num_generations(2),
    );
    pipeline.connect("load", "generate");
    let distiset = pipeline.run().await.unwrap();
    let generations = cells(&distiset, "generation");
    assert_eq!(generations.len(), 2);
    let last = seen.lock().unwrap().last().unwrap().3.clone();
    assert_eq!(last["generationConfig"]["candidateCount"], 2);
}

#[tokio::test]
async fn gemini_errors_are_read_from_their_shapes() {
    let (url, seen) = google_server(gemini_answer).await;
    let gemini = fast(
        distil::llm::Gemini::new("gemini-2.5-flash")
            .base_url(format!("{url}/v1beta"))
            .api_key("gem-secret"),
    );
    let ask = |text: &str| {
        let gemini = gemini.clone();
        let prompt = Prompt::from(text);
        async move { gemini.generate(&prompt, &GenerationParams::default()).await }
    };
    // An invalid key is a 400 at Gemini, and stops the run all the same.
    let error = ask("bad key").await.unwrap_err();
    assert!(error.is_fatal(), "{}", error.message());
    assert!(
        error
            .message()
            .contains("Gemini rejected the request with HTTP 400: API key not valid"),
        "{}",
        error.message()
    );
    assert!(!error.message().contains("gem-secret"));
    // Any other 400 fails the row.
    let error = ask("bad temperature").await.unwrap_err();
    assert!(!error.is_fatal());
    assert!(
        error.message().contains("temperature must be in [0, 2]"),
        "{}",
        error.message()
    );
    // A 429 is retried, then fails the row.
    let before = seen.lock().unwrap().len();
    let error = ask("busy").await.unwrap_err();
    assert!(!error.is_fatal());
    assert!(
        error.message().contains("Resource has been exhausted"),
        "{}",
        error.message()
    );
    assert_eq!(seen.lock().unwrap().len() - before, 2, "one retry");
    // A blocked prompt is an answer without text, saying why.
    let generations = ask("blocked").await.unwrap();
    assert_eq!(generations.choices[0].text, None);
    assert_eq!(
        generations.choices[0].finish_reason.as_deref(),
        Some("blocked: SAFETY")
    );
}

#[tokio::test]
async fn vertex_ai_takes_a_bearer_token_on_its_project_path() {
    let default = distil::llm::Gemini::vertex("my-project", "europe-west4", "gemini-2.5-pro");
    assert_eq!(
        default.describe()["base_url"],
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-project/locations/europe-west4/publishers/google"
    );
    assert_eq!(
        distil::llm::Gemini::vertex("p", "global", "m").describe()["base_url"],
        "https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/google"
    );
    let (url, seen) = google_server(gemini_answer).await;
    let vertex = fast(
        default
            .base_url(format!(
                "{url}/v1/projects/my-project/locations/europe-west4/publishers/google"
            ))
            .access_token("ya29.token"),
    );
    let generations = vertex
        .generate(&Prompt::from("Say hello"), &GenerationParams::default())
        .await
        .unwrap();
    assert_eq!(generations.choices[0].text.as_deref(), Some("Bonjour !"));
    let (path, key, auth, _) = seen.lock().unwrap()[0].clone();
    assert_eq!(
        path,
        "/v1/projects/my-project/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent"
    );
    assert_eq!((key, auth.as_deref()), (None, Some("Bearer ya29.token")));
    // An expired token stops the run.
    let error = vertex
        .generate(&Prompt::from("expired"), &GenerationParams::default())
        .await
        .unwrap_err();
    assert!(error.is_fatal());
    assert!(
        error
            .message()
            .contains("Vertex AI rejected the request with HTTP 401"),
        "{}",
        error.message()
    );
    assert!(!error.message().contains("ya29.token"));
}

#[derive(Row, Clone)]
struct Prompted {
    instruction: String,
    system_prompt: Option<String>,
}

/// A nullable `system_prompt` column: a row's own system message where it has one, the
/// task's elsewhere.
#[tokio::test]
async fn text_generation_takes_a_nullable_system_prompt_column() {
    let url = scripted_server(|user| format!("Answer to: {user}")).await;
    let rows = vec![
        Prompted {
            instruction: "Hi".into(),
            system_prompt: Some("Be loud.".into()),
        },
        Prompted {
            instruction: "Hello".into(),
            system_prompt: None,
        },
    ];
    let mut pipeline = Pipeline::new("system-prompts");
    pipeline.add("load", LoadDataFromDicts::new(rows));
    pipeline.add(
        "generate",
        distil::tasks::TextGeneration::new(OpenAi::new("m").base_url(&url).no_proxy())
            .system_prompt("Be brief."),
    );
    pipeline.connect("load", "generate");
    let distiset = pipeline.run().await.unwrap();
    let meta = metadata(&distiset);
    let system = |row: usize| meta[row]["raw_input_generate"][0]["content"].clone();
    assert_eq!(
        (system(0), system(1)),
        (json!("Be loud."), json!("Be brief."))
    );
    assert_eq!(cells(&distiset, "generation")[1], "Answer to: Hello");
}

/// The embeddings are kept in the cache: a rerun with another filter threshold replays them
/// and sends no request.
#[tokio::test]
async fn a_rerun_replays_the_embeddings() {
    let (url, seen) = embeddings_server().await;
    let build = |threshold: f64| {
        let mut pipeline = Pipeline::new("embed-rerun");
        pipeline.add(
            "load",
            docs(&["the cat sat", "act", "cat", "dogs run fast"]),
        );
        pipeline.add(
            "embed",
            GenerateEmbeddings::new(embedder(&url, "embed-secret")).texts_per_request(2),
        );
        pipeline.add("dedup", EmbeddingDedup::new().threshold(threshold));
        pipeline.connect("load", "embed");
        pipeline.connect("embed", "dedup");
        pipeline
    };
    let first = build(0.99).run().await.unwrap();
    assert_eq!(
        cells(&first, "keep_row_after_embedding_filtering"),
        [true, true, false, true].map(Value::Bool)
    );
    let requests = seen.lock().unwrap().len();
    assert_eq!(requests, 2);
    let second = build(0.1).run().await.unwrap();
    assert_eq!(
        seen.lock().unwrap().len(),
        requests,
        "no request on the rerun"
    );
    assert_eq!(
        cells(&second, "keep_row_after_embedding_filtering"),
        [true, false, false, false].map(Value::Bool)
    );
}

/// A pipeline file keeps Gemini's and Vertex AI's clients and a client's chat template.
#[test]
fn pipeline_files_keep_gemini_vertex_and_chat_templates() {
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = Pipeline::new("providers-file");
    pipeline.add(
        "load",
        LoadDataFromDicts::new(vec![Ask {
            instruction: "Hi".into(),
        }]),
    );
    pipeline.add(
        "gemini",
        distil::tasks::TextGeneration::new(
            distil::llm::Gemini::new("gemini-2.5-flash").max_concurrency(3),
        ),
    );
    pipeline.add(
        "vertex",
        distil::tasks::TextGeneration::new(distil::llm::Gemini::vertex(
            "my-project",
            "europe-west4",
            "gemini-2.5-pro",
        )),
    );
    pipeline.add(
        "templated",
        distil::tasks::TextGeneration::new(
            OpenAi::new("base").chat_template(ChatTemplate::llama3()),
        ),
    );
    for step in ["gemini", "vertex", "templated"] {
        pipeline.connect("load", step);
    }
    let file = dir.path().join("pipeline.yaml");
    pipeline.save(&file).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    for expected in [
        r#""provider":"Vertex AI""#,
        r#""project":"my-project""#,
        r#""location":"europe-west4""#,
        r#""provider":"Gemini""#,
        r#""eos_token":"<|eot_id|>""#,
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    let loaded = Pipeline::from_yaml(&file).unwrap();
    let again = dir.path().join("again.yaml");
    loaded.save(&again).unwrap();
    assert_eq!(std::fs::read_to_string(&again).unwrap(), text);
}

/// The loopback token endpoint's and Vertex look-alike's shared state.
#[derive(Default)]
struct GoogleAuth {
    /// The token URI the key file names (the JWT's audience).
    token_uri: String,
    /// Tokens issued, in order.
    issued: Vec<String>,
    /// The lifetime the next tokens get, in seconds.
    expires_in: u64,
    /// Tokens Vertex refuses (revoked).
    revoked: Vec<String>,
    /// Vertex refuses every token.
    refuse_all: bool,
    /// The token endpoint refuses the grant.
    refuse_grant: bool,
    /// The bearer token of each Vertex request, and its status.
    vertex_calls: Vec<(String, u16)>,
    /// Each JWT's header `kid` and claims, as the token endpoint verified them.
    claims: Vec<(Option<String>, Value)>,
}

type Auth = Arc<Mutex<GoogleAuth>>;

const TEST_PUBLIC_KEY: &str = include_str!("support/fixtures/test-service-account.pub.pem");
const TEST_PRIVATE_KEY: &str = include_str!("support/fixtures/test-service-account.pem");
const ACCOUNT: &str = "distil-test@example-project.iam.gserviceaccount.com";

/// Google's OAuth token endpoint (the JWT bearer grant, the JWT's RS256 signature checked
/// with the account's public key) and Vertex AI's `generateContent`, both on 127.0.0.1.
async fn google_auth_servers() -> (String, Auth) {
    async fn token(State(auth): State<Auth>, body: String) -> (StatusCode, Json<Value>) {
        let field = |name: &str| {
            body.split('&')
                .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(
            field("grant_type"),
            "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
        );
        let mut s = auth.lock().unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[s.token_uri.clone()]);
        validation.set_issuer(&[ACCOUNT]);
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_PUBLIC_KEY.as_bytes()).unwrap();
        let decoded = jsonwebtoken::decode::<Value>(&field("assertion"), &key, &validation)
            .expect("a JWT signed RS256 with the account's key");
        s.claims.push((decoded.header.kid, decoded.claims));
        if s.refuse_grant {
            return (
                StatusCode::BAD_REQUEST,
                Json(
                    json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
                ),
            );
        }
        let token = format!("ya29.test-{}", s.issued.len() + 1);
        s.issued.push(token.clone());
        (
            StatusCode::OK,
            Json(
                json!({"access_token": token, "expires_in": s.expires_in, "token_type": "Bearer"}),
            ),
        )
    }
    async fn vertex(
        State(auth): State<Auth>,
        headers: HeaderMap,
        uri: axum::http::Uri,
    ) -> (StatusCode, Json<Value>) {
        assert!(
            uri.path().ends_with(
                "/projects/p/locations/l/publishers/google/models/gemini-test:generateContent"
            ),
            "{uri}"
        );
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_owned();
        let mut s = auth.lock().unwrap();
        let valid = s.issued.contains(&bearer) && !s.revoked.contains(&bearer) && !s.refuse_all;
        let status = if valid { 200 } else { 401 };
        s.vertex_calls.push((bearer, status));
        if !valid {
            return (
                StatusCode::UNAUTHORIZED,
                Json(
                    json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}),
                ),
            );
        }
        let n = s.vertex_calls.len();
        (
            StatusCode::OK,
            Json(json!({
                "candidates": [{"content": {"role": "model", "parts": [{"text": format!("answer {n}")}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2}
            })),
        )
    }
    let auth: Auth = Arc::default();
    let app = Router::new()
        .route("/token", post(token))
        .fallback(post(vertex))
        .with_state(auth.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let base = format!("http://{addr}");
    {
        let mut s = auth.lock().unwrap();
        s.token_uri = format!("{base}/token");
        s.expires_in = 3600;
    }
    (base, auth)
}

/// A service-account key file as the Cloud console writes it, its token URI the loopback's.
fn key_file(dir: &std::path::Path, token_uri: &str) -> std::path::PathBuf {
    let path = dir.join("key.json");
    let key = json!({
        "type": "service_account",
        "project_id": "example-project",
        "private_key_id": "key-id-1",
        "private_key": TEST_PRIVATE_KEY,
        "client_email": ACCOUNT,
        "client_id": "1234",
        "token_uri": token_uri,
    });
    std::fs::write(&path, key.to_string()).unwrap();
    path
}

fn vertex_with(base: &str, account: distil::llm::ServiceAccount) -> distil::llm::Gemini {
    distil::llm::Gemini::vertex("p", "l", "gemini-test")
        .base_url(format!(
            "{base}/v1/projects/p/locations/l/publishers/google"
        ))
        .no_proxy()
        .service_account(account)
}

/// Vertex AI with a service account's key file: a signed JWT exchanged for a token that is
/// reused until five minutes before it expires, replaced once when Vertex refuses it, and
/// never written anywhere.
#[tokio::test]
async fn vertex_ai_with_a_service_account_renews_its_tokens() {
    use distil::llm::ServiceAccount;

    let (base, auth) = google_auth_servers().await;
    let dir = tempfile::tempdir().unwrap();
    let token_uri = auth.lock().unwrap().token_uri.clone();
    let account = ServiceAccount::from_file(key_file(dir.path(), &token_uri)).unwrap();
    assert_eq!(account.email(), Some(ACCOUNT));
    let shown = format!("{account:?}");
    assert!(
        shown.contains(ACCOUNT) && !shown.contains("PRIVATE KEY"),
        "{shown}"
    );
    let llm = vertex_with(&base, account.clone());
    assert!(!format!("{llm:?}").contains("PRIVATE KEY"));
    let ask = || async {
        llm.generate(&Prompt::from("Hi"), &GenerationParams::default())
            .await
            .map(|g| g.choices[0].text.clone().unwrap())
    };

    // One token for many requests while it is valid.
    for _ in 0..3 {
        ask().await.unwrap();
    }
    {
        let s = auth.lock().unwrap();
        assert_eq!(s.issued, ["ya29.test-1"]);
        assert!(
            s.vertex_calls
                .iter()
                .all(|(t, status)| t == "ya29.test-1" && *status == 200)
        );
        let (kid, claims) = &s.claims[0];
        assert_eq!(kid.as_deref(), Some("key-id-1"));
        assert_eq!(claims["iss"], ACCOUNT);
        assert_eq!(claims["aud"], token_uri.as_str());
        assert_eq!(
            claims["scope"],
            "https://www.googleapis.com/auth/cloud-platform"
        );
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            3600
        );
    }

    // Refused (revoked): a fresh token, and the request goes through. The new one lives
    // less than the renewal margin, so the next request renews it before it is sent.
    {
        let mut s = auth.lock().unwrap();
        s.revoked.push("ya29.test-1".into());
        s.expires_in = 60;
    }
    assert_eq!(ask().await.unwrap(), "answer 5");
    ask().await.unwrap();
    {
        let s = auth.lock().unwrap();
        assert_eq!(s.issued, ["ya29.test-1", "ya29.test-2", "ya29.test-3"]);
        let last: Vec<(&str, u16)> = s.vertex_calls[3..]
            .iter()
            .map(|(t, status)| (t.as_str(), *status))
            .collect();
        assert_eq!(
            last,
            [
                ("ya29.test-1", 401),
                ("ya29.test-2", 200),
                ("ya29.test-3", 200)
            ]
        );
    }

    // Refused again after a fresh token: once, then the run stops, naming the account.
    auth.lock().unwrap().refuse_all = true;
    let calls = auth.lock().unwrap().vertex_calls.len();
    let error = llm
        .generate(&Prompt::from("Hi"), &GenerationParams::default())
        .await
        .unwrap_err();
    assert!(error.is_fatal());
    assert!(
        error.message().contains("HTTP 401")
            && error
                .message()
                .contains(&format!("service account `{ACCOUNT}`"))
            && error.message().contains("refused too"),
        "{}",
        error.message()
    );
    assert_eq!(auth.lock().unwrap().vertex_calls.len(), calls + 2);
    auth.lock().unwrap().refuse_all = false;

    // A grant the endpoint refuses stops the run with the endpoint's reason.
    auth.lock().unwrap().refuse_grant = true;
    let fresh = ServiceAccount::from_file(key_file(dir.path(), &token_uri)).unwrap();
    let error = vertex_with(&base, fresh)
        .generate(&Prompt::from("Hi"), &GenerationParams::default())
        .await
        .unwrap_err();
    assert!(error.is_fatal());
    assert!(
        error
            .message()
            .contains("HTTP 400: invalid_grant (Invalid JWT Signature.)")
            && error.message().contains("key.json"),
        "{}",
        error.message()
    );
    assert!(!error.message().contains("PRIVATE KEY"));
    auth.lock().unwrap().refuse_grant = false;

    // A run: the key and the tokens are in none of the files it writes.
    auth.lock().unwrap().expires_in = 3600;
    let out = dir.path().join("run");
    let mut pipeline = Pipeline::new("vertex-service-account");
    pipeline.add(
        "load",
        LoadDataFromDicts::new(vec![
            Review { text: "one".into() },
            Review { text: "two".into() },
        ]),
    );
    pipeline.add(
        "answer",
        distil::tasks::TextGeneration::<Review>::with_input(vertex_with(&base, account))
            .template("{{ text }}"),
    );
    pipeline.connect("load", "answer");
    pipeline
        .run_with(RunOptions::new().output_dir(&out).progress(false))
        .await
        .unwrap();
    let key_line = TEST_PRIVATE_KEY.lines().nth(1).unwrap();
    for file in walk(&out) {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains(key_line) && !text.contains("ya29."),
            "{} holds a secret",
            file.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn service_account_key_files_are_checked_and_never_quoted() {
    use distil::llm::ServiceAccount;

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let cases = [
        ("user.json", json!({"type": "authorized_user", "client_id": "x", "refresh_token": "1//secret"}).to_string(), "holds a `authorized_user` credential"),
        ("nokey.json", json!({"type": "service_account", "client_email": ACCOUNT}).to_string(), "has no `private_key`"),
        ("bad.json", json!({"type": "service_account", "client_email": ACCOUNT, "private_key": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"}).to_string(), "is not an RSA private key in PEM"),
        ("text.json", "not json at all: secret".to_owned(), "is not a JSON key file"),
    ];
    for (name, text, expected) in cases {
        let error = ServiceAccount::from_file(write(name, &text)).unwrap_err();
        assert!(error.contains(name) && error.contains(expected), "{error}");
        assert!(
            !error.contains("secret") && !error.contains("c2VjcmV0"),
            "{error}"
        );
    }
    let missing = ServiceAccount::from_file(dir.path().join("missing.json")).unwrap_err();
    assert!(missing.contains("cannot be read"), "{missing}");
}
