//! A Hugging Face Hub look-alike on 127.0.0.1 for the Hub tests: the endpoints distil's
//! `hub` module and the `hf-hub` crate use (resolve URLs that redirect LFS files to a CDN on
//! another host name, byte ranges, the commit and ETag headers), with in-memory repos, a log
//! of the requests, and faults to inject.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The host it was sent to (`localhost:<port>` for the CDN, `127.0.0.1:<port>` else).
    pub host: String,
    /// The path, still percent-encoded.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

/// One commit received.
#[derive(Debug, Clone)]
pub struct Commit {
    pub repo: String,
    pub summary: String,
    /// `(key, path)` of each line after the header: `file` or `lfsFile`.
    pub entries: Vec<(String, String)>,
}

/// A dataset repo.
#[derive(Debug, Clone, Default)]
pub struct Repo {
    pub private: bool,
    pub gated: bool,
    /// Files per revision, by path.
    pub revisions: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

/// What to break.
#[derive(Debug, Default)]
pub struct Faults {
    /// `(path substring, status, times)`: answer `status` to the next `times` matching requests.
    pub statuses: Vec<(String, u16, u32)>,
    /// Cut the connection half way through this many downloads.
    pub cut_downloads: u32,
    /// Answer the file listing with this body instead.
    pub tree_body: Option<String>,
    /// Flip a byte of the content of this many answers (the size stays right).
    pub corrupt_downloads: u32,
}

#[derive(Debug, Default)]
pub struct HubState {
    pub base: String,
    /// The only token the server accepts.
    pub token: String,
    pub repos: HashMap<String, Repo>,
    pub lfs_objects: HashMap<String, Vec<u8>>,
    pub commits: Vec<Commit>,
    pub requests: Vec<Recorded>,
    pub faults: Faults,
    /// Files larger than this (or Parquet files) are LFS files.
    pub lfs_threshold: usize,
    /// The LFS objects the CDN serves, by SHA-256: what the resolve URLs redirected to.
    pub cdn: HashMap<String, Vec<u8>>,
    /// The byte range each file content answer was asked for (`None`: all of it).
    pub served_ranges: Vec<Option<(usize, usize)>>,
}

/// The running server.
#[derive(Clone)]
pub struct HubServer {
    pub base: String,
    pub state: Arc<Mutex<HubState>>,
}

impl HubServer {
    /// Starts a server that accepts `token`.
    pub async fn start(token: &str) -> HubServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(HubState {
            base: base.clone(),
            token: token.to_owned(),
            lfs_threshold: 1024,
            ..HubState::default()
        }));
        let app = Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        HubServer { base, state }
    }

    /// Adds a file to a repo's revision, creating the repo.
    pub fn add_file(&self, repo: &str, revision: &str, path: &str, content: &[u8]) {
        let mut state = self.state.lock().unwrap();
        state
            .repos
            .entry(repo.to_owned())
            .or_default()
            .revisions
            .entry(revision.to_owned())
            .or_default()
            .insert(path.to_owned(), content.to_vec());
    }

    pub fn with_state<T>(&self, f: impl FnOnce(&mut HubState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// How many requests had a path containing `part`.
    pub fn count(&self, method: &str, part: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path.contains(part))
            .count()
    }
}

type Shared = Arc<Mutex<HubState>>;

fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn error(status: u16, message: &str, code: Option<&str>) -> Response {
    let mut response = (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({ "error": message })),
    )
        .into_response();
    if let Some(code) = code {
        response
            .headers_mut()
            .insert("x-error-code", code.parse().unwrap());
    }
    response
}

pub fn sha256(content: &[u8]) -> String {
    format!("{:x}", Sha256::digest(content))
}

