//! The runtime interface of steps: what `#[step]` implements, and what an untyped step
//! implements by hand.

pub(crate) mod function;
pub(crate) mod params;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

pub use distil_graph::{Passthrough, StepKind};

use std::sync::Arc;

use crate::batch::{Batch, Branch, Column};
use crate::column::ColumnSpec;
use crate::row::RowId;
use crate::{Error, Value};

/// A boxed future, as [`Step`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A step's live status for the progress line; see [`Step::status`].
pub type Status = Arc<dyn Fn() -> String + Send + Sync>;

/// What a step declares about itself.
#[derive(Clone, Debug)]
pub struct StepSpec {
    /// The step's type name, for messages.
    pub type_name: String,
    /// Generator, normal or global.
    pub kind: StepKind,
    /// Input columns, by the step's own names.
    pub inputs: Vec<ColumnSpec>,
    /// Output columns, by the step's own names.
    pub outputs: Vec<ColumnSpec>,
    /// Which upstream columns pass through.
    pub passthrough: Passthrough,
    /// `(input, output)`: the output is a list of the input's values, one per branch that
    /// delivered the row, null where that branch failed on it (GroupColumns). The validator
    /// types it from what reaches the input: `Vec<Option<T>>` for each branch's `T`, whatever
    /// the output's declared type.
    pub grouped: Vec<(String, String)>,
}

impl StepSpec {
    /// A spec with no columns that keeps every upstream column.
    pub fn new(type_name: impl Into<String>, kind: StepKind) -> Self {
        StepSpec {
            type_name: type_name.into(),
            kind,
            inputs: Vec::new(),
            outputs: Vec::new(),
            passthrough: Passthrough::All,
            grouped: Vec::new(),
        }
    }
}

