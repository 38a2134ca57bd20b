//! `Pipeline::validate` on pipelines built without the macro: the rules `pipeline!` applies at
//! compile time, in the same words (each expected line is the first line of a `tests/ui` case).

use distil::prelude::*;
use distil::steps::{GroupColumns, LoadDataFromDicts};

#[derive(Row)]
struct Prompt {
    instruction: String,
    system_prompt: Option<String>,
}

#[derive(Row)]
struct Tag {
    tag: String,
}

#[derive(Row)]
struct Label {
    label: String,
}

#[derive(Row)]
struct Verdict {
    verdict: String,
}

#[derive(Row)]
struct Generation {
    generation: String,
}

#[derive(Row)]
struct Share {
    share: f64,
}

#[derive(Row)]
struct Words {
    words: u64,
}

#[step]
fn tag_it(instruction: &str) -> Tag {
    Tag {
        tag: instruction.to_owned(),
    }
}

#[step]
fn label_it(instruction: &str) -> Label {
    Label {
        label: instruction.to_owned(),
    }
}

#[step]
fn judge(tag: &str) -> Verdict {
    Verdict {
        verdict: tag.to_owned(),
    }
}

#[step]
fn generate_a(instruction: &str) -> Generation {
    Generation {
        generation: format!("a: {instruction}"),
    }
}

#[step]
fn generate_b(instruction: &str) -> Generation {
    Generation {
        generation: format!("b: {instruction}"),
    }
}

#[step(global)]
fn share_of_total(instruction: Vec<String>) -> Vec<Share> {
    let total = instruction.iter().map(String::len).sum::<usize>().max(1);
    instruction
        .iter()
        .map(|i| Share {
            share: i.len() as f64 / total as f64,
        })
        .collect()
}

#[step]
fn render(instruction: &str, system_promt: Option<String>) -> Verdict {
    Verdict {
        verdict: format!("{}{instruction}", system_promt.unwrap_or_default()),
    }
}

#[step]
fn word_count(instruction: &str) -> Words {
    Words {
        words: instruction.split_whitespace().count() as u64,
    }
}

fn prompts() -> Vec<Prompt> {
    (0..4)
        .map(|i| Prompt {
            instruction: format!("prompt {i}"),
            system_prompt: None,
        })
        .collect()
}

fn with_loader() -> Pipeline {
    let mut pipeline = Pipeline::new("builder");
    pipeline.add("load", LoadDataFromDicts::<Prompt>::new(prompts()));
    pipeline
}

/// The problems `validate` reports, one message.
fn problems(pipeline: &Pipeline) -> String {
    match pipeline.validate() {
        Ok(()) => String::new(),
        Err(error) => error.to_string(),
    }
}

fn assert_reports(pipeline: &Pipeline, expected: &str) {
    let message = problems(pipeline);
    assert!(
        message.contains(expected),
        "expected `{expected}` in:\n{message}"
    );
}

#[test]
fn a_router_that_picks_every_target_is_reported() {
    let mut pipeline = with_loader();
    pipeline.add("a", TagIt::new());
    pipeline.add("b", LabelIt::new());
    pipeline.route("load", sample_n_steps(2), ["a", "b"]);
    assert_reports(
        &pipeline,
        "`sample_n_steps(2)` picks 2 of the 2 steps `a`, `b` for each batch of `load`, so every batch goes to all of them\n  help: pick fewer than 2 (`sample_n_steps(1)`), or connect without a router: `load >> [a, b]`",
    );
}

#[test]
fn a_router_over_one_step_or_picking_none_is_reported() {
    let mut one = with_loader();
    one.add("a", TagIt::new());
    one.route("load", route(|_: &[&str]| vec![0]), ["a"]);
    assert_reports(
        &one,
        "`route` routes the batches of `load` to a single step, `a`, so every batch goes there\n  help: connect it directly: `load >> a`",
    );
    let mut none = with_loader();
    none.add("a", TagIt::new());
    none.add("b", LabelIt::new());
    none.route("load", sample_n_steps(0), ["a", "b"]);
    assert_reports(
        &none,
        "`sample_n_steps(0)` sends the batches of `load` to none of `a`, `b`, so they receive no rows",
    );
}

