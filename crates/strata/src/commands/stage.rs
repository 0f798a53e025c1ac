//! What the cloud commands share: which clouds of the stage they act on, running one step on
//! each of them concurrently, and one report with a section per cloud.
//!
//! A cloud the stage targets but this version of strata has no backend for is reported as not
//! deployable, in one line, and does not stop the others; a failure on one cloud leaves the
//! other clouds' results intact, and the command exits 1 naming it.

use std::future::Future;

use futures::future::join_all;
use serde::Serialize;
use serde_json::{Map, Value};
use strata_manifest::{Cloud, ResolvedConfig};

use crate::clouds::{Backend, CloudAdapter, ConnectInput, targeted_clouds};
use crate::commands::Context;
use crate::error::CliError;

/// What one step gave on one cloud.
pub enum CloudResult<T> {
    Done(T),
    Failed(CliError),
    /// The stage targets this cloud, but this version of strata cannot deploy to it.
    NotDeployable {
        functions: Vec<String>,
    },
}

pub struct CloudOutcome<T> {
    pub cloud: Cloud,
    pub result: CloudResult<T>,
}

impl<T> CloudOutcome<T> {
    pub fn done(&self) -> Option<&T> {
        match &self.result {
            CloudResult::Done(value) => Some(value),
            _ => None,
        }
    }
}

/// The clouds a command acts on, each with its adapter when strata has one.
pub struct Targets<'a> {
    pub clouds: Vec<(Cloud, Option<&'a dyn CloudAdapter>)>,
}

/// Which clouds of the stage a command acts on: those its (selected) functions target,
/// narrowed by `--cloud`. Asking for a cloud no selected function targets is an error.
pub fn targets<'a>(
    context: &'a Context,
    config: &ResolvedConfig,
    selection: &[String],
    narrowed_to: &[Cloud],
) -> Result<Targets<'a>, CliError> {
    check_selection(config, selection)?;
    let clouds = targeted_clouds(config, selection, narrowed_to);
    for cloud in narrowed_to {
        if !clouds.contains(cloud) {
            let what = if selection.is_empty() {
                format!("no function of stage `{}`", config.stage)
            } else {
                format!("none of the functions {}", selection.join(", "))
            };
            return Err(
                CliError::input(format!("--cloud {cloud}: {what} deploys to {cloud}")).with_hint(
                    format!(
                        "add {cloud} to a function's targets (`targets: [{cloud}]`), or leave \
                         --cloud out to act on every cloud the stage targets"
                    ),
                ),
            );
        }
    }
    if clouds.is_empty() {
        return Err(CliError::input(format!(
            "no function of stage `{}` deploys to any cloud",
            config.stage
        ))
        .with_hint("add a function under `functions:`"));
    }
    Ok(Targets {
        clouds: clouds
            .into_iter()
            .map(|cloud| (cloud, context.clouds.adapter(cloud)))
            .collect(),
    })
}

