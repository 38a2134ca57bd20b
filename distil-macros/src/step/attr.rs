//! The options of `#[step(..)]`.

use proc_macro2::{Span, TokenStream};
use syn::{Ident, Type, spanned::Spanned};

use crate::ctxt::{Ctxt, unknown_option};

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

#[derive(Default)]
pub(crate) struct Attr {
    pub(crate) form: Option<(Form, Span)>,
    pub(crate) dynamic: bool,
    pub(crate) name: Option<Ident>,
    pub(crate) outputs: Option<Type>,
    /// `keeps = N`: the step keeps the columns its constructor's argument `N` lists.
    pub(crate) keeps: Option<usize>,
    /// `groups = N`: the step groups the columns its constructor's argument `N` lists.
    pub(crate) groups: Option<usize>,
}

/// The options of `#[step(..)]`, as the user writes them.
pub(crate) const OPTIONS: [&str; 8] = [
    "batch",
    "global",
    "generator",
    "dynamic",
    "name = Type",
    "outputs = RowParam",
    "keeps = ArgIndex",
    "groups = ArgIndex",
];

pub(crate) fn parse_attr(attr: TokenStream, cx: &Ctxt) -> Attr {
    let mut out = Attr::default();
    let parser = syn::meta::parser(|meta| {
        let form = if meta.path.is_ident("batch") {
            Some(Form::Batch)
        } else if meta.path.is_ident("global") {
            Some(Form::Global)
        } else if meta.path.is_ident("generator") {
            Some(Form::Generator)
        } else {
            None
        };
        if let Some(form) = form {
            if out.form.is_some() {
                return Err(meta.error("a step has one form: `batch`, `global` or `generator`"));
            }
            out.form = Some((form, meta.path.span()));
        } else if meta.path.is_ident("dynamic") {
            out.dynamic = true;
        } else if meta.path.is_ident("name") {
            out.name = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("outputs") {
            out.outputs = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("keeps") {
            out.keeps = Some(meta.value()?.parse::<syn::LitInt>()?.base10_parse()?);
        } else if meta.path.is_ident("groups") {
            out.groups = Some(meta.value()?.parse::<syn::LitInt>()?.base10_parse()?);
        } else {
            return Err(unknown_option(&meta, "step", &OPTIONS));
        }
        Ok(())
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, attr) {
        cx.push(e);
    }
    out
}
