//! A run's folder: where it writes its Distiset by default (under the
//! [cache directory](crate::cache): `<cache>/<pipeline name>/runs/<id>`, the id being the
//! pipeline's signature when it has steps that persist, so its reruns resume in the same
//! folder), the lock that keeps a second process out, and the cleaning of what a killed run
//! left.

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

/// A fresh run directory for `pipeline` (not created yet), for runs that nothing resumes.
pub(crate) fn default_run_dir(pipeline: &str) -> PathBuf {
    crate::cache::pipeline_dir(pipeline)
        .join("runs")
        .join(unique_id())
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
    fn ids_are_unique() {
        assert_ne!(unique_id(), unique_id());
    }
}
