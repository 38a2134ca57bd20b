//! Where distil is: the macros write `::distil::..` throughout, and this one pass over each
//! expansion puts the crate's path there (`#[step(crate = my_framework::distil)]`, as serde's
//! `#[serde(crate = "..")]`, for a crate that re-exports distil) and versions its private
//! module (`__private0`, as serde and thiserror version theirs: a distil of another version
//! has no such module and fails loudly).

use proc_macro2::{Group, Ident, Punct, Spacing, TokenStream, TokenTree};
use quote::ToTokens;

use super::ctxt::Ctxt;

/// The private module's name in this version.
const PRIVATE: &str = concat!("__private", env!("CARGO_PKG_VERSION_PATCH"));

/// The words after which `::distil` starts a path (`<T as ::distil::Row>`), unlike a path
/// segment (`my::distil::..`, `crate::distil`), which the pass leaves alone. After any
/// punctuation but a path's `::` (`impl<T> ::distil::Step`, `-> ::distil::Result`, `x: ::distil`)
/// a path starts too.
const BEFORE_A_PATH: &[&str] = &[
    "as", "for", "impl", "dyn", "where", "in", "mut", "return", "let", "const", "static", "ref",
    "move", "match", "if", "else", "while", "break", "unsafe", "async", "type", "use", "pub",
];

/// The crate path of a `crate = path` option, checked: a path to the crate, not a string.
pub fn parse_crate(meta: &syn::meta::ParseNestedMeta) -> syn::Result<syn::Path> {
    let value = meta.value()?;
    if value.peek(syn::LitStr) {
        let lit: syn::LitStr = value.parse()?;
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "`crate` takes a path, not a string: `crate = {}`",
                lit.value()
            ),
        ));
    }
    value.call(syn::Path::parse_mod_style)
}

/// Reports a second `crate = ..` of one attribute.
pub fn set_crate(slot: &mut Option<syn::Path>, path: syn::Path, cx: &Ctxt) {
    if slot.is_some() {
        cx.error(&path, "`crate` is given twice");
    }
    *slot = Some(path);
}

/// `tokens` with each `::distil::` path starting at `krate` (by default `::distil`), and
/// `__private` after it versioned.
pub fn resolve(tokens: TokenStream, krate: Option<&syn::Path>) -> TokenStream {
    let krate: Vec<TokenTree> = match krate {
        Some(path) => path.to_token_stream().into_iter().collect(),
        None => {
            let mut root = colons();
            root.push(TokenTree::Ident(Ident::new(
                "distil",
                proc_macro2::Span::call_site(),
            )));
            root
        }
    };
    rewrite(tokens, &krate)
}

fn colons() -> Vec<TokenTree> {
    vec![
        TokenTree::Punct(Punct::new(':', Spacing::Joint)),
        TokenTree::Punct(Punct::new(':', Spacing::Alone)),
    ]
}

fn rewrite(tokens: TokenStream, krate: &[TokenTree]) -> TokenStream {
    let input: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out: Vec<TokenTree> = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if is_distil_root(&input, i, &out) {
            let span = input[i + 2].span();
            out.extend(krate.iter().cloned().map(|mut t| {
                if !matches!(t, TokenTree::Group(_)) {
                    t.set_span(span);
                }
                t
            }));
            // The `::` after `distil`.
            out.extend(input[i + 3..i + 5].iter().cloned());
            if let Some(TokenTree::Ident(next)) = input.get(i + 5)
                && next == "__private"
            {
                out.push(TokenTree::Ident(Ident::new(PRIVATE, next.span())));
                i += 6;
            } else {
                i += 5;
            }
            continue;
        }
        out.push(match &input[i] {
            TokenTree::Group(g) => {
                let mut group = Group::new(g.delimiter(), rewrite(g.stream(), krate));
                group.set_span(g.span());
                TokenTree::Group(group)
            }
            other => other.clone(),
        });
        i += 1;
    }
    out.into_iter().collect()
}

/// Whether `input[i..]` is `:: distil ::` starting a path.
fn is_distil_root(input: &[TokenTree], i: usize, before: &[TokenTree]) -> bool {
    let is_colon = |t: Option<&TokenTree>, spacing: Option<Spacing>| matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == ':' && spacing.is_none_or(|s| p.spacing() == s));
    let starts_path = match before {
        [] => true,
        // A lifetime's name (`&'static ::distil::Value`), or a keyword.
        [.., TokenTree::Punct(q), TokenTree::Ident(_)] if q.as_char() == '\'' => true,
        [.., TokenTree::Ident(word)] => BEFORE_A_PATH.iter().any(|k| word == k),
        // A field's or an argument's `:`, not a path's `::`.
        [.., TokenTree::Punct(a), TokenTree::Punct(b)] if b.as_char() == ':' => {
            !(a.as_char() == ':' && a.spacing() == Spacing::Joint)
        }
        [.., _] => true,
    };
    starts_path
        && is_colon(input.get(i), Some(Spacing::Joint))
        && is_colon(input.get(i + 1), None)
        && matches!(input.get(i + 2), Some(TokenTree::Ident(d)) if d == "distil")
        && is_colon(input.get(i + 3), Some(Spacing::Joint))
        && is_colon(input.get(i + 4), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn generated_paths_start_at_the_crate_and_the_private_module_is_versioned() {
        let krate: syn::Path = syn::parse_quote!(my_framework::distil);
        let tokens = quote!(impl ::distil::Step for X {
            type T = <A as ::distil::__private::Col<1>>::Ty;
            fn f(v: &'static ::distil::Value) -> ::distil::Result<()> { match v { _ => ::distil::ok() } }
            fn g() -> Row { Row { field: ::distil::__private::field() } }
            impl<const ID: u64> ::distil::__private::OutCol<ID> for X {}
        });
        let out = resolve(tokens, Some(&krate)).to_string();
        // Every one of the seven paths, and no other.
        assert_eq!(out.matches("my_framework :: distil ::").count(), 7, "{out}");
        assert_eq!(out.matches(":: distil ::").count(), 7, "{out}");
        assert!(out.contains("impl my_framework :: distil :: Step"), "{out}");
        assert!(
            out.contains(&format!("as my_framework :: distil :: {PRIVATE} :: Col")),
            "{out}"
        );
    }

    #[test]
    fn a_module_named_distil_in_a_path_is_left_alone() {
        let tokens = quote!(use my::distil::Thing; let x = crate::distil::f(););
        let out = resolve(tokens.clone(), None).to_string();
        assert_eq!(out, tokens.to_string());
        let default = resolve(quote!(::distil::__private::collect!()), None).to_string();
        assert_eq!(default, format!(":: distil :: {PRIVATE} :: collect ! ()"));
    }
}
