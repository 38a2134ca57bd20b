//! The `pipeline!` grammar, parsed into a model with the spans errors point at.
//!
//! ```text
//! name: "..", description: "..", crate: path::to::distil,
//! binding = StepType::new(..) [, inputs { col => upstream, .. }] [, outputs { col => new, .. }]
//!                             [, batch_size: expr] [, input_batch_size: expr],
//! binding: StepType = expr,
//! a >> b >> [c, d] >> e,
//! a >> sample_n_steps(2) >> [c, d],
//! ```

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{
    Expr, GenericArgument, Ident, LitStr, Path, PathArguments, Token, Type, braced, bracketed,
    token,
};

/// A column name in a mapping, with its span.
#[derive(Clone)]
pub struct Name {
    pub value: String,
    pub span: Span,
}

impl Parse for Name {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            Ok(Name {
                value: lit.value(),
                span: lit.span(),
            })
        } else {
            let ident: Ident = input.call(syn::ext::IdentExt::parse_any)?;
            Ok(Name {
                value: ident.to_string().trim_start_matches("r#").to_owned(),
                span: ident.span(),
            })
        }
    }
}

pub struct Mapping {
    pub from: Name,
    pub to: Name,
}

pub struct Binding {
    pub ident: Ident,
    pub ty: Option<Type>,
    pub expr: Expr,
    pub inputs: Vec<Mapping>,
    pub outputs: Vec<Mapping>,
    pub batch_size: Option<Expr>,
    /// The `batch_size` word, where a misplaced setting is reported.
    pub batch_size_span: Option<proc_macro2::Span>,
    pub input_batch_size: Option<Expr>,
}

pub enum Element {
    Step(Ident),
    List(Vec<Ident>),
    /// A routing function call: `sample_n_steps(2)`.
    Router(TokenStream, Span),
}

pub struct PipelineInput {
    /// `crate: path`: where distil is, for a crate that re-exports it.
    pub krate: Option<Path>,
    pub name: Option<LitStr>,
    pub description: Option<LitStr>,
    pub bindings: Vec<Binding>,
    pub chains: Vec<Vec<Element>>,
    /// Items that did not parse: each is skipped up to the next comma, so one mistake is
    /// reported once and the items after it are still read.
    pub errors: Vec<syn::Error>,
}

