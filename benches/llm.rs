//! LLM throughput: 5,000 rows through TextGeneration against an OpenAI-compatible server on
//! 127.0.0.1 that answers every request after a fixed 100 ms.
//!
//! `cargo bench --bench llm` prints one JSON line per concurrency: rows per second against the
//! physical bound (concurrency / latency), the distil process's peak RSS, and its CPU time
//! (user + sys) per request. The server runs in a process of its own, so its CPU is not
//! counted, and each client run in a process of its own, so its RSS is its own.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use distil::llm::{Llm, OpenAi};
use distil::steps::LoadDataFromDicts;
use distil::tasks::TextGeneration;
use distil::{Pipeline, RunOptions};
use support::peak_rss_mb;

#[path = "../tests/support/llm_server.rs"]
mod llm_server;
mod support;

const ROWS: usize = 5_000;
const LATENCY: Duration = Duration::from_millis(100);

/// CPU time (user + sys) of this process so far, from /proc/self/stat, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at `state`.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat: 12 and 13 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn serve() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let server = llm_server::LlmServer::start(llm_server::LlmState {
            latency: LATENCY,
            ..llm_server::LlmState::default()
        })
        .await;
        println!("{}", server.v1());
        // Serve until the benchmark closes stdin.
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await
        .unwrap();
    });
}

/// Runs ROWS instructions through TextGeneration with `llm`: rows generated, seconds, and the
/// process's CPU seconds during the run.
fn generate_all(llm: impl Llm) -> (usize, f64, f64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rows = (0..ROWS).map(|i| {
        serde_json::json!({ "instruction": format!("Write a short poem about the number {i}.") })
    });
    let mut pipeline = Pipeline::new("llm-bench");
    pipeline.add("load", LoadDataFromDicts::untyped(rows));
    pipeline.add("generate", TextGeneration::new(llm));
    pipeline.connect("load", "generate");
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let distiset = runtime
        .block_on(pipeline.run_with(RunOptions::new().output_dir(dir.path())))
        .expect("the benchmark pipeline runs");
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let generated = distiset
        .default_config()
        .unwrap()
        .column("generation")
        .filter(|g| g.is_string())
        .count();
    (generated, seconds, cpu)
}

fn client(url: &str, concurrency: usize) {
    let llm = OpenAi::new("bench-model")
        .base_url(url)
        .api_key("sk-bench")
        .max_concurrency(concurrency)
        .max_new_tokens(64);
    let (generated, seconds, cpu) = generate_all(llm);
    assert_eq!(generated, ROWS, "every row generated");
    let bound = concurrency as f64 / LATENCY.as_secs_f64();
    let rate = ROWS as f64 / seconds;
    println!(
        "{}",
        serde_json::json!({
            "bench": "text_generation",
            "rows": ROWS,
            "max_concurrency": concurrency,
            "latency_ms": LATENCY.as_millis() as u64,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "rows_per_sec": rate.round(),
            "bound_rows_per_sec": bound,
            "fraction_of_bound": (rate / bound * 1000.0).round() / 1000.0,
            "cpu_us_per_request": (cpu / ROWS as f64 * 1e6).round(),
            "peak_rss_mb": (peak_rss_mb() * 10.0).round() / 10.0,
        })
    );
}

/// The HTTP client alone: the same requests with reqwest and nothing else, as a floor.
fn raw(url: &str, concurrency: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
        let url = format!("{url}/chat/completions");
        let mut tasks = Vec::new();
        for i in 0..ROWS {
            let http = http.clone();
            let permits = permits.clone();
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = permits.acquire().await.unwrap();
                let body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": format!("poem {i}")}]});
                let bytes = http.post(&url).json(&body).send().await.unwrap().bytes().await.unwrap();
                let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                std::hint::black_box(v);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    println!(
        "{}",
        serde_json::json!({
            "bench": "raw_reqwest",
            "max_concurrency": concurrency,
            "rows_per_sec": (ROWS as f64 / seconds).round(),
            "cpu_us_per_request": (cpu / ROWS as f64 * 1e6).round(),
        })
    );
}

/// An LLM that answers after the same latency without HTTP: the pipeline's own cost.
struct Sleepy;

impl Llm for Sleepy {
    fn model_name(&self) -> &str {
        "sleepy"
    }
    fn max_concurrency(&self) -> usize {
        256
    }
    fn generate<'a>(
        &'a self,
        prompt: &'a distil::llm::Prompt,
        _: &'a distil::llm::GenerationParams,
    ) -> distil::step::BoxFuture<'a, Result<distil::llm::Generations, distil::llm::LlmError>> {
        Box::pin(async move {
            tokio::time::sleep(LATENCY).await;
            let text = format!("echo: {}", prompt.last_user_text());
            Ok(distil::llm::Generations {
                choices: vec![distil::llm::Generation::text(text)],
                input_tokens: Some(9),
                output_tokens: Some(5),
            })
        })
    }
}

/// The pipeline alone: TextGeneration over an LLM without HTTP.
fn no_http() {
    let (_, seconds, cpu) = generate_all(Sleepy);
    println!(
        "{}",
        serde_json::json!({
            "bench": "pipeline_without_http",
            "rows": ROWS,
            "rows_per_sec": (ROWS as f64 / seconds).round(),
            "cpu_us_per_row": (cpu / ROWS as f64 * 1e6).round(),
        })
    );
}

fn main() {
    if let Some(args) = support::scenario_args() {
        match args[0].as_str() {
            "serve" => serve(),
            "no_http" => no_http(),
            "raw" => raw(&args[1], args[2].parse().unwrap()),
            _ => client(&args[1], args[2].parse().unwrap()),
        }
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut server = Command::new(exe)
        .args(["--scenario", "serve"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let mut url = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    for concurrency in [256, 50] {
        let line = support::child(&[
            "client".to_owned(),
            url.trim().to_owned(),
            concurrency.to_string(),
        ]);
        println!("{line}");
    }
    // For comparison: a general HTTP client alone, and the pipeline without HTTP.
    let raw = support::child(&["raw".to_owned(), url.trim().to_owned(), "256".to_owned()]);
    println!("{raw}");
    println!("{}", support::child(&["no_http".to_owned()]));
    drop(server.stdin.take());
    let _ = server.wait();
}
