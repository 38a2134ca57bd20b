//! What the macro reads from Rust types: wrappers, borrows, iterator items, display forms.

use syn::visit_mut::VisitMut;
use syn::{GenericArgument, PathArguments, Type, TypeParamBound, parse_quote};

use super::args::Form;
use super::ctxt::Ctxt;
use super::protocol::display_type;

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

/// The output row type of a return type, by form; `()` (with an error) when there is none.
/// The owned column type a borrow reads: `str` is `String`, `[T]` is `Vec<T>`.
pub(crate) fn owned_form(elem: &Type) -> String {
    match elem {
        Type::Path(p) if p.path.is_ident("str") => "String".to_owned(),
        Type::Slice(s) => format!("Vec<{}>", display_type(&s.elem)),
        other => display_type(other),
    }
}

/// A borrowed input must be one the cell can lend: `&str`, `&Value`, `&[Value]` (or an
/// `Option` of one). Anything else would fail in three places of the expansion at once.
pub(crate) fn check_borrow(ty: &Type, cx: &Ctxt) {
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

/// The column type an input reads, for messages: `&str` is `String`.
pub(crate) fn input_display(form: Form, ty: &Type) -> String {
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

pub(crate) fn is_optional(ty: &Type) -> bool {
    unwrap_generic(ty, "Option").is_some()
}
