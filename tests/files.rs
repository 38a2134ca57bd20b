//! Pipelines as files: every built-in step and task saved as YAML and JSON and read back into
//! the same pipeline, user steps registered by name, malformed files named by file and key,
//! and a pipeline read back from a run's `pipeline.yaml` that runs against a loopback LLM
//! server with the same results.

#[path = "support/canned_llm.rs"]
mod canned_llm;

use std::collections::BTreeSet;
use std::path::Path;

use std::sync::Arc;

use distil::llm::{
    Anthropic, AzureOpenAi, ChatTemplate, Gemini, HuggingFace, Llm, LlmPool, Mistral, OpenAi,
    PoolStrategy, Preset,
};
use distil::pipeline::Registry;
use distil::prelude::*;
use distil::step::{BoxFuture, Input, Output, StepSpec};
use distil::steps::{
    CombineColumns, CombineOutputs, DataSampler, EmbeddingDedup, ExpandColumns, FileFormat,
    FormatChatGenerationDPO, FormatChatGenerationSFT, FormatTextGenerationDPO,
    FormatTextGenerationSFT, GroupColumns, KeepColumns, LoadDataFromDicts, LoadDataFromFileSystem,
    LoadDataFromHub, MergeColumns,
};
use distil::tasks::{
    Aspect, ChatGeneration, Clair, ComplexityScorer, EvolComplexity, EvolComplexityGenerator,
    EvolInstruct, EvolInstructGenerator, EvolQuality, GenerateEmbeddings, GenerateSentencePair,
    Genstruct, InstructionBacktranslation, Magpie, MagpieGenerator, PooledGeneration,
    PrometheusEval, PrometheusMode, QualityScorer, SelfInstruct, SentencePairAction,
    TextClassification, TextGeneration, UltraFeedback, Urial,
};
use serde_json::json;

#[derive(Row, Clone, Debug)]
struct Question {
    question: String,
    context: String,
}

#[derive(Row, Clone, Debug)]
struct Prompt {
    instruction: String,
}

const LLM_URL: &str = "http://127.0.0.1:9/v1";

