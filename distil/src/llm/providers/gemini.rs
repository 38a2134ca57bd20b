//! Google's Gemini models: the Generative Language API (an API key) and Vertex AI (an OAuth
//! access token, fixed or a service account's), which share one wire format,
//! `generateContent`.

use serde::Deserialize;
use serde_json::{Map, json};

use super::Wire;
use crate::Secret;
use crate::llm::{Client, Generation, GenerationParams, Generations, LlmError, Prompt};

/// How the request is authorised: the Generative Language API's key header, or Vertex AI's
/// bearer token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    ApiKey,
    Bearer,
}

/// Gemini's wire format: `POST {base}/models/{model}:generateContent` with `contents` (roles
/// `user` and `model`), `systemInstruction` and `generationConfig`; the answer's
/// `candidates[].content.parts[].text` and `usageMetadata`. Errors come as
/// `{"error": {"code", "message", "status"}}`; an invalid API key is a 400
/// (`API_KEY_INVALID`), which stops the run like a 401.
#[derive(Clone, Debug)]
pub struct GeminiWire {
    provider: &'static str,
    auth: Auth,
    /// Vertex AI's project and location, which its URL holds, for pipeline files.
    vertex: Option<(String, String)>,
}

/// Gemini on the Generative Language API (`GEMINI_API_KEY`, `GEMINI_BASE_URL` when set), or on
/// Vertex AI with [`vertex`](Client::vertex) (an access token, `GOOGLE_ACCESS_TOKEN`, or a
/// service account's key file, `GOOGLE_APPLICATION_CREDENTIALS`).
/// System messages become the `systemInstruction`; a structured output's schema goes as
/// `responseJsonSchema` with `responseMimeType: application/json`; other generation
/// parameters map to `generationConfig` (`maxOutputTokens`, `topP`, `stopSequences`, `seed`,
/// ...), and `extra` fields are merged into it.
///
/// ```no_run
/// use distil::llm::Gemini;
///
/// let flash = Gemini::new("gemini-2.5-flash").temperature(0.7);
/// let vertex = Gemini::vertex("my-project", "europe-west4", "gemini-2.5-pro")
///     .access_token_from_gcloud()
///     .expect("gcloud gives a token");
/// ```
pub type Gemini = Client<GeminiWire>;

