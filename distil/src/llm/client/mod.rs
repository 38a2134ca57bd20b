//! The client core every HTTP provider shares, on the one HTTP stack of [`crate::http`]: an
//! adaptive limit on requests in flight, rate limits, retries with exponential backoff and
//! jitter (honouring `Retry-After`), a timeout on the endpoint's silence, a circuit breaker and
//! usage accounting. A provider only says how its requests and answers look (a [`Wire`]).

mod adaptive;
mod embeddings;
mod health;
mod limits;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use adaptive::Gate;
use health::Health;
use limits::Limiter;
pub use limits::RateLimits;

use super::providers::Wire;
use super::{ChatTemplate, GenerationParams, Generations, Llm, LlmError, Prompt, Usage};
use crate::Secret;
use crate::http::retry::{RetryPolicy, is_retryable_status};
use crate::http::{error_message, is_local_resource_error, retry_after, transport_message};
use crate::step::BoxFuture;

/// An LLM behind an HTTP API: [`OpenAi`](super::OpenAi), [`Anthropic`](super::Anthropic),
/// [`AzureOpenAi`](super::AzureOpenAi) and [`HuggingFace`](super::HuggingFace) are this client
/// with their own [`Wire`]. Clones share the connections, the concurrency limit (and its
/// adaptation), the rate limits, the circuit breaker and the usage counters, so several tasks
/// on one endpoint share one budget. A builder method that changes the URL, the key, the
/// proxy, the concurrency or the rate limits gives its result a budget of its own; generation
/// parameters, the timeout and the retry policy may differ between clones that share one.
///
/// A request is re-sent only when it is known not to have reached the server (the connection
/// failed), when the server's answer says to (408, 409, 429, 5xx, or a 2xx answer cut short or
/// malformed), or when the endpoint stayed silent for the whole [timeout](Client::timeout).
/// A request the server accepted and then lost (the connection closed before an answer) is
/// not re-sent: the server may have processed it.
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
    adaptive: bool,
    timeout: Duration,
    connect_timeout: Duration,
    down_after: Duration,
    retry: RetryPolicy,
    limits: RateLimits,
    params: GenerationParams,
    /// Renders chat prompts to raw text for servers that only complete raw text.
    chat_template: Option<ChatTemplate>,
    /// Bearer tokens that expire, asked for before each request (over `key`).
    tokens: Option<Arc<dyn crate::llm::TokenSource>>,
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
            adaptive: self.adaptive,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            down_after: self.down_after,
            retry: self.retry,
            limits: self.limits,
            params: self.params.clone(),
            chat_template: self.chat_template.clone(),
            tokens: self.tokens.clone(),
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

/// What clones share.
struct Core {
    /// The HTTP client and the request's URLs and headers, or why they cannot be built.
    http: Result<Http, String>,
    gate: Gate,
    limiter: Limiter,
    health: Health,
    /// When the endpoint last answered anything (since `born`, in milliseconds): a request
    /// times out only when the endpoint as a whole stayed silent.
    born: Instant,
    last_answer_ms: AtomicU64,
    requests: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
}

struct Http {
    client: reqwest::Client,
    /// Where chat prompts and raw prompts go.
    chat_url: reqwest::Url,
    text_url: reqwest::Url,
    /// Content type and key, marked sensitive so that they are never printed.
    headers: HeaderMap,
}

