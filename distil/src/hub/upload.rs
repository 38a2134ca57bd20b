//! Pushing a local folder to a dataset repo in one commit: create the repo, ask the Hub which
//! files go through LFS, upload those, then commit everything.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::client::{Call, HubClient};
use super::repo::{RepoId, encode_revision};
use crate::{Error, Result};

/// Files per preupload and LFS batch request, as `huggingface_hub` does.
const CHUNK: usize = 256;
/// The Hub decides a file's upload mode from its first 512 bytes.
const SAMPLE_BYTES: usize = 512;
const LFS_MEDIA_TYPE: &str = "application/vnd.git-lfs+json";

/// The commit a push made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// The commit's page on the Hub.
    pub commit_url: String,
    /// The commit's id.
    pub commit_oid: String,
    /// The files committed, paths in the repo.
    pub files: Vec<String>,
}

/// A file of the folder to push.
struct LocalFile {
    local: PathBuf,
    path_in_repo: String,
    size: u64,
    sha256: String,
    sample: Vec<u8>,
}

#[derive(Deserialize)]
struct PreuploadAnswer {
    files: Vec<PreuploadFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PreuploadFile {
    path: String,
    upload_mode: String,
    #[serde(default)]
    should_ignore: bool,
}

#[derive(Deserialize)]
struct LfsBatchAnswer {
    objects: Vec<LfsObject>,
}

#[derive(Deserialize)]
struct LfsObject {
    oid: String,
    #[serde(default)]
    actions: Option<LfsActions>,
    #[serde(default)]
    error: Option<LfsError>,
}

#[derive(Deserialize)]
struct LfsActions {
    upload: Option<LfsAction>,
    verify: Option<LfsAction>,
}

#[derive(Deserialize)]
struct LfsAction {
    href: String,
    #[serde(default)]
    header: HashMap<String, String>,
}

#[derive(Deserialize)]
struct LfsError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommitAnswer {
    #[serde(default)]
    commit_url: String,
    #[serde(default)]
    commit_oid: String,
}

impl HubClient {
    /// Creates the dataset repo unless it exists (`POST /api/repos/create`; the Hub's 409
    /// "already exists" is fine). An existing repo keeps its visibility.
    pub async fn create_dataset_repo(&self, repo_id: &str, private: bool) -> Result<()> {
        let repo = RepoId::parse(repo_id)?;
        self.require_online(repo_id, "create the dataset repo")?;
        let call = Call {
            repo: repo_id,
            file: None,
            method: Method::POST,
            url: format!("{}/api/repos/create", self.config().endpoint),
            authenticated: true,
            accept: &[409],
        };
        let body = json!({"type": "dataset", "name": repo.name, "organization": repo.owner, "private": private});
        self.send(&call, |request| Ok(request.json(&body))).await?;
        Ok(())
    }

    /// Pushes every file of `local_dir` (recursively, `.git` excluded) to the dataset repo's
    /// `main` branch in one commit, creating the repo if needed (`private` applies then). Large
    /// and binary files go through the Hub's LFS upload, the others inline in the commit.
    pub async fn push_folder(
        &self,
        repo_id: &str,
        local_dir: &Path,
        private: bool,
        commit_message: &str,
    ) -> Result<CommitInfo> {
        RepoId::parse(repo_id)?;
        self.require_online(repo_id, "push")?;
        let files = scan_folder(local_dir).await?;
        if files.is_empty() {
            return Err(Error::HubInvalid {
                repo: repo_id.to_owned(),
                message: format!("nothing to push: {} has no files", local_dir.display()),
            });
        }
        self.create_dataset_repo(repo_id, private).await?;
        let revision = "main";
        let mut modes: HashMap<String, (String, bool)> = HashMap::new();
        for chunk in files.chunks(CHUNK) {
            for answer in self.preupload(repo_id, revision, chunk).await? {
                modes.insert(answer.path, (answer.upload_mode, answer.should_ignore));
            }
        }
        let mut lfs = Vec::new();
        let mut committed = Vec::new();
        for file in &files {
            let (mode, ignore) =
                modes
                    .get(&file.path_in_repo)
                    .cloned()
                    .ok_or_else(|| Error::HubResponse {
                        repo: repo_id.to_owned(),
                        url: format!(
                            "POST {}/api/datasets/{repo_id}/preupload/{revision}",
                            self.config().endpoint
                        ),
                        message: format!("no upload mode for `{}`", file.path_in_repo),
                    })?;
            if ignore {
                tracing::debug!(file = %file.path_in_repo, "the Hub ignores this file (.gitignore)");
                continue;
            }
            if mode == "lfs" {
                lfs.push(file);
            }
            committed.push((file, mode == "lfs"));
        }
        for chunk in lfs.chunks(CHUNK) {
            self.upload_lfs(repo_id, revision, chunk).await?;
        }
        let answer = self
            .commit(repo_id, revision, commit_message, &committed)
            .await?;
        Ok(CommitInfo {
            commit_url: answer.commit_url,
            commit_oid: answer.commit_oid,
            files: committed
                .iter()
                .map(|(f, _)| f.path_in_repo.clone())
                .collect(),
        })
    }

