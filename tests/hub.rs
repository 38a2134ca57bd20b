//! `distil::hub` against a Hub look-alike on 127.0.0.1: downloads, pushes, and every fault the
//! Hub or the network can throw. No test reaches the internet.

#[path = "support/hub_server.rs"]
mod hub_server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use distil::Error;
use distil::hub::{DatasetRequest, HubClient, HubConfig, RetryPolicy, Secret};
use distil::prelude::*;
use distil::steps::{LoadDataFromDicts, LoadDataFromHub};
use hub_server::HubServer;

const TOKEN: &str = "hf_TESTTOKENsuperSECRET";
const REPO: &str = "distil-rs/prompts";
const SHARD_0: &[u8] = include_bytes!("support/fixtures/train-00000-of-00002.parquet");
const SHARD_1: &[u8] = include_bytes!("support/fixtures/train-00001-of-00002.parquet");

fn temp_dir(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "distil-hub-{}-{name}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

/// A client for the test server, with `token`, caching under a fresh folder.
fn client(server: &HubServer, token: Option<&str>) -> HubClient {
    let config = HubConfig::from_vars(|_| None)
        .with_endpoint(&server.base)
        .with_token(token)
        .with_cache_dir(temp_dir("cache"))
        .with_retry(fast_retries());
    HubClient::new(config).unwrap()
}

/// A server holding `distil-rs/prompts` in the layout distil writes.
async fn server_with_dataset() -> HubServer {
    let server = HubServer::start(TOKEN).await;
    server.add_file(REPO, "main", "README.md", b"---\nconfigs: []\n---\n");
    server.add_file(
        REPO,
        "main",
        "default/train-00000-of-00002.parquet",
        SHARD_0,
    );
    server.add_file(
        REPO,
        "main",
        "default/train-00001-of-00002.parquet",
        SHARD_1,
    );
    server.add_file(REPO, "main", "default/test-00000-of-00001.parquet", SHARD_1);
    server.add_file(REPO, "main", "chat/train-00000-of-00001.parquet", SHARD_1);
    server
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                folders.push(entry.path());
            } else {
                found.push(entry.path());
            }
        }
    }
    found
}

/// Checks that an error never shows the token, in `Display` and `Debug`.
fn assert_no_token(error: &Error) {
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(TOKEN), "token leaked: {shown}");
}

#[tokio::test]
async fn downloads_the_shards_of_a_config_split_and_caches_them() {
    let server = server_with_dataset().await;
    let hub = client(&server, Some(TOKEN));
    let paths = hub
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap();
    assert_eq!(paths.len(), 2);
    assert!(paths[0].ends_with("default/train-00000-of-00002.parquet"));
    assert_eq!(std::fs::read(&paths[0]).unwrap(), SHARD_0);
    assert_eq!(std::fs::read(&paths[1]).unwrap(), SHARD_1);
    assert!(paths[0].starts_with(&hub.config().cache_dir));
    // The Hub gets the token; the Parquet files (LFS) come from the CDN the resolve URLs
    // redirect to: each a one-byte probe for its size, then its content.
    let requests = server.requests();
    let (cdn, hub_side): (Vec<_>, Vec<_>) =
        requests.iter().partition(|r| r.path.starts_with("/cdn/"));
    assert!(
        hub_side
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&*format!("Bearer {TOKEN}"))),
        "{hub_side:?}"
    );
    assert!(
        cdn.iter().all(|r| r.host.starts_with("localhost:")),
        "{cdn:?}"
    );
    assert_eq!(cdn.len(), 4, "{cdn:?}");
    let probes: Vec<_> = cdn
        .iter()
        .filter(|r| r.range.as_deref() == Some("bytes=0-0"))
        .collect();
    assert_eq!(probes.len(), 2, "{cdn:?}");
    // The content comes through the redirect, which drops the token for the other host.
    // (hf-hub 0.4 sends its probe to the CDN with the token: see the type `HfApi`.)
    assert!(
        cdn.iter()
            .filter(|r| r.range.as_deref() != Some("bytes=0-0"))
            .all(|r| r.authorization.is_none()),
        "{cdn:?}"
    );
    assert_eq!(server.count("GET", "/resolve/"), 4);

    // Same versions: listed again, not downloaded again.
    let again = hub
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap();
    assert_eq!(again, paths);
    assert_eq!(server.count("GET", "/resolve/"), 4);

    let chat = hub
        .download_parquet(&DatasetRequest::new(REPO).config("chat"))
        .await
        .unwrap();
    assert_eq!(chat.len(), 1);
    let test = hub
        .download_parquet(&DatasetRequest::new(REPO).split("test"))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&test[0]).unwrap(), SHARD_1);

    // Offline: the cache answers, no request is sent.
    let before = server.requests().len();
    let offline = HubClient::new(hub.config().clone().with_offline(true)).unwrap();
    assert_eq!(
        offline
            .download_parquet(&DatasetRequest::new(REPO))
            .await
            .unwrap(),
        paths
    );
    assert_eq!(server.requests().len(), before);
}

