//! A run's `tracing` events: the program's subscriber sees what the steps emit, and
//! `pipeline.log` holds the same events (at `INFO` and above, and below when the program's
//! subscriber takes them).

use std::sync::{Arc, Mutex};

use distil::prelude::*;
use distil::steps::LoadDataFromDicts;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

#[derive(Row, Clone)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Length {
    length: u64,
}

#[step]
fn noisy(instruction: &str) -> Length {
    tracing::info!(row = instruction, "noisy saw a row");
    tracing::debug!("noisy debug detail");
    tracing::trace!("noisy trace detail");
    Length {
        length: instruction.len() as u64,
    }
}

/// Keeps the message of every event up to DEBUG.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::DEBUG
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.lock().unwrap().push(message.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn pipeline() -> Pipeline {
    pipeline! {
        name: "logs",
        load = LoadDataFromDicts::<Prompt>::new(vec![
            Prompt { instruction: "one".into() },
            Prompt { instruction: "two".into() },
        ]),
        noisy = Noisy::new(),
        load >> noisy,
    }
}

fn run_into(dir: &std::path::Path) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(pipeline().run_with(RunOptions::new().output_dir(dir).progress(false)))
        .unwrap();
    std::fs::read_to_string(dir.join("pipeline.log")).unwrap()
}

#[test]
fn the_programs_subscriber_and_pipeline_log_see_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    let capture = Capture::default();
    let log = tracing::subscriber::with_default(capture.clone(), || run_into(dir.path()));
    let seen = capture.0.lock().unwrap().clone();
    let count = |text: &str| seen.iter().filter(|m| m.contains(text)).count();
    assert_eq!(count("noisy saw a row"), 2, "{seen:?}");
    assert_eq!(count("noisy debug detail"), 2, "{seen:?}");
    assert_eq!(count("noisy trace detail"), 0, "{seen:?}");

    assert!(log.contains("INFO  logs: noisy saw a row row=one"), "{log}");
    assert!(log.contains("noisy saw a row row=two"), "{log}");
    // The program asked for DEBUG: the file has it too; TRACE neither.
    assert_eq!(
        log.matches("DEBUG logs: noisy debug detail").count(),
        2,
        "{log}"
    );
    assert!(!log.contains("noisy trace detail"), "{log}");
    // The run's own lines are there once each.
    assert_eq!(log.matches("run finished").count(), 1, "{log}");
}

#[test]
fn without_a_subscriber_pipeline_log_keeps_info_and_above() {
    let dir = tempfile::tempdir().unwrap();
    let log = run_into(dir.path());
    assert!(log.contains("noisy saw a row row=one"), "{log}");
    assert!(!log.contains("noisy debug detail"), "{log}");
    assert!(log.contains("step `noisy` emitted 2 rows"), "{log}");
}

#[path = "support/canned_llm.rs"]
mod canned_llm;

#[tokio::test]
async fn a_run_ends_with_a_summary_of_rows_requests_tokens_and_cache_hits() {
    use distil::llm::OpenAi;
    use distil::tasks::TextGeneration;

    let server = canned_llm::CannedLlm::start().await;
    let cache = tempfile::tempdir().unwrap();
    // SAFETY: the only test of this binary that reads the cache folder.
    unsafe { std::env::set_var("DISTIL_CACHE_DIR", cache.path()) };
    let prompts: Vec<Prompt> = (0..3)
        .map(|i| Prompt {
            instruction: format!("question {i}"),
        })
        .collect();
    let mut pipeline = pipeline! {
        name: "summed-up",
        load = LoadDataFromDicts::<Prompt>::new(prompts),
        answer = TextGeneration::new(OpenAi::new("canned").base_url(&server.v1)),
        load >> answer,
    };
    let out = tempfile::tempdir().unwrap();
    let options = || {
        RunOptions::new()
            .output_dir(out.path())
            .progress(false)
            .use_cache(true)
    };
    pipeline.run_with(options()).await.unwrap();
    let summary = pipeline.summary().unwrap().clone();
    assert!(summary.finished);
    assert_eq!(summary.rows(), 3);
    assert_eq!(summary.failed_rows(), 0);
    assert_eq!(summary.dir, out.path());
    let answer = &summary.steps[1];
    assert_eq!((answer.name.as_str(), answer.rows), ("answer", 3));
    let llm = answer.llm.as_ref().unwrap();
    assert_eq!(
        (llm.provider.as_str(), llm.model.as_str()),
        ("OpenAI", "canned")
    );
    assert_eq!(llm.usage.requests, 3);
    assert_eq!(llm.usage.output_tokens, 3 * 8);
    let text = summary.to_string();
    assert!(
        text.starts_with("pipeline `summed-up` finished in ")
            && text.contains(": 3 rows (0 failed) in ")
            && text.contains(
                "step `answer`: 3 rows; OpenAI `canned`: 3 requests (0 failed, 0 retries), "
            )
            && text.contains("24 out, 0 answers from the response cache"),
        "{text}"
    );

    // Again, the same steps: the LLM task's batches are replayed from the cache.
    let mut again = pipeline! {
        name: "summed-up",
        load = LoadDataFromDicts::<Prompt>::new((0..3).map(|i| Prompt {
            instruction: format!("question {i}"),
        })),
        answer = TextGeneration::new(OpenAi::new("canned").base_url(&server.v1)),
        load >> answer,
    };
    let other = tempfile::tempdir().unwrap();
    again
        .run_with(
            RunOptions::new()
                .output_dir(other.path())
                .progress(false)
                .use_cache(true),
        )
        .await
        .unwrap();
    let summary = again.summary().unwrap();
    assert_eq!(summary.rows(), 3);
    let answer = &summary.steps[1];
    assert_eq!(server.requests(), 3, "nothing is sent again");
    assert_eq!(answer.replayed_rows, 3, "{summary}");
    assert_eq!(answer.llm.as_ref().unwrap().usage.requests, 0, "{summary}");
    assert!(
        summary
            .to_string()
            .contains("step `answer`: 3 rows, 3 replayed from the cache; "),
        "{summary}"
    );

    // Other batches (another input batch size): computed again, the answers come from the
    // response cache.
    let third = tempfile::tempdir().unwrap();
    again
        .run_with(
            RunOptions::new()
                .output_dir(third.path())
                .progress(false)
                .param("answer", "input_batch_size", 2),
        )
        .await
        .unwrap();
    let summary = again.summary().unwrap();
    let answer = &summary.steps[1];
    assert_eq!(server.requests(), 3, "nothing is sent again");
    assert_eq!(answer.replayed_rows, 0, "{summary}");
    assert_eq!(answer.llm.as_ref().unwrap().usage.cached, 3, "{summary}");
}

