//! Chat templates: how a conversation becomes the raw text a model was trained on, for
//! servers that only complete raw text and for Magpie, which needs the text a user turn starts
//! with.

use std::sync::Arc;

use crate::steps::ChatMessage;

/// Where a user's text would go: what comes before it is the text a user turn starts with.
const QUERY_SLOT: &str = "\u{1}distil-query-slot\u{1}";

const LLAMA3: &str = "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message.role }}<|end_header_id|>\n\n{{ message.content | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}";

const CHATML: &str = "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// A Jinja chat template, as a model's `tokenizer_config.json` holds it (rendered with
/// minijinja): `messages` (`role`, `content`), `add_generation_prompt`, `bos_token` and
/// `eos_token` are defined, and `raise_exception(message)` fails the prompt with the message.
/// Give one to a raw-completion server with [`Client::chat_template`](super::Client::chat_template):
/// chat prompts are then rendered with it and sent as raw text. [`Magpie`](crate::tasks::Magpie)
/// needs one to know how a user turn starts.
///
/// ```
/// use distil::llm::ChatTemplate;
/// use distil::prelude::*;
///
/// let template = ChatTemplate::chatml();
/// let text = template.render(&[ChatMessage::user("Hi")], true).unwrap();
/// assert_eq!(text, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
/// assert_eq!(template.user_turn_start(&[]).unwrap(), "<|im_start|>user\n");
///
/// let custom = ChatTemplate::new("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}")
///     .unwrap()
///     .stop(["\nuser:"]);
/// assert_eq!(custom.render(&[ChatMessage::user("Hi")], false).unwrap(), "user: Hi\n");
/// ```
#[derive(Clone)]
pub struct ChatTemplate {
    source: Arc<str>,
    env: Arc<minijinja::Environment<'static>>,
    bos_token: String,
    eos_token: String,
    stop: Vec<String>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("source", &self.source)
            .field("stop", &self.stop)
            .finish()
    }
}

impl ChatTemplate {
    const NAME: &'static str = "chat";

