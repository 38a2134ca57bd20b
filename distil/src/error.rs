//! The error type of distil.

/// Everything that can stop a pipeline. Errors of single rows never do: they are recorded in the
/// row's metadata column (see [`METADATA_COLUMN`](crate::METADATA_COLUMN)) and the run goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The pipeline is malformed; each line names the step and the column.
    #[error("pipeline `{pipeline}` is invalid:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The pipeline's name.
        pipeline: String,
        /// One line per problem.
        problems: Vec<String>,
    },
    /// A step panicked; the run stopped.
    #[error("step `{step}` panicked: {message}")]
    Panicked {
        /// The step's name in the pipeline.
        step: String,
        /// The panic's message.
        message: String,
    },
    /// A step failed in a way that stops the run (a wrong API key, a bad configuration).
    #[error("step `{step}` failed: {message}")]
    Step {
        /// The step's name in the pipeline.
        step: String,
        /// What went wrong.
        message: String,
    },
    /// The run was stopped by a signal. What was finished is kept: the Distiset of the rows
    /// that reached the leaves is in `dir`, and every LLM answer received is in the response
    /// cache, so running the same program again resumes without paying for them twice.
    #[error(
        "run of pipeline `{pipeline}` stopped by {signal}: {rows} row(s) written to {dir} \
         (a partial Distiset); run the same program again to resume: the LLM answers \
         received come from the cache, only unfinished rows are sent"
    )]
    Interrupted {
        /// The pipeline's name.
        pipeline: String,
        /// `SIGINT` or `SIGTERM`.
        signal: String,
        /// The run's directory, holding the partial Distiset.
        dir: String,
        /// Rows the leaves wrote.
        rows: u64,
    },
    /// A cache database could not be read or written.
    #[error("cache {path}: {message}")]
    Cache {
        /// The database file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Another process is running a pipeline in the same folder.
    #[error(
        "{dir} is in use by another distil run (process {holder}); wait for it to finish, or \
         give this run another output_dir"
    )]
    FolderInUse {
        /// The folder.
        dir: String,
        /// The process holding it, as it wrote itself into the lock file.
        holder: String,
    },
    /// A runtime parameter was given for a step that does not exist.
    #[error(
        "runtime parameters given for step `{step}`, but pipeline `{pipeline}` has no such step; its steps are {known}"
    )]
    UnknownStep {
        /// The pipeline's name.
        pipeline: String,
        /// The step name given.
        step: String,
        /// The pipeline's steps, for the message.
        known: String,
    },
    /// A runtime parameter the step does not have, or a value it cannot take.
    #[error("step `{step}`: {message}")]
    Parameter {
        /// The step's name in the pipeline.
        step: String,
        /// What is wrong with the parameter.
        message: String,
    },
    /// A pipeline file ([`Pipeline::from_yaml`](crate::Pipeline::from_yaml),
    /// [`Pipeline::save`](crate::Pipeline::save)) cannot be read or written, or describes a
    /// pipeline that cannot be rebuilt or is invalid; the message names the key at fault
    /// (`pipeline.steps[1].type_name`).
    #[error("{path}: {message}")]
    PipelineFile {
        /// The file.
        path: String,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A step's batch-level error; the runtime records it on the batch's rows.
    #[error("{0}")]
    Message(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A Parquet file of a Distiset is corrupt, truncated, or holds columns distil cannot read.
    #[error("{path}: cannot read this Parquet file: {message}")]
    Parquet {
        /// The file.
        path: String,
        /// What the Parquet reader or writer said.
        message: String,
    },
    /// A Distiset cannot be loaded, saved or split: a missing directory, no config in it, a bad
    /// argument.
    #[error("{path}: {message}")]
    Distiset {
        /// The Distiset's directory (or file).
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The Hugging Face Hub has no such dataset, revision or file (HTTP 404), or the dataset
    /// has no Parquet files for the requested config and split.
    #[error("Hugging Face Hub: {what} not found in dataset `{repo}` ({url})")]
    HubNotFound {
        /// The dataset's repo id, `owner/name`.
        repo: String,
        /// What is missing: the repository, a revision, a file, a config's split.
        what: String,
        /// The method and URL asked (never with a token or a signed query).
        url: String,
    },
    /// The Hub refused access (HTTP 401 or 403): no token, a bad or expired token, a token
    /// without write access, or a gated or private dataset.
    #[error("Hugging Face Hub refused access to dataset `{repo}` (HTTP {status}, {url}): {hint}")]
    HubAccessDenied {
        /// The dataset's repo id.
        repo: String,
        /// 401 or 403.
        status: u16,
        /// The method and URL asked.
        url: String,
        /// What the Hub said, and what to do about it.
        hint: String,
    },
    /// A request to the Hub failed: a network error (also mid-download or mid-upload), or an
    /// error answer still there after the retries.
    #[error("Hugging Face Hub request for dataset `{repo}`{} failed ({url}): {message}", file.as_ref().map(|f| format!(", file `{f}`,")).unwrap_or_default())]
    HubRequest {
        /// The dataset's repo id.
        repo: String,
        /// The file being downloaded or uploaded, if any.
        file: Option<String>,
        /// The method and URL asked.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The Hub answered with something distil cannot use: malformed JSON, a missing field, a
    /// file whose size or hash is not the announced one, an unsafe file path.
    #[error("Hugging Face Hub sent an unexpected answer for dataset `{repo}` ({url}): {message}")]
    HubResponse {
        /// The dataset's repo id.
        repo: String,
        /// The method and URL asked.
        url: String,
        /// What is wrong with the answer.
        message: String,
    },
    /// A Hub operation got input it cannot use (a repo id not of the form `owner/name`), or
    /// needs the network while `HF_HUB_OFFLINE` is set.
    #[error("Hugging Face Hub, dataset `{repo}`: {message}")]
    HubInvalid {
        /// The dataset's repo id as given.
        repo: String,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// A batch-level error for a step to return from `process`: recorded on every row of the
    /// batch, the run goes on.
    pub fn msg(message: impl std::fmt::Display) -> Self {
        Error::Message(message.to_string())
    }

    /// An error that stops the run at once, for failures no later row can escape.
    pub fn fatal(step: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Step {
            step: step.into(),
            message: message.to_string(),
        }
    }

    /// The error as the run reports it: a step's plain message gets the step's name.
    pub(crate) fn in_step(self, step: &str) -> Self {
        match self {
            Error::Message(message) => Error::Step {
                step: step.to_owned(),
                message,
            },
            // A fatal error raised where the step's name is not known (an LLM task's runner).
            Error::Step {
                step: unnamed,
                message,
            } if unnamed.is_empty() => Error::Step {
                step: step.to_owned(),
                message,
            },
            other => other,
        }
    }

    /// Whether the error stops the run rather than being recorded on rows.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Error::Message(_))
    }
}

impl Error {
    /// An I/O error on `path`.
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// A Parquet error on `path`.
    pub(crate) fn parquet(path: &std::path::Path, message: impl std::fmt::Display) -> Self {
        Error::Parquet {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }

    /// A Distiset-level error on `path`.
    pub(crate) fn distiset(path: &std::path::Path, message: impl std::fmt::Display) -> Self {
        Error::Distiset {
            path: path.display().to_string(),
            message: message.to_string(),
        }
    }
}

/// `Result` with distil's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
