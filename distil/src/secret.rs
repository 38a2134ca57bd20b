//! A value that must never be printed: the Hub token, an LLM provider's API key.

use std::fmt;

/// A secret string (the Hub token, an API key). Its `Debug` and `Display` print `***`, so a
/// secret held in a configuration cannot leak into logs, panics or error messages; read it on
/// purpose with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it: the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// Field names whose values never reach a file, compared whole, ignoring case and with `-`
/// read as `_`.
const SECRET_FIELDS: &[&str] = &[
    "access_key",
    "access_token",
    "anthropic_api_key",
    "api_key",
    "api_token",
    "apikey",
    "auth",
    "auth_token",
    "authorization",
    "aws_secret_access_key",
    "azure_api_key",
    "bearer_token",
    "client_secret",
    "credentials",
    "hf_token",
    "huggingface_token",
    "key",
    "openai_api_key",
    "passphrase",
    "passwd",
    "password",
    "private_key",
    "refresh_token",
    "secret",
    "secret_access_key",
    "secret_key",
    "token",
    "x_api_key",
];

/// Whether a field of that name holds a secret, which never reaches a file, a log or a cache
/// key: `api_key` does, `max_new_tokens` does not.
pub(crate) fn is_secret_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase().replace('-', "_");
    SECRET_FIELDS.contains(&name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new("hf_abcdef");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some(***)");
        assert_eq!(secret.expose(), "hf_abcdef");
    }

    #[test]
    fn names_in_the_list_are_lowercase_with_underscores_and_sorted() {
        let mut sorted = SECRET_FIELDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, SECRET_FIELDS);
        assert!(
            SECRET_FIELDS
                .iter()
                .all(|name| *name == name.to_ascii_lowercase().replace('-', "_"))
        );
    }
}
