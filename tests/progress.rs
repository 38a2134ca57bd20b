//! The progress display: forced on, a run draws it (to stderr, or to an injected writer) and
//! its output is the same as without it; forced off, nothing is drawn; a failing run clears it.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use distil::llm::{Generation, GenerationParams, Generations, Llm, LlmError, Prompt};
use distil::prelude::*;
use distil::step::BoxFuture;
use distil::steps::LoadDataFromDicts;
use distil::tasks::TextGeneration;
use serde_json::Value;

/// Answers every prompt with its last user message shouted, after 40 ms, two at a time, so a
/// run lasts long enough for the display to be drawn. `boom` fails its row; `fatal` stops the
/// run.
struct Slow(tokio::sync::Semaphore);

impl Slow {
    fn new() -> Self {
        Slow(tokio::sync::Semaphore::new(2))
    }
}

impl Llm for Slow {
    fn model_name(&self) -> &str {
        "slow-echo"
    }

    fn generate<'a>(
        &'a self,
        prompt: &'a Prompt,
        _: &'a GenerationParams,
    ) -> BoxFuture<'a, Result<Generations, LlmError>> {
        let text = prompt.last_user_text().to_owned();
        Box::pin(async move {
            let _permit = self.0.acquire().await.expect("never closed");
            tokio::time::sleep(Duration::from_millis(40)).await;
            match text.as_str() {
                "boom" => Err(LlmError::row("boom")),
                "fatal" => Err(LlmError::fatal("the key was rejected")),
                _ => Ok(Generations::one(Generation::text(text.to_uppercase()))),
            }
        })
    }

    fn max_concurrency(&self) -> usize {
        2
    }
}

#[derive(Row)]
struct Prompted {
    instruction: String,
}

/// A writer the test keeps a handle on.
#[derive(Clone, Default)]
struct Screen(Arc<Mutex<Vec<u8>>>);

impl Write for Screen {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Screen {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// 24 rows (one fails), 40 ms each, two at a time: half a second at least.
fn instructions() -> Vec<Prompted> {
    (0..24)
        .map(|i| Prompted {
            instruction: if i == 5 {
                "boom".to_owned()
            } else {
                format!("say {i}")
            },
        })
        .collect()
}

async fn run(rows: Vec<Prompted>, options: RunOptions) -> distil::Result<Vec<Value>> {
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = pipeline! {
        name: "progress",
        load = LoadDataFromDicts::<Prompted>::new(rows), batch_size: 4,
        generate = TextGeneration::new(Slow::new()), input_batch_size: 4,
        load >> generate,
    };
    let distiset = pipeline
        // Every run does the slow work: with the caches, the later ones would be instant.
        .run_with(options.output_dir(dir.path().join("run")).use_cache(false))
        .await?;
    let rows = distiset.default_config().expect("one leaf");
    Ok(rows
        .rows()
        .map(|mut row| {
            // The metadata holds timings and such; the columns are what must not change.
            row.remove(distil::METADATA_COLUMN);
            Value::Object(row)
        })
        .collect())
}

#[tokio::test]
async fn a_forced_display_is_drawn_and_leaves_the_output_unchanged() {
    let plain = run(instructions(), RunOptions::new().progress(false))
        .await
        .unwrap();
    assert_eq!(plain.len(), 24);
    assert_eq!(plain[0]["generation"], "SAY 0");
    assert_eq!(plain[5]["generation"], Value::Null);

    // To stderr (not a terminal under the test harness): drawn all the same.
    let on_stderr = run(instructions(), RunOptions::new().progress(true))
        .await
        .unwrap();
    assert_eq!(on_stderr, plain);

    let screen = Screen::default();
    let drawn = run(
        instructions(),
        RunOptions::new().progress(true).progress_to(screen.clone()),
    )
    .await
    .unwrap();
    assert_eq!(drawn, plain);
    let text = screen.text();
    assert!(text.contains("generate  "), "{text:?}");
    assert!(text.contains("/24 rows"), "{text:?}");
    assert!(text.contains(" error"), "{text:?}");
    // The LLM task's own status follows its rows.
    assert!(text.contains("0 tokens in, 0 out"), "{text:?}");
    // Cleared when the run ends: the last thing drawn erases the line.
    assert!(text.ends_with("\r\x1b[2K"), "{text:?}");
}

#[tokio::test]
async fn a_display_forced_off_draws_nothing() {
    let screen = Screen::default();
    let rows = run(
        instructions(),
        RunOptions::new()
            .progress_to(screen.clone())
            .progress(false),
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 24);
    assert_eq!(screen.text(), "");
}

#[tokio::test]
async fn a_failing_run_clears_the_display() {
    let mut rows = instructions();
    rows[20].instruction = "fatal".to_owned();
    let screen = Screen::default();
    let error = run(rows, RunOptions::new().progress_to(screen.clone()))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("the key was rejected"),
        "{error}"
    );
    let text = screen.text();
    assert!(text.contains("generate  "), "{text:?}");
    assert!(text.ends_with("\r\x1b[2K"), "{text:?}");
}
