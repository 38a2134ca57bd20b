//! The embedded LLM's speed on its default model (SmolLM2-135M-Instruct, Q4_1), greedy:
//! prompt tokens per second on a ~420-token prompt, generated tokens per second for one
//! sequence, and total tokens per second at the best of several concurrencies.
//!
//! `cargo bench --bench local` prints one JSON line. With `LLAMA_SERVER` naming a
//! `llama-server` binary, the same figures for llama.cpp's server on the same GGUF file (the
//! limit on this machine) stand beside them, with distil's share of each; without it, the
//! `llama_cpp` field is null. Built with the feature `llama-cpp`
//! (`RUSTFLAGS="-C target-cpu=native" cargo bench --bench local --features llama-cpp`), the
//! figures of distil's llama.cpp engine stand there too (`distil_llama_cpp`), with their
//! share of the server's.

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

/// Measures with `run(prompts, max_new_tokens) -> (prompt tokens, generated, seconds)`.
async fn measure<F, Fut>(long: &str, run: F) -> Figures
where
    F: Fn(Vec<String>, u64) -> Fut,
    Fut: std::future::Future<Output = (u64, u64, f64)>,
{
    // Warm up (page the weights in, build caches).
    run(vec![story(0)], 4).await;
    let (input, _, seconds) = run(vec![long.to_owned()], 1).await;
    let prompt = input as f64 / seconds;
    let (input, output, seconds) = run(vec![story(1)], 128).await;
    let generation = output as f64 / (seconds - input as f64 / prompt).max(1e-9);
    let mut best = (0, 0.0, 0.0);
    let mut by_concurrency = Vec::new();
    for c in CONCURRENCIES {
        let prompts: Vec<String> = (0..c).map(story).collect();
        let (input, output, seconds) = run(prompts, GENERATED).await;
        let total = (input + output) as f64 / seconds;
        let generated = output as f64 / seconds;
        by_concurrency.push(json!({ "concurrency": c, "total_tok_s": round(total), "generated_tok_s": round(generated) }));
        if total > best.1 {
            best = (c, total, generated);
        }
    }
    Figures {
        prompt,
        generation,
        best,
        by_concurrency,
    }
}

/// llama.cpp's server on `model`, on a free port, until dropped.
struct LlamaServer {
    child: Child,
    url: String,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn llama_server(binary: &str, model: &std::path::Path) -> LlamaServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let slots = CONCURRENCIES.iter().max().unwrap().to_string();
    let child = Command::new(binary)
        .arg("-m")
        .arg(model)
        .args([
            "--port",
            &port.to_string(),
            "--host",
            "127.0.0.1",
            "-t",
            "2",
        ])
        .args(["-np", &slots, "-c", "65536"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("LLAMA_SERVER runs");
    let server = LlamaServer {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{}/health", server.url)).send().await
            && r.status().is_success()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("llama-server did not come up");
}

async fn llama_run(url: &str, prompts: Vec<String>, tokens: u64) -> (u64, u64, f64) {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let answers = futures_util::future::join_all(prompts.iter().map(|p| {
        let body =
            json!({ "prompt": p, "n_predict": tokens, "temperature": 0.0, "cache_prompt": false });
        let request = client.post(format!("{url}/completion")).json(&body);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    }))
    .await;
    let seconds = start.elapsed().as_secs_f64();
    let count = |key: &str| {
        answers
            .iter()
            .map(|a| a["timings"][key].as_u64().unwrap_or(0))
            .sum()
    };
    (count("prompt_n"), count("predicted_n"), seconds)
}

#[tokio::main]
async fn main() {
    let llm = LocalLlm::new()
        .expect("the default model loads")
        .max_concurrency(64);
    let long = long_prompt(&llm, 417);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let local = measure(&long, |prompts, tokens| {
        let llm = &llm;
        async move { local_run(llm, &prompts, tokens).await }
    })
    .await;
    // The llama.cpp engine on the same file, when built in.
    #[cfg(feature = "llama-cpp")]
    let engine = {
        let on_llama = LocalLlm::from_file_with_engine(llm.path(), LocalEngine::LlamaCpp)
            .expect("the default model loads on llama.cpp")
            .max_concurrency(64);
        let figures = measure(&long, |prompts, tokens| {
            let llm = &on_llama;
            async move { local_run(llm, &prompts, tokens).await }
        })
        .await;
        Some(figures)
    };
    #[cfg(not(feature = "llama-cpp"))]
    let engine: Option<Figures> = None;
    let llama = match std::env::var("LLAMA_SERVER").ok().filter(|v| !v.is_empty()) {
        Some(binary) => {
            let server = llama_server(&binary, llm.path()).await;
            let url = server.url.clone();
            let figures = measure(&long, |prompts, tokens| {
                let url = url.clone();
                async move { llama_run(&url, prompts, tokens).await }
            })
            .await;
            Some(figures)
        }
        None => None,
    };
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
