//! The options of `#[step(..)]`.

use proc_macro2::{Span, TokenStream};
use syn::{Ident, Type, spanned::Spanned};

use crate::internals::args::Form;
use crate::internals::ctxt::{Ctxt, unknown_option};
use crate::internals::krate::{parse_crate, set_crate};
use crate::internals::symbol::*;

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
    /// `crate = path`: where distil is, for a crate that re-exports it.
    pub(crate) krate: Option<syn::Path>,
}

pub(crate) fn parse_attr(attr: TokenStream, cx: &Ctxt) -> Attr {
    let mut out = Attr::default();
    let parser = syn::meta::parser(|meta| {
        let form = if meta.path == BATCH {
            Some(Form::Batch)
        } else if meta.path == GLOBAL {
            Some(Form::Global)
        } else if meta.path == GENERATOR {
            Some(Form::Generator)
        } else {
            None
        };
        if let Some(form) = form {
            if out.form.is_some() {
                return Err(meta.error("a step has one form: `batch`, `global` or `generator`"));
            }
            out.form = Some((form, meta.path.span()));
        } else if meta.path == DYNAMIC {
            out.dynamic = true;
        } else if meta.path == NAME {
            out.name = Some(meta.value()?.parse()?);
        } else if meta.path == STEP_OUTPUTS {
            out.outputs = Some(meta.value()?.parse()?);
        } else if meta.path == KEEPS {
            out.keeps = Some(meta.value()?.parse::<syn::LitInt>()?.base10_parse()?);
        } else if meta.path == GROUPS {
            out.groups = Some(meta.value()?.parse::<syn::LitInt>()?.base10_parse()?);
        } else if meta.path == CRATE {
            set_crate(&mut out.krate, parse_crate(&meta)?, cx);
        } else {
            return Err(unknown_option(&meta, "step", STEP_OPTIONS));
        }
        Ok(())
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, attr) {
        cx.push(e);
    }
    out
}
