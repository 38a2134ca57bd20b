//! Curates an instruction set into preference (DPO) pairs, fully offline.
//!
//! load -> clean -> three quality signals in parallel (fan-out) -> joined by row id (fan-in)
//! -> quality filter -> percentile over the whole dataset (a global step) -> each batch routed
//! to 2 of 3 response drafters -> their drafts grouped per row -> rated -> formatted for DPO
//! -> the columns worth keeping.
//!
//! The drafters and the judge are templates standing in for LLMs, so the example runs anywhere
//! in a second; in a real pipeline they are LLM tasks (TextGeneration on `LocalLlm`, the
//! embedded model the quickstart uses, or on a server), and the pipeline around them stays the
//! same.
//!
//! Run with `cargo run --example curate`: the Distiset is saved in the Hub's layout to the
//! directory given as the first argument, else `$DISTIL_CURATE_DIR`, else
//! `target/curate-distiset` (`tests/python/check_distiset.py` reads it with `datasets`).

use std::time::Instant;

use distil::prelude::*;
use distil::steps::{FormatTextGenerationDPO, GroupColumns, KeepColumns, LoadDataFromDicts};
use serde::Deserialize;

/// One line of `examples/data/instructions.jsonl`.
#[derive(Row, Deserialize)]
struct Instruction {
    id: String,
    instruction: String,
    category: String,
}

#[derive(Row)]
struct Cleaned {
    instruction: String,
}

#[derive(Row)]
struct LengthScore {
    length_score: f64,
}

#[derive(Row)]
struct Diversity {
    diversity_score: f64,
}

#[derive(Row)]
struct Shape {
    is_request: bool,
}

#[derive(Row)]
struct QualityScore {
    quality: f64,
}

#[derive(Row)]
struct QualityRank {
    quality_percentile: f64,
}

#[derive(Row)]
struct Draft {
    generation: String,
    model_name: String,
}

#[derive(Row)]
struct Ratings {
    ratings: Vec<Option<f64>>,
}

/// Collapses runs of whitespace and capitalizes the first letter.
#[step]
fn clean(instruction: &str) -> Cleaned {
    let words: Vec<&str> = instruction.split_whitespace().collect();
    let mut text = words.join(" ");
    if let Some(first) = text.get(0..1) {
        text = first.to_uppercase() + &text[1..];
    }
    Cleaned { instruction: text }
}

/// Prefers instructions of 6 to 30 words.
#[step]
fn length_signal(instruction: &str) -> LengthScore {
    let words = instruction.split_whitespace().count() as f64;
    let length_score = if words < 6.0 {
        words / 6.0
    } else {
        (30.0 / words).min(1.0)
    };
    LengthScore { length_score }
}

/// Type-token ratio: repetitive instructions score low.
#[step]
fn diversity_signal(instruction: &str) -> Diversity {
    let words: Vec<String> = instruction
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let mut unique = words.clone();
    unique.sort();
    unique.dedup();
    let diversity_score = if words.is_empty() {
        0.0
    } else {
        unique.len() as f64 / words.len() as f64
    };
    Diversity { diversity_score }
}

/// Whether the instruction asks for something: a question or an imperative.
#[step]
fn shape_signal(instruction: &str) -> Shape {
    const VERBS: [&str; 10] = [
        "explain",
        "write",
        "give",
        "describe",
        "summarize",
        "translate",
        "suggest",
        "compose",
        "compare",
        "how",
    ];
    let first = instruction
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_lowercase();
    Shape {
        is_request: instruction.ends_with('?') || VERBS.contains(&first.as_str()),
    }
}

/// Joins the three signals (the runtime joins the branches by row id) and drops weak rows.
#[step]
fn quality(
    length_score: f64,
    diversity_score: f64,
    is_request: bool,
    #[param(default = 0.6)] threshold: f64,
) -> Option<QualityScore> {
    let quality = 0.5 * length_score + 0.3 * diversity_score + if is_request { 0.2 } else { 0.0 };
    (quality >= threshold).then_some(QualityScore { quality })
}

/// Where each row's quality stands among all rows: needs the whole dataset at once.
#[step(global)]
fn percentile(quality: Vec<f64>) -> Vec<QualityRank> {
    let mut sorted = quality.clone();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len().max(1) as f64;
    quality
        .iter()
        .map(|q| QualityRank {
            quality_percentile: sorted.partition_point(|x| x < q) as f64 / n,
        })
        .collect()
}

