//! What a run reuses from the runs before it: the steps' signatures, the batches each
//! persisted step finished (replayed when their input is the same), and a finished run's
//! Distiset.
//!
//! A persisted step's cached batch `k` is replayed only if the step's `k`-th input chunk has
//! exactly the rows (ids, columns, values) that batch `k` was computed from: a changed
//! upstream step, even one whose change no signature can see (new code in a `#[step]`
//! function), makes the step compute from that chunk on, never replay a stale one.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use super::super::Pipeline;
use crate::batch::Batch;
use crate::cache::signature::{Signature, Signer};
use crate::cache::{BatchStore, CachedBatch};
use crate::{METADATA_COLUMN, Value};

/// The file recording that a run finished, for which pipeline and which program.
const FINISHED: &str = ".distil-finished.json";

/// Each step's signature, by step index; `order` is an execution order.
pub(super) fn signatures(pipeline: &Pipeline, order: &[usize]) -> Vec<Signature> {
    let mut signatures: Vec<Option<Signature>> = vec![None; pipeline.nodes.len()];
    let params = pipeline.params();
    for &s in order {
        let node = &pipeline.nodes[s];
        let step = node.step.as_ref().expect("steps are in the pipeline");
        let mut signer = Signer::new("distil-step-v1");
        signer
            .bytes("distil", env!("CARGO_PKG_VERSION").as_bytes())
            .bytes("name", node.name.as_bytes())
            .bytes("spec", format!("{:?}", node.spec).as_bytes())
            .value(
                "mappings",
                &json!([node.options.input_mappings, node.options.output_mappings]),
            )
            .value(
                "params",
                &Value::Object(params[s].1.iter().cloned().collect()),
            )
            .value("describe", &step.describe().unwrap_or(Value::Null))
            .value("data", &step.fingerprint().unwrap_or(Value::Null));
        for &(from, to) in &pipeline.edges {
            if to != s {
                continue;
            }
            let parent = signatures[from].expect("parents come first in the order");
            signer.signature("parent", &parent);
            if let Some(route) = pipeline
                .routes
                .iter()
                .find(|r| r.from == from && r.targets.contains(&s))
            {
                signer.bytes("routed by", route.router.name().as_bytes());
            }
        }
        signatures[s] = Some(signer.finish());
    }
    signatures
        .into_iter()
        .map(|s| s.expect("every step is in the order"))
        .collect()
}

/// The whole pipeline's signature: its steps' (the leaves' cover everything upstream) and
/// the routing seed.
pub(super) fn pipeline_signature(signatures: &[Signature], seed: u64) -> Signature {
    let mut signer = Signer::new("distil-pipeline-v1");
    for signature in signatures {
        signer.signature("step", signature);
    }
    signer.bytes("seed", &seed.to_le_bytes());
    signer.finish()
}

/// The running program, by path, size and modification time: a rebuilt program may compute
/// differently (a `#[task]`'s parsing is code no signature sees), so batches and a finished run
/// are reused only by the program that made them; a rebuilt one computes them again, its LLM
/// answers coming from the response cache.
fn program() -> &'static Value {
    static PROGRAM: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    PROGRAM.get_or_init(running_program)
}

fn running_program() -> Value {
    let Ok(path) = std::env::current_exe() else {
        return Value::Null;
    };
    let meta = std::fs::metadata(&path).ok();
    let modified = meta
        .as_ref()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos().to_string());
    json!({
        "path": path.display().to_string(),
        "size": meta.map(|m| m.len()),
        "modified": modified,
    })
}

/// The record a finished run leaves: its signature, the program, and each Parquet file's
/// size, so a file changed or removed since is noticed.
fn finished_record(signature: &Signature, dir: &Path) -> Value {
    let mut files: Vec<(String, u64)> = Vec::new();
    for entry in walk(dir) {
        if entry.extension().is_some_and(|e| e == "parquet")
            && let (Ok(meta), Ok(relative)) = (std::fs::metadata(&entry), entry.strip_prefix(dir))
        {
            files.push((relative.display().to_string(), meta.len()));
        }
    }
    files.sort();
    json!({ "signature": signature.hex(), "program": program(), "files": files })
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Whether `dir` holds the finished run of this pipeline by this program, untouched since:
/// then the summary that run recorded (`Value::Null` when it recorded none).
pub(super) fn finished(signature: &Signature, dir: &Path) -> Option<Value> {
    let text = std::fs::read(dir.join(FINISHED)).ok()?;
    let mut recorded = serde_json::from_slice::<Value>(&text).ok()?;
    let summary = recorded
        .as_object_mut()
        .and_then(|r| r.remove("summary"))
        .unwrap_or(Value::Null);
    (recorded == finished_record(signature, dir)).then_some(summary)
}

/// Records that the run in `dir` finished, with what its summary says of its steps, for a
/// later run that returns its Distiset as it is.
pub(super) fn mark_finished(
    signature: &Signature,
    dir: &Path,
    summary: Value,
) -> crate::Result<()> {
    let mut record = finished_record(signature, dir);
    record["summary"] = summary;
    crate::distiset::write_atomic(&dir.join(FINISHED), record.to_string().as_bytes())
}

/// Removes the record before a run writes into `dir`.
pub(super) fn unmark_finished(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(FINISHED));
}

