//! `#[derive(Row)]`: parse the struct into a model, check it, generate the impls and the
//! callback macro that tells `pipeline!` and `#[step]` the row's columns.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::internals::ctxt::{Ctxt, unknown_option};
use crate::internals::krate::{parse_crate, set_crate};
use crate::internals::protocol::{ColumnDesc, RowDesc, callback_macro, unique_suffix};
use crate::internals::symbol::{CRATE, RENAME, ROW_FIELD_OPTIONS, ROW_OPTIONS};

struct Field {
    ident: syn::Ident,
    column: String,
    ty: syn::Type,
}

struct Model {
    input: DeriveInput,
    fields: Vec<Field>,
    /// Where distil is (`#[row(crate = path)]` on the struct).
    krate: Option<syn::Path>,
}

fn parse(input: DeriveInput, cx: &Ctxt) -> Model {
    let mut fields = Vec::new();
    let mut krate = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("row")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path == CRATE {
                set_crate(&mut krate, parse_crate(&meta)?, cx);
                Ok(())
            } else {
                Err(unknown_option(&meta, "row", ROW_OPTIONS))
            }
        });
        if let Err(e) = parsed {
            cx.push(e);
        }
    }
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
                            if meta.path == RENAME {
                                column = meta.value()?.parse::<LitStr>()?.value();
                                Ok(())
                            } else {
                                Err(unknown_option(&meta, "row field", ROW_FIELD_OPTIONS))
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
    Model {
        input,
        fields,
        krate,
    }
}

fn validate(model: &Model, cx: &Ctxt) {
    for (i, f) in model.fields.iter().enumerate() {
        if let Some(first) = model.fields[..i].iter().find(|g| g.column == f.column) {
            cx.error(
                &f.ident,
                format!(
                    "column `{}` is declared twice, by field `{}` and by field `{}`; give one of them another name with `#[row(rename = \"..\")]`",
                    f.column, first.ident, f.ident
                ),
            );
        }
    }
}

/// The impls and the callback macro. `stub` after an error: the impls exist (so code using the
/// row reports nothing more) but do nothing, and a column declared twice counts once.
fn expand(model: &Model, stub: bool) -> TokenStream {
    let ident = &model.input.ident;
    let name = ident.to_string();
    let mut fields: Vec<&Field> = Vec::new();
    for f in &model.fields {
        if !stub || !fields.iter().any(|g| g.column == f.column) {
            fields.push(f);
        }
    }
    let generics = &model.input.generics;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let mut predicates: Vec<TokenStream> = where_clause
        .map(|w| w.predicates.iter().map(ToTokens::to_token_stream).collect())
        .unwrap_or_default();
    if !generics.params.is_empty() {
        predicates.push(quote!(Self: ::std::marker::Send + 'static));
    }
    let where_clause = quote!(where #(#predicates),*);
    let col_impls = fields.iter().map(|f| {
        let id = distil_graph::column_id(&f.column);
        let ty = &f.ty;
        quote! {
            impl #impl_generics ::distil::__private::Col<#id> for #ident #ty_generics #where_clause {
                type Ty = #ty;
            }
        }
    });
    let desc = RowDesc {
        type_name: name.clone(),
        columns: fields
            .iter()
            .map(|f| ColumnDesc {
                name: f.column.clone(),
                ty: f.ty.clone(),
                required: true,
                typed: true,
            })
            .collect(),
        public: matches!(model.input.vis, syn::Visibility::Public(_)),
    }
    .to_tokens();
    let callback = callback_macro(
        &model.input.vis,
        ident,
        &unique_suffix(&model.input.to_token_stream()),
        desc,
    );

    let unreachable = quote!(::std::unreachable!("#[derive(Row)] failed"));
    let width = fields.len();
    let (columns, write, from_lookup, data_type, into_value, from_value) = if stub {
        (
            quote!(::std::vec::Vec::new()),
            unreachable.clone(),
            unreachable.clone(),
            unreachable.clone(),
            unreachable.clone(),
            unreachable,
        )
    } else {
        let columns = fields.iter().map(|f| {
            let (column, ty) = (&f.column, &f.ty);
            quote!(::distil::ColumnSpec::new(#column, <#ty as ::distil::ColumnValue>::data_type()))
        });
        let writes = fields.iter().enumerate().map(|(i, f)| {
            let (field, ty) = (&f.ident, &f.ty);
            quote!(columns[#i].push(<#ty as ::distil::ColumnValue>::into_value(self.#field));)
        });
        let reads = fields.iter().map(|f| {
            let (field, column) = (&f.ident, &f.column);
            quote!(#field: ::distil::__private::field(get, #column)?)
        });
        let object_fields = fields.iter().map(|f| {
            let (field, ty, column) = (&f.ident, &f.ty, &f.column);
            quote!(map.insert(#column.to_owned(), <#ty as ::distil::ColumnValue>::into_value(self.#field));)
        });
        (
            quote!(::std::vec![#(#columns),*]),
            quote!(#(#writes)*),
            quote!(::std::result::Result::Ok(#ident { #(#reads),* })),
            quote! {
                ::distil::DataType::Struct {
                    name: #name,
                    fields: <#ident as ::distil::Row>::columns().into(),
                }
            },
            quote! {
                let mut map = ::distil::__private::serde_json::Map::new();
                #(#object_fields)*
                ::distil::Value::Object(map)
            },
            quote!(::distil::__private::row_from_value(value, #name)),
        )
    };
    quote! {
        impl #impl_generics ::distil::Row for #ident #ty_generics #where_clause {
            fn columns() -> ::std::vec::Vec<::distil::ColumnSpec> {
                #columns
            }
            fn width() -> usize {
                #width
            }
            #[allow(unused_variables)]
            fn write(self, columns: &mut [::std::vec::Vec<::distil::Value>]) {
                #write
            }
            #[allow(unused_variables)]
            fn from_lookup<'a>(
                get: &dyn Fn(&str) -> ::std::option::Option<&'a ::distil::Value>,
            ) -> ::std::result::Result<Self, ::distil::RowError> {
                #from_lookup
            }
        }

        impl #impl_generics ::distil::ColumnValue for #ident #ty_generics #where_clause {
            type Expect = Self;
            type Nullable = ::std::option::Option<Self>;
            fn data_type() -> ::distil::DataType {
                #data_type
            }
            fn into_value(self) -> ::distil::Value {
                #into_value
            }
            #[allow(unused_variables)]
            fn from_value(
                value: ::std::option::Option<&::distil::Value>,
            ) -> ::std::result::Result<Self, ::distil::CellError> {
                #from_value
            }
        }

        #(#col_impls)*

        #callback
    }
}

/// Entry point of `#[derive(Row)]`: the expansion, and where distil is.
pub fn derive(input: DeriveInput) -> (TokenStream, Option<syn::Path>) {
    let cx = Ctxt::new();
    let model = parse(input, &cx);
    validate(&model, &cx);
    let tokens = match cx.check() {
        Ok(()) => expand(&model, false),
        Err(e) => {
            let error = e.to_compile_error();
            let stub = expand(&model, true);
            quote!(#error #stub)
        }
    };
    (tokens, model.krate)
}
