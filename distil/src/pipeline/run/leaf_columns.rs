//! The declared type of every column reaching each step, computed from the step specs along
//! the graph: a leaf's batches carry upstream columns as well as its own outputs.

use crate::METADATA_COLUMN;
use crate::column::DataType;
use crate::pipeline::StepOptions;
use crate::step::{Passthrough, StepSpec};

use crate::distiset::sink::Columns;

/// The columns each step emits, by step index; `order` is an execution order and `edges` the
/// `(from, to)` connections.
pub(crate) fn emitted(
    steps: &[(&StepSpec, &StepOptions)],
    edges: &[(usize, usize)],
    order: &[usize],
) -> Vec<Columns> {
    let mut emitted: Vec<Columns> = vec![Vec::new(); steps.len()];
    for &step in order {
        let (spec, options) = steps[step];
        let mut columns: Columns = Vec::new();
        for &(from, _) in edges.iter().filter(|&&(_, to)| to == step) {
            for (name, data_type) in &emitted[from] {
                match columns.iter_mut().find(|(n, _)| n == name) {
                    // The same column from two branches: prefer a declared type to `Json`.
                    Some(slot) if slot.1 == DataType::Json => slot.1 = data_type.clone(),
                    Some(_) => {}
                    None => columns.push((name.clone(), data_type.clone())),
                }
            }
        }
        if let Passthrough::Only(keep) = &spec.passthrough {
            columns = keep
                .iter()
                .map(String::as_str)
                .chain([METADATA_COLUMN])
                .filter_map(|k| columns.iter().find(|(n, _)| n == k).cloned())
                .collect();
        }
        for output in &spec.outputs {
            let name = options
                .output_mappings
                .iter()
                .find(|(from, _)| *from == output.name)
                .map_or(output.name.as_str(), |(_, to)| to.as_str());
            match columns.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = output.data_type.clone(),
                None => columns.push((name.to_owned(), output.data_type.clone())),
            }
        }
        emitted[step] = columns;
    }
    emitted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::ColumnSpec;
    use crate::step::StepKind;

    #[test]
    fn leaf_sees_upstream_columns_renamed_and_kept() {
        let mut load = StepSpec::new("Load", StepKind::Generator);
        load.outputs = vec![
            ColumnSpec::new("prompt", DataType::String),
            ColumnSpec::new("extra", DataType::Bool),
        ];
        let mut count = StepSpec::new("Count", StepKind::Normal);
        count.outputs = vec![ColumnSpec::new("words", DataType::UInt(64))];
        let mut keep = StepSpec::new("Keep", StepKind::Normal);
        keep.passthrough = Passthrough::Only(vec!["words".into(), "instruction".into()]);
        let renamed = StepOptions {
            output_mappings: vec![("prompt".into(), "instruction".into())],
            ..StepOptions::default()
        };
        let plain = StepOptions::default();
        let steps = [(&load, &renamed), (&count, &plain), (&keep, &plain)];
        let out = emitted(&steps, &[(0, 1), (1, 2)], &[0, 1, 2]);
        assert_eq!(
            out[2],
            vec![
                ("words".to_owned(), DataType::UInt(64)),
                ("instruction".to_owned(), DataType::String)
            ]
        );
    }
}
