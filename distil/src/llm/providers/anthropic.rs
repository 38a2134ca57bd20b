//! Anthropic's Messages API.

use serde::Deserialize;
use serde_json::json;

use super::Wire;
use crate::Secret;
use crate::llm::{Client, Generation, GenerationParams, Generations, LlmError, Prompt};

/// Anthropic's Messages wire format.
#[derive(Clone, Debug)]
pub struct AnthropicWire;

/// Claude models through Anthropic's Messages API (`ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`).
/// System messages become the `system` field; `max_new_tokens` defaults to 1024 because the API
/// requires it.
///
/// Structured output (a `response_format` `{"name": .., "schema": ..}`, as
/// [`StructuredGeneration`](crate::tasks::StructuredGeneration) sets) goes through a forced
/// tool: the request offers one tool, named after the format, whose `input_schema` is the
/// schema, and `tool_choice` makes the model call it; the tool call's input is the generation
/// (a JSON text).
///
/// ```no_run
/// let claude = distil::llm::Anthropic::new("claude-sonnet-4-5").max_new_tokens(2048);
/// ```
pub type Anthropic = Client<AnthropicWire>;

/// `max_tokens` when none is set: the API requires one.
const DEFAULT_MAX_TOKENS: u64 = 1024;

impl Client<AnthropicWire> {
    /// Anthropic's `model`, the key from `ANTHROPIC_API_KEY`, the URL from
    /// `ANTHROPIC_BASE_URL` when set.
    pub fn new(model: impl Into<String>) -> Self {
        let url = std::env::var("ANTHROPIC_BASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "https://api.anthropic.com".to_owned());
        Client::with_wire(AnthropicWire, model, url, Some("ANTHROPIC_API_KEY"), true)
    }
}

impl Wire for AnthropicWire {
    fn provider(&self) -> &'static str {
        "Anthropic"
    }

    fn url(&self, base_url: &str, _model: &str, _prompt: &Prompt) -> String {
        format!("{base_url}/v1/messages")
    }

    fn auth_headers(&self, key: &Secret) -> Vec<(&'static str, String)> {
        vec![
            ("x-api-key", key.expose().to_owned()),
            ("anthropic-version", "2023-06-01".to_owned()),
        ]
    }

    fn body(
        &self,
        model: &str,
        prompt: &Prompt,
        params: &GenerationParams,
    ) -> Result<Vec<u8>, LlmError> {
        let mut system = Vec::new();
        let mut messages = Vec::new();
        match prompt {
            Prompt::Text(text) => messages.push(json!({ "role": "user", "content": text })),
            Prompt::Chat(chat) => {
                for m in chat {
                    if m.role == "system" {
                        system.push(m.content.as_str());
                    } else {
                        messages.push(json!({ "role": m.role, "content": m.content }));
                    }
                }
            }
        }
        if messages.is_empty() {
            return Err(LlmError::row(
                "Anthropic needs at least one user message; the prompt has only system messages",
            ));
        }
        let mut body = serde_json::Map::new();
        body.insert("model".into(), json!(model));
        body.insert("messages".into(), json!(messages));
        body.insert(
            "max_tokens".into(),
            json!(params.max_new_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
        );
        if !system.is_empty() {
            body.insert("system".into(), json!(system.join("\n\n")));
        }
        if let Some(stop) = &params.stop {
            body.insert("stop_sequences".into(), json!(stop));
        }
        if let Some(format) = &params.response_format {
            let (tools, choice) = forced_tool(format);
            body.insert("tools".into(), tools);
            body.insert("tool_choice".into(), choice);
        }
        if let Some(temperature) = params.temperature {
            body.insert("temperature".into(), json!(temperature));
        }
        if let Some(top_p) = params.top_p {
            body.insert("top_p".into(), json!(top_p));
        }
        for (key, value) in params.extra.iter().flatten() {
            body.insert(key.clone(), value.clone());
        }
        serde_json::to_vec(&body).map_err(|e| LlmError::row(e.to_string()))
    }

    fn parse(&self, body: &[u8]) -> Result<Generations, String> {
        let answer: Answer = super::read_json(body)?;
        // A tool call (structured output) answers with its input; otherwise the text blocks.
        let tool_input = answer
            .content
            .iter()
            .find(|b| b.kind == "tool_use")
            .map(|b| {
                b.input
                    .as_ref()
                    .map_or_else(|| "{}".to_owned(), ToString::to_string)
            });
        let text: String = match tool_input {
            Some(input) => input,
            None => answer
                .content
                .iter()
                .filter(|b| b.kind == "text")
                .filter_map(|b| b.text.as_deref())
                .collect(),
        };
        Ok(Generations {
            choices: vec![Generation {
                text: Some(text),
                finish_reason: answer.stop_reason,
                logprobs: None,
            }],
            input_tokens: answer.usage.as_ref().and_then(|u| u.input_tokens),
            output_tokens: answer.usage.as_ref().and_then(|u| u.output_tokens),
        })
    }
}

/// The one tool a structured request offers, and the `tool_choice` that forces it: the tool is
/// named after the format, its input is the format's schema.
fn forced_tool(format: &crate::Value) -> (crate::Value, crate::Value) {
    let name = format
        .get("name")
        .and_then(crate::Value::as_str)
        .unwrap_or("output");
    let schema = format.get("schema").unwrap_or(format);
    let description = format
        .get("description")
        .or_else(|| schema.get("description"))
        .and_then(crate::Value::as_str)
        .map_or_else(
            || format!("Gives the answer as a `{name}`: the tool's input is the answer."),
            ToOwned::to_owned,
        );
    (
        json!([{ "name": name, "description": description, "input_schema": schema }]),
        json!({ "type": "tool", "name": name }),
    )
}

#[derive(Deserialize)]
struct Answer {
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: Option<TokenUsage>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    /// A `tool_use` block's arguments.
    input: Option<crate::Value>,
}

#[derive(Deserialize)]
struct TokenUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}
