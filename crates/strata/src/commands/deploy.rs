//! `strata deploy`: package the stage (reusing cached artifacts), compare with what AWS has,
//! and change only what differs, one function at a time all-old or all-new.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use strata_aws::{AwsProvider, AwsSettings};
use strata_provider::{
    DeployPlan, DeployReport, DeploySpec, FunctionOutcome, FunctionReport, LayerReport, Provider,
    Reporter, RoleAction, Step, StepFailure,
};

use crate::aws::{self, ManifestUse};
use crate::build::build;
use crate::build::plan::PlanOptions;
use crate::cli::{DeployArgs, DeploySelectionArgs, LockModeArgs};
use crate::commands::Context;
use crate::commands::package::build_settings;
use crate::error::CliError;
use crate::printer::Printer;
use crate::progress::Progress;

/// What a deploy or plan works from: the spec of the stage and how to reach AWS.
pub struct Prepared {
    pub spec: DeploySpec,
    pub settings: AwsSettings,
    /// Only some functions were selected (`--function`).
    pub partial: bool,
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
    let progress = Progress::new(&context.printer);
    let outcome = build(config, &settings, &progress)?;
    progress.finish();
    if outcome.lock_written {
        context.printer.status(
            "Locked",
            &format!("dependencies in {}", strata_python::LOCK_FILE_NAME),
        );
    }
    for note in &outcome.report.notes {
        context.printer.warning(note);
    }
    let spec = aws::deploy_spec(
        config,
        &outcome.report,
        &out_dir,
        &selection.functions,
        selection.force,
    )?;
    Ok(Prepared {
        spec,
        settings: aws::aws_settings(config, context.load_options.region.as_deref()),
        partial: !selection.functions.is_empty(),
    })
}

/// The JSON document of a deploy: the report and whether every function succeeded.
#[derive(Serialize)]
struct DeployDocument<'a> {
    success: bool,
    #[serde(flatten)]
    report: &'a DeployReport,
}

pub fn run(context: &Context, args: &DeployArgs) -> Result<(), CliError> {
    let prepared = prepare(context, &args.selection, &args.lock_mode)?;
    if args.dry_run {
        return super::plan::show(context, prepared);
    }
    let runtime = aws::runtime()?;
    let report = runtime.block_on(async {
        let provider = aws::connect(prepared.settings.clone()).await?;
        let plan = prepared.plan(&provider).await?;
        let progress = DeployProgress::new(&context.printer);
        let report = provider.apply(&plan, &progress).await;
        progress.finish();
        Ok::<_, CliError>(report?)
    })?;

    let success = report.is_success();
    if context.printer.is_json() {
        context.printer.json(
            "deploy",
            &DeployDocument {
                success,
                report: &report,
            },
        );
        if !success {
            // The report above is the one JSON document; an error document after it would
            // make stdout two documents, so exit with the failure code directly.
            std::process::exit(1);
        }
        return Ok(());
    }
    context.printer.data(&report.to_string());
    if success {
        Ok(())
    } else {
        Err(failure_error(&report))
    }
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

/// Progress of an apply: a spinner per function on a terminal, a few plain lines otherwise,
/// nothing with `--quiet` or JSON output.
struct DeployProgress {
    printer: Printer,
    bars: Option<MultiProgress>,
    active: Mutex<HashMap<String, ProgressBar>>,
}

impl DeployProgress {
    fn new(printer: &Printer) -> Self {
        let bars = (printer.progress_enabled() && !printer.is_json())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        Self {
            printer: printer.clone(),
            bars,
            active: Mutex::new(HashMap::new()),
        }
    }

    fn lines(&self) -> bool {
        self.bars.is_none() && !self.printer.is_json()
    }

    fn finish(&self) {
        if let Some(bars) = &self.bars {
            let _ = bars.clear();
        }
    }

    fn start_bar(&self, name: &str, message: &str) {
        let Some(bars) = &self.bars else { return };
        let bar = bars.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner:.cyan} {prefix:40!} {msg}")
                .expect("valid template"),
        );
        bar.set_prefix(name.to_owned());
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        self.active_bars().insert(name.to_owned(), bar);
    }

    fn set_message(&self, name: &str, message: String) {
        if let Some(bar) = self.active_bars().get(name) {
            bar.set_message(message);
        }
    }

    fn end_bar(&self, name: &str) {
        if let Some(bar) = self.active_bars().remove(name) {
            bar.finish_and_clear();
        }
    }

    fn active_bars(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A warning that does not tear the bars.
    fn warn(&self, message: &str) {
        match &self.bars {
            Some(bars) => bars.suspend(|| self.printer.warning(message)),
            None if !self.printer.is_json() => self.printer.warning(message),
            None => {}
        }
    }
}

impl Reporter for DeployProgress {
    fn on_layer_started(&self, name: &str) {
        self.start_bar(&format!("layer {name}"), "checking");
    }

    fn on_layer_finished(&self, report: &LayerReport) {
        self.end_bar(&format!("layer {}", report.name));
        if report.published && self.lines() {
            self.printer.status(
                "Published",
                &format!("layer {} version {}", report.deployed_name, report.version),
            );
        }
    }

    fn on_function_started(&self, deployed_name: &str) {
        self.start_bar(deployed_name, "starting");
        if self.lines() {
            self.printer.status("Deploying", deployed_name);
        }
    }

    fn on_step(&self, deployed_name: &str, step: Step) {
        tracing::debug!("{deployed_name}: {step}");
        self.set_message(deployed_name, step.to_string());
    }

    fn on_retry(&self, deployed_name: &str, step: Step, attempt: u32, delay: Duration) {
        self.warn(&format!(
            "{deployed_name}: {step} was refused for now (attempt {attempt}); retrying in {:.1}s",
            delay.as_secs_f64()
        ));
    }

    fn on_waiting(&self, deployed_name: &str, step: Step, poll: u32) {
        tracing::debug!("{deployed_name}: {step}, still in progress (poll {poll})");
        self.set_message(
            deployed_name,
            format!("waiting for Lambda to finish the update (poll {poll})"),
        );
    }

    fn on_function_finished(&self, report: &FunctionReport) {
        self.end_bar(&report.deployed_name);
        if !self.lines() || report.outcome == FunctionOutcome::Unchanged {
            return;
        }
        let seconds = report.duration.as_secs_f64();
        match &report.outcome {
            // The details follow in the error at the end; one short line here.
            FunctionOutcome::Failed(failure) => self.printer.warning(&format!(
                "{}: failed at {} [{seconds:.1}s]",
                report.deployed_name, failure.step
            )),
            outcome => self.printer.status(
                "Deployed",
                &format!("{}: {outcome} [{seconds:.1}s]", report.deployed_name),
            ),
        }
    }

    fn on_failure(&self, resource: &str, failure: &StepFailure) {
        self.warn(&format!("{resource}: {failure}"));
    }
}
