//! The cache: what a run keeps so that a stopped, killed or failed run resumes without losing
//! or paying again for finished work.
//!
//! - [`ResponseCache`]: every LLM answer, keyed by the LLM (provider, model, endpoint), the
//!   canonical request and its occurrence in the run, shared by all runs and pipelines
//!   (`<cache>/llm-responses.sqlite`).
//! - [`BatchStore`]: each step's finished output batches, keyed by the step's
//!   [signature](signature) (`<cache>/<pipeline>/batches.sqlite`).
//!
//! Both are SQLite databases: a transaction is either whole or absent however the writing
//! process dies, several processes can share one, and each entry carries a sha256 checksum
//! of its bytes, checked on every read. A database that no longer opens cleanly (truncated,
//! overwritten) is moved aside and started afresh, with a warning: the next run recomputes
//! what it held, never misreads it.
//!
//! `<cache>` is `$DISTIL_CACHE_DIR`, else `$XDG_CACHE_HOME/distil`, else `~/.cache/distil`
//! (`%LOCALAPPDATA%\distil` on Windows), else the temporary directory's `distil`.

mod db;
mod responses;
pub(crate) mod signature;
mod store;

use std::path::PathBuf;

pub use responses::ResponseCache;
pub(crate) use store::{BatchStore, CachedBatch};

/// The cache directory.
pub(crate) fn root() -> PathBuf {
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

/// A pipeline's folder under the cache directory.
pub(crate) fn pipeline_dir(pipeline: &str) -> PathBuf {
    root().join(safe_name(pipeline))
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

/// sha256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// A file's size and sha256 (lowercase hex), read once in blocks: for downloads checked
/// against the checksum their source lists.
#[cfg(any(feature = "hub", feature = "local"))]
pub(crate) fn sha256_file(path: &std::path::Path) -> std::io::Result<(u64, String)> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        size += read as u64;
        hasher.update(&buffer[..read]);
    }
    Ok((size, format!("{:x}", hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_component() {
        assert_eq!(safe_name("a/b c"), "a_b_c");
        assert_eq!(safe_name(".."), "pipeline..");
    }
}
