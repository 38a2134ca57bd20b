//! The client core as an embedding model, for providers whose wire has an embeddings endpoint.

use super::Client;
use crate::llm::embeddings::{Embedded, Embeddings};
use crate::llm::providers::EmbeddingsWire;
use crate::llm::{Llm, LlmError, Usage};
use crate::step::BoxFuture;

impl<W: EmbeddingsWire> Client<W> {
    async fn embed_texts(&self, texts: &[String]) -> Result<Embedded, LlmError> {
        if texts.is_empty() {
            return Ok(Embedded::default());
        }
        let core = self.core();
        let http = core.http.as_ref().map_err(|e| LlmError::fatal(e.clone()))?;
        let provider = self.wire.provider();
        let url = self.wire.embeddings_url(&self.base_url, &self.model);
        let url = reqwest::Url::parse(&url).map_err(|e| {
            LlmError::fatal(format!(
                "{provider}: the embeddings URL `{}` is not a URL: {e}",
                crate::http::redact_url(&url)
            ))
        })?;
        let body = bytes::Bytes::from(self.wire.embeddings_body(&self.model, texts)?);
        let estimate = texts.iter().map(|t| t.len() as u64 / 4 + 1).sum();
        let embedded = self
            .exchange(core, http, &url, body, estimate, |body| {
                let embedded = self.wire.parse_embeddings(body)?;
                // A short list would pair vectors with the wrong texts: the answer is broken.
                if embedded.vectors.len() != texts.len() {
                    return Err(format!(
                        "{} vectors for {} texts",
                        embedded.vectors.len(),
                        texts.len()
                    ));
                }
                Ok(embedded)
            })
            .await?;
        self.count(core, embedded.input_tokens.unwrap_or(0), 0);
        Ok(embedded)
    }
}

impl<W: EmbeddingsWire> Embeddings for Client<W> {
    fn model_name(&self) -> &str {
        &self.model
    }

    fn provider(&self) -> &str {
        self.wire.provider()
    }

    fn embed<'a>(&'a self, texts: &'a [String]) -> BoxFuture<'a, Result<Embedded, LlmError>> {
        Box::pin(self.embed_texts(texts))
    }

    fn max_concurrency(&self) -> usize {
        self.max_concurrency
    }

    fn check(&self) -> Result<(), LlmError> {
        Llm::check(self)
    }

    fn usage(&self) -> Usage {
        Llm::usage(self)
    }

    fn describe(&self) -> crate::Value {
        Llm::describe(self)
    }
}
