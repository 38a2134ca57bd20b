//! Runtime parameters: read, merged and reported by name.

use crate::Value;

/// The current value of a runtime parameter.
pub fn param_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Sets a runtime parameter; an object is merged into the current object, key by key.
pub fn set_param<T: serde::Serialize + serde::de::DeserializeOwned>(
    slot: &mut T,
    name: &str,
    value: Value,
) -> Result<(), String> {
    let merged = match (param_value(slot), value) {
        (Value::Object(mut current), Value::Object(new)) => {
            current.extend(new);
            Value::Object(current)
        }
        (_, new) => new,
    };
    *slot =
        serde_json::from_value(merged).map_err(|e| format!("runtime parameter `{name}`: {e}"))?;
    Ok(())
}

/// The message of an unknown runtime parameter.
pub fn unknown_param(name: &str, known: &[&str]) -> String {
    if known.is_empty() {
        format!("has no runtime parameter `{name}` (it has none)")
    } else {
        let known: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
        format!(
            "has no runtime parameter `{name}`; it has {}",
            known.join(", ")
        )
    }
}
