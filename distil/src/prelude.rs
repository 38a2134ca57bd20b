//! `use distil::prelude::*;` brings the macros and the types a pipeline needs.

pub use crate::Row;
pub use crate::column::{ColumnSpec, ColumnValue, DataType};
pub use crate::distiset::{Dataset, Distiset};
pub use crate::pipeline::{Pipeline, Router, RunOptions, route, sample_n_steps};
pub use crate::step::{Step, StepKind};
pub use crate::steps::ChatMessage;
pub use crate::{Value, pipeline, step, task};
