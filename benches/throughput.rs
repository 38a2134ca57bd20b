//! Throughput of the runtime on cheap steps, against a hand-written loop doing the same work.
//!
//! `cargo bench --bench throughput` prints one JSON line per scenario. Each scenario runs in a
//! child process of its own, so its peak RSS is its own.
//!
//! The work: rows of two string columns (`id`, `text`) -> add `len` (the text's length) -> keep
//! `text` and `len` -> uppercase `text`.

use std::time::Instant;

use distil::prelude::*;
use distil::steps::{KeepColumns, LoadDataFromDicts};
use support::peak_rss_mb;

mod support;

#[derive(Row)]
struct Record {
    id: String,
    text: String,
}

#[derive(Row)]
struct Length {
    len: u64,
}

#[derive(Row)]
struct Upper {
    text: String,
}

#[step]
fn text_len(text: &str) -> Length {
    Length {
        len: text.len() as u64,
    }
}

#[step]
fn uppercase(text: &str) -> Upper {
    Upper {
        text: text.to_uppercase(),
    }
}

/// Drops every row: measures the pipeline's own memory, without a Distiset to hold.
#[step]
fn discard(len: u64) -> bool {
    len == u64::MAX
}

/// Produces the rows lazily, so no input dataset sits in memory.
#[step(generator)]
fn synthetic(#[param] rows: u64) -> impl Iterator<Item = Record> {
    (0..rows).map(record)
}

fn record(i: u64) -> Record {
    Record {
        id: format!("row-{i:08}"),
        text: format!("the quick brown fox {i} jumps over the lazy dog"),
    }
}

fn hand_loop(rows: u64) -> f64 {
    let data: Vec<Record> = (0..rows).map(record).collect();
    let start = Instant::now();
    let out: Vec<(String, u64)> = data
        .into_iter()
        .map(|r| {
            let len = r.text.len() as u64;
            (r.text.to_uppercase(), len)
        })
        .collect();
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(out.len() as u64, rows);
    std::hint::black_box(out);
    seconds
}

async fn pipeline_run(rows: u64, batch: usize) -> f64 {
    let data: Vec<Record> = (0..rows).map(record).collect();
    let mut pipeline = pipeline! {
        name: "throughput",
        load = LoadDataFromDicts::<Record>::new(data),
            batch_size: batch,
        len = TextLen::new(),
            input_batch_size: batch,
        keep = KeepColumns::new(["text", "len"]),
            input_batch_size: batch,
        upper = Uppercase::new(),
            input_batch_size: batch,
        load >> len >> keep >> upper,
    };
    let start = Instant::now();
    let distiset = pipeline.run().await.expect("the benchmark pipeline runs");
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(distiset.default_config().unwrap().len() as u64, rows);
    seconds
}

async fn streaming_run(rows: u64, batch: usize) -> f64 {
    let mut pipeline = pipeline! {
        name: "streaming",
        load = Synthetic::new().rows(rows),
            batch_size: batch,
        len = TextLen::new(),
            input_batch_size: batch,
        keep = KeepColumns::new(["text", "len"]),
            input_batch_size: batch,
        upper = Uppercase::new(),
            input_batch_size: batch,
        drop = Discard::new(),
            input_batch_size: batch,
        load >> len >> keep >> upper >> drop,
    };
    let start = Instant::now();
    let distiset = pipeline.run().await.expect("the benchmark pipeline runs");
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(distiset.default_config().unwrap().len(), 0);
    seconds
}

fn scenario(name: &str, rows: u64, batch: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let seconds = match name {
        "hand_loop" => hand_loop(rows),
        "pipeline" => runtime.block_on(pipeline_run(rows, batch)),
        "streaming_discard" => runtime.block_on(streaming_run(rows, batch)),
        other => panic!("unknown scenario {other}"),
    };
    println!(
        "{{\"bench\":\"{name}\",\"rows\":{rows},\"batch_size\":{batch},\"seconds\":{seconds:.4},\"rows_per_sec\":{:.0},\"peak_rss_mb\":{:.1}}}",
        rows as f64 / seconds,
        peak_rss_mb()
    );
}

fn child(name: &str, rows: u64, batch: usize) -> serde_json::Value {
    support::child(&[name.to_owned(), rows.to_string(), batch.to_string()])
}

fn main() {
    if let Some(args) = support::scenario_args() {
        scenario(&args[0], args[1].parse().unwrap(), args[2].parse().unwrap());
        return;
    }
    let rows = 1_000_000;
    let hand = child("hand_loop", rows, 0);
    println!("{hand}");
    let hand_rate = hand["rows_per_sec"].as_f64().unwrap();
    for batch in [50, 1000] {
        let mut run = child("pipeline", rows, batch);
        let ratio = run["rows_per_sec"].as_f64().unwrap() / hand_rate;
        run["ratio_to_hand_loop"] = serde_json::json!((ratio * 1000.0).round() / 1000.0);
        println!("{run}");
    }
    // Peak RSS with nothing kept must not grow with the row count: the channels bound it.
    for rows in [1_000_000, 4_000_000] {
        println!("{}", child("streaming_discard", rows, 1000));
    }
}
