//! `#[step]`: turns a function (or an inherent `impl` with a `process` method) into a step type,
//! or marks a hand-written `impl Step` so `pipeline!` can see it.
//!
//! parse (attribute + item) -> model (`StepModel`) -> validate (in parse, errors collected) ->
//! expand (struct, `Step` impl, column type projections, callback chain).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::visit_mut::VisitMut;
use syn::{
    FnArg, GenericArgument, Ident, ImplItem, Item, ItemFn, ItemImpl, Pat, PathArguments,
    ReturnType, Type, TypeParamBound, Visibility, parse_quote, spanned::Spanned,
};

use crate::ctxt::{Ctxt, did_you_mean};
use crate::desc::{ColumnDesc, Kind, StepDesc, callback_macro, display_type, unique_suffix};

/// How the step sees rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
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
struct Attr {
    form: Option<(Form, Span)>,
    dynamic: bool,
    name: Option<Ident>,
    outputs: Option<Type>,
}

/// The options of `#[step(..)]`, as the user writes them.
const OPTIONS: [&str; 6] = [
    "batch",
    "global",
    "generator",
    "dynamic",
    "name = Type",
    "outputs = RowParam",
];

fn parse_attr(attr: TokenStream, cx: &Ctxt) -> Attr {
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
        } else {
            let wrong = meta.path.to_token_stream().to_string();
            let hint = did_you_mean(
                &wrong,
                OPTIONS.iter().map(|o| o.split(' ').next().unwrap_or(o)),
            )
            .map(|near| format!("did you mean `{near}`? The options"))
            .unwrap_or_else(|| "the options".to_owned());
            let options: Vec<String> = OPTIONS.iter().map(|o| format!("`{o}`")).collect();
            return Err(meta.error(format!(
                "unknown step option `{wrong}`; {hint} are {}",
                options.join(", ")
            )));
        }
        Ok(())
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, attr) {
        cx.push(e);
    }
    out
}

/// A column argument.
struct Input {
    ident: Ident,
    column: String,
    /// The argument type as written (`&str`), or the element type for batch forms.
    ty: Type,
}

/// A runtime parameter (`#[param]` argument).
struct Param {
    ident: Ident,
    ty: Type,
    default: Option<syn::Expr>,
}

/// Whether the function is called as `f(..)` or as a method of the user's struct.
enum Call {
    Fn(Ident),
    Method(Ident),
}

struct StepModel {
    form: Form,
    vis: Visibility,
    ident: Ident,
    docs: Vec<syn::Attribute>,
    is_async: bool,
    call: Call,
    /// Arguments in call order.
    args: Vec<Arg>,
    /// The row type of the outputs (`()` for filters).
    output: Type,
    /// The item the attribute was on, with `#[param]` attributes removed.
    item: TokenStream,
    /// Whether the macro declares the struct (function form) or the user did (impl form).
    declares_struct: bool,
}

enum Arg {
    Input(Input),
    Param(Param),
}

impl StepModel {
    fn inputs(&self) -> impl Iterator<Item = &Input> {
        self.args.iter().filter_map(|a| match a {
            Arg::Input(i) => Some(i),
            Arg::Param(_) => None,
        })
    }

    fn params(&self) -> impl Iterator<Item = &Param> {
        self.args.iter().filter_map(|a| match a {
            Arg::Param(p) => Some(p),
            Arg::Input(_) => None,
        })
    }
}

