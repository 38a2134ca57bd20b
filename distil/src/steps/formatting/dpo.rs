//! DPO formatting: the best and the worst rated generations as a preference pair.

use super::{first_user_message, prompt_id, prompt_messages};
use crate::steps::ChatMessage;
use crate::{Row, step};

/// A direct preference optimization example, in the format of `axolotl` and
/// `alignment-handbook` (after `HuggingFaceH4/ultrafeedback_binarized`).
#[derive(Row, Clone, Debug, PartialEq)]
pub struct DpoExample {
    /// The user's request.
    pub prompt: String,
    /// SHA-256 hex of `prompt`.
    pub prompt_id: String,
    /// The conversation ending with the best rated generation.
    pub chosen: Vec<ChatMessage>,
    /// The model of the chosen generation, when `generation_models` is given.
    pub chosen_model: Option<String>,
    /// The rating of the chosen generation.
    pub chosen_rating: f64,
    /// The conversation ending with the worst rated generation.
    pub rejected: Vec<ChatMessage>,
    /// The model of the rejected generation, when `generation_models` is given.
    pub rejected_model: Option<String>,
    /// The rating of the rejected generation.
    pub rejected_rating: f64,
}

/// The generations of one prompt with their ratings and, optionally, their models.
struct RatedGenerations {
    generations: Vec<Option<String>>,
    models: Option<Vec<Option<String>>>,
    ratings: Vec<Option<f64>>,
}

impl RatedGenerations {
    /// The preference pair of the prompt. `conversation` is what precedes the answers.
    ///
    /// As in distilabel, the chosen generation is the first with the highest rating and the
    /// rejected one the first with the lowest, so equal ratings choose and reject the same
    /// generation. Unlike distilabel, which fails on them, null ratings are skipped (a judge
    /// that could not rate a generation).
    fn pair(self, prompt: String, conversation: Vec<ChatMessage>) -> Result<DpoExample, String> {
        let count = self.generations.len();
        if self.ratings.len() != count {
            return Err(format!(
                "`ratings` has {} values for {count} generations",
                self.ratings.len()
            ));
        }
        if let Some(models) = self.models.as_ref().filter(|m| m.len() != count) {
            return Err(format!(
                "`generation_models` has {} values for {count} generations",
                models.len()
            ));
        }
        let (best, worst) = best_and_worst(&self.ratings)
            .ok_or_else(|| "no generation has a rating; every rating is null".to_owned())?;
        let answer = |i: usize| -> Result<Vec<ChatMessage>, String> {
            let generation = self.generations[i]
                .as_deref()
                .ok_or_else(|| format!("generation {i} is null but has a rating"))?;
            let mut messages = conversation.clone();
            messages.push(ChatMessage::assistant(generation));
            Ok(messages)
        };
        let model = |i: usize| self.models.as_ref().and_then(|m| m[i].clone());
        Ok(DpoExample {
            prompt_id: prompt_id(&prompt),
            prompt,
            chosen: answer(best.0)?,
            chosen_model: model(best.0),
            chosen_rating: best.1,
            rejected: answer(worst.0)?,
            rejected_model: model(worst.0),
            rejected_rating: worst.1,
        })
    }
}

/// `(index, rating)` of the first highest and the first lowest rating, nulls skipped.
fn best_and_worst(ratings: &[Option<f64>]) -> Option<((usize, f64), (usize, f64))> {
    let mut rated = ratings
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|r| (i, r)));
    let first = rated.next()?;
    Some(rated.fold((first, first), |(best, worst), current| {
        (
            if current.1 > best.1 { current } else { best },
            if current.1 < worst.1 { current } else { worst },
        )
    }))
}

