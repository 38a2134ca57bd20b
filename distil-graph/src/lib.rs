//! The pipeline graph model and the rules that decide whether a pipeline is well formed.
//!
//! Both `pipeline!` (at compile time) and `Pipeline::validate` (at run time) describe the pipeline
//! as a [`Graph`] and call [`check`], so a mistake gets the same words whichever way the pipeline
//! was built. The macro turns each [`Problem`] into a `syn::Error` spanned at the user's token (the
//! [`Problem::site`] says which), the runtime into a `distil::Error`.

#![warn(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What a step does with rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// A root: produces rows, has no predecessor.
    Generator,
    /// Sees batches of rows.
    Normal,
    /// Sees all rows at once.
    Global,
}

/// A column a step reads or writes, with the display form of its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDecl {
    /// The step's own name for the column (before mappings).
    pub name: String,
    /// The column type as the user would write it (`String`, `Vec<u64>`, ...).
    pub ty: String,
    /// `false` for optional inputs (`Option<T>` arguments); always `true` for outputs.
    pub required: bool,
    /// The step reads the column whatever its type (GroupColumns, KeepColumns): it is taken to
    /// handle a column several branches bring.
    pub any_type: bool,
}

impl ColumnDecl {
    /// A required column.
    pub fn new(name: impl Into<String>, ty: impl Into<String>) -> Self {
        ColumnDecl {
            name: name.into(),
            ty: ty.into(),
            required: true,
            any_type: false,
        }
    }
}

/// Which upstream columns a step passes on to its successors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Passthrough {
    /// Every upstream column (the default, as in distilabel).
    All,
    /// Only these upstream columns (KeepColumns), in this order.
    Only(Vec<String>),
}

/// One step of the graph, as the rules see it.
#[derive(Clone, Debug)]
pub struct StepDecl {
    /// The binding name, unique in the pipeline.
    pub name: String,
    /// The step's type, for messages.
    pub type_name: String,
    /// Whether the step starts the pipeline or sees batches or all rows: only a generator may be
    /// a root, and a generator takes no predecessor.
    pub kind: StepKind,
    /// The columns the step reads, under its own names (`input_mappings` says where each comes
    /// from upstream).
    pub inputs: Vec<ColumnDecl>,
    /// The columns the step writes, under its own names (`output_mappings` renames them for its
    /// successors).
    pub outputs: Vec<ColumnDecl>,
    /// Which of the columns reaching the step it passes on to its successors, besides its outputs.
    pub passthrough: Passthrough,
    /// The step's columns are only known when it runs (untyped steps): at compile time the rules
    /// neither check its inputs nor report columns missing below it.
    pub dynamic: bool,
    /// `(step input, upstream column)`: the step reads `upstream column` as `step input`.
    pub input_mappings: Vec<(String, String)>,
    /// `(step output, new name)`: the step's output is written as `new name`.
    pub output_mappings: Vec<(String, String)>,
    /// The pipeline sets the step's `batch_size`, which only a generator uses.
    pub sets_batch_size: bool,
}

impl StepDecl {
    /// A normal step with no columns; fill in the rest with struct update syntax or the fields.
    pub fn new(name: impl Into<String>, type_name: impl Into<String>, kind: StepKind) -> Self {
        StepDecl {
            name: name.into(),
            type_name: type_name.into(),
            kind,
            inputs: Vec::new(),
            outputs: Vec::new(),
            passthrough: Passthrough::All,
            dynamic: false,
            input_mappings: Vec::new(),
            output_mappings: Vec::new(),
            sets_batch_size: false,
        }
    }

    /// The name under which the step's output `column` reaches its successors.
    pub fn output_name<'a>(&'a self, column: &'a str) -> &'a str {
        self.output_mappings
            .iter()
            .find(|(from, _)| from == column)
            .map_or(column, |(_, to)| to.as_str())
    }

    /// The upstream column the step reads as its input `column`.
    pub fn input_source<'a>(&'a self, column: &'a str) -> &'a str {
        self.input_mappings
            .iter()
            .find(|(from, _)| from == column)
            .map_or(column, |(_, to)| to.as_str())
    }
}

