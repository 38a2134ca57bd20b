//! `distil info DIR`: a Distiset's configs, rows, columns, steps, graph and usage, or a
//! pipeline cache folder's runs.

use std::io::Write;
use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

use super::Failure;
use crate::Distiset;

/// Opens `dir` as a Distiset, or says why it is not one.
pub(super) fn open_distiset(dir: &Path) -> Result<Distiset, Failure> {
    if !dir.is_dir() {
        return Err(Failure::not_found(format!(
            "{} is not a folder",
            dir.display()
        )));
    }
    let has_shards = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|config| {
            std::fs::read_dir(config.path())
                .into_iter()
                .flatten()
                .flatten()
                .any(|file| file.file_name().to_string_lossy().ends_with(".parquet"))
        });
    if !has_shards {
        return Err(Failure::not_found(format!(
            "{} is not a Distiset: no folder of it holds Parquet shards (`<config>/<split>-00000-of-0000N.parquet`)",
            dir.display()
        )));
    }
    Ok(Distiset::load_from_disk(dir)?)
}

pub(super) fn info(dir: &Path, out: &mut impl Write) -> Result<(), Failure> {
    if dir.join("runs").is_dir() {
        return super::cache::list_runs(&dir.join("runs"), out);
    }
    let distiset = open_distiset(dir)?;
    let write_error = |e: std::io::Error| Failure::failed(format!("cannot write: {e}"));
    writeln!(out, "Distiset {}", dir.display()).map_err(write_error)?;
    let described = dir.join("pipeline.yaml");
    let pipeline = match std::fs::read_to_string(&described) {
        Ok(text) => Some(parse_yaml(&described, &text)?),
        Err(_) => None,
    };
    if let Some(pipeline) = &pipeline {
        let name = pipeline["pipeline"]["name"].as_str().unwrap_or("?");
        writeln!(out, "pipeline: {name}").map_err(write_error)?;
        if let Some(description) = pipeline["pipeline"]["description"].as_str() {
            writeln!(out, "description: {description}").map_err(write_error)?;
        }
    }
    writeln!(out, "rows: {}", distiset.total_rows()).map_err(write_error)?;
    writeln!(out, "configs:").map_err(write_error)?;
    for (config, _) in distiset.iter() {
        for split in distiset.split_names(config) {
            let dataset = distiset.split(config, split).expect("listed split");
            writeln!(
                out,
                "  {config}/{split}: {} rows in {} shard(s)\n    columns: {}",
                dataset.len(),
                dataset.files().len(),
                dataset.column_names().join(", ")
            )
            .map_err(write_error)?;
        }
    }
    if let Some(pipeline) = &pipeline {
        write_steps(&pipeline["pipeline"], out).map_err(write_error)?;
    }
    let usage: Vec<String> = std::fs::read_to_string(dir.join("pipeline.log"))
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains("request") || line.contains("tokens"))
        .map(|line| {
            line.split_once("] ")
                .map_or(line, |(_, rest)| rest)
                .to_owned()
        })
        .collect();
    if !usage.is_empty() {
        writeln!(out, "usage:").map_err(write_error)?;
        for line in usage {
            writeln!(out, "  {line}").map_err(write_error)?;
        }
    }
    Ok(())
}

fn parse_yaml(path: &Path, text: &str) -> Result<Yaml, Failure> {
    let mut documents = YamlLoader::load_from_str(text)
        .map_err(|e| Failure::failed(format!("{} is not valid YAML: {e}", path.display())))?;
    if documents.is_empty() {
        return Err(Failure::failed(format!("{} is empty", path.display())));
    }
    Ok(documents.swap_remove(0))
}

/// The steps with their types and parameters, then the graph.
fn write_steps(pipeline: &Yaml, out: &mut impl Write) -> std::io::Result<()> {
    let steps = pipeline["steps"].as_vec().map(Vec::as_slice).unwrap_or(&[]);
    writeln!(out, "steps:")?;
    for step in steps {
        let params: Vec<String> = step["runtime_parameters"]
            .as_hash()
            .map(|map| {
                map.iter()
                    .map(|(k, v)| format!("{}={}", scalar(k), scalar(v)))
                    .collect()
            })
            .unwrap_or_default();
        writeln!(
            out,
            "  {} ({}): {}",
            scalar(&step["name"]),
            scalar(&step["type_name"]),
            if params.is_empty() {
                "no parameters".to_owned()
            } else {
                params.join(", ")
            }
        )?;
    }
    writeln!(out, "graph:")?;
    for connection in pipeline["connections"]
        .as_vec()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let to: Vec<String> = connection["to"]
            .as_vec()
            .map(|to| to.iter().map(scalar).collect())
            .unwrap_or_default();
        if !to.is_empty() {
            writeln!(
                out,
                "  {} -> {}",
                scalar(&connection["from"]),
                to.join(", ")
            )?;
        }
    }
    Ok(())
}

/// A YAML value on one line.
fn scalar(value: &Yaml) -> String {
    match value {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null | Yaml::BadValue => "null".to_owned(),
        Yaml::Array(items) => format!(
            "[{}]",
            items.iter().map(scalar).collect::<Vec<_>>().join(", ")
        ),
        Yaml::Hash(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", scalar(k), scalar(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Yaml::Alias(_) => "*alias".to_owned(),
    }
}
