//! A step's loop within a run: a generator's batches, or a consumer's joined and re-chunked
//! input, processed one batch at a time or, for steps that mostly wait (LLM tasks), row by row
//! with many rows in flight.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::future::{AbortHandle, Abortable, Aborted};
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc::Receiver;
use tokio::time::Instant;

use super::super::StepOptions;
use super::super::join::Joiner;
use super::assemble::{Assembler, record_error};
use super::resume::Persist;
use super::run_log::RunLog;
use super::stop::Stop;
use super::wiring::{Message, Outputs};
use crate::Error;
use crate::batch::Batch;
use crate::distiset::sink::LeafSink;
use crate::row::RowId;
use crate::step::StepSpec;
use crate::step::{
    BoxFuture, Concurrent, Input, Output, RowRequests, Rows, SharedProcess, Step, StepKind,
};

/// Rows of a concurrent step running at once, per row its processor wants in flight: rows
/// beyond its LLM's limit wait on the LLM's own limiter, so a row sleeping in a retry's
/// backoff never leaves a request slot empty.
const RUNNING_PER_SLOT: usize = 4;

/// Finished rows a concurrent step holds, per row it wants in flight, while an older row is
/// still running (the reorder buffer that keeps outputs in input order).
const WAITING_PER_SLOT: usize = 16;

/// One step of a run and everything its loop needs.
pub(super) struct StepRun {
    pub(super) name: Arc<str>,
    pub(super) step: Box<dyn Step>,
    pub(super) spec: StepSpec,
    pub(super) options: StepOptions,
    pub(super) input: Option<Receiver<Message>>,
    pub(super) predecessors: Vec<Arc<str>>,
    pub(super) outputs: Outputs,
    pub(super) assembler: Assembler,
    pub(super) dry_run: bool,
    pub(super) log: RunLog,
    pub(super) stop: Stop,
    /// How long work in flight may take to finish once the run is asked to stop.
    pub(super) grace: std::time::Duration,
    /// Where a persisted step's batches come from and go.
    pub(super) persist: Option<Persist>,
}

/// What a finished step gives back: the step (so the pipeline can run again), its result, the
/// rows it sent on, and its sink if it is a leaf.
pub(super) struct Finished {
    pub(super) step: Box<dyn Step>,
    pub(super) persist: Option<Persist>,
    pub(super) result: crate::Result<()>,
    pub(super) rows: u64,
    pub(super) sink: Option<LeafSink>,
}

/// Runs one step to its end.
pub(super) async fn run_step(mut run: StepRun) -> Finished {
    let result = match run.spec.kind {
        StepKind::Generator => generate(&mut run).await,
        StepKind::Normal | StepKind::Global => consume(&mut run).await,
    };
    if result.is_err() {
        // The other steps stop taking rows; what reached the leaves is kept.
        run.stop.stop(super::stop::Cause::Failure);
    }
    run.outputs.finish().await;
    let sink = run.outputs.sink.take();
    Finished {
        step: run.step,
        persist: run.persist,
        result,
        rows: run.outputs.rows,
        sink,
    }
}

async fn generate(run: &mut StepRun) -> crate::Result<()> {
    run.step.start().await.map_err(|e| e.in_step(&run.name))?;
    let mut next: u64 = 0;
    // A persisted generator's batches of an earlier run go on as they were; the generator then
    // starts at the row they reached.
    let mut replayed = 0;
    while let Some(persist) = &mut run.persist {
        let Some(batch) = persist.replay_generated(&run.name)? else {
            break;
        };
        replayed += batch.len();
        next = batch
            .ids
            .iter()
            .map(|id| id.index() + 1)
            .max()
            .unwrap_or(next);
        if !run.outputs.send(batch).await {
            return Ok(());
        }
    }
    if replayed > 0 {
        run.step
            .skip(replayed, run.options.batch_size)
            .await
            .map_err(|e| e.in_step(&run.name))?;
    }
    while !run.stop.is_stopped() {
        let Some(output) = run
            .step
            .generate(run.options.batch_size)
            .await
            .map_err(|e| e.in_step(&run.name))?
        else {
            return Ok(());
        };
        let rows = match output.rows {
            Rows::New(n) => n,
            _ => {
                return Err(Error::fatal(
                    &*run.name,
                    "a generator must return `Output::new_rows`",
                ));
            }
        };
        let ids = (next..next + rows as u64).map(RowId::new).collect();
        next += rows as u64;
        let batch = run
            .assembler
            .assemble(Batch::new(ids, Vec::new(), next), output, &run.log)?;
        record(run, rows, Some([0; 32]), &batch)?;
        if !run.outputs.send(batch).await || run.dry_run {
            return Ok(());
        }
    }
    Ok(())
}

