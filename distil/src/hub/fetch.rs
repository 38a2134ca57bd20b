//! A file's download by the `hf-hub` crate, with what distil adds around it: the Hub's
//! configuration as distil resolves it (endpoint, token, cache folder), retries of what may
//! pass on another attempt, a stall limit, the content checked against the listed size and
//! SHA-256, and errors that name the repo and the file. `hf-hub` itself writes the Hugging
//! Face cache layout (`blobs/`, `snapshots/<commit>/`, `refs/`), downloading a large file in
//! ranges, several at once, and resuming a cut download where it stopped.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hf_hub::api::tokio::{Api, ApiBuilder, ApiError, Progress};
use hf_hub::{Repo, RepoType};

use super::cache::{RepoCache, is_commit_id};
use super::client::{Call, HubClient};
use super::config::HubConfig;
use super::download::RemoteFile;
use crate::http::{is_retryable_transport, transport_message};
use crate::{Error, Result};

/// A download that receives nothing for this long is abandoned (and tried again): a
/// connection that hangs, not a large file, which keeps receiving.
const STALL_LIMIT: Duration = Duration::from_secs(60);

/// The `hf-hub` client of a [`HubClient`], made on its first download. Its `Debug` shows
/// nothing: the client holds the token in its default headers.
///
/// `hf-hub` (0.4) sends those headers, the token with them, on the one-byte probe it makes
/// to the host a resolve URL redirects to (the Hub's CDN) to learn a file's size; the
/// content itself comes through the redirect, which drops the token for another host.
/// Python's `huggingface_hub` sends the CDN no token at all.
#[derive(Clone, Default)]
pub(crate) struct HfApi(Arc<OnceLock<Api>>);

impl std::fmt::Debug for HfApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HfApi")
    }
}

impl HfApi {
    fn get(&self, config: &HubConfig, repo: &str) -> Result<&Api> {
        if let Some(api) = self.0.get() {
            return Ok(api);
        }
        let mut builder = ApiBuilder::from_cache(hf_hub::Cache::new(config.cache_dir.clone()))
            .with_endpoint(config.endpoint.clone())
            .with_token(config.token.as_ref().map(|t| t.expose().to_owned()))
            .with_progress(false)
            .with_chunk_size(Some(config.download_chunk_bytes.max(1)))
            .with_max_files(config.parallel_ranges.max(1))
            .with_user_agent("distil", env!("CARGO_PKG_VERSION"));
        if let Some(origin) = &config.user_agent_origin {
            builder = builder.with_user_agent("origin", origin);
        }
        let api = builder.build().map_err(|e| Error::HubInvalid {
            repo: repo.to_owned(),
            message: format!(
                "cannot build the download client (is the token a valid header value?): {}",
                scrub(config, e.to_string())
            ),
        })?;
        Ok(self.0.get_or_init(|| api))
    }
}

/// Records when the download last made progress, for the stall limit.
#[derive(Clone)]
struct Activity(Arc<Mutex<Instant>>);

impl Activity {
    fn new() -> Self {
        Activity(Arc::new(Mutex::new(Instant::now())))
    }

    fn touch(&self) {
        *self.0.lock().expect("not poisoned") = Instant::now();
    }

    /// Returns once nothing happened for `limit`.
    async fn stalled(&self, limit: Duration) {
        loop {
            let idle = self.0.lock().expect("not poisoned").elapsed();
            if idle >= limit {
                return;
            }
            tokio::time::sleep(limit - idle).await;
        }
    }
}

impl Progress for Activity {
    async fn init(&mut self, _size: usize, _filename: &str) {
        self.touch();
    }

    async fn update(&mut self, _size: usize) {
        self.touch();
    }

    async fn finish(&mut self) {
        self.touch();
    }
}

/// Why an attempt failed: for good, or in a way another attempt may fix.
enum Failure {
    Fatal(Error),
    Retry(String),
}

