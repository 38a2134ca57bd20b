//! The Evol family (WizardLM, Xu et al., 2023; DEITA): rewrite an instruction (or a response)
//! into a harder or better one with one of a set of mutations.

use super::parsing::text;
use super::{Task, TaskLlm};
use crate::column::{ColumnSpec, DataType};
use crate::llm::{Llm, Prompt};
use crate::step::{Input, StepKind, StepSpec};
use crate::{Value, task};

/// WizardLM's in-depth mutations (they make an instruction harder) and its in-breadth one
/// (a new instruction on the same topic).
pub(super) const INSTRUCTION_MUTATIONS: [(&str, &str); 6] = [
    (
        "constraints",
        "Add one more constraint or requirement to the prompt.",
    ),
    (
        "deepen",
        "If the prompt asks about a specific issue, increase the depth and breadth of that inquiry.",
    ),
    (
        "concretizing",
        "Replace general concepts in the prompt with more specific ones.",
    ),
    (
        "increased_reasoning_steps",
        "If the prompt can be solved with a few simple steps, rewrite it to explicitly require multi-step reasoning.",
    ),
    (
        "complicate_input",
        "Add structured input the prompt must work with (a table, code, or data) so that it becomes harder to answer.",
    ),
    (
        "breadth",
        "Write a brand-new prompt in the same domain as the given one, but rarer and more long-tailed, of similar length and difficulty.",
    ),
];

/// DEITA's response mutations.
/// DEITA's in-depth mutations, Evol-Complexity's: the first ones of
/// [`INSTRUCTION_MUTATIONS`], all but `breadth`.
pub(super) const COMPLEXITY_MUTATIONS: usize = 5;

const RESPONSE_MUTATIONS: [(&str, &str); 5] = [
    ("helpfulness", "Make the response more helpful to the user."),
    (
        "relevance",
        "Make the response more relevant to the prompt, removing what does not serve it.",
    ),
    (
        "depth",
        "Give the response more depth: more insight and more detail.",
    ),
    ("creativity", "Make the response more creative."),
    ("details", "Add more specific details to the response."),
];

