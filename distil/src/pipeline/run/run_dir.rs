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
/// never renamed, and the folders they leave empty. Called with the folder locked, so no live
/// run owns them.
pub(crate) fn clean_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            for inner in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                if is_temporary(&inner) {
                    let _ = std::fs::remove_file(inner.path());
                }
            }
            // Only an empty folder goes: `remove_dir` refuses any other.
            let _ = std::fs::remove_dir(&path);
        } else if is_temporary(&entry) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn is_temporary(entry: &std::fs::DirEntry) -> bool {
    entry
        .file_name()
        .to_string_lossy()
        .starts_with(crate::distiset::TEMP_PREFIX)
}

/// Removes the folders under `runs` that killed runs left with nothing in them but their lock
/// and temporary files. A folder another process holds, or that holds any result, stays.
fn remove_abandoned(runs: &Path) {
    for entry in std::fs::read_dir(runs).into_iter().flatten().flatten() {
        let dir = entry.path();
        if !dir.is_dir() {
            continue;
        }
        let Ok(lock) = lock(&dir) else {
            continue;
        };
        clean_leftovers(&dir);
        let only_lock = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .all(|e| e.file_name() == LOCK_FILE);
        if only_lock {
            let _ = std::fs::remove_file(dir.join(LOCK_FILE));
            drop(lock);
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

/// A fresh run directory for `pipeline` (not created yet), for runs that nothing resumes; the
/// folders killed runs of it abandoned are removed first.
pub(crate) fn default_run_dir(pipeline: &str) -> PathBuf {
    let runs = crate::cache::pipeline_dir(pipeline).join("runs");
    remove_abandoned(&runs);
    runs.join(unique_id())
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

    #[test]
    fn leftovers_go_and_results_stay() {
        let runs = &std::env::temp_dir().join(format!("distil-runs-{}", unique_id()));
        let killed = runs.join("killed");
        std::fs::create_dir_all(killed.join("default")).unwrap();
        std::fs::write(killed.join(LOCK_FILE), "1").unwrap();
        let temporary = format!("{}1-0-train.parquet", crate::distiset::TEMP_PREFIX);
        std::fs::write(killed.join("default").join(&temporary), "").unwrap();
        let partial = runs.join("partial");
        std::fs::create_dir_all(partial.join("default")).unwrap();
        std::fs::write(partial.join("default").join(&temporary), "").unwrap();
        std::fs::write(partial.join("default").join("train.parquet"), "rows").unwrap();
        let running = runs.join("running");
        let _held = lock(&running).unwrap();

        remove_abandoned(runs);
        assert!(!killed.exists());
        assert!(partial.join("default").join("train.parquet").exists());
        assert!(!partial.join("default").join(&temporary).exists());
        assert!(running.join(LOCK_FILE).exists());
        let _ = std::fs::remove_dir_all(runs);
    }
}
