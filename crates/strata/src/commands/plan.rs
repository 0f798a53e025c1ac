//! `strata plan` (and `deploy --dry-run`): what a deploy would change on each cloud the stage
//! targets, from reads only.

use strata_provider::DeployPlan;

use crate::cli::PlanArgs;
use crate::clouds::runtime;
use crate::commands::Context;
use crate::commands::deploy::{Prepared, prepare};
use crate::commands::stage::{self, CloudReport, Ending};
use crate::error::CliError;

impl CloudReport for DeployPlan {}

pub fn run(context: &Context, args: &PlanArgs) -> Result<(), CliError> {
    let prepared = prepare(context, &args.selection, &args.lock_mode)?;
    show(context, prepared)
}

/// Plans against the deployed state of every targeted cloud and prints the plans; a backend's
/// `plan` only reads (no bucket, role, layer or function is created), so this has no side
/// effects in the cloud.
pub fn show(context: &Context, prepared: Prepared) -> Result<(), CliError> {
    let config = &prepared.loaded.config;
    let runtime = runtime()?;
    let outcomes = runtime.block_on(stage::on_each_prepared(
        &prepared.clouds,
        |cloud, spec| async move {
            let backend = stage::connect(context, config, cloud).await?;
            backend.plan(spec).await
        },
    ));
    stage::finish(
        context,
        config,
        Ending {
            kind: "plan",
            verb: "plan",
            asked_for: &prepared.asked_for,
            interrupted: None,
            error: None,
        },
        outcomes,
    )
}
