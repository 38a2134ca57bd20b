//! EvolInstructGenerator and EvolComplexityGenerator: instructions evolved from nothing but
//! random words, WizardLM's Evol-Instruct (and DEITA's in-depth variant) without a seed dataset.

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

/// What an Evol generator is: its settings and how it writes its rows. The public
/// generators wrap it, each with its own set of mutations.
#[derive(Clone)]
struct Generator {
    type_name: &'static str,
    /// The generator's mutations: the first this many of [`INSTRUCTION_MUTATIONS`].
    mutations: usize,
    llm: TaskLlm,
    num_instructions: usize,
    num_evolutions: usize,
    seed: u64,
    generate_answers: bool,
    emitted: usize,
}

impl Generator {
    fn new(type_name: &'static str, mutations: usize, llm: TaskLlm) -> Self {
        Generator {
            type_name,
            mutations,
            llm,
            num_instructions: 10,
            num_evolutions: 1,
            seed: 42,
            generate_answers: false,
            emitted: 0,
        }
    }

    /// The generator a pipeline file records (its counts and seed are runtime parameters).
    fn from_settings(
        type_name: &'static str,
        mutations: usize,
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Self, String> {
        let mut generator =
            Generator::new(type_name, mutations, TaskLlm::new(settings.llm("llm")?));
        generator.generate_answers = settings.optional("generate_answers")?.unwrap_or_default();
        Ok(generator)
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
            .map(|_| rng.random_range(0..self.mutations))
            .collect();
        (words, mutations)
    }

    fn spec(&self) -> StepSpec {
        let mut spec = StepSpec::new(self.type_name, StepKind::Generator);
        spec.outputs = vec![ColumnSpec::optional("instruction", DataType::String)];
        if self.generate_answers {
            spec.outputs
                .push(ColumnSpec::optional("answer", DataType::String));
        }
        spec.outputs
            .push(ColumnSpec::new(MODEL_NAME_COLUMN, DataType::String));
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

    /// Row `i` depends on the seed and `i` alone: skipping rows is counting them.
    fn skip(&mut self, rows: usize) -> crate::Result<()> {
        let left = self.num_instructions.saturating_sub(self.emitted);
        if rows > left {
            return Err(crate::Error::msg(format!(
                "an earlier run generated {rows} rows where this one generates {left}"
            )));
        }
        self.emitted += rows;
        Ok(())
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
                evolve_row(llm, &params, words, mutations, self.generate_answers)
            }))
            .await;
            let mut output = Output::new_rows(rows);
            let mut instructions = Vec::with_capacity(rows);
            let mut answers = Vec::with_capacity(rows);
            for (row, end) in ends.into_iter().enumerate() {
                match end.map_err(|e| fatal(e.message()))? {
                    RowEnd::Done(instruction, answer) => {
                        instructions.push(Value::from(instruction));
                        answers.push(answer.map_or(Value::Null, Value::from));
                    }
                    RowEnd::Failed(message, raw) => {
                        instructions.push(Value::Null);
                        answers.push(Value::Null);
                        output.push_error(row, message);
                        if let Some(raw) = raw {
                            output.push_metadata(row, "raw_output", Value::from(raw));
                        }
                    }
                }
            }
            output.push_column("instruction", instructions);
            if self.generate_answers {
                output.push_column("answer", answers);
            }
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
        // `seed` is the generator's (the words and mutations), not the LLM's.
        params.extend(
            self.llm
                .params()
                .entries()
                .into_iter()
                .filter(|(name, _)| name != "seed"),
        );
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

    fn describe(&self) -> Value {
        serde_json::json!({
            "llm": self.llm.llm().describe(),
            "generate_answers": self.generate_answers,
        })
    }

    fn report(&self) -> String {
        super::runner::llm_report(&**self.llm.llm())
    }
}

