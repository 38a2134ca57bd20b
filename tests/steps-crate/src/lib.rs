//! Rows and steps defined in a crate of their own, so the tests can check that `pipeline!` sees
//! the columns of steps it did not see defined. The crate reaches distil as `engine` and
//! re-exports it, as a framework built on distil does: its macros are told where distil is
//! (`crate = engine`), since `::distil` names nothing here.

pub use engine as distil;
use engine::prelude::*;

/// A prompt, as a loader produces it.
#[derive(Row, Clone, Debug, PartialEq)]
#[row(crate = engine)]
pub struct Prompt {
    pub instruction: String,
}

/// A generated text and the model that wrote it.
#[derive(Row, Clone, Debug, PartialEq)]
#[row(crate = engine)]
pub struct Generation {
    pub generation: String,
    pub model_name: String,
}

/// A score for a generation.
#[derive(Row, Clone, Debug, PartialEq)]
#[row(crate = engine)]
pub struct Score {
    pub score: u64,
}

/// Pretends to generate: echoes the instruction, reversed.
#[step(crate = engine)]
pub fn echo_generation(instruction: &str, #[param(default = "echo")] model: String) -> Generation {
    Generation {
        generation: instruction.chars().rev().collect(),
        model_name: model,
    }
}

/// Scores a generation by its length.
#[step(crate = engine)]
pub fn length_score(generation: &str) -> Score {
    Score {
        score: generation.len() as u64,
    }
}

/// Steps in a module of the crate, reached as `distil_test_steps::nested::Shorten`.
pub mod nested {
    use engine::prelude::*;

    /// A shortened generation.
    #[derive(Row)]
    #[row(crate = crate::distil)]
    pub struct Short {
        pub short: String,
    }

    /// Keeps the first `len` characters of the generation.
    #[step(crate = crate::distil)]
    pub fn shorten(generation: &str, #[param(default = 3usize)] len: usize) -> Short {
        Short {
            short: generation.chars().take(len).collect(),
        }
    }
}

/// A task of the crate: asks to shorten the instruction.
#[derive(Clone)]
pub struct Summarise {
    /// The LLM asked.
    pub llm: engine::tasks::TaskLlm,
}

/// A summary, as `Summarise` writes it.
#[derive(Row, Clone, Debug, PartialEq)]
#[row(crate = engine)]
pub struct Summary {
    pub summary: String,
}

#[engine::task(crate = engine)]
impl Summarise {
    fn format_input(&self, instruction: &str) -> String {
        format!("Shorten: {instruction}")
    }

    fn format_output(&self, generation: &str) -> Summary {
        Summary {
            summary: generation.to_owned(),
        }
    }
}

/// The crate's own pipeline over `prompts`: echo, score and shorten each one, through `llm`.
pub fn echo_pipeline(
    prompts: Vec<Prompt>,
    llm: impl engine::llm::Llm + 'static,
) -> engine::Pipeline {
    engine::pipeline! {
        crate: engine,
        name: "echo",
        load = engine::steps::LoadDataFromDicts::<Prompt>::new(prompts),
        generate = EchoGeneration::new(),
        score = LengthScore::new(),
        summarise = Summarise { llm: engine::tasks::TaskLlm::new(llm) },
        load >> generate >> score >> summarise,
    }
}
