//! The step forms of `#[step]` and the clauses of `pipeline!`, run for real: what the macros
//! generate must not only compile (tests/ui/pass) but compute the right values.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use distil::prelude::*;
use distil::steps::LoadDataFromDicts;
use distil_test_steps::{EchoGeneration, Prompt};
use serde_json::{Value, json};

fn prompts(texts: &[&str]) -> Vec<Prompt> {
    texts
        .iter()
        .map(|t| Prompt {
            instruction: (*t).to_owned(),
        })
        .collect()
}

fn column(distiset: &Distiset, name: &str) -> Vec<Value> {
    distiset
        .default_config()
        .expect("one leaf")
        .column(name)
        .cloned()
        .collect()
}

#[derive(Row)]
struct Number {
    n: u64,
}

#[derive(Row)]
struct BatchLen {
    batch_len: u64,
    doubled: u64,
}

/// Records the size of the batch it was called with, per row.
#[step(batch)]
fn double_batch(n: Vec<u64>) -> Vec<BatchLen> {
    let len = n.len() as u64;
    n.into_iter()
        .map(|n| BatchLen {
            batch_len: len,
            doubled: n * 2,
        })
        .collect()
}

#[step(generator)]
fn count_to(#[param(default = 3u64)] limit: u64) -> impl Iterator<Item = Number> {
    (1..=limit).map(|n| Number { n })
}

#[tokio::test]
async fn a_batch_step_is_called_once_per_batch_of_input_batch_size() {
    let mut pipeline = pipeline! {
        gen = CountTo::new().limit(7),
        double = DoubleBatch::new(), input_batch_size: 3,
        gen >> double,
    };
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(
        column(&distiset, "doubled"),
        (1..=7).map(|n| json!(n * 2)).collect::<Vec<_>>()
    );
    let lens: Vec<u64> = column(&distiset, "batch_len")
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(lens, [3, 3, 3, 3, 3, 3, 1]);
}

#[tokio::test]
async fn a_generator_s_parameter_is_overridden_at_run_time() {
    let mut pipeline = pipeline! {
        gen = CountTo::new(),
        double = DoubleBatch::new(),
        gen >> double,
    };
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(column(&distiset, "n"), [json!(1), json!(2), json!(3)]);

    let distiset = pipeline
        .run_with(RunOptions::new().param("gen", "limit", 5))
        .await
        .unwrap();
    assert_eq!(distiset.default_config().unwrap().len(), 5);
}

#[derive(Row)]
struct Total {
    total: u64,
    share: f64,
}

#[step(global)]
fn share_of_total(n: Vec<u64>) -> Result<Vec<Total>, String> {
    let total: u64 = n.iter().sum();
    if total == 0 {
        return Err("nothing to share".into());
    }
    Ok(n.iter()
        .map(|&n| Total {
            total,
            share: n as f64 / total as f64,
        })
        .collect())
}

#[tokio::test]
async fn a_global_step_sees_the_rows_of_every_batch() {
    let mut pipeline = pipeline! {
        gen = CountTo::new().limit(4), batch_size: 1,
        share = ShareOfTotal::new(),
        gen >> share,
    };
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(column(&distiset, "total"), vec![json!(10); 4]);
    assert_eq!(column(&distiset, "share")[3], json!(0.4));
}

#[derive(Row)]
struct Words {
    words: u64,
}

#[step]
fn long_enough(instruction: &str, #[param(default = 4usize)] min_chars: usize) -> bool {
    instruction.len() >= min_chars
}

#[step]
fn multi_word(instruction: &str) -> Option<Words> {
    let words = instruction.split_whitespace().count() as u64;
    (words > 1).then_some(Words { words })
}

#[tokio::test]
async fn filters_drop_rows_and_keep_the_others_in_order() {
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(prompts(&["a", "a b c", "hello", "hi there"])),
        long = LongEnough::new(),
        multi = MultiWord::new(),
        load >> long >> multi,
    };
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(
        column(&distiset, "instruction"),
        [json!("a b c"), json!("hi there")]
    );
    assert_eq!(column(&distiset, "words"), [json!(3), json!(2)]);
}

#[derive(Row)]
struct Reply {
    reply: String,
}

#[step]
async fn ask(instruction: &str, #[param(default = 1u64)] delay_ms: u64) -> Result<Reply, String> {
    tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
    if instruction.is_empty() {
        return Err("empty instruction".into());
    }
    Ok(Reply {
        reply: format!("re: {instruction}"),
    })
}

#[tokio::test]
async fn an_async_step_awaits_per_row_and_records_errors() {
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(prompts(&["one", "", "three"])),
        ask = Ask::new(),
        load >> ask,
    };
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(
        column(&distiset, "reply"),
        [json!("re: one"), Value::Null, json!("re: three")]
    );
    let metadata = column(&distiset, distil::METADATA_COLUMN);
    assert_eq!(
        metadata[1]["errors"][0],
        json!({"step": "ask", "message": "empty instruction"})
    );
}

#[derive(Row)]
struct Short {
    short: String,
    seen: u64,
}

