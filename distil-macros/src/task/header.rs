//! What a task's callback chain carries to `__define_step`: the rows to ask for their columns,
//! and what to do with them (input columns and their `InCol` impls, the default input row, the
//! outputs with `model_name` and their `OutCol` impls).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Ident, LitBool, Type, braced, bracketed};

use crate::internals::args::row_macro_path;
use crate::internals::protocol::{
    ColumnDesc, MODEL_NAME, RowDesc, StepDesc, parenthesized_type, parse_keys,
};

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

/// The roles as the header writes them, each once.
const ROLES: [(&str, Role); 4] = [
    ("input", Role::Input { typed: true }),
    ("untyped_input", Role::Input { typed: false }),
    ("default_input", Role::Default),
    ("output", Role::Output),
];

impl Role {
    fn word(self) -> &'static str {
        ROLES
            .iter()
            .find(|(_, r)| *r == self)
            .map(|(word, _)| *word)
            .expect("every role is listed")
    }
}

// The keys of a task header.
const GENERICS: &str = "generics";
const SELF_TY: &str = "self_ty";
const ROWS: &str = "rows";
const GENERIC_OUTPUT: &str = "generic_output";

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
    /// `generics = { .. }, self_ty = { .. }, rows = [ input = (Row), .. ], generic_output = false`.
    pub(crate) fn to_tokens(&self) -> TokenStream {
        let (generics, self_ty) = (&self.generics, &self.self_ty);
        let rows = self.rows.iter().map(|(role, ty)| {
            let role = Ident::new(role.word(), Span::call_site());
            quote!(#role = (#ty))
        });
        let keys =
            [GENERICS, SELF_TY, ROWS, GENERIC_OUTPUT].map(|k| Ident::new(k, Span::call_site()));
        let [g, s, r, o] = &keys;
        let generic_output = self.generic_output;
        quote!(#g = { #generics }, #s = { #self_ty }, #r = [ #(#rows),* ], #o = #generic_output)
    }

    /// `First! { [ (Second) .. (define_step) ] { define { .. task = { .. } } step { .. } } }`.
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
        let (mut generics, mut self_ty, mut rows) = (None, None, None);
        let mut generic_output = false;
        parse_keys(input, "task", |key, value| {
            let braced_tokens = |value: ParseStream| -> syn::Result<TokenStream> {
                let content;
                braced!(content in value);
                content.parse()
            };
            match key {
                GENERICS => generics = Some(braced_tokens(value)?),
                SELF_TY => self_ty = Some(braced_tokens(value)?),
                ROWS => {
                    let list;
                    bracketed!(list in value);
                    let mut found = Vec::new();
                    parse_keys(&list, "task row", |word, value| {
                        let Some((_, role)) = ROLES.iter().find(|(w, _)| *w == word) else {
                            return Ok(false);
                        };
                        found.push((*role, parenthesized_type(value)?));
                        Ok(true)
                    })?;
                    rows = Some(found);
                }
                GENERIC_OUTPUT => generic_output = value.parse::<LitBool>()?.value,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        let (Some(generics), Some(self_ty), Some(rows)) = (generics, self_ty, rows) else {
            return Err(input.error("a task header without `generics`, `self_ty` or `rows`"));
        };
        Ok(TaskHeader {
            generics,
            self_ty,
            rows,
            generic_output,
        })
    }
}
