//! `strata logs` against moto's CloudWatch Logs, and `strata invoke --local` running the seed
//! article's handlers with the sample events, through the real binary.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use strata_tests::{LocalIndex, WheelBuilder};

use crate::aws_deploy::Project;
use crate::support::workspace;

const REGION: &str = "us-east-1";

fn seed(path: &str) -> String {
    // The seed's files, as the manifest crate's fixtures keep them.
    let fixtures = workspace().join("crates/strata-manifest/tests/fixtures");
    let file: PathBuf = match path {
        "aws/handler.py" => fixtures.join("seed/handler.py"),
        "azure/function_app.py" => fixtures.join("valid/three-clouds/function_app.py"),
        "gcp/main.py" => fixtures.join("valid/three-clouds/main.py"),
        other => panic!("no seed file {other}"),
    };
    std::fs::read_to_string(file).unwrap()
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Writes events into a function's log group in moto, as Lambda would.
fn put_log_events(function: &str, events: &[(i64, &str)]) {
    let stream = format!("2026/12/02/[1]{}", events.len());
    strata_tests::moto::put_log_events(REGION, &format!("/aws/lambda/{function}"), &stream, events);
}

fn logs_project() -> Project {
    let project = Project::new("logs");
    project.write(
        "serverless.yml",
        &format!(
            "service: {}\nprovider:\n  name: aws\n  runtime: python3.11\n  stage: prod\n\
             functions:\n  hello:\n    handler: handler.lambda_handler\n  other:\n    handler: handler.api_handler\n",
            project.service
        ),
    );
    project.write("handler.py", &seed("aws/handler.py"));
    project
}

#[test]
fn logs_show_what_a_function_wrote_oldest_first_selected_by_since_and_filter() {
    let project = logs_project();
    let hello = format!("{}-prod-hello", project.service);
    let other = format!("{}-prod-other", project.service);
    let now = now_ms();
    put_log_events(
        &hello,
        &[
            (now - 20_000, "[ERROR]\tboom in order 42"),
            (now - 40_000, "[INFO]\tcreated order 42"),
            (now - 3_600_000, "an hour ago"),
        ],
    );
    put_log_events(&other, &[(now - 30_000, "[INFO]\tthe other function")]);

    let output = project.run(&["logs", "--function", "hello", "--since", "5m"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", output.stdout);
    assert!(
        lines[0].ends_with(" aws hello INFO [INFO]\tcreated order 42"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with(" aws hello ERROR [ERROR]\tboom in order 42"),
        "{}",
        lines[1]
    );
    assert!(
        lines[0].contains('T') && lines[0].contains('Z'),
        "a UTC time: {}",
        lines[0]
    );

    // Every function of the stage, merged by time; NDJSON for jq.
    let output = project.run(&["logs", "--since", "5m", "--output-format", "json"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let events: Vec<Value> = output
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let functions: Vec<&str> = events
        .iter()
        .map(|event| event["function"].as_str().unwrap())
        .collect();
    assert_eq!(functions, ["hello", "other", "hello"]);
    assert_eq!(events[2]["level"], "ERROR");
    assert_eq!(events[2]["cloud"], "aws");

    let output = project.run(&["logs", "--since", "5m", "--filter", "order 42"]);
    assert_eq!(output.stdout.lines().count(), 2, "{}", output.stdout);

    let output = project.run(&["logs", "--since", "five minutes"]);
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("not a duration"),
        "{}",
        output.stderr
    );
}

#[test]
fn logs_tail_picks_up_a_line_written_after_it_started_and_ctrl_c_ends_it_cleanly() {
    let project = logs_project();
    let hello = format!("{}-prod-hello", project.service);
    put_log_events(&hello, &[(now_ms() - 10_000, "[INFO]\tbefore the tail")]);
    let mut child = Command::new(crate::support::strata_binary())
        .args(["logs", "--function", "hello", "--since", "1m", "--tail"])
        .current_dir(project.path())
        .env_clear()
        .envs(project.env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("before the tail"), "{line}");

    put_log_events(&hello, &[(now_ms(), "[INFO]\twritten while tailing")]);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while stdout.read_line(&mut line).is_ok_and(|read| read > 0) {
            let _ = sender.send(std::mem::take(&mut line));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = false;
    while Instant::now() < deadline && !seen {
        if let Ok(line) = receiver.recv_timeout(Duration::from_millis(500)) {
            seen = line.contains("written while tailing");
        }
    }
    assert!(seen, "the tail never showed the new line");

    // SIGINT, as Ctrl-C sends it: the tail ends normally.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

/// A project running the seed's Lambda handlers with python3.11, one of them needing a
/// dependency from the layer.
fn local_aws_project(index: &LocalIndex) -> Project {
    let mut project = Project::new("inv");
    project.set_env("PIP_INDEX_URL", &index.url());
    project.write(
        "serverless.yml",
        &format!(
            "service: {}\nprovider:\n  name: aws\n  runtime: python3.11\n  stage: prod\n  environment:\n    STAGE: prod-from-manifest\n\
             plugins:\n  - serverless-python-requirements\ncustom:\n  pythonRequirements:\n    layer: true\n\
             functions:\n  hello:\n    handler: handler.lambda_handler\n  api:\n    handler: handler.api_handler\n  s3:\n    handler: handler.s3_handler\n\
             \x20 uses:\n    handler: uses.handler\n    layers:\n      - Ref: PythonRequirementsLambdaLayer\n\
             \x20 boom:\n    handler: boom.handler\n",
            project.service
        ),
    );
    project.write("handler.py", &seed("aws/handler.py"));
    project.write(
        "uses.py",
        "import tinydep\n\ndef handler(event, context):\n    return {'from_layer': tinydep.__name__, 'remaining': context.get_remaining_time_in_millis() > 0}\n",
    );
    project.write(
        "boom.py",
        "def handler(event, context):\n    raise ValueError('bad order ' + str(event.get('order')))\n",
    );
    project.write("requirements.txt", "tinydep==1.0\n");
    project
}

fn answer(output: &crate::aws_deploy::Output) -> Value {
    assert_eq!(
        output.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        output.stdout, output.stderr
    );
    serde_json::from_str(&output.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", output.stdout))
}

#[test]
fn invoke_local_runs_the_seed_lambda_handlers_with_sample_events() {
    let wheels = tempfile::tempdir().unwrap();
    WheelBuilder::new("tinydep", "1.0")
        .write_to(wheels.path())
        .unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    let project = local_aws_project(&index);

    let hello = answer(&project.run(&[
        "invoke",
        "--local",
        "--function",
        "hello",
        "--data",
        r#"{"name": "Ada"}"#,
    ]));
    assert_eq!(hello["statusCode"], 200);
    let body: Value = serde_json::from_str(hello["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["message"], "Hello Ada!");
    // The manifest's environment for the stage reached the handler.
    assert_eq!(body["stage"], "prod-from-manifest");

    let api = answer(&project.run(&["invoke", "--local", "-f", "api", "--event", "api"]));
    let body: Value = serde_json::from_str(api["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["message"], "Hello strata!");

    let output = project.run(&["invoke", "--local", "-f", "s3", "--event", "s3"]);
    assert_eq!(answer(&output)["body"], "OK");
    assert!(
        output
            .stderr
            .contains("processing s3://my-bucket/uploads/sample.txt"),
        "the handler's print reaches stderr: {}",
        output.stderr
    );

    // The layer's packages are importable, as on Lambda.
    let uses = answer(&project.run(&["invoke", "--local", "-f", "uses"]));
    assert_eq!(uses["from_layer"], "tinydep");
    assert_eq!(uses["remaining"], true);

    let output = project.run(&[
        "invoke",
        "--local",
        "-f",
        "boom",
        "--data",
        r#"{"order": 7}"#,
    ]);
    assert_eq!(output.code, 1, "{}", output.stdout);
    assert!(output.stderr.contains("Traceback"), "{}", output.stderr);
    assert!(
        output.stderr.contains("ValueError: bad order 7"),
        "{}",
        output.stderr
    );
    assert!(output.stdout.is_empty(), "{}", output.stdout);

    let output = project.run(&["invoke", "--local"]);
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("say which one to invoke"),
        "{}",
        output.stderr
    );
    let output = project.run(&["invoke", "--local", "-f", "hello", "--data", "{not json"]);
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("the event is not JSON"),
        "{}",
        output.stderr
    );
}

#[test]
fn invoke_local_needs_the_functions_python_and_says_so() {
    let project = Project::new("inv");
    project.write(
        "serverless.yml",
        "service: x\nprovider:\n  name: aws\n  runtime: python3.13\nfunctions:\n  hello:\n    handler: handler.lambda_handler\n",
    );
    project.write("handler.py", &seed("aws/handler.py"));
    // Only a PATH without any python3.13 that works.
    let mut project = project;
    project.set_env("PATH", "/usr/bin:/bin");
    let output = project.run(&["invoke", "--local"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        output.stderr.contains("there is no python3.13 on PATH"),
        "{}",
        output.stderr
    );
}

fn write_tree(root: &Path, files: &[(&str, String)]) {
    for (name, text) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// The seed's Azure function app and Google functions, with their real dependencies from
/// PyPI (azure-functions; functions-framework and flask), each run with its sample events.
#[test]
fn invoke_local_runs_the_seed_azure_and_gcp_handlers_with_sample_events() {
    let project = Project::new("inv");
    write_tree(
        project.path(),
        &[
            (
                "strata.yml",
                format!(
                    "service: {}\nruntime: python3.11\n\
                     azure:\n  resourceGroup: rg\n  functionApp: seed-app\n  region: westeurope\n\
                     gcp:\n  project: seed-project\n  region: europe-west1\n\
                     functions:\n\
                     \x20 hello_function:\n    handler: function_app.hello_function\n    targets: [azure]\n\
                     \x20 blob_trigger_function:\n    handler: function_app.blob_trigger_function\n    targets: [azure]\n\
                     \x20 queue_trigger_function:\n    handler: function_app.queue_trigger_function\n    targets: [azure]\n\
                     \x20 timer_trigger_function:\n    handler: function_app.timer_trigger_function\n    targets: [azure]\n\
                     \x20 hello-http:\n    handler: main.hello_http\n    module: gcp\n    targets: [gcp]\n\
                     \x20 hello-pubsub:\n    handler: main.hello_pubsub\n    module: gcp\n    targets: [gcp]\n\
                     \x20 process-file:\n    handler: main.process_file\n    module: gcp\n    targets: [gcp]\n",
                    project.service
                ),
            ),
            ("function_app.py", seed("azure/function_app.py")),
            ("requirements.txt", "azure-functions==1.21.3\n".to_owned()),
            ("gcp/main.py", seed("gcp/main.py")),
            (
                "gcp/requirements.txt",
                "functions-framework==3.8.2\nflask==3.1.0\n".to_owned(),
            ),
        ],
    );

    let hello = answer(&project.run(&[
        "invoke",
        "--local",
        "-f",
        "hello_function",
        "--event",
        "http",
    ]));
    assert_eq!(hello["status"], 200, "{hello:#}");
    assert!(
        hello["body"]
            .as_str()
            .unwrap()
            .starts_with("Hello, strata."),
        "{hello:#}"
    );
    let output = project.run(&[
        "invoke",
        "--local",
        "-f",
        "blob_trigger_function",
        "--event",
        "storage",
    ]);
    assert_eq!(answer(&output), Value::Null);
    assert!(
        output
            .stderr
            .contains("Blob trigger: name samples/sample.txt"),
        "{}",
        output.stderr
    );
    let output = project.run(&[
        "invoke",
        "--local",
        "-f",
        "queue_trigger_function",
        "--data",
        r#"{"body": "order 42"}"#,
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output.stderr.contains("Queue trigger: order 42"),
        "{}",
        output.stderr
    );
    let output = project.run(&[
        "invoke",
        "--local",
        "-f",
        "timer_trigger_function",
        "--event",
        "schedule",
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output.stderr.contains("Timer trigger ran at"),
        "{}",
        output.stderr
    );

    let http = answer(&project.run(&["invoke", "--local", "-f", "hello-http", "--event", "http"]));
    assert_eq!(http["status"], 200, "{http:#}");
    let body: Value = serde_json::from_str(http["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["message"], "Hello strata!");
    let pubsub = answer(&project.run(&[
        "invoke",
        "--local",
        "-f",
        "hello-pubsub",
        "--event",
        "pubsub",
    ]));
    assert_eq!(pubsub["status"], 200, "{pubsub:#}");
    assert_eq!(pubsub["body"], "OK");
    let file = answer(&project.run(&[
        "invoke",
        "--local",
        "-f",
        "process-file",
        "--data",
        r#"{"method": "POST", "body": {"bucket": "b", "name": "n.txt"}}"#,
    ]));
    assert_eq!(file["status"], 200, "{file:#}");
    assert!(
        file["body"].as_str().unwrap().contains("processed"),
        "{file:#}"
    );
}
