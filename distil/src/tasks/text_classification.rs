//! TextClassification: labels for a text, from a given set or free, as a JSON answer.

use super::parsing::{json_object, text};
use super::{Task, TaskLlm};
use crate::column::{ColumnSpec, DataType};
use crate::llm::{Llm, Prompt};
use crate::step::{Input, StepKind, StepSpec};
use crate::steps::ChatMessage;
use crate::{Value, task};

const SYSTEM: &str = "You are an AI system that classifies texts. Read the given text and answer with the labels that fit it best, as a JSON object and nothing else.";

/// Classifies each row's `text` with up to [`n`](Self::n) labels: from
/// [`available_labels`](Self::available_labels) when given (each may carry a description),
/// else labels the model chooses. Output `labels`: a `String` when `n` is 1 (the default),
/// else a `Vec<String>`. The model answers `{"labels": ...}` (in a code fence or after a
/// preamble too); no JSON, no `labels` key, or a label outside the given set (compared
/// without case) fails the row, its raw output kept. When no label fits, the model is told
/// to answer the [`default_label`](Self::default_label) (`Unclassified`).
/// [`structured_output`](Self::structured_output) asks servers that take a JSON schema for
/// exactly that shape.
///
/// ```no_run
/// use distil::llm::OpenAi;
/// use distil::tasks::TextClassification;
///
/// let sentiment = TextClassification::new(OpenAi::new("gpt-4o-mini"))
///     .context("Classify the sentiment of product reviews.")
///     .available_labels(["positive", "negative", "neutral"])
///     .structured_output(true);
/// ```
#[derive(Clone)]
pub struct TextClassification {
    llm: TaskLlm,
    system_prompt: String,
    n: usize,
    context: String,
    examples: Vec<String>,
    labels: Vec<(String, Option<String>)>,
    default_label: String,
    query_title: String,
    structured: bool,
}

impl TextClassification {
    /// One free label per text with `llm`.
    pub fn new(llm: impl Llm) -> Self {
        TextClassification {
            llm: TaskLlm::new(llm),
            system_prompt: SYSTEM.to_owned(),
            n: 1,
            context: "Give concise labels for the main topic, theme or category of the text."
                .to_owned(),
            examples: Vec::new(),
            labels: Vec::new(),
            default_label: "Unclassified".to_owned(),
            query_title: "User Query".to_owned(),
            structured: false,
        }
    }

    /// Labels per text at most (at least 1); above 1 the `labels` column is a list.
    #[must_use]
    pub fn n(mut self, n: usize) -> Self {
        self.n = n.max(1);
        self
    }

    /// What to classify the texts by.
    #[must_use]
    pub fn context(mut self, context: impl Into<String>) -> Self {
        self.context = context.into();
        self
    }

    /// Example texts with their labels, shown to the model as they are given.
    #[must_use]
    pub fn examples<S: Into<String>>(mut self, examples: impl IntoIterator<Item = S>) -> Self {
        self.examples = examples.into_iter().map(Into::into).collect();
        self
    }

    /// The labels the model may choose from.
    #[must_use]
    pub fn available_labels<S: Into<String>>(
        mut self,
        labels: impl IntoIterator<Item = S>,
    ) -> Self {
        self.labels = labels.into_iter().map(|l| (l.into(), None)).collect();
        self
    }

    /// The labels the model may choose from, each with a description of when it applies.
    #[must_use]
    pub fn described_labels<L: Into<String>, D: Into<String>>(
        mut self,
        labels: impl IntoIterator<Item = (L, D)>,
    ) -> Self {
        self.labels = labels
            .into_iter()
            .map(|(l, d)| (l.into(), Some(d.into())))
            .collect();
        self
    }

    /// The label to answer when none fits (`Unclassified`).
    #[must_use]
    pub fn default_label(mut self, label: impl Into<String>) -> Self {
        self.default_label = label.into();
        self
    }