fn parse_mappings(input: ParseStream) -> syn::Result<Vec<Mapping>> {
    let content;
    braced!(content in input);
    let mut mappings = Vec::new();
    while !content.is_empty() {
        let from: Name = content.parse()?;
        content.parse::<Token![=>]>()?;
        let to: Name = content.parse()?;
        mappings.push(Mapping { from, to });
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    Ok(mappings)
}

fn parse_element(input: ParseStream) -> syn::Result<Element> {
    if input.peek(token::Bracket) {
        let content;
        bracketed!(content in input);
        let list: Punctuated<Ident, Token![,]> = Punctuated::parse_terminated(&content)?;
        if list.is_empty() {
            return Err(content.error("an empty list of steps"));
        }
        return Ok(Element::List(list.into_iter().collect()));
    }
    if input.peek(Ident) && (input.peek2(token::Paren) || input.peek2(Token![::])) {
        // A routing call: a path and its arguments (parsed apart, since `f(x) >> [..]` would
        // otherwise read as one shift expression).
        let fork = input.fork();
        let path: Path = fork.call(Path::parse_mod_style)?;
        if fork.peek(token::Paren) {
            let path: Path = input.call(Path::parse_mod_style)?;
            let args;
            syn::parenthesized!(args in input);
            let args: TokenStream = args.parse()?;
            let span = path
                .segments
                .first()
                .map_or_else(Span::call_site, |s| s.ident.span());
            return Ok(Element::Router(quote::quote!(#path(#args)), span));
        }
        let _ = path;
    }
    Ok(Element::Step(input.parse()?))
}

const CLAUSES: [&str; 4] = ["inputs", "outputs", "batch_size", "input_batch_size"];

impl Parse for PipelineInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut out = PipelineInput {
            krate: None,
            name: None,
            description: None,
            bindings: Vec::new(),
            chains: Vec::new(),
            errors: Vec::new(),
        };
        while !input.is_empty() {
            let item = parse_item(input, &mut out).and_then(|()| {
                if input.is_empty() {
                    Ok(())
                } else {
                    input.parse::<Token![,]>().map(drop)
                }
            });
            if let Err(e) = item {
                out.errors.push(e);
                while !input.is_empty() && !input.peek(Token![,]) {
                    input.parse::<proc_macro2::TokenTree>()?;
                }
                if !input.is_empty() {
                    input.parse::<Token![,]>()?;
                }
            }
        }
        Ok(out)
    }
}

/// Whether an `=` (a binding's) comes before the end of the item.
fn has_assignment(input: ParseStream) -> bool {
    let fork = input.fork();
    while !fork.is_empty() && !fork.peek(Token![,]) {
        if fork.peek(Token![=]) && !fork.peek(Token![=>]) && !fork.peek(Token![==]) {
            return true;
        }
        if fork.parse::<proc_macro2::TokenTree>().is_err() {
            return false;
        }
    }
    false
}

/// One item: `name: ".."`, a binding, a clause of the last binding, or connections.
fn parse_item(input: ParseStream, out: &mut PipelineInput) -> syn::Result<()> {
    let fork = input.fork();
    let first: Option<Ident> = fork.parse().ok();
    let word = first.as_ref().map(ToString::to_string).unwrap_or_default();
    if input.peek(Token![crate]) && input.peek2(Token![:]) && !input.peek2(Token![::]) {
        let key: Token![crate] = input.parse()?;
        input.parse::<Token![:]>()?;
        let path = input.call(Path::parse_mod_style)?;
        if out.krate.is_some() {
            return Err(syn::Error::new(key.span, "`crate` is given twice"));
        }
        out.krate = Some(path);
    } else if (word == "name" || word == "description") && fork.peek(Token![:]) {
        let key: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        let value: LitStr = input.parse()?;
        let slot = if key == "name" {
            &mut out.name
        } else {
            &mut out.description
        };
        if slot.is_some() {
            return Err(syn::Error::new(
                key.span(),
                format!("`{key}` is given twice"),
            ));
        }
        *slot = Some(value);
    } else if CLAUSES.contains(&word.as_str()) && (fork.peek(token::Brace) || fork.peek(Token![:]))
    {
        let key: Ident = input.parse()?;
        let Some(binding) = out.bindings.last_mut() else {
            return Err(syn::Error::new(
                key.span(),
                format!("`{key}` belongs after a step binding (`name = Step::new()`)"),
            ));
        };
        match word.as_str() {
            "inputs" => binding.inputs.extend(parse_mappings(input)?),
            "outputs" => binding.outputs.extend(parse_mappings(input)?),
            _ => {
                input.parse::<Token![:]>()?;
                let value: Expr = input.parse()?;
                if word == "batch_size" {
                    binding.batch_size = Some(value);
                    binding.batch_size_span = Some(key.span());
                } else {
                    binding.input_batch_size = Some(value);
                }
            }
        }
    } else if let Some(key) = first.as_ref()
        && (fork.peek(token::Brace)
            || (fork.peek(Token![:])
                && !fork.peek(Token![::])
                && !has_assignment(&fork)
                && crate::internals::ctxt::did_you_mean(&word, CLAUSES.iter().copied()).is_some()))
    {
        // `output { .. }` or `batch_sise: 8`: a clause misspelt.
        let hint = crate::internals::ctxt::did_you_mean(&word, CLAUSES.iter().copied())
            .map(|near| format!("did you mean `{near}`? After"))
            .unwrap_or_else(|| "after".to_owned());
        return Err(syn::Error::new(
            key.span(),
            format!(
                "unknown clause `{word}`; {hint} a binding come `inputs {{ step_input => upstream_column }}`, `outputs {{ step_output => new_name }}`, `batch_size: n` and `input_batch_size: n`"
            ),
        ));
    } else if first.is_some()
        && (fork.peek(Token![=]) && !fork.peek(Token![=>]) && !fork.peek(Token![==]))
    {
        let ident: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let expr: Expr = input.parse()?;
        out.bindings.push(binding(ident, None, expr));
    } else if first.is_some() && fork.peek(Token![:]) && !fork.peek(Token![::]) {
        let ident: Ident = input.parse()?;
        input.parse::<Token![:]>()?;
        let ty: Type = input.parse()?;
        input.parse::<Token![=]>()?;
        let expr: Expr = input.parse()?;
        out.bindings.push(binding(ident, Some(ty), expr));
    } else {
        let mut chain = vec![parse_element(input)?];
        while input.peek(Token![>>]) {
            input.parse::<Token![>>]>()?;
            chain.push(parse_element(input)?);
        }
        if chain.len() < 2 {
            return Err(input.error(
                "expected `name: \"..\"`, a step binding `name = Step::new(..)`, or connections `a >> b`",
            ));
        }
        out.chains.push(chain);
    }
    Ok(())
}

fn binding(ident: Ident, ty: Option<Type>, expr: Expr) -> Binding {
    Binding {
        ident,
        ty,
        expr,
        inputs: Vec::new(),
        outputs: Vec::new(),
        batch_size: None,
        batch_size_span: None,
        input_batch_size: None,
    }
}

/// The step type named by a binding: its path without generic arguments (the callback macro's
/// path), and the generic arguments of the type itself.
pub fn step_type(binding: &Binding) -> Option<(Path, Vec<Type>)> {
    let path = match &binding.ty {
        Some(Type::Path(p)) => p.path.clone(),
        Some(_) => return None,
        None => type_path_of(&binding.expr)?,
    };
    let mut macro_path = path.clone();
    let mut generics = Vec::new();
    if let Some(last) = path.segments.last()
        && let PathArguments::AngleBracketed(args) = &last.arguments
    {
        generics = args
            .args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t.clone()),
                _ => None,
            })
            .collect();
    }
    for segment in &mut macro_path.segments {
        segment.arguments = PathArguments::None;
    }
    Some((macro_path, generics))
}

