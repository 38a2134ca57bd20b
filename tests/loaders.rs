//! Loading rows from files: formats, sources, streaming, and the schema check before any step.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use distil::prelude::*;
use distil::steps::{FileFormat, LoadDataFromFileSystem};
use serde_json::{Value, json};

#[derive(Row, Debug, PartialEq)]
struct Prompt {
    instruction: String,
    difficulty: u64,
    tags: Option<Vec<String>>,
}

#[derive(Row)]
struct Words {
    words: u64,
}

#[step]
fn word_count(instruction: &str) -> Words {
    Words {
        words: instruction.split_whitespace().count() as u64,
    }
}

static PROCESSED: AtomicUsize = AtomicUsize::new(0);

#[derive(Row)]
struct Seen {
    seen: bool,
}

/// Counts the rows it sees, to prove a failing check stopped the run before any step ran.
#[step]
fn counted(instruction: &str) -> Seen {
    let _ = instruction;
    PROCESSED.fetch_add(1, Ordering::SeqCst);
    Seen { seen: true }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn column(distiset: &Distiset, name: &str) -> Vec<Value> {
    distiset
        .default_config()
        .unwrap()
        .column(name)
        .cloned()
        .collect()
}

#[tokio::test]
async fn typed_json_lines_are_read_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "prompts.jsonl",
        "{\"instruction\": \"a b c\", \"difficulty\": 1, \"tags\": [\"x\"]}\n\n\
         {\"instruction\": \"d e\", \"difficulty\": 2}\n\
         {\"instruction\": \"f\", \"difficulty\": 3, \"tags\": null, \"extra\": true}\n",
    );
    let mut pipeline = pipeline! {
        name: "jsonl",
        load = LoadDataFromFileSystem::<Prompt>::new(file),
            batch_size: 2,
        count = WordCount::new(),
        load >> count,
    };
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(column(&distiset, "words"), [json!(3), json!(2), json!(1)]);
    let rows: Vec<Prompt> = distiset.default_config().unwrap().rows_as().unwrap();
    assert_eq!(
        rows[0],
        Prompt {
            instruction: "a b c".into(),
            difficulty: 1,
            tags: Some(vec!["x".into()])
        }
    );
    assert_eq!(rows[2].tags, None);
    assert_eq!(
        distiset.default_config().unwrap().column_names(),
        ["instruction", "difficulty", "tags", "words"],
        "only the declared columns are loaded"
    );
}

#[tokio::test]
async fn a_directory_and_a_glob_read_every_file_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "b.jsonl",
        "{\"instruction\": \"two\", \"difficulty\": 2}\n",
    );
    write(
        dir.path(),
        "a.jsonl",
        "{\"instruction\": \"one\", \"difficulty\": 1}\n",
    );
    write(
        dir.path(),
        "c.json",
        "[{\"instruction\": \"three\", \"difficulty\": 3}]",
    );
    write(dir.path(), "notes.txt", "not data");
    for source in [
        dir.path().display().to_string(),
        format!("{}/*.json*", dir.path().display()),
    ] {
        let mut pipeline = pipeline! {
            name: "many-files",
            load = LoadDataFromFileSystem::<Prompt>::new(source.clone()),
            count = WordCount::new(),
            load >> count,
        };
        let distiset = pipeline.run().await.unwrap();
        assert_eq!(
            column(&distiset, "instruction"),
            [json!("one"), json!("two"), json!("three")],
            "{source}"
        );
    }
}

#[tokio::test]
async fn csv_cells_are_read_as_the_declared_types() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "p.csv",
        "instruction,difficulty,tags\nhello world,4,\"[\"\"a\"\"]\"\nbye,5,\n",
    );
    let mut pipeline = pipeline! {
        name: "csv",
        load = LoadDataFromFileSystem::<Prompt>::new(file),
        count = WordCount::new(),
        load >> count,
    };
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(column(&distiset, "difficulty"), [json!(4), json!(5)]);
    assert_eq!(column(&distiset, "tags"), [json!(["a"]), Value::Null]);
}

#[tokio::test]
async fn a_ragged_csv_is_an_error_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "ragged.csv",
        "instruction,difficulty\nok,1\ntoo,many,cells\n",
    );
    let mut pipeline = pipeline! {
        name: "ragged",
        load = LoadDataFromFileSystem::<Prompt>::new(file.clone()),
        count = WordCount::new(),
        load >> count,
    };
    let error = pipeline.run().await.unwrap_err().to_string();
    assert!(error.contains("step `load`"), "{error}");
    assert!(error.contains(&file) && error.contains("line 3"), "{error}");
}

#[tokio::test]
async fn a_missing_column_stops_the_run_before_any_step() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "1.jsonl",
        "{\"instruction\": \"fine\", \"difficulty\": 1}\n",
    );
    let bad = write(
        dir.path(),
        "2.jsonl",
        "{\"prompt\": \"oops\", \"difficulty\": 1}\n",
    );
    let mut pipeline = pipeline! {
        name: "schema",
        load = LoadDataFromFileSystem::<Prompt>::new(dir.path().display().to_string()),
        count = Counted::new(),
        load >> count,
    };
    let error = pipeline.run().await.unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "step `load` failed: {bad}: has no column `instruction`; its columns are `prompt`, `difficulty`"
        )
    );
    assert_eq!(PROCESSED.load(Ordering::SeqCst), 0, "no step ran");
}

#[tokio::test]
async fn a_value_of_another_type_is_an_error_naming_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "p.jsonl",
        "{\"instruction\": \"x\", \"difficulty\": \"hard\"}\n",
    );
    let mut pipeline = pipeline! {
        name: "types",
        load = LoadDataFromFileSystem::<Prompt>::new(file.clone()),
        count = WordCount::new(),
        load >> count,
    };
    let error = pipeline.run().await.unwrap_err().to_string();
    assert!(
        error.ends_with(&format!(
            "{file}: column `difficulty` holds a string, but the loader declares `u64`"
        )),
        "{error}"
    );
}

#[tokio::test]
async fn untyped_columns_come_from_the_first_record_and_are_validated_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "data.txt",
        "{\"prompt\": \"a b\"}\n{\"prompt\": \"c\"}\n",
    );
    let mut pipeline = Pipeline::new("untyped-files");
    pipeline.add(
        "load",
        LoadDataFromFileSystem::untyped(file.clone()).format(FileFormat::JsonLines),
    );
    pipeline.add("count", WordCount::new());
    pipeline.connect("load", "count");
    let error = pipeline.run().await.unwrap_err().to_string();
    assert!(
        error.contains("step `count` (WordCount) needs column `instruction: String`"),
        "{error}"
    );
    assert!(
        error.contains("rows reaching it carry `prompt: Value` (from `load`)"),
        "{error}"
    );

    pipeline
        .options("count")
        .unwrap()
        .input_mapping("instruction", "prompt");
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(column(&distiset, "words"), [json!(2), json!(1)]);
}

#[tokio::test]
async fn sources_that_name_nothing_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.jsonl").display().to_string();
    let no_match = format!("{}/*.csv", dir.path().display());
    for (source, expected) in [
        (missing.clone(), "no such file or directory"),
        (no_match.clone(), "names no file to load"),
    ] {
        let mut pipeline = Pipeline::new("nothing");
        pipeline.add(
            "load",
            LoadDataFromFileSystem::<Prompt>::new(source.clone()),
        );
        pipeline.add("count", WordCount::new());
        pipeline.connect("load", "count");
        let error = pipeline.run().await.unwrap_err().to_string();
        assert!(
            error.contains(&source) && error.contains(expected),
            "{error}"
        );
    }
}
