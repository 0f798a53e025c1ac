//! `strata print`: the fully resolved manifest for one stage, like `serverless print`.
//!
//! Like `serverless print`, it prints what it could resolve even when validation finds
//! errors: the document goes to stdout, the errors to stderr, and the exit code is 1.

use std::collections::BTreeSet;

use crate::cli::{DocumentFormat, OutputFormat, PrintArgs};
use crate::commands::Context;
use crate::error::CliError;

pub fn run(context: &Context, args: &PrintArgs) -> Result<(), CliError> {
    let printed = strata_manifest::resolve_document(&context.load_options)?;
    let format = args.format.unwrap_or(match context.printer.format {
        OutputFormat::Json => DocumentFormat::Json,
        OutputFormat::Text => DocumentFormat::Yaml,
    });
    let mut document = printed.document.clone();
    if !args.show_secrets {
        let masks = Masks {
            secure: &printed.secure_values,
            marked: &printed.secret_environment,
        };
        masks.apply(&mut document, false);
    }
    let document = &document;
    let text = match format {
        // The resolved manifest itself, so that it validates against `strata schema`.
        DocumentFormat::Json => {
            serde_json::to_string_pretty(document).expect("JSON values serialize")
        }
        DocumentFormat::Yaml => strata_manifest::to_yaml(document),
    };
    context.printer.data(&text);
    if printed.has_errors() {
        return Err(strata_manifest::ManifestError::Invalid {
            path: printed.path,
            diagnostics: printed.diagnostics,
        }
        .into());
    }
    context.show_warnings(&printed.diagnostics);
    Ok(())
}

/// What `strata print` masks: every string that holds a value read from an SSM
/// SecureString, and values under an `environment:` map whose name the manifest marks secret
/// (`secretEnvironment`), whose name says they are secret (`API_TOKEN`, `DB_PASSWORD`,
/// `STRIPE_KEY`) or that are URLs with a password, so `strata print` can be pasted into an
/// issue or a CI log. Plain values whose name merely contains a marker (`S3_KEY_BASE: dev`)
/// are shown.
///
/// A name marked in one function is masked in every `environment:` map of the document:
/// showing less than needed is harmless here, showing a secret is not.
struct Masks<'a> {
    secure: &'a [String],
    marked: &'a BTreeSet<String>,
}

impl Masks<'_> {
    fn apply(&self, value: &mut serde_json::Value, is_environment: bool) {
        let from_secure = |text: &str| {
            self.secure
                .iter()
                .any(|secret| !secret.is_empty() && text.contains(secret.as_str()))
        };
        match value {
            serde_json::Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    let by_name = self.marked.contains(key) || secret_name(key);
                    match child {
                        // Numbers and booleans too: `PIN: 1234` is a value like any other.
                        serde_json::Value::String(_)
                        | serde_json::Value::Number(_)
                        | serde_json::Value::Bool(_)
                            if is_environment && by_name =>
                        {
                            *child = strata_provider::MASK.into();
                        }
                        serde_json::Value::String(text)
                            if is_environment && strata_provider::looks_secret("", text) =>
                        {
                            *text = strata_provider::MASK.to_owned();
                        }
                        _ => self.apply(child, key == "environment"),
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    self.apply(item, false);
                }
            }
            serde_json::Value::String(text) if from_secure(text) => {
                *text = strata_provider::MASK.to_owned();
            }
            _ => {}
        }
    }
}

/// A name is secret when one of its `_`-separated words is a secret word, or when it ends in
/// `KEY`/`AUTH` (`API_KEY`, but not `S3_KEY_BASE`), or it is `DATABASE_URL`.
fn secret_name(name: &str) -> bool {
    const ANYWHERE: &[&str] = &[
        "SECRET",
        "SECRETS",
        "PASSWORD",
        "PASSWD",
        "PASS",
        "TOKEN",
        "CREDENTIAL",
        "CREDENTIALS",
        "PRIVATE",
        "APIKEY",
    ];
    let upper = name.to_ascii_uppercase();
    let words: Vec<&str> = upper.split(['_', '-', '.']).collect();
    upper == "DATABASE_URL"
        || words.iter().any(|word| ANYWHERE.contains(word))
        || words
            .last()
            .is_some_and(|last| matches!(*last, "KEY" | "AUTH"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::Masks;

    fn mask(document: &mut serde_json::Value, secure: &[String]) {
        let marked = BTreeSet::new();
        Masks {
            secure,
            marked: &marked,
        }
        .apply(document, false);
    }

    #[test]
    fn secret_environment_values_are_masked_and_plain_ones_are_not() {
        let mut document = serde_json::json!({
            "provider": { "environment": {
                "STAGE": "prod",
                "S3_KEY_BASE": "dev",
                "DATABASE_URL": "postgres://u:pw@db/app",
                "STRIPE_KEY": "sk_live",
                "CACHE_URL": "redis://user:pw@cache:6379",
            } },
            "functions": { "hello": { "environment": { "API_TOKEN": "abc", "LOG_LEVEL": "info" } } }
        });
        mask(&mut document, &[]);
        let provider = &document["provider"]["environment"];
        assert_eq!(provider["STAGE"], "prod");
        assert_eq!(provider["S3_KEY_BASE"], "dev");
        assert_eq!(provider["DATABASE_URL"], "****");
        assert_eq!(provider["STRIPE_KEY"], "****");
        assert_eq!(provider["CACHE_URL"], "****");
        let hello = &document["functions"]["hello"]["environment"];
        assert_eq!(hello["API_TOKEN"], "****");
        assert_eq!(hello["LOG_LEVEL"], "info");
    }

    #[test]
    fn values_from_secure_strings_are_masked_wherever_they_appear() {
        let mut document = serde_json::json!({
            "custom": { "db": { "pass": "p4ss" }, "dsn": "host=db password=p4ss" },
            "provider": { "environment": { "PLAIN": "p4ss" } }
        });
        mask(&mut document, &["p4ss".to_owned()]);
        assert_eq!(document["custom"]["db"]["pass"], "****");
        assert_eq!(document["custom"]["dsn"], "****");
        assert_eq!(document["provider"]["environment"]["PLAIN"], "****");
    }

    /// Names from `secretEnvironment` are masked in every `environment:` map, written as
    /// text or as a number; the same document without the marker shows them.
    #[test]
    fn names_the_manifest_marks_secret_are_masked() {
        let document = serde_json::json!({
            "provider": { "environment": { "LICENSE_ID": "lic-canary", "STAGE": "prod" } },
            "functions": { "hello": { "environment": { "LICENSE_ID": 424242, "PIN": 1234 } } },
            "custom": { "note": "LICENSE_ID" }
        });
        assert!(!strata_provider::looks_secret("LICENSE_ID", "lic-canary"));
        let mut unmarked = document.clone();
        mask(&mut unmarked, &[]);
        assert_eq!(unmarked, document);

        let mut masked = document.clone();
        let marked = BTreeSet::from(["LICENSE_ID".to_owned(), "PIN".to_owned()]);
        Masks {
            secure: &[],
            marked: &marked,
        }
        .apply(&mut masked, false);
        assert_eq!(masked["provider"]["environment"]["LICENSE_ID"], "****");
        assert_eq!(masked["provider"]["environment"]["STAGE"], "prod");
        assert_eq!(
            masked["functions"]["hello"]["environment"]["LICENSE_ID"],
            "****"
        );
        assert_eq!(masked["functions"]["hello"]["environment"]["PIN"], "****");
        assert_eq!(masked["custom"]["note"], "LICENSE_ID");
    }
}
