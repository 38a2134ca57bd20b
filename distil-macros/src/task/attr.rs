//! The options of `#[task(..)]`, for a hand-written `impl Task`.

use proc_macro2::{Span, TokenStream};
use syn::{Token, Type, parenthesized, punctuated::Punctuated, spanned::Spanned};

use crate::internals::ctxt::{Ctxt, unknown_option};
use crate::internals::krate::{parse_crate, set_crate};
use crate::internals::symbol::*;

#[derive(Default)]
pub(super) struct Attr {
    /// `inputs = Row` or `inputs = (Row, ..)`: rows whose columns the task reads; at most one a
    /// generic parameter of the task type.
    pub(super) inputs: Vec<Type>,
    /// `outputs = Row`: the columns `format_output` fills (a concrete row).
    pub(super) outputs: Option<Type>,
    /// `default_inputs = Row`: the input row when the task type's parameter is not written.
    pub(super) default_inputs: Option<Type>,
    /// `dynamic`: the columns are only known when the task runs.
    pub(super) dynamic: bool,
    /// `structured` (on `#[task] impl MyTask`): the LLM is asked for the output row's JSON
    /// schema (its `response_format`).
    pub(super) structured: Option<Span>,
    /// `crate = path`: where distil is, for a crate that re-exports it.
    pub(super) krate: Option<syn::Path>,
    /// Where the options are, when there are any (for "options on an inherent impl").
    pub(super) span: Option<Span>,
}

impl Attr {
    /// Whether an option for a hand-written `impl Task` is given.
    pub(super) fn has_row_options(&self) -> bool {
        !self.inputs.is_empty()
            || self.outputs.is_some()
            || self.default_inputs.is_some()
            || self.dynamic
    }
}

pub(super) fn parse_attr(attr: TokenStream, cx: &Ctxt) -> Attr {
    let mut out = Attr {
        span: (!attr.is_empty()).then(|| attr.span()),
        ..Attr::default()
    };
    let parser = syn::meta::parser(|meta| {
        if meta.path == INPUTS {
            let value = meta.value()?;
            if value.peek(syn::token::Paren) {
                let content;
                parenthesized!(content in value);
                let rows: Punctuated<Type, Token![,]> = Punctuated::parse_terminated(&content)?;
                out.inputs.extend(rows);
            } else {
                out.inputs.push(value.parse()?);
            }
        } else if meta.path == TASK_OUTPUTS {
            out.outputs = Some(meta.value()?.parse()?);
        } else if meta.path == DEFAULT_INPUTS {
            out.default_inputs = Some(meta.value()?.parse()?);
        } else if meta.path == DYNAMIC {
            out.dynamic = true;
        } else if meta.path == STRUCTURED {
            out.structured = Some(meta.path.span());
        } else if meta.path == CRATE {
            set_crate(&mut out.krate, parse_crate(&meta)?, cx);
        } else {
            return Err(unknown_option(&meta, "task", TASK_OPTIONS));
        }
        Ok(())
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, attr) {
        cx.push(e);
    }
    out
}
