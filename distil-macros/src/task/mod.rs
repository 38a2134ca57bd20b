//! `#[task]`: turns an inherent `impl` with `format_input` and `format_output` into an LLM task
//! (`Task`, `Step` through `task_step!`, builder methods; with `structured`, the output row's
//! JSON schema as the response format), or marks a hand-written `impl Task` with the rows of
//! its columns (one of them may be a type parameter, inputs or outputs), so `pipeline!` checks a
//! task's columns like a step's.
//!
//! parse (attribute + item) -> model (`TaskModel`) -> validate (in parse, errors collected) ->
//! expand (`Task` impl, column type projections, callback chain through the task's rows, which
//! `__define_step` completes with `model_name` and the output column types).

mod attr;
mod expand;
mod hand_written;
mod header;
mod model;

pub(crate) use header::TaskHeader;

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Item, Type};

use self::{attr::*, expand::*, hand_written::*, model::*};
use crate::internals::ctxt::Ctxt;

/// Entry point of `#[task]`: the expansion, and where distil is.
pub fn task(attr: TokenStream, item: TokenStream) -> (TokenStream, Option<syn::Path>) {
    let cx = Ctxt::new();
    let attr = parse_attr(attr, &cx);
    let krate = attr.krate.clone();
    (expand_task(attr, item, cx), krate)
}

fn expand_task(attr: Attr, item: TokenStream, cx: Ctxt) -> TokenStream {
    let parsed: syn::Result<Item> = syn::parse2(item.clone());
    match parsed {
        Ok(Item::Impl(i)) if i.trait_.is_some() => {
            let out = expand_hand_written(&attr, i, &cx);
            let common = out.common;
            match cx.check() {
                Ok(()) => {
                    let typed = out.typed;
                    quote!(#common #typed)
                }
                Err(e) => {
                    let (error, dynamic) = (e.to_compile_error(), out.dynamic);
                    quote!(#error #common #dynamic)
                }
            }
        }
        Ok(Item::Impl(i)) => {
            if let Some(span) = attr.span
                && attr.has_row_options()
            {
                cx.push(syn::Error::new(
                    span,
                    "`#[task]` on `impl MyTask` takes only `structured` and `crate`: its columns are the arguments of `format_input` and `format_output`, and the row `format_output` returns (the other options are for a hand-written `impl Task`)",
                ));
            }
            let model = model_from_impl(
                i.clone(),
                attr.structured.is_some(),
                attr.krate.clone(),
                &cx,
            );
            match (cx.check(), model) {
                (Ok(()), Some(model)) => expand(&model),
                (result, model) => {
                    let error = result.err().map(|e| e.to_compile_error());
                    let Type::Path(path) = &*i.self_ty else {
                        return quote!(#error #i);
                    };
                    let Some(last) = path.path.segments.last() else {
                        return quote!(#error #i);
                    };
                    let item = model.map_or_else(|| i.to_token_stream(), |m| m.item);
                    let rest = fallback(&last.ident, &i.self_ty, &i.generics, item);
                    quote!(#error #rest)
                }
            }
        }
        Ok(other) => {
            cx.error(
                &other,
                "#[task] goes on `impl MyTask { fn format_input .. fn format_output .. }`, or on a hand-written `impl Task for MyTask`",
            );
            let error = cx.check().err().map(|e| e.to_compile_error());
            quote!(#error #other)
        }
        Err(e) => {
            cx.push(e);
            let error = cx.check().err().map(|e| e.to_compile_error());
            quote!(#error #item)
        }
    }
}
