//! Collects errors so a macro reports all of them at once.

use std::cell::RefCell;
use std::fmt::Display;

use quote::ToTokens;

/// An error collector; `check` must be called before it is dropped.
pub struct Ctxt {
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    pub fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// An error spanned at `tokens`.
    pub fn error(&self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    pub fn push(&self, error: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("checked already")
            .push(error);
    }

    /// All errors combined into one, if any.
    pub fn check(self) -> syn::Result<()> {
        let errors = self.errors.borrow_mut().take().expect("checked already");
        let mut iter = errors.into_iter();
        let Some(mut first) = iter.next() else {
            return Ok(());
        };
        for e in iter {
            first.combine(e);
        }
        Err(first)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !std::thread::panicking() && self.errors.borrow().is_some() {
            panic!("Ctxt dropped without check");
        }
    }
}

/// The error for an unknown option of `#[<what>(..)]`: it suggests the nearest option and
/// lists them all (`options` as the user writes them, e.g. `name = Type`).
pub fn unknown_option(
    meta: &syn::meta::ParseNestedMeta,
    what: &str,
    options: &[crate::internals::symbol::Symbol],
) -> syn::Error {
    let wrong = meta.path.to_token_stream().to_string();
    let hint = did_you_mean(&wrong, options.iter().map(|o| o.word))
        .map(|near| format!("did you mean `{near}`? The options"))
        .unwrap_or_else(|| "the options".to_owned());
    let listed: Vec<String> = options.iter().map(|o| format!("`{}`", o.usage)).collect();
    meta.error(format!(
        "unknown {what} option `{wrong}`; {hint} are {}",
        listed.join(", ")
    ))
}

/// The candidate nearest to a misspelt name, if one is near enough to suggest: the measure
/// the pipeline rules use (`distil_graph::near_name`), so every "did you mean" agrees.
pub fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    let near = distil_graph::near_name(wrong, candidates.iter().copied())?;
    candidates.into_iter().find(|c| *c == near)
}