async fn consume(run: &mut StepRun) -> crate::Result<()> {
    run.step.start().await.map_err(|e| e.in_step(&run.name))?;
    let Some(mut input) = run.input.take() else {
        return Err(Error::fatal(&*run.name, "has no predecessor"));
    };
    let global = run.spec.kind == StepKind::Global;
    let mut chunker = Chunker {
        joiner: (run.predecessors.len() > 1).then(|| Joiner::new(&run.predecessors)),
        pending: Batch::default(),
        open: run.predecessors.len(),
        size: if global {
            usize::MAX
        } else {
            run.options.input_batch_size.max(1)
        },
    };
    let Some(concurrent) = run.step.concurrent().filter(|_| !global) else {
        // Steps that compute go on until their input ends, stop or not: the rows still
        // arriving are the work in flight upstream, and they are cheap to finish.
        while let Some((slot, batch)) = input.recv().await {
            for chunk in chunker.accept(slot, batch) {
                let input_hash = input_hash(run, &chunk);
                if let Some(replayed) = replay(run, &chunk, input_hash.as_ref())? {
                    if !run.outputs.send(replayed).await {
                        return Ok(());
                    }
                    continue;
                }
                if !process(run, chunk, input_hash).await? {
                    return Ok(());
                }
            }
            if chunker.open == 0 {
                break;
            }
        }
        return Ok(());
    };
    let mut flight = InFlight::new(concurrent, &run.options.input_mappings);
    let stop = run.stop.clone();
    let mut deadline: Option<Instant> = None;
    loop {
        if deadline.is_none() && stop.is_interrupted() {
            deadline = Some(Instant::now() + run.grace);
            let dropped = flight.drop_waiting();
            if dropped > 0 {
                run.log.info(format!(
                    "step `{}`: {dropped} row(s) waiting for their LLM were not sent after the \
                     stop; the next run sends them",
                    run.name
                ));
            }
        }
        let taking = chunker.open > 0 && deadline.is_none() && !flight.is_full();
        // Once stopped, chunks with a row dropped never complete: the step ends when nothing
        // runs any more (their finished rows' answers are in the response cache).
        if (flight.is_idle() || (deadline.is_some() && flight.running.is_empty())) && !taking {
            return Ok(());
        }
        tokio::select! {
            Some(finished) = flight.running.next(), if !flight.running.is_empty() => {
                if !flight.finished(finished) {
                    continue;
                }
                for chunk in flight.ready() {
                    if !deliver_rows(run, chunk).await? {
                        return Ok(());
                    }
                }
            }
            message = input.recv(), if taking => {
                let Some((slot, batch)) = message else {
                    chunker.open = 0;
                    continue;
                };
                for chunk in chunker.accept(slot, batch) {
                    let input_hash = input_hash(run, &chunk);
                    if let Some(replayed) = replay(run, &chunk, input_hash.as_ref())? {
                        if !run.outputs.send(replayed).await {
                            return Ok(());
                        }
                        continue;
                    }
                    flight.start(chunk, input_hash);
                }
            }
            () = stop.stopped(), if deadline.is_none() && !stop.is_stopped() => {}
            () = sleep_until(deadline), if deadline.is_some() => {
                let left = flight.running.len();
                run.log.warn(format!(
                    "step `{}`: {left} row(s) still running {:?} after the stop were abandoned",
                    run.name, run.grace
                ));
                return Ok(());
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
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

/// A row processed: its chunk's sequence number, its place in the chunk, the one-row batch
/// and the result.
type Processed = (u64, usize, Batch, crate::Result<Output>);

/// One row's batch and what the step made of it.
type RowResult = (Batch, crate::Result<Output>);

/// A chunk whose rows are in flight.
struct Chunk {
    /// The chunk's own watermark, which its rows' batches do not carry.
    through: u64,
    /// The chunk's content hash, for a persisted step.
    input_hash: Option<[u8; 32]>,
    rows: Vec<Option<RowResult>>,
    left: usize,
}

/// A chunk whose rows all finished, with its rows' results in order.
struct FinishedChunk {
    through: u64,
    input_hash: Option<[u8; 32]>,
    rows: Vec<RowResult>,
}

/// A concurrent step's rows in flight, and the finished ones waiting for their turn: each row
/// runs on its own, so a slow or retrying row never holds back the others, and results go on
/// chunk by chunk in input order, so runs stay deterministic.
struct InFlight {
    processor: Arc<dyn SharedProcess>,
    mappings: Arc<[(String, String)]>,
    running: FuturesUnordered<BoxFuture<'static, Result<Processed, Aborted>>>,
    /// Where each running row's LLM requests stand, and how to drop it.
    requests: HashMap<(u64, usize), (Arc<RowRequests>, AbortHandle)>,
    /// Set at a stop: rows that reach the point of sending then are turned away.
    stopping: Arc<std::sync::atomic::AtomicBool>,
    chunks: BTreeMap<u64, Chunk>,
    next_start: u64,
    next_send: u64,
    /// Rows finished, still held because an older row is running.
    waiting: usize,
    /// Rows running at most.
    max_running: usize,
    /// Finished rows held at most.
    max_waiting: usize,
}

impl InFlight {
    fn new(concurrent: Concurrent, mappings: &[(String, String)]) -> Self {
        let slots = concurrent.rows_in_flight.max(1);
        InFlight {
            processor: concurrent.processor,
            mappings: mappings.to_vec().into(),
            running: FuturesUnordered::new(),
            requests: HashMap::new(),
            stopping: Arc::default(),
            chunks: BTreeMap::new(),
            next_start: 0,
            next_send: 0,
            waiting: 0,
            max_running: slots * RUNNING_PER_SLOT,
            max_waiting: slots * WAITING_PER_SLOT,
        }
    }

    fn is_idle(&self) -> bool {
        self.chunks.is_empty()
    }

    /// No chunk starts while enough rows run, nor while too many finished rows wait behind a
    /// slow one: memory stays bounded however long one row takes.
    fn is_full(&self) -> bool {
        self.running.len() >= self.max_running || self.waiting >= self.max_waiting
    }

    fn start(&mut self, mut chunk: Batch, input_hash: Option<[u8; 32]>) {
        let sequence = self.next_start;
        self.next_start += 1;
        let rows = chunk.len();
        self.chunks.insert(
            sequence,
            Chunk {
                through: chunk.through,
                input_hash,
                rows: (0..rows).map(|_| None).collect(),
                left: rows,
            },
        );
        for place in 0..rows {
            let row = chunk.split_front(1);
            let processor = self.processor.clone();
            let mappings = self.mappings.clone();
            let requests = Arc::new(RowRequests::new(self.stopping.clone()));
            let (abort, registration) = AbortHandle::new_pair();
            let work = requests.clone().scope(async move {
                let result = processor.process(Input::new(&row, &mappings)).await;
                (sequence, place, row, result)
            });
            self.requests.insert((sequence, place), (requests, abort));
            self.running
                .push(Box::pin(Abortable::new(work, registration)));
        }
    }

    /// Takes a row's end; `false` for a row dropped at a stop.
    fn finished(&mut self, ended: Result<Processed, Aborted>) -> bool {
        let Ok((sequence, place, row, result)) = ended else {
            return false;
        };
        let requests = self.requests.remove(&(sequence, place));
        if requests.is_some_and(|(requests, _)| requests.turned_away()) {
            return false;
        }
        let chunk = self.chunks.get_mut(&sequence).expect("a chunk in flight");
        chunk.rows[place] = Some((row, result));
        chunk.left -= 1;
        self.waiting += 1;
        true
    }

    /// Drops the running rows that only wait for their LLM (nothing sent, nothing to keep),
    /// and turns away from now on those that reach the point of sending; how many it dropped.
    fn drop_waiting(&mut self) -> usize {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let mut dropped = 0;
        self.requests.retain(|_, (requests, abort)| {
            let waiting = requests.only_waiting();
            if waiting {
                abort.abort();
                dropped += 1;
            }
            !waiting
        });
        dropped
    }

    /// The finished chunks whose turn has come, each with its rows' results in order.
    fn ready(&mut self) -> Vec<FinishedChunk> {
        let mut ready = Vec::new();
        while let Some(chunk) = self.chunks.get(&self.next_send) {
            if chunk.left > 0 {
                break;
            }
            let chunk = self.chunks.remove(&self.next_send).expect("just seen");
            self.next_send += 1;
            self.waiting -= chunk.rows.len();
            ready.push(FinishedChunk {
                through: chunk.through,
                input_hash: chunk.input_hash,
                rows: chunk
                    .rows
                    .into_iter()
                    .map(|r| r.expect("finished"))
                    .collect(),
            });
        }
        ready
    }
}

/// What a persisted step's cached batch must have been computed from to be replayed for
/// `chunk`: the rows, and what the step would do with them.
fn input_hash(run: &StepRun, chunk: &Batch) -> Option<[u8; 32]> {
    run.persist.as_ref()?;
    let rows = chunk.content_hash();
    let digest = run
        .step
        .replay_digest(Input::new(chunk, &run.options.input_mappings));
    Some(match digest {
        None => rows,
        Some(digest) => crate::cache::sha256(&[rows, digest].concat()),
    })
}

/// The cached output of `chunk`, for a persisted step replaying an earlier run.
fn replay(
    run: &mut StepRun,
    chunk: &Batch,
    input_hash: Option<&[u8; 32]>,
) -> crate::Result<Option<Batch>> {
    match (&mut run.persist, input_hash) {
        (Some(persist), Some(hash)) if persist.replaying() => {
            persist.replay(chunk, hash, &run.name)
        }
        _ => Ok(None),
    }
}

/// Keeps a persisted step's output batch in the cache before it goes on.
fn record(
    run: &mut StepRun,
    consumed: usize,
    input_hash: Option<[u8; 32]>,
    batch: &Batch,
) -> crate::Result<()> {
    match (&mut run.persist, input_hash) {
        (Some(persist), Some(hash)) => persist
            .record(consumed, &hash, batch)
            .map_err(|e| e.in_step(&run.name)),
        _ => Ok(()),
    }
}

/// Processes a chunk and sends the result on; `false` once the successors are gone.
async fn process(
    run: &mut StepRun,
    chunk: Batch,
    input_hash: Option<[u8; 32]>,
) -> crate::Result<bool> {
    let result = run
        .step
        .process(Input::new(&chunk, &run.options.input_mappings))
        .await;
    let consumed = chunk.len();
    let batch = outgoing(run, chunk, result)?;
    record(run, consumed, input_hash, &batch)?;
    Ok(run.outputs.send(batch).await)
}

/// Sends a chunk processed row by row on as one batch; `false` once the successors are gone.
async fn deliver_rows(run: &mut StepRun, chunk: FinishedChunk) -> crate::Result<bool> {
    let mut batch = Batch::watermark(chunk.through);
    let consumed = chunk.rows.len();
    for (row, result) in chunk.rows {
        batch.append(outgoing(run, row, result)?);
    }
    batch.through = chunk.through;
    record(run, consumed, chunk.input_hash, &batch)?;
    Ok(run.outputs.send(batch).await)
}

/// The batch a processed chunk becomes: its output, or its error on every row.
fn outgoing(
    run: &mut StepRun,
    chunk: Batch,
    result: crate::Result<Output>,
) -> crate::Result<Batch> {
    match result {
        Ok(output) => run.assembler.assemble(chunk, output, &run.log),
        Err(e) if e.is_fatal() => Err(e.in_step(&run.name)),
        Err(e) => {
            let mut batch = chunk;
            batch.branches.clear();
            let message = e.to_string();
            for row in 0..batch.len() {
                run.log
                    .row_error(&run.name, batch.ids[row].index(), &message);
                record_error(&mut batch, row, &run.name, &message);
            }
            Ok(batch)
        }
    }
}
