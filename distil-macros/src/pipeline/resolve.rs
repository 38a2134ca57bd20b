//! The first stage of `pipeline!` once every step has described itself: binding names and
//! connections resolved into the graph the rules check, and what each step's outputs are.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

use super::parse::{
    Element, Grouping, PipelineInput, groups_generations, literal_columns, literal_strings,
    method_call,
};
use crate::internals::ctxt::{Ctxt, did_you_mean};
use crate::internals::protocol::{ColumnDesc, Kind, MODEL_NAME, StepDesc};
use crate::internals::types::{display_type, grouped_type};
use distil_graph::{ColumnDecl, Edge, Graph, Passthrough, RouteDecl, StepDecl, StepKind};

/// A router written in a chain: `from >> sample_n_steps(2) >> [targets]`.
pub(super) struct Route {
    pub from: usize,
    /// The router expression as written.
    pub tokens: TokenStream,
    pub targets: Vec<usize>,
    pub span: Span,
}

/// Where the types of a step's output columns come from.
pub(super) enum Outputs {
    /// The step type's own `OutCol` impls.
    Own,
    /// A task with `.group_generations(true)`: each output but `model_name` is a list of the
    /// task's own type (`Grouped<T>`).
    GroupedGenerations,
    /// GroupColumns with literal lists: each `(input, output)` pair writes `Grouped<T>` of the
    /// input's type on every branch.
    GroupedColumns(Vec<(String, String)>),
    /// Known only when the step runs.
    Unknown,
}

/// The pipeline resolved: the graph and, by the same indices, what the later stages need.
pub(super) struct Resolved {
    pub graph: Graph,
    /// The span of each edge's target, by index in `graph.edges`.
    pub edge_spans: Vec<Span>,
    pub routes: Vec<Route>,
    /// The columns a step keeps, when listed as literals (KeepColumns).
    pub kept: Vec<Option<Vec<String>>>,
    pub outputs: Vec<Outputs>,
    /// The type of each output column of each step, by the indices of `graph.steps[s].outputs`
    /// (whose types are these as messages show them); `None` for a GroupColumns output until
    /// its input is resolved.
    pub output_types: Vec<Vec<Option<syn::Type>>>,
    /// Tasks grouping their generations only when told at run time (`group_generations(x)`).
    pub grouping_unknown: Vec<bool>,
}

/// A connection as written, before its names are looked up.
enum Link<'a> {
    Edge(&'a Ident, &'a Ident),
    Route(&'a Ident, &'a TokenStream, Span, Vec<&'a Ident>),
}

