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
