//! Generation parameters: settable on an LLM, on a task, and per run.

use serde::{Deserialize, Serialize};

use crate::Value;

/// Sampling and output parameters. Every field is optional: an unset one is not sent, so the
/// server's default holds. A task's parameters override its LLM's key by key
/// ([`merged_over`](GenerationParams::merged_over)), and a run's override both the same way.
///
/// ```
/// use distil::llm::GenerationParams;
///
/// let llm = GenerationParams { temperature: Some(0.7), max_new_tokens: Some(256), ..Default::default() };
/// let task = GenerationParams { temperature: Some(0.2), ..Default::default() };
/// let used = task.merged_over(&llm);
/// assert_eq!((used.temperature, used.max_new_tokens), (Some(0.2), Some(256)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationParams {
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Tokens to generate at most (`max_tokens` on the wire).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_new_tokens: Option<u64>,
    /// Stop sequences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// Sampling seed, where the server supports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Choices per request (OpenAI-compatible servers); each becomes a generation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Return token log-probabilities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    /// Alternatives per token with their log-probabilities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    /// Frequency penalty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Presence penalty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    /// A JSON schema the answer must follow (structured output), as
    /// `{"name": .., "schema": {..}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    /// Further body fields sent as they are (provider-specific options).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<serde_json::Map<String, Value>>,
}

/// The parameter names, for messages and for the runtime parameters of tasks.
pub(crate) const NAMES: [&str; 12] = [
    "temperature",
    "top_p",
    "max_new_tokens",
    "stop",
    "seed",
    "n",
    "logprobs",
    "top_logprobs",
    "frequency_penalty",
    "presence_penalty",
    "response_format",
    "extra",
];

impl GenerationParams {
    /// These parameters, with the unset ones taken from `base`.
    pub fn merged_over(&self, base: &GenerationParams) -> GenerationParams {
        let mut merged = self.to_map();
        for (key, value) in base.to_map() {
            merged.entry(key).or_insert(value);
        }
        serde_json::from_value(Value::Object(merged)).unwrap_or_else(|_| self.clone())
    }

    /// Every parameter and its value (`null` when unset), in a fixed order.
    pub fn entries(&self) -> Vec<(String, Value)> {
        let map = self.to_map();
        NAMES
            .iter()
            .map(|name| {
                (
                    (*name).to_owned(),
                    map.get(*name).cloned().unwrap_or(Value::Null),
                )
            })
            .collect()
    }

    /// Sets one parameter by name; `null` unsets it. The message names the parameter and what
    /// it takes.
    pub fn set(&mut self, name: &str, value: Value) -> Result<(), String> {
        if !NAMES.contains(&name) {
            return Err(format!("unknown generation parameter `{name}`"));
        }
        let mut map = self.to_map();
        if value.is_null() {
            map.remove(name);
        } else {
            map.insert(name.to_owned(), value.clone());
        }
        *self = serde_json::from_value(Value::Object(map))
            .map_err(|e| format!("parameter `{name}` cannot be {value}: {e}"))?;
        Ok(())
    }

    fn to_map(&self) -> serde_json::Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_rejects_by_name() {
        let mut p = GenerationParams::default();
        p.set("temperature", 0.5.into()).unwrap();
        p.set("stop", serde_json::json!(["\n"])).unwrap();
        assert_eq!(p.temperature, Some(0.5));
        assert_eq!(p.stop.as_deref(), Some(&["\n".to_owned()][..]));
        let e = p.set("max_new_tokens", "many".into()).unwrap_err();
        assert!(e.contains("max_new_tokens"), "{e}");
        assert!(p.set("temprature", 1.into()).is_err());
        p.set("temperature", Value::Null).unwrap();
        assert_eq!(p.temperature, None);
        assert_eq!(p.entries().len(), NAMES.len());
    }
}
