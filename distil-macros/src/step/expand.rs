//! Code generation: the step struct, its `Step` impl, the column type projections and the
//! callback chain that tells `pipeline!` its columns.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::{Ident, Type, spanned::Spanned};

use super::model::*;
use crate::internals::args::*;
use crate::internals::protocol::{DefineHeader, Kind, StepDesc, unique_suffix};

pub(crate) fn kind_tokens(form: Form) -> TokenStream {
    match form {
        Form::Generator => quote!(::distil::StepKind::Generator),
        Form::Global => quote!(::distil::StepKind::Global),
        Form::Row | Form::Batch => quote!(::distil::StepKind::Normal),
    }
}

pub(crate) fn desc_kind(form: Form) -> Kind {
    match form {
        Form::Generator => Kind::Generator,
        Form::Global => Kind::Global,
        Form::Row | Form::Batch => Kind::Normal,
    }
}

pub(crate) fn expand(model: &StepModel) -> TokenStream {
    let StepModel {
        ident,
        form,
        output,
        ..
    } = model;
    let form = *form;
    let type_name = ident.to_string();
    let kind = kind_tokens(form);

    let call_args: Vec<TokenStream> = model
        .args
        .iter()
        .map(|a| match a {
            Arg::Input(i) => {
                let local = format_ident!("__distil_arg_{}", i.ident);
                quote!(#local)
            }
            Arg::Param(p) => {
                let field = &p.ident;
                quote!(::std::clone::Clone::clone(&self.#field))
            }
        })
        .collect();
    let call = match &model.call {
        Call::Fn(f) => quote!(#f(#(#call_args),*)),
        Call::Method(m) => quote!(#ident::#m(self, #(#call_args),*)),
    };
    let call = if model.is_async {
        quote!(#call.await)
    } else {
        call
    };

    let spec_inputs = model.inputs().map(|i| {
        let (column, ty) = (&i.column, &i.ty);
        match form {
            Form::Row => quote!(::distil::__private::input::<#ty>(#column)),
            _ => quote!(::distil::__private::batch_input::<#ty>(#column)),
        }
    });

    let process = match form {
        Form::Row => {
            let columns = model.inputs().map(|i| {
                let local = format_ident!("__distil_col_{}", i.ident);
                let column = &i.column;
                quote!(let #local = input.column(#column);)
            });
            let reads = model.inputs().map(|i| {
                let local = format_ident!("__distil_arg_{}", i.ident);
                let col = format_ident!("__distil_col_{}", i.ident);
                let (ty, column) = (&i.ty, &i.column);
                quote!(let #local: #ty = ::distil::__private::arg::<#ty>(#col, __distil_row, #column)?;)
            });
            let per_row = if model.is_async {
                quote!(async { #(#reads)* ::std::result::Result::Ok::<_, ::std::string::String>(#call) }.await)
            } else {
                quote!((|| { #(#reads)* ::std::result::Result::Ok::<_, ::std::string::String>(#call) })())
            };
            process_method(quote! {
                #(#columns)*
                let mut __distil_sink = ::distil::__private::RowSink::<#output>::new(input.len());
                for __distil_row in 0..input.len() {
                    let __distil_result = #per_row;
                    __distil_sink.emit(__distil_row, __distil_result);
                }
                ::std::result::Result::Ok(__distil_sink.finish())
            })
        }
        Form::Batch | Form::Global => {
            let reads = model.inputs().map(|i| {
                let local = format_ident!("__distil_arg_{}", i.ident);
                let (ty, column) = (&i.ty, &i.column);
                quote!(let #local = ::distil::__private::column_vec::<#ty>(input.column(#column), __distil_len, #column)?;)
            });
            process_method(quote! {
                let __distil_len = input.len();
                #(#reads)*
                ::distil::__private::batch_output::<#output, _>(#call, __distil_len)
            })
        }
        Form::Generator => quote! {
            fn start(&mut self) -> ::distil::step::BoxFuture<'_, ::distil::Result<()>> {
                ::std::boxed::Box::pin(async move {
                    self.__distil_rows = ::std::option::Option::Some(::std::boxed::Box::new(
                        ::std::iter::IntoIterator::into_iter(#call),
                    ));
                    ::std::result::Result::Ok(())
                })
            }
            fn generate(
                &mut self,
                batch_size: usize,
            ) -> ::distil::step::BoxFuture<'_, ::distil::Result<::std::option::Option<::distil::step::Output>>> {
                ::std::boxed::Box::pin(async move {
                    let rows = self.__distil_rows.as_mut().ok_or_else(|| ::distil::Error::msg("generator not started"))?;
                    let mut sink = ::distil::__private::RowSink::<#output>::new(batch_size);
                    for row in rows.take(batch_size) {
                        sink.generated(row);
                    }
                    ::std::result::Result::Ok(sink.finish_generated())
                })
            }
        },
    };

    let params: Vec<&Param> = model.params().collect();
    let param_names: Vec<String> = params.iter().map(|p| p.ident.to_string()).collect();
    let param_idents: Vec<&Ident> = params.iter().map(|p| &p.ident).collect();
    let param_methods = if params.is_empty() {
        quote!()
    } else {
        quote! {
            fn params(&self) -> ::std::vec::Vec<(::std::string::String, ::distil::Value)> {
                ::std::vec![#((#param_names.to_owned(), ::distil::__private::param_value(&self.#param_idents))),*]
            }
            fn set_param(&mut self, name: &str, value: ::distil::Value) -> ::std::result::Result<(), ::std::string::String> {
                match name {
                    #(#param_names => ::distil::__private::set_param(&mut self.#param_idents, name, value),)*
                    _ => ::std::result::Result::Err(::distil::__private::unknown_param(name, &[#(#param_names),*])),
                }
            }
        }
    };

    let struct_def = declare_struct(model, true);

    let in_cols = model.inputs().map(|i| in_col_impl(ident, form, i));

    let item = &model.item;
    // The `Step` impl needs the output to be a row: it is emitted by `__define_step`, once the
    // row's callback has answered. A struct that is no row then costs the user the one error
    // below (plus rustc's "cannot find macro"), not one per use of the row in the impl.
    let step_impl = quote! {
        impl ::distil::Step for #ident {
            fn spec(&self) -> ::distil::step::StepSpec {
                ::distil::__private::spec(#type_name, #kind, ::std::vec![#(#spec_inputs),*], <#output as ::distil::Row>::columns())
            }
            #process
            #param_methods
        }
    };
    let row_check = match output {
        Type::Tuple(_) => quote!(),
        _ => {
            let span = output.span();
            quote_spanned! {span=>
                const _: () = {
                    #[allow(dead_code)]
                    fn __distil_output_is_a_row() where #output: ::distil::Row {}
                };
            }
        }
    };
    // Emitted once the row has told whether it is as visible as the step.
    let step_impl = quote! {
        #step_impl
        impl<const ID: u64> ::distil::__private::OutCol<ID> for #ident
        where
            #output: ::distil::__private::Col<ID>,
        {
            type Ty = <#output as ::distil::__private::Col<ID>>::Ty;
        }
    };
    let chain = define_chain(model, &step_impl);
    quote! {
        #item
        #struct_def
        #row_check
        #(#in_cols)*
        #chain
    }
}

/// The struct a function-form step declares: its runtime parameters as fields, `new()`, and a
/// setter per parameter. A generator also keeps its row iterator (`with_rows`).
pub(crate) fn declare_struct(model: &StepModel, with_rows: bool) -> TokenStream {
    let StepModel {
        ident, vis, output, ..
    } = model;
    let params: Vec<&Param> = model.params().collect();
    if !model.declares_struct {
        return quote!();
    }
    {
        let docs = &model.docs;
        let fields = params.iter().map(|p| {
            let (field, ty) = (&p.ident, &p.ty);
            quote!(#[doc = "Runtime parameter."] pub #field: #ty,)
        });
        let inits = params.iter().map(|p| {
            let field = &p.ident;
            match &p.default {
                Some(expr) => quote!(#field: ::std::convert::Into::into(#expr),),
                None => quote!(#field: ::std::default::Default::default(),),
            }
        });
        let setters = params.iter().map(|p| {
            let (field, ty) = (&p.ident, &p.ty);
            let doc = format!("Sets the runtime parameter `{field}`.");
            quote! {
                #[doc = #doc]
                #[must_use]
                pub fn #field(mut self, #field: #ty) -> Self {
                    self.#field = #field;
                    self
                }
            }
        });
        let (rows_field, rows_init) = if with_rows && model.form == Form::Generator {
            (
                quote!(__distil_rows: ::std::option::Option<::std::boxed::Box<dyn ::std::iter::Iterator<Item = #output> + ::std::marker::Send>>,),
                quote!(__distil_rows: ::std::option::Option::None,),
            )
        } else {
            (quote!(), quote!())
        };
        let new_doc = format!("A new `{ident}` step with its default parameters.");
        quote! {
            #(#docs)*
            #[allow(missing_docs)]
            #vis struct #ident {
                #(#fields)*
                #rows_field
            }
            impl #ident {
                #[doc = #new_doc]
                pub fn new() -> Self {
                    #ident { #(#inits)* #rows_init }
                }
                #(#setters)*
            }
            impl ::std::default::Default for #ident {
                fn default() -> Self {
                    Self::new()
                }
            }
        }
    }
}

/// Asks the output row's callback for its columns, then `__define_step` emits the step's own
/// callback with them.
pub(crate) fn define_chain(model: &StepModel, step_impl: &TokenStream) -> TokenStream {
    let desc = StepDesc {
        inputs: model.inputs().map(|i| input_desc(model.form, i)).collect(),
        ..StepDesc::new(model.ident.to_string(), desc_kind(model.form), false)
    }
    .to_tokens();
    let vis = &model.vis;
    let ident = &model.ident;
    let suffix = unique_suffix(&model.item);
    // A function's visibility is the step struct's; an impl's struct is the user's, whose
    // visibility the impl does not show.
    let visible =
        matches!(model.call, Call::Fn(_)).then(|| (model.output.clone(), kind_tokens(model.form)));
    let header = DefineHeader {
        vis: vis.clone(),
        ident: ident.clone(),
        suffix,
        step_impl: step_impl.clone(),
        task: None,
        output: visible,
        krate: model.krate.clone(),
    }
    .to_tokens();
    match &model.output {
        Type::Tuple(t) if t.elems.is_empty() => {
            let no_columns = crate::internals::protocol::RowDesc {
                type_name: "()".to_owned(),
                columns: Vec::new(),
                public: true,
            }
            .to_tokens();
            quote! {
                ::distil::__private::define_step! { [] { #header #desc #no_columns } }
            }
        }
        Type::Path(p) => {
            let (path, span) = row_macro_path(p);
            quote_spanned! {span=>
                #path! { [ (::distil::__private::define_step) ] { #header #desc } }
            }
        }
        other => syn::Error::new_spanned(other, "a step's output must be a #[derive(Row)] struct")
            .to_compile_error(),
    }
}

/// `Step::process` of a generated step: `body` runs with `input` in scope and returns the output.
fn process_method(body: TokenStream) -> TokenStream {
    quote! {
        fn process<'a>(
            &'a mut self,
            input: ::distil::step::Input<'a>,
        ) -> ::distil::step::BoxFuture<'a, ::distil::Result<::distil::step::Output>> {
            ::std::boxed::Box::pin(async move { #body })
        }
    }
}
