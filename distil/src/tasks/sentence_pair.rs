//! GenerateSentencePair: pairs and triplets for training sentence embeddings, from an anchor.

use super::parsing::{labelled_sections, opt, text};
use super::{Task, TaskLlm};
use crate::column::{ColumnSpec, DataType};
use crate::llm::{Llm, Prompt};
use crate::step::{Input, StepKind, StepSpec};
use crate::steps::ChatMessage;
use crate::{Value, task};

/// How the positive sentence relates to the anchor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SentencePairAction {
    /// The positive says the same as the anchor in other words.
    Paraphrase,
    /// The positive is about the same thing as the anchor.
    SemanticallySimilar,
    /// The positive is a query the anchor answers.
    Query,
    /// The positive is an answer to the anchor (a question).
    Answer,
}

impl SentencePairAction {
    /// distilabel's name of the action: `paraphrase`, `semantically-similar`, `query`, `answer`.
    pub fn name(self) -> &'static str {
        match self {
            SentencePairAction::Paraphrase => "paraphrase",
            SentencePairAction::SemanticallySimilar => "semantically-similar",
            SentencePairAction::Query => "query",
            SentencePairAction::Answer => "answer",
        }
    }

    /// The action named `name`, as [`name`](Self::name) spells it.
    pub fn parse(name: &str) -> Option<Self> {
        [
            SentencePairAction::Paraphrase,
            SentencePairAction::SemanticallySimilar,
            SentencePairAction::Query,
            SentencePairAction::Answer,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    /// What the positive is, as the prompt says it.
    fn positive(self) -> &'static str {
        match self {
            SentencePairAction::Paraphrase => {
                "a paraphrase of the anchor: the same meaning in different words"
            }
            SentencePairAction::SemanticallySimilar => {
                "a sentence semantically similar to the anchor: about the same subject, though not a paraphrase"
            }
            SentencePairAction::Query => {
                "a query (what a user would type into a search engine) that the anchor answers"
            }
            SentencePairAction::Answer => "an answer to the anchor, which is a question",
        }
    }
}

/// Writes a `positive` sentence for each row's `anchor` (a paraphrase, a similar sentence, a
/// query it answers or an answer to it, by [`action`](Self::action)) and, as a
/// [`triplet`](Self::triplet), a `negative` one too: unrelated, or with
/// [`hard_negative`](Self::hard_negative) close in wording but different in meaning. The
/// model answers under `## Positive` and `## Negative` headings; an answer with no positive
/// fails the row (its raw output kept), a triplet's missing negative is null.
///
/// ```no_run
/// use distil::llm::OpenAi;
/// use distil::tasks::{GenerateSentencePair, SentencePairAction};
///
/// let pairs = GenerateSentencePair::new(OpenAi::new("gpt-4o-mini"), SentencePairAction::Query)
///     .triplet(true)
///     .hard_negative(true)
///     .context("The anchors are paragraphs of a cooking book.");
/// ```
#[derive(Clone)]
pub struct GenerateSentencePair {
    llm: TaskLlm,
    action: SentencePairAction,
    triplet: bool,
    hard_negative: bool,
    context: Option<String>,
}

impl GenerateSentencePair {
    /// Pairs (no negative) with `llm`.
    pub fn new(llm: impl Llm, action: SentencePairAction) -> Self {
        GenerateSentencePair {
            llm: TaskLlm::new(llm),
            action,
            triplet: false,
            hard_negative: false,
            context: None,
        }
    }

    /// How the positive relates to the anchor.
    #[must_use]
    pub fn action(mut self, action: SentencePairAction) -> Self {
        self.action = action;
        self
    }

    /// Adds a `negative` column: a sentence the anchor does not match.
    #[must_use]
    pub fn triplet(mut self, triplet: bool) -> Self {
        self.triplet = triplet;
        self
    }

    /// Makes the negative a hard one: close to the anchor in words, different in meaning.
    #[must_use]
    pub fn hard_negative(mut self, hard: bool) -> Self {
        self.hard_negative = hard;
        self
    }

    /// What the anchors are about, to steer the sentences written.
    #[must_use]
    pub fn context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    fn system_prompt(&self) -> String {
        let mut system = format!(
            "Your task is to write sentences for training a sentence-embedding model. Given an anchor, write a positive: {}.",
            self.action.positive()
        );
        if self.triplet {
            system.push_str(if self.hard_negative {
                " Then write a hard negative: a sentence that shares many words or the topic with the anchor but would be a wrong match for it."
            } else {
                " Then write a negative: a sentence that would be a wrong match for the anchor."
            });
        }
        if let Some(context) = &self.context {
            system.push_str(&format!("\n\nContext: {context}"));
        }
        system.push_str("\n\nAnswer in exactly this format and nothing else:\n## Positive\n<the positive sentence>");
        if self.triplet {
            system.push_str("\n## Negative\n<the negative sentence>");
        }
        system
    }
}

impl GenerateSentencePair {
    /// The task a pipeline file records.
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn crate::Step>, String> {
        let name: String = settings.get("action")?;
        let action = SentencePairAction::parse(&name).ok_or_else(|| {
            format!(
                "`{}`: `{name}` is no action; use paraphrase, semantically-similar, query or answer",
                settings.key_path("action")
            )
        })?;
        let mut task = GenerateSentencePair::new(settings.llm("llm")?, action)
            .triplet(settings.optional("triplet")?.unwrap_or_default())
            .hard_negative(settings.optional("hard_negative")?.unwrap_or_default());
        task.context = settings.optional("context")?;
        Ok(Box::new(task))
    }
}

