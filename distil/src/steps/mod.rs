//! Built-in steps: loaders and column operations.

mod columns;
mod loaders;

pub use columns::KeepColumns;
pub use loaders::{LoadDataFromDicts, Untyped};