/// One pipeline holding every built-in step and task, with settings off their defaults: an
/// untyped loader feeds the steps (its columns are JSON, which every input takes).
fn every_builtin() -> Pipeline {
    let llm = || {
        OpenAi::new("gpt-test")
            .base_url(LLM_URL)
            .max_concurrency(7)
            .temperature(0.3)
            .api_key("sk-never-written")
    };
    let row = json!({
        "instruction": "Say hi", "question": "Why?", "context": "Because.",
        "generation": "hi", "generations": ["a", "b"], "ratings": [1, 2],
        "response": "hello", "responses": ["x", "y"], "instructions": ["p", "q"],
        "input": "a topic", "messages": [{"role": "user", "content": "hi"}],
        "reference": "ref", "encoded": "[1, 2]", "anchor": "A cat.", "text": "Great!",
        "title": "Cats", "content": "Cats purr.", "task": "2 + 2?", "student_solution": "5",
        "conversation": [{"role": "user", "content": "hi"}], "system_prompt": "Be nice.",
        "embedding": [0.5, 0.25],
    });
    let mut p = Pipeline::new("every-builtin").with_description("all the built-ins");
    p.add("load", LoadDataFromDicts::untyped(vec![row.clone(), row]))
        .batch_size(7);
    p.add(
        "typed_load",
        LoadDataFromDicts::<Prompt>::new(vec![Prompt {
            instruction: "typed".into(),
        }]),
    );
    p.add(
        "files",
        LoadDataFromFileSystem::<Prompt>::new("data/*.jsonl")
            .format(FileFormat::JsonLines)
            .skip_bad_records(true),
    );
    p.add(
        "hub",
        LoadDataFromHub::<Prompt>::new("owner/data")
            .config("chat")
            .split("test")
            .revision("v1"),
    );
    p.add(
        "sampler",
        DataSampler::new(vec![json!({"q": 1}), json!({"q": 2})])
            .size(3)
            .samples(9)
            .seed(5),
    );
    p.add("keep", KeepColumns::new(["instruction", "generation"]));
    p.add(
        "combine",
        CombineColumns::new(["generation"]).output_columns(["all_generations"]),
    );
    p.add(
        "group",
        GroupColumns::new(["generation"]).output_columns(["grouped"]),
    );
    p.add(
        "merge",
        MergeColumns::new(["response", "generation"]).output_column("both"),
    );
    p.add(
        "expand",
        ExpandColumns::new(["generations"])
            .rename("generations", "one")
            .encoded(false),
    );
    p.add("combine_outputs", CombineOutputs::new());
    p.add("sft", FormatTextGenerationSFT::new());
    p.add("chat_sft", FormatChatGenerationSFT::new());
    p.add("dpo", FormatTextGenerationDPO::new());
    p.add("chat_dpo", FormatChatGenerationDPO::new());
    p.add(
        "text",
        TextGeneration::<Question>::with_input(llm())
            .template("Q: {{ question }} C: {{ context }}")
            .system_prompt("Be brief.")
            .max_new_tokens(512)
            .num_generations(2),
    )
    .input_batch_size(4)
    .output_mapping("generation", "answer")
    .use_cache(false);
    p.add("chat", ChatGeneration::new(llm()));
    p.add("ultra", UltraFeedback::new(llm()).aspect(Aspect::Honesty));
    p.add("evol", EvolInstruct::new(llm()).seed(3));
    p.add("evol_complexity", EvolComplexity::new(llm()));
    p.add("evol_quality", EvolQuality::new(llm()).seed(9));
    p.add("quality", QualityScorer::new(llm()));
    p.add("complexity", ComplexityScorer::new(llm()));
    p.add(
        "self_instruct",
        SelfInstruct::new(llm())
            .num_instructions(3)
            .criteria("Short ones.")
            .application_description("A quiz."),
    )
    .input_mapping("input", "instruction");
    p.add(
        "judge",
        PrometheusEval::new(llm(), PrometheusMode::Absolute)
            .rubrics([("kind", "Is it kind?")])
            .rubric("kind")
            .reference(true),
    );
    p.add(
        "judge_anthropic",
        PrometheusEval::new(
            Anthropic::new("claude-test").base_url(LLM_URL),
            PrometheusMode::Relative,
        ),
    );
    p.add(
        "hf",
        ChatGeneration::new(HuggingFace::new("meta/llama").max_concurrency(3)),
    );
    let members: Vec<Arc<dyn Llm>> = vec![
        Arc::new(llm()),
        Arc::new(OpenAi::preset(Preset::Vllm, "qwen").max_concurrency(5)),
    ];
    p.add(
        "pooled",
        PooledGeneration::new(LlmPool::new(members).strategy(PoolStrategy::Random))
            .system_prompt("Answer in French."),
    );
    p.add(
        "mistral",
        ChatGeneration::new(Mistral::new("mistral-small")),
    );
    p.add(
        "groq",
        ChatGeneration::new(OpenAi::preset(Preset::Groq, "llama-3.1-8b-instant")),
    );
    p.add(
        "azure",
        ChatGeneration::new(AzureOpenAi::new(
            "https://resource.openai.azure.com",
            "gpt-4o",
            "2024-10-21",
        )),
    );
    p.add("backtranslation", InstructionBacktranslation::new(llm()));
    p.add(
        "sentence_pair",
        GenerateSentencePair::new(llm(), SentencePairAction::Query)
            .triplet(true)
            .hard_negative(true)
            .context("Cooking."),
    );
    p.add(
        "classify",
        TextClassification::new(llm())
            .n(2)
            .context("By sentiment.")
            .examples(["`Awful.` -> negative"])
            .described_labels([("positive", "Glad."), ("negative", "Sad.")])
            .default_label("none")
            .query_title("Review")
            .system_prompt("Classify.")
            .structured_output(true),
    );
    p.add("classify_free", TextClassification::new(llm()));
    p.add("genstruct", Genstruct::new(llm()));
    p.add("urial", Urial::new(llm()).max_new_tokens(64));
    p.add("clair", Clair::new(llm()).system_prompt("Teach."));
    let templated = || llm().chat_template(ChatTemplate::chatml());
    p.add(
        "magpie",
        Magpie::new(templated())
            .n_turns(2)
            .only_instruction(true)
            .system_prompt("Ask about cats."),
    );
    p.add(
        "embed",
        GenerateEmbeddings::new(
            OpenAi::new("text-embedding-3-small")
                .base_url(LLM_URL)
                .max_concurrency(3),
        )
        .texts_per_request(8),
    );
    p.add(
        "embed_mistral",
        GenerateEmbeddings::new(Mistral::new("mistral-embed")),
    );
    p.add(
        "dedup",
        EmbeddingDedup::new().threshold(0.8).drop_duplicates(true),
    );
    p.add(
        "gemini",
        ChatGeneration::new(Gemini::new("gemini-2.5-flash").max_concurrency(2)),
    );
    p.add(
        "vertex",
        ChatGeneration::new(Gemini::vertex(
            "my-project",
            "europe-west4",
            "gemini-2.5-pro",
        )),
    );
    // Every OpenAI-compatible preset, as the members of a pool any task can use.
    let presets: Vec<Arc<dyn Llm>> = [
        Preset::Vllm,
        Preset::Tgi,
        Preset::LlamaCpp,
        Preset::Ollama,
        Preset::Groq,
        Preset::Together,
        Preset::OpenRouter,
        Preset::DeepSeek,
    ]
    .into_iter()
    .map(|preset| Arc::new(OpenAi::preset(preset, "m")) as Arc<dyn Llm>)
    .collect();
    p.add("presets", UltraFeedback::new(LlmPool::new(presets.clone())));
    for (index, preset) in presets.iter().enumerate() {
        let name = format!("embed_preset_{index}");
        let described = preset.describe();
        let preset = match described["provider"].as_str().unwrap() {
            "vLLM" => Preset::Vllm,
            "TGI" => Preset::Tgi,
            "llama.cpp" => Preset::LlamaCpp,
            "Ollama" => Preset::Ollama,
            "Groq" => Preset::Groq,
            "Together" => Preset::Together,
            "OpenRouter" => Preset::OpenRouter,
            "DeepSeek" => Preset::DeepSeek,
            other => panic!("a preset named {other}"),
        };
        p.add(&name, GenerateEmbeddings::new(OpenAi::preset(preset, "e")));
        p.connect("load", &name);
    }
    p.add(
        "evol_generator",
        EvolInstructGenerator::new(llm())
            .num_instructions(4)
            .num_evolutions(2)
            .seed(11),
    );
    p.add(
        "complexity_generator",
        EvolComplexityGenerator::new(llm())
            .num_instructions(6)
            .num_evolutions(3)
            .generate_answers(true),
    );
    p.add(
        "magpie_generator",
        MagpieGenerator::new(templated())
            .num_rows(5)
            .n_turns(1)
            .system_prompt("You teach."),
    );
    let fed = [
        "backtranslation",
        "sentence_pair",
        "classify",
        "classify_free",
        "genstruct",
        "urial",
        "clair",
        "magpie",
        "embed",
        "embed_mistral",
        "dedup",
        "gemini",
        "vertex",
        "presets",
        "keep",
        "combine",
        "group",
        "merge",
        "expand",
        "combine_outputs",
        "sft",
        "chat_sft",
        "dpo",
        "chat_dpo",
        "text",
        "chat",
        "ultra",
        "evol",
        "evol_complexity",
        "evol_quality",
        "quality",
        "complexity",
        "self_instruct",
        "judge",
        "pooled",
        "mistral",
        "groq",
        "azure",
    ];
    for step in fed {
        p.connect("load", step);
    }
    p.route("load", sample_n_steps(1), ["judge_anthropic", "hf"]);
    for (from, keep, column) in [
        ("typed_load", "keep_typed", "instruction"),
        ("files", "keep_files", "instruction"),
        ("hub", "keep_hub", "instruction"),
        ("sampler", "keep_sampler", "q"),
        ("evol_generator", "keep_evolved", "instruction"),
        ("complexity_generator", "keep_complex", "answer"),
        ("magpie_generator", "keep_magpie", "instruction"),
    ] {
        p.add(keep, KeepColumns::new([column]));
        p.connect(from, keep);
    }
    p
}

