//! What a step with a wrong attribute or signature still emits, so users see one error.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{Ident, ItemImpl, Type, Visibility, parse_quote};

use super::attr::Attr;
use super::{expand::*, model::*};
use crate::internals::args::Form;
use crate::internals::protocol::{StepDesc, callback_macro, unique_suffix};

/// What is left of a step whose attribute or signature is wrong: the user's item, the struct
/// (function form) and a `Step` impl that processes nothing, and a callback that says its columns
/// are only known when it runs. The pipelines using the step then report nothing more, so the
/// user sees the one error that matters.
pub(crate) struct Fallback {
    pub(crate) form: Form,
    pub(crate) ident: Ident,
    pub(crate) vis: Visibility,
    /// The step type with its generic parameters, and those parameters.
    pub(crate) self_ty: Type,
    pub(crate) generics: syn::Generics,
    /// The user's item, cleaned of the attributes `#[step]` consumes when it could parse it.
    pub(crate) item: TokenStream,
    pub(crate) struct_def: TokenStream,
}

impl Fallback {
    pub(crate) fn from_model(model: &StepModel) -> Self {
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
    pub(crate) fn from_impl(attr: &Attr, item: &ItemImpl) -> Option<Self> {
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

    pub(crate) fn expand(&self) -> TokenStream {
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
        let desc = StepDesc::new(type_name.clone(), desc_kind(self.form), true).to_tokens();
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
