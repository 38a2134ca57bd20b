//! The result of a run: one dataset (config) per leaf step, on disk in the Hugging Face Hub's
//! layout, so `datasets.load_dataset(dir, config)`, pandas, polars and DuckDB read it as is:
//!
//! ```text
//! <dir>/
//! ├── <config>/train-00000-of-00001.parquet   # `default`, or one config per leaf step
//! ├── README.md                               # dataset card (written by `save_to_disk`)
//! ├── pipeline.yaml                           # steps, parameters (no secrets), connections
//! └── pipeline.log                            # what the run logged
//! ```
//!
//! A pipeline with a single leaf step has one config, `default`; otherwise each config is named
//! after its leaf step. Each config has a `train` split (and `test` after
//! [`Distiset::train_test_split`]). Rows are in id order, the same on every run. The run streams
//! rows to the shards as it goes; a [`Distiset`] reads them back on demand.

mod card;
mod dataset;
mod files;
mod from_arrow;
#[cfg(feature = "hub")]
mod push;
mod read;
mod schema;
pub(crate) mod shards;
pub(crate) mod sink;
mod split;
mod to_arrow;

use std::path::{Path, PathBuf};

pub use dataset::Dataset;
pub(crate) use from_arrow::batch_rows;
pub(crate) use read::{Batches, footer};
pub(crate) use schema::is_json_text;

use crate::{Error, Result};

/// The file holding the pipeline's description.
pub(crate) const PIPELINE_YAML: &str = "pipeline.yaml";
/// The file holding the run's log.
pub(crate) const PIPELINE_LOG: &str = "pipeline.log";
/// The dataset card.
const README: &str = "README.md";

/// One config: its splits, `train` first.
#[derive(Clone, Debug)]
struct Config {
    name: String,
    splits: Vec<(String, Dataset)>,
}

/// The datasets a run produced, one per leaf step, backed by Parquet files in [`Distiset::dir`].
#[derive(Clone, Debug)]
pub struct Distiset {
    dir: PathBuf,
    configs: Vec<Config>,
}

impl Distiset {
    /// A Distiset of `(config, train split)` in `dir`.
    pub(crate) fn new(dir: PathBuf, configs: Vec<(String, Dataset)>) -> Self {
        Distiset {
            dir,
            configs: configs
                .into_iter()
                .map(|(name, train)| Config {
                    name,
                    splits: vec![("train".to_owned(), train)],
                })
                .collect(),
        }
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The config names.
    pub fn config_names(&self) -> impl Iterator<Item = &str> {
        self.configs.iter().map(|c| c.name.as_str())
    }

    /// A config's `train` split by config name.
    pub fn config(&self, name: &str) -> Option<&Dataset> {
        self.split(name, "train")
    }

    /// A split (`train`, `test`) of a config.
    pub fn split(&self, config: &str, split: &str) -> Option<&Dataset> {
        self.configs
            .iter()
            .find(|c| c.name == config)?
            .splits
            .iter()
            .find(|(s, _)| s == split)
            .map(|(_, d)| d)
    }

    /// The split names of a config, `train` first.
    pub fn split_names(&self, config: &str) -> impl Iterator<Item = &str> {
        self.configs
            .iter()
            .filter(move |c| c.name == config)
            .flat_map(|c| c.splits.iter().map(|(s, _)| s.as_str()))
    }

    /// The `default` config of a single-leaf pipeline (its `train` split).
    pub fn default_config(&self) -> Option<&Dataset> {
        self.config("default")
    }

    /// Every config with its name (the `train` split).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Dataset)> {
        self.configs
            .iter()
            .filter_map(|c| Some((c.name.as_str(), c.splits.first().map(|(_, d)| d)?)))
    }

    /// Total rows over all configs and splits.
    pub fn total_rows(&self) -> usize {
        self.configs
            .iter()
            .flat_map(|c| c.splits.iter())
            .map(|(_, d)| d.len())
            .sum()
    }