/// A step: typed ones come from `#[step]`; implement it by hand for steps whose columns are only
/// known at run time, and mark the impl `#[step(dynamic)]` so `pipeline!` accepts it.
///
/// Normal and global steps implement [`process`](Step::process), generators
/// [`generate`](Step::generate).
///
/// ```
/// use distil::prelude::*;
/// use distil::step::{BoxFuture, Input, Output, StepSpec};
///
/// /// Adds a `<column>_len` column for each configured column.
/// struct Lengths { columns: Vec<String> }
///
/// #[step(dynamic)]
/// impl Step for Lengths {
///     fn spec(&self) -> StepSpec {
///         let mut spec = StepSpec::new("Lengths", StepKind::Normal);
///         for c in &self.columns {
///             spec.inputs.push(ColumnSpec::new(c, DataType::String));
///             spec.outputs.push(ColumnSpec::new(format!("{c}_len"), DataType::UInt(64)));
///         }
///         spec
///     }
///     fn process<'a>(&'a mut self, input: Input<'a>) -> BoxFuture<'a, distil::Result<Output>> {
///         let mut out = Output::same_rows();
///         for c in &self.columns {
///             let lens = input.column(c).unwrap_or_default().iter()
///                 .map(|v| Value::from(v.as_str().map_or(0, str::len))).collect();
///             out = out.column(format!("{c}_len"), lens);
///         }
///         Box::pin(async move { Ok(out) })
///     }
/// }
/// ```
pub trait Step: Send + 'static {
    /// The step's columns and kind; read once per run.
    fn spec(&self) -> StepSpec;

    /// Processes one batch (all rows, for a global step). An `Err` is recorded on every row of
    /// the batch unless it [is fatal](Error::is_fatal).
    fn process<'a>(&'a mut self, input: Input<'a>) -> BoxFuture<'a, crate::Result<Output>> {
        let _ = input;
        Box::pin(async { Err(Error::msg("this step does not process rows")) })
    }

    /// A generator's next batch of at most `batch_size` rows; `None` once exhausted.
    fn generate(&mut self, batch_size: usize) -> BoxFuture<'_, crate::Result<Option<Output>>> {
        let _ = batch_size;
        Box::pin(async { Err(Error::msg("this step does not generate rows")) })
    }

    /// Moves a generator past its first `rows` rows as if it had generated them: a resumed run
    /// replays the batches a [persisted](Self::persists) generator finished before and asks
    /// it for the rest. The default generates them (`batch_size` at a time) and drops them,
    /// which is right for any generator that makes the same rows each run, and costs an LLM
    /// generator nothing, as its answers come from the response cache. A generator that can
    /// seek does so instead.
    fn skip(&mut self, rows: usize, batch_size: usize) -> BoxFuture<'_, crate::Result<()>> {
        Box::pin(async move {
            let mut left = rows;
            while left > 0 {
                let Some(output) = self.generate(batch_size.max(1).min(left)).await? else {
                    return Err(Error::msg(format!(
                        "generated {} rows where an earlier run generated {rows}",
                        rows - left
                    )));
                };
                let Rows::New(made) = output.rows else {
                    return Err(Error::msg("a generator must return `Output::new_rows`"));
                };
                left = left.saturating_sub(made.max(1));
            }
            Ok(())
        })
    }

    /// Called for every step, one after the other, before any step of the run starts: open
    /// files, check the real schema of the data against the declared columns. An error here
    /// stops the run before any row is processed.
    fn prepare(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Called once before the first batch of a run (and of a dry run): reset generators here.
    fn start(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// The step's runtime parameters and their current values.
    fn params(&self) -> Vec<(String, Value)> {
        Vec::new()
    }

    /// For steps that mostly wait (LLM calls): a processor the runtime calls for several
    /// batches at once, so work stays in flight across batch boundaries. Asked once per run,
    /// after [`start`](Step::start); `None` (the default) means batches go through
    /// [`process`](Step::process) one at a time.
    fn concurrent(&mut self) -> Option<Concurrent> {
        None
    }

    /// A line for `pipeline.log` once the run ends (an LLM task reports its requests and
    /// tokens).
    fn report(&self) -> Option<String> {
        None
    }

    /// The LLM the step calls (a task's), whose usage the run's
    /// [summary](crate::pipeline::RunSummary) shows; `None` for steps without one.
    fn llm_in_use(&self) -> Option<Arc<dyn crate::llm::Llm>> {
        None
    }

    /// What the progress line shows after the step's rows while it runs (an LLM task: its
    /// concurrency limit as it adapts, and its tokens), read a few times a second from another
    /// thread. Asked for once, before the run starts; `None` (the default): rows alone.
    fn status(&self) -> Option<Status> {
        None
    }

    /// What `pipeline.yaml` records about the step beside its type and runtime parameters, as
    /// an object of named entries (an LLM task records its LLM: provider, model, URL, limits).
    /// Entries named as secrets (`api_key`, `token`, `password`, ..., the whole name) are
    /// written as null. It is also what a [`Registry`](crate::pipeline::Registry) constructor
    /// rebuilds the step from when a saved pipeline is loaded
    /// ([`Pipeline::from_yaml`](crate::Pipeline::from_yaml)): record every setting the
    /// constructor needs that is no runtime parameter. Entries named as the file's own keys
    /// (`name`, `type_name`, `runtime_parameters`, `input_mappings`, `output_mappings`,
    /// `use_cache`) are left out.
    fn describe(&self) -> Option<Value> {
        None
    }

    /// Called once per run before [`start`](Step::start), with what the run lends its steps:
    /// a step that calls an LLM puts it behind the run's response cache
    /// ([`RunContext::cached_llm`]). Tasks do this themselves.
    fn attach(&mut self, run: &RunContext) {
        let _ = run;
    }

    /// Whether the step's finished output batches are kept in the cache, so a rerun replays
    /// them instead of computing them again: `true` for steps that are slow or cost money
    /// (LLM tasks), `false` (the default) for steps that compute, which are cheaper to run
    /// again than to read back.
    fn persists(&self) -> bool {
        false
    }

    /// For a persisted step: a digest of what the step would do with `input` beyond its rows'
    /// content (an LLM task: the prompts it would send, with their parameters). A cached batch
    /// is replayed only when this is the same as when it was computed, so a changed template or
    /// system prompt never replays answers to other prompts. `None` (the default): the rows
    /// alone decide.
    fn replay_digest(&self, input: Input<'_>) -> Option<[u8; 32]> {
        let _ = input;
        None
    }

    /// What identifies the step's data beyond its parameters, for its cache
    /// [signature](crate::cache): a loader's rows, files (path, size, modification time) or
    /// Hub revision. `None` (the default) when its parameters say it all.
    fn fingerprint(&self) -> Option<Value> {
        None
    }

    /// Overrides one runtime parameter.
    fn set_param(&mut self, name: &str, value: Value) -> Result<(), String> {
        let _ = value;
        let known: Vec<(String, Value)> = self.params();
        let known: Vec<&str> = known.iter().map(|(n, _)| n.as_str()).collect();
        Err(crate::step::params::unknown_param(name, &known))
    }
}

/// What a registered constructor rebuilds a step from: the settings its
/// [`describe`](Step::describe) recorded, read key by key, and the LLMs they name.
///
/// ```
/// use distil::prelude::*;
/// use distil::pipeline::Registry;
/// use distil::step::{BoxFuture, Input, Output, StepSpec};
///
/// struct Shout { column: String }
///
/// #[step(dynamic)]
/// impl Step for Shout {
///     fn spec(&self) -> StepSpec {
///         let mut spec = StepSpec::new("Shout", StepKind::Normal);
///         spec.inputs.push(ColumnSpec::new(&self.column, DataType::String));
///         spec
///     }
///     fn process<'a>(&'a mut self, _input: Input<'a>) -> BoxFuture<'a, distil::Result<Output>> {
///         Box::pin(async { Ok(Output::same_rows()) })
///     }
///     // What the pipeline file records, and the constructor below reads back.
///     fn describe(&self) -> Option<Value> {
///         Some(serde_json::json!({ "column": self.column }))
///     }
/// }
///
/// let mut registry = Registry::new();
/// registry.step("Shout", |settings| Ok(Box::new(Shout { column: settings.get("column")? })));
/// ```
pub struct StepSettings<'a> {
    settings: crate::settings::Settings<'a>,
    llms: &'a LlmBuilder<'a>,
    embeddings: &'a EmbeddingsBuilder<'a>,
}

