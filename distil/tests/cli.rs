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
