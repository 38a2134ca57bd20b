//! What the Hub client and the LLM clients share about HTTP: retry policy, which failures may
//! pass on a second try, `Retry-After`, and error messages that carry no secret.

pub(crate) mod retry;

use std::time::Duration;

#[cfg(feature = "hub")]
/// Connection and timeout errors may pass on a second try; a malformed request will not.
pub(crate) fn is_retryable_transport(error: &reqwest::Error) -> bool {
    error.is_connect()
        || error.is_timeout()
        || error.is_request()
        || error.is_body()
        || error.is_decode()
}

#[cfg(feature = "hub")]
/// A transport error's message with its causes, without the URL (which the error names
/// elsewhere, redacted).
pub(crate) fn transport_message(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    // reqwest puts the URL in its message; our own describes it, without the query.
    if let Some(url) = error.url() {
        message = message.replace(url.as_str(), &redact_url(url.as_str()));
    }
    message
}

/// A `Retry-After` header's value in seconds (the HTTP-date form is rare on these APIs and is
/// ignored).
pub(crate) fn retry_after(value: Option<&[u8]>) -> Option<Duration> {
    let seconds: f64 = std::str::from_utf8(value?).ok()?.trim().parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(feature = "hub")]
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
