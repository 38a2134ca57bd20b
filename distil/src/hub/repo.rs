//! Dataset repo ids, and the pieces of Hub URLs built from them.

use crate::{Error, Result};

/// A dataset repository on the Hub, `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepoId {
    pub(crate) owner: String,
    pub(crate) name: String,
}

impl RepoId {
    /// Parses `owner/name`. A bare `name` is refused: the Hub needs the namespace to create or
    /// find a dataset, and guessing the token's user would take another request.
    pub(crate) fn parse(repo_id: &str) -> Result<Self> {
        let invalid = |message: &str| Error::HubInvalid {
            repo: repo_id.to_owned(),
            message: message.to_owned(),
        };
        let (owner, name) = repo_id
            .split_once('/')
            .ok_or_else(|| invalid("a repo id has the form `owner/name`"))?;
        for part in [owner, name] {
            let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
            if part.is_empty() || part.len() > 96 || !part.chars().all(allowed) {
                return Err(invalid(
                    "a repo id has the form `owner/name`, each of letters, digits, `-`, `_` and `.` (at most 96)",
                ));
            }
            if part.starts_with(['-', '.']) || part.contains("..") || part.contains("--") {
                return Err(invalid(
                    "`--` and `..` are not allowed in a repo id, nor a leading `-` or `.`",
                ));
            }
        }
        Ok(RepoId {
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `owner/name`, as it appears in Hub URLs (its characters need no escaping).
    pub(crate) fn path(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The cache folder name `huggingface_hub` uses for a dataset.
    pub(crate) fn cache_folder(&self) -> String {
        format!("datasets--{}--{}", self.owner, self.name)
    }
}

/// Percent-encodes a revision as one URL segment: `refs/convert/parquet` becomes
/// `refs%2Fconvert%2Fparquet`, as the Hub expects.
pub(crate) fn encode_revision(revision: &str) -> String {
    encode(revision, false)
}

/// Percent-encodes a file path in a repo, keeping its `/` separators.
pub(crate) fn encode_path(path: &str) -> String {
    encode(path, true)
}

fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let plain = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/');
        if plain {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_owner_and_name() {
        let repo = RepoId::parse("distil-rs/my_data.v2").unwrap();
        assert_eq!(repo.path(), "distil-rs/my_data.v2");
        assert_eq!(repo.cache_folder(), "datasets--distil-rs--my_data.v2");
        for bad in [
            "nameonly", "a/b/c", "/b", "a/", "a b/c", "a/..x", "-a/b", "a--b/c",
        ] {
            assert!(RepoId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encodes_revisions_and_paths() {
        assert_eq!(
            encode_revision("refs/convert/parquet"),
            "refs%2Fconvert%2Fparquet"
        );
        assert_eq!(
            encode_path("default/train 1.parquet"),
            "default/train%201.parquet"
        );
    }
}
