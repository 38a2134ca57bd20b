//! What `#[task]` and `task_step!` expand into (through `distil::__private0::tasks`).

pub use super::runner::{
    concurrent, describe, params, prepare, process, report, set_param, spec, status,
};

/// The response format of `#[task(structured)]`'s output row.
pub fn response_format<T: StructuredOutput>() -> crate::Value {
    T::response_format()
}

/// A row `#[task(structured)]` can ask the LLM for.
#[cfg(feature = "structured")]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a structured output: it has no JSON schema",
    label = "`#[task(structured)]` asks the LLM for this row",
    note = "derive `schemars::JsonSchema` and `serde::Deserialize` for `{Self}`"
)]
pub trait StructuredOutput {
    /// The row's JSON schema as a `response_format`.
    fn response_format() -> crate::Value;
}

#[cfg(feature = "structured")]
impl<T: schemars::JsonSchema> StructuredOutput for T {
    fn response_format() -> crate::Value {
        crate::llm::structured::response_format::<T>()
    }
}

/// A row `#[task(structured)]` can ask the LLM for: none without the feature `structured`.
#[cfg(not(feature = "structured"))]
#[diagnostic::on_unimplemented(
    message = "`#[task(structured)]` needs distil's feature `structured`",
    label = "the response format of this row needs a JSON schema",
    note = "enable the feature `structured` of distil (on by default)"
)]
pub trait StructuredOutput {
    /// The row's JSON schema as a `response_format`.
    fn response_format() -> crate::Value;
}
