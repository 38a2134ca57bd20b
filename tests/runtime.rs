//! The runtime, end to end: joins by id, routing, row errors, panics, dry runs, ordering.

use std::time::Duration;

use distil::prelude::*;
use distil::steps::{KeepColumns, LoadDataFromDicts};
use distil::{Error, METADATA_COLUMN};
use serde_json::{Value, json};

#[derive(Row)]
struct Number {
    n: u64,
}

#[derive(Row)]
struct Squared {
    square: u64,
}

#[derive(Row)]
struct Half {
    half: u64,
}

#[derive(Row)]
struct Tag {
    tag: String,
}

#[step]
fn square(n: u64) -> Squared {
    Squared { square: n * n }
}

/// Keeps even numbers only.
#[step]
fn halve_evens(n: u64) -> Option<Half> {
    n.is_multiple_of(2).then_some(Half { half: n / 2 })
}

#[step]
fn tag_a(n: u64) -> Tag {
    Tag {
        tag: format!("a{n}"),
    }
}

#[step]
fn tag_b(n: u64) -> Tag {
    Tag {
        tag: format!("b{n}"),
    }
}

#[step]
fn tag_c(n: u64) -> Tag {
    Tag {
        tag: format!("c{n}"),
    }
}

#[step]
fn fails_on_three(n: u64) -> Result<Squared, String> {
    if n == 3 {
        Err("three is not allowed".into())
    } else {
        Ok(Squared { square: n * n })
    }
}

#[step]
fn panics_on_five(n: u64) -> Squared {
    assert!(n != 5, "five makes this step panic");
    Squared { square: n }
}

#[step]
fn split_in_two(n: u64) -> Vec<Half> {
    vec![Half { half: n }, Half { half: n + 1000 }]
}

fn numbers(count: u64) -> Vec<Number> {
    (0..count).map(|n| Number { n }).collect()
}

async fn run(pipeline: &mut Pipeline) -> distil::Result<Distiset> {
    tokio::time::timeout(Duration::from_secs(20), pipeline.run())
        .await
        .expect("the run finishes instead of hanging")
}

fn column(distiset: &Distiset, config: &str, name: &str) -> Vec<Value> {
    distiset
        .config(config)
        .expect("config")
        .column(name)
        .cloned()
        .collect()
}

#[tokio::test]
async fn fan_in_joins_by_id_when_one_branch_filters() {
    let mut pipeline = pipeline! {
        name: "join-after-filter",
        load = LoadDataFromDicts::<Number>::new(numbers(100)),
            batch_size: 7,
        sq = Square::new(),
            input_batch_size: 5,
        half = HalveEvens::new(),
            input_batch_size: 11,
        keep = KeepColumns::new(["n", "square", "half"]),
            input_batch_size: 13,
        load >> [sq, half] >> keep,
    };
    let distiset = run(&mut pipeline).await.unwrap();
    let rows = distiset.default_config().unwrap();
    assert_eq!(
        rows.len(),
        100,
        "a row filtered in one branch still comes from the other"
    );
    for row in rows.rows() {
        let n = row["n"].as_u64().unwrap();
        assert_eq!(row["square"], json!(n * n), "row {n}");
        let expected_half = if n.is_multiple_of(2) {
            json!(n / 2)
        } else {
            Value::Null
        };
        assert_eq!(
            row["half"], expected_half,
            "row {n}: the join is by id, not by position"
        );
    }
    let order: Vec<u64> = rows.column("n").map(|n| n.as_u64().unwrap()).collect();
    assert_eq!(
        order,
        (0..100).collect::<Vec<_>>(),
        "rows come out in id order"
    );
}

#[tokio::test]
async fn routing_sends_each_batch_to_exactly_n_successors() {
    let mut pipeline = pipeline! {
        name: "routing",
        load = LoadDataFromDicts::<Number>::new(numbers(60)),
            batch_size: 4,
        a = TagA::new(),
            outputs { tag => tag_a },
        b = TagB::new(),
            outputs { tag => tag_b },
        c = TagC::new(),
            outputs { tag => tag_c },
        keep = KeepColumns::new(["n", "tag_a", "tag_b", "tag_c"]),
        load >> sample_n_steps(2) >> [a, b, c],
        [a, b, c] >> keep,
    };
    let distiset = tokio::time::timeout(
        Duration::from_secs(20),
        pipeline.run_with(RunOptions::new().seed(7)),
    )
    .await
    .unwrap()
    .unwrap();
    let rows = distiset.default_config().unwrap();
    assert_eq!(rows.len(), 60);
    let mut used = [0usize; 3];
    for row in rows.rows() {
        let n = row["n"].as_u64().unwrap();
        let tags: Vec<usize> = ["tag_a", "tag_b", "tag_c"]
            .iter()
            .enumerate()
            .filter(|(_, c)| !row[**c].is_null())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            tags.len(),
            2,
            "row {n} went to exactly 2 of 3 steps: {row:?}"
        );
        for (i, prefix) in ["a", "b", "c"].iter().enumerate() {
            if tags.contains(&i) {
                used[i] += 1;
                assert_eq!(
                    row[format!("tag_{prefix}").as_str()],
                    json!(format!("{prefix}{n}"))
                );
            }
        }
    }
    assert!(
        used.iter().all(|&u| u > 0),
        "every branch got some batches: {used:?}"
    );
}

