//! The Distiset on disk: real Parquet files written by runs, read back, saved in the Hub's
//! layout with a dataset card, loaded again, split, exported; and what a damaged file gives.

use std::collections::BTreeMap;
use std::path::Path;

use distil::prelude::*;
use distil::steps::LoadDataFromDicts;
use distil::{Error, METADATA_COLUMN};
use serde_json::{Value, json};
use yaml_rust2::{Yaml, YamlLoader};

#[derive(Row, Clone, Debug, PartialEq)]
struct Message {
    role: String,
    content: String,
}

#[derive(Row, Clone, Debug, PartialEq)]
struct Conversation {
    id: u64,
    messages: Vec<Message>,
    ratings: Vec<Option<f64>>,
    tags: BTreeMap<String, i32>,
    note: Option<String>,
    flagged: bool,
}

#[derive(Row, Debug, PartialEq)]
struct Length {
    length: u64,
}

/// Fails on ids divisible by 3: those rows carry an error in the metadata column.
#[step]
fn total_length(id: u64, messages: Vec<Message>) -> Result<Length, String> {
    if id.is_multiple_of(3) {
        return Err(format!("row {id} is unlucky"));
    }
    Ok(Length {
        length: messages.iter().map(|m| m.content.len() as u64).sum(),
    })
}

#[step]
fn only_flagged(flagged: bool) -> bool {
    flagged
}

fn conversations(n: u64) -> Vec<Conversation> {
    (0..n)
        .map(|id| Conversation {
            id,
            messages: vec![
                Message {
                    role: "user".into(),
                    content: format!("question {id}"),
                },
                Message {
                    role: "assistant".into(),
                    content: "answer".repeat(id as usize % 4),
                },
            ],
            ratings: vec![Some(id as f64 / 2.0), None],
            tags: BTreeMap::from([("len".to_owned(), id as i32)]),
            note: (id % 2 == 0).then(|| format!("note {id}")),
            flagged: id % 5 == 0,
        })
        .collect()
}

async fn run_into(pipeline: &mut Pipeline, dir: &Path, shard_rows: usize) -> Distiset {
    pipeline
        .run_with(RunOptions::new().output_dir(dir).max_shard_rows(shard_rows))
        .await
        .unwrap()
}

fn shard_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn all_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            out.push(path.to_string_lossy().into_owned());
        }
    }
    out
}

#[tokio::test]
async fn typed_rows_with_nested_structs_and_lists_round_trip_through_parquet() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pipeline = pipeline! {
        name: "typed",
        load = LoadDataFromDicts::<Conversation>::new(conversations(25)),
            batch_size: 4,
        length = TotalLength::new(),
        load >> length,
    };
    let distiset = run_into(&mut pipeline, tmp.path(), 10).await;
    let rows = distiset.default_config().unwrap();
    assert_eq!(rows.len(), 25);
    assert_eq!(
        rows.column_names(),
        [
            "id",
            "messages",
            "ratings",
            "tags",
            "note",
            "flagged",
            "length",
            METADATA_COLUMN
        ]
    );
    let read: Vec<Conversation> = rows.rows_as().unwrap();
    assert_eq!(
        read,
        conversations(25),
        "typed rows come back equal, in order"
    );
    let lengths: Vec<Value> = rows.column("length").cloned().collect();
    assert_eq!(lengths[0], Value::Null, "row 0 failed: its output is null");
    assert_eq!(lengths[1], json!("question 1".len() + "answer".len()));
    let metadata: Vec<Value> = rows.column(METADATA_COLUMN).cloned().collect();
    assert_eq!(
        metadata[3],
        json!({"errors": [{"step": "length", "message": "row 3 is unlucky"}]})
    );
    assert_eq!(metadata[4], Value::Null);

    // 25 rows, 10 per shard: three shards, named with the total count.
    assert_eq!(
        shard_names(&tmp.path().join("default")),
        [
            "train-00000-of-00003.parquet",
            "train-00001-of-00003.parquet",
            "train-00002-of-00003.parquet"
        ]
    );
    assert!(
        all_files(tmp.path()).iter().all(|f| !f.contains(".tmp-")),
        "no temporary file is left: {:?}",
        all_files(tmp.path())
    );
    let log = std::fs::read_to_string(tmp.path().join("pipeline.log")).unwrap();
    assert!(log.contains("run of pipeline `typed` started"), "{log}");
    assert!(
        log.contains("step `length` emitted 25 rows (9 with errors)"),
        "{log}"
    );
    assert!(log.contains("row 3 is unlucky"), "{log}");
    assert!(log.contains("run finished"), "{log}");
}