/// An edge `from >> to`, by step index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    /// The step sending rows, by index in [`Graph::steps`].
    pub from: usize,
    /// The step receiving them, by index in [`Graph::steps`].
    pub to: usize,
}

/// A router: the batches of `from` go only to the targets it picks, each batch to its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteDecl {
    /// The step whose batches are routed, by index in [`Graph::steps`].
    pub from: usize,
    /// The router as written (`sample_n_steps(2)`), for messages.
    pub router: String,
    /// The steps it routes to, by index in [`Graph::steps`]; each is also an edge from `from`.
    pub targets: Vec<usize>,
    /// How many targets each batch goes to, when the router says (`sample_n_steps(n)`); `None`
    /// for a router of the user's (`route(..)`).
    pub picks: Option<usize>,
}

/// A pipeline graph.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// The pipeline's steps in declaration order; edges, sites and reports refer to them by index.
    pub steps: Vec<StepDecl>,
    /// The connections in the order they were written (a cycle is reported on the one written
    /// last), repeats included: a repeat is reported as [`Problem::DuplicateEdge`].
    pub edges: Vec<Edge>,
    /// The routers, in the order they were written.
    pub routes: Vec<RouteDecl>,
}

/// Where in the user's pipeline a problem sits; the macro maps each to a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// The step's binding.
    Step(usize),
    /// The edge, by index in [`Graph::edges`].
    Edge(usize),
    /// An input mapping of a step, by index in its `input_mappings`.
    InputMapping(usize, usize),
    /// An output mapping of a step, by index in its `output_mappings`.
    OutputMapping(usize, usize),
    /// The upstream column an input mapping reads (`inputs { step_input => this }`), by index
    /// in the step's `input_mappings`.
    InputSource(usize, usize),
    /// A router, by index in [`Graph::routes`].
    Route(usize),
    /// The step's `batch_size` setting.
    BatchSize(usize),
}

/// A column reaching a step: its name, type and producing step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Available {
    /// The name the column reaches the step under (after its producer's output mapping).
    pub column: String,
    /// The column type as its producer declares it.
    pub ty: String,
    /// The binding name of the step that produces it.
    pub producer: String,
}

