//! Where a run writes its Distiset by default:
//! `<cache>/<pipeline name>/runs/<unique id>`, where `<cache>` is `$DISTIL_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/distil`, else `~/.cache/distil` (`%LOCALAPPDATA%\distil` on Windows), else
//! the temporary directory's `distil`.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The lock file of a run's folder.
const LOCK_FILE: &str = ".distil.lock";

/// A run's hold on its folder: one process writes a folder at a time. The operating system's
/// advisory lock goes with the process, so a killed run never leaves the folder locked.
pub(crate) struct DirLock {
    _file: std::fs::File,
}

/// Locks `dir` (created if needed) for this process, or names the process holding it.
pub(crate) fn lock(dir: &Path) -> crate::Result<DirLock> {
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| crate::Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(crate::Error::FolderInUse {
                dir: dir.display().to_string(),
                holder: if holder.is_empty() {
                    "unknown".to_owned()
                } else {
                    holder.to_owned()
                },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(crate::Error::io(&path, e)),
    }
    let pid = std::process::id().to_string();
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(pid.as_bytes()));
    written.map_err(|e| crate::Error::io(&path, e))?;
    Ok(DirLock { _file: file })
}

/// Removes what a killed run left in `dir` and its configs' folders: temporary files that were
/// never renamed. Called with the folder locked, so no live run owns them.
pub(crate) fn clean_leftovers(dir: &Path) {
    let temporary = |entry: &std::fs::DirEntry| {
        entry
            .file_name()
            .to_string_lossy()
            .starts_with(crate::distiset::TEMP_PREFIX)
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            for inner in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                if temporary(&inner) {
                    let _ = std::fs::remove_file(inner.path());
                }
            }
        } else if temporary(&entry) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// A fresh run directory for `pipeline` (not created yet).
pub(crate) fn default_run_dir(pipeline: &str) -> PathBuf {
    cache_dir()
        .join(safe_name(pipeline))
        .join("runs")
        .join(unique_id())
}

/// The folder runs write their Distisets under by default: `$DISTIL_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/distil`, else `~/.cache/distil` (`%LOCALAPPDATA%\distil` on Windows), else
/// the temporary directory's `distil`. A pipeline's runs are in `<it>/<pipeline name>/runs/`.
pub fn cache_dir() -> PathBuf {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("DISTIL_CACHE_DIR") {
        return dir;
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return dir.join("distil");
    }
    if cfg!(windows)
        && let Some(dir) = var("LOCALAPPDATA")
    {
        return dir.join("distil");
    }
    if let Some(home) = var("HOME") {
        return home.join(".cache").join("distil");
    }
    std::env::temp_dir().join("distil")
}

/// The pipeline name as one path component.
fn safe_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() || safe.starts_with('.') {
        format!("pipeline{safe}")
    } else {
        safe
    }
}

/// Time, process and a counter: unique across runs of this and other processes.
fn unique_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}-{:09}-{}-{}",
        now.as_secs(),
        now.subsec_nanos(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_component_and_ids_unique() {
        assert_eq!(safe_name("a/b c"), "a_b_c");
        assert_eq!(safe_name(".."), "pipeline..");
        assert_ne!(unique_id(), unique_id());
    }
}
