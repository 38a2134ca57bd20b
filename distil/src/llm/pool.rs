//! Several LLMs behind one task: each request goes to one of them, in turn or at random.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng;

use super::{GenerationParams, Generations, Llm, LlmError, Prompt, Usage};
use crate::step::BoxFuture;

/// How a pool picks the LLM of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolStrategy {
    /// Each LLM in turn.
    RoundRobin,
    /// One at random for each request.
    Random,
}

/// Several LLMs as one (distilabel 0.x's `LLMPool`): each request (one per row) goes to one
/// member, so one task spreads its rows over several models, e.g. to build a preference
/// dataset from one generation step. The pool's own `model_name` is its members' names joined
/// by `|`; the task runner writes one `model_name` per batch, so the pool keeps a log of which
/// member gave which answer: [`answered_by`](LlmPool::answered_by).
/// [`PooledGeneration`](crate::tasks::PooledGeneration) uses it to write the answering model
/// of each row to its `generation_model` column.
///
/// ```
/// use std::sync::Arc;
/// use distil::llm::{Llm, LlmPool, OpenAi, PoolStrategy};
///
/// let a: Arc<dyn Llm> = Arc::new(OpenAi::new("model-a").base_url("http://127.0.0.1:8000/v1"));
/// let b: Arc<dyn Llm> = Arc::new(OpenAi::new("model-b").base_url("http://127.0.0.1:8001/v1"));
/// let pool = LlmPool::new(vec![a, b]).strategy(PoolStrategy::Random);
/// assert_eq!(pool.model_name(), "model-a|model-b");
/// ```
#[derive(Clone)]
pub struct LlmPool {
    members: Arc<[Arc<dyn Llm>]>,
    strategy: PoolStrategy,
    next: Arc<AtomicUsize>,
    name: String,
    answers: Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<usize>>>>,
}

impl std::fmt::Debug for LlmPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmPool")
            .field("models", &self.name)
            .field("strategy", &self.strategy)
            .finish()
    }
}

impl LlmPool {
    /// A round-robin pool of `members` (at least one).
    ///
    /// # Panics
    /// When `members` is empty.
    pub fn new(members: Vec<Arc<dyn Llm>>) -> Self {
        assert!(!members.is_empty(), "an LLM pool needs at least one LLM");
        let name = members
            .iter()
            .map(|m| m.model_name().to_owned())
            .collect::<Vec<_>>()
            .join("|");
        LlmPool {
            members: members.into(),
            strategy: PoolStrategy::RoundRobin,
            next: Arc::new(AtomicUsize::new(0)),
            name,
            answers: Arc::default(),
        }
    }

