//! The executor: one tokio task per step, bounded channels between them.
//!
//! Memory stays bounded whatever the row count: each edge holds about [`CHANNEL_ROWS`] rows
//! (at least 4 and at most 64 batches), and a step waits when its successors are behind. A panicking or failing step drops
//! its channels, so every other task ends instead of waiting for it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use tokio::sync::mpsc::{Receiver, Sender, channel};

use super::join::Joiner;
use super::progress::{Progress, StepCounter};
use super::routing::Router;
use super::{Pipeline, RunOptions, StepOptions};
use crate::batch::{Batch, Column};
use crate::distiset::run_log::RunLog;
use crate::distiset::shards::PendingShards;
use crate::distiset::sink::{LeafSink, SinkConfig};
use crate::distiset::{Dataset, Distiset, PIPELINE_LOG, PIPELINE_YAML, leaf_columns};
use crate::row::RowId;
use crate::step::{
    BoxFuture, Concurrent, Input, Output, Rows, SharedProcess, Step, StepKind, StepSpec,
};
use crate::{Error, METADATA_COLUMN, Value};

/// Rows an edge holds, about, before its sender waits: small batches get more slots, so steps
/// run ahead of each other instead of waking each other at every batch, while memory stays
/// bounded in rows whatever the batch size.
const CHANNEL_ROWS: usize = 4096;

/// Batch slots of an edge into a step that reads `batch_size` rows at a time.
fn channel_batches(batch_size: usize) -> usize {
    (CHANNEL_ROWS / batch_size.max(1)).clamp(4, 64)
}

/// A batch from the predecessor in `slot`; `None` once that predecessor is done.
type Message = (usize, Option<Batch>);

struct Target {
    sender: Sender<Message>,
    slot: usize,
    name: Arc<str>,
}

/// Where a step's batches go.
struct Outputs {
    targets: Vec<Target>,
    /// The router and the indices (into `targets`) it picks among.
    router: Option<(Router, Vec<usize>)>,
    /// Leaf steps stream their batches to the Distiset's Parquet shards.
    sink: Option<LeafSink>,
    /// Rows sent on, for the log.
    rows: u64,
    /// The same count, for the progress display.
    progress: StepCounter,
}