/// The mutation a row gets: spread over the rows by their id and the seed, so a rerun picks
/// the same one.
fn pick(input: &Input<'_>, row: usize, seed: u64, count: usize) -> usize {
    let id = input.ids()[row].index();
    let mixed = (id ^ seed.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((mixed >> 32) % count as u64) as usize
}

/// Strips what models like to put around a rewrite (`#Rewritten Prompt#:`, quotes).
pub(super) fn clean(generation: &str, label: &str) -> Result<String, String> {
    let mut text = generation.trim();
    if let Some(at) = text.find(label) {
        text = text[at + label.len()..].trim_start_matches(':').trim();
    }
    let text = text.trim_matches('"').trim();
    if text.is_empty() {
        return Err("the rewrite is empty".to_owned());
    }
    Ok(text.to_owned())
}

macro_rules! evol_instruction_task {
    ($(#[$doc:meta])* $name:ident, $mutations:expr) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            llm: TaskLlm,
            seed: u64,
        }

        impl $name {
            /// Evolves with `llm`.
            pub fn new(llm: impl Llm) -> Self {
                $name { llm: TaskLlm::new(llm), seed: 42 }
            }

            /// The seed that spreads the mutations over the rows.
            #[must_use]
            pub fn seed(mut self, seed: u64) -> Self {
                self.seed = seed;
                self
            }
        }

        crate::__task_builders!($name);

        #[task(dynamic)]
        impl Task for $name {
            fn spec(&self) -> StepSpec {
                let mut spec = StepSpec::new(stringify!($name), StepKind::Normal);
                spec.inputs = vec![ColumnSpec::new("instruction", DataType::String)];
                spec.outputs = vec![
                    ColumnSpec::optional("evolved_instruction", DataType::String),
                    ColumnSpec::optional("mutation", DataType::String),
                ];
                spec
            }

            fn llm(&self) -> &TaskLlm {
                &self.llm
            }

            fn llm_mut(&mut self) -> &mut TaskLlm {
                &mut self.llm
            }

            fn format_input(&self, input: &Input<'_>, row: usize) -> Result<Prompt, String> {
                let instruction = text(input, "instruction", row)?;
                let mutations: &[(&str, &str)] = &$mutations;
                let (_, how) = mutations[pick(input, row, self.seed, mutations.len())];
                Ok(evolve_instruction_prompt(how, &instruction).into())
            }

            fn format_output(
                &self,
                input: &Input<'_>,
                row: usize,
                generation: &str,
            ) -> Result<Vec<Value>, String> {
                let mutations: &[(&str, &str)] = &$mutations;
                let (name, _) = mutations[pick(input, row, self.seed, mutations.len())];
                Ok(vec![
                    Value::from(clean(generation, "#Rewritten Prompt#")?),
                    Value::from(name),
                ])
            }

            fn task_params(&self) -> Vec<(String, Value)> {
                vec![("seed".to_owned(), Value::from(self.seed))]
            }

            fn set_task_param(&mut self, name: &str, value: Value) -> Result<(), Option<String>> {
                if name != "seed" {
                    return Err(None);
                }
                self.seed = value
                    .as_u64()
                    .ok_or_else(|| Some(format!("`seed` takes an integer, not {value}")))?;
                Ok(())
            }
        }
    };
}

evol_instruction_task!(
    /// One round of WizardLM's Evol-Instruct: each row's `instruction` is rewritten with one of
    /// six mutations (five in depth, one in breadth), picked per row from its id and the
    /// [`seed`](Self::seed). Outputs `evolved_instruction` and `mutation` (its name). Chain the
    /// step to evolve several times (distilabel's `num_evolutions` loops inside one step; here
    /// each round is a step, so each is cached and recorded on its own).
    EvolInstruct,
    INSTRUCTION_MUTATIONS
);

evol_instruction_task!(
    /// DEITA's Evol-Complexity: as [`EvolInstruct`] with only the in-depth mutations, so each
    /// round makes the instruction harder. Outputs `evolved_instruction` and `mutation`.
    EvolComplexity,
    INSTRUCTION_MUTATIONS.split_at(COMPLEXITY_MUTATIONS).0
);

pub(super) fn evolve_instruction_prompt(how: &str, instruction: &str) -> String {
    format!(
        "I want you to act as a prompt rewriter. Rewrite the given prompt into a more complex version that famous AI systems (such as ChatGPT and GPT-4) would find harder to handle, while a human can still understand and answer it.\n\
         Keep any non-text part of the prompt (tables, code) as it is. The rewrite must not be verbose: add at most 10 to 20 words.\n\
         Method: {how}\n\
         Do not mention '#The Given Prompt#' or '#Rewritten Prompt#' in the rewrite.\n\n\
         #The Given Prompt#:\n{instruction}\n\n#Rewritten Prompt#:\n"
    )
}

/// DEITA's Evol-Quality: rewrites each row's `response` to `instruction` with one of five
/// mutations (helpfulness, relevance, depth, creativity, details), picked per row. Outputs
/// `evolved_response` and `mutation`.
#[derive(Clone)]
pub struct EvolQuality {
    llm: TaskLlm,
    seed: u64,
}

impl EvolQuality {
    /// Evolves responses with `llm`.
    pub fn new(llm: impl Llm) -> Self {
        EvolQuality {
            llm: TaskLlm::new(llm),
            seed: 42,
        }
    }

    /// The seed that spreads the mutations over the rows.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

impl EvolQuality {
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn crate::Step>, String> {
        let mut task = EvolQuality::new(settings.llm("llm")?);
        if let Some(seed) = settings.optional::<u64>("seed")? {
            task.seed = seed;
        }
        Ok(Box::new(task))
    }
}

crate::__task_builders!(EvolQuality);

#[task(dynamic)]
impl Task for EvolQuality {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("EvolQuality", StepKind::Normal);
        spec.inputs = vec![
            ColumnSpec::new("instruction", DataType::String),
            ColumnSpec::new("response", DataType::String),
        ];
        spec.outputs = vec![
            ColumnSpec::optional("evolved_response", DataType::String),
            ColumnSpec::optional("mutation", DataType::String),
        ];
        spec
    }

    fn description(&self) -> Option<Value> {
        Some(serde_json::json!({ "seed": self.seed }))
    }

    fn llm(&self) -> &TaskLlm {
        &self.llm
    }

    fn llm_mut(&mut self) -> &mut TaskLlm {
        &mut self.llm
    }

    fn format_input(&self, input: &Input<'_>, row: usize) -> Result<Prompt, String> {
        let instruction = text(input, "instruction", row)?;
        let response = text(input, "response", row)?;
        let (_, how) = RESPONSE_MUTATIONS[pick(input, row, self.seed, RESPONSE_MUTATIONS.len())];
        Ok(format!(
            "I want you to act as a response rewriter. Given a prompt and a response, rewrite the response into a better version. Keep the rewrite concise; do not mention '#Given Response#' or '#Rewritten Response#'.\n\
             Method: {how}\n\n#The Given Prompt#:\n{instruction}\n\n#Given Response#:\n{response}\n\n#Rewritten Response#:\n"
        )
        .into())
    }

    fn format_output(
        &self,
        input: &Input<'_>,
        row: usize,
        generation: &str,
    ) -> Result<Vec<Value>, String> {
        let (name, _) = RESPONSE_MUTATIONS[pick(input, row, self.seed, RESPONSE_MUTATIONS.len())];
        Ok(vec![
            Value::from(clean(generation, "#Rewritten Response#")?),
            Value::from(name),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::test_support::{MockLlm, input_of, user_text};
    use serde_json::json;

    #[test]
    fn instructions_evolve_with_a_mutation_per_row() {
        let batch = input_of(&[(
            "instruction",
            (0..12).map(|i| json!(format!("Task {i}"))).collect(),
        )]);
        let input = Input::new(&batch, &[]);
        let task = EvolInstruct::new(MockLlm);
        let user = user_text(&task.format_input(&input, 0).unwrap());
        assert!(user.starts_with("I want you to act as a prompt rewriter."));
        assert!(
            user.ends_with("#The Given Prompt#:\nTask 0\n\n#Rewritten Prompt#:\n"),
            "{user}"
        );
        let used: std::collections::BTreeSet<usize> =
            (0..12).map(|row| pick(&input, row, 42, 6)).collect();
        assert!(used.len() > 2, "rows get different mutations: {used:?}");
        let cells = task
            .format_output(&input, 3, "#Rewritten Prompt#: \"Task 3, in French.\"")
            .unwrap();
        assert_eq!(cells[0], json!("Task 3, in French."));
        let (name, _) = INSTRUCTION_MUTATIONS[pick(&input, 3, 42, 6)];
        assert_eq!(cells[1], json!(name));
        assert_eq!(
            task.format_output(&input, 0, "Plain rewrite").unwrap()[0],
            json!("Plain rewrite")
        );
        assert!(
            task.format_output(&input, 0, "#Rewritten Prompt#:  ")
                .is_err()
        );
    }

    #[test]
    fn complexity_never_picks_breadth_and_quality_rewrites_responses() {
        let batch = input_of(&[
            ("instruction", (0..20).map(|_| json!("Q")).collect()),
            ("response", (0..20).map(|_| json!("A")).collect()),
        ]);
        let input = Input::new(&batch, &[]);
        let complexity = EvolComplexity::new(MockLlm);
        for row in 0..20 {
            assert_ne!(
                complexity.format_output(&input, row, "x").unwrap()[1],
                json!("breadth")
            );
        }
        let quality = EvolQuality::new(MockLlm);
        let user = user_text(&quality.format_input(&input, 0).unwrap());
        assert!(user.ends_with(
            "#The Given Prompt#:\nQ\n\n#Given Response#:\nA\n\n#Rewritten Response#:\n"
        ));
        assert_eq!(
            quality
                .format_output(&input, 0, "#Rewritten Response#: A, better.")
                .unwrap()[0],
            json!("A, better.")
        );
    }
}
