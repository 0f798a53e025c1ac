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

/// A service name no other test (or an earlier run against the same moto) uses.
fn unique_service(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{:x}", nanos & 0xffff_ffff)
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
    let service = unique_service("intr");
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
    let report = rerun.aws_json();
    assert_eq!(report["interrupted"], false, "{report}");
    assert_eq!(
        report["functions"][0]["outcome"]["kind"], "created",
        "{report}"
    );
    let again = project.strata(&["deploy", "--stage", "dev", "--output-format", "json"]);
    again.assert_success();
    assert_eq!(
        again.aws_json()["functions"][0]["outcome"]["kind"],
        "unchanged",
        "{}",
        again.stdout
    );
}

/// A byte-level proxy in front of moto that holds any request whose request line names
/// `stall` (until [`StallingProxy::release`]) and reports when the response to a request
/// naming `watch` has started to come back. Requests on one connection are sequential
/// (HTTP/1.1 without pipelining), so holding the bytes stalls exactly that request.
struct StallingProxy {
    endpoint: String,
    watched_answered: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    released: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StallingProxy {
    fn start(upstream: &str, stall: String, watch: String) -> Self {
        use std::io::Write as _;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let proxy = StallingProxy {
            endpoint,
            watched_answered: Arc::new(AtomicBool::new(false)),
            stalled: Arc::new(AtomicBool::new(false)),
            released: Arc::new(AtomicBool::new(false)),
        };
        let (answered, held, released) = (
            proxy.watched_answered.clone(),
            proxy.stalled.clone(),
            proxy.released.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                    continue;
                };
                let watching = Arc::new(AtomicBool::new(false));
                let (mut from_server, mut to_client) =
                    (server.try_clone().unwrap(), client.try_clone().unwrap());
                let (watching_down, answered) = (watching.clone(), answered.clone());
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 16 * 1024];
                    while let Ok(read @ 1..) = from_server.read(&mut buffer) {
                        if watching_down.swap(false, Ordering::SeqCst) {
                            answered.store(true, Ordering::SeqCst);
                        }
                        if to_client.write_all(&buffer[..read]).is_err() {
                            break;
                        }
                    }
                });
                let (mut from_client, mut to_server) = (client, server);
                let (stall, watch) = (stall.clone(), watch.clone());
                let (held, released) = (held.clone(), released.clone());
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 16 * 1024];
                    while let Ok(read @ 1..) = from_client.read(&mut buffer) {
                        // A request line is the start of what a client sends for a request.
                        let head = String::from_utf8_lossy(&buffer[..read.min(512)]).into_owned();
                        let request_line = head.lines().next().unwrap_or_default().to_owned();
                        let mut outgoing = buffer[..read].to_vec();
                        if request_line.contains(&stall) {
                            held.store(true, Ordering::SeqCst);
                            // Keep what the client sends, unanswered, until released; stop
                            // when the client goes away.
                            from_client
                                .set_read_timeout(Some(Duration::from_millis(20)))
                                .unwrap();
                            while !released.load(Ordering::SeqCst) {
                                match from_client.read(&mut buffer) {
                                    Ok(0) => return,
                                    Ok(more) => outgoing.extend_from_slice(&buffer[..more]),
                                    Err(_) => {}
                                }
                            }
                            from_client.set_read_timeout(None).unwrap();
                        }
                        if request_line.contains(&watch) {
                            watching.store(true, Ordering::SeqCst);
                        }
                        if to_server.write_all(&outgoing).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        proxy
    }

    /// Lets the held request (and everything after it) through.
    fn release(&self) {
        self.released
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Reads a Lambda function's `dev` alias version and its `$LATEST` code hash from moto.
fn lambda_state(function: &str) -> (String, String) {
    let signing = Some(("us-east-1", "lambda"));
    let (status, alias) = strata_tests::moto::moto_request(
        "GET",
        &format!("/2015-03-31/functions/{function}/aliases/dev"),
        signing,
        "application/json",
        "",
    );
    // moto answers GetAlias with 201.
    assert!((200..300).contains(&status), "{status}: {alias}");
    let (status, config) = strata_tests::moto::moto_request(
        "GET",
        &format!("/2015-03-31/functions/{function}"),
        signing,
        "application/json",
        "",
    );
    assert!((200..300).contains(&status), "{status}: {config}");
    let alias: serde_json::Value = serde_json::from_str(&alias).unwrap();
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    (
        alias["FunctionVersion"].as_str().unwrap().to_owned(),
        config["Configuration"]["CodeSha256"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

/// Deploys two functions, then updates both while the update of `slow` is held in flight,
/// and sends SIGTERM once `fast` has moved its alias. With `release`, the held call is let
/// through after the signal, so it finishes within the grace period (a cooperative stop);
/// without, the grace period runs out (an immediate stop). Returns the interrupted run and
/// checks what both kinds of stop promise: exit 130, `fast` all-new, `slow`'s alias on its
/// old version, and a re-run that finishes only `slow`.
fn interrupt_between_two_functions(release: bool) -> Run {
    strata_tests::moto::moto_api("GET", "/moto-api/");
    let service = unique_service("half");
    let (fast, slow) = (format!("{service}-dev-fast"), format!("{service}-dev-slow"));
    let mut project = Project::new(Resolver::Pip);
    project
        .write(
            "serverless.yml",
            &format!(
                "service: {service}\n\
                 provider:\n  name: aws\n  runtime: python3.12\n  region: us-east-1\n\
                 package:\n  individually: true\n\
                 functions:\n\
                 \x20 fast:\n    handler: fast.main\n    package:\n      patterns: ['!**', 'fast.py']\n\
                 \x20 slow:\n    handler: slow.main\n    package:\n      patterns: ['!**', 'slow.py']\n"
            ),
        )
        .write("fast.py", HANDLER)
        .write("slow.py", HANDLER);
    aws_env(&mut project, &strata_tests::moto::moto_url());
    project
        .strata(&["deploy", "--stage", "dev"])
        .assert_success();
    let (fast_before, slow_before) = (lambda_state(&fast), lambda_state(&slow));

    // New code for both; the update of `slow` is held in flight while `fast` finishes.
    project
        .write("fast.py", &format!("{HANDLER}\n# v2\n"))
        .write("slow.py", &format!("{HANDLER}\n# v2\n"));
    let proxy = StallingProxy::start(
        &strata_tests::moto::moto_url(),
        format!("PUT /2015-03-31/functions/{slow}/code"),
        // Moving the alias is the last step of an update (planning reads it with GET).
        format!("PUT /2015-03-31/functions/{fast}/aliases/dev"),
    );
    aws_env(&mut project, &proxy.endpoint);
    project.env("STRATA_INTERRUPT_GRACE", if release { "60" } else { "1" });
    let mut child = spawn(&project, &["deploy", "--stage", "dev"]);
    // stderr is read as it comes, to release the held call only once strata has taken the
    // signal (its warning is printed then).
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let stderr = stderr.clone();
        let mut pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read @ 1..) = pipe.read(&mut buffer) {
                stderr
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        })
    };
    wait_until("the update of `fast` to move its alias", || {
        proxy
            .watched_answered
            .load(std::sync::atomic::Ordering::SeqCst)
    });
    assert!(
        proxy.stalled.load(std::sync::atomic::Ordering::SeqCst),
        "the update of `slow` was in flight when `fast` finished"
    );
    terminate(&child);
    if release {
        wait_until("strata to take the signal", || {
            stderr
                .lock()
                .unwrap()
                .contains("interrupted: finishing the steps in flight")
        });
        proxy.release();
    }
    let mut run = finish(child);
    reader.join().unwrap();
    run.stderr = stderr.lock().unwrap().clone();
    run.assert_failure(130);

    // All-new or all-old, never in between: `fast` serves new code from a new version;
    // `slow`'s alias still points at its old version.
    let (fast_after, slow_after) = (lambda_state(&fast), lambda_state(&slow));
    assert_ne!(fast_after.0, fast_before.0, "fast's alias moved");
    assert_ne!(fast_after.1, fast_before.1, "fast has the new code");
    assert_eq!(slow_after.0, slow_before.0, "slow's alias did not move");
    if !release {
        assert_eq!(
            slow_after.1, slow_before.1,
            "slow's code never reached Lambda"
        );
    }

    // A re-run straight to moto finishes the job and touches only `slow`.
    aws_env(&mut project, &strata_tests::moto::moto_url());
    let rerun = project.strata(&["deploy", "--stage", "dev", "--output-format", "json"]);
    rerun.assert_success();
    let report = rerun.aws_json();
    let outcome = |name: &str| {
        report["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["deployed_name"] == name)
            .unwrap_or_else(|| panic!("{name} in {report}"))["outcome"]["kind"]
            .clone()
    };
    assert_eq!(outcome(&fast), "unchanged", "{report}");
    // Released, the held call put the new code in `$LATEST`: what is left is a new version
    // and the alias.
    let expected = if release { "published" } else { "updated_code" };
    assert_eq!(outcome(&slow), expected, "{report}");
    let slow_final = lambda_state(&slow);
    assert_ne!(slow_final.0, slow_before.0);
    assert_ne!(slow_final.1, slow_before.1);
    run
}

#[test]
fn sigterm_between_two_functions_stops_cleanly_and_reports_which_function_was_left() {
    let run = interrupt_between_two_functions(true);
    assert!(
        run.stderr
            .contains("deploy interrupted: 1 of 2 functions were left as they were"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("run `strata deploy` again"),
        "{}",
        run.stderr
    );
    // The report on stdout names each function and what happened to it.
    assert!(
        run.stdout.contains("-dev-fast") && run.stdout.contains("-dev-slow"),
        "{}",
        run.stdout
    );
}

#[test]
fn sigterm_with_a_call_stuck_past_the_grace_period_names_what_finished_and_what_did_not() {
    let run = interrupt_between_two_functions(false);
    assert!(
        run.stderr.contains("did not finish in time"),
        "{}",
        run.stderr
    );
    let summary = run
        .stderr
        .lines()
        .skip_while(|line| !line.contains("stopped at once"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        summary.contains("finished before the stop:")
            && summary.contains("-dev-fast (updated (code))"),
        "{}",
        run.stderr
    );
    assert!(
        summary.contains("not finished, left on the old version:")
            && summary.contains("-dev-slow (stopped during update-code)"),
        "{}",
        run.stderr
    );
}