#[tokio::test]
async fn untyped_rows_round_trip_and_several_configs_and_an_empty_one() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = vec![
        json!({"name": "a", "any": 1, "nested": {"x": [1, 2]}}),
        json!({"name": "b", "any": "two", "nested": null}),
        json!({"name": null, "any": 2.5, "nested": {"x": []}}),
    ];
    let mut pipeline = Pipeline::new("untyped");
    pipeline.add("load", LoadDataFromDicts::untyped(rows.clone()));
    pipeline.add(
        "keep_all",
        distil::steps::KeepColumns::new(["name", "any", "nested"]),
    );
    pipeline.add(
        "flag",
        LoadDataFromDicts::<Conversation>::new(conversations(4)),
    );
    pipeline.add("none", OnlyFlagged::new());
    pipeline.connect("load", "keep_all");
    pipeline.connect("flag", "none");
    let distiset = run_into(&mut pipeline, tmp.path(), 100).await;
    assert_eq!(
        distiset.config_names().collect::<Vec<_>>(),
        ["keep_all", "none"]
    );
    let keep = distiset.config("keep_all").unwrap();
    let back: Vec<Value> = keep.rows().map(Value::Object).collect();
    assert_eq!(back, rows, "untyped values come back as they were");
    let none = distiset.config("none").unwrap();
    assert_eq!(none.len(), 1, "only id 0 is flagged among 0..4");

    let loaded = Distiset::load_from_disk(tmp.path()).unwrap();
    assert_eq!(loaded.total_rows(), 4);
    let again: Vec<Value> = loaded
        .config("keep_all")
        .unwrap()
        .rows()
        .map(Value::Object)
        .collect();
    assert_eq!(again, rows);

    // A leaf that gets no row still has a (empty) shard with its columns.
    let empty_dir = tmp.path().join("empty");
    let mut no_rows = Pipeline::new("empty");
    no_rows.add("load", LoadDataFromDicts::<Conversation>::new(Vec::new()));
    no_rows.add("none", OnlyFlagged::new());
    no_rows.connect("load", "none");
    let distiset = run_into(&mut no_rows, &empty_dir, 100).await;
    let empty = distiset.default_config().unwrap();
    assert!(empty.is_empty());
    assert!(empty.column_names().contains(&"messages".to_owned()));
    assert_eq!(
        shard_names(&empty_dir.join("default")),
        ["train-00000-of-00001.parquet"]
    );
}

