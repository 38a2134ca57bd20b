//! Pipelines: the graph of steps, its validation, and running it.
//!
//! `pipeline!` builds a [`Pipeline`] and checks it at compile time; the builder API here builds
//! the same value without the macro, and [`Pipeline::validate`] applies the same rules (with the
//! same words) when it runs.
//!
//! ```
//! use distil::prelude::*;
//! use distil::steps::{KeepColumns, LoadDataFromDicts};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> distil::Result<()> {
//! let mut pipeline = Pipeline::new("builder");
//! pipeline.add("load", LoadDataFromDicts::untyped(vec![json!({"a": 1, "b": 2})]));
//! pipeline.add("keep", KeepColumns::new(["a"]));
//! pipeline.connect("load", "keep");
//! let distiset = pipeline.run().await?;
//! assert_eq!(distiset.default_config().unwrap().column_names(), ["a"]);
//! # Ok(()) }
//! ```

mod join;
mod progress;
mod registry;
mod routing;
mod run;
mod summary;
mod validate;

pub use registry::{LlmConstructor, Registry, RouterConstructor, StepConstructor};
pub use routing::{Router, route, sample_n_steps};
pub use summary::{RunSummary, StepSummary};

use crate::distiset::Distiset;
use crate::step::{Step, StepSpec};
use crate::{Error, Value};

/// Rows per generated batch and per processed batch unless a step says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 50;

/// Per-step settings of a pipeline.
#[derive(Clone, Debug)]
pub struct StepOptions {
    /// Rows per batch a generator produces.
    pub batch_size: usize,
    /// Rows per batch a step processes.
    pub input_batch_size: usize,
    /// `(step input, upstream column)`: the step reads `upstream column` as `step input`.
    pub input_mappings: Vec<(String, String)>,
    /// `(step output, new name)`: the step's output is written as `new name`.
    pub output_mappings: Vec<(String, String)>,
    /// Whether the step reuses what earlier runs cached for it (its batches and its LLM's
    /// answers); `false` computes it, and what depends on it, again.
    pub use_cache: bool,
}

impl Default for StepOptions {
    fn default() -> Self {
        StepOptions {
            batch_size: DEFAULT_BATCH_SIZE,
            input_batch_size: DEFAULT_BATCH_SIZE,
            input_mappings: Vec::new(),
            output_mappings: Vec::new(),
            use_cache: true,
        }
    }
}

pub(crate) struct Node {
    pub(crate) name: String,
    /// Taken while a run has it.
    pub(crate) step: Option<Box<dyn Step>>,
    pub(crate) spec: StepSpec,
    pub(crate) options: StepOptions,
    /// `batch_size` was set by the builder, which only a generator uses.
    pub(crate) sets_batch_size: bool,
}

pub(crate) struct Route {
    pub(crate) from: usize,
    pub(crate) router: Router,
    pub(crate) targets: Vec<usize>,
}

/// A pipeline: steps, their connections and routing.
pub struct Pipeline {
    name: String,
    description: Option<String>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) edges: Vec<(usize, usize)>,
    pub(crate) routes: Vec<Route>,
    /// Builder mistakes (duplicate or unknown names), reported by `validate`.
    pub(crate) build_problems: Vec<String>,
    /// What the last run did.
    pub(crate) last_run: Option<RunSummary>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .field(
                "steps",
                &self.nodes.iter().map(|n| &n.name).collect::<Vec<_>>(),
            )
            .field("edges", &self.edges)
            .finish_non_exhaustive()
    }
}

/// Sets a step's options; returned by [`Pipeline::add`].
pub struct StepConfig<'p> {
    options: &'p mut StepOptions,
    sets_batch_size: &'p mut bool,
}