/// `huggingface_hub`'s layout: a blob per content, a snapshot per commit linking to blobs, and
/// a ref per branch.
#[tokio::test]
async fn downloads_land_in_the_hugging_face_cache_layout() {
    let server = server_with_dataset().await;
    let hub = client(&server, Some(TOKEN));
    let paths = hub
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap();
    let repo = hub.config().cache_dir.join("datasets--distil-rs--prompts");
    let commit = hub_server::commit_of("main");
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main")).unwrap(),
        commit
    );
    let expected = repo.join(format!(
        "snapshots/{commit}/default/train-00000-of-00002.parquet"
    ));
    assert_eq!(paths[0], expected);
    let blob = repo.join("blobs").join(hub_server::sha256(SHARD_0));
    assert_eq!(std::fs::read(&blob).unwrap(), SHARD_0);
    #[cfg(unix)]
    assert_eq!(
        std::fs::read_link(&expected).unwrap(),
        Path::new("../../../blobs").join(hub_server::sha256(SHARD_0))
    );
    let partials: Vec<_> = files_under(&repo)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(partials.is_empty(), "{partials:?}");
}

/// A cache folder as Python's `huggingface_hub` leaves it is read offline, and online its
/// files are not downloaded again.
#[tokio::test]
async fn files_python_downloaded_are_reused_offline_and_online() {
    let cache = temp_dir("python-cache");
    let repo = cache.join("datasets--distil-rs--prompts");
    let commit = hub_server::commit_of("main");
    let shard = "default/train-00000-of-00001.parquet";
    let blob = repo.join("blobs").join(hub_server::sha256(SHARD_0));
    std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
    std::fs::write(&blob, SHARD_0).unwrap();
    let link = repo.join("snapshots").join(&commit).join(shard);
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        Path::new("../../../blobs").join(hub_server::sha256(SHARD_0)),
        &link,
    )
    .unwrap();
    #[cfg(not(unix))]
    std::fs::copy(&blob, &link).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), &commit).unwrap();

    // Offline, with no server at all.
    let offline = HubConfig::from_vars(|_| None)
        .with_endpoint("http://127.0.0.1:9")
        .with_cache_dir(&cache)
        .with_offline(true);
    let paths = HubClient::new(offline)
        .unwrap()
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap();
    assert_eq!(paths, std::slice::from_ref(&link));
    assert_eq!(std::fs::read(&paths[0]).unwrap(), SHARD_0);
    let error = HubClient::new(
        HubConfig::from_vars(|_| None)
            .with_cache_dir(&cache)
            .with_offline(true),
    )
    .unwrap()
    .download_parquet(&DatasetRequest::new(REPO).revision("v2"))
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("HF_HUB_OFFLINE") && error.contains("`v2`"),
        "{error}"
    );
    // A file offline and not in the cache: said so, nothing asked of the (absent) Hub.
    let missing = distil::hub::RemoteFile {
        path: "default/train-00001-of-00002.parquet".into(),
        size: 3,
        version: "0".repeat(64),
        is_sha256: true,
    };
    let error = HubClient::new(
        HubConfig::from_vars(|_| None)
            .with_endpoint("http://127.0.0.1:9")
            .with_cache_dir(&cache)
            .with_offline(true),
    )
    .unwrap()
    .download_file(REPO, "main", &missing)
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("HF_HUB_OFFLINE") && error.contains("default/train-00001-of-00002.parquet"),
        "{error}"
    );

    // Online: listed, not downloaded.
    let server = HubServer::start(TOKEN).await;
    server.add_file(REPO, "main", shard, SHARD_0);
    let config = HubConfig::from_vars(|_| None)
        .with_endpoint(&server.base)
        .with_cache_dir(&cache)
        .with_retry(fast_retries());
    let online = HubClient::new(config)
        .unwrap()
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap();
    assert_eq!(online, [link]);
    assert_eq!(server.count("GET", "/tree/"), 1);
    assert_eq!(server.count("GET", "/resolve/"), 0);
}