fn pascal_case(snake: &str) -> String {
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

/// The single type argument of `Wrapper<T>` when the last path segment is `wrapper`.
fn unwrap_generic<'a>(ty: &'a Type, wrapper: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != wrapper {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// `Item = R` of `impl Iterator<Item = R>` / `impl IntoIterator<Item = R>`.
fn iterator_item(ty: &Type) -> Option<&Type> {
    let Type::ImplTrait(imp) = ty else {
        return None;
    };
    imp.bounds.iter().find_map(|b| {
        let TypeParamBound::Trait(t) = b else {
            return None;
        };
        let last = t.path.segments.last()?;
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        args.args.iter().find_map(|a| match a {
            GenericArgument::AssocType(assoc) if assoc.ident == "Item" => Some(&assoc.ty),
            _ => None,
        })
    })
}

fn is_bool(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.is_ident("bool"))
}

/// Types that are certainly not `#[derive(Row)]` structs, by their last path segment.
const NOT_ROWS: &[&str] = &[
    "String", "str", "bool", "char", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16",
    "i32", "i64", "i128", "isize", "f32", "f64", "Value", "Vec", "Option", "Result", "Box",
    "HashMap", "BTreeMap", "HashSet", "BTreeSet", "Cow", "Arc", "Rc",
];

/// Reports an output type that cannot be a `#[derive(Row)]` struct (whose name `#[step]` calls
/// as a macro to learn the columns: a plain type there would only say "cannot find macro").
fn check_row_type(ty: &Type, cx: &Ctxt) -> bool {
    let why = match ty {
        Type::Tuple(t) if t.elems.is_empty() => return true,
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last().expect("a path");
            if NOT_ROWS.contains(&last.ident.to_string().as_str()) {
                Some("")
            } else if !matches!(last.arguments, PathArguments::None) {
                Some("a row type is not generic; ")
            } else {
                None
            }
        }
        _ => Some(""),
    };
    let Some(why) = why else { return true };
    cx.error(
        ty,
        format!(
            "a step returns its output columns as a #[derive(Row)] struct, not `{}`\n  {why}help: declare the columns, e.g. `#[derive(Row)] struct Output {{ text: String }}`, and return that",
            display_type(ty)
        ),
    );
    false
}

/// The output row type of a return type, by form; `()` (with an error) when there is none.
fn output_row(form: Form, sig: &syn::Signature, cx: &Ctxt) -> Type {
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

/// Reads the arguments: `#[param]` ones are runtime parameters, the others input columns.
fn parse_args<'a>(form: Form, inputs: impl Iterator<Item = &'a mut FnArg>, cx: &Ctxt) -> Vec<Arg> {
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
                    let owned = owned_form(&r.elem);
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

/// The owned column type a borrow reads: `str` is `String`, `[T]` is `Vec<T>`.
fn owned_form(elem: &Type) -> String {
    match elem {
        Type::Path(p) if p.path.is_ident("str") => "String".to_owned(),
        Type::Slice(s) => format!("Vec<{}>", display_type(&s.elem)),
        other => display_type(other),
    }
}

/// A borrowed input must be one the cell can lend: `&str`, `&Value`, `&[Value]` (or an
/// `Option` of one). Anything else would fail in three places of the expansion at once.
fn check_borrow(ty: &Type, cx: &Ctxt) {
    let ty = unwrap_generic(ty, "Option").unwrap_or(ty);
    let Type::Reference(r) = ty else { return };
    let is_value = |t: &Type| matches!(t, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Value"));
    let lendable = r.mutability.is_none()
        && match &*r.elem {
            Type::Path(p) if p.path.is_ident("str") => true,
            Type::Slice(s) => is_value(&s.elem),
            other => is_value(other),
        };
    if lendable {
        return;
    }
    let owned = owned_form(&r.elem);
    let instead = match owned.as_str() {
        "String" => "borrow it as `&str`, or take `String`".to_owned(),
        "Vec<Value>" => "borrow it as `&[Value]`, or take `Vec<Value>`".to_owned(),
        _ => format!("take `{owned}` by value"),
    };
    cx.error(
        r,
        format!(
            "`{}` cannot be a step input: only `&str`, `&Value` and `&[Value]` borrow the cell; {instead}",
            display_type(ty)
        ),
    );
}

fn docs(attrs: &[syn::Attribute]) -> Vec<syn::Attribute> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .cloned()
        .collect()
}

fn model_from_fn(attr: &Attr, mut item: ItemFn, cx: &Ctxt) -> StepModel {
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
    }
}

fn model_from_impl(attr: &Attr, mut item: ItemImpl, cx: &Ctxt) -> Option<StepModel> {
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
    })
}

/// Replaces elided and named lifetimes by `'static`, for type projections outside the function.
struct StaticLifetimes;

