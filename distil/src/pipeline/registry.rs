//! Pipelines as files: [`Pipeline::save`] writes the document `pipeline.yaml` holds (as YAML
//! or JSON), and a [`Registry`] rebuilds the pipeline from it, each step by the constructor
//! registered under its type name, each LLM by the one registered under its provider.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::run::pipeline_yaml::{self, STEP_KEYS};
use super::{Pipeline, Router, sample_n_steps};
use crate::Error;
use crate::llm::{Embeddings, Llm, LlmPool};
use crate::secret::is_secret_field;
use crate::settings::Settings;
use crate::step::{Step, StepSettings};

/// Rebuilds a step from its recorded settings; see [`Registry::step`].
pub type StepConstructor = dyn Fn(&StepSettings<'_>) -> Result<Box<dyn Step>, String> + Send + Sync;

/// Rebuilds an LLM from its recorded settings; see [`Registry::llm`].
pub type LlmConstructor = dyn Fn(&Settings<'_>) -> Result<Arc<dyn Llm>, String> + Send + Sync;

/// Rebuilds an embedding model from its recorded settings; see [`Registry::embeddings`].
pub type EmbeddingsConstructor =
    dyn Fn(&Settings<'_>) -> Result<Arc<dyn Embeddings>, String> + Send + Sync;

/// Makes a router again; see [`Registry::router`].
pub type RouterConstructor = dyn Fn() -> Router + Send + Sync;

/// The step types, LLM providers and routers a pipeline file may name, each with the
/// constructor that rebuilds it from what the file recorded
/// ([`Step::describe`], [`Llm::describe`], the router's name).
///
/// [`Registry::new`] holds distil's own: every built-in step and task, the HTTP LLM clients
/// (as LLMs and, for the APIs that embed, as embedding models), LLM pools (provider `pool`,
/// each member rebuilt by its own provider) and `sample_n_steps(n)`. Register a step of your own under its type name (the
/// `type_name` of its [`StepSpec`](crate::step::StepSpec)) to load pipelines that use it.
///
/// ```
/// use distil::pipeline::Registry;
/// use distil::steps::KeepColumns;
///
/// let mut registry = Registry::new();
/// // A type of the user's, rebuilt from the settings its `describe` records.
/// registry.step("KeepFirst", |settings| {
///     let column: String = settings.get("column")?;
///     Ok(Box::new(KeepColumns::new([column])))
/// });
/// assert!(registry.step_types().any(|name| name == "TextGeneration"));
/// ```
#[derive(Clone)]
pub struct Registry {
    steps: BTreeMap<String, Arc<StepConstructor>>,
    llms: BTreeMap<String, Arc<LlmConstructor>>,
    embeddings: BTreeMap<String, Arc<EmbeddingsConstructor>>,
    routers: BTreeMap<String, Arc<RouterConstructor>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("steps", &self.steps.keys().collect::<Vec<_>>())
            .field("llms", &self.llms.keys().collect::<Vec<_>>())
            .field("embeddings", &self.embeddings.keys().collect::<Vec<_>>())
            .field("routers", &self.routers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// distil's own step types, tasks, LLM providers and routers.
    pub fn new() -> Self {
        let mut registry = Registry {
            steps: BTreeMap::new(),
            llms: BTreeMap::new(),
            embeddings: BTreeMap::new(),
            routers: BTreeMap::new(),
        };
        for (name, constructor) in crate::steps::constructors()
            .into_iter()
            .chain(crate::tasks::constructors())
        {
            registry.step(name, constructor);
        }
        for (provider, constructor) in crate::llm::constructors() {
            registry.llm(provider, constructor);
        }
        for (provider, constructor) in crate::llm::embeddings_constructors() {
            registry.embeddings(provider, constructor);
        }
        registry
    }

    /// Registers (or replaces) the constructor of step type `type_name`: it gets what the
    /// step's [`describe`](Step::describe) recorded; the runtime parameters and mappings the
    /// file records are applied to what it returns.
    pub fn step(
        &mut self,
        type_name: impl Into<String>,
        constructor: impl Fn(&StepSettings<'_>) -> Result<Box<dyn Step>, String> + Send + Sync + 'static,
    ) -> &mut Self {
        self.steps.insert(type_name.into(), Arc::new(constructor));
        self
    }

    /// Registers (or replaces) the constructor of the LLMs whose
    /// [`describe`](Llm::describe) records `provider`.
    pub fn llm(
        &mut self,
        provider: impl Into<String>,
        constructor: impl Fn(&Settings<'_>) -> Result<Arc<dyn Llm>, String> + Send + Sync + 'static,
    ) -> &mut Self {
        self.llms.insert(provider.into(), Arc::new(constructor));
        self
    }

    /// Registers (or replaces) the constructor of the embedding models whose
    /// [`describe`](Embeddings::describe) records `provider`.
    pub fn embeddings(
        &mut self,
        provider: impl Into<String>,
        constructor: impl Fn(&Settings<'_>) -> Result<Arc<dyn Embeddings>, String>
        + Send
        + Sync
        + 'static,
    ) -> &mut Self {
        self.embeddings
            .insert(provider.into(), Arc::new(constructor));
        self
    }

    /// Registers the router named `name` ([`Router::new`]'s name): routing functions are
    /// code, so a file records only their name. `sample_n_steps(n)` needs no registration.
    pub fn router(
        &mut self,
        name: impl Into<String>,
        constructor: impl Fn() -> Router + Send + Sync + 'static,
    ) -> &mut Self {
        self.routers.insert(name.into(), Arc::new(constructor));
        self
    }

    /// The step types registered.
    pub fn step_types(&self) -> impl Iterator<Item = &str> {
        self.steps.keys().map(String::as_str)
    }

    /// The LLM providers registered (`pool` included).
    pub fn llm_providers(&self) -> impl Iterator<Item = &str> {
        self.llms
            .keys()
            .map(String::as_str)
            .chain((!self.llms.contains_key(POOL)).then_some(POOL))
    }

    /// The embedding providers registered.
    pub fn embeddings_providers(&self) -> impl Iterator<Item = &str> {
        self.embeddings.keys().map(String::as_str)
    }

    /// The pipeline a `.yaml`, `.yml` or `.json` file describes (by its extension).
    pub fn load(&self, path: impl AsRef<Path>) -> crate::Result<Pipeline> {
        let path = path.as_ref();
        match Format::of(path)? {
            Format::Yaml => self.from_yaml(path),
            Format::Json => self.from_json(path),
        }
    }

    /// The pipeline a YAML file describes (`pipeline.yaml`, or what [`Pipeline::save`] wrote).
    pub fn from_yaml(&self, path: impl AsRef<Path>) -> crate::Result<Pipeline> {
        let path = path.as_ref();
        let text = read(path)?;
        let document = yaml_document(&text).map_err(|message| file_error(path, message))?;
        self.from_document(&document, path)
    }

    /// The pipeline a JSON file describes (what [`Pipeline::save`] wrote to a `.json` path).
    pub fn from_json(&self, path: impl AsRef<Path>) -> crate::Result<Pipeline> {
        let path = path.as_ref();
        let text = read(path)?;
        let document: Value = serde_json::from_str(&text)
            .map_err(|e| file_error(path, format!("is not valid JSON: {e}")))?;
        self.from_document(&document, path)
    }

    /// The pipeline `document` describes; `path` names it in errors. It is checked as
    /// [`Pipeline::validate`] checks pipelines, unless a loader's columns are only known once
    /// it opens its data (the run checks it then).
    pub fn from_document(&self, document: &Value, path: &Path) -> crate::Result<Pipeline> {
        let pipeline = self
            .build(document)
            .map_err(|message| file_error(path, message))?;
        let declared = pipeline
            .nodes
            .iter()
            .all(|n| n.spec.kind != crate::StepKind::Generator || !n.spec.outputs.is_empty());
        if (declared || !pipeline.build_problems.is_empty())
            && let Err(Error::Invalid { problems, .. }) = pipeline.validate()
        {
            let lines: Vec<String> = problems
                .iter()
                .map(|p| format!("  - {}{p}", step_key(&pipeline, p)))
                .collect();
            return Err(file_error(
                path,
                format!(
                    "pipeline `{}` is invalid:\n{}",
                    pipeline.name(),
                    lines.join("\n")
                ),
            ));
        }
        Ok(pipeline)
    }

    fn build(&self, document: &Value) -> Result<Pipeline, String> {
        let body = object(document.get("pipeline"), "pipeline")?;
        let name = string(body.get("name"), "pipeline.name")?;
        let mut pipeline = Pipeline::new(name);
        match body.get("description") {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) => pipeline.description = Some(text.clone()),
            Some(other) => {
                return Err(format!(
                    "`pipeline.description` must be a string, not {other}"
                ));
            }
        }
        let llms = |settings: &Settings<'_>| self.build_llm(settings);
        let embeddings = |settings: &Settings<'_>| self.build_embeddings(settings);
        for (index, step) in list(body.get("steps"), "pipeline.steps")?
            .iter()
            .enumerate()
        {
            let at = format!("pipeline.steps[{index}]");
            self.add_step(&mut pipeline, step, &at, &llms, &embeddings)?;
        }
        let names: Vec<String> = pipeline.step_names().map(str::to_owned).collect();
        let step_index = |value: Option<&Value>, key: &str| -> Result<usize, String> {
            let name = string(value, key)?;
            names.iter().position(|n| *n == name).ok_or_else(|| {
                let known: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                format!(
                    "`{key}`: no step named `{name}`; the steps are {}",
                    known.join(", ")
                )
            })
        };
        let targets = |entry: &Map<String, Value>, at: &str| -> Result<Vec<usize>, String> {
            let key = format!("{at}.to");
            list(entry.get("to"), &key)?
                .iter()
                .enumerate()
                .map(|(i, to)| step_index(Some(to), &format!("{key}[{i}]")))
                .collect()
        };
        let connections = match body.get("connections") {
            None | Some(Value::Null) => &[][..],
            value => list(value, "pipeline.connections")?,
        };
        for (index, connection) in connections.iter().enumerate() {
            let at = format!("pipeline.connections[{index}]");
            let entry = object(Some(connection), &at)?;
            let from = step_index(entry.get("from"), &format!("{at}.from"))?;
            for to in targets(entry, &at)? {
                if !pipeline.edges.contains(&(from, to)) {
                    pipeline.edges.push((from, to));
                }
            }
        }
        // Routed edges are among the connections; a route missing there adds them.
        let routing = match body.get("routing") {
            None | Some(Value::Null) => &[][..],
            value => list(value, "pipeline.routing")?,
        };
        for (index, route) in routing.iter().enumerate() {
            let at = format!("pipeline.routing[{index}]");
            let entry = object(Some(route), &at)?;
            let from = step_index(entry.get("from"), &format!("{at}.from"))?;
            let router_key = format!("{at}.router");
            let router =
                self.build_router(&string(entry.get("router"), &router_key)?, &router_key)?;
            let to = targets(entry, &at)?;
            for &target in &to {
                if !pipeline.edges.contains(&(from, target)) {
                    pipeline.edges.push((from, target));
                }
            }
            pipeline.routes.push(super::Route {
                from,
                router,
                targets: to,
            });
        }
        Ok(pipeline)
    }

    fn add_step(
        &self,
        pipeline: &mut Pipeline,
        step: &Value,
        at: &str,
        llms: &crate::step::LlmBuilder<'_>,
        embeddings: &crate::step::EmbeddingsBuilder<'_>,
    ) -> Result<(), String> {
        let entry = object(Some(step), at)?;
        let name = string(entry.get("name"), &format!("{at}.name"))?;
        let type_key = format!("{at}.type_name");
        let type_name = string(entry.get("type_name"), &type_key)?;
        let Some(constructor) = self.steps.get(&type_name) else {
            return Err(format!(
                "`{type_key}`: no step type `{type_name}` is registered (step `{name}`); \
                 register it with `Registry::step`, the registered ones are {}",
                quoted_list(self.steps.keys())
            ));
        };
        let own: Map<String, Value> = entry
            .iter()
            .filter(|(key, _)| !STEP_KEYS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let settings = StepSettings::new(Settings::new(at, &own), llms, embeddings);
        let built = constructor(&settings).map_err(|e| format!("step `{name}`: {e}"))?;
        pipeline.add_boxed(&name, built);
        let node = pipeline.nodes.last_mut().expect("just added");
        for (label, into_outputs) in [("input_mappings", false), ("output_mappings", true)] {
            let key = format!("{at}.{label}");
            let Some(mappings) = optional_object(entry.get(label), &key)? else {
                continue;
            };
            for (from, to) in mappings {
                let to = string(Some(to), &format!("{key}.{from}"))?;
                let slot = if into_outputs {
                    &mut node.options.output_mappings
                } else {
                    &mut node.options.input_mappings
                };
                slot.push((from.clone(), to));
            }
        }
        match entry.get("use_cache") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(use_cache)) => node.options.use_cache = *use_cache,
            Some(other) => {
                return Err(format!(
                    "`{at}.use_cache` must be true or false, not {other}"
                ));
            }
        }
        let params_key = format!("{at}.runtime_parameters");
        let Some(params) = optional_object(entry.get("runtime_parameters"), &params_key)? else {
            return Ok(());
        };
        let current: Vec<(String, Value)> = pipeline
            .params()
            .pop()
            .map(|(_, params)| params)
            .unwrap_or_default();
        for (param, value) in params {
            // A secret left out of the file keeps what the constructor found (the environment).
            if value.is_null() && is_secret_field(param) {
                continue;
            }
            if current.iter().any(|(n, v)| n == param && v == value) {
                continue;
            }
            pipeline
                .apply_params(&[(name.clone(), param.clone(), value.clone())])
                .map_err(|e| {
                    let message = match e {
                        Error::Parameter { message, .. } => message,
                        other => other.to_string(),
                    };
                    format!("`{params_key}.{param}`: step `{name}` {message}")
                })?;
        }
        Ok(())
    }

    fn build_llm(&self, settings: &Settings<'_>) -> Result<Arc<dyn Llm>, String> {
        let key = settings.key_path("provider");
        let provider: String = settings.get("provider")?;
        let Some(constructor) = self.llms.get(&provider) else {
            if provider == POOL {
                // A pool holds LLMs of any provider, each rebuilt as the file records it.
                let pool = LlmPool::from_settings(settings, &|member| self.build_llm(member))?;
                return Ok(Arc::new(pool));
            }
            return Err(format!(
                "`{key}`: no LLM provider `{provider}` is registered; register it with \
                 `Registry::llm`, the registered ones are {}",
                quoted_list(self.llms.keys())
            ));
        };
        constructor(settings)
    }

    fn build_embeddings(&self, settings: &Settings<'_>) -> Result<Arc<dyn Embeddings>, String> {
        let key = settings.key_path("provider");
        let provider: String = settings.get("provider")?;
        let Some(constructor) = self.embeddings.get(&provider) else {
            return Err(format!(
                "`{key}`: no embeddings provider `{provider}` is registered; register it with \
                 `Registry::embeddings`, the registered ones are {}",
                quoted_list(self.embeddings.keys())
            ));
        };
        constructor(settings)
    }

    fn build_router(&self, name: &str, key: &str) -> Result<Router, String> {
        if let Some(constructor) = self.routers.get(name) {
            return Ok(constructor());
        }
        let picks = name
            .strip_prefix("sample_n_steps(")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|n| n.trim().parse::<usize>().ok());
        match picks {
            Some(n) => Ok(sample_n_steps(n)),
            None => Err(format!(
                "`{key}`: no router `{name}` is registered; a routing function is code, \
                 register it with `Registry::router`"
            )),
        }
    }
}

/// The provider an [`LlmPool`] records.
const POOL: &str = "pool";

/// A pipeline file's format, by its extension.
pub(crate) enum Format {
    Yaml,
    Json,
}

impl Format {
    pub(crate) fn of(path: &Path) -> crate::Result<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("yaml") || ext.eq_ignore_ascii_case("yml") => {
                Ok(Format::Yaml)
            }
            Some(ext) if ext.eq_ignore_ascii_case("json") => Ok(Format::Json),
            _ => Err(file_error(
                path,
                "a pipeline file is YAML or JSON: name it `.yaml`, `.yml` or `.json`",
            )),
        }
    }
}

impl Pipeline {
    /// Writes the pipeline to `path` as YAML (`.yaml`, `.yml`) or JSON (`.json`): the
    /// document of the `pipeline.yaml` a run writes, which [`Pipeline::from_yaml`] and
    /// [`Pipeline::from_json`] read back into the same pipeline. Secret fields are left out
    /// (written as null) by their exact names. Call it before the run, or after: a step a run
    /// lost to a panic is written without its settings.
    pub fn save(&self, path: impl AsRef<Path>) -> crate::Result<()> {
        let path = path.as_ref();
        let text = match Format::of(path)? {
            Format::Yaml => pipeline_yaml::render(self),
            Format::Json => {
                let mut text = serde_json::to_string_pretty(&pipeline_yaml::document(self))
                    .expect("a JSON value serializes");
                text.push('\n');
                text
            }
        };
        std::fs::write(path, text).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })
    }

    /// The pipeline a YAML file describes, made of distil's own steps, tasks and LLMs (use a
    /// [`Registry`] for steps of your own). Errors name the file and the key at fault; the
    /// pipeline is checked as [`validate`](Pipeline::validate) checks it. An LLM's API key is
    /// never in the file: it comes from the environment, as when the LLM was made.
    pub fn from_yaml(path: impl AsRef<Path>) -> crate::Result<Pipeline> {
        Registry::new().from_yaml(path)
    }

    /// The pipeline a JSON file describes; see [`from_yaml`](Pipeline::from_yaml).
    pub fn from_json(path: impl AsRef<Path>) -> crate::Result<Pipeline> {
        Registry::new().from_json(path)
    }
}

