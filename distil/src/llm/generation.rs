//! What an LLM answers, and what it cost.

use serde::{Deserialize, Serialize};

/// One generated text (a choice).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// The text; `None` when the server returned no content.
    pub text: Option<String>,
    /// Why generation stopped (`stop`, `length`, ...), as the server said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Token log-probabilities, as the server sent them, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<crate::Value>,
}

impl Generation {
    /// A generation of `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Generation {
            text: Some(text.into()),
            ..Generation::default()
        }
    }
}

/// The answer to one request: one or more choices, and the tokens it used.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Generations {
    /// The choices (one unless the `n` parameter asked for more).
    pub choices: Vec<Generation>,
    /// Prompt tokens, as the server counted them.
    pub input_tokens: Option<u64>,
    /// Generated tokens, as the server counted them.
    pub output_tokens: Option<u64>,
}

impl Generations {
    /// One choice, with no token counts.
    pub fn one(generation: Generation) -> Self {
        Generations {
            choices: vec![generation],
            ..Generations::default()
        }
    }
}

/// Totals of an LLM's requests so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Requests answered with a success.
    pub requests: u64,
    /// Requests that failed for good (after their retries).
    pub failed: u64,
    /// Attempts repeated after a transient failure.
    pub retries: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Requests answered from the response cache instead of being sent (their tokens are not
    /// counted above: nothing was paid for them).
    pub cached: u64,
}

impl std::ops::Add for Usage {
    type Output = Usage;

    fn add(self, other: Usage) -> Usage {
        Usage {
            requests: self.requests + other.requests,
            failed: self.failed + other.failed,
            retries: self.retries + other.retries,
            input_tokens: self.input_tokens + other.input_tokens,
            output_tokens: self.output_tokens + other.output_tokens,
            cached: self.cached + other.cached,
        }
    }
}
