//! Durable runs, with real processes: `durable-run` (tests/durable/run.rs) sends instructions
//! to an OpenAI-compatible server on 127.0.0.1 started here; the tests stop it with SIGINT or
//! SIGTERM, kill it with SIGKILL, break its input and its caches, run it again, and check that
//! the Distiset holds every row exactly once and that no answered request was sent twice.

#[path = "support/llm_server.rs"]
mod llm_server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use distil::Distiset;
use llm_server::{LlmServer, LlmState, prompt_text};
use serde_json::Value;

const PROGRAM: &str = env!("CARGO_BIN_EXE_durable-run");

/// Requests in flight at most (the program's `max_concurrency`).
const CONCURRENCY: usize = 16;

struct Setup {
    server: LlmServer,
    /// Holds the cache and output folders.
    root: tempfile::TempDir,
}

impl Setup {
    async fn new(latency_ms: u64) -> Setup {
        let server = LlmServer::start(LlmState {
            latency: Duration::from_millis(latency_ms),
            record: true,
            ..LlmState::default()
        })
        .await;
        Setup {
            server,
            root: tempfile::tempdir().unwrap(),
        }
    }

    fn out(&self) -> PathBuf {
        self.root.path().join("out")
    }

    fn cache(&self) -> PathBuf {
        self.root.path().join("cache")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(PROGRAM);
        command
            .arg(self.server.v1())
            .arg(self.out())
            .args(args)
            .env("DISTIL_CACHE_DIR", self.cache())
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    fn start(&self, args: &[&str]) -> Child {
        self.command(args).spawn().expect("the program starts")
    }

    /// Runs the program to its end (at most a minute).
    async fn run(&self, args: &[&str]) -> Output {
        finish(self.start(args)).await
    }

    /// Requests the server received, by prompt.
    fn requests(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for seen in self.server.seen() {
            *counts.entry(prompt_text(&seen.body)).or_default() += 1;
        }
        counts
    }

    fn total_requests(&self) -> usize {
        self.server.seen().len()
    }

    /// Waits until the server has answered `answers` requests.
    async fn answered(&self, answers: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.server.answered() < answers {
            assert!(
                Instant::now() < deadline,
                "the server never answered {answers}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn distiset(&self) -> Distiset {
        Distiset::load_from_disk(self.out()).expect("a Distiset in the output folder")
    }
}

/// Waits for the program's end (at most a minute) and returns what it printed.
async fn finish(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the program did not end");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.wait_with_output().unwrap()
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The instruction of every row, sorted.
fn instructions(distiset: &Distiset) -> Vec<String> {
    let mut all: Vec<String> = distiset
        .default_config()
        .expect("one config")
        .column("instruction")
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    all.sort();
    all
}

fn questions(rows: usize) -> Vec<String> {
    let mut all: Vec<String> = (0..rows).map(|i| format!("question {i}")).collect();
    all.sort();
    all
}

/// Every row answered with its own instruction's answer.
fn assert_answers(distiset: &Distiset, rows: usize) {
    assert_eq!(instructions(distiset), questions(rows));
    let config = distiset.default_config().unwrap();
    for (instruction, generation) in config
        .column("instruction")
        .zip(config.column("generation"))
    {
        assert_eq!(
            generation.as_str().unwrap(),
            format!("echo: {}", instruction.as_str().unwrap())
        );
    }
}

/// A run stopped by `name` keeps what it finished, exits with 130 and says how to resume; the
/// rerun completes it without sending any answered request again.
async fn stopped_by(name: &str) {
    let setup = Setup::new(30).await;
    let child = setup.start(&["--rows", "600"]);
    setup.answered(200).await;
    signal(&child, name);
    let at_signal = setup.total_requests();
    // How fast it stops is measured by `cargo bench --bench cache`.
    let output = finish(child).await;
    assert_eq!(
        output.status.code(),
        Some(130),
        "{:?}: {}",
        output.status,
        stderr(&output)
    );
    let message = stderr(&output);
    assert!(
        message.contains(&format!("stopped by SIG{name}")),
        "{message}"
    );
    assert!(
        message.contains("run the same program again to resume"),
        "{message}"
    );
    // The partial Distiset: rows that were answered, each once.
    let partial = instructions(&setup.distiset());
    assert!(
        partial.len() >= 150 && partial.len() < 600,
        "{}",
        partial.len()
    );
    let mut unique = partial.clone();
    unique.dedup();
    assert_eq!(unique, partial);
    let before = setup.total_requests();
    // Every request sent was answered before the run ended: none was left unfinished.
    assert_eq!(setup.server.answered(), before);
    // Rows still waiting for a place at the limit were not sent after the signal: only
    // those already on their way (a round at most, while the signal reached the steps).
    assert!(
        before <= at_signal + CONCURRENCY,
        "{} requests sent after the signal",
        before - at_signal
    );

    let output = setup.run(&["--rows", "600"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_answers(&setup.distiset(), 600);
    let twice: Vec<_> = setup
        .requests()
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty(), "asked twice: {twice:?}");
    assert_eq!(setup.total_requests(), 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_keeps_and_resumes() {
    stopped_by("INT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_keeps_and_resumes() {
    stopped_by("TERM").await;
}

/// SIGKILL at several points, the last while the leaf's shard is being written: the rerun
/// gives every row once, and only requests whose answers had not reached the response cache
/// at the kill are sent again: those in flight, and those answered in the last milliseconds
/// (on the wire, or waiting for their commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_any_point_resumes_exactly_once() {
    for kill_at in [20, 300, 598] {
        let setup = Setup::new(20).await;
        let mut child = setup.start(&["--rows", "600"]);
        setup.answered(kill_at).await;
        child.kill().unwrap();
        let _ = finish(child).await;
        let output = setup.run(&["--rows", "600"]).await;
        assert!(output.status.success(), "{}", stderr(&output));
        assert_answers(&setup.distiset(), 600);
        let twice = setup.requests().values().filter(|&&n| n > 1).count();
        // In flight (one round), and answered within the writer's group-commit window and
        // the commit itself (another round or two at this latency on a busy machine).
        assert!(
            twice <= 3 * CONCURRENCY,
            "killed after {kill_at}: {twice} prompts asked twice, more than were in flight \
             or waiting for their commit"
        );
        let total = setup.total_requests();
        // Unchanged, the next run sends nothing: the finished Distiset comes from the cache.
        let output = setup.run(&["--rows", "600"]).await;
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(setup.total_requests(), total);
        assert_answers(&setup.distiset(), 600);
    }
}

/// A second SIGINT ends the process at once; the caches stay readable and the rerun resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let setup = Setup::new(200).await;
    let child = setup.start(&["--rows", "200"]);
    setup.answered(20).await;
    signal(&child, "INT");
    tokio::time::sleep(Duration::from_millis(20)).await;
    signal(&child, "INT");
    let output = finish(child).await;
    assert_eq!(output.status.code(), Some(128 + 2), "{}", stderr(&output));
    let output = setup.run(&["--rows", "200"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_answers(&setup.distiset(), 200);
    assert!(setup.requests().values().filter(|&&n| n > 1).count() <= 2 * CONCURRENCY);
}

/// More rows: only the new ones are sent; other instructions: only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_loader_data_gives_new_results() {
    let setup = Setup::new(1).await;
    assert!(setup.run(&["--rows", "50"]).await.status.success());
    assert_eq!(setup.total_requests(), 50);
    let output = setup.run(&["--rows", "80"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_answers(&setup.distiset(), 80);
    assert_eq!(setup.total_requests(), 80);
    assert!(setup.requests().values().all(|&n| n == 1));
}

/// A changed second task runs again; the first one, upstream, sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_step_reruns_only_itself_and_what_follows() {
    let setup = Setup::new(1).await;
    let first = ["--rows", "30", "--second", "Shorter: {{ instruction }}"];
    assert!(setup.run(&first).await.status.success());
    assert_eq!(setup.total_requests(), 60);
    let changed = ["--rows", "30", "--second", "Longer: {{ instruction }}"];
    let output = setup.run(&changed).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let requests = setup.requests();
    assert_eq!(setup.total_requests(), 90);
    assert!(
        requests
            .keys()
            .filter(|p| p.starts_with("Longer: "))
            .count()
            == 30
    );
    assert!(
        requests
            .keys()
            .filter(|p| p.starts_with("question "))
            .all(|p| requests[p] == 1)
    );
    let distiset = setup.distiset();
    let config = distiset.default_config().unwrap();
    let seconds: Vec<Value> = config.column("second_generation").cloned().collect();
    assert!(
        seconds
            .iter()
            .all(|s| s.as_str().unwrap().starts_with("echo: Longer: "))
    );
    let log = std::fs::read_to_string(setup.out().join("pipeline.log")).unwrap();
    assert!(
        log.contains("step `answer`: 3 batch(es), 30 row(s), replayed"),
        "{log}"
    );
}

/// A cache file cut short or overwritten is noticed and computed again, never misread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_cache_is_detected_and_recomputed() {
    for damage in ["truncate", "garble"] {
        let setup = Setup::new(1).await;
        assert!(setup.run(&["--rows", "40"]).await.status.success());
        for file in ["llm-responses.sqlite", "durable/batches.sqlite"] {
            let path = setup.cache().join(file);
            damage_file(&path, damage);
        }
        // Without the finished-run record, the run reads its caches.
        std::fs::remove_file(setup.out().join(".distil-finished.json")).unwrap();
        let output = setup.run(&["--rows", "40"]).await;
        assert!(output.status.success(), "{damage}: {}", stderr(&output));
        assert_answers(&setup.distiset(), 40);
        let log = std::fs::read_to_string(setup.out().join("pipeline.log")).unwrap();
        assert!(log.contains("was damaged"), "{damage}: {log}");
    }
}

fn damage_file(path: &Path, how: &str) {
    let mut bytes = std::fs::read(path).unwrap();
    match how {
        "truncate" => bytes.truncate(bytes.len() / 3),
        _ => {
            for b in bytes.iter_mut().skip(100).step_by(7) {
                *b ^= 0x5a;
            }
        }
    }
    std::fs::write(path, bytes).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Two processes on one output folder: the second is refused, naming the folder and the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_folder_is_refused() {
    let setup = Setup::new(100).await;
    let mut first = setup.start(&["--rows", "200"]);
    setup.answered(5).await;
    let second = setup.run(&["--rows", "200"]).await;
    assert_eq!(second.status.code(), Some(1));
    let message = stderr(&second);
    assert!(
        message.contains(&setup.out().display().to_string())
            && message.contains(&format!("process {}", first.id())),
        "{message}"
    );
    first.kill().unwrap();
    let _ = first.wait();
}

/// A bad record half way through the input fails the run, keeping the rows answered before
/// it; once the file is fixed, the rerun sends only what was never answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_record_keeps_the_finished_rows_and_the_fixed_rerun_resumes() {
    let setup = Setup::new(1).await;
    let file = setup.root.path().join("instructions.jsonl");
    let line = |i: usize| format!("{{\"instruction\": \"question {i}\"}}\n");
    let mut text: String = (0..100).map(line).collect();
    text.push_str("{\"instruction\": \"question 100\"\n");
    text.extend((101..150).map(line));
    std::fs::write(&file, &text).unwrap();
    let file_arg = file.display().to_string();
    let output = setup.run(&["--file", &file_arg]).await;
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("instructions.jsonl") && message.contains("101"),
        "{message}"
    );
    // Every row read before the bad line was answered and kept.
    assert_eq!(instructions(&setup.distiset()), questions(100));
    assert_eq!(setup.total_requests(), 100);

    std::fs::write(&file, (0..150).map(line).collect::<String>()).unwrap();
    let output = setup.run(&["--file", &file_arg]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_answers(&setup.distiset(), 150);
    // Each instruction asked once over both runs: the answers of the failed run were reused.
    assert_eq!(setup.total_requests(), 150);
    assert!(setup.requests().values().all(|&n| n == 1));
}

/// `retry_failed` sends again only the rows whose call failed; the others come from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_failed_sends_only_the_failed_rows_again() {
    let setup = Setup::new(1).await;
    let file = setup.root.path().join("instructions.jsonl");
    let text: String = (0..20)
        .map(|i| {
            // The server answers these with a 422 every time.
            let failing = if i % 10 == 3 { "shape:detail " } else { "" };
            format!("{{\"instruction\": \"{failing}question {i}\"}}\n")
        })
        .collect();
    std::fs::write(&file, text).unwrap();
    let file_arg = file.display().to_string();
    assert!(setup.run(&["--file", &file_arg]).await.status.success());
    assert_eq!(setup.total_requests(), 20);
    // Without the option, the finished run is returned as it is.
    assert!(setup.run(&["--file", &file_arg]).await.status.success());
    assert_eq!(setup.total_requests(), 20);
    let output = setup.run(&["--file", &file_arg, "--retry-failed"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let requests = setup.requests();
    assert_eq!(setup.total_requests(), 22, "{requests:?}");
    assert_eq!(requests["shape:detail question 3"], 2);
    assert_eq!(requests["shape:detail question 13"], 2);
    assert_eq!(requests["question 4"], 1);
    // The recomputed batches' other rows were answered by the response cache, and the run's
    // usage says so.
    let log = std::fs::read_to_string(setup.out().join("pipeline.log")).unwrap();
    let cached: u64 = log
        .lines()
        .find_map(|line| {
            let (before, _) = line.split_once(" answered from the response cache")?;
            before.rsplit(' ').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no usage line in {log}"));
    assert!(cached > 0 && cached < 20, "{log}");
    assert!(log.contains("0 requests (2 failed"), "{log}");
}

/// A generator that keeps its batches, as an LLM generator does; it counts the rows it is
/// asked to generate and to skip.
struct Numbers {
    rows: usize,
    emitted: usize,
    generated: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    skipped: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl distil::Step for Numbers {
    fn spec(&self) -> distil::step::StepSpec {
        let mut spec = distil::step::StepSpec::new("Numbers", distil::StepKind::Generator);
        spec.outputs
            .push(distil::ColumnSpec::new("n", distil::DataType::UInt(64)));
        spec
    }

    fn start(&mut self) -> distil::step::BoxFuture<'_, distil::Result<()>> {
        self.emitted = 0;
        Box::pin(async { Ok(()) })
    }

    fn generate(
        &mut self,
        batch_size: usize,
    ) -> distil::step::BoxFuture<'_, distil::Result<Option<distil::step::Output>>> {
        let rows = batch_size.min(self.rows - self.emitted);
        let values: Vec<Value> = (self.emitted..self.emitted + rows)
            .map(Value::from)
            .collect();
        self.emitted += rows;
        self.generated
            .fetch_add(rows, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            Ok((rows > 0).then(|| distil::step::Output::new_rows(rows).column("n", values)))
        })
    }

    fn skip(&mut self, rows: usize, _: usize) -> distil::step::BoxFuture<'_, distil::Result<()>> {
        self.emitted += rows;
        self.skipped
            .fetch_add(rows, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }

    fn persists(&self) -> bool {
        true
    }
}

/// Stops the run at the first row at or past `fail_at` while `failing` is set.
struct FailAt {
    fail_at: u64,
    failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl distil::Step for FailAt {
    fn spec(&self) -> distil::step::StepSpec {
        let mut spec = distil::step::StepSpec::new("FailAt", distil::StepKind::Normal);
        spec.inputs
            .push(distil::ColumnSpec::new("n", distil::DataType::UInt(64)));
        spec
    }

    fn process<'a>(
        &'a mut self,
        input: distil::step::Input<'a>,
    ) -> distil::step::BoxFuture<'a, distil::Result<distil::step::Output>> {
        let past = input
            .column("n")
            .unwrap_or_default()
            .iter()
            .any(|n| n.as_u64().unwrap_or(0) >= self.fail_at);
        let failing = self.failing.load(std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            if past && failing {
                Err(distil::Error::fatal("fail", "the disk is full"))
            } else {
                Ok(distil::step::Output::same_rows())
            }
        })
    }
}

/// A persisted generator resumes at the row it had reached: its batches of the failed run are
/// replayed, it is asked to skip them, and generates only the rest; every row comes once.
/// (How far the failed run got depends on the edges' buffers: the counts, not a row number,
/// are checked.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persisted_generator_restarts_at_the_row_it_reached() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    const ROWS: usize = 5_000;
    let generated = Arc::new(AtomicUsize::new(0));
    let skipped = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicBool::new(true));
    let out = tempfile::tempdir().unwrap();
    // The batch store lives under the cache folder, by pipeline name: a name of its own.
    let name = format!("generator-offset-{}", std::process::id());
    let mut pipeline = distil::Pipeline::new(&name);
    pipeline
        .add(
            "numbers",
            Numbers {
                rows: ROWS,
                emitted: 0,
                generated: generated.clone(),
                skipped: skipped.clone(),
            },
        )
        .batch_size(50);
    pipeline
        .add(
            "fail",
            FailAt {
                fail_at: 600,
                failing: failing.clone(),
            },
        )
        .input_batch_size(50);
    pipeline.connect("numbers", "fail");
    let options = || distil::RunOptions::new().output_dir(out.path());
    assert!(pipeline.run_with(options()).await.is_err());
    // Up to the failing row at least, and on as far as the edges' buffers let it.
    let first = generated.load(Ordering::SeqCst);
    assert!(first >= 600, "{first}");

    failing.store(false, Ordering::SeqCst);
    let distiset = pipeline.run_with(options()).await.unwrap();
    let skipped = skipped.load(Ordering::SeqCst);
    assert!(skipped >= 600, "skipped {skipped}");
    // Replayed, then generated from there: no row made twice.
    assert_eq!(generated.load(Ordering::SeqCst) - first, ROWS - skipped);
    let mut numbers: Vec<u64> = distiset
        .default_config()
        .unwrap()
        .column("n")
        .map(|n| n.as_u64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..ROWS as u64).collect::<Vec<u64>>());
}
