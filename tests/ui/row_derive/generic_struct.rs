// A generic row: its columns would have no fixed type.
use distil::prelude::*;

#[derive(Row)]
struct Labeled<T> {
    label: T,
}

fn main() {
    let _load = distil::steps::LoadDataFromDicts::new(vec![Labeled { label: 1u64 }]);
}