/// The graph, or `None` when names or connections are wrong: the graph would be a guess, so
/// its rules only run without such errors (one error, not five).
pub(super) fn resolve(model: &PipelineInput, descs: &[StepDesc], cx: &Ctxt) -> Option<Resolved> {
    let mut wrong = false;
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, b) in model.bindings.iter().enumerate() {
        match index.entry(b.ident.to_string()) {
            std::collections::hash_map::Entry::Occupied(entry) => {
                wrong = true;
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
    let links = links(model, cx, &mut wrong);
    let find = |ident: &Ident| -> Option<usize> {
        let found = index.get(&ident.to_string()).copied();
        if found.is_none() {
            cx.error(ident, unknown_step(model, ident));
        }
        found
    };
    let mut edges: Vec<Edge> = Vec::new();
    let mut edge_spans: Vec<Span> = Vec::new();
    let mut routes: Vec<Route> = Vec::new();
    for link in links {
        match link {
            Link::Edge(from, to) => match (find(from), find(to)) {
                (Some(f), Some(t)) => {
                    edges.push(Edge { from: f, to: t });
                    edge_spans.push(to.span());
                }
                _ => wrong = true,
            },
            Link::Route(from, tokens, span, targets) => {
                let Some(f) = find(from) else {
                    wrong = true;
                    continue;
                };
                let mut found = Vec::new();
                for target in targets {
                    match find(target) {
                        Some(t) => {
                            edges.push(Edge { from: f, to: t });
                            edge_spans.push(target.span());
                            found.push(t);
                        }
                        None => wrong = true,
                    }
                }
                routes.push(Route {
                    from: f,
                    tokens: tokens.clone(),
                    targets: found,
                    span,
                });
            }
        }
    }

    let kept: Vec<Option<Vec<String>>> = model
        .bindings
        .iter()
        .zip(descs)
        .map(|(b, d)| d.keeps_arg.and_then(|arg| literal_columns(b, arg)))
        .collect();
    let grouping: Vec<Grouping> = model
        .bindings
        .iter()
        .zip(descs)
        .map(|(b, d)| {
            if d.dynamic {
                Grouping::No
            } else {
                groups_generations(b)
            }
        })
        .collect();
    let outputs: Vec<Outputs> = model
        .bindings
        .iter()
        .zip(descs)
        .zip(&grouping)
        .map(|((b, d), grouping)| match grouping {
            Grouping::Yes => Outputs::GroupedGenerations,
            Grouping::Unknown => Outputs::Unknown,
            Grouping::No => match d.groups_arg.and_then(|arg| group_pairs(b, arg, cx)) {
                Some(pairs) => Outputs::GroupedColumns(pairs),
                None if d.dynamic => Outputs::Unknown,
                None => Outputs::Own,
            },
        })
        .collect();

    let mut output_types: Vec<Vec<Option<syn::Type>>> = Vec::new();
    let steps = model
        .bindings
        .iter()
        .zip(descs)
        .enumerate()
        .map(|(i, (b, d))| {
            let own = |columns: &[ColumnDesc]| columns.iter().map(|c| Some(c.ty.clone())).collect();
            let (inputs, outputs, types, dynamic) = match (&kept[i], &outputs[i]) {
                (Some(columns), _) => (any_type(columns.iter()), Vec::new(), Vec::new(), false),
                (None, Outputs::GroupedColumns(pairs)) => (
                    any_type(pairs.iter().map(|(input, _)| input)),
                    // Their types are the inputs', filled in once they are resolved.
                    pairs
                        .iter()
                        .map(|(_, out)| ColumnDecl::new(out, ""))
                        .collect(),
                    vec![None; pairs.len()],
                    false,
                ),
                (None, Outputs::GroupedGenerations) => {
                    let grouped: Vec<ColumnDesc> = d
                        .outputs
                        .iter()
                        .map(|c| ColumnDesc {
                            ty: if c.name == MODEL_NAME {
                                c.ty.clone()
                            } else {
                                grouped_type(&c.ty)
                            },
                            ..c.clone()
                        })
                        .collect();
                    (decls(&d.inputs), decls(&grouped), own(&grouped), false)
                }
                (None, Outputs::Unknown) => (decls(&d.inputs), Vec::new(), Vec::new(), true),
                (None, Outputs::Own) => (
                    decls(&d.inputs),
                    decls(&d.outputs),
                    own(&d.outputs),
                    d.dynamic,
                ),
            };
            output_types.push(types);
            StepDecl {
                inputs,
                outputs,
                passthrough: kept[i].clone().map_or(Passthrough::All, Passthrough::Only),
                dynamic,
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
            }
        })
        .collect();
    let graph = Graph {
        steps,
        edges,
        routes: routes
            .iter()
            .map(|route| {
                let (router, picks) = router_text(&route.tokens);
                RouteDecl {
                    from: route.from,
                    router,
                    targets: route.targets.clone(),
                    picks,
                }
            })
            .collect(),
    };
    (!wrong).then(|| Resolved {
        graph,
        edge_spans,
        routes,
        kept,
        outputs,
        output_types,
        grouping_unknown: grouping.iter().map(|g| *g == Grouping::Unknown).collect(),
    })
}

/// The connections of every chain, in the order written; wrong shapes are reported.
fn links<'a>(model: &'a PipelineInput, cx: &Ctxt, wrong: &mut bool) -> Vec<Link<'a>> {
    let mut links = Vec::new();
    for chain in &model.chains {
        for (at, pair) in chain.windows(2).enumerate() {
            match (&pair[0], &pair[1]) {
                (Element::Step(a), Element::Step(b)) => links.push(Link::Edge(a, b)),
                (Element::Step(a), Element::List(bs)) => {
                    links.extend(bs.iter().map(|b| Link::Edge(a, b)));
                }
                (Element::List(as_), Element::Step(b)) => {
                    links.extend(as_.iter().map(|a| Link::Edge(a, b)));
                }
                (Element::List(_), Element::List(_)) => {
                    *wrong = true;
                    cx.push(syn::Error::new(
                        element_span(&pair[1]),
                        "connect a list to one step (`[a, b] >> c`) or one step to a list (`a >> [b, c]`), not a list to a list",
                    ));
                }
                (Element::Step(a), Element::Router(tokens, span)) => {
                    let targets: Vec<&Ident> = match chain.get(at + 2) {
                        Some(Element::List(bs)) => bs.iter().collect(),
                        Some(Element::Step(b)) => vec![b],
                        _ => {
                            *wrong = true;
                            cx.push(syn::Error::new(*span, "a routing function goes between a step and the list of steps it routes to: `a >> sample_n_steps(2) >> [b, c, d]`"));
                            continue;
                        }
                    };
                    links.push(Link::Route(a, tokens, *span, targets));
                }
                // The router's targets, read with the step before it.
                (Element::Router(..), _) => {}
                (Element::List(_), Element::Router(_, span)) => {
                    *wrong = true;
                    cx.push(syn::Error::new(
                        *span,
                        "a routing function routes the batches of one step, not of a list",
                    ));
                }
            }
        }
        if let Some(Element::Router(_, span)) = chain.first() {
            *wrong = true;
            cx.push(syn::Error::new(
                *span,
                "a routing function needs a step before it",
            ));
        }
    }
    links
}