/// The cache of this test binary: a folder of its own (set once, before any test runs a
/// pipeline), so that what a dry run leaves there can be checked.
fn cache_root() -> &'static Path {
    static ROOT: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("distil-files-cache-")
            .tempdir()
            .unwrap();
        // SAFETY: set once, before any thread of the test reads the environment for it.
        unsafe { std::env::set_var("DISTIL_CACHE_DIR", dir.path()) };
        dir
    })
    .path()
}

fn temp_dir(name: &str) -> tempfile::TempDir {
    cache_root();
    tempfile::Builder::new()
        .prefix(&format!("distil-files-{name}-"))
        .tempdir()
        .unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn every_builtin_step_and_task_round_trips_through_yaml_and_json() {
    let original = every_builtin();
    original.validate().unwrap();
    let dir = temp_dir("round-trip");
    let yaml = dir.path().join("pipeline.yaml");
    let json_file = dir.path().join("pipeline.json");
    original.save(&yaml).unwrap();
    original.save(&json_file).unwrap();

    // Every registered step type is in the pipeline, so none goes untested.
    let used: BTreeSet<String> = original
        .step_names()
        .map(|name| {
            let at = read(&yaml);
            let marker = format!("- name: \"{name}\"\n    type_name: \"");
            let start = at.find(&marker).unwrap() + marker.len();
            at[start..].split('"').next().unwrap().to_owned()
        })
        .collect();
    let registry = Registry::new();
    let registered: BTreeSet<String> = registry.step_types().map(str::to_owned).collect();
    assert_eq!(used, registered);
    // And every LLM and embeddings provider (the in-process model aside: it needs its files).
    let document: Value = serde_json::from_str(&read(&json_file)).unwrap();
    fn llm_providers(llm: &Value, found: &mut BTreeSet<String>) {
        found.insert(llm["provider"].as_str().unwrap().to_owned());
        for member in llm["members"].as_array().into_iter().flatten() {
            llm_providers(member, found);
        }
    }
    let (mut llms, mut embedders) = (BTreeSet::new(), BTreeSet::new());
    for step in document["pipeline"]["steps"].as_array().unwrap() {
        if step["llm"].is_object() {
            llm_providers(&step["llm"], &mut llms);
        }
        if let Some(provider) = step["embeddings"]["provider"].as_str() {
            embedders.insert(provider.to_owned());
        }
    }
    let registered_llms: BTreeSet<String> = registry
        .llm_providers()
        .filter(|p| *p != "local")
        .map(str::to_owned)
        .collect();
    assert_eq!(llms, registered_llms);
    let registered_embedders: BTreeSet<String> =
        registry.embeddings_providers().map(str::to_owned).collect();
    assert_eq!(embedders, registered_embedders);

    // No step lists a parameter twice (a task's own `seed` or `n` over its LLM's).
    for (step, params) in original.params() {
        let mut names: Vec<&str> = params.iter().map(|(name, _)| name.as_str()).collect();
        names.sort();
        let all = names.len();
        names.dedup();
        assert_eq!(names.len(), all, "step `{step}` lists a parameter twice");
    }

    let from_yaml = Pipeline::from_yaml(&yaml).unwrap();
    let from_json = Pipeline::from_json(&json_file).unwrap();
    for (loaded, label) in [(&from_yaml, "yaml"), (&from_json, "json")] {
        let again = dir.path().join(format!("again-from-{label}.yaml"));
        loaded.save(&again).unwrap();
        assert_eq!(read(&again), read(&yaml), "through {label}");
        let again_json = dir.path().join(format!("again-from-{label}.json"));
        loaded.save(&again_json).unwrap();
        assert_eq!(read(&again_json), read(&json_file), "through {label}");
        assert_eq!(loaded.params(), original.params());
        assert_eq!(loaded.name(), "every-builtin");
        assert_eq!(loaded.description(), Some("all the built-ins"));
    }

    let text = read(&yaml);
    // Settings off their defaults are recorded, and read back above.
    for expected in [
        r#""template": "Q: {{ question }} C: {{ context }}""#,
        r#""system_prompt": "Be brief.""#,
        r#""max_new_tokens": 512"#,
        r#""num_generations": 2"#,
        r#""max_concurrency":7"#,
        r#""api_version":"2024-10-21""#,
        r#""aspect": "honesty""#,
        r#""rubrics": [["kind","Is it kind?"]]"#,
        "use_cache: false",
        r#""answer""#,
        "router: \"sample_n_steps(1)\"",
        r#""strategy":"Random""#,
        r#""system_prompt": "Answer in French.""#,
        r#""only_instruction": true"#,
        r#""generate_answers": true"#,
        r#""hard_negative": true"#,
        r#""label_descriptions": ["Glad.","Sad."]"#,
        r#""structured_output": true"#,
        r#""texts_per_request": 8"#,
        r#""provider":"pool""#,
        r#""chat_template":"#,
        r#""project":"my-project""#,
    ] {
        assert!(text.contains(expected), "{expected} in\n{text}");
    }
    // The key never is.
    assert!(!text.contains("sk-never-written"));
    assert!(!read(&json_file).contains("sk-never-written"));
}

/// A user's step with a runtime parameter, made by `#[step]`.
#[derive(Row)]
struct Shouted {
    shouted: String,
}

#[step]
fn shout(instruction: &str, #[param(default = 1usize)] times: usize) -> Shouted {
    Shouted {
        shouted: instruction.to_uppercase().repeat(times),
    }
}

/// A user's step with settings of its own, recorded by `describe`.
struct Suffix {
    suffix: String,
}

#[step(dynamic)]
impl Step for Suffix {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("Suffix", StepKind::Normal);
        spec.inputs
            .push(ColumnSpec::new("shouted", DataType::String));
        spec.outputs
            .push(ColumnSpec::new("suffixed", DataType::String));
        spec
    }

    fn process<'a>(&'a mut self, input: Input<'a>) -> BoxFuture<'a, distil::Result<Output>> {
        let cells = input
            .column("shouted")
            .unwrap_or_default()
            .iter()
            .map(|v| Value::from(format!("{}{}", v.as_str().unwrap_or_default(), self.suffix)))
            .collect();
        Box::pin(async move { Ok(Output::same_rows().column("suffixed", cells)) })
    }

    fn describe(&self) -> Option<Value> {
        Some(json!({ "suffix": self.suffix }))
    }
}

