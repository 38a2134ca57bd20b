//! EvolInstructGenerator: instructions evolved from nothing but random words, WizardLM's
//! Evol-Instruct without a seed dataset.

use futures_util::future::join_all;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::evol::{INSTRUCTION_MUTATIONS, clean, evolve_instruction_prompt};
use super::{MODEL_NAME_COLUMN, TaskLlm, fatal};
use crate::column::{ColumnSpec, DataType};
use crate::llm::{GenerationParams, Llm, LlmError, Prompt};
use crate::step::{BoxFuture, Output, RunContext, Step, StepKind, StepSpec};
use crate::{Value, step};

/// The words seed instructions are written around: common concrete and abstract nouns.
const NOUNS: &[&str] = &[
    "apple",
    "bridge",
    "budget",
    "camera",
    "carbon",
    "castle",
    "cell",
    "climate",
    "cloud",
    "code",
    "coffee",
    "comet",
    "contract",
    "crystal",
    "culture",
    "database",
    "desert",
    "diagram",
    "dialect",
    "diet",
    "engine",
    "equation",
    "essay",
    "factory",
    "festival",
    "forest",
    "fossil",
    "garden",
    "glacier",
    "grammar",
    "guitar",
    "harbor",
    "history",
    "hospital",
    "hypothesis",
    "island",
    "journey",
    "justice",
    "keyboard",
    "kitchen",
    "ladder",
    "language",
    "lens",
    "library",
    "magnet",
    "market",
    "melody",
    "memory",
    "metaphor",
    "microbe",
    "mirror",
    "molecule",
    "mountain",
    "museum",
    "network",
    "novel",
    "ocean",
    "orbit",
    "orchestra",
    "painting",
    "password",
    "pattern",
    "planet",
    "poem",
    "polygon",
    "portfolio",
    "protein",
    "puzzle",
    "pyramid",
    "quantum",
    "railway",
    "recipe",
    "river",
    "robot",
    "satellite",
    "schedule",
    "sculpture",
    "season",
    "signal",
    "soil",
    "spreadsheet",
    "statistic",
    "storm",
    "strategy",
    "symphony",
    "telescope",
    "theorem",
    "tide",
    "timeline",
    "tournament",
    "treaty",
    "tunnel",
    "vaccine",
    "valley",
    "vector",
    "village",
    "violin",
    "volcano",
    "wallet",
    "harvest",
    "whale",
    "window",
    "winter",
    "workshop",
];

/// Writes [`num_instructions`](Self::num_instructions) instructions from scratch: each row
/// starts with an instruction the LLM writes around three random nouns, then evolves it
/// [`num_evolutions`](Self::num_evolutions) times (1 by default) with a random one of
/// [`EvolInstruct`](super::EvolInstruct)'s mutations. A generator: outputs `instruction` and
/// `model_name`, without an upstream step. The words and mutations of row `i` come from the
/// [`seed`](Self::seed) and `i` alone, so a rerun asks the same questions (and the run's
/// response cache answers them). A row whose LLM call fails, or whose answer is empty, is
/// emitted with a null instruction and its error (the raw answer in its metadata).
///
/// ```no_run
/// use distil::llm::OpenAi;
/// use distil::tasks::EvolInstructGenerator;
///
/// let instructions = EvolInstructGenerator::new(OpenAi::new("gpt-4o-mini"))
///     .num_instructions(100)
///     .num_evolutions(2);
/// ```
#[derive(Clone)]
pub struct EvolInstructGenerator {
    llm: TaskLlm,
    num_instructions: usize,
    num_evolutions: usize,
    seed: u64,
    emitted: usize,
}

impl EvolInstructGenerator {
    /// Ten instructions of one evolution each, with `llm`.
    pub fn new(llm: impl Llm) -> Self {
        EvolInstructGenerator {
            llm: TaskLlm::new(llm),
            num_instructions: 10,
            num_evolutions: 1,
            seed: 42,
            emitted: 0,
        }
    }

    /// Rows to generate.
    #[must_use]
    pub fn num_instructions(mut self, n: usize) -> Self {
        self.num_instructions = n;
        self
    }

    /// Mutations applied to each seed instruction, one after the other (0 keeps the seed).
    #[must_use]
    pub fn num_evolutions(mut self, n: usize) -> Self {
        self.num_evolutions = n;
        self
    }