/// A persisted step's cache within a run: its batches from earlier runs still to replay, and
/// where its new ones go.
pub(super) struct Persist {
    pub(super) store: BatchStore,
    pub(super) signature: Signature,
    /// Batches of earlier runs not replayed yet.
    cached: VecDeque<CachedBatch>,
    /// The next batch's number.
    next: u64,
    /// Whether batches holding rows this step failed on are computed again (their rows'
    /// answers that did come are in the response cache) instead of replayed.
    retry_failed: bool,
    /// Step names by execution position, for the batches' column producers.
    steps: Arc<[Arc<str>]>,
    /// Batches replayed, for the log.
    pub(super) replayed: u64,
    pub(super) replayed_rows: u64,
}

impl Persist {
    /// `key`: the step's [`store_key`].
    pub(super) fn new(
        store: BatchStore,
        key: Signature,
        cached: Vec<CachedBatch>,
        retry_failed: bool,
        steps: Arc<[Arc<str>]>,
    ) -> Self {
        Persist {
            store,
            signature: key,
            cached: cached.into(),
            next: 0,
            retry_failed,
            steps,
            replayed: 0,
            replayed_rows: 0,
        }
    }

    /// Whether earlier batches are still to replay: only then is a chunk's hash needed.
    pub(super) fn replaying(&self) -> bool {
        !self.cached.is_empty()
    }

    /// The output of `chunk` from the cache, when the next cached batch was computed from
    /// exactly these rows. At the first chunk that differs, the cached batches from there on
    /// are dropped and the step computes.
    pub(super) fn replay(
        &mut self,
        chunk: &Batch,
        input_hash: &[u8; 32],
        step: &str,
    ) -> crate::Result<Option<Batch>> {
        self.replay_front(step, |front| {
            front.consumed == chunk.len() && front.input_hash == *input_hash
        })
    }

    /// A persisted generator's next batch of an earlier run, in order; `None` once they are
    /// all replayed (or at one that holds rows this step failed on, with `retry_failed`: it
    /// and the ones after it are generated again).
    pub(super) fn replay_generated(&mut self, step: &str) -> crate::Result<Option<Batch>> {
        self.replay_front(step, |_| true)
    }

    /// The next cached batch when `fits` says it may be replayed, it decodes, and (with
    /// `retry_failed`) holds no row `step` failed on; otherwise the cached batches from there
    /// on are dropped, in memory and in the store.
    fn replay_front(
        &mut self,
        step: &str,
        fits: impl FnOnce(&CachedBatch) -> bool,
    ) -> crate::Result<Option<Batch>> {
        let Some(front) = self.cached.front() else {
            return Ok(None);
        };
        let output = fits(front)
            .then(|| Batch::decode(&front.payload, &self.steps))
            .flatten()
            .filter(|batch| !(self.retry_failed && failed_in(batch, step)));
        match output {
            Some(batch) => {
                self.cached.pop_front();
                self.next += 1;
                self.replayed += 1;
                self.replayed_rows += batch.len() as u64;
                Ok(Some(batch))
            }
            None => {
                self.cached.clear();
                self.store.truncate(&self.signature, self.next)?;
                Ok(None)
            }
        }
    }

    /// Stores the step's next output batch, computed from `consumed` input rows.
    pub(super) fn record(
        &mut self,
        consumed: usize,
        input_hash: &[u8; 32],
        output: &Batch,
    ) -> crate::Result<()> {
        let payload = output.encode(&self.steps);
        self.store
            .append(&self.signature, self.next, consumed, input_hash, &payload)?;
        self.next += 1;
        Ok(())
    }
}

/// Where a step's batches are kept: its signature, for this program.
pub(super) fn store_key(signature: &Signature) -> Signature {
    let mut signer = Signer::new("distil-batches-v1");
    signer
        .signature("step", signature)
        .value("program", program());
    signer.finish()
}

/// Whether a row of `batch` carries an error of `step`.
fn failed_in(batch: &Batch, step: &str) -> bool {
    batch.column(METADATA_COLUMN).is_some_and(|cells| {
        cells.iter().any(|cell| {
            cell.get("errors")
                .and_then(Value::as_array)
                .is_some_and(|errors| {
                    errors
                        .iter()
                        .any(|e| e.get("step").and_then(Value::as_str) == Some(step))
                })
        })
    })
}
