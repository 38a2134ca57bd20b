//! The llama.cpp engine (feature `llama-cpp`): the same jobs as the candle engine's, run by
//! llama.cpp through the `llama-cpp-2` bindings. The prompt ids come from distil's own
//! tokenizer and the chosen tokens are sampled by distil, so both engines read the same
//! prompts and sample alike; llama.cpp computes the logits.
//!
//! One thread owns the model and a context with one llama.cpp sequence per row in flight:
//! every `llama_decode` carries the next token of each sequence being generated and a share of
//! the prompts being read, as llama.cpp's server does. Each sequence has a key/value cache
//! stream of its own (not one cache shared by all): in a shared one a sequence's cells sit at
//! other offsets when other rows are in flight, the attention sums round otherwise, and a
//! greedy text would depend on which rows it was decoded with.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{Arc, OnceLock, mpsc};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;

use super::engine::{Done, Engine, Job, Reply, Request};
use super::tokenizer::GgufTokenizer;

/// Sequences decoded together at most (llama.cpp sequence ids, cache streams).
const MAX_SEQUENCES: usize = 32;
/// Tokens in one `llama_decode` at most: the generating sequences' next tokens first, then
/// chunks of the prompts being read.
const BATCH_TOKENS: usize = 2048;
/// Cells of each sequence's cache stream: the longest sequence (prompt and answer) the engine
/// takes, when the model's context is not shorter. The whole cache holds `MAX_SEQUENCES` times
/// as many, as llama.cpp's server with `-np 32 -c 65536` (1.5 GB for SmolLM2-135M).
const SEQUENCE_CELLS: usize = 2048;

/// llama.cpp's backend, initialised once per process, its log lines sent to `tracing`.
fn backend() -> Result<&'static LlamaBackend, String> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| format!("llama.cpp does not start: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Loads the GGUF file into llama.cpp and starts the engine thread on it: the engine, and the
/// tokens of one sequence at most (the model's context, at most the cache's size).
pub(crate) fn start(path: &Path, tokenizer: Arc<GgufTokenizer>) -> Result<(Engine, usize), String> {
    let backend = backend()?;
    let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
        .map_err(|e| format!("llama.cpp cannot load it ({e})"))?;
    let cells = (model.n_ctx_train() as usize).min(SEQUENCE_CELLS);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as i32;
    let (jobs, inbox) = mpsc::channel();
    let (ready, started) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("distil-llama-cpp".into())
        .spawn(move || {
            let params = LlamaContextParams::default()
                .with_n_ctx(NonZeroU32::new((cells * MAX_SEQUENCES) as u32))
                .with_n_batch(BATCH_TOKENS as u32)
                .with_n_seq_max(MAX_SEQUENCES as u32)
                .with_kv_unified(false)
                .with_n_threads(threads)
                .with_n_threads_batch(threads);
            match model.new_context(backend, params) {
                Ok(context) => {
                    let _ = ready.send(Ok(()));
                    run(context, cells, &tokenizer, inbox);
                }
                Err(e) => {
                    let _ = ready.send(Err(format!("llama.cpp cannot make a context ({e})")));
                }
            }
        })
        .map_err(|e| format!("spawning the llama.cpp engine thread: {e}"))?;
    started
        .recv()
        .map_err(|_| "the llama.cpp engine thread stopped".to_owned())??;
    Ok((Engine::from_jobs(jobs), cells))
}

struct Running {
    request: Request,
    reply: Reply,
    seq: i32,
    /// Tokens already in the cache (the position of the next one).
    position: usize,
    /// Tokens still to feed: the rest of the prompt, then the last sampled token.
    pending: Vec<u32>,
    generated: Vec<u32>,
    /// This step's batch index of its last token, when the step reads its logits.
    logits_at: Option<i32>,
}

