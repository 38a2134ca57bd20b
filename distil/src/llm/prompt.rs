//! What a task sends to an LLM.

use crate::steps::ChatMessage;

/// A prompt: a conversation for chat models, or raw text for completion endpoints.
///
/// ```
/// use distil::llm::Prompt;
/// use distil::prelude::*;
///
/// let prompt: Prompt = "Write a haiku".into();
/// assert_eq!(prompt, Prompt::Chat(vec![ChatMessage::user("Write a haiku")]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// Messages for a chat endpoint.
    Chat(Vec<ChatMessage>),
    /// Raw text for a completions endpoint (no chat template applied by the server).
    Text(String),
}

impl Prompt {
    /// The text of the last user message (or the raw text): for logs and simple models.
    pub fn last_user_text(&self) -> &str {
        match self {
            Prompt::Text(text) => text,
            Prompt::Chat(messages) => messages
                .iter()
                .rev()
                .find(|m| m.role == "user")
                .or(messages.last())
                .map_or("", |m| m.content.as_str()),
        }
    }

    /// The prompt as recorded in a row's metadata (`raw_input_<step>`): the messages as
    /// `{role, content}` objects, or the text.
    pub fn to_value(&self) -> crate::Value {
        match self {
            Prompt::Text(text) => crate::Value::String(text.clone()),
            Prompt::Chat(messages) => crate::Value::Array(
                messages
                    .iter()
                    .map(|m| serde_json::json!({ "role": m.role, "content": m.content }))
                    .collect(),
            ),
        }
    }

    /// The JSON of [`to_value`](Self::to_value), written from borrows without building the
    /// value: what cache keys and replay digests hash.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Message<'a> {
            role: &'a str,
            content: &'a str,
        }
        let json = match self {
            Prompt::Text(text) => serde_json::to_vec(text),
            Prompt::Chat(messages) => serde_json::to_vec(
                &messages
                    .iter()
                    .map(|m| Message {
                        role: &m.role,
                        content: &m.content,
                    })
                    .collect::<Vec<_>>(),
            ),
        };
        json.unwrap_or_default()
    }

    /// Characters in the prompt: a cheap stand-in for its length in tokens.
    pub fn chars(&self) -> usize {
        match self {
            Prompt::Text(text) => text.len(),
            Prompt::Chat(messages) => messages.iter().map(|m| m.content.len()).sum(),
        }
    }
}

/// A user message.
impl From<String> for Prompt {
    fn from(text: String) -> Self {
        Prompt::Chat(vec![ChatMessage::user(text)])
    }
}

/// A user message.
impl From<&str> for Prompt {
    fn from(text: &str) -> Self {
        Prompt::Chat(vec![ChatMessage::user(text)])
    }
}

impl From<Vec<ChatMessage>> for Prompt {
    fn from(messages: Vec<ChatMessage>) -> Self {
        Prompt::Chat(messages)
    }
}