    /// `POST /api/datasets/{repo}/preupload/{revision}`: the upload mode of each file.
    async fn preupload(
        &self,
        repo_id: &str,
        revision: &str,
        files: &[LocalFile],
    ) -> Result<Vec<PreuploadFile>> {
        let call = Call {
            repo: repo_id,
            file: None,
            method: Method::POST,
            url: format!(
                "{}/api/datasets/{repo_id}/preupload/{}",
                self.config().endpoint,
                encode_revision(revision)
            ),
            authenticated: true,
            accept: &[],
        };
        let body = json!({"files": files.iter().map(|f| json!({
            "path": f.path_in_repo,
            "sample": BASE64.encode(&f.sample),
            "size": f.size,
            "sha": f.sha256,
        })).collect::<Vec<_>>()});
        let answer: PreuploadAnswer = self
            .send_json(&call, |request| Ok(request.json(&body)))
            .await?;
        Ok(answer.files)
    }

    /// Uploads LFS files: the batch API hands out an upload URL per object the Hub does not
    /// have yet; each is PUT there, then verified when asked.
    async fn upload_lfs(&self, repo_id: &str, revision: &str, files: &[&LocalFile]) -> Result<()> {
        let call = Call {
            repo: repo_id,
            file: None,
            method: Method::POST,
            url: format!(
                "{}/datasets/{repo_id}.git/info/lfs/objects/batch",
                self.config().endpoint
            ),
            authenticated: true,
            accept: &[],
        };
        let body = json!({
            "operation": "upload",
            "transfers": ["basic"],
            "objects": files.iter().map(|f| json!({"oid": f.sha256, "size": f.size})).collect::<Vec<_>>(),
            "hash_algo": "sha256",
            "ref": {"name": revision},
        });
        let answer: LfsBatchAnswer = self
            .send_json(&call, |request| {
                Ok(request
                    .header(ACCEPT, LFS_MEDIA_TYPE)
                    .header(CONTENT_TYPE, LFS_MEDIA_TYPE)
                    .body(body.to_string()))
            })
            .await?;
        for file in files {
            let object = answer
                .objects
                .iter()
                .find(|o| o.oid == file.sha256)
                .ok_or_else(|| {
                    call.malformed(format!(
                        "the LFS batch answer has no object for `{}`",
                        file.path_in_repo
                    ))
                })?;
            if let Some(error) = &object.error {
                return Err(Error::HubRequest {
                    repo: repo_id.to_owned(),
                    file: Some(file.path_in_repo.clone()),
                    url: call.describe(),
                    message: format!(
                        "LFS refused the object ({}): {}",
                        error.code,
                        self.scrub(error.message.clone())
                    ),
                });
            }
            // No actions: the Hub already stores this content.
            let Some(actions) = &object.actions else {
                continue;
            };
            if let Some(upload) = &actions.upload {
                self.put_lfs_object(repo_id, file, upload).await?;
            }
            if let Some(verify) = &actions.verify {
                self.verify_lfs_object(repo_id, file, verify).await?;
            }
        }
        Ok(())
    }

    /// PUTs a file's content to the URL the batch API gave, with the headers it gave.
    async fn put_lfs_object(
        &self,
        repo_id: &str,
        file: &LocalFile,
        action: &LfsAction,
    ) -> Result<()> {
        if action.header.contains_key("chunk_size") {
            return Err(Error::HubRequest {
                repo: repo_id.to_owned(),
                file: Some(file.path_in_repo.clone()),
                url: format!("PUT {}", crate::http::redact_url(&action.href)),
                message: "the Hub asked for a multipart LFS upload, which distil does not support"
                    .to_owned(),
            });
        }
        let call = Call {
            repo: repo_id,
            file: Some(&file.path_in_repo),
            method: Method::PUT,
            url: action.href.clone(),
            authenticated: false,
            accept: &[],
        };
        self.send(&call, |mut request| {
            for (name, value) in &action.header {
                request = request.header(name, value);
            }
            // A fresh handle per attempt: a retry starts the body from the beginning.
            let handle = std::fs::File::open(&file.local).map_err(|source| Error::Io {
                path: file.local.display().to_string(),
                source,
            })?;
            let body = reqwest::Body::from(tokio::fs::File::from_std(handle));
            Ok(request
                .header(reqwest::header::CONTENT_LENGTH, file.size)
                .body(body))
        })
        .await?;
        Ok(())
    }

