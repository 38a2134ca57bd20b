//! The pipeline graph model and the rules that decide whether a pipeline is well formed.
//!
//! Both `pipeline!` (at compile time) and `Pipeline::validate` (at run time) describe the pipeline
//! as a [`Graph`] and call [`check`], so a mistake gets the same words whichever way the pipeline
//! was built. The macro turns each [`Problem`] into a `syn::Error` spanned at the user's token (the
//! [`Problem::site`] says which), the runtime into a `distil::Error`.

#![warn(missing_docs)]

mod check;
mod model;
mod order;
mod problem;
mod suggest;

pub use check::{Compatible, Origin, Report, Resolution, check};
pub use model::{
    ColumnDecl, Edge, Graph, Passthrough, RouteDecl, Site, StepDecl, StepKind, column_id,
};
pub use problem::{Available, Problem};
pub use suggest::near_name;

#[cfg(test)]
mod tests {
    use super::*;

    fn step(
        name: &str,
        kind: StepKind,
        inputs: &[(&str, &str)],
        outputs: &[(&str, &str)],
    ) -> StepDecl {
        StepDecl {
            inputs: inputs
                .iter()
                .map(|(n, t)| ColumnDecl::new(*n, *t))
                .collect(),
            outputs: outputs
                .iter()
                .map(|(n, t)| ColumnDecl::new(*n, *t))
                .collect(),
            ..StepDecl::new(name, name.to_uppercase(), kind)
        }
    }

    #[test]
    fn missing_column_lists_what_arrives_and_suggests_a_mapping() {
        let graph = Graph {
            routes: Vec::new(),
            steps: vec![
                step("load", StepKind::Generator, &[], &[("prompt", "String")]),
                step(
                    "count",
                    StepKind::Normal,
                    &[("prompt", "String")],
                    &[("words", "u64")],
                ),
                step(
                    "generate",
                    StepKind::Normal,
                    &[("instruction", "String")],
                    &[("generation", "String")],
                ),
            ],
            edges: vec![Edge { from: 0, to: 1 }, Edge { from: 1, to: 2 }],
        };
        let report = check(&graph, None);
        assert_eq!(report.problems.len(), 1);
        let text = report.problems[0].to_string();
        assert!(
            text.starts_with("step `generate` (GENERATE) needs column `instruction: String`"),
            "{text}"
        );
        assert!(
            text.contains("`prompt: String` (from `load`), `words: u64` (from `count`)"),
            "{text}"
        );
        assert!(text.contains("did you mean to map `prompt`?"), "{text}");
        assert_eq!(report.resolutions.len(), 1);
    }

    #[test]
    fn nearest_producer_wins_and_mappings_apply() {
        let mut gen2 = step(
            "gen2",
            StepKind::Normal,
            &[("text", "String")],
            &[("text", "u64")],
        );
        gen2.output_mappings.push(("text".into(), "text".into()));
        let mut read = step("read", StepKind::Normal, &[("value", "u64")], &[]);
        read.input_mappings.push(("value".into(), "text".into()));
        let graph = Graph {
            routes: Vec::new(),
            steps: vec![
                step("load", StepKind::Generator, &[], &[("text", "String")]),
                gen2,
                read,
            ],
            edges: vec![Edge { from: 0, to: 1 }, Edge { from: 1, to: 2 }],
        };
        let report = check(&graph, Some(&|s, _, o: &Origin| s != 2 || o.ty == "u64"));
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let r = report.resolutions.iter().find(|r| r.consumer == 2).unwrap();
        assert_eq!(r.origin.producer, 1);
    }

    #[test]
    fn cycles_roots_and_joins_are_reported() {
        let graph = Graph {
            routes: Vec::new(),
            steps: vec![
                step("a", StepKind::Generator, &[], &[]),
                step("b", StepKind::Normal, &[], &[]),
                step("c", StepKind::Normal, &[], &[]),
            ],
            edges: vec![
                Edge { from: 0, to: 1 },
                Edge { from: 1, to: 2 },
                Edge { from: 2, to: 1 },
            ],
        };
        let report = check(&graph, None);
        assert!(
            report
                .problems
                .iter()
                .any(|p| matches!(p, Problem::Cycle { path, .. } if path.len() == 3))
        );

        let graph = Graph {
            routes: Vec::new(),
            steps: vec![
                step("a", StepKind::Generator, &[], &[]),
                step("b", StepKind::Generator, &[], &[]),
                step("c", StepKind::Normal, &[], &[]),
                step("d", StepKind::Normal, &[], &[]),
            ],
            edges: vec![Edge { from: 0, to: 2 }, Edge { from: 1, to: 2 }],
        };
        let text: Vec<String> = check(&graph, None)
            .problems
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(text.iter().any(|t| t.contains("cannot join")), "{text:?}");
        assert!(
            text.iter().any(|t| t.contains("`d` is not connected")),
            "{text:?}"
        );
    }

    #[test]
    fn a_cycle_is_reported_on_the_connection_written_last() {
        let graph = Graph {
            routes: Vec::new(),
            steps: vec![
                step("load", StepKind::Generator, &[], &[]),
                step("a", StepKind::Normal, &[], &[]),
                step("b", StepKind::Normal, &[], &[]),
                step("c", StepKind::Normal, &[], &[]),
            ],
            edges: vec![
                Edge { from: 0, to: 1 },
                Edge { from: 1, to: 2 },
                Edge { from: 2, to: 3 },
                Edge { from: 3, to: 1 },
            ],
        };
        let report = check(&graph, None);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        let problem = &report.problems[0];
        assert_eq!(problem.site(), Site::Edge(3));
        assert!(
            problem
                .to_string()
                .starts_with("the connections form a cycle: `a` >> `b` >> `c` >> `a`"),
            "{problem}"
        );
    }