crate::__task_builders!(GenerateSentencePair);

#[task(dynamic)]
impl Task for GenerateSentencePair {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("GenerateSentencePair", StepKind::Normal);
        spec.inputs = vec![ColumnSpec::new("anchor", DataType::String)];
        spec.outputs = vec![ColumnSpec::optional("positive", DataType::String)];
        if self.triplet {
            spec.outputs
                .push(ColumnSpec::optional("negative", DataType::String));
        }
        spec
    }

    fn llm(&self) -> &TaskLlm {
        &self.llm
    }

    fn llm_mut(&mut self) -> &mut TaskLlm {
        &mut self.llm
    }

    fn format_input(&self, input: &Input<'_>, row: usize) -> Result<Prompt, String> {
        let anchor = text(input, "anchor", row)?;
        Ok(Prompt::Chat(vec![
            ChatMessage::system(self.system_prompt()),
            ChatMessage::user(format!("## Anchor\n{anchor}\n")),
        ]))
    }

    fn format_output(
        &self,
        _input: &Input<'_>,
        _row: usize,
        generation: &str,
    ) -> Result<Vec<Value>, String> {
        let [positive, negative] = labelled_sections(generation, &["positive", "negative"])[..]
        else {
            unreachable!("one section per label")
        };
        let positive = positive.ok_or("the answer has no `## Positive` section")?;
        let mut cells = vec![Value::from(positive)];
        if self.triplet {
            cells.push(opt(negative));
        }
        Ok(cells)
    }

    fn description(&self) -> Option<Value> {
        Some(serde_json::json!({
            "action": self.action.name(),
            "triplet": self.triplet,
            "hard_negative": self.hard_negative,
            "context": self.context,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::test_support::{MockLlm, input_of, system_text, user_text};
    use serde_json::json;

    #[test]
    fn prompt_names_the_action_and_the_format() {
        let batch = input_of(&[("anchor", vec![json!("Boil pasta for ten minutes.")])]);
        let input = Input::new(&batch, &[]);
        let task = GenerateSentencePair::new(MockLlm, SentencePairAction::Query)
            .triplet(true)
            .hard_negative(true)
            .context("A cooking book.");
        let prompt = task.format_input(&input, 0).unwrap();
        assert_eq!(
            user_text(&prompt),
            "## Anchor\nBoil pasta for ten minutes.\n"
        );
        assert_eq!(
            system_text(&prompt).unwrap(),
            "Your task is to write sentences for training a sentence-embedding model. Given an anchor, write a positive: a query (what a user would type into a search engine) that the anchor answers. Then write a hard negative: a sentence that shares many words or the topic with the anchor but would be a wrong match for it.\n\n\
             Context: A cooking book.\n\n\
             Answer in exactly this format and nothing else:\n## Positive\n<the positive sentence>\n## Negative\n<the negative sentence>"
        );
        let pair = GenerateSentencePair::new(MockLlm, SentencePairAction::Paraphrase);
        let system = system_text(&pair.format_input(&input, 0).unwrap()).unwrap();
        assert!(system.contains("a paraphrase of the anchor"), "{system}");
        assert!(!system.contains("Negative"), "{system}");
        assert_eq!(
            SentencePairAction::parse("semantically-similar"),
            Some(SentencePairAction::SemanticallySimilar)
        );
    }

    #[test]
    fn positives_and_negatives_are_read_from_their_headings() {
        let batch = input_of(&[("anchor", vec![json!("x")])]);
        let input = Input::new(&batch, &[]);
        let triplet = GenerateSentencePair::new(MockLlm, SentencePairAction::Query).triplet(true);
        assert_eq!(
            triplet
                .format_output(
                    &input,
                    0,
                    "## Positive\nhow long to boil pasta\n\n## Negative\nhow long to bake bread\n"
                )
                .unwrap(),
            [
                json!("how long to boil pasta"),
                json!("how long to bake bread")
            ]
        );
        // Partial: the negative is missing.
        assert_eq!(
            triplet
                .format_output(&input, 0, "**Positive:** pasta timing")
                .unwrap(),
            [json!("pasta timing"), Value::Null]
        );
        // A pair reads only the positive.
        let pair = GenerateSentencePair::new(MockLlm, SentencePairAction::Paraphrase);
        assert_eq!(
            pair.format_output(
                &input,
                0,
                "## Positive\nCook pasta 10 min.\n## Negative\nno"
            )
            .unwrap(),
            [json!("Cook pasta 10 min.")]
        );
        // Malformed: no heading, or an empty positive.
        for bad in [
            "Cook the pasta for 10 minutes.",
            "## Positive\n\n## Negative\nx",
            "",
        ] {
            assert!(
                triplet
                    .format_output(&input, 0, bad)
                    .unwrap_err()
                    .contains("no `## Positive` section"),
                "{bad}"
            );
        }
        assert_eq!(triplet.spec().outputs.len(), 2);
        assert_eq!(pair.spec().outputs.len(), 1);
    }
}
