//! A Google Cloud service account as a [`TokenSource`]: from its JSON key file
//! (`GOOGLE_APPLICATION_CREDENTIALS`), a JWT signed RS256 with the account's private key is
//! exchanged at the key's `token_uri` for an access token (OAuth 2.0's JWT bearer grant),
//! kept until five minutes before it expires.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;

use crate::Secret;
use crate::llm::{LlmError, TokenSource};
use crate::step::BoxFuture;

/// What Vertex AI needs: the whole of Google Cloud's API surface, as `gcloud` asks for it.
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// A token is replaced this long before it expires, so no request carries one that expires
/// on the way.
const MARGIN: Duration = Duration::from_secs(300);

/// A Google Cloud service account, read from its JSON key file, giving Vertex AI its access
/// tokens ([`Gemini::service_account`](crate::llm::Client::service_account)). The private key
/// stays in memory: it is never printed (`Debug` shows the account's e-mail), logged, cached
/// or written; the tokens neither.
///
/// ```no_run
/// use distil::llm::{Gemini, ServiceAccount};
///
/// let account = ServiceAccount::from_file("key.json").expect("a service-account key");
/// let vertex = Gemini::vertex("my-project", "us-central1", "gemini-2.5-flash")
///     .service_account(account);
/// ```
#[derive(Clone)]
pub struct ServiceAccount {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where the key came from, for messages.
    file: PathBuf,
    /// The key, or why the file gave none (reported by `check`, before any row).
    key: Result<Key, String>,
    http: reqwest::Client,
    current: tokio::sync::Mutex<Option<Issued>>,
}

struct Key {
    email: String,
    key_id: Option<String>,
    token_uri: String,
    signer: EncodingKey,
}

#[derive(Clone)]
struct Issued {
    token: Secret,
    expires: Instant,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("file", &self.inner.file)
            .field(
                "email",
                &self.inner.key.as_ref().map(|k| k.email.as_str()).ok(),
            )
            .finish()
    }
}

/// The fields of a key file distil reads; the others (`project_id`, `client_id`, ...) are
/// left alone.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