impl VisitMut for StaticLifetimes {
    fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
        r.lifetime = Some(parse_quote!('static));
        syn::visit_mut::visit_type_reference_mut(self, r);
    }
    fn visit_lifetime_mut(&mut self, l: &mut syn::Lifetime) {
        *l = parse_quote!('static);
    }
}

fn static_type(ty: &Type) -> Type {
    let mut ty = ty.clone();
    StaticLifetimes.visit_type_mut(&mut ty);
    ty
}

/// The column type an input reads, for messages: `&str` is `String`.
fn input_display(form: Form, ty: &Type) -> String {
    if form != Form::Row {
        return display_type(ty);
    }
    let text = display_type(ty);
    let owned = |t: &str| match t {
        "&str" => "String".to_owned(),
        "&Value" | "&serde_json::Value" => "Value".to_owned(),
        "&[Value]" | "&[serde_json::Value]" => "Vec<Value>".to_owned(),
        other => other.to_owned(),
    };
    match text
        .strip_prefix("Option<")
        .and_then(|t| t.strip_suffix('>'))
    {
        Some(inner) => format!("Option<{}>", owned(inner)),
        None => owned(&text),
    }
}

fn is_optional(ty: &Type) -> bool {
    unwrap_generic(ty, "Option").is_some()
}

fn kind_tokens(form: Form) -> TokenStream {
    match form {
        Form::Generator => quote!(::distil::StepKind::Generator),
        Form::Global => quote!(::distil::StepKind::Global),
        Form::Row | Form::Batch => quote!(::distil::StepKind::Normal),
    }
}

fn desc_kind(form: Form) -> Kind {
    match form {
        Form::Generator => Kind::Generator,
        Form::Global => Kind::Global,
        Form::Row | Form::Batch => Kind::Normal,
    }
}

fn expand(model: &StepModel) -> TokenStream {
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
            quote! {
                fn process<'a>(
                    &'a mut self,
                    input: ::distil::step::Input<'a>,
                ) -> ::distil::step::BoxFuture<'a, ::distil::Result<::distil::step::Output>> {
                    ::std::boxed::Box::pin(async move {
                        #(#columns)*
                        let mut __distil_sink = ::distil::__private::RowSink::<#output>::new(input.len());
                        for __distil_row in 0..input.len() {
                            let __distil_result = #per_row;
                            __distil_sink.emit(__distil_row, __distil_result);
                        }
                        ::std::result::Result::Ok(__distil_sink.finish())
                    })
                }
            }
        }
        Form::Batch | Form::Global => {
            let reads = model.inputs().map(|i| {
                let local = format_ident!("__distil_arg_{}", i.ident);
                let (ty, column) = (&i.ty, &i.column);
                quote!(let #local = ::distil::__private::column_vec::<#ty>(input.column(#column), __distil_len, #column)?;)
            });
            quote! {
                fn process<'a>(
                    &'a mut self,
                    input: ::distil::step::Input<'a>,
                ) -> ::distil::step::BoxFuture<'a, ::distil::Result<::distil::step::Output>> {
                    ::std::boxed::Box::pin(async move {
                        let __distil_len = input.len();
                        #(#reads)*
                        ::distil::__private::batch_output::<#output, _>(#call, __distil_len)
                    })
                }
            }
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

    let in_cols = model.inputs().map(|i| {
        let id = distil_graph::column_id(&i.column);
        let ty = static_type(&i.ty);
        // Spanned from the argument type's first token to its last: a type that is no column
        // type is reported there, underlined whole.
        let first = i.ty.span();
        let last =
            i.ty.to_token_stream()
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
    });

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
    let chain = define_chain(model, &step_impl);
    quote! {
        #item
        #struct_def
        #row_check
        #(#in_cols)*
        impl<const ID: u64> ::distil::__private::OutCol<ID> for #ident
        where
            #output: ::distil::__private::Col<ID>,
        {
            type Ty = <#output as ::distil::__private::Col<ID>>::Ty;
        }
        #chain
    }
}