#[tokio::test]
async fn save_to_disk_writes_the_hub_layout_and_a_card_that_parses() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pipeline = pipeline! {
        name: "card",
        load = LoadDataFromDicts::<Conversation>::new(conversations(12)),
        length = TotalLength::new(),
        load >> length,
    };
    let distiset = run_into(&mut pipeline, &tmp.path().join("run"), 5).await;
    let saved = tmp.path().join("saved");
    distiset.save_to_disk(&saved).unwrap();
    assert_eq!(
        shard_names(&saved),
        ["README.md", "default", "pipeline.log", "pipeline.yaml"]
    );
    assert_eq!(shard_names(&saved.join("default")).len(), 3);

    let card = std::fs::read_to_string(saved.join("README.md")).unwrap();
    let front = card
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .map(|(yaml, _)| yaml)
        .expect("YAML front matter");
    let yaml = &YamlLoader::load_from_str(front).unwrap()[0];
    assert_eq!(yaml["size_categories"].as_str(), Some("n<1K"));
    assert_eq!(
        yaml["tags"].as_vec().unwrap(),
        &vec![
            Yaml::String("synthetic".into()),
            Yaml::String("distil".into())
        ]
    );
    let config = &yaml["configs"][0];
    assert_eq!(config["config_name"].as_str(), Some("default"));
    assert_eq!(config["data_files"][0]["split"].as_str(), Some("train"));
    assert_eq!(
        config["data_files"][0]["path"].as_str(),
        Some("default/train-*")
    );
    assert!(card.contains("\"question 0\""), "a sample record: {card}");

    let description = std::fs::read_to_string(saved.join("pipeline.yaml")).unwrap();
    let yaml = &YamlLoader::load_from_str(&description).unwrap()[0];
    assert_eq!(yaml["pipeline"]["name"].as_str(), Some("card"));
    assert_eq!(
        yaml["pipeline"]["steps"][1]["type_name"].as_str(),
        Some("TotalLength")
    );
    assert_eq!(
        yaml["pipeline"]["steps"][0]["runtime_parameters"]["batch_size"].as_i64(),
        Some(50)
    );
    assert_eq!(
        yaml["pipeline"]["connections"][0]["to"][0].as_str(),
        Some("length")
    );
    assert!(yaml["distil"]["version"].as_str().is_some());

    let loaded = Distiset::load_from_disk(&saved).unwrap();
    assert_eq!(
        loaded
            .default_config()
            .unwrap()
            .rows_as::<Conversation>()
            .unwrap(),
        conversations(12)
    );

    // Saving again over it replaces the shards instead of mixing old and new.
    let mut fewer = pipeline! {
        name: "card",
        load = LoadDataFromDicts::<Conversation>::new(conversations(3)),
        length = TotalLength::new(),
        load >> length,
    };
    let small = run_into(&mut fewer, &tmp.path().join("run2"), 5).await;
    small.save_to_disk(&saved).unwrap();
    assert_eq!(
        shard_names(&saved.join("default")),
        ["train-00000-of-00001.parquet"]
    );
    assert_eq!(Distiset::load_from_disk(&saved).unwrap().total_rows(), 3);
}

#[tokio::test]
async fn train_test_split_is_deterministic_and_exports_to_jsonl() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pipeline = pipeline! {
        name: "split",
        load = LoadDataFromDicts::<Conversation>::new(conversations(40)),
        length = TotalLength::new(),
        load >> length,
    };
    let ids = |d: &Distiset, split: &str| -> Vec<u64> {
        d.split("default", split)
            .unwrap()
            .column("id")
            .map(|v| v.as_u64().unwrap())
            .collect()
    };
    let mut first = run_into(&mut pipeline, &tmp.path().join("a"), 7).await;
    first.train_test_split(0.75, 42).unwrap();
    let mut second = run_into(&mut pipeline, &tmp.path().join("b"), 7).await;
    second.train_test_split(0.75, 42).unwrap();
    assert_eq!(
        first.split_names("default").collect::<Vec<_>>(),
        ["train", "test"]
    );
    assert_eq!(ids(&first, "train").len(), 30);
    assert_eq!(ids(&first, "test").len(), 10);
    assert_eq!(
        ids(&first, "train"),
        ids(&second, "train"),
        "same seed, same split"
    );
    let mut all = [ids(&first, "train"), ids(&first, "test")].concat();
    all.sort();
    assert_eq!(all, (0..40).collect::<Vec<_>>());
    let mut third = run_into(&mut pipeline, &tmp.path().join("c"), 7).await;
    third.train_test_split(0.75, 43).unwrap();
    assert_ne!(
        ids(&first, "test"),
        ids(&third, "test"),
        "another seed, another split"
    );
    let reloaded = Distiset::load_from_disk(tmp.path().join("a")).unwrap();
    assert_eq!(ids(&reloaded, "test"), ids(&first, "test"));
    assert!(matches!(
        first.train_test_split(1.0, 1),
        Err(Error::Distiset { .. })
    ));

    let jsonl = tmp.path().join("out/train.jsonl");
    first.config("default").unwrap().to_jsonl(&jsonl).unwrap();
    let lines: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 30);
    assert_eq!(lines[0]["messages"][0]["role"], json!("user"));
}

