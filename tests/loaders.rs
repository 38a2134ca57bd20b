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

/// A prompt after `WordCount`: the columns of the Parquet shard a run writes.
#[derive(Row, Debug, PartialEq)]
struct CountedPrompt {
    instruction: String,
    difficulty: u64,
    tags: Option<Vec<String>>,
    words: u64,
}

#[derive(Row)]
struct Loud {
    loud: String,
}

#[step]
fn shout(instruction: &str) -> Loud {
    Loud {
        loud: instruction.to_uppercase(),
    }
}

/// Runs `load >> count` over three prompts into `dir` and returns its Parquet shard.
async fn parquet_shard_written_by_a_run(dir: &Path) -> String {
    let prompts = vec![
        Prompt {
            instruction: "a b c".into(),
            difficulty: 1,
            tags: Some(vec!["x".into(), "y".into()]),
        },
        Prompt {
            instruction: "d e".into(),
            difficulty: 2,
            tags: None,
        },
        Prompt {
            instruction: "f".into(),
            difficulty: 3,
            tags: Some(vec![]),
        },
    ];
    let mut pipeline = pipeline! {
        name: "write-parquet",
        load = distil::steps::LoadDataFromDicts::<Prompt>::new(prompts),
        count = WordCount::new(),
        load >> count,
    };
    pipeline
        .run_with(RunOptions::new().output_dir(dir))
        .await
        .unwrap();
    let shard = dir.join("default/train-00000-of-00001.parquet");
    assert!(shard.is_file(), "the run wrote {}", shard.display());
    shard.display().to_string()
}

#[tokio::test]
async fn a_parquet_shard_written_by_a_run_is_read_back_typed() {
    let dir = tempfile::tempdir().unwrap();
    let shard = parquet_shard_written_by_a_run(&dir.path().join("run")).await;
    let mut pipeline = pipeline! {
        name: "read-parquet",
        load = LoadDataFromFileSystem::<CountedPrompt>::new(shard),
            batch_size: 2,
        shout = Shout::new(),
        load >> shout,
    };
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(
        column(&distiset, "loud"),
        [json!("A B C"), json!("D E"), json!("F")]
    );
    let rows: Vec<CountedPrompt> = distiset.default_config().unwrap().rows_as().unwrap();
    assert_eq!(
        rows[0],
        CountedPrompt {
            instruction: "a b c".into(),
            difficulty: 1,
            tags: Some(vec!["x".into(), "y".into()]),
            words: 3,
        }
    );
    assert_eq!(rows[1].tags, None);
    assert_eq!(rows[2].tags, Some(vec![]));
    assert_eq!(rows[2].words, 1);

    // Untyped, the columns are the file's.
    let mut pipeline = Pipeline::new("read-parquet-untyped");
    pipeline.add(
        "load",
        LoadDataFromFileSystem::untyped(dir.path().join("run/default").display().to_string()),
    );
    let distiset = pipeline.run().await.unwrap();
    assert_eq!(column(&distiset, "words"), [json!(3), json!(2), json!(1)]);
}

#[derive(Row)]
struct WordsAsText {
    instruction: String,
    words: String,
}

#[derive(Row)]
struct WithScore {
    instruction: String,
    score: f64,
}

#[tokio::test]
async fn a_parquet_schema_that_does_not_fit_is_an_error_before_any_step() {
    let dir = tempfile::tempdir().unwrap();
    let shard = parquet_shard_written_by_a_run(&dir.path().join("run")).await;
    let columns = "its columns are `instruction`, `difficulty`, `tags`, `words`";

    let mut pipeline = pipeline! {
        name: "wrong-type",
        load = LoadDataFromFileSystem::<WordsAsText>::new(shard.clone()),
        shout = Shout::new(),
        load >> shout,
    };
    let error = pipeline.run().await.unwrap_err().to_string();
    assert!(
        error.contains(&format!(
            "{shard}: column `words` has Parquet type UInt64, but the loader declares `String`; {columns}"
        )),
        "{error}"
    );

    let mut pipeline = pipeline! {
        name: "missing",
        load = LoadDataFromFileSystem::<WithScore>::new(shard.clone()),
        shout = Shout::new(),
        load >> shout,
    };
    let error = pipeline.run().await.unwrap_err().to_string();
    assert!(
        error.contains(&format!("{shard}: has no column `score`; {columns}")),
        "{error}"
    );
}

#[tokio::test]
async fn a_truncated_parquet_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let shard = parquet_shard_written_by_a_run(&dir.path().join("run")).await;
    let bytes = std::fs::read(&shard).unwrap();
    let truncated = dir.path().join("truncated.parquet");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let truncated = truncated.display().to_string();
    for typed in [true, false] {
        let mut pipeline = Pipeline::new("truncated");
        if typed {
            pipeline.add(
                "load",
                LoadDataFromFileSystem::<CountedPrompt>::new(truncated.clone()),
            );
        } else {
            pipeline.add("load", LoadDataFromFileSystem::untyped(truncated.clone()));
        }
        let error = pipeline.run().await.unwrap_err().to_string();
        assert!(
            error.contains(&format!("{truncated}: cannot read this Parquet file")),
            "{error}"
        );
    }
}

#[tokio::test]
async fn bad_records_can_be_skipped_and_are_named_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("{\"instruction\": \"a b\", \"difficulty\": 1}\n");
    text.push_str("{\"instruction\": \"broken\", \"difficulty\": \n");
    text.push_str("[\"not\", \"an\", \"object\"]\n");
    text.push_str("{\"instruction\": \"f\", \"difficulty\": 3}\n");
    let file = write(dir.path(), "mixed.jsonl", &text);
    let mut pipeline = pipeline! {
        name: "skipping",
        load = LoadDataFromFileSystem::<Prompt>::new(file.clone()).skip_bad_records(true),
        count = WordCount::new(),
        load >> count,
    };
    let out = dir.path().join("out");
    let distiset = pipeline
        .run_with(RunOptions::new().output_dir(&out))
        .await
        .unwrap();
    assert_eq!(column(&distiset, "words"), [json!(2), json!(1)]);
    let log = std::fs::read_to_string(out.join("pipeline.log")).unwrap();
    assert!(log.contains("skipped 2 bad record(s)"), "{log}");
    assert!(log.contains(&format!("{file}: line 2")), "{log}");
    assert!(log.contains("line 3"), "{log}");
}
