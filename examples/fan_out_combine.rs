//! Seed 004: one loader fanned out to several LLMs, their answers combined into lists with
//! CombineColumns; with `--sample 2`, each batch goes to two of the three (`sample_n_steps`).
//!
//! The three LLMs are three models of one OpenAI-compatible server here (`OPENAI_MODELS`,
//! comma-separated; else `OPENAI_MODEL` three times), or the embedded model three times when no
//! endpoint is given; give each task `distil::llm::Mistral`, `Anthropic` or any other LLM
//! instead.
//!
//! ```text
//! OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_MODELS=llama3.2,qwen2.5,mistral \
//!     cargo run --example fan_out_combine -- --sample 2
//! ```

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;

use distil::llm::{Llm, LlmError};
use distil::prelude::*;
use distil::steps::{CombineColumns, LoadDataFromDicts};
use distil::tasks::TextGeneration;

/// A prompt, as the Hub dataset of the seed names it.
#[derive(Row, Clone)]
pub struct Prompted {
    /// The prompt; mapped to TextGeneration's `instruction`.
    pub prompt: String,
}

/// The prompts.
pub fn rows() -> Vec<Prompted> {
    [
        "Write a haiku about rust.",
        "Explain DNS in one sentence.",
        "Name three prime numbers.",
        "What is a monad?",
    ]
    .into_iter()
    .map(|p| Prompted { prompt: p.into() })
    .collect()
}

/// The LLMs: `OPENAI_MODELS` (comma-separated) on one OpenAI-compatible server, else the
/// embedded model.
pub fn llms() -> Result<Vec<Arc<dyn Llm>>, LlmError> {
    let models = std::env::var("OPENAI_MODELS").unwrap_or_else(|_| {
        let one = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned());
        format!("{one},{one},{one}")
    });
    models.split(',').map(|m| common::llm(m.trim())).collect()
}

/// load >> [text_generation_i] >> combine_generations, each batch to `sample` of them when set.
pub fn pipeline(llms: Vec<Arc<dyn Llm>>, sample: Option<usize>) -> Pipeline {
    let mut pipeline = Pipeline::new("pipe-name").with_description("My first pipe");
    pipeline
        .add("load_dataset", LoadDataFromDicts::new(rows()))
        .output_mapping("prompt", "instruction")
        .batch_size(2);
    let names: Vec<String> = (0..llms.len())
        .map(|i| format!("text_generation_{i}"))
        .collect();
    for (name, llm) in names.iter().zip(llms) {
        pipeline.add(
            name,
            TextGeneration::new(llm)
                .temperature(0.7)
                .max_new_tokens(512),
        );
    }
    pipeline.add(
        "combine_generations",
        CombineColumns::new(["generation", "model_name"])
            .output_columns(["generations", "model_names"]),
    );
    match sample {
        Some(n) => {
            pipeline.route(
                "load_dataset",
                sample_n_steps(n),
                names.iter().map(String::as_str),
            );
        }
        None => names
            .iter()
            .for_each(|n| pipeline.connect("load_dataset", n)),
    }
    for name in &names {
        pipeline.connect(name, "combine_generations");
    }
    pipeline
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> distil::Result<()> {
    // RUST_LOG=distil=debug (or trace) shows what the runtime logs.
    distil::logging::init();
    let args: Vec<String> = std::env::args().collect();
    let sample = args
        .iter()
        .position(|a| a == "--sample")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok());
    let mut pipeline = pipeline(llms()?, sample);
    let distiset = pipeline.run().await?;
    let rows = distiset.default_config().expect("one leaf");
    for row in rows.rows() {
        println!("{} <- {}", row["instruction"], row["model_names"]);
    }
    distiset.save_to_disk("target/fan-out-distiset")?;
    // Rows, failed rows, cache hits, requests and tokens per LLM, wall time.
    if let Some(summary) = pipeline.summary() {
        print!("{summary}");
    }
    Ok(())
}
