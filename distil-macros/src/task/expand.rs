//! Code generation for `#[task] impl MyTask { .. }`: the `Task` impl that reads each row's
//! arguments and writes the output row into cells, `task_step!`, the builder methods every task
//! has, the input column type projections, and the callback chain through the output row.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{Ident, Type, parse_quote, spanned::Spanned};

use super::header::{Role, TaskHeader};
use super::model::{Method, TaskModel};
use crate::internals::args::Form;
use crate::internals::args::{in_col_impl, input_desc};
use crate::internals::protocol::{DefineHeader, Kind, StepDesc, unique_suffix};
use crate::step::fallback::Fallback;

/// `let __distil_arg_x: T = arg::<T>(..)?;` for each input of `method`, and the locals to pass.
fn reads(method: &Method) -> (Vec<TokenStream>, Vec<Ident>) {
    method
        .inputs
        .iter()
        .map(|i| {
            let local = format_ident!("__distil_arg_{}", i.ident);
            let (ty, column) = (&i.ty, &i.column);
            let read = quote! {
                let #local: #ty = ::distil::__private::arg::<#ty>(__distil_input.column(#column), __distil_row, #column)?;
            };
            (read, local)
        })
        .unzip()
}

/// `value` as `Ok(T)`, or its `Err` as the row's message, for a method returning `Result`.
fn unwrap_result(method: &Method, value: TokenStream) -> TokenStream {
    if method.returns_result {
        quote! {
            match #value {
                ::std::result::Result::Ok(__distil_value) => __distil_value,
                ::std::result::Result::Err(__distil_error) => {
                    return ::std::result::Result::Err(::std::string::ToString::to_string(&__distil_error));
                }
            }
        }
    } else {
        value
    }
}

/// The methods every task has, as no-ops: a stub's, so code using them still compiles while
/// the user fixes the task (a valid task gets them from `distil::__task_builders!`).
pub(super) fn stub_builders(ident: &Ident) -> TokenStream {
    quote! {
        #[allow(dead_code, unused_mut, unused_variables)]
        impl #ident {
            pub fn temperature(self, temperature: f64) -> Self { self }
            pub fn max_new_tokens(self, tokens: u64) -> Self { self }
            pub fn params(self, params: ::distil::llm::GenerationParams) -> Self { self }
            pub fn num_generations(self, n: usize) -> Self { self }
            pub fn group_generations(self, group: bool) -> Self { self }
        }
    }
}

