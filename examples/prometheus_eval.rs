//! Seed 002: grade answers with PrometheusEval (absolute mode, a rubric from the catalogue,
//! against reference answers), then keep only the columns to publish.
//!
//! ```text
//! OPENAI_BASE_URL=http://localhost:8000/v1 OPENAI_MODEL=prometheus-eval/prometheus-7b-v2.0 \
//!     cargo run --example prometheus_eval
//! ```

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;

use distil::llm::{Llm, LlmError};
use distil::prelude::*;
use distil::steps::{KeepColumns, LoadDataFromDicts};
use distil::tasks::{PrometheusEval, PrometheusMode};

/// A graded row: the instruction, the answer to grade, and a reference answer.
#[derive(Row, Clone)]
pub struct Answered {
    /// The instruction.
    pub instruction: String,
    /// The answer to grade.
    pub generation: String,
    /// A perfect answer.
    pub reference: String,
}

/// The rows this example grades.
pub fn rows() -> Vec<Answered> {
    [
        (
            "What is the capital of France?",
            "Paris.",
            "Paris is the capital of France.",
        ),
        (
            "How many legs does a spider have?",
            "Six.",
            "Spiders have eight legs.",
        ),
        ("What is 12 * 12?", "144", "144"),
    ]
    .into_iter()
    .map(|(i, g, r)| Answered {
        instruction: i.into(),
        generation: g.into(),
        reference: r.into(),
    })
    .collect()
}

/// The LLM: any OpenAI-compatible server (`OPENAI_BASE_URL`, `OPENAI_MODEL`, `OPENAI_API_KEY`),
/// else the embedded model.
pub fn llm() -> Result<Arc<dyn Llm>, LlmError> {
    let model = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned());
    common::llm(&model)
}

/// load >> prometheus >> keep.
pub fn pipeline(llm: Arc<dyn Llm>) -> Pipeline {
    let mut pipeline = Pipeline::new("prometheus-eval")
        .with_description("Grades answers against references with PrometheusEval.");
    pipeline.add("load", LoadDataFromDicts::new(rows()));
    pipeline.add(
        "prometheus",
        PrometheusEval::new(llm, PrometheusMode::Absolute)
            .rubric("factual-validity")
            .reference(true)
            .temperature(0.0),
    );
    pipeline.add(
        "keep",
        KeepColumns::new([
            "instruction",
            "generation",
            "feedback",
            "result",
            "model_name",
        ]),
    );
    pipeline.connect("load", "prometheus");
    pipeline.connect("prometheus", "keep");
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
    for row in rows.rows() {
        println!("{} -> {}", row["instruction"], row["result"]);
    }
    distiset.save_to_disk("target/prometheus-eval-distiset")?;
    // Rows, failed rows, cache hits, requests and tokens per LLM, wall time.
    if let Some(summary) = pipeline.summary() {
        print!("{summary}");
    }
    Ok(())
}