impl HubClient {
    /// Downloads `file` of `repo_id` at `revision` with `hf-hub` into the cache and returns its
    /// snapshot path, trying again per the retry policy when the connection fails, the Hub
    /// answers 429 or 5xx, the transfer stalls, or the content is not the listed one.
    pub(super) async fn fetch(
        &self,
        call: &Call<'_>,
        cache: &RepoCache,
        repo_id: &str,
        revision: &str,
        file: &RemoteFile,
    ) -> Result<PathBuf> {
        // hf-hub puts the path into the URL as it is.
        if file.path.contains(['#', '?', '%']) {
            return Err(call.malformed(format!(
                "cannot download `{}`: a path holding `#`, `?` or `%` is not supported",
                file.path
            )));
        }
        let api = self.hf.get(self.config(), repo_id)?;
        let repo = api.repo(Repo::with_revision(
            repo_id.to_owned(),
            RepoType::Dataset,
            revision.to_owned(),
        ));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let activity = Activity::new();
            let outcome = tokio::select! {
                result = repo.download_with_progress(&file.path, activity.clone()) => {
                    result.map_err(|e| self.failure(call, cache, e))
                }
                () = activity.stalled(STALL_LIMIT) => Err(Failure::Retry(format!(
                    "nothing received for {} s",
                    STALL_LIMIT.as_secs()
                ))),
            };
            let failure = match outcome {
                Ok(link) => match check(&link, file).await {
                    Ok(()) => {
                        tidy(cache, revision, &link);
                        return Ok(link);
                    }
                    Err(reason) => {
                        discard(&link);
                        Failure::Retry(reason)
                    }
                },
                Err(failure) => failure,
            };
            let reason = match failure {
                Failure::Fatal(error) => {
                    remove_leftovers(cache, file);
                    return Err(error);
                }
                Failure::Retry(reason) => reason,
            };
            match self.config().retry.delay_after(attempt, None) {
                Some(delay) => {
                    tracing::debug!(file = %file.path, %reason, ?delay, "download failed, retrying");
                    tokio::time::sleep(delay).await;
                }
                None => {
                    remove_leftovers(cache, file);
                    return Err(call.failed(format!("{reason} (after {attempt} attempts)")));
                }
            }
        }
    }

    /// What an `hf-hub` error means for the download, in words naming the repo and the file.
    fn failure(&self, call: &Call<'_>, cache: &RepoCache, error: ApiError) -> Failure {
        match error {
            ApiError::RequestError(error) => match error.status() {
                Some(status) if crate::http::retry::is_retryable_status(status.as_u16()) => {
                    Failure::Retry(format!("the Hub answered HTTP {status}"))
                }
                Some(status) => Failure::Fatal(self.error_for_status(call, status, None, None, "")),
                None if is_retryable_transport(&error) => Failure::Retry(format!(
                    "the connection failed: {}",
                    self.scrub(transport_message(&error))
                )),
                None => Failure::Fatal(call.failed(self.scrub(transport_message(&error)))),
            },
            ApiError::TooManyRetries(error) => self.failure(call, cache, *error),
            ApiError::MissingHeader(header) => Failure::Fatal(call.malformed(format!(
                "the answer has no `{header}` header, which the Hub sends with every file"
            ))),
            ApiError::InvalidHeader(header) => {
                Failure::Fatal(call.malformed(format!("the answer's `{header}` header is invalid")))
            }
            ApiError::IoError(source) => Failure::Fatal(Error::Io {
                path: cache.root().display().to_string(),
                source,
            }),
            ApiError::LockAcquisition(lock) => Failure::Fatal(call.failed(format!(
                "another process is downloading this file (it holds {})",
                lock.display()
            ))),
            other => Failure::Fatal(call.failed(self.scrub(other.to_string()))),
        }
    }
}

/// Whether the downloaded file is the listed one: its size, and its SHA-256 for LFS files
/// (`hf-hub` names the blob after the Hub's ETag without reading it back).
async fn check(path: &Path, file: &RemoteFile) -> std::result::Result<(), String> {
    let path = path.to_owned();
    let size = file.size;
    let expected = file.is_sha256.then(|| file.version.to_ascii_lowercase());
    tokio::task::spawn_blocking(move || {
        let (received, actual) =
            crate::cache::sha256_file(&path).map_err(|e| format!("cannot read it: {e}"))?;
        if received != size {
            return Err(format!("got {received} of the listed {size} bytes"));
        }
        match expected {
            Some(expected) if actual != expected => Err(format!(
                "SHA-256 {actual} differs from the listed {expected}"
            )),
            _ => Ok(()),
        }
    })
    .await
    .unwrap_or_else(|e| Err(format!("the check failed: {e}")))
}

/// Removes a snapshot link and the blob it points to, after a check found them wrong.
fn discard(link: &Path) {
    if let Ok(blob) = std::fs::canonicalize(link) {
        let _ = std::fs::remove_file(blob);
    }
    let _ = std::fs::remove_file(link);
}

/// `hf-hub`'s files beside a blob: its lock and its partial download.
fn beside(blob: &Path) -> [PathBuf; 2] {
    [
        blob.with_extension("lock"),
        blob.with_extension("sync.part"),
    ]
}

/// After a download: `hf-hub`'s lock file goes (Python keeps its own under `.locks/`), and
/// so does a ref named after a commit id, which `huggingface_hub` never writes.
fn tidy(cache: &RepoCache, revision: &str, link: &Path) {
    if let Ok(blob) = std::fs::canonicalize(link) {
        let _ = std::fs::remove_file(blob.with_extension("lock"));
    }
    if is_commit_id(revision) {
        let _ = std::fs::remove_file(cache.root().join("refs").join(revision));
    }
}

/// After a download that failed for good: its partial file and lock (named after the
/// version the Hub gives as the file's ETag), so nothing half written stays in the cache.
fn remove_leftovers(cache: &RepoCache, file: &RemoteFile) {
    if let Some(blob) = cache.blob_path(&file.version) {
        for leftover in beside(&blob) {
            let _ = std::fs::remove_file(leftover);
        }
        if let Some(blobs) = blob.parent() {
            let _ = std::fs::remove_dir(blobs);
        }
        let _ = std::fs::remove_dir(cache.root());
    }
}

fn scrub(config: &HubConfig, message: String) -> String {
    match &config.token {
        Some(token) if !token.expose().is_empty() => message.replace(token.expose(), "***"),
        _ => message,
    }
}
