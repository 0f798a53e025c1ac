//! The `strata` binary as a user runs it: help text, resolved manifests, error rendering and
//! exit codes. Output is pinned with insta; temporary paths are filtered.

use std::path::{Path, PathBuf};
use std::process::Command;

fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../strata-manifest/tests/fixtures/seed")
}

/// Runs strata in `dir` with a clean, fixed environment (no colours, no user variables).
fn strata(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (String, String, i32) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .current_dir(dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("strata runs");
    (
        String::from_utf8(output.stdout).expect("utf-8 stdout"),
        String::from_utf8(output.stderr).expect("utf-8 stderr"),
        output.status.code().expect("exit code"),
    )
}

const DATABASE: (&str, &str) = ("DATABASE_URL", "postgres://app@db.internal:5432/app");

#[test]
fn help_of_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let (top, stderr, code) = strata(dir.path(), &["--help"], &[]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!("help---help", top);
    // Every command the top-level help lists, so a new one is covered without editing this.
    let commands: Vec<&str> = top
        .lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|command| *command != "help")
        .collect();
    for expected in [
        "validate", "print", "schema", "init", "package", "lock", "deploy", "plan", "info",
        "rollback", "remove",
    ] {
        assert!(commands.contains(&expected), "{expected} in {commands:?}");
    }
    for command in commands {
        let (stdout, stderr, code) = strata(dir.path(), &[command, "--help"], &[]);
        assert_eq!(code, 0, "{command}: {stderr}");
        insta::assert_snapshot!(format!("help-{command}---help"), stdout);
    }
}

#[test]
fn print_seed_manifests_for_dev_and_prod() {
    let seed = seed_dir();
    for manifest in ["serverless.yml", "serverless-framework.yml"] {
        for stage in ["dev", "prod"] {
            let (stdout, stderr, code) = strata(
                &seed,
                &["-c", manifest, "print", "--stage", stage],
                &[DATABASE],
            );
            if manifest == "serverless-framework.yml" {
                // The article never defines worker_handler: like `serverless print`, the
                // resolved manifest is printed anyway, the error goes to stderr, exit 1.
                assert_eq!(code, 1, "{stdout}");
                assert!(
                    stderr.contains("`handler.worker_handler` does not exist"),
                    "{stderr}"
                );
                assert!(stdout.contains("worker_handler"), "{stdout}");
                assert!(!stdout.contains("does not exist"), "{stdout}");
                continue;
            }
            assert_eq!(code, 0, "{stderr}");
            insta::assert_snapshot!(format!("print-{manifest}-{stage}"), stdout);
        }
    }
}

#[test]
fn print_masks_secrets_but_not_plain_values() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("serverless.yml"),
        "service: app\nprovider:\n  name: aws\n  runtime: python3.12\n  environment:\n    S3_KEY_BASE: ${sls:stage}\n    API_KEY: ${env:API_KEY}\n    PARAM: ${ssm:/app/param}\nfunctions:\n  hello:\n    handler: handler.main\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("handler.py"),
        "def main(event, context):\n    return 1\n",
    )
    .unwrap();
    let (stdout, stderr, code) = strata(dir.path(), &["print"], &[("API_KEY", "k-123")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("S3_KEY_BASE: dev"), "{stdout}");
    assert!(stdout.contains("API_KEY: \"****\""), "{stdout}");
    assert!(!stdout.contains("k-123"), "{stdout}");
    // Offline, a cloud variable stays as written and is reported once.
    assert!(stdout.contains("${ssm:/app/param}"), "{stdout}");
    assert!(stderr.contains("is resolved at deploy time"), "{stderr}");
}

#[test]
fn print_json_is_the_resolved_manifest_with_serverless_values() {
    let (stdout, stderr, code) = strata(
        &seed_dir(),
        &["print", "--stage", "prod", "--output-format", "json"],
        &[DATABASE],
    );
    assert_eq!(code, 0, "{stderr}");
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(document["provider"]["environment"]["STAGE"], "prod");
    assert_eq!(document["provider"]["memorySize"], 512);
    assert_eq!(document["provider"]["timeout"], 30);
    assert_eq!(
        document["functions"]["hello"]["handler"],
        "handler.lambda_handler"
    );
    assert_eq!(
        document["functions"]["hello"]["environment"]["CUSTOM_VAR"],
        "prod"
    );
}