impl ServiceAccount {
    /// The service account of the JSON key file at `path` (as the Cloud console downloads
    /// it). The error names the file and what is wrong, never the key.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, String> {
        let account = Self::load(path.as_ref());
        match &account.inner.key {
            Ok(_) => Ok(account),
            Err(message) => Err(message.clone()),
        }
    }

    /// The service account of the key file `GOOGLE_APPLICATION_CREDENTIALS` names, if set;
    /// a file that cannot be read is reported when the run starts.
    pub(crate) fn from_env() -> Option<Self> {
        let path = std::env::var("GOOGLE_APPLICATION_CREDENTIALS").ok()?;
        let path = path.trim();
        (!path.is_empty()).then(|| Self::load(Path::new(path)))
    }

    /// The account's e-mail (`name@project.iam.gserviceaccount.com`).
    pub fn email(&self) -> Option<&str> {
        self.inner.key.as_ref().ok().map(|k| k.email.as_str())
    }

    fn load(path: &Path) -> Self {
        let http = crate::http::client_builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"));
        let key = http
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|_| read_key(path));
        ServiceAccount {
            inner: Arc::new(Inner {
                file: path.to_owned(),
                key,
                http: http.unwrap_or_default(),
                current: tokio::sync::Mutex::new(None),
            }),
        }
    }

    async fn token_now(&self, refused: Option<&Secret>) -> Result<Secret, LlmError> {
        let key = self
            .inner
            .key
            .as_ref()
            .map_err(|e| LlmError::fatal(e.clone()))?;
        let mut current = self.inner.current.lock().await;
        if let Some(issued) = current.as_ref() {
            let valid = Instant::now() + MARGIN < issued.expires;
            // Another request may have replaced the refused token already.
            let refused = refused.is_some_and(|r| r.expose() == issued.token.expose());
            if valid && !refused {
                return Ok(issued.token.clone());
            }
        }
        let issued = self.exchange(key).await?;
        let token = issued.token.clone();
        *current = Some(issued);
        Ok(token)
    }

    /// A JWT signed with the key, exchanged at the key's token URI; connection failures,
    /// 429 and 5xx answers are tried again a few times.
    async fn exchange(&self, key: &Key) -> Result<Issued, LlmError> {
        let who = format!(
            "service account `{}` (key file {})",
            key.email,
            self.inner.file.display()
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            let assertion = assertion(key).map_err(|e| {
                LlmError::fatal(format!("cannot sign the token request of {who}: {e}"))
            })?;
            let form = format!(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
            );
            let sent = self
                .inner
                .http
                .post(&key.token_uri)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await;
            let retryable = match sent {
                Ok(answer) if answer.status().is_success() => {
                    let asked = Instant::now();
                    let body = answer.bytes().await.map_err(|e| {
                        LlmError::row(format!(
                            "the token endpoint's answer for {who} broke off: {}",
                            crate::http::transport_message(&e)
                        ))
                    })?;
                    let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
                        LlmError::fatal(format!(
                            "the token endpoint {} answered {who} without an `access_token`",
                            crate::http::redact_url(&key.token_uri)
                        ))
                    })?;
                    let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600));
                    return Ok(Issued {
                        token: Secret::new(answer.access_token),
                        expires: asked + lifetime,
                    });
                }
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    let text = answer.text().await.unwrap_or_default();
                    let said = token_error(&text);
                    if !crate::http::retry::is_retryable_status(status) {
                        return Err(LlmError::fatal(format!(
                            "Google's token endpoint refused {who} with HTTP {status}{said}"
                        )));
                    }
                    format!("HTTP {status}{said}")
                }
                Err(e) => crate::http::transport_message(&e),
            };
            if attempt >= 3 {
                return Err(LlmError::row(format!(
                    "no access token for {who} after {attempt} attempts: {retryable}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(250 * attempt)).await;
        }
    }
}

impl TokenSource for ServiceAccount {
    fn token<'a>(&'a self, refused: Option<&'a Secret>) -> BoxFuture<'a, Result<Secret, LlmError>> {
        Box::pin(self.token_now(refused))
    }

    fn check(&self) -> Result<(), LlmError> {
        self.inner
            .key
            .as_ref()
            .map(|_| ())
            .map_err(|e| LlmError::fatal(e.clone()))
    }

    fn describe(&self) -> String {
        match &self.inner.key {
            Ok(key) => format!(
                "service account `{}` (key file {})",
                key.email,
                self.inner.file.display()
            ),
            Err(_) => format!("the key file {}", self.inner.file.display()),
        }
    }
}

/// The key file's account, key and token URI; the error never quotes the file.
fn read_key(path: &Path) -> Result<Key, String> {
    let named = |what: &str| format!("service-account key file {}: {what}", path.display());
    let text = std::fs::read(path).map_err(|e| named(&format!("cannot be read ({e})")))?;
    let file: KeyFile =
        serde_json::from_slice(&text).map_err(|_| named("is not a JSON key file"))?;
    if let Some(kind) = file.kind.as_deref()
        && kind != "service_account"
    {
        return Err(named(&format!(
            "holds a `{kind}` credential, not a service account's key (for a user's, use \
             `access_token_from_gcloud`)"
        )));
    }
    let field = |value: Option<String>, name: &str| {
        value
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| named(&format!("has no `{name}`")))
    };
    let email = field(file.client_email, "client_email")?;
    let pem = field(file.private_key, "private_key")?;
    let token_uri = file
        .token_uri
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "https://oauth2.googleapis.com/token".to_owned());
    let signer = EncodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|_| named("its `private_key` is not an RSA private key in PEM"))?;
    Ok(Key {
        email,
        key_id: file.private_key_id.filter(|k| !k.is_empty()),
        token_uri,
        signer,
    })
}

/// The signed JWT: the account asks for the cloud-platform scope at the token URI, for an
/// hour.
fn assertion(key: &Key) -> Result<String, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let claims = serde_json::json!({
        "iss": key.email,
        "scope": SCOPE,
        "aud": key.token_uri,
        "iat": now,
        "exp": now + 3600,
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = key.key_id.clone();
    jsonwebtoken::encode(&header, &claims, &key.signer).map_err(|e| e.to_string())
}

/// `: error (description)` from an OAuth error answer, or nothing.
fn token_error(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let text = |key: &str| {
        parsed
            .as_ref()
            .and_then(|v| v[key].as_str())
            .map(str::to_owned)
    };
    match (text("error"), text("error_description")) {
        (Some(error), Some(description)) => format!(": {error} ({description})"),
        (Some(error), None) => format!(": {error}"),
        _ => String::new(),
    }
}
