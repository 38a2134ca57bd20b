// Routed branches rejoined: a column of one branch is read as `Option<_>`, a column every branch
// writes is read as is, `generation` from branches that each row takes only one of is no
// collision, and a global step after the full join sees every row.
use distil::prelude::*;
use distil::steps::LoadDataFromDicts;

#[derive(Row)]
struct Prompt {
    instruction: String,
}

#[derive(Row)]
struct Generation {
    generation: String,
    tag: String,
}

#[derive(Row)]
struct Extra {
    generation: String,
    tag: String,
    extra: String,
}

#[derive(Row)]
struct Verdict {
    verdict: String,
}

#[derive(Row)]
struct Share {
    share: f64,
}

#[step]
fn generate_a(instruction: &str) -> Generation {
    Generation {
        generation: format!("a: {instruction}"),
        tag: "a".into(),
    }
}

#[step]
fn generate_b(instruction: &str) -> Extra {
    Extra {
        generation: format!("b: {instruction}"),
        tag: "b".into(),
        extra: "only b".into(),
    }
}

#[step]
fn judge(generation: &str, extra: Option<&str>) -> Verdict {
    Verdict {
        verdict: format!("{generation}|{}", extra.unwrap_or("-")),
    }
}

#[step(global)]
fn share_of_total(verdict: Vec<String>) -> Vec<Share> {
    let total = verdict.iter().map(String::len).sum::<usize>().max(1);
    verdict
        .iter()
        .map(|v| Share {
            share: v.len() as f64 / total as f64,
        })
        .collect()
}

fn main() {
    let prompts = (0..6).map(|i| Prompt {
        instruction: i.to_string(),
    });
    let mut pipeline = pipeline! {
        load = LoadDataFromDicts::<Prompt>::new(prompts), batch_size: 1,
        a = GenerateA::new(),
        b = GenerateB::new(),
        judge = Judge::new(),
        share = ShareOfTotal::new(),
        load >> sample_n_steps(1) >> [a, b] >> judge >> share,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let distiset = runtime
        .block_on(pipeline.run_with(RunOptions::new().seed(3)))
        .unwrap();
    // Every row took one branch and reached the global step.
    assert_eq!(distiset.total_rows(), 6);
}
