//! Where the Hub is, who we are on it, and where downloads go: resolved from the environment
//! the way `huggingface_hub` does, and handed to `hf-hub` for downloads, because recent
//! `hf-hub` releases no longer read these variables themselves.

use std::path::{Path, PathBuf};

use crate::http::retry::RetryPolicy;
use crate::secret::Secret;

/// The public Hub, used when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// How distil talks to the Hugging Face Hub.
///
/// [`HubConfig::from_env`] resolves, in this order (explicit `with_*` calls win over all):
///
/// - token: `HF_HUB_DISABLE_IMPLICIT_TOKEN` set to a true value disables every implicit token;
///   otherwise `HF_TOKEN`, then the file at `HF_TOKEN_PATH` if that is set, else
///   `$HF_HOME/token` (what `huggingface-cli login` writes);
/// - `HF_HOME`: `HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`;
/// - download cache: `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`;
/// - endpoint: `HF_ENDPOINT`, else [`DEFAULT_ENDPOINT`];
/// - offline: `HF_HUB_OFFLINE` set to a true value (`1`, `true`, `yes`, `on`).
///
/// The token is a [`Secret`]: `{:?}` on a config prints `***` in its place.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubConfig {
    /// The Hub's base URL, without a trailing slash.
    pub endpoint: String,
    /// The token sent as `Authorization: Bearer`, if any.
    pub token: Option<Secret>,
    /// The directory downloads are cached under.
    pub cache_dir: PathBuf,
    /// Whether network access is forbidden (`HF_HUB_OFFLINE`): downloads then only use the
    /// cache, and pushes fail.
    pub offline: bool,
    /// Retries for connection errors, 429 and 5xx answers.
    pub retry: RetryPolicy,
    /// Appended to the `User-Agent` header (`HF_HUB_USER_AGENT_ORIGIN`).
    pub user_agent_origin: Option<String>,
    /// A file larger than this downloads in ranges of this many bytes (10 MB).
    pub download_chunk_bytes: usize,
    /// Ranges of one file downloaded at once (4).
    pub parallel_ranges: usize,
}

impl HubConfig {
    /// The configuration from the process environment (see the type's documentation).
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The configuration from any source of variables: `vars(name)` returns the variable's
    /// value. Lets tests and embedders resolve without touching the process environment.
    pub fn from_vars(vars: impl Fn(&str) -> Option<String>) -> Self {
        // An empty variable counts as unset, as in `huggingface_hub`.
        let var = |name: &str| {
            vars(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let hf_home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let cache = var("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| {
                let home = var("HOME")
                    .or_else(|| var("USERPROFILE"))
                    .unwrap_or_default();
                Path::new(&home).join(".cache")
            });
            cache.join("huggingface")
        });
        let cache_dir = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .map(PathBuf::from)
            .unwrap_or_else(|| hf_home.join("hub"));
        let token = if var("HF_HUB_DISABLE_IMPLICIT_TOKEN").is_some_and(|v| is_true(&v)) {
            None
        } else {
            var("HF_TOKEN").or_else(|| {
                let path = var("HF_TOKEN_PATH")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| hf_home.join("token"));
                read_token_file(&path)
            })
        };
        HubConfig {
            endpoint: normalize_endpoint(
                &var("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned()),
            ),
            token: token.map(Secret::new),
            cache_dir,
            offline: var("HF_HUB_OFFLINE").is_some_and(|v| is_true(&v)),
            retry: RetryPolicy::default(),
            user_agent_origin: var("HF_HUB_USER_AGENT_ORIGIN"),
            download_chunk_bytes: 10_000_000,
            parallel_ranges: 4,
        }
    }

    /// Uses this token instead of the environment's (`None`: send no token at all).
    pub fn with_token(mut self, token: Option<impl Into<Secret>>) -> Self {
        self.token = token.map(Into::into);
        self
    }

    /// Uses this Hub instead of `HF_ENDPOINT`'s.
    pub fn with_endpoint(mut self, endpoint: impl AsRef<str>) -> Self {
        self.endpoint = normalize_endpoint(endpoint.as_ref());
        self
    }

    /// Caches downloads under this directory.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = dir.into();
        self
    }

    /// Forbids (or allows) network access.
    pub fn with_offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Downloads a file in ranges of `bytes`, `parallel` of them at once (at least 1 each).
    pub fn with_download_ranges(mut self, bytes: usize, parallel: usize) -> Self {
        self.download_chunk_bytes = bytes.max(1);
        self.parallel_ranges = parallel.max(1);
        self
    }

    /// Uses this retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

impl Default for HubConfig {
    /// Same as [`HubConfig::from_env`].
    fn default() -> Self {
        Self::from_env()
    }
}

fn normalize_endpoint(endpoint: &str) -> String {
    endpoint.trim().trim_end_matches('/').to_owned()
}

/// `huggingface_hub`'s notion of a true environment value.
fn is_true(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// The token in a token file; a missing or unreadable file means no token, as in Python.
fn read_token_file(path: &Path) -> Option<String> {
    let content = std::fs::read_to_string(path).ok()?;
    let token = content.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> HubConfig {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubConfig::from_vars(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_follow_home() {
        let config = config(&[("HOME", "/home/me")]);
        assert_eq!(config.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(
            config.cache_dir,
            Path::new("/home/me/.cache/huggingface/hub")
        );
        assert!(config.token.is_none());
        assert!(!config.offline);
    }

    #[test]
    fn cache_order() {
        let xdg = config(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/xdg")]);
        assert_eq!(xdg.cache_dir, Path::new("/xdg/huggingface/hub"));
        let home = config(&[("XDG_CACHE_HOME", "/xdg"), ("HF_HOME", "/hf")]);
        assert_eq!(home.cache_dir, Path::new("/hf/hub"));
        let legacy = config(&[("HF_HOME", "/hf"), ("HUGGINGFACE_HUB_CACHE", "/legacy")]);
        assert_eq!(legacy.cache_dir, Path::new("/legacy"));
        let hub = config(&[("HUGGINGFACE_HUB_CACHE", "/legacy"), ("HF_HUB_CACHE", "/c")]);
        assert_eq!(hub.cache_dir, Path::new("/c"));
    }

    #[test]
    fn endpoint_offline_and_disabled_token() {
        let config = config(&[
            ("HF_ENDPOINT", "http://127.0.0.1:9/"),
            ("HF_HUB_OFFLINE", "ON"),
            ("HF_TOKEN", "hf_x"),
            ("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1"),
        ]);
        assert_eq!(config.endpoint, "http://127.0.0.1:9");
        assert!(config.offline);
        assert!(config.token.is_none());
        let explicit = config.with_token(Some("hf_explicit"));
        assert_eq!(explicit.token.unwrap().expose(), "hf_explicit");
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let config = config(&[
            ("HF_TOKEN", "  "),
            ("HF_ENDPOINT", ""),
            ("HF_HOME", "/nowhere"),
        ]);
        assert!(config.token.is_none());
        assert_eq!(config.endpoint, DEFAULT_ENDPOINT);
    }
}
