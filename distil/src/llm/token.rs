//! Access tokens that expire: a client with a [`TokenSource`] asks it for a token before each
//! request instead of sending a fixed key, and once more, for a fresh one, when the server
//! answers 401.

use crate::Secret;
use crate::llm::LlmError;
use crate::step::BoxFuture;

/// Where a client's bearer tokens come from when they expire (an OAuth token endpoint):
/// [`ServiceAccount`](crate::llm::ServiceAccount) for Vertex AI, or your own. Give it to a
/// client with [`Client::token_source`](crate::llm::Client::token_source).
pub trait TokenSource: Send + Sync + 'static {
    /// A token valid for the next request. `refused`: the token the server just refused
    /// (401): give another one than it (unless another request got a fresh one meanwhile, it
    /// is the cached one that went bad). A fatal error stops the run; another fails the row.
    fn token<'a>(&'a self, refused: Option<&'a Secret>) -> BoxFuture<'a, Result<Secret, LlmError>>;

    /// Checked before any row of a run: a key file that cannot be read fails here.
    fn check(&self) -> Result<(), LlmError> {
        Ok(())
    }

    /// Where the tokens come from, for messages (never a secret).
    fn describe(&self) -> String;
}
