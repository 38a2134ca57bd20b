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

type Reply = oneshot::Sender<Result<Done, String>>;

/// The handle to the engine thread; dropping the last one ends it.
pub(crate) struct Engine {
    jobs: mpsc::Sender<(Request, Reply)>,
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

fn run(model: Model, tokenizer: Arc<GgufTokenizer>, inbox: mpsc::Receiver<(Request, Reply)>) {
    let mut running: Vec<Running> = Vec::new();
    let admit = |(request, reply): (Request, Reply)| Running {
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
            let finished = if tokenizer.stop_ids.contains(&token) {
                Some(("stop", None))
            } else {
                r.generated.push(token);
                let stop = if r.request.stop.is_empty() {
                    None
                } else {
                    let text = tokenizer.decode(&r.generated);
                    r.request
                        .stop
                        .iter()
                        .find(|s| text.contains(s.as_str()))
                        .cloned()
                };
                match stop {
                    Some(stop) => Some(("stop", Some(stop))),
                    None if r.generated.len() >= r.request.max_new
                        || r.cache.len + 1 >= model.shape.context =>
                    {
                        Some(("length", None))
                    }
                    None => None,
                }
            };
            match finished {
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
