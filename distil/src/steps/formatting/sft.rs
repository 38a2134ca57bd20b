//! SFT formatting: a prompt and its answer as one conversation.

use super::{first_user_message, prompt_id, prompt_messages};
use crate::steps::ChatMessage;
use crate::{Row, step};

/// A supervised fine-tuning example, in the format of `axolotl` and `alignment-handbook`
/// (after `HuggingFaceH4/ultrachat_200k`).
#[derive(Row, Clone, Debug, PartialEq, Eq)]
pub struct SftExample {
    /// The user's request.
    pub prompt: String,
    /// SHA-256 hex of `prompt`.
    pub prompt_id: String,
    /// The whole conversation, ending with the answer.
    pub messages: Vec<ChatMessage>,
}

/// Formats the output of a text generation for supervised fine-tuning. The `instruction`
/// becomes the user message and the `generation` the assistant's answer. A non-empty
/// `system_prompt` comes first.
///
/// Columns: reads `instruction: String`, `generation: String` and optionally
/// `system_prompt: Option<String>`; writes `prompt: String`, `prompt_id: String` (SHA-256 hex
/// of the prompt) and `messages: Vec<ChatMessage>`.
///
/// ```
/// use distil::prelude::*;
/// use distil::steps::{FormatTextGenerationSFT, LoadDataFromDicts};
///
/// #[derive(Row)]
/// struct Generated { instruction: String, generation: String }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> distil::Result<()> {
/// let rows = vec![Generated { instruction: "What's 2+2?".into(), generation: "4".into() }];
/// let mut pipeline = pipeline! {
///     load = LoadDataFromDicts::<Generated>::new(rows),
///     sft = FormatTextGenerationSFT::new(),
///     load >> sft,
/// };
/// let distiset = pipeline.run().await?;
/// let examples = distiset.default_config().unwrap().rows_as::<distil::steps::SftExample>().unwrap();
/// assert_eq!(examples[0].messages, [ChatMessage::user("What's 2+2?"), ChatMessage::assistant("4")]);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FormatTextGenerationSFT;

impl FormatTextGenerationSFT {
    /// A formatting step.
    pub fn new() -> Self {
        FormatTextGenerationSFT
    }
}

#[step]
impl FormatTextGenerationSFT {
    fn process(
        &self,
        system_prompt: Option<&str>,
        instruction: &str,
        generation: &str,
    ) -> SftExample {
        let mut messages = prompt_messages(system_prompt, instruction);
        messages.push(ChatMessage::assistant(generation));
        SftExample {
            prompt: instruction.to_owned(),
            prompt_id: prompt_id(instruction),
            messages,
        }
    }
}

/// Formats the output of a chat generation for supervised fine-tuning: the conversation in
/// `messages` followed by the `generation` as the assistant's answer. The prompt is the first
/// user message. A conversation without one is a row error.
///
/// Columns: reads `messages: Vec<ChatMessage>` and `generation: String`; writes
/// `prompt: String`, `prompt_id: String` (SHA-256 hex of the prompt) and
/// `messages: Vec<ChatMessage>` (replacing the input conversation).
///
/// ```
/// let sft = distil::steps::FormatChatGenerationSFT::new();
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FormatChatGenerationSFT;

impl FormatChatGenerationSFT {
    /// A formatting step.
    pub fn new() -> Self {
        FormatChatGenerationSFT
    }
}

#[step]
impl FormatChatGenerationSFT {
    fn process(&self, messages: Vec<ChatMessage>, generation: &str) -> Result<SftExample, String> {
        let prompt = first_user_message(&messages)?.to_owned();
        let mut messages = messages;
        messages.push(ChatMessage::assistant(generation));
        Ok(SftExample {
            prompt_id: prompt_id(&prompt),
            prompt,
            messages,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::{FormatChatGenerationSFT, FormatTextGenerationSFT};
    use crate::steps::LoadDataFromDicts;
    use crate::{METADATA_COLUMN, Pipeline, Step};

    async fn formatted(rows: Vec<Value>, step: impl Step) -> Vec<Map<String, Value>> {
        let mut pipeline = Pipeline::new("sft");
        pipeline.add("load", LoadDataFromDicts::untyped(rows));
        pipeline.add("format", step);
        pipeline.connect("load", "format");
        let distiset = pipeline.run().await.unwrap();
        distiset.default_config().unwrap().rows().collect()
    }

    #[tokio::test]
    async fn text_generation_becomes_a_two_or_three_message_conversation() {
        let rows = formatted(
            vec![
                json!({"system_prompt": "Be brief.", "instruction": "What's 2+2?", "generation": "4"}),
                json!({"system_prompt": "", "instruction": "Hi", "generation": "Hello"}),
                json!({"system_prompt": null, "instruction": "Hey", "generation": "Yo"}),
            ],
            FormatTextGenerationSFT::new(),
        )
        .await;
        assert_eq!(rows[0]["prompt"], json!("What's 2+2?"));
        assert_eq!(
            rows[0]["prompt_id"],
            json!("7762ecf17ad41479767061a8f4a7bfa3b63d371672af5180872f9b82b4cd4e29")
        );
        assert_eq!(
            rows[0]["messages"],
            json!([
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What's 2+2?"},
                {"role": "assistant", "content": "4"},
            ])
        );
        assert_eq!(
            rows[1]["messages"],
            json!([
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
            ])
        );
        assert_eq!(rows[2]["messages"][0]["role"], json!("user"));
    }

    #[tokio::test]
    async fn the_system_prompt_column_is_optional() {
        let rows = formatted(
            vec![json!({"instruction": "Hi", "generation": "Hello"})],
            FormatTextGenerationSFT::new(),
        )
        .await;
        assert_eq!(rows[0]["messages"].as_array().map(Vec::len), Some(2));
    }

    #[tokio::test]
    async fn a_missing_generation_is_a_row_error() {
        let rows = formatted(
            vec![
                json!({"instruction": "Hi", "generation": null}),
                json!({"instruction": "Hey", "generation": "Yo"}),
            ],
            FormatTextGenerationSFT::new(),
        )
        .await;
        assert_eq!(rows[0]["messages"], Value::Null);
        assert_eq!(
            rows[0][METADATA_COLUMN]["errors"][0]["message"],
            json!("column `generation`: expected a string, found null")
        );
        assert_eq!(rows[1]["prompt"], json!("Hey"));
    }

    #[tokio::test]
    async fn chat_generation_appends_the_answer_and_takes_the_first_user_message() {
        let rows = formatted(
            vec![
                json!({
                    "messages": [
                        {"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "What's 2+2?"},
                        {"role": "assistant", "content": "4"},
                        {"role": "user", "content": "And 3+3?"},
                    ],
                    "generation": "6",
                }),
                json!({
                    "messages": [{"role": "system", "content": "Be brief."}],
                    "generation": "6",
                }),
            ],
            FormatChatGenerationSFT::new(),
        )
        .await;
        assert_eq!(rows[0]["prompt"], json!("What's 2+2?"));
        assert_eq!(
            rows[0]["prompt_id"],
            json!("7762ecf17ad41479767061a8f4a7bfa3b63d371672af5180872f9b82b4cd4e29")
        );
        assert_eq!(rows[0]["messages"].as_array().map(Vec::len), Some(5));
        assert_eq!(
            rows[0]["messages"][4],
            json!({"role": "assistant", "content": "6"})
        );
        assert_eq!(
            rows[1][METADATA_COLUMN]["errors"][0]["message"],
            json!("`messages` has no user message to use as the prompt")
        );
    }
}
