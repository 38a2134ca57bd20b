// A struct-form step: configuration and state in the struct's fields.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Short {
    short: String,
    seen: u64,
}

struct Truncate {
    max_chars: usize,
    seen: u64,
}

#[step]
impl Truncate {
    fn process(&mut self, instruction: &str) -> Short {
        self.seen += 1;
        Short {
            short: instruction.chars().take(self.max_chars).collect(),
            seen: self.seen,
        }
    }
}

fn main() {
    let pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        truncate = Truncate { max_chars: 3, seen: 0 },
        load >> truncate,
    };
    pipeline.validate().unwrap();
}