/// The commit id the server gives for a revision: 40 hex digits derived from its name.
pub fn commit_of(revision: &str) -> String {
    sha256(revision.as_bytes())[..40].to_owned()
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut s = state.lock().unwrap();
    s.requests.push(Recorded {
        method: method.to_string(),
        host: headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        path: path.clone(),
        range: headers
            .get("range")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        authorization: authorization.clone(),
        body: body.to_vec(),
    });
    for (part, status, times) in s.faults.statuses.iter_mut() {
        if *times > 0 && path.contains(part.as_str()) {
            *times -= 1;
            return error(*status, "injected fault", None);
        }
    }
    let expected = format!("Bearer {}", s.token);
    let authenticated = authorization.as_deref() == Some(expected.as_str());
    // The signed LFS URLs carry no token, like S3's.
    let needs_token_check = !path.starts_with("/lfs-upload/") && !path.starts_with("/cdn/");
    if needs_token_check && authorization.is_some() && !authenticated {
        return error(401, "Invalid credentials in Authorization header", None);
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["api", "repos", "create"]) => {
            if !authenticated {
                return error(401, "You must be authenticated", None);
            }
            let request: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(request["type"], "dataset");
            let repo = format!(
                "{}/{}",
                request["organization"].as_str().unwrap(),
                request["name"].as_str().unwrap()
            );
            if s.repos.contains_key(&repo) {
                return error(409, "You already created this dataset repo", None);
            }
            let private = request["private"].as_bool().unwrap_or(false);
            s.repos.insert(
                repo.clone(),
                Repo {
                    private,
                    ..Repo::default()
                },
            );
            axum::Json(json!({ "url": format!("{}/datasets/{repo}", s.base) })).into_response()
        }
        ("GET", ["api", "datasets", owner, name, "tree", revision]) => {
            let repo = format!("{owner}/{name}");
            if let Some(denied) = access(&s, &repo, authenticated) {
                return denied;
            }
            if let Some(body) = s.faults.tree_body.clone() {
                return (StatusCode::OK, body).into_response();
            }
            let Some(files) = s.repos[&repo].revisions.get(&decode(revision)) else {
                return error(404, "Invalid rev id", Some("RevisionNotFound"));
            };
            let threshold = s.lfs_threshold;
            let entries: Vec<Value> = files
                .iter()
                .map(|(path, content)| {
                    let mut entry = json!({"type": "file", "oid": format!("blob{}", content.len()), "size": content.len(), "path": path});
                    if is_lfs(path, content.len(), threshold) {
                        entry["lfs"] = json!({"oid": sha256(content), "size": content.len(), "pointerSize": 130});
                    }
                    entry
                })
                .collect();
            axum::Json(Value::Array(entries)).into_response()
        }
        ("GET", ["datasets", owner, name, "resolve", revision, rest @ ..]) => {
            let repo = format!("{owner}/{name}");
            if let Some(denied) = access(&s, &repo, authenticated) {
                return denied;
            }
            let file = decode(&rest.join("/"));
            let Some(content) = s.repos[&repo]
                .revisions
                .get(&decode(revision))
                .and_then(|files| files.get(&file))
                .cloned()
            else {
                return error(404, "Entry not found", Some("EntryNotFound"));
            };
            let commit = commit_of(&decode(revision));
            if is_lfs(&file, content.len(), s.lfs_threshold) {
                // As the Hub: an LFS file redirects to the CDN, another host; the answer names
                // the commit and the content's SHA-256 (`x-linked-etag`).
                let oid = sha256(&content);
                let cdn = s.base.replace("127.0.0.1", "localhost");
                s.cdn.insert(oid.clone(), content.clone());
                return Response::builder()
                    .status(StatusCode::FOUND)
                    .header(
                        "location",
                        format!("{cdn}/cdn/{oid}?X-Amz-Signature=signed"),
                    )
                    .header("x-repo-commit", commit)
                    .header("x-linked-etag", format!("\"{oid}\""))
                    .header("x-linked-size", content.len())
                    .header("etag", format!("\"pointer-{}\"", &oid[..12]))
                    .body(Body::empty())
                    .unwrap();
            }
            // A small file comes from the Hub itself, its git blob id as its ETag.
            let extra = [
                ("x-repo-commit", commit),
                ("etag", format!("\"blob{}\"", content.len())),
            ];
            serve(&mut s, &content, &headers, &extra)
        }
        ("GET", ["cdn", oid]) => {
            let Some(content) = s.cdn.get(*oid).cloned() else {
                return error(404, "no such object on the CDN", None);
            };
            serve(&mut s, &content, &headers, &[])
        }
        ("POST", ["api", "datasets", owner, name, "preupload", _revision]) => {
            let repo = format!("{owner}/{name}");
            if let Some(denied) = access(&s, &repo, authenticated) {
                return denied;
            }
            let request: Value = serde_json::from_slice(&body).unwrap();
            let threshold = s.lfs_threshold;
            let files: Vec<Value> = request["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    let path = f["path"].as_str().unwrap();
                    let size = f["size"].as_u64().unwrap() as usize;
                    assert!(BASE64.decode(f["sample"].as_str().unwrap()).unwrap().len() <= 512);
                    let mode = if is_lfs(path, size, threshold) {
                        "lfs"
                    } else {
                        "regular"
                    };
                    json!({"path": path, "uploadMode": mode, "shouldIgnore": false})
                })
                .collect();
            axum::Json(json!({ "files": files })).into_response()
        }
        (
            "POST",
            [
                "datasets",
                owner,
                name_git,
                "info",
                "lfs",
                "objects",
                "batch",
            ],
        ) => {
            let repo = format!("{owner}/{}", name_git.trim_end_matches(".git"));
            if let Some(denied) = access(&s, &repo, authenticated) {
                return denied;
            }
            assert_eq!(headers["accept"], "application/vnd.git-lfs+json");
            let request: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(request["operation"], "upload");
            let objects: Vec<Value> = request["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    let oid = o["oid"].as_str().unwrap();
                    if s.lfs_objects.contains_key(oid) {
                        return json!({"oid": oid, "size": o["size"]});
                    }
                    json!({"oid": oid, "size": o["size"], "actions": {
                        "upload": {"href": format!("{}/lfs-upload/{oid}?X-Amz-Signature=signed", s.base), "header": {"x-test-upload": "yes"}},
                        "verify": {"href": format!("{}/lfs-verify/{oid}", s.base), "header": {}},
                    }})
                })
                .collect();
            axum::Json(json!({"transfer": "basic", "objects": objects})).into_response()
        }
        ("PUT", ["lfs-upload", oid]) => {
            assert_eq!(headers["x-test-upload"], "yes");
            if sha256(&body) != *oid {
                return error(400, "sha256 mismatch", None);
            }
            s.lfs_objects.insert(oid.to_string(), body.to_vec());
            StatusCode::OK.into_response()
        }
        ("POST", ["lfs-verify", oid]) => {
            if s.lfs_objects.contains_key(*oid) {
                StatusCode::OK.into_response()
            } else {
                error(404, "object not uploaded", None)
            }
        }
        ("POST", ["api", "datasets", owner, name, "commit", revision]) => {
            let repo = format!("{owner}/{name}");
            if let Some(denied) = access(&s, &repo, authenticated) {
                return denied;
            }
            assert_eq!(headers["content-type"], "application/x-ndjson");
            let text = String::from_utf8(body.to_vec()).unwrap();
            let mut lines = text
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap());
            let header = lines.next().unwrap();
            assert_eq!(header["key"], "header");
            let mut commit = Commit {
                repo: repo.clone(),
                summary: header["value"]["summary"].as_str().unwrap().to_owned(),
                entries: Vec::new(),
            };
            let mut added = Vec::new();
            for line in lines {
                let key = line["key"].as_str().unwrap().to_owned();
                let value = &line["value"];
                let path = value["path"].as_str().unwrap().to_owned();
                let content = match key.as_str() {
                    "file" => {
                        assert_eq!(value["encoding"], "base64");
                        BASE64.decode(value["content"].as_str().unwrap()).unwrap()
                    }
                    "lfsFile" => {
                        assert_eq!(value["algo"], "sha256");
                        let Some(content) = s.lfs_objects.get(value["oid"].as_str().unwrap())
                        else {
                            return error(422, "LFS object not found", None);
                        };
                        assert_eq!(value["size"].as_u64().unwrap() as usize, content.len());
                        content.clone()
                    }
                    other => panic!("unexpected commit line {other}"),
                };
                commit.entries.push((key, path.clone()));
                added.push((path, content));
            }
            let revision = decode(revision);
            let files = s
                .repos
                .get_mut(&repo)
                .unwrap()
                .revisions
                .entry(revision)
                .or_default();
            files.extend(added);
            s.commits.push(commit);
            let n = s.commits.len();
            axum::Json(json!({"commitUrl": format!("{}/datasets/{repo}/commit/c{n}", s.base), "commitOid": format!("c{n}")}))
                .into_response()
        }
        _ => error(404, "no such endpoint in the test Hub", None),
    }
}

