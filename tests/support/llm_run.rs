//! What the LLM tests share about running a pipeline and reading its Distiset.

#![allow(dead_code)]

use std::time::Duration;

use distil::{Distiset, Pipeline, RunOptions, Value};

/// Runs `pipeline` into `dir`, failing the test if it hangs.
pub async fn run(pipeline: &mut Pipeline, dir: &std::path::Path) -> distil::Result<Distiset> {
    tokio::time::timeout(
        Duration::from_secs(30),
        pipeline.run_with(RunOptions::new().output_dir(dir)),
    )
    .await
    .expect("the run ends instead of hanging")
}

/// A column of the only config.
pub fn column(distiset: &Distiset, name: &str) -> Vec<Value> {
    distiset
        .default_config()
        .expect("one config")
        .column(name)
        .cloned()
        .collect()
}

/// The first error a row's metadata records, or "".
pub fn first_error(metadata: &Value) -> String {
    metadata["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
