//! `pipeline!`: parse the grammar, ask every step (and the rows of generic loaders) for its
//! columns through their callback macros, then validate the graph with the rules the runtime
//! shares (`distil_graph`) and generate the builder calls plus compile-time type assertions.

mod parse;

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::{Ident, Token, Type, braced, bracketed};

use crate::ctxt::{Ctxt, did_you_mean};
use crate::desc::{ColumnDesc, Desc, Kind, StepDesc};
use distil_graph::{ColumnDecl, Edge, Graph, Passthrough, Site, StepDecl, StepKind};
use parse::{Element, PipelineInput, binding_type, step_type};

/// Entry point of `pipeline!`: starts the callback chain over the bindings' step types.
pub fn pipeline(input: TokenStream) -> TokenStream {
    let model: PipelineInput = match syn::parse2(input.clone()) {
        Ok(m) => m,
        Err(e) => return stub(e.to_compile_error(), None, &[]),
    };
    let cx = Ctxt::new();
    for e in &model.errors {
        cx.push(e.clone());
    }
    let mut paths = Vec::new();
    for b in &model.bindings {
        match step_type(b) {
            Some((path, _)) => paths.push(path),
            None => cx.error(
                &b.expr,
                format!(
                    "cannot tell which step type `{}` is; write `{} = StepType::new(..)` or `{}: StepType = ..`",
                    b.ident, b.ident, b.ident
                ),
            ),
        }
    }
    if model.bindings.is_empty() && model.errors.is_empty() {
        cx.push(syn::Error::new(
            Span::call_site(),
            "a pipeline needs steps: `name = Step::new(..)`",
        ));
    }
    if let Err(e) = cx.check() {
        return stub(e.to_compile_error(), Some(&model), &[]);
    }
    chain(paths, quote!(input { #input }))
}

/// `First! { [ (Second) .. (::distil::__private::collect) ] { state } }`.
fn chain(paths: Vec<syn::Path>, state: TokenStream) -> TokenStream {
    let mut paths = paths.into_iter();
    let first = paths.next().expect("at least one");
    let rest = paths.map(|p| quote!((#p)));
    quote! {
        #first! { [ #(#rest)* (::distil::__private::collect) ] { #state } }
    }
}

/// The errors, and a pipeline value so the code around `pipeline!` reports nothing more. The
/// bindings' expressions are kept, so the variables and imports they use are still used.
/// `skip` lists the bindings whose expression is itself wrong.
fn stub(errors: TokenStream, model: Option<&PipelineInput>, skip: &[usize]) -> TokenStream {
    let name = model
        .and_then(|m| m.name.as_ref())
        .map_or_else(|| "pipeline".to_owned(), syn::LitStr::value);
    let bindings = model
        .into_iter()
        .flat_map(|m| &m.bindings)
        .enumerate()
        .filter(|(i, _)| !skip.contains(i))
        .map(|(_, b)| {
            let expr = &b.expr;
            match &b.ty {
                Some(ty) => quote!(let _: #ty = #expr;),
                None => quote!(let _ = #expr;),
            }
        });
    quote!({ #errors #[allow(unreachable_code)] { #(#bindings)* } ::distil::Pipeline::new(#name) })
}

/// The state `__collect` receives: the user's tokens and the descriptions gathered so far.
struct State {
    input: TokenStream,
    steps: Vec<Desc>,
    /// Row descriptions asked for in a second round, for generic loaders.
    rows: Option<Vec<Desc>>,
}

impl Parse for State {
    fn parse(stream: ParseStream) -> syn::Result<Self> {
        let todo;
        bracketed!(todo in stream);
        let _: TokenStream = todo.parse()?;
        let body;
        braced!(body in stream);
        let tag: Ident = body.parse()?;
        if tag != "input" {
            return Err(syn::Error::new(tag.span(), "malformed pipeline state"));
        }
        let input;
        braced!(input in body);
        let input: TokenStream = input.parse()?;
        let mut steps = Vec::new();
        let mut rows = None;
        while !body.is_empty() {
            if body.peek(Ident) && body.peek2(Token![;]) {
                body.parse::<Ident>()?;
                body.parse::<Token![;]>()?;
                rows = Some(Vec::new());
                continue;
            }
            let desc: Desc = body.parse()?;
            match &mut rows {
                Some(rows) => rows.push(desc),
                None => steps.push(desc),
            }
        }
        Ok(State { input, steps, rows })
    }
}

/// Entry point of `__collect`: every description has arrived.
pub fn collect(tokens: TokenStream) -> TokenStream {
    let state: State = match syn::parse2(tokens) {
        Ok(s) => s,
        Err(e) => return stub(e.to_compile_error(), None, &[]),
    };
    let model: PipelineInput = match syn::parse2(state.input.clone()) {
        Ok(m) => m,
        Err(e) => return stub(e.to_compile_error(), None, &[]),
    };
    let cx = Ctxt::new();
    let mut descs: Vec<StepDesc> = Vec::new();
    // Bindings whose expression is not a step: the stub leaves them out.
    let mut not_steps: Vec<usize> = Vec::new();
    for (i, (binding, desc)) in model.bindings.iter().zip(&state.steps).enumerate() {
        match desc {
            Desc::Step(s) => descs.push(s.clone()),
            Desc::Row(r) => {
                not_steps.push(i);
                cx.error(
                    &binding.expr,
                    format!(
                        "`{}` is a row (#[derive(Row)]), not a step; a step is a #[step] function or type",
                        r.type_name
                    ),
                );
                descs.push(StepDesc {
                    type_name: r.type_name.clone(),
                    kind: Kind::Normal,
                    dynamic: true,
                    inputs: Vec::new(),
                    outputs: Vec::new(),
                    row_param: None,
                });
            }
        }
    }

    // Generic loaders: their outputs are the columns of a Row type argument.
    let wanted: Vec<(usize, syn::Path)> = model
        .bindings
        .iter()
        .zip(&descs)
        .enumerate()
        .filter_map(|(i, (b, d))| {
            let arg = step_type(b)?.1.into_iter().nth(d.row_param?)?;
            match arg {
                Type::Path(mut p) => {
                    for segment in &mut p.path.segments {
                        segment.arguments = syn::PathArguments::None;
                    }
                    Some((i, p.path))
                }
                _ => None,
            }
        })
        .collect();
    match &state.rows {
        None if !wanted.is_empty() => {
            let steps = state.steps.iter().map(|d| match d {
                Desc::Step(s) => s.to_tokens(),
                Desc::Row(r) => r.to_tokens(),
            });
            let input = &state.input;
            let _ = cx.check();
            return chain(
                wanted.into_iter().map(|(_, p)| p).collect(),
                quote!(input { #input } #(#steps)* rows;),
            );
        }
        Some(rows) => {
            for ((i, _), row) in wanted.iter().zip(rows) {
                match row {
                    Desc::Row(r) => descs[*i].outputs = r.columns.clone(),
                    Desc::Step(s) => cx.error(
                        &model.bindings[*i].expr,
                        format!("`{}` is a step, not a row type", s.type_name),
                    ),
                }
            }
        }
        None => {}
    }
    for (i, d) in descs.iter_mut().enumerate() {
        if d.row_param.is_some() && !wanted.iter().any(|(w, _)| *w == i) {
            // No type argument written: the columns are only known when it runs.
            d.dynamic = true;
        }
    }

    let output = generate(&model, &descs, &cx);
    match cx.check() {
        Ok(()) => output,
        Err(e) => stub(e.to_compile_error(), Some(&model), &not_steps),
    }
}

fn decls(columns: &[ColumnDesc]) -> Vec<ColumnDecl> {
    columns
        .iter()
        .map(|c| ColumnDecl {
            name: c.name.clone(),
            ty: c.ty.clone(),
            required: c.required,
        })
        .collect()
}

fn generate(model: &PipelineInput, descs: &[StepDesc], cx: &Ctxt) -> TokenStream {
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
                    if let Element::Router(tokens, _) = &pair[1] {
                        routes.push((f, tokens.clone(), names));
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

    // The graph, checked by the rules the runtime shares.
    let graph = Graph {
        steps: model
            .bindings
            .iter()
            .zip(descs)
            .map(|(b, d)| StepDecl {
                inputs: decls(&d.inputs),
                outputs: decls(&d.outputs),
                passthrough: Passthrough::All,
                dynamic: d.dynamic,
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
    };
    if wrong_names.get() {
        return TokenStream::new();
    }
    let report = distil_graph::check(&graph, None);
    for problem in &report.problems {
        let span = match problem.site() {
            Site::Step(s) => model.bindings[s].ident.span(),
            Site::Edge(e) => edge_spans[e],
            Site::InputMapping(s, m) => model.bindings[s].inputs[m].from.span,
            Site::OutputMapping(s, m) => model.bindings[s].outputs[m].from.span,
            Site::InputSource(s, m) => model.bindings[s].inputs[m].to.span,
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
        .filter(|r| !descs[r.consumer].dynamic)
        .map(|r| {
            let column = marker(graph.steps[r.consumer].input_source(&r.column));
            let step = marker(&model.bindings[r.consumer].ident.to_string());
            (r, column, step)
        })
        .collect();
    let mut markers: Vec<String> = Vec::new();
    for (_, column, step) in &resolutions {
        for m in [column, step] {
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
    for (r, column, step) in &resolutions {
        let span = model.bindings[r.consumer].ident.span();
        let out_id = distil_graph::column_id(&r.origin.produced_as);
        let in_id = distil_graph::column_id(&r.column);
        let (column, step) = (marker_ident(column, span), marker_ident(step, span));
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
                        ::distil::__private::ColumnTypeIs<<#consumer as ::distil::__private::InCol<#in_id>>::Ty, #column, #step>,
                {}
            });
        } else {
            let p = Ident::new(&var(r.origin.producer).to_string(), span);
            let c = Ident::new(&var(r.consumer).to_string(), span);
            checks.push(quote_spanned! {span=>
                ::distil::__private::check_column::<#out_id, #in_id, #column, #step, _, _>(&#p, &#c);
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
        .flat_map(|(f, _, names)| names.iter().map(|n| (*f, index[n])))
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
    let route_calls = routes.iter().map(|(f, router, names)| {
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
fn idents(tokens: &TokenStream) -> Vec<String> {
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

/// A name usable as a marker struct, so rustc prints the column or step name in messages.
fn marker(name: &str) -> String {
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
fn marker_ident(marker: &str, span: Span) -> Ident {
    if syn::parse_str::<Ident>(marker).is_ok() {
        Ident::new(marker, span)
    } else {
        Ident::new_raw(marker, span)
    }
}

fn list_span(element: &Element) -> Span {
    match element {
        Element::List(items) => items[0].span(),
        Element::Step(s) => s.span(),
        Element::Router(_, span) => *span,
    }
}

fn router_span(element: &Element) -> Span {
    list_span(element)
}

/// Entry point of `__define_step`: the step's output row has told its columns.
pub fn define_step(tokens: TokenStream) -> TokenStream {
    struct Define {
        vis: syn::Visibility,
        ident: Ident,
        suffix: syn::LitStr,
        /// The step's `Step` impl, which needs the row to be one.
        step_impl: TokenStream,
        step: StepDesc,
        row: Vec<ColumnDesc>,
    }
    impl Parse for Define {
        fn parse(stream: ParseStream) -> syn::Result<Self> {
            let todo;
            bracketed!(todo in stream);
            let _: TokenStream = todo.parse()?;
            let body;
            braced!(body in stream);
            body.parse::<Ident>()?;
            let header;
            braced!(header in body);
            let vis_group;
            syn::parenthesized!(vis_group in header);
            let vis: syn::Visibility = vis_group.parse()?;
            let ident: Ident = header.parse()?;
            let suffix: syn::LitStr = header.parse()?;
            let step_impl;
            braced!(step_impl in header);
            let step_impl: TokenStream = step_impl.parse()?;
            let Desc::Step(step) = body.parse::<Desc>()? else {
                return Err(body.error("expected the step description"));
            };
            let row = match body.parse::<Desc>()? {
                Desc::Row(r) => r.columns,
                Desc::Step(s) => {
                    return Err(syn::Error::new(
                        Span::call_site(),
                        format!(
                            "a step's output must be a #[derive(Row)] struct, but `{}` is a step",
                            s.type_name
                        ),
                    ));
                }
            };
            Ok(Define {
                vis,
                ident,
                suffix,
                step_impl,
                step,
                row,
            })
        }
    }
    match syn::parse2::<Define>(tokens) {
        Ok(mut d) => {
            d.step.outputs = d.row;
            let step_impl = &d.step_impl;
            let callback = crate::desc::callback_macro(
                &d.vis,
                &d.ident,
                &d.suffix.value(),
                d.step.to_tokens(),
            );
            quote!(#step_impl #callback)
        }
        Err(e) => e.to_compile_error(),
    }
}
