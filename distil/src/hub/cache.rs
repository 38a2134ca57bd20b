//! Where downloaded files live on disk, and how a file is written so that no half-written
//! file is ever taken for a complete one.

use std::path::{Component, Path, PathBuf};

use super::repo::RepoId;

/// The local folder of one dataset repo, laid out as `huggingface_hub` lays it out, so files
/// downloaded by Python tools (or the `hf-hub` crate) are reused and the other way round:
///
/// ```text
/// <cache_dir>/datasets--<owner>--<name>/
/// ├── blobs/<version>                      # the content, named by its SHA-256 (LFS) or git blob id
/// ├── refs/<revision>                      # the commit a branch or tag pointed at
/// └── snapshots/<commit>/<path in repo>    # a relative symlink to the blob (a copy where
///                                          # symlinks cannot be made)
/// ```
pub(crate) struct RepoCache {
    root: PathBuf,
}

impl RepoCache {
    pub(crate) fn new(cache_dir: &Path, repo: &RepoId) -> Self {
        RepoCache {
            root: cache_dir.join(repo.cache_folder()),
        }
    }

    /// The repo's folder.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Where the content of a version lives, or `None` for a version that is not a plain name.
    pub(crate) fn blob_path(&self, version: &str) -> Option<PathBuf> {
        let plain = !version.is_empty() && version.chars().all(|c| c.is_ascii_alphanumeric());
        plain.then(|| self.root.join("blobs").join(version))
    }

    /// The folder of a commit's files.
    pub(crate) fn snapshot_root(&self, commit: &str) -> Option<PathBuf> {
        safe_relative(commit)
            .filter(|c| c.components().count() == 1)
            .map(|c| self.root.join("snapshots").join(c))
    }

    /// A file of the repo at a commit, or `None` when the path from the server could escape
    /// the cache folder (`..`, absolute, a drive prefix).
    pub(crate) fn snapshot_path(&self, commit: &str, path_in_repo: &str) -> Option<PathBuf> {
        let relative = safe_relative(path_in_repo)?;
        self.snapshot_root(commit).map(|root| root.join(relative))
    }

    /// The file recording the commit of a branch or tag (`refs/convert/parquet` nests folders,
    /// as `huggingface_hub` does).
    fn ref_path(&self, revision: &str) -> Option<PathBuf> {
        safe_relative(revision).map(|r| self.root.join("refs").join(r))
    }

    /// The commit of `revision`: itself when it is a commit id, else what `refs/` recorded.
    pub(crate) fn commit_of(&self, revision: &str) -> Option<String> {
        if is_commit_id(revision) {
            return Some(revision.to_owned());
        }
        let text = std::fs::read_to_string(self.ref_path(revision)?).ok()?;
        let commit = text.trim();
        (!commit.is_empty()).then(|| commit.to_owned())
    }
}

/// A full commit id: 40 hex digits.
pub(crate) fn is_commit_id(revision: &str) -> bool {
    revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())
}

/// Makes `link` show `blob`: a relative symlink, as `huggingface_hub` makes, or a copy where
/// the file system refuses symlinks.
pub(crate) async fn link_snapshot(link: &Path, blob: &Path, root: &Path) -> std::io::Result<()> {
    if let Some(parent) = link.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    match tokio::fs::symlink_metadata(link).await {
        Ok(_) => tokio::fs::remove_file(link).await?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // From snapshots/<commit>/<dirs>/file up to the repo folder, then down to the blob.
    let depth = link
        .strip_prefix(root)
        .map(|p| p.components().count().saturating_sub(1))
        .unwrap_or(0);
    let mut target = PathBuf::new();
    for _ in 0..depth {
        target.push("..");
    }
    target.push(blob.strip_prefix(root).unwrap_or(blob));
    #[cfg(unix)]
    {
        if tokio::fs::symlink(&target, link).await.is_ok() {
            return Ok(());
        }
    }
    let partial = PartialFile::beside(link);
    tokio::fs::copy(blob, partial.path()).await?;
    partial.persist(link).await
}

/// A path made only of plain components; server data decides it, so it is checked.
fn safe_relative(path: &str) -> Option<PathBuf> {
    if path.is_empty() || path.contains('\\') || path.contains(':') {
        return None;
    }
    let relative = Path::new(path);
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| relative.to_path_buf())
}

/// A temporary file that is removed when dropped unless it was renamed into place: an error
/// or a cancelled download leaves nothing behind.
pub(crate) struct PartialFile {
    path: PathBuf,
}

impl PartialFile {
    /// A temporary name beside `dest`, unique to this process and call.
    pub(crate) fn beside(dest: &Path) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let unique = format!(
            ".{name}.{}.{}.partial",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        PartialFile {
            path: dest.with_file_name(unique),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the finished file to `dest`, atomically on the same file system.
    pub(crate) async fn persist(self, dest: &Path) -> std::io::Result<()> {
        tokio::fs::rename(&self.path, dest).await
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        // Already renamed after `persist`; then there is nothing to remove.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_paths_cannot_escape() {
        let repo = RepoId::parse("o/n").unwrap();
        let cache = RepoCache::new(Path::new("/c"), &repo);
        assert_eq!(
            cache
                .snapshot_path("abc123", "default/train.parquet")
                .unwrap(),
            Path::new("/c/datasets--o--n/snapshots/abc123/default/train.parquet")
        );
        for bad in ["../x", "/etc/passwd", "a/../../x", "", "a\\b", "C:x", "./a"] {
            assert!(cache.snapshot_path("abc123", bad).is_none(), "{bad}");
        }
        assert!(cache.snapshot_path("../x", "a").is_none());
        assert!(cache.snapshot_path("a/b", "a").is_none());
        assert!(cache.blob_path("../x").is_none() && cache.blob_path("").is_none());
        assert_eq!(
            cache.ref_path("refs/convert/parquet").unwrap(),
            Path::new("/c/datasets--o--n/refs/refs/convert/parquet")
        );
    }
}
