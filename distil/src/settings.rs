//! What a pipeline file records of one step or LLM, read back key by key: every error names
//! the key at fault by its full path in the file (`pipeline.steps[1].columns`).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The recorded settings of a step or an LLM (an object of a pipeline file), as a
/// [`Registry`](crate::pipeline::Registry) constructor reads them.
///
/// ```
/// use distil::settings::Settings;
/// use serde_json::json;
///
/// let entries = json!({"columns": ["a", "b"], "separator": null});
/// let settings = Settings::new("pipeline.steps[0]", entries.as_object().unwrap());
/// let columns: Vec<String> = settings.get("columns").unwrap();
/// assert_eq!(columns, ["a", "b"]);
/// assert_eq!(settings.optional::<String>("separator").unwrap(), None);
/// assert!(settings.get::<u64>("columns").unwrap_err().contains("pipeline.steps[0].columns"));
/// ```
#[derive(Clone, Debug)]
pub struct Settings<'a> {
    path: String,
    entries: &'a Map<String, Value>,
}

impl<'a> Settings<'a> {
    /// The settings `entries`, found at `path` in the file.
    pub fn new(path: impl Into<String>, entries: &'a Map<String, Value>) -> Self {
        Settings {
            path: path.into(),
            entries,
        }
    }

    /// Where these settings are in the file.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The full path of `key`, for messages.
    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Every entry.
    pub fn entries(&self) -> &'a Map<String, Value> {
        self.entries
    }

    /// Entry `key` as it is; `None` when absent.
    pub fn value(&self, key: &str) -> Option<&'a Value> {
        self.entries.get(key)
    }

    /// Entry `key`, which must be present and not null.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<T, String> {
        match self.optional(key)? {
            Some(value) => Ok(value),
            None => Err(format!("`{}` is missing", self.key_path(key))),
        }
    }

    /// Entry `key`; `None` when absent or null.
    pub fn optional<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, String> {
        match self.entries.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value.clone())
                .map(Some)
                .map_err(|e| format!("`{}`: {e}", self.key_path(key))),
        }
    }

    /// The object at entry `key`, with its own path.
    pub fn nested(&self, key: &str) -> Result<Settings<'a>, String> {
        let path = self.key_path(key);
        match self.entries.get(key) {
            Some(Value::Object(entries)) => Ok(Settings { path, entries }),
            Some(other) => Err(format!("`{path}` must be an object, not {other}")),
            None => Err(format!("`{path}` is missing")),
        }
    }
}
