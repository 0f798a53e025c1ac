//! `strata schema`: the manifest's JSON Schema, for editor completion and validation.

use crate::commands::Context;
use crate::error::CliError;

pub fn run(context: &Context) -> Result<(), CliError> {
    let schema = strata_manifest::json_schema();
    context
        .printer
        .data(&serde_json::to_string_pretty(&schema).expect("JSON values serialize"));
    Ok(())
}
