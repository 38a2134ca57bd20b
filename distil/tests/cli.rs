//! The `distil` command run as a process on Distisets made by the test.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row, Clone, Debug)]
struct Prompt {
    id: u64,
    prompt: String,
}

#[derive(Row, Debug)]
struct Length {
    length: u64,
}

#[step]
fn measure(prompt: String) -> Length {
    Length {
        length: prompt.len() as u64,
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("distil-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a small pipeline writing its Distiset into `dir`.
async fn make_distiset(dir: &Path) -> Distiset {
    let prompts: Vec<Prompt> = (0..7)
        .map(|id| Prompt {
            id,
            prompt: format!("prompt number {id}"),
        })
        .collect();
    let mut pipeline = pipeline! {
        name: "cli-test",
        load = LoadDataFromDicts::<Prompt>::new(prompts),
            batch_size: 3,
        measure = Measure::new(),
        load >> measure,
    };
    pipeline
        .run_with(RunOptions::new().output_dir(dir).progress(false))
        .await
        .unwrap()
}

fn distil(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_distil"))
        .args(args)
        .env("DISTIL_CACHE_DIR", cache)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn info_describes_a_distiset_and_a_cache_folder() {
    let cache = temp_dir("info");
    let run = cache.join("cli-test/runs/run-1");
    make_distiset(&run).await;
    let saved = cache.join("saved");
    Distiset::load_from_disk(&run)
        .unwrap()
        .save_to_disk(&saved)
        .unwrap();

    let card = std::fs::read_to_string(saved.join("README.md")).unwrap();
    assert!(card.contains("# Dataset Card for cli-test\n"), "{card}");

    let output = distil(&["info", saved.to_str().unwrap()], &cache);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    for expected in [
        "pipeline: cli-test",
        "rows: 7",
        "default/train: 7 rows in 1 shard(s)",
        "columns: id, prompt, length",
        "load (LoadDataFromDicts): batch_size=3",
        "measure (Measure)",
        "load -> measure",
    ] {
        assert!(text.contains(expected), "`{expected}` missing in:\n{text}");
    }

    let output = distil(&["info", cache.join("cli-test").to_str().unwrap()], &cache);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("run-1  7 rows"),
        "{}",
        stdout(&output)
    );

    let empty = temp_dir("info-empty");
    let output = distil(&["info", empty.to_str().unwrap()], &cache);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("is not a Distiset"),
        "{}",
        stderr(&output)
    );
    let output = distil(&["info", empty.join("nope").to_str().unwrap()], &cache);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("is not a folder"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn cache_lists_and_removes_runs() {
    let cache = temp_dir("cache");
    make_distiset(&cache.join("cli-test/runs/run-1")).await;
    make_distiset(&cache.join("cli-test/runs/run-2")).await;

    let output = distil(&["cache", "ls"], &cache);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("cli-test\n") && text.contains("run-1  7 rows") && text.contains("run-2"),
        "{text}"
    );

    let output = distil(&["cache", "rm", "cli-test", "run-1"], &cache);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!cache.join("cli-test/runs/run-1").exists());
    assert!(cache.join("cli-test/runs/run-2").exists());

    for bad in [
        &["cache", "rm", "../cli-test"][..],
        &["cache", "rm", "other"],
        &["cache", "rm", "cli-test", "run-9"],
    ] {
        let output = distil(bad, &cache);
        assert_eq!(output.status.code(), Some(3), "{bad:?}");
    }
    assert!(cache.join("cli-test/runs/run-2").exists());
    let output = distil(&["cache", "rm", "cli-test"], &cache);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!cache.join("cli-test").exists());
    assert!(stdout(&distil(&["cache", "ls"], &cache)).contains("no cached runs"));
}

#[tokio::test]
async fn push_failures_and_usage_errors_have_their_exit_codes() {
    let cache = temp_dir("push");
    let run = cache.join("cli-test/runs/run-1");
    make_distiset(&run).await;
    // Nothing listens on the port of a dropped listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = Command::new(env!("CARGO_BIN_EXE_distil"))
        .args(["push", run.to_str().unwrap(), "me/pushed"])
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("HF_TOKEN", "hf_cliTESTsecret")
        .env("HF_HOME", cache.join("hf"))
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.starts_with("error: ") && message.contains("me/pushed"),
        "{message}"
    );
    assert!(
        !message.contains("hf_cliTESTsecret") && !message.contains(" {"),
        "{message}"
    );

    let output = distil(&["push", run.to_str().unwrap()], &cache);
    assert_eq!(output.status.code(), Some(2));
    let output = distil(&["info"], &cache);
    assert_eq!(output.status.code(), Some(2));
    for command in [
        &["--help"][..],
        &["info", "--help"],
        &["push", "--help"],
        &["cache", "ls", "--help"],
        &["cache", "rm", "--help"],
    ] {
        let output = distil(command, &cache);
        assert_eq!(output.status.code(), Some(0), "{command:?}");
        assert!(stdout(&output).contains("Usage: distil"), "{command:?}");
    }
}