    /// The heading of the text in the prompt (`User Query`).
    #[must_use]
    pub fn query_title(mut self, title: impl Into<String>) -> Self {
        self.query_title = title.into();
        self
    }

    /// The system message.
    #[must_use]
    pub fn system_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.system_prompt = prompt.into();
        self
    }

    /// Asks for the answer's JSON schema as the response format (servers that take one).
    #[must_use]
    pub fn structured_output(mut self, structured: bool) -> Self {
        self.structured = structured;
        self
    }

    fn user_prompt(&self, text: &str) -> String {
        let mut prompt = format!(
            "# Instruction\nClassify the text below. {context}\n",
            context = self.context
        );
        if !self.labels.is_empty() {
            prompt.push_str("\n## Labels\n");
            for (label, description) in &self.labels {
                match description {
                    Some(description) => prompt.push_str(&format!("- {label}: {description}\n")),
                    None => prompt.push_str(&format!("- {label}\n")),
                }
            }
            prompt.push_str(&format!(
                "Use only these labels; if none fits, answer \"{}\".\n",
                self.default_label
            ));
        }
        if !self.examples.is_empty() {
            prompt.push_str("\n## Examples\n");
            for example in &self.examples {
                prompt.push_str(&format!("{example}\n"));
            }
        }
        let shape = if self.n == 1 {
            "{\"labels\": \"<label>\"}".to_owned()
        } else {
            format!(
                "{{\"labels\": [\"<label>\", ...]}} with at most {} labels",
                self.n
            )
        };
        prompt.push_str(&format!(
            "\n## {title}\n```\n{text}\n```\n\n## Output format\nAnswer with a JSON object only: {shape}.\n",
            title = self.query_title
        ));
        prompt
    }

    /// The label as given, matched without case; `None` outside the given set.
    fn allowed<'s>(&'s self, label: &'s str) -> Option<&'s str> {
        if self.labels.is_empty() {
            return Some(label);
        }
        self.labels
            .iter()
            .map(|(l, _)| l.as_str())
            .chain([self.default_label.as_str()])
            .find(|l| l.eq_ignore_ascii_case(label))
    }

    fn labels_schema(&self) -> Value {
        let mut item = serde_json::json!({ "type": "string" });
        if !self.labels.is_empty() {
            let names: Vec<&str> = self
                .labels
                .iter()
                .map(|(l, _)| l.as_str())
                .chain([self.default_label.as_str()])
                .collect();
            item["enum"] = serde_json::json!(names);
        }
        if self.n == 1 {
            item
        } else {
            // No `maxItems`: strict schemas refuse it; extra labels are cut when read.
            serde_json::json!({ "type": "array", "items": item })
        }
    }
}

impl TextClassification {
    /// The task a pipeline file records (its `n` is a runtime parameter, applied after).
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn crate::Step>, String> {
        let mut task = TextClassification::new(settings.llm("llm")?);
        if let Some(prompt) = settings.optional::<String>("system_prompt")? {
            task.system_prompt = prompt;
        }
        if let Some(context) = settings.optional::<String>("context")? {
            task.context = context;
        }
        task.examples = settings.optional("examples")?.unwrap_or_default();
        let labels: Vec<String> = settings.optional("available_labels")?.unwrap_or_default();
        let descriptions: Vec<Option<String>> = settings
            .optional("label_descriptions")?
            .unwrap_or_else(|| vec![None; labels.len()]);
        if descriptions.len() != labels.len() {
            return Err(format!(
                "`{}` holds {} descriptions for {} labels",
                settings.key_path("label_descriptions"),
                descriptions.len(),
                labels.len()
            ));
        }
        task.labels = labels.into_iter().zip(descriptions).collect();
        if let Some(label) = settings.optional::<String>("default_label")? {
            task.default_label = label;
        }
        if let Some(title) = settings.optional::<String>("query_title")? {
            task.query_title = title;
        }
        task.structured = settings.optional("structured_output")?.unwrap_or_default();
        Ok(Box::new(task))
    }
}

