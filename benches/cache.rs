//! What the cache costs and what it saves. `cargo bench --bench cache` prints one JSON line
//! per scenario, each run in a child process of its own:
//!
//! - `pure_1m`: the 1,000,000-row pipeline of the throughput benchmark (batches of 50), whose
//!   steps compute and persist nothing, beside the same run with the caches off
//!   (`use_cache(false)`, `response_cache(false)`): the cache layer's overhead.
//! - `llm_100k`: 100,000 rows through an LLM task answering at once (in process): the first
//!   run (every batch and answer stored), a rerun of the finished run (its Distiset returned
//!   from the cache), and a rerun replaying every batch (the finished record removed).
//! - `sigint_50`: `durable-run` at 50 requests in flight against a server answering after
//!   100 ms; SIGINT after 200 answers: the time to exit, and whether every answered request
//!   reached the partial Distiset.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use distil::llm::{Generation, GenerationParams, Generations, Llm, LlmError, Prompt};
use distil::prelude::*;
use distil::step::BoxFuture;
use distil::steps::{KeepColumns, LoadDataFromDicts};
use distil::tasks::TextGeneration;
use support::peak_rss_mb;

#[path = "../tests/support/llm_server.rs"]
mod llm_server;
mod support;

#[derive(Row)]
struct Record {
    id: String,
    text: String,
}

#[derive(Row)]
struct Length {
    len: u64,
}

#[derive(Row)]
struct Upper {
    text: String,
}

#[step]
fn text_len(text: &str) -> Length {
    Length {
        len: text.len() as u64,
    }
}

#[step]
fn uppercase(text: &str) -> Upper {
    Upper {
        text: text.to_uppercase(),
    }
}

fn record(i: u64) -> Record {
    Record {
        id: format!("row-{i:08}"),
        text: format!("the quick brown fox {i} jumps over the lazy dog"),
    }
}

async fn pure(rows: u64, caches: bool) -> f64 {
    let data: Vec<Record> = (0..rows).map(record).collect();
    let mut pipeline = pipeline! {
        name: "cache-pure",
        load = LoadDataFromDicts::<Record>::new(data),
            batch_size: 50,
        len = TextLen::new(),
            input_batch_size: 50,
        keep = KeepColumns::new(["text", "len"]),
            input_batch_size: 50,
        upper = Uppercase::new(),
            input_batch_size: 50,
        load >> len >> keep >> upper,
    };
    let dir = tempfile::tempdir().unwrap();
    let options = RunOptions::new()
        .output_dir(dir.path())
        .use_cache(caches)
        .response_cache(caches);
    let start = Instant::now();
    let distiset = pipeline.run_with(options).await.expect("the pipeline runs");
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(distiset.default_config().unwrap().len() as u64, rows);
    seconds
}

/// Answers at once: the run's cost is distil's own.
struct Instant0;

impl Llm for Instant0 {
    fn model_name(&self) -> &str {
        "instant"
    }

    fn generate<'a>(
        &'a self,
        prompt: &'a Prompt,
        _: &'a GenerationParams,
    ) -> BoxFuture<'a, Result<Generations, LlmError>> {
        let text = format!("answer to {}", prompt.last_user_text());
        Box::pin(async move { Ok(Generations::one(Generation::text(text))) })
    }

    fn max_concurrency(&self) -> usize {
        64
    }
}

#[derive(Row)]
struct Instruction {
    instruction: String,
}

