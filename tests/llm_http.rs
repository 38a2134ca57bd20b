//! The LLM clients' HTTP stack and its faults, against servers on 127.0.0.1 started by the
//! tests: chunked framing good and bad, a server closing after each answer, HTTP/2 over TLS
//! with a CA trusted through SSL_CERT_FILE, forward and CONNECT proxies, adaptive concurrency
//! against a server that rejects what it cannot serve, a queueing server, a silent server, a
//! server that dies mid-run, a low open-file limit, and `n` in one request.

#[path = "support/llm_run.rs"]
mod llm_run;
#[path = "support/llm_server.rs"]
mod llm_server;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use distil::llm::structured::JsonSchema;
use distil::llm::{Anthropic, Llm, OpenAi, RetryPolicy};
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;
use distil::tasks::{StructuredGeneration, TextGeneration};
use distil::{METADATA_COLUMN, Pipeline, Value};
use llm_run::{column, first_error, run};
use llm_server::{LlmServer, LlmState, prompt_text};
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fast_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
    }
}

fn openai(url: &str) -> OpenAi {
    OpenAi::new("test-model")
        .base_url(url)
        .api_key("sk-test")
        .retry(fast_retries(3))
}

fn prompts(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("q{i}")).collect()
}

/// A pipeline: instructions -> `generate`.
fn pipeline_of(instructions: &[String], generate: impl distil::Step) -> Pipeline {
    let rows = instructions.iter().map(|i| json!({ "instruction": i }));
    let mut pipeline = Pipeline::new("llm-http-test");
    pipeline
        .add("load", LoadDataFromDicts::untyped(rows))
        .batch_size(8);
    pipeline.add("generate", generate).input_batch_size(8);
    pipeline.connect("load", "generate");
    pipeline
}

/// Reads one HTTP/1.1 request (head and Content-Length body) from `stream`; `None` at EOF.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<(String, Value)> {
    let mut buffer = Vec::new();
    let mut byte = [0u8; 1];
    while !buffer.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        buffer.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buffer).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.ok()?;
    Some((head, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

fn chat_answer(text: &str) -> String {
    json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 1, "completion_tokens": 2}})
    .to_string()
}

/// A server on raw TCP answering with `respond(prompt)`'s bytes, then closing the connection
/// when `close` says so; it counts the requests of each prompt.
async fn raw_server(
    respond: fn(&str) -> Vec<u8>,
    close: bool,
) -> (String, Arc<Mutex<HashMap<String, usize>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                while let Some((_, body)) = read_request(&mut stream).await {
                    let prompt = prompt_text(&body);
                    *log.lock().unwrap().entry(prompt.clone()).or_default() += 1;
                    let _ = stream.write_all(&respond(&prompt)).await;
                    if close {
                        break;
                    }
                }
            });
        }
    });
    (url, seen)
}

fn chunked(prompt: &str) -> Vec<u8> {
    let body = chat_answer(&format!("echo: {prompt}"));
    let (a, b) = body.split_at(body.len() / 2);
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    let framing = match prompt {
        "bad-size" => format!("zz\r\n{a}\r\n0\r\n\r\n"),
        "missing-crlf" => format!("{:x}\r\n{a}XX{:x}\r\n{b}\r\n0\r\n\r\n", a.len(), b.len()),
        "huge-size" => format!("ffffffffffffffffff\r\n{a}\r\n0\r\n\r\n"),
        "cut-mid-chunk" => format!("{:x}\r\n{a}", a.len() + 100),
        _ => format!("{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n", a.len(), b.len()),
    };
    format!("{head}{framing}").into_bytes()
}

#[tokio::test]
async fn chunked_answers_good_and_malformed_give_text_or_clear_row_errors() {
    let (url, seen) = raw_server(chunked, true).await;
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<String> = [
        "good",
        "bad-size",
        "missing-crlf",
        "huge-size",
        "cut-mid-chunk",
    ]
    .map(str::to_owned)
    .into();
    let mut pipeline = pipeline_of(&cases, TextGeneration::new(openai(&url)));
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    let generations = column(&distiset, "generation");
    let metadata = column(&distiset, METADATA_COLUMN);
    assert_eq!(generations[0], json!("echo: good"));
    for row in 1..cases.len() {
        assert_eq!(generations[row], Value::Null, "{}", cases[row]);
        let error = first_error(&metadata[row]);
        assert!(
            error.contains("kept failing after 3 attempts") && error.contains("HTTP 200"),
            "{}: {error}",
            cases[row]
        );
    }
    // A malformed 200 is retried like a 5xx, and no more.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen["good"], 1);
    assert_eq!(seen["bad-size"], 3);
}

