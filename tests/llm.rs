//! LLM tasks against an LLM server on 127.0.0.1 speaking OpenAI's, Azure's and Anthropic's wire
//! formats (tests/support/llm_server.rs): retries, timeouts, limits, usage, errors, secrets.

#[path = "support/llm_run.rs"]
mod llm_run;
#[path = "support/llm_server.rs"]
mod llm_server;

use std::time::{Duration, Instant};

use distil::llm::{
    Anthropic, AzureOpenAi, GenerationParams, HuggingFace, Llm, OpenAi, Preset, Prompt, RateLimits,
    RetryPolicy,
};
use distil::steps::LoadDataFromDicts;
use distil::tasks::{ChatGeneration, TextGeneration};
use distil::{METADATA_COLUMN, Pipeline, RunOptions, Value};
use llm_run::{column, first_error, run};
use llm_server::{LlmServer, LlmState};
use serde_json::json;

const KEY: &str = "sk-test-0123456789abcdef";

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(2),
    }
}

async fn server(latency_ms: u64) -> LlmServer {
    LlmServer::start(LlmState {
        latency: Duration::from_millis(latency_ms),
        key: Some(KEY.to_owned()),
        record: true,
        ..LlmState::default()
    })
    .await
}

fn openai(server: &LlmServer) -> OpenAi {
    OpenAi::new("test-model")
        .base_url(server.v1())
        .api_key(KEY)
        .retry(fast_retries())
}

/// A pipeline: instructions -> `generate`.
fn pipeline_of(instructions: &[&str], generate: impl distil::Step) -> Pipeline {
    let rows = instructions.iter().map(|i| json!({ "instruction": i }));
    let mut pipeline = Pipeline::new("llm-test");
    pipeline
        .add("load", LoadDataFromDicts::untyped(rows))
        .batch_size(4);
    pipeline.add("generate", generate).input_batch_size(4);
    pipeline.connect("load", "generate");
    pipeline
}

#[tokio::test]
async fn text_generation_fills_generation_model_name_and_metadata() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let llm = openai(&server).temperature(0.7).max_new_tokens(64);
    let task = TextGeneration::new(llm)
        .system_prompt("Be brief.")
        .temperature(0.2);
    let instructions: Vec<String> = (0..10).map(|i| format!("question {i}")).collect();
    let refs: Vec<&str> = instructions.iter().map(String::as_str).collect();
    let mut pipeline = pipeline_of(&refs, task);
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();

    let generations = column(&distiset, "generation");
    let expected: Vec<Value> = refs.iter().map(|i| json!(format!("echo: {i}"))).collect();
    assert_eq!(generations, expected, "in input order");
    assert!(
        column(&distiset, "model_name")
            .iter()
            .all(|m| m == "test-model")
    );
    let metadata = column(&distiset, METADATA_COLUMN);
    assert_eq!(
        metadata[3]["raw_input_generate"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "question 3"}])
    );
    assert_eq!(
        metadata[3]["raw_output_generate"],
        json!("echo: question 3")
    );
    assert_eq!(
        metadata[3]["statistics_generate"],
        json!({"input_tokens": 2, "output_tokens": 5})
    );

    let seen = server.seen();
    assert_eq!(seen.len(), 10);
    let request = &seen[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(request.body["model"], "test-model");
    // The task's temperature over the LLM's; the LLM's max_new_tokens kept.
    assert_eq!(request.body["temperature"], json!(0.2));
    assert_eq!(request.body["max_tokens"], json!(64));
}

