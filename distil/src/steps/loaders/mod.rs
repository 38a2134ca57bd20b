//! Loaders: generator steps that start a pipeline.

mod dicts;
mod files;

pub use dicts::LoadDataFromDicts;
pub use files::{FileFormat, LoadDataFromFileSystem};

/// The row type of an untyped loader: columns are whatever the data holds, known at run time.
pub struct Untyped;
