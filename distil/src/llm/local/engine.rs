//! The engine thread: owns the model and decodes every sequence in flight together, one token
//! of each per forward pass, admitting new sequences between steps (continuous batching).
//! Inference is CPU-bound, so it runs on a rayon pool of its own (one thread per core, the
//! loop on one of them, each matrix product shared out among all), never on the async
//! runtime's threads.

use std::sync::Arc;
use std::sync::mpsc;

use tokio::sync::oneshot;

use super::model::{KvCache, Model, Segment};
use super::sampling::Sampling;
use super::tokenizer::GgufTokenizer;
use crate::llm::LlmError;

/// Sequences decoded together at most.
const MAX_BATCH: usize = 64;
/// Prompt tokens admitted into one forward pass at most (a long prompt still goes whole).
const PREFILL_BUDGET: usize = 2048;

/// One sequence to generate.
pub(crate) struct Request {
    pub prompt: Vec<u32>,
    pub max_new: usize,
    pub stop: Vec<String>,
    pub sampling: Sampling,
}

/// A finished sequence.
pub(crate) struct Done {
    /// Generated tokens (a stop token excluded).
    pub tokens: Vec<u32>,
    pub finish_reason: &'static str,
    /// The stop sequence that ended it, which the text is cut at.
    pub stopped_at: Option<String>,
}

pub(crate) type Reply = oneshot::Sender<Result<Done, String>>;
/// A sequence to generate with where its answer goes.
pub(crate) type Job = (Request, Reply);

impl Request {
    /// Takes the token sampled after `generated`: appends it unless it ends the turn, and
    /// says why the sequence ends, if it does (a stop token or sequence, the length limit, or
    /// the context full).
    pub fn accept(
        &self,
        token: u32,
        generated: &mut Vec<u32>,
        tokenizer: &GgufTokenizer,
        context_full: bool,
    ) -> Option<(&'static str, Option<String>)> {
        if tokenizer.stop_ids.contains(&token) {
            return Some(("stop", None));
        }
        generated.push(token);
        if !self.stop.is_empty() {
            let text = tokenizer.decode(generated);
            if let Some(stop) = self.stop.iter().find(|s| text.contains(s.as_str())) {
                return Some(("stop", Some(stop.clone())));
            }
        }
        (generated.len() >= self.max_new || context_full).then_some(("length", None))
    }
}

/// The handle to an engine thread (candle's or llama.cpp's); dropping the last one ends it.
pub(crate) struct Engine {
    jobs: mpsc::Sender<Job>,
}

struct Running {
    request: Request,
    reply: Reply,
    cache: KvCache,
    generated: Vec<u32>,
    /// The tokens the next forward pass feeds: the prompt, then the last sampled token.
    pending: Vec<u32>,
}

impl Engine {
    pub fn start(model: Model, tokenizer: Arc<GgufTokenizer>) -> Engine {
        let (jobs, inbox) = mpsc::channel();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("distil-local-llm-{i}"))
            .build()
            .expect("starting the engine's threads");
        std::thread::Builder::new()
            .name("distil-local-llm".into())
            // The loop runs inside the pool: the products it starts are shared out at once,
            // without waking the pool from outside at every step.
            .spawn(move || pool.install(|| run(model, tokenizer, inbox)))
            .expect("spawning the engine thread");
        Engine { jobs }
    }

    /// The handle to an engine thread reading `jobs`.
    #[cfg_attr(not(feature = "llama-cpp"), allow(dead_code))]
    pub fn from_jobs(jobs: mpsc::Sender<Job>) -> Engine {
        Engine { jobs }
    }

    /// Queues a sequence; the answer arrives on the receiver.
    pub fn submit(
        &self,
        request: Request,
    ) -> Result<oneshot::Receiver<Result<Done, String>>, LlmError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send((request, reply))
            .map_err(|_| LlmError::fatal("the local model's engine stopped"))?;
        Ok(answer)
    }
}

fn run(model: Model, tokenizer: Arc<GgufTokenizer>, inbox: mpsc::Receiver<Job>) {
    let mut running: Vec<Running> = Vec::new();
    let admit = |(request, reply): Job| Running {
        pending: request.prompt.clone(),
        request,
        reply,
        cache: KvCache::default(),
        generated: Vec::new(),
    };
    loop {
        if running.is_empty() {
            match inbox.recv() {
                Ok(job) => running.push(admit(job)),
                Err(_) => return,
            }
        }
        let mut budget = PREFILL_BUDGET;
        while running.len() < MAX_BATCH && budget > 0 {
            match inbox.try_recv() {
                Ok(job) => {
                    budget = budget.saturating_sub(job.0.prompt.len());
                    running.push(admit(job));
                }
                Err(_) => break,
            }
        }
        // Rows whose task went away (a stopped run) are not decoded further.
        running.retain(|r| !r.reply.is_closed());
        if running.is_empty() {
            continue;
        }
        let mut segments: Vec<Segment<'_>> = running
            .iter_mut()
            .map(|r| Segment {
                tokens: &r.pending,
                cache: &mut r.cache,
            })
            .collect();
        let logits = model
            .forward(&mut segments)
            .and_then(|l| l.to_vec2::<f32>());
        drop(segments);
        let logits = match logits {
            Ok(logits) => logits,
            Err(e) => {
                for r in running.drain(..) {
                    let _ = r.reply.send(Err(format!("the local model failed: {e}")));
                }
                continue;
            }
        };
        let mut still = Vec::with_capacity(running.len());
        for (mut r, logits) in running.drain(..).zip(logits) {
            let token = r.request.sampling.next(&logits);
            let context_full = r.cache.len + 1 >= model.shape.context;
            match r
                .request
                .accept(token, &mut r.generated, &tokenizer, context_full)
            {
                Some((finish_reason, stopped_at)) => {
                    let _ = r.reply.send(Ok(Done {
                        tokens: r.generated,
                        finish_reason,
                        stopped_at,
                    }));
                }
                None => {
                    r.pending = vec![token];
                    still.push(r);
                }
            }
        }
        running = still;
    }
}