#[tokio::test]
async fn run_parameters_override_generation_parameters() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let task = TextGeneration::new(openai(&server).max_new_tokens(64)).temperature(0.9);
    let mut pipeline = pipeline_of(&["a", "b"], task);
    let options = RunOptions::new()
        .output_dir(dir.path())
        .param("generate", "temperature", 0.1)
        .param("generate", "stop", json!(["\n\n"]));
    pipeline.run_with(options).await.unwrap();
    let body = &server.seen()[0].body;
    assert_eq!(body["temperature"], json!(0.1));
    assert_eq!(body["stop"], json!(["\n\n"]));
    assert_eq!(body["max_tokens"], json!(64));

    let error = pipeline
        .run_with(
            RunOptions::new()
                .output_dir(dir.path().join("again"))
                .param("generate", "temprature", 0.1),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("generate") && error.contains("temperature"),
        "{error}"
    );
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let llm = openai(&server);
    let task = TextGeneration::new(llm.clone());
    let mut pipeline = pipeline_of(
        &[
            "fail:429x2 a",
            "fail:500x1 b",
            "fail:503x3 c",
            "fail:408x1 d",
            "fail:409x1 e",
            "ok",
        ],
        task,
    );
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    let generations = column(&distiset, "generation");
    assert_eq!(generations[0], json!("echo: fail:429x2 a"));
    assert_eq!(generations[2], json!("echo: fail:503x3 c"));
    assert!(generations.iter().all(Value::is_string), "{generations:?}");
    let usage = llm.usage();
    assert_eq!(usage.requests, 6);
    assert_eq!(usage.retries, 2 + 1 + 3 + 1 + 1);
    assert_eq!(usage.failed, 0);
    assert_eq!(server.seen().len(), 6 + 8);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let task = TextGeneration::new(openai(&server));
    let mut pipeline = pipeline_of(&["fail:429x1 retry-after"], task);
    let start = Instant::now();
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
    assert!(column(&distiset, "generation")[0].is_string());
}

#[tokio::test]
async fn a_row_that_keeps_failing_records_its_error_and_the_rest_go_on() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let task = TextGeneration::new(openai(&server));
    let mut pipeline = pipeline_of(&["fine", "fail:500x9 always", "also fine"], task);
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    let generations = column(&distiset, "generation");
    assert_eq!(generations[0], json!("echo: fine"));
    assert_eq!(generations[1], Value::Null);
    assert_eq!(generations[2], json!("echo: also fine"));
    let error = first_error(&column(&distiset, METADATA_COLUMN)[1]);
    assert!(
        error.contains("kept failing after 4 attempts") && error.contains("500"),
        "{error}"
    );
    let log = std::fs::read_to_string(dir.path().join("pipeline.log")).unwrap();
    assert!(log.contains("1 with errors"), "{log}");
}

#[tokio::test]
async fn a_timed_out_attempt_is_retried() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let task = TextGeneration::new(openai(&server).timeout(Duration::from_millis(300)));
    let mut pipeline = pipeline_of(&["slow one"], task);
    let start = Instant::now();
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(column(&distiset, "generation")[0], json!("echo: slow one"));
}

#[tokio::test]
async fn the_concurrency_limit_is_honoured_across_batches() {
    let server = server(50).await;
    let dir = tempfile::tempdir().unwrap();
    let task = TextGeneration::new(openai(&server).max_concurrency(8));
    let instructions: Vec<String> = (0..64).map(|i| format!("q{i}")).collect();
    let refs: Vec<&str> = instructions.iter().map(String::as_str).collect();
    let mut pipeline = pipeline_of(&refs, task);
    run(&mut pipeline, dir.path()).await.unwrap();
    // Batches hold 4 rows: 8 in flight means batches overlap, and never more than the limit.
    assert_eq!(server.max_in_flight(), 8);
}

#[tokio::test]
async fn requests_stay_in_flight_across_batch_boundaries() {
    let server = server(100).await;
    let dir = tempfile::tempdir().unwrap();
    let task = TextGeneration::new(openai(&server).max_concurrency(32));
    let instructions: Vec<String> = (0..96).map(|i| format!("q{i}")).collect();
    let refs: Vec<&str> = instructions.iter().map(String::as_str).collect();
    let mut pipeline = pipeline_of(&refs, task);
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    // Batches of 4 rows: 32 in flight at once means eight batches were on the wire together
    // (how long that takes is the benchmark's business, not a test's).
    assert_eq!(server.max_in_flight(), 32);
    let generations = column(&distiset, "generation");
    assert_eq!(generations[95], json!("echo: q95"), "still in input order");
}

#[tokio::test]
async fn requests_per_minute_are_respected() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let llm = openai(&server).rate_limits(RateLimits {
        requests_per_minute: Some(1200),
        tokens_per_minute: None,
    });
    let instructions: Vec<String> = (0..40).map(|i| format!("q{i}")).collect();
    let refs: Vec<&str> = instructions.iter().map(String::as_str).collect();
    let mut pipeline = pipeline_of(&refs, TextGeneration::new(llm));
    let start = Instant::now();
    run(&mut pipeline, dir.path()).await.unwrap();
    // 20 per second after a burst of 20: the other 20 take about a second.
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

