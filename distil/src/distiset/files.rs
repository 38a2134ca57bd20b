//! File helpers: everything distil writes appears complete or not at all (write to a hidden
//! temporary name in the same directory, then rename).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

/// Prefix of temporary files: never matched by the `<split>-*` data-file patterns.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// A fresh temporary path in `dir` for a file that will be renamed to `final_name`.
pub(crate) fn temp_path(dir: &Path, final_name: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(
        "{TEMP_PREFIX}{}-{n}-{final_name}",
        std::process::id()
    ))
}

/// Writes `bytes` to `path` atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent(path);
    create_dir(dir)?;
    let temp = temp_path(dir, &file_name(path));
    std::fs::write(&temp, bytes).map_err(|e| Error::io(&temp, e))?;
    rename(&temp, path)
}

/// Copies `from` to `to` atomically.
pub(crate) fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    let dir = parent(to);
    create_dir(dir)?;
    let temp = temp_path(dir, &file_name(to));
    std::fs::copy(from, &temp).map_err(|e| Error::io(from, e))?;
    rename(&temp, to)
}

/// Renames, removing the source on failure so no temporary file is left behind.
pub(crate) fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| {
        let _ = std::fs::remove_file(from);
        Error::io(to, e)
    })
}

/// Creates a directory and its parents.
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// The files of `dir` whose names satisfy `keep`, sorted by name.
pub(crate) fn list(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if keep(&name) {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned())
}
