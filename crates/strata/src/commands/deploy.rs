//! `strata deploy`: package the stage (reusing cached artifacts), compare with what AWS has,
//! and change only what differs, one function at a time all-old or all-new.

use serde::Serialize;
use strata_aws::{AwsProvider, AwsSettings};
use strata_provider::{
    DeployPlan, DeployReport, DeploySpec, FunctionOutcome, FunctionReport, Provider, RoleAction,
};

use crate::aws::{self, ManifestUse};
use crate::build::plan::PlanOptions;
use crate::cli::{DeployArgs, DeploySelectionArgs, LockModeArgs};
use crate::commands::Context;
use crate::commands::package::{build_settings, build_with_progress, own_output_dir};
use crate::error::{CliError, ErrorKind};
use crate::interrupt::Signals;
use crate::progress::DeployProgress;
use crate::project_lock::{self, ProjectLock};

/// What a deploy or plan works from: the spec of the stage and how to reach AWS.
pub struct Prepared {
    pub spec: DeploySpec,
    pub settings: AwsSettings,
    /// Only some functions were selected (`--function`).
    pub partial: bool,
    /// Held until the deploy ends: the zips it uploads are the ones it built.
    _project: ProjectLock,
}

impl Prepared {
    /// Plans the deploy. A partial deploy leaves an existing managed role as it is: its
    /// policy names the log groups of the functions in the spec, so rewriting it from a
    /// subset would take the other functions' logging rights away.
    pub async fn plan(&self, provider: &AwsProvider) -> Result<DeployPlan, CliError> {
        let mut plan = provider.plan(&self.spec).await?;
        if self.partial
            && let Some(role) = plan.role.as_mut()
            && role.action == RoleAction::Update
        {
            role.action = RoleAction::Unchanged;
        }
        Ok(plan)
    }
}

/// Loads the manifest, builds (or reuses) every artifact the selection needs into
/// `.strata/build/<stage>` exactly as `strata package` does, and maps the result.
pub fn prepare(
    context: &Context,
    selection: &DeploySelectionArgs,
    lock_mode: &LockModeArgs,
) -> Result<Prepared, CliError> {
    let loaded = aws::load_manifest(context, ManifestUse::Deploy)?;
    let config = &loaded.config;
    aws::check_selection(config, &selection.functions)?;
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
        },
        strata_python::Upgrade::None,
    )?;
    own_output_dir(&settings);
    let outcome = build_with_progress(context, config, &settings)?;
    let mut spec = aws::deploy_spec(
        config,
        &outcome.report,
        &out_dir,
        &selection.functions,
        selection.force,
    )?;
    spec.adopt = selection.adopt;
    Ok(Prepared {
        spec,
        settings: aws::aws_settings(config, context.load_options.region.as_deref()),
        partial: !selection.functions.is_empty(),
        _project: project,
    })
}

/// The JSON document of a deploy: the report and whether every function succeeded.
#[derive(Serialize)]
struct DeployDocument<'a> {
    success: bool,
    /// Ctrl-C or SIGTERM stopped the deploy early (exit 130).
    interrupted: bool,
    #[serde(flatten)]
    report: &'a DeployReport,
}

pub fn run(context: &Context, args: &DeployArgs) -> Result<(), CliError> {
    let prepared = prepare(context, &args.selection, &args.lock_mode)?;
    if args.dry_run {
        return super::plan::show(context, prepared);
    }
    let runtime = aws::runtime()?;
    // From here a first Ctrl-C lets the steps in flight finish and reports; see interrupt.rs.
    let signals = crate::interrupt::installed();
    let interrupt = signals.map(Signals::interrupt).unwrap_or_default();
    if let Some(signals) = signals {
        signals.cooperate();
    }
    let report = runtime.block_on(async {
        let provider = aws::connect(prepared.settings.clone()).await?;
        let plan = prepared.plan(&provider).await?;
        let progress = DeployProgress::new(&context.printer).with_interrupt(interrupt.clone());
        let report = provider.apply(&plan, &progress).await;
        progress.finish();
        Ok::<_, CliError>(report?)
    });
    // A call that failed after the interrupt (connecting, planning, the role) still means
    // the deploy stopped early on request: exit 130, with the failure as the cause.
    let report = match report {
        Err(error) if interrupt.is_triggered() && error.kind != ErrorKind::Interrupted => {
            let mut interrupted =
                CliError::interrupted("deploy interrupted before any function was changed");
            interrupted.causes.push(error.message);
            interrupted.causes.extend(error.causes);
            return Err(interrupted
                .with_hint("run `strata deploy` again to finish: only what differs is redone"));
        }
        other => other?,
    };

    let interrupted = interrupt.is_triggered();
    let success = report.is_success() && !interrupted;
    if context.printer.is_json() {
        context.printer.json(
            "deploy",
            &DeployDocument {
                success,
                interrupted,
                report: &report,
            },
        );
        // The report is the one JSON document; an error document after it would make two.
        return match (success, interrupted) {
            (true, _) => Ok(()),
            (false, true) => Err(CliError {
                reported: true,
                ..interrupted_error(&report)
            }),
            (false, false) => Err(CliError::already_reported()),
        };
    }
    context.printer.data(&report.to_string());
    if interrupted {
        Err(interrupted_error(&report))
    } else if success {
        Ok(())
    } else {
        Err(failure_error(&report))
    }
}

/// Says how many functions the interrupt left as they were; their aliases did not move.
fn interrupted_error(report: &DeployReport) -> CliError {
    let left = report.interrupted().count();
    let mut error = CliError::interrupted(format!(
        "deploy interrupted: {left} of {} functions were left as they were (their `{}` alias \
         still points at the old version); the others are done",
        report.functions.len(),
        report.stage
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
        "{} of {} functions failed to deploy; the `{}` alias of each was left where it was",
        failed.len(),
        report.functions.len(),
        report.stage
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
