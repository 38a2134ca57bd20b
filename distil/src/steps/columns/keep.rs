//! KeepColumns: projects rows onto chosen columns.

use crate::step;
use crate::step::{BoxFuture, Input, Output, Passthrough, Step, StepKind, StepSpec};

/// Keeps only the given columns, in that order (and the metadata column, so no row's errors
/// are lost).
///
/// ```
/// let keep = distil::steps::KeepColumns::new(["instruction", "generation"]);
/// ```
pub struct KeepColumns {
    columns: Vec<String>,
}

impl KeepColumns {
    /// Keeps `columns`.
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        KeepColumns {
            columns: columns.into_iter().map(Into::into).collect(),
        }
    }
}

impl KeepColumns {
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn Step>, String> {
        Ok(Box::new(KeepColumns::new(
            settings.get::<Vec<String>>("columns")?,
        )))
    }
}

#[step(dynamic, keeps = 0)]
impl Step for KeepColumns {
    fn describe(&self) -> Option<crate::Value> {
        Some(serde_json::json!({"columns": self.columns}))
    }

    fn spec(&self) -> StepSpec {
        StepSpec {
            inputs: super::any_type(&self.columns),
            passthrough: Passthrough::Only(self.columns.clone()),
            ..StepSpec::new("KeepColumns", StepKind::Normal)
        }
    }

    fn process<'a>(&'a mut self, _input: Input<'a>) -> BoxFuture<'a, crate::Result<Output>> {
        Box::pin(async { Ok(Output::same_rows()) })
    }
}
