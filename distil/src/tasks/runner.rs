//! What every task does the same way: call the LLM for each row (and each generation), many
//! rows at once, and turn the answers into output columns, `model_name` and metadata.

use std::sync::Arc;

use futures_util::future::join_all;
use serde_json::json;

use super::{MODEL_NAME_COLUMN, Task, fatal};
use crate::Value;
use crate::column::{ColumnSpec, DataType};
use crate::llm::{GenerationParams, Generations, Llm, LlmError, Prompt};
use crate::step::{BoxFuture, Concurrent, Input, Output, SharedProcess, StepSpec};

/// The task's spec as a step: its outputs (lists when generations are grouped) and
/// `model_name`.
pub fn spec<T: Task>(task: &T) -> StepSpec {
    let mut spec = task.spec();
    if task.llm().group_generations() {
        for column in &mut spec.outputs {
            column.data_type = DataType::List(Box::new(column.data_type.clone()));
        }
    }
    spec.outputs
        .push(ColumnSpec::new(MODEL_NAME_COLUMN, DataType::String));
    spec
}

/// Before any row: the LLM's key, the task's own checks.
pub fn prepare<T: Task>(task: &mut T) -> BoxFuture<'_, crate::Result<()>> {
    let result = task
        .llm()
        .llm()
        .check()
        .map_err(|e| fatal(e.message()))
        .and_then(|()| task.check().map_err(fatal));
    Box::pin(async move { result })
}

/// Batches one at a time (the runtime uses [`concurrent`] instead).
pub fn process<'a, T: Task>(
    task: &'a mut T,
    input: Input<'a>,
) -> BoxFuture<'a, crate::Result<Output>> {
    let params = super::effective_params(task);
    Box::pin(async move { run_batch(task, &params, input).await })
}

/// Several batches at once. The LLM's own limit is the gate on requests in flight: rows are
/// fed to it beyond its concurrency (twice as many requests' worth), so that it stays busy
/// while some rows wait in retry backoff.
pub fn concurrent<T: Task>(task: &mut T) -> Concurrent {
    let settings = task.llm();
    let llm = settings.llm();
    let requests_per_row = if llm.supports_n() {
        1
    } else {
        settings.num_generations().max(1)
    };
    let rows = (2 * llm.max_concurrency()).div_ceil(requests_per_row);
    Concurrent {
        processor: Arc::new(Runner {
            params: super::effective_params(task),
            task: task.clone(),
        }),
        rows_in_flight: rows.max(1),
    }
}

/// The task's LLM, for `pipeline.yaml`.
pub fn describe<T: Task>(task: &T) -> Option<Value> {
    Some(json!({ "llm": task.llm().llm().describe() }))
}

/// The LLM's usage, for `pipeline.log`.
pub fn report<T: Task>(task: &T) -> Option<String> {
    Some(llm_report(&**task.llm().llm()))
}

/// An LLM's usage line for `pipeline.log`: requests, tokens, answers from the response cache
/// and its adapted concurrency limit; every step calling an LLM reports it in these words.
pub(crate) fn llm_report(llm: &dyn crate::llm::Llm) -> String {
    let usage = llm.usage();
    let limit = match llm.current_limit() {
        Some(limit) => format!(
            ", concurrency limit {limit} of {} (adaptive)",
            llm.max_concurrency()
        ),
        None => String::new(),
    };
    format!(
        "{} `{}`: {} requests ({} failed, {} retries), {} input tokens, {} output tokens, \
         {} answered from the response cache{limit}",
        llm.provider(),
        llm.model_name(),
        usage.requests,
        usage.failed,
        usage.retries,
        usage.input_tokens,
        usage.output_tokens,
        usage.cached
    )
}

/// The task's live status: requests in flight, the concurrency limit when it has adapted
/// below the maximum, the tokens so far, and retries, failed requests and cached answers when
/// there are any.
pub fn status<T: Task>(task: &T) -> Option<crate::step::Status> {
    let llm = task.llm().llm().clone();
    Some(Arc::new(move || llm_status(&*llm)))
}

