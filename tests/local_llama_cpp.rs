//! The embedded LLM on its llama.cpp engine (feature `llama-cpp`), on the default model
//! obtained as tests/local.rs obtains it: the same provider as on candle (prompt text and ids,
//! usage, settings), greedy text, batched and single-sequence decoding agreeing, a pipeline
//! run, and the engine recorded in a pipeline file.

#![cfg(feature = "llama-cpp")]

use std::sync::OnceLock;

use distil::llm::{GenerationParams, Llm, LocalEngine, LocalLlm, Prompt};
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;
use distil::tasks::TextGeneration;
use distil::{METADATA_COLUMN, Pipeline, RunOptions, Value};
use serde_json::json;

/// The model on llama.cpp, loaded once for every test of this file.
fn model() -> &'static LocalLlm {
    static MODEL: OnceLock<LocalLlm> = OnceLock::new();
    MODEL.get_or_init(|| {
        LocalLlm::new_with_engine(LocalEngine::LlamaCpp).expect("the default model loads")
    })
}

fn greedy(tokens: u64) -> GenerationParams {
    GenerationParams {
        temperature: Some(0.0),
        max_new_tokens: Some(tokens),
        ..GenerationParams::default()
    }
}

async fn text(llm: &LocalLlm, prompt: &Prompt, params: &GenerationParams) -> String {
    let generations = llm.generate(prompt, params).await.unwrap();
    generations.choices[0].text.clone().unwrap()
}

#[tokio::test]
async fn greedy_decoding_answers_on_llama_cpp() {
    assert_eq!(model().engine(), LocalEngine::LlamaCpp);
    let prompt = Prompt::Chat(vec![ChatMessage::user("What is the capital of France?")]);
    let generations = model().generate(&prompt, &greedy(16)).await.unwrap();
    let answer = generations.choices[0].text.clone().unwrap();
    // SmolLM2-135M's own greedy answer (candle's too), not a correct one.
    assert!(
        answer.starts_with("L'Étoile, la Marseillaise"),
        "{answer:?}"
    );
    assert!(!answer.contains("<|im_"), "{answer:?}");
    // The same prompt ids as the candle engine would read, and usage counts them.
    let ids = model().prompt_ids(&prompt).unwrap();
    assert_eq!(ids[..3], [1, 9690, 198]);
    assert_eq!(generations.input_tokens, Some(ids.len() as u64));
    let out = generations.output_tokens.unwrap();
    assert!(out > 0 && out <= 16, "{out}");
    assert_eq!(text(model(), &prompt, &greedy(16)).await, answer);
}

#[tokio::test]
async fn batched_greedy_decoding_gives_the_single_sequence_text() {
    let prompts: Vec<Prompt> = [
        "What is the capital of France?",
        "Write a haiku about the sea.",
        "List two prime numbers.",
        "Say hello.",
    ]
    .into_iter()
    .map(Prompt::from)
    .collect();
    let params = greedy(20);
    let mut alone = Vec::new();
    for prompt in &prompts {
        alone.push(text(model(), prompt, &params).await);
    }
    let together = futures_util::future::join_all(
        prompts
            .iter()
            .map(|prompt| model().generate(prompt, &params)),
    )
    .await;
    let together: Vec<String> = together
        .into_iter()
        .map(|g| g.unwrap().choices[0].text.clone().unwrap())
        .collect();
    assert_eq!(together, alone);
    assert!(alone.iter().all(|t| !t.trim().is_empty()), "{alone:?}");
}

#[tokio::test]
async fn seeds_stop_sequences_and_length_limits_apply_as_on_candle() {
    let sampled = GenerationParams {
        temperature: Some(0.9),
        top_p: Some(0.95),
        seed: Some(7),
        max_new_tokens: Some(24),
        ..GenerationParams::default()
    };
    let prompt: Prompt = "Name three colours.".into();
    let first = text(model(), &prompt, &sampled).await;
    assert!(!first.trim().is_empty());
    assert_eq!(text(model(), &prompt, &sampled).await, first);

    // A raw completion: no template is applied, so the prompt ends where the model continues.
    let raw = Prompt::Text("<|im_start|>user\nCount from 1 to 20, separated by commas.<|im_end|>\n<|im_start|>assistant\n".into());
    let long = model().generate(&raw, &greedy(6)).await.unwrap();
    assert_eq!(long.output_tokens, Some(6));
    assert_eq!(long.choices[0].finish_reason.as_deref(), Some("length"));
    let stop = GenerationParams {
        stop: Some(vec!["3".into()]),
        ..greedy(40)
    };
    let cut = model().generate(&raw, &stop).await.unwrap();
    let cut_text = cut.choices[0].text.clone().unwrap();
    assert_eq!(cut.choices[0].finish_reason.as_deref(), Some("stop"));
    assert!(
        !cut_text.contains('3') && cut_text.contains('2'),
        "{cut_text:?}"
    );
}

