// LLM tasks in a pipeline: a custom #[task], TextGeneration with its default input row and with
// a row of its own and a template, ChatGeneration, and a task grouping its generations; their
// columns are checked like steps'.
use distil::llm::{Generation, GenerationParams, Generations, Llm, LlmError, Prompt};
use distil::prelude::*;
use distil::step::BoxFuture;
use distil::steps::LoadDataFromDicts;
use distil::tasks::{ChatGeneration, TaskLlm, TextGeneration};

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

#[derive(Row)]
struct Question {
    instruction: String,
    context: String,
    messages: Vec<ChatMessage>,
}

#[derive(Row)]
struct Grounded {
    instruction: String,
    context: String,
}

#[derive(Row)]
struct Rating {
    rating: u8,
}

#[derive(Clone)]
struct Rate {
    llm: TaskLlm,
    scale: u8,
}

#[task]
impl Rate {
    fn format_input(&self, instruction: &str, generation: &str) -> String {
        format!("Rate 1-{}: {instruction} -> {generation}", self.scale)
    }

    fn format_output(
        &self,
        generation: &str,
        context: Option<&str>,
    ) -> Result<Rating, std::num::ParseIntError> {
        let _ = context;
        Ok(Rating {
            rating: generation.len().to_string().parse()?,
        })
    }
}

#[derive(Row)]
struct Summary {
    report: String,
}

#[step]
fn report(
    rating: u8,
    grounded: &str,
    reply: &str,
    model_name: &str,
    drafts: Vec<Option<String>>,
) -> Summary {
    Summary {
        report: format!("{rating} {grounded} {reply} {model_name} {}", drafts.len()),
    }
}

fn main() {
    let pipeline = pipeline! {
        load = LoadDataFromDicts::<Question>::new(vec![]),
        answer = TextGeneration::new(Echo),
        rate = Rate { llm: TaskLlm::new(Echo), scale: 5 }.temperature(0.0),
        ground = TextGeneration::<Grounded>::with_input(Echo).template("{{ context }}\n{{ instruction }}"),
            outputs { generation => grounded },
        chat = ChatGeneration::new(Echo).max_new_tokens(16),
            outputs { generation => reply },
        drafts = TextGeneration::new(Echo).num_generations(2).group_generations(true),
            outputs { generation => drafts },
        report = Report::new(),
        load >> answer >> rate >> ground >> chat >> drafts >> report,
    };
    pipeline.validate().unwrap();
}