/// What is wrong with a pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A required input of a step is produced by no step upstream. Not reported for a root, below
    /// a root that is no generator, in or below a dynamic step when types are left to the
    /// compiler, or for an input a wrong input mapping was probably meant for (that mapping is
    /// reported instead).
    MissingColumn {
        /// The binding name of the step reading the column.
        step: String,
        /// The step's type, for the message.
        type_name: String,
        /// The step's own name for the input.
        column: String,
        /// The input's declared type; empty when the step takes any type (KeepColumns).
        ty: String,
        /// The upstream column the step looked for (differs from `column` under a mapping).
        source: String,
        /// The columns that do reach the step, by name.
        available: Vec<Available>,
        /// A reaching column to offer instead: a near name, else the only one of the input's type.
        suggestion: Option<String>,
        /// The column comes from the step's own list (KeepColumns): fix the list, not a mapping.
        listed: bool,
        /// The mapping's upstream column when the input is mapped, else the step.
        site: Site,
    },
    /// A column reaches a step with a type its input does not accept. Only reported when
    /// [`check`] is given a `compatible` test (at run time); at compile time rustc checks types.
    TypeMismatch {
        /// The binding name of the step reading the column.
        step: String,
        /// The upstream name of the column, as it reaches the step.
        column: String,
        /// The type the step's input declares.
        expected: String,
        /// The type the producer declares.
        found: String,
        /// The binding name of the step producing the column.
        producer: String,
        /// The reading step.
        site: Site,
    },
    /// An input mapping names a column that is not one of the step's inputs. Steps whose columns
    /// are only known when they run (dynamic) are not checked.
    UnknownInputMapping {
        /// The binding name of the step the mapping is on.
        step: String,
        /// The input the mapping names, which the step does not have.
        column: String,
        /// The upstream column the mapping reads.
        upstream: String,
        /// The step's input names, for the message.
        known: Vec<String>,
        /// The input the mapping was probably meant for.
        suggestion: Option<String>,
        /// The mapping is written the wrong way round: its upstream side is the step's input.
        reversed: bool,
        /// The mapping.
        site: Site,
    },
    /// An output mapping names a column that is not one of the step's outputs. Steps whose
    /// columns are only known when they run (dynamic) are not checked.
    UnknownOutputMapping {
        /// The binding name of the step the mapping is on.
        step: String,
        /// The output the mapping names, which the step does not have.
        column: String,
        /// The new name the mapping gives.
        new_name: String,
        /// The step's output names, for the message.
        known: Vec<String>,
        /// The output the mapping was probably meant for.
        suggestion: Option<String>,
        /// The mapping is written the wrong way round: its new name is the step's output.
        reversed: bool,
        /// The mapping.
        site: Site,
    },
    /// The connections form a cycle. Only the first cycle found is reported, and the columns are
    /// then not checked.
    Cycle {
        /// The binding names along the cycle in edge direction, the first repeated at the end;
        /// the last step is connected to it by the connection written last.
        path: Vec<String>,
        /// The connection of the cycle written last: most likely the one that closed it.
        site: Site,
    },
    /// A step that is not a generator has no predecessor, so nothing feeds it rows.
    RootNotGenerator {
        /// The binding name of the step.
        step: String,
        /// The step's type, for the message.
        type_name: String,
        /// The step.
        site: Site,
    },
    /// A generator is the target of a connection; reported once, on the first such connection.
    GeneratorWithPredecessor {
        /// The binding name of the generator.
        step: String,
        /// The binding name of the step connected to it.
        predecessor: String,
        /// That connection.
        site: Site,
    },
    /// A pipeline of several steps has a step with neither predecessor nor successor.
    Unconnected {
        /// The binding name of the step.
        step: String,
        /// The step.
        site: Site,
    },
    /// A step with several predecessors receives rows of more than one generator, which it
    /// cannot join: rows are joined by row id, and only the rows of one generator share ids.
    CannotJoin {
        /// The binding name of the joining step.
        step: String,
        /// `(predecessor, root)` for each predecessor: the (first) root whose rows come through
        /// it, the predecessor itself when it is a root.
        roots: Vec<(String, String)>,
        /// The joining step.
        site: Site,
    },
    /// The same `from >> to` connection is written twice; the repeat is otherwise ignored.
    DuplicateEdge {
        /// The binding name of the step sending rows.
        from: String,
        /// The binding name of the step receiving them.
        to: String,
        /// The repeated connection.
        site: Site,
    },
    /// A router that cannot route: one target, or `sample_n_steps(n)` with `n` of 0 or at
    /// least the number of targets. It would send every batch everywhere, or nowhere.
    RouterCannotRoute {
        /// The binding name of the step whose batches are routed.
        step: String,
        /// The router as written.
        router: String,
        /// The binding names of its targets.
        targets: Vec<String>,
        /// How many targets each batch goes to, when known.
        picks: Option<usize>,
        /// The router.
        site: Site,
    },
    /// A global step below a router sees only the rows routed its way, not every row.
    GlobalBehindRouter {
        /// The binding name of the global step.
        step: String,
        /// The step's type, for the message.
        type_name: String,
        /// The binding name of the step whose batches are routed.
        routed: String,
        /// The router as written.
        router: String,
        /// The binding names of the router's targets.
        branches: Vec<String>,
        /// The global step.
        site: Site,
    },
    /// A step joining routed branches reads a column, as always present, that only some of the
    /// branches produce: the rows that took another branch lack it.
    ColumnFromSomeBranches {
        /// The binding name of the joining step.
        step: String,
        /// The step's type, for the message.
        type_name: String,
        /// The step's own name for the input.
        column: String,
        /// The input's declared type.
        ty: String,
        /// The upstream column it reads (differs from `column` under a mapping).
        source: String,
        /// The predecessors whose rows carry the column, with the step producing it.
        with: Vec<(String, String)>,
        /// The predecessors whose rows do not.
        without: Vec<String>,
        /// The router that splits the rows, as written, and the step it routes.
        router: (String, String),
        /// The joining step.
        site: Site,
    },
    /// Several branches joined by a step bring the same column from different producers: the
    /// step and its successors would see one branch's value and silently lose the others.
    SameColumnFromBranches {
        /// The binding name of the joining step.
        step: String,
        /// The column, as it reaches the step.
        column: String,
        /// `(predecessor, producer, type)` for each branch bringing the column.
        branches: Vec<(String, String, String)>,
        /// The joining step.
        site: Site,
    },
    /// An optional input matches no column upstream, but a column of a near name arrives: the
    /// input is always `None`, and the column meant is ignored.
    OptionalInputUnmatched {
        /// The binding name of the reading step.
        step: String,
        /// The step's type, for the message.
        type_name: String,
        /// The step's own name for the input.
        column: String,
        /// The input's declared type.
        ty: String,
        /// The upstream column it looks for.
        source: String,
        /// The column arriving under a near name.
        near: Available,
        /// The reading step, or the mapping's upstream column when the input is mapped.
        site: Site,
    },
    /// `batch_size` is set on a step that is not a generator, which ignores it.
    BatchSizeOnNonGenerator {
        /// The binding name of the step.
        step: String,
        /// The step's type, for the message.
        type_name: String,
        /// The setting.
        site: Site,
    },
}

