//! `#[step(dynamic)]` / `#[step(outputs = R)]` on a hand-written `impl Step`.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{GenericArgument, ItemImpl, PathArguments, Type, parse_quote};

use super::{attr::*, expand::*};
use crate::internals::args::Form;
use crate::internals::ctxt::Ctxt;
use crate::internals::protocol::{StepDesc, callback_macro, unique_suffix};

/// `#[step(dynamic)] impl Step for X` or `#[step(generator, outputs = R)] impl<R> Step for X<R>`.
pub(crate) fn expand_hand_written(attr: &Attr, item: ItemImpl, cx: &Ctxt) -> TokenStream {
    let Type::Path(self_path) = &*item.self_ty else {
        cx.error(&item.self_ty, "#[step] needs a named type");
        return item.to_token_stream();
    };
    let last = self_path.path.segments.last().expect("a path");
    let ident = last.ident.clone();
    let args: Vec<&GenericArgument> = match &last.arguments {
        PathArguments::AngleBracketed(a) => a.args.iter().collect(),
        _ => Vec::new(),
    };
    let mut row_param = None;
    let mut out_col = quote!();
    if let Some(row) = &attr.outputs {
        row_param = args
            .iter()
            .position(|a| matches!(a, GenericArgument::Type(t) if t == row));
        if row_param.is_none() {
            cx.error(
                row,
                "`outputs = R` names a generic parameter of the step type",
            );
        }
        let (_, _, where_clause) = item.generics.split_for_impl();
        let params = &item.generics.params;
        let self_ty = &item.self_ty;
        let preds = where_clause.map(|w| {
            let p = &w.predicates;
            quote!(#p,)
        });
        out_col = quote! {
            impl<const __DISTIL_ID: u64, #params> ::distil::__private::OutCol<__DISTIL_ID> for #self_ty
            where
                #preds
                #row: ::distil::__private::Col<__DISTIL_ID>,
            {
                type Ty = <#row as ::distil::__private::Col<__DISTIL_ID>>::Ty;
            }
        };
    }
    let form = attr.form.map_or(Form::Row, |(f, _)| f);
    let desc = StepDesc {
        row_param,
        keeps_arg: attr.keeps,
        groups_arg: attr.groups,
        ..StepDesc::new(ident.to_string(), desc_kind(form), row_param.is_none())
    }
    .to_tokens();
    let callback = callback_macro(
        &parse_quote!(pub),
        &ident,
        &unique_suffix(&item.to_token_stream()),
        desc,
    );
    quote! {
        #item
        #out_col
        #callback
    }
}
