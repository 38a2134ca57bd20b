//! The client core every HTTP provider shares: connection pool, concurrency limit, rate limits,
//! retries with exponential backoff and jitter (honouring `Retry-After`), a per-request timeout
//! and usage accounting. A provider only says how its requests and answers look (a [`Wire`]).

mod limits;
mod proxy;
mod transport;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rand::Rng;
use tokio::sync::Semaphore;

use limits::Limiter;
pub use limits::RateLimits;
use transport::{Endpoint, Transport};

use super::providers::Wire;
use super::{GenerationParams, Generations, Llm, LlmError, Prompt, Usage};
use crate::Secret;
use crate::http::retry::RetryPolicy;
use crate::http::{error_message, retry_after};
use crate::step::BoxFuture;

/// An LLM behind an HTTP API: [`OpenAi`](super::OpenAi), [`Anthropic`](super::Anthropic),
/// [`AzureOpenAi`](super::AzureOpenAi) and [`HuggingFace`](super::HuggingFace) are this client
/// with their own [`Wire`]. Clones share the connection pool, the concurrency limit, the rate
/// limits and the usage counters, so several tasks on one endpoint share one budget. A builder
/// method that changes the URL, the key, the proxy, the concurrency or the rate limits gives
/// its result a budget of its own; generation parameters, the timeout and the retry policy may
/// differ between clones that share one.
pub struct Client<W: Wire> {
    wire: W,
    model: String,
    base_url: String,
    key: Option<Secret>,
    /// Where the key comes from, for messages: an environment variable or "api_key(..)".
    key_source: String,
    /// Whether a run may not start without a key (hosted APIs; not local servers).
    key_required: bool,
    proxy: ProxySetting,
    max_concurrency: usize,
    timeout: Duration,
    retry: RetryPolicy,
    limits: RateLimits,
    params: GenerationParams,
    shared: Arc<OnceLock<Core>>,
}

impl<W: Wire> Clone for Client<W> {
    fn clone(&self) -> Self {
        Client {
            wire: self.wire.clone(),
            model: self.model.clone(),
            base_url: self.base_url.clone(),
            key: self.key.clone(),
            key_source: self.key_source.clone(),
            key_required: self.key_required,
            proxy: self.proxy.clone(),
            max_concurrency: self.max_concurrency,
            timeout: self.timeout,
            retry: self.retry,
            limits: self.limits,
            params: self.params.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<W: Wire> std::fmt::Debug for Client<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("provider", &self.wire.provider())
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .field("api_key", &self.key.as_ref().map(|_| "***"))
            .field("max_concurrency", &self.max_concurrency)
            .finish()
    }
}

/// Where the proxy comes from.
#[derive(Clone)]
enum ProxySetting {
    FromEnv,
    /// Holds credentials, so it is never printed.
    Url(String),
    None,
}

/// Header lines with the key: never printed.
struct Head(Vec<u8>);

impl std::fmt::Debug for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// What clones share.
struct Core {
    /// The connections, or why the base URL cannot be used.
    transport: Result<Transport, String>,
    /// The paths chat prompts and raw prompts go to.
    chat_path: String,
    text_path: String,
    /// The request's header lines (content type, key), rendered once.
    head: Head,
    permits: Semaphore,
    limiter: Limiter,
    requests: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
}

/// Default requests in flight per client.
pub const DEFAULT_MAX_CONCURRENCY: usize = 64;

impl<W: Wire> Client<W> {
    /// A client for `model` at `base_url`, with the key read from the environment variable
    /// `key_variable` (when set).
    pub(crate) fn with_wire(
        wire: W,
        model: impl Into<String>,
        base_url: impl Into<String>,
        key_variable: Option<&str>,
        key_required: bool,
    ) -> Self {
        let key = key_variable
            .and_then(|var| std::env::var(var).ok())
            .filter(|k| !k.trim().is_empty())
            .map(Secret::new);
        Client {
            wire,
            model: model.into(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            key,
            key_source: key_variable.unwrap_or("api_key(..)").to_owned(),
            key_required,
            proxy: ProxySetting::FromEnv,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            timeout: Duration::from_secs(120),
            retry: RetryPolicy {
                max_attempts: 6,
                initial_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(60),
            },
            limits: RateLimits::default(),
            params: GenerationParams::default(),
            shared: Arc::new(OnceLock::new()),
        }
    }

    fn reconfigured(mut self) -> Self {
        self.shared = Arc::new(OnceLock::new());
        self
    }

    /// The API's base URL (`…/v1` for OpenAI-compatible servers). A run against another URL
    /// than the provider's own may start without a key: local servers need none, and one that
    /// does answers 401, which stops the run naming the key's variable.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into().trim_end_matches('/').to_owned();
        self.key_required = false;
        self.reconfigured()
    }

