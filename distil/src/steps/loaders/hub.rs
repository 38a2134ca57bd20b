//! Rows from a dataset on the Hugging Face Hub: its Parquet files are downloaded (or found in
//! the cache) before the run, then read exactly as `LoadDataFromFileSystem` reads Parquet.

use super::Untyped;
use super::files::LoadDataFromFileSystem;
use crate::hub::{DatasetRequest, HubClient};
use crate::row::Row;
use crate::step::{BoxFuture, Output, Step, StepKind, StepSpec};
use crate::{Error, step};

/// Rows of one split of one config of a Hub dataset, streamed in `batch_size` batches.
///
/// Before any step runs, `prepare` downloads the split's Parquet files into the Hub cache
/// (`HF_HOME`, `HF_TOKEN`, `HF_ENDPOINT`, … as [`HubClient::from_env`] reads them; files
/// already cached at the same version are not downloaded again) and checks them. Typed,
/// `LoadDataFromHub::<MyRow>::new(repo_id)`, its columns are `MyRow`'s and every file's schema
/// must hold them: a missing column or a column of another type is an error naming the repo,
/// the file, the column and the columns the file has. Untyped,
/// `LoadDataFromHub::untyped(repo_id)`, its columns are those of the first file.
///
/// ```
/// use distil::prelude::*;
/// use distil::steps::LoadDataFromHub;
///
/// #[derive(Row)]
/// struct Prompt { instruction: String }
///
/// let typed = LoadDataFromHub::<Prompt>::new("distil-rs/prompts").split("test");
/// let untyped = LoadDataFromHub::untyped("distil-rs/prompts").config("chat");
/// ```
pub struct LoadDataFromHub<R = Untyped> {
    request: DatasetRequest,
    /// Set for tests or a custom endpoint; `HubClient::from_env()` otherwise.
    client: Option<HubClient>,
    /// Reads the downloaded files: the same reader and checks as for local Parquet files.
    files: LoadDataFromFileSystem<R>,
}

impl<R: Row> LoadDataFromHub<R> {
    /// Loads typed rows from the `train` split of the `default` config of `repo_id`
    /// (`owner/name`) at `main`.
    pub fn new(repo_id: impl Into<String>) -> Self {
        let repo_id = repo_id.into();
        let files = LoadDataFromFileSystem::<R>::new(repo_id.clone());
        Self::with_files(repo_id, files)
    }
}

impl LoadDataFromHub<Untyped> {
    /// Loads rows whose columns are those of the dataset's first file.
    pub fn untyped(repo_id: impl Into<String>) -> Self {
        let repo_id = repo_id.into();
        let files = LoadDataFromFileSystem::untyped(repo_id.clone());
        Self::with_files(repo_id, files)
    }
}

impl<R> LoadDataFromHub<R> {
    fn with_files(repo_id: String, files: LoadDataFromFileSystem<R>) -> Self {
        LoadDataFromHub {
            request: DatasetRequest::new(repo_id),
            client: None,
            files,
        }
    }

    /// Reads this config (subset) instead of `default`.
    pub fn config(mut self, config: impl Into<String>) -> Self {
        self.request = self.request.config(config);
        self
    }

    /// Reads this split instead of `train`.
    pub fn split(mut self, split: impl Into<String>) -> Self {
        self.request = self.request.split(split);
        self
    }

    /// Reads this branch, tag or commit instead of `main` (`refs/convert/parquet` reads the
    /// Parquet conversion the Hub makes of any dataset).
    pub fn revision(mut self, revision: impl Into<String>) -> Self {
        self.request = self.request.revision(revision);
        self
    }

    /// Downloads with `client` instead of one configured from the environment.
    pub fn client(mut self, client: HubClient) -> Self {
        self.client = Some(client);
        self
    }

    /// What is being read, as errors name it.
    fn describe(&self) -> String {
        let request = &self.request;
        format!(
            "dataset `{}` (config `{}`, split `{}`, revision `{}`)",
            request.repo_id,
            request.config.as_deref().unwrap_or("default"),
            request.split,
            request.revision
        )
    }

