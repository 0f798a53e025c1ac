//! `strata invoke`: one call of a deployed function on its stage, or with `--local` its
//! handler run on this machine with the target's Python, the dependencies it deploys with, the
//! stage's environment and an event (given, or a realistic sample).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use strata_build::plan::PlanOptions;
use strata_manifest::{Cloud, FunctionConfig, FunctionTarget, ResolvedConfig};
use strata_provider::InvokeRequest;

use crate::cli::{InvokeArgs, LockModeArgs, SampleEvent, WaitArgs};
use crate::clouds::{ConnectInput, runtime};
use crate::commands::package::{build_settings, build_with_progress, own_output_dir};
use crate::commands::{Context, ManifestUse};
use crate::error::CliError;
use crate::project_lock;

/// The runner `--local` hands the handler to.
const RUNNER: &str = include_str!("invoke_local.py");

pub fn run(context: &Context, args: &InvokeArgs) -> Result<(), CliError> {
    let usage = if args.local {
        ManifestUse::Build
    } else {
        ManifestUse::Inspect
    };
    let loaded = context.load_manifest(usage)?;
    let config = &loaded.config;
    let (function, target) = pick(config, args)?;
    let payload = payload(context, args, target.cloud)?;
    if args.local {
        local(context, config, function, target, &payload)
    } else {
        remote(context, config, args, function, target, &payload)
    }
}

/// The function and cloud to call: the one named (or the stage's only function), on the one
/// cloud it targets (or the one `--cloud` names).
fn pick<'a>(
    config: &'a ResolvedConfig,
    args: &InvokeArgs,
) -> Result<(&'a FunctionConfig, &'a FunctionTarget), CliError> {
    let function = match &args.function {
        Some(name) => {
            crate::commands::stage::check_selection(config, std::slice::from_ref(name))?;
            &config.functions[name]
        }
        None if config.functions.len() == 1 => config.functions.values().next().expect("one"),
        None => {
            let names: Vec<&str> = config.functions.keys().map(String::as_str).collect();
            return Err(CliError::input(format!(
                "stage `{}` has {} functions; say which one to invoke",
                config.stage,
                names.len()
            ))
            .with_hint(format!("add --function with one of: {}", names.join(", "))));
        }
    };
    let clouds: Vec<Cloud> = function.clouds.keys().copied().collect();
    let cloud = match (args.cloud, clouds.as_slice()) {
        (Some(cloud), _) if clouds.contains(&cloud) => cloud,
        (Some(cloud), _) => {
            return Err(CliError::input(format!(
                "function `{}` does not deploy to {cloud}",
                function.name
            ))
            .with_hint(format!("it deploys to: {}", join(&clouds))));
        }
        (None, [only]) => *only,
        (None, _) => {
            return Err(CliError::input(format!(
                "function `{}` deploys to {}; say which one to invoke",
                function.name,
                join(&clouds)
            ))
            .with_hint("add --cloud with one of them"));
        }
    };
    Ok((function, &function.clouds[&cloud]))
}

