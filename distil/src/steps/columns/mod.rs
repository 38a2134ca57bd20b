//! Column operations: keep, combine, group, merge, expand.

mod combine;
mod combine_columns;
mod expand;
mod group;
mod keep;
mod merge;

pub use combine::CombineOutputs;
pub use combine_columns::CombineColumns;
pub use expand::ExpandColumns;
pub use group::GroupColumns;
pub use keep::KeepColumns;
pub use merge::MergeColumns;

use crate::column::{ColumnSpec, DataType};

/// Required input columns of any type: these steps move values without reading them.
fn any_type(columns: &[String]) -> Vec<ColumnSpec> {
    columns
        .iter()
        .map(|c| ColumnSpec::new(c, DataType::Json))
        .collect()
}