    /// The API key, instead of the provider's environment variable.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(Secret::new(key));
        self.key_source = "api_key(..)".to_owned();
        self.reconfigured()
    }

    /// Sends requests through the HTTP proxy at `url` (`http://[user:password@]host:port`),
    /// through its CONNECT tunnel, instead of the one `HTTPS_PROXY` / `HTTP_PROXY` /
    /// `ALL_PROXY` name (minus the hosts `NO_PROXY` lists), which is the default.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = ProxySetting::Url(url.into());
        self.reconfigured()
    }

    /// Connects directly, whatever the proxy variables say.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxySetting::None;
        self.reconfigured()
    }

    /// Requests in flight at most (default 64).
    pub fn max_concurrency(mut self, requests: usize) -> Self {
        self.max_concurrency = requests.max(1);
        self.reconfigured()
    }

    /// Time one attempt may take, answer included (default 120 s); a timed-out attempt is
    /// retried.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retries of a request after 408, 409, 429, 5xx, a connection error or a timeout
    /// (default: 6 attempts, from 0.5 s doubling up to 60 s, with jitter).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Requests and tokens per minute at most.
    pub fn rate_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self.reconfigured()
    }

    /// Generation parameters for every request of this LLM (a task's override them).
    pub fn params(mut self, params: GenerationParams) -> Self {
        self.params = params;
        self
    }

    /// Sampling temperature.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.params.temperature = Some(temperature);
        self
    }

    /// Tokens to generate at most.
    pub fn max_new_tokens(mut self, tokens: u64) -> Self {
        self.params.max_new_tokens = Some(tokens);
        self
    }

    /// Nucleus sampling.
    pub fn top_p(mut self, top_p: f64) -> Self {
        self.params.top_p = Some(top_p);
        self
    }

    fn core(&self) -> &Core {
        self.shared.get_or_init(|| Core {
            transport: self.transport(),
            chat_path: self.path(&Prompt::Chat(Vec::new())),
            text_path: self.path(&Prompt::Text(String::new())),
            head: self.head(),
            permits: Semaphore::new(self.max_concurrency),
            limiter: Limiter::new(self.limits),
            requests: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            input_tokens: AtomicU64::new(0),
            output_tokens: AtomicU64::new(0),
        })
    }

    fn transport(&self) -> Result<Transport, String> {
        let (endpoint, _) = self.endpoint()?;
        let proxy = match &self.proxy {
            ProxySetting::FromEnv => proxy::Proxy::from_env(&endpoint),
            ProxySetting::Url(url) => proxy::Proxy::parse(url).map(Some),
            ProxySetting::None => Ok(None),
        }
        .map_err(|e| format!("{}: {e}", self.wire.provider()))?;
        Ok(Transport::new(endpoint, proxy))
    }

    fn endpoint(&self) -> Result<(Endpoint, String), String> {
        let url = self
            .wire
            .url(&self.base_url, &self.model, &Prompt::Chat(Vec::new()));
        Endpoint::parse(&url).map_err(|e| format!("{}: {e}", self.wire.provider()))
    }

    fn path(&self, prompt: &Prompt) -> String {
        let url = self.wire.url(&self.base_url, &self.model, prompt);
        Endpoint::parse(&url).map_or_else(|_| "/".to_owned(), |(_, path)| path)
    }

    fn head(&self) -> Head {
        let mut head = b"Content-Type: application/json\r\n".to_vec();
        if let Some(key) = &self.key {
            for (name, value) in self.wire.auth_headers(key) {
                head.extend_from_slice(name.as_bytes());
                head.extend_from_slice(b": ");
                // A line break in a key would end the header early: drop it.
                head.extend(value.bytes().filter(|b| *b != b'\r' && *b != b'\n'));
                head.extend_from_slice(b"\r\n");
            }
        }
        Head(head)
    }

    /// Removes the key from a message that might echo it.
    fn scrub(&self, message: String) -> String {
        match &self.key {
            Some(key) if !key.expose().is_empty() => message.replace(key.expose(), "***"),
            _ => message,
        }
    }

    async fn send(
        &self,
        prompt: &Prompt,
        params: &GenerationParams,
    ) -> Result<Generations, LlmError> {
        let core = self.core();
        let _permit = core.permits.acquire().await.expect("never closed");
        let provider = self.wire.provider();
        let transport = core
            .transport
            .as_ref()
            .map_err(|e| LlmError::fatal(e.clone()))?;
        let path = match prompt {
            Prompt::Chat(_) => &core.chat_path,
            Prompt::Text(_) => &core.text_path,
        };
        let body = self.wire.body(&self.model, prompt, params)?;
        let estimate = prompt.chars() as u64 / 4 + params.max_new_tokens.unwrap_or(256);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut unreachable = false;
            core.limiter.acquire(estimate).await;
            let outcome = transport
                .post(path, &core.head.0, &body, self.timeout)
                .await;
            let (failure, server_delay) = match outcome {
                Ok(answer) => {
                    core.limiter.learn(|name| answer.header(name));
                    if (200..300).contains(&answer.status) {
                        return self.finish(core, estimate, self.wire.parse(&answer.body));
                    }
                    let said = self.scrub(error_message(&String::from_utf8_lossy(&answer.body)));
                    if !is_retryable_status(answer.status) {
                        core.failed.fetch_add(1, Ordering::Relaxed);
                        core.limiter.used(estimate, 0);
                        return Err(self.status_error(answer.status, &said));
                    }
                    let delay = retry_after(answer.header("retry-after").map(str::as_bytes));
                    if let Some(delay) = delay {
                        core.limiter.pause(delay.min(self.retry.max_delay));
                    }
                    (format!("HTTP {}: {said}", answer.status), delay)
                }
                Err(e) if e.retryable => {
                    unreachable = e.unreachable;
                    (self.scrub(e.message), None)
                }
                Err(e) => {
                    core.failed.fetch_add(1, Ordering::Relaxed);
                    core.limiter.used(estimate, 0);
                    return Err(LlmError::row(format!(
                        "{provider}: {}",
                        self.scrub(e.message)
                    )));
                }
            };
            core.limiter.used(estimate, 0);
            match self.retry.delay_after(attempt, server_delay) {
                Some(delay) => {
                    core.retries.fetch_add(1, Ordering::Relaxed);
                    // Jitter spreads the retries of many rows that failed together.
                    let delay = if server_delay.is_some() {
                        delay
                    } else {
                        delay.mul_f64(rand::rng().random_range(0.5..1.0))
                    };
                    tracing::debug!(provider, attempt, ?delay, %failure, "retrying LLM request");
                    tokio::time::sleep(delay).await;
                }
                None => {
                    core.failed.fetch_add(1, Ordering::Relaxed);
                    // An endpoint never reached is a wrong URL or a server that is down: every
                    // row would fail the same way.
                    if unreachable && core.requests.load(Ordering::Relaxed) == 0 {
                        return Err(LlmError::fatal(format!(
                            "{provider} cannot be reached at {} ({attempt} attempts; last: {failure}); check the base URL and that the server is up",
                            self.base_url
                        )));
                    }
                    return Err(LlmError::row(format!(
                        "{provider} kept failing after {attempt} attempts; last: {failure}"
                    )));
                }
            }
        }
    }

    fn finish(
        &self,
        core: &Core,
        estimate: u64,
        parsed: Result<Generations, String>,
    ) -> Result<Generations, LlmError> {
        match parsed {
            Ok(generations) => {
                let input = generations.input_tokens.unwrap_or(0);
                let output = generations.output_tokens.unwrap_or(0);
                core.requests.fetch_add(1, Ordering::Relaxed);
                core.input_tokens.fetch_add(input, Ordering::Relaxed);
                core.output_tokens.fetch_add(output, Ordering::Relaxed);
                core.limiter.used(estimate, input + output);
                Ok(generations)
            }
            Err(message) => {
                core.failed.fetch_add(1, Ordering::Relaxed);
                core.limiter.used(estimate, 0);
                Err(LlmError::row(format!(
                    "{}: malformed answer: {}",
                    self.wire.provider(),
                    self.scrub(message)
                )))
            }
        }
    }

    /// The error for a final non-success answer: a rejected key or a missing model stops the
    /// run, anything else (an over-long prompt, a bad parameter) fails the row.
    fn status_error(&self, status: u16, said: &str) -> LlmError {
        let provider = self.wire.provider();
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        match status {
            401 | 403 => {
                let key = match &self.key {
                    None => format!("no API key was sent; set {}", self.key_source),
                    Some(_) => format!("check the key in {}", self.key_source),
                };
                LlmError::fatal(format!(
                    "{provider} rejected the request with HTTP {status}{said}; {key}"
                ))
            }
            404 => LlmError::fatal(format!(
                "{provider} answered HTTP 404 for model `{}` at {}{said}; check the model name and the base URL",
                self.model, self.base_url
            )),
            _ => LlmError::row(format!("{provider} answered HTTP {status}{said}")),
        }
    }
}