fn join(clouds: &[Cloud]) -> String {
    clouds
        .iter()
        .map(|cloud| cloud.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The event as JSON text: `--data`, `--path`, a sample, or `{}`.
fn payload(context: &Context, args: &InvokeArgs, cloud: Cloud) -> Result<String, CliError> {
    let text = if let Some(data) = &args.data {
        data.clone()
    } else if let Some(path) = &args.path {
        let path = context.project_dir.join(path);
        fs_err::read_to_string(&path).map_err(|error| {
            CliError::from_source(&error).with_hint("--path names a file holding the event as JSON")
        })?
    } else if let Some(kind) = args.event {
        return Ok(sample_event(kind, cloud).to_string());
    } else {
        "{}".to_owned()
    };
    let parsed: Value = serde_json::from_str(&text).map_err(|error| {
        CliError::input(format!("the event is not JSON: {error}"))
            .with_hint("give the event as a JSON document, e.g. --data '{\"name\": \"x\"}'")
    })?;
    Ok(parsed.to_string())
}

/// A realistic event of `kind`, in the shape `cloud` delivers it: what the seed's handlers
/// read (API Gateway proxy requests, S3 and SQS records, EventBridge schedules, Pub/Sub and
/// Cloud Storage CloudEvents, Azure blob and HTTP requests).
pub fn sample_event(kind: SampleEvent, cloud: Cloud) -> Value {
    const TIME: &str = "2026-12-01T12:00:00.000Z";
    match (kind, cloud) {
        (SampleEvent::Api, _) => json!({
            "resource": "/hello", "path": "/hello", "httpMethod": "GET",
            "headers": { "Accept": "application/json", "Host": "example.execute-api.us-east-1.amazonaws.com" },
            "queryStringParameters": { "name": "strata" }, "pathParameters": null,
            "stageVariables": null, "body": null, "isBase64Encoded": false,
            "requestContext": { "resourcePath": "/hello", "httpMethod": "GET", "stage": "dev",
                                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                                "identity": { "sourceIp": "203.0.113.7" } }
        }),
        (SampleEvent::S3, _) => json!({ "Records": [ {
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": TIME, "eventName": "ObjectCreated:Put",
            "s3": { "s3SchemaVersion": "1.0", "configurationId": "strata-sample",
                    "bucket": { "name": "my-bucket", "arn": "arn:aws:s3:::my-bucket" },
                    "object": { "key": "uploads/sample.txt", "size": 1024,
                                "eTag": "d41d8cd98f00b204e9800998ecf8427e" } } } ] }),
        (SampleEvent::Sqs, _) => json!({ "Records": [ {
            "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d", "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
            "body": "{\"order\": 42}",
            "attributes": { "ApproximateReceiveCount": "1", "SentTimestamp": "1796126400000" },
            "messageAttributes": {}, "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:my-queue",
            "awsRegion": "us-east-1" } ] }),
        (SampleEvent::Schedule, Cloud::Azure) => json!({ "past_due": false }),
        (SampleEvent::Schedule, _) => json!({
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
            "time": TIME, "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/my-schedule"], "detail": {}
        }),
        (SampleEvent::Pubsub, _) => json!({
            "specversion": "1.0", "id": "1234567890",
            "source": "//pubsub.googleapis.com/projects/my-project/topics/my-topic",
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "datacontenttype": "application/json", "time": TIME,
            "data": { "message": { "data": "SGVsbG8gZnJvbSBzdHJhdGE=", "messageId": "1234567890",
                                   "publishTime": TIME, "attributes": {} },
                      "subscription": "projects/my-project/subscriptions/my-subscription" }
        }),
        (SampleEvent::Storage, Cloud::Azure) => json!({
            "name": "samples/sample.txt", "data": "Hello from strata",
            "uri": "https://account.blob.core.windows.net/samples/sample.txt"
        }),
        (SampleEvent::Storage, _) => json!({
            "specversion": "1.0", "id": "1234567890",
            "source": "//storage.googleapis.com/projects/_/buckets/my-bucket",
            "type": "google.cloud.storage.object.v1.finalized",
            "subject": "objects/uploads/sample.txt",
            "datacontenttype": "application/json", "time": TIME,
            "data": { "bucket": "my-bucket", "name": "uploads/sample.txt",
                      "contentType": "text/plain", "size": "1024", "timeCreated": TIME,
                      "updated": TIME }
        }),
        (SampleEvent::Http, _) => json!({
            "method": "POST", "path": "/", "query": {},
            "headers": { "Content-Type": "application/json" },
            "body": { "name": "strata" }
        }),
    }
}

fn remote(
    context: &Context,
    config: &ResolvedConfig,
    args: &InvokeArgs,
    function: &FunctionConfig,
    target: &FunctionTarget,
    payload: &str,
) -> Result<(), CliError> {
    let adapter = context.clouds.adapter(target.cloud).ok_or_else(|| {
        CliError::input(format!(
            "this version of strata has no backend for {}",
            target.cloud.product()
        ))
    })?;
    let input = ConnectInput {
        config,
        region: context.load_options.region.as_deref(),
        env: &context.env,
    };
    let mut route_params = BTreeMap::new();
    for (name, value) in &args.params {
        if route_params.insert(name.clone(), value.clone()).is_some() {
            return Err(CliError::input(format!("--param {name} is given twice"))
                .with_hint("give each route parameter once"));
        }
    }
    let request = InvokeRequest {
        deployed_name: target.deployed_name.clone(),
        logical_name: function.name.clone(),
        handler: function.handler.clone(),
        stage: config.stage.clone(),
        payload: payload.to_owned(),
        payload_given: args.data.is_some() || args.path.is_some(),
        method: args.method.clone(),
        route_params,
        query: args.query.clone(),
    };
    let response = runtime()?.block_on(async {
        let observer = adapter.connect_observer(&input).await?;
        observer.invoke(&request).await
    })?;
    if context.printer.is_json() {
        context.printer.json("invoke", &response);
    } else {
        if let Some(tail) = &response.log_tail {
            for line in tail.lines() {
                context.printer.status("Log", line);
            }
        }
        // An HTTP function's status and headers go to stderr, so stdout stays its body.
        if !response.headers.is_empty()
            && let Some(status) = response.status
        {
            context.printer.status("Status", &status.to_string());
            for (name, value) in &response.headers {
                context
                    .printer
                    .status("Header", &format!("{name}: {value}"));
            }
        }
        context.printer.data(&pretty(&response.payload));
    }
    match &response.function_error {
        Some(kind) => Err(CliError {
            reported: context.printer.is_json(),
            ..CliError::input(format!(
                "`{}` raised an error ({kind}) on {}; its answer is above",
                function.name, target.cloud
            ))
            .with_hint(format!(
                "`strata logs --function {} --since 5m` shows what it logged",
                function.name
            ))
        }),
        None => Ok(()),
    }
}

/// JSON text indented for reading; anything else as it is.
fn pretty(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| text.to_owned())
}

