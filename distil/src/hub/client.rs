//! One HTTP client for the Hub: authentication, retries, and turning failed answers into
//! [`Error`]s that name the repo, the file and the endpoint, never the token.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

use super::config::HubConfig;
use crate::http::{is_retryable_transport, redact_url, retry_after, transport_message};
use crate::{Error, Result};

/// A client for the Hugging Face Hub: downloads ([`HubClient::download_parquet`]) and pushes
/// ([`HubClient::push_folder`]). Cheap to clone; clones share their connection pool.
#[derive(Debug, Clone)]
pub struct HubClient {
    config: HubConfig,
    http: reqwest::Client,
    /// Downloads go through `hf-hub`; uploads through `http`.
    pub(super) hf: super::fetch::HfApi,
}

/// One request to the Hub, as errors describe it.
pub(crate) struct Call<'a> {
    /// The dataset's repo id.
    pub(crate) repo: &'a str,
    /// The file the request is about, if any.
    pub(crate) file: Option<&'a str>,
    /// The HTTP method.
    pub(crate) method: Method,
    /// The full URL.
    pub(crate) url: String,
    /// Whether to send the token. Never for URLs the Hub hands out to other hosts (signed
    /// upload URLs): the token is for the Hub alone.
    pub(crate) authenticated: bool,
    /// Error statuses the caller handles itself (409 "already exists" when creating a repo).
    pub(crate) accept: &'a [u16],
}

impl Call<'_> {
    /// `METHOD url` without query, for messages.
    pub(crate) fn describe(&self) -> String {
        format!("{} {}", self.method, redact_url(&self.url))
    }

    /// An error for a failure on the way (network) or in the answer.
    pub(crate) fn failed(&self, message: impl Into<String>) -> Error {
        Error::HubRequest {
            repo: self.repo.to_owned(),
            file: self.file.map(str::to_owned),
            url: self.describe(),
            message: message.into(),
        }
    }

    /// An error for an answer distil cannot use.
    pub(crate) fn malformed(&self, message: impl Into<String>) -> Error {
        Error::HubResponse {
            repo: self.repo.to_owned(),
            url: self.describe(),
            message: message.into(),
        }
    }
}

