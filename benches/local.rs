//! The embedded LLM's speed on its default model (SmolLM2-135M-Instruct, Q4_1), greedy:
//! prompt tokens per second on a ~420-token prompt, generated tokens per second for one
//! sequence, and total tokens per second at the best of several concurrencies.
//!
//! `cargo bench --bench local` prints one JSON line. With `LLAMA_SERVER` naming a
//! `llama-server` binary, the same figures for llama.cpp's server on the same GGUF file (the
//! limit on this machine) stand beside them, with distil's share of each; without it, the
//! `llama_cpp` field is null. Built with the feature `llama-cpp`
//! (`RUSTFLAGS="-C target-cpu=native" cargo bench --bench local --features llama-cpp`, with
//! the README's `CFLAGS` and `CXXFLAGS` on a CPU with AMX), the figures of distil's llama.cpp
//! engine stand there too (`distil_llama_cpp`), with their share of the server's.
//!
//! Each step runs on every engine in turn, so a change in the machine's load falls on all of
//! them; `LOCAL_BENCH_RUNS=3` keeps the fastest of three runs of each step. The line records
//! the load averages before and after: on shared cores the figures mean little without them
//! (llama.cpp's threads wait for each other at every operation, and lose most of their speed
//! when another process takes one of the cores).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[cfg(feature = "llama-cpp")]
use distil::llm::LocalEngine;
use distil::llm::{GenerationParams, Llm, LocalLlm, Prompt};
use serde_json::{Value, json};

const CONCURRENCIES: [usize; 5] = [1, 4, 8, 16, 32];
const GENERATED: u64 = 64;

/// A raw ChatML prompt of about `tokens` tokens.
fn long_prompt(llm: &LocalLlm, tokens: usize) -> String {
    let sentence = "The river carried the spring melt down from the mountains, past farms and mills, to the sea. ";
    let mut body = String::new();
    while llm.prompt_ids(&Prompt::Text(body.clone())).unwrap().len() < tokens - 20 {
        body.push_str(sentence);
    }
    format!("<|im_start|>user\nSummarise: {body}<|im_end|>\n<|im_start|>assistant\n")
}

fn story(i: usize) -> String {
    format!(
        "<|im_start|>user\nWrite a long story about a lighthouse keeper named Ada, chapter {i}.<|im_end|>\n<|im_start|>assistant\n"
    )
}

fn params(tokens: u64) -> GenerationParams {
    GenerationParams {
        temperature: Some(0.0),
        max_new_tokens: Some(tokens),
        ..GenerationParams::default()
    }
}

/// `(prompt tokens, generated tokens, seconds)` of `prompts` generated at once.
async fn local_run(llm: &LocalLlm, prompts: &[String], tokens: u64) -> (u64, u64, f64) {
    let start = Instant::now();
    let answers = futures_util::future::join_all(prompts.iter().map(|p| {
        let prompt = Prompt::Text(p.clone());
        let params = params(tokens);
        async move { llm.generate(&prompt, &params).await.unwrap() }
    }))
    .await;
    let seconds = start.elapsed().as_secs_f64();
    let input = answers.iter().map(|a| a.input_tokens.unwrap()).sum();
    let output = answers.iter().map(|a| a.output_tokens.unwrap()).sum();
    (input, output, seconds)
}

/// The figures of one engine: prompt tok/s, one sequence's generated tok/s, and per
/// concurrency the total and generated tok/s.
struct Figures {
    prompt: f64,
    generation: f64,
    best: (usize, f64, f64),
    by_concurrency: Vec<Value>,
}

