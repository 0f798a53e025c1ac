//! Redaction: a string type that never prints its value, and the rule that decides which
//! environment values are masked in plans and reports.

use std::fmt;

use serde::{Serialize, Serializer};

/// What every redacted value prints as.
pub const MASK: &str = "****";

/// A string that holds a credential, token, signed URL or other secret.
///
/// `Debug`, `Display` and `Serialize` all print [`MASK`]; the value is reachable only through
/// [`Secret::expose`], so a secret can travel through errors, logs and JSON without leaking.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for the one place that must send it (an HTTP header, an SDK call).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({MASK})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MASK)
    }
}

/// Key fragments that mark an environment variable as secret, matched case-insensitively.
const SECRET_KEY_MARKERS: &[&str] = &[
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
    "DATABASE_URL",
    "PRIVATE",
    "AUTH",
];

/// Whether an environment variable looks like it carries a secret: its name contains one of
/// the usual markers, or its value is a URL with userinfo (`scheme://user:pass@host`).
pub fn looks_secret(key: &str, value: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    SECRET_KEY_MARKERS
        .iter()
        .any(|marker| upper.contains(marker))
        || has_url_userinfo(value)
}

/// The value as it may be shown: [`MASK`] when [`looks_secret`], else unchanged.
pub fn display_environment_value(key: &str, value: &str) -> String {
    if looks_secret(key, value) {
        MASK.to_owned()
    } else {
        value.to_owned()
    }
}

fn has_url_userinfo(value: &str) -> bool {
    let Some((scheme, rest)) = value.split_once("://") else {
        return false;
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return false;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| !userinfo.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), MASK);
        assert_eq!(format!("{secret:?}"), "Secret(****)");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"****\"");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn secret_keys_are_masked() {
        for key in [
            "DB_PASSWORD",
            "api_key",
            "GITHUB_TOKEN",
            "ClientSecret",
            "AWS_CREDENTIALS",
            "DATABASE_URL",
        ] {
            assert!(looks_secret(key, "x"), "{key} should be secret");
        }
        assert!(!looks_secret("LOG_LEVEL", "debug"));
        assert!(!looks_secret("TABLE_NAME", "users"));
    }

    #[test]
    fn url_userinfo_is_masked_whatever_the_key() {
        assert!(looks_secret(
            "UPSTREAM",
            "postgres://app:pw@db.internal:5432/app"
        ));
        assert!(looks_secret("UPSTREAM", "https://token@example.com/path"));
        assert!(!looks_secret("UPSTREAM", "https://example.com/a@b"));
        assert!(!looks_secret("UPSTREAM", "mailto:someone@example.com"));
        assert!(!looks_secret("UPSTREAM", "https://example.com"));
    }

    #[test]
    fn display_value_masks_only_secrets() {
        assert_eq!(display_environment_value("STAGE", "prod"), "prod");
        assert_eq!(display_environment_value("API_TOKEN", "abc"), MASK);
    }
}