/// A built-in step type's name and constructor, as the [`Registry`](crate::pipeline::Registry)
/// lists them.
pub(crate) type Builtin = (
    &'static str,
    fn(&StepSettings<'_>) -> Result<Box<dyn Step>, String>,
);

/// Builds the LLM recorded at some settings (by its `provider`).
pub(crate) type LlmBuilder<'a> =
    dyn Fn(&crate::settings::Settings<'_>) -> Result<Arc<dyn crate::llm::Llm>, String> + 'a;

/// Builds the embedding model recorded at some settings (by its `provider`).
pub(crate) type EmbeddingsBuilder<'a> =
    dyn Fn(&crate::settings::Settings<'_>) -> Result<Arc<dyn crate::llm::Embeddings>, String> + 'a;

impl<'a> StepSettings<'a> {
    pub(crate) fn new(
        settings: crate::settings::Settings<'a>,
        llms: &'a LlmBuilder<'a>,
        embeddings: &'a EmbeddingsBuilder<'a>,
    ) -> Self {
        StepSettings {
            settings,
            llms,
            embeddings,
        }
    }

    /// The embedding model recorded at entry `key` (an object naming its `provider`), rebuilt
    /// by the registry's embeddings constructor for that provider; its API key comes from the
    /// environment.
    pub fn embeddings(&self, key: &str) -> Result<Arc<dyn crate::llm::Embeddings>, String> {
        let nested = self.settings.nested(key)?;
        (self.embeddings)(&nested)
    }

    /// The LLM recorded at entry `key` (an object naming its `provider`), rebuilt by the
    /// registry's LLM constructor for that provider; its API key comes from the environment,
    /// as when it was first made.
    pub fn llm(&self, key: &str) -> Result<Arc<dyn crate::llm::Llm>, String> {
        let nested = self.settings.nested(key)?;
        (self.llms)(&nested)
    }

    /// The LLM recorded by `settings` (an object naming its `provider`, found anywhere in the
    /// step's settings, as a pool's members are).
    pub fn llm_from(
        &self,
        settings: &crate::settings::Settings<'_>,
    ) -> Result<Arc<dyn crate::llm::Llm>, String> {
        (self.llms)(settings)
    }
}

impl<'a> std::ops::Deref for StepSettings<'a> {
    type Target = crate::settings::Settings<'a>;

    fn deref(&self) -> &Self::Target {
        &self.settings
    }
}

/// What a run lends each step before it starts (see [`Step::attach`]).
pub struct RunContext {
    pub(crate) responses: Option<crate::cache::ResponseCache>,
    /// Whether cached answers are read (they are stored either way).
    pub(crate) read_cache: bool,
    pub(crate) counts: Arc<crate::llm::CacheCounts>,
}

impl RunContext {
    /// `llm` behind the run's response cache: an answer received before for the same request
    /// (by this or any pipeline) comes from the cache, and every answer received is stored.
    /// `llm` itself when the run has no response cache.
    pub fn cached_llm(&self, llm: Arc<dyn crate::llm::Llm>) -> Arc<dyn crate::llm::Llm> {
        match &self.responses {
            Some(cache) => Arc::new(crate::llm::CachedLlm::new(
                llm,
                cache.clone(),
                self.read_cache,
                self.counts.clone(),
            )),
            None => llm,
        }
    }
}

/// Processes batches through a shared reference, several at once; see [`Step::concurrent`].
pub trait SharedProcess: Send + Sync + 'static {
    /// Processes one batch, as [`Step::process`] does.
    fn process<'a>(&'a self, input: Input<'a>) -> BoxFuture<'a, crate::Result<Output>>;
}

/// A step's concurrent processor and how many rows it wants in flight.
pub struct Concurrent {
    /// The processor.
    pub processor: Arc<dyn SharedProcess>,
    /// Rows to keep in flight: the runtime starts batches until their rows reach this number
    /// (an LLM task asks for its LLM's concurrency limit), and emits results in input order.
    pub rows_in_flight: usize,
}

/// The rows a step sees: input columns by the step's own names (mappings applied).
pub struct Input<'a> {
    batch: &'a Batch,
    mappings: &'a [(String, String)],
}

impl<'a> Input<'a> {
    pub(crate) fn new(batch: &'a Batch, mappings: &'a [(String, String)]) -> Self {
        Input { batch, mappings }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// The ids of the rows.
    pub fn ids(&self) -> &'a [RowId] {
        self.batch.ids()
    }

    /// An input column by the step's name for it; `None` when no upstream step produced it.
    pub fn column(&self, name: &str) -> Option<&'a [Value]> {
        self.batch.column(self.source(name))
    }

    /// The upstream column the step reads as its input `name` (its input mapping, if any):
    /// the name to look up in [`branches`](Input::branches).
    pub fn source<'n>(&self, name: &'n str) -> &'n str
    where
        'a: 'n,
    {
        self.mappings
            .iter()
            .find(|(from, _)| from == name)
            .map_or(name, |(_, to)| to.as_str())
    }

    /// The whole batch, every column under its upstream name.
    pub fn batch(&self) -> &'a Batch {
        self.batch
    }

    /// For a step with several predecessors: each predecessor's view of the joined rows.
    pub fn branches(&self) -> &'a [Branch] {
        &self.batch.branches
    }
}

