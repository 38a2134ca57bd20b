//! # distil
//!
//! Typed synthetic-data and AI-feedback pipelines. Declare a pipeline as a graph of steps with
//! [`pipeline!`]; the compiler rejects a pipeline whose steps need columns that no upstream step
//! produces, or produces with another type; an async runtime then runs it with bounded memory
//! and returns a [`Distiset`].
//!
//! ```
//! use distil::prelude::*;
//! use distil::steps::LoadDataFromDicts;
//!
//! #[derive(Row)]
//! struct Prompt { prompt: String }
//!
//! #[derive(Row)]
//! struct Words { words: u64 }
//!
//! /// Counts the words of the instruction.
//! #[step]
//! fn word_count(instruction: &str) -> Words {
//!     Words { words: instruction.split_whitespace().count() as u64 }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> distil::Result<()> {
//! let prompts = vec![Prompt { prompt: "Write a haiku about Rust".into() }];
//! let mut pipeline = pipeline! {
//!     name: "count-words",
//!     load = LoadDataFromDicts::<Prompt>::new(prompts),
//!         outputs { prompt => instruction },
//!     count = WordCount::new(),
//!     load >> count,
//! };
//! let distiset = pipeline.run().await?;
//! let rows = distiset.default_config().unwrap();
//! assert_eq!(rows.column("words").next(), Some(&serde_json::json!(5)));
//! # Ok(()) }
//! ```
//!
//! Leaving out `outputs { prompt => instruction }` fails to compile:
//!
//! ```text
//! error: step `count` (WordCount) needs column `instruction: String`, but no step upstream produces it
//!          rows reaching it carry `prompt: String` (from `load`)
//!          help: did you mean to map `prompt`? add `inputs { instruction => prompt }` to `count`
//! ```

#![warn(missing_docs)]

// Lets the macros' `::distil::` paths resolve inside this crate too.
extern crate self as distil;

// Versioned by the patch version (`concat!("__private", patch)`, as serde and thiserror do):
// distil-macros expands to this name, so macros and runtime of two versions fail loudly.
#[doc(hidden)]
#[path = "__private.rs"]
pub mod __private0;
const _: () = assert!(
    matches!(env!("CARGO_PKG_VERSION_PATCH").as_bytes(), b"0"),
    "name the module `__private` after the patch version, as distil-macros expands it"
);
mod batch;
pub mod cache;
#[cfg(feature = "cli")]
pub mod cli;
pub mod column;
mod distiset;
mod error;
#[cfg(any(feature = "hub", feature = "llm-clients"))]
mod http;
#[cfg(feature = "hub")]
pub mod hub;
pub mod llm;
#[cfg(feature = "logging")]
pub mod logging;
pub mod pipeline;
pub mod prelude;
pub mod row;
mod secret;
pub mod settings;
pub mod step;
pub mod steps;
pub mod tasks;

pub use batch::{Batch, Branch, Column};
pub use column::{Arg, CellError, ColumnSpec, ColumnValue, DataType};
pub use distiset::{Dataset, Distiset};
pub use error::{Error, Result};
pub use pipeline::{Pipeline, Router, RunOptions, route, sample_n_steps};
pub use row::{Row, RowError, RowId};
pub use secret::Secret;
pub use step::{Step, StepKind};

/// A cell of a row: any JSON value.
pub use serde_json::Value;

/// The column where each row's errors (and, for LLM tasks, raw inputs and outputs) are kept.
/// Joins merge it instead of overwriting it, and KeepColumns always keeps it.
pub const METADATA_COLUMN: &str = "distil_metadata";

#[doc = include_str!("../docs/row.md")]
pub use distil_macros::Row;
#[doc = include_str!("../docs/pipeline.md")]
pub use distil_macros::pipeline;
#[doc = include_str!("../docs/step.md")]
pub use distil_macros::step;
#[doc = include_str!("../docs/task.md")]
pub use distil_macros::task;