#[path = "../../tests/support/canned_llm.rs"]
mod canned_llm;

/// Runs `distil` off the async runtime, so that the test's LLM server keeps answering.
async fn distil_blocking(args: Vec<String>, cache: PathBuf) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        distil(&args, &cache)
    })
    .await
    .unwrap()
}

fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_runs_a_pipeline_file_against_a_loopback_llm() {
    use distil::llm::OpenAi;
    use distil::steps::KeepColumns;
    use distil::tasks::TextGeneration;

    let server = canned_llm::CannedLlm::start().await;
    let cache = temp_dir("run");
    let prompts: Vec<Prompt> = (0..3)
        .map(|id| Prompt {
            id,
            prompt: format!("prompt number {id}"),
        })
        .collect();
    let pipeline = pipeline! {
        name: "cli-run",
        load = LoadDataFromDicts::<Prompt>::new(prompts),
        answer = TextGeneration::<Prompt>::with_input(OpenAi::new("canned").base_url(&server.v1))
            .template("{{ prompt }} (id {{ id }})"),
        keep = KeepColumns::new(["id", "generation"]),
        load >> answer >> keep,
    };
    let file = cache.join("pipeline.yaml");
    pipeline.save(&file).unwrap();
    let file = file.to_str().unwrap().to_owned();
    let out = cache.join("out");

    let output = distil_blocking(
        args(&[
            "run",
            &file,
            "--param",
            "answer.system_prompt=Be terse",
            "--param",
            "answer.max_new_tokens=64",
            "--output",
            out.to_str().unwrap(),
        ]),
        cache.clone(),
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with("pipeline `cli-run` finished in ")
            && text.contains(": 3 rows (0 failed) in ")
            && text.contains("step `answer`: 3 rows; OpenAI `canned`: 3 requests"),
        "{text}"
    );
    assert_eq!(server.requests(), 3);
    let distiset = Distiset::load_from_disk(&out).unwrap();
    let generations: Vec<Value> = distiset
        .default_config()
        .unwrap()
        .column("generation")
        .cloned()
        .collect();
    assert_eq!(
        generations[0],
        serde_json::json!("canned answers: prompt number 0 (id 0)")
    );
    let recorded = std::fs::read_to_string(out.join("pipeline.yaml")).unwrap();
    assert!(
        recorded.contains(r#""system_prompt": "Be terse""#)
            && recorded.contains(r#""max_new_tokens": 64"#),
        "{recorded}"
    );

    // A dry run: one row through every step; it reads no cache, so its one request is sent.
    let output = distil_blocking(args(&["run", &file, "--dry-run"]), cache.clone()).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("dry run: pipeline `cli-run` finished in ")
            && stdout(&output).contains(": 1 rows (0 failed) in "),
        "{}",
        stdout(&output)
    );
    assert_eq!(server.requests(), 4);

    // Exit codes: a parameter the pipeline cannot take, a malformed --param, a file naming
    // what is not registered, a missing file.
    let output = distil_blocking(
        args(&["run", &file, "--param", "nope.temperature=1"]),
        cache.clone(),
    )
    .await;
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(stderr(&output).contains("`nope`"), "{}", stderr(&output));
    let output = distil_blocking(args(&["run", &file, "--param", "answer=1"]), cache.clone()).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let broken = cache.join("broken.yaml");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("\"KeepColumns\"", "\"KeepColumn\""),
    )
    .unwrap();
    let output = distil_blocking(args(&["run", broken.to_str().unwrap()]), cache.clone()).await;
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("broken.yaml") && message.contains("`pipeline.steps[2].type_name`"),
        "{message}"
    );
    let output = distil_blocking(
        args(&["run", cache.join("missing.yaml").to_str().unwrap()]),
        cache.clone(),
    )
    .await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let output = distil_blocking(args(&["run", "--help"]), cache.clone()).await;
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("--param <STEP.KEY=VALUE>"));
    assert!(
        !cache.join("cli-run").join("runs").exists()
            || std::fs::read_dir(cache.join("cli-run").join("runs"))
                .unwrap()
                .next()
                .is_none(),
        "runs with --output and dry runs leave no run folder in the cache"
    );
}
