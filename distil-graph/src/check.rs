//! The rules: mappings, shape, routers, then the columns reaching each step in execution
//! order.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Graph, Passthrough, Site, StepDecl, StepKind};
use crate::order::topological_order;
use crate::problem::{Available, Problem};
use crate::suggest::{near_name, nearest, suggest};

/// Where each column reaching a step comes from: the nearest producer wins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The producing step.
    pub producer: usize,
    /// The producer's own name for the column (before its output mapping).
    pub produced_as: String,
    /// The column type as the producer declares it.
    pub ty: String,
}

/// A column a step reads, resolved to its producer: what the macro type-checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The step reading the column, by index in [`Graph::steps`].
    pub consumer: usize,
    /// The consumer's own input name.
    pub column: String,
    /// Where the column the consumer reads for that input comes from.
    pub origin: Origin,
    /// Where it comes from on each branch joining at the consumer, one per distinct producer in
    /// the order the branches were connected (`origin` among them): a row may carry any of
    /// them, so each is type-checked. Just `origin` when one producer writes it.
    pub branches: Vec<Origin>,
}

/// The outcome of [`check`].
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Everything wrong with the pipeline, in the order the rules found it; empty when it is
    /// well formed.
    pub problems: Vec<Problem>,
    /// One per step input that found its column upstream, wrong type included; none for a dynamic
    /// step when types are left to the compiler, nor when the graph has a cycle.
    pub resolutions: Vec<Resolution>,
    /// The steps in execution order, when the graph has no cycle.
    pub order: Vec<usize>,
}

/// Decides whether a produced column satisfies a step's input: `(consumer, input, origin)`.
pub type Compatible<'a> = &'a dyn Fn(usize, &str, &Origin) -> bool;

