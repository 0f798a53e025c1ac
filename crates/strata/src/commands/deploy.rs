//! `strata deploy`: package the stage (reusing cached artifacts), then on every cloud it
//! targets compare with what is deployed and change only what differs, one function at a time
//! all-old or all-new. Clouds are deployed concurrently; one report, one exit code.

use strata_build::plan::PlanOptions;
use strata_manifest::{Cloud, Loaded};
use strata_provider::{DeployReport, DeploySpec, FunctionOutcome, FunctionReport};

use crate::cli::{DeployArgs, DeploySelectionArgs, LockModeArgs};
use crate::clouds::{SpecInput, cloud_functions, runtime};
use crate::commands::package::{build_settings, build_with_progress, own_output_dir};
use crate::commands::stage::{self, CloudOutcome, CloudReport, CloudResult, Ending};
use crate::commands::{Context, ManifestUse};
use crate::error::{CliError, ErrorKind};
use crate::interrupt::Signals;
use crate::progress::DeployProgress;
use crate::project_lock::{self, ProjectLock};

/// What a deploy or plan works from: the stage's spec for each cloud it targets.
pub struct Prepared {
    pub loaded: Loaded,
    /// Each targeted cloud with its spec, or why there is none.
    pub clouds: Vec<CloudOutcome<DeploySpec>>,
    /// The clouds named with `--cloud`.
    pub asked_for: Vec<Cloud>,
    /// Held until the deploy ends: the zips it uploads are the ones it built.
    _project: ProjectLock,
}

/// Loads the manifest, builds (or reuses) every artifact the selection needs into
/// `.strata/build/<stage>` exactly as `strata package` does, and maps the result into one
/// spec per targeted cloud.
pub fn prepare(
    context: &Context,
    selection: &DeploySelectionArgs,
    lock_mode: &LockModeArgs,
) -> Result<Prepared, CliError> {
    let loaded = context.load_manifest(ManifestUse::Deploy)?;
    let config = &loaded.config;
    let asked_for = selection.clouds.clouds();
    let targets = stage::targets(context, config, &selection.functions, &asked_for)?;
    let project = project_lock::acquire(&context.printer, &config.project_dir, &lock_mode.wait)?;
    let out_dir = config
        .project_dir
        .join(".strata")
        .join("build")
        .join(&config.stage);
    let settings = build_settings(
        context,
        lock_mode,
        out_dir.clone(),
        PlanOptions {
            functions: selection.functions.clone(),
            layers_only: false,
            // Only what the targeted clouds deploy is built.
            clouds: targets.clouds.iter().map(|(cloud, _)| *cloud).collect(),
        },
        strata_python::Upgrade::None,
    )?;
    own_output_dir(&settings);
    let outcome = build_with_progress(context, config, &settings)?;
    if let Some(github) = context.printer.github() {
        // What was built, with each layer against its budget, above the deploy's own section.
        let document = crate::printer::document("package", &outcome.report);
        if let Err(error) = github.write_summary(&crate::github::build_summary(&document)) {
            context.printer.warning(&format!(
                "could not write the GitHub Actions job summary: {error}"
            ));
        }
    }
    let clouds = targets
        .clouds
        .iter()
        .map(|(cloud, adapter)| {
            let result = match adapter {
                None => CloudResult::NotDeployable {
                    functions: stage::function_names(config, &selection.functions, *cloud),
                },
                Some(adapter) => {
                    let input = SpecInput {
                        config,
                        build: &outcome.report,
                        out_dir: &out_dir,
                        functions: cloud_functions(config, &selection.functions, *cloud),
                        force: selection.force,
                        adopt: selection.adopt,
                        partial: !selection.functions.is_empty(),
                    };
                    match adapter.deploy_spec(&input) {
                        Ok(spec) => CloudResult::Done(spec),
                        Err(error) => CloudResult::Failed(error),
                    }
                }
            };
            CloudOutcome {
                cloud: *cloud,
                result,
            }
        })
        .collect();
    Ok(Prepared {
        loaded,
        clouds,
        asked_for,
        _project: project,
    })
}

impl CloudReport for DeployReport {
    fn failure(&self) -> Option<CliError> {
        (!self.is_success()).then(|| failure_error(self))
    }
}

