// Columns named by keywords (`type`), by names that are no identifiers (`char-count`), and like a
// type the pipeline names (`Prompt`): the compile-time checks still hold.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    r#type: String,
    #[row(rename = "char-count")]
    chars: u64,
    #[row(rename = "Prompt")]
    prompt: String,
}

#[derive(Row)]
struct Out {
    out: String,
}

#[step]
fn describe(
    r#type: &str,
    #[column("char-count")] chars: u64,
    #[column("Prompt")] prompt: &str,
) -> Out {
    Out {
        out: format!("{type}:{chars}:{prompt}", type = r#type),
    }
}

fn main() {
    let rows = vec![Prompt {
        r#type: "q".into(),
        chars: 2,
        prompt: "hi".into(),
    }];
    let pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(rows),
        describe = Describe::new(),
        load >> describe,
    };
    pipeline.validate().unwrap();
}
