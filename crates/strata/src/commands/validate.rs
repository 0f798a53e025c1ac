//! `strata validate`: load the manifest for a stage and report every problem at once.

use serde::Serialize;

use crate::commands::Context;
use crate::error::CliError;

#[derive(Debug, Serialize)]
struct ValidateReport<'a> {
    valid: bool,
    manifest: String,
    service: &'a str,
    stage: &'a str,
    functions: usize,
    warnings: &'a [strata_manifest::Diagnostic],
}

pub fn run(context: &Context) -> Result<(), CliError> {
    let loaded = context.load_manifest(crate::commands::ManifestUse::Build)?;
    let config = &loaded.config;
    let manifest = config
        .manifest_path
        .strip_prefix(&context.project_dir)
        .unwrap_or(&config.manifest_path)
        .display()
        .to_string();
    let report = ValidateReport {
        valid: true,
        manifest,
        service: &config.service,
        stage: &config.stage,
        functions: config.functions.len(),
        warnings: &loaded.warnings,
    };
    if context.printer.is_json() {
        context.printer.json("validate", &report);
    } else {
        let warnings = match report.warnings.len() {
            0 => String::new(),
            1 => ", 1 warning".to_string(),
            n => format!(", {n} warnings"),
        };
        context.printer.data(&format!(
            "{} is valid for stage {}: service {}, {} {}{warnings}",
            report.manifest,
            report.stage,
            report.service,
            report.functions,
            if report.functions == 1 {
                "function"
            } else {
                "functions"
            },
        ));
    }
    Ok(())
}