pub(super) fn expand(model: &TaskModel) -> TokenStream {
    let TaskModel {
        ident,
        output,
        item,
        ..
    } = model;
    let type_name = ident.to_string();
    let inputs = model.inputs();
    let spec_inputs = inputs.iter().map(|i| {
        let (column, ty) = (&i.column, &i.ty);
        quote!(::distil::__private::input::<#ty>(#column))
    });

    // The task's `llm` field, read by a pattern spanned at the type: a struct without one is
    // told once ("does not have a field named `llm`").
    let self_span = ident.span();
    let llm_field =
        quote_spanned!(self_span=> let #ident { llm: __distil_llm, .. } = self; __distil_llm);

    let (input_reads, input_args) = reads(&model.format_input);
    let prompt = unwrap_result(
        &model.format_input,
        quote!(#ident::format_input(self, #(#input_args),*)),
    );
    let prompt_span = model
        .format_input
        .output
        .as_ref()
        .map_or_else(Span::call_site, Spanned::span);
    let into_prompt = quote_spanned!(prompt_span=> ::std::convert::Into::<::distil::llm::Prompt>::into(__distil_prompt));

    let (output_reads, output_args) = reads(&model.format_output);
    let row = unwrap_result(
        &model.format_output,
        quote!(#ident::format_output(self, __distil_generation, #(#output_args),*)),
    );
    let check = model.check.then(|| {
        quote! {
            fn check(&self) -> ::std::result::Result<(), ::std::string::String> {
                #ident::check(self).map_err(|e| ::std::string::ToString::to_string(&e))
            }
        }
    });
    let builders = quote!(::distil::__task_builders!(#ident););
    // `#[task(structured)]`: the output row's schema, made once; a row without one is told at
    // the return type of `format_output`.
    let response_format = model.structured.then(|| {
        let span = output.span();
        let format = quote_spanned!(span=> ::distil::__private::tasks::response_format::<#output>());
        quote! {
            fn response_format(&self) -> ::std::option::Option<::distil::Value> {
                static __DISTIL_FORMAT: ::std::sync::OnceLock<::distil::Value> = ::std::sync::OnceLock::new();
                ::std::option::Option::Some(__DISTIL_FORMAT.get_or_init(|| #format).clone())
            }
        }
    });

    // Emitted once the output row has answered (it must be a row).
    let task_impl = quote! {
        impl ::distil::tasks::Task for #ident {
            fn spec(&self) -> ::distil::step::StepSpec {
                ::distil::__private::spec(#type_name, ::distil::StepKind::Normal, ::std::vec![#(#spec_inputs),*], <#output as ::distil::Row>::columns())
            }
            fn llm(&self) -> &::distil::tasks::TaskLlm {
                #llm_field
            }
            fn llm_mut(&mut self) -> &mut ::distil::tasks::TaskLlm {
                #llm_field
            }
            #[allow(unused_variables)]
            fn format_input(
                &self,
                __distil_input: &::distil::step::Input<'_>,
                __distil_row: usize,
            ) -> ::std::result::Result<::distil::llm::Prompt, ::std::string::String> {
                #(#input_reads)*
                let __distil_prompt = #prompt;
                ::std::result::Result::Ok(#into_prompt)
            }
            #[allow(unused_variables)]
            fn format_output(
                &self,
                __distil_input: &::distil::step::Input<'_>,
                __distil_row: usize,
                __distil_generation: &str,
            ) -> ::std::result::Result<::std::vec::Vec<::distil::Value>, ::std::string::String> {
                #(#output_reads)*
                let __distil_output: #output = #row;
                let mut __distil_columns: ::std::vec::Vec<::std::vec::Vec<::distil::Value>> =
                    (0..<#output as ::distil::Row>::width()).map(|_| ::std::vec::Vec::with_capacity(1)).collect();
                <#output as ::distil::Row>::write(__distil_output, &mut __distil_columns);
                ::std::result::Result::Ok(
                    __distil_columns.into_iter().map(|mut c| c.pop().unwrap_or(::distil::Value::Null)).collect(),
                )
            }
            #check
            #response_format
        }
        ::distil::task_step!(#ident);
        #builders
    };

    let span = output.span();
    let row_check = quote_spanned! {span=>
        const _: () = {
            #[allow(dead_code)]
            fn __distil_output_is_a_row() where #output: ::distil::Row {}
        };
    };
    let in_cols = inputs.iter().map(|i| in_col_impl(ident, Form::Row, i));
    let desc = StepDesc {
        inputs: inputs.iter().map(|i| input_desc(Form::Row, i)).collect(),
        ..StepDesc::new(type_name, Kind::Normal, false)
    }
    .to_tokens();
    let header = TaskHeader {
        generics: quote!(),
        self_ty: quote!(#ident),
        rows: vec![(Role::Output, output.clone())],
        generic_output: false,
    };
    let define = DefineHeader {
        vis: parse_quote!(pub),
        ident: ident.clone(),
        suffix: unique_suffix(item),
        step_impl: task_impl,
        task: Some(header.to_tokens()),
        output: None,
        krate: model.krate.clone(),
    }
    .to_tokens();
    let chain = header.chain(define, desc);
    quote! {
        #item
        #row_check
        #(#in_cols)*
        #chain
    }
}

/// What a task whose impl is wrong still emits: the user's impl, a `Step` that processes
/// nothing, the builder methods as no-ops and a callback saying its columns are only known when
/// it runs. The pipelines using it then report nothing more.
pub(super) fn fallback(
    ident: &Ident,
    self_ty: &Type,
    generics: &syn::Generics,
    item: TokenStream,
) -> TokenStream {
    let step = Fallback {
        form: Form::Row,
        ident: ident.clone(),
        vis: parse_quote!(pub),
        self_ty: self_ty.clone(),
        generics: generics.clone(),
        item,
        struct_def: quote!(),
    }
    .expand();
    let builders = generics.params.is_empty().then(|| stub_builders(ident));
    quote!(#step #builders)
}