crate::__task_builders!(TextClassification);

#[task(dynamic)]
impl Task for TextClassification {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("TextClassification", StepKind::Normal);
        spec.inputs = vec![ColumnSpec::new("text", DataType::String)];
        let labels = if self.n == 1 {
            DataType::String
        } else {
            DataType::List(Box::new(DataType::String))
        };
        spec.outputs = vec![ColumnSpec::optional("labels", labels)];
        spec
    }

    fn llm(&self) -> &TaskLlm {
        &self.llm
    }

    fn llm_mut(&mut self) -> &mut TaskLlm {
        &mut self.llm
    }

    fn format_input(&self, input: &Input<'_>, row: usize) -> Result<Prompt, String> {
        let text = text(input, "text", row)?;
        Ok(Prompt::Chat(vec![
            ChatMessage::system(self.system_prompt.clone()),
            ChatMessage::user(self.user_prompt(&text)),
        ]))
    }

    fn format_output(
        &self,
        _input: &Input<'_>,
        _row: usize,
        generation: &str,
    ) -> Result<Vec<Value>, String> {
        let object = json_object(generation)?;
        let given: Vec<&str> = match object.get("labels") {
            Some(Value::String(label)) => vec![label.as_str()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .ok_or_else(|| format!("`labels` holds {item}, not a text"))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(format!("`labels` holds {other}, not a label or a list")),
            None => return Err("the JSON answer has no `labels` key".to_owned()),
        };
        let mut labels: Vec<String> = Vec::new();
        for label in given {
            let label = label.trim();
            let known = self
                .allowed(label)
                .ok_or_else(|| format!("the label `{label}` is not one of the available labels"))?;
            if !labels.iter().any(|l| l == known) {
                labels.push(known.to_owned());
            }
        }
        if labels.is_empty() {
            return Err("the answer gives no label".to_owned());
        }
        labels.truncate(self.n);
        Ok(vec![if self.n == 1 {
            Value::String(labels.swap_remove(0))
        } else {
            Value::Array(labels.into_iter().map(Value::String).collect())
        }])
    }

    fn response_format(&self) -> Option<Value> {
        self.structured.then(|| {
            serde_json::json!({
                "name": "TextClassification",
                "schema": {
                    "type": "object",
                    "properties": { "labels": self.labels_schema() },
                    "required": ["labels"],
                    "additionalProperties": false,
                },
            })
        })
    }

    fn description(&self) -> Option<Value> {
        let described = self.labels.iter().any(|(_, d)| d.is_some());
        Some(serde_json::json!({
            "system_prompt": self.system_prompt,
            "context": self.context,
            "examples": self.examples,
            "available_labels": self.labels.iter().map(|(l, _)| l).collect::<Vec<_>>(),
            "label_descriptions": described
                .then(|| self.labels.iter().map(|(_, d)| d).collect::<Vec<_>>()),
            "default_label": self.default_label,
            "query_title": self.query_title,
            "structured_output": self.structured,
        }))
    }

    fn task_params(&self) -> Vec<(String, Value)> {
        vec![("n".to_owned(), Value::from(self.n))]
    }

    fn set_task_param(&mut self, name: &str, value: Value) -> Result<(), Option<String>> {
        if name != "n" {
            return Err(None);
        }
        let n = value
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| Some(format!("`n` takes a positive integer, not {value}")))?;
        self.n = n as usize;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::test_support::{MockLlm, input_of, system_text, user_text};
    use serde_json::json;

    fn input() -> crate::batch::Batch {
        input_of(&[("text", vec![json!("The battery died after a day.")])])
    }

    #[test]
    fn prompt_lists_labels_examples_and_the_format() {
        let batch = input();
        let input = Input::new(&batch, &[]);
        let task = TextClassification::new(MockLlm)
            .context("Classify the sentiment.")
            .described_labels([("positive", "the buyer is happy"), ("negative", "unhappy")])
            .examples(["'Love it' -> positive"])
            .query_title("Review");
        let prompt = task.format_input(&input, 0).unwrap();
        assert_eq!(system_text(&prompt).as_deref(), Some(SYSTEM));
        assert_eq!(
            user_text(&prompt),
            "# Instruction\nClassify the text below. Classify the sentiment.\n\n\
             ## Labels\n- positive: the buyer is happy\n- negative: unhappy\n\
             Use only these labels; if none fits, answer \"Unclassified\".\n\n\
             ## Examples\n'Love it' -> positive\n\n\
             ## Review\n```\nThe battery died after a day.\n```\n\n\
             ## Output format\nAnswer with a JSON object only: {\"labels\": \"<label>\"}.\n"
        );
        let free = TextClassification::new(MockLlm).n(3);
        let user = user_text(&free.format_input(&input, 0).unwrap());
        assert!(!user.contains("## Labels"), "{user}");
        assert!(
            user.contains("[\"<label>\", ...]} with at most 3 labels"),
            "{user}"
        );
    }

    #[test]
    fn labels_are_read_from_json_and_checked_against_the_set() {
        let batch = input();
        let input = Input::new(&batch, &[]);
        let one = TextClassification::new(MockLlm).available_labels(["positive", "negative"]);
        assert_eq!(
            one.format_output(&input, 0, "{\"labels\": \"negative\"}")
                .unwrap(),
            [json!("negative")]
        );
        // Case and a fence around the JSON do not matter; the default label is allowed.
        assert_eq!(
            one.format_output(
                &input,
                0,
                "Sure:\n```json\n{\"labels\": [\"Negative\"]}\n```"
            )
            .unwrap(),
            [json!("negative")]
        );
        assert_eq!(
            one.format_output(&input, 0, "{\"labels\": \"unclassified\"}")
                .unwrap(),
            [json!("Unclassified")]
        );
        let many = TextClassification::new(MockLlm).n(2);
        assert_eq!(
            many.format_output(
                &input,
                0,
                "{\"labels\": [\"battery\", \"battery\", \"quality\", \"x\"]}"
            )
            .unwrap(),
            [json!(["battery", "quality"])]
        );
        // Partial: fewer labels than asked for.
        assert_eq!(
            many.format_output(&input, 0, "{\"labels\": \"battery\"}")
                .unwrap(),
            [json!(["battery"])]
        );
        // Malformed answers fail the row with a reason.
        let cases = [
            ("negative", "no JSON object"),
            ("{\"labels\": [\"negative\"", "no JSON object"),
            ("{\"label\": \"negative\"}", "no `labels` key"),
            ("{\"labels\": 3}", "not a label or a list"),
            ("{\"labels\": []}", "no label"),
            (
                "{\"labels\": \"angry\"}",
                "`angry` is not one of the available labels",
            ),
        ];
        for (generation, reason) in cases {
            let error = one.format_output(&input, 0, generation).unwrap_err();
            assert!(error.contains(reason), "{generation}: {error}");
        }
    }

    #[test]
    fn the_structured_output_schema_holds_the_labels() {
        let one = TextClassification::new(MockLlm).available_labels(["a", "b"]);
        assert!(one.response_format().is_none());
        let format = one.structured_output(true).response_format().unwrap();
        assert_eq!(
            format["schema"]["properties"]["labels"],
            json!({"type": "string", "enum": ["a", "b", "Unclassified"]})
        );
        let many = TextClassification::new(MockLlm)
            .n(2)
            .structured_output(true);
        assert_eq!(
            many.response_format().unwrap()["schema"]["properties"]["labels"],
            json!({"type": "array", "items": {"type": "string"}})
        );
        assert_eq!(
            many.spec().outputs[0].data_type,
            DataType::List(Box::new(DataType::String))
        );
    }
}
