//! The run's log: what `pipeline.log` holds (start and end, per-step row counts, row errors),
//! also sent to `tracing`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Row errors written one per line; past this only their count per step is kept.
const ROW_ERROR_LINES: usize = 1000;

#[derive(Default)]
struct State {
    text: String,
    row_errors: BTreeMap<String, u64>,
    lines_of_row_errors: usize,
}

/// A shared, append-only log of one run.
#[derive(Clone)]
pub(crate) struct RunLog {
    started: Instant,
    state: Arc<Mutex<State>>,
}

impl RunLog {
    pub(crate) fn new() -> Self {
        RunLog {
            started: Instant::now(),
            state: Arc::default(),
        }
    }

    /// Appends a line (prefixed with the seconds since the run started).
    pub(crate) fn info(&self, message: impl std::fmt::Display) {
        tracing::info!("{message}");
        self.append("INFO", &message.to_string());
    }

    /// Appends a warning.
    pub(crate) fn warn(&self, message: impl std::fmt::Display) {
        tracing::warn!("{message}");
        self.append("WARN", &message.to_string());
    }

    /// Records a row error of `step`.
    pub(crate) fn row_error(&self, step: &str, row: impl std::fmt::Display, message: &str) {
        tracing::warn!("step `{step}` failed on row {row}: {message}");
        let mut state = self.lock();
        *state.row_errors.entry(step.to_owned()).or_default() += 1;
        if state.lines_of_row_errors < ROW_ERROR_LINES {
            state.lines_of_row_errors += 1;
            drop(state);
            self.append(
                "ERROR",
                &format!("step `{step}` failed on row {row}: {message}"),
            );
        }
    }

    /// Row errors per step so far.
    pub(crate) fn row_errors(&self) -> BTreeMap<String, u64> {
        self.lock().row_errors.clone()
    }

    /// The log's text.
    pub(crate) fn text(&self) -> String {
        self.lock().text.clone()
    }

    fn append(&self, level: &str, message: &str) {
        let seconds = self.started.elapsed().as_secs_f64();
        let mut state = self.lock();
        let _ = writeln!(state.text, "[{seconds:10.3}s] {level:5} {message}");
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves the log usable: it is only text.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
