//! `#[derive(Row)]`: parse the struct into a model, check it, generate the impls and the
//! callback macro that tells `pipeline!` and `#[step]` the row's columns.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::ctxt::Ctxt;
use crate::desc::{ColumnDesc, RowDesc, callback_macro, display_type, unique_suffix};

struct Field {
    ident: syn::Ident,
    column: String,
    ty: syn::Type,
}

struct Model {
    input: DeriveInput,
    fields: Vec<Field>,
}

fn parse(input: DeriveInput, cx: &Ctxt) -> Model {
    let mut fields = Vec::new();
    if !input.generics.params.is_empty() {
        cx.error(
            &input.generics,
            "#[derive(Row)] does not support generic structs: a row's columns have fixed types",
        );
    }
    match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => {
                for f in &named.named {
                    let ident = f.ident.clone().expect("named field");
                    let mut column = ident.to_string().trim_start_matches("r#").to_owned();
                    for attr in f.attrs.iter().filter(|a| a.path().is_ident("row")) {
                        let parsed = attr.parse_nested_meta(|meta| {
                            if meta.path.is_ident("rename") {
                                column = meta.value()?.parse::<LitStr>()?.value();
                                Ok(())
                            } else {
                                Err(meta
                                    .error("unknown row attribute; expected `rename = \"column\"`"))
                            }
                        });
                        if let Err(e) = parsed {
                            cx.push(e);
                        }
                    }
                    fields.push(Field {
                        ident,
                        column,
                        ty: f.ty.clone(),
                    });
                }
            }
            Fields::Unit => {}
            Fields::Unnamed(_) => cx.error(
                &data.fields,
                "#[derive(Row)] needs named fields: each field is a column",
            ),
        },
        _ => cx.error(
            &input.ident,
            "#[derive(Row)] works on structs: each field is a column",
        ),
    }
    Model { input, fields }
}

fn validate(model: &Model, cx: &Ctxt) {
    for (i, f) in model.fields.iter().enumerate() {
        if model.fields[..i].iter().any(|g| g.column == f.column) {
            cx.error(&f.ident, format!("column `{}` is declared twice", f.column));
        }
    }
}

fn expand(model: &Model) -> TokenStream {
    let ident = &model.input.ident;
    let name = ident.to_string();
    let width = model.fields.len();
    let columns = model.fields.iter().map(|f| {
        let (column, ty) = (&f.column, &f.ty);
        quote!(::distil::ColumnSpec::new(#column, <#ty as ::distil::ColumnValue>::data_type()))
    });
    let writes = model.fields.iter().enumerate().map(|(i, f)| {
        let (field, ty) = (&f.ident, &f.ty);
        quote!(columns[#i].push(<#ty as ::distil::ColumnValue>::into_value(self.#field));)
    });
    let reads = model.fields.iter().map(|f| {
        let (field, column) = (&f.ident, &f.column);
        quote!(#field: ::distil::__private::field(get, #column)?)
    });
    let object_fields = model.fields.iter().map(|f| {
        let (field, ty, column) = (&f.ident, &f.ty, &f.column);
        quote!(map.insert(#column.to_owned(), <#ty as ::distil::ColumnValue>::into_value(self.#field));)
    });
    let col_impls = model.fields.iter().map(|f| {
        let id = distil_graph::column_id(&f.column);
        let ty = &f.ty;
        quote! {
            impl ::distil::__private::Col<#id> for #ident { type Ty = #ty; }
        }
    });
    let desc = RowDesc {
        type_name: name.clone(),
        columns: model
            .fields
            .iter()
            .map(|f| ColumnDesc {
                name: f.column.clone(),
                ty: display_type(&f.ty),
                required: true,
            })
            .collect(),
    }
    .to_tokens();
    let callback = callback_macro(
        &model.input.vis,
        ident,
        &unique_suffix(&model.input.to_token_stream()),
        desc,
    );
    quote! {
        impl ::distil::Row for #ident {
            fn columns() -> ::std::vec::Vec<::distil::ColumnSpec> {
                ::std::vec![#(#columns),*]
            }
            fn width() -> usize {
                #width
            }
            fn write(self, columns: &mut [::std::vec::Vec<::distil::Value>]) {
                #(#writes)*
            }
            fn from_lookup<'a>(
                get: &dyn Fn(&str) -> ::std::option::Option<&'a ::distil::Value>,
            ) -> ::std::result::Result<Self, ::distil::RowError> {
                ::std::result::Result::Ok(#ident { #(#reads),* })
            }
        }

        impl ::distil::ColumnValue for #ident {
            type Expect = Self;
            fn data_type() -> ::distil::DataType {
                ::distil::DataType::Struct {
                    name: #name,
                    fields: <#ident as ::distil::Row>::columns().into(),
                }
            }
            fn into_value(self) -> ::distil::Value {
                let mut map = ::distil::__private::serde_json::Map::new();
                #(#object_fields)*
                ::distil::Value::Object(map)
            }
            fn from_value(
                value: ::std::option::Option<&::distil::Value>,
            ) -> ::std::result::Result<Self, ::distil::CellError> {
                ::distil::__private::row_from_value(value, #name)
            }
        }

        #(#col_impls)*

        #callback
    }
}

/// Entry point of `#[derive(Row)]`.
pub fn derive(input: DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let model = parse(input, &cx);
    validate(&model, &cx);
    match cx.check() {
        Ok(()) => expand(&model),
        Err(e) => {
            // Still declare the row so code using it reports nothing else.
            let ident = &model.input.ident;
            let span = ident.span();
            let error = e.to_compile_error();
            quote::quote_spanned! {span=>
                #error
                impl ::distil::Row for #ident {
                    fn columns() -> ::std::vec::Vec<::distil::ColumnSpec> { ::std::vec::Vec::new() }
                    fn width() -> usize { 0 }
                    fn write(self, _: &mut [::std::vec::Vec<::distil::Value>]) {}
                    fn from_lookup<'a>(_: &dyn Fn(&str) -> ::std::option::Option<&'a ::distil::Value>) -> ::std::result::Result<Self, ::distil::RowError> { ::std::unreachable!() }
                }
            }
        }
    }
}
