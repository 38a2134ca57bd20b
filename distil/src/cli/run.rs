//! `distil run FILE`: a pipeline file run to the end (or dry), its Distiset summed up.

use std::path::Path;

use super::{EXIT_INVALID, EXIT_USAGE, Failure};
use crate::{Error, RunOptions, Value};

/// What `distil run` was asked.
pub(crate) struct RunRequest<'a> {
    pub(crate) file: &'a Path,
    pub(crate) params: &'a [String],
    pub(crate) output: Option<&'a Path>,
    pub(crate) dry_run: bool,
    pub(crate) use_cache: bool,
}

pub(crate) fn run(request: &RunRequest<'_>, out: &mut impl std::io::Write) -> Result<(), Failure> {
    if !request.file.exists() {
        return Err(Failure::not_found(format!(
            "{}: no such pipeline file",
            request.file.display()
        )));
    }
    let mut pipeline = crate::pipeline::Registry::new()
        .load(request.file)
        .map_err(invalid)?;
    let mut options = RunOptions::new().use_cache(request.use_cache);
    for param in request.params {
        let (step, name, value) = parse_param(param)?;
        options = options.param(&step, &name, value);
    }
    if let Some(dir) = request.output {
        options = options.output_dir(dir);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))?;
    let result = runtime.block_on(async {
        if request.dry_run {
            pipeline.dry_run_with(options).await
        } else {
            pipeline.run_with(options).await
        }
    });
    let distiset = result.map_err(invalid)?;
    if request.dry_run {
        let _ = write!(out, "dry run: ");
    }
    match pipeline.summary() {
        Some(summary) => {
            let _ = write!(out, "{summary}");
        }
        None => {
            let _ = writeln!(
                out,
                "{} rows in {}",
                distiset.total_rows(),
                distiset.dir().display()
            );
        }
    }
    Ok(())
}

/// A pipeline that cannot be built or run as given exits with [`EXIT_INVALID`]; any other
/// failure of the run with [`EXIT_FAILED`](super::EXIT_FAILED).
fn invalid(error: Error) -> Failure {
    let message = error.to_string();
    match error {
        Error::PipelineFile { .. }
        | Error::Invalid { .. }
        | Error::Parameter { .. }
        | Error::UnknownStep { .. } => Failure {
            code: EXIT_INVALID,
            message,
        },
        _ => Failure::failed(message),
    }
}

/// `step.key=value`, or `step.key.sub=value` for one key of an object parameter; the value is
/// JSON when it reads as JSON (`0.7`, `true`, `[1, 2]`), else text.
fn parse_param(param: &str) -> Result<(String, String, Value), Failure> {
    let usage = || Failure {
        code: EXIT_USAGE,
        message: format!("--param `{param}`: write it as STEP.KEY=VALUE"),
    };
    let (path, text) = param.split_once('=').ok_or_else(usage)?;
    let mut parts = path.split('.');
    let (Some(step), Some(name)) = (parts.next(), parts.next()) else {
        return Err(usage());
    };
    if step.is_empty() || name.is_empty() {
        return Err(usage());
    }
    let mut value = serde_json::from_str(text).unwrap_or_else(|_| Value::from(text));
    let nested: Vec<&str> = parts.collect();
    for key in nested.into_iter().rev() {
        value = serde_json::json!({ key: value });
    }
    Ok((step.to_owned(), name.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::parse_param;
    use serde_json::json;

    #[test]
    fn params_read_as_json_else_as_text() {
        let parsed = |p: &str| parse_param(p).ok().unwrap();
        assert_eq!(
            parsed("gen.temperature=0.7"),
            ("gen".into(), "temperature".into(), json!(0.7))
        );
        assert_eq!(
            parsed("gen.system_prompt=Be brief"),
            ("gen".into(), "system_prompt".into(), json!("Be brief"))
        );
        assert_eq!(
            parsed("gen.extra.top_k=5"),
            ("gen".into(), "extra".into(), json!({"top_k": 5}))
        );
        assert!(parse_param("gen=1").is_err());
        assert!(parse_param("gen.temperature").is_err());
    }
}
