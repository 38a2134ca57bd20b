// The macros used by a crate that reaches distil under another name (`tests/steps-crate`
// depends on it as `engine`, where `::distil` names nothing): its rows, steps, task and
// pipeline say `crate = engine`. Here a pipeline names distil through that crate's re-export.
use distil_test_steps::distil as engine;
use engine::llm::{Generation, GenerationParams, Generations, Llm, LlmError, Prompt};
use engine::step::BoxFuture;

/// Answers with the prompt's last user message.
struct Echo;

impl Llm for Echo {
    fn model_name(&self) -> &str {
        "echo"
    }
    fn generate<'a>(
        &'a self,
        prompt: &'a Prompt,
        _: &'a GenerationParams,
    ) -> BoxFuture<'a, Result<Generations, LlmError>> {
        let text = prompt.last_user_text().to_owned();
        Box::pin(async move { Ok(Generations::one(Generation::text(text))) })
    }
}

fn main() {
    let prompts = || {
        vec![distil_test_steps::Prompt {
            instruction: "hello".into(),
        }]
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let distiset = runtime
        .block_on(distil_test_steps::echo_pipeline(prompts(), Echo).run())
        .unwrap();
    let summarised = distiset.default_config().unwrap();
    assert_eq!(
        summarised.column("summary").next(),
        Some(&serde_json::json!("Shorten: hello"))
    );
    assert_eq!(summarised.column("score").next(), Some(&serde_json::json!(5)));

    let pipeline = engine::pipeline! {
        crate: distil_test_steps::distil,
        load = engine::steps::LoadDataFromDicts::<distil_test_steps::Prompt>::new(prompts()),
        generate = distil_test_steps::EchoGeneration::new(),
        score = distil_test_steps::LengthScore::new(),
        load >> generate >> score,
    };
    pipeline.validate().unwrap();
}
