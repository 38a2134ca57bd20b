//! Listing a dataset's Parquet files for a config and split, and downloading them into the
//! local cache.

use std::path::{Path, PathBuf};

use reqwest::Method;
use serde::Deserialize;

use super::cache::{RepoCache, link_snapshot};
use super::client::{Call, HubClient};
use super::layout::{configs_present, is_split_file};
use super::repo::{RepoId, encode_path, encode_revision};
use crate::http::transport_message;
use crate::{Error, Result};

/// Which part of a dataset to download: a repo, a config, a split and a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRequest {
    /// The dataset's repo id, `owner/name`.
    pub repo_id: String,
    /// The config (subset); `None` means `default`.
    pub config: Option<String>,
    /// The split, `train` unless set.
    pub split: String,
    /// A branch, tag or commit, `main` unless set; `refs/convert/parquet` reads the Parquet
    /// files the Hub converts any dataset to.
    pub revision: String,
}

impl DatasetRequest {
    /// The `train` split of the `default` config at `main`.
    pub fn new(repo_id: impl Into<String>) -> Self {
        DatasetRequest {
            repo_id: repo_id.into(),
            config: None,
            split: "train".to_owned(),
            revision: "main".to_owned(),
        }
    }

    /// Asks for this config.
    pub fn config(mut self, config: impl Into<String>) -> Self {
        self.config = Some(config.into());
        self
    }

    /// Asks for this split.
    pub fn split(mut self, split: impl Into<String>) -> Self {
        self.split = split.into();
        self
    }

    /// Asks for this revision.
    pub fn revision(mut self, revision: impl Into<String>) -> Self {
        self.revision = revision.into();
        self
    }

    fn config_name(&self) -> &str {
        self.config.as_deref().unwrap_or("default")
    }
}

/// A file of a dataset repo, as the Hub lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// Its path in the repo, `/`-separated.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its version: the SHA-256 for files stored through LFS (all Parquet files on the Hub),
    /// otherwise the git blob id.
    pub version: String,
    /// Whether `version` is the content's SHA-256, checked after download.
    pub is_sha256: bool,
}

/// One entry of `GET /api/datasets/{repo}/tree/{revision}`.
#[derive(Deserialize)]
struct TreeEntry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    oid: String,
    lfs: Option<LfsPointer>,
}

#[derive(Deserialize)]
struct LfsPointer {
    oid: String,
    size: u64,
}

impl HubClient {
    /// Every file of a dataset at a revision (`GET /api/datasets/{repo}/tree/{revision}`,
    /// recursive, following the Hub's pagination).
    pub async fn list_files(&self, repo_id: &str, revision: &str) -> Result<Vec<RemoteFile>> {
        let repo = RepoId::parse(repo_id)?;
        self.require_online(repo_id, "list the dataset's files")?;
        let mut url = Some(format!(
            "{}/api/datasets/{}/tree/{}?recursive=true",
            self.config().endpoint,
            repo.path(),
            encode_revision(revision)
        ));
        let mut files = Vec::new();
        while let Some(page) = url.take() {
            let call = Call {
                repo: repo_id,
                file: None,
                method: Method::GET,
                url: page,
                authenticated: true,
                accept: &[],
            };
            let response = self.send(&call, Ok).await?;
            // The token goes to the Hub alone: a next page elsewhere is not followed.
            url = next_page(response.headers())
                .filter(|next| next.starts_with(&self.config().endpoint));
            let bytes = response
                .bytes()
                .await
                .map_err(|e| call.failed(self.scrub(transport_message(&e))))?;
            let entries: Vec<TreeEntry> = serde_json::from_slice(&bytes)
                .map_err(|e| call.malformed(format!("invalid file listing: {e}")))?;
            files.extend(
                entries
                    .into_iter()
                    .filter(|e| e.kind == "file")
                    .map(|e| match e.lfs {
                        Some(lfs) => RemoteFile {
                            path: e.path,
                            size: lfs.size,
                            version: lfs.oid,
                            is_sha256: true,
                        },
                        None => RemoteFile {
                            path: e.path,
                            size: e.size,
                            version: e.oid,
                            is_sha256: false,
                        },
                    }),
            );
        }
        Ok(files)
    }

    /// The Parquet files of a config's split, sorted by path (so shards come in order). An
    /// error names the configs that do have Parquet files when the asked one has none.
    pub async fn list_parquet_files(&self, request: &DatasetRequest) -> Result<Vec<RemoteFile>> {
        let all = self.list_files(&request.repo_id, &request.revision).await?;
        let mut chosen: Vec<RemoteFile> = all
            .iter()
            .filter(|f| is_split_file(&f.path, request.config_name(), &request.split))
            .cloned()
            .collect();
        if chosen.is_empty() {
            let present = configs_present(all.iter().map(|f| f.path.as_str()));
            return Err(Error::HubNotFound {
                repo: request.repo_id.clone(),
                what: format!(
                    "Parquet files for config `{}`, split `{}` at revision `{}` (configs with Parquet files: {})",
                    request.config_name(),
                    request.split,
                    request.revision,
                    if present.is_empty() {
                        "none".to_owned()
                    } else {
                        present.join(", ")
                    }
                ),
                url: format!(
                    "GET {}/api/datasets/{}/tree/{}",
                    self.config().endpoint,
                    request.repo_id,
                    encode_revision(&request.revision)
                ),
            });
        }
        chosen.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(chosen)
    }