/// Checks `--function` names before anything is built.
pub fn check_selection(config: &ResolvedConfig, selection: &[String]) -> Result<(), CliError> {
    for name in selection {
        if !config.functions.contains_key(name) {
            return Err(
                CliError::input(format!("function `{name}` is not in the manifest")).with_hint(
                    format!(
                        "functions in the manifest: {}",
                        config
                            .functions
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            );
        }
    }
    Ok(())
}

/// The selected functions of `config` (all when `selection` is empty) that target `cloud`.
pub fn function_names(config: &ResolvedConfig, selection: &[String], cloud: Cloud) -> Vec<String> {
    crate::clouds::cloud_functions(config, selection, cloud)
        .into_iter()
        .map(|(function, _)| function.name.clone())
        .collect()
}

/// Runs `step` on every targeted cloud that has a backend, concurrently, connecting first.
/// Clouds without one are reported as not deployable.
pub async fn on_each_cloud<'a, T, F, Fut>(
    context: &'a Context,
    config: &'a ResolvedConfig,
    selection: &'a [String],
    targets: &'a Targets<'a>,
    step: F,
) -> Vec<CloudOutcome<T>>
where
    F: Fn(Cloud, Box<dyn Backend>) -> Fut,
    Fut: Future<Output = Result<T, CliError>>,
{
    let region = context.load_options.region.as_deref();
    let runs = targets.clouds.iter().map(|(cloud, adapter)| {
        let step = &step;
        async move {
            let result = match adapter {
                None => CloudResult::NotDeployable {
                    functions: function_names(config, selection, *cloud),
                },
                Some(adapter) => {
                    let input = ConnectInput {
                        config,
                        region,
                        env: &context.env,
                    };
                    let outcome = match adapter.connect(&input).await {
                        Ok(backend) => step(*cloud, backend).await,
                        Err(error) => Err(error),
                    };
                    match outcome {
                        Ok(value) => CloudResult::Done(value),
                        Err(error) => CloudResult::Failed(error),
                    }
                }
            };
            CloudOutcome {
                cloud: *cloud,
                result,
            }
        }
    });
    join_all(runs).await
}

/// A cloud's result as a command shows it.
pub trait CloudReport: Serialize + std::fmt::Display {
    /// Why this result counts as a failure although the cloud answered (functions that
    /// failed to deploy), if it does.
    fn failure(&self) -> Option<CliError> {
        None
    }
}

/// Runs `step` on each cloud that has a value (a prepared spec), concurrently; clouds that
/// failed or are not deployable keep that result.
pub async fn on_each_prepared<'a, S, T, F, Fut>(
    prepared: &'a [CloudOutcome<S>],
    step: F,
) -> Vec<CloudOutcome<T>>
where
    F: Fn(Cloud, &'a S) -> Fut,
    Fut: Future<Output = Result<T, CliError>>,
{
    let runs = prepared.iter().map(|outcome| {
        let step = &step;
        async move {
            let result = match &outcome.result {
                CloudResult::Done(value) => match step(outcome.cloud, value).await {
                    Ok(value) => CloudResult::Done(value),
                    Err(error) => CloudResult::Failed(error),
                },
                CloudResult::Failed(error) => CloudResult::Failed(error.clone()),
                CloudResult::NotDeployable { functions } => CloudResult::NotDeployable {
                    functions: functions.clone(),
                },
            };
            CloudOutcome {
                cloud: outcome.cloud,
                result,
            }
        }
    });
    join_all(runs).await
}

/// Connects to `cloud` through its adapter.
pub async fn connect(
    context: &Context,
    config: &ResolvedConfig,
    cloud: Cloud,
) -> Result<Box<dyn Backend>, CliError> {
    let adapter = context
        .clouds
        .adapter(cloud)
        .ok_or_else(|| CliError::internal(format!("strata has no backend for {cloud}")))?;
    let input = ConnectInput {
        config,
        region: context.load_options.region.as_deref(),
        env: &context.env,
    };
    adapter.connect(&input).await
}

/// One JSON document for a command across clouds:
/// `{service, stage, success, [interrupted], clouds: [{cloud, status, …}]}`.
#[derive(Serialize)]
pub struct StageDocument {
    pub service: String,
    pub stage: String,
    pub success: bool,
    /// Ctrl-C or SIGTERM stopped the deploy early (exit 130); deploy only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<bool>,
    pub clouds: Vec<Value>,
}

/// `{cloud, status: ok|failed|not_deployable, …the result's fields | error | functions}`.
fn cloud_json<T: CloudReport>(outcome: &CloudOutcome<T>) -> Value {
    let mut fields = Map::new();
    fields.insert("cloud".into(), outcome.cloud.as_str().into());
    let (status, body) = match &outcome.result {
        CloudResult::Done(value) => (
            if value.failure().is_some() {
                "failed"
            } else {
                "ok"
            },
            serde_json::to_value(value).expect("reports serialize to JSON"),
        ),
        CloudResult::Failed(error) => (
            "failed",
            serde_json::json!({ "error": serde_json::to_value(error).expect("errors serialize") }),
        ),
        CloudResult::NotDeployable { functions } => (
            "not_deployable",
            serde_json::json!({ "functions": functions }),
        ),
    };
    fields.insert("status".into(), status.into());
    if let Value::Object(body) = body {
        for (key, value) in body {
            fields.entry(key).or_insert(value);
        }
    }
    Value::Object(fields)
}

/// The text of one cloud's section: the result as it displays, or what went wrong.
fn cloud_text<T: CloudReport>(verb: &str, outcome: &CloudOutcome<T>) -> String {
    match &outcome.result {
        CloudResult::Done(value) => value.to_string(),
        CloudResult::Failed(error) => {
            let mut text = format!("{verb} ({}): FAILED: {}\n", outcome.cloud, error.message);
            for cause in &error.causes {
                text.push_str(&format!("  caused by: {cause}\n"));
            }
            text
        }
        CloudResult::NotDeployable { functions } => format!(
            "{}: not deployable by this version of strata; left as they are: {}\n",
            outcome.cloud,
            functions.join(", ")
        ),
    }
}

/// How a command ends.
pub struct Ending<'a> {
    /// The JSON document's `kind`.
    pub kind: &'a str,
    /// What the command does, for messages (`deploy`, `plan`).
    pub verb: &'a str,
    /// The clouds named with `--cloud`.
    pub asked_for: &'a [Cloud],
    /// `Some` for a deploy: whether an interrupt stopped it.
    pub interrupted: Option<bool>,
    /// The error to end with instead of the one the outcomes give (an interrupted deploy).
    pub error: Option<CliError>,
}