    /// The seed that picks each row's words and mutations.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sampling temperature.
    #[must_use]
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.llm.params_mut().temperature = Some(temperature);
        self
    }

    /// Tokens to generate at most per request.
    #[must_use]
    pub fn max_new_tokens(mut self, tokens: u64) -> Self {
        self.llm.params_mut().max_new_tokens = Some(tokens);
        self
    }

    /// The words row `row` starts from and the mutations it goes through.
    fn plan(&self, row: usize) -> ([&'static str; 3], Vec<usize>) {
        let mut rng =
            SmallRng::seed_from_u64(self.seed ^ (row as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut words = [""; 3];
        let mut picked = 0;
        while picked < 3 {
            let word = NOUNS[rng.random_range(0..NOUNS.len())];
            if !words[..picked].contains(&word) {
                words[picked] = word;
                picked += 1;
            }
        }
        let mutations = (0..self.num_evolutions)
            .map(|_| rng.random_range(0..INSTRUCTION_MUTATIONS.len()))
            .collect();
        (words, mutations)
    }
}

/// The first prompt of a row: an instruction around three words.
fn seed_prompt(words: &[&str; 3]) -> String {
    format!(
        "Write one instruction or question that a user could give an AI assistant and that involves these words: {}, {} and {}. It should be specific, self-contained and answerable in text.\n\nAnswer with the instruction alone, after `#Instruction#:`.\n\n#Instruction#:\n",
        words[0], words[1], words[2]
    )
}

/// How a row ended: its instruction, or its error and the raw answer that caused it.
enum RowEnd {
    Done(String),
    Failed(String, Option<String>),
}

async fn ask(llm: &dyn Llm, prompt: String, params: &GenerationParams) -> Result<String, LlmError> {
    let generations = llm.generate(&Prompt::from(prompt), params).await?;
    Ok(generations
        .choices
        .into_iter()
        .next()
        .and_then(|c| c.text)
        .unwrap_or_default())
}

/// One row: the seed instruction, then each evolution.
async fn evolve_row(
    llm: &dyn Llm,
    params: &GenerationParams,
    words: [&str; 3],
    mutations: Vec<usize>,
) -> Result<RowEnd, LlmError> {
    let mut prompts = vec![(None, seed_prompt(&words))];
    prompts.extend(mutations.into_iter().map(|m| (Some(m), String::new())));
    let mut current = String::new();
    for (mutation, prompt) in prompts {
        let (prompt, label) = match mutation {
            None => (prompt, "#Instruction#"),
            Some(m) => (
                evolve_instruction_prompt(INSTRUCTION_MUTATIONS[m].1, &current),
                "#Rewritten Prompt#",
            ),
        };
        let answer = match ask(llm, prompt, params).await {
            Ok(answer) => answer,
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => return Ok(RowEnd::Failed(e.message().to_owned(), None)),
        };
        current = match clean(&answer, label) {
            Ok(text) => text,
            Err(message) => return Ok(RowEnd::Failed(message, Some(answer))),
        };
    }
    Ok(RowEnd::Done(current))
}

#[step(dynamic)]
impl Step for EvolInstructGenerator {
    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new("EvolInstructGenerator", StepKind::Generator);
        spec.outputs = vec![
            ColumnSpec::optional("instruction", DataType::String),
            ColumnSpec::new(MODEL_NAME_COLUMN, DataType::String),
        ];
        spec
    }

    fn prepare(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        let checked = self.llm.llm().check().map_err(|e| fatal(e.message()));
        Box::pin(async move { checked })
    }

    fn start(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        self.emitted = 0;
        Box::pin(async { Ok(()) })
    }

    fn attach(&mut self, run: &RunContext) {
        self.llm.attach(run);
    }

    /// Its batches are kept: a resumed run replays them and generates from the row reached.
    fn persists(&self) -> bool {
        true
    }

    fn generate(&mut self, batch_size: usize) -> BoxFuture<'_, crate::Result<Option<Output>>> {
        let rows = batch_size.min(self.num_instructions - self.emitted.min(self.num_instructions));
        let first = self.emitted;
        self.emitted += rows;
        Box::pin(async move {
            if rows == 0 {
                return Ok(None);
            }
            let params = self.llm.effective_params();
            let llm = self.llm.llm().as_ref();
            let ends = join_all((first..first + rows).map(|row| {
                let (words, mutations) = self.plan(row);
                evolve_row(llm, &params, words, mutations)
            }))
            .await;
            let mut output = Output::new_rows(rows);
            let mut instructions = Vec::with_capacity(rows);
            for (row, end) in ends.into_iter().enumerate() {
                match end.map_err(|e| fatal(e.message()))? {
                    RowEnd::Done(instruction) => instructions.push(Value::from(instruction)),
                    RowEnd::Failed(message, raw) => {
                        instructions.push(Value::Null);
                        output.push_error(row, message);
                        if let Some(raw) = raw {
                            output.push_metadata(row, "raw_output", Value::from(raw));
                        }
                    }
                }
            }
            output.push_column("instruction", instructions);
            output.push_column(MODEL_NAME_COLUMN, vec![Value::from(llm.model_name()); rows]);
            Ok(Some(output))
        })
    }

    fn params(&self) -> Vec<(String, Value)> {
        let mut params = vec![
            (
                "num_instructions".to_owned(),
                Value::from(self.num_instructions),
            ),
            (
                "num_evolutions".to_owned(),
                Value::from(self.num_evolutions),
            ),
            ("seed".to_owned(), Value::from(self.seed)),
        ];
        params.extend(self.llm.params().entries());
        params
    }

    fn set_param(&mut self, name: &str, value: Value) -> Result<(), String> {
        let count = |value: &Value| {
            value
                .as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| format!("`{name}` takes a whole number, not {value}"))
        };
        match name {
            "num_instructions" => self.num_instructions = count(&value)?,
            "num_evolutions" => self.num_evolutions = count(&value)?,
            "seed" => self.seed = count(&value)? as u64,
            _ if crate::llm::params::NAMES.contains(&name) => {
                self.llm.params_mut().set(name, value)?;
            }
            _ => {
                let known = self.params();
                let known: Vec<&str> = known.iter().map(|(n, _)| n.as_str()).collect();
                return Err(crate::step::params::unknown_param(name, &known));
            }
        }
        Ok(())
    }

    fn describe(&self) -> Option<Value> {
        Some(serde_json::json!({ "llm": self.llm.llm().describe() }))
    }

    fn report(&self) -> Option<String> {
        Some(super::runner::llm_report(&**self.llm.llm()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{Generation, Generations};
    use std::sync::Mutex;

    /// Answers a seed prompt with the words it names, a rewrite with `evolved: <prompt>`;
    /// prompts naming `window` get an empty answer.
    #[derive(Default)]
    struct Scripted {
        prompts: Mutex<Vec<String>>,
    }

    impl Llm for Scripted {
        fn model_name(&self) -> &str {
            "scripted"
        }
        fn generate<'a>(
            &'a self,
            prompt: &'a Prompt,
            _: &'a GenerationParams,
        ) -> BoxFuture<'a, Result<Generations, LlmError>> {
            let text = prompt.last_user_text().to_owned();
            self.prompts.lock().unwrap().push(text.clone());
            let answer = if text.contains("window") {
                "#Instruction#:  ".to_owned()
            } else if let Some(rest) = text.split("#The Given Prompt#:\n").nth(1) {
                let given = rest.split("\n\n#Rewritten Prompt#").next().unwrap();
                format!("#Rewritten Prompt#: evolved: {given}")
            } else {
                let words = text.split("these words: ").nth(1).unwrap();
                let words = words.split(". It").next().unwrap();
                format!("#Instruction#: \"Use {words}.\"")
            };
            Box::pin(async move { Ok(Generations::one(Generation::text(answer))) })
        }
    }

    #[tokio::test]
    async fn rows_start_from_seeded_words_and_evolve() {
        let llm = std::sync::Arc::new(Scripted::default());
        let mut step = EvolInstructGenerator::new(llm.clone())
            .num_instructions(40)
            .num_evolutions(2)
            .seed(7);
        assert_eq!(
            step.plan(3),
            step.clone().plan(3),
            "a row's plan is its seed's"
        );
        assert_ne!(step.plan(3).0, step.plan(4).0);
        step.start().await.unwrap();
        let mut rows = 0;
        let mut failed = 0;
        while let Some(output) = step.generate(16).await.unwrap() {
            let instructions = output.columns[0].values();
            for (row, instruction) in instructions.iter().enumerate() {
                let (words, _) = step.plan(rows + row);
                if words.contains(&"window") {
                    assert_eq!(instruction, &Value::Null);
                    assert!(
                        output
                            .errors
                            .iter()
                            .any(|(r, m)| *r as usize == row && m.contains("empty"))
                    );
                    failed += 1;
                    continue;
                }
                let expected = format!(
                    "evolved: evolved: Use {}, {} and {}.",
                    words[0], words[1], words[2]
                );
                assert_eq!(instruction, &Value::from(expected));
            }
            assert_eq!(output.columns[1].values()[0], Value::from("scripted"));
            rows += instructions.len();
        }
        assert_eq!(rows, 40);
        assert!(failed > 0, "some row draws `window`");
        // Three requests per row (seed and two evolutions), one for a row failing at its seed.
        assert_eq!(
            llm.prompts.lock().unwrap().len(),
            3 * (40 - failed) + failed
        );
        step.set_param("num_instructions", Value::from(3)).unwrap();
        step.set_param("temperature", Value::from(0.5)).unwrap();
        assert!(step.set_param("nope", Value::from(1)).is_err());
        step.start().await.unwrap();
        assert_eq!(
            step.generate(16).await.unwrap().unwrap().columns[0].len(),
            3
        );
    }
}
