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

/// Whole words of a name that mark it as secret: too short or too common to match inside
/// other words (`PASS` is in `BYPASS`, `SK` in `TASK`), so they count only as a word of their
/// own (`DB_PASS`, `STRIPE_SK`, `smtpPwd`).
const SECRET_KEY_WORDS: &[&str] = &[
    "PASS", "PWD", "SK", "DSN", "CREDS", "SALT", "COOKIE", "SIG", "SAS",
];

/// Value fragments that only secrets carry: Azure storage and Service Bus connection strings,
/// SAS tokens.
const SECRET_VALUE_MARKERS: &[&str] = &[
    "AccountKey=",
    "SharedAccessKey=",
    "SharedAccessSignature=",
    "&sig=",
];

/// Whether an environment variable looks like it carries a secret: its name contains one of
/// the usual markers or has one of the short marker words as a word of its own, or its value
/// is a URL with userinfo (`scheme://user:pass@host`, `https://token@host`) or a connection
/// string with a key. A manifest can mark any other variable secret explicitly.
pub fn looks_secret(key: &str, value: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    SECRET_KEY_MARKERS
        .iter()
        .any(|marker| upper.contains(marker))
        || name_words(key).any(|word| SECRET_KEY_WORDS.contains(&word.as_str()))
        || SECRET_VALUE_MARKERS
            .iter()
            .any(|marker| value.contains(marker))
        || has_url_userinfo(value)
}

/// The words of a variable name, upper-cased: split at `_`, `-`, `.` and lower-to-upper case
/// changes (`stripeSk` is `STRIPE`, `SK`).
fn name_words(key: &str) -> impl Iterator<Item = String> + '_ {
    key.split(['_', '-', '.']).flat_map(|part| {
        let mut words = Vec::new();
        let mut current = String::new();
        let mut previous_lower = false;
        for c in part.chars() {
            if c.is_ascii_uppercase() && previous_lower && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            current.push(c.to_ascii_uppercase());
        }
        if !current.is_empty() {
            words.push(current);
        }
        words
    })
}

/// The value as it may be shown: [`MASK`] when the manifest marks the name secret
/// (`secretEnvironment`) or when [`looks_secret`] says so, else unchanged. Every place that
/// shows an environment value goes through here, so the marker and the heuristic cannot
/// disagree between a plan, a log line and a JSON document.
pub fn display_environment_value(key: &str, value: &str, marked: bool) -> String {
    if marked || looks_secret(key, value) {
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

    /// Regression: `DB_PASS` and `STRIPE_SK` were shown in plans as they are.
    #[test]
    fn short_secret_words_are_masked_as_words() {
        for key in [
            "DB_PASS",
            "STRIPE_SK",
            "stripeSk",
            "SMTP_PWD",
            "mail.pwd",
            "SENTRY_DSN",
            "ADMIN_CREDS",
            "SESSION_COOKIE",
            "PASSWORD_SALT",
            "BLOB_SAS",
        ] {
            assert!(looks_secret(key, "x"), "{key} should be secret");
        }
        for key in [
            "BYPASS_CACHE",
            "PASSTHROUGH",
            "COMPASS_URL",
            "TASK_QUEUE",
            "DISK_SIZE",
            "RISK_LEVEL",
            "ASK_TIMEOUT",
            "PKG_NAME",
            "SIGNUP_ENABLED",
            "DESIGN_MODE",
            "SASS_PATH",
            "BASE_PATH",
        ] {
            assert!(!looks_secret(key, "x"), "{key} should not be secret");
        }
    }

    #[test]
    fn connection_strings_with_keys_are_masked_whatever_the_key() {
        assert!(looks_secret(
            "STORAGE",
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc==;"
        ));
        assert!(looks_secret(
            "BUS",
            "Endpoint=sb://x/;SharedAccessKeyName=n;SharedAccessKey=abc="
        ));
        assert!(looks_secret("FEED", "https://a.blob/c?sv=2024&sig=abc"));
        assert!(!looks_secret("FEED", "https://a.blob/c?sv=2024"));
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
        assert_eq!(display_environment_value("STAGE", "prod", false), "prod");
        assert_eq!(display_environment_value("API_TOKEN", "abc", false), MASK);
    }

    /// A name the heuristic cannot know about is masked once the manifest marks it, and the
    /// heuristic still applies to names that are not marked.
    #[test]
    fn a_marked_name_is_masked_though_it_looks_plain() {
        assert!(!looks_secret("LICENSE_ID", "lic-1234"));
        assert_eq!(
            display_environment_value("LICENSE_ID", "lic-1234", false),
            "lic-1234"
        );
        assert_eq!(
            display_environment_value("LICENSE_ID", "lic-1234", true),
            MASK
        );
        assert_eq!(display_environment_value("API_TOKEN", "abc", false), MASK);
    }
}