#[test]
fn a_global_step_behind_a_router_is_reported() {
    let mut pipeline = with_loader();
    pipeline.add("a", TagIt::new());
    pipeline.add("b", LabelIt::new());
    pipeline.add("share", ShareOfTotal::new());
    pipeline.route("load", sample_n_steps(1), ["a", "b"]);
    pipeline.connect("a", "share");
    assert_reports(
        &pipeline,
        "step `share` (ShareOfTotal) is a global step, but it sees only the rows `sample_n_steps(1)` routes its way from `load`, not every row\n  help: connect it where every row passes: to `load` itself, or below a step that joins all of `a`, `b`",
    );
}

#[test]
fn a_column_only_some_routed_branches_write_is_reported() {
    let mut pipeline = with_loader();
    pipeline.add("a", TagIt::new());
    pipeline.add("b", LabelIt::new());
    pipeline.add("join", Judge::new());
    pipeline.route("load", sample_n_steps(1), ["a", "b"]);
    pipeline.connect("a", "join");
    pipeline.connect("b", "join");
    assert_reports(
        &pipeline,
        "step `join` (Judge) needs column `tag: String` on every row, but only the rows through `a` carry it, not those through `b`\n  note: `sample_n_steps(1)` sends each batch of `load` down only some branches\n  help: read it as `tag: Option<String>`, or produce `tag` in every branch",
    );
    // Without the router every row passes both branches, and the join is sound.
    let mut unrouted = with_loader();
    unrouted.add("a", TagIt::new());
    unrouted.add("b", LabelIt::new());
    unrouted.add("join", Judge::new());
    for (from, to) in [("load", "a"), ("load", "b"), ("a", "join"), ("b", "join")] {
        unrouted.connect(from, to);
    }
    assert_eq!(problems(&unrouted), "");
}

#[test]
fn the_same_column_from_joined_branches_is_reported_unless_grouped_or_exclusive() {
    let connect_all = |pipeline: &mut Pipeline, router: Option<Router>| {
        match router {
            Some(router) => pipeline.route("load", router, ["a", "b"]),
            None => {
                pipeline.connect("load", "a");
                pipeline.connect("load", "b");
            }
        }
        pipeline.connect("a", "join");
        pipeline.connect("b", "join");
    };
    let mut pipeline = with_loader();
    pipeline.add("a", GenerateA::new());
    pipeline.add("b", GenerateB::new());
    pipeline.add("join", WordCount::new());
    connect_all(&mut pipeline, None);
    assert_reports(
        &pipeline,
        "step `join` joins branches that each bring column `generation`: `a` (`String`), `b` (`String`); it would keep one branch's value and silently drop the others",
    );

    let mut grouped = with_loader();
    grouped.add("a", GenerateA::new());
    grouped.add("b", GenerateB::new());
    grouped.add("join", GroupColumns::new(["generation"]));
    connect_all(&mut grouped, None);
    assert_eq!(problems(&grouped), "");

    let mut exclusive = with_loader();
    exclusive.add("a", GenerateA::new());
    exclusive.add("b", GenerateB::new());
    exclusive.add("join", WordCount::new());
    connect_all(&mut exclusive, Some(sample_n_steps(1)));
    assert_eq!(problems(&exclusive), "");
}

#[derive(Row)]
struct WordsText {
    words: String,
}

#[step]
fn words_as_text(instruction: &str) -> WordsText {
    WordsText {
        words: instruction.split_whitespace().count().to_string(),
    }
}

#[step]
fn is_long(words: u64) -> Verdict {
    Verdict {
        verdict: (words > 3).to_string(),
    }
}

#[test]
fn every_branch_a_column_may_come_from_is_type_checked() {
    // Each row takes one branch; the one writing `words` as text does not fit the reader.
    let mut pipeline = with_loader();
    pipeline.add("count", WordCount::new());
    pipeline.add("text", WordsAsText::new());
    pipeline.add("long", IsLong::new());
    pipeline.route("load", sample_n_steps(1), ["count", "text"]);
    pipeline.connect("count", "long");
    pipeline.connect("text", "long");
    let message = problems(&pipeline);
    assert!(
        message.contains("column `words` has type `String` as step `text` writes it, but step `long` expects `u64`"),
        "{message}"
    );
    assert!(!message.contains("step `count` writes it"), "{message}");
}

