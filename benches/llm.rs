//! LLM throughput: rows through TextGeneration against an OpenAI-compatible server on
//! 127.0.0.1 that answers every request after a fixed latency.
//!
//! `cargo bench --bench llm` prints one JSON line per scenario. Fault-free, 5,000 rows at
//! 100 ms for each concurrency: rows per second against the physical bound (concurrency /
//! latency), the distil process's peak RSS and its CPU time (user + sys) per request. Faults,
//! 2,000 rows at 20 ms and C = 64: 10% 5xx/429 + 5% truncated bodies against the fault-free
//! run, 50% failures with the mean requests in flight the server saw (busy time / wall time)
//! against C; and a server serving 8 at once that answers the rest 429, with the share of
//! 429s after the first 2 s and the throughput against 8 / latency. Each server runs in a
//! process of its own, so its CPU is not counted, and each client run in a process of its
//! own, so its RSS is its own.

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
const FAULT_ROWS: usize = 2_000;
const FAULT_LATENCY: Duration = Duration::from_millis(20);

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

/// Serves with `latency_ms`, `faults` ("errors%,cut%") and `reject_above` (0: none) until
/// stdin closes, then prints what it saw.
fn serve(latency_ms: u64, faults: &str, reject_above: usize) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let faults = faults
            .split_once(',')
            .map(|(e, c)| (e.parse().unwrap(), c.parse().unwrap()));
        let server = llm_server::LlmServer::start(llm_server::LlmState {
            latency: Duration::from_millis(latency_ms),
            faults: faults.filter(|&(e, c): &(u32, u32)| e + c > 0),
            reject_above: (reject_above > 0).then_some(reject_above),
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
        let state = &server.state;
        let responses = state.responses.lock().unwrap().clone();
        let start = responses.first().map_or(0.0, |r| r.0.as_secs_f64());
        let late: Vec<u16> = responses
            .iter()
            .filter(|r| r.0.as_secs_f64() - start > 2.0)
            .map(|r| r.1)
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "answered": state.answered.load(std::sync::atomic::Ordering::SeqCst),
                "rejected": state.rejected.load(std::sync::atomic::Ordering::SeqCst),
                "busy_secs": state.busy_us.load(std::sync::atomic::Ordering::SeqCst) as f64 / 1e6,
                "requests_after_2s": late.len(),
                "answered_429_after_2s": late.iter().filter(|&&s| s == 429).count(),
            })
        );
    });
}

/// A server process: its URL, and the process to stop.
struct ServerProcess {
    url: String,
    process: std::process::Child,
}

