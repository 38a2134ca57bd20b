//! Step signatures: sha256 over what decides a step's output, so a cached batch is reused only
//! for the same computation.
//!
//! A step's signature covers its type, name and kind, its columns, mappings and runtime
//! parameters, what it [describes](crate::Step::describe) of itself (an LLM task: provider,
//! model, endpoint, generation parameters), the [identity of its data](crate::Step::fingerprint)
//! (a loader's rows, files or Hub revision), and its parents' signatures, in order. Left out:
//! secrets (by exact field name) and pure performance knobs (batch sizes, concurrency, rate
//! limits, timeouts), which change how fast a step runs, never what it computes. A step's
//! signature changes with any of its ancestors', never with its descendants'.

use sha2::{Digest, Sha256};

use crate::Value;

/// Entries that only change how fast a step runs.
const PERFORMANCE_KNOBS: &[&str] = &[
    "batch_size",
    "input_batch_size",
    "max_concurrency",
    "adaptive_concurrency",
    "timeout_secs",
    "connect_timeout_secs",
    "idle_timeout_secs",
    "requests_per_minute",
    "tokens_per_minute",
    "max_retries",
    "retries",
];

/// A step's signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Signature(pub(crate) [u8; 32]);

impl Signature {
    /// The signature in hex.
    pub(crate) fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature({})", &self.hex()[..16])
    }
}

/// Builds a signature from labelled parts (the labels keep two parts from running into each
/// other).
pub(crate) struct Signer(Sha256);

impl Signer {
    pub(crate) fn new(domain: &str) -> Self {
        let mut signer = Signer(Sha256::new());
        signer.bytes("domain", domain.as_bytes());
        signer
    }

    pub(crate) fn bytes(&mut self, label: &str, bytes: &[u8]) -> &mut Self {
        self.0.update((label.len() as u64).to_le_bytes());
        self.0.update(label.as_bytes());
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    /// A JSON value in canonical form: keys sorted, secrets and performance knobs left out.
    pub(crate) fn value(&mut self, label: &str, value: &Value) -> &mut Self {
        let canonical = canonical(value);
        self.bytes(label, canonical.to_string().as_bytes())
    }

    pub(crate) fn signature(&mut self, label: &str, signature: &Signature) -> &mut Self {
        self.bytes(label, &signature.0)
    }

    pub(crate) fn finish(self) -> Signature {
        Signature(self.0.finalize().into())
    }
}

/// `value` with object keys sorted, and secret and performance entries left out at any depth.
pub(crate) fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> =
                map.iter().filter(|(k, _)| !is_left_out(k)).collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Whether an entry stays out of signatures: a secret, or a performance knob.
pub(crate) fn is_left_out(name: &str) -> bool {
    crate::secret::is_secret_field(name) || PERFORMANCE_KNOBS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sign(value: Value) -> Signature {
        let mut signer = Signer::new("test");
        signer.value("v", &value);
        signer.finish()
    }

    #[test]
    fn key_order_secrets_and_knobs_do_not_count() {
        let a = sign(
            json!({"model": "m", "temperature": 0.5, "api_key": "sk-1", "max_concurrency": 8}),
        );
        let b = sign(
            json!({"max_concurrency": 64, "temperature": 0.5, "model": "m", "api_key": "sk-2"}),
        );
        assert_eq!(a, b);
        assert_ne!(a, sign(json!({"model": "m", "temperature": 0.7})));
        // A parameter whose name merely contains a secret's word is a real parameter.
        assert_ne!(
            sign(json!({"max_new_tokens": 512})),
            sign(json!({"max_new_tokens": 64}))
        );
    }

    #[test]
    fn labels_separate_parts() {
        let mut one = Signer::new("t");
        one.bytes("a", b"bc");
        let mut two = Signer::new("t");
        two.bytes("ab", b"c");
        assert_ne!(one.finish(), two.finish());
    }
}