#[test]
fn a_misspelt_optional_input_is_reported() {
    let mut pipeline = with_loader();
    pipeline.add("render", Render::new());
    pipeline.connect("load", "render");
    assert_reports(
        &pipeline,
        "step `render` (Render) reads optional column `system_promt: Option<String>`, but no step upstream produces `system_promt`, so it is always None",
    );
    assert_reports(
        &pipeline,
        "help: did you mean `system_prompt`? rename the argument, or add `inputs { system_promt => system_prompt }` to `render`",
    );
}

#[test]
fn batch_size_on_a_step_that_is_no_generator_is_reported() {
    let mut pipeline = with_loader();
    pipeline.add("count", WordCount::new()).batch_size(10);
    pipeline.connect("load", "count");
    assert_reports(
        &pipeline,
        "`batch_size` sets how many rows a generator produces per batch, but step `count` (WordCount) is not a generator and would ignore it\n  help: did you mean `input_batch_size`, the rows per batch the step processes?",
    );
    let mut on_the_loader = Pipeline::new("builder");
    on_the_loader
        .add("load", LoadDataFromDicts::<Prompt>::new(prompts()))
        .batch_size(2);
    on_the_loader
        .add("count", WordCount::new())
        .input_batch_size(2);
    on_the_loader.connect("load", "count");
    assert_eq!(problems(&on_the_loader), "");
}

#[test]
fn a_mapping_written_the_wrong_way_round_gets_the_reversed_mapping() {
    let mut pipeline = Pipeline::new("builder");
    pipeline.add(
        "load",
        LoadDataFromDicts::untyped(vec![serde_json::json!({"prompt": "hi"})]),
    );
    pipeline
        .add("count", WordCount::new())
        .input_mapping("prompt", "instruction");
    pipeline.connect("load", "count");
    let message = problems(&pipeline);
    assert!(
        message.contains("step `count` has no input column `prompt` to map; its inputs are `instruction`\n  help: the step's input comes first: `inputs { instruction => prompt }` reads column `prompt` as input `instruction`"),
        "{message}"
    );
    assert!(
        !message.contains("needs column"),
        "the wrong mapping is the one error: {message}"
    );
}

#[derive(Row)]
struct Best {
    best: String,
}

#[step]
fn pick(grouped_generation: Vec<String>) -> Best {
    Best {
        best: grouped_generation.concat(),
    }
}

#[step]
fn pick_present(grouped_generation: Vec<Option<String>>) -> Best {
    Best {
        best: grouped_generation.into_iter().flatten().collect(),
    }
}

#[derive(Row)]
struct Rounds {
    rounds: usize,
}

#[step]
fn count_rounds(regrouped: Vec<Option<Vec<String>>>) -> Rounds {
    Rounds {
        rounds: regrouped.len(),
    }
}

/// `load >> [a, b] >> group >> reader`, with GroupColumns gathering `generation`.
fn grouped_pipeline(reader: impl Step + 'static) -> Pipeline {
    let mut pipeline = with_loader();
    pipeline.add("a", GenerateA::new());
    pipeline.add("b", GenerateB::new());
    pipeline.add("group", GroupColumns::new(["generation"]));
    pipeline.add("pick", reader);
    pipeline.connect("load", "a");
    pipeline.connect("load", "b");
    pipeline.connect("a", "group");
    pipeline.connect("b", "group");
    pipeline.connect("group", "pick");
    pipeline
}

#[test]
fn a_grouped_column_is_a_list_of_nullable_values_of_its_branches_type() {
    // tests/ui/grouped/read_as_plain_list.rs: a branch that failed on a row gives null.
    assert_reports(
        &grouped_pipeline(Pick::new()),
        "column `grouped_generation` has type `Vec<Option<String>>` as step `group` writes it, grouping `generation` from `a`, but step `pick` expects `Vec<String>`",
    );
    assert_eq!(problems(&grouped_pipeline(PickPresent::new())), "");

    // Grouped again, the list of lists is typed through both GroupColumns.
    let mut twice = grouped_pipeline(PickPresent::new());
    twice.add(
        "regroup",
        GroupColumns::new(["grouped_generation"]).output_columns(["regrouped"]),
    );
    twice.add("rounds", CountRounds::new());
    twice.connect("group", "regroup");
    twice.connect("regroup", "rounds");
    assert_reports(
        &twice,
        "column `regrouped` has type `Vec<Option<Vec<Option<String>>>>` as step `regroup` writes it, grouping `grouped_generation` from `group`, but step `rounds` expects `Vec<Option<Vec<String>>>`",
    );
}
