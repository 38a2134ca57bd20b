//! The tokenizer and the chat template of a GGUF model, from its own metadata.
//!
//! candle's `TokenizerFromGguf` knows only some `tokenizer.ggml.pre` values and treats the
//! others as GPT-2 with a prefix space, which gives wrong ids for SmolLM2. This builds the
//! `tokenizers` pipeline llama.cpp applies for each pre-tokenizer name instead.

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper, Tokenizer};

use crate::llm::ChatTemplate;

/// The GGUF token type of control tokens (`<|im_start|>`, `<|endoftext|>`, ...).
const CONTROL: i32 = 3;
/// The GGUF token type of user-defined tokens, matched whole like control tokens.
const USER_DEFINED: i32 = 4;

/// A model's tokenizer with the ids generation stops at.
pub(crate) struct GgufTokenizer {
    pub tokenizer: Tokenizer,
    /// Tokens that end a generation (the end-of-sequence token and the turn ends).
    pub stop_ids: Vec<u32>,
    pub bos: Option<String>,
    pub eos: Option<String>,
}

fn strings(content: &Content, key: &str) -> Result<Vec<String>, String> {
    let values = content
        .metadata
        .get(key)
        .ok_or_else(|| format!("the GGUF has no `{key}`"))?
        .to_vec()
        .map_err(|e| format!("`{key}`: {e}"))?;
    values
        .iter()
        .map(|v| v.to_string().cloned().map_err(|e| format!("`{key}`: {e}")))
        .collect()
}

fn id(content: &Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|v| v.to_u32().ok())
}

impl GgufTokenizer {
    /// The tokenizer the GGUF describes (BPE models, `tokenizer.ggml.model = gpt2`).
    pub fn from_gguf(content: &Content) -> Result<GgufTokenizer, String> {
        let model = content
            .metadata
            .get("tokenizer.ggml.model")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if model != "gpt2" {
            return Err(format!(
                "tokenizer `{model}` is not supported (byte-level BPE, `gpt2`, only)"
            ));
        }
        let tokens = strings(content, "tokenizer.ggml.tokens")?;
        let merges = strings(content, "tokenizer.ggml.merges")?;
        let types: Vec<i32> = match content.metadata.get("tokenizer.ggml.token_type") {
            Some(Value::Array(values)) => values.iter().map(|v| v.to_i32().unwrap_or(1)).collect(),
            _ => vec![1; tokens.len()],
        };
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let merges = merges
            .iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
                    .ok_or_else(|| format!("merge `{m}` is not two tokens"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| format!("the GGUF's vocabulary: {e}"))?;
        let mut tokenizer = Tokenizer::new(bpe);
        let pre = content
            .metadata
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        let byte_level = ByteLevel::new(false, true, true);
        let pre_tokenizer: PreTokenizerWrapper = match pre.as_str() {
            // llama.cpp splits every digit on its own before GPT-2's pattern for these.
            "smollm" | "starcoder" | "refact" | "codeshell" | "command-r" => {
                Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into()
            }
            _ => byte_level.into(),
        };
        tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
        tokenizer.with_decoder(Some(ByteLevel::default()));
        let special: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, t)| **t == CONTROL || **t == USER_DEFINED)
            .map(|(token, _)| AddedToken::from(token.clone(), true))
            .collect();
        tokenizer
            .add_special_tokens(special)
            .map_err(|e| format!("the GGUF's control tokens: {e}"))?;

        let eos_id = id(content, "tokenizer.ggml.eos_token_id");
        let mut stop_ids: Vec<u32> = eos_id.into_iter().collect();
        for name in [
            "<|im_end|>",
            "<|endoftext|>",
            "<|eot_id|>",
            "<|end_of_text|>",
        ] {
            if let Some(i) = tokens.iter().position(|t| t == name)
                && !stop_ids.contains(&(i as u32))
            {
                stop_ids.push(i as u32);
            }
        }
        let token = |key: &str| id(content, key).and_then(|i| tokens.get(i as usize).cloned());
        Ok(GgufTokenizer {
            tokenizer,
            stop_ids,
            bos: token("tokenizer.ggml.bos_token_id"),
            eos: token("tokenizer.ggml.eos_token_id"),
        })
    }

    /// The ids of `text`; control tokens written in it (`<|im_start|>`) are single ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        self.tokenizer
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| format!("tokenizing the prompt: {e}"))
    }

    /// The text of `ids`, control tokens included.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.tokenizer.decode(ids, false).unwrap_or_default()
    }
}

/// ChatML, for a GGUF without `tokenizer.chat_template`.
const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// The GGUF's chat template (else ChatML), with the tokenizer's start and end tokens, and the
/// texts of the tokens generation stops at as the ends of a turn.
pub(crate) fn chat_template(
    content: &Content,
    tokenizer: &GgufTokenizer,
) -> Result<ChatTemplate, String> {
    let source = content
        .metadata
        .get("tokenizer.chat_template")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_else(|| CHATML.to_owned());
    let stop: Vec<String> = tokenizer
        .stop_ids
        .iter()
        .map(|id| tokenizer.decode(&[*id]))
        .filter(|text| !text.is_empty())
        .collect();
    Ok(ChatTemplate::new(source)
        .map_err(|e| format!("the GGUF's chat template: {e}"))?
        .bos_token(tokenizer.bos.clone().unwrap_or_default())
        .eos_token(tokenizer.eos.clone().unwrap_or_default())
        .stop(stop))
}