/// Which input rows the output rows come from.
#[derive(Clone, Debug)]
pub(crate) enum Rows {
    /// One output row per input row.
    Same,
    /// Output row `i` comes from input row `parents[i]` (filters, expansions).
    From(Vec<u32>),
    /// A generator's `n` new rows.
    New(usize),
}

/// What a step returns: new columns, which rows they belong to, and per-row errors.
#[derive(Clone, Debug)]
pub struct Output {
    pub(crate) rows: Rows,
    /// Named by the step's own output names; producers are set when the batch is assembled.
    pub(crate) columns: Vec<Column>,
    pub(crate) errors: Vec<(u32, String)>,
    /// Entries for rows' metadata objects: `(row, key, value)`; the runtime suffixes each key
    /// with the step's name, so steps never overwrite each other's entries.
    pub(crate) metadata: Vec<(u32, Cow<'static, str>, Value)>,
}

impl Output {
    /// One output row per input row.
    pub fn same_rows() -> Self {
        Output {
            rows: Rows::Same,
            columns: Vec::new(),
            errors: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// Output row `i` comes from input row `parents[i]`: a filter lists the kept rows, an
    /// expansion repeats a row once per output.
    pub fn from_rows(parents: Vec<u32>) -> Self {
        Output {
            rows: Rows::From(parents),
            columns: Vec::new(),
            errors: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// A generator's `n` new rows.
    pub fn new_rows(n: usize) -> Self {
        Output {
            rows: Rows::New(n),
            columns: Vec::new(),
            errors: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// Adds an output column (by the step's own name), one cell per output row.
    pub fn column(mut self, name: impl Into<String>, values: Vec<Value>) -> Self {
        self.push_column(name, values);
        self
    }

    /// Records an error on output row `row`; its output cells should be null.
    pub fn error(mut self, row: usize, message: impl Into<String>) -> Self {
        self.errors.push((row as u32, message.into()));
        self
    }

    /// Adds output columns in place.
    pub fn push_column(&mut self, name: impl Into<String>, values: Vec<Value>) {
        self.columns.push(Column::new(name.into(), values, 0));
    }

    /// Adds an output column that is the window `start..start + len` of shared cells: a
    /// loader hands out its rows without copying them.
    pub(crate) fn push_shared(
        &mut self,
        name: &str,
        cells: Arc<Vec<Value>>,
        start: usize,
        len: usize,
    ) {
        self.columns
            .push(Column::shared(name, cells, start, len, 0));
    }

    /// Records an error in place.
    pub fn push_error(&mut self, row: usize, message: impl Into<String>) {
        self.errors.push((row as u32, message.into()));
    }

    /// Adds `key_<step>: value` to output row `row`'s metadata object (the
    /// [`METADATA_COLUMN`](crate::METADATA_COLUMN)), next to what upstream steps put there.
    pub fn push_metadata(&mut self, row: usize, key: impl Into<Cow<'static, str>>, value: Value) {
        self.metadata.push((row as u32, key.into(), value));
    }
}

tokio::task_local! {
    static ROW_REQUESTS: Arc<RowRequests>;
}

/// Where a row's LLM requests stand, for a run asked to stop: a row that only waits for a
/// place at its LLM's limit (or in a retry's backoff) is dropped, and one that reaches the
/// point of sending once the run is stopping is turned away, as nothing of it was paid for or
/// is worth keeping; a row with a request out, or an answer in hand, is let finish.
#[derive(Default)]
pub(crate) struct RowRequests {
    /// The row's LLM says where its requests stand (it called [`request_waiting`]).
    known: std::sync::atomic::AtomicBool,
    in_flight: std::sync::atomic::AtomicUsize,
    answered: std::sync::atomic::AtomicUsize,
    /// The run is stopping (shared by the rows of a step).
    stopping: Arc<std::sync::atomic::AtomicBool>,
    /// A request of the row was not sent because the run is stopping.
    turned_away: std::sync::atomic::AtomicBool,
}

impl RowRequests {
    /// A row of a step whose stop is `stopping`.
    pub(crate) fn new(stopping: Arc<std::sync::atomic::AtomicBool>) -> Self {
        RowRequests {
            stopping,
            ..RowRequests::default()
        }
    }

    /// Whether a request of the row was not sent because the run is stopping: the row is
    /// dropped, as if it had still been waiting.
    pub(crate) fn turned_away(&self) -> bool {
        self.turned_away.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `work` (the row's processing) so that the LLM calls it makes report here.
    pub(crate) fn scope<F: Future>(self: Arc<Self>, work: F) -> impl Future<Output = F::Output> {
        ROW_REQUESTS.scope(self, work)
    }

    /// Whether the row can be dropped with nothing lost: it only waits.
    pub(crate) fn only_waiting(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.known.load(Relaxed)
            && self.in_flight.load(Relaxed) == 0
            && self.answered.load(Relaxed) == 0
    }
}

/// Says that the row being processed waits for a place at its LLM's limit, with no request
/// out. An [`Llm`](crate::llm::Llm) that queues requests calls this before waiting and
/// [`request_sent`] as a request goes out, so that a run asked to stop drops the rows that
/// still wait instead of sending them; one that calls neither has its rows finished.
/// Outside a run it does nothing.
pub fn request_waiting() {
    let _ =
        ROW_REQUESTS.try_with(|row| row.known.store(true, std::sync::atomic::Ordering::Relaxed));
}

/// Says that a request of the row being processed is about to go out; the row counts it in
/// flight until the guard is dropped, and keeps it as paid work once
/// [`answered`](RequestSent::answered) is called. `None` when the run is stopping and the row
/// holds nothing yet: the request must not be sent (the run drops the row; the next run sends
/// it). See [`request_waiting`].
pub fn request_sent() -> Option<RequestSent> {
    use std::sync::atomic::Ordering::Relaxed;
    let row = ROW_REQUESTS.try_with(Arc::clone).ok();
    if let Some(row) = &row {
        if row.stopping.load(Relaxed) && row.only_waiting() {
            row.turned_away.store(true, Relaxed);
            return None;
        }
        row.in_flight.fetch_add(1, Relaxed);
    }
    Some(RequestSent { row })
}

/// A request of a row in flight; see [`request_sent`].
pub struct RequestSent {
    row: Option<Arc<RowRequests>>,
}

impl RequestSent {
    /// The request was answered: the row holds paid work and is let finish.
    pub fn answered(&self) {
        if let Some(row) = &self.row {
            row.answered
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl Drop for RequestSent {
    fn drop(&mut self) {
        if let Some(row) = &self.row {
            row.in_flight
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
