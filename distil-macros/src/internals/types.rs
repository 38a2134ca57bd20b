//! What the macro reads from Rust types: wrappers, borrows, iterator items, display forms.

use syn::visit_mut::VisitMut;
use syn::{GenericArgument, PathArguments, Type, TypeParamBound, parse_quote};

use quote::ToTokens;

use super::args::Form;
use super::ctxt::Ctxt;

/// The single type argument of `Wrapper<T>` when the last path segment is `wrapper`.
pub(crate) fn unwrap_generic<'a>(ty: &'a Type, wrapper: &str) -> Option<&'a Type> {
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
pub(crate) fn iterator_item(ty: &Type) -> Option<&Type> {
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

pub(crate) fn is_bool(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.is_ident("bool"))
}

/// Types that are certainly not `#[derive(Row)]` structs, by their last path segment.
pub(crate) const NOT_ROWS: &[&str] = &[
    "String", "str", "bool", "char", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16",
    "i32", "i64", "i128", "isize", "f32", "f64", "Value", "Vec", "Option", "Result", "Box",
    "HashMap", "BTreeMap", "HashSet", "BTreeSet", "Cow", "Arc", "Rc",
];

/// Reports an output type that cannot be a `#[derive(Row)]` struct (whose name `#[step]` calls
/// as a macro to learn the columns: a plain type there would only say "cannot find macro").
pub(crate) fn check_row_type(ty: &Type, cx: &Ctxt) -> bool {
    check_row_type_of(ty, "a step returns its output columns", cx)
}

/// [`check_row_type`], for `what` (the function returning the row and what the row is).
pub(crate) fn check_row_type_of(ty: &Type, what: &str, cx: &Ctxt) -> bool {
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
            "{what} as a #[derive(Row)] struct, not `{}`\n  {why}help: declare the columns, e.g. `#[derive(Row)] struct Output {{ text: String }}`, and return that",
            display_type(ty)
        ),
    );
    false
}

/// The owned column type a borrow reads: `str` is `String`, `[T]` is `Vec<T>`.
pub(crate) fn owned_form(elem: &Type) -> Type {
    match elem {
        Type::Path(p) if p.path.is_ident("str") => parse_quote!(String),
        Type::Slice(s) => {
            let elem = &s.elem;
            parse_quote!(Vec<#elem>)
        }
        other => other.clone(),
    }
}

/// Whether the type's last path segment is `name` without generic arguments.
fn is_named(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == name && s.arguments.is_none()))
}

/// A borrowed input must be one the cell can lend: `&str`, `&Value`, `&[Value]` (or an
/// `Option` of one). Anything else would fail in three places of the expansion at once.
pub(crate) fn check_borrow(ty: &Type, cx: &Ctxt) {
    let ty = unwrap_generic(ty, "Option").unwrap_or(ty);
    let Type::Reference(r) = ty else { return };
    let lendable = r.mutability.is_none()
        && match &*r.elem {
            Type::Path(p) if p.path.is_ident("str") => true,
            Type::Slice(s) => is_named(&s.elem, "Value"),
            other => is_named(other, "Value"),
        };
    if lendable {
        return;
    }
    let owned = owned_form(&r.elem);
    let instead = if is_named(&owned, "String") {
        "borrow it as `&str`, or take `String`".to_owned()
    } else if unwrap_generic(&owned, "Vec").is_some_and(|e| is_named(e, "Value")) {
        "borrow it as `&[Value]`, or take `Vec<Value>`".to_owned()
    } else {
        format!("take `{}` by value", display_type(&owned))
    };
    cx.error(
        r,
        format!(
            "`{}` cannot be a step input: only `&str`, `&Value` and `&[Value]` borrow the cell; {instead}",
            display_type(ty)
        ),
    );
}

/// Replaces elided and named lifetimes by `'static`, for type projections outside the function.
pub(crate) struct StaticLifetimes;

