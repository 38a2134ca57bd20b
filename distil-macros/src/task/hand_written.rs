//! `#[task(inputs = .., outputs = ..)]` on a hand-written `impl Task for X`: the impl as written,
//! `task_step!`, and the callback that tells `pipeline!` the task's columns.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{GenericArgument, Ident, ItemImpl, PathArguments, Type, parse_quote};

use super::attr::Attr;
use super::header::{Role, TaskHeader};
use crate::internals::ctxt::Ctxt;
use crate::internals::protocol::{
    DefineHeader, Kind, RowParam, StepDesc, callback_macro, unique_suffix,
};

/// What a hand-written task emits: `common` always; `typed` when the checks pass, else
/// `dynamic` (a callback saying its columns are only known when it runs).
pub(super) struct HandWritten {
    pub(super) common: TokenStream,
    pub(super) typed: TokenStream,
    pub(super) dynamic: TokenStream,
}

pub(super) fn expand_hand_written(attr: &Attr, item: ItemImpl, cx: &Ctxt) -> HandWritten {
    let Type::Path(self_path) = &*item.self_ty else {
        cx.error(&item.self_ty, "#[task] needs a named type");
        return HandWritten {
            common: item.to_token_stream(),
            typed: quote!(),
            dynamic: quote!(),
        };
    };
    let last = self_path.path.segments.last().expect("a path");
    let ident = last.ident.clone();
    let type_args: Vec<&GenericArgument> = match &last.arguments {
        PathArguments::AngleBracketed(a) => a.args.iter().collect(),
        _ => Vec::new(),
    };
    let is_task = item
        .trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .is_some_and(|s| s.ident == "Task");
    if !is_task {
        let path = item.trait_.as_ref().map(|(_, p, _)| p);
        cx.error(
            path,
            "#[task] goes on `impl MyTask { fn format_input .. fn format_output .. }`, or on a hand-written `impl Task for MyTask`",
        );
    }
    if let Some(where_clause) = &item.generics.where_clause {
        cx.error(
            where_clause,
            "write the bounds of a hand-written task in its generics (`impl<I: Row> Task for ..`): `task_step!` takes no where clause",
        );
    }
    let params: Vec<&Ident> = item.generics.type_params().map(|p| &p.ident).collect();
    let is_param = |ty: &Type| matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.get_ident().is_some_and(|i| params.contains(&i)));

    if let Some(span) = attr.structured {
        cx.push(syn::Error::new(
            span,
            "`structured` is for `#[task(structured)] impl MyTask { .. }`; a hand-written `impl Task` returns its response format from `fn response_format(&self)` (e.g. `Some(distil::llm::structured::response_format::<MyRow>())`)",
        ));
    }
    if attr.dynamic && (!attr.inputs.is_empty() || attr.outputs.is_some()) {
        cx.error(
            &item.self_ty,
            "`dynamic` says the task's columns are only known when it runs; drop it, or drop `inputs` and `outputs`",
        );
    } else if !attr.dynamic && attr.outputs.is_none() {
        cx.error(
            &item.self_ty,
            "on a hand-written `impl Task`, say `#[task(inputs = Row, outputs = Row)]` (the rows whose columns it reads and fills; `inputs` may name a generic parameter of the task, `inputs = (I, Extra)` several rows) or `#[task(dynamic)]` (columns known when it runs)",
        );
    }
    // `outputs = O`, a type parameter of the task: `pipeline!` reads its columns from the type
    // argument the pipeline writes, as for a generic input row.
    let mut generic_output: Option<(usize, &Type)> = None;
    if let Some(outputs) = &attr.outputs {
        if is_param(outputs) {
            let position = type_args
                .iter()
                .position(|a| matches!(a, GenericArgument::Type(t) if t == outputs));
            match position {
                Some(p) => generic_output = Some((p, outputs)),
                None => cx.error(
                    outputs,
                    "`outputs = O` names a generic parameter of the task type (`impl<O: Row> Task for MyTask<O>`)",
                ),
            }
        } else if !matches!(outputs, Type::Path(_)) {
            cx.error(
                outputs,
                "`outputs` names a #[derive(Row)] struct, or a generic parameter of the task type",
            );
        }
    }
    let mut generic: Option<(usize, &Type)> = None;
    let mut concrete: Vec<&Type> = Vec::new();
    for ty in &attr.inputs {
        if is_param(ty) {
            let position = type_args
                .iter()
                .position(|a| matches!(a, GenericArgument::Type(t) if t == ty));
            match (position, generic) {
                (None, _) => cx.error(
                    ty,
                    "`inputs = I` names a generic parameter of the task type",
                ),
                (Some(_), Some(_)) => cx.error(ty, "a task reads at most one generic input row"),
                (Some(p), None) => generic = Some((p, ty)),
            }
        } else if matches!(ty, Type::Path(_)) {
            concrete.push(ty);
        } else {
            cx.error(ty, "an input row is a #[derive(Row)] struct");
        }
    }
    if let Some(default) = &attr.default_inputs
        && generic.is_none()
    {
        cx.error(
            default,
            "`default_inputs` is the row a generic input parameter stands for when a pipeline does not write it; `inputs` names no generic parameter",
        );
    }

    let generics = &item.generics;
    let self_ty = &item.self_ty;
    let task_step = if !is_task {
        // Not a `Task` impl: no `Step` impl to add.
        quote!()
    } else if generics.params.is_empty() {
        quote!(::distil::task_step!(#self_ty);)
    } else {
        let params = &generics.params;
        quote!(::distil::task_step!(@impl [#params] #self_ty);)
    };
    let suffix = unique_suffix(&item.to_token_stream());
    let callback =
        |desc: StepDesc| callback_macro(&parse_quote!(pub), &ident, &suffix, desc.to_tokens());
    let type_name = ident.to_string();
    let dynamic = callback(StepDesc::new(type_name.clone(), Kind::Normal, true));
    let typed = match &attr.outputs {
        Some(outputs) if !attr.dynamic => {
            let (impl_generics, _, _) = generics.split_for_impl();
            let in_col = generic.map(|(_, row)| {
                let params = &generics.params;
                quote! {
                    impl<const __DISTIL_ID: u64, #params> ::distil::__private::InCol<__DISTIL_ID> for #self_ty
                    where
                        #row: ::distil::__private::Col<__DISTIL_ID>,
                        <#row as ::distil::__private::Col<__DISTIL_ID>>::Ty: ::distil::ColumnValue,
                    {
                        type Ty = <<#row as ::distil::__private::Col<__DISTIL_ID>>::Ty as ::distil::ColumnValue>::Expect;
                    }
                }
            });
            // Every column of the generic output row has its type; `model_name`, whose impl
            // would overlap this one, is then checked when the pipeline runs.
            let out_col = generic_output.map(|(_, row)| {
                let params = &generics.params;
                quote! {
                    impl<const __DISTIL_ID: u64, #params> ::distil::__private::OutCol<__DISTIL_ID> for #self_ty
                    where
                        #row: ::distil::__private::Col<__DISTIL_ID>,
                    {
                        type Ty = <#row as ::distil::__private::Col<__DISTIL_ID>>::Ty;
                    }
                }
            });
            let mut rows: Vec<(Role, Type)> = concrete
                .iter()
                .map(|ty| {
                    (
                        Role::Input {
                            typed: generic.is_none(),
                        },
                        (*ty).clone(),
                    )
                })
                .collect();
            if let Some(default) = &attr.default_inputs {
                rows.push((Role::Default, default.clone()));
            }
            if generic_output.is_none() {
                rows.push((Role::Output, outputs.clone()));
            }
            // Each row named is one (or one error, at it).
            let row_checks = rows.iter().map(|(_, ty)| {
                let span = ty.span();
                quote_spanned! {span=>
                    const _: () = {
                        #[allow(dead_code)]
                        fn __distil_is_a_row() where #ty: ::distil::Row {}
                    };
                }
            });
            let row_checks = quote!(#(#row_checks)*);
            let header = TaskHeader {
                generics: impl_generics.to_token_stream(),
                self_ty: self_ty.to_token_stream(),
                rows,
                generic_output: generic_output.is_some(),
            };
            let desc = StepDesc {
                row_param: generic_output.map(|(p, _)| p),
                inputs_param: RowParam {
                    index: generic.map(|(p, _)| p),
                    default: None,
                },
                ..StepDesc::new(type_name, Kind::Normal, false)
            }
            .to_tokens();
            let define = DefineHeader {
                vis: parse_quote!(pub),
                ident: ident.clone(),
                suffix: suffix.clone(),
                step_impl: quote!(),
                task: Some(header.to_tokens()),
                output: None,
                krate: attr.krate.clone(),
            }
            .to_tokens();
            let chain = header.chain(define, desc);
            quote!(#row_checks #in_col #out_col #chain)
        }
        _ => dynamic.clone(),
    };
    HandWritten {
        common: quote!(#item #task_step),
        typed,
        dynamic,
    }
}
