//! The generated code: bindings, compile-time column type checks, builder calls; and the
//! graph checked by the rules the runtime shares.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;

use super::collect::decls;
use super::parse::{Element, PipelineInput, binding_type, groups_generations, literal_columns};
use crate::ctxt::{Ctxt, did_you_mean};
use crate::desc::{Kind, StepDesc};
use distil_graph::{
    ColumnDecl, Edge, Graph, Passthrough, Problem, RouteDecl, Site, StepDecl, StepKind,
};

pub(super) fn generate(model: &PipelineInput, descs: &[StepDesc], cx: &Ctxt) -> TokenStream {
    // Names: unknown and duplicate bindings, and connections that do not parse as a graph. Any of
    // these makes the graph a guess, so its rules only run without them (one error, not five).
    let wrong_names = std::cell::Cell::new(false);
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, b) in model.bindings.iter().enumerate() {
        let name = b.ident.to_string();
        match index.entry(name) {
            std::collections::hash_map::Entry::Occupied(entry) => {
                wrong_names.set(true);
                cx.error(
                    &b.ident,
                    format!(
                        "step `{}` is defined twice; give each step its own name",
                        entry.key()
                    ),
                );
            }
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(i);
            }
        }
    }
    let lookup = |ident: &Ident| -> Option<usize> {
        let found = index.get(&ident.to_string()).copied();
        if found.is_none() {
            wrong_names.set(true);
            let mut message = format!("no step named `{ident}` in this pipeline");
            let wanted = ident.to_string();
            let names: Vec<String> = model.bindings.iter().map(|b| b.ident.to_string()).collect();
            if let Some(near) = did_you_mean(&wanted, names.iter().map(String::as_str)) {
                message.push_str(&format!("; did you mean `{near}`?"));
            } else {
                let known: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                message.push_str(&format!("; the steps are {}", known.join(", ")));
            }
            cx.error(ident, message);
        }
        found
    };

    // Edges and routes from the chains.
    let mut edges: Vec<Edge> = Vec::new();
    let mut edge_spans: Vec<Span> = Vec::new();
    let mut connects = Vec::new();
    let mut routes = Vec::new();
    for chain in &model.chains {
        for (at, pair) in chain.windows(2).enumerate() {
            let mut connect = |from: &Ident, to: &Ident| {
                if let (Some(f), Some(t)) = (lookup(from), lookup(to)) {
                    edges.push(Edge { from: f, to: t });
                    edge_spans.push(to.span());
                    connects.push((f, t));
                }
            };
            match (&pair[0], &pair[1]) {
                (Element::Step(a), Element::Step(b)) => connect(a, b),
                (Element::Step(a), Element::List(bs)) => bs.iter().for_each(|b| connect(a, b)),
                (Element::List(as_), Element::Step(b)) => as_.iter().for_each(|a| connect(a, b)),
                (Element::List(_), Element::List(_)) => {
                    wrong_names.set(true);
                    cx.push(syn::Error::new(
                        list_span(&pair[1]),
                        "connect a list to one step (`[a, b] >> c`) or one step to a list (`a >> [b, c]`), not a list to a list",
                    ));
                }
                (Element::Step(a), Element::Router(..)) => {
                    let targets: Vec<&Ident> = match chain.get(at + 2) {
                        Some(Element::List(bs)) => bs.iter().collect(),
                        Some(Element::Step(b)) => vec![b],
                        _ => {
                            wrong_names.set(true);
                            cx.push(syn::Error::new(router_span(&pair[1]), "a routing function goes between a step and the list of steps it routes to: `a >> sample_n_steps(2) >> [b, c, d]`"));
                            continue;
                        }
                    };
                    let Some(f) = lookup(a) else { continue };
                    let mut names = Vec::new();
                    for b in targets {
                        if let Some(t) = lookup(b) {
                            edges.push(Edge { from: f, to: t });
                            edge_spans.push(b.span());
                            names.push(b.to_string());
                        }
                    }
                    if let Element::Router(tokens, span) = &pair[1] {
                        let targets: Vec<usize> = names.iter().map(|n| index[n]).collect();
                        routes.push((f, tokens.clone(), names, *span, targets));
                    }
                }
                (Element::Router(..), _) => {}
                (Element::List(_), Element::Router(_, span)) => {
                    wrong_names.set(true);
                    cx.push(syn::Error::new(
                        *span,
                        "a routing function routes the batches of one step, not of a list",
                    ));
                }
            }
        }
        if let Some(first @ Element::Router(..)) = chain.first() {
            wrong_names.set(true);
            cx.push(syn::Error::new(
                router_span(first),
                "a routing function needs a step before it",
            ));
        }
    }

    // Steps keeping a literal list of columns are checked like typed ones.
    let kept: Vec<Option<Vec<String>>> = model
        .bindings
        .iter()
        .zip(descs)
        .map(|(b, d)| d.keeps_arg.and_then(|arg| literal_columns(b, arg)))
        .collect();

    // Tasks grouping their generations: their output columns become lists, known only when
    // they run (`Pipeline::validate` checks the steps below them).
    let grouped: Vec<bool> = model
        .bindings
        .iter()
        .zip(descs)
        .map(|(b, d)| !d.dynamic && groups_generations(b))
        .collect();

    // The graph, checked by the rules the runtime shares.
    let graph = Graph {
        steps: model
            .bindings
            .iter()
            .zip(descs)
            .zip(&kept)
            .zip(&grouped)
            .map(|(((b, d), kept), &grouped)| StepDecl {
                inputs: match kept {
                    Some(columns) => columns
                        .iter()
                        .map(|c| ColumnDecl {
                            any_type: true,
                            ..ColumnDecl::new(c, "")
                        })
                        .collect(),
                    None => decls(&d.inputs),
                },
                outputs: if grouped {
                    Vec::new()
                } else {
                    decls(&d.outputs)
                },
                passthrough: kept.clone().map_or(Passthrough::All, Passthrough::Only),
                dynamic: (d.dynamic || grouped) && kept.is_none(),
                input_mappings: b
                    .inputs
                    .iter()
                    .map(|m| (m.from.value.clone(), m.to.value.clone()))
                    .collect(),
                output_mappings: b
                    .outputs
                    .iter()
                    .map(|m| (m.from.value.clone(), m.to.value.clone()))
                    .collect(),
                sets_batch_size: b.batch_size.is_some(),
                ..StepDecl::new(
                    b.ident.to_string(),
                    d.type_name.clone(),
                    match d.kind {
                        Kind::Generator => StepKind::Generator,
                        Kind::Normal => StepKind::Normal,
                        Kind::Global => StepKind::Global,
                    },
                )
            })
            .collect(),
        edges,
        routes: routes
            .iter()
            .map(|(f, tokens, _, _, targets)| {
                let (router, picks) = router_text(tokens);
                RouteDecl {
                    from: *f,
                    router,
                    targets: targets.clone(),
                    picks,
                }
            })
            .collect(),
    };
    if wrong_names.get() {
        return TokenStream::new();
    }
    let mut report = distil_graph::check(&graph, None);
    // A grouping task's own inputs and mappings are still checked: by the graph where it alone
    // is typed.
    for s in (0..graph.steps.len()).filter(|&s| grouped[s]) {
        let mut typed = graph.clone();
        typed.steps[s].dynamic = false;
        typed.steps[s].outputs = decls(&descs[s].outputs);
        let own = distil_graph::check(&typed, None);
        let at_s = |site: Site| match site {
            Site::Step(t)
            | Site::InputMapping(t, _)
            | Site::OutputMapping(t, _)
            | Site::InputSource(t, _)
            | Site::BatchSize(t) => t == s,
            Site::Edge(_) | Site::Route(_) => false,
        };
        report.problems.extend(own.problems.into_iter().filter(|p| {
            matches!(
                p,
                Problem::MissingColumn { .. }
                    | Problem::UnknownInputMapping { .. }
                    | Problem::UnknownOutputMapping { .. }
            ) && at_s(p.site())
        }));
        report
            .resolutions
            .extend(own.resolutions.into_iter().filter(|r| r.consumer == s));
    }
    // The columns grouping tasks write, by the step writing them: a column of that name reaching
    // another step may be theirs, a list.
    let grouped_outputs: Vec<(usize, String)> = (0..graph.steps.len())
        .filter(|&s| grouped[s])
        .flat_map(|s| {
            let step = &graph.steps[s];
            descs[s]
                .outputs
                .iter()
                .map(move |c| (s, step.output_name(&c.name).to_owned()))
        })
        .collect();
    for problem in &report.problems {
        let span = match problem.site() {
            Site::Step(s) => model.bindings[s].ident.span(),
            Site::Edge(e) => edge_spans[e],
            Site::InputMapping(s, m) => model.bindings[s].inputs[m].from.span,
            Site::OutputMapping(s, m) => model.bindings[s].outputs[m].from.span,
            Site::InputSource(s, m) => model.bindings[s].inputs[m].to.span,
            Site::Route(r) => routes[r].3,
            Site::BatchSize(s) => model.bindings[s]
                .batch_size_span
                .unwrap_or_else(|| model.bindings[s].ident.span()),
        };
        cx.push(syn::Error::new(span, problem.to_string()));
    }

    // The code: bindings, type assertions, builder calls.
    let var = |i: usize| format_ident!("__distil_step_{}", model.bindings[i].ident);
    let lets = model.bindings.iter().enumerate().map(|(i, b)| {
        let v = var(i);
        let expr = &b.expr;
        match &b.ty {
            Some(ty) => quote!(let #v: #ty = #expr;),
            None => quote!(let #v = #expr;),
        }
    });
    // One marker struct per column and step name, so rustc prints plain names in messages.
    let resolutions: Vec<_> = report
        .resolutions
        .iter()
        .filter(|r| !descs[r.consumer].dynamic && kept[r.consumer].is_none())
        .filter(|r| {
            // Inputs the step's type has no `InCol` for, and outputs its producer's type has no
            // `OutCol` for, are checked when it runs.
            let typed = descs[r.consumer]
                .inputs
                .iter()
                .find(|c| c.name == r.column)
                .is_none_or(|c| c.typed)
                && descs[r.origin.producer]
                    .outputs
                    .iter()
                    .find(|c| c.name == r.origin.produced_as)
                    .is_none_or(|c| c.typed);
            let source = graph.steps[r.consumer].input_source(&r.column);
            let maybe_grouped = grouped_outputs
                .iter()
                .any(|(s, name)| *s != r.consumer && name == source);
            typed && !maybe_grouped
        })
        .map(|r| {
            let column = marker(graph.steps[r.consumer].input_source(&r.column));
            let step = marker(&model.bindings[r.consumer].ident.to_string());
            let producer = marker(&model.bindings[r.origin.producer].ident.to_string());
            (r, column, step, producer)
        })
        .collect();
    let mut markers: Vec<String> = Vec::new();
    for (_, column, step, producer) in &resolutions {
        for m in [column, step, producer] {
            if !markers.contains(m) {
                markers.push(m.clone());
            }
        }
    }
    // The bound form names the step types next to the markers: it is only used when no marker
    // would shadow a name those types use (a column named like a type).
    let types: Vec<Option<syn::Type>> = model.bindings.iter().map(binding_type).collect();
    let type_names = idents(&quote!(#(#types)*));
    let bounds = !markers.iter().any(|m| type_names.contains(m));
    let mut checks = Vec::new();
    for (r, column, step, producer_marker) in &resolutions {
        let span = model.bindings[r.consumer].ident.span();
        let out_id = distil_graph::column_id(&r.origin.produced_as);
        let in_id = distil_graph::column_id(&r.column);
        let (column, step) = (marker_ident(column, span), marker_ident(step, span));
        let producer_marker = marker_ident(producer_marker, span);
        let producer = types[r.origin.producer].as_ref().filter(|_| bounds);
        let consumer = types[r.consumer].as_ref().filter(|_| bounds);
        if let (Some(producer), Some(consumer)) = (producer, consumer) {
            // A bound on concrete types: rustc reports it where it is written, at the step,
            // with no note pointing into distil's sources.
            let (producer, consumer) = (respan(producer, span), respan(consumer, span));
            let check = format_ident!("__distil_column_type_check_{}", checks.len());
            checks.push(quote_spanned! {span=>
                #[allow(dead_code)]
                fn #check()
                where
                    <#producer as ::distil::__private::OutCol<#out_id>>::Ty:
                        ::distil::__private::ColumnTypeIs<<#consumer as ::distil::__private::InCol<#in_id>>::Ty, #column, #step, #producer_marker>,
                {}
            });
        } else {
            let p = Ident::new(&var(r.origin.producer).to_string(), span);
            let c = Ident::new(&var(r.consumer).to_string(), span);
            checks.push(quote_spanned! {span=>
                ::distil::__private::check_column::<#out_id, #in_id, #column, #step, #producer_marker, _, _>(&#p, &#c);
            });
        }
    }
    let markers = markers.iter().map(|m| {
        let m = marker_ident(m, Span::call_site());
        quote!(#[allow(non_camel_case_types, dead_code)] struct #m;)
    });
    let checks = quote!({ #(#markers)* #(#checks)* });
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
    let routed: Vec<(usize, usize)> = routes
        .iter()
        .flat_map(|(f, _, names, _, _)| names.iter().map(|n| (*f, index[n])))
        .collect();
    let connect_calls = connects
        .iter()
        .filter(|e| !routed.contains(e))
        .map(|&(f, t)| {
            let (f, t) = (
                model.bindings[f].ident.to_string(),
                model.bindings[t].ident.to_string(),
            );
            quote!(__distil_pipeline.connect(#f, #t);)
        });
    let route_calls = routes.iter().map(|(f, router, names, _, _)| {
        let f = model.bindings[*f].ident.to_string();
        quote!(__distil_pipeline.route(#f, ::std::convert::Into::<::distil::Router>::into(#router), [#(#names),*]);)
    });
    quote! {{
        #(#lets)*
        #checks
        let mut __distil_pipeline = ::distil::Pipeline::new(#name) #description;
        #(#adds)*
        #(#connect_calls)*
        #(#route_calls)*
        __distil_pipeline
    }}
}

/// Every identifier in `tokens`.
pub(super) fn idents(tokens: &TokenStream) -> Vec<String> {
    let mut out = Vec::new();
    for t in tokens.clone() {
        match t {
            proc_macro2::TokenTree::Ident(i) => out.push(i.to_string()),
            proc_macro2::TokenTree::Group(g) => out.extend(idents(&g.stream())),
            _ => {}
        }
    }
    out
}

/// `tokens` with every span set to `span`, so an error on them points at the user's step.
pub(super) fn respan(tokens: &impl quote::ToTokens, span: Span) -> TokenStream {
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

/// A name usable as a marker struct, so rustc prints the column or step name in messages.
pub(super) fn marker(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.starts_with(|c: char| c.is_ascii_digit()) || cleaned.is_empty() {
        format!("_{cleaned}")
    } else if cleaned == "_" || ["self", "Self", "super", "crate"].contains(&cleaned.as_str()) {
        // Keywords that cannot even be raw identifiers.
        format!("{cleaned}_")
    } else {
        cleaned
    }
}

/// The identifier of a marker: raw when the name is a keyword (a column named `type`).
pub(super) fn marker_ident(marker: &str, span: Span) -> Ident {
    // `gen` is reserved from edition 2024 on, though syn still parses it as an identifier.
    if syn::parse_str::<Ident>(marker).is_ok() && marker != "gen" {
        Ident::new(marker, span)
    } else {
        Ident::new_raw(marker, span)
    }
}

pub(super) fn list_span(element: &Element) -> Span {
    match element {
        Element::List(items) => items[0].span(),
        Element::Step(s) => s.span(),
        Element::Router(_, span) => *span,
    }
}

pub(super) fn router_span(element: &Element) -> Span {
    list_span(element)
}

/// A router call as the user wrote it (`sample_n_steps(2)`), and how many targets it picks for
/// each batch when that is a literal of `sample_n_steps`.
fn router_text(tokens: &TokenStream) -> (String, Option<usize>) {
    let Ok(syn::Expr::Call(call)) = syn::parse2::<syn::Expr>(tokens.clone()) else {
        return (tokens.to_string(), None);
    };
    let syn::Expr::Path(path) = &*call.func else {
        return (tokens.to_string(), None);
    };
    let name = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::");
    // Literal arguments are shown; a router built from a closure is named by its function
    // alone, as `Router::name` names it at run time.
    let args: Option<Vec<String>> = call
        .args
        .iter()
        .map(|a| match a {
            syn::Expr::Lit(lit) => Some(quote!(#lit).to_string()),
            _ => None,
        })
        .collect();
    let picks = match (path.path.segments.last(), call.args.first()) {
        (
            Some(last),
            Some(syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(n),
                ..
            })),
        ) if last.ident == "sample_n_steps" && call.args.len() == 1 => n.base10_parse().ok(),
        _ => None,
    };
    match args {
        Some(args) => (format!("{name}({})", args.join(", ")), picks),
        None => (name, picks),
    }
}
