//! An LLM behind the response cache: an answer already received for the same request is
//! returned from the cache instead of being paid for again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{BoxFuture, Generation, GenerationParams, Generations, Llm, LlmError, Prompt, Usage};
use crate::Value;
use crate::cache::ResponseCache;
use crate::cache::signature::Signer;

/// What a cached LLM did in a run.
#[derive(Debug, Default)]
pub(crate) struct CacheCounts {
    /// Answers taken from the cache.
    pub(crate) hits: AtomicU64,
    /// Answers received and stored.
    pub(crate) stored: AtomicU64,
}

/// `inner` behind `cache`. A request's key is the LLM's description (provider, model,
/// endpoint, its own generation parameters; never its key, limits or timeouts), the prompt,
/// the request's parameters, and how many identical requests this run made before it: two
/// rows asking the same thing get two answers, as without the cache, and a rerun gets each
/// of them back.
pub(crate) struct CachedLlm {
    inner: Arc<dyn Llm>,
    cache: ResponseCache,
    /// The LLM's part of every key: the digest of its canonical description, computed once.
    identity: [u8; 32],
    occurrences: Mutex<HashMap<[u8; 32], u32>>,
    counts: Arc<CacheCounts>,
    /// Whether answers are read from the cache (they are always stored).
    read: bool,
}

impl CachedLlm {
    pub(crate) fn new(
        inner: Arc<dyn Llm>,
        cache: ResponseCache,
        read: bool,
        counts: Arc<CacheCounts>,
    ) -> Self {
        let mut signer = Signer::new("distil-llm-v1");
        signer.value("llm", &inner.describe());
        CachedLlm {
            identity: signer.finish().0,
            inner,
            cache,
            occurrences: Mutex::default(),
            counts,
            read,
        }
    }

    fn key(&self, prompt: &Prompt, params: &GenerationParams) -> [u8; 32] {
        // The prompt and parameters as serde writes them, their fields in a fixed order: the
        // same request always gives the same bytes, without a canonical form to build.
        let mut signer = Signer::new("distil-llm-request-v2");
        signer
            .bytes("llm", &self.identity)
            .bytes("prompt", &prompt.to_json())
            .bytes("params", &serde_json::to_vec(params).unwrap_or_default());
        let request = signer.finish().0;
        let occurrence = {
            let mut seen = self.occurrences.lock().unwrap_or_else(|p| p.into_inner());
            let count = seen.entry(request).or_default();
            *count += 1;
            *count - 1
        };
        let mut signer = Signer::new("distil-llm-answer-v1");
        signer
            .bytes("request", &request)
            .bytes("occurrence", &occurrence.to_le_bytes());
        signer.finish().0
    }
}

fn encode(generations: &Generations) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Stored<'a> {
        choices: &'a [Generation],
        input_tokens: Option<u64>,
        output_tokens: Option<u64>,
    }
    serde_json::to_vec(&Stored {
        choices: &generations.choices,
        input_tokens: generations.input_tokens,
        output_tokens: generations.output_tokens,
    })
    .expect("generations are JSON")
}

fn decode(bytes: &[u8]) -> Option<Generations> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let choices: Vec<Generation> = serde_json::from_value(value.get("choices")?.clone()).ok()?;
    Some(Generations {
        choices,
        input_tokens: value.get("input_tokens").and_then(Value::as_u64),
        output_tokens: value.get("output_tokens").and_then(Value::as_u64),
    })
}

impl Llm for CachedLlm {
    fn model_name(&self) -> &str {
        self.inner.model_name()
    }

    fn provider(&self) -> &str {
        self.inner.provider()
    }

    fn generate<'a>(
        &'a self,
        prompt: &'a Prompt,
        params: &'a GenerationParams,
    ) -> BoxFuture<'a, Result<Generations, LlmError>> {
        Box::pin(async move {
            let key = self.key(prompt, params);
            if self.read
                && let Some(generations) = self.cache.get(&key).as_deref().and_then(decode)
            {
                self.counts.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(generations);
            }
            let generations = self.inner.generate(prompt, params).await?;
            if self.cache.put(key, encode(&generations)).await {
                self.counts.stored.fetch_add(1, Ordering::Relaxed);
            }
            Ok(generations)
        })
    }

    fn max_concurrency(&self) -> usize {
        self.inner.max_concurrency()
    }

    fn current_limit(&self) -> Option<usize> {
        self.inner.current_limit()
    }

    fn in_flight(&self) -> Option<usize> {
        self.inner.in_flight()
    }

    fn supports_n(&self) -> bool {
        self.inner.supports_n()
    }

    fn params(&self) -> GenerationParams {
        self.inner.params()
    }

    fn check(&self) -> Result<(), LlmError> {
        self.inner.check()
    }

    fn usage(&self) -> Usage {
        Usage {
            cached: self.counts.hits.load(Ordering::Relaxed),
            ..self.inner.usage()
        }
    }

    fn describe(&self) -> Value {
        self.inner.describe()
    }

    fn chat_template(&self) -> Option<&super::ChatTemplate> {
        self.inner.chat_template()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::ChatMessage;

    /// Keys stay those of caches written before: the same bytes as the prompt's value.
    #[test]
    fn the_prompt_is_keyed_by_the_json_of_its_value() {
        for prompt in [
            Prompt::Text("raw \"text\"\n".into()),
            Prompt::Chat(vec![
                ChatMessage::system("be brief"),
                ChatMessage::user("héllo"),
            ]),
        ] {
            assert_eq!(
                prompt.to_json(),
                serde_json::to_vec(&prompt.to_value()).unwrap()
            );
        }
    }

    #[test]
    fn stored_answers_read_back() {
        let generations = Generations {
            choices: vec![Generation::text("an answer")],
            input_tokens: Some(3),
            output_tokens: None,
        };
        let back = decode(&encode(&generations)).unwrap();
        assert_eq!(back.choices.len(), 1);
        assert_eq!(back.choices[0].text.as_deref(), Some("an answer"));
        assert_eq!((back.input_tokens, back.output_tokens), (Some(3), None));
    }
}
