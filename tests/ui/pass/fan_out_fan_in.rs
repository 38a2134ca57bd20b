// Fan-out then fan-in: `count` and `loud` both read the loader's rows, `keep` joins them by row
// id and keeps three columns.
use distil::prelude::*;
use distil::steps::{KeepColumns, LoadDataFromDicts};

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Words {
    words: u64,
}

#[derive(Row)]
struct Upper {
    upper: String,
}

#[step]
fn word_count(instruction: &str) -> Words {
    Words {
        words: instruction.split_whitespace().count() as u64,
    }
}

#[step]
fn shout(instruction: &str) -> Upper {
    Upper {
        upper: instruction.to_uppercase(),
    }
}

fn main() {
    let prompts = vec![Prompt {
        instruction: "hello there".into(),
    }];
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(prompts),
        count = WordCount::new(),
        loud = Shout::new(),
        keep = KeepColumns::new(["instruction", "words", "upper"]),
        load >> [count, loud] >> keep,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let distiset = runtime.block_on(pipeline.run()).unwrap();
    let rows = distiset.default_config().unwrap();
    let row = rows.rows().next().unwrap();
    assert_eq!(row["words"], serde_json::json!(2));
    assert_eq!(row["upper"], serde_json::json!("HELLO THERE"));
}