    #[test]
    fn a_wrong_mapping_suggests_the_input_and_is_the_only_error() {
        let mut count = step("count", StepKind::Normal, &[("instruction", "String")], &[]);
        count.input_mappings.push(("text".into(), "prompt".into()));
        let mut load = step("load", StepKind::Generator, &[], &[("prompt", "String")]);
        load.output_mappings.push(("promt".into(), "x".into()));
        let graph = Graph {
            routes: Vec::new(),
            steps: vec![load, count],
            edges: vec![Edge { from: 0, to: 1 }],
        };
        let text: Vec<String> = check(&graph, None)
            .problems
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(
            text[0].ends_with("help: did you mean `outputs { prompt => x }`?"),
            "{text:?}"
        );
        assert!(
            text[1].ends_with("help: did you mean `inputs { instruction => prompt }`?"),
            "{text:?}"
        );
    }

    #[test]
    fn a_missing_mapped_column_points_at_the_mapping() {
        let mut count = step("count", StepKind::Normal, &[("instruction", "String")], &[]);
        count
            .input_mappings
            .push(("instruction".into(), "promt".into()));
        let graph = Graph {
            routes: Vec::new(),
            steps: vec![
                step("load", StepKind::Generator, &[], &[("prompt", "String")]),
                count,
            ],
            edges: vec![Edge { from: 0, to: 1 }],
        };
        let report = check(&graph, None);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert_eq!(report.problems[0].site(), Site::InputSource(1, 0));
        assert!(
            report.problems[0]
                .to_string()
                .contains("did you mean to map `prompt`?")
        );
    }

    #[test]
    fn below_a_root_that_is_no_generator_only_the_root_is_reported() {
        let graph = Graph {
            routes: Vec::new(),
            steps: vec![
                step(
                    "first",
                    StepKind::Normal,
                    &[("a", "String")],
                    &[("b", "u64")],
                ),
                step("second", StepKind::Normal, &[("c", "String")], &[]),
            ],
            edges: vec![Edge { from: 0, to: 1 }],
        };
        let report = check(&graph, None);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(matches!(
            report.problems[0],
            Problem::RootNotGenerator { .. }
        ));
    }

    #[test]
    fn a_join_of_two_generators_names_each_generator_once() {
        let graph = Graph {
            routes: Vec::new(),
            steps: vec![
                step("left", StepKind::Generator, &[], &[]),
                step("right", StepKind::Generator, &[], &[]),
                step("via", StepKind::Normal, &[], &[]),
                step("join", StepKind::Normal, &[], &[]),
            ],
            edges: vec![
                Edge { from: 0, to: 3 },
                Edge { from: 1, to: 2 },
                Edge { from: 2, to: 3 },
            ],
        };
        let report = check(&graph, None);
        let text = report.problems[0].to_string();
        assert!(
            text.starts_with(
                "step `join` cannot join rows of different generators: it receives rows of `left` and of `right` (through `via`)"
            ),
            "{text}"
        );
    }

    #[test]
    fn near_names_are_slips_of_the_keyboard() {
        assert_eq!(
            near_name("system_promt", ["system_prompt", "instruction"]),
            Some("system_prompt".to_owned())
        );
        assert_eq!(near_name("prompt", ["instruction"]), None);
        assert_eq!(
            near_name("tag", ["tag"]),
            None,
            "a name is no slip of itself"
        );
    }

    #[test]
    fn routed_branches_rejoin_into_every_row() {
        // load >> sample_n_steps(1) >> [a, b] >> join >> share: `join` sees every row again.
        let mut share = step("share", StepKind::Global, &[("verdict", "String")], &[]);
        share.kind = StepKind::Global;
        let graph = Graph {
            steps: vec![
                step(
                    "load",
                    StepKind::Generator,
                    &[],
                    &[("instruction", "String")],
                ),
                step(
                    "a",
                    StepKind::Normal,
                    &[("instruction", "String")],
                    &[("generation", "String")],
                ),
                step(
                    "b",
                    StepKind::Normal,
                    &[("instruction", "String")],
                    &[("generation", "String")],
                ),
                step(
                    "join",
                    StepKind::Normal,
                    &[("generation", "String")],
                    &[("verdict", "String")],
                ),
                share,
            ],
            edges: vec![
                Edge { from: 0, to: 1 },
                Edge { from: 0, to: 2 },
                Edge { from: 1, to: 3 },
                Edge { from: 2, to: 3 },
                Edge { from: 3, to: 4 },
            ],
            routes: vec![RouteDecl {
                from: 0,
                router: "sample_n_steps(1)".into(),
                targets: vec![1, 2],
                picks: Some(1),
            }],
        };
        assert_eq!(check(&graph, None).problems, vec![]);
        // Two of two picked: the router cannot route, and both `generation`s reach the join.
        let mut both = graph.clone();
        both.routes[0].picks = Some(2);
        both.routes[0].router = "sample_n_steps(2)".into();
        let problems = check(&both, None).problems;
        assert!(
            matches!(problems[0], Problem::RouterCannotRoute { .. }),
            "{problems:?}"
        );
        assert!(
            matches!(problems[1], Problem::SameColumnFromBranches { .. }),
            "{problems:?}"
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