/// How one attempt ended.
enum Attempt {
    /// The server answered: its status, headers and body (or how reading the body failed).
    Answer {
        status: u16,
        headers: HeaderMap,
        body: Result<bytes::Bytes, String>,
    },
    /// The connection failed: the request never reached the server.
    NotSent(String),
    /// Sent, and the connection was lost before an answer: the server may have processed it.
    Lost(String),
    /// The endpoint answered nothing, to this request or any other, for the whole timeout.
    Silent,
    /// This process cannot open a connection (no file descriptor left).
    Local(String),
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
            adaptive: true,
            timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            down_after: Duration::from_secs(10),
            retry: RetryPolicy {
                max_attempts: 6,
                initial_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(60),
            },
            limits: RateLimits::default(),
            params: GenerationParams::default(),
            chat_template: None,
            tokens: None,
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
        self.tokens = None;
        self.key_source = "api_key(..)".to_owned();
        self.reconfigured()
    }

    /// Asks `source` for a bearer token before each request instead of sending a fixed key
    /// (tokens that expire: a [`ServiceAccount`](crate::llm::ServiceAccount)'s), and for a
    /// fresh one, once, when the server answers 401.
    pub fn token_source(mut self, source: impl crate::llm::TokenSource) -> Self {
        self.key_source = source.describe();
        self.tokens = Some(Arc::new(source));
        self.reconfigured()
    }

    /// Sends requests through the HTTP proxy at `url` (`http://[user:password@]host:port`):
    /// plain-http requests are forwarded to it, https ones go through its CONNECT tunnel. The
    /// default is the proxy `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` name (minus the hosts
    /// `NO_PROXY` lists).
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = ProxySetting::Url(url.into());
        self.reconfigured()
    }

    /// Connects directly, whatever the proxy variables say.
    pub fn no_proxy(mut self) -> Self {
        self.proxy = ProxySetting::None;
        self.reconfigured()
    }

    /// Requests in flight at most (default 64), and at most what the open-file limit allows
    /// (its soft limit is raised to the hard one when the client starts).
    pub fn max_concurrency(mut self, requests: usize) -> Self {
        self.max_concurrency = requests.max(1);
        self.reconfigured()
    }

    /// Whether the limit on requests in flight adapts to the server (on by default): answers
    /// saying it is overloaded (429, 503, 529) and timeouts lower it by a quarter, successes
    /// raise it back by about one per round of requests, within [1, `max_concurrency`]. Off,
    /// `max_concurrency` requests stay in flight whatever the server says.
    pub fn adaptive_concurrency(mut self, adaptive: bool) -> Self {
        self.adaptive = adaptive;
        self.reconfigured()
    }

    /// How long the endpoint may stay silent before an attempt times out (default 120 s): the
    /// clock restarts whenever the endpoint answers any request, so a request waiting in the
    /// queue of a server that is busy answering others is never cancelled. A timed-out attempt
    /// is retried and counts as congestion for the adaptive limit.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long opening a connection may take (default 10 s), apart from the timeout above.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self.reconfigured()
    }

    /// How long an endpoint that has answered may fail every attempt without an answer
    /// (connection refused, lost, silent) before it is declared down and the run stops naming
    /// its URL (default 10 s).
    pub fn down_after(mut self, window: Duration) -> Self {
        self.down_after = window;
        self.reconfigured()
    }

    /// Retries of a request after 408, 409, 429, 5xx, a 2xx answer cut short or malformed, a
    /// connection error or a timeout (default: 6 attempts, from 0.5 s doubling up to 60 s,
    /// with jitter). The wait is the server's `Retry-After` when it gives one. A request that
    /// an endpoint in good health failed alone is retried at once, through the concurrency
    /// limit like any request: it takes a slot another row would take, so the load never
    /// rises above the limit. The backoff applies when the endpoint is unreachable or silent,
    /// when it was found overloaded lately, and always with `adaptive_concurrency(false)`.
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

    /// Renders chat prompts with `template` and sends them as raw text (to `/completions` on
    /// an OpenAI-compatible server), for servers that apply no chat template of their own or
    /// models served without one; requests with no `stop` stop at the template's
    /// [stop strings](ChatTemplate::stop). Tasks that need the model's format (Magpie) read it
    /// from here.
    ///
    /// ```no_run
    /// use distil::llm::{ChatTemplate, OpenAi};
    ///
    /// let base = OpenAi::new("meta-llama/Llama-3.1-8B-Instruct")
    ///     .base_url("http://localhost:8000/v1")
    ///     .chat_template(ChatTemplate::llama3());
    /// ```
    pub fn chat_template(mut self, template: ChatTemplate) -> Self {
        self.chat_template = Some(template);
        self
    }

    /// `self` (made for its provider, its key from the environment) with the settings its
    /// [`describe`](Llm::describe) recorded in a pipeline file.
    pub(crate) fn restored(
        mut self,
        settings: &crate::settings::Settings<'_>,
    ) -> Result<Self, String> {
        if let Some(url) = settings.optional::<String>("base_url")?
            && url.trim_end_matches('/') != self.base_url
        {
            self = self.base_url(url);
        }
        if let Some(requests) = settings.optional("max_concurrency")? {
            self = self.max_concurrency(requests);
        }
        if let Some(adaptive) = settings.optional("adaptive_concurrency")? {
            self = self.adaptive_concurrency(adaptive);
        }
        let seconds = |key: &str| -> Result<Option<Duration>, String> {
            match settings.optional::<f64>(key)? {
                Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(Duration::from_secs_f64(s))),
                Some(s) => Err(format!(
                    "`{}`: {s} is no duration in seconds",
                    settings.key_path(key)
                )),
                None => Ok(None),
            }
        };
        if let Some(timeout) = seconds("timeout_secs")? {
            self = self.timeout(timeout);
        }
        if let Some(timeout) = seconds("connect_timeout_secs")? {
            self = self.connect_timeout(timeout);
        }
        self = self.rate_limits(RateLimits {
            requests_per_minute: settings.optional("requests_per_minute")?,
            tokens_per_minute: settings.optional("tokens_per_minute")?,
        });
        if let Some(params) = settings.optional("generation")? {
            self.params = params;
        }
        if let Some(template) = settings.optional::<crate::Value>("chat_template")? {
            self.chat_template = Some(
                ChatTemplate::from_settings(&template)
                    .map_err(|e| format!("`{}`: {e}", settings.key_path("chat_template")))?,
            );
        }
        Ok(self)
    }

    /// The limit on requests in flight now (it adapts between 1 and `max_concurrency`).
    pub fn current_limit(&self) -> usize {
        self.shared
            .get()
            .map_or(self.max_concurrency, |core| core.gate.limit())
    }

    fn core(&self) -> &Core {
        self.shared.get_or_init(|| {
            let budget = crate::http::connection_budget();
            if budget < self.max_concurrency {
                tracing::warn!(
                    provider = self.wire.provider(),
                    max_concurrency = self.max_concurrency,
                    budget,
                    "max_concurrency lowered to what the open-file limit allows"
                );
            }
            Core {
                http: self.http(),
                gate: Gate::new(self.max_concurrency.min(budget), self.adaptive),
                limiter: Limiter::new(self.limits),
                health: Health::new(self.down_after),
                born: Instant::now(),
                last_answer_ms: AtomicU64::new(0),
                requests: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                input_tokens: AtomicU64::new(0),
                output_tokens: AtomicU64::new(0),
            }
        })
    }

    fn http(&self) -> Result<Http, String> {
        let provider = self.wire.provider();
        let url = |prompt: &Prompt| {
            let url = self.wire.url(&self.base_url, &self.model, prompt);
            reqwest::Url::parse(&url).map_err(|e| {
                format!(
                    "{provider}: the base URL `{}` is not a URL: {e}",
                    crate::http::redact_url(&self.base_url)
                )
            })
        };
        let chat_url = url(&Prompt::Chat(Vec::new()))?;
        let text_url = url(&Prompt::Text(String::new()))?;
        let mut builder = crate::http::client_builder()
            .connect_timeout(self.connect_timeout)
            .pool_max_idle_per_host(self.max_concurrency);
        builder = match &self.proxy {
            ProxySetting::FromEnv => builder,
            ProxySetting::None => builder.no_proxy(),
            ProxySetting::Url(proxy) => builder.proxy(
                reqwest::Proxy::all(proxy)
                    .map_err(|_| format!("{provider}: the proxy URL is not a URL"))?,
            ),
        };
        let client = builder.build().map_err(|e| {
            format!(
                "{provider}: cannot build the HTTP client: {}",
                transport_message(&e)
            )
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(key) = &self.key {
            for (name, value) in self.wire.auth_headers(key) {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("{provider}: `{name}` is not a header name"))?;
                // A line break in a key cannot be sent: drop it.
                let value: String = value
                    .chars()
                    .filter(|c| !matches!(c, '\r' | '\n'))
                    .collect();
                let mut value = HeaderValue::from_str(&value).map_err(|_| {
                    format!(
                        "{provider}: the API key ({}) holds characters a header cannot",
                        self.key_source
                    )
                })?;
                value.set_sensitive(true);
                headers.insert(name, value);
            }
        }
        Ok(Http {
            client,
            chat_url,
            text_url,
            headers,
        })
    }

    /// Removes the key from a message that might echo it.
    fn scrub(&self, message: String) -> String {
        match &self.key {
            Some(key) if !key.expose().is_empty() => message.replace(key.expose(), "***"),
            _ => message,
        }
    }

    fn heard_from(&self, core: &Core) {
        let now = core.born.elapsed().as_millis() as u64;
        core.last_answer_ms.fetch_max(now, Ordering::Relaxed);
        core.health.answered();
    }

    /// One attempt: sends the request and reads the answer, timing out only when the endpoint
    /// stayed silent (no answer to any request) for the whole timeout.
    async fn attempt(
        &self,
        core: &Core,
        http: &Http,
        url: &reqwest::Url,
        body: bytes::Bytes,
        token: Option<&Secret>,
    ) -> Attempt {
        let mut request = http
            .client
            .post(url.clone())
            .headers(http.headers.clone())
            .body(body);
        if let Some(token) = token {
            let mut fresh = HeaderMap::new();
            for (name, value) in self.wire.auth_headers(token) {
                if let (Ok(name), Ok(mut value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(&value),
                ) {
                    value.set_sensitive(true);
                    fresh.insert(name, value);
                }
            }
            // Over the fixed key's headers.
            request = request.headers(fresh);
        }
        let exchange = async {
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => return self.transport_failure(&e),
            };
            self.heard_from(core);
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| self.scrub(transport_message(&e)));
            self.heard_from(core);
            Attempt::Answer {
                status,
                headers,
                body,
            }
        };
        let started = core.born.elapsed();
        tokio::pin!(exchange);
        loop {
            let last =
                Duration::from_millis(core.last_answer_ms.load(Ordering::Relaxed)).max(started);
            let deadline = core.born + last + self.timeout;
            tokio::select! {
                attempt = &mut exchange => return attempt,
                () = tokio::time::sleep_until(deadline.into()) => {
                    let last = Duration::from_millis(core.last_answer_ms.load(Ordering::Relaxed)).max(started);
                    if core.born + last + self.timeout <= Instant::now() {
                        return Attempt::Silent;
                    }
                }
            }
        }
    }

    fn transport_failure(&self, error: &reqwest::Error) -> Attempt {
        let message = self.scrub(transport_message(error));
        if is_local_resource_error(error) {
            Attempt::Local(message)
        } else if error.is_connect() {
            Attempt::NotSent(message)
        } else {
            Attempt::Lost(message)
        }
    }

    async fn send(
        &self,
        prompt: &Prompt,
        params: &GenerationParams,
    ) -> Result<Generations, LlmError> {
        let core = self.core();
        let http = core.http.as_ref().map_err(|e| LlmError::fatal(e.clone()))?;
        let rendered;
        let (prompt, params) = match (prompt, &self.chat_template) {
            (Prompt::Chat(messages), Some(template)) => {
                rendered = (
                    Prompt::Text(template.render(messages, true).map_err(LlmError::row)?),
                    GenerationParams {
                        stop: params
                            .stop
                            .clone()
                            .or_else(|| Some(template.stop_sequences().to_vec()))
                            .filter(|stop| !stop.is_empty()),
                        ..params.clone()
                    },
                );
                (&rendered.0, &rendered.1)
            }
            _ => (prompt, params),
        };
        let url = match prompt {
            Prompt::Chat(_) => &http.chat_url,
            Prompt::Text(_) => &http.text_url,
        };
        let body = bytes::Bytes::from(self.wire.body(&self.model, prompt, params)?);
        let estimate = prompt.chars() as u64 / 4 + params.max_new_tokens.unwrap_or(256);
        let generations = self
            .exchange(core, http, url, body, estimate, |body| {
                self.wire.parse(body)
            })
            .await?;
        self.count(
            core,
            generations.input_tokens.unwrap_or(0),
            generations.output_tokens.unwrap_or(0),
        );
        Ok(generations)
    }

    /// Posts `body` to `url` until an answer `parse` reads, or until the retry policy, the
    /// circuit breaker or a final status says to stop: every request of the client (a
    /// generation, a batch of embeddings) goes through here. `estimate` is the request's
    /// tokens for the rate limiter.
    async fn exchange<T>(
        &self,
        core: &Core,
        http: &Http,
        url: &reqwest::Url,
        body: bytes::Bytes,
        estimate: u64,
        parse: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<T, LlmError> {
        let provider = self.wire.provider();
        let mut attempt = 0;
        // A refused token is replaced once per request.
        let (mut refused, mut replaced): (Option<Secret>, bool) = (None, false);
        loop {
            attempt += 1;
            let token = match &self.tokens {
                Some(source) => Some(source.token(refused.take().as_ref()).await?),
                None => None,
            };
            crate::step::request_waiting();
            let ticket = core.gate.enter().await;
            if let Some(down) = core.health.down() {
                return Err(LlmError::fatal(down));
            }
            core.limiter.acquire(estimate).await;
            let Some(sent) = crate::step::request_sent() else {
                return Err(LlmError::row("not sent: the run is stopping"));
            };
            let outcome = self
                .attempt(core, http, url, body.clone(), token.as_ref())
                .await;
            core.limiter.used(estimate, 0);
            let mut unanswered = true;
            let (failure, server_delay) = match outcome {
                Attempt::Answer {
                    status,
                    headers,
                    body,
                } => {
                    unanswered = false;
                    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                    core.limiter.learn(header);
                    let delay = retry_after(headers.get("retry-after").map(HeaderValue::as_bytes));
                    if (200..300).contains(&status) {
                        let parsed = body.and_then(|body| {
                            parse(&body).map_err(|e| format!("malformed answer: {}", self.scrub(e)))
                        });
                        match parsed {
                            Ok(answer) => {
                                sent.answered();
                                ticket.success();
                                return Ok(answer);
                            }
                            Err(message) => (format!("HTTP {status}, {message}"), None),
                        }
                    } else {
                        let text = body
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                            .unwrap_or_default();
                        let said = self.scrub(error_message(&text));
                        if matches!(status, 429 | 503 | 529) {
                            ticket.congestion();
                        }
                        if status == 401 && token.is_some() && !replaced {
                            (refused, replaced) = (token.clone(), true);
                            tracing::debug!(
                                provider,
                                "access token refused; asking for a fresh one"
                            );
                            continue;
                        }
                        if self.wire.rejects_key(status, &text) {
                            core.failed.fetch_add(1, Ordering::Relaxed);
                            return Err(self.key_error(status, &said));
                        }
                        if !is_retryable_status(status) {
                            core.failed.fetch_add(1, Ordering::Relaxed);
                            return Err(self.status_error(status, &said));
                        }
                        if let Some(delay) = delay {
                            core.limiter.pause(delay.min(self.retry.max_delay));
                        }
                        (format!("HTTP {status}: {said}"), delay)
                    }
                }
                Attempt::Local(message) => {
                    core.failed.fetch_add(1, Ordering::Relaxed);
                    let limit = crate::http::open_file_limit()
                        .map_or_else(String::new, |l| format!(" (the open-file limit is {l})"));
                    return Err(LlmError::fatal(format!(
                        "{provider}: this process cannot open another connection to {}{limit}: {message}; lower max_concurrency or raise the limit (`ulimit -n`)",
                        self.base_url
                    )));
                }
                Attempt::Lost(message) => {
                    core.failed.fetch_add(1, Ordering::Relaxed);
                    if let Some(down) = self.unanswered(core, &message) {
                        return Err(LlmError::fatal(down));
                    }
                    return Err(LlmError::row(format!(
                        "{provider}: the connection was lost before an answer ({message}); not re-sent, as the server may have processed it"
                    )));
                }
                Attempt::NotSent(message) => (message, None),
                Attempt::Silent => {
                    ticket.congestion();
                    (
                        format!(
                            "no answer from the endpoint for {:.1} s",
                            self.timeout.as_secs_f64()
                        ),
                        None,
                    )
                }
            };
            drop(ticket);
            drop(sent);
            if unanswered && let Some(down) = self.unanswered(core, &failure) {
                core.failed.fetch_add(1, Ordering::Relaxed);
                return Err(LlmError::fatal(down));
            }
            match self.retry.delay_after(attempt, server_delay) {
                Some(delay) => {
                    core.retries.fetch_add(1, Ordering::Relaxed);
                    let delay = if server_delay.is_some() {
                        delay
                    } else if !unanswered && core.gate.retries_at_once() {
                        // A server that answers, and is not overloaded, failed this request
                        // alone: the retry goes at once, through the gate like any request,
                        // so it never raises the load above the limit.
                        Duration::ZERO
                    } else {
                        // Jitter spreads the retries of many rows that failed together.
                        delay.mul_f64(rand::rng().random_range(0.5..1.0))
                    };
                    tracing::debug!(provider, attempt, ?delay, %failure, "retrying LLM request");
                    tokio::time::sleep(delay).await;
                }
                None => {
                    core.failed.fetch_add(1, Ordering::Relaxed);
                    // An endpoint never reached is a wrong URL or a server that is down: every
                    // row would fail the same way.
                    if unanswered && core.requests.load(Ordering::Relaxed) == 0 {
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

    /// Counts an attempt without an answer; the endpoint's obituary when it is now down.
    fn unanswered(&self, core: &Core, failure: &str) -> Option<String> {
        core.health
            .unanswered(|duration, failures| {
                format!(
                    "{} at {} is down: every attempt failed without an answer for {:.1} s ({failures} in a row, after {} answered requests; last: {failure}); the run stops",
                    self.wire.provider(),
                    self.base_url,
                    duration.as_secs_f64(),
                    core.requests.load(Ordering::Relaxed),
                )
            })
            .map(str::to_owned)
    }

    /// Counts an answered request and its tokens.
    fn count(&self, core: &Core, input: u64, output: u64) {
        core.requests.fetch_add(1, Ordering::Relaxed);
        core.input_tokens.fetch_add(input, Ordering::Relaxed);
        core.output_tokens.fetch_add(output, Ordering::Relaxed);
        core.limiter.used(0, input + output);
    }

    /// The error for an answer rejecting the key (or its absence): it stops the run, naming
    /// where the key comes from.
    fn key_error(&self, status: u16, said: &str) -> LlmError {
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        let key = match (&self.tokens, &self.key) {
            (Some(_), _) => format!(
                "a fresh access token from {} was refused too; check its rights",
                self.key_source
            ),
            (None, None) => format!("no API key was sent; set {}", self.key_source),
            (None, Some(_)) => format!("check the key in {}", self.key_source),
        };
        LlmError::fatal(format!(
            "{} rejected the request with HTTP {status}{said}; {key}",
            self.wire.provider()
        ))
    }

    /// The error for a final non-success answer: a rejected key, a missing model or a proxy
    /// refusing stops the run, anything else (an over-long prompt, a bad parameter) fails the
    /// row.
    fn status_error(&self, status: u16, said: &str) -> LlmError {
        if matches!(status, 401 | 403) {
            return self.key_error(status, said);
        }
        let provider = self.wire.provider();
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(": {said}")
        };
        match status {
            404 => LlmError::fatal(format!(
                "{provider} answered HTTP 404 for model `{}` at {}{said}; check the model name and the base URL",
                self.model, self.base_url
            )),
            407 => LlmError::fatal(format!(
                "the proxy to {provider} refused the request with HTTP 407 (proxy authentication required){said}; check the proxy's credentials"
            )),
            _ => LlmError::row(format!("{provider} answered HTTP {status}{said}")),
        }
    }
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

    fn current_limit(&self) -> Option<usize> {
        Some(Client::current_limit(self))
    }

    fn in_flight(&self) -> Option<usize> {
        Some(self.shared.get().map_or(0, |core| core.gate.in_flight()))
    }

    fn supports_n(&self) -> bool {
        self.wire.supports_n()
    }

    fn params(&self) -> GenerationParams {
        self.params.clone()
    }

    fn check(&self) -> Result<(), LlmError> {
        if let Some(source) = &self.tokens {
            return source.check();
        }
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
            cached: 0,
        }
    }

    fn describe(&self) -> crate::Value {
        let mut described = serde_json::json!({
            "provider": self.wire.provider(),
            "model": self.model,
            "base_url": self.base_url,
            "max_concurrency": self.max_concurrency,
            "adaptive_concurrency": self.adaptive,
            "timeout_secs": self.timeout.as_secs_f64(),
            "connect_timeout_secs": self.connect_timeout.as_secs_f64(),
            "requests_per_minute": self.limits.requests_per_minute,
            "tokens_per_minute": self.limits.tokens_per_minute,
            "generation": self.params,
        });
        if let crate::Value::Object(entries) = &mut described {
            for (name, value) in self.wire.settings() {
                entries.insert(name.to_owned(), value);
            }
        }
        // Part of the response cache's key too: another template is another prompt.
        if let Some(template) = &self.chat_template {
            described["chat_template"] = template.settings();
        }
        described
    }

    fn chat_template(&self) -> Option<&ChatTemplate> {
        self.chat_template.as_ref()
    }
}