/// A file's content, the part a `Range: bytes=a-b` header asks for (206, with
/// `content-range`) or all of it; a cut fault breaks the connection half way through, except
/// for the one-byte probes that read a file's headers.
fn serve(
    s: &mut HubState,
    content: &[u8],
    headers: &HeaderMap,
    extra: &[(&str, String)],
) -> Response {
    let range = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.split_once('-'))
        .map(|(a, b)| (a.parse::<usize>().unwrap(), b.parse::<usize>().ok()));
    let mut response = Response::builder();
    for (name, value) in extra {
        response = response.header(*name, value);
    }
    let (part, probe) = match range {
        Some((start, end)) => {
            if start >= content.len() && !content.is_empty() {
                return error(416, "range not satisfiable", None);
            }
            let end = end
                .unwrap_or(usize::MAX)
                .min(content.len().saturating_sub(1));
            response = response.status(StatusCode::PARTIAL_CONTENT).header(
                "content-range",
                format!("bytes {start}-{end}/{}", content.len()),
            );
            (
                &content[start..=end.max(start).min(content.len() - 1)],
                start == 0 && end == 0,
            )
        }
        None => (content, false),
    };
    s.served_ranges
        .push(range.map(|(a, b)| (a, b.unwrap_or(usize::MAX))));
    if !probe && s.faults.cut_downloads > 0 {
        s.faults.cut_downloads -= 1;
        // Half the body goes out, then, a moment later, the connection breaks.
        let half = Bytes::copy_from_slice(&part[..part.len() / 2]);
        let body = futures_util::stream::unfold(Some(half), |half| async move {
            match half {
                Some(half) => Some((Ok(half), None)),
                None => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    Some((
                        Err(std::io::Error::other("connection cut by the test")),
                        None,
                    ))
                }
            }
        });
        return response
            .header("content-length", part.len())
            .body(Body::from_stream(body))
            .unwrap();
    }
    let mut part = part.to_vec();
    if !probe && !part.is_empty() && s.faults.corrupt_downloads > 0 {
        s.faults.corrupt_downloads -= 1;
        part[0] ^= 0xff;
    }
    response.body(Body::from(part)).unwrap()
}

fn is_lfs(path: &str, size: usize, threshold: usize) -> bool {
    path.ends_with(".parquet") || size > threshold
}

/// The Hub's answers for a repo the caller cannot see.
fn access(s: &HubState, repo: &str, authenticated: bool) -> Option<Response> {
    let Some(found) = s.repos.get(repo) else {
        return Some(error(404, "Repository not found", Some("RepoNotFound")));
    };
    if found.private && !authenticated {
        return Some(error(401, "Repository not found", Some("RepoNotFound")));
    }
    if found.gated {
        return Some(error(
            403,
            "Access to this dataset is restricted",
            Some("GatedRepo"),
        ));
    }
    None
}
