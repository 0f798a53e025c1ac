//! `strata remove`: delete what strata created for the stage (functions with their versions
//! and aliases, layer versions, uploaded objects, the managed role), after a confirmation.

use std::io::{BufRead, IsTerminal, Write};

use strata_provider::{Provider, RemovePlan};

use crate::aws::{self, ManifestUse};
use crate::cli::RemoveArgs;
use crate::commands::Context;
use crate::error::CliError;

pub fn run(context: &Context, args: &RemoveArgs) -> Result<(), CliError> {
    let loaded = aws::load_manifest(context, ManifestUse::Inspect)?;
    let config = &loaded.config;
    let settings = aws::aws_settings(config, context.load_options.region.as_deref());
    let runtime = aws::runtime()?;
    let (provider, plan) = runtime.block_on(async {
        let provider = aws::connect(settings).await?;
        let plan = provider.plan_remove(&config.service, &config.stage).await?;
        Ok::<_, CliError>((provider, plan))
    })?;

    if !plan.resources.is_empty() && !args.yes {
        confirm(context, &plan)?;
    }
    let report = runtime.block_on(provider.remove(&plan))?;
    if context.printer.is_json() {
        context.printer.json("remove", &report);
    } else if report.removed.is_empty() {
        context.printer.data(&plan.to_string());
    } else {
        context.printer.data(&report.to_string());
    }
    Ok(())
}

/// Shows the plan on stderr and asks; refuses when nobody can answer.
fn confirm(context: &Context, plan: &RemovePlan) -> Result<(), CliError> {
    let count = plan.resources.len();
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        if !context.printer.is_json() && !context.printer.quiet() {
            write_stderr(&plan.to_string());
        }
        return Err(CliError::input(format!(
            "refusing to remove {count} resources of service `{}`, stage `{}` without confirmation",
            plan.service, plan.stage
        ))
        .with_hint("stdin is not a terminal, so strata cannot ask; pass --yes to remove them"));
    }
    write_stderr(&format!(
        "{plan}Remove these {count} resources? This cannot be undone. [y/N] "
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
