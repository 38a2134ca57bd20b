//! `pipeline!`: parse the grammar, ask every step (and the rows of generic loaders) for its
//! columns through their callback macros (`collect`), then in three stages: `resolve` the
//! names into a graph, `validate` it with the rules the runtime shares (`distil_graph`), and
//! `expand` it into the builder calls plus compile-time column type checks.

mod collect;
mod define;
mod expand;
mod parse;
mod resolve;
mod validate;

pub use collect::collect;
pub use define::define_step;

use proc_macro2::{Span, TokenStream};
use quote::quote;

use crate::internals::ctxt::Ctxt;
use parse::{PipelineInput, step_type};

/// Entry point of `pipeline!`: starts the callback chain over the bindings' step types.
/// Returns the expansion and where distil is.
pub fn pipeline(input: TokenStream) -> (TokenStream, Option<syn::Path>) {
    let model: PipelineInput = match syn::parse2(input.clone()) {
        Ok(m) => m,
        Err(e) => return (stub(e.to_compile_error(), None, &[]), None),
    };
    let krate = model.krate.clone();
    (start(input, model), krate)
}

fn start(input: TokenStream, model: PipelineInput) -> TokenStream {
    let cx = Ctxt::new();
    for e in &model.errors {
        cx.push(e.clone());
    }
    let mut paths = Vec::new();
    for b in &model.bindings {
        match step_type(b) {
            Some((path, _)) => paths.push(path),
            None => cx.error(
                &b.expr,
                format!(
                    "cannot tell which step type `{}` is; write `{} = StepType::new(..)` or `{}: StepType = ..`",
                    b.ident, b.ident, b.ident
                ),
            ),
        }
    }
    if model.bindings.is_empty() && model.errors.is_empty() {
        cx.push(syn::Error::new(
            Span::call_site(),
            "a pipeline needs steps: `name = Step::new(..)`",
        ));
    }
    if let Err(e) = cx.check() {
        return stub(e.to_compile_error(), Some(&model), &[]);
    }
    chain(paths, quote!(input { #input }))
}

/// `First! { [ (Second) .. (::distil::__private::collect) ] { state } }`.
pub(super) fn chain(paths: Vec<syn::Path>, state: TokenStream) -> TokenStream {
    let mut paths = paths.into_iter();
    let first = paths.next().expect("at least one");
    let rest = paths.map(|p| quote!((#p)));
    quote! {
        #first! { [ #(#rest)* (::distil::__private::collect) ] { #state } }
    }
}

/// The errors, and a pipeline value so the code around `pipeline!` reports nothing more. The
/// bindings' expressions are kept, so the variables and imports they use are still used.
/// `skip` lists the bindings whose expression is itself wrong.
pub(super) fn stub(
    errors: TokenStream,
    model: Option<&PipelineInput>,
    skip: &[usize],
) -> TokenStream {
    let name = model
        .and_then(|m| m.name.as_ref())
        .map_or_else(|| "pipeline".to_owned(), syn::LitStr::value);
    let bindings = model
        .into_iter()
        .flat_map(|m| &m.bindings)
        .enumerate()
        .filter(|(i, _)| !skip.contains(i))
        .map(|(_, b)| {
            let expr = &b.expr;
            match &b.ty {
                Some(ty) => quote!(let _: #ty = #expr;),
                None => quote!(let _ = #expr;),
            }
        });
    quote!({ #errors #[allow(unreachable_code)] { #(#bindings)* } ::distil::Pipeline::new(#name) })
}
