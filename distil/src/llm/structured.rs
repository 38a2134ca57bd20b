//! Structured output (feature `structured`): a Rust type deriving [`JsonSchema`] and
//! `Deserialize` becomes the response format of a request, in the strict form OpenAI's
//! `json_schema` mode accepts, and the generation is parsed back into it.
//!
//! [`response_format`] is what [`GenerationParams::response_format`] holds:
//! `{"name": .., "schema": ..}`. The OpenAI-compatible clients send it as
//! `response_format: {type: "json_schema", json_schema: {name, schema, strict: true}}`;
//! [`Anthropic`](super::Anthropic) forces a tool whose input is the schema and returns that
//! input as the generation. [`StructuredGeneration`](crate::tasks::StructuredGeneration) and
//! `#[task(structured)]` set it for you.
//!
//! ```
//! use distil::llm::GenerationParams;
//! use distil::llm::structured::{self, JsonSchema};
//! use serde::Deserialize;
//!
//! #[derive(JsonSchema, Deserialize)]
//! # #[schemars(crate = "distil::llm::structured::schemars")]
//! struct Answer {
//!     /// The answer, in one sentence.
//!     answer: String,
//!     confidence: Option<f64>,
//! }
//!
//! let params = GenerationParams {
//!     response_format: Some(structured::response_format::<Answer>()),
//!     ..GenerationParams::default()
//! };
//! let format = params.response_format.unwrap();
//! assert_eq!(format["name"], "Answer");
//! assert_eq!(format["schema"]["additionalProperties"], false);
//! assert_eq!(format["schema"]["required"], serde_json::json!(["answer", "confidence"]));
//!
//! let answer: Answer = structured::parse(r#"{"answer": "42", "confidence": null}"#).unwrap();
//! assert_eq!((answer.answer.as_str(), answer.confidence), ("42", None));
//! ```
//!
//! A type deriving `JsonSchema` in a crate that depends on `schemars` itself needs nothing
//! more; through this module's re-export, say where the crate is:
//! `#[schemars(crate = "distil::llm::structured::schemars")]`.

use serde::de::DeserializeOwned;
use serde_json::{Map, json};

use crate::Value;

#[cfg(doc)]
use super::GenerationParams;

/// The `schemars` crate this module builds on (version 1).
pub use schemars;
/// Derive it (with `Deserialize`) on a type to use it as structured output.
pub use schemars::JsonSchema;

/// The response format for `T`: `{"name": <T's schema name>, "schema": <strict schema>}`, as
/// [`GenerationParams::response_format`] holds it. The name is what the type calls itself in
/// its schema (`Answer`), kept to the characters and length the APIs allow.
///
/// ```
/// # use distil::llm::structured::{self, JsonSchema};
/// #[derive(JsonSchema)]
/// # #[schemars(crate = "distil::llm::structured::schemars")]
/// struct Rating { score: u8 }
///
/// let format = structured::response_format::<Rating>();
/// assert_eq!(format["name"], "Rating");
/// assert_eq!(format["schema"]["properties"]["score"]["type"], "integer");
/// ```
pub fn response_format<T: JsonSchema + ?Sized>() -> Value {
    json!({ "name": format_name(&T::schema_name()), "schema": strict_schema::<T>() })
}

/// `T`'s JSON schema in the strict form structured output takes (see [`make_strict`]).
pub fn strict_schema<T: JsonSchema + ?Sized>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.meta_schema = None)
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    make_strict(&mut schema);
    schema
}

/// Rewrites a JSON schema into the subset OpenAI's strict mode accepts (other servers that
/// take `json_schema` accept it too):
///
/// - every object says `additionalProperties: false` and lists all its properties in
///   `required` (an `Option<T>` field stays nullable: `"type": ["string", "null"]`, or
///   `anyOf` with `{"type": "null"}`, so the model answers `null` for it);
/// - `$schema`, `default`, `examples` and `format`s other than `date-time`, `date`, `time`,
///   `duration`, `email`, `hostname`, `ipv4`, `ipv6` and `uuid` (schemars' `int64`,
///   `uint8`, `double`, ..) are removed;
/// - `oneOf` becomes `anyOf`, `const: x` becomes `enum: [x]`, and a `$ref` loses its sibling
///   keywords (a field's doc comment next to a reference).
///
/// An object whose values are described by a schema (a `HashMap<String, T>`) keeps it:
/// strict mode cannot express maps, so prefer a struct or a list of pairs. The root must be an
/// object too (a struct, not an enum or a list) for OpenAI and for Anthropic's tool input.
///
/// ```
/// use serde_json::json;
///
/// let mut schema = json!({
///     "$schema": "https://json-schema.org/draft/2020-12/schema",
///     "type": "object",
///     "properties": {"n": {"type": "integer", "format": "uint32"}, "tag": {"type": ["string", "null"]}},
///     "required": ["n"]
/// });
/// distil::llm::structured::make_strict(&mut schema);
/// assert_eq!(schema, json!({
///     "type": "object",
///     "properties": {"n": {"type": "integer"}, "tag": {"type": ["string", "null"]}},
///     "required": ["n", "tag"],
///     "additionalProperties": false
/// }));
/// ```
pub fn make_strict(schema: &mut Value) {
    match schema {
        Value::Object(map) => strict_object(map),
        Value::Array(items) => items.iter_mut().for_each(make_strict),
        _ => {}
    }
}

