//! Where a run writes its Distiset by default:
//! `<cache>/<pipeline name>/runs/<unique id>`, where `<cache>` is `$DISTIL_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/distil`, else `~/.cache/distil` (`%LOCALAPPDATA%\distil` on Windows), else
//! the temporary directory's `distil`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh run directory for `pipeline` (not created yet).
pub(crate) fn default_run_dir(pipeline: &str) -> PathBuf {
    cache_root()
        .join(safe_name(pipeline))
        .join("runs")
        .join(unique_id())
}

fn cache_root() -> PathBuf {
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