pub fn run(context: &Context, args: &DeployArgs) -> Result<(), CliError> {
    let prepared = prepare(context, &args.selection, &args.lock_mode)?;
    if args.dry_run {
        return super::plan::show(context, prepared);
    }
    let runtime = runtime()?;
    // From here a first Ctrl-C lets the steps in flight finish and reports; see interrupt.rs.
    let signals = crate::interrupt::installed();
    let interrupt = signals.map(Signals::interrupt).unwrap_or_default();
    if let Some(signals) = signals {
        signals.cooperate();
    }
    let config = &prepared.loaded.config;
    let progress = DeployProgress::new(&context.printer).with_interrupt(interrupt.clone());
    let progress = &progress;
    let outcomes = runtime.block_on(stage::on_each_prepared(
        &prepared.clouds,
        |cloud, spec| async move {
            let backend = stage::connect(context, config, cloud).await?;
            let plan = backend.plan(spec).await?;
            backend.apply(&plan, progress).await
        },
    ));
    progress.finish();

    let interrupted = interrupt.is_triggered();
    stage::finish(
        context,
        config,
        Ending {
            kind: "deploy",
            verb: "deploy",
            asked_for: &prepared.asked_for,
            interrupted: Some(interrupted),
            error: interrupted.then(|| interrupted_error(&outcomes)),
        },
        outcomes,
    )
}

/// What an interrupt left undone on each cloud. A call that failed after the interrupt
/// (connecting, planning, the role) still means the deploy stopped early on request: exit
/// 130, with the failure as the cause.
fn interrupted_error(outcomes: &[CloudOutcome<DeployReport>]) -> CliError {
    let reports: Vec<&DeployReport> = outcomes.iter().filter_map(CloudOutcome::done).collect();
    let mut error = match reports.as_slice() {
        [report] => interrupted_report_error(report),
        [] => CliError::interrupted("deploy interrupted before any function was changed")
            .with_hint("run `strata deploy` again to finish: only what differs is redone"),
        _ => {
            let left: usize = reports
                .iter()
                .map(|report| report.interrupted().count())
                .sum();
            CliError::interrupted(format!(
                "deploy interrupted: {left} functions were left as they were (their stage \
                 pointer still serves the old release); the others are done"
            ))
            .with_hint("run `strata deploy` again to finish: only what still differs is redone")
        }
    };
    for outcome in outcomes {
        if let CloudResult::Failed(failure) = &outcome.result
            && failure.kind != ErrorKind::Interrupted
        {
            error.causes.push(failure.message.clone());
            error.causes.extend(failure.causes.iter().cloned());
        }
    }
    error
}

/// The stage pointer of a report's functions as the cloud names it (`alias prod`).
fn pointer_text(report: &DeployReport) -> String {
    report
        .functions
        .iter()
        .find_map(|function| function.pointer.as_ref())
        .map_or_else(
            || format!("`{}` pointer", report.stage),
            ToString::to_string,
        )
}

/// Says how many functions the interrupt left as they were; their pointers did not move.
fn interrupted_report_error(report: &DeployReport) -> CliError {
    let left = report.interrupted().count();
    let mut error = CliError::interrupted(format!(
        "deploy interrupted: {left} of {} functions were left as they were (their {} still \
         serves the old release); the others are done",
        report.functions.len(),
        pointer_text(report)
    ));
    for function in report.failed() {
        if let FunctionOutcome::Failed(failure) = &function.outcome {
            error
                .causes
                .push(format!("{}: {failure}", function.deployed_name));
        }
    }
    error.with_hint("run `strata deploy` again to finish: only what still differs is redone")
}

/// Names each failed function, the step that failed, and the request id.
fn failure_error(report: &DeployReport) -> CliError {
    let failed: Vec<&FunctionReport> = report.failed().collect();
    let mut error = CliError::input(format!(
        "{} of {} functions failed to deploy on {}; the {} of each was left where it was",
        failed.len(),
        report.functions.len(),
        report.cloud,
        pointer_text(report)
    ));
    for function in failed {
        if let FunctionOutcome::Failed(failure) = &function.outcome {
            error
                .causes
                .push(format!("{}: {failure}", function.deployed_name));
        }
    }
    error.with_hint(
        "fix the cause, then run `strata deploy` again: only what still differs is redone",
    )
}
