//! `__define_step`: a step's output row (a task's rows) has told its columns; emit the step's
//! callback.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream};

use crate::internals::protocol::{DefineHeader, Desc, RowDesc, StepDesc, state_body};
use crate::task::TaskHeader;

/// Entry point of `__define_step`: the step's output row has told its columns. Returns the
/// expansion and where distil is.
pub fn define_step(tokens: TokenStream) -> (TokenStream, Option<syn::Path>) {
    struct Define {
        header: DefineHeader,
        /// A task's rows and what they are to it.
        task: Option<TaskHeader>,
        step: StepDesc,
        rows: Vec<RowDesc>,
    }
    impl Parse for Define {
        fn parse(stream: ParseStream) -> syn::Result<Self> {
            let body = state_body(stream)?;
            let header: DefineHeader = body.parse()?;
            let task = header.task.clone().map(syn::parse2).transpose()?;
            let Desc::Step(step) = body.parse::<Desc>()? else {
                return Err(body.error("expected the step description"));
            };
            let mut rows = Vec::new();
            while !body.is_empty() {
                match body.parse::<Desc>()? {
                    Desc::Row(r) => rows.push(r),
                    Desc::Step(s) => {
                        return Err(syn::Error::new(
                            Span::call_site(),
                            format!(
                                "a step's output must be a #[derive(Row)] struct, but `{}` is a step",
                                s.type_name
                            ),
                        ));
                    }
                }
            }
            Ok(Define {
                header,
                task,
                step,
                rows,
            })
        }
    }
    let mut d = match syn::parse2::<Define>(tokens) {
        Ok(d) => d,
        Err(e) => return (e.to_compile_error(), None),
    };
    let impls = match &d.task {
        Some(task) => match task.finish(&mut d.step, &d.rows) {
            Ok(impls) => impls,
            Err(e) => {
                // The task still is a step, whose columns are then only known when it runs:
                // the pipelines using it report nothing more.
                d.step = StepDesc::new(d.step.type_name.clone(), d.step.kind, true);
                e.to_compile_error()
            }
        },
        None => match (d.rows.first(), &d.header.output) {
            (Some(row), Some((ty, kind)))
                if !row.public && matches!(d.header.vis, syn::Visibility::Public(_)) =>
            {
                // The step's impls would name the row in a public interface (E0446): the
                // step stays, processing nothing, so this is the only error.
                let (ident, type_name) = (&d.header.ident, d.header.ident.to_string());
                let stub = quote! {
                    impl ::distil::Step for #ident {
                        fn spec(&self) -> ::distil::step::StepSpec {
                            ::distil::__private::spec(#type_name, #kind, ::std::vec::Vec::new(), ::std::vec::Vec::new())
                        }
                    }
                };
                let error = syn::Error::new_spanned(
                    ty,
                    format!(
                        "step `{}` is `pub`, but its output row `{}` is private; make the row `pub struct {}` (the step's columns are part of its public type)",
                        ident, row.type_name, row.type_name
                    ),
                )
                .to_compile_error();
                d.step = StepDesc::new(type_name, d.step.kind, true);
                d.header.step_impl = stub;
                error
            }
            _ => {
                d.step.outputs = d
                    .rows
                    .into_iter()
                    .next()
                    .map(|r| r.columns)
                    .unwrap_or_default();
                quote!()
            }
        },
    };
    let step_impl = &d.header.step_impl;
    let callback = crate::internals::protocol::callback_macro(
        &d.header.vis,
        &d.header.ident,
        &d.header.suffix,
        d.step.to_tokens(),
    );
    (quote!(#step_impl #impls #callback), d.header.krate)
}