#[tokio::test]
async fn a_truncated_shard_or_a_missing_directory_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pipeline = pipeline! {
        name: "damaged",
        load = LoadDataFromDicts::<Conversation>::new(conversations(30)),
        length = TotalLength::new(),
        load >> length,
    };
    run_into(&mut pipeline, tmp.path(), 10).await;
    let shard = tmp.path().join("default/train-00001-of-00003.parquet");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() / 2]).unwrap();
    let error = Distiset::load_from_disk(tmp.path()).unwrap_err();
    assert!(matches!(error, Error::Parquet { .. }), "{error:?}");
    assert!(
        error.to_string().contains("train-00001-of-00003.parquet"),
        "the message names the file: {error}"
    );

    let missing = tmp.path().join("nowhere");
    let error = Distiset::load_from_disk(&missing).unwrap_err();
    assert!(error.to_string().contains("nowhere"), "{error}");
    assert!(error.to_string().contains("no such directory"), "{error}");
}

#[tokio::test]
async fn runs_write_under_the_cache_dir_by_default() {
    // The directory comes from the environment: set it in a child process of its own, as
    // setting it here would race with the other tests reading theirs.
    let Ok(cache) = std::env::var("DISTIL_TEST_CACHE_DIR") else {
        let tmp = tempfile::tempdir().unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["runs_write_under_the_cache_dir_by_default", "--exact"])
            .env("DISTIL_TEST_CACHE_DIR", tmp.path())
            .env("DISTIL_CACHE_DIR", tmp.path())
            .status()
            .unwrap();
        assert!(status.success(), "the test failed in its child process");
        return;
    };
    let tmp = std::path::PathBuf::from(cache);
    let mut pipeline = pipeline! {
        name: "cached",
        load = LoadDataFromDicts::<Conversation>::new(conversations(2)),
        length = TotalLength::new(),
        load >> length,
    };
    let first = pipeline.run().await.unwrap();
    let second = pipeline.run().await.unwrap();
    assert!(
        first.dir().starts_with(tmp.join("cached/runs")),
        "{:?}",
        first.dir()
    );
    assert_ne!(
        first.dir(),
        second.dir(),
        "every run gets its own directory"
    );
    assert_eq!(second.default_config().unwrap().len(), 2);
}

#[step]
fn explode(id: u64) -> Length {
    assert!(id != 7, "boom on row 7");
    Length { length: id }
}

#[tokio::test]
async fn a_failed_run_leaves_no_shard_that_looks_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pipeline = pipeline! {
        name: "failing",
        load = LoadDataFromDicts::<Conversation>::new(conversations(20)),
            batch_size: 2,
        explode = Explode::new(),
        load >> explode,
    };
    let result = pipeline
        .run_with(RunOptions::new().output_dir(tmp.path()).max_shard_rows(2))
        .await;
    assert!(matches!(result, Err(Error::Panicked { .. })), "{result:?}");
    let files = all_files(tmp.path());
    assert!(
        files.iter().all(|f| !f.ends_with(".parquet")),
        "no shard, complete or temporary, is left: {files:?}"
    );
    let log = std::fs::read_to_string(tmp.path().join("pipeline.log")).unwrap();
    assert!(log.contains("run failed"), "{log}");
}
