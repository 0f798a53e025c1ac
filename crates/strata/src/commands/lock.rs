//! `strata lock`: pin every dependency set the stage needs, for each of its targets.

use serde::Serialize;

use strata_build::plan::{PlanOptions, plan_build};
use strata_build::{BuildError, BuildSettings, pin_dependencies};

use crate::cli::{LockArgs, LockModeArgs};
use crate::commands::Context;
use crate::commands::package::build_settings;
use crate::error::CliError;
use crate::progress::Progress;
use crate::project_lock;

#[derive(Debug, Serialize)]
struct LockReport {
    path: String,
    written: bool,
    sets: Vec<LockedNeed>,
}

#[derive(Debug, Serialize)]
struct LockedNeed {
    requirements: String,
    target: String,
    distributions: Vec<String>,
}

pub fn run(context: &Context, args: &LockArgs) -> Result<(), CliError> {
    let loaded = context.load_manifest(crate::commands::ManifestUse::Build)?;
    let config = &loaded.config;
    let upgrade = if args.upgrade {
        strata_python::Upgrade::All
    } else if !args.upgrade_packages.is_empty() {
        strata_python::Upgrade::Packages(args.upgrade_packages.clone())
    } else {
        strata_python::Upgrade::None
    };
    let lock_mode = LockModeArgs {
        locked: args.check,
        offline: false,
        resolver: args.resolver.clone(),
        wait: args.wait.clone(),
    };
    let _project = project_lock::acquire(&context.printer, &config.project_dir, &args.wait)?;
    let mut settings: BuildSettings = build_settings(
        context,
        &lock_mode,
        config.project_dir.join(".strata"),
        PlanOptions::default(),
        upgrade,
    )?;
    // Nothing is packaged: no wheel is downloaded ahead of a build that does not follow.
    settings.native.download_ahead = false;
    let plan = plan_build(config, &settings.plan).map_err(BuildError::from)?;
    let progress = Progress::new(&context.printer);
    let (pins, written) = pin_dependencies(config, &plan, &settings, &progress)?;
    progress.finish();

    let report = LockReport {
        path: strata_python::LOCK_FILE_NAME.to_owned(),
        written,
        sets: pins
            .iter()
            .map(|(need, pins)| LockedNeed {
                requirements: need.requirements.display().to_string(),
                target: strata_build::python_target(&need.target)
                    .map(|target| target.label())
                    .unwrap_or_else(|_| need.target.to_string()),
                distributions: pins
                    .pins
                    .iter()
                    .map(|pin| format!("{}=={}", pin.name, pin.version))
                    .collect(),
            })
            .collect(),
    };
    if context.printer.is_json() {
        context.printer.json("lock", &report);
    } else {
        let mut text = String::new();
        for set in &report.sets {
            text.push_str(&format!(
                "{} for {}: {}\n",
                set.requirements,
                set.target,
                if set.distributions.is_empty() {
                    "nothing to install".to_owned()
                } else {
                    set.distributions.join(", ")
                }
            ));
        }
        text.push_str(if written {
            "strata.lock updated"
        } else if report.sets.is_empty() {
            "no dependencies to lock"
        } else {
            "strata.lock is up to date"
        });
        context.printer.data(&text);
    }
    Ok(())
}
