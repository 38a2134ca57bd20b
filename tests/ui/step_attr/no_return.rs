// A step that returns nothing has no output columns and filters nothing.
use distil::prelude::*;

#[step]
fn log(instruction: &str) {
    println!("{instruction}");
}

fn main() {
    let _step = Log::new();
}
