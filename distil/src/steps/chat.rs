//! Chat messages: the `{role, content}` objects of conversation columns.

use crate::Row;

/// One message of a conversation, in the `{"role": .., "content": ..}` shape that chat
/// templates, OpenAI-style APIs and fine-tuning frameworks use. A column of conversations is
/// a `Vec<ChatMessage>`.
///
/// ```
/// use distil::prelude::*;
///
/// let chat = vec![ChatMessage::user("What's 2+2?"), ChatMessage::assistant("4")];
/// assert_eq!(chat[0].role, "user");
/// ```
#[derive(Row, Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant` (any string is accepted).
    pub role: String,
    /// The text of the message.
    pub content: String,
}

impl ChatMessage {
    /// A message from `role`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    /// A system prompt.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}