fn local(
    context: &Context,
    config: &ResolvedConfig,
    function: &FunctionConfig,
    target: &FunctionTarget,
    payload: &str,
) -> Result<(), CliError> {
    let python = find_python(context, target)?;
    let zips = build_for(context, config, function, target)?;
    let work = tempfile::tempdir().map_err(|error| CliError::from_source(&error))?;
    let event_file = work.path().join("event.json");
    let result_file = work.path().join("result.json");
    let runner = work.path().join("invoke_local.py");
    let write = |path: &Path, text: &str| {
        fs_err::write(path, text).map_err(|error| CliError::from_source(&error))
    };
    write(&event_file, payload)?;
    write(&runner, RUNNER)?;
    let deps = strata_python::WheelCache::from_env(&context.env)
        .map(|cache| cache.root().join("invoke-deps"))
        .ok();
    let mut command = Command::new(&python);
    command
        .arg(&runner)
        .arg(target.cloud.as_str())
        .arg(&function.handler)
        .arg(&event_file)
        .arg(&result_file)
        .arg(&target.deployed_name)
        .arg(target.memory_size.to_string())
        .env(
            "STRATA_INVOKE_ZIPS",
            serde_json::to_string(&zips).expect("paths serialize"),
        )
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .envs(&target.environment)
        .stdin(Stdio::null())
        // The handler's output is the user's to read, as it happens.
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    if let Some(deps) = &deps {
        command.env("STRATA_INVOKE_DEPS", deps);
    }
    context.printer.status(
        "Running",
        &format!(
            "{} ({}) locally with {}",
            function.name,
            target.cloud,
            python.display()
        ),
    );
    let status = command.status().map_err(|error| {
        CliError::from_source(&error).with_hint(format!("strata ran {}", python.display()))
    })?;
    if !status.success() {
        return Err(CliError::input(format!(
            "`{}` raised an error when run locally; its traceback is above",
            function.name
        ))
        .with_hint("fix the handler, then run `strata invoke --local` again"));
    }
    let result: Value = serde_json::from_str(
        &fs_err::read_to_string(&result_file).map_err(|error| CliError::from_source(&error))?,
    )
    .map_err(|error| CliError::internal(format!("the local runner's answer: {error}")))?;
    let value = &result["result"];
    if context.printer.is_json() {
        context.printer.json(
            "invoke",
            &json!({ "cloud": target.cloud, "function": function.name, "local": true, "result": value }),
        );
    } else {
        context
            .printer
            .data(&serde_json::to_string_pretty(value).expect("JSON values serialize"));
    }
    Ok(())
}

