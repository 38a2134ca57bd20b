//! Loaders: generator steps that start a pipeline.

mod dicts;
mod files;
#[cfg(feature = "hub")]
mod hub;

pub use dicts::LoadDataFromDicts;
pub use files::{FileFormat, LoadDataFromFileSystem};
#[cfg(feature = "hub")]
pub use hub::LoadDataFromHub;

/// The row type of an untyped loader: columns are whatever the data holds, known at run time.
pub struct Untyped;