fn keep_alive_answer(prompt: &str) -> Vec<u8> {
    let body = chat_answer(&format!("echo: {prompt}"));
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn a_server_closing_after_each_answer_gets_no_request_twice() {
    // The answer does not say the connection closes: the client finds out by itself.
    let (url, seen) = raw_server(keep_alive_answer, true).await;
    let dir = tempfile::tempdir().unwrap();
    let instructions = prompts(40);
    let llm = openai(&url).max_concurrency(2);
    let mut pipeline = pipeline_of(&instructions, TextGeneration::new(llm.clone()));
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
    let generations = column(&distiset, "generation");
    let metadata = column(&distiset, METADATA_COLUMN);
    for (row, generation) in generations.iter().enumerate() {
        if generation.is_null() {
            let error = first_error(&metadata[row]);
            assert!(error.contains("not re-sent"), "{error}");
        }
    }
    assert!(llm.usage().requests >= 20, "{:?}", llm.usage());
}

#[tokio::test]
async fn truncated_bodies_are_retried() {
    let server = LlmServer::start(LlmState {
        record: true,
        ..LlmState::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let llm = openai(&server.v1());
    let instructions = vec!["cut once".to_owned(), "fine".to_owned()];
    let mut pipeline = pipeline_of(&instructions, TextGeneration::new(llm.clone()));
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    let metadata = column(&distiset, METADATA_COLUMN);
    assert_eq!(
        column(&distiset, "generation"),
        ["echo: cut once", "echo: fine"],
        "{}",
        first_error(&metadata[0])
    );
    assert_eq!(llm.usage().retries, 1);
    assert_eq!(server.seen().len(), 3);
}

/// A CA and a certificate for `localhost` signed by it: (CA PEM, certificate DER, key DER).
fn tls_material() -> (String, Vec<u8>, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "distil test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.pem(), cert.der().to_vec(), key.serialize_der())
}

/// A server config with this certificate, offering HTTP/2 and HTTP/1.1 by ALPN.
fn tls_config(cert: Vec<u8>, key: Vec<u8>) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.into()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
        )
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// A CONNECT proxy on 127.0.0.1 tunnelling to the target; it records each CONNECT head.
async fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://user:pa55@{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut client, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    head.push(client.read_u8().await.unwrap());
                }
                let head = String::from_utf8(head).unwrap();
                log.lock().unwrap().push(head.clone());
                let target = head.split_whitespace().nth(1).unwrap().to_owned();
                let mut upstream = tokio::net::TcpStream::connect(target).await.unwrap();
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn http2_over_tls_with_a_ca_from_ssl_cert_file_directly_and_through_connect() {
    // SSL_CERT_FILE is read when a client starts: set it in a child process of its own, as
    // setting it here would race with the other tests.
    let Ok(dir) = std::env::var("DISTIL_TEST_TLS_DIR") else {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = tls_material();
        std::fs::write(dir.path().join("ca.pem"), ca).unwrap();
        std::fs::write(dir.path().join("cert.der"), &cert).unwrap();
        std::fs::write(dir.path().join("key.der"), &key).unwrap();
        // Without the CA, the server's certificate is refused.
        let server = LlmServer::start_tls(LlmState::default(), tls_config(cert, key)).await;
        let llm = openai(&format!("{}/v1", server.url)).retry(fast_retries(1));
        let mut pipeline = pipeline_of(&["a".to_owned()], TextGeneration::new(llm));
        let error = run(&mut pipeline, &dir.path().join("untrusted"))
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("certificate"), "{error}");
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "http2_over_tls_with_a_ca_from_ssl_cert_file_directly_and_through_connect",
                "--exact",
            ])
            .env("SSL_CERT_FILE", dir.path().join("ca.pem"))
            .env("DISTIL_TEST_TLS_DIR", dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "the test failed in its child process");
        return;
    };
    let dir = std::path::Path::new(&dir);
    let config = tls_config(
        std::fs::read(dir.join("cert.der")).unwrap(),
        std::fs::read(dir.join("key.der")).unwrap(),
    );
    let server = LlmServer::start_tls(LlmState::default(), config).await;
    let out = tempfile::tempdir().unwrap();
    let instructions = prompts(16);
    let llm = openai(&format!("{}/v1", server.url)).no_proxy();
    let mut pipeline = pipeline_of(&instructions, TextGeneration::new(llm));
    let distiset = run(&mut pipeline, out.path()).await.unwrap();
    assert_eq!(column(&distiset, "generation")[15], json!("echo: q15"));
    let versions = server.state.versions.lock().unwrap().clone();
    assert_eq!(versions.get("HTTP/2.0"), Some(&16), "{versions:?}");

    // Through a CONNECT tunnel, still HTTP/2 inside (new prompts: the response cache holds
    // the answers to the others).
    let (proxy, seen) = connect_proxy().await;
    let llm = openai(&format!("{}/v1", server.url)).proxy(&proxy);
    let proxied: Vec<String> = (0..16).map(|i| format!("proxied {i}")).collect();
    let mut pipeline = pipeline_of(&proxied, TextGeneration::new(llm));
    run(&mut pipeline, &out.path().join("proxied"))
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    let port = server.url.rsplit(':').next().unwrap();
    assert!(
        seen[0].starts_with(&format!("CONNECT localhost:{port} HTTP/1.1")),
        "{seen:?}"
    );
    assert!(
        seen[0].contains("dXNlcjpwYTU1"),
        "Basic user:pa55: {seen:?}"
    );
    let versions = server.state.versions.lock().unwrap().clone();
    assert_eq!(versions.get("HTTP/2.0"), Some(&32), "{versions:?}");
}

