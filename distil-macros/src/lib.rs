//! The procedural macros of distil. Use them through `distil` (`distil::pipeline!`,
//! `#[distil::step]`, `#[distil::task]`, `#[derive(distil::Row)]`), where they are documented.
//!
//! Each macro parses its input into a model, validates it (collecting every error), then
//! generates code; on error it still emits stubs so the user sees one error, not twenty.
//! `internals/` is the model layer they share (as serde_derive's): the error collector, the
//! attribute words, the protocol between the macros, type analysis and step arguments; `row`,
//! `step/`, `task/` and `pipeline/` each parse, validate and expand their own macro.

mod internals;
mod pipeline;
mod row;
mod step;
mod task;

use proc_macro::TokenStream;

/// Every macro's output, its `::distil` paths at the crate the user named (`crate = path`)
/// and distil's private module versioned; printed to stderr in `DISTIL_MACROS_DEBUG=1` builds,
/// to see what a macro generated.
fn debug(
    name: &str,
    (output, krate): (proc_macro2::TokenStream, Option<syn::Path>),
) -> TokenStream {
    let output = internals::krate::resolve(output, krate.as_ref());
    if std::env::var_os("DISTIL_MACROS_DEBUG").is_some() {
        eprintln!("--- {name} ---\n{output}");
    }
    output.into()
}

/// See `distil::Row`.
#[proc_macro_derive(Row, attributes(row))]
pub fn derive_row(input: TokenStream) -> TokenStream {
    match syn::parse(input) {
        Ok(input) => debug("derive(Row)", row::derive(input)),
        Err(e) => e.to_compile_error().into(),
    }
}

/// See `distil::step`.
#[proc_macro_attribute]
pub fn step(attr: TokenStream, item: TokenStream) -> TokenStream {
    debug("#[step]", step::step(attr.into(), item.into()))
}

/// See `distil::task`.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    debug("#[task]", task::task(attr.into(), item.into()))
}

/// See `distil::pipeline`.
#[proc_macro]
pub fn pipeline(input: TokenStream) -> TokenStream {
    debug("pipeline!", pipeline::pipeline(input.into()))
}

#[doc(hidden)]
#[proc_macro]
pub fn __collect(input: TokenStream) -> TokenStream {
    debug("pipeline! (collected)", pipeline::collect(input.into()))
}

#[doc(hidden)]
#[proc_macro]
pub fn __define_step(input: TokenStream) -> TokenStream {
    debug("#[step] (defined)", pipeline::define_step(input.into()))
}