#[test]
fn global_flags_work_before_and_after_the_subcommand() {
    let before = strata(
        &seed_dir(),
        &["--stage", "prod", "--output-format", "json", "print"],
        &[DATABASE],
    );
    let after = strata(
        &seed_dir(),
        &["print", "--stage", "prod", "--output-format", "json"],
        &[DATABASE],
    );
    assert_eq!(before.2, 0, "{}", before.1);
    assert_eq!(before.0, after.0);
}

#[test]
fn validate_reports_the_missing_worker_handler_with_its_line() {
    let (stdout, stderr, code) = strata(
        &seed_dir(),
        &[
            "-c",
            "serverless-framework.yml",
            "validate",
            "--stage",
            "prod",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("error:"))
        .collect();
    insta::assert_snapshot!(errors.join("\n"), @r"
    error: serverless-framework.yml:39:14: functions.worker.handler: handler `handler.worker_handler` does not exist: handler.py has no top-level `worker_handler`
    error: serverless-framework.yml has 1 problem
    ");
}

#[test]
fn validate_json_error_document_carries_every_diagnostic() {
    let (stdout, _, code) = strata(&seed_dir(), &["validate", "--output-format", "json"], &[]);
    assert_eq!(code, 1);
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(document["schema_version"], 2);
    assert_eq!(document["kind"], "error");
    let keys: Vec<&str> = document["error"]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| d["key_path"].as_str().unwrap())
        .collect();
    // No --stage and no DATABASE_URL: both are reported at once.
    assert_eq!(
        keys,
        ["provider.environment.DATABASE_URL", "custom.customVar"]
    );
}

#[test]
fn validate_succeeds_on_the_seed_with_warnings_on_stderr_only() {
    let (stdout, stderr, code) = strata(&seed_dir(), &["validate", "--stage", "dev"], &[DATABASE]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "serverless.yml is valid for stage dev: service python-app, 2 functions, 4 warnings\n"
    );
    assert!(
        stderr.contains("warning: serverless.yml:45:19: custom.pythonRequirements.dockerizePip"),
        "{stderr}"
    );
    let (_, quiet_stderr, _) = strata(
        &seed_dir(),
        &["-q", "validate", "--stage", "dev"],
        &[DATABASE],
    );
    assert_eq!(quiet_stderr, "");
}

#[test]
fn missing_manifest_names_both_files_and_hints_init() {
    let dir = tempfile::tempdir().unwrap();
    let (_, stderr, code) = strata(dir.path(), &["validate"], &[]);
    assert_eq!(code, 1);
    let stderr = stderr.replace(&dir.path().display().to_string(), "[DIR]");
    insta::assert_snapshot!(stderr);
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (_, stderr, code) = strata(dir.path(), &["validate", "--output-format", "xml"], &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("invalid value 'xml'"), "{stderr}");
    assert_eq!(strata(dir.path(), &["deploy-everything"], &[]).2, 2);
}

#[test]
fn schema_matches_the_committed_copy() {
    let (stdout, _, code) = strata(Path::new("."), &["schema"], &[]);
    assert_eq!(code, 0);
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/strata.schema.json"),
    )
    .unwrap();
    let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let committed: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(
        printed, committed,
        "regenerate with: cargo run -- schema > docs/strata.schema.json"
    );
}

#[test]
fn init_writes_a_valid_project_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("orders");
    let (stdout, stderr, code) = strata(
        dir.path(),
        &["init", "--cloud", "aws", "--cloud", "gcp", "orders"],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("strata.yml"), "{stdout}");
    let (_, stderr, code) = strata(&project, &["validate"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stderr, "", "a fresh project validates without warnings");

    std::fs::write(project.join("requirements.txt"), "mine\n").unwrap();
    let (_, stderr, code) = strata(dir.path(), &["init", "orders"], &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("refusing to overwrite"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(project.join("requirements.txt")).unwrap(),
        "mine\n"
    );
}
