//! How an LLM request fails.

use std::fmt;

/// A failed generation. Most failures belong to one row (an over-long prompt, an answer that
/// does not parse, a server that kept failing): the task records them on the row and the run
/// goes on. A [fatal](LlmError::fatal) one (a rejected API key, a missing model) would fail every
/// row the same way, so it stops the run at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LlmError {
    message: String,
    fatal: bool,
}

impl LlmError {
    /// An error of this row only.
    pub fn row(message: impl Into<String>) -> Self {
        LlmError {
            message: message.into(),
            fatal: false,
        }
    }

    /// An error that stops the run.
    pub fn fatal(message: impl Into<String>) -> Self {
        LlmError {
            message: message.into(),
            fatal: true,
        }
    }

    /// Whether the run must stop.
    pub fn is_fatal(&self) -> bool {
        self.fatal
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LlmError {}

/// A fatal LLM error stops the run (the runtime names the step); any other becomes the batch's
/// error, recorded on its rows.
impl From<LlmError> for crate::Error {
    fn from(e: LlmError) -> Self {
        if e.is_fatal() {
            crate::Error::fatal("", e)
        } else {
            crate::Error::msg(e)
        }
    }
}