/// The struct a function-form step declares: its runtime parameters as fields, `new()`, and a
/// setter per parameter. A generator also keeps its row iterator (`with_rows`).
fn declare_struct(model: &StepModel, with_rows: bool) -> TokenStream {
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
fn define_chain(model: &StepModel, step_impl: &TokenStream) -> TokenStream {
    let desc = StepDesc {
        type_name: model.ident.to_string(),
        kind: desc_kind(model.form),
        dynamic: false,
        inputs: model
            .inputs()
            .map(|i| ColumnDesc {
                name: i.column.clone(),
                ty: input_display(model.form, &i.ty),
                required: !is_optional(&i.ty),
            })
            .collect(),
        outputs: Vec::new(),
        row_param: None,
    }
    .to_tokens();
    let vis = &model.vis;
    let ident = &model.ident;
    let suffix = unique_suffix(&model.item);
    let header = quote!(define { (#vis) #ident #suffix { #step_impl } });
    match &model.output {
        Type::Tuple(t) if t.elems.is_empty() => quote! {
            ::distil::__private::define_step! { [] { #header #desc row { "()" [] } } }
        },
        Type::Path(p) => {
            let mut path = p.path.clone();
            for segment in &mut path.segments {
                segment.arguments = PathArguments::None;
            }
            let span = p.span();
            quote_spanned! {span=>
                #path! { [ (::distil::__private::define_step) ] { #header #desc } }
            }
        }
        other => syn::Error::new_spanned(other, "a step's output must be a #[derive(Row)] struct")
            .to_compile_error(),
    }
}

/// `#[step(dynamic)] impl Step for X` or `#[step(generator, outputs = R)] impl<R> Step for X<R>`.
fn expand_hand_written(attr: &Attr, item: ItemImpl, cx: &Ctxt) -> TokenStream {
    let Type::Path(self_path) = &*item.self_ty else {
        cx.error(&item.self_ty, "#[step] needs a named type");
        return item.to_token_stream();
    };
    let last = self_path.path.segments.last().expect("a path");
    let ident = last.ident.clone();
    let args: Vec<&GenericArgument> = match &last.arguments {
        PathArguments::AngleBracketed(a) => a.args.iter().collect(),
        _ => Vec::new(),
    };
    let mut row_param = None;
    let mut out_col = quote!();
    if let Some(row) = &attr.outputs {
        row_param = args
            .iter()
            .position(|a| matches!(a, GenericArgument::Type(t) if t == row));
        if row_param.is_none() {
            cx.error(
                row,
                "`outputs = R` names a generic parameter of the step type",
            );
        }
        let (_, _, where_clause) = item.generics.split_for_impl();
        let params = &item.generics.params;
        let self_ty = &item.self_ty;
        let preds = where_clause.map(|w| {
            let p = &w.predicates;
            quote!(#p,)
        });
        out_col = quote! {
            impl<const __DISTIL_ID: u64, #params> ::distil::__private::OutCol<__DISTIL_ID> for #self_ty
            where
                #preds
                #row: ::distil::__private::Col<__DISTIL_ID>,
            {
                type Ty = <#row as ::distil::__private::Col<__DISTIL_ID>>::Ty;
            }
        };
    }
    let form = attr.form.map_or(Form::Row, |(f, _)| f);
    let desc = StepDesc {
        type_name: ident.to_string(),
        kind: desc_kind(form),
        dynamic: row_param.is_none(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        row_param,
    }
    .to_tokens();
    let callback = callback_macro(
        &parse_quote!(pub),
        &ident,
        &unique_suffix(&item.to_token_stream()),
        desc,
    );
    quote! {
        #item
        #out_col
        #callback
    }
}

/// What is left of a step whose attribute or signature is wrong: the user's item, the struct
/// (function form) and a `Step` impl that processes nothing, and a callback that says its columns
/// are only known when it runs. The pipelines using the step then report nothing more, so the
/// user sees the one error that matters.
struct Fallback {
    form: Form,
    ident: Ident,
    vis: Visibility,
    /// The step type with its generic parameters, and those parameters.
    self_ty: Type,
    generics: syn::Generics,
    /// The user's item, cleaned of the attributes `#[step]` consumes when it could parse it.
    item: TokenStream,
    struct_def: TokenStream,
}

impl Fallback {
    fn from_model(model: &StepModel) -> Self {
        let ident = &model.ident;
        Fallback {
            form: model.form,
            ident: ident.clone(),
            vis: model.vis.clone(),
            self_ty: parse_quote!(#ident),
            generics: syn::Generics::default(),
            item: model.item.clone(),
            struct_def: declare_struct(model, false),
        }
    }

    /// For `#[step] impl Struct { .. }` that could not be read as a step.
    fn from_impl(attr: &Attr, item: &ItemImpl) -> Option<Self> {
        let Type::Path(path) = &*item.self_ty else {
            return None;
        };
        Some(Fallback {
            form: attr.form.map_or(Form::Row, |(f, _)| f),
            ident: path.path.segments.last()?.ident.clone(),
            vis: parse_quote!(pub),
            self_ty: (*item.self_ty).clone(),
            generics: item.generics.clone(),
            item: item.to_token_stream(),
            struct_def: quote!(),
        })
    }

    fn expand(&self) -> TokenStream {
        let Fallback {
            ident,
            vis,
            self_ty,
            generics,
            item,
            struct_def,
            ..
        } = self;
        let type_name = ident.to_string();
        let kind = kind_tokens(self.form);
        let (impl_generics, _, where_clause) = generics.split_for_impl();
        let mut predicates: Vec<TokenStream> = where_clause
            .map(|w| w.predicates.iter().map(ToTokens::to_token_stream).collect())
            .unwrap_or_default();
        predicates.push(quote!(Self: ::std::marker::Send + 'static));
        let desc = StepDesc {
            type_name: type_name.clone(),
            kind: desc_kind(self.form),
            dynamic: true,
            inputs: Vec::new(),
            outputs: Vec::new(),
            row_param: None,
        }
        .to_tokens();
        let callback = callback_macro(vis, ident, &unique_suffix(item), desc);
        quote! {
            #[allow(dead_code)]
            #item
            #struct_def
            impl #impl_generics ::distil::Step for #self_ty where #(#predicates),* {
                fn spec(&self) -> ::distil::step::StepSpec {
                    ::distil::__private::spec(#type_name, #kind, ::std::vec::Vec::new(), ::std::vec::Vec::new())
                }
            }
            #callback
        }
    }
}

/// What `#[step]` emits once its checks ran.
enum Plan {
    /// A step model: expanded when the checks pass, else its fallback.
    Model(Box<StepModel>),
    /// The same tokens either way (a hand-written `impl Step`, marked dynamic when wrong).
    Tokens(TokenStream),
    /// What to emit next to the errors, which this case always has.
    Failed(TokenStream),
}

/// Entry point of `#[step]`.
pub fn step(attr: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let attr = parse_attr(attr, &cx);
    let parsed: syn::Result<Item> = syn::parse2(item.clone());
    let plan = match parsed {
        Ok(Item::Fn(f)) if !attr.dynamic => Plan::Model(Box::new(model_from_fn(&attr, f, &cx))),
        Ok(Item::Impl(i)) if i.trait_.is_some() => {
            if !attr.dynamic && attr.outputs.is_none() {
                cx.error(&i.self_ty, "on a hand-written `impl Step`, say `#[step(dynamic)]` (columns known when it runs) or `#[step(outputs = R)]` (the columns of a Row parameter)");
            }
            Plan::Tokens(expand_hand_written(&attr, i, &cx))
        }
        Ok(Item::Impl(i)) => match model_from_impl(&attr, i.clone(), &cx) {
            Some(model) => Plan::Model(Box::new(model)),
            None => Plan::Failed(
                Fallback::from_impl(&attr, &i).map_or_else(|| i.to_token_stream(), |f| f.expand()),
            ),
        },
        Ok(other) => {
            cx.error(&other, "#[step] goes on a function, on an `impl` with a `process` method, or on an `impl Step`");
            Plan::Failed(other.to_token_stream())
        }
        Err(e) => {
            cx.push(e);
            Plan::Failed(item)
        }
    };
    match (cx.check(), plan) {
        (Ok(()), Plan::Model(model)) => expand(&model),
        (Ok(()), Plan::Tokens(tokens) | Plan::Failed(tokens)) => tokens,
        (Err(e), plan) => {
            let error = e.to_compile_error();
            let rest = match plan {
                Plan::Model(model) => Fallback::from_model(&model).expand(),
                Plan::Tokens(tokens) | Plan::Failed(tokens) => tokens,
            };
            quote!(#error #rest)
        }
    }
}
