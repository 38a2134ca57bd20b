// A generator has no input columns: its configuration is `#[param]`.
use distil::prelude::*;

#[derive(Row)]
struct Number {
    n: u64,
}

#[derive(Row)]
struct Squared {
    square: u64,
}

#[step(generator)]
fn count_to(limit: u64) -> impl Iterator<Item = Number> {
    (0..limit).map(|n| Number { n })
}

#[step]
fn square(n: u64) -> Squared {
    Squared { square: n * n }
}

fn main() {
    let _pipeline = pipeline! {
        gen = CountTo::new(),
        sq = Square::new(),
        gen >> sq,
    };
}