/// The full type of a binding's step, generic arguments included, when the binding names it
/// completely (no `_` left to inference).
pub fn binding_type(binding: &Binding) -> Option<Type> {
    let ty = match &binding.ty {
        Some(ty) => ty.clone(),
        None => Type::Path(syn::TypePath {
            qself: None,
            path: type_path_of(&binding.expr)?,
        }),
    };
    fn inferred(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == "_",
            proc_macro2::TokenTree::Group(g) => inferred(g.stream()),
            _ => false,
        })
    }
    (!inferred(quote::ToTokens::to_token_stream(&ty))).then_some(ty)
}

/// Whether a task keeps a row's generations in one row, its outputs then lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    /// No `.group_generations(..)` call, or one with a literal `false`.
    No,
    /// `.group_generations(true)`: the outputs are typed as lists.
    Yes,
    /// `.group_generations(expr)`: known only when it runs.
    Unknown,
}

/// What the binding's `.group_generations(..)` call says, the last one winning.
pub fn groups_generations(binding: &Binding) -> Grouping {
    match method_call(&binding.expr, "group_generations").and_then(|m| m.args.first()) {
        None => Grouping::No,
        Some(Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Bool(b),
            ..
        })) => {
            if b.value {
                Grouping::Yes
            } else {
                Grouping::No
            }
        }
        Some(_) => Grouping::Unknown,
    }
}

/// The outermost (last written) call of `method` in a builder chain `Type::new(..).a(..).b(..)`.
pub fn method_call<'a>(expr: &'a Expr, method: &str) -> Option<&'a syn::ExprMethodCall> {
    match expr {
        Expr::MethodCall(m) if m.method == method => Some(m),
        Expr::MethodCall(m) => method_call(&m.receiver, method),
        Expr::Paren(p) => method_call(&p.expr, method),
        _ => None,
    }
}

