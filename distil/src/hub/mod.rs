//! The Hugging Face Hub: download a dataset's Parquet files, push a folder (a saved Distiset)
//! to a dataset repo in one commit. Behind the `hub` feature (on by default).
//!
//! Configuration comes from the same environment variables as Python's `huggingface_hub`
//! (`HF_TOKEN`, `HF_HOME`, `HF_ENDPOINT`, …; see [`HubConfig`]). The token never appears in
//! `Debug` output, errors or logs.
//!
//! Downloads go through the `hf-hub` crate into the Hugging Face cache (`$HF_HUB_CACHE`,
//! else `$HF_HOME/hub`) in the layout `huggingface_hub` uses
//! (`datasets--<owner>--<name>/{blobs,snapshots,refs}`): a file Python already downloaded
//! is reused, offline too, and Python reuses distil's. distil hands `hf-hub` the endpoint,
//! token and cache folder it resolved, never calls it when `HF_HUB_OFFLINE` is set, retries
//! what may pass on another attempt, and checks each file's SHA-256. Uploads use distil's
//! own client.
//!
//! ```no_run
//! # async fn run() -> distil::Result<()> {
//! use distil::hub::{DatasetRequest, HubClient};
//!
//! let hub = HubClient::from_env()?;
//! let shards = hub
//!     .download_parquet(&DatasetRequest::new("distil-rs/prompts").config("default"))
//!     .await?;
//! let commit = hub
//!     .push_folder("me/curated", std::path::Path::new("out/distiset"), true, "Upload Distiset")
//!     .await?;
//! println!("{} shards, pushed {}", shards.len(), commit.commit_url);
//! # Ok(()) }
//! ```

mod cache;
mod client;
mod config;
mod download;
mod fetch;
mod layout;
mod repo;

mod upload;

pub use crate::http::retry::RetryPolicy;
pub use crate::secret::Secret;
pub use client::HubClient;
pub use config::{DEFAULT_ENDPOINT, HubConfig};
pub use download::{DatasetRequest, RemoteFile};
pub use upload::CommitInfo;
