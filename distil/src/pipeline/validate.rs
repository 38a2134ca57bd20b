//! The runtime validator: the pipeline as a `distil_graph::Graph`, checked by the same rules
//! `pipeline!` applies at compile time, plus column types.

use distil_graph::{ColumnDecl, Edge, Graph, Origin, Problem, Report, RouteDecl, Site, StepDecl};

use super::Pipeline;
use crate::column::{ColumnSpec, DataType};

fn decls(columns: &[ColumnSpec]) -> Vec<ColumnDecl> {
    columns
        .iter()
        .map(|c| ColumnDecl {
            name: c.name.clone(),
            ty: c.data_type.to_string(),
            required: c.required,
            any_type: c.data_type == DataType::Json,
        })
        .collect()
}

pub(crate) fn graph(pipeline: &Pipeline) -> Graph {
    Graph {
        steps: pipeline
            .nodes
            .iter()
            .map(|node| StepDecl {
                inputs: decls(&node.spec.inputs),
                outputs: decls(&node.spec.outputs),
                passthrough: node.spec.passthrough.clone(),
                input_mappings: node.options.input_mappings.clone(),
                output_mappings: node.options.output_mappings.clone(),
                sets_batch_size: node.sets_batch_size,
                ..StepDecl::new(&node.name, &node.spec.type_name, node.spec.kind)
            })
            .collect(),
        edges: pipeline
            .edges
            .iter()
            .map(|&(from, to)| Edge { from, to })
            .collect(),
        routes: pipeline
            .routes
            .iter()
            .map(|route| RouteDecl {
                from: route.from,
                router: route.router.name().to_owned(),
                targets: route.targets.clone(),
                picks: route.router.picks,
            })
            .collect(),
    }
}

/// What a step's output column holds as the validator types it: its declared type, or for
/// a grouped output one list type per branch it groups.
struct Written {
    ty: DataType,
    /// `(the grouping step's input, the branch producing its values)`.
    grouping: Option<(String, usize)>,
}

/// The type of a grouped column of `ty`: a list, null where a branch failed on the row.
fn grouped(ty: &DataType) -> DataType {
    match ty {
        DataType::Optional(_) | DataType::Json => DataType::List(Box::new(ty.clone())),
        other => DataType::List(Box::new(DataType::Optional(Box::new(other.clone())))),
    }
}

/// The types each node's outputs hold, by index of its spec's outputs; grouped outputs typed
/// from the report's resolutions. Whether any changed.
fn fill_grouped(pipeline: &Pipeline, report: &Report, types: &mut [Vec<Vec<Written>>]) -> bool {
    let mut changed = false;
    for (g, node) in pipeline.nodes.iter().enumerate() {
        for (input, output) in &node.spec.grouped {
            let Some(k) = node.spec.outputs.iter().position(|c| &c.name == output) else {
                continue;
            };
            let Some(r) = report
                .resolutions
                .iter()
                .find(|r| r.consumer == g && &r.column == input)
            else {
                continue;
            };
            let mut written = Vec::new();
            for origin in &r.branches {
                let outputs = &pipeline.nodes[origin.producer].spec.outputs;
                let Some(o) = outputs.iter().position(|c| c.name == origin.produced_as) else {
                    continue;
                };
                for w in &types[origin.producer][o] {
                    written.push(Written {
                        ty: grouped(&w.ty),
                        grouping: Some((input.clone(), origin.producer)),
                    });
                }
            }
            let same = types[g][k].len() == written.len()
                && types[g][k].iter().zip(&written).all(|(a, b)| a.ty == b.ty);
            if !same && !written.is_empty() {
                types[g][k] = written;
                changed = true;
            }
        }
    }
    changed
}

/// The report and every problem as text (builder mistakes first).
pub(crate) fn check(pipeline: &Pipeline) -> (Report, Vec<String>) {
    let mut graph = graph(pipeline);
    let mut types: Vec<Vec<Vec<Written>>> = pipeline
        .nodes
        .iter()
        .map(|node| {
            node.spec
                .outputs
                .iter()
                .map(|c| {
                    vec![Written {
                        ty: c.data_type.clone(),
                        grouping: None,
                    }]
                })
                .collect()
        })
        .collect();
    let wanted = |consumer: usize, input: &str| {
        pipeline.nodes[consumer]
            .spec
            .inputs
            .iter()
            .find(|c| c.name == input)
    };
    let output_index = |origin: &Origin| {
        pipeline.nodes[origin.producer]
            .spec
            .outputs
            .iter()
            .position(|c| c.name == origin.produced_as)
    };
    let is_grouped = |origin: &Origin| {
        pipeline.nodes[origin.producer]
            .spec
            .grouped
            .iter()
            .any(|(_, out)| *out == origin.produced_as)
    };
    // A grouped column's type is known once what reaches its input is: a pass per grouping
    // step in a row.
    let mut report = Report::default();
    for _ in 0..=pipeline.nodes.len() {
        let compatible = |consumer: usize, input: &str, origin: &Origin| {
            // Grouped columns are checked below, branch by branch.
            if is_grouped(origin) {
                return true;
            }
            match (wanted(consumer, input), output_index(origin)) {
                (Some(w), Some(o)) => types[origin.producer][o]
                    .iter()
                    .all(|found| w.data_type.accepts(&found.ty)),
                _ => true,
            }
        };
        report = distil_graph::check(&graph, Some(&compatible));
        if !fill_grouped(pipeline, &report, &mut types) {
            break;
        }
        for (node, step) in types.iter().zip(&mut graph.steps) {
            for (written, decl) in node.iter().zip(&mut step.outputs) {
                if let Some(first) = written.first() {
                    decl.ty = first.ty.to_string();
                }
            }
        }
    }
    // A grouped column read with another type: one problem per type a branch gives it, in
    // the words `pipeline!` uses.
    let name = |i: usize| pipeline.nodes[i].name.clone();
    for r in &report.resolutions {
        let Some(w) = wanted(r.consumer, &r.column) else {
            continue;
        };
        for origin in r.branches.iter().filter(|o| is_grouped(o)) {
            let Some(o) = output_index(origin) else {
                continue;
            };
            let mut reported: Vec<&DataType> = Vec::new();
            for found in &types[origin.producer][o] {
                if w.data_type.accepts(&found.ty) || reported.contains(&&found.ty) {
                    continue;
                }
                reported.push(&found.ty);
                let producer = &graph.steps[origin.producer];
                report.problems.push(Problem::TypeMismatch {
                    step: name(r.consumer),
                    column: producer.output_name(&origin.produced_as).to_owned(),
                    expected: w.data_type.to_string(),
                    found: found.ty.to_string(),
                    producer: name(origin.producer),
                    grouping: found
                        .grouping
                        .as_ref()
                        .map(|(input, b)| (input.clone(), name(*b))),
                    site: Site::Step(r.consumer),
                });
            }
        }
    }
    let mut problems = pipeline.build_problems.clone();
    problems.extend(report.problems.iter().map(ToString::to_string));
    (report, problems)
}
