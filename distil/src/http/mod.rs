//! The one HTTP stack of the Hub client and the LLM clients: how a reqwest client is built
//! (TLS, roots, HTTP/2, proxies), the retry policy, which failures may pass on a second try,
//! `Retry-After`, and error messages that carry no secret.

pub(crate) mod retry;

use std::time::Duration;

/// A reqwest client builder with what every client of distil shares: rustls trusting the
/// system's roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` replace them when set) and the webpki
/// roots as a fallback, HTTP/2 when the server offers it by ALPN (HTTP/1.1 otherwise), the
/// proxies `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` name minus the hosts `NO_PROXY` lists, a
/// connect timeout of its own, and distil's user agent. Callers add their own timeouts.
pub(crate) fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_native_certs(true)
        .tls_built_in_webpki_certs(true)
        .user_agent(concat!("distil/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
}

#[cfg(feature = "hub")]
/// Connection and timeout errors may pass on a second try; a malformed request will not.
/// Only for idempotent requests (the Hub's): an LLM request is re-sent only when it is known
/// not to have reached the server.
pub(crate) fn is_retryable_transport(error: &reqwest::Error) -> bool {
    error.is_connect()
        || error.is_timeout()
        || error.is_request()
        || error.is_body()
        || error.is_decode()
}

/// Whether a transport error is this process's own lack of resources (no file descriptor
/// left: EMFILE, ENFILE), which no retry and no server can fix.
#[cfg(feature = "llm-clients")]
pub(crate) fn is_local_resource_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(io.raw_os_error(), Some(23 | 24))
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A transport error's message with its causes, without the URL (which the error names
/// elsewhere, redacted).
pub(crate) fn transport_message(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause = cause.to_string();
        // hyper repeats its cause in its own message: say it once.
        if !message.ends_with(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
        source = cause_of(source);
    }
    // reqwest puts the URL in its message; our own describes it, without the query.
    if let Some(url) = error.url() {
        message = message.replace(url.as_str(), &redact_url(url.as_str()));
    }
    message
}

fn cause_of<'a>(
    error: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    error.and_then(std::error::Error::source)
}

#[cfg(feature = "llm-clients")]
/// The open-file limit after raising the soft limit to the hard one (once per process), or
/// `None` where it cannot be read. Every connection holds a file descriptor.
pub(crate) fn open_file_limit() -> Option<u64> {
    static LIMIT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        let raised = rlimit::increase_nofile_limit(u64::MAX).ok();
        raised.or_else(|| {
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        })
    })
}

#[cfg(feature = "llm-clients")]
/// Connections one endpoint may hold: three quarters of the open-file limit, less a reserve
/// for the files a run writes, so that connections never exhaust it.
pub(crate) fn connection_budget() -> usize {
    match open_file_limit() {
        Some(limit) => usize::try_from((limit.saturating_mul(3) / 4).saturating_sub(16))
            .unwrap_or(usize::MAX)
            .max(1),
        None => usize::MAX,
    }
}

/// A `Retry-After` header's value in seconds (the HTTP-date form is rare on these APIs and is
/// ignored).
pub(crate) fn retry_after(value: Option<&[u8]>) -> Option<Duration> {
    let seconds: f64 = std::str::from_utf8(value?).ok()?.trim().parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// A URL without its query and fragment, for messages: signed upload URLs carry credentials
/// there.
pub(crate) fn redact_url(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url[..end].to_owned()
}

/// What a server said in an error body, in any of the shapes real servers send:
/// `{"error": {"message": .., "code": ..}}` (OpenAI, vLLM, Groq, ...), `{"error": ".."}` (TGI,
/// the Hub), `{"detail": ..}` (FastAPI servers), `{"message": ..}`, or plain text (cut short).
pub(crate) fn error_message(body: &str) -> String {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.chars().take(300).collect::<String>().trim().to_owned();
    };
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    };
    let said = match (json.get("error"), json.get("detail"), json.get("message")) {
        (Some(serde_json::Value::Object(error)), _, _) => {
            let message = error.get("message").and_then(text);
            let code = error
                .get("code")
                .or_else(|| error.get("type"))
                .and_then(text);
            match (message, code) {
                (Some(m), Some(c)) => Some(format!("{m} ({c})")),
                (m, c) => m.or(c),
            }
        }
        (Some(error), _, _) => text(error),
        (None, Some(detail), _) => text(detail),
        (None, None, Some(message)) => text(message),
        _ => None,
    };
    said.unwrap_or_else(|| body.chars().take(300).collect::<String>().trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_error_shape() {
        assert_eq!(
            error_message(r#"{"error":{"message":"too long","code":"context_length_exceeded"}}"#),
            "too long (context_length_exceeded)"
        );
        assert_eq!(
            error_message(r#"{"error":{"message":"bad","code":400}}"#),
            "bad (400)"
        );
        assert_eq!(
            error_message(r#"{"error":"Input validation error"}"#),
            "Input validation error"
        );
        assert_eq!(error_message(r#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(
            error_message(r#"{"detail":[{"loc":["body"],"msg":"field required"}]}"#),
            r#"[{"loc":["body"],"msg":"field required"}]"#
        );
        assert_eq!(
            error_message("upstream connect error\n"),
            "upstream connect error"
        );
        assert_eq!(error_message(" Bad Gateway "), "Bad Gateway");
    }

    #[cfg(feature = "hub")]
    #[test]
    fn redacts_queries() {
        assert_eq!(
            redact_url("https://s3/x?X-Amz-Signature=abc"),
            "https://s3/x"
        );
    }
}