#[step]
fn picky(instruction: &str) -> Result<Length, String> {
    match instruction.len() {
        0 => Err("the instruction is empty".to_owned()),
        1..=5 => Ok(Length {
            length: instruction.len() as u64,
        }),
        _ => Err("the instruction is too long".to_owned()),
    }
}

#[tokio::test]
async fn the_summary_counts_failed_rows_by_step_and_reason() {
    let rows = ["", "ok", "far too long", "also too long", "fine"]
        .into_iter()
        .map(|text| Prompt {
            instruction: text.into(),
        });
    let mut pipeline = pipeline! {
        name: "picky",
        load = LoadDataFromDicts::<Prompt>::new(rows),
        picky = Picky::new(),
        load >> picky,
    };
    let dir = tempfile::tempdir().unwrap();
    pipeline
        .run_with(RunOptions::new().output_dir(dir.path()).progress(false))
        .await
        .unwrap();
    let summary = pipeline.summary().unwrap();
    assert_eq!(summary.failed_rows(), 3);
    let picky = &summary.steps[1];
    assert_eq!(picky.failed_rows, 3);
    assert_eq!(
        picky.failures,
        [
            ("the instruction is too long".to_owned(), 2),
            ("the instruction is empty".to_owned(), 1),
        ]
    );
    let text = summary.to_string();
    assert!(
        text.contains("step `picky`: 5 rows, 3 failed\n    2 failed: the instruction is too long\n    1 failed: the instruction is empty\n"),
        "{text}"
    );
}

#[tokio::test]
async fn a_run_that_returns_a_finished_runs_distiset_summarizes_that_run() {
    use distil::llm::OpenAi;
    use distil::tasks::TextGeneration;

    let server = canned_llm::CannedLlm::start().await;
    let build = || {
        let rows = ["", "ok", "far too long", "also too long", "fine"]
            .into_iter()
            .map(|text| Prompt {
                instruction: text.into(),
            });
        pipeline! {
            name: "finished-before",
            load = LoadDataFromDicts::<Prompt>::new(rows),
            answer = TextGeneration::new(OpenAi::new("canned").base_url(&server.v1)),
            picky = Picky::new(),
            load >> answer >> picky,
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let options = || RunOptions::new().output_dir(dir.path()).progress(false);
    let mut first = build();
    first.run_with(options()).await.unwrap();
    let ran = first.summary().unwrap().clone();
    assert!(!ran.reused);
    assert_eq!(server.requests(), 5);

    // The same steps on the same data into the same folder: nothing runs, and the summary
    // says what the finished run did.
    let mut again = build();
    let distiset = again.run_with(options()).await.unwrap();
    assert_eq!(server.requests(), 5, "nothing is sent again");
    let summary = again.summary().unwrap();
    assert!(summary.reused && summary.finished, "{summary}");
    assert_eq!(summary.dir, dir.path());
    assert_eq!(summary.configs, [("default".to_owned(), 5)]);
    assert_eq!(summary.rows(), distiset.total_rows() as u64);
    assert_eq!(summary.failed_rows(), 3);
    for (reused, earlier) in summary.steps.iter().zip(&ran.steps) {
        assert_eq!(reused.name, earlier.name);
        assert_eq!(reused.rows, earlier.rows, "{summary}");
        assert_eq!(reused.replayed_rows, earlier.rows, "{summary}");
        assert_eq!(reused.failed_rows, earlier.failed_rows, "{summary}");
        assert_eq!(reused.failures, earlier.failures, "{summary}");
    }
    assert_eq!(summary.steps[2].failed_rows, 3);
    let llm = summary.steps[1].llm.as_ref().unwrap();
    assert_eq!((llm.model.as_str(), llm.usage.requests), ("canned", 0));
    let text = summary.to_string();
    assert!(
        text.starts_with(&format!(
            "pipeline `finished-before` had finished before with the same steps and data: 5 rows (3 failed) in {}, returned as they are\n",
            dir.path().display()
        )) && text.contains("step `answer`: 5 rows, 5 replayed from the cache; OpenAI `canned`: 0 requests")
            && text.contains("step `picky`: 5 rows, 3 failed, 5 replayed from the cache\n    2 failed: the instruction is too long\n    1 failed: the instruction is empty\n"),
        "{text}"
    );
}