#[step]
fn concise(instruction: &str, category: &str) -> Draft {
    Draft {
        generation: format!(
            "In short ({category}): {}",
            instruction.trim_end_matches('?')
        ),
        model_name: "concise-template".into(),
    }
}

#[step]
fn detailed(instruction: &str, category: &str) -> Draft {
    Draft {
        generation: format!(
            "Let us take this step by step. The request \"{instruction}\" is about {category}. \
             First, the background; then the key idea; finally, an example that makes it concrete."
        ),
        model_name: "detailed-template".into(),
    }
}

#[step]
fn socratic(instruction: &str) -> Result<Draft, String> {
    if instruction.len() < 12 {
        return Err(format!("too little to ask about in {instruction:?}"));
    }
    Ok(Draft {
        generation: format!("What do you already know about: {instruction}"),
        model_name: "socratic-template".into(),
    })
}

/// A stand-in judge: rewards drafts that reuse the instruction's words and explain more.
#[step]
fn rate(instruction: &str, generations: Vec<Option<String>>) -> Ratings {
    let words: Vec<String> = instruction
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let ratings = generations
        .iter()
        .map(|g| {
            g.as_ref().map(|g| {
                let g = g.to_lowercase();
                let overlap = words.iter().filter(|w| g.contains(w.as_str())).count() as f64;
                let score =
                    overlap / words.len().max(1) as f64 * 5.0 + (g.len() as f64 / 40.0).min(5.0);
                (score * 10.0).round() / 10.0
            })
        })
        .collect();
    Ratings { ratings }
}

#[tokio::main]
async fn main() -> distil::Result<()> {
    // RUST_LOG=distil=debug (or trace) shows what the runtime logs.
    distil::logging::init();
    let instructions: Vec<Instruction> = include_str!("data/instructions.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).expect("the bundled data is valid JSON"))
        .collect();
    let loaded = instructions.len();

    let mut pipeline = pipeline! {
        name: "curate-preferences",
        description: "Scores, filters and drafts responses to an instruction set, then formats DPO pairs.",
        load = LoadDataFromDicts::<Instruction>::new(instructions),
            batch_size: 8,
        clean = Clean::new(),
        length = LengthSignal::new(),
        lexical = DiversitySignal::new(),
        shape = ShapeSignal::new(),
        quality = Quality::new().threshold(0.6),
        rank = Percentile::new(),
        concise = Concise::new(),
        detailed = Detailed::new(),
        socratic = Socratic::new(),
        group = GroupColumns::new(["generation", "model_name"]).output_columns(["generations", "generation_models"]),
        rate = Rate::new(),
        dpo = FormatTextGenerationDPO::new(),
        keep = KeepColumns::new([
            "id", "category", "quality", "prompt", "prompt_id", "chosen", "chosen_model",
            "chosen_rating", "rejected", "rejected_model", "rejected_rating",
        ]),
        load >> clean >> [length, lexical, shape] >> quality >> rank,
        rank >> sample_n_steps(2) >> [concise, detailed, socratic],
        [concise, detailed, socratic] >> group >> rate >> dpo >> keep,
    };

    let start = Instant::now();
    let distiset = pipeline.run_with(RunOptions::new().seed(42)).await?;
    let rows = distiset
        .default_config()
        .expect("one leaf step, one config");
    println!(
        "(the drafters and the judge are templates standing in for LLMs; \
         `cargo run --example quickstart` generates with the embedded one)"
    );
    println!(
        "{loaded} instructions -> {} preference pairs in {:.1} ms",
        rows.len(),
        start.elapsed().as_secs_f64() * 1000.0
    );
    println!("columns: {}", rows.column_names().join(", "));
    let failed = rows
        .column(distil::METADATA_COLUMN)
        .filter(|m| !m.is_null())
        .count();
    println!("rows with a recorded error: {failed}");
    // Rows, failed rows, cache hits, requests and tokens per LLM, wall time.
    if let Some(summary) = pipeline.summary() {
        print!("{summary}");
    }
    if let Some(first) = rows.rows().next() {
        println!("{}", serde_json::to_string_pretty(&first).expect("JSON"));
    }
    let target = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("DISTIL_CURATE_DIR").ok())
        .unwrap_or_else(|| "target/curate-distiset".to_owned());
    distiset.save_to_disk(&target)?;
    // Saving copies the run: say where both copies are, and how to drop the cached one.
    println!(
        "saved to {target}; the run's own copy is in {} (`distil cache rm` removes it)",
        distiset.dir().display()
    );
    Ok(())
}