/// The `hf-hub` crate's cache (as the embedded model and other Rust tools read it) finds,
/// offline, the files distil downloaded, the Parquet conversion's revision too.
#[tokio::test]
async fn the_hf_hub_crate_reads_what_distil_downloaded_offline() {
    use hf_hub::{Cache, Repo, RepoType};

    let server = server_with_dataset().await;
    server.add_file(
        REPO,
        "refs/convert/parquet",
        "default/train/0000.parquet",
        SHARD_1,
    );
    let hub = client(&server, Some(TOKEN));
    let main = hub
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap();
    let converted = hub
        .download_parquet(&DatasetRequest::new(REPO).revision("refs/convert/parquet"))
        .await
        .unwrap();
    drop(server);

    let cache = Cache::new(hub.config().cache_dir.clone());
    let at = |revision: &str| {
        cache.repo(Repo::with_revision(
            REPO.to_owned(),
            RepoType::Dataset,
            revision.to_owned(),
        ))
    };
    let found = at("main")
        .get("default/train-00000-of-00002.parquet")
        .expect("hf-hub finds the file");
    assert_eq!(found, main[0]);
    assert_eq!(std::fs::read(&found).unwrap(), SHARD_0);
    let found = at("refs/convert/parquet")
        .get("default/train/0000.parquet")
        .expect("hf-hub finds the converted file");
    assert_eq!(found, converted[0]);
    assert_eq!(std::fs::read(&found).unwrap(), SHARD_1);
    assert!(at("main").get("default/missing.parquet").is_none());
}

#[tokio::test]
async fn reads_the_data_folder_and_the_parquet_conversion_revision() {
    let server = HubServer::start(TOKEN).await;
    server.add_file(REPO, "main", "data/train-00000-of-00001.parquet", SHARD_0);
    server.add_file(
        REPO,
        "refs/convert/parquet",
        "default/train/0000.parquet",
        SHARD_1,
    );
    let hub = client(&server, None);
    let main = hub
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&main[0]).unwrap(), SHARD_0);
    let converted = hub
        .download_parquet(&DatasetRequest::new(REPO).revision("refs/convert/parquet"))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&converted[0]).unwrap(), SHARD_1);
    assert!(server.count("GET", "/tree/refs%2Fconvert%2Fparquet") == 1);
}

#[tokio::test]
async fn unknown_repo_revision_and_config_are_not_found() {
    let server = server_with_dataset().await;
    let hub = client(&server, Some(TOKEN));
    let error = hub
        .download_parquet(&DatasetRequest::new("distil-rs/nope"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::HubNotFound { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("distil-rs/nope")
            && message.contains("/api/datasets/distil-rs/nope/tree/main"),
        "{message}"
    );
    assert_no_token(&error);

    let error = hub
        .download_parquet(&DatasetRequest::new(REPO).revision("v9"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("revision"), "{error}");

    let error = hub
        .download_parquet(&DatasetRequest::new(REPO).config("missing"))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::HubNotFound { .. }));
    assert!(
        message.contains("config `missing`") && message.contains("chat, default"),
        "{message}"
    );

    let error = hub
        .download_parquet(&DatasetRequest::new("no-namespace"))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::HubInvalid { .. }), "{error:?}");
}

#[tokio::test]
async fn gated_private_and_bad_token_are_refused_clearly() {
    let server = server_with_dataset().await;
    server.with_state(|s| s.repos.get_mut(REPO).unwrap().gated = true);
    let error = client(&server, Some(TOKEN))
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap_err();
    match &error {
        Error::HubAccessDenied {
            status, hint, repo, ..
        } => {
            assert_eq!(*status, 403);
            assert_eq!(repo, REPO);
            assert!(hint.contains("gated"), "{hint}");
        }
        other => panic!("{other:?}"),
    }
    assert_no_token(&error);

    server.with_state(|s| {
        let repo = s.repos.get_mut(REPO).unwrap();
        repo.gated = false;
        repo.private = true;
    });
    let error = client(&server, None)
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("private"), "{error}");

    let bad = "hf_WRONGtoken123";
    let error = client(&server, Some(bad))
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap_err();
    match &error {
        Error::HubAccessDenied {
            status: 401, hint, ..
        } => assert!(hint.contains("rejected"), "{hint}"),
        other => panic!("{other:?}"),
    }
    assert!(!format!("{error} {error:?}").contains(bad));
}

