//! Column operations: keep, combine, group, merge, expand.

mod combine;
mod expand;
mod group;
mod keep;
mod merge;

pub use combine::CombineOutputs;
pub use expand::ExpandColumns;
pub use group::GroupColumns;
pub use keep::KeepColumns;
pub use merge::MergeColumns;
