use distil::prelude::*;
use distil::steps::{KeepColumns, LoadDataFromDicts};

#[derive(Row, Debug)]
struct Prompt {
    prompt: String,
}

#[derive(Row)]
struct Words {
    words: u64,
}

#[derive(Row)]
struct Loud {
    shout: String,
}

/// Counts words.
#[step]
fn word_count(instruction: &str) -> Words {
    Words {
        words: instruction.split_whitespace().count() as u64,
    }
}

#[step]
fn shout(
    instruction: &str,
    words: u64,
    #[param(default = 1u32)] times: u32,
) -> Result<Loud, String> {
    if words > 3 {
        return Err(format!("too long: {words}"));
    }
    Ok(Loud {
        shout: instruction.to_uppercase().repeat(times as usize),
    })
}

#[tokio::main]
async fn main() -> distil::Result<()> {
    let prompts = vec![
        Prompt {
            prompt: "hello there".into(),
        },
        Prompt {
            prompt: "a b c d e".into(),
        },
    ];
    let mut p = pipeline! {
        name: "hello",
        load = LoadDataFromDicts::<Prompt>::new(prompts),
            outputs { prompt => instruction },
        count = WordCount::new(),
        loud = Shout::new().times(2),
        keep = KeepColumns::new(["instruction", "shout"]),
        load >> count >> loud >> keep,
    };
    let d = p.run().await?;
    for row in d.default_config().unwrap().rows() {
        println!("{}", serde_json::Value::Object(row));
    }
    Ok(())
}