fn unknown_step(model: &PipelineInput, ident: &Ident) -> String {
    let mut message = format!("no step named `{ident}` in this pipeline");
    let wanted = ident.to_string();
    let names: Vec<String> = model.bindings.iter().map(|b| b.ident.to_string()).collect();
    if let Some(near) = did_you_mean(&wanted, names.iter().map(String::as_str)) {
        message.push_str(&format!("; did you mean `{near}`?"));
    } else {
        let known: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        message.push_str(&format!("; the steps are {}", known.join(", ")));
    }
    message
}

/// GroupColumns' `(column, output column)` pairs when its lists are literals: the names its
/// `.output_columns([..])` call gives, by default `grouped_<column>`.
fn group_pairs(
    binding: &super::parse::Binding,
    arg: usize,
    cx: &Ctxt,
) -> Option<Vec<(String, String)>> {
    let columns = literal_columns(binding, arg)?;
    let names = match method_call(&binding.expr, "output_columns") {
        None => None,
        Some(call) => {
            let names = literal_strings(call.args.first()?)?;
            if names.len() != columns.len() {
                // The words of GroupColumns' own check when the pipeline starts.
                cx.error(
                    &call.args,
                    format!(
                        "GroupColumns got {} output column names for {} columns; give one name per column",
                        names.len(),
                        columns.len()
                    ),
                );
            }
            Some(names)
        }
    };
    Some(
        columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                let name = names
                    .as_ref()
                    .and_then(|n| n.get(i).cloned())
                    .unwrap_or_else(|| format!("grouped_{column}"));
                (column.clone(), name)
            })
            .collect(),
    )
}

/// Inputs read whatever their type.
fn any_type<'a>(columns: impl Iterator<Item = &'a String>) -> Vec<ColumnDecl> {
    columns
        .map(|c| ColumnDecl {
            any_type: true,
            ..ColumnDecl::new(c, "")
        })
        .collect()
}

pub(super) fn decls(columns: &[ColumnDesc]) -> Vec<ColumnDecl> {
    columns
        .iter()
        .map(|c| ColumnDecl {
            name: c.name.clone(),
            ty: display_type(&c.ty),
            required: c.required,
            any_type: false,
        })
        .collect()
}

pub(super) fn element_span(element: &Element) -> Span {
    match element {
        Element::List(items) => items[0].span(),
        Element::Step(s) => s.span(),
        Element::Router(_, span) => *span,
    }
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
