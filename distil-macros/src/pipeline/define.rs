//! `__define_step`: a step's output row (a task's rows) has told its columns; emit the step's
//! callback.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, braced};

use crate::internals::protocol::{Desc, RowDesc, StepDesc, state_body};
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
        /// A function-form step's output row as written, and its `StepKind`.
        output: Option<(syn::Type, TokenStream)>,
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
            let mut task = None;
            let mut output = None;
            if !header.is_empty() {
                let what: Ident = header.parse()?;
                let content;
                braced!(content in header);
                if what == "task" {
                    task = Some(content.parse()?);
                } else {
                    // A function-form step: its output row as written, and its kind.
                    let ty;
                    syn::parenthesized!(ty in content);
                    output = Some((ty.parse::<syn::Type>()?, content.parse::<TokenStream>()?));
                }
            }
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
                output,
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
        None => match (d.rows.first(), &d.output) {
            (Some(row), Some((ty, kind)))
                if !row.public && matches!(d.vis, syn::Visibility::Public(_)) =>
            {
                // The step's impls would name the row in a public interface (E0446): the
                // step stays, processing nothing, so this is the only error.
                let (ident, type_name) = (&d.ident, d.ident.to_string());
                d.step_impl = quote! {
                    impl ::distil::Step for #ident {
                        fn spec(&self) -> ::distil::step::StepSpec {
                            ::distil::__private::spec(#type_name, #kind, ::std::vec::Vec::new(), ::std::vec::Vec::new())
                        }
                    }
                };
                d.step = StepDesc::new(type_name, d.step.kind, true);
                syn::Error::new_spanned(
                    ty,
                    format!(
                        "step `{}` is `pub`, but its output row `{}` is private; make the row `pub struct {}` (the step's columns are part of its public type)",
                        d.ident, row.type_name, row.type_name
                    ),
                )
                .to_compile_error()
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
    let step_impl = &d.step_impl;
    let callback = crate::internals::protocol::callback_macro(
        &d.vis,
        &d.ident,
        &d.suffix.value(),
        d.step.to_tokens(),
    );
    quote!(#step_impl #impls #callback)
}