#[tokio::test]
async fn a_failing_row_is_recorded_and_the_others_go_on() {
    let mut pipeline = pipeline! {
        name: "row-error",
        load = LoadDataFromDicts::<Number>::new(numbers(6)),
        check = FailsOnThree::new(),
        load >> check,
    };
    let distiset = run(&mut pipeline).await.unwrap();
    let squares = column(&distiset, "default", "square");
    assert_eq!(
        squares,
        [
            json!(0),
            json!(1),
            json!(4),
            Value::Null,
            json!(16),
            json!(25)
        ]
    );
    let metadata = column(&distiset, "default", METADATA_COLUMN);
    assert_eq!(
        metadata[3],
        json!({"errors": [{"step": "check", "message": "three is not allowed"}]})
    );
    assert!(
        metadata
            .iter()
            .enumerate()
            .all(|(i, m)| i == 3 || m.is_null())
    );
}

#[tokio::test]
async fn a_panicking_step_fails_the_run_naming_the_step() {
    let mut pipeline = pipeline! {
        name: "panic",
        load = LoadDataFromDicts::<Number>::new(numbers(10_000)),
            batch_size: 3,
        boom = PanicsOnFive::new(),
        after = Square::new(),
            inputs { n => square },
        load >> boom >> after,
    };
    match run(&mut pipeline).await {
        Err(Error::Panicked { step, message }) => {
            assert_eq!(step, "boom");
            assert!(message.contains("five makes this step panic"), "{message}");
        }
        other => panic!("expected a panic error, got {other:?}"),
    }
    // The pipeline keeps its other steps; the panicked one is reported on the next run.
    let again = run(&mut pipeline).await.unwrap_err().to_string();
    assert!(again.contains("boom"), "{again}");
}

#[tokio::test]
async fn dry_run_sends_one_row_through_every_step() {
    let mut pipeline = pipeline! {
        name: "dry",
        load = LoadDataFromDicts::<Number>::new(numbers(500)),
            batch_size: 100,
        sq = Square::new(),
        half = HalveEvens::new(),
        keep = KeepColumns::new(["n", "square", "half"]),
        load >> [sq, half] >> keep,
    };
    let distiset = pipeline.dry_run().await.unwrap();
    let rows: Vec<_> = distiset.default_config().unwrap().rows().collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        Value::Object(rows[0].clone()),
        json!({"n": 0, "square": 0, "half": 0})
    );
    // A real run afterwards still sees every row with the configured batch size.
    assert_eq!(
        run(&mut pipeline)
            .await
            .unwrap()
            .default_config()
            .unwrap()
            .len(),
        500
    );
}

#[tokio::test]
async fn rechunking_never_loses_or_reorders_rows() {
    let mut pipeline = pipeline! {
        name: "rechunk",
        load = LoadDataFromDicts::<Number>::new(numbers(1000)),
            batch_size: 7,
        half = HalveEvens::new(),
            input_batch_size: 13,
        sq = Square::new(),
            input_batch_size: 50,
        load >> half >> sq,
    };
    let distiset = run(&mut pipeline).await.unwrap();
    let n: Vec<u64> = column(&distiset, "default", "n")
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(n, (0..1000).step_by(2).collect::<Vec<_>>());
}

#[tokio::test]
async fn expanded_rows_join_the_row_they_came_from() {
    let mut pipeline = pipeline! {
        name: "expand-join",
        load = LoadDataFromDicts::<Number>::new(numbers(5)),
            batch_size: 2,
        split = SplitInTwo::new(),
        sq = Square::new(),
        keep = KeepColumns::new(["n", "half", "square"]),
        load >> [split, sq] >> keep,
    };
    let distiset = run(&mut pipeline).await.unwrap();
    let rows: Vec<Value> = distiset
        .default_config()
        .unwrap()
        .rows()
        .map(Value::Object)
        .collect();
    assert_eq!(rows.len(), 10);
    for (i, row) in rows.iter().enumerate() {
        let n = (i / 2) as u64;
        let half = if i % 2 == 0 { n } else { n + 1000 };
        assert_eq!(row, &json!({"n": n, "half": half, "square": n * n}));
    }
}

#[tokio::test]
async fn two_leaves_give_two_configs() {
    let mut pipeline = pipeline! {
        name: "two-leaves",
        load = LoadDataFromDicts::<Number>::new(numbers(4)),
        sq = Square::new(),
        half = HalveEvens::new(),
        load >> [sq, half],
    };
    let distiset = run(&mut pipeline).await.unwrap();
    let mut names: Vec<&str> = distiset.config_names().collect();
    names.sort_unstable();
    assert_eq!(names, ["half", "sq"]);
    assert_eq!(distiset.config("sq").unwrap().len(), 4);
    assert_eq!(distiset.config("half").unwrap().len(), 2);
}