#[tokio::test]
async fn a_prompt_longer_than_the_context_fails_its_row_only() {
    let prompt = Prompt::Text("word ".repeat(20_000));
    let e = model().generate(&prompt, &greedy(4)).await.unwrap_err();
    assert!(!e.is_fatal(), "{e}");
    assert!(e.message().contains("context"), "{e}");
    let after = text(model(), &"Say hello.".into(), &greedy(4)).await;
    assert!(!after.is_empty());
}

#[derive(Row)]
struct Instruction {
    instruction: String,
}

#[tokio::test]
async fn a_pipeline_generates_rows_on_llama_cpp() {
    let dir = tempfile::tempdir().unwrap();
    // A model of its own: the other tests' requests do not reach its usage counters.
    let llm = LocalLlm::new_with_engine(LocalEngine::LlamaCpp)
        .unwrap()
        .temperature(0.0)
        .max_new_tokens(12);
    let rows: Vec<Instruction> = ["Say yes.", "Name a fruit.", "What is 2 + 2?"]
        .into_iter()
        .map(|i| Instruction {
            instruction: i.into(),
        })
        .collect();
    let mut pipeline: Pipeline = pipeline! {
        name: "local-llama-cpp-test",
        load = LoadDataFromDicts::<Instruction>::new(rows),
        generate = TextGeneration::new(llm.clone()),
        load >> generate,
    };
    let distiset = pipeline
        .run_with(RunOptions::new().output_dir(dir.path()).use_cache(false))
        .await
        .unwrap();
    let config = distiset.default_config().unwrap();
    let generations: Vec<&Value> = config.column("generation").collect();
    assert_eq!(generations.len(), 3);
    assert!(
        generations
            .iter()
            .all(|g| g.as_str().is_some_and(|t| !t.trim().is_empty())),
        "{generations:?}"
    );
    let metadata: Vec<&Value> = config.column(METADATA_COLUMN).collect();
    let statistics = &metadata[2]["statistics_generate"];
    let expected_in = llm.prompt_ids(&"What is 2 + 2?".into()).unwrap().len();
    assert_eq!(
        statistics["input_tokens"],
        json!(expected_in),
        "{statistics}"
    );
    let usage = llm.usage();
    assert_eq!(usage.requests, 3);
    assert!(
        usage.output_tokens > 0 && usage.output_tokens <= 36,
        "{usage:?}"
    );
}

#[test]
fn a_pipeline_file_records_the_engine_and_loads_it_again() {
    let llm = model().clone().temperature(0.0);
    assert_eq!(llm.describe()["engine"], json!("llama-cpp"));
    let mut pipeline = Pipeline::new("local-llama-cpp-file");
    pipeline.add(
        "load",
        LoadDataFromDicts::untyped(vec![json!({"instruction": "Say hi"})]),
    );
    pipeline.add("generate", TextGeneration::new(llm));
    pipeline.connect("load", "generate");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipeline.yaml");
    pipeline.save(&file).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(r#""engine":"llama-cpp""#), "{text}");
    let loaded = Pipeline::from_yaml(&file).unwrap();
    let again = dir.path().join("again.yaml");
    loaded.save(&again).unwrap();
    assert_eq!(std::fs::read_to_string(&again).unwrap(), text);
}

#[test]
fn engine_names_parse_and_unknown_ones_are_refused() {
    assert_eq!(
        "llama-cpp".parse::<LocalEngine>(),
        Ok(LocalEngine::LlamaCpp)
    );
    assert_eq!("candle".parse::<LocalEngine>(), Ok(LocalEngine::Candle));
    let e = "vllm".parse::<LocalEngine>().unwrap_err();
    assert!(e.contains("vllm") && e.contains("llama-cpp"), "{e}");
}
