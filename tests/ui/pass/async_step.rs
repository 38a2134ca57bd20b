// An async step (sync and async steps mix in one pipeline).
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Reply {
    reply: String,
}

#[step]
async fn ask(instruction: &str, #[param(default = 0u64)] delay_ms: u64) -> Result<Reply, String> {
    tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
    Ok(Reply {
        reply: format!("re: {instruction}"),
    })
}

fn main() {
    let pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        ask = Ask::new().delay_ms(1),
        load >> ask,
    };
    pipeline.validate().unwrap();
}
