//! Each example's pipeline run end to end against a loopback OpenAI-compatible server with
//! canned answers: its Distiset's columns and row count checked.
//!
//! The examples' pipeline-building functions are compiled into this test (`#[path]`
//! modules), with the LLM pointed at the server: running `cargo run --example` as a process
//! would build every example again per test, and the functions are what the binaries run.

// Each example is a program of its own, with its own copy of examples/common.
#![allow(clippy::duplicate_mod)]

#[path = "support/canned_llm.rs"]
mod canned_llm;

#[path = "../examples/fan_out_combine.rs"]
#[allow(dead_code)]
mod fan_out_combine;
#[path = "../examples/preference_dpo.rs"]
#[allow(dead_code)]
mod preference_dpo;
#[path = "../examples/prometheus_eval.rs"]
#[allow(dead_code)]
mod prometheus_eval;
#[path = "../examples/sft_evol.rs"]
#[allow(dead_code)]
mod sft_evol;

use canned_llm::CannedLlm;
use std::sync::Arc;

use distil::llm::{Llm, OpenAi};
use distil::{Distiset, Value};

fn at(server: &CannedLlm, model: &str) -> Arc<dyn Llm> {
    Arc::new(OpenAi::new(model).base_url(&server.v1).no_proxy())
}

fn columns(distiset: &Distiset) -> Vec<String> {
    distiset
        .default_config()
        .unwrap()
        .column_names()
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn has(distiset: &Distiset, wanted: &[&str]) {
    let have = columns(distiset);
    for column in wanted {
        assert!(
            have.iter().any(|c| c == column),
            "no `{column}` in {have:?}"
        );
    }
}

fn no_errors(distiset: &Distiset) {
    let rows = distiset.default_config().unwrap();
    let errors: Vec<&Value> = rows
        .column(distil::METADATA_COLUMN)
        .filter_map(|m| m.get("errors"))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test]
async fn prometheus_eval_grades_every_row() {
    let server = CannedLlm::start().await;
    let distiset = prometheus_eval::pipeline(at(&server, "prometheus"))
        .run()
        .await
        .unwrap();
    let rows = distiset.default_config().unwrap();
    assert_eq!(rows.len(), prometheus_eval::rows().len());
    assert_eq!(
        columns(&distiset)
            .into_iter()
            .filter(|c| c != distil::METADATA_COLUMN)
            .collect::<Vec<_>>(),
        [
            "instruction",
            "generation",
            "feedback",
            "result",
            "model_name"
        ]
    );
    assert!(rows.column("result").all(|r| *r == 4));
    no_errors(&distiset);
}

#[tokio::test]
async fn fan_out_combines_three_llms_and_sampling_keeps_two() {
    let server = CannedLlm::start().await;
    let llms = || ["a", "b", "c"].map(|m| at(&server, m)).to_vec();
    let all = fan_out_combine::pipeline(llms(), None).run().await.unwrap();
    has(&all, &["instruction", "generations", "model_names"]);
    let rows = all.default_config().unwrap();
    assert_eq!(rows.len(), fan_out_combine::rows().len());
    for names in rows.column("model_names") {
        assert_eq!(*names, serde_json::json!(["a", "b", "c"]));
    }
    let sampled = fan_out_combine::pipeline(llms(), Some(2))
        .run()
        .await
        .unwrap();
    let rows = sampled.default_config().unwrap();
    assert_eq!(rows.len(), fan_out_combine::rows().len());
    for generations in rows.column("generations") {
        assert_eq!(generations.as_array().unwrap().len(), 2, "{generations}");
    }
}

#[tokio::test]
async fn preference_dpo_rates_and_pairs() {
    let server = CannedLlm::start().await;
    let generators = vec![at(&server, "gen-a"), at(&server, "gen-b")];
    let distiset = preference_dpo::pipeline(generators, at(&server, "judge"))
        .run()
        .await
        .unwrap();
    has(
        &distiset,
        &[
            "prompt",
            "prompt_id",
            "chosen",
            "rejected",
            "chosen_rating",
            "rejected_rating",
        ],
    );
    let rows = distiset.default_config().unwrap();
    assert_eq!(rows.len(), preference_dpo::rows().len());
    no_errors(&distiset);
    let first = rows.rows().next().unwrap();
    // The canned judge rates the first text 5 and the others 2.
    assert!(
        first["chosen"][1]["content"]
            .as_str()
            .unwrap()
            .starts_with("gen-a answers"),
        "{first:?}"
    );
}

#[tokio::test]
async fn sft_evol_answers_evolved_instructions() {
    let server = CannedLlm::start().await;
    let distiset = sft_evol::pipeline(at(&server, "evolver"))
        .run()
        .await
        .unwrap();
    has(
        &distiset,
        &[
            "prompt",
            "prompt_id",
            "messages",
            "evolved_instruction",
            "mutation",
        ],
    );
    let rows = distiset.default_config().unwrap();
    assert_eq!(rows.len(), sft_evol::rows().len());
    no_errors(&distiset);
    let first = rows.rows().next().unwrap();
    assert!(
        first["prompt"]
            .as_str()
            .unwrap()
            .ends_with("Explain each step."),
        "{first:?}"
    );
    assert_eq!(server.requests(), 2 * sft_evol::rows().len());
}
