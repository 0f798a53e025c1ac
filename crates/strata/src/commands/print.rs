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
    let document = &loaded.config.document;
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
