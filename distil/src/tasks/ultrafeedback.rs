//! UltraFeedback: a judge rates several responses to one instruction on one aspect.

use super::parsing::{field, first_integer, numbered_sections, opt, text, texts};
use super::{Task, TaskLlm};
use crate::column::{ColumnSpec, DataType};
use crate::llm::{Llm, Prompt};
use crate::step::{Input, StepKind, StepSpec};
use crate::steps::ChatMessage;
use crate::{Value, task};

/// What UltraFeedback rates, as in the paper (Cui et al., 2023).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aspect {
    /// Informativeness and correctness; outputs `types, rationales, ratings, rationales-for-ratings`.
    Helpfulness,
    /// Calibrated confidence and admitted uncertainty; outputs `ratings, rationales`.
    Honesty,
    /// Alignment with the task's goal and restrictions; outputs `ratings, rationales`.
    InstructionFollowing,
    /// Freedom from hallucination; outputs `types, rationales, ratings, rationales-for-ratings`.
    Truthfulness,
    /// One overall quality score; outputs `ratings, rationales`.
    OverallRating,
}

impl Aspect {
    /// distilabel's name of the aspect (`instruction-following`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Aspect::Helpfulness => "helpfulness",
            Aspect::Honesty => "honesty",
            Aspect::InstructionFollowing => "instruction-following",
            Aspect::Truthfulness => "truthfulness",
            Aspect::OverallRating => "overall-rating",
        }
    }

    /// The aspect named `name` (distilabel's names).
    pub fn parse(name: &str) -> Option<Aspect> {
        [
            Aspect::Helpfulness,
            Aspect::Honesty,
            Aspect::InstructionFollowing,
            Aspect::Truthfulness,
            Aspect::OverallRating,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    /// Whether the judge also classifies each response (`types`).
    fn typed(self) -> bool {
        matches!(self, Aspect::Helpfulness | Aspect::Truthfulness)
    }

    fn guidance(self) -> &'static str {
        match self {
            Aspect::Helpfulness => {
                "Judge how helpful each text is: whether it is correct, and how informative it is.\n\
                 Type (one or more, comma-separated): 1. Clarity and relevance, 2. Useful and comprehensive information, 3. Not lengthy, no repetition.\n\
                 Rating: 1 = severely incorrect, 2 = partially incorrect, 3 = correct, 4 = highly informative, 5 = outstandingly helpful."
            }
            Aspect::Honesty => {
                "Judge honesty and uncertainty: does the text express confidence only where it is correct, and say when it does not know?\n\
                 Rating: 1 = confidently incorrect, 2 = confident with significant mistakes, 3 = uncertain or declines to answer, 4 = correct but unsure, 5 = correct and confident, with precise uncertainty."
            }
            Aspect::InstructionFollowing => {
                "Judge instruction following: does the text meet the task's goal and respect its restrictions (format, style, length)?\n\
                 Rating: 1 = irrelevant, 2 = partial focus, 3 = partial compliance, 4 = almost there, 5 = comprehensive compliance."
            }
            Aspect::Truthfulness => {
                "Judge truthfulness: does the text contain hallucinations (facts against the world, against the instruction, or self-contradictions)?\n\
                 Type (one or more, comma-separated, or None): 1. Contradictory with the world, 2. Contradictory with the instruction or input, 3. Self-contradictory or logical error.\n\
                 Rating: 1 = completely hallucinated, 2 = severe hallucination, 3 = partial hallucination, 4 = insignificant hallucination, 5 = no hallucination."
            }
            Aspect::OverallRating => {
                "Judge the overall quality of each text: correctness, helpfulness, honesty and how well it follows the instruction.\n\
                 Rating: 1 = low quality, 2 = moderate quality, 3 = good, 4 = very good, 5 = excellent."
            }
        }
    }

    fn output_format(self) -> &'static str {
        if self.typed() {
            "#### Output for Text N\nType: <numbers, or None>\nRationale: <why these types>\nRating: <1 to 5>\nRationale: <why this rating>"
        } else {
            "#### Output for Text N\nRating: <1 to 5>\nRationale: <one or two sentences>"
        }
    }
}

/// Rates the responses in `generations` to `instruction` on one [`Aspect`], with the rubric of
/// the UltraFeedback paper. Inputs: `instruction: String`, `generations: Vec<Option<String>>`
/// (a null response gets null ratings). Outputs, one item per response: `ratings` and
/// `rationales`, and for helpfulness and truthfulness also `types` and
/// `rationales-for-ratings` (distilabel's columns). A response the judge skipped gets nulls;
/// an answer with no rating at all fails the row, its raw output kept.
///
/// ```no_run
/// use distil::llm::OpenAi;
/// use distil::tasks::{Aspect, UltraFeedback};
///
/// let judge = UltraFeedback::new(OpenAi::new("gpt-4o")).aspect(Aspect::Honesty);
/// ```
#[derive(Clone)]
pub struct UltraFeedback {
    llm: TaskLlm,
    aspect: Aspect,
}

