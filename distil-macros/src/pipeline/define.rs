//! `__define_step`: a step's output row (a task's rows) has told its columns; emit the step's
//! callback.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, braced};

use crate::desc::{Desc, RowDesc, StepDesc, state_body};
use crate::task::TaskHeader;

/// Entry point of `__define_step`: the step's output row has told its columns.
pub fn define_step(tokens: TokenStream) -> TokenStream {
    struct Define {
        vis: syn::Visibility,
        ident: Ident,
        suffix: syn::LitStr,
        /// The step's `Step` impl, which needs the row to be one.
        step_impl: TokenStream,
        /// A task's rows and what they are to it.
        task: Option<TaskHeader>,
        step: StepDesc,
        rows: Vec<RowDesc>,
    }
    impl Parse for Define {
        fn parse(stream: ParseStream) -> syn::Result<Self> {
            let body = state_body(stream)?;
            body.parse::<Ident>()?;
            let header;
            braced!(header in body);
            let vis_group;
            syn::parenthesized!(vis_group in header);
            let vis: syn::Visibility = vis_group.parse()?;
            let ident: Ident = header.parse()?;
            let suffix: syn::LitStr = header.parse()?;
            let step_impl;
            braced!(step_impl in header);
            let step_impl: TokenStream = step_impl.parse()?;
            let task = if header.is_empty() {
                None
            } else {
                header.parse::<Ident>()?;
                let task;
                braced!(task in header);
                Some(task.parse()?)
            };
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
                vis,
                ident,
                suffix,
                step_impl,
                task,
                step,
                rows,
            })
        }
    }
    let mut d = match syn::parse2::<Define>(tokens) {
        Ok(d) => d,
        Err(e) => return e.to_compile_error(),
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
        None => {
            d.step.outputs = d
                .rows
                .into_iter()
                .next()
                .map(|r| r.columns)
                .unwrap_or_default();
            quote!()
        }
    };
    let step_impl = &d.step_impl;
    let callback =
        crate::desc::callback_macro(&d.vis, &d.ident, &d.suffix.value(), d.step.to_tokens());
    quote!(#step_impl #impls #callback)
}
