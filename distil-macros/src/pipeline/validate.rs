//! The second stage: the graph checked by the rules the runtime shares, each problem reported
//! at the token the user edits.

use super::parse::PipelineInput;
use super::resolve::{Outputs, Resolved, decls};
use crate::internals::ctxt::Ctxt;
use crate::internals::protocol::StepDesc;
use crate::internals::types::{display_type, grouped_type};
use distil_graph::{Problem, Report, Site};

/// Checks the graph and reports its problems; the report's resolutions are what the
/// expansion type-checks.
pub(super) fn validate(
    model: &PipelineInput,
    descs: &[StepDesc],
    resolved: &mut Resolved,
    cx: &Ctxt,
) -> Report {
    let mut report = distil_graph::check(&resolved.graph, None);
    // GroupColumns writes its inputs' types as lists: known once its inputs are resolved, which
    // may take a pass per GroupColumns in a row.
    for _ in 0..resolved.graph.steps.len() {
        if !fill_grouped_types(resolved, &report) {
            break;
        }
        report = distil_graph::check(&resolved.graph, None);
    }
    // A task grouping its generations only when told at run time is untyped below it, but its
    // own inputs and mappings are still checked: by the graph where it alone is typed.
    for s in (0..resolved.graph.steps.len()).filter(|&s| resolved.grouping_unknown[s]) {
        let mut typed = resolved.graph.clone();
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
    for problem in &report.problems {
        let span = match problem.site() {
            Site::Step(s) => model.bindings[s].ident.span(),
            Site::Edge(e) => resolved.edge_spans[e],
            Site::InputMapping(s, m) => model.bindings[s].inputs[m].from.span,
            Site::OutputMapping(s, m) => model.bindings[s].outputs[m].from.span,
            Site::InputSource(s, m) => model.bindings[s].inputs[m].to.span,
            Site::Route(r) => resolved.routes[r].span,
            Site::BatchSize(s) => model.bindings[s]
                .batch_size_span
                .unwrap_or_else(|| model.bindings[s].ident.span()),
        };
        cx.push(syn::Error::new(span, problem.to_string()));
    }
    report
}

/// Sets the type of each GroupColumns output from its input's resolution (a list of the
/// producer's type); whether any changed.
fn fill_grouped_types(resolved: &mut Resolved, report: &Report) -> bool {
    let mut changed = false;
    for (g, outputs) in resolved.outputs.iter().enumerate() {
        let Outputs::GroupedColumns(pairs) = outputs else {
            continue;
        };
        for (k, (input, _)) in pairs.iter().enumerate() {
            let Some(r) = report
                .resolutions
                .iter()
                .find(|r| r.consumer == g && &r.column == input)
            else {
                continue;
            };
            let p = r.origin.producer;
            let Some(Some(found)) = resolved.graph.steps[p]
                .outputs
                .iter()
                .position(|c| c.name == r.origin.produced_as)
                .and_then(|o| resolved.output_types[p].get(o))
            else {
                continue;
            };
            let ty = grouped_type(found);
            if resolved.output_types[g][k].as_ref() != Some(&ty) {
                resolved.graph.steps[g].outputs[k].ty = display_type(&ty);
                resolved.output_types[g][k] = Some(ty);
                changed = true;
            }
        }
    }
    changed
}
