//! The graph as the rules see it: steps with their columns, edges, routers, and where in the
//! user's pipeline each part sits.

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
