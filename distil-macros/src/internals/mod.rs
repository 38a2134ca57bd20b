//! The model layer shared by the macros, as serde_derive's `internals/`: the error collector,
//! the attribute words, the protocol between the macros, type analysis, and step arguments.

pub(crate) mod args;
pub(crate) mod ctxt;
pub(crate) mod protocol;
pub(crate) mod symbol;
pub(crate) mod types;
