// A generator and 19 custom steps: a chain, a fan-out and a fan-in, with input and output
// mappings so the same step types read and write different columns. The pipeline runs.
use distil::prelude::*;

#[derive(Row)]
struct Number {
    n: u64,
}

#[derive(Row)]
struct Plus {
    plus: u64,
}

#[derive(Row)]
struct Times {
    times: u64,
}

#[derive(Row)]
struct Text {
    text: String,
}

#[derive(Row)]
struct Len {
    len: u64,
}

#[derive(Row)]
struct Sum {
    sum: u64,
}

#[step(generator)]
fn numbers(#[param(default = 5u64)] count: u64) -> impl Iterator<Item = Number> {
    (1..=count).map(|n| Number { n })
}

#[step]
fn add_one(n: u64) -> Plus {
    Plus { plus: n + 1 }
}

#[step]
fn double(n: u64) -> Times {
    Times { times: n * 2 }
}

#[step]
fn to_text(n: u64) -> Text {
    Text {
        text: "x".repeat(n as usize),
    }
}

#[step]
fn length(text: &str) -> Len {
    Len {
        len: text.len() as u64,
    }
}

#[step]
fn add(a: u64, b: u64) -> Sum {
    Sum { sum: a + b }
}

fn main() {
    let mut pipeline = pipeline! {
        name: "twenty",
        gen = Numbers::new(),
        s01 = AddOne::new(), outputs { plus => n1 },
        s02 = AddOne::new(), inputs { n => n1 }, outputs { plus => n2 },
        s03 = AddOne::new(), inputs { n => n2 }, outputs { plus => n3 },
        s04 = Double::new(), inputs { n => n3 }, outputs { times => n4 },
        s05 = AddOne::new(), inputs { n => n4 }, outputs { plus => n5 },
        s06 = Double::new(), inputs { n => n5 }, outputs { times => n6 },
        // Fan-out: three branches from s06.
        s07 = ToText::new(), inputs { n => n6 }, outputs { text => t7 },
        s08 = Length::new(), inputs { text => t7 }, outputs { len => l8 },
        s09 = AddOne::new(), inputs { n => l8 }, outputs { plus => b1 },
        s10 = Double::new(), inputs { n => n6 }, outputs { times => n10 },
        s11 = AddOne::new(), inputs { n => n10 }, outputs { plus => b2 },
        s12 = AddOne::new(), inputs { n => n6 }, outputs { plus => n12 },
        s13 = Double::new(), inputs { n => n12 }, outputs { times => b3 },
        // Fan-in: the branches join by row id.
        s14 = Add::new(), inputs { a => b1, b => b2 }, outputs { sum => s14 },
        s15 = Add::new(), inputs { a => s14, b => b3 }, outputs { sum => s15 },
        s16 = ToText::new(), inputs { n => s15 }, outputs { text => t16 },
        s17 = Length::new(), inputs { text => t16 }, outputs { len => l17 },
        s18 = AddOne::new(), inputs { n => l17 }, outputs { plus => n18 },
        s19 = Add::new(), inputs { a => n18, b => n },
        gen >> s01 >> s02 >> s03 >> s04 >> s05 >> s06 >> [s07, s10, s12],
        s07 >> s08 >> s09,
        s10 >> s11,
        s12 >> s13,
        [s09, s11, s13] >> s14 >> s15 >> s16 >> s17 >> s18 >> s19,
    };
    assert_eq!(pipeline.step_names().count(), 20);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let distiset = runtime.block_on(pipeline.run()).unwrap();
    let rows = distiset.default_config().unwrap();
    // n = 1: n1..n3 = 2, 3, 4; n4 = 8; n5 = 9; n6 = 18;
    // b1 = 18 + 1 = 19; b2 = 36 + 1 = 37; b3 = 19 * 2 = 38; s14 = 56; s15 = 94;
    // l17 = 94; n18 = 95; sum = 95 + 1 = 96.
    assert_eq!(rows.column("sum").next(), Some(&serde_json::json!(96)));
    assert_eq!(rows.len(), 5);
}
