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

/// Every macro's output: its paths into distil's private module versioned, and printed to
/// stderr in `DISTIL_MACROS_DEBUG=1` builds, to see what a macro generated.
fn debug(name: &str, output: proc_macro2::TokenStream) -> TokenStream {
    let output = versioned(output);
    if std::env::var_os("DISTIL_MACROS_DEBUG").is_some() {
        eprintln!("--- {name} ---\n{output}");
    }
    output.into()
}

/// The expansion with each `distil::__private` path named by this crate's patch version
/// (`distil::__private0`), as serde and thiserror version theirs: a distil of another version
/// has no such module and fails loudly. The macros write `::distil::__private` throughout;
/// this is the one place that knows the version.
fn versioned(tokens: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    use proc_macro2::TokenTree;
    let private = concat!("__private", env!("CARGO_PKG_VERSION_PATCH"));
    let mut out: Vec<TokenTree> = Vec::new();
    for token in tokens {
        let token = match token {
            TokenTree::Group(g) => {
                let mut group = proc_macro2::Group::new(g.delimiter(), versioned(g.stream()));
                group.set_span(g.span());
                TokenTree::Group(group)
            }
            TokenTree::Ident(i)
                if i == "__private"
                    && matches!(
                        &out[..],
                        [.., TokenTree::Ident(d), TokenTree::Punct(a), TokenTree::Punct(b)]
                            if d == "distil" && a.as_char() == ':' && b.as_char() == ':'
                    ) =>
            {
                TokenTree::Ident(proc_macro2::Ident::new(private, i.span()))
            }
            other => other,
        };
        out.push(token);
    }
    out.into_iter().collect()
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
