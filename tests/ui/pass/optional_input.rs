// `Option<T>` inputs: absent upstream is fine, and an optional column feeds an optional input.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct System {
    system_prompt: Option<String>,
}

#[derive(Row)]
struct Full {
    full: String,
}

#[step]
fn pick_system(instruction: &str) -> System {
    System {
        system_prompt: instruction.starts_with('!').then(|| "be loud".to_owned()),
    }
}

#[step]
fn render(instruction: &str, system_prompt: Option<String>, context: Option<&str>) -> Full {
    Full {
        full: format!(
            "{}|{}|{instruction}",
            system_prompt.unwrap_or_default(),
            context.unwrap_or("-")
        ),
    }
}

fn main() {
    let pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(vec![]),
        system = PickSystem::new(),
        render = Render::new(),
        load >> system >> render,
    };
    pipeline.validate().unwrap();
}