#[tokio::test]
async fn exhausted_limits_announced_by_the_server_pause_requests() {
    let server = LlmServer::start(LlmState {
        key: Some(KEY.to_owned()),
        record: true,
        exhaust_every: Some((3, "400ms".to_owned())),
        ..LlmState::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let task = TextGeneration::new(openai(&server).max_concurrency(1));
    let mut pipeline = pipeline_of(&["a", "b", "c", "d", "e"], task);
    run(&mut pipeline, dir.path()).await.unwrap();
    let arrivals = server.state.arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 5);
    // The third answer said none left for 400 ms: the fourth request waited.
    let gap = arrivals[3] - arrivals[2];
    assert!(gap >= Duration::from_millis(380), "{gap:?}");
    assert!(arrivals[2] - arrivals[1] < Duration::from_millis(200));
}

#[tokio::test]
async fn usage_is_counted_and_logged() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let llm = openai(&server);
    let mut pipeline = pipeline_of(
        &["one two three", "four five"],
        TextGeneration::new(llm.clone()),
    );
    run(&mut pipeline, dir.path()).await.unwrap();
    let usage = llm.usage();
    assert_eq!(
        (usage.requests, usage.input_tokens, usage.output_tokens),
        (2, 5, 10)
    );
    let log = std::fs::read_to_string(dir.path().join("pipeline.log")).unwrap();
    assert!(
        log.contains("OpenAI `test-model`: 2 requests (0 failed, 0 retries), 5 input tokens, 10 output tokens"),
        "{log}"
    );
}

#[tokio::test]
async fn every_error_shape_becomes_a_clear_row_error() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let llm = openai(&server).retry(RetryPolicy {
        max_attempts: 2,
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    });
    let cases = [
        ("status:400 long", "maximum context length is 8192 tokens"),
        ("shape:detail", "field required"),
        ("shape:plain", "Bad Request: prompt rejected"),
        ("shape:int-code", "invalid temperature (400)"),
        ("shape:string-error", "Input validation error"),
        ("malformed", "malformed answer"),
        ("cut always", "kept failing after 2 attempts"),
        ("empty", "returned no text"),
    ];
    let prompts: Vec<&str> = cases.iter().map(|(p, _)| *p).chain(["fine"]).collect();
    let mut pipeline = pipeline_of(&prompts, TextGeneration::new(llm));
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    let metadata = column(&distiset, METADATA_COLUMN);
    let generations = column(&distiset, "generation");
    for (row, (prompt, expected)) in cases.iter().enumerate() {
        let error = first_error(&metadata[row]);
        assert!(error.contains(expected), "{prompt}: {error}");
        assert_eq!(metadata[row]["errors"][0]["step"], "generate");
        assert_eq!(generations[row], Value::Null, "{prompt}");
    }
    assert_eq!(generations[cases.len()], json!("echo: fine"));
}

#[tokio::test]
async fn a_rejected_key_stops_the_run_naming_the_variable_without_the_key() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let wrong = "sk-wrong-secret-4242";
    // The key comes from the environment: set it in a child process of its own, as setting it
    // here would race with the other tests reading theirs.
    if std::env::var("GROQ_API_KEY").ok().as_deref() != Some(wrong) {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "a_rejected_key_stops_the_run_naming_the_variable_without_the_key",
                "--exact",
            ])
            .env("GROQ_API_KEY", wrong)
            .status()
            .unwrap();
        assert!(status.success(), "the test failed in its child process");
        return;
    }
    let llm = OpenAi::preset(Preset::Groq, "llama").base_url(server.v1());
    assert!(!format!("{llm:?}").contains(wrong));
    let instructions: Vec<String> = (0..200).map(|i| format!("q{i}")).collect();
    let refs: Vec<&str> = instructions.iter().map(String::as_str).collect();
    let mut pipeline = pipeline_of(&refs, TextGeneration::new(llm));
    let error = run(&mut pipeline, dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("step `generate`"), "{error}");
    assert!(
        error.contains("Groq rejected the request with HTTP 401"),
        "{error}"
    );
    assert!(error.contains("GROQ_API_KEY"), "{error}");
    assert!(!error.contains(wrong), "the key leaked: {error}");
    // Stopped at once: far fewer requests than rows.
    assert!(server.seen().len() < 200, "{}", server.seen().len());
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(wrong),
            "the key leaked into {}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn a_missing_key_stops_the_run_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    // Mistral's own URL: nothing may be sent there from a test, and nothing is.
    let llm = OpenAi::preset(Preset::Mistral, "mistral-small");
    if std::env::var("MISTRAL_API_KEY").is_ok() {
        return;
    }
    let mut pipeline = pipeline_of(&["a"], TextGeneration::new(llm));
    let error = run(&mut pipeline, dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("step `generate`")
            && error.contains("Mistral needs an API key: set MISTRAL_API_KEY"),
        "{error}"
    );
}

