//! `strata info`: what is deployed for the stage, found through the tags strata writes.

use strata_provider::Provider;

use crate::aws::{self, ManifestUse};
use crate::commands::Context;
use crate::error::CliError;

pub fn run(context: &Context) -> Result<(), CliError> {
    let loaded = aws::load_manifest(context, ManifestUse::Inspect)?;
    let config = &loaded.config;
    let settings = aws::aws_settings(config, context.load_options.region.as_deref());
    let runtime = aws::runtime()?;
    let report = runtime.block_on(async {
        let provider = aws::connect(settings).await?;
        Ok::<_, CliError>(provider.info(&config.service, &config.stage).await?)
    })?;
    if context.printer.is_json() {
        context.printer.json("info", &report);
    } else {
        context.printer.data(&report.to_string());
    }
    Ok(())
}
