//! Seed 000: load a Hub dataset whose repo and split are runtime parameters, map its `prompt`
//! column to `instruction`, generate with TextGeneration (generation parameters given at run
//! time too), and save the Distiset (push it with `distiset.push_to_hub(..)`).
//!
//! ```text
//! OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_MODEL=llama3.2 cargo run --example hub_text_generation
//! ```

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;

use distil::llm::{Llm, LlmError};
use distil::prelude::*;
use distil::steps::LoadDataFromHub;
use distil::tasks::TextGeneration;

/// The LLM: any OpenAI-compatible server (`OPENAI_BASE_URL`, `OPENAI_MODEL`, `OPENAI_API_KEY`),
/// else the embedded model.
pub fn llm() -> Result<Arc<dyn Llm>, LlmError> {
    let model = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-3.5-turbo".to_owned());
    common::llm(&model)
}

/// load_dataset >> text_generation; the repo is set at run time ([`options`]).
pub fn pipeline(llm: Arc<dyn Llm>) -> Pipeline {
    let mut pipeline = Pipeline::new("simple-text-generation-pipeline")
        .with_description("A simple text generation pipeline");
    pipeline
        .add("load_dataset", LoadDataFromHub::untyped(""))
        .output_mapping("prompt", "instruction");
    pipeline.add("text_generation", TextGeneration::new(llm));
    pipeline.connect("load_dataset", "text_generation");
    pipeline
}

/// The run's parameters, as the seed passes them to `pipeline.run(parameters=..)`.
pub fn options(repo_id: &str, split: &str) -> RunOptions {
    RunOptions::new()
        .param("load_dataset", "repo_id", repo_id)
        .param("load_dataset", "split", split)
        .param("text_generation", "temperature", 0.7)
        .param("text_generation", "max_new_tokens", 512)
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> distil::Result<()> {
    // RUST_LOG=distil=debug (or trace) shows what the runtime logs.
    distil::logging::init();
    let options = options(
        "distilabel-internal-testing/instruction-dataset-mini",
        "test",
    );
    let mut pipeline = pipeline(llm()?);
    let distiset = pipeline.run_with(options).await?;
    let rows = distiset.default_config().expect("one leaf");
    println!(
        "{} rows; columns: {}",
        rows.len(),
        rows.column_names().join(", ")
    );
    distiset.save_to_disk("target/hub-text-generation-distiset")?;
    // Rows, failed rows, cache hits, requests and tokens per LLM, wall time.
    if let Some(summary) = pipeline.summary() {
        print!("{summary}");
    }
    Ok(())
}