    /// Downloads the Parquet files of a config's split into the cache and returns their local
    /// paths, in shard order. Files already in the cache at the same version (downloaded by
    /// distil or by Python's `huggingface_hub`) are not downloaded again; with `HF_HUB_OFFLINE`
    /// set, the cached files of the revision are returned as they are.
    pub async fn download_parquet(&self, request: &DatasetRequest) -> Result<Vec<PathBuf>> {
        let repo = RepoId::parse(&request.repo_id)?;
        let cache = RepoCache::new(&self.config().cache_dir, &repo);
        if self.config().offline {
            return cached_split_files(&cache, request);
        }
        let files = self.list_parquet_files(request).await?;
        let mut paths = Vec::with_capacity(files.len());
        for file in &files {
            paths.push(
                self.download_file(&request.repo_id, &request.revision, file)
                    .await?,
            );
        }
        Ok(paths)
    }

    /// Downloads one file of a dataset into the cache (unless the same version is there) and
    /// returns its local path, `snapshots/<commit>/<path>` in the Hugging Face cache layout.
    /// A file already there (downloaded by distil, by Python's `huggingface_hub` or by the
    /// `hf-hub` crate) is used as it is; one whose content is there under another commit is
    /// linked. Otherwise `hf-hub` downloads it (in ranges for a large file, resuming a cut
    /// download), and distil checks it against the listed size and SHA-256 (for LFS files).
    pub async fn download_file(
        &self,
        repo_id: &str,
        revision: &str,
        file: &RemoteFile,
    ) -> Result<PathBuf> {
        let repo = RepoId::parse(repo_id)?;
        let cache = RepoCache::new(&self.config().cache_dir, &repo);
        let call = Call {
            repo: repo_id,
            file: Some(&file.path),
            method: Method::GET,
            url: format!(
                "{}/datasets/{}/resolve/{}/{}",
                self.config().endpoint,
                repo.path(),
                encode_revision(revision),
                encode_path(&file.path)
            ),
            authenticated: true,
            accept: &[],
        };
        let unsafe_path =
            || call.malformed(format!("unsafe file path `{}` in the listing", file.path));
        if cache.snapshot_path("commit", &file.path).is_none() {
            return Err(unsafe_path());
        }
        let Some(blob) = cache.blob_path(&file.version) else {
            return Err(call.malformed(format!(
                "invalid version `{}` of `{}` in the listing",
                file.version, file.path
            )));
        };
        // In the revision's snapshot already, as `hf-hub` finds files.
        let known = hf_hub::Cache::new(self.config().cache_dir.clone())
            .repo(hf_hub::Repo::with_revision(
                repo_id.to_owned(),
                hf_hub::RepoType::Dataset,
                revision.to_owned(),
            ))
            .get(&file.path);
        if let Some(link) = known
            && is_complete(&link, file).await
        {
            tracing::debug!(file = %file.path, "already in the cache");
            return Ok(link);
        }
        // The same content is there, by distil or by Python: linked, not downloaded.
        if is_complete(&blob, file).await
            && let Some(commit) = cache.commit_of(revision)
        {
            let link = cache
                .snapshot_path(&commit, &file.path)
                .ok_or_else(unsafe_path)?;
            if !is_complete(&link, file).await {
                link_snapshot(&link, &blob, cache.root())
                    .await
                    .map_err(|source| Error::Io {
                        path: link.display().to_string(),
                        source,
                    })?;
            }
            tracing::debug!(file = %file.path, "already in the cache");
            return Ok(link);
        }
        if self.config().offline {
            return Err(Error::HubInvalid {
                repo: repo_id.to_owned(),
                message: format!(
                    "HF_HUB_OFFLINE is set and the cache ({}) does not hold `{}` at revision `{revision}`",
                    cache.root().display(),
                    file.path
                ),
            });
        }
        self.fetch(&call, &cache, repo_id, revision, file).await
    }
}

/// Whether `path` (a blob, or a snapshot link followed to its blob) holds the listed size.
/// The blob's name is its version, so the size is the check left.
async fn is_complete(path: &Path, file: &RemoteFile) -> bool {
    tokio::fs::metadata(path)
        .await
        .is_ok_and(|m| m.len() == file.size)
}

/// Offline: the split's files in the cached snapshot of the revision.
fn cached_split_files(cache: &RepoCache, request: &DatasetRequest) -> Result<Vec<PathBuf>> {
    let offline_error = |message: String| Error::HubInvalid {
        repo: request.repo_id.clone(),
        message,
    };
    let Some(root) = cache
        .commit_of(&request.revision)
        .or_else(|| Some(encode_revision(&request.revision)))
        .and_then(|commit| cache.snapshot_root(&commit))
    else {
        return Err(offline_error(format!(
            "HF_HUB_OFFLINE is set and the cache ({}) has no snapshot of revision `{}`",
            cache.root().display(),
            request.revision
        )));
    };
    let mut found = Vec::new();
    let mut folders = vec![root.clone()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if let Ok(relative) = path.strip_prefix(&root) {
                let relative = relative.to_string_lossy().replace('\\', "/");
                if is_split_file(&relative, request.config_name(), &request.split) {
                    found.push((relative, path));
                }
            }
        }
    }
    if found.is_empty() {
        return Err(Error::HubInvalid {
            repo: request.repo_id.clone(),
            message: format!(
                "HF_HUB_OFFLINE is set and the cache ({}) has no Parquet files for config `{}`, split `{}` at revision `{}`",
                root.display(),
                request.config_name(),
                request.split,
                request.revision
            ),
        });
    }
    found.sort();
    Ok(found.into_iter().map(|(_, path)| path).collect())
}

/// The `rel="next"` URL of the Hub's `Link` pagination header.
fn next_page(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}