#[tokio::test]
async fn an_endpoint_never_reached_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on any more: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let llm = OpenAi::new("m")
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .retry(fast_retries());
    let instructions: Vec<String> = (0..40).map(|i| format!("q{i}")).collect();
    let refs: Vec<&str> = instructions.iter().map(String::as_str).collect();
    let mut pipeline = pipeline_of(&refs, TextGeneration::new(llm));
    let error = run(&mut pipeline, dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("step `generate`")
            && error.contains(&format!(
                "OpenAI cannot be reached at http://127.0.0.1:{port}/v1"
            ))
            && error.contains("4 attempts")
            && error.contains("check the base URL"),
        "{error}"
    );
}

#[tokio::test]
async fn a_missing_model_stops_the_run() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = pipeline_of(&["status:404"], TextGeneration::new(openai(&server)));
    let error = run(&mut pipeline, dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("HTTP 404 for model `test-model`"), "{error}");
}

#[tokio::test]
async fn num_generations_emit_one_row_each_or_one_grouped_row() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let task = TextGeneration::new(openai(&server)).num_generations(3);
    let mut pipeline = pipeline_of(&["a", "b"], task);
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    // One request per row with `n = 3`: the server numbers its choices.
    assert_eq!(
        column(&distiset, "generation"),
        [
            "echo: a #0",
            "echo: a #1",
            "echo: a #2",
            "echo: b #0",
            "echo: b #1",
            "echo: b #2"
        ]
    );
    assert_eq!(server.seen().len(), 2);
    assert_eq!(column(&distiset, "instruction")[4], json!("b"));

    let task = TextGeneration::new(openai(&server))
        .num_generations(2)
        .group_generations(true);
    let mut grouped = pipeline_of(&["a", "b"], task);
    let distiset = run(&mut grouped, &dir.path().join("grouped"))
        .await
        .unwrap();
    assert_eq!(
        column(&distiset, "generation"),
        [
            json!(["echo: a #0", "echo: a #1"]),
            json!(["echo: b #0", "echo: b #1"])
        ]
    );
    let metadata = column(&distiset, METADATA_COLUMN);
    // The server counts both choices' tokens together: each gets half, marked as estimated.
    assert_eq!(
        metadata[0]["statistics_generate"],
        json!({"input_tokens": [1, 1], "output_tokens": [5, 5], "output_tokens_estimated": true})
    );
}

#[tokio::test]
async fn the_n_parameter_gives_several_choices_per_request() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let llm = openai(&server).params(GenerationParams {
        n: Some(2),
        ..GenerationParams::default()
    });
    let mut pipeline = pipeline_of(&["a"], TextGeneration::new(llm));
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    assert_eq!(
        column(&distiset, "generation"),
        ["echo: a #0", "echo: a #1"]
    );
    assert_eq!(server.seen().len(), 1);
}

#[derive(distil::Row)]
struct Question {
    question: String,
    context: String,
}

#[tokio::test]
async fn templates_render_columns_and_are_checked_before_the_run() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let rows = [json!({"question": "why?", "context": "because"})];
    let mut templated = Pipeline::new("template");
    templated.add("load", LoadDataFromDicts::untyped(rows.clone()));
    templated.add(
        "generate",
        TextGeneration::<Question>::with_input(openai(&server))
            .template("Context: {{ context }} Question: {{ question }}"),
    );
    templated.connect("load", "generate");
    let distiset = run(&mut templated, dir.path()).await.unwrap();
    assert_eq!(
        column(&distiset, "generation")[0],
        json!("echo: Context: because Question: why?")
    );

    let mut templated = Pipeline::new("bad-template");
    templated.add("load", LoadDataFromDicts::untyped(rows));
    templated.add(
        "generate",
        TextGeneration::<Question>::with_input(openai(&server)).template("{{ questoin }}"),
    );
    templated.connect("load", "generate");
    let before = server.seen().len();
    let error = run(&mut templated, &dir.path().join("bad"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("step `generate`")
            && error.contains("`questoin`")
            && error.contains("`question`, `context`"),
        "{error}"
    );
    assert_eq!(server.seen().len(), before, "no request before the check");
}

