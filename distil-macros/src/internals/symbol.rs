//! The words of the attributes, each written once: parsing matches them and the "unknown
//! option" errors list them, so the two cannot drift apart.

/// An option of `#[step(..)]` or `#[task(..)]`: the word, and how the user writes it.
#[derive(Clone, Copy)]
pub struct Symbol {
    pub word: &'static str,
    pub usage: &'static str,
}

impl PartialEq<Symbol> for syn::Path {
    fn eq(&self, symbol: &Symbol) -> bool {
        self.is_ident(symbol.word)
    }
}

const fn symbol(word: &'static str, usage: &'static str) -> Symbol {
    Symbol { word, usage }
}

pub const BATCH: Symbol = symbol("batch", "batch");
pub const GLOBAL: Symbol = symbol("global", "global");
pub const GENERATOR: Symbol = symbol("generator", "generator");
pub const DYNAMIC: Symbol = symbol("dynamic", "dynamic");
pub const NAME: Symbol = symbol("name", "name = Type");
pub const STEP_OUTPUTS: Symbol = symbol("outputs", "outputs = RowParam");
pub const KEEPS: Symbol = symbol("keeps", "keeps = ArgIndex");
pub const GROUPS: Symbol = symbol("groups", "groups = ArgIndex");
/// Where distil is, for a crate that re-exports it (serde's `crate = ".."`).
pub const CRATE: Symbol = symbol("crate", "crate = path::to::distil");

/// The options of `#[step(..)]`, in the order the errors list them.
pub const STEP_OPTIONS: &[Symbol] = &[
    BATCH,
    GLOBAL,
    GENERATOR,
    DYNAMIC,
    NAME,
    STEP_OUTPUTS,
    KEEPS,
    GROUPS,
    CRATE,
];

pub const INPUTS: Symbol = symbol("inputs", "inputs = Row");
pub const TASK_OUTPUTS: Symbol = symbol("outputs", "outputs = Row");
pub const DEFAULT_INPUTS: Symbol = symbol("default_inputs", "default_inputs = Row");
pub const STRUCTURED: Symbol = symbol("structured", "structured");

/// The options of `#[task(..)]`, in the order the errors list them.
pub const TASK_OPTIONS: &[Symbol] = &[
    INPUTS,
    TASK_OUTPUTS,
    DEFAULT_INPUTS,
    DYNAMIC,
    STRUCTURED,
    CRATE,
];

pub const RENAME: Symbol = symbol("rename", "rename = \"column\"");

/// The options of `#[row(..)]` on a field.
pub const ROW_FIELD_OPTIONS: &[Symbol] = &[RENAME];

/// The options of `#[row(..)]` on the struct.
pub const ROW_OPTIONS: &[Symbol] = &[CRATE];