fn read(path: &Path) -> crate::Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })
}

fn file_error(path: &Path, message: impl Into<String>) -> Error {
    Error::PipelineFile {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// The key of the first step a validation problem names, to point into the file.
fn step_key(pipeline: &Pipeline, problem: &str) -> String {
    let named = problem.split('`').skip(1).step_by(2);
    for name in named {
        if let Some(index) = pipeline.index_of(name) {
            return format!("`pipeline.steps[{index}]`: ");
        }
    }
    String::new()
}

fn quoted_list<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn object<'v>(value: Option<&'v Value>, key: &str) -> Result<&'v Map<String, Value>, String> {
    match value {
        Some(Value::Object(map)) => Ok(map),
        None | Some(Value::Null) => Err(format!("`{key}` is missing")),
        Some(other) => Err(format!("`{key}` must be a mapping, not {other}")),
    }
}

fn optional_object<'v>(
    value: Option<&'v Value>,
    key: &str,
) -> Result<Option<&'v Map<String, Value>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        value => object(value, key).map(Some),
    }
}

fn list<'v>(value: Option<&'v Value>, key: &str) -> Result<&'v [Value], String> {
    match value {
        Some(Value::Array(items)) => Ok(items),
        None | Some(Value::Null) => Err(format!("`{key}` is missing")),
        Some(other) => Err(format!("`{key}` must be a list, not {other}")),
    }
}

