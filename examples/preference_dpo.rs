//! Seed 001 and a DPO dataset: several generators answer each instruction, CombineColumns
//! gathers their answers, UltraFeedback (a labeller LLM) rates them, and
//! FormatTextGenerationDPO picks the best and the worst as `chosen` and `rejected`.
//!
//! ```text
//! OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_MODELS=llama3.2,qwen2.5 OPENAI_JUDGE=llama3.1:70b \
//!     cargo run --example preference_dpo
//! ```

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;

use distil::llm::{Llm, LlmError};
use distil::prelude::*;
use distil::steps::{CombineColumns, FormatTextGenerationDPO, LoadDataFromDicts};
use distil::tasks::{Aspect, TextGeneration, UltraFeedback};

/// An instruction to answer.
#[derive(Row, Clone)]
pub struct Seed {
    /// The instruction.
    pub instruction: String,
}

/// The instructions.
pub fn rows() -> Vec<Seed> {
    [
        "Write a short story about a robot that learns to paint.",
        "Explain recursion to a child.",
        "Give three tips for better sleep.",
    ]
    .into_iter()
    .map(|i| Seed {
        instruction: i.into(),
    })
    .collect()
}

/// The generators: `OPENAI_MODELS` (comma-separated, else `OPENAI_MODEL` twice) on one
/// OpenAI-compatible server, else the embedded model twice.
pub fn generators() -> Result<Vec<Arc<dyn Llm>>, LlmError> {
    let one = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned());
    let models = std::env::var("OPENAI_MODELS").unwrap_or_else(|_| format!("{one},{one}"));
    models.split(',').map(|m| common::llm(m.trim())).collect()
}

/// The labeller: `OPENAI_JUDGE` (else `OPENAI_MODEL`) on that server, else the embedded model.
pub fn judge() -> Result<Arc<dyn Llm>, LlmError> {
    let one = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned());
    common::llm(&std::env::var("OPENAI_JUDGE").unwrap_or(one))
}

/// load >> [generate_i] >> combine >> ultrafeedback >> dpo.
pub fn pipeline(generators: Vec<Arc<dyn Llm>>, judge: Arc<dyn Llm>) -> Pipeline {
    let mut pipeline = Pipeline::new("preference-dpo")
        .with_description("Generations of several LLMs rated by UltraFeedback, as DPO pairs.");
    pipeline.add("load", LoadDataFromDicts::new(rows()));
    pipeline.add(
        "combine",
        CombineColumns::new(["generation", "model_name"])
            .output_columns(["generations", "generation_models"]),
    );
    for (i, llm) in generators.into_iter().enumerate() {
        let name = format!("generate_{i}");
        pipeline.add(&name, TextGeneration::new(llm).temperature(0.8));
        pipeline.connect("load", &name);
        pipeline.connect(&name, "combine");
    }
    pipeline.add(
        "ultrafeedback",
        UltraFeedback::new(judge)
            .aspect(Aspect::InstructionFollowing)
            .temperature(0.0),
    );
    pipeline.add("dpo", FormatTextGenerationDPO::new());
    pipeline.connect("combine", "ultrafeedback");
    pipeline.connect("ultrafeedback", "dpo");
    pipeline
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> distil::Result<()> {
    // RUST_LOG=distil=debug (or trace) shows what the runtime logs.
    distil::logging::init();
    let mut pipeline = pipeline(generators()?, judge()?);
    let distiset = pipeline.run().await?;
    let rows = distiset.default_config().expect("one leaf");
    println!(
        "{} preference pairs; columns: {}",
        rows.len(),
        rows.column_names().join(", ")
    );
    distiset.save_to_disk("target/preference-dpo-distiset")?;
    // Rows, failed rows, cache hits, requests and tokens per LLM, wall time.
    if let Some(summary) = pipeline.summary() {
        print!("{summary}");
    }
    Ok(())
}
