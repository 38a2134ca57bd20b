//! `#[step]`: turns a function (or an inherent `impl` with a `process` method) into a step type,
//! or marks a hand-written `impl Step` so `pipeline!` can see it.
//!
//! parse (attribute + item) -> model (`StepModel`) -> validate (in parse, errors collected) ->
//! expand (struct, `Step` impl, column type projections, callback chain).

pub(crate) mod attr;
pub(crate) mod expand;
pub(crate) mod fallback;
mod hand_written;
pub(crate) mod model;

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::Item;

use self::{attr::*, expand::*, fallback::*, hand_written::*, model::*};
use crate::internals::ctxt::Ctxt;

/// What `#[step]` emits once its checks ran.
enum Plan {
    /// A step model: expanded when the checks pass, else its fallback.
    Model(Box<StepModel>),
    /// The same tokens either way (a hand-written `impl Step`, marked dynamic when wrong).
    Tokens(TokenStream),
    /// What to emit next to the errors, which this case always has.
    Failed(TokenStream),
}

/// Entry point of `#[step]`: the expansion, and where distil is.
pub fn step(attr: TokenStream, item: TokenStream) -> (TokenStream, Option<syn::Path>) {
    let cx = Ctxt::new();
    let attr = parse_attr(attr, &cx);
    let krate = attr.krate.clone();
    (expand_step(&attr, item, cx), krate)
}

fn expand_step(attr: &Attr, item: TokenStream, cx: Ctxt) -> TokenStream {
    let parsed: syn::Result<Item> = syn::parse2(item.clone());
    let plan = match parsed {
        Ok(Item::Fn(f)) if !attr.dynamic => Plan::Model(Box::new(model_from_fn(attr, f, &cx))),
        Ok(Item::Impl(i)) if i.trait_.is_some() => {
            if !attr.dynamic && attr.outputs.is_none() {
                cx.error(&i.self_ty, "on a hand-written `impl Step`, say `#[step(dynamic)]` (columns known when it runs) or `#[step(outputs = R)]` (the columns of a Row parameter)");
            }
            Plan::Tokens(expand_hand_written(attr, i, &cx))
        }
        Ok(Item::Impl(i)) => match model_from_impl(attr, i.clone(), &cx) {
            Some(model) => Plan::Model(Box::new(model)),
            None => Plan::Failed(
                Fallback::from_impl(attr, &i).map_or_else(|| i.to_token_stream(), |f| f.expand()),
            ),
        },
        Ok(other) => {
            cx.error(&other, "#[step] goes on a function, on an `impl` with a `process` method, or on an `impl Step`");
            Plan::Failed(other.to_token_stream())
        }
        Err(e) => {
            cx.push(e);
            Plan::Failed(item)
        }
    };
    match (cx.check(), plan) {
        (Ok(()), Plan::Model(model)) => expand(&model),
        (Ok(()), Plan::Tokens(tokens) | Plan::Failed(tokens)) => tokens,
        (Err(e), plan) => {
            let error = e.to_compile_error();
            let rest = match plan {
                Plan::Model(model) => Fallback::from_model(&model).expand(),
                Plan::Tokens(tokens) | Plan::Failed(tokens) => tokens,
            };
            quote!(#error #rest)
        }
    }
}
