//! `pipeline.yaml`: the pipeline's name, description, steps (type, settings and runtime
//! parameters), connections, routing and the distil version, written by hand (the format is
//! small); [`Pipeline::save`] writes the same document as YAML or JSON.
//!
//! Values are written as JSON, which is valid YAML. A field named as a secret
//! ([`is_secret_field`](crate::secret::is_secret_field), at any depth) is written as null, never its value; names
//! are matched whole, so `max_new_tokens` or `key_column` keep their values.

use std::fmt::Write;

use serde_json::{Map, json};

use crate::Value;
use crate::pipeline::Pipeline;
use crate::secret::is_secret_field as is_secret;

/// The value with every secret field nulled.
fn redacted(name: &str, value: &Value) -> Value {
    if is_secret(name) {
        return Value::Null;
    }
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), redacted(k, v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| redacted("", v)).collect()),
        other => other.clone(),
    }
}

fn quoted(text: &str) -> String {
    Value::from(text).to_string()
}

/// What `pipeline.yaml` (and a pipeline saved as JSON) holds: the distil version, then the
/// pipeline's name, description, steps (type, settings, runtime parameters, mappings),
/// connections and routing, every secret field nulled. Call it before a run takes its routers.
pub(crate) fn document(pipeline: &Pipeline) -> Value {
    let names: Vec<&str> = pipeline.step_names().collect();
    let steps: Vec<Value> = pipeline
        .nodes
        .iter()
        .zip(pipeline.params())
        .map(|(node, (_, params))| {
            let mut step = Map::new();
            step.insert("name".into(), Value::from(node.name.as_str()));
            step.insert(
                "type_name".into(),
                Value::from(node.spec.type_name.as_str()),
            );
            if let Some(Value::Object(entries)) = node.step.as_ref().and_then(|s| s.describe()) {
                for (name, value) in &entries {
                    if STEP_KEYS.contains(&name.as_str()) {
                        continue;
                    }
                    step.insert(name.clone(), redacted(name, value));
                }
            }
            // A task's own parameter comes before a generation parameter of the same name
            // (EvolInstruct's `seed`), and is the one a file sets.
            let mut own = Map::new();
            for (name, value) in &params {
                if !own.contains_key(name) {
                    own.insert(name.clone(), redacted(name, value));
                }
            }
            let params = own;
            step.insert("runtime_parameters".into(), Value::Object(params));
            for (label, mappings) in [
                ("input_mappings", &node.options.input_mappings),
                ("output_mappings", &node.options.output_mappings),
            ] {
                let mappings: Map<String, Value> = mappings
                    .iter()
                    .map(|(from, to)| (from.clone(), Value::from(to.as_str())))
                    .collect();
                step.insert(label.into(), Value::Object(mappings));
            }
            step.insert("use_cache".into(), Value::Bool(node.options.use_cache));
            Value::Object(step)
        })
        .collect();
    let connections: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let to: Vec<&str> = pipeline
                .edges
                .iter()
                .filter(|(from, _)| *from == index)
                .map(|&(_, to)| names[to])
                .collect();
            json!({ "from": name, "to": to })
        })
        .collect();
    let routing: Vec<Value> = pipeline
        .routes
        .iter()
        .map(|route| {
            let to: Vec<&str> = route.targets.iter().map(|&t| names[t]).collect();
            json!({ "from": names[route.from], "router": route.router.name(), "to": to })
        })
        .collect();
    json!({
        "distil": { "version": env!("CARGO_PKG_VERSION") },
        "pipeline": {
            "name": pipeline.name(),
            "description": pipeline.description(),
            "steps": steps,
            "connections": connections,
            "routing": routing,
        },
    })
}

/// The YAML of `pipeline` (call before a run takes its routers).
pub(crate) fn render(pipeline: &Pipeline) -> String {
    yaml(&document(pipeline))
}

/// `document` as YAML: the two top levels, the lists of steps, connections and routes and each
/// of their entries in block style, every value beyond in JSON (which is YAML too), so a
/// reader sees one setting per line.
pub(crate) fn yaml(document: &Value) -> String {
    let mut out = String::new();
    let Some(top) = document.as_object() else {
        return out;
    };
    for (section, body) in top {
        let _ = writeln!(out, "{section}:");
        let Some(body) = body.as_object() else {
            continue;
        };
        for (key, value) in body {
            match value {
                Value::Array(items) if items.iter().all(Value::is_object) => {
                    if items.is_empty() {
                        let _ = writeln!(out, "  {key}: []");
                        continue;
                    }
                    let _ = writeln!(out, "  {key}:");
                    for item in items {
                        write_entries(&mut out, item.as_object().expect("checked"));
                    }
                }
                other => {
                    let _ = writeln!(out, "  {key}: {other}");
                }
            }
        }
    }
    out
}

/// One item of a list of objects: `- first: ..` then its other entries; an object among them
/// (runtime parameters, mappings) one entry per line.
fn write_entries(out: &mut String, entries: &Map<String, Value>) {
    for (index, (name, value)) in entries.iter().enumerate() {
        let lead = if index == 0 { "  - " } else { "    " };
        // The fixed keys of the format are written bare, a step's own settings quoted.
        let key = if STEP_KEYS.contains(&name.as_str()) || EDGE_KEYS.contains(&name.as_str()) {
            name.clone()
        } else {
            quoted(name)
        };
        match value {
            Value::Object(map) if BLOCK_KEYS.contains(&name.as_str()) => {
                if map.is_empty() {
                    let _ = writeln!(out, "{lead}{key}: {{}}");
                    continue;
                }
                let _ = writeln!(out, "{lead}{key}:");
                for (inner, value) in map {
                    let secret = if value.is_null() && is_secret(inner) {
                        "  # secret: value left out"
                    } else {
                        ""
                    };
                    let _ = writeln!(out, "      {}: {value}{secret}", quoted(inner));
                }
            }
            _ => {
                let _ = writeln!(out, "{lead}{key}: {value}");
            }
        }
    }
}

/// Keys of a step's entry in the format itself, beside which a step records its own settings.
pub(crate) const STEP_KEYS: &[&str] = &[
    "name",
    "type_name",
    "runtime_parameters",
    "input_mappings",
    "output_mappings",
    "use_cache",
];

/// Keys of a connection's or a route's entry.
const EDGE_KEYS: &[&str] = &["from", "to", "router"];

/// The objects written one entry per line.
const BLOCK_KEYS: &[&str] = &["runtime_parameters", "input_mappings", "output_mappings"];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_left_out_by_whole_name_at_any_depth() {
        assert!(is_secret("api_key") && is_secret("HF_TOKEN") && is_secret("x-api-key"));
        for kept in [
            "temperature",
            "max_new_tokens",
            "key_column",
            "tokenizer",
            "num_tokens",
        ] {
            assert!(!is_secret(kept), "{kept}");
        }
        let value = json!({
            "max_new_tokens": 512,
            "headers": {"Authorization": "Bearer s3cr3t"},
            "extra": [{"password": "hunter2", "top_k": 5}],
        });
        assert_eq!(
            redacted("generation_kwargs", &value),
            json!({
                "max_new_tokens": 512,
                "headers": {"Authorization": null},
                "extra": [{"password": null, "top_k": 5}],
            })
        );
    }
}