#[tokio::test]
async fn a_cut_download_is_retried_and_a_lasting_one_leaves_nothing() {
    let server = server_with_dataset().await;
    server.with_state(|s| s.faults.cut_downloads = 1);
    let hub = client(&server, Some(TOKEN));
    let paths = hub
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&paths[0]).unwrap(), SHARD_0);
    // A probe and the content per attempt: two attempts for the first file, one for the other.
    assert_eq!(server.count("GET", "/resolve/"), 6);

    server.with_state(|s| s.faults.cut_downloads = 100);
    let hub = client(&server, Some(TOKEN));
    let error = hub
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap_err();
    match &error {
        Error::HubRequest {
            file, message, url, ..
        } => {
            assert_eq!(
                file.as_deref(),
                Some("default/train-00000-of-00002.parquet")
            );
            assert!(
                message.contains("the connection failed") && message.contains("after 3 attempts"),
                "{message}"
            );
            assert!(
                url.contains("/resolve/main/default/train-00000-of-00002.parquet"),
                "{url}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_no_token(&error);
    // Neither a partial file nor a final one that a later run could take for complete.
    let left: Vec<_> = files_under(&hub.config().cache_dir);
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let server = server_with_dataset().await;
    server.with_state(|s| s.faults.statuses.push(("/tree/".into(), 500, 1)));
    let hub = client(&server, Some(TOKEN));
    hub.download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap();
    assert_eq!(server.count("GET", "/tree/"), 2);

    server.with_state(|s| s.faults.statuses.push(("/tree/".into(), 503, 100)));
    let error = hub.list_files(REPO, "main").await.unwrap_err();
    assert!(matches!(error, Error::HubRequest { .. }), "{error:?}");
    assert!(error.to_string().contains("after 3 attempts"), "{error}");
}

#[tokio::test]
async fn malformed_answers_and_unreachable_hubs_are_errors() {
    let server = server_with_dataset().await;
    server.with_state(|s| s.faults.tree_body = Some("<html>not json</html>".into()));
    let error = client(&server, Some(TOKEN))
        .list_files(REPO, "main")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::HubResponse { .. }), "{error:?}");
    assert!(
        error.to_string().contains("invalid file listing"),
        "{error}"
    );

    server.with_state(|s| {
        s.faults.tree_body =
            Some(r#"[{"type":"file","path":"../../escape.parquet","size":3,"oid":"x"}]"#.into())
    });
    let hub = client(&server, Some(TOKEN));
    let error = hub
        .download_parquet(&DatasetRequest::new(REPO).config(".."))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::HubNotFound { .. } | Error::HubResponse { .. }),
        "{error:?}"
    );
    let file = distil::hub::RemoteFile {
        path: "../../escape.parquet".into(),
        size: 3,
        version: "x".into(),
        is_sha256: false,
    };
    let error = hub.download_file(REPO, "main", &file).await.unwrap_err();
    assert!(error.to_string().contains("unsafe file path"), "{error}");

    // Nothing listens on the port of a dropped listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = HubConfig::from_vars(|_| None)
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_token(Some(TOKEN))
        .with_retry(fast_retries());
    let error = HubClient::new(config)
        .unwrap()
        .list_files(REPO, "main")
        .await
        .unwrap_err();
    assert!(matches!(error, Error::HubRequest { .. }), "{error:?}");
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );
    assert_no_token(&error);
}

/// A folder like a saved Distiset: a Parquet shard, a big JSONL file, small text files.
fn distiset_folder() -> (PathBuf, Vec<u8>) {
    let dir = temp_dir("push");
    std::fs::create_dir_all(dir.join("default")).unwrap();
    std::fs::write(dir.join("default/train-00000-of-00001.parquet"), SHARD_0).unwrap();
    let big: Vec<u8> = (0..4000u32)
        .flat_map(|i| format!("{{\"i\":{i}}}\n").into_bytes())
        .collect();
    std::fs::write(dir.join("default/big.jsonl"), &big).unwrap();
    std::fs::write(
        dir.join("README.md"),
        "---\nconfigs: []\n---\n# A dataset\n",
    )
    .unwrap();
    std::fs::write(dir.join("pipeline.yaml"), "name: test\n").unwrap();
    std::fs::create_dir_all(dir.join(".git")).unwrap();
    std::fs::write(dir.join(".git/HEAD"), "ref: main\n").unwrap();
    (dir, big)
}

