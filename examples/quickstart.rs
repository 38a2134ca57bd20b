//! Quickstart: 20 bundled instructions -> an LLM answers each one -> a Distiset on disk.
//!
//! load -> TextGeneration -> saved in the Hub's layout.
//!
//! With no endpoint variable set, the LLM is the embedded one (`distil::llm::LocalLlm`, feature
//! `local`, on by default): SmolLM2-135M-Instruct on the CPU, in this process, fetched on first
//! use (98 MB). Point it at a server instead with:
//!
//! ```text
//! # a local server (vLLM, Ollama, llama.cpp, ...): no key needed
//! OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_MODEL=llama3.2 cargo run --example quickstart
//! # OpenAI itself (OPENAI_MODEL defaults to gpt-4o-mini)
//! OPENAI_API_KEY=sk-... cargo run --example quickstart
//! ```
//!
//! The Distiset is saved to the directory given as the first argument, else
//! `target/quickstart-distiset`. While it runs, a progress line per step is drawn on stderr
//! when stderr is a terminal.

use std::process::ExitCode;
use std::time::Instant;

use std::sync::Arc;

#[cfg(feature = "local")]
use distil::llm::LocalLlm;
use distil::llm::{Llm, OpenAi};
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;
use distil::tasks::TextGeneration;
use serde::Deserialize;

/// One line of `examples/data/quickstart.jsonl`: TextGeneration reads `instruction`, the other
/// columns pass through to the Distiset.
#[derive(Row, Deserialize)]
struct Seed {
    id: String,
    category: String,
    instruction: String,
}

/// A variable that is set to something.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> ExitCode {
    // RUST_LOG=distil=debug (or trace) shows what the runtime logs.
    distil::logging::init();
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("quickstart failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The embedded model, when built with the feature `local`.
#[cfg(feature = "local")]
fn embedded() -> distil::Result<Option<Arc<dyn Llm>>> {
    eprintln!("no OPENAI_BASE_URL or OPENAI_API_KEY: using the embedded model on the CPU");
    Ok(Some(Arc::new(
        LocalLlm::new()?
            .temperature(0.7)
            .max_new_tokens(96)
            .max_concurrency(20),
    )))
}

#[cfg(not(feature = "local"))]
fn embedded() -> distil::Result<Option<Arc<dyn Llm>>> {
    Ok(None)
}

/// Runs the pipeline and prints its summary; fails when every row failed.
async fn run() -> distil::Result<ExitCode> {
    let seeds: Vec<Seed> = include_str!("data/quickstart.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).expect("the bundled data is valid JSON"))
        .collect();
    let loaded = seeds.len();

    // Clones share their usage counters, so this one reports the tokens the task spent.
    let llm: Arc<dyn Llm> = if env("OPENAI_BASE_URL").is_some() || env("OPENAI_API_KEY").is_some() {
        let model = env("OPENAI_MODEL").unwrap_or_else(|| "gpt-4o-mini".to_owned());
        // OPENAI_API_KEY, and OPENAI_BASE_URL when set.
        Arc::new(OpenAi::new(model).temperature(0.7).max_new_tokens(512))
    } else {
        match embedded()? {
            Some(llm) => llm,
            None => {
                eprintln!(
                    "quickstart needs an LLM: set OPENAI_BASE_URL to an OpenAI-compatible server \
                     (e.g. a local vLLM, Ollama or llama.cpp server: \
                     OPENAI_BASE_URL=http://localhost:11434/v1, with OPENAI_MODEL naming its \
                     model), set OPENAI_API_KEY to use OpenAI, or build with the feature `local` (on by \
                     default) for the embedded model."
                );
                return Ok(ExitCode::FAILURE);
            }
        }
    };

    let mut pipeline = pipeline! {
        name: "quickstart",
        description: "Answers a small bundled instruction set with an LLM.",
        load = LoadDataFromDicts::<Seed>::new(seeds),
        generate = TextGeneration::new(llm.clone())
            .system_prompt("You are a helpful assistant. Answer concisely."),
            input_batch_size: 20,
        load >> generate,
    };

    let start = Instant::now();
    let distiset = pipeline.run().await?;
    let elapsed = start.elapsed();
    let rows = distiset
        .default_config()
        .expect("one leaf step, one config");
    let errors: Vec<&Value> = rows
        .column(distil::METADATA_COLUMN)
        .filter_map(|m| m.get("errors"))
        .collect();
    let usage = llm.usage();
    let target = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/quickstart-distiset".to_owned());
    distiset.save_to_disk(&target)?;

    let description = llm.describe();
    let server = description["base_url"].as_str().map_or_else(
        || "in this process (embedded, CPU)".to_owned(),
        |url| format!("at {url}"),
    );
    println!(
        "{loaded} instructions -> {} rows in {:.1} s with {} {server}",
        rows.len(),
        elapsed.as_secs_f64(),
        llm.model_name(),
    );
    println!("rows with an error: {}", errors.len());
    if let Some(message) = errors.first().and_then(|e| e[0]["message"].as_str()) {
        println!("first error: {message}");
    }
    println!(
        "tokens used: {} in, {} out ({} requests, {} failed, {} retries)",
        usage.input_tokens, usage.output_tokens, usage.requests, usage.failed, usage.retries
    );
    println!("columns: {}", rows.column_names().join(", "));
    // Rows, failed rows, cache hits, requests and tokens per LLM, wall time.
    if let Some(summary) = pipeline.summary() {
        print!("{summary}");
    }
    // Saving copies the run: say where both copies are, and how to drop the cached one.
    println!(
        "saved to {target}; the run's own copy is in {} (`distil cache rm` removes it)",
        distiset.dir().display()
    );
    if let Some(mut first) = rows.rows().next() {
        // The metadata (raw prompt and answer, token counts) is in the Distiset too.
        first.remove(distil::METADATA_COLUMN);
        println!(
            "first row (without {}):\n{}",
            distil::METADATA_COLUMN,
            serde_json::to_string_pretty(&first).expect("JSON")
        );
    }
    if !errors.is_empty() && errors.len() == rows.len() {
        eprintln!("every row failed: is the server at {server} up, and does it serve that model?");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