#[tokio::test]
async fn the_builder_api_is_validated_with_the_macro_s_words() {
    let mut pipeline = Pipeline::new("builder");
    pipeline.add(
        "load",
        LoadDataFromDicts::untyped(vec![json!({"prompt": "hi"})]),
    );
    pipeline.add("sq", Square::new());
    pipeline.add("orphan", Square::new());
    pipeline.connect("load", "sq");
    pipeline.connect("load", "nowhere");
    let message = pipeline.validate().unwrap_err().to_string();
    assert!(
        message.contains("no step named `nowhere` to connect"),
        "{message}"
    );
    assert!(
        message
            .contains("step `sq` (Square) needs column `n: u64`, but no step upstream produces it"),
        "{message}"
    );
    assert!(
        message.contains("rows reaching it carry `prompt: Value` (from `load`)"),
        "{message}"
    );
    assert!(
        message.contains("step `orphan` is not connected to any other step"),
        "{message}"
    );
    assert!(
        run(&mut pipeline).await.is_err(),
        "an invalid pipeline does not run"
    );
}

#[tokio::test]
async fn untyped_columns_are_type_checked_at_run_time_per_cell() {
    let mut pipeline = Pipeline::new("untyped");
    pipeline.add(
        "load",
        LoadDataFromDicts::untyped(vec![json!({"n": 3}), json!({"n": "three"})]),
    );
    pipeline.add("sq", Square::new());
    pipeline.connect("load", "sq");
    let distiset = run(&mut pipeline).await.unwrap();
    assert_eq!(
        column(&distiset, "default", "square"),
        [json!(9), Value::Null]
    );
    let error = &column(&distiset, "default", METADATA_COLUMN)[1]["errors"][0];
    assert_eq!(error["step"], "sq");
    assert_eq!(
        error["message"],
        r#"column `n`: expected an integer that fits u64, found the string "three""#
    );
}

#[derive(Row)]
struct Scaled {
    scaled: f64,
}

#[step]
fn scale(
    n: u64,
    #[param(default = 1.0)] factor: f64,
    #[param] labels: std::collections::BTreeMap<String, String>,
) -> Scaled {
    let bonus = labels.len() as f64;
    Scaled {
        scaled: n as f64 * factor + bonus,
    }
}

#[tokio::test]
async fn runtime_parameters_are_set_at_construction_and_merged_at_run() {
    let labels = [("a".to_owned(), "x".to_owned())].into_iter().collect();
    let mut pipeline = pipeline! {
        name: "params",
        load = LoadDataFromDicts::<Number>::new(numbers(3)),
        scale = Scale::new().factor(2.0).labels(labels),
        load >> scale,
    };
    let distiset = run(&mut pipeline).await.unwrap();
    assert_eq!(
        column(&distiset, "default", "scaled"),
        [json!(1.0), json!(3.0), json!(5.0)]
    );

    let options = RunOptions::new()
        .param("scale", "labels", json!({"b": "y"}))
        .param("load", "batch_size", 1);
    let distiset = pipeline.run_with(options).await.unwrap();
    assert_eq!(
        column(&distiset, "default", "scaled"),
        [json!(2.0), json!(4.0), json!(6.0)],
        "the factor set at construction stays; the labels object is merged, not replaced"
    );
    let params = pipeline.params();
    let (_, scale) = params.iter().find(|(s, _)| s == "scale").unwrap();
    assert!(
        scale.contains(&("labels".to_owned(), json!({"a": "x", "b": "y"}))),
        "{scale:?}"
    );

    let unknown = pipeline
        .run_with(RunOptions::new().param("scale", "fator", 3.0))
        .await
        .unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "step `scale`: has no runtime parameter `fator`; it has `factor`, `labels`"
    );
    let no_step = pipeline
        .run_with(RunOptions::new().param("scaler", "factor", 3.0))
        .await
        .unwrap_err();
    assert!(
        no_step
            .to_string()
            .contains("has no such step; its steps are `load`, `scale`"),
        "{no_step}"
    );
}

#[derive(Row)]
struct Ranked {
    rank: u64,
}

/// Ranks every row against all rows: needs the whole dataset at once.
#[step(global)]
fn rank(n: Vec<u64>) -> Vec<Ranked> {
    let mut sorted = n.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    n.iter()
        .map(|x| Ranked {
            rank: sorted.iter().position(|y| y == x).unwrap() as u64,
        })
        .collect()
}

#[tokio::test]
async fn a_global_step_sees_every_row_at_once() {
    let mut pipeline = pipeline! {
        name: "global",
        load = LoadDataFromDicts::<Number>::new(numbers(25)),
            batch_size: 4,
        rank = Rank::new(),
        load >> rank,
    };
    let distiset = run(&mut pipeline).await.unwrap();
    let ranks: Vec<u64> = column(&distiset, "default", "rank")
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(ranks, (0..25).rev().collect::<Vec<_>>());
}