#[tokio::test]
async fn push_folder_creates_the_repo_and_commits_everything_at_once() {
    let server = HubServer::start(TOKEN).await;
    let hub = client(&server, Some(TOKEN));
    let (dir, big) = distiset_folder();
    let commit = hub
        .push_folder("me/curated", &dir, true, "Upload Distiset")
        .await
        .unwrap();
    assert_eq!(commit.commit_oid, "c1");
    assert!(commit.commit_url.contains("/datasets/me/curated/commit/c1"));
    assert_eq!(
        commit.files,
        [
            "README.md",
            "default/big.jsonl",
            "default/train-00000-of-00001.parquet",
            "pipeline.yaml"
        ]
    );

    server.with_state(|s| {
        let repo = &s.repos["me/curated"];
        assert!(repo.private);
        let files = &repo.revisions["main"];
        assert_eq!(files["default/big.jsonl"], big);
        assert_eq!(files["default/train-00000-of-00001.parquet"], SHARD_0);
        assert_eq!(files["pipeline.yaml"], b"name: test\n");
        assert!(!files.contains_key(".git/HEAD"));
        assert_eq!(s.commits.len(), 1);
        let commit = &s.commits[0];
        assert_eq!(commit.summary, "Upload Distiset");
        let kinds: HashMap<_, _> = commit
            .entries
            .iter()
            .map(|(k, p)| (p.as_str(), k.as_str()))
            .collect();
        assert_eq!(kinds["default/big.jsonl"], "lfsFile");
        assert_eq!(kinds["default/train-00000-of-00001.parquet"], "lfsFile");
        assert_eq!(kinds["README.md"], "file");
        assert_eq!(kinds["pipeline.yaml"], "file");
        assert_eq!(s.lfs_objects.len(), 2);
    });
    // The token goes to the Hub, never to the signed upload URLs.
    for request in server.requests() {
        let expected = if request.path.starts_with("/lfs-upload/") {
            None
        } else {
            Some(format!("Bearer {TOKEN}"))
        };
        assert_eq!(request.authorization, expected, "{}", request.path);
    }
    assert_eq!(server.count("PUT", "/lfs-upload/"), 2);
    assert_eq!(server.count("POST", "/lfs-verify/"), 2);

    // Again: the repo exists (409 is fine), the LFS objects too (nothing uploaded).
    let again = hub
        .push_folder("me/curated", &dir, true, "Again")
        .await
        .unwrap();
    assert_eq!(again.commit_oid, "c2");
    assert_eq!(server.count("PUT", "/lfs-upload/"), 2);
}

