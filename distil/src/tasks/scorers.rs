//! DEITA's scorers (Liu et al., 2023): a judge scores the quality of several responses to
//! one instruction, or the complexity of several instructions.

use super::parsing::{first_number, numbered_sections, opt, text, texts};
use super::{Task, TaskLlm};
use crate::column::{ColumnSpec, DataType};
use crate::llm::{Llm, Prompt};
use crate::step::{Input, StepKind, StepSpec};
use crate::{Value, task};

fn list_of_texts() -> DataType {
    DataType::List(Box::new(DataType::Optional(Box::new(DataType::String))))
}

fn scores_column() -> ColumnSpec {
    ColumnSpec::new(
        "scores",
        DataType::List(Box::new(DataType::Optional(Box::new(DataType::Float(64))))),
    )
}

/// The scores of `[marker N] Score: X` lines, one per item; `None` where missing. No score at
/// all is an error.
fn read_scores(generation: &str, marker: &str, count: usize) -> Result<Vec<Value>, String> {
    let scores: Vec<Option<f64>> = numbered_sections(generation, marker, count)
        .into_iter()
        .map(|s| {
            s.and_then(|s| {
                let after = s
                    .to_ascii_lowercase()
                    .find("score")
                    .map_or(s, |at| &s[at..]);
                first_number(after)
            })
        })
        .collect();
    if scores.iter().all(Option::is_none) {
        return Err(format!(
            "no score found for any of the {count} items (expected `{marker} N] Score: X` lines)"
        ));
    }
    Ok(vec![Value::Array(scores.into_iter().map(opt).collect())])
}

/// Scores the quality of each of `responses` to `instruction` (1 = worst, 6 = best, as DEITA).
/// Inputs `instruction: String`, `responses: Vec<Option<String>>`; output
/// `scores: Vec<Option<f64>>`, one per response.
#[derive(Clone)]
pub struct QualityScorer {
    llm: TaskLlm,
}

impl QualityScorer {
    /// Scores with `llm`.
    pub fn new(llm: impl Llm) -> Self {
        QualityScorer {
            llm: TaskLlm::new(llm),
        }
    }
}

crate::__task_builders!(QualityScorer);

#[task(dynamic)]
impl Task for QualityScorer {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("QualityScorer", StepKind::Normal);
        spec.inputs = vec![
            ColumnSpec::new("instruction", DataType::String),
            ColumnSpec::new("responses", list_of_texts()),
        ];
        spec.outputs = vec![scores_column()];
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
        let responses = texts(input, "responses", row)?;
        if responses.is_empty() {
            return Err("column `responses` is an empty list: nothing to score".to_owned());
        }
        let mut prompt = format!(
            "Rank the following responses to the instruction by their quality: helpfulness, relevance, accuracy, depth, creativity and level of detail. Give each response a score from 1 (worst) to {} (best); better responses get higher scores.\n\nAnswer with one line per response, exactly as:\n[Response N] Score: X\n\n#Question#:\n{instruction}\n",
            responses.len().max(2) + 4
        );
        for (i, response) in responses.iter().enumerate() {
            let response = response.as_deref().unwrap_or("(no response)");
            prompt.push_str(&format!("\n#Response {}#:\n{response}\n", i + 1));
        }
        prompt.push_str("\n##Scores##:\n");
        Ok(prompt.into())
    }

    fn format_output(
        &self,
        input: &Input<'_>,
        row: usize,
        generation: &str,
    ) -> Result<Vec<Value>, String> {
        let count = texts(input, "responses", row)?.len();
        read_scores(generation, "[Response", count)
    }
}

/// Scores the complexity of each of `instructions` (1 = simplest). Input
/// `instructions: Vec<Option<String>>` (e.g. an instruction and its evolutions); output
/// `scores: Vec<Option<f64>>`, one per instruction.
#[derive(Clone)]
pub struct ComplexityScorer {
    llm: TaskLlm,
}