fn run(
    mut context: LlamaContext<'_>,
    cells: usize,
    tokenizer: &GgufTokenizer,
    inbox: mpsc::Receiver<Job>,
) {
    let mut waiting: VecDeque<Job> = VecDeque::new();
    let mut running: Vec<Running> = Vec::new();
    let mut free_seqs: Vec<i32> = (0..MAX_SEQUENCES as i32).rev().collect();
    let mut batch = LlamaBatch::new(BATCH_TOKENS, 1);
    loop {
        if running.is_empty() && waiting.is_empty() {
            match inbox.recv() {
                Ok(job) => waiting.push_back(job),
                Err(_) => return,
            }
        }
        waiting.extend(inbox.try_iter());
        // Rows whose task went away (a stopped run) are not decoded further.
        waiting.retain(|(_, reply)| !reply.is_closed());
        running.retain(|r| {
            let keep = !r.reply.is_closed();
            if !keep {
                let _ = context.clear_kv_cache_seq(Some(r.seq as u32), None, None);
                free_seqs.push(r.seq);
            }
            keep
        });
        // Admitted in order while a sequence is free.
        while !free_seqs.is_empty()
            && let Some((request, reply)) = waiting.pop_front()
        {
            running.push(Running {
                pending: request.prompt.clone(),
                request,
                reply,
                seq: free_seqs.pop().expect("a free sequence id"),
                position: 0,
                generated: Vec::new(),
                logits_at: None,
            });
        }
        if running.is_empty() {
            continue;
        }
        batch.clear();
        let mut budget = BATCH_TOKENS;
        // The generating sequences (one pending token) first: a long prompt delays no answer.
        running.sort_by_key(|r| r.pending.len() > 1);
        for r in running.iter_mut() {
            let take = r.pending.len().min(budget);
            r.logits_at = None;
            for (i, &token) in r.pending[..take].iter().enumerate() {
                let last = i + 1 == r.pending.len();
                batch
                    .add(
                        LlamaToken::new(token as i32),
                        (r.position + i) as i32,
                        &[r.seq],
                        last,
                    )
                    .expect("the batch holds BATCH_TOKENS tokens");
                if last {
                    r.logits_at = Some(batch.n_tokens() - 1);
                }
            }
            r.pending.drain(..take);
            r.position += take;
            budget -= take;
        }
        if let Err(e) = context.decode(&mut batch) {
            for r in running.drain(..) {
                let _ = r.reply.send(Err(format!("llama.cpp failed: {e}")));
                free_seqs.push(r.seq);
            }
            context.clear_kv_cache();
            continue;
        }
        let mut still = Vec::with_capacity(running.len());
        for mut r in running.drain(..) {
            let Some(index) = r.logits_at else {
                still.push(r);
                continue;
            };
            let token = r.request.sampling.next(context.get_logits_ith(index));
            let context_full = r.position + 1 >= cells;
            match r
                .request
                .accept(token, &mut r.generated, tokenizer, context_full)
            {
                Some((finish_reason, stopped_at)) => {
                    let _ = r.reply.send(Ok(Done {
                        tokens: r.generated,
                        finish_reason,
                        stopped_at,
                    }));
                    let _ = context.clear_kv_cache_seq(Some(r.seq as u32), None, None);
                    free_seqs.push(r.seq);
                }
                None => {
                    r.pending.push(token);
                    still.push(r);
                }
            }
        }
        running = still;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// llama.cpp's own tokenizer agrees with distil's on the default model, so the ids distil
    /// gives llama.cpp (and counts in usage) are the ones llama.cpp would read.
    #[test]
    fn llama_cpp_tokenizes_as_distil_does() {
        let path = super::super::fetch::default_model().expect("the default model");
        let mut file = std::fs::File::open(&path).unwrap();
        let content = candle_core::quantized::gguf_file::Content::read(&mut file).unwrap();
        let ours = GgufTokenizer::from_gguf(&content).unwrap();
        let params = LlamaModelParams::default().with_vocab_only(true);
        let model = LlamaModel::load_from_file(backend().unwrap(), &path, &params).unwrap();
        let texts = [
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 12345 + 678?<|im_end|>\n<|im_start|>assistant\n",
            "Digits 2026 and 3.14159",
            " leading space, café 🦀 naïve\n\n  tabs\tend",
            "<|endoftext|>x<|im_end|>",
            "Don't stop   me now!!! It's   1,000,000.50 — ok?\r\n\u{00a0}日本語のテキスト",
            "fn main() {\n    println!(\"{}\", 0x1f);\n}\n",
        ];
        for text in texts {
            let theirs: Vec<u32> = model
                .vocab()
                .tokenize(text.as_bytes(), false, true)
                .into_iter()
                .map(|t| t.0 as u32)
                .collect();
            assert_eq!(ours.encode(text).unwrap(), theirs, "{text:?}");
        }
    }
}
