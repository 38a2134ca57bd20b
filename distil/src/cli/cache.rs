//! `distil cache ls|rm`: the runs under the cache folder, `<cache>/<pipeline>/runs/<id>`.

use std::io::Write;
use std::path::{Component, Path};

use super::Failure;
use crate::Distiset;

/// Every pipeline's runs.
pub(super) fn list(cache: &Path, out: &mut impl Write) -> Result<(), Failure> {
    let write_error = |e: std::io::Error| Failure::failed(format!("cannot write: {e}"));
    writeln!(out, "cache {}", cache.display()).map_err(write_error)?;
    let mut pipelines = folders(cache);
    pipelines.retain(|p| p.join("runs").is_dir());
    if pipelines.is_empty() {
        writeln!(out, "no cached runs").map_err(write_error)?;
    }
    for pipeline in pipelines {
        let name = pipeline.file_name().unwrap_or_default().to_string_lossy();
        writeln!(out, "{name}").map_err(write_error)?;
        list_runs(&pipeline.join("runs"), out)?;
    }
    Ok(())
}

/// The runs in a `runs/` folder: id, rows, size.
pub(super) fn list_runs(runs: &Path, out: &mut impl Write) -> Result<(), Failure> {
    for run in folders(runs) {
        let id = run.file_name().unwrap_or_default().to_string_lossy();
        let rows = match Distiset::load_from_disk(&run) {
            Ok(distiset) => format!("{} rows", distiset.total_rows()),
            Err(_) => "unreadable".to_owned(),
        };
        writeln!(out, "  {id}  {rows}  {} bytes", size(&run))
            .map_err(|e| Failure::failed(format!("cannot write: {e}")))?;
    }
    Ok(())
}

/// Removes `<cache>/<pipeline>` (or one run of it).
pub(super) fn remove(
    cache: &Path,
    pipeline: &str,
    run: Option<&str>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let one_name = |name: &str| {
        let mut parts = Path::new(name).components();
        matches!(
            (parts.next(), parts.next()),
            (Some(Component::Normal(_)), None)
        )
    };
    if !one_name(pipeline) || run.is_some_and(|r| !one_name(r)) {
        return Err(Failure::not_found(format!(
            "`{pipeline}` names no cached pipeline: give its folder name as `distil cache ls` shows it"
        )));
    }
    let mut target = cache.join(pipeline);
    if !target.join("runs").is_dir() {
        return Err(Failure::not_found(format!(
            "no cached runs of pipeline `{pipeline}` in {}",
            cache.display()
        )));
    }
    if let Some(run) = run {
        target = target.join("runs").join(run);
        if !target.is_dir() {
            return Err(Failure::not_found(format!(
                "no run `{run}` of pipeline `{pipeline}` in {}",
                cache.display()
            )));
        }
    }
    std::fs::remove_dir_all(&target)
        .map_err(|e| Failure::failed(format!("cannot remove {}: {e}", target.display())))?;
    writeln!(out, "removed {}", target.display())
        .map_err(|e| Failure::failed(format!("cannot write: {e}")))?;
    Ok(())
}

/// The sub-folders of `dir`, sorted.
fn folders(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    found.sort();
    found
}

/// Bytes of the files under `dir`.
fn size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => pending.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}