impl HubClient {
    /// A client with this configuration.
    pub fn new(config: HubConfig) -> Result<Self> {
        let mut agent = format!("distil/{}", env!("CARGO_PKG_VERSION"));
        if let Some(origin) = &config.user_agent_origin {
            agent.push_str("; origin/");
            agent.push_str(origin);
        }
        let http = crate::http::client_builder()
            .user_agent(agent)
            // Between two reads, not for a whole download: large files take long.
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::HubInvalid {
                repo: String::new(),
                message: format!("cannot build the HTTP client: {}", e.without_url()),
            })?;
        Ok(HubClient {
            config,
            http,
            hf: super::fetch::HfApi::default(),
        })
    }

    /// A client configured from the environment ([`HubConfig::from_env`]).
    pub fn from_env() -> Result<Self> {
        Self::new(HubConfig::from_env())
    }

    /// The configuration in use.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Fails when `HF_HUB_OFFLINE` forbids the network.
    pub(crate) fn require_online(&self, repo: &str, doing: &str) -> Result<()> {
        if self.config.offline {
            return Err(Error::HubInvalid {
                repo: repo.to_owned(),
                message: format!("cannot {doing}: HF_HUB_OFFLINE is set"),
            });
        }
        Ok(())
    }

    /// Sends a request, retrying connection errors, 429 and 5xx answers per the retry policy;
    /// `build` adds the body and headers to a fresh request for each attempt. A success (or an
    /// accepted status) comes back as the response, anything else as an error.
    pub(crate) async fn send(
        &self,
        call: &Call<'_>,
        build: impl Fn(RequestBuilder) -> Result<RequestBuilder>,
    ) -> Result<Response> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.http.request(call.method.clone(), &call.url);
            if let (true, Some(token)) = (call.authenticated, &self.config.token) {
                request = request.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
            }
            let outcome = build(request)?.send().await;
            let (retry_after, failure) = match outcome {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() || call.accept.contains(&status.as_u16()) {
                        return Ok(response);
                    }
                    if !crate::http::retry::is_retryable_status(status.as_u16()) {
                        return Err(self.status_error(call, response).await);
                    }
                    (
                        retry_after(
                            response
                                .headers()
                                .get(reqwest::header::RETRY_AFTER)
                                .map(|v| v.as_bytes()),
                        ),
                        None,
                    )
                }
                Err(error) if is_retryable_transport(&error) => (None, Some(error)),
                Err(error) => return Err(call.failed(self.scrub(transport_message(&error)))),
            };
            match self.config.retry.delay_after(attempt, retry_after) {
                Some(delay) => {
                    tracing::debug!(url = %call.describe(), attempt, ?delay, "retrying Hub request");
                    tokio::time::sleep(delay).await;
                }
                None => {
                    return Err(match failure {
                        Some(error) => call.failed(format!(
                            "{} (after {attempt} attempts)",
                            self.scrub(transport_message(&error))
                        )),
                        None => {
                            call.failed(format!("the Hub kept failing (after {attempt} attempts)"))
                        }
                    });
                }
            }
        }
    }

    /// Sends a request and reads its JSON answer.
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
        build: impl Fn(RequestBuilder) -> Result<RequestBuilder>,
    ) -> Result<T> {
        let response = self.send(call, build).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| call.failed(self.scrub(transport_message(&e))))?;
        serde_json::from_slice(&bytes).map_err(|e| call.malformed(format!("invalid JSON: {e}")))
    }

    /// The error for a final non-success answer.
    async fn status_error(&self, call: &Call<'_>, response: Response) -> Error {
        let status = response.status();
        let code = header(response.headers(), "x-error-code");
        let hub_message = header(response.headers(), "x-error-message");
        let body = response.text().await.unwrap_or_default();
        self.error_for_status(call, status, code, hub_message, &body)
    }

    /// The error for a final non-success answer of `status`, with the Hub's error code and
    /// message headers when they are known, and its body.
    pub(super) fn error_for_status(
        &self,
        call: &Call<'_>,
        status: StatusCode,
        code: Option<String>,
        hub_message: Option<String>,
        body: &str,
    ) -> Error {
        let said = self.scrub(hub_message.unwrap_or_else(|| crate::http::error_message(body)));
        let repo = call.repo.to_owned();
        // Unauthenticated, the Hub answers 401 for a repo that does not exist, so that private
        // repos stay hidden; its error code tells the two apart.
        let not_found = status == StatusCode::NOT_FOUND
            || matches!(
                code.as_deref(),
                Some("RepoNotFound" | "RevisionNotFound" | "EntryNotFound")
            );
        if not_found {
            let what = match (code.as_deref(), call.file) {
                (Some("RevisionNotFound"), _) => "the revision".to_owned(),
                (_, Some(file)) if code.as_deref() != Some("RepoNotFound") => {
                    format!("file `{file}`")
                }
                _ => "the dataset repository (or it is private and the token cannot see it)"
                    .to_owned(),
            };
            let what = if said.is_empty() {
                what
            } else {
                format!("{what} [{said}]")
            };
            return Error::HubNotFound {
                repo,
                what,
                url: call.describe(),
            };
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let advice = match (code.as_deref(), &self.config.token, status) {
                (Some("GatedRepo"), _, _) => {
                    "the dataset is gated: accept its conditions on the Hub with the token's account"
                }
                (_, None, _) => {
                    "no token was sent: set HF_TOKEN or log in with `huggingface-cli login`"
                }
                (_, Some(_), StatusCode::UNAUTHORIZED) => {
                    "the token was rejected: it is invalid or expired"
                }
                _ => {
                    "the token has no access: the dataset is private or gated, or the token cannot write"
                }
            };
            let hint = if said.is_empty() {
                advice.to_owned()
            } else {
                format!("{advice} [{said}]")
            };
            return Error::HubAccessDenied {
                repo,
                status: status.as_u16(),
                url: call.describe(),
                hint,
            };
        }
        let mut message = format!("HTTP {status}");
        if !said.is_empty() {
            message.push_str(": ");
            message.push_str(&said);
        }
        call.failed(message)
    }

    /// Removes the token from a message that might echo it (a server error, a URL).
    pub(crate) fn scrub(&self, message: impl Into<String>) -> String {
        let message = message.into();
        match &self.config.token {
            Some(token) if !token.expose().is_empty() => message.replace(token.expose(), "***"),
            _ => message,
        }
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
}