impl Client<GeminiWire> {
    /// Gemini's `model` on the Generative Language API: the key from `GEMINI_API_KEY`, the URL
    /// from `GEMINI_BASE_URL` when set.
    pub fn new(model: impl Into<String>) -> Self {
        let url = std::env::var("GEMINI_BASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "https://generativelanguage.googleapis.com/v1beta".to_owned());
        let wire = GeminiWire {
            provider: "Gemini",
            auth: Auth::ApiKey,
            vertex: None,
        };
        Client::with_wire(wire, model, url, Some("GEMINI_API_KEY"), true)
    }

    /// Gemini's `model` on Vertex AI in `project` and `location` (`us-central1`, `global`):
    /// the access token from `GOOGLE_ACCESS_TOKEN`; else, when
    /// `GOOGLE_APPLICATION_CREDENTIALS` names a service account's key file, tokens of that
    /// [`ServiceAccount`](crate::llm::ServiceAccount), renewed before they expire; or
    /// [`access_token`](Self::access_token) /
    /// [`access_token_from_gcloud`](Self::access_token_from_gcloud) /
    /// [`service_account`](Self::service_account). A fixed access token lasts about an hour:
    /// a longer run needs a service account (with a fixed token, a 401 stops the run).
    pub fn vertex(
        project: impl AsRef<str>,
        location: impl AsRef<str>,
        model: impl Into<String>,
    ) -> Self {
        let (project, location) = (project.as_ref(), location.as_ref());
        let host = if location == "global" {
            "aiplatform.googleapis.com".to_owned()
        } else {
            format!("{location}-aiplatform.googleapis.com")
        };
        let url =
            format!("https://{host}/v1/projects/{project}/locations/{location}/publishers/google");
        let wire = GeminiWire {
            provider: "Vertex AI",
            auth: Auth::Bearer,
            vertex: Some((project.to_owned(), location.to_owned())),
        };
        let client = Client::with_wire(wire, model, url, Some("GOOGLE_ACCESS_TOKEN"), true);
        let fixed = std::env::var("GOOGLE_ACCESS_TOKEN").is_ok_and(|t| !t.trim().is_empty());
        match crate::llm::ServiceAccount::from_env() {
            Some(account) if !fixed => client.service_account(account),
            _ => client,
        }
    }

    /// Vertex AI requests carry access tokens of this service account, each renewed five
    /// minutes before it expires and when Vertex AI refuses it (once per request).
    pub fn service_account(self, account: crate::llm::ServiceAccount) -> Self {
        self.token_source(account)
    }

    /// The OAuth access token Vertex AI requests carry (a service account's or a user's).
    pub fn access_token(self, token: impl Into<String>) -> Self {
        self.api_key(token)
    }

    /// The access token `gcloud auth print-access-token` prints (the active account of the
    /// Google Cloud CLI, or the service account it impersonates).
    pub fn access_token_from_gcloud(self) -> Result<Self, String> {
        let token = token_from_command("gcloud", &["auth", "print-access-token"])?;
        Ok(self.access_token(token))
    }
}

/// The token a command prints on its standard output; the error says how it failed (its
/// standard error, never the token).
fn token_from_command(program: &str, args: &[&str]) -> Result<String, String> {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            said.trim()
        ));
    }
    let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if token.is_empty() {
        return Err(format!("`{program} {}` printed no token", args.join(" ")));
    }
    Ok(token)
}