    /// How a request's LLM is picked.
    #[must_use]
    pub fn strategy(mut self, strategy: PoolStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// The members.
    pub fn members(&self) -> &[Arc<dyn Llm>] {
        &self.members
    }

    /// The model that generated `text` (the oldest unclaimed answer with this text), and
    /// forgets it: how a task records per row which member answered.
    pub fn answered_by(&self, text: &str) -> Option<String> {
        let mut answers = self.answers.lock().expect("not poisoned");
        let who = answers.get_mut(text)?;
        let member = (!who.is_empty()).then(|| who.remove(0))?;
        if who.is_empty() {
            answers.remove(text);
        }
        Some(self.members[member].model_name().to_owned())
    }

    /// The pool a pipeline file records (`provider: pool`, its strategy and each member as its
    /// own LLM records it), each member rebuilt by `member`.
    pub(crate) fn from_settings(
        settings: &crate::settings::Settings<'_>,
        member: &crate::step::LlmBuilder<'_>,
    ) -> Result<LlmPool, String> {
        let strategy = match settings.get::<String>("strategy")?.as_str() {
            "RoundRobin" => PoolStrategy::RoundRobin,
            "Random" => PoolStrategy::Random,
            other => {
                return Err(format!(
                    "`{}`: `{other}` is no pool strategy; use RoundRobin or Random",
                    settings.key_path("strategy")
                ));
            }
        };
        let members_key = settings.key_path("members");
        let members = match settings.value("members") {
            Some(crate::Value::Array(members)) if !members.is_empty() => members,
            _ => return Err(format!("`{members_key}` must be a list of LLMs")),
        };
        let members = members
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let path = format!("{members_key}[{i}]");
                match entry {
                    crate::Value::Object(entries) => {
                        member(&crate::settings::Settings::new(path, entries))
                    }
                    other => Err(format!("`{path}` must be an LLM, not {other}")),
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(LlmPool::new(members).strategy(strategy))
    }

    fn pick(&self) -> usize {
        match self.strategy {
            PoolStrategy::RoundRobin => {
                self.next.fetch_add(1, Ordering::Relaxed) % self.members.len()
            }
            PoolStrategy::Random => rand::rng().random_range(0..self.members.len()),
        }
    }
}

impl Llm for LlmPool {
    fn model_name(&self) -> &str {
        &self.name
    }

    fn provider(&self) -> &str {
        "pool"
    }

    fn generate<'a>(
        &'a self,
        prompt: &'a Prompt,
        params: &'a GenerationParams,
    ) -> BoxFuture<'a, Result<Generations, LlmError>> {
        Box::pin(async move {
            let member = self.pick();
            let generations = self.members[member].generate(prompt, params).await?;
            let mut answers = self.answers.lock().expect("not poisoned");
            for choice in &generations.choices {
                if let Some(text) = &choice.text {
                    answers.entry(text.clone()).or_default().push(member);
                }
            }
            Ok(generations)
        })
    }

    fn max_concurrency(&self) -> usize {
        self.members.iter().map(|m| m.max_concurrency()).sum()
    }

    fn check(&self) -> Result<(), LlmError> {
        self.members.iter().try_for_each(|m| m.check())
    }

    fn usage(&self) -> Usage {
        self.members
            .iter()
            .fold(Usage::default(), |total, m| total + m.usage())
    }

    fn describe(&self) -> crate::Value {
        serde_json::json!({
            "provider": "pool",
            "strategy": format!("{:?}", self.strategy),
            "members": self.members.iter().map(|m| m.describe()).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Generation;

    struct Named(&'static str);

    impl Llm for Named {
        fn model_name(&self) -> &str {
            self.0
        }
        fn generate<'a>(
            &'a self,
            prompt: &'a Prompt,
            _: &'a GenerationParams,
        ) -> BoxFuture<'a, Result<Generations, LlmError>> {
            let text = format!("{} says {}", self.0, prompt.last_user_text());
            Box::pin(async move { Ok(Generations::one(Generation::text(text))) })
        }
    }

    #[tokio::test]
    async fn round_robin_spreads_requests_and_records_who_answered() {
        let pool = LlmPool::new(vec![Arc::new(Named("a")), Arc::new(Named("b"))]);
        assert_eq!(pool.model_name(), "a|b");
        let params = GenerationParams::default();
        let mut texts = Vec::new();
        for i in 0..4 {
            let prompt = Prompt::from(format!("q{i}"));
            let answer = pool.generate(&prompt, &params).await.unwrap();
            texts.push(answer.choices[0].text.clone().unwrap());
        }
        assert_eq!(texts, ["a says q0", "b says q1", "a says q2", "b says q3"]);
        assert_eq!(pool.answered_by("b says q1").as_deref(), Some("b"));
        assert_eq!(
            pool.answered_by("b says q1"),
            None,
            "an answer is claimed once"
        );
    }

    #[tokio::test]
    async fn random_uses_every_member_eventually() {
        let pool = LlmPool::new(vec![Arc::new(Named("a")), Arc::new(Named("b"))])
            .strategy(PoolStrategy::Random);
        let params = GenerationParams::default();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..64 {
            let prompt = Prompt::from(format!("q{i}"));
            let text = pool.generate(&prompt, &params).await.unwrap().choices[0]
                .text
                .clone()
                .unwrap();
            seen.insert(pool.answered_by(&text).unwrap());
        }
        assert_eq!(seen.len(), 2);
    }
}