impl ServerProcess {
    fn start(latency: Duration, faults: &str, reject_above: usize) -> Self {
        let exe = std::env::current_exe().unwrap();
        let mut process = Command::new(exe)
            .args([
                "--scenario".to_owned(),
                "serve".to_owned(),
                latency.as_millis().to_string(),
                faults.to_owned(),
                reject_above.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let mut url = String::new();
        let mut out = BufReader::new(process.stdout.take().unwrap());
        out.read_line(&mut url).unwrap();
        process.stdout = Some(out.into_inner());
        ServerProcess {
            url: url.trim().to_owned(),
            process,
        }
    }

    /// Stops the server; what it saw.
    fn stop(mut self) -> serde_json::Value {
        drop(self.process.stdin.take());
        let mut line = String::new();
        BufReader::new(self.process.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let _ = self.process.wait();
        serde_json::from_str(&line).unwrap_or_default()
    }
}

/// Runs `rows` instructions through TextGeneration with `llm`: rows generated, seconds, and
/// the process's CPU seconds during the run.
fn generate_all(llm: impl Llm, rows: usize) -> (usize, f64, f64) {
    generate_with(llm, rows, RunOptions::new())
}

/// [`generate_all`] with `options` (an output folder added).
fn generate_with(llm: impl Llm, rows: usize, options: RunOptions) -> (usize, f64, f64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rows = (0..rows).map(|i| {
        serde_json::json!({ "instruction": format!("Write a short poem about the number {i}.") })
    });
    let mut pipeline = Pipeline::new("llm-bench");
    pipeline.add("load", LoadDataFromDicts::untyped(rows));
    pipeline.add("generate", TextGeneration::new(llm));
    pipeline.connect("load", "generate");
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    let distiset = runtime
        .block_on(pipeline.run_with(options.output_dir(dir.path())))
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

fn client(url: &str, concurrency: usize, response_cache: bool) {
    let llm = OpenAi::new("bench-model")
        .base_url(url)
        .api_key("sk-bench")
        .max_concurrency(concurrency)
        .max_new_tokens(64);
    let options = RunOptions::new().response_cache(response_cache);
    let (generated, seconds, cpu) = generate_with(llm, ROWS, options);
    assert_eq!(generated, ROWS, "every row generated");
    let bound = concurrency as f64 / LATENCY.as_secs_f64();
    let rate = ROWS as f64 / seconds;
    println!(
        "{}",
        serde_json::json!({
            "bench": if response_cache { "text_generation" } else { "text_generation_without_response_cache" },
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

/// FAULT_ROWS rows at C = 64 against a faulty server: seconds, rows generated, requests.
fn faulty_client(url: &str, concurrency: usize) {
    let llm = OpenAi::new("bench-model")
        .base_url(url)
        .api_key("sk-bench")
        .max_concurrency(concurrency)
        .retry(distil::llm::RetryPolicy {
            max_attempts: 10,
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
        });
    let (generated, seconds, _) = generate_all(llm.clone(), FAULT_ROWS);
    let usage = llm.usage();
    println!(
        "{}",
        serde_json::json!({
            "generated": generated,
            "seconds": seconds,
            "retries": usage.retries,
            "final_limit": llm.current_limit(),
        })
    );
}

/// The fault scenarios, each against a server process of its own.
fn faults() {
    let run = |faults: &str, reject_above: usize| {
        let server = ServerProcess::start(FAULT_LATENCY, faults, reject_above);
        let client = support::child(&["faulty".to_owned(), server.url.clone(), "64".to_owned()]);
        let seen = server.stop();
        (client, seen)
    };
    let (clean, _) = run("0,0", 0);
    let (faulty, _) = run("10,5", 0);
    let clean_rate = FAULT_ROWS as f64 / clean["seconds"].as_f64().unwrap();
    let faulty_rate = FAULT_ROWS as f64 / faulty["seconds"].as_f64().unwrap();
    println!(
        "{}",
        serde_json::json!({
            "bench": "faults_10pct_errors_5pct_truncated",
            "rows": FAULT_ROWS, "max_concurrency": 64, "latency_ms": 20,
            "generated": faulty["generated"],
            "rows_per_sec": faulty_rate.round(),
            "fault_free_rows_per_sec": clean_rate.round(),
            "fraction_of_fault_free": (faulty_rate / clean_rate * 1000.0).round() / 1000.0,
            "target_fraction": 0.8,
            "final_limit": faulty["final_limit"],
        })
    );
    let (half, seen) = run("50,0", 0);
    let busy = seen["busy_secs"].as_f64().unwrap_or(0.0);
    let seconds = half["seconds"].as_f64().unwrap();
    println!(
        "{}",
        serde_json::json!({
            "bench": "faults_50pct_errors",
            "rows": FAULT_ROWS, "max_concurrency": 64, "latency_ms": 20,
            "generated": half["generated"],
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "mean_in_flight": (busy / seconds * 10.0).round() / 10.0,
            "target_mean_in_flight": 0.8 * 64.0,
            "final_limit": half["final_limit"],
        })
    );
    let (limited, seen) = run("0,0", 8);
    let seconds = limited["seconds"].as_f64().unwrap();
    let answered = seen["answered"].as_u64().unwrap_or(0) as f64;
    let late = seen["answered_429_after_2s"].as_f64().unwrap_or(0.0);
    let late_total = seen["requests_after_2s"].as_f64().unwrap_or(0.0).max(1.0);
    let rate = FAULT_ROWS as f64 / seconds;
    let bound = 8.0 / FAULT_LATENCY.as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "bench": "server_serving_8_rejecting_the_rest",
            "rows": FAULT_ROWS, "max_concurrency": 64, "latency_ms": 20,
            "generated": limited["generated"],
            "requests_answered_429": seen["rejected"],
            "requests": answered + seen["rejected"].as_f64().unwrap_or(0.0),
            "share_429_after_2s": (late / late_total * 1000.0).round() / 1000.0,
            "target_share_429_after_2s": 0.05,
            "rows_per_sec": rate.round(),
            "bound_rows_per_sec": bound,
            "fraction_of_bound": (rate / bound * 1000.0).round() / 1000.0,
            "final_limit": limited["final_limit"],
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
            "fraction_of_bound": (ROWS as f64 / seconds / (concurrency as f64 / LATENCY.as_secs_f64()) * 1000.0).round() / 1000.0,
            "cpu_us_per_request": (cpu / ROWS as f64 * 1e6).round(),
        })
    );
}

/// The machine's floor for any HTTP/1.1 client: C keep-alive connections, each writing
/// ready-made request bytes and reading the answer's head and Content-Length body, nothing else
/// (no pool, no parsing beyond that, no JSON). What it misses of C / L is what connecting,
/// the kernel's loopback and the server's process cost on these cores.
fn raw_tcp(url: &str, concurrency: usize) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let authority = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    runtime.block_on(async {
        let next = std::sync::Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let next = next.clone();
            let authority = authority.clone();
            tasks.push(tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(&authority).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut buffer = Vec::with_capacity(4096);
                while next.fetch_add(1, Ordering::Relaxed) < ROWS {
                    let body = r#"{"model":"m","messages":[{"role":"user","content":"poem"}]}"#;
                    let request = format!(
                        "POST /v1/chat/completions HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    stream.write_all(request.as_bytes()).await.unwrap();
                    buffer.clear();
                    loop {
                        let mut chunk = [0u8; 4096];
                        let read = stream.read(&mut chunk).await.unwrap();
                        assert!(read > 0, "the server closed the connection");
                        buffer.extend_from_slice(&chunk[..read]);
                        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                        let length: usize = head
                            .split("content-length:")
                            .nth(1)
                            .and_then(|rest| rest.lines().next())
                            .and_then(|v| v.trim().parse().ok())
                            .expect("answers carry a Content-Length");
                        if buffer.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let rounds = ROWS.div_ceil(concurrency) as f64;
    println!(
        "{}",
        serde_json::json!({
            "bench": "raw_tcp_floor",
            "max_concurrency": concurrency,
            "rows_per_sec": (ROWS as f64 / seconds).round(),
            "fraction_of_bound": (ROWS as f64 / seconds / (concurrency as f64 / LATENCY.as_secs_f64()) * 1000.0).round() / 1000.0,
            // Rows finish in whole rounds of L: ceil(rows / C) rounds is the best any client does.
            "fraction_of_bound_whole_rounds": ((ROWS as f64 / (rounds * LATENCY.as_secs_f64())) / (concurrency as f64 / LATENCY.as_secs_f64()) * 1000.0).round() / 1000.0,
            "cpu_us_per_request": (cpu / ROWS as f64 * 1e6).round(),
        })
    );
}

/// An LLM that answers after the same latency without HTTP: the pipeline's own cost, at a
/// concurrency of its own.
struct Sleepy(usize);

impl Llm for Sleepy {
    fn model_name(&self) -> &str {
        "sleepy"
    }
    fn max_concurrency(&self) -> usize {
        self.0
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
fn no_http(concurrency: usize) {
    let (_, seconds, cpu) = generate_all(Sleepy(concurrency), ROWS);
    println!(
        "{}",
        serde_json::json!({
            "bench": "pipeline_without_http",
            "rows": ROWS,
            "max_concurrency": concurrency,
            "rows_per_sec": (ROWS as f64 / seconds).round(),
            "cpu_us_per_row": (cpu / ROWS as f64 * 1e6).round(),
        })
    );
}

fn main() {
    if let Some(args) = support::scenario_args() {
        match args[0].as_str() {
            "serve" => serve(args[1].parse().unwrap(), &args[2], args[3].parse().unwrap()),
            "no_http" => no_http(args[1].parse().unwrap()),
            "raw" => raw(&args[1], args[2].parse().unwrap()),
            "raw_tcp" => raw_tcp(&args[1], args[2].parse().unwrap()),
            "faulty" => faulty_client(&args[1], args[2].parse().unwrap()),
            "client_without_cache" => client(&args[1], args[2].parse().unwrap(), false),
            _ => client(&args[1], args[2].parse().unwrap(), true),
        }
        return;
    }
    // `cargo bench --bench llm -- faults` runs the fault scenarios alone, `-- throughput` the
    // others.
    let only = |part: &str| {
        let asked: Vec<String> = std::env::args()
            .filter(|a| a == "faults" || a == "throughput")
            .collect();
        asked.is_empty() || asked.iter().any(|a| a == part)
    };
    if only("throughput") {
        throughput();
    }
    if only("faults") {
        faults();
    }
}

fn throughput() {
    let server = ServerProcess::start(LATENCY, "0,0", 0);
    for concurrency in [16, 64, 256, 1024] {
        let line = support::child(&[
            "client".to_owned(),
            server.url.clone(),
            concurrency.to_string(),
        ]);
        println!("{line}");
    }
    // For comparison: the response cache's share, a general HTTP client alone, and the
    // pipeline without HTTP.
    let line = support::child(&[
        "client_without_cache".to_owned(),
        server.url.clone(),
        "256".to_owned(),
    ]);
    println!("{line}");
    for concurrency in [256, 1024] {
        let raw = support::child(&[
            "raw".to_owned(),
            server.url.clone(),
            concurrency.to_string(),
        ]);
        println!("{raw}");
    }
    for concurrency in [16, 64, 256, 1024] {
        let floor = support::child(&[
            "raw_tcp".to_owned(),
            server.url.clone(),
            concurrency.to_string(),
        ]);
        println!("{floor}");
    }
    for concurrency in [16, 256] {
        let line = support::child(&["no_http".to_owned(), concurrency.to_string()]);
        println!("{line}");
    }
    server.stop();
}