/// `python3.X` for the function's runtime, from PATH.
fn find_python(context: &Context, target: &FunctionTarget) -> Result<PathBuf, CliError> {
    let name = format!("python{}.{}", target.runtime.major, target.runtime.minor);
    let path = context.env.get("PATH").cloned().unwrap_or_default();
    let wanted = format!("{}.{}", target.runtime.major, target.runtime.minor);
    // A pyenv shim is on PATH for every version pyenv knows, working or not: ask each one.
    std::env::split_paths(&path)
        .map(|dir| dir.join(&name))
        .filter(|candidate| candidate.is_file())
        .find(|candidate| {
            Command::new(candidate)
                .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .is_ok_and(|output| {
                    output.status.success()
                        && String::from_utf8_lossy(&output.stdout).trim() == wanted
                })
        })
        .ok_or_else(|| {
            CliError::input(format!(
                "invoke --local runs the handler with {name}, the function's runtime, and there is no {name} on PATH"
            ))
            .with_hint(format!(
                "install Python {}.{} (for example `uv python install {}.{}` and put it on PATH)",
                target.runtime.major, target.runtime.minor, target.runtime.major, target.runtime.minor
            ))
        })
}

/// Builds what the function deploys with on its cloud, as `strata package` does, and returns
/// the zips to unpack with the folder inside each to import from: the code first, then its
/// layers (AWS) or the packages inside the app zip (Azure).
fn build_for(
    context: &Context,
    config: &ResolvedConfig,
    function: &FunctionConfig,
    target: &FunctionTarget,
) -> Result<Vec<(PathBuf, String)>, CliError> {
    let out_dir = config
        .project_dir
        .join(".strata")
        .join("build")
        .join(&config.stage);
    let lock_mode = LockModeArgs {
        locked: false,
        offline: false,
        // `STRATA_RESOLVER` and the other resolver variables still apply.
        resolver: crate::cli::ResolverArgs::default(),
        wait: WaitArgs {
            no_wait: false,
            lock_timeout: 600,
        },
    };
    let settings = build_settings(
        context,
        &lock_mode,
        out_dir.clone(),
        PlanOptions {
            functions: vec![function.name.clone()],
            layers_only: false,
            clouds: vec![target.cloud],
        },
        strata_python::Upgrade::None,
    )?;
    let _project = project_lock::acquire(&context.printer, &config.project_dir, &lock_mode.wait)?;
    own_output_dir(&settings);
    let outcome = build_with_progress(context, config, &settings)?;
    let report = &outcome.report;
    let code = report
        .function_code(target.cloud, &function.name)
        .ok_or_else(|| {
            CliError::internal(format!(
                "no {} zip was built for `{}`",
                target.cloud, function.name
            ))
        })?;
    let mut zips = vec![(out_dir.join(&code.path), String::new())];
    match target.cloud {
        Cloud::Aws => zips.extend(
            report
                .layers(Cloud::Aws)
                .filter(|layer| layer.functions.contains(&function.name))
                .map(|layer| (out_dir.join(&layer.path), "python".to_owned())),
        ),
        Cloud::Azure => zips.push((
            out_dir.join(&code.path),
            ".python_packages/lib/site-packages".to_owned(),
        )),
        Cloud::Gcp => {}
    }
    Ok(zips)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each sample has the fields the seed's handlers read.
    #[test]
    fn sample_events_have_the_shapes_handlers_read() {
        let api = sample_event(SampleEvent::Api, Cloud::Aws);
        assert_eq!(api["httpMethod"], "GET");
        assert_eq!(api["queryStringParameters"]["name"], "strata");
        let s3 = sample_event(SampleEvent::S3, Cloud::Aws);
        assert_eq!(s3["Records"][0]["s3"]["bucket"]["name"], "my-bucket");
        assert_eq!(
            s3["Records"][0]["s3"]["object"]["key"],
            "uploads/sample.txt"
        );
        let sqs = sample_event(SampleEvent::Sqs, Cloud::Aws);
        assert!(sqs["Records"][0]["body"].is_string());
        let pubsub = sample_event(SampleEvent::Pubsub, Cloud::Gcp);
        assert_eq!(pubsub["specversion"], "1.0");
        assert_eq!(
            pubsub["type"],
            "google.cloud.pubsub.topic.v1.messagePublished"
        );
        assert!(pubsub["data"]["message"]["data"].is_string());
        let storage = sample_event(SampleEvent::Storage, Cloud::Gcp);
        assert_eq!(storage["data"]["bucket"], "my-bucket");
        assert_eq!(
            sample_event(SampleEvent::Storage, Cloud::Azure)["name"],
            "samples/sample.txt"
        );
        assert_eq!(
            sample_event(SampleEvent::Schedule, Cloud::Aws)["source"],
            "aws.events"
        );
    }
}
