// Two branches write `generation` and `model_name`; the join would see one of each.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Generation {
    generation: String,
    model_name: String,
}

#[derive(Row)]
struct Verdict {
    verdict: String,
}

#[step]
fn generate_a(instruction: &str) -> Generation {
    Generation {
        generation: format!("a: {instruction}"),
        model_name: "a".into(),
    }
}

#[step]
fn generate_b(instruction: &str) -> Generation {
    Generation {
        generation: format!("b: {instruction}"),
        model_name: "b".into(),
    }
}

#[step]
fn judge(generation: &str) -> Verdict {
    Verdict {
        verdict: generation.to_owned(),
    }
}

fn main() {
    let _pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        a = GenerateA::new(),
        b = GenerateB::new(),
        judge = Judge::new(),
        load >> [a, b] >> judge,
    };
}
