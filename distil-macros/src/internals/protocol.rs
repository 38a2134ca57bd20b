//! The callback protocol between the macros.
//!
//! `#[derive(Row)]`, `#[step]` and `#[task]` each emit a hidden `macro_rules!` named like their
//! type. Called as `Name! { [ (next) ... ] { state } }`, it appends its description to the state
//! and calls the next macro of the list; the last one is a proc macro (`__collect` for
//! `pipeline!`, `__define_step` for `#[step]` and `#[task]`) that sees every description at once.
//!
//! Every description is `key = value` pairs, read by [`parse_keys`], which rejects a key it does
//! not know (a macro of another version): `step { type_name = "Upper", kind = normal, inputs =
//! [{ name = "text", ty = (String) }] }`. Types travel as tokens (`ty = (Option<String>)`) and
//! are read by their structure (`internals::types`), never by their text.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{LitBool, LitInt, LitStr, Token, Type, braced, bracketed, parenthesized};

use super::types::holds_null;

/// A column in a description: its name, its type (as the column holds it: `String` for an
/// input read as `&str`), whether required, and whether `pipeline!` checks its type at
/// compile time.
#[derive(Clone, Debug)]
pub struct ColumnDesc {
    pub name: String,
    pub ty: Type,
    pub required: bool,
    /// `false` for an input the step's type has no `InCol` for (checked when it runs).
    pub typed: bool,
}

impl ColumnDesc {
    /// A row's column read as an input: optional when its type is an `Option`.
    pub fn as_input(&self, typed: bool) -> ColumnDesc {
        ColumnDesc {
            required: !holds_null(&self.ty),
            typed,
            ..self.clone()
        }
    }
}

/// A generic argument of the step type whose row gives columns, resolved by `pipeline!` in a
/// second round through the row's callback.
#[derive(Clone, Debug, Default)]
pub struct RowParam {
    /// The index of the argument among the type's generic arguments.
    pub index: Option<usize>,
    /// The columns to use when the argument is not written (its default).
    pub default: Option<Vec<ColumnDesc>>,
}

/// A step's kind in a description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Generator,
    Normal,
    Global,
}

impl Kind {
    fn ident(self) -> Ident {
        Ident::new(
            match self {
                Kind::Generator => "generator",
                Kind::Normal => "normal",
                Kind::Global => "global",
            },
            Span::call_site(),
        )
    }
}

/// What a step's callback tells `pipeline!`.
#[derive(Clone, Debug)]
pub struct StepDesc {
    pub type_name: String,
    pub kind: Kind,
    pub dynamic: bool,
    pub inputs: Vec<ColumnDesc>,
    pub outputs: Vec<ColumnDesc>,
    /// The outputs are the columns of the step type's generic argument at this index.
    pub row_param: Option<usize>,
    /// The inputs are the columns of this generic argument's row, before `inputs` (a task's
    /// input row: `TextGeneration<I>`).
    pub inputs_param: RowParam,
    /// The step keeps only the columns listed (as string literals) in this argument of its
    /// constructor call, and reads them (KeepColumns).
    pub keeps_arg: Option<usize>,
    /// The step groups the columns listed (as string literals) in this argument of its
    /// constructor call, each into `grouped_<column>` or the name its `.output_columns([..])`
    /// call gives (GroupColumns).
    pub groups_arg: Option<usize>,
}

/// What a row's callback tells.
#[derive(Clone, Debug)]
pub struct RowDesc {
    pub type_name: String,
    pub columns: Vec<ColumnDesc>,
    /// Whether the row struct is `pub`; a private row cannot be a public step's output.
    pub public: bool,
}

/// One description in the state.
#[derive(Clone, Debug)]
pub enum Desc {
    Step(StepDesc),
    Row(RowDesc),
}

/// The column every task adds (`distil::tasks::MODEL_NAME_COLUMN`), a list in none of them.
pub const MODEL_NAME: &str = "model_name";

// The keys of a description, each written once.
const TYPE_NAME: &str = "type_name";
const KIND: &str = "kind";
const DYNAMIC: &str = "dynamic";
const INPUTS: &str = "inputs";
const OUTPUTS: &str = "outputs";
const COLUMNS: &str = "columns";
const PUBLIC: &str = "public";
const ROW_PARAM: &str = "row_param";
const KEEPS_ARG: &str = "keeps_arg";
const GROUPS_ARG: &str = "groups_arg";
const INPUTS_PARAM: &str = "inputs_param";
const INPUTS_DEFAULT: &str = "inputs_default";
const NAME: &str = "name";
const TY: &str = "ty";
const REQUIRED: &str = "required";
const TYPED: &str = "typed";