impl Wire for GeminiWire {
    fn provider(&self) -> &'static str {
        self.provider
    }

    fn url(&self, base_url: &str, model: &str, _prompt: &Prompt) -> String {
        let model = model.strip_prefix("models/").unwrap_or(model);
        format!("{base_url}/models/{model}:generateContent")
    }

    fn auth_headers(&self, key: &Secret) -> Vec<(&'static str, String)> {
        match self.auth {
            Auth::ApiKey => vec![("x-goog-api-key", key.expose().to_owned())],
            Auth::Bearer => vec![("Authorization", format!("Bearer {}", key.expose()))],
        }
    }

    fn body(
        &self,
        _model: &str,
        prompt: &Prompt,
        params: &GenerationParams,
    ) -> Result<Vec<u8>, LlmError> {
        let mut system = Vec::new();
        let mut contents = Vec::new();
        let turn = |role: &str, text: &str| json!({ "role": role, "parts": [{ "text": text }] });
        match prompt {
            Prompt::Text(text) => contents.push(turn("user", text)),
            Prompt::Chat(messages) => {
                for m in messages {
                    match m.role.as_str() {
                        "system" => system.push(json!({ "text": m.content })),
                        "assistant" | "model" => contents.push(turn("model", &m.content)),
                        _ => contents.push(turn("user", &m.content)),
                    }
                }
            }
        }
        if contents.is_empty() {
            return Err(LlmError::row(format!(
                "{} needs at least one user message; the prompt has only system messages",
                self.provider
            )));
        }
        let mut config = Map::new();
        let mut set = |name: &str, value: Option<serde_json::Value>| {
            if let Some(value) = value {
                config.insert(name.to_owned(), value);
            }
        };
        set("temperature", params.temperature.map(Into::into));
        set("topP", params.top_p.map(Into::into));
        set("maxOutputTokens", params.max_new_tokens.map(Into::into));
        set("stopSequences", params.stop.clone().map(Into::into));
        set("seed", params.seed.map(Into::into));
        set("candidateCount", params.n.map(Into::into));
        set("presencePenalty", params.presence_penalty.map(Into::into));
        set("frequencyPenalty", params.frequency_penalty.map(Into::into));
        set("responseLogprobs", params.logprobs.map(Into::into));
        set("logprobs", params.top_logprobs.map(Into::into));
        if let Some(format) = &params.response_format {
            let schema = format.get("schema").cloned().unwrap_or(format.clone());
            set("responseMimeType", Some("application/json".into()));
            set("responseJsonSchema", Some(schema));
        }
        if let Some(extra) = &params.extra {
            config.extend(extra.clone());
        }
        let mut body = json!({ "contents": contents });
        if !system.is_empty() {
            body["systemInstruction"] = json!({ "parts": system });
        }
        if !config.is_empty() {
            body["generationConfig"] = config.into();
        }
        serde_json::to_vec(&body).map_err(|e| LlmError::row(e.to_string()))
    }

    fn parse(&self, body: &[u8]) -> Result<Generations, String> {
        let answer: Answer = super::read_json(body)?;
        let usage = answer.usage_metadata.unwrap_or_default();
        let output_tokens = match (usage.candidates_token_count, usage.thoughts_token_count) {
            (None, None) => None,
            (c, t) => Some(c.unwrap_or(0) + t.unwrap_or(0)),
        };
        let choices: Vec<Generation> = if answer.candidates.is_empty() {
            // A blocked prompt gets no candidate: an answer, not a garbled one.
            let reason = answer
                .prompt_feedback
                .and_then(|f| f.block_reason)
                .ok_or("the answer has no candidates")?;
            vec![Generation {
                text: None,
                finish_reason: Some(format!("blocked: {reason}")),
                logprobs: None,
            }]
        } else {
            answer
                .candidates
                .into_iter()
                .map(|candidate| {
                    // Thought summaries are not the answer.
                    let texts: Vec<String> = candidate
                        .content
                        .map(|c| c.parts)
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|p| p.thought != Some(true))
                        .filter_map(|p| p.text)
                        .collect();
                    Generation {
                        text: (!texts.is_empty()).then(|| texts.concat()),
                        finish_reason: candidate.finish_reason,
                        logprobs: candidate.logprobs_result.filter(|l| !l.is_null()),
                    }
                })
                .collect()
        };
        Ok(Generations {
            choices,
            input_tokens: usage.prompt_token_count,
            output_tokens,
        })
    }

    fn supports_n(&self) -> bool {
        true
    }

    fn settings(&self) -> Vec<(&'static str, crate::Value)> {
        match &self.vertex {
            Some((project, location)) => vec![
                ("project", project.as_str().into()),
                ("location", location.as_str().into()),
            ],
            None => Vec::new(),
        }
    }

    fn rejects_key(&self, status: u16, body: &str) -> bool {
        status == 400 && (body.contains("API_KEY_INVALID") || body.contains("API key not valid"))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    #[serde(default)]
    candidates: Vec<Candidate>,
    usage_metadata: Option<UsageMetadata>,
    prompt_feedback: Option<PromptFeedback>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<Content>,
    finish_reason: Option<String>,
    logprobs_result: Option<crate::Value>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
struct Part {
    text: Option<String>,
    thought: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    thoughts_token_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_gives_the_token_or_says_why_not() {
        assert_eq!(
            token_from_command("sh", &["-c", "echo ' ya29.token '"]).unwrap(),
            "ya29.token"
        );
        let error =
            token_from_command("sh", &["-c", "echo 'not logged in' >&2; exit 1"]).unwrap_err();
        assert!(
            error.contains("failed") && error.contains("not logged in"),
            "{error}"
        );
        assert!(
            token_from_command("sh", &["-c", "true"])
                .unwrap_err()
                .contains("printed no token")
        );
        assert!(
            token_from_command("distil-no-such-program", &[])
                .unwrap_err()
                .contains("cannot run")
        );
    }
}
