//! Where downloaded files live on disk, and how a file is written so that no half-written
//! file is ever taken for a complete one.

use std::path::{Component, Path, PathBuf};

use super::repo::{RepoId, encode_revision};

/// The local folders of one dataset revision:
/// `<cache_dir>/datasets--<owner>--<name>/distil/<revision>/files/<path in repo>`, and beside
/// `files/` a `meta/` folder recording which version of each file is there.
///
/// distil keeps its own folder inside the Hub cache rather than `huggingface_hub`'s
/// `blobs/`+`snapshots/` layout, whose symlinks would not work everywhere.
pub(crate) struct RevisionCache {
    root: PathBuf,
}

impl RevisionCache {
    pub(crate) fn new(cache_dir: &Path, repo: &RepoId, revision: &str) -> Self {
        RevisionCache {
            root: cache_dir
                .join(repo.cache_folder())
                .join("distil")
                .join(encode_revision(revision)),
        }
    }

    /// The local path of a file of the repo, or `None` when the path from the server could
    /// escape the cache folder (`..`, absolute, a drive prefix).
    pub(crate) fn file_path(&self, path_in_repo: &str) -> Option<PathBuf> {
        safe_relative(path_in_repo).map(|relative| self.root.join("files").join(relative))
    }

    /// Where the version (hash) of a downloaded file is recorded.
    pub(crate) fn version_path(&self, path_in_repo: &str) -> Option<PathBuf> {
        safe_relative(path_in_repo).map(|relative| {
            let mut path = self.root.join("meta").join(relative).into_os_string();
            path.push(".version");
            PathBuf::from(path)
        })
    }

    /// The folder of the downloaded files, for offline use.
    pub(crate) fn files_root(&self) -> PathBuf {
        self.root.join("files")
    }
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

/// Writes a small file through a temporary file and a rename.
pub(crate) async fn write_atomically(dest: &Path, content: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let partial = PartialFile::beside(dest);
    tokio::fs::write(partial.path(), content).await?;
    partial.persist(dest).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_paths_cannot_escape() {
        let repo = RepoId::parse("o/n").unwrap();
        let cache = RevisionCache::new(Path::new("/c"), &repo, "refs/convert/parquet");
        assert_eq!(
            cache.file_path("default/train.parquet").unwrap(),
            Path::new(
                "/c/datasets--o--n/distil/refs%2Fconvert%2Fparquet/files/default/train.parquet"
            )
        );
        for bad in ["../x", "/etc/passwd", "a/../../x", "", "a\\b", "C:x", "./a"] {
            assert!(cache.file_path(bad).is_none(), "{bad}");
        }
    }
}
