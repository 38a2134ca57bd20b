//! The Distiset on disk: writing rows to Parquet while a run goes, and loading them back.
//!
//! `cargo bench --bench distiset` prints one JSON line per scenario, each measured in a child
//! process of its own so its peak RSS (VmHWM) is its own:
//! - `write`: a generator of 1,000,000 rows of three columns (`id: u64`, `text: String`,
//!   `score: f64`) run into a Distiset (target: at least 1,000,000 rows/s, peak RSS under
//!   200 MB);
//! - `load`: `Distiset::load_from_disk` of those files and every row read back, as JSON objects
//!   (`rows()`) and as typed rows (`rows_as`) (target: at least 2,000,000 rows/s).

use std::path::{Path, PathBuf};
use std::time::Instant;

use distil::prelude::*;
use support::peak_rss_mb;

mod support;

#[derive(Row)]
struct Record {
    id: u64,
    text: String,
    score: f64,
}

/// Produces the rows lazily, so no input dataset sits in memory.
#[step(generator)]
fn synthetic(#[param] rows: u64) -> impl Iterator<Item = Record> {
    (0..rows).map(|i| Record {
        id: i,
        text: format!("the quick brown fox {i} jumps over the lazy dog"),
        score: i as f64 / 7.0,
    })
}

async fn write(dir: &Path, rows: u64, batch: usize) -> f64 {
    let mut pipeline = pipeline! {
        name: "distiset-bench",
        load = Synthetic::new().rows(rows),
            batch_size: batch,
    };
    let start = Instant::now();
    let distiset = pipeline
        .run_with(RunOptions::new().output_dir(dir))
        .await
        .expect("the benchmark pipeline runs");
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(distiset.default_config().unwrap().len() as u64, rows);
    seconds
}

fn load(dir: &Path, rows: u64, typed: bool) -> f64 {
    let start = Instant::now();
    let distiset = Distiset::load_from_disk(dir).expect("the files load");
    let dataset = distiset.default_config().unwrap();
    let read = if typed {
        dataset.rows_as::<Record>().expect("typed rows").len()
    } else {
        dataset.rows().count()
    };
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(read as u64, rows);
    seconds
}

fn scenario(name: &str, dir: &Path, rows: u64, batch: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let seconds = match name {
        "write" => runtime.block_on(write(dir, rows, batch)),
        "load_rows" => load(dir, rows, false),
        "load_typed" => load(dir, rows, true),
        other => panic!("unknown scenario {other}"),
    };
    let rate = rows as f64 / seconds;
    let target = if name == "write" {
        1_000_000.0
    } else {
        2_000_000.0
    };
    println!(
        "{{\"bench\":\"distiset_{name}\",\"rows\":{rows},\"columns\":3,\"batch_size\":{batch},\"seconds\":{seconds:.4},\"rows_per_sec\":{rate:.0},\"target_rows_per_sec\":{target:.0},\"peak_rss_mb\":{:.1}}}",
        peak_rss_mb()
    );
}

fn child(name: &str, dir: &Path, rows: u64, batch: usize) -> serde_json::Value {
    support::child(&[
        name.to_owned(),
        dir.display().to_string(),
        rows.to_string(),
        batch.to_string(),
    ])
}

fn main() {
    if let Some(args) = support::scenario_args() {
        scenario(
            &args[0],
            Path::new(&args[1]),
            args[2].parse().unwrap(),
            args[3].parse().unwrap(),
        );
        return;
    }
    let rows = 1_000_000;
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("distiset-bench");
    let _ = std::fs::remove_dir_all(&root);
    for batch in [50, 1000] {
        let dir = root.join(format!("batch-{batch}"));
        println!("{}", child("write", &dir, rows, batch));
    }
    let dir = root.join("batch-50");
    println!("{}", child("load_rows", &dir, rows, 0));
    println!("{}", child("load_typed", &dir, rows, 0));
    let _ = std::fs::remove_dir_all(&root);
}