/// A generator of evolved instructions: the public type, its builders and its [`Step`].
macro_rules! evol_generator {
    ($(#[$doc:meta])* $name:ident, $mutations:expr) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            core: Generator,
        }

        impl $name {
            /// Ten instructions of one evolution each, with `llm`.
            pub fn new(llm: impl Llm) -> Self {
                $name {
                    core: Generator::new(stringify!($name), $mutations, TaskLlm::new(llm)),
                }
            }

            /// The generator a pipeline file records.
            pub(crate) fn from_settings(
                settings: &crate::step::StepSettings<'_>,
            ) -> Result<Box<dyn Step>, String> {
                let core = Generator::from_settings(stringify!($name), $mutations, settings)?;
                Ok(Box::new($name { core }))
            }

            /// Rows to generate.
            #[must_use]
            pub fn num_instructions(mut self, n: usize) -> Self {
                self.core.num_instructions = n;
                self
            }

            /// Mutations applied to each seed instruction, one after the other (0 keeps the
            /// seed).
            #[must_use]
            pub fn num_evolutions(mut self, n: usize) -> Self {
                self.core.num_evolutions = n;
                self
            }

            /// The seed that picks each row's words and mutations.
            #[must_use]
            pub fn seed(mut self, seed: u64) -> Self {
                self.core.seed = seed;
                self
            }

            /// Also answers each final instruction (one more request per row), in an
            /// `answer` column.
            #[must_use]
            pub fn generate_answers(mut self, answers: bool) -> Self {
                self.core.generate_answers = answers;
                self
            }

            /// Sampling temperature.
            #[must_use]
            pub fn temperature(mut self, temperature: f64) -> Self {
                self.core.llm.params_mut().temperature = Some(temperature);
                self
            }

            /// Tokens to generate at most per request.
            #[must_use]
            pub fn max_new_tokens(mut self, tokens: u64) -> Self {
                self.core.llm.params_mut().max_new_tokens = Some(tokens);
                self
            }
        }

        #[step(dynamic)]
        impl Step for $name {
            fn spec(&self) -> StepSpec {
                self.core.spec()
            }

            fn prepare(&mut self) -> BoxFuture<'_, crate::Result<()>> {
                self.core.prepare()
            }

            fn start(&mut self) -> BoxFuture<'_, crate::Result<()>> {
                self.core.start()
            }

            fn attach(&mut self, run: &RunContext) {
                self.core.llm.attach(run);
            }

            /// Its batches are kept: a resumed run replays them and generates from the row
            /// reached.
            fn persists(&self) -> bool {
                true
            }

            fn generate(
                &mut self,
                batch_size: usize,
            ) -> BoxFuture<'_, crate::Result<Option<Output>>> {
                self.core.generate(batch_size)
            }

            /// Seeks: a resumed run sends no request for the rows it replays.
            fn skip(&mut self, rows: usize, _batch_size: usize) -> BoxFuture<'_, crate::Result<()>> {
                let skipped = self.core.skip(rows);
                Box::pin(async move { skipped })
            }

            fn params(&self) -> Vec<(String, Value)> {
                self.core.params()
            }

            fn set_param(&mut self, name: &str, value: Value) -> Result<(), String> {
                self.core.set_param(name, value)
            }

            fn describe(&self) -> Option<Value> {
                Some(self.core.describe())
            }

            fn report(&self) -> Option<String> {
                Some(self.core.report())
            }

            fn llm_in_use(&self) -> Option<std::sync::Arc<dyn Llm>> {
                Some(self.core.llm.llm().clone())
            }
        }
    };
}

evol_generator!(
    /// Writes [`num_instructions`](Self::num_instructions) instructions from scratch (WizardLM's
    /// Evol-Instruct without a seed dataset, distilabel's `EvolInstructGenerator`): each row
    /// starts with an instruction the LLM writes around three random nouns, then evolves it
    /// [`num_evolutions`](Self::num_evolutions) times (1 by default) with a random one of
    /// [`EvolInstruct`](super::EvolInstruct)'s mutations. A generator: outputs `instruction`,
    /// with [`generate_answers`](Self::generate_answers) an `answer`, and `model_name`,
    /// without an upstream step. The words and mutations of row `i` come from the
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
    EvolInstructGenerator,
    INSTRUCTION_MUTATIONS.len()
);