    /// A template from its Jinja source; the error says why it does not compile.
    pub fn new(source: impl Into<String>) -> Result<Self, String> {
        let source: String = source.into();
        let mut env = minijinja::Environment::new();
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    message,
                ))
            },
        );
        env.add_template_owned(Self::NAME, source.clone())
            .map_err(|e| format!("the chat template does not compile: {e}"))?;
        Ok(ChatTemplate {
            source: source.into(),
            env: Arc::new(env),
            bos_token: String::new(),
            eos_token: String::new(),
            stop: Vec::new(),
        })
    }

    /// Llama 3's template (`<|begin_of_text|>`, `<|start_header_id|>`, stops at `<|eot_id|>`).
    pub fn llama3() -> Self {
        Self::new(LLAMA3)
            .expect("the Llama 3 template compiles")
            .bos_token("<|begin_of_text|>")
            .eos_token("<|eot_id|>")
            .stop(["<|eot_id|>", "<|start_header_id|>"])
    }

    /// ChatML (Qwen 2, SmolLM2, Hermes: `<|im_start|>`, stops at `<|im_end|>`).
    pub fn chatml() -> Self {
        Self::new(CHATML)
            .expect("the ChatML template compiles")
            .eos_token("<|im_end|>")
            .stop(["<|im_end|>", "<|im_start|>"])
    }

    /// The value of `bos_token` in the template.
    #[must_use]
    pub fn bos_token(mut self, token: impl Into<String>) -> Self {
        self.bos_token = token.into();
        self
    }

    /// The value of `eos_token` in the template.
    #[must_use]
    pub fn eos_token(mut self, token: impl Into<String>) -> Self {
        self.eos_token = token.into();
        self
    }

    /// Where a turn the model writes ends: requests with no `stop` of their own stop there,
    /// and a trailing one is cut from the text.
    #[must_use]
    pub fn stop<S: Into<String>>(mut self, stop: impl IntoIterator<Item = S>) -> Self {
        self.stop = stop.into_iter().map(Into::into).collect();
        self
    }

    /// The template's source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The strings a turn ends at.
    pub fn stop_sequences(&self) -> &[String] {
        &self.stop
    }

    /// `messages` as the model's raw text; with `add_generation_prompt`, followed by the start
    /// of the assistant's turn.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, String> {
        let messages: Vec<minijinja::Value> = messages
            .iter()
            .map(|m| {
                minijinja::context! { role => m.role.as_str(), content => m.content.as_str() }
            })
            .collect();
        self.env
            .get_template(Self::NAME)
            .and_then(|t| {
                t.render(minijinja::context! {
                    messages => messages,
                    add_generation_prompt => add_generation_prompt,
                    bos_token => self.bos_token.as_str(),
                    eos_token => self.eos_token.as_str(),
                })
            })
            .map_err(|e| format!("rendering the chat template: {e}"))
    }

    /// The raw text of `before` followed by the start of a user turn, up to where the user's
    /// text would begin: what Magpie has the model complete into a user query.
    pub fn user_turn_start(&self, before: &[ChatMessage]) -> Result<String, String> {
        let mut messages = before.to_vec();
        messages.push(ChatMessage::user(QUERY_SLOT));
        let text = self.render(&messages, false)?;
        let at = text.find(QUERY_SLOT).ok_or(
            "the chat template does not show a user message's content, so a user turn's start is unknown",
        )?;
        Ok(text[..at].to_owned())
    }

    /// The template as a pipeline file (and the response cache's key) records it: `source`,
    /// `bos_token`, `eos_token`, `stop`.
    pub(crate) fn settings(&self) -> crate::Value {
        serde_json::json!({
            "source": &*self.source,
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
            "stop": self.stop,
        })
    }

    /// The template [`settings`](Self::settings) recorded.
    pub(crate) fn from_settings(settings: &crate::Value) -> Result<Self, String> {
        let text = |key: &str| settings.get(key).and_then(crate::Value::as_str);
        let source = text("source").ok_or("the chat template has no `source` text")?;
        let stop: Vec<String> = match settings.get("stop") {
            None | Some(crate::Value::Null) => Vec::new(),
            Some(stop) => serde_json::from_value(stop.clone())
                .map_err(|_| "the chat template's `stop` is no list of texts".to_owned())?,
        };
        Ok(Self::new(source)?
            .bos_token(text("bos_token").unwrap_or_default())
            .eos_token(text("eos_token").unwrap_or_default())
            .stop(stop))
    }

    /// A model's turn without a trailing stop string and surrounding space.
    pub fn trim_turn<'t>(&self, text: &'t str) -> &'t str {
        let mut text = text.trim();
        for stop in &self.stop {
            if let Some(at) = text.find(stop.as_str()) {
                text = text[..at].trim();
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_renders_conversations_and_the_start_of_a_user_turn() {
        let template = ChatTemplate::llama3();
        let conversation = [
            ChatMessage::system("Be brief."),
            ChatMessage::user("Hi"),
            ChatMessage::assistant("Hello!"),
        ];
        assert_eq!(
            template.render(&conversation[..2], true).unwrap(),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        assert_eq!(
            template.user_turn_start(&conversation[..1]).unwrap(),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
        );
        assert!(
            template
                .user_turn_start(&conversation)
                .unwrap()
                .ends_with("Hello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n")
        );
        assert_eq!(
            template.trim_turn(" What is 2+2?<|eot_id|><|start_header_id|>"),
            "What is 2+2?"
        );
    }

    #[test]
    fn settings_restore_the_template() {
        let template = ChatTemplate::llama3();
        let restored = ChatTemplate::from_settings(&template.settings()).unwrap();
        assert_eq!(restored.settings(), template.settings());
        let messages = [ChatMessage::user("Hi")];
        assert_eq!(
            restored.render(&messages, true).unwrap(),
            template.render(&messages, true).unwrap()
        );
        assert!(
            ChatTemplate::from_settings(&serde_json::json!({"stop": []}))
                .unwrap_err()
                .contains("no `source`")
        );
    }

    #[test]
    fn bad_templates_say_why() {
        assert!(
            ChatTemplate::new("{% for m in messages %}")
                .unwrap_err()
                .contains("does not compile")
        );
        let raising = ChatTemplate::new(
            "{% if messages[0].role != 'user' %}{{ raise_exception('user first') }}{% endif %}",
        )
        .unwrap();
        let error = raising
            .render(&[ChatMessage::assistant("x")], false)
            .unwrap_err();
        assert!(error.contains("user first"), "{error}");
        let hiding = ChatTemplate::new("{% for m in messages %}{{ m.role }}{% endfor %}").unwrap();
        assert!(
            hiding
                .user_turn_start(&[])
                .unwrap_err()
                .contains("does not show")
        );
    }
}
