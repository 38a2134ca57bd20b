//! The model of a step: its form, input columns, runtime parameters and output row, read
//! from a function or from an `impl` with a `process` method, with every problem collected.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident};
use syn::{FnArg, Ident, ImplItem, ItemFn, ItemImpl, ReturnType, Type, Visibility, parse_quote};

use super::attr::*;
use crate::internals::args::*;
use crate::internals::ctxt::Ctxt;
use crate::internals::types::*;

/// Whether the function is called as `f(..)` or as a method of the user's struct.
pub(crate) enum Call {
    Fn(Ident),
    Method(Ident),
}

pub(crate) struct StepModel {
    pub(crate) form: Form,
    pub(crate) vis: Visibility,
    pub(crate) ident: Ident,
    pub(crate) docs: Vec<syn::Attribute>,
    pub(crate) is_async: bool,
    pub(crate) call: Call,
    /// Arguments in call order.
    pub(crate) args: Vec<Arg>,
    /// The row type of the outputs (`()` for filters).
    pub(crate) output: Type,
    /// The item the attribute was on, with `#[param]` attributes removed.
    pub(crate) item: TokenStream,
    /// Whether the macro declares the struct (function form) or the user did (impl form).
    pub(crate) declares_struct: bool,
    /// Where distil is (`#[step(crate = path)]`).
    pub(crate) krate: Option<syn::Path>,
}

impl StepModel {
    pub(crate) fn inputs(&self) -> impl Iterator<Item = &Input> {
        self.args.iter().filter_map(|a| match a {
            Arg::Input(i) => Some(i),
            Arg::Param(_) => None,
        })
    }

    pub(crate) fn params(&self) -> impl Iterator<Item = &Param> {
        self.args.iter().filter_map(|a| match a {
            Arg::Param(p) => Some(p),
            Arg::Input(_) => None,
        })
    }
}

pub(crate) fn pascal_case(snake: &str) -> String {
    snake
        .trim_start_matches("r#")
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

pub(crate) fn output_row(form: Form, sig: &syn::Signature, cx: &Ctxt) -> Type {
    let unit: Type = parse_quote!(());
    let ReturnType::Type(_, ty) = &sig.output else {
        cx.error(
            &sig.ident,
            "a step must return its output columns: a #[derive(Row)] struct (or `bool` for a filter)",
        );
        return unit;
    };
    let ty = unwrap_generic(ty, "Result").unwrap_or(ty);
    let row = match form {
        Form::Row => {
            if is_bool(ty) {
                return unit;
            }
            let inner = unwrap_generic(ty, "Option")
                .or_else(|| unwrap_generic(ty, "Vec"))
                .unwrap_or(ty);
            if is_bool(inner) {
                return unit;
            }
            inner.clone()
        }
        Form::Batch | Form::Global => match unwrap_generic(ty, "Vec") {
            Some(row) => row.clone(),
            None => {
                cx.error(ty, "a batch or global step returns `Vec<Row>` (one row per input row), or a `Result` of it");
                return unit;
            }
        },
        Form::Generator => match iterator_item(ty).or_else(|| unwrap_generic(ty, "Vec")) {
            Some(row) => row.clone(),
            None => {
                cx.error(
                    ty,
                    "a generator returns `impl Iterator<Item = Row>` or `Vec<Row>`",
                );
                return unit;
            }
        },
    };
    if check_row_type(&row, cx) { row } else { unit }
}

pub(crate) fn docs(attrs: &[syn::Attribute]) -> Vec<syn::Attribute> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect()
}

pub(crate) fn model_from_fn(attr: &Attr, mut item: ItemFn, cx: &Ctxt) -> StepModel {
    let form = attr.form.map_or(Form::Row, |(f, _)| f);
    let args = parse_args(form, item.sig.inputs.iter_mut(), cx);
    let output = output_row(form, &item.sig, cx);
    let fn_ident = item.sig.ident.clone();
    let ident = attr.name.clone().unwrap_or_else(|| {
        format_ident!(
            "{}",
            pascal_case(&fn_ident.to_string()),
            span = fn_ident.span()
        )
    });
    if !item.sig.generics.params.is_empty() {
        cx.error(
            &item.sig.generics,
            "a step function cannot be generic: its columns have fixed types",
        );
    }
    let clashes = matches!(&output, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == ident));
    let ident = if clashes {
        cx.error(
            &fn_ident,
            format!(
                "the step made from `{fn_ident}` would be named `{ident}`, like its output row; \
                 rename the row (e.g. `{ident}Row`) or name the step with `#[step(name = {ident}Step)]`"
            ),
        );
        // A distinct name keeps this the only error.
        format_ident!("{}Step", ident)
    } else {
        ident
    };
    StepModel {
        form,
        vis: item.vis.clone(),
        docs: docs(&item.attrs),
        is_async: item.sig.asyncness.is_some(),
        call: Call::Fn(fn_ident),
        args,
        output,
        ident,
        item: item.to_token_stream(),
        declares_struct: true,
        krate: attr.krate.clone(),
    }
}

pub(crate) fn model_from_impl(attr: &Attr, mut item: ItemImpl, cx: &Ctxt) -> Option<StepModel> {
    let form = attr.form.map_or(Form::Row, |(f, _)| f);
    if form == Form::Generator {
        cx.error(&item.self_ty, "a generator is a function (`#[step(generator)] fn ...`) or a hand-written `impl Step` marked `#[step(dynamic, generator)]`");
        return None;
    }
    let Type::Path(self_path) = &*item.self_ty else {
        cx.error(&item.self_ty, "#[step] on an impl needs a named struct");
        return None;
    };
    let ident = self_path
        .path
        .segments
        .last()
        .expect("a path")
        .ident
        .clone();
    if !item.generics.params.is_empty() {
        cx.error(
            &item.generics,
            "a step struct cannot be generic: its columns have fixed types",
        );
        return None;
    }
    let method = item.items.iter_mut().find_map(|i| match i {
        ImplItem::Fn(f) if f.sig.ident == "process" => Some(f),
        _ => None,
    });
    let Some(method) = method else {
        cx.error(
            &item.self_ty,
            "#[step] on an impl needs a `fn process(&mut self, <columns>) -> Row` method",
        );
        return None;
    };
    if !matches!(method.sig.inputs.first(), Some(FnArg::Receiver(_))) {
        cx.error(&method.sig, "`process` takes `&self` or `&mut self` first");
    }
    let args = parse_args(form, method.sig.inputs.iter_mut().skip(1), cx);
    if let Some(Arg::Param(p)) = args.iter().find(|a| matches!(a, Arg::Param(_))) {
        cx.error(&p.ident, "in a step struct, configuration lives in the struct's fields, not in `#[param]` arguments");
    }
    let output = output_row(form, &method.sig, cx);
    let is_async = method.sig.asyncness.is_some();
    Some(StepModel {
        form,
        vis: parse_quote!(pub),
        docs: Vec::new(),
        is_async,
        call: Call::Method(format_ident!("process")),
        args,
        output,
        ident,
        item: item.to_token_stream(),
        declares_struct: false,
        krate: attr.krate.clone(),
    })
}