evol_generator!(
    /// [`EvolInstructGenerator`] with DEITA's in-depth mutations only, those of
    /// [`EvolComplexity`](super::EvolComplexity) (distilabel's `EvolComplexityGenerator`):
    /// each evolution makes the instruction harder (a constraint, more depth, more concrete
    /// concepts, more reasoning steps, structured input), never a new one in a rarer domain.
    /// The same outputs, seeding and failures.
    ///
    /// ```no_run
    /// use distil::llm::OpenAi;
    /// use distil::tasks::EvolComplexityGenerator;
    ///
    /// let hard = EvolComplexityGenerator::new(OpenAi::new("gpt-4o-mini"))
    ///     .num_instructions(100)
    ///     .num_evolutions(3)
    ///     .generate_answers(true);
    /// ```
    EvolComplexityGenerator,
    super::evol::COMPLEXITY_MUTATIONS
);

fn seed_prompt(words: &[&str; 3]) -> String {
    format!(
        "Write one instruction or question that a user could give an AI assistant and that involves these words: {}, {} and {}. It should be specific, self-contained and answerable in text.\n\nAnswer with the instruction alone, after `#Instruction#:`.\n\n#Instruction#:\n",
        words[0], words[1], words[2]
    )
}

/// How a row ended: its instruction (and answer), or its error and the raw answer that
/// caused it.
enum RowEnd {
    Done(String, Option<String>),
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

/// One row: the seed instruction, then each evolution, then (when asked) its answer.
async fn evolve_row(
    llm: &dyn Llm,
    params: &GenerationParams,
    words: [&str; 3],
    mutations: Vec<usize>,
    answer: bool,
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
    if !answer {
        return Ok(RowEnd::Done(current, None));
    }
    let response = match ask(llm, current.clone(), params).await {
        Ok(response) => response,
        Err(e) if e.is_fatal() => return Err(e),
        Err(e) => return Ok(RowEnd::Failed(e.message().to_owned(), None)),
    };
    if response.trim().is_empty() {
        return Ok(RowEnd::Failed(
            "the model wrote an empty answer".to_owned(),
            Some(response),
        ));
    }
    Ok(RowEnd::Done(current, Some(response.trim().to_owned())))
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
            step.core.plan(3),
            step.clone().core.plan(3),
            "a row's plan is its seed's"
        );
        assert_ne!(step.core.plan(3).0, step.core.plan(4).0);
        step.start().await.unwrap();
        let mut rows = 0;
        let mut failed = 0;
        while let Some(output) = step.generate(16).await.unwrap() {
            let instructions = output.columns[0].values();
            for (row, instruction) in instructions.iter().enumerate() {
                let (words, _) = step.core.plan(rows + row);
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

#[cfg(test)]
mod complexity_tests {
    use super::*;
    use crate::tasks::test_support::MockLlm;

    #[test]
    fn evol_complexity_draws_only_in_depth_mutations() {
        let complexity = EvolComplexityGenerator::new(MockLlm).num_evolutions(8);
        let instruct = EvolInstructGenerator::new(MockLlm).num_evolutions(8);
        let drawn = |plan: &dyn Fn(usize) -> Vec<usize>| -> std::collections::BTreeSet<usize> {
            (0..200).flat_map(plan).collect()
        };
        let deep = drawn(&|row| complexity.core.plan(row).1);
        let all = drawn(&|row| instruct.core.plan(row).1);
        assert_eq!(deep, (0..5).collect());
        assert_eq!(all, (0..6).collect());
        assert_eq!(
            INSTRUCTION_MUTATIONS[5].0, "breadth",
            "the one mutation left out"
        );
        assert_eq!(complexity.spec().type_name, "EvolComplexityGenerator");
        let columns =
            |spec: StepSpec| -> Vec<String> { spec.outputs.into_iter().map(|c| c.name).collect() };
        assert_eq!(
            columns(complexity.clone().generate_answers(true).spec()),
            ["instruction", "answer", "model_name"]
        );
        assert_eq!(columns(complexity.spec()), ["instruction", "model_name"]);
    }
}
