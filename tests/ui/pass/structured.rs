// Structured output in a pipeline: StructuredGeneration with its default input row and with a
// row of its own and a template, and a custom #[task(structured)]; the columns of their typed
// answers (and `model_name`) are checked like steps', and the pipeline runs.
use distil::llm::structured::parse;
use distil::llm::{Generation, GenerationParams, Generations, Llm, LlmError, Prompt};
use distil::prelude::*;
use distil::step::BoxFuture;
use distil::steps::LoadDataFromDicts;
use distil::tasks::{StructuredGeneration, TaskLlm};
use schemars::JsonSchema;
use serde::Deserialize;

/// Answers every prompt with the same review, in JSON.
struct Reviewer;

impl Llm for Reviewer {
    fn model_name(&self) -> &str {
        "reviewer"
    }
    fn generate<'a>(
        &'a self,
        _: &'a Prompt,
        params: &'a GenerationParams,
    ) -> BoxFuture<'a, Result<Generations, LlmError>> {
        let text = match params.response_format.as_ref().map(|f| &f["name"]) {
            Some(name) if name == "Verdict" => r#"{"correct": true}"#,
            _ => r#"{"score": 4, "tags": ["clear"], "comment": null}"#,
        };
        Box::pin(async move { Ok(Generations::one(Generation::text(text))) })
    }
}

#[derive(Row)]
struct Draft {
    instruction: String,
    context: String,
}

#[derive(Row)]
struct Grounded {
    instruction: String,
    context: String,
}

#[derive(Row, Deserialize, JsonSchema)]
struct Review {
    score: u8,
    tags: Vec<String>,
    comment: Option<String>,
}

#[derive(Row, Deserialize, JsonSchema)]
struct Verdict {
    correct: bool,
}

#[derive(Clone)]
struct Grade {
    llm: TaskLlm,
}

#[task(structured)]
impl Grade {
    fn format_input(&self, instruction: &str, score: u8) -> String {
        format!("Is {score} right for {instruction}?")
    }

    fn format_output(&self, generation: &str) -> Result<Verdict, String> {
        parse(generation)
    }
}

#[derive(Row)]
struct Summary {
    summary: String,
}

#[step]
fn summarize(
    score: u8,
    tags: Vec<String>,
    comment: Option<&str>,
    grounded_score: u8,
    correct: bool,
    model_name: &str,
) -> Summary {
    Summary {
        summary: format!(
            "{score} {grounded_score} {} {} {correct} {model_name}",
            tags.len(),
            comment.unwrap_or("-")
        ),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let drafts = vec![Draft {
        instruction: "Review this".into(),
        context: "A text".into(),
    }];
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Draft>::new(drafts),
        review = StructuredGeneration::<Review>::new(Reviewer).temperature(0.0),
        grounded = StructuredGeneration::<Review, Grounded>::with_input(Reviewer)
            .template("{{ context }}\n{{ instruction }}"),
            outputs { score => grounded_score, tags => grounded_tags, comment => grounded_comment },
        grade = Grade { llm: TaskLlm::new(Reviewer) },
        summarize = Summarize::new(),
        load >> review >> grounded >> grade >> summarize,
    };
    pipeline.validate().unwrap();
    let dir = std::env::temp_dir().join(format!("distil-ui-structured-{}", std::process::id()));
    let distiset = pipeline
        .run_with(RunOptions::new().output_dir(&dir))
        .await
        .unwrap();
    let summary: Vec<&Value> = distiset.default_config().unwrap().column("summary").collect();
    assert_eq!(summary, [&Value::from("4 4 1 - true reviewer")]);
    let _ = std::fs::remove_dir_all(dir);
}