/// A struct-form step: configuration and state in its fields.
struct Truncate {
    max_chars: usize,
    seen: u64,
    calls: Arc<AtomicUsize>,
}

#[step]
impl Truncate {
    fn process(&mut self, instruction: &str) -> Short {
        self.seen += 1;
        self.calls.fetch_add(1, Ordering::SeqCst);
        Short {
            short: instruction.chars().take(self.max_chars).collect(),
            seen: self.seen,
        }
    }
}

#[tokio::test]
async fn a_struct_step_keeps_its_state_between_rows() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(prompts(&["abcdef", "xy", "hello"])), batch_size: 2,
        truncate = Truncate { max_chars: 3, seen: 0, calls: calls.clone() },
        load >> truncate,
    };
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(
        column(&distiset, "short"),
        [json!("abc"), json!("xy"), json!("hel")]
    );
    assert_eq!(column(&distiset, "seen"), [json!(1), json!(2), json!(3)]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[derive(Row)]
struct MaybeSystem {
    system_prompt: Option<String>,
}

#[derive(Row)]
struct Rendered {
    rendered: String,
}

#[step]
fn pick_system(instruction: &str) -> MaybeSystem {
    MaybeSystem {
        system_prompt: instruction.starts_with('!').then(|| "be loud".to_owned()),
    }
}

#[step]
fn render(instruction: &str, system_prompt: Option<&str>, context: Option<String>) -> Rendered {
    Rendered {
        rendered: format!(
            "{}|{}|{instruction}",
            system_prompt.unwrap_or("-"),
            context.as_deref().unwrap_or("-"),
        ),
    }
}

#[tokio::test]
async fn optional_inputs_read_null_and_absent_columns_as_none() {
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(prompts(&["!hey", "calm"])),
        system = PickSystem::new(),
        render = Render::new(),
        load >> system >> render,
    };
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(
        column(&distiset, "rendered"),
        [json!("be loud|-|!hey"), json!("-|-|calm")]
    );
}

#[derive(Row)]
struct CharStats {
    #[row(rename = "char-count")]
    chars: u64,
}

#[derive(Row)]
struct Doubled {
    doubled: u64,
}

#[step]
fn stats(text: &str) -> CharStats {
    CharStats {
        chars: text.chars().count() as u64,
    }
}

/// Reads a column whose name is no Rust identifier.
#[step]
fn double_chars(#[column("char-count")] chars: u64) -> Doubled {
    Doubled { doubled: chars * 2 }
}

#[tokio::test]
async fn mappings_and_column_names_apply_when_the_pipeline_runs() {
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(prompts(&["abc"])),
        stats = Stats::new(), inputs { text => instruction },
        double = DoubleChars::new(), outputs { doubled => twice },
        load >> stats >> double,
    };
    let distiset = pipeline.run().await.unwrap();
    let dataset = distiset.default_config().unwrap();
    assert_eq!(
        dataset.column_names(),
        ["instruction", "char-count", "twice"]
    );
    assert_eq!(column(&distiset, "twice"), [json!(6)]);
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
struct Sampling {
    temperature: f64,
    max_tokens: u64,
}

#[derive(Row)]
struct Sampled {
    sampled: String,
}

#[step]
fn sample(
    instruction: &str,
    #[param(default = Sampling { temperature: 0.7, max_tokens: 16 })] sampling: Sampling,
    #[param(default = "m")] model: String,
) -> Sampled {
    Sampled {
        sampled: format!(
            "{model}:{}:{}:{instruction}",
            sampling.temperature, sampling.max_tokens
        ),
    }
}

#[tokio::test]
async fn a_runtime_parameter_override_merges_into_the_current_value() {
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(prompts(&["q"])),
        sample = Sample::new().model("big".into()),
        echo = EchoGeneration::new(),
        load >> sample >> echo,
    };
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(column(&distiset, "sampled"), [json!("big:0.7:16:q")]);

    // Only `temperature` is given: `max_tokens` and the other parameter keep their values.
    let options = RunOptions::new()
        .param("sample", "sampling", json!({"temperature": 0.1}))
        .param("echo", "model", "echo-2");
    let distiset = pipeline.run_with(options).await.unwrap();
    assert_eq!(column(&distiset, "sampled"), [json!("big:0.1:16:q")]);
    assert_eq!(column(&distiset, "model_name"), [json!("echo-2")]);

    let params = pipeline.params();
    let (_, sample) = params.iter().find(|(s, _)| s == "sample").unwrap();
    assert!(
        sample.contains(&(
            "sampling".to_owned(),
            json!({"temperature": 0.1, "max_tokens": 16})
        )),
        "{sample:?}"
    );
    assert!(
        sample.contains(&("model".to_owned(), json!("big"))),
        "{sample:?}"
    );
}

/// An LLM in the process: answers the questions it knows, grades answers by their text.
struct Oracle {
    name: &'static str,
}

impl distil::llm::Llm for Oracle {
    fn model_name(&self) -> &str {
        self.name
    }

