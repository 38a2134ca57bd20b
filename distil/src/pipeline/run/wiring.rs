//! Wiring a run: a bounded channel into every step with predecessors, and each step's
//! [`Outputs`]: its successors, its router and, for a leaf, the sink writing its config.

use std::sync::Arc;

use tokio::sync::mpsc::{Receiver, Sender, channel};

use super::super::Pipeline;
use super::super::progress::StepCounter;
use super::super::routing::Router;
use crate::batch::Batch;
use crate::distiset::sink::LeafSink;

/// Rows an edge holds, about, before its sender waits: small batches get more slots, so steps
/// run ahead of each other instead of waking each other at every batch, while memory stays
/// bounded in rows whatever the batch size.
const CHANNEL_ROWS: usize = 4096;

/// Batch slots of an edge into a step that reads `batch_size` rows at a time.
fn channel_batches(batch_size: usize) -> usize {
    (CHANNEL_ROWS / batch_size.max(1)).clamp(4, 64)
}

/// A batch from the predecessor in `slot`; `None` once that predecessor is done.
pub(super) type Message = (usize, Option<Batch>);

struct Target {
    sender: Sender<Message>,
    slot: usize,
    name: Arc<str>,
}

/// Where a step's batches go: its successors (all of them, or those its router picks) or,
/// for a leaf, its sink.
pub(super) struct Outputs {
    targets: Vec<Target>,
    /// The router and the indices (into `targets`) it picks among.
    router: Option<(Router, Vec<usize>)>,
    /// Leaf steps stream their batches to the Distiset's Parquet shards.
    pub(super) sink: Option<LeafSink>,
    /// Rows sent on, for the log.
    pub(super) rows: u64,
    /// The same count, for the progress display.
    progress: StepCounter,
}

impl Outputs {
    /// Whether the step has no successor.
    pub(super) fn is_leaf(&self) -> bool {
        self.targets.is_empty()
    }

    /// Sends a batch on; `false` once a successor is gone (the run is failing).
    pub(super) async fn send(&mut self, batch: Batch) -> bool {
        let skipped: Vec<usize> = match &mut self.router {
            Some((router, routed)) => {
                let names: Vec<&str> = routed.iter().map(|&t| &*self.targets[t].name).collect();
                let picked = router.choose(&names);
                routed
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !picked.contains(i))
                    .map(|(_, &t)| t)
                    .collect()
            }
            None => Vec::new(),
        };
        self.rows += batch.len() as u64;
        self.progress.rows(batch.len());
        if let Some(sink) = &self.sink {
            return batch.is_empty() || sink.write(batch).await;
        }
        let through = batch.through;
        let mut batch = Some(batch);
        let last = self.targets.len().saturating_sub(1);
        for (t, target) in self.targets.iter().enumerate() {
            let message = if skipped.contains(&t) {
                Batch::watermark(through)
            } else if t == last {
                batch.take().expect("sent once")
            } else {
                batch.clone().expect("kept until the last target")
            };
            if target
                .sender
                .send((target.slot, Some(message)))
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    }

    /// Tells every successor this stream is over.
    pub(super) async fn finish(&mut self) {
        self.progress.done();
        for target in &self.targets {
            let _ = target.sender.send((target.slot, None)).await;
        }
    }
}

/// The channels and outputs of every step, by step index.
pub(super) struct Wiring {
    pub(super) inputs: Vec<Option<Receiver<Message>>>,
    pub(super) outputs: Vec<Outputs>,
    /// Each step's predecessors, in slot order.
    pub(super) predecessors: Vec<Vec<usize>>,
}

/// Connects the steps: takes the pipeline's routers (a run consumes them), seeded from `seed`
/// so a rerun routes every batch as the run before it did.
pub(super) fn wire(
    pipeline: &mut Pipeline,
    names: &[Arc<str>],
    seed: u64,
    counter: impl Fn(usize) -> StepCounter,
) -> Wiring {
    let n = pipeline.nodes.len();
    let mut predecessors: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(from, to) in &pipeline.edges {
        predecessors[to].push(from);
    }
    let mut inputs = Vec::with_capacity(n);
    let mut senders = Vec::with_capacity(n);
    for (node, preds) in pipeline.nodes.iter().zip(&predecessors) {
        if preds.is_empty() {
            inputs.push(None);
            senders.push(None);
        } else {
            let (tx, rx) = channel(channel_batches(node.options.input_batch_size) * preds.len());
            inputs.push(Some(rx));
            senders.push(Some(tx));
        }
    }
    let mut outputs: Vec<Outputs> = (0..n)
        .map(|s| Outputs {
            targets: Vec::new(),
            router: None,
            sink: None,
            rows: 0,
            progress: counter(s),
        })
        .collect();
    for &(from, to) in &pipeline.edges {
        let slot = predecessors[to]
            .iter()
            .position(|&p| p == from)
            .expect("edge is known");
        let sender = senders[to]
            .clone()
            .expect("a step with a predecessor has a channel");
        outputs[from].targets.push(Target {
            sender,
            slot,
            name: names[to].clone(),
        });
    }
    for route in std::mem::take(&mut pipeline.routes) {
        let mut router = route.router;
        router.seed(seed ^ route.from as u64);
        let routed = route
            .targets
            .iter()
            .filter_map(|t| {
                outputs[route.from]
                    .targets
                    .iter()
                    .position(|x| x.name == names[*t])
            })
            .collect();
        outputs[route.from].router = Some((router, routed));
    }
    Wiring {
        inputs,
        outputs,
        predecessors,
    }
}
