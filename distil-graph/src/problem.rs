//! What can be wrong with a pipeline, in the words both the macro and the runtime show.

use std::fmt;

use crate::model::Site;

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
        /// When the producer groups the column (GroupColumns): `(its input, the branch whose
        /// values it groups)`.
        grouping: Option<(String, String)>,
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
                grouping,
                ..
            } => {
                let grouping = grouping
                    .as_ref()
                    .map(|(input, branch)| format!(", grouping `{input}` from `{branch}`"))
                    .unwrap_or_default();
                write!(
                    f,
                    "column `{column}` has type `{found}` as step `{producer}` writes it{grouping}, but step `{step}` expects `{expected}`"
                )
            }
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
