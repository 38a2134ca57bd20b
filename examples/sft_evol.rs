//! An SFT dataset: EvolInstruct makes each seed instruction harder, TextGeneration answers
//! the evolved one, FormatTextGenerationSFT writes `prompt`, `prompt_id` and `messages`.
//!
//! ```text
//! OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_MODEL=llama3.2 cargo run --example sft_evol
//! ```

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;

use distil::llm::{Llm, LlmError};
use distil::prelude::*;
use distil::steps::{FormatTextGenerationSFT, LoadDataFromDicts};
use distil::tasks::{EvolInstruct, TextGeneration};

/// A seed instruction.
#[derive(Row, Clone)]
pub struct Seed {
    /// The instruction to evolve.
    pub instruction: String,
}

/// The seed instructions.
pub fn rows() -> Vec<Seed> {
    [
        "Sort a list of numbers.",
        "Describe the water cycle.",
        "Write a limerick about cats.",
        "Convert 10 km to miles.",
    ]
    .into_iter()
    .map(|i| Seed {
        instruction: i.into(),
    })
    .collect()
}

/// The LLM: any OpenAI-compatible server (`OPENAI_BASE_URL`, `OPENAI_MODEL`, `OPENAI_API_KEY`),
/// else the embedded model.
pub fn llm() -> Result<Arc<dyn Llm>, LlmError> {
    let model = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned());
    common::llm(&model)
}

/// load >> evolve >> answer >> sft.
pub fn pipeline(llm: Arc<dyn Llm>) -> Pipeline {
    let mut pipeline = Pipeline::new("sft-evol")
        .with_description("Evolved instructions and their answers, as SFT conversations.");
    pipeline.add("load", LoadDataFromDicts::new(rows()));
    pipeline.add("evolve", EvolInstruct::new(llm.clone()).temperature(0.7));
    // The answer is to the evolved instruction; the seed stays in `instruction` upstream.
    pipeline
        .add("answer", TextGeneration::new(llm).max_new_tokens(1024))
        .input_mapping("instruction", "evolved_instruction");
    pipeline
        .add("sft", FormatTextGenerationSFT::new())
        .input_mapping("instruction", "evolved_instruction");
    pipeline.connect("load", "evolve");
    pipeline.connect("evolve", "answer");
    pipeline.connect("answer", "sft");
    pipeline
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> distil::Result<()> {
    // RUST_LOG=distil=debug (or trace) shows what the runtime logs.
    distil::logging::init();
    let mut pipeline = pipeline(llm()?);
    let distiset = pipeline.run().await?;
    let rows = distiset.default_config().expect("one leaf");
    println!(
        "{} SFT examples; columns: {}",
        rows.len(),
        rows.column_names().join(", ")
    );
    distiset.save_to_disk("target/sft-evol-distiset")?;
    // Rows, failed rows, cache hits, requests and tokens per LLM, wall time.
    if let Some(summary) = pipeline.summary() {
        print!("{summary}");
    }
    Ok(())
}