impl Problem {
    /// Where the problem sits.
    pub fn site(&self) -> Site {
        match self {
            Problem::MissingColumn { site, .. }
            | Problem::TypeMismatch { site, .. }
            | Problem::UnknownInputMapping { site, .. }
            | Problem::UnknownOutputMapping { site, .. }
            | Problem::Cycle { site, .. }
            | Problem::RootNotGenerator { site, .. }
            | Problem::GeneratorWithPredecessor { site, .. }
            | Problem::Unconnected { site, .. }
            | Problem::CannotJoin { site, .. }
            | Problem::DuplicateEdge { site, .. }
            | Problem::RouterCannotRoute { site, .. }
            | Problem::GlobalBehindRouter { site, .. }
            | Problem::ColumnFromSomeBranches { site, .. }
            | Problem::SameColumnFromBranches { site, .. }
            | Problem::OptionalInputUnmatched { site, .. }
            | Problem::BatchSizeOnNonGenerator { site, .. } => *site,
        }
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::MissingColumn {
                step,
                type_name,
                column,
                ty,
                source,
                available,
                suggestion,
                listed,
                ..
            } => {
                // A step that takes any type (KeepColumns) declares none.
                let typed = if ty.is_empty() {
                    column.clone()
                } else {
                    format!("{column}: {ty}")
                };
                if source == column {
                    write!(
                        f,
                        "step `{step}` ({type_name}) needs column `{typed}`, but no step upstream produces it"
                    )?;
                } else {
                    write!(
                        f,
                        "step `{step}` ({type_name}) reads column `{source}` as `{typed}`, but no step upstream produces `{source}`"
                    )?;
                }
                if available.is_empty() {
                    write!(f, "\n  rows reaching it carry no columns")?;
                } else {
                    let carried: Vec<String> = available
                        .iter()
                        .map(|a| format!("`{}: {}` (from `{}`)", a.column, a.ty, a.producer))
                        .collect();
                    write!(f, "\n  rows reaching it carry {}", carried.join(", "))?;
                }
                match suggestion {
                    Some(near) if *listed => write!(f, "\n  help: did you mean `{near}`?")?,
                    Some(near) => write!(
                        f,
                        "\n  help: did you mean to map `{near}`? add `inputs {{ {column} => {near} }}` to `{step}`"
                    )?,
                    None => {}
                }
                Ok(())
            }
            Problem::TypeMismatch {
                step,
                column,
                expected,
                found,
                producer,
                ..
            } => write!(
                f,
                "column `{column}` has type `{found}` (from `{producer}`), but step `{step}` expects `{expected}`"
            ),
            Problem::UnknownInputMapping {
                step,
                column,
                upstream,
                known,
                suggestion,
                reversed,
                ..
            } => {
                write!(
                    f,
                    "step `{step}` has no input column `{column}` to map; its inputs are {}",
                    list(known)
                )?;
                if *reversed {
                    write!(
                        f,
                        "\n  help: the step's input comes first: `inputs {{ {upstream} => {column} }}` reads column `{column}` as input `{upstream}`"
                    )?;
                } else if let Some(input) = suggestion {
                    write!(
                        f,
                        "\n  help: did you mean `inputs {{ {input} => {upstream} }}`?"
                    )?;
                }
                Ok(())
            }
            Problem::UnknownOutputMapping {
                step,
                column,
                new_name,
                known,
                suggestion,
                reversed,
                ..
            } => {
                write!(
                    f,
                    "step `{step}` has no output column `{column}` to map; its outputs are {}",
                    list(known)
                )?;
                if *reversed {
                    write!(
                        f,
                        "\n  help: the step's output comes first: `outputs {{ {new_name} => {column} }}` writes output `{new_name}` as `{column}`"
                    )?;
                } else if let Some(output) = suggestion {
                    write!(
                        f,
                        "\n  help: did you mean `outputs {{ {output} => {new_name} }}`?"
                    )?;
                }
                Ok(())
            }
            Problem::Cycle { path, .. } => {
                let path: Vec<String> = path.iter().map(|s| format!("`{s}`")).collect();
                write!(
                    f,
                    "the connections form a cycle: {}\n  help: a pipeline is a graph without cycles; remove one of these connections",
                    path.join(" >> ")
                )
            }
            Problem::RootNotGenerator {
                step, type_name, ..
            } => write!(
                f,
                "step `{step}` ({type_name}) has no predecessor, but only a generator (a loader) can start a pipeline; connect a step to it"
            ),
            Problem::GeneratorWithPredecessor {
                step, predecessor, ..
            } => write!(
                f,
                "step `{step}` is a generator and cannot receive rows, but `{predecessor}` is connected to it"
            ),
            Problem::Unconnected { step, .. } => {
                write!(f, "step `{step}` is not connected to any other step")
            }
            Problem::CannotJoin { step, roots, .. } => {
                // One entry per generator, with the predecessors its rows come through.
                let mut generators: Vec<(&str, Vec<&str>)> = Vec::new();
                for (pred, root) in roots {
                    let at = match generators.iter().position(|(r, _)| r == root) {
                        Some(at) => at,
                        None => {
                            generators.push((root, Vec::new()));
                            generators.len() - 1
                        }
                    };
                    if pred != root {
                        generators[at].1.push(pred);
                    }
                }
                let from: Vec<String> = generators
                    .iter()
                    .map(|(root, through)| {
                        if through.is_empty() {
                            format!("`{root}`")
                        } else {
                            let through: Vec<String> =
                                through.iter().map(|p| format!("`{p}`")).collect();
                            format!("`{root}` (through {})", through.join(", "))
                        }
                    })
                    .collect();
                write!(
                    f,
                    "step `{step}` cannot join rows of different generators: it receives rows of {}\n  note: a step with several predecessors joins their rows by row id, and only the rows of one generator share ids\n  help: feed every branch from the same generator",
                    from.join(" and of ")
                )
            }
            Problem::DuplicateEdge { from, to, .. } => {
                write!(f, "`{from} >> {to}` is connected twice")
            }
            Problem::RouterCannotRoute {
                step,
                router,
                targets,
                picks,
                ..
            } => {
                let all: Vec<String> = targets.clone();
                let list_of = list(&all);
                if targets.len() == 1 {
                    write!(
                        f,
                        "`{router}` routes the batches of `{step}` to a single step, `{}`, so every batch goes there\n  help: connect it directly: `{step} >> {}`",
                        targets[0], targets[0]
                    )
                } else if *picks == Some(0) {
                    write!(
                        f,
                        "`{router}` sends the batches of `{step}` to none of {list_of}, so they receive no rows\n  help: pick at least one step: `sample_n_steps(1)`"
                    )
                } else {
                    let n = picks.unwrap_or(targets.len());
                    write!(
                        f,
                        "`{router}` picks {n} of the {} steps {list_of} for each batch of `{step}`, so every batch goes to all of them\n  help: pick fewer than {} (`sample_n_steps({})`), or connect without a router: `{step} >> [{}]`",
                        targets.len(),
                        targets.len(),
                        targets.len() - 1,
                        targets.join(", ")
                    )
                }
            }
            Problem::GlobalBehindRouter {
                step,
                type_name,
                routed,
                router,
                branches,
                ..
            } => write!(
                f,
                "step `{step}` ({type_name}) is a global step, but it sees only the rows `{router}` routes its way from `{routed}`, not every row\n  help: connect it where every row passes: to `{routed}` itself, or below a step that joins all of {}",
                list(branches)
            ),
            Problem::ColumnFromSomeBranches {
                step,
                type_name,
                column,
                ty,
                source,
                with,
                without,
                router: (router, routed),
                ..
            } => {
                let read = if source == column {
                    format!("column `{column}: {ty}`")
                } else {
                    format!("column `{source}` as `{column}: {ty}`")
                };
                let with: Vec<String> = with
                    .iter()
                    .map(|(pred, producer)| {
                        if pred == producer {
                            format!("`{pred}`")
                        } else {
                            format!("`{pred}` (from `{producer}`)")
                        }
                    })
                    .collect();
                write!(
                    f,
                    "step `{step}` ({type_name}) needs {read} on every row, but only the rows through {} carry it, not those through {}\n  note: `{router}` sends each batch of `{routed}` down only some branches\n  help: read it as `{column}: Option<{ty}>`, or produce `{source}` in every branch",
                    with.join(", "),
                    list(without)
                )
            }
            Problem::SameColumnFromBranches {
                step,
                column,
                branches,
                ..
            } => {
                let from: Vec<String> = branches
                    .iter()
                    .map(|(pred, producer, ty)| {
                        if pred == producer {
                            format!("`{pred}` (`{ty}`)")
                        } else {
                            format!("`{pred}` (`{ty}`, from `{producer}`)")
                        }
                    })
                    .collect();
                let (first, _, _) = &branches[0];
                write!(
                    f,
                    "step `{step}` joins branches that each bring column `{column}`: {}; it would keep one branch's value and silently drop the others\n  help: give each branch its own name, e.g. `outputs {{ {column} => {column}_{first} }}` on `{first}`, or join them with `GroupColumns::new([\"{column}\"])`",
                    from.join(", ")
                )
            }
            Problem::OptionalInputUnmatched {
                step,
                type_name,
                column,
                ty,
                source,
                near,
                ..
            } => {
                let read = if source == column {
                    format!("`{column}: {ty}`")
                } else {
                    format!("`{source}` as `{column}: {ty}`")
                };
                write!(
                    f,
                    "step `{step}` ({type_name}) reads optional column {read}, but no step upstream produces `{source}`, so it is always None\n  rows reaching it carry `{}: {}` (from `{}`)",
                    near.column, near.ty, near.producer
                )?;
                let near = &near.column;
                if source == column {
                    write!(
                        f,
                        "\n  help: did you mean `{near}`? rename the argument, or add `inputs {{ {column} => {near} }}` to `{step}`"
                    )
                } else if near == column {
                    write!(
                        f,
                        "\n  help: did you mean `{near}`? remove the mapping: the input reads `{near}` by its own name"
                    )
                } else {
                    write!(
                        f,
                        "\n  help: did you mean `{near}`? write `inputs {{ {column} => {near} }}`"
                    )
                }
            }
            Problem::BatchSizeOnNonGenerator {
                step, type_name, ..
            } => write!(
                f,
                "`batch_size` sets how many rows a generator produces per batch, but step `{step}` ({type_name}) is not a generator and would ignore it\n  help: did you mean `input_batch_size`, the rows per batch the step processes?"
            ),
        }
    }
}

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

    let Some(order) = topological_order(graph, &preds, &succs, &mut report) else {
        return report;
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

/// The candidate nearest to `wanted` by edit distance, if it is near enough to be a slip of
/// the keyboard (a third of the longer name, at least one edit). The one measure of "did you
/// mean" for the rules and the macros.
pub fn near_name<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .filter(|c| *c != wanted)
        .map(|c| (strsim::damerau_levenshtein(wanted, c), c))
        .filter(|(d, c)| *d <= (wanted.chars().count().max(c.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_owned())
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

/// An upstream column to offer for a missing input: a near name, else the one column of its type.
fn suggest(wanted: &str, ty: &str, available: &[Available]) -> Option<String> {
    // A mapping that would fail again on the type is no fix: a near name of the right type
    // first, then the only column of that type, then a near name of any type.
    let same_type: Vec<&Available> = available.iter().filter(|a| a.ty == ty).collect();
    near_name(wanted, same_type.iter().map(|a| a.column.as_str()))
        .or_else(|| (same_type.len() == 1).then(|| same_type[0].column.clone()))
        .or_else(|| near_name(wanted, available.iter().map(|a| a.column.as_str())))
}

/// The column a wrong mapping was probably meant for: a near name, else the only candidate.
fn nearest(wrong: &str, candidates: &[&str]) -> Option<String> {
    near_name(wrong, candidates.iter().copied())
        .or_else(|| (candidates.len() == 1).then(|| candidates[0].to_owned()))
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

/// Kahn's algorithm, stable in declaration order; reports one cycle if there is any.
fn topological_order(
    graph: &Graph,
    preds: &[Vec<usize>],
    succs: &[Vec<usize>],
    report: &mut Report,
) -> Option<Vec<usize>> {
    let n = graph.steps.len();
    let mut indegree: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut order = Vec::with_capacity(n);
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&s| indegree[s] == 0).collect();
    while let Some(s) = ready.pop_first() {
        order.push(s);
        for &t in &succs[s] {
            indegree[t] -= 1;
            if indegree[t] == 0 {
                ready.insert(t);
            }
        }
    }
    if order.len() == n {
        return Some(order);
    }
    // Walk predecessors inside the remaining subgraph until a step repeats.
    let start = (0..n).find(|&s| indegree[s] > 0).expect("a step is left");
    let mut path = vec![start];
    let mut current = start;
    loop {
        let next = *preds[current]
            .iter()
            .find(|&&p| indegree[p] > 0)
            .expect("cycle continues");
        if let Some(at) = path.iter().position(|&s| s == next) {
            // `path[at..]` walks predecessors: reversed, it is the cycle in edge direction.
            let mut cycle: Vec<usize> = path[at..].to_vec();
            cycle.reverse();
            let len = cycle.len();
            let edge_index = |from: usize, to: usize| {
                graph
                    .edges
                    .iter()
                    .rposition(|e| e.from == from && e.to == to)
                    .unwrap_or(0)
            };
            // Report the cycle on the connection written last, and spell it out so that it
            // ends with that connection: most likely the one that closed it.
            let (closing, k) = (0..len)
                .map(|k| (edge_index(cycle[k], cycle[(k + 1) % len]), k))
                .max()
                .expect("a cycle has an edge");
            cycle.rotate_left((k + 1) % len);
            cycle.push(cycle[0]);
            report.problems.push(Problem::Cycle {
                path: cycle.iter().map(|&s| graph.steps[s].name.clone()).collect(),
                site: Site::Edge(closing),
            });
            return None;
        }
        path.push(next);
        current = next;
    }
}

/// Stable 64-bit id of a column name (FNV-1a): the key of the type projections that
/// `#[step]`, `#[derive(Row)]` and `pipeline!` generate independently of one another.
pub const fn column_id(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

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