impl Figures {
    fn json(&self) -> Value {
        json!({
            "prompt_tok_s": round(self.prompt),
            "generation_tok_s": round(self.generation),
            "best_concurrency": self.best.0,
            "best_total_tok_s": round(self.best.1),
            "best_generated_tok_s": round(self.best.2),
            "by_concurrency": self.by_concurrency,
        })
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// One engine under measurement.
enum Engine<'a> {
    Local(&'a LocalLlm),
    /// llama.cpp's server at this URL.
    Server(&'a str),
}

impl Engine<'_> {
    /// `(prompt tokens, generated tokens, seconds)` of `prompts` generated at once.
    async fn run(&self, prompts: Vec<String>, tokens: u64) -> (u64, u64, f64) {
        match self {
            Engine::Local(llm) => local_run(llm, &prompts, tokens).await,
            Engine::Server(url) => llama_run(url, prompts, tokens).await,
        }
    }

    /// The fastest of `runs` runs of the same request, by `rate` (tokens per second): the
    /// slower ones lost time to other work on the machine.
    async fn fastest(
        &self,
        prompts: &[String],
        tokens: u64,
        runs: usize,
        rate: impl Fn((u64, u64, f64)) -> f64,
    ) -> (u64, u64, f64) {
        let mut best = self.run(prompts.to_vec(), tokens).await;
        for _ in 1..runs {
            let next = self.run(prompts.to_vec(), tokens).await;
            if rate(next) > rate(best) {
                best = next;
            }
        }
        best
    }
}

/// Measures every engine, each step on all of them in turn: the load of other work on the
/// machine changes over a run, and interleaving spreads it over the engines instead of
/// charging it to whichever engine happened to run then. Each step is the fastest of `runs`.
async fn measure(long: &str, engines: &[Engine<'_>], runs: usize) -> Vec<Figures> {
    // Warm up (page the weights in, build caches).
    for engine in engines {
        engine.run(vec![story(0)], 4).await;
    }
    let mut prompt = Vec::new();
    for engine in engines {
        let by_prompt = |(input, _, seconds): (u64, u64, f64)| input as f64 / seconds;
        let run = engine.fastest(&[long.to_owned()], 1, runs, by_prompt).await;
        prompt.push(by_prompt(run));
    }
    let mut generation = Vec::new();
    for (engine, &prompt) in engines.iter().zip(&prompt) {
        // The prompt's share of the time taken out, at the prompt speed just measured.
        let by_generation = |(input, output, seconds): (u64, u64, f64)| {
            output as f64 / (seconds - input as f64 / prompt).max(1e-9)
        };
        let run = engine.fastest(&[story(1)], 128, runs, by_generation).await;
        generation.push(by_generation(run));
    }
    let mut best = vec![(0, 0.0, 0.0); engines.len()];
    let mut by_concurrency = vec![Vec::new(); engines.len()];
    for c in CONCURRENCIES {
        let prompts: Vec<String> = (0..c).map(story).collect();
        for (e, engine) in engines.iter().enumerate() {
            let by_total =
                |(input, output, seconds): (u64, u64, f64)| (input + output) as f64 / seconds;
            let (input, output, seconds) =
                engine.fastest(&prompts, GENERATED, runs, by_total).await;
            let total = (input + output) as f64 / seconds;
            let generated = output as f64 / seconds;
            by_concurrency[e].push(json!({ "concurrency": c, "total_tok_s": round(total), "generated_tok_s": round(generated) }));
            if total > best[e].1 {
                best[e] = (c, total, generated);
            }
        }
    }
    (0..engines.len())
        .map(|e| Figures {
            prompt: prompt[e],
            generation: generation[e],
            best: best[e],
            by_concurrency: std::mem::take(&mut by_concurrency[e]),
        })
        .collect()
}

/// The machine's load averages over 1, 5 and 15 minutes: the benchmark shares the cores.
fn load_average() -> Value {
    let loads = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let loads: Vec<f64> = loads
        .split_whitespace()
        .take(3)
        .filter_map(|l| l.parse().ok())
        .collect();
    json!(loads)
}

/// llama.cpp's server on `model`, on a free port, until dropped.
struct LlamaServer {
    child: Child,
    url: String,
    /// The server's stderr (its log), shown when it fails to come up.
    log: tempfile::NamedTempFile,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl LlamaServer {
    /// Panics with the end of the server's log: the reason it did not come up is there.
    fn fail(&self, why: &str) -> ! {
        let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        panic!("llama-server {why}; the end of its log:\n{tail}");
    }
}

/// How long the server may take to load the model and warm up: long on a loaded machine.
const SERVER_START: Duration = Duration::from_secs(300);

async fn llama_server(binary: &str, model: &std::path::Path, threads: usize) -> LlamaServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // One slot per sequence of the largest concurrency, each with room for a story prompt and
    // its answer; the long prompt fits one slot too.
    let slots = *CONCURRENCIES.iter().max().unwrap();
    let context = slots * 1024;
    let log = tempfile::NamedTempFile::new().expect("a temporary file for the server's log");
    let child = Command::new(binary)
        .arg("-m")
        .arg(model)
        .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
        .args(["-t", &threads.to_string()])
        .args(["-np", &slots.to_string(), "-c", &context.to_string()])
        .stdin(Stdio::null())
        .stdout(log.reopen().expect("the server's log"))
        .stderr(log.reopen().expect("the server's log"))
        .spawn()
        .unwrap_or_else(|e| panic!("LLAMA_SERVER={binary} does not run: {e}"));
    let mut server = LlamaServer {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
    };
    let client = reqwest::Client::new();
    let start = Instant::now();
    while start.elapsed() < SERVER_START {
        if let Ok(Some(status)) = server.child.try_wait() {
            server.fail(&format!("exited ({status}) before it came up"));
        }
        // 503 while the model loads and warms up, 200 once it serves.
        if let Ok(r) = client.get(format!("{}/health", server.url)).send().await
            && r.status().is_success()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.fail(&format!("did not come up in {}s", SERVER_START.as_secs()));
}

async fn llama_run(url: &str, prompts: Vec<String>, tokens: u64) -> (u64, u64, f64) {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let answers = futures_util::future::join_all(prompts.iter().map(|p| {
        let body =
            json!({ "prompt": p, "n_predict": tokens, "temperature": 0.0, "cache_prompt": false });
        let request = client.post(format!("{url}/completion")).json(&body);
        async move {
            let answer = request.send().await.expect("llama-server answers");
            let status = answer.status();
            let body = answer.json::<Value>().await.expect("llama-server's JSON");
            // An error (a full context, say) must not pass for a fast answer with no tokens.
            assert!(
                status.is_success() && body["timings"].is_object(),
                "llama-server: {status} {body}"
            );
            body
        }
    }))
    .await;
    let seconds = start.elapsed().as_secs_f64();
    let count = |key: &str| {
        answers
            .iter()
            .map(|a| a["timings"][key].as_u64().expect("a token count"))
            .sum()
    };
    (count("prompt_n"), count("predicted_n"), seconds)
}

/// How many times each step runs (`LOCAL_BENCH_RUNS`, default 1), the fastest counting.
fn runs() -> usize {
    std::env::var("LOCAL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

#[tokio::main]
async fn main() {
    let llm = LocalLlm::new()
        .expect("the default model loads")
        .max_concurrency(64);
    let long = long_prompt(&llm, 417);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load_before = load_average();
    // The llama.cpp engine on the same file, when built in.
    #[cfg(feature = "llama-cpp")]
    let on_llama = Some(
        LocalLlm::from_file_with_engine(llm.path(), LocalEngine::LlamaCpp)
            .expect("the default model loads on llama.cpp")
            .max_concurrency(64),
    );
    #[cfg(not(feature = "llama-cpp"))]
    let on_llama: Option<LocalLlm> = None;
    let server = match std::env::var("LLAMA_SERVER").ok().filter(|v| !v.is_empty()) {
        Some(binary) => Some(llama_server(&binary, llm.path(), threads).await),
        None => None,
    };
    let mut engines = vec![Engine::Local(&llm)];
    engines.extend(on_llama.as_ref().map(Engine::Local));
    engines.extend(server.as_ref().map(|s| Engine::Server(&s.url)));
    let mut figures = measure(&long, &engines, runs()).await.into_iter();
    let local = figures.next().unwrap();
    let engine = on_llama.as_ref().map(|_| figures.next().unwrap());
    let llama = server.as_ref().map(|_| figures.next().unwrap());
    let shares = |ours: &Figures, theirs: &Figures| {
        let share = |ours: f64, theirs: f64| round(100.0 * ours / theirs);
        json!({
            "prompt": share(ours.prompt, theirs.prompt),
            "generation": share(ours.generation, theirs.generation),
            "best_total": share(ours.best.1, theirs.best.1),
        })
    };
    let line = json!({
        "bench": "local",
        "model": llm.model_name(),
        "threads": threads,
        "runs": runs(),
        "load_average": { "before": load_before, "after": load_average() },
        "prompt_tokens": llm.prompt_ids(&Prompt::Text(long.clone())).unwrap().len(),
        "distil": local.json(),
        "llama_cpp": llama.as_ref().map(Figures::json),
        "share_of_llama_cpp_pct": llama.as_ref().map(|l| shares(&local, l)),
        "distil_llama_cpp": engine.as_ref().map(Figures::json),
        "distil_llama_cpp_share_of_llama_cpp_pct": engine
            .as_ref()
            .zip(llama.as_ref())
            .map(|(e, l)| shares(e, l)),
    });
    println!("{line}");
}
