// Every missing column is reported in one compilation, each on its step.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    prompt: String,
}

#[derive(Row)]
struct Generation {
    generation: String,
}

#[derive(Row)]
struct Rating {
    rating: f64,
}

#[step]
fn generate(instruction: &str, system_prompt: &str) -> Generation {
    Generation {
        generation: format!("{system_prompt}{instruction}"),
    }
}

#[step]
fn rate(generation: &str, reference: &str) -> Rating {
    Rating {
        rating: (generation == reference) as u8 as f64,
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        gen = Generate::new(),
        judge = Rate::new(),
        load >> gen >> judge,
    };
}