/// A forward proxy for plain http on 127.0.0.1: it records the first request head of each
/// connection, then relays the connection to the host the absolute URL names. With `refuse`,
/// it answers 407.
async fn forward_proxy(refuse: bool) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://user:pa55@{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut client, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    head.push(client.read_u8().await.unwrap());
                }
                let text = String::from_utf8(head.clone()).unwrap();
                log.lock().unwrap().push(text.clone());
                if refuse {
                    let _ = client
                        .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    return;
                }
                let target = text.split_whitespace().nth(1).unwrap();
                let host = target
                    .trim_start_matches("http://")
                    .split('/')
                    .next()
                    .unwrap()
                    .to_owned();
                let mut upstream = tokio::net::TcpStream::connect(host).await.unwrap();
                // Servers take the absolute form too: the head goes on as it came.
                upstream.write_all(&head).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn plain_http_goes_through_a_forward_proxy_and_a_refusal_stops_the_run() {
    let server = LlmServer::start(LlmState::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let (proxy, seen) = forward_proxy(false).await;
    let llm = openai(&server.v1()).proxy(&proxy);
    assert!(!format!("{llm:?}").contains("pa55"));
    let instructions = vec!["a".to_owned(), "b".to_owned()];
    let mut pipeline = pipeline_of(&instructions, TextGeneration::new(llm));
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    assert_eq!(column(&distiset, "generation"), ["echo: a", "echo: b"]);
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen[0].starts_with(&format!("POST {}/chat/completions HTTP/1.1", server.v1())),
        "not a CONNECT: {seen:?}"
    );
    assert!(
        seen[0]
            .to_ascii_lowercase()
            .contains("proxy-authorization: basic dxnlcjpwytu1"),
        "{seen:?}"
    );

    let (refusing, _) = forward_proxy(true).await;
    let llm = openai(&server.v1()).proxy(&refusing);
    // A prompt not answered before: the response cache holds the others.
    let mut pipeline = pipeline_of(&["c".to_owned()], TextGeneration::new(llm));
    let error = run(&mut pipeline, &dir.path().join("refused"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("proxy") && error.contains("407") && !error.contains("pa55"),
        "{error}"
    );
}

#[tokio::test]
async fn the_adaptive_limit_settles_near_what_the_server_serves() {
    let server = LlmServer::start(LlmState {
        latency: Duration::from_millis(20),
        reject_above: Some(8),
        ..LlmState::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let llm = openai(&server.v1())
        .max_concurrency(64)
        .retry(fast_retries(20));
    let instructions = prompts(400);
    let mut pipeline = pipeline_of(&instructions, TextGeneration::new(llm.clone()));
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    assert!(column(&distiset, "generation").iter().all(Value::is_string));
    let limit = llm.current_limit();
    assert!((4..=12).contains(&limit), "limit {limit}");
    // After the first round, few requests are turned away.
    let rejected = server.state.rejected.load(Ordering::SeqCst);
    assert!(rejected < 200, "{rejected} of {} rejected", 400 + rejected);
    let log = std::fs::read_to_string(dir.path().join("pipeline.log")).unwrap();
    assert!(log.contains("of 64 (adaptive)"), "{log}");

    // Off, the limit stays where it was set.
    let fixed = openai(&server.v1())
        .max_concurrency(16)
        .adaptive_concurrency(false)
        .retry(fast_retries(20));
    let fresh: Vec<String> = (0..40).map(|i| format!("fixed {i}")).collect();
    let mut pipeline = pipeline_of(&fresh, TextGeneration::new(fixed.clone()));
    run(&mut pipeline, &dir.path().join("fixed")).await.unwrap();
    assert_eq!(fixed.current_limit(), 16);
}

#[tokio::test]
async fn a_queueing_server_gets_no_request_cancelled_or_re_sent() {
    // 4 slots, the rest waits its turn: 32 requests wait far longer than the timeout, while
    // the server answers others.
    let server = LlmServer::start(LlmState {
        latency: Duration::from_millis(150),
        queue_slots: Some(4),
        ..LlmState::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let llm = openai(&server.v1())
        .max_concurrency(32)
        .timeout(Duration::from_millis(400));
    let mut pipeline = pipeline_of(&prompts(32), TextGeneration::new(llm.clone()));
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    assert!(column(&distiset, "generation").iter().all(Value::is_string));
    let usage = llm.usage();
    assert_eq!((usage.requests, usage.retries, usage.failed), (32, 0, 0));
    assert_eq!(server.state.cancelled.load(Ordering::SeqCst), 0);
    assert_eq!(server.answered(), 32);
}

#[tokio::test]
async fn a_server_that_never_answers_is_declared_down_after_the_bounded_attempts() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let llm = openai(&url).timeout(Duration::from_millis(200));
    let mut pipeline = pipeline_of(&prompts(64), TextGeneration::new(llm.clone()));
    let error = run(&mut pipeline, dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!("cannot be reached at {url}"))
            && error.contains("3 attempts")
            && error.contains("no answer from the endpoint"),
        "{error}"
    );
}

#[tokio::test]
async fn a_server_that_dies_mid_run_stops_the_run_naming_its_url() {
    let server = LlmServer::start(LlmState {
        latency: Duration::from_millis(5),
        ..LlmState::default()
    })
    .await;
    let state = server.state.clone();
    let server = Arc::new(server);
    let killer = server.clone();
    tokio::spawn(async move {
        while state.answered.load(Ordering::SeqCst) < 100 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        killer.die();
    });
    let dir = tempfile::tempdir().unwrap();
    let llm = openai(&server.v1())
        .max_concurrency(8)
        .down_after(Duration::from_millis(300))
        .retry(fast_retries(50));
    let mut pipeline = pipeline_of(&prompts(2000), TextGeneration::new(llm));
    let error = run(&mut pipeline, dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!("OpenAI at {} is down", server.v1())),
        "{error}"
    );
    assert!(server.answered() < 2000);
}

#[tokio::test]
async fn a_low_open_file_limit_caps_connections_without_a_retry_storm() {
    let Ok(url) = std::env::var("DISTIL_TEST_LLM_URL") else {
        let server = LlmServer::start(LlmState {
            latency: Duration::from_millis(30),
            ..LlmState::default()
        })
        .await;
        let exe = std::env::current_exe().unwrap();
        let mut child = std::process::Command::new("sh");
        child
            .args([
                "-c",
                "ulimit -n 64 && exec \"$0\" a_low_open_file_limit_caps_connections_without_a_retry_storm --exact",
            ])
            .arg(exe)
            .env("DISTIL_TEST_LLM_URL", server.v1());
        // The server runs on this thread's runtime: wait for the child off it.
        let status = tokio::task::spawn_blocking(move || child.status().unwrap())
            .await
            .unwrap();
        assert!(status.success(), "the test failed in its child process");
        // 300 rows, then 2 x 200 requests: at most one attempt each.
        assert!(server.answered() <= 700, "{}", server.answered());
        assert!(server.max_in_flight() <= 64, "{}", server.max_in_flight());
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let llm = openai(&url).max_concurrency(1024);
    let mut pipeline = pipeline_of(&prompts(300), TextGeneration::new(llm.clone()));
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    assert!(column(&distiset, "generation").iter().all(Value::is_string));
    assert!(llm.current_limit() < 64, "{}", llm.current_limit());

    // Two endpoints' worth of connections may still run out: the error says so, at once.
    let params = distil::llm::GenerationParams::default();
    let clients = [
        openai(&url).max_concurrency(1024),
        openai(&url).max_concurrency(1024),
    ];
    let prompt = distil::llm::Prompt::Text("x".to_owned());
    let calls = clients
        .iter()
        .flat_map(|c| (0..200).map(|_| c.generate(&prompt, &params)));
    let answers = futures_util::future::join_all(calls).await;
    for answer in answers {
        if let Err(e) = answer {
            assert!(
                e.is_fatal() && e.message().contains("open-file limit is 64"),
                "{e}"
            );
        }
    }
    assert_eq!(clients[0].usage().retries + clients[1].usage().retries, 0);
}

#[tokio::test]
async fn num_generations_go_in_one_request_where_n_is_supported() {
    let server = LlmServer::start(LlmState {
        record: true,
        ..LlmState::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let task = TextGeneration::new(openai(&server.v1()))
        .num_generations(3)
        .group_generations(true);
    let mut pipeline = pipeline_of(&["a".to_owned(), "b".to_owned()], task);
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "one request per row");
    assert_eq!(seen[0].body["n"], 3);
    assert_eq!(
        column(&distiset, "generation")[0],
        json!(["echo: a #0", "echo: a #1", "echo: a #2"])
    );
    let metadata = column(&distiset, METADATA_COLUMN);
    assert_eq!(
        metadata[0]["statistics_generate"],
        json!({"input_tokens": [1, 1, 1], "output_tokens": [5, 5, 5], "output_tokens_estimated": true})
    );

    // Anthropic has no `n`: a request per generation.
    let claude = Anthropic::new("claude-test")
        .base_url(&server.url)
        .api_key("sk-test")
        .retry(fast_retries(2));
    let task = TextGeneration::new(claude).num_generations(2);
    let mut pipeline = pipeline_of(&["c".to_owned()], task);
    let distiset = run(&mut pipeline, &dir.path().join("anthropic"))
        .await
        .unwrap();
    assert_eq!(column(&distiset, "generation"), ["echo: c", "echo: c"]);
    assert_eq!(server.seen().len(), 4);
    assert!(server.seen()[2].body.get("n").is_none());
}

/// A structured answer the server cut at the token limit.
#[derive(Row, Deserialize, JsonSchema, Debug)]
#[schemars(crate = "distil::llm::structured::schemars")]
struct Named {
    name: String,
}

#[tokio::test]
async fn a_structured_answer_cut_at_max_new_tokens_says_so() {
    let server = LlmServer::start(LlmState::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let task = StructuredGeneration::<Named>::new(openai(&server.v1()));
    let mut pipeline = pipeline_of(&["finish:length".to_owned()], task);
    let distiset = run(&mut pipeline, dir.path()).await.unwrap();
    let error = first_error(&column(&distiset, METADATA_COLUMN)[0]);
    assert!(
        error.contains("cut at max_new_tokens") && error.contains("`length`"),
        "{error}"
    );
}
