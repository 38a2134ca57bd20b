//! The last stage: the generated code. Bindings, a compile-time type check per column a step
//! reads (per branch it may come from), and the builder calls.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use super::parse::{PipelineInput, binding_type};
use super::resolve::{Outputs, Resolved};
use crate::internals::protocol::{MODEL_NAME, StepDesc};
use crate::internals::types::{display_type, grouped_type, holds_null};
use distil_graph::{Origin, Report, Resolution};

pub(super) fn expand(
    model: &PipelineInput,
    descs: &[StepDesc],
    resolved: &Resolved,
    report: &Report,
) -> TokenStream {
    let var = |i: usize| format_ident!("__distil_step_{}", model.bindings[i].ident);
    let lets = model.bindings.iter().enumerate().map(|(i, b)| {
        let v = var(i);
        let expr = &b.expr;
        match &b.ty {
            Some(ty) => quote!(let #v: #ty = #expr;),
            None => quote!(let #v = #expr;),
        }
    });
    let checks = Checks {
        model,
        descs,
        resolved,
        report,
        types: model.bindings.iter().map(binding_type).collect(),
    };
    let checks: Vec<TokenStream> = report
        .resolutions
        .iter()
        .flat_map(|r| checks.of(r))
        .collect();
    let name = model
        .name
        .as_ref()
        .map_or_else(|| "pipeline".to_owned(), syn::LitStr::value);
    let description = model
        .description
        .as_ref()
        .map(|d| quote!(.with_description(#d)));
    let adds = model.bindings.iter().enumerate().map(|(i, b)| {
        let v = var(i);
        let step_name = b.ident.to_string();
        let batch = b.batch_size.as_ref().map(|e| quote!(.batch_size(#e)));
        let input_batch = b
            .input_batch_size
            .as_ref()
            .map(|e| quote!(.input_batch_size(#e)));
        let ins = b.inputs.iter().map(|m| {
            let (f, t) = (&m.from.value, &m.to.value);
            quote!(.input_mapping(#f, #t))
        });
        let outs = b.outputs.iter().map(|m| {
            let (f, t) = (&m.from.value, &m.to.value);
            quote!(.output_mapping(#f, #t))
        });
        quote!(__distil_pipeline.add(#step_name, #v) #batch #input_batch #(#ins)* #(#outs)*;)
    });
    let step_name = |i: usize| model.bindings[i].ident.to_string();
    let routed = |from: usize, to: usize| {
        resolved
            .routes
            .iter()
            .any(|r| r.from == from && r.targets.contains(&to))
    };
    let connect_calls = resolved
        .graph
        .edges
        .iter()
        .filter(|e| !routed(e.from, e.to))
        .map(|e| {
            let (f, t) = (step_name(e.from), step_name(e.to));
            quote!(__distil_pipeline.connect(#f, #t);)
        });
    let route_calls = resolved.routes.iter().map(|route| {
        let f = step_name(route.from);
        let router = &route.tokens;
        let names = route.targets.iter().map(|&t| step_name(t));
        quote!(__distil_pipeline.route(#f, ::std::convert::Into::<::distil::Router>::into(#router), [#(#names),*]);)
    });
    quote! {{
        #(#lets)*
        { #(#checks)* }
        let mut __distil_pipeline = ::distil::Pipeline::new(#name) #description;
        #(#adds)*
        #(#connect_calls)*
        #(#route_calls)*
        __distil_pipeline
    }}
}

/// A column type as the checks see it: as a type when every step type involved is named, and
/// always as a value expression (`PhantomData<T>`) over the step variables.
struct ColumnType {
    ty: Option<TokenStream>,
    value: TokenStream,
    /// The column's type as the descriptions give it, for messages.
    column: syn::Type,
}

/// Where a column a step reads comes from, as the message tells it.
struct Found {
    column: ColumnType,
    /// The step writing the column the consumer reads.
    producer: usize,
    /// How the producer makes it, after "as step `x` writes it".
    how: String,
    /// The fix for a list with nulls read as a list without.
    grouped: Option<String>,
}

struct Checks<'a> {
    model: &'a PipelineInput,
    descs: &'a [StepDesc],
    resolved: &'a Resolved,
    report: &'a Report,
    types: Vec<Option<syn::Type>>,
}

impl Checks<'_> {
    fn name(&self, step: usize) -> String {
        self.model.bindings[step].ident.to_string()
    }

    fn var(&self, step: usize, span: Span) -> Ident {
        Ident::new(
            &format!("__distil_step_{}", self.model.bindings[step].ident),
            span,
        )
    }

    /// One check per branch the column may come from, each at the consumer's binding.
    fn of(&self, r: &Resolution) -> Vec<TokenStream> {
        let c = r.consumer;
        let desc = &self.descs[c];
        let Some(input) = desc.inputs.iter().find(|i| i.name == r.column) else {
            return Vec::new();
        };
        if desc.dynamic || self.resolved.kept[c].is_some() || !input.typed {
            return Vec::new();
        }
        let span = self.model.bindings[c].ident.span();
        let id = distil_graph::column_id(&r.column);
        let expected = ColumnType {
            ty: self.types[c].as_ref().map(|t| {
                let t = respan(t, span);
                quote_spanned!(span=> <#t as ::distil::__private::InCol<#id>>::Ty)
            }),
            value: {
                let v = self.var(c, span);
                quote_spanned!(span=> ::distil::__private::in_col::<#id, _>(&#v))
            },
            column: input.ty.clone(),
        };
        let step = &self.resolved.graph.steps[c];
        let source = step.input_source(&r.column);
        let through = if source == r.column {
            String::new()
        } else {
            format!(" (read through `inputs {{ {} => {source} }}`)", r.column)
        };
        let branches = if r.branches.is_empty() {
            std::slice::from_ref(&r.origin)
        } else {
            &r.branches[..]
        };
        let found: Vec<Found> = branches
            .iter()
            .flat_map(|o| self.found(o, span, 0))
            .collect();
        // Branches writing the column with different types: no one type reads them all.
        // (Types told apart as messages show them: two that read alike would make no fix.)
        let mut types: Vec<(String, usize)> = Vec::new();
        for f in &found {
            let shown = display_type(&f.column.column);
            if !types.iter().any(|(t, _)| *t == shown) {
                types.push((shown, f.producer));
            }
        }
        let types: Vec<String> = types
            .into_iter()
            .map(|(t, p)| format!("`{t}` (`{}`)", self.name(p)))
            .collect();
        let mixed = (types.len() > 1).then(|| {
            format!(
                "the branches joining at `{}` write `{source}` as {}: make them write one type, or read it as `Value`",
                self.name(c),
                types.join(" and ")
            )
        });
        found
            .into_iter()
            .map(|found| {
                let (consumer, producer) = (self.name(c), self.name(found.producer));
                let (have, want) = (display_type(&found.column.column), display_type(&expected.column));
                let message = format!(
                    "column `{source}` has type `{have}` as step `{producer}` writes it{}, but step `{consumer}` expects `{want}`{through}",
                    found.how
                );
                let label = format!("`{consumer}` reads `{source}` as `{want}`");
                let note = match &found.grouped {
                    _ if mixed.is_some() => mixed.clone().unwrap_or_default(),
                    Some(grouped) => format!("read it in `{consumer}` as `{have}`: {grouped}"),
                    None if holds_null(&found.column.column) && !holds_null(&expected.column) => format!(
                        "`{producer}` may leave it null: read it in `{consumer}` as `Option<{want}>`, or make `{producer}` always write `{want}`"
                    ),
                    None => format!(
                        "make `{producer}` write `{want}`, read it in `{consumer}` as `{have}` (or as `Value`, any type), or add a step between them that converts it"
                    ),
                };
                check(span, &found.column, &expected, [message, label, note])
            })
            .collect()
    }

    /// The column's type as each branch producing `origin` writes it; none where the type is
    /// only known when the step runs.
    fn found(&self, origin: &Origin, span: Span, depth: usize) -> Vec<Found> {
        let p = origin.producer;
        let step = &self.resolved.graph.steps[p];
        let written_as = step.output_name(&origin.produced_as);
        let renamed = if written_as == origin.produced_as {
            String::new()
        } else {
            format!(
                " (its `{}`, renamed by `outputs {{ {} => {written_as} }}`)",
                origin.produced_as, origin.produced_as
            )
        };
        match &self.resolved.outputs[p] {
            Outputs::Unknown => Vec::new(),
            Outputs::GroupedGenerations if origin.produced_as != MODEL_NAME => {
                let Some(own) = self.own(p, &origin.produced_as, span) else {
                    return Vec::new();
                };
                vec![Found {
                    column: grouped(own, span),
                    producer: p,
                    how: format!(" with `group_generations(true)`{renamed}"),
                    grouped: Some(format!(
                        "one value per generation, null where one failed; or drop `.group_generations(true)` from `{}` for one row per generation",
                        self.name(p)
                    )),
                }]
            }
            Outputs::Own | Outputs::GroupedGenerations => self
                .own(p, &origin.produced_as, span)
                .map(|column| Found {
                    column,
                    producer: p,
                    how: renamed,
                    grouped: None,
                })
                .into_iter()
                .collect(),
            // Rows pass through GroupColumns chains; a chain as long as the pipeline is a loop.
            Outputs::GroupedColumns(_) if depth > self.resolved.graph.steps.len() => Vec::new(),
            Outputs::GroupedColumns(pairs) => {
                let Some((input, _)) = pairs.iter().find(|(_, out)| *out == origin.produced_as)
                else {
                    return Vec::new();
                };
                let Some(r) = self
                    .report
                    .resolutions
                    .iter()
                    .find(|r| r.consumer == p && &r.column == input)
                else {
                    return Vec::new();
                };
                let branches = if r.branches.is_empty() {
                    std::slice::from_ref(&r.origin)
                } else {
                    &r.branches[..]
                };
                branches
                    .iter()
                    .flat_map(|o| self.found(o, span, depth + 1))
                    .map(|inner| Found {
                        column: grouped(inner.column, span),
                        producer: p,
                        how: format!(
                            ", grouping `{input}` from `{}`{renamed}",
                            self.name(inner.producer)
                        ),
                        grouped: Some(
                            "one value per branch that delivered the row, null where that branch's step failed on it"
                                .to_owned(),
                        ),
                    })
                    .collect()
            }
        }
    }

    /// A step's own output column type, when its type has an `OutCol` for it.
    fn own(&self, p: usize, column: &str, span: Span) -> Option<ColumnType> {
        let desc = self.descs[p].outputs.iter().find(|c| c.name == column)?;
        if self.descs[p].dynamic || !desc.typed {
            return None;
        }
        let id = distil_graph::column_id(column);
        let v = self.var(p, span);
        Some(ColumnType {
            ty: self.types[p].as_ref().map(|t| {
                let t = respan(t, span);
                quote_spanned!(span=> <#t as ::distil::__private::OutCol<#id>>::Ty)
            }),
            value: quote_spanned!(span=> ::distil::__private::out_col::<#id, _>(&#v)),
            column: desc.ty.clone(),
        })
    }
}

fn grouped(column: ColumnType, span: Span) -> ColumnType {
    let ColumnType { ty, value, column } = column;
    ColumnType {
        ty: ty.map(|t| quote_spanned!(span=> ::distil::__private::Grouped<#t>)),
        value: quote_spanned!(span=> ::distil::__private::grouped(#value)),
        column: grouped_type(&column),
    }
}

/// One type check, behind a trait of its own whose message names the column, the steps and
/// the fix. With both types named, a bound on them is checked where it is written, at the
/// step; otherwise through the step variables.
fn check(
    span: Span,
    found: &ColumnType,
    expected: &ColumnType,
    [message, label, note]: [String; 3],
) -> TokenStream {
    // `on_unimplemented` reads `{..}` as a format argument.
    let escape = |s: String| s.replace('{', "{{").replace('}', "}}");
    let (message, label, note) = (escape(message), escape(label), escape(note));
    let readable = quote_spanned! {span=>
        #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
        trait ReadableAs<Expected> {
            fn check() {}
        }
        #[diagnostic::do_not_recommend]
        impl<T: ::distil::__private::ColumnTypeIs<E>, E> ReadableAs<E> for T {}
    };
    match (&found.ty, &expected.ty) {
        (Some(found), Some(expected)) => quote_spanned! {span=>
            {
                #readable
                <#found as ReadableAs<#expected>>::check();
            }
        },
        _ => {
            let (found, expected) = (&found.value, &expected.value);
            quote_spanned! {span=>
                {
                    #readable
                    fn check<T: ReadableAs<E>, E>(
                        _: ::std::marker::PhantomData<T>,
                        _: ::std::marker::PhantomData<E>,
                    ) {
                    }
                    check(#found, #expected);
                }
            }
        }
    }
}

/// `tokens` with every span set to `span`, so an error on them points at the user's step.
fn respan(tokens: &impl quote::ToTokens, span: Span) -> TokenStream {
    tokens
        .to_token_stream()
        .into_iter()
        .map(|mut t| {
            if let proc_macro2::TokenTree::Group(g) = &t {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(&g.stream(), span));
                group.set_span(span);
                t = proc_macro2::TokenTree::Group(group);
            } else {
                t.set_span(span);
            }
            t
        })
        .collect()
}