    fn generate<'a>(
        &'a self,
        prompt: &'a distil::llm::Prompt,
        _: &'a distil::llm::GenerationParams,
    ) -> distil::step::BoxFuture<'a, Result<distil::llm::Generations, distil::llm::LlmError>> {
        let text = prompt.last_user_text();
        let answer = match text {
            "2+2" => "4",
            "capital of France" => "Paris",
            t if t.starts_with("Grade:") && t.ends_with("-> 4") => "5",
            t if t.starts_with("Grade:") && t.ends_with("-> Paris") => "3",
            t if t.starts_with("Grade:") => "n/a",
            _ => "kaboom",
        }
        .to_owned();
        Box::pin(async move {
            Ok(distil::llm::Generations::one(
                distil::llm::Generation::text(answer),
            ))
        })
    }
}

#[derive(Row)]
struct Grading {
    grade: u8,
    graded: String,
}

/// Grades `generation` as an answer to `instruction`, from 1 to `scale`.
#[derive(Clone)]
struct Grade {
    llm: distil::tasks::TaskLlm,
    scale: u8,
}

#[task]
impl Grade {
    fn format_input(&self, instruction: &str, generation: &str) -> Vec<ChatMessage> {
        vec![
            ChatMessage::system(format!("Grade from 1 to {}.", self.scale)),
            ChatMessage::user(format!("Grade: {instruction} -> {generation}")),
        ]
    }

    fn format_output(&self, generation: &str, instruction: &str) -> Result<Grading, String> {
        let grade: u8 = generation
            .parse()
            .map_err(|e| format!("grade `{generation}`: {e}"))?;
        Ok(Grading {
            grade: grade.min(self.scale),
            graded: instruction.to_owned(),
        })
    }
}

#[tokio::test]
async fn tasks_generate_columns_and_model_name_and_keep_the_raw_output_of_a_failed_row() {
    use distil::tasks::{TaskLlm, TextGeneration};

    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(prompts(&["2+2", "capital of France", "boom"])),
        answer = TextGeneration::new(Oracle { name: "oracle-small" }),
            outputs { model_name => answer_model },
        grade = Grade { llm: TaskLlm::new(Oracle { name: "oracle-judge" }), scale: 5 }.temperature(0.0),
        load >> answer >> grade,
    };
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(
        column(&distiset, "generation"),
        [json!("4"), json!("Paris"), json!("kaboom")]
    );
    assert_eq!(
        column(&distiset, "answer_model"),
        vec![json!("oracle-small"); 3]
    );
    assert_eq!(
        column(&distiset, "grade"),
        [json!(5), json!(3), Value::Null]
    );
    assert_eq!(
        column(&distiset, "graded"),
        [json!("2+2"), json!("capital of France"), Value::Null]
    );
    assert_eq!(
        column(&distiset, "model_name"),
        vec![json!("oracle-judge"); 3]
    );

    let metadata = column(&distiset, distil::METADATA_COLUMN);
    assert!(metadata[0].get("errors").is_none(), "{}", metadata[0]);
    assert_eq!(metadata[0]["raw_output_grade"], json!("5"));
    let failed = &metadata[2];
    assert_eq!(failed["raw_output_grade"], json!("n/a"), "{failed}");
    assert_eq!(failed["errors"][0]["step"], json!("grade"), "{failed}");
    let message = failed["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("grade `n/a`"), "{message}");
    assert_eq!(
        failed["raw_input_grade"],
        json!([
            {"role": "system", "content": "Grade from 1 to 5."},
            {"role": "user", "content": "Grade: boom -> kaboom"},
        ]),
        "{failed}"
    );
}

/// Answers with the prompt's last user message.
struct EchoLlm;

impl distil::llm::Llm for EchoLlm {
    fn model_name(&self) -> &str {
        "echo"
    }
    fn generate<'a>(
        &'a self,
        prompt: &'a distil::llm::Prompt,
        _: &'a distil::llm::GenerationParams,
    ) -> distil::step::BoxFuture<'a, Result<distil::llm::Generations, distil::llm::LlmError>> {
        let text = prompt.last_user_text().to_owned();
        Box::pin(async move {
            Ok(distil::llm::Generations::one(
                distil::llm::Generation::text(text),
            ))
        })
    }
}

/// tests/steps-crate reaches distil as `engine` (`::distil` names nothing there): its rows,
/// steps, task and pipeline, told `crate = engine`, compute what they would under `::distil`.
#[tokio::test]
async fn a_crate_reaching_distil_under_another_name_runs_its_macros_output() {
    let mut pipeline = distil_test_steps::echo_pipeline(prompts(&["hello", "hi"]), EchoLlm);
    let distiset = pipeline.run().await.expect("runs");
    assert_eq!(
        column(&distiset, "summary"),
        [json!("Shorten: hello"), json!("Shorten: hi")]
    );
    assert_eq!(column(&distiset, "score"), [json!(5), json!(2)]);
    assert_eq!(
        column(&distiset, "model_name"),
        [json!("echo"), json!("echo")]
    );
}
