//! The `distil` command (feature `cli`): run pipeline files, look into Distisets and the run
//! cache, push a Distiset to the Hub.
//!
//! ```text
//! distil run FILE [--param STEP.KEY=VALUE ...] [--output DIR] [--dry-run] [--no-cache]
//!                                 a pipeline file (YAML or JSON) of built-in steps and tasks
//! distil info DIR                 a Distiset (configs, rows, columns, steps, graph, usage)
//!                                 or a pipeline's cache folder (its runs)
//! distil push DIR REPO_ID         a saved Distiset to a Hub dataset repo, in one commit
//! distil cache ls                 the cached runs, by pipeline
//! distil cache rm NAME [RUN]      a pipeline's cached runs, or one of them
//! ```
//!
//! Exit codes, for scripts: [`EXIT_OK`] (0), [`EXIT_FAILED`] (1: the operation failed, as a
//! Hub or file error), [`EXIT_USAGE`] (2: the command line is wrong), [`EXIT_NOT_FOUND`] (3:
//! the folder, file or cached pipeline named is not there or not a Distiset), [`EXIT_INVALID`]
//! (4: the pipeline file is malformed, names what is not registered, or describes an invalid
//! pipeline; a runtime parameter it cannot take). `RUST_LOG` sets what is logged on stderr
//! ([`crate::logging::init`]).

mod cache;
mod info;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Success.
pub const EXIT_OK: u8 = 0;
/// The operation failed (a Hub error, a file that cannot be read or written).
pub const EXIT_FAILED: u8 = 1;
/// The command line is wrong (clap's own code for usage errors).
pub const EXIT_USAGE: u8 = 2;
/// The folder, file, Distiset or cached pipeline named is not there.
pub const EXIT_NOT_FOUND: u8 = 3;
/// The pipeline file is malformed or describes a pipeline that cannot run as given.
pub const EXIT_INVALID: u8 = 4;

/// Run pipeline files, look into Distisets and the run cache, push Distisets to the Hugging
/// Face Hub.
#[derive(Parser, Debug)]
#[command(name = "distil", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs a pipeline file (YAML or JSON, as `Pipeline::save` or a run's `pipeline.yaml`
    /// wrote it) made of distil's built-in steps, tasks and LLMs; API keys come from the
    /// environment.
    Run {
        /// The pipeline file: `.yaml`, `.yml` or `.json`.
        file: PathBuf,
        /// Sets a runtime parameter for this run: `STEP.KEY=VALUE`, the value read as JSON
        /// when it is JSON (`0.7`, `true`), else as text; `STEP.KEY.SUB=VALUE` sets one key of
        /// an object parameter. Repeat it for several.
        #[arg(long = "param", value_name = "STEP.KEY=VALUE")]
        params: Vec<String>,
        /// Writes the Distiset to this folder instead of the cache.
        #[arg(long, value_name = "DIR")]
        output: Option<PathBuf>,
        /// Sends one row through every step and caches nothing.
        #[arg(long)]
        dry_run: bool,
        /// Computes every step again and sends every LLM request again.
        #[arg(long)]
        no_cache: bool,
    },
    /// Describes a Distiset (configs, rows, columns, steps, graph, parameters, usage) or a
    /// pipeline's cache folder (its runs).
    Info {
        /// A Distiset's folder, or `<cache>/<pipeline>`.
        dir: PathBuf,
    },
    /// Pushes a Distiset to a Hub dataset repo in one commit, with its dataset card (token from
    /// `HF_TOKEN`, endpoint from `HF_ENDPOINT`).
    Push {
        /// The Distiset's folder.
        dir: PathBuf,
        /// The dataset repo, `owner/name` (created if missing).
        repo_id: String,
        /// Creates the repo private.
        #[arg(long)]
        private: bool,
    },
    /// Lists or removes cached runs (under `$DISTIL_CACHE_DIR`, else `~/.cache/distil`).
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
}

#[derive(Subcommand, Debug)]
enum CacheCommand {
    /// Lists the cached runs by pipeline, with rows and size.
    Ls,
    /// Removes a pipeline's cache folder (its runs and finished batches), or one run.
    Rm {
        /// The pipeline's name (its folder in the cache).
        pipeline: String,
        /// One run's id; all runs of the pipeline when left out.
        run: Option<String>,
    },
}

/// A failure with the exit code it gives.
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_NOT_FOUND,
            message: message.into(),
        }
    }

    pub(crate) fn failed(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_FAILED,
            message: message.into(),
        }
    }
}

impl From<crate::Error> for Failure {
    fn from(error: crate::Error) -> Self {
        Failure::failed(error.to_string())
    }
}

/// Runs the command with the process's arguments; what `distil`'s `main` returns.
pub fn main() -> ExitCode {
    crate::logging::init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_OK
            });
        }
    };
    let mut out = std::io::stdout().lock();
    let result = match cli.command {
        Command::Run {
            file,
            params,
            output,
            dry_run,
            no_cache,
        } => run::run(
            &run::RunRequest {
                file: &file,
                params: &params,
                output: output.as_deref(),
                dry_run,
                use_cache: !no_cache,
            },
            &mut out,
        ),
        Command::Info { dir } => info::info(&dir, &mut out),
        Command::Push {
            dir,
            repo_id,
            private,
        } => push(&dir, &repo_id, private, &mut out),
        Command::Cache { command } => match command {
            CacheCommand::Ls => cache::list(&crate::cache::root(), &mut out),
            CacheCommand::Rm { pipeline, run } => {
                cache::remove(&crate::cache::root(), &pipeline, run.as_deref(), &mut out)
            }
        },
    };
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn push(
    dir: &std::path::Path,
    repo_id: &str,
    private: bool,
    out: &mut impl std::io::Write,
) -> Result<(), Failure> {
    // A Distiset is checked before anything is sent; its card and files go as a clean copy.
    let distiset = info::open_distiset(dir)?;
    let hub = crate::hub::HubClient::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
    let commit = runtime.block_on(distiset.push_to_hub_with(&hub, repo_id, private))?;
    let _ = writeln!(
        out,
        "pushed {} rows in {} files to {repo_id}: {}",
        distiset.total_rows(),
        commit.files.len(),
        commit.commit_url
    );
    Ok(())
}
