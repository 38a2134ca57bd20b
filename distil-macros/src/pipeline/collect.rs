//! `__collect`: every step has described itself; check the graph and generate the pipeline.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, Token, Type, braced};

use super::parse::{PipelineInput, step_type};
use super::{chain, stub};
use crate::internals::ctxt::Ctxt;
use crate::internals::protocol::{ColumnDesc, Desc, Kind, StepDesc, state_body};

/// The state `__collect` receives: the user's tokens and the descriptions gathered so far.
pub(super) struct State {
    input: TokenStream,
    steps: Vec<Desc>,
    /// Row descriptions asked for in a second round, for generic loaders.
    rows: Option<Vec<Desc>>,
}

impl Parse for State {
    fn parse(stream: ParseStream) -> syn::Result<Self> {
        let body = state_body(stream)?;
        let tag: Ident = body.parse()?;
        if tag != "input" {
            return Err(syn::Error::new(tag.span(), "malformed pipeline state"));
        }
        let input;
        braced!(input in body);
        let input: TokenStream = input.parse()?;
        let mut steps = Vec::new();
        let mut rows = None;
        while !body.is_empty() {
            if body.peek(Ident) && body.peek2(Token![;]) {
                let marker: Ident = body.parse()?;
                if marker != "rows" || rows.is_some() {
                    return Err(syn::Error::new(marker.span(), "malformed pipeline state"));
                }
                body.parse::<Token![;]>()?;
                rows = Some(Vec::new());
                continue;
            }
            let desc: Desc = body.parse()?;
            match &mut rows {
                Some(rows) => rows.push(desc),
                None => steps.push(desc),
            }
        }
        Ok(State { input, steps, rows })
    }
}

/// Entry point of `__collect`: every description has arrived. Returns the expansion and
/// where distil is.
pub fn collect(tokens: TokenStream) -> (TokenStream, Option<syn::Path>) {
    let state: State = match syn::parse2(tokens) {
        Ok(s) => s,
        Err(e) => return (stub(e.to_compile_error(), None, &[]), None),
    };
    let model: PipelineInput = match syn::parse2(state.input.clone()) {
        Ok(m) => m,
        Err(e) => return (stub(e.to_compile_error(), None, &[]), None),
    };
    let krate = model.krate.clone();
    (generate(&state, &model), krate)
}

fn generate(state: &State, model: &PipelineInput) -> TokenStream {
    let cx = Ctxt::new();
    let mut descs: Vec<StepDesc> = Vec::new();
    // Bindings whose expression is not a step: the stub leaves them out.
    let mut not_steps: Vec<usize> = Vec::new();
    for (i, (binding, desc)) in model.bindings.iter().zip(&state.steps).enumerate() {
        match desc {
            Desc::Step(s) => descs.push(s.clone()),
            Desc::Row(r) => {
                not_steps.push(i);
                cx.error(
                    &binding.expr,
                    format!(
                        "`{}` is a row (#[derive(Row)]), not a step; a step is a #[step] function or type",
                        r.type_name
                    ),
                );
                descs.push(StepDesc::new(r.type_name.clone(), Kind::Normal, true));
            }
        }
    }

    // Generic loaders and tasks: their outputs (inputs) are the columns of a Row type argument.
    let row_arg = |i: usize, index: Option<usize>| -> Option<syn::Path> {
        let arg = step_type(&model.bindings[i])?.1.into_iter().nth(index?)?;
        match arg {
            Type::Path(mut p) => {
                for segment in &mut p.path.segments {
                    segment.arguments = syn::PathArguments::None;
                }
                Some(p.path)
            }
            _ => None,
        }
    };
    let mut wanted: Vec<(usize, Role, syn::Path)> = Vec::new();
    for (i, d) in descs.iter().enumerate() {
        if let Some(path) = row_arg(i, d.row_param) {
            wanted.push((i, Role::Outputs, path));
        }
        if let Some(path) = row_arg(i, d.inputs_param.index) {
            wanted.push((i, Role::Inputs, path));
        }
    }
    match &state.rows {
        None if !wanted.is_empty() => {
            let steps = state.steps.iter().map(|d| match d {
                Desc::Step(s) => s.to_tokens(),
                Desc::Row(r) => r.to_tokens(),
            });
            let input = &state.input;
            let _ = cx.check();
            return chain(
                wanted.into_iter().map(|(_, _, p)| p).collect(),
                quote!(input { #input } #(#steps)* rows;),
            );
        }
        Some(rows) => {
            for ((i, role, _), row) in wanted.iter().zip(rows) {
                match row {
                    Desc::Row(r) => match role {
                        Role::Outputs => {
                            // A task's own outputs (`model_name`) come after its row's.
                            let own = std::mem::take(&mut descs[*i].outputs);
                            descs[*i].outputs = r.columns.iter().cloned().chain(own).collect();
                        }
                        Role::Inputs => {
                            let columns = r.columns.iter().map(|c| c.as_input(true)).collect();
                            add_inputs(&mut descs[*i], columns);
                        }
                    },
                    Desc::Step(s) => cx.error(
                        &model.bindings[*i].expr,
                        format!("`{}` is a step, not a row type", s.type_name),
                    ),
                }
            }
        }
        None => {}
    }
    for (i, d) in descs.iter_mut().enumerate() {
        let written = |role: Role| wanted.iter().any(|(w, r, _)| *w == i && *r == role);
        if d.row_param.is_some() && !written(Role::Outputs) {
            // No type argument written: the columns are only known when it runs.
            d.dynamic = true;
        }
        if d.inputs_param.index.is_some() && !written(Role::Inputs) {
            // No type argument written: its default, when the task declares one.
            match d.inputs_param.default.clone() {
                Some(columns) => add_inputs(d, columns),
                None => d.dynamic = true,
            }
        }
    }

    let output = match super::resolve::resolve(model, &descs, &cx) {
        Some(mut resolved) => {
            let report = super::validate::validate(model, &descs, &mut resolved, &cx);
            super::expand::expand(model, &descs, &resolved, &report)
        }
        None => TokenStream::new(),
    };
    match cx.check() {
        Ok(()) => output,
        Err(e) => stub(e.to_compile_error(), Some(model), &not_steps),
    }
}

/// What a row asked for in the second round is to its step.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Outputs,
    Inputs,
}

/// A task's input row: its columns come first, then the task's other inputs of other names.
fn add_inputs(desc: &mut StepDesc, mut columns: Vec<ColumnDesc>) {
    let extra: Vec<ColumnDesc> = std::mem::take(&mut desc.inputs)
        .into_iter()
        .filter(|c| !columns.iter().any(|r| r.name == c.name))
        .collect();
    columns.extend(extra);
    desc.inputs = columns;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_takes_only_its_own_marker() {
        let state: State = syn::parse2(quote!([] { input {} rows; })).unwrap();
        assert!(state.steps.is_empty());
        assert_eq!(state.rows.map(|r| r.len()), Some(0));
        for malformed in [
            quote!([] { input {} bogus; }),
            quote!([] { input {} rows; rows; }),
            quote!([] { outputs {} }),
        ] {
            let error = syn::parse2::<State>(malformed).err().expect("rejected");
            assert_eq!(error.to_string(), "malformed pipeline state");
        }
    }
}