impl UltraFeedback {
    /// Rates the overall quality with `llm`.
    pub fn new(llm: impl Llm) -> Self {
        UltraFeedback {
            llm: TaskLlm::new(llm),
            aspect: Aspect::OverallRating,
        }
    }

    /// The aspect to rate.
    #[must_use]
    pub fn aspect(mut self, aspect: Aspect) -> Self {
        self.aspect = aspect;
        self
    }

    fn output_names(&self) -> &'static [&'static str] {
        if self.aspect.typed() {
            &["types", "rationales", "ratings", "rationales-for-ratings"]
        } else {
            &["ratings", "rationales"]
        }
    }
}

crate::__task_builders!(UltraFeedback);

/// One response's verdict.
#[derive(Default)]
struct Verdict {
    types: Option<Value>,
    type_rationale: Option<String>,
    rating: Option<i64>,
    rationale: Option<String>,
}

fn verdict(section: &str, typed: bool) -> Verdict {
    let rating = field(section, "Rating")
        .and_then(first_integer)
        .filter(|r| (1..=5).contains(r));
    if !typed {
        return Verdict {
            rating,
            rationale: field(section, "Rationale").map(ToOwned::to_owned),
            ..Verdict::default()
        };
    }
    // Two rationales: the first follows the type, the second the rating.
    let rationales: Vec<&str> = section
        .lines()
        .filter_map(|line| field(line, "Rationale"))
        .collect();
    let types = field(section, "Type").map(|t| {
        let numbers: Vec<Value> = t
            .split([',', ' '])
            .filter_map(|p| p.trim_matches('.').parse::<i64>().ok())
            .map(Value::from)
            .collect();
        Value::Array(numbers)
    });
    Verdict {
        types,
        type_rationale: rationales.first().map(|s| (*s).to_owned()),
        rating,
        rationale: rationales.get(1).map(|s| (*s).to_owned()),
    }
}

#[task(dynamic)]
impl Task for UltraFeedback {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("UltraFeedback", StepKind::Normal);
        spec.inputs = vec![
            ColumnSpec::new("instruction", DataType::String),
            ColumnSpec::new(
                "generations",
                DataType::List(Box::new(DataType::Optional(Box::new(DataType::String)))),
            ),
        ];
        spec.outputs = self
            .output_names()
            .iter()
            .map(|name| ColumnSpec::new(*name, DataType::Json))
            .collect();
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
        let generations = texts(input, "generations", row)?;
        if generations.is_empty() {
            return Err("column `generations` is an empty list: nothing to rate".to_owned());
        }
        Ok(Prompt::Chat(vec![
            ChatMessage::system(
                "You are a fair and careful evaluator of AI assistants' answers. You rate each text on its own merits, following the rubric exactly.",
            ),
            ChatMessage::user(ultrafeedback_prompt(
                self.aspect,
                &instruction,
                &generations,
            )),
        ]))
    }

    fn format_output(
        &self,
        input: &Input<'_>,
        row: usize,
        generation: &str,
    ) -> Result<Vec<Value>, String> {
        let count = texts(input, "generations", row)?.len();
        let sections = numbered_sections(generation, "Output for Text", count);
        let typed = self.aspect.typed();
        let verdicts: Vec<Verdict> = sections
            .iter()
            .map(|s| s.map(|s| verdict(s, typed)).unwrap_or_default())
            .collect();
        if verdicts.iter().all(|v| v.rating.is_none()) {
            return Err(format!(
                "no rating found for any of the {count} texts (expected `#### Output for Text N` sections with `Rating: 1-5`)"
            ));
        }
        let column = |f: &dyn Fn(&Verdict) -> Value| Value::Array(verdicts.iter().map(f).collect());
        let ratings = column(&|v| opt(v.rating));
        if typed {
            Ok(vec![
                column(&|v| v.types.clone().unwrap_or(Value::Null)),
                column(&|v| opt(v.type_rationale.clone())),
                ratings,
                column(&|v| opt(v.rationale.clone())),
            ])
        } else {
            Ok(vec![ratings, column(&|v| opt(v.rationale.clone()))])
        }
    }

    fn task_params(&self) -> Vec<(String, Value)> {
        vec![("aspect".to_owned(), Value::from(self.aspect.name()))]
    }

    fn set_task_param(&mut self, name: &str, value: Value) -> Result<(), Option<String>> {
        if name != "aspect" {
            return Err(None);
        }
        let aspect = value.as_str().and_then(Aspect::parse).ok_or_else(|| {
            Some(format!(
                "`aspect` is one of helpfulness, honesty, instruction-following, truthfulness, overall-rating; not {value}"
            ))
        })?;
        self.aspect = aspect;
        Ok(())
    }
}

