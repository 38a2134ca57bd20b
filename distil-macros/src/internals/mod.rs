//! The model layer shared by the macros, as serde_derive's `internals/`: the error collector,
//! the attribute words, the protocol between the macros, type analysis, step arguments, and
//! where distil is.

pub(crate) mod args;
pub(crate) mod ctxt;
pub(crate) mod krate;
pub(crate) mod protocol;
pub(crate) mod symbol;
pub(crate) mod types;