fn llm_status(llm: &dyn Llm) -> String {
    let usage = llm.usage();
    let mut parts = Vec::new();
    if let Some(in_flight) = llm.in_flight() {
        parts.push(format!("{in_flight} in flight"));
    }
    if let Some(limit) = llm.current_limit().filter(|&l| l < llm.max_concurrency()) {
        parts.push(format!("limit {limit}/{}", llm.max_concurrency()));
    }
    parts.push(format!(
        "{} tokens in, {} out",
        usage.input_tokens, usage.output_tokens
    ));
    for (count, what) in [
        (usage.retries, "retries"),
        (usage.failed, "failed"),
        (usage.cached, "cached"),
    ] {
        if count > 0 {
            parts.push(format!("{count} {what}"));
        }
    }
    parts.join("  ")
}

/// The task's own parameters, then `num_generations`, then the generation parameters.
pub fn params<T: Task>(task: &T) -> Vec<(String, Value)> {
    let mut params = task.task_params();
    params.push((
        "num_generations".to_owned(),
        json!(task.llm().num_generations()),
    ));
    params.push((
        "group_generations".to_owned(),
        json!(task.llm().group_generations()),
    ));
    // A generation parameter named like one of the task's own (EvolInstruct's `seed`, the
    // mutations'; TextClassification's `n`, its labels') is the task's: it is listed once.
    let own: Vec<String> = params.iter().map(|(name, _)| name.clone()).collect();
    params.extend(
        task.llm()
            .params()
            .entries()
            .into_iter()
            .filter(|(name, _)| !own.contains(name)),
    );
    params
}

/// Sets a runtime parameter: the task's own, a generation count, or a generation parameter.
pub fn set_param<T: Task>(task: &mut T, name: &str, value: Value) -> Result<(), String> {
    match task.set_task_param(name, value.clone()) {
        Ok(()) => return Ok(()),
        Err(Some(message)) => return Err(message),
        Err(None) => {}
    }
    let llm = task.llm_mut();
    match name {
        "num_generations" => match value.as_u64() {
            Some(n) if n >= 1 => llm.set_num_generations(n as usize),
            _ => {
                return Err(format!(
                    "`num_generations` takes a whole number >= 1, not {value}"
                ));
            }
        },
        "group_generations" => match value.as_bool() {
            Some(group) => llm.set_group_generations(group),
            None => {
                return Err(format!(
                    "`group_generations` takes true or false, not {value}"
                ));
            }
        },
        _ if crate::llm::params::NAMES.contains(&name) => llm.params_mut().set(name, value)?,
        _ => {
            let known = params(task);
            let known: Vec<&str> = known.iter().map(|(n, _)| n.as_str()).collect();
            return Err(crate::step::params::unknown_param(name, &known));
        }
    }
    Ok(())
}

/// A task shared by its batches in flight.
struct Runner<T> {
    task: T,
    params: GenerationParams,
}

impl<T: Task> SharedProcess for Runner<T> {
    fn process<'a>(&'a self, input: Input<'a>) -> BoxFuture<'a, crate::Result<Output>> {
        Box::pin(run_batch(&self.task, &self.params, input))
    }
}

/// One generation of a row, or why there is none.
struct Generated {
    text: Result<String, String>,
    finish_reason: Option<String>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    /// Whether `output_tokens` is a share of a request's total (several choices, counted
    /// together by the server) rather than the server's count for this generation.
    estimated: bool,
}

/// Calls the LLM for every row (and generation) of a batch at once, and builds the output.
async fn run_batch<T: Task>(
    task: &T,
    params: &GenerationParams,
    input: Input<'_>,
) -> crate::Result<Output> {
    let rows = input.len();
    let settings = task.llm();
    let llm = settings.llm();
    let per_row = settings.num_generations();
    let prompts: Vec<Result<Prompt, String>> =
        (0..rows).map(|r| task.format_input(&input, r)).collect();
    // Where the LLM takes `n`, one request asks for all of a row's generations.
    let (requests_per_row, choices_per_request) = if llm.supports_n() && per_row > 1 {
        (1, per_row)
    } else {
        (per_row, 1)
    };
    let asked_n = params.n.unwrap_or(1).max(1);
    let wanted = choices_per_request * asked_n as usize;
    let several = GenerationParams {
        n: Some(wanted as u32),
        ..params.clone()
    };
    let request_params = if choices_per_request > 1 {
        &several
    } else {
        params
    };
    let calls = prompts.iter().enumerate().flat_map(|(row, prompt)| {
        let count = if prompt.is_ok() { requests_per_row } else { 0 };
        std::iter::repeat_n(row, count)
    });
    let answers = join_all(calls.map(|row| {
        let prompt = prompts[row].as_ref().expect("only rows with a prompt");
        async move { (row, llm.generate(prompt, request_params).await) }
    }))
    .await;
    if let Some((_, Err(e))) = answers
        .iter()
        .find(|(_, a)| matches!(a, Err(e) if e.is_fatal()))
    {
        return Err(fatal(e));
    }
    let mut generated: Vec<Vec<Generated>> = (0..rows).map(|_| Vec::new()).collect();
    for (row, answer) in answers {
        generated[row].extend(split(answer, wanted));
    }

    let model = llm.model_name().to_owned();
    let names: Vec<String> = task.spec().outputs.into_iter().map(|c| c.name).collect();
    let grouped = settings.group_generations();
    let mut builder = Builder::new(names.len(), grouped);
    for (row, prompt) in prompts.iter().enumerate() {
        let prompt = match prompt {
            Ok(prompt) => prompt,
            Err(message) => {
                builder.failed_row(row, format!("formatting the prompt: {message}"));
                continue;
            }
        };
        builder.row(task, &input, row, prompt, &generated[row]);
    }
    Ok(builder.finish(rows, &model, names))
}