#[tokio::test]
async fn push_errors_name_the_repo_and_never_the_token() {
    let server = HubServer::start(TOKEN).await;
    let (dir, _) = distiset_folder();

    let error = client(&server, None)
        .push_folder("me/x", &dir, false, "m")
        .await
        .unwrap_err();
    match &error {
        Error::HubAccessDenied {
            status: 401,
            hint,
            repo,
            ..
        } => {
            assert_eq!(repo, "me/x");
            assert!(hint.contains("HF_TOKEN"), "{hint}");
        }
        other => panic!("{other:?}"),
    }

    let bad = "hf_badBADbad";
    let error = client(&server, Some(bad))
        .push_folder("me/x", &dir, false, "m")
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::HubAccessDenied { status: 401, .. }),
        "{error:?}"
    );
    assert!(!format!("{error} {error:?}").contains(bad));

    // The upload breaks every time: the file and the (redacted) upload URL are named.
    server.with_state(|s| s.faults.statuses.push(("/lfs-upload/".into(), 500, 100)));
    let error = client(&server, Some(TOKEN))
        .push_folder("me/x", &dir, false, "m")
        .await
        .unwrap_err();
    match &error {
        Error::HubRequest {
            file, url, message, ..
        } => {
            assert_eq!(file.as_deref(), Some("default/big.jsonl"));
            assert!(
                url.starts_with("PUT ")
                    && url.contains("/lfs-upload/")
                    && !url.contains("Signature"),
                "{url}"
            );
            assert!(message.contains("after 3 attempts"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_no_token(&error);
    assert!(server.with_state(|s| s.commits.is_empty()));

    // One 500 on the commit: retried, then committed.
    server.with_state(|s| {
        s.faults.statuses.clear();
        s.faults.statuses.push(("/commit/".into(), 500, 1));
    });
    client(&server, Some(TOKEN))
        .push_folder("me/x", &dir, false, "m")
        .await
        .unwrap();
    assert_eq!(server.count("POST", "/commit/main"), 2);

    let error = client(&server, Some(TOKEN))
        .push_folder("me/x", &temp_dir("empty"), false, "m")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("nothing to push"), "{error}");
}

#[test]
fn the_token_never_shows_in_debug_output() {
    let config = HubConfig::from_vars(|_| None).with_token(Some(TOKEN));
    assert!(!format!("{config:?}").contains(TOKEN));
    assert!(format!("{config:?}").contains("***"));
    let client = HubClient::new(config).unwrap();
    assert!(!format!("{client:?}").contains(TOKEN));
    assert_eq!(format!("{:?}", Secret::new(TOKEN)), "***");
}

#[test]
fn token_and_endpoint_come_from_the_environment_in_order() {
    let home = temp_dir("hf-home");
    std::fs::write(home.join("token"), format!("{TOKEN}\n")).unwrap();
    let other = home.join("other-token");
    std::fs::write(&other, "hf_fromTOKENPATH").unwrap();
    let vars = |pairs: &[(&str, String)]| {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        HubConfig::from_vars(move |name| map.get(name).cloned())
    };
    let home_str = home.display().to_string();

    let from_file = vars(&[("HF_HOME", home_str.clone())]);
    assert_eq!(from_file.token.as_ref().map(Secret::expose), Some(TOKEN));
    assert_eq!(from_file.cache_dir, home.join("hub"));

    let from_path = vars(&[
        ("HF_HOME", home_str.clone()),
        ("HF_TOKEN_PATH", other.display().to_string()),
    ]);
    assert_eq!(
        from_path.token.as_ref().map(Secret::expose),
        Some("hf_fromTOKENPATH")
    );

    let from_var = vars(&[
        ("HF_HOME", home_str.clone()),
        ("HF_TOKEN", "hf_fromVAR".into()),
    ]);
    assert_eq!(
        from_var.token.as_ref().map(Secret::expose),
        Some("hf_fromVAR")
    );

    let disabled = vars(&[
        ("HF_HOME", home_str.clone()),
        ("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1".into()),
    ]);
    assert!(disabled.token.is_none());

    let explicit = vars(&[("HF_HOME", home_str.clone())]).with_token(Some("hf_explicit"));
    assert_eq!(
        explicit.token.as_ref().map(Secret::expose),
        Some("hf_explicit")
    );

    let endpoint = vars(&[
        ("HF_ENDPOINT", "http://127.0.0.1:1234/".into()),
        ("HF_HUB_CACHE", "/tmp/c".into()),
    ]);
    assert_eq!(endpoint.endpoint, "http://127.0.0.1:1234");
    assert_eq!(endpoint.cache_dir, Path::new("/tmp/c"));
    assert_eq!(vars(&[]).endpoint, "https://huggingface.co");
}

/// The rows of the fixture shards.
#[derive(Row, Debug, PartialEq)]
struct HubPrompt {
    prompt: String,
    words: i64,
}

#[derive(Row)]
struct Loud {
    loud: String,
}

#[step]
fn shout(prompt: &str) -> Loud {
    Loud {
        loud: prompt.to_uppercase(),
    }
}

#[tokio::test]
async fn a_hub_dataset_is_loaded_typed_through_a_pipeline() {
    let server = server_with_dataset().await;
    let hub = client(&server, Some(TOKEN));
    let mut pipeline = pipeline! {
        name: "from-hub",
        load = LoadDataFromHub::<HubPrompt>::new(REPO).client(hub.clone()),
            batch_size: 2,
        shout = Shout::new(),
        load >> shout,
    };
    let distiset = pipeline.run().await.unwrap();
    let dataset = distiset.default_config().unwrap();
    assert_eq!(dataset.column_names(), ["prompt", "words", "loud"]);
    let rows: Vec<HubPrompt> = dataset.rows_as().unwrap();
    assert_eq!(rows.len(), 3, "both shards of the train split");
    assert_eq!(
        rows[0],
        HubPrompt {
            prompt: "Write a haiku about Rust".into(),
            words: 5
        }
    );
    let loud: Vec<_> = dataset.column("loud").cloned().collect();
    assert_eq!(loud[0], "WRITE A HAIKU ABOUT RUST");

    // Another split and config: only their files.
    for load in [
        LoadDataFromHub::<HubPrompt>::new(REPO).split("test"),
        LoadDataFromHub::<HubPrompt>::new(REPO).config("chat"),
    ] {
        let mut pipeline = Pipeline::new("from-hub-split");
        pipeline.add("load", load.client(hub.clone()));
        let distiset = pipeline.run().await.unwrap();
        let expected = Distiset::load_from_disk(distiset.dir()).unwrap();
        assert_eq!(distiset.total_rows(), expected.total_rows());
        assert!(distiset.total_rows() < 3, "one shard only");
    }
}

#[derive(Row)]
struct WithScore {
    prompt: String,
    score: f64,
}

#[tokio::test]
async fn hub_loader_errors_name_the_repo_the_file_and_the_column() {
    let server = server_with_dataset().await;
    let hub = client(&server, Some(TOKEN));

    let mut pipeline = pipeline! {
        name: "missing-column",
        load = LoadDataFromHub::<WithScore>::new(REPO).client(hub.clone()),
        shout = Shout::new(),
        load >> shout,
    };
    let error = pipeline.run().await.unwrap_err().to_string();
    assert!(
        error.contains(
            "dataset `distil-rs/prompts` (config `default`, split `train`, revision `main`): "
        ),
        "{error}"
    );
    assert!(
        error.contains(
            "default/train-00000-of-00002.parquet: has no column `score`; its columns are `prompt`, `words`"
        ),
        "{error}"
    );

    let mut pipeline = Pipeline::new("no-repo");
    pipeline.add(
        "load",
        LoadDataFromHub::untyped("distil-rs/nope").client(hub.clone()),
    );
    let error = pipeline.run().await.unwrap_err();
    assert_no_token(&error);
    let error = error.to_string();
    assert!(error.contains("distil-rs/nope"), "{error}");
    assert!(error.to_lowercase().contains("not found"), "{error}");
}

#[tokio::test]
async fn push_to_hub_commits_a_distiset_produced_by_a_pipeline() {
    let server = HubServer::start(TOKEN).await;
    let hub = client(&server, Some(TOKEN));
    let prompts = vec![
        HubPrompt {
            prompt: "a b".into(),
            words: 2,
        },
        HubPrompt {
            prompt: "c".into(),
            words: 1,
        },
    ];
    let mut pipeline = pipeline! {
        name: "to-hub",
        load = LoadDataFromDicts::<HubPrompt>::new(prompts),
        shout = Shout::new(),
        load >> shout,
    };
    let run_dir = temp_dir("run");
    let distiset = pipeline
        .run_with(RunOptions::new().output_dir(&run_dir))
        .await
        .unwrap();
    let commit = distiset
        .push_to_hub_with(&hub, "me/shouted", false)
        .await
        .unwrap();
    assert!(
        commit.files.iter().any(|f| f == "README.md"),
        "{:?}",
        commit.files
    );
    assert!(
        commit.files.iter().any(|f| f == "pipeline.yaml"),
        "{:?}",
        commit.files
    );
    let shard = std::fs::read(distiset.default_config().unwrap().files()[0].clone()).unwrap();
    server.with_state(|s| {
        let repo = &s.repos["me/shouted"];
        assert!(!repo.private);
        let files = &repo.revisions["main"];
        let shards: Vec<&String> = files
            .keys()
            .filter(|p| p.starts_with("default/train-") && p.ends_with(".parquet"))
            .collect();
        assert_eq!(shards.len(), 1, "{:?}", files.keys());
        assert_eq!(files[shards[0]], shard);
        assert!(
            String::from_utf8_lossy(&files["README.md"]).contains("default"),
            "the card lists the config"
        );
        assert!(String::from_utf8_lossy(&files["pipeline.yaml"]).contains("to-hub"));
        let kinds: HashMap<_, _> = s.commits[0]
            .entries
            .iter()
            .map(|(k, p)| (p.as_str(), k.as_str()))
            .collect();
        assert_eq!(kinds[shards[0].as_str()], "lfsFile");
        assert_eq!(s.commits.len(), 1, "one commit for the whole Distiset");
    });

    // Pulled back through the loader, the rows are the same.
    let mut pipeline = Pipeline::new("round-trip");
    pipeline.add(
        "load",
        LoadDataFromHub::<HubPrompt>::new("me/shouted").client(hub),
    );
    let back = pipeline.run().await.unwrap();
    let rows: Vec<HubPrompt> = back.default_config().unwrap().rows_as().unwrap();
    assert_eq!(
        rows[1],
        HubPrompt {
            prompt: "c".into(),
            words: 1
        }
    );
}

/// A file larger than a range comes in ranges, several at once, each asked with `Range`.
#[tokio::test]
async fn a_large_file_downloads_in_ranges_several_at_once() {
    let server = HubServer::start(TOKEN).await;
    let content: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let path = "default/train-00000-of-00001.parquet";
    server.add_file(REPO, "main", path, &content);
    let config = HubConfig::from_vars(|_| None)
        .with_endpoint(&server.base)
        .with_token(Some(TOKEN))
        .with_cache_dir(temp_dir("ranges"))
        .with_retry(fast_retries())
        .with_download_ranges(1_000, 3);
    let hub = HubClient::new(config).unwrap();
    let paths = hub
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&paths[0]).unwrap(), content);
    let mut ranges: Vec<(usize, usize)> =
        server.with_state(|s| s.served_ranges.iter().flatten().copied().collect());
    ranges.sort();
    // The probe for the size, then ten ranges covering the file.
    assert_eq!(ranges.len(), 11, "{ranges:?}");
    assert_eq!(ranges[0], (0, 0));
    for (i, (start, _)) in ranges[1..].iter().enumerate() {
        assert_eq!(*start, i * 1_000, "{ranges:?}");
    }
    assert!(ranges.last().unwrap().1 >= content.len() - 1);
    // Nothing but the layout's files is left: no lock, no partial file.
    let repo = hub.config().cache_dir.join("datasets--distil-rs--prompts");
    let mut left: Vec<String> = files_under(&repo)
        .iter()
        .map(|p| p.strip_prefix(&repo).unwrap().display().to_string())
        .collect();
    left.sort();
    let commit = hub_server::commit_of("main");
    assert_eq!(
        left,
        [
            format!("blobs/{}", hub_server::sha256(&content)),
            "refs/main".to_owned(),
            format!("snapshots/{commit}/{path}"),
        ]
    );
}