impl StepConfig<'_> {
    /// Rows per batch a generator produces; on another step, `validate` reports it (it would be
    /// ignored: [`input_batch_size`](Self::input_batch_size) is the rows per batch a step
    /// processes).
    pub fn batch_size(self, rows: usize) -> Self {
        self.options.batch_size = rows.max(1);
        *self.sets_batch_size = true;
        self
    }

    /// Rows per batch the step processes.
    pub fn input_batch_size(self, rows: usize) -> Self {
        self.options.input_batch_size = rows.max(1);
        self
    }

    /// The step reads `upstream_column` as its input `step_input`.
    pub fn input_mapping(self, step_input: &str, upstream_column: &str) -> Self {
        self.options
            .input_mappings
            .push((step_input.to_owned(), upstream_column.to_owned()));
        self
    }

    /// Whether the step reuses what earlier runs cached for it (default `true`); `false`
    /// computes it again, sending its LLM requests again, and so every step that depends on it.
    pub fn use_cache(self, use_cache: bool) -> Self {
        self.options.use_cache = use_cache;
        self
    }

    /// The step's output `step_output` is written as `new_name`.
    pub fn output_mapping(self, step_output: &str, new_name: &str) -> Self {
        self.options
            .output_mappings
            .push((step_output.to_owned(), new_name.to_owned()));
        self
    }
}

/// How to run a pipeline: runtime parameters, seeds, dry run, where the Distiset is written,
/// what a signal does.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub(crate) params: Vec<(String, String, Value)>,
    pub(crate) seed: Option<u64>,
    pub(crate) dry_run: bool,
    pub(crate) output_dir: Option<std::path::PathBuf>,
    pub(crate) shard_limits: crate::distiset::shards::ShardLimits,
    /// Forced on or off; by default on when stderr is a terminal.
    pub(crate) progress: Option<bool>,
    pub(crate) progress_writer: Option<progress::ProgressWriter>,
    pub(crate) handle_signals: bool,
    pub(crate) stop_grace: std::time::Duration,
    pub(crate) use_cache: bool,
    pub(crate) response_cache: bool,
    pub(crate) retry_failed: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            params: Vec::new(),
            seed: None,
            dry_run: false,
            output_dir: None,
            shard_limits: Default::default(),
            progress: None,
            progress_writer: None,
            handle_signals: true,
            stop_grace: std::time::Duration::from_secs(30),
            use_cache: true,
            response_cache: true,
            retry_failed: false,
        }
    }
}

