//! `pipeline.yaml`: the pipeline's name, description, steps (type and runtime parameters),
//! connections, routing and the distil version, written by hand (the format is small).
//!
//! Values are written as JSON, which is valid YAML. A parameter whose name contains `key`,
//! `token`, `secret` or `password` (in any case, at any depth) is a secret: its value is
//! written as null, never the value itself.

use std::fmt::Write;

use crate::Value;
use crate::pipeline::Pipeline;

/// Whether a parameter's value must stay out of files.
pub(crate) fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["key", "token", "secret", "password"]
        .iter()
        .any(|word| name.contains(word))
}

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

/// The YAML of `pipeline` (call before a run takes its routers).
pub(crate) fn render(pipeline: &Pipeline) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "distil:\n  version: {}",
        quoted(env!("CARGO_PKG_VERSION"))
    );
    let _ = writeln!(out, "pipeline:\n  name: {}", quoted(pipeline.name()));
    let description = pipeline.description().map_or("null".to_owned(), quoted);
    let _ = writeln!(out, "  description: {description}");
    out.push_str("  steps:\n");
    let params = pipeline.params();
    for (node, (_, params)) in pipeline.nodes.iter().zip(params) {
        let _ = writeln!(out, "  - name: {}", quoted(&node.name));
        let _ = writeln!(out, "    type_name: {}", quoted(&node.spec.type_name));
        let described = node.step.as_ref().and_then(|step| step.describe());
        if let Some(Value::Object(entries)) = described {
            for (name, value) in &entries {
                let _ = writeln!(out, "    {}: {}", quoted(name), redacted(name, value));
            }
        }
        if params.is_empty() {
            out.push_str("    runtime_parameters: {}\n");
        } else {
            out.push_str("    runtime_parameters:\n");
        }
        for (name, value) in &params {
            let secret = if is_secret(name) {
                "  # secret: value left out"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "      {}: {}{secret}",
                quoted(name),
                redacted(name, value)
            );
        }
        for (label, mappings) in [
            ("input_mappings", &node.options.input_mappings),
            ("output_mappings", &node.options.output_mappings),
        ] {
            if mappings.is_empty() {
                let _ = writeln!(out, "    {label}: {{}}");
            } else {
                let _ = writeln!(out, "    {label}:");
                for (from, to) in mappings {
                    let _ = writeln!(out, "      {}: {}", quoted(from), quoted(to));
                }
            }
        }
    }
    let names: Vec<&str> = pipeline.step_names().collect();
    out.push_str("  connections:\n");
    for (index, name) in names.iter().enumerate() {
        let to: Vec<String> = pipeline
            .edges
            .iter()
            .filter(|(from, _)| *from == index)
            .map(|&(_, to)| quoted(names[to]))
            .collect();
        let _ = writeln!(
            out,
            "  - from: {}\n    to: [{}]",
            quoted(name),
            to.join(", ")
        );
    }
    if pipeline.routes.is_empty() {
        out.push_str("  routing: []\n");
    } else {
        out.push_str("  routing:\n");
        for route in &pipeline.routes {
            let targets: Vec<String> = route.targets.iter().map(|&t| quoted(names[t])).collect();
            let _ = writeln!(
                out,
                "  - from: {}\n    router: {}\n    to: [{}]",
                quoted(names[route.from]),
                quoted(route.router.name()),
                targets.join(", ")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_left_out_at_any_depth() {
        assert!(is_secret("api_key") && is_secret("HF_TOKEN") && is_secret("db_password"));
        assert!(!is_secret("temperature"));
        let value = json!({"temperature": 0.7, "auth": {"Secret": "s3cr3t"}});
        assert_eq!(
            redacted("generation_kwargs", &value),
            json!({"temperature": 0.7, "auth": {"Secret": null}})
        );
    }
}