/// Keywords strict mode rejects, removed wherever they are.
const REMOVED: [&str; 4] = ["$schema", "default", "examples", "unevaluatedProperties"];

/// The `format`s strict mode accepts.
const FORMATS: [&str; 9] = [
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

/// Keywords whose value is a schema, a list of schemas, or a map of names to schemas.
const SUBSCHEMA: [&str; 8] = [
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
];
const SUBSCHEMA_LISTS: [&str; 4] = ["anyOf", "allOf", "oneOf", "prefixItems"];
const SUBSCHEMA_MAPS: [&str; 4] = ["properties", "$defs", "definitions", "patternProperties"];

fn strict_object(map: &mut Map<String, Value>) {
    if map.contains_key("$ref") {
        map.retain(|key, _| key == "$ref");
        return;
    }
    for key in REMOVED {
        map.remove(key);
    }
    if map
        .get("format")
        .and_then(Value::as_str)
        .is_none_or(|format| !FORMATS.contains(&format))
    {
        map.remove("format");
    }
    if !map.contains_key("anyOf")
        && let Some(one_of) = map.remove("oneOf")
    {
        map.insert("anyOf".to_owned(), one_of);
    }
    if !map.contains_key("enum")
        && let Some(value) = map.remove("const")
    {
        map.insert("enum".to_owned(), Value::Array(vec![value]));
    }
    let is_object = map.contains_key("properties")
        || match map.get("type") {
            Some(Value::String(t)) => t == "object",
            Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
            _ => false,
        };
    if is_object {
        if let Some(Value::Object(properties)) = map.get("properties") {
            let required: Vec<Value> = properties.keys().cloned().map(Value::String).collect();
            map.insert("required".to_owned(), Value::Array(required));
        }
        match map.get("additionalProperties") {
            Some(Value::Object(_)) => {}
            _ => {
                map.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
        }
    }
    for key in SUBSCHEMA.iter().chain(&SUBSCHEMA_LISTS) {
        if let Some(sub) = map.get_mut(*key) {
            make_strict(sub);
        }
    }
    for key in SUBSCHEMA_MAPS {
        if let Some(Value::Object(subs)) = map.get_mut(key) {
            subs.values_mut().for_each(make_strict);
        }
    }
}

/// A schema name as the APIs take it: letters, digits, `_` and `-`, at most 64 characters.
fn format_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if cleaned.is_empty() {
        "output".to_owned()
    } else {
        cleaned
    }
}

/// Parses a generation into `T`. A JSON answer inside a Markdown code fence (```` ```json ````)
/// is read too. The error says whether the text is no JSON at all or JSON of another shape,
/// naming the type and the serde message (`missing field `score``).
///
/// ```
/// use serde::Deserialize;
///
/// #[derive(Deserialize, Debug, PartialEq)]
/// struct Rating { score: u8 }
///
/// let parse = distil::llm::structured::parse::<Rating>;
/// assert_eq!(parse("```json\n{\"score\": 4}\n```"), Ok(Rating { score: 4 }));
/// assert!(parse("Four.").unwrap_err().starts_with("the generation is not valid JSON"));
/// assert!(parse("{}").unwrap_err().contains("does not match `Rating`: missing field `score`"));
/// ```
pub fn parse<T: DeserializeOwned>(generation: &str) -> Result<T, String> {
    let text = unfenced(generation);
    serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => format!(
            "the generation does not match `{}`: {e}",
            short_type_name::<T>()
        ),
        _ => format!("the generation is not valid JSON: {e}"),
    })
}

/// The text inside a Markdown code fence, or the whole text.
fn unfenced(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let Some(body) = rest.strip_suffix("```") else {
        return trimmed;
    };
    // After the opening fence comes its language, up to the end of the line.
    match body.split_once('\n') {
        Some((_, inner)) => inner.trim(),
        None => trimmed,
    }
}

