//! `strata print`: the fully resolved manifest for one stage, like `serverless print`.
//!
//! Like `serverless print`, it prints what it could resolve even when validation finds
//! errors: the document goes to stdout, the errors to stderr, and the exit code is 1.

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
        mask(&mut document, &printed.secure_values, false);
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

/// Masks every string that holds a value read from an SSM SecureString, and values under an
/// `environment:` map whose name says they are secret (`API_TOKEN`, `DB_PASSWORD`,
/// `STRIPE_KEY`) or that are URLs with a password, so `strata print` can be pasted into an
/// issue or a CI log. Plain values whose name merely contains a marker (`S3_KEY_BASE: dev`)
/// are shown.
fn mask(value: &mut serde_json::Value, secure: &[String], is_environment: bool) {
    let from_secure = |text: &str| {
        secure
            .iter()
            .any(|secret| !secret.is_empty() && text.contains(secret.as_str()))
    };
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    serde_json::Value::String(text)
                        if is_environment
                            && (secret_name(key) || strata_provider::looks_secret("", text)) =>
                    {
                        *text = strata_provider::MASK.to_owned();
                    }
                    _ => mask(child, secure, key == "environment"),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                mask(item, secure, false);
            }
        }
        serde_json::Value::String(text) if from_secure(text) => {
            *text = strata_provider::MASK.to_owned();
        }
        _ => {}
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
    use super::mask;

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
        mask(&mut document, &[], false);
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
        mask(&mut document, &["p4ss".to_owned()], false);
        assert_eq!(document["custom"]["db"]["pass"], "****");
        assert_eq!(document["custom"]["dsn"], "****");
        assert_eq!(document["provider"]["environment"]["PLAIN"], "****");
    }
}