fn user_registry() -> Registry {
    let mut registry = Registry::new();
    registry
        .step("Shout", |_| Ok(Box::new(Shout::new())))
        .step("Suffix", |settings| {
            Ok(Box::new(Suffix {
                suffix: settings.get("suffix")?,
            }))
        });
    registry
}

#[tokio::test]
async fn user_steps_registered_by_name_round_trip_and_run_the_same() {
    let mut original = pipeline! {
        name: "user-steps",
        load = LoadDataFromDicts::<Prompt>::new(vec![Prompt { instruction: "hey".into() }]),
        shout = Shout::new().times(2),
        suffix = Suffix { suffix: "!".into() },
        load >> shout >> suffix,
    };
    let dir = temp_dir("user");
    let file = dir.path().join("user.yml");
    original.save(&file).unwrap();
    let text = read(&file);
    assert!(text.contains(r#""times": 2"#), "{text}");
    assert!(text.contains(r#""suffix": "!""#), "{text}");

    // distil's own registry does not know them, and says which key names the type.
    let error = Pipeline::from_yaml(&file).unwrap_err().to_string();
    assert!(error.starts_with(&file.display().to_string()), "{error}");
    assert!(error.contains("`pipeline.steps[1].type_name`"), "{error}");
    assert!(
        error.contains("no step type `Shout` is registered"),
        "{error}"
    );

    let mut loaded = user_registry().load(&file).unwrap();
    let again = dir.path().join("again.yml");
    loaded.save(&again).unwrap();
    assert_eq!(read(&again), text);

    let first = original
        .run_with(
            RunOptions::new()
                .output_dir(dir.path().join("a"))
                .progress(false),
        )
        .await
        .unwrap();
    let second = loaded
        .run_with(
            RunOptions::new()
                .output_dir(dir.path().join("b"))
                .progress(false),
        )
        .await
        .unwrap();
    let suffixed = |d: &Distiset| -> Vec<Value> {
        d.default_config()
            .unwrap()
            .column("suffixed")
            .cloned()
            .collect()
    };
    assert_eq!(suffixed(&first), vec![json!("HEYHEY!")]);
    assert_eq!(suffixed(&second), suffixed(&first));
    // The run's pipeline.yaml is the saved file.
    assert_eq!(read(&dir.path().join("b").join("pipeline.yaml")), text);
}

/// The error of loading `text` as `name`.
fn load_error(name: &str, text: &str) -> String {
    let dir = temp_dir("bad");
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let error = match Registry::new().load(&path) {
        Ok(_) => panic!("{name} loads, but should not:\n{text}"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.starts_with(&path.display().to_string()),
        "the error names the file: {error}"
    );
    error
}

const GOOD: &str = r#"distil:
  version: "0.1.0"
pipeline:
  name: "small"
  description: null
  steps:
  - name: "load"
    type_name: "LoadDataFromDicts"
    "columns": [{"name":"instruction","type":"String","required":true}]
    "data": [{"instruction":"hi"}]
    runtime_parameters:
      "batch_size": 50
  - name: "gen"
    type_name: "TextGeneration"
    "llm": {"provider":"OpenAI","model":"m","base_url":"http://127.0.0.1:9/v1"}
    "columns": [{"name":"instruction","type":"String","required":true}]
    "template": null
    runtime_parameters:
      "temperature": 0.5
  connections:
  - from: "load"
    to: ["gen"]
  routing: []
"#;

#[test]
fn a_malformed_file_is_named_with_the_key_at_fault() {
    // The file as given loads, with its parameter.
    let dir = temp_dir("good");
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, GOOD).unwrap();
    let loaded = Pipeline::from_yaml(&good).unwrap();
    let gen_params = &loaded.params()[1].1;
    assert!(gen_params.contains(&("temperature".to_owned(), json!(0.5))));

    let cases = [
        (GOOD.replace("to: [\"gen\"]", "to: [\"gne\"]"), "`pipeline.connections[0].to[0]`: no step named `gne`"),
        (GOOD.replace("\"TextGeneration\"", "\"TextGenration\""), "`pipeline.steps[1].type_name`: no step type `TextGenration`"),
        (GOOD.replace("\"temperature\": 0.5", "\"temperature\": \"hot\""), "`pipeline.steps[1].runtime_parameters.temperature`"),
        (GOOD.replace("\"temperature\": 0.5", "\"temprature\": 0.5"), "`pipeline.steps[1].runtime_parameters.temprature`"),
        (GOOD.replace("\"provider\":\"OpenAI\"", "\"provider\":\"OpenAl\""), "`pipeline.steps[1].llm.provider`: no LLM provider `OpenAl`"),
        (GOOD.replace("\"data\": [{\"instruction\":\"hi\"}]", "\"data\": 3"), "`pipeline.steps[0].data`"),
        (GOOD.replace("\"type\":\"String\",\"required\":true}]\n    \"data\"", "\"type\":\"Vec<String\",\"required\":true}]\n    \"data\""), "`pipeline.steps[0].columns`: column `instruction` has type `Vec<String`"),
        (GOOD.replace("  steps:", "  stepz:"), "`pipeline.steps` is missing"),
        (GOOD.replace("name: \"small\"", "name: [1]"), "`pipeline.name` must be a string"),
        // The pipeline it describes breaks a rule `validate` checks: the step is named.
        (GOOD.replace("\"columns\": [{\"name\":\"instruction\",\"type\":\"String\",\"required\":true}]\n    \"data\": [{\"instruction\":\"hi\"}]", "\"columns\": [{\"name\":\"prompt\",\"type\":\"String\",\"required\":true}]\n    \"data\": [{\"prompt\":\"hi\"}]"), "`pipeline.steps[1]`: step `gen`"),
        (GOOD.replace("  - from: \"load\"\n    to: [\"gen\"]\n", "  - from: \"load\"\n    to: [\"gen\"]\n  - from: \"load\"\n    to: \"gen\"\n"), "`pipeline.connections[1].to` must be a list"),
        ("pipeline: [unclosed".to_owned(), "is not valid YAML"),
    ];
    for (text, expected) in cases {
        let error = load_error("pipeline.yaml", &text);
        assert!(
            error.contains(expected),
            "expected `{expected}` in: {error}"
        );
    }
    assert!(load_error("pipeline.json", "{\"pipeline\": ").contains("is not valid JSON"));
    assert!(load_error("pipeline.toml", GOOD).contains("name it `.yaml`, `.yml` or `.json`"));
}

#[tokio::test]
async fn a_runs_pipeline_yaml_rebuilds_the_pipeline_and_runs_it_again_the_same() {
    let server = canned_llm::CannedLlm::start().await;
    let questions = vec![
        Question {
            question: "Why is the sky blue?".into(),
            context: "Light scatters.".into(),
        },
        Question {
            question: "Why is grass green?".into(),
            context: "Chlorophyll.".into(),
        },
    ];
    let mut original = pipeline! {
        name: "files-llm",
        load = LoadDataFromDicts::<Question>::new(questions),
        answer = TextGeneration::<Question>::with_input(
            OpenAi::new("canned-model").base_url(&server.v1).api_key("sk-test-key"),
        )
        .template("{{ context }} {{ question }}")
        .temperature(0.2),
        keep = KeepColumns::new(["question", "generation", "model_name"]),
        load >> answer >> keep,
    };
    let dir = temp_dir("llm");
    let first = original
        .run_with(
            RunOptions::new()
                .output_dir(dir.path().join("first"))
                .progress(false),
        )
        .await
        .unwrap();
    assert_eq!(server.requests(), 2);
    let recorded = dir.path().join("first").join("pipeline.yaml");
    assert!(!read(&recorded).contains("sk-test-key"));

    let mut loaded = Pipeline::from_yaml(&recorded).unwrap();
    // The same steps with the same settings: the cache signatures match, so the rebuilt
    // pipeline replays the first run's answers.
    let replayed = loaded
        .run_with(
            RunOptions::new()
                .output_dir(dir.path().join("replayed"))
                .progress(false),
        )
        .await
        .unwrap();
    assert_eq!(server.requests(), 2);
    // Computed again, the rebuilt LLM client sends its own requests to the same server.
    let second = loaded
        .run_with(
            RunOptions::new()
                .output_dir(dir.path().join("second"))
                .use_cache(false)
                .progress(false),
        )
        .await
        .unwrap();
    assert_eq!(server.requests(), 4);
    let column = |d: &Distiset, name: &str| -> Vec<Value> {
        d.default_config().unwrap().column(name).cloned().collect()
    };
    assert_eq!(column(&second, "generation"), column(&first, "generation"));
    assert_eq!(
        column(&replayed, "generation"),
        column(&first, "generation")
    );
    assert_eq!(
        column(&second, "generation")[0],
        json!("canned-model answers: Light scatters. Why is the sky blue?")
    );
    assert_eq!(column(&second, "model_name"), column(&first, "model_name"));
    assert_eq!(
        read(&dir.path().join("second").join("pipeline.yaml")),
        read(&recorded)
    );
}

#[tokio::test]
async fn a_dry_run_takes_parameters_and_writes_nothing_into_the_cache() {
    let cache = cache_root();
    let mut pipeline = pipeline! {
        name: "files-dry",
        load = LoadDataFromDicts::<Prompt>::new(vec![
            Prompt { instruction: "a".into() },
            Prompt { instruction: "b".into() },
        ]),
        shout = Shout::new(),
        load >> shout,
    };
    let distiset = pipeline
        .dry_run_with(RunOptions::new().param("shout", "times", 3).progress(false))
        .await
        .unwrap();
    let rows = distiset.default_config().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows.column("shouted").next(), Some(&json!("AAA")));
    assert!(!distiset.dir().starts_with(cache));
    assert!(
        !cache.join("files-dry").exists(),
        "a dry run leaves no folder in the cache"
    );
    // The parameter holds after the dry run, as after `run_with`.
    assert!(
        pipeline.params()[1]
            .1
            .contains(&("times".to_owned(), json!(3)))
    );
}

/// A typed answer: StructuredGeneration's output row is a Rust type, registered by the program.
#[derive(Row, serde::Deserialize, distil::llm::structured::JsonSchema)]
#[schemars(crate = "distil::llm::structured::schemars")]
struct Verdict {
    verdict: String,
    score: u8,
}

#[test]
fn structured_generation_round_trips_once_its_output_type_is_registered() {
    use distil::tasks::StructuredGeneration;

    let mut pipeline = Pipeline::new("structured-file");
    pipeline.add(
        "load",
        LoadDataFromDicts::<Question>::new(vec![Question {
            question: "Is it?".into(),
            context: "It is.".into(),
        }]),
    );
    pipeline.add(
        "judge",
        StructuredGeneration::<Verdict, Question>::with_input(OpenAi::new("m").base_url(LLM_URL))
            .template("{{ context }} {{ question }}")
            .system_prompt("Judge."),
    );
    pipeline.connect("load", "judge");
    let dir = temp_dir("structured");
    let file = dir.path().join("structured.json");
    pipeline.save(&file).unwrap();

    let error = Pipeline::from_json(&file).unwrap_err().to_string();
    assert!(
        error.contains("no step type `StructuredGeneration`"),
        "{error}"
    );
    let mut registry = Registry::new();
    registry.step(
        "StructuredGeneration",
        StructuredGeneration::<Verdict>::from_settings,
    );
    let loaded = registry.load(&file).unwrap();
    let again = dir.path().join("again.json");
    loaded.save(&again).unwrap();
    assert_eq!(read(&again), read(&file));
    assert_eq!(loaded.params(), pipeline.params());
}

#[derive(Row, Clone, Debug)]
struct Listed {
    id: String,
    instruction: String,
    category: String,
}

/// The pipeline `examples/pipelines/instructions.yaml` holds, as code.
fn instructions_pipeline() -> Pipeline {
    pipeline! {
        name: "instructions",
        description: "The bundled instructions, by category: a pipeline file `distil run` runs.",
        load = LoadDataFromFileSystem::<Listed>::new("examples/data/instructions.jsonl"),
            batch_size: 16,
        keep = KeepColumns::new(["category", "instruction"]),
        load >> keep,
    }
}

#[tokio::test]
async fn the_example_pipeline_file_is_what_save_writes_and_it_runs() {
    let committed = Path::new("examples/pipelines/instructions.yaml");
    let dir = temp_dir("example-file");
    let saved = dir.path().join("instructions.yaml");
    instructions_pipeline().save(&saved).unwrap();
    // The distil version aside (the file was written by some version).
    let without_version = |text: String| -> String {
        text.lines()
            .filter(|line| !line.starts_with("  version: "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        without_version(read(committed)),
        without_version(read(&saved)),
        "examples/pipelines/instructions.yaml is what Pipeline::save writes"
    );
    let mut loaded = Pipeline::from_yaml(committed).unwrap();
    let distiset = loaded
        .run_with(
            RunOptions::new()
                .output_dir(dir.path().join("run"))
                .progress(false),
        )
        .await
        .unwrap();
    let rows = distiset.default_config().unwrap();
    assert_eq!(rows.column_names(), ["category", "instruction"]);
    assert_eq!(
        rows.len(),
        include_str!("../examples/data/instructions.jsonl")
            .lines()
            .count()
    );
}
