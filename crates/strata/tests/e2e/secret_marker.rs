//! `secretEnvironment` end to end: a value under a name that does not look secret, marked in
//! the manifest, appears in no output of `print`, `plan` or `deploy` (text or JSON, with
//! debug logs), while an unmarked control value beside it is shown; the marked value still
//! reaches Lambda (moto) unchanged.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::{HANDLER, Project, Resolver, Run};
use strata_tests::moto::{moto_api, moto_request, moto_url};

const REGION: &str = "us-east-1";
const CANARY_V1: &str = "lic-marker-canary-9f3e1";
const CANARY_V2: &str = "lic-marker-canary-7a2c4";

/// A service name no earlier run against the same moto used.
fn unique_service() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "marker{:x}",
        (nanos as u64 ^ u64::from(std::process::id()).rotate_left(32)) & 0xffff_ffff
    )
}

fn serverless_yml(service: &str, license: &str, control: &str) -> String {
    format!(
        "service: {service}\nprovider:\n  name: aws\n  runtime: python3.12\n  region: {REGION}\n  environment:\n    LICENSE_ID: {license}\n    CONTROL_LEVEL: {control}\nfunctions:\n  hello:\n    handler: handler.main\ncustom:\n  strata:\n    secretEnvironment: [LICENSE_ID]\n"
    )
}

fn strata_yml(license: &str, control: &str) -> String {
    format!(
        "service: markedstrata\nprovider:\n  name: aws\n  region: {REGION}\n  environment:\n    CONTROL_LEVEL: {control}\nfunctions:\n  hello:\n    handler: handler.main\n    environment:\n      LICENSE_ID: {license}\n    secretEnvironment: [LICENSE_ID]\n"
    )
}

/// A project whose AWS calls go to moto, never to real AWS or instance metadata.
fn aws_project() -> Project {
    let mut project = Project::new(Resolver::Uv);
    let home = project.cache.path().to_path_buf();
    for (key, value) in [
        ("AWS_ENDPOINT_URL", moto_url()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        (
            "AWS_CONFIG_FILE",
            home.join("aws-config").display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join("aws-credentials").display().to_string(),
        ),
    ] {
        project.env(key, &value);
    }
    project
}

/// `LICENSE_ID` as Lambda (moto) holds it for `function`.
fn deployed_license(function: &str) -> serde_json::Value {
    let (status, body) = moto_request(
        "GET",
        &format!("/2015-03-31/functions/{function}/configuration"),
        Some((REGION, "lambda")),
        "application/json",
        "",
    );
    assert_eq!(status, 200, "{body}");
    let configuration: serde_json::Value = serde_json::from_str(&body).unwrap();
    configuration["Environment"]["Variables"]["LICENSE_ID"].clone()
}

#[track_caller]
fn assert_hidden(place: &str, run: &Run) {
    for canary in [CANARY_V1, CANARY_V2] {
        assert!(
            !run.all().contains(canary),
            "{canary} leaked into {place}:\n{}",
            run.all()
        );
    }
}

/// The marker is a display marker only: the sanity check that the heuristic alone would
/// show this name, so the masking seen below comes from `secretEnvironment`.
fn assert_name_looks_plain() {
    assert!(!strata_provider::looks_secret("LICENSE_ID", CANARY_V1));
}

/// `strata print` of both manifest kinds: the marked value is masked in YAML and JSON, the
/// control beside it is shown; `--show-secrets` shows the marked value (positive control that
/// the canary is in the document at all).
#[test]
fn print_masks_names_marked_in_either_manifest_kind() {
    assert_name_looks_plain();
    for (file, manifest) in [
        (
            "serverless.yml",
            serverless_yml("markedprint", CANARY_V1, "control-v1"),
        ),
        ("strata.yml", strata_yml(CANARY_V1, "control-v1")),
    ] {
        let project = Project::new(Resolver::Uv);
        project.write(file, &manifest).write("handler.py", HANDLER);
        for args in [&["print"][..], &["print", "--output-format", "json"]] {
            let run = project.strata(args);
            run.assert_success();
            assert_hidden(&format!("{file}: strata {args:?}"), &run);
            assert!(
                run.stdout.contains("control-v1") && run.stdout.contains("LICENSE_ID"),
                "{file}: {args:?}:\n{}",
                run.stdout
            );
        }
        let json = project.strata(&["print", "--output-format", "json"]).json();
        let environment = if file == "strata.yml" {
            &json["functions"]["hello"]["environment"]
        } else {
            &json["provider"]["environment"]
        };
        assert_eq!(environment["LICENSE_ID"], "****", "{file}: {json:#}");
        let shown = project.strata(&["print", "--show-secrets"]);
        shown.assert_success();
        assert!(
            shown.stdout.contains(CANARY_V1),
            "{file}:\n{}",
            shown.stdout
        );
    }
}

/// Deploy to moto, change both values, plan: the plan shows the control's old and new
/// values and masks the marked one's; no output of deploy or plan (with debug logs) holds
/// the canary, and Lambda holds the real value.
#[test]
fn plan_and_deploy_mask_marked_names_and_lambda_gets_the_value() {
    assert_name_looks_plain();
    moto_api("GET", "/moto-api/");
    let service = unique_service();
    let function = format!("{service}-dev-hello");
    let project = aws_project();
    project
        .write(
            "serverless.yml",
            &serverless_yml(&service, CANARY_V1, "control-v1"),
        )
        .write("handler.py", HANDLER);

    let deployed = project.strata(&["deploy", "-vvv", "--output-format", "json"]);
    deployed.assert_success();
    assert_hidden("deploy", &deployed);
    assert_eq!(
        deployed_license(&function),
        CANARY_V1,
        "the marked value must reach Lambda unchanged"
    );

    project.write(
        "serverless.yml",
        &serverless_yml(&service, CANARY_V2, "control-v2"),
    );
    let plan_json = project.strata(&["plan", "-vvv", "--output-format", "json"]);
    plan_json.assert_success();
    assert_hidden("plan --output-format json", &plan_json);
    let plan = plan_json.aws_json();
    let changes = plan["functions"][0]["action"]["config"]
        .as_array()
        .unwrap_or_else(|| panic!("no configuration changes in {plan:#}"));
    let change = |field: &str| {
        changes
            .iter()
            .find(|change| change["field"] == field)
            .unwrap_or_else(|| panic!("no {field} in {plan:#}"))
    };
    assert_eq!(change("environment.CONTROL_LEVEL")["old"], "control-v1");
    assert_eq!(change("environment.CONTROL_LEVEL")["new"], "control-v2");
    assert_eq!(change("environment.LICENSE_ID")["old"], "****");
    assert_eq!(change("environment.LICENSE_ID")["new"], "****");

    let plan_text = project.strata(&["plan", "-vvv"]);
    plan_text.assert_success();
    assert_hidden("plan", &plan_text);
    assert!(
        plan_text
            .stdout
            .contains("environment.CONTROL_LEVEL: control-v1 -> control-v2"),
        "{}",
        plan_text.stdout
    );
    assert!(
        plan_text
            .stdout
            .contains("environment.LICENSE_ID: **** -> ****"),
        "{}",
        plan_text.stdout
    );

    let redeployed = project.strata(&["deploy", "-vvv"]);
    redeployed.assert_success();
    assert_hidden("second deploy", &redeployed);
    assert_eq!(deployed_license(&function), CANARY_V2);

    let removed = project.strata(&["remove", "--yes"]);
    assert_hidden("remove", &removed);
}