/// Checks the graph's shape and columns. `compatible` decides whether a produced column type
/// satisfies an input; pass `None` to leave types to the compiler.
pub fn check(graph: &Graph, compatible: Option<Compatible<'_>>) -> Report {
    let mut report = Report::default();
    let n = graph.steps.len();
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut succs: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, e) in graph.edges.iter().enumerate() {
        if preds[e.to].contains(&e.from) {
            report.problems.push(Problem::DuplicateEdge {
                from: graph.steps[e.from].name.clone(),
                to: graph.steps[e.to].name.clone(),
                site: Site::Edge(i),
            });
            continue;
        }
        preds[e.to].push(e.from);
        succs[e.from].push(e.to);
    }

    let meant_for = check_mappings(graph, &mut report);
    check_shape(graph, &preds, &succs, &mut report);
    check_routers(graph, &mut report);

    let order = match topological_order(graph, &preds, &succs) {
        Ok(order) => order,
        Err(cycle) => {
            report.problems.push(*cycle);
            return report;
        }
    };
    report.order = order.clone();
    let position: Vec<usize> = {
        let mut p = vec![0; n];
        for (i, &s) in order.iter().enumerate() {
            p[s] = i;
        }
        p
    };

    // Columns leaving each step, by name; and whether a dynamic step lies upstream.
    let mut leaving: Vec<BTreeMap<String, Origin>> = vec![BTreeMap::new(); n];
    let mut root_of: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut dynamic_upstream = vec![false; n];
    // A root that is not a generator lies upstream: it is reported, and what reaches the steps
    // below it is guesswork, so their missing columns are not.
    let mut bad_root_upstream = vec![false; n];
    // The `(route, target)` branches the rows reaching each step took: a router sends each
    // batch down only some of its targets, until a step joins all of them again.
    let mut routed_by: Vec<BTreeSet<(usize, usize)>> = vec![BTreeSet::new(); n];
    for &s in &order {
        let step = &graph.steps[s];
        let mut arriving: BTreeMap<String, Origin> = BTreeMap::new();
        for &p in &preds[s] {
            dynamic_upstream[s] |= dynamic_upstream[p] || graph.steps[p].dynamic;
            bad_root_upstream[s] |= bad_root_upstream[p]
                || (preds[p].is_empty() && graph.steps[p].kind != StepKind::Generator);
            for (name, origin) in &leaving[p] {
                let nearer = match arriving.get(name) {
                    None => true,
                    Some(current) => position[origin.producer] >= position[current.producer],
                };
                if nearer {
                    arriving.insert(name.clone(), origin.clone());
                }
            }
            for r in root_of[p].clone() {
                if !root_of[s].contains(&r) {
                    root_of[s].push(r);
                }
            }
        }
        if preds[s].is_empty() {
            root_of[s].push(s);
        }
        let branches_differ = preds[s]
            .windows(2)
            .any(|w| routed_by[w[0]] != routed_by[w[1]]);
        for &p in &preds[s] {
            let inherited = routed_by[p].clone();
            routed_by[s].extend(inherited);
        }
        for (r, route) in graph.routes.iter().enumerate() {
            if route.targets.contains(&s) && preds[s].contains(&route.from) {
                routed_by[s].insert((r, s));
            }
        }
        for (r, route) in graph.routes.iter().enumerate() {
            if route
                .targets
                .iter()
                .all(|&t| routed_by[s].contains(&(r, t)))
            {
                routed_by[s].retain(|&(q, _)| q != r);
            }
        }
        if step.kind == StepKind::Global
            && let Some(&(r, _)) = routed_by[s].first()
        {
            let route = &graph.routes[r];
            report.problems.push(Problem::GlobalBehindRouter {
                step: step.name.clone(),
                type_name: step.type_name.clone(),
                routed: graph.steps[route.from].name.clone(),
                router: route.router.clone(),
                branches: route
                    .targets
                    .iter()
                    .map(|&t| graph.steps[t].name.clone())
                    .collect(),
                site: Site::Step(s),
            });
        }
        let joins_generators = preds[s].len() > 1 && root_of[s].len() > 1;
        if preds[s].len() > 1 && !joins_generators && !(step.dynamic && compatible.is_none()) {
            same_column_from_branches(graph, s, &preds[s], &leaving, &routed_by, &mut report);
        }
        if preds[s].len() > 1 && root_of[s].len() > 1 {
            let roots = preds[s]
                .iter()
                .map(|&p| {
                    let root = root_of[p]
                        .first()
                        .map_or("?", |&r| graph.steps[r].name.as_str());
                    (graph.steps[p].name.clone(), root.to_owned())
                })
                .collect();
            report.problems.push(Problem::CannotJoin {
                step: step.name.clone(),
                roots,
                site: Site::Step(s),
            });
        }

        if !(step.dynamic && compatible.is_none()) {
            for input in &step.inputs {
                let source = step.input_source(&input.name);
                let lacking: Vec<usize> = preds[s]
                    .iter()
                    .copied()
                    .filter(|&p| !leaving[p].contains_key(source))
                    .collect();
                match arriving.get(source) {
                    // A step reading whatever arrives (KeepColumns) takes a missing value as null.
                    Some(_)
                        if input.required
                            && !input.any_type
                            && branches_differ
                            && !lacking.is_empty() =>
                    {
                        let carrying: Vec<usize> = preds[s]
                            .iter()
                            .copied()
                            .filter(|p| !lacking.contains(p))
                            .collect();
                        let r = routed_by[carrying[0]]
                            .symmetric_difference(&routed_by[lacking[0]])
                            .next()
                            .map(|&(r, _)| r)
                            .or_else(|| routed_by[carrying[0]].first().map(|&(r, _)| r))
                            .or_else(|| routed_by[lacking[0]].first().map(|&(r, _)| r))
                            .unwrap_or(0);
                        let route = &graph.routes[r];
                        report.problems.push(Problem::ColumnFromSomeBranches {
                            step: step.name.clone(),
                            type_name: step.type_name.clone(),
                            column: input.name.clone(),
                            ty: input.ty.clone(),
                            source: source.to_owned(),
                            with: carrying
                                .iter()
                                .map(|&p| {
                                    let producer = leaving[p][source].producer;
                                    (
                                        graph.steps[p].name.clone(),
                                        graph.steps[producer].name.clone(),
                                    )
                                })
                                .collect(),
                            without: lacking
                                .iter()
                                .map(|&p| graph.steps[p].name.clone())
                                .collect(),
                            router: (route.router.clone(), graph.steps[route.from].name.clone()),
                            site: Site::Step(s),
                        });
                    }
                    Some(origin) => {
                        let mut branches: Vec<Origin> = Vec::new();
                        for &p in &preds[s] {
                            if let Some(o) = leaving[p].get(source)
                                && !branches.iter().any(|b| b.producer == o.producer)
                            {
                                branches.push(o.clone());
                            }
                        }
                        if let Some(ok) = compatible {
                            for origin in branches.iter().filter(|o| !ok(s, &input.name, o)) {
                                report.problems.push(Problem::TypeMismatch {
                                    step: step.name.clone(),
                                    column: source.to_owned(),
                                    expected: input.ty.clone(),
                                    found: origin.ty.clone(),
                                    producer: graph.steps[origin.producer].name.clone(),
                                    grouping: None,
                                    site: Site::Step(s),
                                });
                            }
                        }
                        report.resolutions.push(Resolution {
                            consumer: s,
                            column: input.name.clone(),
                            origin: origin.clone(),
                            branches,
                        });
                    }
                    None if !input.required => {
                        let unknown_upstream = (dynamic_upstream[s] && compatible.is_none())
                            || preds[s].is_empty()
                            || bad_root_upstream[s];
                        let near = near_name(source, arriving.keys().map(String::as_str));
                        if let (false, Some(near)) = (unknown_upstream, near) {
                            let origin = &arriving[&near];
                            report.problems.push(Problem::OptionalInputUnmatched {
                                step: step.name.clone(),
                                type_name: step.type_name.clone(),
                                column: input.name.clone(),
                                ty: if input.ty.starts_with("Option<") {
                                    input.ty.clone()
                                } else {
                                    format!("Option<{}>", input.ty)
                                },
                                source: source.to_owned(),
                                near: Available {
                                    column: near.clone(),
                                    ty: origin.ty.clone(),
                                    producer: graph.steps[origin.producer].name.clone(),
                                },
                                site: input_site(step, s, &input.name),
                            });
                        }
                    }
                    None if dynamic_upstream[s] && compatible.is_none() => {}
                    None if preds[s].is_empty() || bad_root_upstream[s] => {}
                    None if meant_for[s].contains(&input.name) => {}
                    None => {
                        let available: Vec<Available> = arriving
                            .iter()
                            .map(|(name, o)| Available {
                                column: name.clone(),
                                ty: o.ty.clone(),
                                producer: graph.steps[o.producer].name.clone(),
                            })
                            .collect();
                        let suggestion = suggest(source, &input.ty, &available);
                        let site = input_site(step, s, &input.name);
                        report.problems.push(Problem::MissingColumn {
                            step: step.name.clone(),
                            type_name: step.type_name.clone(),
                            column: input.name.clone(),
                            ty: input.ty.clone(),
                            source: source.to_owned(),
                            available,
                            suggestion,
                            listed: matches!(step.passthrough, Passthrough::Only(_)),
                            site,
                        });
                    }
                }
            }
        }

        let mut out = match &step.passthrough {
            Passthrough::All => arriving,
            Passthrough::Only(keep) => arriving
                .into_iter()
                .filter(|(name, _)| keep.contains(name))
                .collect(),
        };
        for output in &step.outputs {
            out.insert(
                step.output_name(&output.name).to_owned(),
                Origin {
                    producer: s,
                    produced_as: output.name.clone(),
                    ty: output.ty.clone(),
                },
            );
        }
        leaving[s] = out;
    }
    report
}

