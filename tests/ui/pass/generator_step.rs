// A generator-form step with a runtime parameter, feeding a step that reads its column.
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
fn count_to(#[param] n: u64) -> impl Iterator<Item = Number> {
    (0..n).map(|n| Number { n })
}

#[step(generator)]
fn fixed() -> Vec<Number> {
    vec![Number { n: 1 }]
}

#[step]
fn square(n: u64) -> Squared {
    Squared { square: n * n }
}

fn main() {
    let pipeline = pipeline! {
        gen = CountTo::new().n(10),
        sq = Square::new(),
        gen >> sq,
    };
    pipeline.validate().unwrap();
    let _other = pipeline! {
        gen = Fixed::new(),
        sq = Square::new(),
        gen >> sq,
    };
}
