//! What a function-form `#[step]` expands into: its spec, reading its arguments, and turning
//! what the function returns into the step's output.

use std::fmt::Display;

use crate::column::{Arg, ColumnSpec, ColumnValue};
use crate::row::Row;
use crate::step::{Output, StepKind, StepSpec};
use crate::{Error, Value};

/// The spec of a macro-generated step.
pub fn spec(
    type_name: &str,
    kind: StepKind,
    inputs: Vec<ColumnSpec>,
    outputs: Vec<ColumnSpec>,
) -> StepSpec {
    StepSpec {
        inputs,
        outputs,
        ..StepSpec::new(type_name, kind)
    }
}

/// An input column spec for an argument of type `A`.
pub fn input<'a, A: Arg<'a>>(name: &str) -> ColumnSpec {
    ColumnSpec {
        name: name.to_owned(),
        data_type: <A::Column as ColumnValue>::data_type(),
        required: A::REQUIRED,
    }
}

/// An input column spec for a batch-form argument `Vec<T>`.
pub fn batch_input<T: ColumnValue>(name: &str) -> ColumnSpec {
    ColumnSpec {
        name: name.to_owned(),
        data_type: T::data_type(),
        required: !T::NULLABLE,
    }
}

/// Reads argument `name` of row `row`.
#[inline]
pub fn arg<'a, A: Arg<'a>>(
    column: Option<&'a [Value]>,
    row: usize,
    name: &str,
) -> Result<A, String> {
    A::from_cell(column.map(|c| &c[row])).map_err(|e| format!("column `{name}`: {e}"))
}

/// Reads a whole column for a batch-form argument.
pub fn column_vec<T: ColumnValue>(
    column: Option<&[Value]>,
    len: usize,
    name: &str,
) -> Result<Vec<T>, Error> {
    (0..len)
        .map(|i| {
            T::from_value(column.map(|c| &c[i]))
                .map_err(|e| Error::msg(format!("column `{name}`, row {i}: {e}")))
        })
        .collect()
}

/// Collects a row-form step's results.
pub struct RowSink<R: Row> {
    columns: Vec<Vec<Value>>,
    marker: std::marker::PhantomData<fn(R)>,
    parents: Vec<u32>,
    errors: Vec<(u32, String)>,
    expanded: bool,
}

impl<R: Row> RowSink<R> {
    /// A sink for about `capacity` rows.
    pub fn new(capacity: usize) -> Self {
        RowSink {
            columns: (0..R::width())
                .map(|_| Vec::with_capacity(capacity))
                .collect(),
            marker: std::marker::PhantomData,
            parents: Vec::with_capacity(capacity),
            errors: Vec::new(),
            expanded: false,
        }
    }

    fn push(&mut self, parent: usize, row: R) {
        row.write(&mut self.columns);
        self.parents.push(parent as u32);
    }

    fn fail(&mut self, parent: usize, message: String) {
        self.errors.push((self.parents.len() as u32, message));
        for column in &mut self.columns {
            column.push(Value::Null);
        }
        self.parents.push(parent as u32);
    }

    /// Emits what the step function returned for input row `parent`.
    pub fn emit<T: StepReturn<R>>(&mut self, parent: usize, result: Result<T, String>) {
        match result {
            Ok(value) => value.emit(self, parent),
            Err(message) => self.fail(parent, message),
        }
    }

    /// The step output.
    pub fn finish(self) -> Output {
        let mut output = if self.expanded {
            Output::from_rows(self.parents)
        } else {
            Output::same_rows()
        };
        for (spec, values) in R::columns().into_iter().zip(self.columns) {
            output.push_column(spec.name, values);
        }
        output.errors = self.errors;
        output
    }

    /// A generator's batch; `None` once the generator is exhausted.
    pub fn finish_generated(self) -> Option<Output> {
        if self.parents.is_empty() {
            return None;
        }
        let mut output = Output::new_rows(self.parents.len());
        for (spec, values) in R::columns().into_iter().zip(self.columns) {
            output.push_column(spec.name, values);
        }
        Some(output)
    }

    /// Adds a generated row.
    pub fn generated(&mut self, row: R) {
        let n = self.parents.len();
        self.push(n, row);
    }
}

/// What a row-form step function may return: a row, `Option` (filter), `Vec` (expansion), or
/// `Result` of those (an `Err` is recorded on the row).
#[diagnostic::on_unimplemented(
    message = "a step cannot return `{Self}`",
    note = "return a #[derive(Row)] struct, Option<_> or Vec<_> of one, or a Result of those"
)]
pub trait StepReturn<R: Row> {
    /// Adds the returned rows to `sink`, as children of input row `parent`.
    fn emit(self, sink: &mut RowSink<R>, parent: usize);
}

impl<R: Row> StepReturn<R> for R {
    fn emit(self, sink: &mut RowSink<R>, parent: usize) {
        sink.push(parent, self);
    }
}

impl<R: Row> StepReturn<R> for Option<R> {
    fn emit(self, sink: &mut RowSink<R>, parent: usize) {
        sink.expanded = true;
        if let Some(row) = self {
            sink.push(parent, row);
        }
    }
}

impl<R: Row> StepReturn<R> for Vec<R> {
    fn emit(self, sink: &mut RowSink<R>, parent: usize) {
        sink.expanded = true;
        for row in self {
            sink.push(parent, row);
        }
    }
}

impl StepReturn<()> for bool {
    fn emit(self, sink: &mut RowSink<()>, parent: usize) {
        sink.expanded = true;
        if self {
            sink.push(parent, ());
        }
    }
}

impl<R: Row, T: StepReturn<R>, E: Display> StepReturn<R> for Result<T, E> {
    fn emit(self, sink: &mut RowSink<R>, parent: usize) {
        match self {
            Ok(value) => value.emit(sink, parent),
            Err(e) => sink.fail(parent, e.to_string()),
        }
    }
}

/// What a batch- or global-form step may return: one row per input row, or a `Result` of that
/// (an `Err` is recorded on every row of the batch).
pub trait BatchReturn<R: Row> {
    /// The rows, or the error to record on every row of the batch.
    fn into_rows(self) -> Result<Vec<R>, String>;
}

impl<R: Row> BatchReturn<R> for Vec<R> {
    fn into_rows(self) -> Result<Vec<R>, String> {
        Ok(self)
    }
}

impl<R: Row, E: Display> BatchReturn<R> for Result<Vec<R>, E> {
    fn into_rows(self) -> Result<Vec<R>, String> {
        self.map_err(|e| e.to_string())
    }
}

/// The output of a batch- or global-form step.
pub fn batch_output<R: Row, T: BatchReturn<R>>(result: T, rows: usize) -> crate::Result<Output> {
    let produced = result.into_rows().map_err(Error::msg)?;
    if produced.len() != rows {
        return Err(Error::msg(format!(
            "returned {} rows for a batch of {rows}; return one row per input row",
            produced.len()
        )));
    }
    let mut sink = RowSink::<R>::new(rows);
    for (i, row) in produced.into_iter().enumerate() {
        sink.push(i, row);
    }
    Ok(sink.finish())
}