#[tokio::test]
async fn chat_generation_sends_the_conversation() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        json!({"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}]}),
        json!({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}),
    ];
    let mut pipeline = Pipeline::new("chat");
    pipeline.add("load", LoadDataFromDicts::untyped(rows));
    pipeline.add("chat", ChatGeneration::new(openai(&server)));
    pipeline.connect("load", "chat");
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    assert_eq!(column(&distiset, "generation")[0], json!("echo: hi"));
    let error = first_error(&column(&distiset, METADATA_COLUMN)[1]);
    assert!(error.contains("ends with an assistant message"), "{error}");
    assert_eq!(server.seen().len(), 1);
    assert_eq!(server.seen()[0].body["messages"][0]["role"], "system");
}

#[tokio::test]
async fn anthropic_speaks_the_messages_api() {
    let server = server(0).await;
    let llm = Anthropic::new("claude-test")
        .base_url(&server.url)
        .api_key(KEY);
    let prompt = Prompt::Chat(vec![
        distil::steps::ChatMessage::system("Be brief."),
        distil::steps::ChatMessage::user("hello"),
    ]);
    let params = GenerationParams {
        stop: Some(vec!["END".into()]),
        temperature: Some(0.5),
        ..GenerationParams::default()
    };
    let answer = llm.generate(&prompt, &params).await.unwrap();
    assert_eq!(answer.choices[0].text.as_deref(), Some("echo: hello"));
    assert_eq!(
        (answer.input_tokens, answer.output_tokens),
        (Some(1), Some(5))
    );
    let seen = &server.seen()[0];
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.headers["x-api-key"], KEY);
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    assert_eq!(seen.body["system"], "Be brief.");
    assert_eq!(seen.body["max_tokens"], 1024);
    assert_eq!(seen.body["stop_sequences"], json!(["END"]));
    assert_eq!(
        seen.body["messages"],
        json!([{"role": "user", "content": "hello"}])
    );

    let wrong = Anthropic::new("claude-test")
        .base_url(&server.url)
        .api_key("sk-ant-wrong");
    let error = wrong.generate(&prompt, &params).await.unwrap_err();
    assert!(error.is_fatal());
    assert!(!error.message().contains("sk-ant-wrong"), "{error}");
}

#[tokio::test]
async fn azure_uses_deployment_urls_and_the_api_key_header() {
    let server = server(0).await;
    let llm = AzureOpenAi::new(&server.url, "gpt-deploy", "2024-10-21").api_key(KEY);
    let answer = llm
        .generate(&"hello".into(), &GenerationParams::default())
        .await
        .unwrap();
    assert_eq!(answer.choices[0].text.as_deref(), Some("echo: hello"));
    let seen = &server.seen()[0];
    assert_eq!(seen.path, "/openai/deployments/gpt-deploy/chat/completions");
    assert_eq!(seen.headers["api-key"], KEY);
    assert!(!seen.headers.contains_key("authorization"));
}

#[tokio::test]
async fn hugging_face_and_raw_completions() {
    let server = server(0).await;
    let llm = HuggingFace::new("meta-llama/Llama-3.1-8B-Instruct")
        .base_url(server.v1())
        .api_key(KEY);
    let answer = llm
        .generate(
            &Prompt::Text("Once upon".into()),
            &GenerationParams::default(),
        )
        .await
        .unwrap();
    assert_eq!(answer.choices[0].text.as_deref(), Some("echo: Once upon"));
    let seen = &server.seen()[0];
    assert_eq!(seen.path, "/v1/completions");
    assert_eq!(seen.body["prompt"], "Once upon");
    assert_eq!(seen.headers["authorization"], format!("Bearer {KEY}"));
}

#[tokio::test]
async fn the_llm_is_described_without_its_key() {
    let server = server(0).await;
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = pipeline_of(&["a"], TextGeneration::new(openai(&server)));
    run(&mut pipeline, dir.path()).await.unwrap();
    let yaml = std::fs::read_to_string(dir.path().join("pipeline.yaml")).unwrap();
    assert!(
        yaml.contains(r#""llm": {"provider":"OpenAI","model":"test-model","base_url":""#),
        "{yaml}"
    );
    for file in walk(dir.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(
            !text.contains(KEY),
            "the key leaked into {}",
            file.display()
        );
    }
}
