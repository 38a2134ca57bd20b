// `crate = ".."` written as serde writes it: distil's option takes a path.
use distil::prelude::*;

#[derive(Row)]
struct Out {
    text: String,
}

#[step(crate = "distil")]
fn upper(text: &str) -> Out {
    Out {
        text: text.to_uppercase(),
    }
}

fn main() {}
