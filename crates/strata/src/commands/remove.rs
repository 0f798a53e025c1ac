//! `strata remove`: delete what strata created for the stage on each cloud it targets
//! (functions with their releases and pointers, layer versions, uploaded objects, the managed
//! role), after one confirmation for all of them.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, IsTerminal, Write};

use serde::Serialize;
use strata_manifest::Cloud;
use strata_provider::{RemovePlan, RemoveReport};

use crate::cli::RemoveArgs;
use crate::clouds::runtime;
use crate::commands::stage::{self, CloudReport, CloudResult, Ending};
use crate::commands::{Context, ManifestUse};
use crate::error::CliError;
use crate::progress::CloudSpinners;

/// What `remove` did on one cloud, shown as the plan when nothing was deployed.
#[derive(Serialize)]
#[serde(transparent)]
struct Removed {
    report: RemoveReport,
    #[serde(skip)]
    plan: RemovePlan,
}

impl fmt::Display for Removed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.report.removed.is_empty() {
            self.plan.fmt(f)
        } else {
            self.report.fmt(f)
        }
    }
}

impl CloudReport for Removed {}

pub fn run(context: &Context, args: &RemoveArgs) -> Result<(), CliError> {
    let loaded = context.load_manifest(ManifestUse::Inspect)?;
    let config = &loaded.config;
    let asked_for = args.clouds.clouds();
    let targets = stage::targets(context, config, &[], &asked_for)?;
    let runtime = runtime()?;
    let plans = runtime.block_on(stage::on_each_cloud(
        context,
        config,
        &[],
        &targets,
        |_, backend| async move { backend.plan_remove(&config.service, &config.stage).await },
    ));
    let ready: BTreeMap<Cloud, &RemovePlan> = plans
        .iter()
        .filter_map(|outcome| Some((outcome.cloud, outcome.done()?)))
        .collect();
    let count: usize = ready.values().map(|plan| plan.resources.len()).sum();
    if count > 0 && !args.yes {
        confirm(context, &ready.values().copied().collect::<Vec<_>>(), count)?;
    }
    let spinners = &CloudSpinners::new(&context.printer);
    let outcomes = runtime.block_on(stage::on_each_cloud(
        context,
        config,
        &[],
        &targets,
        |cloud, backend| {
            let plan = ready.get(&cloud).copied();
            async move {
                let plan = plan.ok_or_else(|| {
                    CliError::input(format!("could not list what strata created on {cloud}"))
                })?;
                let _spinner = spinners.start(cloud.as_str(), "removing");
                let report = backend.remove(plan).await?;
                Ok(Removed {
                    report,
                    plan: plan.clone(),
                })
            }
        },
    ));
    // A cloud whose listing failed reports that failure, not a second one from removing.
    let outcomes = outcomes
        .into_iter()
        .zip(plans)
        .map(|(mut outcome, plan)| {
            if let CloudResult::Failed(error) = plan.result {
                outcome.result = CloudResult::Failed(error);
            }
            outcome
        })
        .collect();
    stage::finish(
        context,
        config,
        Ending {
            kind: "remove",
            verb: "remove",
            asked_for: &asked_for,
            interrupted: None,
            error: None,
        },
        outcomes,
    )
}

/// Shows the plans on stderr and asks once; refuses when nobody can answer.
fn confirm(context: &Context, plans: &[&RemovePlan], count: usize) -> Result<(), CliError> {
    let text: String = plans.iter().map(ToString::to_string).collect();
    let (service, stage) = plans
        .first()
        .map(|plan| (plan.service.as_str(), plan.stage.as_str()))
        .unwrap_or_default();
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        if !context.printer.is_json() && !context.printer.quiet() {
            write_stderr(&text);
        }
        return Err(CliError::input(format!(
            "refusing to remove {count} resources of service `{service}`, stage `{stage}` \
             without confirmation"
        ))
        .with_hint("stdin is not a terminal, so strata cannot ask; pass --yes to remove them"));
    }
    write_stderr(&format!(
        "{text}Remove these {count} resources? This cannot be undone. [y/N] "
    ));
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|error| CliError::from_source(&error))?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::input("remove cancelled; nothing was deleted"))
    }
}

fn write_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}
