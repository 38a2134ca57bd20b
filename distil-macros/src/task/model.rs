//! The model of a `#[task]` impl: the input columns of `format_input` and `format_output`, the
//! output row, how each method returns; every problem collected.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, ReturnType, Type};

use crate::internals::args::Form;
use crate::internals::args::{Arg, Input, parse_args};
use crate::internals::ctxt::{Ctxt, did_you_mean};
use crate::internals::types::{check_row_type_of, column_type, display_type, unwrap_generic};

/// The methods a `#[task]` impl may have.
pub(super) const METHODS: [&str; 3] = ["format_input", "format_output", "check"];

/// One of the user's methods, as the generated `Task` impl calls it.
pub(super) struct Method {
    /// The input columns it reads, in call order (after the generation for `format_output`).
    pub(super) inputs: Vec<Input>,
    /// It returns a `Result` (its `Err` fails the row, or the run for `check`).
    pub(super) returns_result: bool,
    /// The return type, for spans.
    pub(super) output: Option<Type>,
}

pub(super) struct TaskModel {
    pub(super) ident: Ident,
    /// The user's impl, cleaned of the attributes the macro consumes.
    pub(super) item: TokenStream,
    pub(super) format_input: Method,
    pub(super) format_output: Method,
    /// The row `format_output` returns.
    pub(super) output: Type,
    /// `check(&self) -> Result<(), E>`, when the user wrote one.
    pub(super) check: bool,
    /// `#[task(structured)]`: the response format is the output row's JSON schema.
    pub(super) structured: bool,
    /// Where distil is (`#[task(crate = path)]`).
    pub(super) krate: Option<syn::Path>,
}

impl TaskModel {
    /// The task's input columns: those of `format_input`, then those only `format_output` reads.
    pub(super) fn inputs(&self) -> Vec<&Input> {
        let mut inputs: Vec<&Input> = Vec::new();
        for input in self
            .format_input
            .inputs
            .iter()
            .chain(&self.format_output.inputs)
        {
            if !inputs.iter().any(|i| i.column == input.column) {
                inputs.push(input);
            }
        }
        inputs
    }
}

fn is_str_ref(ty: &Type) -> bool {
    matches!(ty, Type::Reference(r) if r.mutability.is_none() && matches!(&*r.elem, Type::Path(p) if p.path.is_ident("str")))
}

fn returns_result(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Result"))
}

/// What every method must be: `&self` first, not async, not generic.
fn check_signature(method: &ImplItemFn, cx: &Ctxt) {
    let sig = &method.sig;
    let name = &sig.ident;
    match sig.inputs.first() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        Some(FnArg::Receiver(r)) => cx.error(
            r,
            format!(
                "`{name}` takes `&self`, not {}: a task formats many rows at once, so it does not change",
                if r.mutability.is_some() && r.reference.is_some() {
                    "`&mut self`"
                } else {
                    "`self` by value"
                }
            ),
        ),
        _ => cx.error(
            name,
            format!("`{name}` is a method: it takes `&self` first"),
        ),
    }
    if let Some(asyncness) = &sig.asyncness {
        cx.error(
            asyncness,
            format!("`{name}` is not async: the task's LLM call is the part that waits"),
        );
    }
    if !sig.generics.params.is_empty() {
        cx.error(
            &sig.generics,
            format!("`{name}` cannot be generic: the task's columns have fixed types"),
        );
    }
}

/// The input column arguments of `method`, after the receiver and `skip` more.
fn column_args(method: &mut ImplItemFn, skip: usize, cx: &Ctxt) -> Vec<Input> {
    let name = method.sig.ident.clone();
    let receiver = usize::from(matches!(
        method.sig.inputs.first(),
        Some(FnArg::Receiver(_))
    ));
    let args = parse_args(
        Form::Row,
        method.sig.inputs.iter_mut().skip(receiver + skip),
        cx,
    );
    args.into_iter()
        .filter_map(|a| match a {
            Arg::Input(i) => Some(i),
            Arg::Param(p) => {
                cx.error(
                    &p.ident,
                    format!("`{name}` reads input columns; a task's configuration lives in its struct's fields, not in `#[param]` arguments"),
                );
                None
            }
        })
        .collect()
}

fn format_input(method: &mut ImplItemFn, cx: &Ctxt) -> Method {
    check_signature(method, cx);
    let inputs = column_args(method, 0, cx);
    let output = match &method.sig.output {
        ReturnType::Type(_, ty) => Some((**ty).clone()),
        ReturnType::Default => {
            cx.error(
                &method.sig.ident,
                "`format_input` returns the prompt: a `String`, a `Vec<ChatMessage>` or a `Prompt` (anything `Into<Prompt>`), or a `Result` of one",
            );
            None
        }
    };
    Method {
        inputs,
        returns_result: output.as_ref().is_some_and(returns_result),
        output,
    }
}

