//! CombineColumns: distilabel's name for gathering the same columns of several branches into
//! lists (`generation` of three LLMs → `generations`).

use super::GroupColumns;
use crate::step::{BoxFuture, Input, Output, Step, StepSpec};
use crate::{Error, step};

/// distilabel's `CombineColumns(columns=.., output_columns=..)`: for a step with several
/// predecessors, turns each of `columns` into a list with one value per predecessor that
/// delivered the row, in the order they were connected. It is [`GroupColumns`] under
/// distilabel's name and defaults: the output columns default to `merged_<column>`.
///
/// Columns: reads `columns` (any type); writes `output_columns` (`Vec<Value>`).
///
/// ```
/// use distil::steps::CombineColumns;
///
/// let combine = CombineColumns::new(["generation", "model_name"])
///     .output_columns(["generations", "model_names"]);
/// ```
#[derive(Clone, Debug)]
pub struct CombineColumns {
    columns: Vec<String>,
    output_columns: Option<Vec<String>>,
    group: GroupColumns,
}

impl CombineColumns {
    /// Combines `columns` into `merged_<column>`.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        let columns: Vec<String> = columns.into_iter().map(Into::into).collect();
        let merged: Vec<String> = columns.iter().map(|c| format!("merged_{c}")).collect();
        CombineColumns {
            group: GroupColumns::new(columns.clone()).output_columns(merged),
            columns,
            output_columns: None,
        }
    }

    /// Names the combined columns, one per column in the same order; a different number of
    /// names is an error when the pipeline starts.
    #[must_use]
    pub fn output_columns<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        self.group = GroupColumns::new(self.columns.clone()).output_columns(names.clone());
        self.output_columns = Some(names);
        self
    }
}

impl CombineColumns {
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn Step>, String> {
        let mut step = CombineColumns::new(settings.get::<Vec<String>>("columns")?);
        if let Some(names) = settings.optional::<Vec<String>>("output_columns")? {
            step = step.output_columns(names);
        }
        Ok(Box::new(step))
    }
}

#[step(dynamic)]
impl Step for CombineColumns {
    fn describe(&self) -> Option<crate::Value> {
        Some(serde_json::json!({"columns": self.columns, "output_columns": self.output_columns}))
    }

    fn spec(&self) -> StepSpec {
        let mut spec = Step::spec(&self.group);
        spec.type_name = "CombineColumns".into();
        if let Some(names) = &self.output_columns {
            spec.outputs.truncate(names.len());
        }
        spec
    }

    fn start(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        let result = match &self.output_columns {
            Some(names) if names.len() != self.columns.len() => Err(Error::msg(format!(
                "CombineColumns got {} output_columns for {} columns; give one name per column",
                names.len(),
                self.columns.len()
            ))),
            _ => Ok(()),
        };
        Box::pin(async move { result })
    }

    fn process<'a>(&'a mut self, input: Input<'a>) -> BoxFuture<'a, crate::Result<Output>> {
        self.group.process(input)
    }
}

#[cfg(test)]
mod tests {
    use super::CombineColumns;
    use crate::Step;

    #[test]
    fn outputs_default_to_merged_names() {
        let names = |c: &CombineColumns| -> Vec<String> {
            c.spec().outputs.into_iter().map(|c| c.name).collect()
        };
        let combine = CombineColumns::new(["generation", "model_name"]);
        assert_eq!(names(&combine), ["merged_generation", "merged_model_name"]);
        assert_eq!(combine.spec().type_name, "CombineColumns");
        let named = combine.output_columns(["generations", "model_names"]);
        assert_eq!(names(&named), ["generations", "model_names"]);
    }
}