/// Prints the outcomes (one JSON document, or a section per cloud) and turns them into the
/// command's result: an error naming every cloud that failed, and the clouds asked for with
/// `--cloud` that strata cannot deploy to.
pub fn finish<T: CloudReport>(
    context: &Context,
    config: &ResolvedConfig,
    ending: Ending<'_>,
    mut outcomes: Vec<CloudOutcome<T>>,
) -> Result<(), CliError> {
    // One cloud that failed as a whole: its own error is the clearest report.
    if outcomes.len() == 1
        && ending.error.is_none()
        && matches!(outcomes[0].result, CloudResult::Failed(_))
        && let Some(CloudOutcome {
            result: CloudResult::Failed(error),
            ..
        }) = outcomes.pop()
    {
        return Err(error);
    }
    let error = match &ending.error {
        Some(error) => Some(error.clone()),
        None => failure(ending.verb, &outcomes, ending.asked_for),
    };
    let document = crate::printer::document(
        ending.kind,
        &StageDocument {
            service: config.service.clone(),
            stage: config.stage.clone(),
            success: error.is_none() && ending.interrupted != Some(true),
            interrupted: ending.interrupted,
            clouds: outcomes.iter().map(cloud_json).collect(),
        },
    );
    if let Some(github) = context.printer.github() {
        report_to_github(context, github, &document);
    }
    if context.printer.is_json() {
        context
            .printer
            .data(&serde_json::to_string_pretty(&document).expect("JSON values serialize"));
        // The report is the one JSON document; an error document after it would make two.
        return match error {
            Some(error) => Err(CliError {
                reported: true,
                ..error
            }),
            None => Ok(()),
        };
    }
    let text: Vec<String> = outcomes
        .iter()
        .map(|outcome| cloud_text(ending.verb, outcome))
        .collect();
    context.printer.data(&text.join(""));
    match error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Inside a GitHub Actions job: the JSON report written to a file, the step outputs
/// (`changed`, `functions`, `report`) and the job summary. A file that cannot be written is a
/// warning, never a reason to fail a deploy that happened.
fn report_to_github(context: &Context, github: &crate::github::GithubActions, document: &Value) {
    let report = match github.write_report(&context.project_dir, document) {
        Ok(path) => path.display().to_string(),
        Err(error) => {
            context.printer.warning(&format!(
                "could not write the JSON report for GitHub Actions: {error}"
            ));
            String::new()
        }
    };
    let (changed, functions) = crate::github::stage_outputs(document);
    let written = github
        .write_outputs(&[
            ("changed", changed.to_string()),
            ("functions", functions.to_string()),
            ("report", report),
        ])
        .and_then(|()| github.write_summary(&crate::github::stage_summary(document)));
    if let Err(error) = written {
        context.printer.warning(&format!(
            "could not write the GitHub Actions outputs or job summary: {error}"
        ));
    }
}

/// The error a command ends with when a cloud failed, or when nothing could be done at all.
/// With one cloud, that cloud's own error; with several, one naming each.
fn failure<T: CloudReport>(
    verb: &str,
    outcomes: &[CloudOutcome<T>],
    asked_for: &[Cloud],
) -> Option<CliError> {
    let nothing_done = outcomes.iter().all(|outcome| outcome.done().is_none());
    let mut failed: Vec<(Cloud, CliError)> = Vec::new();
    for outcome in outcomes {
        let cloud = outcome.cloud;
        match &outcome.result {
            CloudResult::Done(value) => failed.extend(value.failure().map(|error| (cloud, error))),
            CloudResult::Failed(error) => failed.push((cloud, error.clone())),
            // Asked for by name, or the only thing there was to do: not deploying is a failure.
            CloudResult::NotDeployable { .. } if asked_for.contains(&cloud) || nothing_done => {
                failed.push((
                    cloud,
                    CliError::input(format!(
                        "this version of strata has no backend for {}",
                        cloud.product()
                    ))
                    .with_hint(format!(
                        "deploy the {cloud} functions with the cloud's own tool for now, or \
                         leave --cloud {cloud} out"
                    )),
                ));
            }
            CloudResult::NotDeployable { .. } => {}
        }
    }
    if outcomes.len() == 1 {
        return failed.pop().map(|(_, error)| error);
    }
    if failed.is_empty() {
        return None;
    }
    let names: Vec<&str> = failed.iter().map(|(cloud, _)| cloud.as_str()).collect();
    let mut error = CliError::input(format!(
        "{verb} failed on {} of {} clouds: {}; the others are reported above",
        failed.len(),
        outcomes.len(),
        names.join(", ")
    ));
    for (cloud, cause) in failed {
        error.causes.push(format!("{cloud}: {}", cause.message));
        error.causes.extend(cause.causes);
        error.hints.extend(cause.hints);
    }
    Some(error)
}
