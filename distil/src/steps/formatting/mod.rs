//! Formatting for fine-tuning, with distilabel's column names: SFT conversations and DPO
//! preference pairs.

mod dpo;
mod sft;

pub use dpo::{DpoExample, FormatChatGenerationDPO, FormatTextGenerationDPO};
pub use sft::{FormatChatGenerationSFT, FormatTextGenerationSFT, SftExample};

use sha2::{Digest, Sha256};

use super::ChatMessage;

/// The id distilabel gives a prompt, so datasets from both can be joined on it: the SHA-256 of
/// its UTF-8 bytes, in lowercase hex.
fn prompt_id(prompt: &str) -> String {
    format!("{:x}", Sha256::digest(prompt.as_bytes()))
}

/// The conversation before the answer of a text generation: the system prompt, unless it is
/// absent or empty, then the instruction.
fn prompt_messages(system_prompt: Option<&str>, instruction: &str) -> Vec<ChatMessage> {
    let system = system_prompt
        .filter(|s| !s.is_empty())
        .map(ChatMessage::system);
    system
        .into_iter()
        .chain([ChatMessage::user(instruction)])
        .collect()
}

/// The prompt of a conversation: its first user message.
fn first_user_message(messages: &[ChatMessage]) -> Result<&str, String> {
    messages
        .iter()
        .find(|m| m.role == "user")
        .map(|m| m.content.as_str())
        .ok_or_else(|| "`messages` has no user message to use as the prompt".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_ids_match_distilabel() {
        // From distilabel's FormatChatGenerationDPO docstring.
        assert_eq!(
            prompt_id("What's 2+2?"),
            "7762ecf17ad41479767061a8f4a7bfa3b63d371672af5180872f9b82b4cd4e29"
        );
    }

    #[test]
    fn an_empty_system_prompt_is_left_out() {
        assert_eq!(prompt_messages(Some(""), "hi"), [ChatMessage::user("hi")]);
        assert_eq!(
            prompt_messages(Some("be brief"), "hi"),
            [ChatMessage::system("be brief"), ChatMessage::user("hi")]
        );
    }
}