impl Outputs {
    /// Sends a batch on; `false` once a successor is gone (the run is failing).
    async fn send(&mut self, batch: Batch) -> bool {
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
    async fn finish(&mut self) {
        self.progress.done();
        for target in &self.targets {
            let _ = target.sender.send((target.slot, None)).await;
        }
    }
}

struct Task {
    name: Arc<str>,
    position: usize,
    step: Box<dyn Step>,
    spec: StepSpec,
    options: StepOptions,
    input: Option<Receiver<Message>>,
    predecessors: Vec<Arc<str>>,
    outputs: Outputs,
    dry_run: bool,
    log: RunLog,
    /// Metadata keys with the step's name appended, made once each.
    metadata_keys: Vec<(String, String)>,
}

impl Task {
    /// `key_<step>`: a step's metadata entries never overwrite another step's.
    fn metadata_key(&mut self, key: &str) -> String {
        if let Some((_, named)) = self.metadata_keys.iter().find(|(k, _)| k == key) {
            return named.clone();
        }
        let named = format!("{key}_{}", self.name);
        self.metadata_keys.push((key.to_owned(), named.clone()));
        named
    }
}

pub(crate) async fn execute(
    pipeline: &mut Pipeline,
    order: Vec<usize>,
    options: &RunOptions,
) -> crate::Result<Distiset> {
    if let Some(lost) = pipeline.nodes.iter().find(|n| n.step.is_none()) {
        return Err(Error::fatal(
            &lost.name,
            "the step was lost when an earlier run panicked",
        ));
    }
    let dir = options
        .output_dir
        .clone()
        .unwrap_or_else(|| crate::distiset::default_run_dir(pipeline.name()));
    crate::distiset::create_dir(&dir)?;
    // Rendered before the run takes the routers.
    let description = crate::distiset::pipeline_yaml(pipeline);
    let log = RunLog::new();
    log.info(format!(
        "run of pipeline `{}` started, writing to {}",
        pipeline.name(),
        dir.display()
    ));
    // Cleared when dropped, as the run ends (whatever its outcome).
    let progress = Progress::start(pipeline, &order, options, &log);
    let n = pipeline.nodes.len();
    let position: HashMap<usize, usize> = order.iter().enumerate().map(|(p, &s)| (s, p)).collect();
    let names: Vec<Arc<str>> = pipeline
        .nodes
        .iter()
        .map(|n| Arc::from(n.name.as_str()))
        .collect();

    let mut predecessors: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(from, to) in &pipeline.edges {
        predecessors[to].push(from);
    }
    let mut receivers: Vec<Option<Receiver<Message>>> = Vec::with_capacity(n);
    let mut senders: Vec<Option<Sender<Message>>> = Vec::with_capacity(n);
    for (node, preds) in pipeline.nodes.iter().zip(&predecessors) {
        if preds.is_empty() {
            receivers.push(None);
            senders.push(None);
        } else {
            let (tx, rx) = channel(channel_batches(node.options.input_batch_size) * preds.len());
            receivers.push(Some(rx));
            senders.push(Some(tx));
        }
    }
    let mut outputs: Vec<Outputs> = (0..n)
        .map(|s| Outputs {
            targets: Vec::new(),
            router: None,
            sink: None,
            rows: 0,
            progress: progress.counter(s),
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
    drop(senders);
    for route in std::mem::take(&mut pipeline.routes) {
        let mut router = route.router;
        if let Some(seed) = options.seed {
            router.seed(seed ^ route.from as u64);
        }
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
    let leaves: Vec<usize> = (0..n).filter(|&s| outputs[s].targets.is_empty()).collect();
    let specs: Vec<_> = pipeline
        .nodes
        .iter()
        .map(|n| (&n.spec, &n.options))
        .collect();
    let mut emitted = leaf_columns::emitted(&specs, &pipeline.edges, &order);
    let single = leaves.len() == 1;
    let config_name = |leaf: usize| {
        if single {
            "default".to_owned()
        } else {
            names[leaf].to_string()
        }
    };
    for &leaf in &leaves {
        outputs[leaf].sink = Some(LeafSink::start(SinkConfig {
            dir: dir.join(config_name(leaf)),
            columns: std::mem::take(&mut emitted[leaf]),
            limits: options.shard_limits,
            log: log.clone(),
        })?);
    }

    let mut handles = Vec::with_capacity(n);
    for (s, output) in outputs.into_iter().enumerate() {
        let node = &mut pipeline.nodes[s];
        let step = node.step.take().expect("checked above");
        let task = Task {
            name: names[s].clone(),
            position: position[&s],
            step,
            spec: node.spec.clone(),
            options: node.options.clone(),
            input: receivers[s].take(),
            predecessors: predecessors[s].iter().map(|&p| names[p].clone()).collect(),
            outputs: output,
            dry_run: options.dry_run,
            log: log.clone(),
            metadata_keys: Vec::new(),
        };
        handles.push((s, tokio::spawn(run_task(task))));
    }

    let mut returned = Vec::with_capacity(n);
    let mut first_error: Option<Error> = None;
    let mut sinks: HashMap<usize, LeafSink> = HashMap::new();
    let mut rows_out: Vec<u64> = vec![0; n];
    for (s, handle) in handles {
        match handle.await {
            Ok((step, result, rows, sink)) => {
                returned.push((s, step));
                rows_out[s] = rows;
                if let Some(sink) = sink {
                    sinks.insert(s, sink);
                }
                if let Err(e) = result {
                    first_error.get_or_insert(e);
                }
            }
            Err(join_error) => {
                let message = match join_error.try_into_panic() {
                    Ok(payload) => panic_message(payload),
                    Err(e) => e.to_string(),
                };
                first_error.get_or_insert(Error::Panicked {
                    step: names[s].to_string(),
                    message,
                });
            }
        }
    }
    restore(pipeline, returned, &log);
    // Every sink is finished, even after an error, so no writer thread outlives the run.
    let mut pending: Vec<(usize, PendingShards)> = Vec::new();
    for &leaf in &leaves {
        if let Some(sink) = sinks.remove(&leaf) {
            match sink.finish().await {
                Ok(shards) => pending.push((leaf, shards)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    let errors = log.row_errors();
    for (s, rows) in rows_out.iter().enumerate() {
        let failed = errors.get(&*names[s]).copied().unwrap_or(0);
        log.info(format!(
            "step `{}` emitted {rows} rows ({failed} with errors)",
            names[s]
        ));
    }
    if let Some(e) = first_error {
        for (_, shards) in pending {
            shards.discard();
        }
        log.warn(format!("run failed: {e}"));
        let _ = crate::distiset::write_atomic(&dir.join(PIPELINE_LOG), log.text().as_bytes());
        return Err(e);
    }
    let mut configs = Vec::with_capacity(pending.len());
    let mut committed = Vec::with_capacity(pending.len());
    for (leaf, shards) in pending {
        let rows = shards.rows();
        committed.push((leaf, shards.commit()?, rows));
    }
    for (leaf, files, rows) in committed {
        let name = config_name(leaf);
        log.info(format!(
            "config `{name}`: {rows} rows in {} shard(s)",
            files.len()
        ));
        configs.push((name, Dataset::open(files)?));
    }
    log.info("run finished");
    crate::distiset::write_atomic(&dir.join(PIPELINE_YAML), description.as_bytes())?;
    crate::distiset::write_atomic(&dir.join(PIPELINE_LOG), log.text().as_bytes())?;
    Ok(Distiset::new(dir, configs))
}

fn restore(pipeline: &mut Pipeline, returned: Vec<(usize, Box<dyn Step>)>, log: &RunLog) {
    for (s, step) in returned {
        if let Some(report) = step.report() {
            log.info(format!("step `{}`: {report}", pipeline.nodes[s].name));
        }
        pipeline.nodes[s].step = Some(step);
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast::<&str>()
            .map_or_else(|_| "unknown panic".to_owned(), |s| s.to_string()),
    }
}

/// What a finished task gives back: the step (so the pipeline can run again), its result, the
/// rows it sent on, and its sink if it is a leaf.
type Finished = (Box<dyn Step>, crate::Result<()>, u64, Option<LeafSink>);

/// Runs one step.
async fn run_task(mut task: Task) -> Finished {
    let result = match task.spec.kind {
        StepKind::Generator => generate(&mut task).await,
        StepKind::Normal | StepKind::Global => consume(&mut task).await,
    };
    task.outputs.finish().await;
    let sink = task.outputs.sink.take();
    (task.step, result, task.outputs.rows, sink)
}

async fn generate(task: &mut Task) -> crate::Result<()> {
    task.step.start().await.map_err(|e| e.in_step(&task.name))?;
    let mut next: u64 = 0;
    loop {
        let Some(output) = task
            .step
            .generate(task.options.batch_size)
            .await
            .map_err(|e| e.in_step(&task.name))?
        else {
            return Ok(());
        };
        let rows = match output.rows {
            Rows::New(n) => n,
            _ => {
                return Err(Error::fatal(
                    &*task.name,
                    "a generator must return `Output::new_rows`",
                ));
            }
        };
        let ids = (next..next + rows as u64).map(RowId::new).collect();
        next += rows as u64;
        let batch = assemble(task, Batch::new(ids, Vec::new(), next), output)?;
        if !task.outputs.send(batch).await || task.dry_run {
            return Ok(());
        }
    }
}

async fn consume(task: &mut Task) -> crate::Result<()> {
    task.step.start().await.map_err(|e| e.in_step(&task.name))?;
    let Some(mut input) = task.input.take() else {
        return Err(Error::fatal(&*task.name, "has no predecessor"));
    };
    let global = task.spec.kind == StepKind::Global;
    let mut chunker = Chunker {
        joiner: (task.predecessors.len() > 1).then(|| Joiner::new(&task.predecessors)),
        pending: Batch::default(),
        open: task.predecessors.len(),
        size: if global {
            usize::MAX
        } else {
            task.options.input_batch_size.max(1)
        },
    };
    let mut flight = match task.step.concurrent() {
        Some(concurrent) if !global => Some(InFlight::new(
            concurrent,
            &task.options.input_mappings,
            chunker.size,
        )),
        _ => None,
    };
    loop {
        let message = match &mut flight {
            Some(flight) if !flight.running.is_empty() => {
                let full = flight.is_full();
                tokio::select! {
                    Some(finished) = flight.running.next() => {
                        flight.finished(finished);
                        for (chunk, result) in flight.ready() {
                            if !deliver(task, chunk, result).await? {
                                return Ok(());
                            }
                        }
                        continue;
                    }
                    message = input.recv(), if chunker.open > 0 && !full => message,
                }
            }
            _ if chunker.open > 0 => input.recv().await,
            _ => None,
        };
        let Some((slot, batch)) = message else {
            break;
        };
        for chunk in chunker.accept(slot, batch) {
            match &mut flight {
                Some(flight) => flight.start(chunk),
                None => {
                    if !process(task, chunk).await? {
                        return Ok(());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Joins and re-chunks a step's incoming batches into batches of its input size.
struct Chunker {
    joiner: Option<Joiner>,
    pending: Batch,
    /// Predecessors still sending.
    open: usize,
    /// Rows per chunk (`usize::MAX` for a global step: one chunk at the end).
    size: usize,
}

impl Chunker {
    /// Takes a message and returns the chunks now complete: once the last predecessor is done,
    /// the rest too (a global step's one chunk).
    fn accept(&mut self, slot: usize, batch: Option<Batch>) -> Vec<Batch> {
        let batch = batch.unwrap_or_else(|| {
            self.open -= 1;
            Batch::watermark(u64::MAX)
        });
        let ready = match &mut self.joiner {
            Some(joiner) => {
                joiner.push(slot, batch);
                joiner.release()
            }
            None => batch,
        };
        self.pending.append(ready);
        let mut chunks = Vec::new();
        while self.size != usize::MAX && self.pending.len() >= self.size {
            chunks.push(self.pending.split_front(self.size));
        }
        if self.open == 0 && !self.pending.is_empty() {
            chunks.push(std::mem::take(&mut self.pending));
        }
        chunks
    }
}

type Processed = (u64, Batch, crate::Result<Output>);

/// A concurrent step's batches in flight, and the finished ones waiting for their turn: results
/// go on in input order, so runs stay deterministic.
struct InFlight {
    processor: Arc<dyn SharedProcess>,
    mappings: Arc<[(String, String)]>,
    running: FuturesUnordered<BoxFuture<'static, Processed>>,
    done: BTreeMap<u64, (Batch, crate::Result<Output>)>,
    next_start: u64,
    next_send: u64,
    /// Batches in flight at most.
    limit: usize,
}

impl InFlight {
    fn new(concurrent: Concurrent, mappings: &[(String, String)], batch_size: usize) -> Self {
        // One batch more than the rows asked for, so the LLM never waits for the next batch.
        let limit = concurrent.rows_in_flight.div_ceil(batch_size.max(1)) + 1;
        InFlight {
            processor: concurrent.processor,
            mappings: mappings.to_vec().into(),
            running: FuturesUnordered::new(),
            done: BTreeMap::new(),
            next_start: 0,
            next_send: 0,
            limit: limit.max(2),
        }
    }

    fn start(&mut self, chunk: Batch) {
        let processor = self.processor.clone();
        let mappings = self.mappings.clone();
        let sequence = self.next_start;
        self.next_start += 1;
        self.running.push(Box::pin(async move {
            let result = processor.process(Input::new(&chunk, &mappings)).await;
            (sequence, chunk, result)
        }));
    }

    /// No batch starts while `limit` are running, nor while finished batches wait behind a slow
    /// one beyond a bound: memory stays bounded however long one row takes.
    fn is_full(&self) -> bool {
        self.running.len() >= self.limit || self.done.len() >= self.limit * 8
    }

    fn finished(&mut self, (sequence, chunk, result): Processed) {
        self.done.insert(sequence, (chunk, result));
    }

    /// The finished batches whose turn has come.
    fn ready(&mut self) -> Vec<(Batch, crate::Result<Output>)> {
        let mut ready = Vec::new();
        while let Some(entry) = self.done.remove(&self.next_send) {
            ready.push(entry);
            self.next_send += 1;
        }
        ready
    }
}

/// Processes a chunk and sends the result on; `false` once the successors are gone.
async fn process(task: &mut Task, chunk: Batch) -> crate::Result<bool> {
    let result = task
        .step
        .process(Input::new(&chunk, &task.options.input_mappings))
        .await;
    deliver(task, chunk, result).await
}

/// Sends a processed chunk on: its output, or its error on every row; `false` once the
/// successors are gone.
async fn deliver(
    task: &mut Task,
    chunk: Batch,
    result: crate::Result<Output>,
) -> crate::Result<bool> {
    let batch = match result {
        Ok(output) => assemble(task, chunk, output)?,
        Err(e) if e.is_fatal() => return Err(e.in_step(&task.name)),
        Err(e) => {
            let mut batch = chunk;
            batch.branches.clear();
            let message = e.to_string();
            for row in 0..batch.len() {
                task.log
                    .row_error(&task.name, batch.ids[row].index(), &message);
                record_error(&mut batch, row, &task.name, &message);
            }
            batch
        }
    };
    Ok(task.outputs.send(batch).await)
}

/// Builds the outgoing batch: the upstream columns the step keeps, for the rows it emits, plus
/// its outputs (renamed by the output mappings) and its row errors.
fn assemble(task: &mut Task, mut chunk: Batch, output: Output) -> crate::Result<Batch> {
    chunk.branches.clear();
    if let crate::step::Passthrough::Only(keep) = &task.spec.passthrough {
        chunk.keep_columns(keep);
    }
    let mut batch = match &output.rows {
        Rows::Same | Rows::New(_) => chunk,
        Rows::From(parents) => {
            if let Some(&bad) = parents.iter().find(|&&p| p as usize >= chunk.len()) {
                return Err(Error::fatal(
                    &*task.name,
                    format!(
                        "emitted a row from input row {bad}, but the batch has {} rows",
                        chunk.len()
                    ),
                ));
            }
            let mut count: HashMap<u32, u32> = HashMap::new();
            for &p in parents {
                *count.entry(p).or_default() += 1;
            }
            let mut seen: HashMap<u32, u32> = HashMap::new();
            let ids = parents
                .iter()
                .map(|&p| {
                    let parent = &chunk.ids[p as usize];
                    if count[&p] == 1 {
                        parent.clone()
                    } else {
                        let k = seen.entry(p).or_default();
                        *k += 1;
                        parent.child(*k - 1)
                    }
                })
                .collect();
            chunk.gather(parents, ids)
        }
    };
    for mut column in output.columns {
        if column.len() != batch.len() {
            return Err(Error::fatal(
                &*task.name,
                format!(
                    "returned {} values for column `{}`, but {} rows",
                    column.len(),
                    column.name(),
                    batch.len()
                ),
            ));
        }
        if let Some((_, to)) = task
            .options
            .output_mappings
            .iter()
            .find(|(from, _)| **from == *column.name)
        {
            column.name = Arc::from(to.as_str());
        }
        column.producer = task.position;
        batch.set_column(column);
    }
    for (row, key, value) in output.metadata {
        let key = task.metadata_key(&key);
        if let Some(entry) = metadata_entry(&mut batch, row as usize) {
            entry.insert(key, value);
        }
    }
    for (row, message) in &output.errors {
        if let Some(id) = batch.ids.get(*row as usize) {
            task.log.row_error(&task.name, id.index(), message);
        }
        record_error(&mut batch, *row as usize, &task.name, message);
    }
    Ok(batch)
}

/// Appends `{step, message}` to the row's `errors` in the metadata column.
fn record_error(batch: &mut Batch, row: usize, step: &str, message: &str) {
    let Some(entry) = metadata_entry(batch, row) else {
        return;
    };
    let errors = entry
        .entry("errors")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = errors {
        list.push(serde_json::json!({ "step": step, "message": message }));
    }
}

/// The row's metadata object, made when missing.
fn metadata_entry(batch: &mut Batch, row: usize) -> Option<&mut serde_json::Map<String, Value>> {
    if row >= batch.len() {
        return None;
    }
    if batch.column(METADATA_COLUMN).is_none() {
        batch.set_column(Column::new(
            METADATA_COLUMN,
            vec![Value::Null; batch.len()],
            0,
        ));
    }
    let column = batch
        .columns
        .iter_mut()
        .find(|c| &*c.name == METADATA_COLUMN)
        .expect("just added");
    let cell = column.cell_mut(row);
    if !cell.is_object() {
        *cell = Value::Object(serde_json::Map::new());
    }
    cell.as_object_mut()
}
