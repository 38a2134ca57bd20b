//! The program the durable-run tests start, stop, kill and start again: instructions (from
//! memory or a JSON Lines file) -> an answer from an OpenAI-compatible server -> optionally a
//! second answer -> a Distiset.
//!
//! `durable-run <base url> <output dir> [--rows N] [--file PATH] [--second TEMPLATE]
//! [--concurrency C] [--retry-failed]`; the cache directory comes from `DISTIL_CACHE_DIR`. Exits 0 when the
//! run finished, 130 when a signal stopped it, 1 when it failed; prints the error on stderr.

use std::process::ExitCode;

use distil::llm::OpenAi;
use distil::prelude::*;
use distil::steps::{LoadDataFromDicts, LoadDataFromFileSystem};
use distil::tasks::TextGeneration;
use distil::{Error, Pipeline};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, dir) = (&args[0], &args[1]);
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let rows: usize = flag("--rows").map_or(100, |n| n.parse().expect("a row count"));
    let concurrency: usize = flag("--concurrency").map_or(16, |n| n.parse().expect("a count"));
    let llm = || {
        OpenAi::new("durable-model")
            .base_url(url.as_str())
            .api_key("sk-durable")
            .max_concurrency(concurrency)
    };
    let mut pipeline = Pipeline::new("durable");
    match flag("--file") {
        Some(file) => pipeline.add("load", LoadDataFromFileSystem::untyped(file.as_str())),
        None => pipeline.add(
            "load",
            LoadDataFromDicts::untyped(
                (0..rows).map(|i| serde_json::json!({ "instruction": format!("question {i}") })),
            ),
        ),
    }
    .batch_size(10);
    pipeline
        .add("answer", TextGeneration::new(llm()))
        .input_batch_size(10);
    pipeline.connect("load", "answer");
    if let Some(template) = flag("--second") {
        let second = TextGeneration::new(llm()).template(template.as_str());
        pipeline.add("second", second).input_batch_size(10);
        pipeline
            .options("second")
            .unwrap()
            .output_mapping("generation", "second_generation");
        pipeline
            .options("answer")
            .unwrap()
            .output_mapping("generation", "first_generation");
        pipeline.connect("answer", "second");
    }
    let options = RunOptions::new()
        .output_dir(dir)
        .retry_failed(args.iter().any(|a| a == "--retry-failed"));
    match pipeline.run_with(options).await {
        Ok(distiset) => {
            println!("rows {}", distiset.default_config().map_or(0, |c| c.len()));
            ExitCode::SUCCESS
        }
        Err(e @ Error::Interrupted { .. }) => {
            eprintln!("{e}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
