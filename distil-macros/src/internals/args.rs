//! A step's (or a task's) arguments: column inputs and runtime parameters, read from a
//! function signature, and what they tell `pipeline!`. Shared by `#[step]` and `#[task]`.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::{FnArg, Ident, Pat, PathArguments, Type, spanned::Spanned};

use super::ctxt::Ctxt;
use super::protocol::ColumnDesc;
use super::types::*;

/// How the step sees rows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// One call per row.
    Row,
    /// One call per batch, columns as `Vec`s.
    Batch,
    /// One call over all rows, columns as `Vec`s.
    Global,
    /// Produces rows.
    Generator,
}

/// A column argument.
pub(crate) struct Input {
    pub(crate) ident: Ident,
    pub(crate) column: String,
    /// The argument type as written (`&str`), or the element type for batch forms.
    pub(crate) ty: Type,
}

/// A runtime parameter (`#[param]` argument).
pub(crate) struct Param {
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    pub(crate) default: Option<syn::Expr>,
}

pub(crate) enum Arg {
    Input(Input),
    Param(Param),
}

/// Reads the arguments: `#[param]` ones are runtime parameters, the others input columns.
pub(crate) fn parse_args<'a>(
    form: Form,
    inputs: impl Iterator<Item = &'a mut FnArg>,
    cx: &Ctxt,
) -> Vec<Arg> {
    let mut args = Vec::new();
    for arg in inputs {
        let FnArg::Typed(typed) = arg else { continue };
        let Pat::Ident(pat) = &*typed.pat else {
            cx.error(
                &typed.pat,
                "step arguments must be plain names: the name is the column's",
            );
            continue;
        };
        let ident = pat.ident.clone();
        let mut param: Option<Option<syn::Expr>> = None;
        let mut column = ident.to_string().trim_start_matches("r#").to_owned();
        typed.attrs.retain(|attr| {
            if attr.path().is_ident("param") {
                let mut default = None;
                if !matches!(attr.meta, syn::Meta::Path(_)) {
                    let parsed = attr.parse_nested_meta(|meta| {
                        if meta.path.is_ident("default") {
                            default = Some(meta.value()?.parse()?);
                            Ok(())
                        } else {
                            Err(meta.error("expected `default = value`"))
                        }
                    });
                    if let Err(e) = parsed {
                        cx.push(e);
                    }
                }
                param = Some(default);
                false
            } else if attr.path().is_ident("column") {
                match attr.parse_args::<syn::LitStr>() {
                    Ok(name) => column = name.value(),
                    Err(e) => cx.push(e),
                }
                false
            } else {
                true
            }
        });
        let ty = (*typed.ty).clone();
        if let Some(imp) = impl_trait(&ty) {
            let what = if param.is_some() {
                "a runtime parameter is kept between batches and set by name"
            } else {
                "an argument is a column, read from each row"
            };
            cx.error(
                imp,
                format!(
                    "`{}` in a step's arguments: {what}, so its type is fixed; take a concrete type (`&str`, `String`, `u64`, `Vec<T>`, `Option<T>`, a #[derive(Row)] type, `Value`)",
                    display_type(&Type::ImplTrait(imp.clone()))
                ),
            );
            continue;
        }
        if let Some(default) = param {
            if matches!(ty, Type::Reference(_)) {
                cx.error(
                    &typed.ty,
                    "a runtime parameter is owned: the step keeps it between batches",
                );
            }
            args.push(Arg::Param(Param { ident, ty, default }));
            continue;
        }
        let ty = match form {
            Form::Batch | Form::Global => match unwrap_generic(&ty, "Vec") {
                Some(Type::Reference(r)) => {
                    let owned = display_type(&owned_form(&r.elem));
                    cx.error(
                        r,
                        format!("a batch or global step owns its columns: take `Vec<{owned}>`"),
                    );
                    ty
                }
                Some(element) => element.clone(),
                None => {
                    cx.error(
                        &typed.ty,
                        "a batch or global step takes each column as a `Vec<T>`",
                    );
                    ty
                }
            },
            Form::Generator => {
                cx.error(
                    &typed.ty,
                    "a generator has no input columns; mark its configuration `#[param]`",
                );
                ty
            }
            Form::Row => {
                check_borrow(&ty, cx);
                ty
            }
        };
        args.push(Arg::Input(Input { ident, column, ty }));
    }
    args
}

/// The first `impl Trait` in a type (`impl AsRef<str>`, `&impl Display`, `Vec<impl ..>`).
fn impl_trait(ty: &Type) -> Option<&syn::TypeImplTrait> {
    match ty {
        Type::ImplTrait(imp) => Some(imp),
        Type::Reference(r) => impl_trait(&r.elem),
        Type::Paren(p) => impl_trait(&p.elem),
        Type::Group(g) => impl_trait(&g.elem),
        Type::Slice(s) => impl_trait(&s.elem),
        Type::Array(a) => impl_trait(&a.elem),
        Type::Tuple(t) => t.elems.iter().find_map(impl_trait),
        Type::Path(p) => p.path.segments.iter().find_map(|s| match &s.arguments {
            syn::PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                syn::GenericArgument::Type(t) => impl_trait(t),
                _ => None,
            }),
            _ => None,
        }),
        _ => None,
    }
}

/// The description of an input column.
pub(crate) fn input_desc(form: Form, input: &Input) -> ColumnDesc {
    ColumnDesc {
        name: input.column.clone(),
        ty: column_type(form, &input.ty),
        required: !is_optional(&input.ty),
        typed: true,
    }
}

/// `impl InCol<ID> for Step`: the type `pipeline!` expects for an input column.
pub(crate) fn in_col_impl(ident: &Ident, form: Form, input: &Input) -> TokenStream {
    let id = distil_graph::column_id(&input.column);
    let ty = static_type(&input.ty);
    // Spanned from the argument type's first token to its last: a type that is no column
    // type is reported there, underlined whole.
    let first = input.ty.span();
    let last = input
        .ty
        .to_token_stream()
        .into_iter()
        .last()
        .map_or(first, |t| t.span());
    let (open, close) = match form {
        Form::Row => (
            quote_spanned!(first=> <#ty as ::distil::Arg<'static>),
            quote_spanned!(last=> >::Expect),
        ),
        _ => (
            quote_spanned!(first=> <#ty as ::distil::ColumnValue),
            quote_spanned!(last=> >::Expect),
        ),
    };
    let expect = quote!(#open #close);
    quote!(impl ::distil::__private::InCol<#id> for #ident { type Ty = #expect; })
}

/// The path of a row type's callback macro (its path without generic arguments), spanned at
/// the type.
pub(crate) fn row_macro_path(ty: &syn::TypePath) -> (syn::Path, proc_macro2::Span) {
    let mut path = ty.path.clone();
    for segment in &mut path.segments {
        segment.arguments = PathArguments::None;
    }
    (path, ty.span())
}