    /// Asks the Hub to check an uploaded object. The token goes along only when the verify
    /// URL is on the Hub itself.
    async fn verify_lfs_object(
        &self,
        repo_id: &str,
        file: &LocalFile,
        action: &LfsAction,
    ) -> Result<()> {
        let call = Call {
            repo: repo_id,
            file: Some(&file.path_in_repo),
            method: Method::POST,
            url: action.href.clone(),
            authenticated: action.href.starts_with(&self.config().endpoint),
            accept: &[],
        };
        let body = json!({"oid": file.sha256, "size": file.size});
        self.send(&call, |mut request| {
            for (name, value) in &action.header {
                request = request.header(name, value);
            }
            Ok(request.json(&body))
        })
        .await?;
        Ok(())
    }

    /// `POST /api/datasets/{repo}/commit/{revision}` with the NDJSON body: a header line, then
    /// one line per file, regular files inline in base64, LFS files by SHA-256 and size.
    async fn commit(
        &self,
        repo_id: &str,
        revision: &str,
        message: &str,
        files: &[(&LocalFile, bool)],
    ) -> Result<CommitAnswer> {
        let call = Call {
            repo: repo_id,
            file: None,
            method: Method::POST,
            url: format!(
                "{}/api/datasets/{repo_id}/commit/{}",
                self.config().endpoint,
                encode_revision(revision)
            ),
            authenticated: true,
            accept: &[],
        };
        let mut body = String::new();
        push_line(
            &mut body,
            json!({"key": "header", "value": {"summary": message, "description": ""}}),
        );
        for (file, is_lfs) in files {
            let line = if *is_lfs {
                json!({"key": "lfsFile", "value": {
                    "path": file.path_in_repo, "algo": "sha256", "oid": file.sha256, "size": file.size,
                }})
            } else {
                let content = tokio::fs::read(&file.local)
                    .await
                    .map_err(|source| Error::Io {
                        path: file.local.display().to_string(),
                        source,
                    })?;
                json!({"key": "file", "value": {
                    "path": file.path_in_repo, "content": BASE64.encode(content), "encoding": "base64",
                }})
            };
            push_line(&mut body, line);
        }
        self.send_json(&call, |request| {
            Ok(request
                .header(CONTENT_TYPE, "application/x-ndjson")
                .body(body.clone()))
        })
        .await
    }
}

fn push_line(body: &mut String, line: serde_json::Value) {
    body.push_str(&line.to_string());
    body.push('\n');
}

/// Every file under `root` (`.git` excluded), with its size, SHA-256 and first bytes; read on
/// a blocking thread since hashing reads every byte.
async fn scan_folder(root: &Path) -> Result<Vec<LocalFile>> {
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || scan_folder_blocking(&root))
        .await
        .map_err(|e| Error::msg(format!("scanning the folder to push failed: {e}")))?
}

fn scan_folder_blocking(root: &Path) -> Result<Vec<LocalFile>> {
    let io_error = |path: &Path| {
        let path = path.display().to_string();
        move |source| Error::Io { path, source }
    };
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).map_err(io_error(&folder))? {
            let entry = entry.map_err(io_error(&folder))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io_error(&path))?;
            if kind.is_dir() {
                if entry.file_name() != ".git" {
                    folders.push(path);
                }
                continue;
            }
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let path_in_repo = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let (size, sha256, sample) = hash_file(&path).map_err(io_error(&path))?;
            files.push(LocalFile {
                local: path,
                path_in_repo,
                size,
                sha256,
                sample,
            });
        }
    }
    files.sort_by(|a, b| a.path_in_repo.cmp(&b.path_in_repo));
    Ok(files)
}

/// Size, SHA-256 (hex) and first [`SAMPLE_BYTES`] bytes of a file, read once.
fn hash_file(path: &Path) -> std::io::Result<(u64, String, Vec<u8>)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut sample = Vec::new();
    let mut size = 0u64;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        if sample.len() < SAMPLE_BYTES {
            let take = (SAMPLE_BYTES - sample.len()).min(read);
            sample.extend_from_slice(&buffer[..take]);
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok((size, format!("{:x}", hasher.finalize()), sample))
}
