//! Secrets (tokens, API keys, passwords): a type that never prints its value,
//! the `*_file` reader, and the mask for credentials inside URLs.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// `https://user:pass@host/x` → `https://user:****@host/x` (and
/// `https://token@host` → `https://****@host`), wherever a URL appears in
/// `text`: for every message that may quote an endpoint.
pub fn mask_url_credentials(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("://") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the path, query, fragment or whitespace; a
        // password may hold quotes or `@`, so the last `@` before it counts.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                match authority[..at].split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push_str(":****");
                    }
                    None => out.push_str("****"),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// A secret (token, API key): never printed, not even in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret's value, for the one place that needs it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A sink's secret: `value` when set (written `${ENV}` in the config), else
/// the content of its `*_file` key. `missing` is the error when neither is
/// set (it names both keys), `empty` when the secret is empty.
pub fn secret_or_file(
    value: &Option<Secret>,
    file: &Option<std::path::PathBuf>,
    missing: &str,
    empty: &str,
) -> Result<Secret, String> {
    let secret = match (value, file) {
        (Some(v), _) => v.clone(),
        (None, Some(p)) => read_secret_file(p)?,
        (None, None) => return Err(missing.into()),
    };
    if secret.expose().is_empty() {
        return Err(empty.into());
    }
    Ok(secret)
}

/// Read a secret from a `*_file` key: the file's content without the trailing newline.
pub fn read_secret_file(path: &Path) -> Result<Secret, String> {
    let s = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
    let s = s.trim_end_matches(['\n', '\r']);
    if s.is_empty() {
        return Err(format!("secret file {} is empty", path.display()));
    }
    Ok(Secret::new(s))
}