fn string(value: Option<&Value>, key: &str) -> Result<String, String> {
    match value {
        Some(Value::String(text)) => Ok(text.clone()),
        None | Some(Value::Null) => Err(format!("`{key}` is missing")),
        Some(other) => Err(format!("`{key}` must be a string, not {other}")),
    }
}

/// The first YAML document of `text` as JSON values.
fn yaml_document(text: &str) -> Result<Value, String> {
    let documents = yaml_rust2::YamlLoader::load_from_str(text)
        .map_err(|e| format!("is not valid YAML: {e}"))?;
    let Some(first) = documents.into_iter().next() else {
        return Err("is empty".to_owned());
    };
    to_json(first, "")
}

fn to_json(yaml: yaml_rust2::Yaml, at: &str) -> Result<Value, String> {
    use yaml_rust2::Yaml;
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::from(i),
        Yaml::String(s) => Value::String(s),
        Yaml::Real(text) => {
            let number = text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .ok_or_else(|| format!("`{at}`: `{text}` is not a finite number"))?;
            Value::Number(number)
        }
        Yaml::Array(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| to_json(item, &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Hash(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let key = match key {
                    Yaml::String(s) | Yaml::Real(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    _ => return Err(format!("`{at}`: a key must be a string or a number")),
                };
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                out.insert(key, to_json(value, &path)?);
            }
            Value::Object(out)
        }
        Yaml::Alias(_) => return Err(format!("`{at}`: YAML aliases are not supported")),
        Yaml::BadValue => return Err(format!("`{at}`: a value YAML cannot read")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The step types the crate's own steps and tasks name in their specs, read from their
    /// source: a built-in added without a constructor fails here, not in a user's file.
    fn type_names_in_source() -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut names = Vec::new();
        for folder in ["steps", "tasks"] {
            let pattern = format!("{}/{folder}/**/*.rs", root.display());
            for file in glob::glob(&pattern).expect("a valid pattern").flatten() {
                let text = std::fs::read_to_string(&file).expect("readable source");
                for marker in ["StepSpec::new(\"", "spec.type_name = \""] {
                    for (at, _) in text.match_indices(marker) {
                        let rest = &text[at + marker.len()..];
                        names.push(rest[..rest.find('"').expect("a closed literal")].to_owned());
                    }
                }
                // Types a macro makes are named by `stringify!`: the first bare name of each
                // invocation (after its doc comments).
                for (at, _) in text.match_indices("evol_") {
                    let rest = &text[at..];
                    let Some(body) = rest.split_once("!(\n").filter(|(name, _)| {
                        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    }) else {
                        continue;
                    };
                    let name = body
                        .1
                        .lines()
                        .map(str::trim)
                        .find(|l| !l.starts_with("///"));
                    if let Some(name) = name.and_then(|l| l.strip_suffix(',')) {
                        names.push(name.to_owned());
                    }
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    #[test]
    fn every_built_in_step_type_is_registered() {
        let registry = Registry::new();
        let registered: Vec<&str> = registry.step_types().collect();
        let names = type_names_in_source();
        assert!(names.len() > 30, "the scan finds the built-ins: {names:?}");
        // Generic over the program's own output type: the program registers it.
        let generic = ["StructuredGeneration"];
        let missing: Vec<&String> = names
            .iter()
            .filter(|name| !generic.contains(&name.as_str()))
            .filter(|name| cfg!(feature = "hub") || name.as_str() != "LoadDataFromHub")
            .filter(|name| !registered.contains(&name.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "built-in step types without a constructor in `Registry::new`: {missing:?}"
        );
        // The scan sees the types macros make too.
        for name in [
            "EvolInstruct",
            "EvolComplexity",
            "EvolInstructGenerator",
            "EvolComplexityGenerator",
        ] {
            assert!(
                names.iter().any(|n| n == name),
                "the scan finds {name}: {names:?}"
            );
        }
    }

    #[test]
    fn pools_and_embedding_models_are_rebuilt_by_their_providers() {
        let registry = Registry::new();
        assert!(registry.llm_providers().any(|p| p == "pool"));
        if cfg!(feature = "llm-clients") {
            let embedders: Vec<&str> = registry.embeddings_providers().collect();
            assert!(embedders.contains(&"OpenAI") && embedders.contains(&"Mistral"));
        }
        let entries =
            serde_json::json!({"provider": "pool", "strategy": "Sideways", "members": []});
        let settings = Settings::new("pipeline.steps[2].llm", entries.as_object().unwrap());
        let error = registry.build_llm(&settings).err().unwrap();
        assert!(
            error.contains("`pipeline.steps[2].llm.strategy`: `Sideways` is no pool strategy"),
            "{error}"
        );
        let entries = serde_json::json!({"provider": "Word2Vec", "model": "m"});
        let settings = Settings::new("pipeline.steps[3].embeddings", entries.as_object().unwrap());
        let error = registry.build_embeddings(&settings).err().unwrap();
        assert!(
            error.contains(
                "`pipeline.steps[3].embeddings.provider`: no embeddings provider `Word2Vec`"
            ),
            "{error}"
        );
    }
}