impl RunOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Overrides runtime parameter `name` of step `step` for this run (and after it). Other
    /// parameters keep their values; an object value is merged into the current one.
    /// `batch_size` and `input_batch_size` are parameters of every step.
    pub fn param(mut self, step: &str, name: &str, value: impl Into<Value>) -> Self {
        self.params
            .push((step.to_owned(), name.to_owned(), value.into()));
        self
    }

    /// Seeds random routing. Without a seed, routing is seeded from the pipeline's name, so
    /// every run of a pipeline routes its rows the same way (and a rerun finds its LLM answers
    /// in the response cache).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Writes the Distiset to `dir` (created if needed) instead of a fresh run directory under
    /// `$DISTIL_CACHE_DIR` (else `$XDG_CACHE_HOME/distil`, else `~/.cache/distil`):
    /// `<cache>/<pipeline name>/runs/<unique id>`.
    pub fn output_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.output_dir = Some(dir.into());
        self
    }

    /// Whether the run reuses what earlier runs left (default `true`): a finished run's
    /// Distiset, each LLM task's finished batches, the LLM answers already received. `false`
    /// computes everything again and sends every request again (what it computes is still
    /// cached for the next run). See [`distil::cache`](crate::cache).
    pub fn use_cache(mut self, use_cache: bool) -> Self {
        self.use_cache = use_cache;
        self
    }

    /// Whether LLM answers go through the response cache (default `true`): an answer
    /// received once, by any run of any pipeline, is never paid for again. `false` neither
    /// reads nor stores answers.
    pub fn response_cache(mut self, enabled: bool) -> Self {
        self.response_cache = enabled;
        self
    }

    /// Sends again the rows whose LLM call failed in the earlier run (default `false`: their
    /// recorded errors are replayed with the rest). The rows answered then still come from
    /// the cache.
    pub fn retry_failed(mut self, retry: bool) -> Self {
        self.retry_failed = retry;
        self
    }

    /// Whether the first SIGINT (Ctrl+C) or SIGTERM stops the run gracefully (`true`, the
    /// default): generators stop, LLM requests in flight finish (within
    /// [`stop_grace`](Self::stop_grace)), the rows that reached the leaves are written as a
    /// partial Distiset, and the run returns [`Error::Interrupted`] saying how to resume. A
    /// second signal ends the process at once. Signals keep their default effect outside runs.
    pub fn handle_signals(mut self, handle: bool) -> Self {
        self.handle_signals = handle;
        self
    }

    /// How long work in flight may take to finish once the run is asked to stop (a signal, or
    /// a failing step); default 30 s. Rows still running then are abandoned (their answers,
    /// when they come, are not waited for).
    pub fn stop_grace(mut self, grace: std::time::Duration) -> Self {
        self.stop_grace = grace;
        self
    }

    /// Rows per Parquet shard at most (default 1,000,000).
    pub fn max_shard_rows(mut self, rows: usize) -> Self {
        self.shard_limits.rows = rows.max(1);
        self
    }

    /// Encoded bytes per Parquet shard, about (default 256 MiB): a shard is closed once it
    /// reaches this size.
    pub fn max_shard_bytes(mut self, bytes: usize) -> Self {
        self.shard_limits.bytes = bytes.max(1);
        self
    }

    /// Shows (`true`) or hides (`false`) the progress display on stderr: a line per running
    /// step with its rows, rows per second, row errors and, when its total is known, a bar and
    /// an ETA, redrawn a few times a second and cleared when the run ends. By default it is
    /// shown when stderr is a terminal (and the program is not a test cargo built). Needs the
    /// `progress` feature (on by default); without it, nothing is shown.
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = Some(show);
        self
    }

    /// Draws the progress display into `writer` instead of stderr, as a terminal 100 columns
    /// wide would show it (with its escape codes), unless [`progress(false)`](Self::progress).
    pub fn progress_to(mut self, writer: impl std::io::Write + Send + 'static) -> Self {
        self.progress_writer = Some(progress::ProgressWriter(std::sync::Arc::new(
            std::sync::Mutex::new(writer),
        )));
        self
    }
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new(name: impl Into<String>) -> Self {
        Pipeline {
            name: name.into(),
            description: None,
            nodes: Vec::new(),
            edges: Vec::new(),
            routes: Vec::new(),
            build_problems: Vec::new(),
            last_run: None,
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pipeline's description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// What the last run (or dry run) did, once it ended, finished or not: rows per config
    /// and per step, failed rows, rows replayed from the cache, each LLM's requests and
    /// tokens, the wall time. Print it for a summary of a few lines:
    ///
    /// ```
    /// use distil::prelude::*;
    /// use distil::steps::LoadDataFromDicts;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> distil::Result<()> {
    /// let mut pipeline = Pipeline::new("summed-up");
    /// pipeline.add("load", LoadDataFromDicts::untyped(vec![serde_json::json!({"a": 1})]));
    /// pipeline.run_with(RunOptions::new().progress(false)).await?;
    /// let summary = pipeline.summary().unwrap();
    /// assert_eq!(summary.rows(), 1);
    /// println!("{summary}");
    /// # Ok(()) }
    /// ```
    pub fn summary(&self) -> Option<&RunSummary> {
        self.last_run.as_ref()
    }

    /// The step names, in the order they were added.
    pub fn step_names(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.name.as_str())
    }

    /// Adds a step under `name` (unique in the pipeline).
    pub fn add(&mut self, name: &str, step: impl Step) -> StepConfig<'_> {
        self.add_boxed(name, Box::new(step))
    }

    /// Adds a boxed step under `name`.
    pub fn add_boxed(&mut self, name: &str, step: Box<dyn Step>) -> StepConfig<'_> {
        if self.index_of(name).is_some() {
            self.build_problems
                .push(format!("step `{name}` is defined twice"));
        }
        let spec = step.spec();
        self.nodes.push(Node {
            name: name.to_owned(),
            step: Some(step),
            spec,
            options: StepOptions::default(),
            sets_batch_size: false,
        });
        let node = self.nodes.last_mut().expect("just pushed");
        StepConfig {
            options: &mut node.options,
            sets_batch_size: &mut node.sets_batch_size,
        }
    }

    /// The options of step `name`.
    pub fn options(&mut self, name: &str) -> Option<StepConfig<'_>> {
        let at = self.index_of(name)?;
        let node = &mut self.nodes[at];
        Some(StepConfig {
            options: &mut node.options,
            sets_batch_size: &mut node.sets_batch_size,
        })
    }

    /// Connects `from >> to`.
    pub fn connect(&mut self, from: &str, to: &str) {
        if let (Some(f), Some(t)) = (self.known(from), self.known(to)) {
            self.edges.push((f, t));
        }
    }

    /// Connects `from` to each of `targets`, sending each batch only to the targets `router`
    /// picks.
    pub fn route<'a>(
        &mut self,
        from: &str,
        router: impl Into<Router>,
        targets: impl IntoIterator<Item = &'a str>,
    ) {
        let Some(f) = self.known(from) else { return };
        let targets: Vec<usize> = targets.into_iter().filter_map(|t| self.known(t)).collect();
        for &t in &targets {
            self.edges.push((f, t));
        }
        self.routes.push(Route {
            from: f,
            router: router.into(),
            targets,
        });
    }

    fn known(&mut self, name: &str) -> Option<usize> {
        let found = self.index_of(name);
        if found.is_none() {
            let known: Vec<String> = self.nodes.iter().map(|n| format!("`{}`", n.name)).collect();
            self.build_problems.push(format!(
                "no step named `{name}` to connect; the steps are {}",
                known.join(", ")
            ));
        }
        found
    }

    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Checks the pipeline: its shape, mappings, and that every step's input columns are produced
    /// upstream with a compatible type. `pipeline!` runs the same rules at compile time.
    pub fn validate(&self) -> crate::Result<()> {
        self.check().map(|_| ())
    }

    /// Validates, then returns the execution order.
    fn check(&self) -> crate::Result<Vec<usize>> {
        let (report, problems) = validate::check(self);
        if problems.is_empty() {
            Ok(report.order)
        } else {
            Err(Error::Invalid {
                pipeline: self.name.clone(),
                problems,
            })
        }
    }

    /// Runs the pipeline to the end and returns its Distiset.
    pub async fn run(&mut self) -> crate::Result<Distiset> {
        self.run_with(RunOptions::default()).await
    }

    /// Runs the pipeline with runtime parameters and other options.
    pub async fn run_with(&mut self, options: RunOptions) -> crate::Result<Distiset> {
        self.last_run = None;
        let started = std::time::Instant::now();
        self.apply_params(&options.params)?;
        self.prepare().await?;
        let order = self.check()?;
        let result = run::execute(self, order, &options).await;
        if let (Ok(distiset), None) = (&result, &self.last_run) {
            // A run finished before with the same steps and data: its Distiset, nothing run.
            let mut summary = RunSummary::new(
                self,
                distiset.dir().to_owned(),
                started.elapsed(),
                true,
                distiset
                    .config_names()
                    .map(|name| {
                        let rows = distiset.config(name).map_or(0, |d| d.len() as u64);
                        (name.to_owned(), rows)
                    })
                    .collect(),
                &[],
                &Default::default(),
            );
            for step in &mut summary.steps {
                step.llm = None;
            }
            self.last_run = Some(summary);
        }
        result
    }

    /// Lets every step open its data and check it, then reads the specs again: a loader's
    /// columns may only be known once its files are open.
    async fn prepare(&mut self) -> crate::Result<()> {
        for node in &mut self.nodes {
            let Some(step) = node.step.as_mut() else {
                continue;
            };
            step.prepare().await.map_err(|e| e.in_step(&node.name))?;
            node.spec = step.spec();
        }
        Ok(())
    }

    /// Sends one row through every step (each generator yields a single batch of one row) and
    /// returns what came out, to check a pipeline before a long run.
    pub async fn dry_run(&mut self) -> crate::Result<Distiset> {
        self.dry_run_with(RunOptions::default()).await
    }

    /// [`dry_run`](Pipeline::dry_run) with runtime parameters and other options: the
    /// parameters are applied as [`run_with`](Pipeline::run_with) applies them. Nothing goes
    /// into the cache: no finished batch, no LLM answer is stored or read, and the Distiset is
    /// written to [`output_dir`](RunOptions::output_dir) when one is given, else to a fresh
    /// folder under the system's temporary directory.
    pub async fn dry_run_with(&mut self, options: RunOptions) -> crate::Result<Distiset> {
        self.apply_params(&options.params)?;
        let saved: Vec<usize> = self.nodes.iter().map(|n| n.options.batch_size).collect();
        for node in &mut self.nodes {
            node.options.batch_size = 1;
        }
        let output_dir = options
            .output_dir
            .clone()
            .unwrap_or_else(|| dry_run_dir(&self.name));
        let options = RunOptions {
            dry_run: true,
            use_cache: false,
            response_cache: false,
            output_dir: Some(output_dir),
            ..options
        };
        self.last_run = None;
        let result = match self.prepare().await.and_then(|()| self.check()) {
            Ok(order) => run::execute(self, order, &options).await,
            Err(e) => Err(e),
        };
        for (node, batch_size) in self.nodes.iter_mut().zip(saved) {
            node.options.batch_size = batch_size;
        }
        result
    }

    pub(crate) fn apply_params(&mut self, params: &[(String, String, Value)]) -> crate::Result<()> {
        for (step, name, value) in params {
            let Some(at) = self.index_of(step) else {
                let known: Vec<String> =
                    self.nodes.iter().map(|n| format!("`{}`", n.name)).collect();
                return Err(Error::UnknownStep {
                    pipeline: self.name.clone(),
                    step: step.clone(),
                    known: known.join(", "),
                });
            };
            let node = &mut self.nodes[at];
            let size = |v: &Value| {
                v.as_u64()
                    .filter(|&n| n > 0)
                    .map(|n| n as usize)
                    .ok_or_else(|| Error::Parameter {
                        step: step.clone(),
                        message: format!("`{name}` must be a positive integer, got {v}"),
                    })
            };
            match name.as_str() {
                "batch_size" => node.options.batch_size = size(value)?,
                "input_batch_size" => node.options.input_batch_size = size(value)?,
                _ => {
                    let Some(instance) = node.step.as_mut() else {
                        return Err(Error::fatal(
                            step.clone(),
                            "the step was lost when an earlier run panicked",
                        ));
                    };
                    instance.set_param(name, value.clone()).map_err(|message| {
                        Error::Parameter {
                            step: step.clone(),
                            message,
                        }
                    })?;
                    node.spec = instance.spec();
                }
            }
        }
        Ok(())
    }

    /// Each step's runtime parameters and their current values.
    pub fn params(&self) -> Vec<(String, Vec<(String, Value)>)> {
        self.nodes
            .iter()
            .map(|n| {
                let mut params = vec![
                    ("batch_size".to_owned(), Value::from(n.options.batch_size)),
                    (
                        "input_batch_size".to_owned(),
                        Value::from(n.options.input_batch_size),
                    ),
                ];
                params.extend(n.step.as_ref().map(|s| s.params()).unwrap_or_default());
                (n.name.clone(), params)
            })
            .collect()
    }
}

/// A fresh folder for a dry run's Distiset, outside the cache.
fn dry_run_dir(pipeline: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let name: String = pipeline
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!(
        "distil-dry-run-{name}-{}-{since_epoch}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ))
}