/// The three runs of `llm_100k`, in seconds.
async fn llm(rows: u64) -> (f64, f64, f64) {
    let cache = tempfile::tempdir().unwrap();
    // The child process is this scenario's alone: its cache folder too.
    unsafe { std::env::set_var("DISTIL_CACHE_DIR", cache.path()) };
    let out = tempfile::tempdir().unwrap();
    let run = || async {
        let data = (0..rows).map(|i| Instruction {
            instruction: format!("question {i}"),
        });
        let mut pipeline = pipeline! {
            name: "cache-llm",
            load = LoadDataFromDicts::<Instruction>::new(data),
            generate = TextGeneration::new(Instant0),
            load >> generate,
        };
        let start = Instant::now();
        let distiset = pipeline
            .run_with(RunOptions::new().output_dir(out.path()))
            .await
            .expect("the pipeline runs");
        assert_eq!(distiset.default_config().unwrap().len() as u64, rows);
        start.elapsed().as_secs_f64()
    };
    let first = run().await;
    let finished = run().await;
    std::fs::remove_file(out.path().join(".distil-finished.json")).unwrap();
    let replayed = run().await;
    (first, finished, replayed)
}

async fn sigint() -> serde_json::Value {
    let server = llm_server::LlmServer::start(llm_server::LlmState {
        latency: Duration::from_millis(100),
        record: true,
        ..llm_server::LlmState::default()
    })
    .await;
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_durable-run"))
        .arg(server.v1())
        .arg(&out)
        .args(["--rows", "2000", "--concurrency", "50"])
        .env("DISTIL_CACHE_DIR", root.path().join("cache"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while server.answered() < 200 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let in_flight = server.seen().len() - server.answered();
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let signalled = Instant::now();
    while child.try_wait().unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let seconds = signalled.elapsed().as_secs_f64();
    let kept = distil::Distiset::load_from_disk(&out)
        .map(|d| d.default_config().map_or(0, |c| c.len()))
        .unwrap_or(0);
    serde_json::json!({
        "bench": "sigint_50",
        "requests_in_flight_at_signal": in_flight,
        "seconds_to_exit": (seconds * 1000.0).round() / 1000.0,
        "target_seconds": 2.0,
        "answered": server.answered(),
        "rows_kept": kept,
        "answers_lost": server.answered().saturating_sub(kept),
    })
}

fn scenario(args: &[String]) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let line = match args[0].as_str() {
        "pure" => {
            let caches = args[1] == "on";
            let seconds = runtime.block_on(pure(1_000_000, caches));
            serde_json::json!({
                "bench": "pure_1m",
                "caches": caches,
                "seconds": seconds,
                "rows_per_sec": (1e6 / seconds).round(),
                "peak_rss_mb": peak_rss_mb(),
            })
        }
        "llm" => {
            let (first, finished, replayed) = runtime.block_on(llm(100_000));
            serde_json::json!({
                "bench": "llm_100k",
                "first_run_seconds": first,
                "finished_run_from_cache_seconds": finished,
                "replayed_from_batches_seconds": replayed,
                "target_seconds": 1.0,
                "peak_rss_mb": peak_rss_mb(),
            })
        }
        "sigint" => runtime.block_on(sigint()),
        other => panic!("unknown scenario {other}"),
    };
    println!("{line}");
}

fn main() {
    if let Some(args) = support::scenario_args() {
        scenario(&args);
        return;
    }
    // Alternated, so a busy moment of the machine does not favour one side.
    let mut on = Vec::new();
    let mut off = Vec::new();
    for _ in 0..3 {
        off.push(support::child(&["pure".into(), "off".into()]));
        on.push(support::child(&["pure".into(), "on".into()]));
    }
    let best = |runs: &[serde_json::Value]| {
        runs.iter()
            .map(|r| r["seconds"].as_f64().unwrap())
            .fold(f64::INFINITY, f64::min)
    };
    let (with, without) = (best(&on), best(&off));
    for run in off.iter().chain(&on) {
        println!("{run}");
    }
    println!(
        "{}",
        serde_json::json!({
            "bench": "pure_1m_overhead",
            "best_seconds_caches_on": with,
            "best_seconds_caches_off": without,
            "overhead": ((with / without - 1.0) * 1000.0).round() / 1000.0,
            "target": 0.05,
        })
    );
    println!("{}", support::child(&["llm".into()]));
    println!("{}", support::child(&["sigint".into()]));
}