impl ComplexityScorer {
    /// Scores with `llm`.
    pub fn new(llm: impl Llm) -> Self {
        ComplexityScorer {
            llm: TaskLlm::new(llm),
        }
    }
}

crate::__task_builders!(ComplexityScorer);

#[task(dynamic)]
impl Task for ComplexityScorer {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("ComplexityScorer", StepKind::Normal);
        spec.inputs = vec![ColumnSpec::new("instructions", list_of_texts())];
        spec.outputs = vec![scores_column()];
        spec
    }

    fn llm(&self) -> &TaskLlm {
        &self.llm
    }

    fn llm_mut(&mut self) -> &mut TaskLlm {
        &mut self.llm
    }

    fn format_input(&self, input: &Input<'_>, row: usize) -> Result<Prompt, String> {
        let instructions = texts(input, "instructions", row)?;
        if instructions.is_empty() {
            return Err("column `instructions` is an empty list: nothing to score".to_owned());
        }
        let mut prompt = format!(
            "Rank the following instructions by their complexity: how much knowledge, reasoning and how many steps answering each one takes. Give each a score from 1 (simplest) to {} (most complex).\n\nAnswer with one line per instruction, exactly as:\n[N] Score: X\n",
            instructions.len().max(2) + 4
        );
        for (i, instruction) in instructions.iter().enumerate() {
            let instruction = instruction.as_deref().unwrap_or("(none)");
            prompt.push_str(&format!("\n[{}] {instruction}", i + 1));
        }
        prompt.push_str("\n\n##Scores##:\n");
        Ok(prompt.into())
    }

    fn format_output(
        &self,
        input: &Input<'_>,
        row: usize,
        generation: &str,
    ) -> Result<Vec<Value>, String> {
        let count = texts(input, "instructions", row)?.len();
        read_scores(generation, "[", count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::test_support::{MockLlm, input_of, user_text};
    use serde_json::json;

    #[test]
    fn quality_prompt_and_scores() {
        let batch = input_of(&[
            ("instruction", vec![json!("Name a prime.")]),
            ("responses", vec![json!(["7", "8"])]),
        ]);
        let input = Input::new(&batch, &[]);
        let task = QualityScorer::new(MockLlm);
        let user = user_text(&task.format_input(&input, 0).unwrap());
        assert!(user.contains("from 1 (worst) to 6 (best)"), "{user}");
        assert!(user.ends_with("#Question#:\nName a prime.\n\n#Response 1#:\n7\n\n#Response 2#:\n8\n\n##Scores##:\n"), "{user}");
        assert_eq!(
            task.format_output(&input, 0, "[Response 1] Score: 5\n[Response 2] Score: 1")
                .unwrap(),
            vec![json!([5.0, 1.0])]
        );
        // Partial: the second score is missing.
        assert_eq!(
            task.format_output(&input, 0, "[Response 1] Score: 4.5")
                .unwrap(),
            vec![json!([4.5, null])]
        );
        assert!(
            task.format_output(&input, 0, "Both are fine.")
                .unwrap_err()
                .contains("no score")
        );
    }

    #[test]
    fn complexity_prompt_and_scores() {
        let batch = input_of(&[("instructions", vec![json!(["Add 1+1", "Prove Fermat"])])]);
        let input = Input::new(&batch, &[]);
        let task = ComplexityScorer::new(MockLlm);
        let user = user_text(&task.format_input(&input, 0).unwrap());
        assert!(
            user.contains("\n[1] Add 1+1\n[2] Prove Fermat\n\n##Scores##:\n"),
            "{user}"
        );
        assert_eq!(
            task.format_output(&input, 0, "[1] Score: 1\n[2] Score: 6")
                .unwrap(),
            vec![json!([1.0, 6.0])]
        );
        assert_eq!(
            task.format_output(&input, 0, "[2] Score: 3").unwrap(),
            vec![json!([null, 3.0])]
        );
        assert!(task.format_output(&input, 0, "").is_err());
    }
}
