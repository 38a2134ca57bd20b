//! An LLM server on 127.0.0.1 for the LLM tests and the benchmark: OpenAI's chat and
//! completions endpoints, Azure's deployment URLs, Anthropic's Messages API, with a fixed
//! latency, a log of requests, the highest number of requests in flight, and faults chosen by
//! the prompt itself:
//!
//! - `fail:429x2` / `fail:500x1` / `fail:503x3`: the first N attempts of this prompt get that
//!   status (429 carries `Retry-After: 1` when the prompt also says `retry-after`);
//! - `status:400`, `status:401`, `status:404`: always that status, OpenAI's error shape;
//! - `shape:detail` (422 `{"detail": ..}`), `shape:plain` (400 plain text), `shape:int-code`
//!   (400 with an integer code), `shape:string-error` (400 `{"error": ".."}`);
//! - `malformed`: 200 with a body that is not JSON; `cut`: 200 whose body stops half way;
//! - `slow`: the first attempt takes 5 s; `json:`: answers with the JSON after the colon;
//! - `empty`: 200 with a choice whose content is null.
//!
//! An Anthropic request forcing a tool (`tool_choice: {type: "tool", name}`, as structured
//! output sends) is answered with a `tool_use` block calling it, whose input is the JSON after
//! `json:` (a text block when that is no JSON object).
//!
//! Every other prompt is answered `echo: <last user message>`.
//!
//! The server itself may be limited to a number of requests in flight (`reject_above`: the
//! rest get 429 at once; `queue_slots`: the rest wait their turn), inject faults in a share
//! of its answers (`faults`), speak TLS with HTTP/2 or HTTP/1.1 by ALPN ([`LlmServer::start_tls`])
//! and die on demand ([`LlmServer::die`]: listener and connections closed).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, Version};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

#[derive(Default)]
pub struct LlmState {
    /// Answer after this long.
    pub latency: Duration,
    /// The key requests must carry (Bearer, `api-key` or `x-api-key`), if any.
    pub key: Option<String>,
    /// Record requests (off for the benchmark).
    pub record: bool,
    /// Every Nth answer says no request is left (`x-ratelimit-remaining-requests: 0`) with this
    /// reset.
    pub exhaust_every: Option<(usize, String)>,
    pub seen: Mutex<Vec<Seen>>,
    pub attempts: Mutex<HashMap<String, u32>>,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub answered: AtomicUsize,
    /// Instants of request arrivals, since the server started.
    pub arrivals: Mutex<Vec<Duration>>,
    pub started: Mutex<Option<std::time::Instant>>,
    /// Requests beyond this many in flight are answered 429 at once.
    pub reject_above: Option<usize>,
    /// Requests beyond this many in flight wait for a slot (as llama.cpp's queue).
    pub queue_slots: Option<usize>,
    /// In percent of the answers: errors (half 500, half 429) and 200s cut short.
    pub faults: Option<(u32, u32)>,
    pub rejected: AtomicUsize,
    /// Requests whose client went away before the answer was sent.
    pub cancelled: AtomicUsize,
    /// Request count by HTTP version ("HTTP/2.0", "HTTP/1.1").
    pub versions: Mutex<HashMap<String, usize>>,
    /// The queue's slots, made when the server starts.
    pub slots: OnceLock<tokio::sync::Semaphore>,
    /// Microseconds spent answering, all requests together (mean in flight = this / wall time).
    pub busy_us: AtomicU64,
    /// When each answer was sent (since the server started) and its status.
    pub responses: Mutex<Vec<(Duration, u16)>>,
}

