//! `strata info`: what is deployed for the stage on each cloud it targets, found through the
//! tags strata writes.

use strata_provider::InfoReport;

use crate::cli::InfoArgs;
use crate::clouds::runtime;
use crate::commands::stage::{self, CloudReport, Ending};
use crate::commands::{Context, ManifestUse};
use crate::error::CliError;

impl CloudReport for InfoReport {}

pub fn run(context: &Context, args: &InfoArgs) -> Result<(), CliError> {
    let loaded = context.load_manifest(ManifestUse::Inspect)?;
    let config = &loaded.config;
    let asked_for = args.clouds.clouds();
    let targets = stage::targets(context, config, &[], &asked_for)?;
    let outcomes = runtime()?.block_on(stage::on_each_cloud(
        context,
        config,
        &[],
        &targets,
        |_, backend| async move { backend.info(&config.service, &config.stage).await },
    ));
    stage::finish(
        context,
        config,
        Ending {
            kind: "info",
            verb: "info",
            asked_for: &asked_for,
            interrupted: None,
            error: None,
        },
        outcomes,
    )
}
