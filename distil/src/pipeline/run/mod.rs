//! One run of a pipeline, split by job: [`wiring`] connects the steps with bounded channels,
//! [`node`] is a step's loop, [`assemble`] turns a step's output into its outgoing batch, and
//! this module plans the run, starts one tokio task per step and finishes it (the Distiset,
//! `pipeline.yaml`, `pipeline.log`).
//!
//! Memory stays bounded whatever the row count: each edge holds a few thousand rows, and a step
//! waits when its successors are behind. A failing step, or a signal, stops the run: generators
//! stop, LLM requests in flight finish within a bounded wait, and the rows that reached the
//! leaves are written as a partial Distiset.

mod assemble;
pub(crate) mod leaf_columns;
mod node;
pub(crate) mod pipeline_yaml;
mod resume;
pub(crate) mod run_dir;
pub(crate) mod run_log;
mod stop;
mod wiring;

use std::collections::HashMap;
use std::sync::Arc;

use tracing::instrument::WithSubscriber;

use self::assemble::Assembler;
use self::node::{Finished, StepRun, run_step};
use self::resume::Persist;
use self::run_log::RunLog;
use self::stop::{Cause, SignalWatch, Stop};
use super::progress::Progress;
use super::{Pipeline, RunOptions};
use crate::cache::{BatchStore, ResponseCache};
use crate::distiset::shards::PendingShards;
use crate::distiset::sink::{LeafSink, SinkConfig};
use crate::distiset::{Dataset, Distiset, PIPELINE_LOG, PIPELINE_YAML};
use crate::step::RunContext;
use crate::{Error, Step};