/// `my_crate::Answer<my_crate::X>` -> `Answer<X>`.
fn short_type_name<T: ?Sized>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            segment.push(c);
        } else {
            out.push_str(segment.rsplit("::").next().unwrap_or(&segment));
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(segment.rsplit("::").next().unwrap_or(&segment));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A review, with a nested struct, an optional field, a list and an enum.
    #[derive(JsonSchema, Deserialize, Debug)]
    #[allow(dead_code)]
    struct Review {
        /// What the review says in a line.
        title: String,
        score: u8,
        tags: Vec<String>,
        verdict: Verdict,
        /// Who wrote it, when known.
        author: Option<Author>,
        note: Option<String>,
        #[serde(default)]
        votes: u32,
    }

    #[derive(JsonSchema, Deserialize, Debug, PartialEq)]
    enum Verdict {
        Accept,
        Reject,
    }

    #[derive(JsonSchema, Deserialize, Debug)]
    #[allow(dead_code)]
    struct Author {
        name: String,
        email: Option<String>,
    }

    /// Every object schema in `schema`, at its JSON pointer.
    fn objects<'a>(schema: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
        match schema {
            Value::Object(map) => {
                if map.get("type") == Some(&json!("object")) || map.contains_key("properties") {
                    out.push((at.clone(), schema));
                }
                for (key, value) in map {
                    objects(value, format!("{at}/{key}"), out);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    objects(item, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    fn keys(schema: &Value) -> Vec<String> {
        let mut out = Vec::new();
        fn walk(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    for (key, value) in map {
                        out.push(key.clone());
                        walk(value, out);
                    }
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        walk(schema, &mut out);
        out
    }

    #[test]
    fn a_nested_struct_becomes_a_strict_schema_named_after_it() {
        let format = response_format::<Review>();
        assert_eq!(format["name"], "Review");
        let schema = &format["schema"];
        assert_eq!(schema["type"], "object");
        assert_eq!(
            schema["required"],
            json!([
                "title", "score", "tags", "verdict", "author", "note", "votes"
            ])
        );
        // Strict mode rejects these keywords.
        let keys = keys(schema);
        for rejected in ["$schema", "format", "default", "oneOf", "const"] {
            assert!(
                !keys.iter().any(|k| k == rejected),
                "{rejected} in {schema:#}"
            );
        }
        // Every object: closed, every property required.
        let mut found = Vec::new();
        objects(schema, String::new(), &mut found);
        assert!(found.len() >= 2, "{found:?}");
        for (at, object) in &found {
            assert_eq!(object["additionalProperties"], false, "at {at}: {object:#}");
            let properties: Vec<&String> = object["properties"]
                .as_object()
                .map(|p| p.keys().collect())
                .unwrap_or_default();
            let required: Vec<&str> = object["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            assert_eq!(
                properties.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                required,
                "at {at}"
            );
        }
        let properties = &schema["properties"];
        assert_eq!(properties["note"]["type"], json!(["string", "null"]));
        assert_eq!(properties["tags"]["type"], "array");
        assert_eq!(properties["tags"]["items"]["type"], "string");
        assert_eq!(
            properties["score"],
            json!({"type": "integer", "minimum": 0, "maximum": 255})
        );
        assert_eq!(
            properties["title"]["description"],
            "What the review says in a line."
        );
        // The nested struct: a reference (without its doc comment beside it) or null.
        let author = properties["author"]["anyOf"].as_array().expect("nullable");
        assert!(author.contains(&json!({"type": "null"})), "{author:?}");
        let reference = author
            .iter()
            .find_map(|a| a["$ref"].as_str())
            .expect("a $ref");
        let target = schema
            .pointer(reference.trim_start_matches('#'))
            .expect("the reference resolves");
        assert_eq!(target["required"], json!(["name", "email"]));
        assert_eq!(
            target["properties"]["email"]["type"],
            json!(["string", "null"])
        );
        // The enum: its variants as strings.
        let verdict = match properties["verdict"]["$ref"].as_str() {
            Some(r) => schema.pointer(r.trim_start_matches('#')).unwrap(),
            None => &properties["verdict"],
        };
        assert_eq!(verdict["enum"], json!(["Accept", "Reject"]), "{verdict:#}");
    }

    #[test]
    fn generations_parse_or_say_what_is_wrong() {
        let review: Review = parse(
            r#"{"title": "Good", "score": 4, "tags": ["a"], "verdict": "Accept",
                "author": {"name": "Ann", "email": null}, "note": null, "votes": 2}"#,
        )
        .unwrap();
        assert_eq!(review.verdict, Verdict::Accept);
        assert!(review.author.is_some() && review.note.is_none());

        let e = parse::<Review>("The review is good.").unwrap_err();
        assert!(e.starts_with("the generation is not valid JSON:"), "{e}");
        let e = parse::<Review>(r#"{"title": "Good"}"#).unwrap_err();
        assert!(e.contains("does not match `Review`: missing field"), "{e}");
        let e = parse::<Vec<Review>>(r#"[{"title": 1}]"#).unwrap_err();
        assert!(e.contains("`Vec<Review>`"), "{e}");
        let e = parse::<Review>(r#"{"title": "Good""#).unwrap_err();
        assert!(e.starts_with("the generation is not valid JSON:"), "{e}");
    }

    #[test]
    fn names_keep_to_what_the_apis_allow() {
        assert_eq!(format_name("Answer"), "Answer");
        assert_eq!(format_name("Wrapper<Answer>"), "Wrapper_Answer_");
        assert_eq!(format_name(&"x".repeat(80)).len(), 64);
        assert_eq!(format_name(""), "output");
    }
}
