//! Structured output against the LLM server on 127.0.0.1 (tests/support/llm_server.rs): the
//! schema of a Rust type in the request (OpenAI's `response_format`, Anthropic's forced tool),
//! typed columns out of `StructuredGeneration` and `#[task(structured)]` in a `pipeline!`, and
//! answers that are not the type as row errors.

#[path = "support/llm_run.rs"]
mod llm_run;
#[path = "support/llm_server.rs"]
mod llm_server;

use std::time::Duration;

use distil::llm::structured::{self, JsonSchema};
use distil::llm::{Anthropic, GenerationParams, Llm, OpenAi, RetryPolicy};
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;
use distil::tasks::{StructuredGeneration, TaskLlm};
use distil::{METADATA_COLUMN, Value};
use llm_run::{column, first_error, run};
use llm_server::{LlmServer, LlmState};
use serde::Deserialize;
use serde_json::json;

const KEY: &str = "sk-test-structured";

async fn server() -> LlmServer {
    LlmServer::start(LlmState {
        key: Some(KEY.to_owned()),
        record: true,
        ..LlmState::default()
    })
    .await
}

fn retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

fn openai(server: &LlmServer) -> OpenAi {
    OpenAi::new("test-model")
        .base_url(server.v1())
        .api_key(KEY)
        .retry(retries())
}

fn anthropic(server: &LlmServer) -> Anthropic {
    Anthropic::new("claude-test")
        .base_url(&server.url)
        .api_key(KEY)
        .retry(retries())
}

#[derive(Row)]
struct Prompted {
    instruction: String,
}

fn prompted(instructions: &[&str]) -> Vec<Prompted> {
    instructions
        .iter()
        .map(|i| Prompted {
            instruction: (*i).to_owned(),
        })
        .collect()
}

/// A review of a text: the typed answer the LLM is asked for.
#[derive(Row, Deserialize, JsonSchema, Debug)]
#[schemars(crate = "distil::llm::structured::schemars")]
struct Review {
    /// From 1 to 5.
    score: u8,
    tags: Vec<String>,
    comment: Option<String>,
}

#[derive(Row)]
struct Summary {
    summary: String,
}

/// Reads the review's columns with their types.
#[step]
fn summarize(score: u8, tags: Vec<String>, comment: Option<&str>, model_name: &str) -> Summary {
    Summary {
        summary: format!(
            "{score}/5 [{}] {} by {model_name}",
            tags.join(","),
            comment.unwrap_or("-")
        ),
    }
}

const GOOD: &str = r#"Review this. json:{"score": 4, "tags": ["clear", "short"], "comment": null}"#;
const ALSO_GOOD: &str = r#"json:{"score": 2, "tags": [], "comment": "vague"}"#;

#[tokio::test]
async fn structured_generation_asks_openai_for_the_schema_and_fills_typed_columns() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompted>::new(prompted(&[GOOD, ALSO_GOOD])),
        review = StructuredGeneration::<Review>::new(openai(&server))
            .system_prompt("Answer in JSON.")
            .temperature(0.1),
        summarize = Summarize::new(),
        load >> review >> summarize,
    };
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();

    assert_eq!(column(&distiset, "score"), [json!(4), json!(2)]);
    assert_eq!(
        column(&distiset, "tags"),
        [json!(["clear", "short"]), json!([])]
    );
    assert_eq!(column(&distiset, "comment"), [Value::Null, json!("vague")]);
    assert_eq!(
        column(&distiset, "summary"),
        [
            json!("4/5 [clear,short] - by test-model"),
            json!("2/5 [] vague by test-model")
        ]
    );
    let metadata = column(&distiset, METADATA_COLUMN);
    assert!(metadata[0].get("errors").is_none(), "{:#}", metadata[0]);

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let body = &seen[0].body;
    assert_eq!(body["temperature"], json!(0.1));
    let format = &body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["name"], "Review");
    assert_eq!(format["json_schema"]["strict"], true);
    let schema = &format["json_schema"]["schema"];
    assert_eq!(schema, &structured::strict_schema::<Review>());
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], json!(["score", "tags", "comment"]));
    assert_eq!(
        schema["properties"]["comment"]["type"],
        json!(["string", "null"])
    );
    assert_eq!(schema["properties"]["score"]["description"], "From 1 to 5.");
    assert!(schema.get("$schema").is_none());
}

#[tokio::test]
async fn an_answer_that_is_not_the_type_is_a_row_error_that_keeps_the_raw_output() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let wrong_type = r#"json:{"score": "high", "tags": [], "comment": null}"#;
    let missing = r#"json:{"score": 3}"#;
    let not_json = "Just a sentence.";
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompted>::new(prompted(&[GOOD, wrong_type, missing, not_json])),
        review = StructuredGeneration::<Review>::new(openai(&server)),
        load >> review,
    };
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    let scores = column(&distiset, "score");
    assert_eq!(scores, [json!(4), Value::Null, Value::Null, Value::Null]);
    assert!(
        column(&distiset, "model_name")
            .iter()
            .all(|m| m == "test-model")
    );
    let metadata = column(&distiset, METADATA_COLUMN);
    let expected = [
        (1, "does not match `Review`: invalid type: string \"high\""),
        (2, "does not match `Review`: missing field `tags`"),
        (3, "the generation is not valid JSON"),
    ];
    for (row, message) in expected {
        let error = first_error(&metadata[row]);
        assert!(error.contains("formatting the output"), "{error}");
        assert!(error.contains(message), "row {row}: {error}");
        assert_eq!(metadata[row]["errors"][0]["step"], "review");
    }
    assert_eq!(
        metadata[1]["raw_output_review"],
        json!(r#"{"score": "high", "tags": [], "comment": null}"#)
    );
    assert_eq!(
        metadata[3]["raw_output_review"],
        json!("echo: Just a sentence.")
    );
    assert!(metadata[0].get("errors").is_none());
}

