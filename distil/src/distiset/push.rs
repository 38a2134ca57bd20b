//! Pushing a Distiset to a dataset repo on the Hugging Face Hub.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::Distiset;
use crate::hub::{CommitInfo, HubClient};
use crate::{Error, Result};

/// The commit message of a push.
const COMMIT_MESSAGE: &str = "Upload Distiset with distil";

impl Distiset {
    /// Pushes the Distiset to the dataset repo `repo_id` (`owner/name`) in one commit, as
    /// [`Distiset::save_to_disk`] lays it out (shards through LFS, `README.md`,
    /// `pipeline.yaml`, `pipeline.log`), creating the repo if needed (`private` applies then).
    /// The client comes from the environment ([`HubClient::from_env`]: `HF_TOKEN`, …).
    pub async fn push_to_hub(&self, repo_id: &str, private: bool) -> Result<CommitInfo> {
        self.push_to_hub_with(&HubClient::from_env()?, repo_id, private)
            .await
    }

    /// [`Distiset::push_to_hub`] with `client` (another endpoint, token or retry policy).
    pub async fn push_to_hub_with(
        &self,
        client: &HubClient,
        repo_id: &str,
        private: bool,
    ) -> Result<CommitInfo> {
        // The run's directory holds temporary and log files of its own: push a clean copy.
        let staging = Staging::new()?;
        self.save_to_disk(&staging.0)?;
        client
            .push_folder(repo_id, &staging.0, private, COMMIT_MESSAGE)
            .await
    }
}

/// A fresh temporary directory, removed when dropped (after the push, or if it fails).
struct Staging(PathBuf);

impl Staging {
    fn new() -> Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "distil-push-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // A directory left by a crashed process of the same id would mix its files in.
        remove(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staging(dir))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        remove(&self.0);
    }
}

fn remove(dir: &Path) {
    if dir.exists()
        && let Err(e) = std::fs::remove_dir_all(dir)
    {
        tracing::warn!("cannot remove {}: {e}", dir.display());
    }
}
