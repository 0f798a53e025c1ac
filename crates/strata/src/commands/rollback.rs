//! `strata rollback`: move the stage alias of each function back to the previous (or the
//! given) published version. Nothing is rebuilt or uploaded.

use strata_provider::{Provider, RollbackRequest};

use crate::aws::{self, ManifestUse};
use crate::cli::RollbackArgs;
use crate::commands::Context;
use crate::error::CliError;

pub fn run(context: &Context, args: &RollbackArgs) -> Result<(), CliError> {
    let loaded = aws::load_manifest(context, ManifestUse::Inspect)?;
    let config = &loaded.config;
    let request = RollbackRequest {
        service: config.service.clone(),
        stage: config.stage.clone(),
        functions: aws::deployed_names(config, &args.functions)?,
        to: args.to.clone(),
    };
    let settings = aws::aws_settings(config, context.load_options.region.as_deref());
    let runtime = aws::runtime()?;
    let report = runtime.block_on(async {
        let provider = aws::connect(settings).await?;
        Ok::<_, CliError>(provider.rollback(&request).await?)
    })?;
    if report.functions.is_empty() {
        return Err(CliError::input(format!(
            "nothing of service `{}`, stage `{}` is deployed, so there is nothing to roll back",
            report.service, report.stage
        ))
        .with_hint("check --stage and --region; `strata info` shows what is deployed"));
    }
    if context.printer.is_json() {
        context.printer.json("rollback", &report);
    } else {
        context.printer.data(&report.to_string());
    }
    Ok(())
}