/// A download whose content is not the listed SHA-256 is thrown away and tried again; one
/// that stays wrong fails with a sentence naming the repo and the file, leaving nothing.
#[tokio::test]
async fn downloaded_content_is_checked_against_the_listed_sha256() {
    let server = server_with_dataset().await;
    server.with_state(|s| s.faults.corrupt_downloads = 1);
    let hub = client(&server, Some(TOKEN));
    let paths = hub
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&paths[0]).unwrap(), SHARD_0);
    assert_eq!(std::fs::read(&paths[1]).unwrap(), SHARD_1);

    server.with_state(|s| s.faults.corrupt_downloads = 100);
    let hub = client(&server, Some(TOKEN));
    let error = hub
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("`distil-rs/prompts`")
            && text.contains("default/train-00000-of-00002.parquet")
            && text.contains(&format!(
                "differs from the listed {}",
                hub_server::sha256(SHARD_0)
            ))
            && text.contains("after 3 attempts"),
        "{text}"
    );
    assert!(
        !text.contains('{') && !text.contains("Error"),
        "a sentence: {text}"
    );
    assert_no_token(&error);
    let left = files_under(&hub.config().cache_dir);
    assert!(
        left.iter().all(|p| !p.to_string_lossy().contains("blobs")),
        "{left:?}"
    );
}

/// A refusal while downloading reads as the listing's do: which repo, which file, why.
#[tokio::test]
async fn download_refusals_name_the_repo_and_the_file() {
    let server = server_with_dataset().await;
    server.with_state(|s| s.faults.statuses.push(("/resolve/".into(), 404, 1)));
    let error = client(&server, Some(TOKEN))
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap_err();
    match &error {
        Error::HubNotFound { repo, what, .. } => {
            assert_eq!(repo, REPO);
            assert!(
                what.contains("default/train-00000-of-00002.parquet"),
                "{what}"
            );
        }
        other => panic!("{other:?}"),
    }
    server.with_state(|s| s.faults.statuses.push(("/resolve/".into(), 403, 1)));
    let error = client(&server, Some(TOKEN))
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::HubAccessDenied { status: 403, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(REPO), "{error}");
    assert_no_token(&error);
    // A server error is retried, as for the listing.
    server.with_state(|s| s.faults.statuses.push(("/resolve/".into(), 503, 1)));
    client(&server, Some(TOKEN))
        .download_parquet(&DatasetRequest::new(REPO))
        .await
        .unwrap();
}
