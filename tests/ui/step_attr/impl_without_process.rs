// #[step] on an impl needs the `process` method that reads the columns.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Short {
    short: String,
}

struct Truncate {
    max_chars: usize,
}

#[step]
impl Truncate {
    fn run(&mut self, instruction: &str) -> Short {
        Short {
            short: instruction.chars().take(self.max_chars).collect(),
        }
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        truncate = Truncate { max_chars: 3 },
        load >> truncate,
    };
}
