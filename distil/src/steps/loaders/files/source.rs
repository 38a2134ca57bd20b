//! Which files a source names, and their formats.

use std::path::{Path, PathBuf};

use crate::Error;

/// A file format a loader reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// One JSON object per line (`.jsonl`, `.ndjson`).
    JsonLines,
    /// A JSON array of objects (`.json`).
    Json,
    /// Comma-separated values with a header line (`.csv`).
    Csv,
    /// Apache Parquet (`.parquet`), as the Hub and a Distiset store datasets.
    Parquet,
}

impl FileFormat {
    /// The extension that names the format (`jsonl`, `json`, `csv`, `parquet`).
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::JsonLines => "jsonl",
            FileFormat::Json => "json",
            FileFormat::Csv => "csv",
            FileFormat::Parquet => "parquet",
        }
    }

    /// The format an extension names (`jsonl`, `ndjson`, `json`, `csv`, `parquet`).
    pub fn from_extension(extension: &str) -> Option<Self> {
        Self::from_path(Path::new(&format!("file.{extension}")))
    }

    /// The format a file's extension says, if any.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" => Some(FileFormat::JsonLines),
            "json" => Some(FileFormat::Json),
            "csv" => Some(FileFormat::Csv),
            "parquet" => Some(FileFormat::Parquet),
            _ => None,
        }
    }
}

/// The files of a source (a file, a directory or a glob), in name order, with their formats.
pub(super) fn resolve(
    source: &str,
    format: Option<FileFormat>,
) -> crate::Result<Vec<(PathBuf, FileFormat)>> {
    let path = Path::new(source);
    let candidates: Vec<PathBuf> = if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| Error::Io {
            path: source.to_owned(),
            source: e,
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && (format.is_some() || FileFormat::from_path(p).is_some()))
            .collect();
        files.sort();
        files
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else if source.contains(['*', '?', '[']) {
        let pattern = glob::glob(source)
            .map_err(|e| Error::msg(format!("`{source}` is not a valid glob: {e}")))?;
        let mut files: Vec<PathBuf> = pattern
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files
    } else {
        return Err(Error::msg(format!("`{source}`: no such file or directory")));
    };
    if candidates.is_empty() {
        return Err(Error::msg(format!("`{source}` names no file to load")));
    }
    candidates
        .into_iter()
        .map(|p| match format.or_else(|| FileFormat::from_path(&p)) {
            Some(f) => Ok((p, f)),
            None => Err(Error::msg(format!(
                "{}: unknown file format; name it .jsonl, .json, .csv or .parquet, or set it with `.format(..)`",
                p.display()
            ))),
        })
        .collect()
}