/// A running server.
pub struct LlmServer {
    pub url: String,
    pub state: Arc<LlmState>,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl LlmServer {
    /// Starts a server on a free port, on the current tokio runtime.
    pub async fn start(state: LlmState) -> LlmServer {
        Self::serve(state, None).await
    }

    /// Starts a server speaking TLS with `config` (its ALPN protocols say whether HTTP/2 is
    /// offered), at `https://localhost:PORT`.
    pub async fn start_tls(state: LlmState, config: rustls::ServerConfig) -> LlmServer {
        Self::serve(
            state,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
        .await
    }

    async fn serve(state: LlmState, tls: Option<tokio_rustls::TlsAcceptor>) -> LlmServer {
        let state = Arc::new(state);
        *state.started.lock().unwrap() = Some(std::time::Instant::now());
        if let Some(slots) = state.queue_slots {
            let _ = state.slots.set(tokio::sync::Semaphore::new(slots));
        }
        let app = Router::new().fallback(handle).with_state(state.clone());
        // A deep accept queue, as production servers configure theirs: with tokio's default
        // (1,024), a client opening a thousand connections at once overflows it, and each
        // dropped SYN costs the connection a second before the kernel retries.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(8192).unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = match tls {
            Some(_) => format!("https://localhost:{port}"),
            None => format!("http://127.0.0.1:{port}"),
        };
        let tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let connections = tasks.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let app = app.clone();
                let tls = tls.clone();
                let task = tokio::spawn(async move {
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let builder = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    match tls {
                        Some(tls) => {
                            let Ok(stream) = tls.accept(stream).await else {
                                return;
                            };
                            let io = hyper_util::rt::TokioIo::new(stream);
                            let _ = builder.serve_connection(io, service).await;
                        }
                        None => {
                            let io = hyper_util::rt::TokioIo::new(stream);
                            let _ = builder.serve_connection(io, service).await;
                        }
                    }
                });
                connections.lock().unwrap().push(task.abort_handle());
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        LlmServer { url, state, tasks }
    }

    /// Stops answering: the listener closes (new connections are refused) and so does every
    /// open connection.
    pub fn die(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// The base URL of the OpenAI-style API.
    pub fn v1(&self) -> String {
        format!("{}/v1", self.url)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn answered(&self) -> usize {
        self.state.answered.load(Ordering::SeqCst)
    }
}

struct InFlight<'a>(&'a LlmState);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts a request whose handler is dropped before it answers: its client went away.
struct Answering<'a>(&'a LlmState, bool);

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

async fn handle(
    State(state): State<Arc<LlmState>>,
    version: Version,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut answering = Answering(&state, false);
    let start = std::time::Instant::now();
    let response = answer(&state, version, uri, headers, body).await;
    answering.1 = true;
    state
        .busy_us
        .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
    let since = state.started.lock().unwrap().unwrap().elapsed();
    state
        .responses
        .lock()
        .unwrap()
        .push((since, response.status().as_u16()));
    response
}

async fn answer(
    state: &Arc<LlmState>,
    version: Version,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    *state
        .versions
        .lock()
        .unwrap()
        .entry(format!("{version:?}"))
        .or_default() += 1;
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _guard = InFlight(state);
    if let Some(limit) = state.reject_above
        && now > limit
    {
        state.rejected.fetch_add(1, Ordering::SeqCst);
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": {"message": "server busy", "code": 429}}),
        );
    }
    let _slot = match state.slots.get() {
        Some(slots) => Some(slots.acquire().await.unwrap()),
        None => None,
    };
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    if state.record {
        let started = state.started.lock().unwrap().unwrap();
        state.arrivals.lock().unwrap().push(started.elapsed());
    }
    let path = uri.path().to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if state.record {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        state.seen.lock().unwrap().push(Seen {
            path: path.clone(),
            headers,
            body: body.clone(),
        });
    }
    if !state.latency.is_zero() {
        tokio::time::sleep(state.latency).await;
    }
    let anthropic = path.ends_with("/v1/messages");
    if let Some(key) = &state.key {
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| headers.get("api-key").and_then(|v| v.to_str().ok()))
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()));
        if given != Some(key.as_str()) {
            // Like real servers, the message echoes part of what was sent.
            let shown = given.unwrap_or("none");
            return error(
                StatusCode::UNAUTHORIZED,
                json!({"error": {"message": format!("Incorrect API key provided: {shown}"), "type": "invalid_request_error", "code": "invalid_api_key"}}),
            );
        }
    }
    let prompt = prompt_text(&body);
    let answered = state.answered.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some((errors, cut)) = state.faults {
        // A fixed scramble of the answer's number: the same faults in every run.
        let draw = (answered as u64).wrapping_mul(2_654_435_761) % 100;
        let draw = draw as u32;
        if draw < errors / 2 {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": {"message": "internal error", "code": 500}}),
            );
        }
        if draw < errors {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": {"message": "rate limited", "code": 429}}),
            );
        }
        if draw < errors + cut {
            return cut_short();
        }
    }

    if let Some(rest) = prompt.split("fail:").nth(1) {
        let spec: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
        if let Some((status, times)) = spec.split_once('x') {
            let status: u16 = status.parse().unwrap();
            let times: u32 = times.parse().unwrap();
            let count = {
                let mut attempts = state.attempts.lock().unwrap();
                let count = attempts.entry(prompt.clone()).or_default();
                *count += 1;
                *count
            };
            if count <= times {
                let mut response = error(
                    StatusCode::from_u16(status).unwrap(),
                    json!({"error": {"message": "try again later", "code": status}}),
                );
                if prompt.contains("retry-after") {
                    response
                        .headers_mut()
                        .insert("retry-after", "1".parse().unwrap());
                }
                return response;
            }
        }
    }
    if prompt.contains("slow") {
        let first = {
            let mut attempts = state.attempts.lock().unwrap();
            let count = attempts.entry(prompt.clone()).or_default();
            *count += 1;
            *count == 1
        };
        if first {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
    if let Some(status) = prompt.split("status:").nth(1) {
        let status: u16 = status[..3].parse().unwrap();
        let message = match status {
            400 => {
                "This model's maximum context length is 8192 tokens; your messages resulted in 9000 tokens"
            }
            404 => "The model `nope` does not exist",
            _ => "denied",
        };
        return error(
            StatusCode::from_u16(status).unwrap(),
            json!({"error": {"message": message, "type": "invalid_request_error", "code": "context_length_exceeded"}}),
        );
    }
    if prompt.contains("shape:detail") {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"detail": [{"loc": ["body", "messages"], "msg": "field required"}]}),
        );
    }
    if prompt.contains("shape:plain") {
        return (StatusCode::BAD_REQUEST, "Bad Request: prompt rejected").into_response();
    }
    if prompt.contains("shape:int-code") {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"error": {"message": "invalid temperature", "code": 400}}),
        );
    }
    if prompt.contains("shape:string-error") {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"error": "Input validation error: `inputs` must have less than 4096 tokens"}),
        );
    }
    if prompt.contains("malformed") {
        return (StatusCode::OK, "{\"choices\": [{\"message\": ").into_response();
    }
    if let Some(finish) = prompt.split("finish:").nth(1) {
        let finish: String = finish.chars().take_while(|c| !c.is_whitespace()).collect();
        return axum::Json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "{\"name\": \"Ad"}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4}
        }))
        .into_response();
    }
    if prompt.contains("cut") {
        let first = {
            let mut attempts = state.attempts.lock().unwrap();
            let count = attempts.entry(prompt.clone()).or_default();
            *count += 1;
            *count == 1
        };
        if first || prompt.contains("always") {
            return cut_short();
        }
    }

    let text = match prompt.split_once("json:") {
        Some((_, json)) => json.trim().to_owned(),
        None => format!("echo: {prompt}"),
    };
    let n = body.get("n").and_then(Value::as_u64).unwrap_or(1);
    let input_tokens = prompt.split_whitespace().count() as u64;
    let forced_tool = body["tool_choice"]["type"] == "tool";
    let tool_input = serde_json::from_str::<Value>(&text)
        .ok()
        .filter(Value::is_object);
    let mut response = if let (true, true, Some(input)) = (anthropic, forced_tool, tool_input) {
        axum::Json(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "tool_use", "id": "toolu_1", "name": body["tool_choice"]["name"], "input": input}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": input_tokens, "output_tokens": 5}
        }))
        .into_response()
    } else if anthropic {
        axum::Json(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": input_tokens, "output_tokens": 5}
        }))
        .into_response()
    } else if path.ends_with("/completions") && !path.ends_with("/chat/completions") {
        axum::Json(json!({
            "id": "cmpl-1", "object": "text_completion", "model": body["model"],
            "choices": (0..n).map(|i| json!({"index": i, "text": text, "finish_reason": "stop"})).collect::<Vec<_>>(),
            "usage": {"prompt_tokens": input_tokens, "completion_tokens": 5 * n, "total_tokens": input_tokens + 5 * n}
        }))
        .into_response()
    } else {
        let content = if prompt.contains("empty") {
            Value::Null
        } else {
            json!(text)
        };
        let choices: Vec<Value> = (0..n)
            .map(|i| {
                let content = if n > 1 && content.is_string() {
                    json!(format!("{text} #{i}"))
                } else {
                    content.clone()
                };
                json!({"index": i, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"})
            })
            .collect();
        axum::Json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
            "choices": choices,
            "usage": {"prompt_tokens": input_tokens, "completion_tokens": 5 * n, "total_tokens": input_tokens + 5 * n}
        }))
        .into_response()
    };
    if let Some((every, reset)) = &state.exhaust_every
        && answered.is_multiple_of(*every)
    {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
        headers.insert("x-ratelimit-reset-requests", reset.parse().unwrap());
    }
    response
}

/// A 200 whose body stops half way (the connection is cut once the head and the first bytes
/// are out).
fn cut_short() -> Response {
    let chunks = futures_util::stream::unfold(0, |step| async move {
        match step {
            0 => Some((
                Ok(Bytes::from_static(
                    b"{\"choices\": [{\"message\": {\"content\"",
                )),
                1,
            )),
            1 => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Some((Err(std::io::Error::other("connection cut")), 2))
            }
            _ => None,
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(chunks))
        .unwrap()
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// The last user message of a chat or Messages request, or a completion's prompt.
pub fn prompt_text(body: &Value) -> String {
    if let Some(prompt) = body.get("prompt").and_then(Value::as_str) {
        return prompt.to_owned();
    }
    body.get("messages")
        .and_then(Value::as_array)
        .and_then(|m| {
            m.iter()
                .rev()
                .find(|m| m["role"] == "user")
                .and_then(|m| m["content"].as_str())
        })
        .unwrap_or("")
        .to_owned()
}
