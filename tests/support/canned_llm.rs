//! An OpenAI-compatible server on 127.0.0.1 that answers each prompt with a canned answer in
//! the format the prompt's task asks for: the examples run end to end against it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

/// A running server; it stops when dropped.
pub struct CannedLlm {
    /// `http://127.0.0.1:PORT/v1`.
    pub v1: String,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CannedLlm {
    /// Starts the server.
    pub async fn start() -> CannedLlm {
        let requests = Arc::new(AtomicUsize::new(0));
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(requests.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        CannedLlm {
            v1: format!("http://{addr}/v1"),
            requests,
            task,
        }
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for CannedLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn chat(State(requests): State<Arc<AtomicUsize>>, Json(body): Json<Value>) -> Json<Value> {
    requests.fetch_add(1, Ordering::Relaxed);
    let model = body["model"].as_str().unwrap_or("model").to_owned();
    let user = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned();
    Json(json!({
        "id": "canned",
        "object": "chat.completion",
        "model": model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": answer(&model, &user) },
            "finish_reason": "stop"
        }],
        "usage": { "prompt_tokens": user.len() / 4, "completion_tokens": 8 }
    }))
}

/// The answer a task's prompt asks for.
fn answer(model: &str, user: &str) -> String {
    if user.starts_with("# Rating task") {
        let texts = (1..)
            .take_while(|i| user.contains(&format!("<text {i}>")))
            .count();
        return (1..=texts)
            .map(|i| {
                let rating = if i == 1 { 5 } else { 2 };
                format!("#### Output for Text {i}\nRating: {rating}\nRationale: Text {i} rated {rating}.\n")
            })
            .collect();
    }
    if user.starts_with("###Task Description") {
        return "Feedback: The response is accurate. [RESULT] 4".to_owned();
    }
    if user.contains("#Rewritten Prompt#") {
        let given = user
            .split("#The Given Prompt#:\n")
            .nth(1)
            .and_then(|rest| rest.split("\n\n#Rewritten Prompt#").next())
            .unwrap_or("the prompt");
        return format!("#Rewritten Prompt#: {given} Explain each step.");
    }
    format!(
        "{model} answers: {}",
        user.chars().take(40).collect::<String>()
    )
}