    async fn download_and_check(&mut self) -> crate::Result<()> {
        if self.request.repo_id.trim().is_empty() {
            return Err(Error::msg(
                "LoadDataFromHub has no repo_id: give one to `new` or as the runtime parameter `repo_id`",
            ));
        }
        let client = match &self.client {
            Some(client) => client.clone(),
            None => HubClient::from_env()?,
        };
        let paths = client.download_parquet(&self.request).await?;
        if paths.is_empty() {
            return Err(Error::msg(format!(
                "{}: no Parquet file to load",
                self.describe()
            )));
        }
        // A file's error names the cached file; the repo says where it came from.
        self.files
            .prepare_parquet_files(paths)
            .map_err(|e| Error::msg(format!("{}: {e}", self.describe())))
    }
}

impl LoadDataFromHub<Untyped> {
    /// The loader a pipeline file records: the declared columns of a typed loader (the repo,
    /// config, split and revision are runtime parameters, set after it is made).
    pub(crate) fn from_settings(
        settings: &crate::step::StepSettings<'_>,
    ) -> Result<Box<dyn Step>, String> {
        let files = LoadDataFromFileSystem::from_recorded(settings, String::new())?;
        Ok(Box::new(Self::with_files(String::new(), files)))
    }
}

#[step(dynamic, generator, outputs = R)]
impl<R: Send + 'static> Step for LoadDataFromHub<R> {
    fn describe(&self) -> Option<crate::Value> {
        let files = self.files.settings();
        Some(serde_json::json!({ "columns": files.get("columns") }))
    }

    fn spec(&self) -> StepSpec {
        StepSpec {
            outputs: self.files.spec().outputs,
            ..StepSpec::new("LoadDataFromHub", StepKind::Generator)
        }
    }

    fn prepare(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        Box::pin(self.download_and_check())
    }

    fn start(&mut self) -> BoxFuture<'_, crate::Result<()>> {
        self.files.start()
    }

    fn generate(&mut self, batch_size: usize) -> BoxFuture<'_, crate::Result<Option<Output>>> {
        self.files.generate(batch_size)
    }

    /// `repo_id`, `split`, `config` and `revision`, which a run may set (distilabel passes the
    /// repo and the split at run time).
    fn params(&self) -> Vec<(String, crate::Value)> {
        let request = &self.request;
        vec![
            ("repo_id".to_owned(), request.repo_id.clone().into()),
            ("split".to_owned(), request.split.clone().into()),
            (
                "config".to_owned(),
                request
                    .config
                    .clone()
                    .map_or(crate::Value::Null, Into::into),
            ),
            ("revision".to_owned(), request.revision.clone().into()),
        ]
    }

    fn set_param(&mut self, name: &str, value: crate::Value) -> Result<(), String> {
        let text = match &value {
            crate::Value::String(s) if !s.trim().is_empty() => s.clone(),
            crate::Value::Null if name == "config" => {
                self.request.config = None;
                return Ok(());
            }
            other => return Err(format!("`{name}` takes a non-empty string, not {other}")),
        };
        match name {
            "repo_id" => self.request.repo_id = text,
            "split" => self.request.split = text,
            "config" => self.request.config = Some(text),
            "revision" => self.request.revision = text,
            _ => {
                return Err(format!(
                    "LoadDataFromHub has no runtime parameter `{name}`; it has repo_id, split, config and revision"
                ));
            }
        }
        Ok(())
    }

    /// The downloaded files (their place in the Hub cache names the resolved revision).
    fn fingerprint(&self) -> Option<crate::Value> {
        self.files.fingerprint()
    }
}

#[cfg(test)]
mod runtime_param_tests {
    use super::LoadDataFromHub;
    use crate::Step;
    use serde_json::json;

    #[test]
    fn repo_and_split_are_runtime_parameters() {
        let mut load = LoadDataFromHub::untyped("");
        load.set_param("repo_id", json!("owner/data")).unwrap();
        load.set_param("split", json!("test")).unwrap();
        let params = load.params();
        assert_eq!(params[0], ("repo_id".to_owned(), json!("owner/data")));
        assert_eq!(params[1], ("split".to_owned(), json!("test")));
        assert!(
            load.set_param("split", json!(""))
                .unwrap_err()
                .contains("non-empty")
        );
        assert!(
            load.set_param("repo", json!("x"))
                .unwrap_err()
                .contains("repo_id, split")
        );
    }
}
