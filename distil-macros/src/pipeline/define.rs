//! `__define_step`: a step's output row has told its columns; emit the step's callback.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, braced};

use crate::desc::{ColumnDesc, Desc, StepDesc, state_body};

/// Entry point of `__define_step`: the step's output row has told its columns.
pub fn define_step(tokens: TokenStream) -> TokenStream {
    struct Define {
        vis: syn::Visibility,
        ident: Ident,
        suffix: syn::LitStr,
        /// The step's `Step` impl, which needs the row to be one.
        step_impl: TokenStream,
        step: StepDesc,
        row: Vec<ColumnDesc>,
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
            let Desc::Step(step) = body.parse::<Desc>()? else {
                return Err(body.error("expected the step description"));
            };
            let row = match body.parse::<Desc>()? {
                Desc::Row(r) => r.columns,
                Desc::Step(s) => {
                    return Err(syn::Error::new(
                        Span::call_site(),
                        format!(
                            "a step's output must be a #[derive(Row)] struct, but `{}` is a step",
                            s.type_name
                        ),
                    ));
                }
            };
            Ok(Define {
                vis,
                ident,
                suffix,
                step_impl,
                step,
                row,
            })
        }
    }
    match syn::parse2::<Define>(tokens) {
        Ok(mut d) => {
            d.step.outputs = d.row;
            let step_impl = &d.step_impl;
            let callback = crate::desc::callback_macro(
                &d.vis,
                &d.ident,
                &d.suffix.value(),
                d.step.to_tokens(),
            );
            quote!(#step_impl #callback)
        }
        Err(e) => e.to_compile_error(),
    }
}