impl VisitMut for StaticLifetimes {
    fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
        r.lifetime = Some(parse_quote!('static));
        syn::visit_mut::visit_type_reference_mut(self, r);
    }
    fn visit_lifetime_mut(&mut self, l: &mut syn::Lifetime) {
        *l = parse_quote!('static);
    }
}

pub(crate) fn static_type(ty: &Type) -> Type {
    let mut ty = ty.clone();
    StaticLifetimes.visit_type_mut(&mut ty);
    ty
}

/// The type of the column an input reads: a row step's borrow reads the owned column
/// (`&str` reads `String`, `Option<&[Value]>` reads `Option<Vec<Value>>`); a batch step's
/// element type is the column's.
pub(crate) fn column_type(form: Form, ty: &Type) -> Type {
    if form != Form::Row {
        return ty.clone();
    }
    let owned = |t: &Type| match t {
        Type::Reference(r) => owned_form(&r.elem),
        other => other.clone(),
    };
    match unwrap_generic(ty, "Option") {
        Some(inner) => {
            let inner = owned(inner);
            parse_quote!(Option<#inner>)
        }
        None => owned(ty),
    }
}

/// Whether a column of this type holds null already: `Option<T>` or `Value`.
pub(crate) fn holds_null(ty: &Type) -> bool {
    unwrap_generic(ty, "Option").is_some() || is_named(ty, "Value")
}

/// The type of a grouped column of type `ty`: a list, null where a branch or a generation
/// failed (`distil::__private::Grouped`).
pub(crate) fn grouped_type(ty: &Type) -> Type {
    if holds_null(ty) {
        parse_quote!(Vec<#ty>)
    } else {
        parse_quote!(Vec<Option<#ty>>)
    }
}

/// A type as messages show it, read by its structure: each path by its last segment
/// (`serde_json::Value` is `Value`, as distil's `DataType` names it), lifetimes left out.
pub(crate) fn display_type(ty: &Type) -> String {
    let mut out = String::new();
    write_type(ty, &mut out);
    out
}

fn write_type(ty: &Type, out: &mut String) {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else {
                return;
            };
            out.push_str(&last.ident.to_string());
            if let PathArguments::AngleBracketed(args) = &last.arguments {
                let shown: Vec<&GenericArgument> = args
                    .args
                    .iter()
                    .filter(|a| !matches!(a, GenericArgument::Lifetime(_)))
                    .collect();
                if !shown.is_empty() {
                    out.push('<');
                    for (i, arg) in shown.into_iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        match arg {
                            GenericArgument::Type(t) => write_type(t, out),
                            other => out.push_str(&tight(other)),
                        }
                    }
                    out.push('>');
                }
            }
        }
        Type::Reference(r) => {
            out.push('&');
            if r.mutability.is_some() {
                out.push_str("mut ");
            }
            write_type(&r.elem, out);
        }
        Type::Slice(s) => {
            out.push('[');
            write_type(&s.elem, out);
            out.push(']');
        }
        Type::Array(a) => {
            out.push('[');
            write_type(&a.elem, out);
            out.push_str("; ");
            out.push_str(&tight(&a.len));
            out.push(']');
        }
        Type::Tuple(t) => {
            out.push('(');
            for (i, elem) in t.elems.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_type(elem, out);
            }
            if t.elems.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Type::Paren(p) => write_type(&p.elem, out),
        Type::Group(g) => write_type(&g.elem, out),
        other => out.push_str(&tight(other)),
    }
}

/// Tokens as text without the spaces `to_string` puts around punctuation (`impl AsRef<str>`).
fn tight(tokens: &impl ToTokens) -> String {
    let text = tokens.to_token_stream().to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            let prev = out.chars().last();
            let next = chars.peek().copied();
            let tight =
                |x: Option<char>| matches!(x, Some('<' | '>' | ':' | '&' | '(' | ')' | '[' | ']'));
            if tight(prev) || (tight(next) && next != Some('(')) || next == Some(',') {
                continue;
            }
        }
        out.push(c);
    }
    out.replace(",", ", ").replace(",  ", ", ")
}

pub(crate) fn is_optional(ty: &Type) -> bool {
    unwrap_generic(ty, "Option").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(text: &str) -> Type {
        syn::parse_str(text).expect("a type")
    }

    #[test]
    fn an_aliased_or_qualified_value_is_read_by_its_structure() {
        for borrowed in ["&serde_json::Value", "&Value", "&'a Json::Value"] {
            assert_eq!(
                display_type(&column_type(Form::Row, &ty(borrowed))),
                "Value"
            );
        }
        assert_eq!(
            display_type(&column_type(
                Form::Row,
                &ty("Option<&'a [serde_json::Value]>")
            )),
            "Option<Vec<Value>>"
        );
        assert_eq!(
            display_type(&column_type(Form::Row, &ty("&'a str"))),
            "String"
        );
        assert_eq!(display_type(&ty("std::string::String")), "String");
        assert_eq!(
            display_type(&ty("BTreeMap<String, (u8, [f32; 4])>")),
            "BTreeMap<String, (u8, [f32; 4])>"
        );
    }

    #[test]
    fn null_is_held_by_options_and_values_only() {
        assert!(holds_null(&ty("std::option::Option<u8>")));
        assert!(holds_null(&ty("serde_json::Value")));
        assert!(!holds_null(&ty("Vec<Option<u8>>")));
        assert!(!holds_null(&ty("Value<u8>")));
        assert_eq!(
            display_type(&grouped_type(&ty("String"))),
            "Vec<Option<String>>"
        );
        assert_eq!(
            display_type(&grouped_type(&ty("Option<u8>"))),
            "Vec<Option<u8>>"
        );
    }
}