/// Where to point at an input of step `s`: the mapping's upstream column when it is mapped,
/// else the step.
fn input_site(step: &StepDecl, s: usize, input: &str) -> Site {
    match step
        .input_mappings
        .iter()
        .position(|(from, _)| from == input)
    {
        Some(m) => Site::InputSource(s, m),
        None => Site::Step(s),
    }
}

/// Reports a column that several joined branches bring from different producers, unless the
/// joining step reads it whatever its type (it groups them), or a router sends each row down
/// only one of those branches.
fn same_column_from_branches(
    graph: &Graph,
    s: usize,
    preds: &[usize],
    leaving: &[BTreeMap<String, Origin>],
    routed_by: &[BTreeSet<(usize, usize)>],
    report: &mut Report,
) {
    let step = &graph.steps[s];
    let mut columns: Vec<&String> = preds.iter().flat_map(|&p| leaving[p].keys()).collect();
    columns.sort();
    columns.dedup();
    for column in columns {
        let bringing: Vec<usize> = preds
            .iter()
            .copied()
            .filter(|&p| leaving[p].contains_key(column))
            .collect();
        let mut producers: Vec<usize> = bringing
            .iter()
            .map(|&p| leaving[p][column].producer)
            .collect();
        producers.sort_unstable();
        producers.dedup();
        if producers.len() < 2 {
            continue;
        }
        let grouped = step
            .inputs
            .iter()
            .any(|i| i.any_type && step.input_source(&i.name) == column);
        // Each row took one branch of a router that picks one target (or that the user wrote).
        let exclusive = graph.routes.iter().enumerate().any(|(r, route)| {
            route.picks.is_none_or(|n| n <= 1)
                && bringing
                    .iter()
                    .all(|p| routed_by[*p].iter().any(|&(q, _)| q == r))
                && {
                    let mut targets: Vec<usize> = bringing
                        .iter()
                        .filter_map(|p| {
                            routed_by[*p]
                                .iter()
                                .find(|&&(q, _)| q == r)
                                .map(|&(_, t)| t)
                        })
                        .collect();
                    targets.sort_unstable();
                    targets.dedup();
                    targets.len() == bringing.len()
                }
        });
        if grouped || exclusive {
            continue;
        }
        report.problems.push(Problem::SameColumnFromBranches {
            step: step.name.clone(),
            column: column.clone(),
            branches: bringing
                .iter()
                .map(|&p| {
                    let origin = &leaving[p][column];
                    (
                        graph.steps[p].name.clone(),
                        graph.steps[origin.producer].name.clone(),
                        origin.ty.clone(),
                    )
                })
                .collect(),
            site: Site::Step(s),
        });
    }
}