/// An answer's choices as generations, `wanted` of them (a server that sent fewer leaves the
/// rest failed); a failed call as `wanted` failed generations.
fn split(answer: Result<Generations, LlmError>, wanted: usize) -> Vec<Generated> {
    let failed = |message: String| Generated {
        text: Err(message),
        finish_reason: None,
        input_tokens: None,
        output_tokens: None,
        estimated: false,
    };
    match answer {
        Err(e) => (0..wanted).map(|_| failed(e.to_string())).collect(),
        Ok(generations) => {
            let choices = generations.choices.len();
            // Servers count the generated tokens of all choices together: with several, each
            // gets an even share, marked as an estimate. The prompt is each choice's input.
            let estimated = choices > 1;
            let output_tokens = generations.output_tokens.map(|t| t / choices.max(1) as u64);
            let mut out: Vec<Generated> = generations
                .choices
                .into_iter()
                .map(|choice| Generated {
                    text: choice
                        .text
                        .ok_or_else(|| "the LLM returned no text".to_owned()),
                    finish_reason: choice.finish_reason,
                    input_tokens: generations.input_tokens,
                    output_tokens,
                    estimated,
                })
                .collect();
            while out.len() < wanted {
                out.push(failed(format!(
                    "the LLM returned {choices} of the {wanted} choices asked for (`n`)"
                )));
            }
            out
        }
    }
}

/// Whether generation stopped at the token limit, by the reasons servers give.
fn cut_by_max_tokens(finish_reason: Option<&str>) -> bool {
    matches!(finish_reason, Some("length" | "max_tokens" | "MAX_TOKENS"))
}

/// Accumulates a batch's output rows.
struct Builder {
    grouped: bool,
    parents: Vec<u32>,
    columns: Vec<Vec<Value>>,
    errors: Vec<(usize, String)>,
    metadata: Vec<(usize, &'static str, Value)>,
}

impl Builder {
    fn new(outputs: usize, grouped: bool) -> Self {
        Builder {
            grouped,
            parents: Vec::new(),
            columns: vec![Vec::new(); outputs],
            errors: Vec::new(),
            metadata: Vec::new(),
        }
    }

    fn push_row(&mut self, parent: usize, cells: Option<Vec<Value>>) -> usize {
        let at = self.parents.len();
        self.parents.push(parent as u32);
        match cells {
            Some(cells) => {
                for (column, cell) in self.columns.iter_mut().zip(cells) {
                    column.push(cell);
                }
            }
            None => {
                for column in &mut self.columns {
                    column.push(Value::Null);
                }
            }
        }
        at
    }

    fn failed_row(&mut self, parent: usize, message: String) {
        let at = self.push_row(parent, None);
        self.errors.push((at, message));
    }

