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

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
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
}

/// A running server.
pub struct LlmServer {
    pub url: String,
    pub state: Arc<LlmState>,
}

impl LlmServer {
    /// Starts a server on a free port, on the current tokio runtime.
    pub async fn start(state: LlmState) -> LlmServer {
        let state = Arc::new(state);
        *state.started.lock().unwrap() = Some(std::time::Instant::now());
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        LlmServer { url, state }
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

async fn handle(
    State(state): State<Arc<LlmState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _guard = InFlight(&state);
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
    if prompt.contains("cut") {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from_static(
                b"{\"choices\": [{\"message\": {\"content\"",
            )),
            Err(std::io::Error::other("connection cut")),
        ];
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from_stream(futures_util::stream::iter(chunks)))
            .unwrap();
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
        && answered % every == 0
    {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
        headers.insert("x-ratelimit-reset-requests", reset.parse().unwrap());
    }
    response
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