/// Formats text generations rated by a judge (such as UltraFeedback) for direct preference
/// optimization. The best rated generation is `chosen`, the worst `rejected`, each as a
/// conversation: a non-empty `system_prompt`, the `instruction`, then the generation.
///
/// Null ratings are skipped. A row where every rating is null, or where `ratings` (or
/// `generation_models`) and `generations` differ in length, is a row error.
///
/// Columns: reads `instruction: String`, `generations: Vec<Option<String>>`,
/// `ratings: Vec<Option<f64>>` and optionally `system_prompt: Option<String>` and
/// `generation_models: Option<Vec<Option<String>>>`; writes `prompt`, `prompt_id`, `chosen`,
/// `chosen_model`, `chosen_rating`, `rejected`, `rejected_model`, `rejected_rating` (see
/// [`DpoExample`]).
///
/// ```
/// use distil::prelude::*;
/// use distil::steps::{DpoExample, FormatTextGenerationDPO, LoadDataFromDicts};
///
/// #[derive(Row)]
/// struct Judged {
///     instruction: String,
///     generations: Vec<Option<String>>,
///     ratings: Vec<Option<f64>>,
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> distil::Result<()> {
/// let rows = vec![Judged {
///     instruction: "What's 2+2?".into(),
///     generations: vec![Some("5".into()), Some("4".into()), None],
///     ratings: vec![Some(2.0), Some(5.0), None],
/// }];
/// let mut pipeline = pipeline! {
///     load = LoadDataFromDicts::<Judged>::new(rows),
///     dpo = FormatTextGenerationDPO::new(),
///     load >> dpo,
/// };
/// let distiset = pipeline.run().await?;
/// let pairs = distiset.default_config().unwrap().rows_as::<DpoExample>().unwrap();
/// assert_eq!(pairs[0].chosen[1], ChatMessage::assistant("4"));
/// assert_eq!(pairs[0].rejected[1], ChatMessage::assistant("5"));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FormatTextGenerationDPO;

impl FormatTextGenerationDPO {
    /// A formatting step.
    pub fn new() -> Self {
        FormatTextGenerationDPO
    }
}

#[step]
impl FormatTextGenerationDPO {
    fn process(
        &self,
        system_prompt: Option<&str>,
        instruction: &str,
        generations: Vec<Option<String>>,
        generation_models: Option<Vec<Option<String>>>,
        ratings: Vec<Option<f64>>,
    ) -> Result<DpoExample, String> {
        let rated = RatedGenerations {
            generations,
            models: generation_models,
            ratings,
        };
        rated.pair(
            instruction.to_owned(),
            prompt_messages(system_prompt, instruction),
        )
    }
}

/// Formats chat generations rated by a judge for direct preference optimization. The best
/// rated generation is `chosen`, the worst `rejected`, each appended to the conversation in
/// `messages`. The prompt is the first user message. A conversation without one is a row
/// error, and ratings are handled as in [`FormatTextGenerationDPO`].
///
/// Columns: reads `messages: Vec<ChatMessage>`, `generations: Vec<Option<String>>`,
/// `ratings: Vec<Option<f64>>` and optionally `generation_models: Option<Vec<Option<String>>>`;
/// writes the columns of [`DpoExample`].
///
/// ```
/// let dpo = distil::steps::FormatChatGenerationDPO::new();
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FormatChatGenerationDPO;

impl FormatChatGenerationDPO {
    /// A formatting step.
    pub fn new() -> Self {
        FormatChatGenerationDPO
    }
}

#[step]
impl FormatChatGenerationDPO {
    fn process(
        &self,
        messages: Vec<ChatMessage>,
        generations: Vec<Option<String>>,
        generation_models: Option<Vec<Option<String>>>,
        ratings: Vec<Option<f64>>,
    ) -> Result<DpoExample, String> {
        let prompt = first_user_message(&messages)?.to_owned();
        let rated = RatedGenerations {
            generations,
            models: generation_models,
            ratings,
        };
        rated.pair(prompt, messages)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::{FormatChatGenerationDPO, FormatTextGenerationDPO, best_and_worst};
    use crate::steps::LoadDataFromDicts;
    use crate::{METADATA_COLUMN, Pipeline, Step};

    async fn formatted(rows: Vec<Value>, step: impl Step) -> Vec<Map<String, Value>> {
        let mut pipeline = Pipeline::new("dpo");
        pipeline.add("load", LoadDataFromDicts::untyped(rows));
        pipeline.add("format", step);
        pipeline.connect("load", "format");
        let distiset = pipeline.run().await.unwrap();
        distiset.default_config().unwrap().rows().collect()
    }

    fn error(row: &Map<String, Value>) -> &Value {
        &row[METADATA_COLUMN]["errors"][0]["message"]
    }

    #[test]
    fn ties_go_to_the_first_and_nulls_are_skipped() {
        let ratings = [None, Some(3.0), Some(1.0), Some(3.0), Some(1.0), None];
        assert_eq!(best_and_worst(&ratings), Some(((1, 3.0), (2, 1.0))));
        assert_eq!(best_and_worst(&[Some(2.0)]), Some(((0, 2.0), (0, 2.0))));
        assert_eq!(best_and_worst(&[None, None]), None);
    }

    #[tokio::test]
    async fn text_generations_become_chosen_and_rejected_conversations() {
        let rows = formatted(
            vec![json!({
                "system_prompt": "Be brief.",
                "instruction": "What's 2+2?",
                "generations": ["4", "5", "6", null],
                "generation_models": ["m0", "m1", "m2", "m3"],
                "ratings": [1, 0, -1, null],
            })],
            FormatTextGenerationDPO::new(),
        )
        .await;
        let row = &rows[0];
        assert_eq!(row["prompt"], json!("What's 2+2?"));
        assert_eq!(
            row["prompt_id"],
            json!("7762ecf17ad41479767061a8f4a7bfa3b63d371672af5180872f9b82b4cd4e29")
        );
        let system = json!({"role": "system", "content": "Be brief."});
        let user = json!({"role": "user", "content": "What's 2+2?"});
        assert_eq!(
            row["chosen"],
            json!([system, user, {"role": "assistant", "content": "4"}])
        );
        assert_eq!(
            row["rejected"],
            json!([system, user, {"role": "assistant", "content": "6"}])
        );
        assert_eq!(
            (&row["chosen_model"], &row["rejected_model"]),
            (&json!("m0"), &json!("m2"))
        );
        assert_eq!(
            (&row["chosen_rating"], &row["rejected_rating"]),
            (&json!(1.0), &json!(-1.0))
        );
    }

    #[tokio::test]
    async fn without_generation_models_the_model_columns_are_null() {
        let rows = formatted(
            vec![json!({
                "instruction": "Hi",
                "generations": ["a", "b"],
                "ratings": [4.5, 7.25],
            })],
            FormatTextGenerationDPO::new(),
        )
        .await;
        assert_eq!(
            rows[0]["chosen"][0],
            json!({"role": "user", "content": "Hi"})
        );
        assert_eq!(rows[0]["chosen"][1]["content"], json!("b"));
        assert_eq!(rows[0]["chosen_rating"], json!(7.25));
        assert_eq!(rows[0]["rejected"][1]["content"], json!("a"));
        assert_eq!(rows[0]["chosen_model"], Value::Null);
        assert_eq!(rows[0]["rejected_model"], Value::Null);
    }

    #[tokio::test]
    async fn unusable_ratings_are_row_errors() {
        let rows = formatted(
            vec![
                json!({"instruction": "a", "generations": ["x", "y"], "ratings": [null, null]}),
                json!({"instruction": "b", "generations": ["x", "y"], "ratings": [1]}),
                json!({"instruction": "c", "generations": ["x", null], "ratings": [1, 2]}),
                json!({"instruction": "d", "generations": ["x", "y"], "ratings": [1, 2]}),
            ],
            FormatTextGenerationDPO::new(),
        )
        .await;
        assert_eq!(
            error(&rows[0]),
            &json!("no generation has a rating; every rating is null")
        );
        assert_eq!(
            error(&rows[1]),
            &json!("`ratings` has 1 values for 2 generations")
        );
        assert_eq!(
            error(&rows[2]),
            &json!("generation 1 is null but has a rating")
        );
        assert_eq!(rows[2]["chosen"], Value::Null);
        assert_eq!(rows[3]["chosen"][1]["content"], json!("y"));
    }

    #[tokio::test]
    async fn chat_generations_extend_the_conversation() {
        let rows = formatted(
            vec![
                json!({
                    "messages": [{"role": "user", "content": "What's 2+2?"}],
                    "generations": ["4", "5", "6"],
                    "ratings": [1, 0, -1],
                }),
                json!({
                    "messages": [{"role": "assistant", "content": "Hello"}],
                    "generations": ["4"],
                    "ratings": [1],
                }),
            ],
            FormatChatGenerationDPO::new(),
        )
        .await;
        let user = json!({"role": "user", "content": "What's 2+2?"});
        assert_eq!(rows[0]["prompt"], json!("What's 2+2?"));
        assert_eq!(
            rows[0]["chosen"],
            json!([user, {"role": "assistant", "content": "4"}])
        );
        assert_eq!(
            rows[0]["rejected"],
            json!([user, {"role": "assistant", "content": "6"}])
        );
        assert_eq!(
            error(&rows[1]),
            &json!("`messages` has no user message to use as the prompt")
        );
    }
}