/// `[ { name = "text", ty = (String) }, { name = "hint", ty = (Option<String>), required = false, typed = false } ]`:
/// `required` and `typed` are written only when `false`.
fn columns_tokens(columns: &[ColumnDesc]) -> TokenStream {
    let items = columns.iter().map(|c| {
        let (name, ty) = (&c.name, &c.ty);
        let name_key = format_ident!("{NAME}");
        let ty_key = format_ident!("{TY}");
        let mut pairs = vec![quote!(#name_key = #name), quote!(#ty_key = (#ty))];
        for (key, value) in [(REQUIRED, c.required), (TYPED, c.typed)] {
            if !value {
                let key = format_ident!("{key}");
                pairs.push(quote!(#key = false));
            }
        }
        quote!({ #(#pairs),* })
    });
    quote!([#(#items),*])
}

impl StepDesc {
    /// A step with no columns.
    pub fn new(type_name: impl Into<String>, kind: Kind, dynamic: bool) -> Self {
        StepDesc {
            type_name: type_name.into(),
            kind,
            dynamic,
            inputs: Vec::new(),
            outputs: Vec::new(),
            row_param: None,
            inputs_param: RowParam::default(),
            keeps_arg: None,
            groups_arg: None,
        }
    }
}

impl StepDesc {
    /// The description as `key = value` pairs; keys at their default are left out.
    pub fn to_tokens(&self) -> TokenStream {
        let type_name = &self.type_name;
        let kind = self.kind.ident();
        let mut pairs = vec![quote!(type_name = #type_name), quote!(kind = #kind)];
        if self.dynamic {
            pairs.push(quote!(dynamic = true));
        }
        for (key, columns) in [(INPUTS, &self.inputs), (OUTPUTS, &self.outputs)] {
            if !columns.is_empty() {
                let key = format_ident!("{key}");
                let columns = columns_tokens(columns);
                pairs.push(quote!(#key = #columns));
            }
        }
        for (key, index) in [
            (ROW_PARAM, self.row_param),
            (KEEPS_ARG, self.keeps_arg),
            (GROUPS_ARG, self.groups_arg),
            (INPUTS_PARAM, self.inputs_param.index),
        ] {
            if let Some(i) = index {
                let key = format_ident!("{key}");
                let i = proc_macro2::Literal::usize_unsuffixed(i);
                pairs.push(quote!(#key = #i));
            }
        }
        if let Some(columns) = &self.inputs_param.default {
            let key = format_ident!("{INPUTS_DEFAULT}");
            let columns = columns_tokens(columns);
            pairs.push(quote!(#key = #columns));
        }
        quote!(step { #(#pairs),* })
    }
}

impl RowDesc {
    pub fn to_tokens(&self) -> TokenStream {
        let type_name = &self.type_name;
        let columns = columns_tokens(&self.columns);
        let public = self.public;
        quote!(row { type_name = #type_name, columns = #columns, public = #public })
    }
}

fn parse_columns(input: ParseStream) -> syn::Result<Vec<ColumnDesc>> {
    let content;
    bracketed!(content in input);
    let mut columns = Vec::new();
    while !content.is_empty() {
        let item;
        let brace = braced!(item in content);
        let (mut name, mut ty) = (None, None);
        let (mut required, mut typed) = (true, true);
        parse_keys(&item, "column", |key, value| {
            match key {
                NAME => name = Some(value.parse::<LitStr>()?.value()),
                TY => ty = Some(parenthesized_type(value)?),
                REQUIRED => required = value.parse::<LitBool>()?.value,
                TYPED => typed = value.parse::<LitBool>()?.value,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        let (Some(name), Some(ty)) = (name, ty) else {
            return Err(syn::Error::new(
                brace.span.join(),
                "a column description without `name` or `ty`",
            ));
        };
        columns.push(ColumnDesc {
            name,
            ty,
            required,
            typed,
        });
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    Ok(columns)
}

/// `(Type)`.
pub fn parenthesized_type(input: ParseStream) -> syn::Result<Type> {
    let inner;
    parenthesized!(inner in input);
    inner.parse()
}

/// Reads `key = value, ..` to the end of `input`: `field` reads the value of each key it knows
/// and says whether it knew it; any other key is an error naming `what` is described.
pub fn parse_keys(
    input: ParseStream,
    what: &str,
    mut field: impl FnMut(&str, ParseStream) -> syn::Result<bool>,
) -> syn::Result<()> {
    while !input.is_empty() {
        let key: Ident = input.call(syn::ext::IdentExt::parse_any)?;
        input.parse::<Token![=]>()?;
        let word = key.to_string();
        if !field(&word, input)? {
            return Err(unknown_key(&key, &word, what));
        }
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
    }
    Ok(())
}

/// A key from another version of distil-macros.
fn unknown_key(key: &Ident, word: &str, what: &str) -> syn::Error {
    syn::Error::new(
        key.span(),
        format!(
            "unknown key `{word}` in a {what} description; distil and distil-macros must be the same version"
        ),
    )
}

impl Parse for Desc {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let tag: Ident = input.parse()?;
        let content;
        braced!(content in input);
        let row = tag == "row";
        if !row && tag != "step" {
            return Err(syn::Error::new(
                tag.span(),
                format!("unknown description `{tag}`"),
            ));
        }
        let mut type_name: Option<LitStr> = None;
        let mut kind = None;
        let mut step = StepDesc::new("", Kind::Normal, false);
        let mut columns = Vec::new();
        let mut public = true;
        let what = tag.to_string();
        parse_keys(&content, &what, |key, value| {
            let index = |value: ParseStream| -> syn::Result<Option<usize>> {
                Ok(Some(value.parse::<LitInt>()?.base10_parse()?))
            };
            match (row, key) {
                (_, TYPE_NAME) => type_name = Some(value.parse()?),
                (true, COLUMNS) => columns = parse_columns(value)?,
                (true, PUBLIC) => public = value.parse::<LitBool>()?.value,
                (false, KIND) => {
                    let word: Ident = value.parse()?;
                    kind = Some(match word.to_string().as_str() {
                        "generator" => Kind::Generator,
                        "normal" => Kind::Normal,
                        "global" => Kind::Global,
                        other => {
                            return Err(syn::Error::new(
                                word.span(),
                                format!("unknown step kind `{other}` in a step description"),
                            ));
                        }
                    });
                }
                (false, DYNAMIC) => step.dynamic = value.parse::<LitBool>()?.value,
                (false, INPUTS) => step.inputs = parse_columns(value)?,
                (false, OUTPUTS) => step.outputs = parse_columns(value)?,
                (false, ROW_PARAM) => step.row_param = index(value)?,
                (false, KEEPS_ARG) => step.keeps_arg = index(value)?,
                (false, GROUPS_ARG) => step.groups_arg = index(value)?,
                (false, INPUTS_PARAM) => step.inputs_param.index = index(value)?,
                (false, INPUTS_DEFAULT) => {
                    step.inputs_param.default = Some(parse_columns(value)?);
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        let Some(type_name) = type_name else {
            return Err(syn::Error::new(
                tag.span(),
                format!("a {tag} description without `type_name`"),
            ));
        };
        if row {
            return Ok(Desc::Row(RowDesc {
                type_name: type_name.value(),
                columns,
                public,
            }));
        }
        let Some(kind) = kind else {
            return Err(syn::Error::new(
                tag.span(),
                "a step description without `kind`",
            ));
        };
        Ok(Desc::Step(StepDesc {
            type_name: type_name.value(),
            kind,
            ..step
        }))
    }
}

/// What `#[step]` and `#[task]` tell `__define_step`, ahead of their description and the
/// rows': `define { vis = (pub), ident = Upper, suffix = "..", step_impl = { .. }, .. }`.
pub struct DefineHeader {
    pub vis: syn::Visibility,
    pub ident: Ident,
    /// The callback macro's unique suffix.
    pub suffix: String,
    /// The step's `Step` impl, which needs the row to be one (empty for a task's).
    pub step_impl: TokenStream,
    /// A task's header (`TaskHeader`'s keys): its rows and what they are to it.
    pub task: Option<TokenStream>,
    /// A function-form step's output row as written, and its `StepKind`.
    pub output: Option<(Type, TokenStream)>,
    /// Where distil is (`crate = path`), when not `::distil`.
    pub krate: Option<syn::Path>,
}

// The keys of a define header.
const VIS: &str = "vis";
const IDENT: &str = "ident";
const SUFFIX: &str = "suffix";
const STEP_IMPL: &str = "step_impl";
const TASK: &str = "task";
const OUTPUT: &str = "output";
const STEP_KIND: &str = "step_kind";
const KRATE: &str = "krate";

impl DefineHeader {
    pub fn to_tokens(&self) -> TokenStream {
        let key = |k: &str| Ident::new(k, Span::call_site());
        let (vis, ident, suffix, step_impl) =
            (&self.vis, &self.ident, &self.suffix, &self.step_impl);
        let [vis_key, ident_key, suffix_key, impl_key] = [VIS, IDENT, SUFFIX, STEP_IMPL].map(key);
        let mut pairs = vec![
            quote!(#vis_key = (#vis)),
            quote!(#ident_key = #ident),
            quote!(#suffix_key = #suffix),
            quote!(#impl_key = { #step_impl }),
        ];
        if let Some(task) = &self.task {
            let k = key(TASK);
            pairs.push(quote!(#k = { #task }));
        }
        if let Some((output, kind)) = &self.output {
            let (o, k) = (key(OUTPUT), key(STEP_KIND));
            pairs.push(quote!(#o = (#output)));
            pairs.push(quote!(#k = { #kind }));
        }
        if let Some(krate) = &self.krate {
            let k = key(KRATE);
            pairs.push(quote!(#k = (#krate)));
        }
        quote!(define { #(#pairs),* })
    }
}

impl Parse for DefineHeader {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let tag: Ident = input.parse()?;
        if tag != "define" {
            return Err(syn::Error::new(tag.span(), "expected a define header"));
        }
        let content;
        braced!(content in input);
        let (mut vis, mut ident, mut suffix, mut step_impl) = (None, None, None, None);
        let (mut task, mut output, mut kind, mut krate) = (None, None, None, None);
        let braced_tokens = |value: ParseStream| -> syn::Result<TokenStream> {
            let inner;
            braced!(inner in value);
            inner.parse()
        };
        parse_keys(&content, "define", |key, value| {
            match key {
                VIS => {
                    let inner;
                    parenthesized!(inner in value);
                    vis = Some(inner.parse::<syn::Visibility>()?);
                }
                IDENT => ident = Some(value.parse::<Ident>()?),
                SUFFIX => suffix = Some(value.parse::<LitStr>()?.value()),
                STEP_IMPL => step_impl = Some(braced_tokens(value)?),
                TASK => task = Some(braced_tokens(value)?),
                OUTPUT => output = Some(parenthesized_type(value)?),
                STEP_KIND => kind = Some(braced_tokens(value)?),
                KRATE => {
                    let inner;
                    parenthesized!(inner in value);
                    krate = Some(inner.call(syn::Path::parse_mod_style)?);
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        let (Some(vis), Some(ident), Some(suffix), Some(step_impl)) =
            (vis, ident, suffix, step_impl)
        else {
            return Err(syn::Error::new(
                tag.span(),
                "a define header without `vis`, `ident`, `suffix` or `step_impl`",
            ));
        };
        Ok(DefineHeader {
            vis,
            ident,
            suffix,
            step_impl,
            task,
            output: output.zip(kind),
            krate,
        })
    }
}

/// The hidden callback macro of a type, and its re-export under the type's name.
pub fn callback_macro(
    vis: &syn::Visibility,
    type_ident: &Ident,
    unique: &str,
    desc: TokenStream,
) -> TokenStream {
    let macro_name = format_ident!("__distil_{}_{}", type_ident, unique);
    quote! {
        #[doc(hidden)]
        #[macro_export]
        macro_rules! #macro_name {
            ( [ ( $($next:tt)* ) $($todo:tt)* ] { $($state:tt)* } ) => {
                $($next)* ! { [ $($todo)* ] { $($state)* #desc } }
            };
        }
        #[doc(hidden)]
        #[allow(unused_imports, clippy::useless_attribute)]
        #vis use #macro_name as #type_ident;
    }
}

/// A deterministic suffix that keeps callback macro names unique in a crate (they all live at
/// its root): the type name, where it is defined and a hash of its tokens.
pub fn unique_suffix(tokens: &TokenStream) -> String {
    let site = proc_macro::Span::call_site();
    let place = format!(
        "{}:{}:{}:{}",
        site.file(),
        site.line(),
        site.column(),
        tokens
    );
    format!("{:016x}", distil_graph::column_id(&place))
}

/// The state of a callback chain once it reaches its final macro: the `[ todo ]` list (empty
/// by then) is skipped and the `{ .. }` body returned.
pub fn state_body<'a>(stream: ParseStream<'a>) -> syn::Result<syn::parse::ParseBuffer<'a>> {
    let todo;
    bracketed!(todo in stream);
    let _: TokenStream = todo.parse()?;
    let body;
    braced!(body in stream);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, ty: &str, required: bool, typed: bool) -> ColumnDesc {
        ColumnDesc {
            name: name.to_owned(),
            ty: syn::parse_str(ty).expect("a type"),
            required,
            typed,
        }
    }

    fn round_trip(desc: &StepDesc) -> StepDesc {
        match syn::parse2::<Desc>(desc.to_tokens()).expect("parses") {
            Desc::Step(s) => s,
            Desc::Row(_) => panic!("a step"),
        }
    }

    #[test]
    fn a_task_description_keeps_its_input_row_parameter_and_untyped_inputs() {
        let desc = StepDesc {
            inputs: vec![column("system_prompt", "Option<String>", false, false)],
            outputs: vec![column("generation", "String", true, true)],
            inputs_param: RowParam {
                index: Some(0),
                default: Some(vec![column("instruction", "String", true, true)]),
            },
            ..StepDesc::new("TextGeneration", Kind::Normal, false)
        };
        let back = round_trip(&desc);
        assert_eq!(back.inputs_param.index, Some(0));
        let default = back.inputs_param.default.expect("a default row");
        assert_eq!(default[0].name, "instruction");
        assert!(!back.inputs[0].typed && !back.inputs[0].required);
        assert!(back.outputs[0].typed);
    }

    #[test]
    fn a_step_description_says_nothing_of_input_rows() {
        let desc = StepDesc {
            inputs: vec![column("text", "String", true, true)],
            ..StepDesc::new("Upper", Kind::Normal, false)
        };
        let tokens = desc.to_tokens().to_string();
        assert!(!tokens.contains("inputs_param"), "{tokens}");
        let back = round_trip(&desc);
        assert!(back.inputs_param.index.is_none() && back.inputs_param.default.is_none());
        assert!(back.inputs[0].typed);
    }

    #[test]
    fn a_description_with_an_unknown_key_or_kind_is_rejected() {
        let unknown_key = quote!(step { type_name = "Upper", kind = normal, outputs_param = 0 });
        let error = syn::parse2::<Desc>(unknown_key).expect_err("rejected");
        assert!(
            error.to_string().contains("unknown key `outputs_param`"),
            "{error}"
        );
        let unknown_kind = quote!(step { type_name = "Upper", kind = batch });
        let error = syn::parse2::<Desc>(unknown_kind).expect_err("rejected");
        assert!(
            error.to_string().contains("unknown step kind `batch`"),
            "{error}"
        );
    }

    #[test]
    fn column_types_travel_as_tokens_and_unknown_column_keys_are_rejected() {
        let desc = StepDesc {
            outputs: vec![column(
                "scores",
                "std::collections::BTreeMap<String, Vec<Option<u64>>>",
                true,
                true,
            )],
            ..StepDesc::new("Score", Kind::Normal, false)
        };
        let back = round_trip(&desc);
        assert_eq!(back.outputs[0].ty, desc.outputs[0].ty);
        let unknown = quote!(step { type_name = "Upper", kind = normal, inputs = [{ name = "text", ty = (String), nullable = true }] });
        let error = syn::parse2::<Desc>(unknown).expect_err("rejected");
        assert!(
            error
                .to_string()
                .contains("unknown key `nullable` in a column description"),
            "{error}"
        );
        let untyped =
            quote!(step { type_name = "Upper", kind = normal, inputs = [{ name = "text" }] });
        let error = syn::parse2::<Desc>(untyped).expect_err("rejected");
        assert!(
            error.to_string().contains("without `name` or `ty`"),
            "{error}"
        );
    }

    #[test]
    fn a_grouping_step_keeps_its_argument_index() {
        let desc = StepDesc {
            groups_arg: Some(0),
            ..StepDesc::new("GroupColumns", Kind::Normal, true)
        };
        let back = round_trip(&desc);
        assert_eq!(back.groups_arg, Some(0));
        assert!(back.dynamic && back.keeps_arg.is_none());
    }

    #[test]
    fn an_optional_row_column_is_an_optional_input() {
        let row = column("system_prompt", "Option<String>", true, true);
        assert!(!row.as_input(true).required);
        assert!(
            column("instruction", "String", true, true)
                .as_input(false)
                .required
        );
    }
}
