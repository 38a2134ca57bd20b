//! The run's log: what `pipeline.log` holds (start and end, per-step row counts, row errors),
//! also sent to `tracing`, and every `tracing` event the run's steps emit (a loader's skipped
//! record, an LLM client's retries): the steps run under [`RunLog::dispatch`], which writes
//! each event into the log and hands it on to the subscriber the program installed, so
//! `RUST_LOG` on stderr and `pipeline.log` show the same events.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};

/// Row errors written one per line; past this only their count per step is kept.
const ROW_ERROR_LINES: usize = 1000;
/// Distinct reasons counted per step; the errors beyond are counted as [`OTHER_REASONS`].
const REASONS_PER_STEP: usize = 10;
/// The reason under which the errors past [`REASONS_PER_STEP`] are counted.
pub(crate) const OTHER_REASONS: &str = "other reasons";
/// Characters of a message that make its reason.
const REASON_CHARS: usize = 120;

#[derive(Default)]
struct State {
    text: String,
    row_errors: BTreeMap<String, u64>,
    /// Per step: each reason (a message's start) and how many rows failed with it.
    reasons: BTreeMap<String, BTreeMap<String, u64>>,
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
        let reasons = state.reasons.entry(step.to_owned()).or_default();
        let mut reason: String = message.chars().take(REASON_CHARS).collect();
        if reason.len() < message.len() {
            reason.push_str("...");
        }
        if !reasons.contains_key(&reason) && reasons.len() >= REASONS_PER_STEP {
            reason = OTHER_REASONS.to_owned();
        }
        *reasons.entry(reason).or_default() += 1;
        if state.lines_of_row_errors < ROW_ERROR_LINES {
            state.lines_of_row_errors += 1;
            drop(state);
            self.append(
                "ERROR",
                &format!("step `{step}` failed on row {row}: {message}"),
            );
        }
    }

    /// Since the run started.
    pub(crate) fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Per step, the reasons rows failed and how many failed with each.
    pub(crate) fn row_error_reasons(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        self.lock().reasons.clone()
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

    /// A dispatcher for the run's tasks: every event they emit at `INFO` or above (and below,
    /// when the program's subscriber takes it) is written into the log, then handed to the
    /// dispatcher current when this is called (the program's, or none). Spans go to that one
    /// alone.
    pub(crate) fn dispatch(&self) -> Dispatch {
        let program = tracing::dispatcher::get_default(Dispatch::clone);
        // Before this dispatcher counts in it: what the program's subscribers want at most.
        let program_level = LevelFilter::current();
        Dispatch::new(LogEvents {
            log: self.clone(),
            program,
            program_level,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves the log usable: it is only text.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The level `pipeline.log` keeps whatever the program logs.
const FILE_LEVEL: LevelFilter = LevelFilter::INFO;

/// What [`RunLog::dispatch`] makes: the program's subscriber, with each event also written to
/// the log.
struct LogEvents {
    log: RunLog,
    program: Dispatch,
    program_level: LevelFilter,
}

impl LogEvents {
    fn for_file(&self, metadata: &Metadata<'_>) -> bool {
        // The log's own lines are in it already.
        metadata.target() != module_path!()
            && (*metadata.level() <= FILE_LEVEL || self.program.enabled(metadata))
    }
}

impl Subscriber for LogEvents {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        let program = self.program.register_callsite(metadata);
        if metadata.is_event() && *metadata.level() <= FILE_LEVEL && !program.is_always() {
            // Asked per event: the file wants it whatever the program's filter says.
            Interest::sometimes()
        } else {
            program
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.program.enabled(metadata) || (metadata.is_event() && self.for_file(metadata))
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.program_level.max(FILE_LEVEL))
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.program.new_span(span)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.program.record(span, values);
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.program.record_follows_from(span, follows);
    }

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        if self.for_file(metadata) {
            let mut line = EventLine::default();
            event.record(&mut line);
            let level = match *metadata.level() {
                tracing::Level::ERROR => "ERROR",
                tracing::Level::WARN => "WARN",
                tracing::Level::INFO => "INFO",
                tracing::Level::DEBUG => "DEBUG",
                tracing::Level::TRACE => "TRACE",
            };
            self.log
                .append(level, &format!("{}: {}", metadata.target(), line.0));
        }
        if self.program.enabled(metadata) {
            self.program.event(event);
        }
    }

    fn enter(&self, span: &Id) {
        self.program.enter(span);
    }

    fn exit(&self, span: &Id) {
        self.program.exit(span);
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.program.clone_span(id)
    }

    fn try_close(&self, id: Id) -> bool {
        self.program.try_close(id)
    }
}

/// An event's message, then its other fields as `name=value`.
#[derive(Default)]
struct EventLine(String);

impl tracing::field::Visit for EventLine {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let fields = std::mem::take(&mut self.0);
            self.0 = format!("{value:?}{fields}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            let fields = std::mem::take(&mut self.0);
            self.0 = format!("{value}{fields}");
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}