#[tokio::test]
async fn anthropic_answers_through_a_forced_tool() {
    let server = server().await;
    let llm = anthropic(&server);
    let params = GenerationParams {
        response_format: Some(structured::response_format::<Review>()),
        ..GenerationParams::default()
    };
    let answer = llm.generate(&GOOD.into(), &params).await.unwrap();
    let text = answer.choices[0].text.as_deref().unwrap();
    let review: Review = structured::parse(text).unwrap();
    assert_eq!((review.score, review.tags.len()), (4, 2));
    assert_eq!(answer.choices[0].finish_reason.as_deref(), Some("tool_use"));

    let body = &server.seen()[0].body;
    let tools = body["tools"].as_array().expect("one tool");
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0]["name"], "Review");
    assert!(
        tools[0]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(
        tools[0]["input_schema"],
        structured::strict_schema::<Review>()
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "Review"})
    );
    assert!(body.get("response_format").is_none());

    // Without a response format: no tool, and the text as before.
    let plain = llm
        .generate(&"hello".into(), &GenerationParams::default())
        .await
        .unwrap();
    assert_eq!(plain.choices[0].text.as_deref(), Some("echo: hello"));
    assert!(server.seen()[1].body.get("tools").is_none());
}

#[tokio::test]
async fn structured_generation_with_anthropic_fills_typed_columns() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let mismatch = r#"json:{"score": 9000, "tags": [], "comment": null}"#;
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompted>::new(prompted(&[GOOD, mismatch])),
        review = StructuredGeneration::<Review>::new(anthropic(&server)),
        summarize = Summarize::new(),
        load >> review >> summarize,
    };
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    assert_eq!(
        column(&distiset, "summary")[0],
        json!("4/5 [clear,short] - by claude-test")
    );
    let metadata = column(&distiset, METADATA_COLUMN);
    let error = first_error(&metadata[1]);
    assert!(error.contains("does not match `Review`"), "{error}");
    assert!(
        metadata[1]["raw_output_review"]
            .as_str()
            .is_some_and(|raw| raw.contains("9000")),
        "{:#}",
        metadata[1]
    );
    assert!(
        server
            .seen()
            .iter()
            .all(|s| s.body["tool_choice"]["name"] == "Review")
    );
}

#[derive(Row)]
struct Question {
    question: String,
    context: String,
}

#[tokio::test]
async fn a_templated_input_row_and_the_task_s_own_format_first() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let rows = vec![Question {
        question: r#"json:{"score": 5, "tags": ["x"], "comment": "ok"}"#.into(),
        context: "ctx".into(),
    }];
    let own = json!({"name": "Mine", "schema": {"type": "object"}});
    let llm = openai(&server).params(GenerationParams {
        response_format: Some(json!({"name": "Shared", "schema": {"type": "object"}})),
        ..GenerationParams::default()
    });
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Question>::new(rows),
        review = StructuredGeneration::<Review, Question>::with_input(llm.clone())
            .template("{{ context }}: {{ question }}"),
        load >> review,
    };
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    assert_eq!(column(&distiset, "comment"), [json!("ok")]);
    assert_eq!(column(&distiset, "question").len(), 1);
    let body = &server.seen()[0].body;
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .starts_with("ctx: json:"),
        "{body:#}"
    );
    // The output row's format over the LLM's.
    assert_eq!(body["response_format"]["json_schema"]["name"], "Review");

    // A format set on the task itself wins.
    let params = GenerationParams {
        response_format: Some(own),
        ..GenerationParams::default()
    };
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompted>::new(prompted(&[GOOD])),
        review = StructuredGeneration::<Review>::new(llm).params(params),
        load >> review,
    };
    run(&mut pipeline, &dir.path().join("own")).await.unwrap();
    let body = &server.seen()[1].body;
    assert_eq!(body["response_format"]["json_schema"]["name"], "Mine");
}

#[derive(Row, Deserialize, JsonSchema)]
#[schemars(crate = "distil::llm::structured::schemars")]
struct Verdict {
    correct: bool,
    reason: String,
}

/// A custom task asking for its output row's schema.
#[derive(Clone)]
struct Grade {
    llm: TaskLlm,
}

#[task(structured)]
impl Grade {
    fn format_input(&self, instruction: &str) -> String {
        format!("Grade: {instruction}")
    }

    fn format_output(&self, generation: &str) -> Result<Verdict, String> {
        structured::parse(generation)
    }
}

#[derive(Row)]
struct Labeled {
    label: String,
}

#[step]
fn label(correct: bool, reason: &str) -> Labeled {
    Labeled {
        label: format!("{correct}: {reason}"),
    }
}

#[tokio::test]
async fn a_custom_task_declared_structured_sends_its_output_row_s_schema() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let answer = r#"json:{"correct": true, "reason": "adds up"}"#;
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompted>::new(prompted(&[answer, "no json"])),
        grade = Grade { llm: TaskLlm::new(openai(&server)) }.temperature(0.0),
        label = Label::new(),
        load >> grade >> label,
    };
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    assert_eq!(column(&distiset, "label")[0], json!("true: adds up"));
    let metadata = column(&distiset, METADATA_COLUMN);
    assert!(first_error(&metadata[1]).contains("not valid JSON"));
    let body = &server.seen()[0].body;
    assert_eq!(body["response_format"]["json_schema"]["name"], "Verdict");
    assert_eq!(
        body["response_format"]["json_schema"]["schema"],
        structured::strict_schema::<Verdict>()
    );
}