/// `Type::ctor(..).method(..)` -> `Type`; `Type { .. }` and `Type` -> `Type`.
fn type_path_of(expr: &Expr) -> Option<Path> {
    match expr {
        Expr::MethodCall(m) => type_path_of(&m.receiver),
        Expr::Paren(p) => type_path_of(&p.expr),
        Expr::Struct(s) => Some(s.path.clone()),
        Expr::Call(call) => {
            let Expr::Path(func) = &*call.func else {
                return None;
            };
            let mut path = func.path.clone();
            if path.segments.len() >= 2 {
                path.segments.pop();
                let last = path.segments.pop().expect("two segments").into_value();
                path.segments.push(last);
                Some(path)
            } else {
                starts_upper(&path).then_some(path)
            }
        }
        Expr::Path(p) if starts_upper(&p.path) => Some(p.path.clone()),
        _ => None,
    }
}

fn starts_upper(path: &Path) -> bool {
    path.segments
        .last()
        .is_some_and(|s| s.ident.to_string().starts_with(|c: char| c.is_uppercase()))
}

/// The string literals listed by argument `arg` of the binding's constructor call
/// (`KeepColumns::new(["a", "b"])`, `&[..]` or `vec![..]`); `None` when they are not literals.
pub fn literal_columns(binding: &Binding, arg: usize) -> Option<Vec<String>> {
    fn constructor(expr: &Expr) -> Option<&syn::ExprCall> {
        match expr {
            Expr::MethodCall(m) => constructor(&m.receiver),
            Expr::Paren(p) => constructor(&p.expr),
            Expr::Call(call) => Some(call),
            _ => None,
        }
    }
    literal_strings(constructor(&binding.expr)?.args.iter().nth(arg)?)
}

/// The string literals of a list: `["a", "b"]`, `&[..]` or `vec![..]`.
pub fn literal_strings(expr: &Expr) -> Option<Vec<String>> {
    let literal = |e: &Expr| match e {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => Some(s.value()),
        _ => None,
    };
    match expr {
        Expr::Array(array) => array.elems.iter().map(literal).collect(),
        Expr::Reference(r) => literal_strings(&r.expr),
        Expr::Macro(m) if m.mac.path.is_ident("vec") => {
            let items = m
                .mac
                .parse_body_with(Punctuated::<LitStr, Token![,]>::parse_terminated)
                .ok()?;
            Some(items.iter().map(LitStr::value).collect())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(expr: &str) -> Binding {
        super::binding(
            Ident::new("b", Span::call_site()),
            None,
            syn::parse_str(expr).expect("an expression"),
        )
    }

    #[test]
    fn a_task_groups_its_generations_when_told_true() {
        let grouping = |expr: &str| groups_generations(&binding(expr));
        assert_eq!(
            grouping("TextGeneration::new(llm).group_generations(true).temperature(0.1)"),
            Grouping::Yes
        );
        assert_eq!(
            grouping("(Rate { llm }).group_generations(grouped)"),
            Grouping::Unknown
        );
        assert_eq!(
            grouping("TextGeneration::new(llm).group_generations(false)"),
            Grouping::No
        );
        assert_eq!(
            grouping("TextGeneration::new(llm).group_generations(true).group_generations(false)"),
            Grouping::No
        );
        assert_eq!(
            grouping("TextGeneration::new(llm).num_generations(2)"),
            Grouping::No
        );
    }

    #[test]
    fn output_columns_are_read_from_the_last_call() {
        let b = binding(r#"GroupColumns::new(["a", "b"]).output_columns(vec!["x", "y"])"#);
        assert_eq!(
            literal_columns(&b, 0),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        let call = method_call(&b.expr, "output_columns").expect("a call");
        assert_eq!(
            literal_strings(&call.args[0]),
            Some(vec!["x".to_owned(), "y".to_owned()])
        );
    }
}
