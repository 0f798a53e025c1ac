//! `strata plan` (and `deploy --dry-run`): what a deploy would change, from reads only.

use crate::aws;
use crate::cli::PlanArgs;
use crate::commands::Context;
use crate::commands::deploy::{Prepared, prepare};
use crate::error::CliError;

pub fn run(context: &Context, args: &PlanArgs) -> Result<(), CliError> {
    let prepared = prepare(context, &args.selection, &args.lock_mode)?;
    show(context, prepared)
}

/// Plans against the deployed state and prints the plan; the backend's `plan` only reads
/// (no bucket, role, layer or function is created), so this has no side effects in the cloud.
pub fn show(context: &Context, prepared: Prepared) -> Result<(), CliError> {
    let runtime = aws::runtime()?;
    let plan = runtime.block_on(async {
        let provider = aws::connect(prepared.settings.clone()).await?;
        prepared.plan(&provider).await
    })?;
    if context.printer.is_json() {
        context.printer.json("plan", &plan);
    } else {
        context.printer.data(&plan.to_string());
    }
    Ok(())
}