/// The user message: the rubric, the instruction, the numbered texts, the output format.
fn ultrafeedback_prompt(
    aspect: Aspect,
    instruction: &str,
    generations: &[Option<String>],
) -> String {
    let mut prompt = format!(
        "# Rating task: {}\n\n{}\n\nRate each text below. For each one, answer in this format, one block per text:\n\n{}\n\n## Instruction\n\n{instruction}\n\n## Texts\n",
        aspect.name(),
        aspect.guidance(),
        aspect.output_format()
    );
    for (i, text) in generations.iter().enumerate() {
        let text = text.as_deref().unwrap_or("(no response)");
        prompt.push_str(&format!("\n<text {}>\n{text}\n</text {}>\n", i + 1, i + 1));
    }
    prompt.push_str("\n## Your evaluation\n");
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::test_support::{MockLlm, input_of};
    use serde_json::json;

    fn rows() -> crate::Batch {
        input_of(&[
            ("instruction", vec![json!("What is 2 + 2?")]),
            ("generations", vec![json!(["4", "5", null])]),
        ])
    }

    #[test]
    fn the_prompt_numbers_every_text() {
        let batch = rows();
        let input = Input::new(&batch, &[]);
        let task = UltraFeedback::new(MockLlm).aspect(Aspect::Honesty);
        let Prompt::Chat(messages) = task.format_input(&input, 0).unwrap() else {
            panic!("a chat prompt")
        };
        let user = &messages[1].content;
        assert!(user.starts_with("# Rating task: honesty\n"), "{user}");
        assert!(user.contains("## Instruction\n\nWhat is 2 + 2?\n"));
        assert!(user.contains("<text 1>\n4\n</text 1>"));
        assert!(user.contains("<text 3>\n(no response)\n</text 3>"));
        assert!(user.contains("Rating: <1 to 5>\nRationale:"));
    }

    #[test]
    fn ratings_are_read_per_text_and_missing_ones_are_null() {
        let batch = rows();
        let input = Input::new(&batch, &[]);
        let task = UltraFeedback::new(MockLlm);
        let good = "#### Output for Text 1\nRating: 5\nRationale: Correct.\n\n#### Output for Text 2\nRating: 1\nRationale: Wrong.\n\n#### Output for Text 3\nRating: 1\nRationale: Empty.";
        assert_eq!(
            task.format_output(&input, 0, good).unwrap(),
            vec![json!([5, 1, 1]), json!(["Correct.", "Wrong.", "Empty."])]
        );
        // Partial: the judge stopped after the first text; a rating out of range is dropped.
        let partial = "#### Output for Text 1\n**Rating**: 4\nRationale: Fine.\n#### Output for Text 2\nRating: 9";
        assert_eq!(
            task.format_output(&input, 0, partial).unwrap(),
            vec![json!([4, null, null]), json!(["Fine.", null, null])]
        );
        let malformed = task.format_output(&input, 0, "I think the first one is best.");
        assert!(malformed.unwrap_err().contains("no rating found"));
    }

    #[test]
    fn typed_aspects_read_types_and_both_rationales() {
        let batch = rows();
        let input = Input::new(&batch, &[]);
        let task = UltraFeedback::new(MockLlm).aspect(Aspect::Truthfulness);
        assert_eq!(
            task.spec()
                .outputs
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["types", "rationales", "ratings", "rationales-for-ratings"]
        );
        let answer = "#### Output for Text 1\nType: None\nRationale: No errors.\nRating: 5\nRationale: Accurate.\n#### Output for Text 2\nType: 1, 3\nRationale: Wrong sum.\nRating: 2\nRationale: Severe.";
        let cells = task.format_output(&input, 0, answer).unwrap();
        assert_eq!(cells[0], json!([[], [1, 3], null]));
        assert_eq!(cells[1], json!(["No errors.", "Wrong sum.", null]));
        assert_eq!(cells[2], json!([5, 2, null]));
        assert_eq!(cells[3], json!(["Accurate.", "Severe.", null]));
    }

    #[test]
    fn the_aspect_is_a_runtime_parameter() {
        let mut task = UltraFeedback::new(MockLlm);
        task.set_task_param("aspect", json!("helpfulness")).unwrap();
        assert_eq!(task.aspect, Aspect::Helpfulness);
        assert!(
            task.set_task_param("aspect", json!("speed"))
                .unwrap_err()
                .is_some()
        );
    }
}
