//! `strata print`: the fully resolved manifest for one stage, like `serverless print`.

use crate::cli::{DocumentFormat, OutputFormat, PrintArgs};
use crate::commands::Context;
use crate::error::CliError;

pub fn run(context: &Context, args: &PrintArgs) -> Result<(), CliError> {
    let loaded = context.load_manifest()?;
    let format = args.format.unwrap_or(match context.printer.format {
        OutputFormat::Json => DocumentFormat::Json,
        OutputFormat::Text => DocumentFormat::Yaml,
    });
    let mut document = loaded.config.document.clone();
    if !args.show_secrets {
        mask_environment(&mut document);
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
    Ok(())
}

/// Masks values under any `environment:` map whose name or value looks like a secret
/// (`DATABASE_URL` with a password, `API_TOKEN`, ...), so `strata print` can be pasted into
/// an issue or a CI log.
fn mask_environment(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "environment"
                    && let serde_json::Value::Object(variables) = child
                {
                    for (name, variable) in variables.iter_mut() {
                        if let serde_json::Value::String(text) = variable
                            && strata_provider::looks_secret(name, text)
                        {
                            *text = strata_provider::MASK.to_owned();
                        }
                    }
                } else {
                    mask_environment(child);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_environment),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::mask_environment;

    #[test]
    fn secret_looking_environment_values_are_masked_everywhere() {
        let mut document = serde_json::json!({
            "provider": { "environment": { "STAGE": "prod", "DATABASE_URL": "postgres://u:pw@db/app" } },
            "functions": { "hello": { "environment": { "API_TOKEN": "abc", "LOG_LEVEL": "info" } } }
        });
        mask_environment(&mut document);
        assert_eq!(document["provider"]["environment"]["STAGE"], "prod");
        assert_eq!(document["provider"]["environment"]["DATABASE_URL"], "****");
        assert_eq!(
            document["functions"]["hello"]["environment"]["API_TOKEN"],
            "****"
        );
        assert_eq!(
            document["functions"]["hello"]["environment"]["LOG_LEVEL"],
            "info"
        );
    }
}
