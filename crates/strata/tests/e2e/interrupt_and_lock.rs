//! Two strata processes on one project, and SIGTERM in the middle of a run: the real binary.
//!
//! A second process waits for the first (saying so on stderr), or fails clearly with
//! `--no-wait` or after `--lock-timeout`; two concurrent runs both succeed, each reporting
//! its own zips, with one consistent `strata.lock`. SIGTERM stops a run with exit 130 and no
//! `.partial` file left, and a re-run finishes the job.

use std::fs::File;
use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;
use strata_tests::LocalIndex;
use strata_tests::wheel::WheelBuilder;

/// `strata <args>` in `project`, started and not waited for, with the environment
/// [`Project::strata`] gives.
fn spawn(project: &Project, args: &[&str]) -> Child {
    Command::new(strata_binary())
        .args(args)
        .current_dir(project.path())
        .env_clear()
        .env("PATH", project.tools.path_var())
        .env("HOME", project.cache.path().join("home"))
        .env("STRATA_CACHE_DIR", project.cache.path().join("strata"))
        .env("XDG_CACHE_HOME", project.cache.path().join("xdg"))
        .env("NO_COLOR", "1")
        .envs(&project.env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("strata starts")
}

/// Sends SIGTERM, as CI does when a job is cancelled.
fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn finish(child: Child) -> Run {
    let output = child.wait_with_output().expect("strata ends");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Waits (without a wall-clock assertion: the limit only keeps a broken run from hanging the
/// suite) until `ready` holds.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two functions with their own requirements layer, so each `--function` run has zips of its
/// own and every run pins (and may write) strata.lock. `wheels` are served by the index
/// returned beside it (which stops when dropped); the project requires `gamma==1.0`.
fn two_function_project(wheels: &[WheelBuilder]) -> ((tempfile::TempDir, LocalIndex), Project) {
    let dir = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(dir.path()).unwrap();
    publish(&index, wheels);
    let project = Project::new(Resolver::Pip);
    project
        .write(
            "serverless.yml",
            "service: demo\n\
             provider:\n  name: aws\n  runtime: python3.12\n\
             functions:\n  alpha:\n    handler: alpha.main\n  beta:\n    handler: beta.main\n\
             plugins:\n  - serverless-python-requirements\n",
        )
        .write("alpha.py", HANDLER)
        .write("beta.py", HANDLER)
        .write("requirements.txt", &requirements(&index, &["gamma==1.0"]));
    ((dir, index), project)
}

fn hold_project_lock(project: &Project) -> File {
    std::fs::create_dir_all(project.path().join(".strata")).unwrap();
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(project.path().join(".strata/lock"))
        .unwrap();
    file.lock().unwrap();
    std::fs::write(
        project.path().join(".strata/lock"),
        "the test (pid 1, `held by the test`)\n",
    )
    .unwrap();
    file
}

#[test]
fn a_held_project_lock_makes_strata_wait_then_fail_clearly_or_fail_at_once_with_no_wait() {
    let (_index, project) = two_function_project(&[WheelBuilder::new("gamma", "1.0")]);
    let held = hold_project_lock(&project);

    let run = project.strata(&["package", "--no-wait"]);
    run.assert_failure(1);
    assert!(
        run.stderr.contains("held by the test") && run.stderr.contains("--lock-timeout"),
        "{}",
        run.stderr
    );
    assert!(!project.path().join("strata.lock").exists());

    let run = project.strata(&["lock", "--lock-timeout", "0"]);
    run.assert_failure(1);
    assert!(
        run.stderr.contains("still using this project"),
        "{}",
        run.stderr
    );

    // A waiting run says whom it waits for, then goes on once the lock is released.
    let mut waiting = spawn(&project, &["package", "--output-format", "json"]);
    let mut stderr = waiting.stderr.take().unwrap();
    let mut seen = Vec::new();
    wait_until("the wait message", || {
        let mut buffer = [0; 256];
        let read = stderr.read(&mut buffer).unwrap_or(0);
        seen.extend_from_slice(&buffer[..read]);
        String::from_utf8_lossy(&seen).contains("waiting for the test")
    });
    drop(held);
    let status = waiting.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{}{rest}", String::from_utf8_lossy(&seen));
    assert!(project.path().join("strata.lock").exists());
}

#[test]
fn two_concurrent_runs_on_one_project_both_succeed_with_their_own_zips_and_one_lock() {
    let (_index, project) = two_function_project(&[
        WheelBuilder::new("gamma", "1.0").requires_dist("delta>=1"),
        WheelBuilder::new("delta", "1.0"),
    ]);

    let runs: Vec<Child> = ["alpha", "beta"]
        .iter()
        .map(|function| {
            spawn(
                &project,
                &["package", "--function", function, "--output-format", "json"],
            )
        })
        .collect();
    let lock_run = spawn(&project, &["lock"]);
    let runs: Vec<Run> = runs.into_iter().map(finish).collect();
    finish(lock_run).assert_success();

    for (run, function) in runs.iter().zip(["alpha", "beta"]) {
        run.assert_success();
        let report = run.json();
        let artifacts = report["artifacts"].as_array().expect("artifacts");
        for artifact in artifacts {
            let functions = artifact["functions"].as_array().unwrap();
            assert!(
                functions.is_empty() || functions == &[serde_json::json!(function)],
                "the {function} run reported another run's zip: {artifact}"
            );
            let path = project.out(artifact["path"].as_str().unwrap());
            assert_eq!(
                sha256_file(&path),
                artifact["sha256"].as_str().unwrap(),
                "{}",
                path.display()
            );
        }
        assert!(
            artifacts
                .iter()
                .any(|artifact| artifact["functions"] == serde_json::json!([function])),
            "{report}"
        );
    }
    let lock = project.read("strata.lock");
    assert!(lock.contains("gamma") && lock.contains("delta"), "{lock}");
    // What the concurrent runs left is what one run alone would write.
    project.strata(&["lock", "--check"]).assert_success();
    assert_eq!(partial_files(project.path()), Vec::<String>::new());
}

#[test]
fn sigterm_while_resolving_exits_130_leaving_no_partial_file_and_a_rerun_succeeds() {
    let (_index, project) = two_function_project(&[WheelBuilder::new("gamma", "1.0")]);
    // Resolvers that never answer, so the run is deterministically mid-way when signalled.
    let started = project.path().join("resolver-started");
    let stall = format!("#!/bin/sh\ntouch '{}'\nexec sleep 30\n", started.display());
    let mut originals = Vec::new();
    for entry in std::fs::read_dir(project.tools.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        originals.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
        std::fs::write(&path, &stall).unwrap();
        set_mode(&path, 0o755);
    }

    let child = spawn(&project, &["package"]);
    wait_until("the resolver to start", || started.exists());
    terminate(&child);
    let run = finish(child);
    run.assert_failure(130);
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "stdout is data only: {}", run.stdout);
    assert_eq!(partial_files(project.path()), Vec::<String>::new());
    assert_eq!(partial_files(project.cache.path()), Vec::<String>::new());

    for (path, text) in originals {
        std::fs::write(&path, text).unwrap();
        set_mode(&path, 0o755);
    }
    project.strata(&["package"]).assert_success();
    assert!(project.path().join("strata.lock").exists());
}

/// The environment that points a deploy at `endpoint`, never at real AWS credentials files or
/// instance metadata.
fn aws_env(project: &mut Project, endpoint: &str) {
    let home = project.cache.path().join("home");
    project
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(
            "AWS_CONFIG_FILE",
            &home.join("aws-config").display().to_string(),
        )
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            &home.join("aws-credentials").display().to_string(),
        );
}

#[test]
fn sigterm_mid_deploy_exits_130_after_the_grace_period_and_a_rerun_against_moto_converges() {
    // Fails with the start-up hint when moto is down: the re-run needs it.
    strata_tests::moto::moto_api("GET", "/moto-api/");
    // An endpoint that accepts connections and never answers: the deploy is deterministically
    // in its cloud phase, with a call in flight, when the signal comes.
    let stalled = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", stalled.local_addr().unwrap());
    let service = format!(
        "intr{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            & 0xffff_ffff
    );
    let mut project = Project::new(Resolver::Pip);
    project
        .write(
            "serverless.yml",
            &format!(
                "service: {service}\n\
                 provider:\n  name: aws\n  runtime: python3.12\n  region: us-east-1\n\
                 functions:\n  hello:\n    handler: handler.main\n"
            ),
        )
        .write("handler.py", HANDLER);
    aws_env(&mut project, &endpoint);
    project.env("STRATA_INTERRUPT_GRACE", "1");

    let child = spawn(&project, &["deploy", "--stage", "dev"]);
    let (connection, _) = stalled.accept().expect("strata calls the endpoint");
    terminate(&child);
    let run = finish(child);
    drop(connection);
    run.assert_failure(130);
    assert!(
        run.stderr
            .contains("interrupted: finishing the steps in flight")
            && run.stderr.contains("did not finish in time"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "stdout is data only: {}", run.stdout);
    assert_eq!(partial_files(project.path()), Vec::<String>::new());
    assert_eq!(partial_files(project.cache.path()), Vec::<String>::new());

    aws_env(&mut project, &strata_tests::moto::moto_url());
    let rerun = project.strata(&["deploy", "--stage", "dev", "--output-format", "json"]);
    rerun.assert_success();
    let report = rerun.json();
    assert_eq!(report["interrupted"], false, "{report}");
    assert_eq!(
        report["functions"][0]["outcome"]["kind"], "created",
        "{report}"
    );
    let again = project.strata(&["deploy", "--stage", "dev", "--output-format", "json"]);
    again.assert_success();
    assert_eq!(
        again.json()["functions"][0]["outcome"]["kind"],
        "unchanged",
        "{}",
        again.stdout
    );
}
