//! What the macros expand into, and nothing else: re-exports of the code's real homes, under
//! a name versioned by distil's patch version (`__private0`), so macros and runtime of
//! different versions fail loudly. Not public API: names and signatures change without notice.

pub use distil_graph::column_id;
pub use serde_json;

pub use crate::column::cells::{field, row_from_value};
pub use crate::column::typing::{
    AnyColumn, Col, ColumnTypeIs, Grouped, InCol, OutCol, grouped, in_col, out_col,
};
pub use crate::step::function::{
    BatchReturn, RowSink, StepReturn, arg, batch_input, batch_output, column_vec, input, spec,
};
pub use crate::step::params::{param_value, set_param, unknown_param};
pub use distil_macros::{__collect as collect, __define_step as define_step};

/// What `#[task]` and `task_step!` expand into.
pub mod tasks {
    pub use crate::tasks::expansion::*;
}
