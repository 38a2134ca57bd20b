// Rows and steps from another crate of the workspace (`tests/steps-crate`).
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;
use distil_test_steps::{EchoGeneration, Prompt};

fn main() {
    let prompts = vec![Prompt {
        instruction: "hello".into(),
    }];
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(prompts),
        generate = EchoGeneration::new().model("mock".into()),
        score = distil_test_steps::LengthScore::new(),
        short = distil_test_steps::nested::Shorten::new(),
            outputs { short => preview },
        load >> generate >> [score, short],
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let distiset = runtime.block_on(pipeline.run()).unwrap();
    let score = distiset.config("score").unwrap();
    assert_eq!(
        score.column("generation").next(),
        Some(&serde_json::json!("olleh"))
    );
    assert_eq!(
        score.column("model_name").next(),
        Some(&serde_json::json!("mock"))
    );
    assert_eq!(score.column("score").next(), Some(&serde_json::json!(5)));
    let short = distiset.config("short").unwrap();
    assert_eq!(
        short.column("preview").next(),
        Some(&serde_json::json!("oll"))
    );
}
