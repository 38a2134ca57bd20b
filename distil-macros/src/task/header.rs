//! What a task's callback chain carries to `__define_step`: the rows to ask for their columns,
//! and what to do with them (input columns and their `InCol` impls, the default input row, the
//! outputs with `model_name` and their `OutCol` impls).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Ident, Type, braced, bracketed};

use crate::internals::args::row_macro_path;
use crate::internals::protocol::{ColumnDesc, MODEL_NAME, RowDesc, StepDesc};

/// What a row of the chain is to the task.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Its columns are inputs; `typed`: with an `InCol` impl each, so `pipeline!` checks their
    /// types (not next to a generic input row, whose blanket `InCol` impl would overlap).
    Input { typed: bool },
    /// The input row when the task type's generic parameter is not written.
    Default,
    /// Its columns are the outputs `format_output` fills.
    Output,
}

impl Role {
    fn ident(self) -> Ident {
        let name = match self {
            Role::Input { typed: true } => "input",
            Role::Input { typed: false } => "untyped_input",
            Role::Default => "default_input",
            Role::Output => "output",
        };
        Ident::new(name, Span::call_site())
    }
}

pub(crate) struct TaskHeader {
    /// The impl's generic parameters with their bounds (`<I: Row>`), or nothing.
    pub(crate) generics: TokenStream,
    /// The task type (`TextGeneration<I>`).
    pub(crate) self_ty: TokenStream,
    /// The rows to ask, in chain order.
    pub(crate) rows: Vec<(Role, Type)>,
    /// The outputs are a generic parameter's row, which `pipeline!` asks for: the task adds
    /// only `model_name`, checked by name (its type impl would overlap the row's blanket one).
    pub(crate) generic_output: bool,
}

impl TaskHeader {
    pub(crate) fn to_tokens(&self) -> TokenStream {
        let (generics, self_ty) = (&self.generics, &self.self_ty);
        let rows = self.rows.iter().map(|(role, ty)| {
            let role = role.ident();
            quote!(#role { #ty })
        });
        let generic_output = self.generic_output.then(|| quote!(generic_output));
        quote!(task { { #generics } { #self_ty } [ #(#rows)* ] #generic_output })
    }

    /// `First! { [ (Second) .. (define_step) ] { define { .. task { .. } } step { .. } } }`.
    pub(crate) fn chain(&self, define: TokenStream, desc: TokenStream) -> TokenStream {
        let mut paths = self.rows.iter().filter_map(|(_, ty)| match ty {
            Type::Path(p) => Some(row_macro_path(p)),
            _ => None,
        });
        let Some((first, span)) = paths.next() else {
            // No row to ask (every row is a type parameter): the description is complete.
            return quote! {
                ::distil::__private::define_step! { [] { #define #desc } }
            };
        };
        let rest = paths.map(|(path, span)| quote_spanned!(span=> (#path)));
        quote_spanned! {span=>
            #first! { [ #(#rest)* (::distil::__private::define_step) ] { #define #desc } }
        }
    }

    /// The rows have told their columns: completes the description and emits the column type
    /// impls.
    pub(crate) fn finish(&self, step: &mut StepDesc, rows: &[RowDesc]) -> syn::Result<TokenStream> {
        if rows.len() != self.rows.len() {
            return Err(syn::Error::new(
                Span::call_site(),
                "a task's rows did not all describe themselves",
            ));
        }
        let (generics, self_ty) = (&self.generics, &self.self_ty);
        let mut impls = TokenStream::new();
        let mut outputs = Vec::new();
        for ((role, ty), row) in self.rows.iter().zip(rows) {
            match role {
                Role::Input { typed } => {
                    for column in &row.columns {
                        if step.inputs.iter().any(|c| c.name == column.name) {
                            continue;
                        }
                        step.inputs.push(column.as_input(*typed));
                        if *typed {
                            let id = distil_graph::column_id(&column.name);
                            impls.extend(quote! {
                                impl #generics ::distil::__private::InCol<#id> for #self_ty {
                                    type Ty = <<#ty as ::distil::__private::Col<#id>>::Ty as ::distil::ColumnValue>::Expect;
                                }
                            });
                        }
                    }
                }
                Role::Default => {
                    step.inputs_param.default =
                        Some(row.columns.iter().map(|c| c.as_input(true)).collect());
                }
                Role::Output => {
                    if row.columns.iter().any(|c| c.name == MODEL_NAME) {
                        return Err(syn::Error::new(
                            ty.span(),
                            format!(
                                "`{}` has a column `{MODEL_NAME}`, which every task adds (the model that generated the row); rename the field, e.g. `#[row(rename = \"judge_model\")]`",
                                row.type_name
                            ),
                        ));
                    }
                    for column in &row.columns {
                        let id = distil_graph::column_id(&column.name);
                        impls.extend(quote! {
                            impl #generics ::distil::__private::OutCol<#id> for #self_ty {
                                type Ty = <#ty as ::distil::__private::Col<#id>>::Ty;
                            }
                        });
                        outputs.push(column.clone());
                    }
                }
            }
        }
        if !self.generic_output {
            let id = distil_graph::column_id(MODEL_NAME);
            impls.extend(quote! {
                impl #generics ::distil::__private::OutCol<#id> for #self_ty {
                    type Ty = ::std::string::String;
                }
            });
        }
        outputs.push(ColumnDesc {
            name: MODEL_NAME.to_owned(),
            ty: syn::parse_quote!(String),
            required: true,
            typed: !self.generic_output,
        });
        step.outputs = outputs;
        Ok(impls)
    }
}

impl Parse for TaskHeader {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let generics;
        braced!(generics in input);
        let generics: TokenStream = generics.parse()?;
        let self_ty;
        braced!(self_ty in input);
        let self_ty: TokenStream = self_ty.parse()?;
        let list;
        bracketed!(list in input);
        let mut rows = Vec::new();
        while !list.is_empty() {
            let role: Ident = list.parse()?;
            let role = match role.to_string().as_str() {
                "input" => Role::Input { typed: true },
                "untyped_input" => Role::Input { typed: false },
                "default_input" => Role::Default,
                _ => Role::Output,
            };
            let ty;
            braced!(ty in list);
            rows.push((role, ty.parse()?));
        }
        let generic_output = !input.is_empty() && input.parse::<Ident>()? == "generic_output";
        Ok(TaskHeader {
            generics,
            self_ty,
            rows,
            generic_output,
        })
    }
}