fn format_output(method: &mut ImplItemFn, cx: &Ctxt) -> (Method, Type) {
    check_signature(method, cx);
    let receiver = usize::from(matches!(
        method.sig.inputs.first(),
        Some(FnArg::Receiver(_))
    ));
    match method.sig.inputs.iter().nth(receiver) {
        Some(FnArg::Typed(generation)) if is_str_ref(&generation.ty) => {}
        Some(FnArg::Typed(generation)) => cx.error(
            &generation.ty,
            format!(
                "the first argument of `format_output` is the generation, `&str`, not `{}`; the input columns it reads come after it",
                display_type(&generation.ty)
            ),
        ),
        _ => cx.error(
            &method.sig.ident,
            "`format_output` takes the generation first: `fn format_output(&self, generation: &str, <input columns>) -> Row`",
        ),
    }
    let inputs = column_args(method, 1, cx);
    let unit: Type = syn::parse_quote!(());
    let (output, row) = match &method.sig.output {
        ReturnType::Type(_, ty) => {
            let row = unwrap_generic(ty, "Result").unwrap_or(ty);
            let what = "`format_output` returns the task's output columns";
            let row = match row {
                Type::Tuple(t) if t.elems.is_empty() => {
                    cx.error(row, format!("{what} as a #[derive(Row)] struct, not `()`"));
                    unit
                }
                _ if check_row_type_of(row, what, cx) => row.clone(),
                _ => unit,
            };
            (Some((**ty).clone()), row)
        }
        ReturnType::Default => {
            cx.error(
                &method.sig.ident,
                "`format_output` returns the task's output columns: a #[derive(Row)] struct, or a `Result` of one",
            );
            (None, unit)
        }
    };
    let method = Method {
        inputs,
        returns_result: output.as_ref().is_some_and(returns_result),
        output,
    };
    (method, row)
}

/// Reads `#[task] impl Type { .. }`; `None` when it is not a task at all.
pub(super) fn model_from_impl(
    mut item: ItemImpl,
    structured: bool,
    krate: Option<syn::Path>,
    cx: &Ctxt,
) -> Option<TaskModel> {
    let Type::Path(self_path) = &*item.self_ty else {
        cx.error(&item.self_ty, "#[task] on an impl needs a named struct");
        return None;
    };
    let ident = self_path.path.segments.last()?.ident.clone();
    if !item.generics.params.is_empty() {
        cx.error(
            &item.generics,
            "a #[task] struct cannot be generic: its columns have fixed types (write `impl Task` by hand with `#[task(inputs = I, outputs = Row)]` for a generic task)",
        );
        return None;
    }
    let mut input = None;
    let mut output = None;
    let mut check = false;
    for member in &mut item.items {
        let ImplItem::Fn(method) = member else {
            cx.error(
                &*member,
                "a #[task] impl holds `format_input`, `format_output` and optionally `check`; put anything else in another impl block",
            );
            continue;
        };
        let name = method.sig.ident.to_string();
        match name.as_str() {
            "format_input" => input = Some(format_input(method, cx)),
            "format_output" => output = Some(format_output(method, cx)),
            "check" => {
                check_signature(method, cx);
                if method.sig.inputs.len() > 1 {
                    cx.error(
                        &method.sig.inputs,
                        "`check` takes only `&self`: it checks the task's configuration before the run",
                    );
                }
                let ok = match &method.sig.output {
                    ReturnType::Type(_, ty) => returns_result(ty),
                    ReturnType::Default => false,
                };
                if !ok {
                    cx.error(
                        &method.sig.ident,
                        "`check` returns `Result<(), E>` (E: Display): an `Err` stops the run before any request",
                    );
                }
                check = true;
            }
            _ => {
                let hint = did_you_mean(&name, METHODS)
                    .map(|near| format!("did you mean `{near}`? "))
                    .unwrap_or_default();
                cx.error(
                    &method.sig.ident,
                    format!(
                        "unknown task method `{name}`; {hint}a #[task] impl holds `format_input`, `format_output` and optionally `check`; put other methods in another impl block"
                    ),
                );
            }
        }
    }
    if input.is_none() {
        cx.error(
            &item.self_ty,
            "a #[task] impl needs `fn format_input(&self, <input columns>) -> impl Into<Prompt>`: it makes each row's prompt",
        );
    }
    if output.is_none() {
        cx.error(
            &item.self_ty,
            "a #[task] impl needs `fn format_output(&self, generation: &str, <input columns>) -> Row`: it makes each generation's output columns",
        );
    }
    let (format_output, output) = output?;
    let model = TaskModel {
        ident,
        item: item.to_token_stream(),
        format_input: input?,
        format_output,
        output,
        check,
        structured,
        krate,
    };
    // A column both methods read is read with one type.
    for late in &model.format_output.inputs {
        if let Some(early) = model
            .format_input
            .inputs
            .iter()
            .find(|i| i.column == late.column)
        {
            let (a, b) = (
                display_type(&column_type(Form::Row, &early.ty)),
                display_type(&column_type(Form::Row, &late.ty)),
            );
            if a != b {
                cx.error(
                    &late.ty,
                    format!(
                        "column `{}` is read as `{a}` by `format_input` and as `{b}` here; read it as one type",
                        late.column
                    ),
                );
            }
        }
    }
    Some(model)
}
