//! The callback protocol between the macros.
//!
//! `#[derive(Row)]`, `#[step]` and `#[task]` each emit a hidden `macro_rules!` named like their
//! type. Called as `Name! { [ (next) ... ] { state } }`, it appends its description to the state
//! and calls the next macro of the list; the last one is a proc macro (`__collect` for
//! `pipeline!`, `__define_step` for `#[step]` and `#[task]`) that sees every description at once.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{LitBool, LitInt, LitStr, Token, braced, bracketed, parenthesized};

/// A column in a description: name, type for display, whether required, and whether
/// `pipeline!` checks its type at compile time.
#[derive(Clone, Debug)]
pub struct ColumnDesc {
    pub name: String,
    pub ty: String,
    pub required: bool,
    /// `false` for an input the step's type has no `InCol` for (checked when it runs).
    pub typed: bool,
}

impl ColumnDesc {
    /// A row's column read as an input: optional when its type is an `Option`.
    pub fn as_input(&self, typed: bool) -> ColumnDesc {
        ColumnDesc {
            required: !self.ty.starts_with("Option<"),
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
}

/// What a row's callback tells.
#[derive(Clone, Debug)]
pub struct RowDesc {
    pub type_name: String,
    pub columns: Vec<ColumnDesc>,
}

/// One description in the state.
#[derive(Clone, Debug)]
pub enum Desc {
    Step(StepDesc),
    Row(RowDesc),
}

fn columns_tokens(columns: &[ColumnDesc]) -> TokenStream {
    let items = columns.iter().map(|c| {
        let (name, ty, required) = (&c.name, &c.ty, c.required);
        let untyped = (!c.typed).then(|| quote!(, false));
        quote!((#name, #ty, #required #untyped))
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
        }
    }
}

impl StepDesc {
    pub fn to_tokens(&self) -> TokenStream {
        let type_name = &self.type_name;
        let kind = self.kind.ident();
        let dynamic = self.dynamic;
        let inputs = columns_tokens(&self.inputs);
        let outputs = columns_tokens(&self.outputs);
        let optional_index = |i: Option<usize>| match i {
            Some(i) => {
                let i = proc_macro2::Literal::usize_unsuffixed(i);
                quote!(#i)
            }
            None => quote!(none),
        };
        let row_param = optional_index(self.row_param);
        let keeps_arg = optional_index(self.keeps_arg);
        // Only tasks with an input row parameter say more.
        let inputs_param = match &self.inputs_param {
            RowParam {
                index: None,
                default: None,
            } => quote!(),
            RowParam { index, default } => {
                let index = optional_index(*index);
                let default = match default {
                    Some(columns) => columns_tokens(columns),
                    None => quote!(none),
                };
                quote!(#index #default)
            }
        };
        quote!(step { #type_name #kind #dynamic #inputs #outputs #row_param #keeps_arg #inputs_param })
    }
}

impl RowDesc {
    pub fn to_tokens(&self) -> TokenStream {
        let type_name = &self.type_name;
        let columns = columns_tokens(&self.columns);
        quote!(row { #type_name #columns })
    }
}

fn parse_columns(input: ParseStream) -> syn::Result<Vec<ColumnDesc>> {
    let content;
    bracketed!(content in input);
    let mut columns = Vec::new();
    while !content.is_empty() {
        let item;
        parenthesized!(item in content);
        let name: LitStr = item.parse()?;
        item.parse::<Token![,]>()?;
        let ty: LitStr = item.parse()?;
        item.parse::<Token![,]>()?;
        let required: LitBool = item.parse()?;
        let typed = if item.is_empty() {
            true
        } else {
            item.parse::<Token![,]>()?;
            item.parse::<LitBool>()?.value
        };
        columns.push(ColumnDesc {
            name: name.value(),
            ty: ty.value(),
            required: required.value,
            typed,
        });
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    Ok(columns)
}

impl Parse for Desc {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let tag: Ident = input.parse()?;
        let content;
        braced!(content in input);
        let type_name: LitStr = content.parse()?;
        if tag == "row" {
            let columns = parse_columns(&content)?;
            return Ok(Desc::Row(RowDesc {
                type_name: type_name.value(),
                columns,
            }));
        }
        let kind: Ident = content.parse()?;
        let kind = match kind.to_string().as_str() {
            "generator" => Kind::Generator,
            "global" => Kind::Global,
            _ => Kind::Normal,
        };
        let dynamic: LitBool = content.parse()?;
        let inputs = parse_columns(&content)?;
        let outputs = parse_columns(&content)?;
        let optional_index = |content: ParseStream| -> syn::Result<Option<usize>> {
            if content.peek(LitInt) {
                Ok(Some(content.parse::<LitInt>()?.base10_parse()?))
            } else {
                content.parse::<Ident>()?;
                Ok(None)
            }
        };
        let row_param = optional_index(&content)?;
        let keeps_arg = optional_index(&content)?;
        let mut inputs_param = RowParam::default();
        if !content.is_empty() {
            inputs_param.index = optional_index(&content)?;
            inputs_param.default = if content.peek(syn::token::Bracket) {
                Some(parse_columns(&content)?)
            } else {
                content.parse::<Ident>()?;
                None
            };
        }
        Ok(Desc::Step(StepDesc {
            type_name: type_name.value(),
            kind,
            dynamic: dynamic.value,
            inputs,
            outputs,
            row_param,
            inputs_param,
            keeps_arg,
        }))
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

/// A type as the user would write it, for messages: `&str` reads as `String`.
pub fn display_type(ty: &syn::Type) -> String {
    let text = quote!(#ty).to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            let prev = out.chars().last();
            let next = chars.peek().copied();
            let tight =
                |x: Option<char>| matches!(x, Some('<' | '>' | ':' | '&' | '(' | ')' | '[' | ']'));
            if tight(prev) || (tight(next) && next != Some('(')) || next == Some(',') {
                continue;
            }
        }
        out.push(c);
    }
    out.replace(",", ", ").replace(",  ", ", ")
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
            ty: ty.to_owned(),
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
        assert!(!tokens.contains("false ,"), "{tokens}");
        let back = round_trip(&desc);
        assert!(back.inputs_param.index.is_none() && back.inputs_param.default.is_none());
        assert!(back.inputs[0].typed);
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