    /// Writes the Distiset to `path` in the Hub's layout: the shards (copied), a `README.md`
    /// dataset card, `pipeline.yaml` and `pipeline.log`. Each file is written under a
    /// temporary name and renamed when complete; earlier shards of the same splits in `path`
    /// are replaced.
    pub fn save_to_disk(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        files::create_dir(path)?;
        let same = same_dir(&self.dir, path);
        for config in &self.configs {
            let dir = path.join(&config.name);
            for (split, dataset) in &config.splits {
                if same {
                    continue;
                }
                files::create_dir(&dir)?;
                let mut temps = Vec::new();
                for source in dataset.files() {
                    let name = source
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let temp = files::temp_path(&dir, &name);
                    if let Err(e) = std::fs::copy(source, &temp) {
                        let _ = std::fs::remove_file(&temp);
                        for (t, _) in &temps {
                            let _ = std::fs::remove_file(t);
                        }
                        return Err(Error::io(source, e));
                    }
                    temps.push((temp, dir.join(name)));
                }
                for stale in files::list(&dir, |n| shards::is_shard_of(n, split))? {
                    if !temps.iter().any(|(_, target)| *target == stale) {
                        std::fs::remove_file(&stale).map_err(|e| Error::io(&stale, e))?;
                    }
                }
                for (temp, target) in temps {
                    files::rename(&temp, &target)?;
                }
            }
        }
        let title = path
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "distiset".to_owned());
        files::write_atomic(&path.join(README), card::render(self, &title).as_bytes())?;
        if !same {
            for name in [PIPELINE_YAML, PIPELINE_LOG] {
                let source = self.dir.join(name);
                if source.is_file() {
                    files::copy_atomic(&source, &path.join(name))?;
                }
            }
        }
        Ok(())
    }

    /// Loads a Distiset from a directory in the Hub's layout (a run's directory or one written
    /// by [`Distiset::save_to_disk`]): every sub-directory with `<split>-*.parquet` shards is a
    /// config. Shard footers are read now, so a truncated file is an error naming it.
    pub fn load_from_disk(path: impl AsRef<Path>) -> Result<Distiset> {
        let path = path.as_ref();
        if !path.is_dir() {
            return Err(Error::distiset(path, "no such directory"));
        }
        let entries = std::fs::read_dir(path).map_err(|e| Error::io(path, e))?;
        let mut dirs: Vec<PathBuf> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(path, e))?;
            if entry.path().is_dir() {
                dirs.push(entry.path());
            }
        }
        dirs.sort();
        let mut configs = Vec::new();
        for dir in dirs {
            let shards = files::list(&dir, |n| {
                !n.starts_with(files::TEMP_PREFIX) && n.ends_with(".parquet") && n.contains("-of-")
            })?;
            let mut splits: Vec<String> = shards
                .iter()
                .filter_map(|p| {
                    let name = p.file_name()?.to_string_lossy().into_owned();
                    let end = name.rfind("-of-")?;
                    let split = name[..end].rsplit_once('-')?.0.to_owned();
                    Some(split)
                })
                .collect();
            splits.sort_by_key(|s| (s != "train", s != "test", s.clone()));
            splits.dedup();
            if splits.is_empty() {
                continue;
            }
            let mut opened = Vec::new();
            for split in splits {
                let files: Vec<PathBuf> = shards
                    .iter()
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| shards::is_shard_of(&n.to_string_lossy(), &split))
                    })
                    .cloned()
                    .collect();
                opened.push((split, Dataset::open(files)?));
            }
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            configs.push(Config {
                name,
                splits: opened,
            });
        }
        if configs.is_empty() {
            return Err(Error::distiset(
                path,
                "no config in this directory (expected <config>/train-00000-of-00001.parquet)",
            ));
        }
        configs.sort_by_key(|c| c.name != "default");
        Ok(Distiset {
            dir: path.to_owned(),
            configs,
        })
    }

    /// Splits every config's `train` rows into `train` and `test` splits, shuffled by `seed`:
    /// the same seed gives the same split. `train_size` is the fraction of rows in `train`
    /// (strictly between 0 and 1). The shards in [`Distiset::dir`] are rewritten; each split
    /// keeps its rows in id order. A config is read whole into memory (as Arrow arrays) to
    /// split it.
    pub fn train_test_split(&mut self, train_size: f64, seed: u64) -> Result<()> {
        if !(train_size > 0.0 && train_size < 1.0) {
            return Err(Error::distiset(
                &self.dir,
                format!("train_size must be strictly between 0 and 1, got {train_size}"),
            ));
        }
        for config in &mut self.configs {
            let Some((_, train)) = config.splits.iter().find(|(s, _)| s == "train") else {
                continue;
            };
            let dir = self.dir.join(&config.name);
            let (train, test) = split::split(train, &dir, train_size, seed)?;
            config.splits = vec![("train".to_owned(), train), ("test".to_owned(), test)];
        }
        Ok(())
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub(crate) use files::{TEMP_PREFIX, write_atomic};