/// Reports routers that send every batch to all their targets, or to none.
fn check_routers(graph: &Graph, report: &mut Report) {
    for (r, route) in graph.routes.iter().enumerate() {
        let n = route.targets.len();
        let useless = n == 1 || route.picks.is_some_and(|k| k == 0 || k >= n);
        if useless && n > 0 {
            report.problems.push(Problem::RouterCannotRoute {
                step: graph.steps[route.from].name.clone(),
                router: route.router.clone(),
                targets: route
                    .targets
                    .iter()
                    .map(|&t| graph.steps[t].name.clone())
                    .collect(),
                picks: route.picks,
                site: Site::Route(r),
            });
        }
    }
}

/// Reports mappings naming columns the step does not have. Returns, per step, the inputs a
/// wrong mapping was probably meant for: their missing-column errors would only repeat it.
fn check_mappings(graph: &Graph, report: &mut Report) -> Vec<Vec<String>> {
    let mut meant_for = vec![Vec::new(); graph.steps.len()];
    for (s, step) in graph.steps.iter().enumerate() {
        if step.dynamic {
            continue;
        }
        let is_input = |c: &str| step.inputs.iter().any(|i| i.name == c);
        let unmapped_inputs: Vec<&str> = step
            .inputs
            .iter()
            .map(|c| c.name.as_str())
            .filter(|c| !step.input_mappings.iter().any(|(from, _)| from == c))
            .collect();
        for (m, (column, upstream)) in step.input_mappings.iter().enumerate() {
            if is_input(column) {
                continue;
            }
            let reversed = is_input(upstream);
            let suggestion = if reversed {
                Some(upstream.clone())
            } else {
                nearest(column, &unmapped_inputs)
            };
            if let Some(input) = &suggestion {
                meant_for[s].push(input.clone());
            }
            report.problems.push(Problem::UnknownInputMapping {
                step: step.name.clone(),
                column: column.clone(),
                upstream: upstream.clone(),
                known: step.inputs.iter().map(|c| c.name.clone()).collect(),
                suggestion,
                reversed,
                site: Site::InputMapping(s, m),
            });
        }
        let unmapped_outputs: Vec<&str> = step
            .outputs
            .iter()
            .map(|c| c.name.as_str())
            .filter(|c| !step.output_mappings.iter().any(|(from, _)| from == c))
            .collect();
        for (m, (column, new_name)) in step.output_mappings.iter().enumerate() {
            if step.outputs.iter().any(|c| &c.name == column) {
                continue;
            }
            let reversed = step.outputs.iter().any(|c| &c.name == new_name);
            report.problems.push(Problem::UnknownOutputMapping {
                step: step.name.clone(),
                column: column.clone(),
                new_name: new_name.clone(),
                known: step.outputs.iter().map(|c| c.name.clone()).collect(),
                suggestion: if reversed {
                    Some(new_name.clone())
                } else {
                    nearest(column, &unmapped_outputs)
                },
                reversed,
                site: Site::OutputMapping(s, m),
            });
        }
    }
    meant_for
}

fn check_shape(graph: &Graph, preds: &[Vec<usize>], succs: &[Vec<usize>], report: &mut Report) {
    let n = graph.steps.len();
    for (s, step) in graph.steps.iter().enumerate() {
        if n > 1 && preds[s].is_empty() && succs[s].is_empty() {
            report.problems.push(Problem::Unconnected {
                step: step.name.clone(),
                site: Site::Step(s),
            });
        } else if preds[s].is_empty() && step.kind != StepKind::Generator {
            report.problems.push(Problem::RootNotGenerator {
                step: step.name.clone(),
                type_name: step.type_name.clone(),
                site: Site::Step(s),
            });
        }
        if step.sets_batch_size && step.kind != StepKind::Generator {
            report.problems.push(Problem::BatchSizeOnNonGenerator {
                step: step.name.clone(),
                type_name: step.type_name.clone(),
                site: Site::BatchSize(s),
            });
        }
        if step.kind == StepKind::Generator
            && let Some(i) = graph.edges.iter().position(|e| e.to == s)
        {
            report.problems.push(Problem::GeneratorWithPredecessor {
                step: step.name.clone(),
                predecessor: graph.steps[graph.edges[i].from].name.clone(),
                site: Site::Edge(i),
            });
        }
    }
}
