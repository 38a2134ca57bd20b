//! What a run did, in numbers: rows per config and per step, failed rows, what came from the
//! caches, each LLM's requests and tokens, and the wall time. [`Pipeline::summary`] holds the
//! last run's; its `Display` is the few lines a program prints when the run ends.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::Pipeline;
use crate::llm::LlmUsage;

/// The summary of a run; see [`Pipeline::summary`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RunSummary {
    /// The pipeline's name.
    pub pipeline: String,
    /// Where the Distiset is.
    pub dir: PathBuf,
    /// From the start of the run to its end.
    pub wall_time: Duration,
    /// Whether it ran to the end (not failed, not stopped by a signal).
    pub finished: bool,
    /// Whether nothing ran: an earlier run of the same steps on the same data had finished in
    /// [`dir`](Self::dir), and its Distiset was returned as it is. The steps' rows and failures
    /// are that run's, as it recorded them; every row counts as replayed, and no LLM was called.
    pub reused: bool,
    /// Rows per config of the Distiset (one per leaf step).
    pub configs: Vec<(String, u64)>,
    /// Each step, in the order they were added.
    pub steps: Vec<StepSummary>,
}

/// One step's part of a [`RunSummary`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StepSummary {
    /// The step's name.
    pub name: String,
    /// Rows it emitted.
    pub rows: u64,
    /// Rows it recorded an error on.
    pub failed_rows: u64,
    /// Why they failed: each reason (the start of the error message) with its rows, most
    /// frequent first.
    pub failures: Vec<(String, u64)>,
    /// Rows replayed from its cached batches instead of being computed.
    pub replayed_rows: u64,
    /// What its LLM spent, for a task.
    pub llm: Option<LlmUsage>,
}

impl RunSummary {
    /// `emitted` holds each step's rows emitted and rows replayed from the cache, by step
    /// index; `failed` the rows with an error by step name and reason.
    pub(crate) fn new(
        pipeline: &Pipeline,
        dir: PathBuf,
        wall_time: Duration,
        finished: bool,
        configs: Vec<(String, u64)>,
        emitted: &[(u64, u64)],
        failed: &BTreeMap<String, BTreeMap<String, u64>>,
    ) -> Self {
        let steps = pipeline
            .nodes
            .iter()
            .enumerate()
            .map(|(s, node)| StepSummary {
                name: node.name.clone(),
                rows: emitted.get(s).map_or(0, |e| e.0),
                failed_rows: failed.get(&node.name).map_or(0, |r| r.values().sum()),
                failures: failed.get(&node.name).map_or_else(Vec::new, |reasons| {
                    let mut reasons: Vec<(String, u64)> =
                        reasons.iter().map(|(r, n)| (r.clone(), *n)).collect();
                    reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                    reasons
                }),
                replayed_rows: emitted.get(s).map_or(0, |e| e.1),
                llm: node
                    .step
                    .as_ref()
                    .and_then(|step| step.llm_in_use())
                    .map(|llm| LlmUsage {
                        provider: llm.provider().to_owned(),
                        model: llm.model_name().to_owned(),
                        usage: llm.usage(),
                    }),
            })
            .collect();
        RunSummary {
            pipeline: pipeline.name().to_owned(),
            dir,
            wall_time,
            finished,
            reused: false,
            configs,
            steps,
        }
    }

    /// What a finished run records for a later run that returns its Distiset as it is: each
    /// step's rows and failures.
    pub(crate) fn record(&self) -> serde_json::Value {
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .map(|step| {
                serde_json::json!({
                    "name": step.name,
                    "rows": step.rows,
                    "failed_rows": step.failed_rows,
                    "failures": step.failures,
                })
            })
            .collect();
        serde_json::json!({ "steps": steps })
    }

    /// The summary of a run that returned the Distiset of an earlier finished run in `dir`
    /// (`configs`: its rows per config) without running: the steps' counts come from that
    /// run's [`record`](Self::record) (a step it does not name counts nothing), their LLMs
    /// with no usage.
    pub(crate) fn reused(
        pipeline: &Pipeline,
        dir: PathBuf,
        wall_time: Duration,
        configs: Vec<(String, u64)>,
        record: Option<&serde_json::Value>,
    ) -> Self {
        let recorded = |name: &str| {
            record
                .and_then(|r| r["steps"].as_array())
                .and_then(|steps| steps.iter().find(|s| s["name"] == name))
        };
        let steps = pipeline
            .nodes
            .iter()
            .map(|node| {
                let step = recorded(&node.name);
                let count = |key: &str| step.and_then(|s| s[key].as_u64()).unwrap_or(0);
                let failures = step
                    .and_then(|s| serde_json::from_value(s["failures"].clone()).ok())
                    .unwrap_or_default();
                StepSummary {
                    name: node.name.clone(),
                    rows: count("rows"),
                    failed_rows: count("failed_rows"),
                    failures,
                    replayed_rows: count("rows"),
                    llm: node
                        .step
                        .as_ref()
                        .and_then(|step| step.llm_in_use())
                        .map(|llm| LlmUsage {
                            provider: llm.provider().to_owned(),
                            model: llm.model_name().to_owned(),
                            usage: crate::llm::Usage::default(),
                        }),
                }
            })
            .collect();
        RunSummary {
            pipeline: pipeline.name().to_owned(),
            dir,
            wall_time,
            finished: true,
            reused: true,
            configs,
            steps,
        }
    }

    /// Rows in the Distiset, all configs together.
    pub fn rows(&self) -> u64 {
        self.configs.iter().map(|(_, rows)| rows).sum()
    }

    /// Rows with an error, all steps together.
    pub fn failed_rows(&self) -> u64 {
        self.steps.iter().map(|s| s.failed_rows).sum()
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reused {
            writeln!(
                f,
                "pipeline `{}` had finished before with the same steps and data: {} rows ({} \
                 failed) in {}, returned as they are",
                self.pipeline,
                self.rows(),
                self.failed_rows(),
                self.dir.display()
            )?;
        } else {
            writeln!(
                f,
                "pipeline `{}` {} in {:.1} s: {} rows ({} failed) in {}",
                self.pipeline,
                if self.finished { "finished" } else { "stopped" },
                self.wall_time.as_secs_f64(),
                self.rows(),
                self.failed_rows(),
                self.dir.display()
            )?;
        }
        if self.configs.len() > 1 {
            for (name, rows) in &self.configs {
                writeln!(f, "  config `{name}`: {rows} rows")?;
            }
        }
        for step in &self.steps {
            write!(f, "  step `{}`: {} rows", step.name, step.rows)?;
            if step.failed_rows > 0 {
                write!(f, ", {} failed", step.failed_rows)?;
            }
            if step.replayed_rows > 0 {
                write!(f, ", {} replayed from the cache", step.replayed_rows)?;
            }
            if let Some(llm) = &step.llm {
                let usage = &llm.usage;
                write!(
                    f,
                    "; {} `{}`: {} requests ({} failed, {} retries), {} tokens in, {} out, \
                     {} answers from the response cache",
                    llm.provider,
                    llm.model,
                    usage.requests,
                    usage.failed,
                    usage.retries,
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.cached
                )?;
            }
            writeln!(f)?;
            for (reason, rows) in &step.failures {
                writeln!(f, "    {rows} failed: {reason}")?;
            }
        }
        Ok(())
    }
}
