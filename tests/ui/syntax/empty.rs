// A pipeline without steps.
use distil::prelude::*;

fn main() {
    let _pipeline = pipeline! {
        name: "nothing",
    };
}