/// Runs `pipeline` in `order` (an execution order the checks returned).
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
    // Routing is seeded even when the user gives no seed, so a rerun routes rows the same way
    // and finds its answers in the caches.
    let seed = options.seed.unwrap_or_else(|| stable_seed(pipeline.name()));
    // Steps that cost money or time keep their batches (generators too: an LLM generator
    // resumes at the row it had reached); a run without any computes everything again, which
    // costs less than reading it back.
    let persists: Vec<bool> = pipeline
        .nodes
        .iter()
        .map(|n| !options.dry_run && n.step.as_ref().is_some_and(|s| s.persists()))
        .collect();
    let signatures = persists
        .contains(&true)
        .then(|| resume::signatures(pipeline, &order));
    let pipeline_signature = signatures
        .as_deref()
        .map(|signatures| resume::pipeline_signature(signatures, seed));
    let dir = match (&options.output_dir, &pipeline_signature) {
        (Some(dir), _) => dir.clone(),
        // The same pipeline runs again in the same folder: a rerun resumes there.
        (None, Some(signature)) => crate::cache::pipeline_dir(pipeline.name())
            .join("runs")
            .join(&signature.hex()[..16]),
        (None, None) => run_dir::default_run_dir(pipeline.name()),
    };
    // Held until the run ends: a second process on this folder gets a clear error.
    let _lock = run_dir::lock(&dir)?;
    let reuse = options.use_cache
        && !options.retry_failed
        && pipeline.nodes.iter().all(|n| n.options.use_cache);
    if let Some(signature) = &pipeline_signature
        && reuse
        && let Some(record) = resume::finished(signature, &dir)
    {
        tracing::info!(
            "pipeline `{}` finished before with the same steps and data: its Distiset in {} \
             is returned as it is",
            pipeline.name(),
            dir.display()
        );
        let started = std::time::Instant::now();
        let distiset = Distiset::load_from_disk(&dir)?;
        let configs = distiset
            .iter()
            .map(|(name, rows)| (name.to_owned(), rows.len() as u64))
            .collect();
        pipeline.last_run = Some(super::summary::RunSummary::reused(
            pipeline,
            dir,
            started.elapsed(),
            configs,
            Some(&record).filter(|r| !r.is_null()),
        ));
        return Ok(distiset);
    }
    resume::unmark_finished(&dir);
    run_dir::clean_leftovers(&dir);
    // Rendered before the run takes the routers.
    let description = pipeline_yaml::render(pipeline);
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
    let by_position: Arc<[Arc<str>]> = order.iter().map(|&s| names[s].clone()).collect();
    let mut persisted: Vec<Option<Persist>> = (0..n).map(|_| None).collect();
    if let Some(signatures) = &signatures {
        let (store, warning) = BatchStore::open(&crate::cache::pipeline_dir(pipeline.name()))?;
        if let Some(warning) = warning {
            log.warn(warning);
        }
        for s in (0..n).filter(|&s| persists[s]) {
            let key = resume::store_key(&signatures[s]);
            let cached = if options.use_cache && pipeline.nodes[s].options.use_cache {
                store.load(&key)?
            } else {
                store.truncate(&key, 0)?;
                Vec::new()
            };
            persisted[s] = Some(Persist::new(
                store.clone(),
                key,
                cached,
                options.retry_failed,
                by_position.clone(),
            ));
        }
    }
    let responses = if options.response_cache && signatures.is_some() {
        let (cache, warning) = ResponseCache::shared()?;
        if let Some(warning) = warning {
            log.warn(warning);
        }
        Some(cache)
    } else {
        None
    };
    let mut response_counts = Vec::with_capacity(n);
    for node in &mut pipeline.nodes {
        let context = RunContext {
            responses: responses.clone(),
            read_cache: options.use_cache && node.options.use_cache,
            counts: Arc::default(),
        };
        response_counts.push(context.counts.clone());
        if let Some(step) = node.step.as_mut() {
            step.attach(&context);
        }
    }
    let mut wiring = wiring::wire(pipeline, &names, seed, |s| progress.counter(s));

    let leaves: Vec<usize> = (0..n).filter(|&s| wiring.outputs[s].is_leaf()).collect();
    let specs: Vec<_> = pipeline
        .nodes
        .iter()
        .map(|n| (&n.spec, &n.options))
        .collect();
    let mut emitted = leaf_columns::emitted(&specs, &pipeline.edges, &order);
    let config_names: HashMap<usize, String> = leaves
        .iter()
        .map(|&leaf| {
            let name = if leaves.len() == 1 {
                "default".to_owned()
            } else {
                names[leaf].to_string()
            };
            (leaf, name)
        })
        .collect();
    for &leaf in &leaves {
        let warnings = log.clone();
        wiring.outputs[leaf].sink = Some(LeafSink::start(SinkConfig {
            dir: dir.join(&config_names[&leaf]),
            columns: std::mem::take(&mut emitted[leaf]),
            limits: options.shard_limits,
            warn: Box::new(move |message| warnings.warn(message)),
        })?);
    }

    let stop = Stop::default();
    let _signals = options
        .handle_signals
        .then(|| SignalWatch::start(stop.clone()));
    let mut handles = Vec::with_capacity(n);
    // The steps' events go to pipeline.log too.
    let events = log.dispatch();
    let outputs = std::mem::take(&mut wiring.outputs);
    for (s, output) in outputs.into_iter().enumerate() {
        let node = &mut pipeline.nodes[s];
        let step = node.step.take().expect("checked above");
        let run = StepRun {
            name: names[s].clone(),
            step,
            assembler: Assembler::new(
                names[s].clone(),
                position[&s],
                node.spec.passthrough.clone(),
                node.options.output_mappings.clone(),
            ),
            spec: node.spec.clone(),
            options: node.options.clone(),
            input: wiring.inputs[s].take(),
            predecessors: wiring.predecessors[s]
                .iter()
                .map(|&p| names[p].clone())
                .collect(),
            outputs: output,
            dry_run: options.dry_run,
            log: log.clone(),
            stop: stop.clone(),
            grace: options.stop_grace,
            persist: persisted[s].take(),
        };
        handles.push((
            s,
            tokio::spawn(run_step(run).with_subscriber(events.clone())),
        ));
    }

    let mut returned: Vec<(usize, Box<dyn Step>)> = Vec::with_capacity(n);
    let mut first_error: Option<Error> = None;
    let mut sinks: HashMap<usize, LeafSink> = HashMap::new();
    let mut rows_out: Vec<u64> = vec![0; n];
    let mut replayed_rows: Vec<u64> = vec![0; n];
    for (s, handle) in handles {
        match handle.await {
            Ok(Finished {
                step,
                persist,
                result,
                rows,
                sink,
            }) => {
                if let Some(persist) = persist.filter(|p| p.replayed > 0) {
                    replayed_rows[s] = persist.replayed_rows;
                    log.info(format!(
                        "step `{}`: {} batch(es), {} row(s), replayed from the cache {}",
                        names[s],
                        persist.replayed,
                        persist.replayed_rows,
                        persist.store.path().display()
                    ));
                }
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
                stop.stop(Cause::Failure);
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
    // The steps keep their handles on the cache: what they received is committed now.
    if let Some(responses) = &responses {
        responses.flush().await;
    }
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
    for (s, counts) in response_counts.iter().enumerate() {
        let hits = counts.hits.load(std::sync::atomic::Ordering::Relaxed);
        let stored = counts.stored.load(std::sync::atomic::Ordering::Relaxed);
        if hits + stored > 0 {
            log.info(format!(
                "step `{}`: response cache: {hits} answer(s) reused, {stored} stored",
                names[s]
            ));
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
    // What reached the leaves is kept whatever the outcome: a failed or stopped run leaves a
    // partial Distiset, and the rerun finds its LLM answers in the response cache.
    let mut configs = Vec::with_capacity(pending.len());
    let mut written: u64 = 0;
    for (leaf, shards) in pending {
        let rows = shards.rows();
        written += rows as u64;
        let files = shards.commit()?;
        let name = &config_names[&leaf];
        log.info(format!(
            "config `{name}`: {rows} rows in {} shard(s)",
            files.len()
        ));
        configs.push((name.clone(), Dataset::open(files)?));
    }
    let interrupted = match stop.cause() {
        Some(Cause::Signal(signal)) if first_error.is_none() => Some(signal),
        _ => None,
    };
    match (&first_error, interrupted) {
        (Some(e), _) => log.warn(format!(
            "run failed: {e}; the {written} row(s) that reached the leaves are kept in {}",
            dir.display()
        )),
        (None, Some(signal)) => log.warn(format!(
            "run stopped by {signal}; the {written} row(s) that reached the leaves are kept in {}",
            dir.display()
        )),
        (None, None) => log.info("run finished"),
    }
    crate::distiset::write_atomic(&dir.join(PIPELINE_YAML), description.as_bytes())?;
    crate::distiset::write_atomic(&dir.join(PIPELINE_LOG), log.text().as_bytes())?;
    let summary = super::summary::RunSummary::new(
        pipeline,
        dir.clone(),
        log.elapsed(),
        first_error.is_none() && interrupted.is_none(),
        configs
            .iter()
            .map(|(name, rows)| (name.clone(), rows.len() as u64))
            .collect(),
        &rows_out
            .iter()
            .copied()
            .zip(replayed_rows.iter().copied())
            .collect::<Vec<_>>(),
        &log.row_error_reasons(),
    );
    let record = summary.record();
    pipeline.last_run = Some(summary);
    if let Some(e) = first_error {
        return Err(e);
    }
    if let Some(signal) = interrupted {
        return Err(Error::Interrupted {
            pipeline: pipeline.name().to_owned(),
            signal: signal.to_owned(),
            dir: dir.display().to_string(),
            rows: written,
        });
    }
    if let Some(signature) = &pipeline_signature {
        resume::mark_finished(signature, &dir, record)?;
    }
    Ok(Distiset::new(dir, configs))
}

/// A seed that depends on the pipeline's name only: the same on every run.
fn stable_seed(name: &str) -> u64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Gives every step back to the pipeline (so it can run again) and logs its report.
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