/// 408 (timeout), 409 (conflict, e.g. a model still loading), 429 and 5xx may pass.
fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 429 | 500..=599)
}

impl<W: Wire> Llm for Client<W> {
    fn model_name(&self) -> &str {
        &self.model
    }

    fn provider(&self) -> &str {
        self.wire.provider()
    }

    fn generate<'a>(
        &'a self,
        prompt: &'a Prompt,
        params: &'a GenerationParams,
    ) -> BoxFuture<'a, Result<Generations, LlmError>> {
        Box::pin(self.send(prompt, params))
    }

    fn max_concurrency(&self) -> usize {
        self.max_concurrency
    }

    fn params(&self) -> GenerationParams {
        self.params.clone()
    }

    fn check(&self) -> Result<(), LlmError> {
        if self.key.is_none() && self.key_required {
            return Err(LlmError::fatal(format!(
                "{} needs an API key: set {} (or call `.api_key(..)`)",
                self.wire.provider(),
                self.key_source
            )));
        }
        Ok(())
    }

    fn usage(&self) -> Usage {
        let Some(core) = self.shared.get() else {
            return Usage::default();
        };
        Usage {
            requests: core.requests.load(Ordering::Relaxed),
            failed: core.failed.load(Ordering::Relaxed),
            retries: core.retries.load(Ordering::Relaxed),
            input_tokens: core.input_tokens.load(Ordering::Relaxed),
            output_tokens: core.output_tokens.load(Ordering::Relaxed),
        }
    }

    fn describe(&self) -> crate::Value {
        serde_json::json!({
            "provider": self.wire.provider(),
            "model": self.model,
            "base_url": self.base_url,
            "max_concurrency": self.max_concurrency,
            "timeout_secs": self.timeout.as_secs_f64(),
            "requests_per_minute": self.limits.requests_per_minute,
            "tokens_per_minute": self.limits.tokens_per_minute,
            "generation": self.params,
        })
    }
}