    fn row<T: Task>(
        &mut self,
        task: &T,
        input: &Input<'_>,
        row: usize,
        prompt: &Prompt,
        generations: &[Generated],
    ) {
        let formatted: Vec<Result<Vec<Value>, String>> = generations
            .iter()
            .map(|g| match &g.text {
                Ok(text) => task.format_output(input, row, text).map_err(|e| {
                    if cut_by_max_tokens(g.finish_reason.as_deref()) {
                        format!(
                            "formatting the output: {e} (the answer was cut at max_new_tokens: finish reason `{}`; raise max_new_tokens)",
                            g.finish_reason.as_deref().unwrap_or_default()
                        )
                    } else {
                        format!("formatting the output: {e}")
                    }
                }),
                Err(e) => Err(e.clone()),
            })
            .collect();
        let raw_input = prompt.to_value();
        let raw_output = |g: &Generated| match &g.text {
            Ok(text) => Value::String(text.clone()),
            Err(_) => Value::Null,
        };
        let statistics = |g: &[&Generated]| {
            let tokens = |f: fn(&Generated) -> Option<u64>| {
                let counts: Vec<Value> = g.iter().map(|g| json!(f(g))).collect();
                if counts.len() == 1 {
                    counts.into_iter().next().expect("one")
                } else {
                    Value::Array(counts)
                }
            };
            let mut statistics = json!({
                "input_tokens": tokens(|g| g.input_tokens),
                "output_tokens": tokens(|g| g.output_tokens),
            });
            if g.iter().any(|g| g.estimated) {
                statistics["output_tokens_estimated"] = Value::Bool(true);
            }
            statistics
        };
        if self.grouped {
            let mut cells: Vec<Vec<Value>> = vec![Vec::new(); self.columns.len()];
            let mut messages = Vec::new();
            for result in &formatted {
                match result {
                    Ok(values) => {
                        for (column, value) in cells.iter_mut().zip(values) {
                            column.push(value.clone());
                        }
                    }
                    Err(message) => {
                        for column in &mut cells {
                            column.push(Value::Null);
                        }
                        messages.push(message.clone());
                    }
                }
            }
            let at = self.push_row(row, Some(cells.into_iter().map(Value::Array).collect()));
            for message in messages {
                self.errors.push((at, message));
            }
            let all: Vec<&Generated> = generations.iter().collect();
            self.metadata.push((at, "raw_input", raw_input));
            self.metadata.push((
                at,
                "raw_output",
                Value::Array(generations.iter().map(raw_output).collect()),
            ));
            self.metadata.push((at, "statistics", statistics(&all)));
            return;
        }
        for (generation, result) in generations.iter().zip(formatted) {
            let at = match result {
                Ok(cells) => self.push_row(row, Some(cells)),
                Err(message) => {
                    let at = self.push_row(row, None);
                    self.errors.push((at, message));
                    at
                }
            };
            self.metadata.push((at, "raw_input", raw_input.clone()));
            self.metadata
                .push((at, "raw_output", raw_output(generation)));
            self.metadata
                .push((at, "statistics", statistics(&[generation])));
        }
    }

    fn finish(self, rows: usize, model: &str, names: Vec<String>) -> Output {
        let same = self.parents.len() == rows
            && self
                .parents
                .iter()
                .enumerate()
                .all(|(i, &p)| p as usize == i);
        let count = self.parents.len();
        let mut output = if same {
            Output::same_rows()
        } else {
            Output::from_rows(self.parents)
        };
        output.columns.reserve(self.columns.len() + 1);
        for (name, cells) in names.into_iter().zip(self.columns) {
            output.push_column(name, cells);
        }
        output.push_column(
            MODEL_NAME_COLUMN,
            vec![Value::String(model.to_owned()); count],
        );
        for (row, message) in self.errors {
            output.push_error(row, message);
        }
        for (row, key, value) in self.metadata {
            output.push_metadata(row, key, value);
        }
        output
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Usage;

    struct Busy;

    impl Llm for Busy {
        fn model_name(&self) -> &str {
            "busy"
        }
        fn max_concurrency(&self) -> usize {
            64
        }
        fn current_limit(&self) -> Option<usize> {
            Some(48)
        }
        fn in_flight(&self) -> Option<usize> {
            Some(47)
        }
        fn usage(&self) -> Usage {
            Usage {
                requests: 100,
                retries: 3,
                input_tokens: 1200,
                output_tokens: 3400,
                cached: 10,
                ..Usage::default()
            }
        }
        fn generate<'a>(
            &'a self,
            _: &'a Prompt,
            _: &'a GenerationParams,
        ) -> BoxFuture<'a, Result<Generations, LlmError>> {
            Box::pin(async { Err(LlmError::row("not asked")) })
        }
    }

    #[test]
    fn the_llm_line_shows_what_is_in_flight_and_what_went_wrong() {
        assert_eq!(
            llm_status(&Busy),
            "47 in flight  limit 48/64  1200 tokens in, 3400 out  3 retries  10 cached"
        );
    }
}
