//! The runtime validator: the pipeline as a `distil_graph::Graph`, checked by the same rules
//! `pipeline!` applies at compile time, plus column types.

use distil_graph::{ColumnDecl, Edge, Graph, Origin, Report, RouteDecl, StepDecl};

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

/// The report and every problem as text (builder mistakes first).
pub(crate) fn check(pipeline: &Pipeline) -> (Report, Vec<String>) {
    let graph = graph(pipeline);
    let compatible = |consumer: usize, input: &str, origin: &Origin| {
        let wanted = pipeline.nodes[consumer]
            .spec
            .inputs
            .iter()
            .find(|c| c.name == input);
        let found = pipeline.nodes[origin.producer]
            .spec
            .outputs
            .iter()
            .find(|c| c.name == origin.produced_as);
        match (wanted, found) {
            (Some(w), Some(f)) => w.data_type.accepts(&f.data_type),
            _ => true,
        }
    };
    let report = distil_graph::check(&graph, Some(&compatible));
    let mut problems = pipeline.build_problems.clone();
    problems.extend(report.problems.iter().map(ToString::to_string));
    (report, problems)
}
