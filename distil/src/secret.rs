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

/// Field names whose values are secrets, compared whole and without regard to case: a field
/// named `max_new_tokens` is not a secret, `api_key` is.
const SECRET_FIELDS: &[&str] = &[
    "api_key",
    "apikey",
    "key",
    "token",
    "hf_token",
    "access_token",
    "auth_token",
    "bearer_token",
    "secret",
    "client_secret",
    "password",
    "passwd",
    "authorization",
    "credentials",
];

/// Whether a field of that name holds a secret, which never reaches a file, a log or a cache
/// key.
pub(crate) fn is_secret_field(name: &str) -> bool {
    SECRET_FIELDS
        .iter()
        .any(|secret| name.eq_ignore_ascii_case(secret))
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
}
