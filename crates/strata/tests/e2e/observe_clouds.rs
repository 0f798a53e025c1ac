//! `strata logs` and `strata invoke` on Azure and GCP through the binary: Application Insights
//! and Cloud Logging through their contract fakes, HTTP functions on 127.0.0.1 called by URL
//! with a function key or an identity token, and event-triggered functions refused.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use strata_tests::azure_fake::{
    AzureFake, CLIENT_SECRET, FUNCTION_KEY, HOST_KEY, PUBLISHING_PASSWORD_PREFIX, TOKEN_PREFIX,
};
use strata_tests::function_server::{Auth, FunctionServer, ID_TOKEN_PREFIX};
use strata_tests::gcp_fake::FunctionsFake;
use strata_tests::insights_fake::InsightsFake;
use strata_tests::logging_fake::LoggingFake;
use strata_tests::now_ms;

const PROJECT: &str = "strata-test";
const REGION: &str = "europe-west1";
const APP_ID: &str = "insights-app-1";

/// The seed's Azure app or Cloud Functions source, as the manifest crate's fixtures keep them.
fn seed(file: &str) -> String {
    let path = crate::support::workspace()
        .join("crates/strata-manifest/tests/fixtures/valid/three-clouds")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A project directory, the environment strata runs with, and the secrets that must never
/// show in what it prints.
struct Project {
    dir: tempfile::TempDir,
    _home: tempfile::TempDir,
    service: String,
    env: Vec<(String, String)>,
    canaries: Vec<&'static str>,
}

impl Project {
    fn new(prefix: &str) -> Self {
        let home = tempfile::tempdir().unwrap();
        let env = vec![
            ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".to_owned(), home.path().display().to_string()),
            (
                "CLOUDSDK_CONFIG".to_owned(),
                home.path().join("gcloud").display().to_string(),
            ),
            ("NO_COLOR".to_owned(), "1".to_owned()),
        ];
        Self {
            dir: tempfile::tempdir().unwrap(),
            _home: home,
            service: format!("{prefix}{:08x}", fastrand::u32(..)),
            env,
            canaries: Vec::new(),
        }
    }

    fn env(&mut self, key: &str, value: &str) {
        self.env.push((key.to_owned(), value.to_owned()));
    }

    fn write(&self, relative: &str, contents: &str) {
        std::fs::write(self.dir.path().join(relative), contents).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(crate::support::strata_binary());
        command
            .current_dir(self.dir.path())
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null());
        command
    }

    fn check_secrets(&self, text: &str) {
        for canary in &self.canaries {
            assert!(
                !text.contains(canary),
                "a secret ({canary}…) is shown:\n{text}"
            );
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().expect("strata runs");
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        self.check_secrets(&stdout);
        self.check_secrets(&stderr);
        Output {
            code: output.status.code().unwrap(),
            stdout,
            stderr,
        }
    }

    /// `logs --tail` shows what was there, then a line `add` writes after it started, and
    /// ends with exit 0 on SIGINT.
    fn tail_picks_up_a_new_line(&self, function: &str, add: impl FnOnce()) {
        let mut child = self
            .command(&["logs", "--function", function, "--since", "1m", "--tail"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        // Waits (boundedly, so a broken tail fails instead of hanging) for a line holding `text`.
        let wait_for = |text: &str, seen: &mut Vec<String>| {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline && !seen.iter().any(|line| line.contains(text)) {
                if let Ok(line) = receiver.recv_timeout(Duration::from_millis(200)) {
                    seen.push(line);
                }
            }
            seen.iter().any(|line| line.contains(text))
        };
        let mut seen = Vec::new();
        let before = wait_for("before the tail", &mut seen);
        if !before {
            let _ = child.kill();
        }
        assert!(before, "the tail never showed the first line: {seen:?}");
        add();
        let mut later = Vec::new();
        let new = wait_for("written while tailing", &mut later);
        if !new {
            let _ = child.kill();
        }
        assert!(new, "the tail never showed the new line: {later:?}");
        assert!(
            !later.iter().any(|line| line.contains("before the tail")),
            "a line was shown twice: {later:?}"
        );
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        self.check_secrets(&stderr);
        assert_eq!(status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("error"), "{stderr}");
    }
}

/// Lines of `logs` output, after the time.
fn lines_after_time(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|line| {
            line.split_once(' ')
                .map_or(line, |(_, rest)| rest)
                .to_owned()
        })
        .collect()
}

/// `logs` shows `hello`'s lines of the last five minutes oldest first (an `INFO` line, then an
/// `ERROR` one, both about order 42), every function's lines merged by time as NDJSON (`other`'s
/// one line, at `other_level`, falls between them), and `--filter` selects.
fn logs_show_lines(project: &Project, cloud: &str, other: &str, other_level: &str) {
    let output = project.run(&["logs", "--function", "hello", "--since", "5m"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert_eq!(
        lines_after_time(&output.stdout),
        [
            format!("{cloud} hello INFO created order 42"),
            format!("{cloud} hello ERROR boom in order 42")
        ]
    );

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
    assert_eq!(functions, ["hello", other, "hello"]);
    assert_eq!(events[1]["level"], other_level);
    assert!(
        events.iter().all(|event| event["cloud"] == cloud),
        "{events:?}"
    );

    let output = project.run(&["logs", "--since", "5m", "--filter", "order 42"]);
    assert_eq!(output.stdout.lines().count(), 2, "{}", output.stdout);
}

struct Azure {
    project: Project,
    fake: AzureFake,
    insights: InsightsFake,
    app: String,
}

/// An Azure project whose app exists (made by hand in the fake) and sends its logs to an
/// Application Insights component, with the seed's HTTP and queue functions.
fn azure() -> Azure {
    let fake = AzureFake::start();
    let insights = InsightsFake::start();
    let mut project = Project::new("azo");
    let app = format!("{}-prod", project.service);
    fake.create_app_by_hand(&format!("{}-rg", project.service), &app);
    fake.set_setting_by_hand(
        &app,
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        &format!(
            "InstrumentationKey=00000000-aaaa;IngestionEndpoint=https://x/;ApplicationId={APP_ID}"
        ),
    );
    insights.add_app(APP_ID);
    for (key, value) in [
        ("AZURE_RESOURCE_MANAGER_ENDPOINT", fake.url()),
        ("STRATA_AZURE_SCM_ENDPOINT", fake.scm_url()),
        ("AZURE_AUTHORITY_HOST", fake.url()),
        ("AZURE_TENANT_ID", "tenant-1".to_owned()),
        ("AZURE_CLIENT_ID", "client-1".to_owned()),
        ("AZURE_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("IMDS_ENDPOINT", "http://127.0.0.1:9".to_owned()),
        ("STRATA_AZURE_INSIGHTS_ENDPOINT", insights.url().to_owned()),
    ] {
        project.env(key, &value);
    }
    project.canaries = vec![TOKEN_PREFIX, CLIENT_SECRET, FUNCTION_KEY, HOST_KEY];
    project.write(
        "strata.yml",
        &format!(
            "service: {service}\nruntime: python3.12\n\
             provider:\n  name: aws\n  stage: prod\n\
             azure:\n  subscriptionId: 00000000-0000-0000-0000-000000000001\n  resourceGroup: {service}-rg\n  functionApp: {service}-${{sls:stage}}\n  storageAccount: {service}sa\n  region: westeurope\n\
             functions:\n\
             \x20 hello:\n    handler: function_app.hello_function\n    targets: [azure]\n\
             \x20 orders:\n    handler: function_app.queue_trigger_function\n    targets: [azure]\n",
            service = project.service
        ),
    );
    project.write("function_app.py", &seed("function_app.py"));
    Azure {
        project,
        fake,
        insights,
        app,
    }
}

#[test]
fn azure_logs_show_application_insights_traces_oldest_first_by_since_and_filter() {
    let azure = azure();
    let now = now_ms();
    let insights = &azure.insights;
    insights.add_trace(
        APP_ID,
        "hello_function",
        now - 20_000,
        3,
        "boom in order 42",
    );
    insights.add_trace(
        APP_ID,
        "hello_function",
        now - 40_000,
        1,
        "created order 42",
    );
    insights.add_trace(APP_ID, "hello_function", now - 3_600_000, 1, "an hour ago");
    insights.add_trace(
        APP_ID,
        "queue_trigger_function",
        now - 30_000,
        2,
        "queue drained",
    );

    logs_show_lines(&azure.project, "azure", "orders", "WARNING");
}

#[test]
fn azure_logs_tail_picks_up_a_trace_written_after_it_started() {
    let azure = azure();
    azure.insights.add_trace(
        APP_ID,
        "hello_function",
        now_ms() - 10_000,
        1,
        "before the tail",
    );
    azure.project.tail_picks_up_a_new_line("hello", || {
        azure.insights.add_trace(
            APP_ID,
            "hello_function",
            now_ms(),
            1,
            "written while tailing",
        );
    });
}

/// A host log line as the Functions host writes it (UTC, no zone letter).
fn host_line(timestamp_ms: i64, level: &str, message: &str) -> String {
    let time = strata_provider::format_timestamp(timestamp_ms);
    format!("{} [{level}] {message}", time.trim_end_matches('Z'))
}

const HELLO_LOG: &str =
    "LogFiles/Application/Functions/Function/hello_function/2026-12-02T05-00-00Z-4f1c.log";
const QUEUE_LOG: &str =
    "LogFiles/Application/Functions/Function/queue_trigger_function/2026-12-02T05-00-00Z-77aa.log";
const HOST_LOG: &str = "LogFiles/Application/Functions/Host/2026-12-02T05-00-00Z-a0b1.log";

/// The `azure()` project with Application Insights taken away from its app, the app's SCM
/// site refusing bearer tokens (so the publishing credentials are used, and must not show).
fn azure_without_insights() -> Azure {
    let mut azure = azure();
    azure
        .fake
        .set_setting_by_hand(&azure.app, "APPLICATIONINSIGHTS_CONNECTION_STRING", "");
    azure.fake.scm_refuses_bearer(&azure.app);
    azure.project.canaries.push(PUBLISHING_PASSWORD_PREFIX);
    azure
}

#[test]
fn azure_logs_without_insights_read_the_host_log_files_through_kudu_and_say_so() {
    let azure = azure_without_insights();
    let (fake, app, now) = (&azure.fake, &azure.app, now_ms());
    let traceback = "ValueError: order 42 is not in stock";
    fake.write_log(
        app,
        HELLO_LOG,
        &[
            &host_line(now - 3_600_000, "Information", "an hour ago"),
            &host_line(now - 40_000, "Information", "created order 42"),
            &host_line(now - 20_000, "Error", "boom in order 42"),
            traceback,
        ],
    );
    fake.write_log(
        app,
        QUEUE_LOG,
        &[&host_line(now - 30_000, "Warning", "queue drained")],
    );
    fake.write_log(
        app,
        HOST_LOG,
        &[
            &host_line(
                now - 41_000,
                "Information",
                "Executing 'Functions.hello_function' (Reason='HTTP', Id=1)",
            ),
            &host_line(now - 35_000, "Information", "Host lock lease acquired"),
        ],
    );
    // Kudu is slow at first (503 with Retry-After): the reads are retried.
    fake.slow_log_reads(2);

    let output = azure
        .project
        .run(&["logs", "--function", "hello", "--since", "5m"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", output.stdout);
    assert!(
        lines[0].ends_with(
            " azure hello INFO Executing 'Functions.hello_function' (Reason='HTTP', Id=1)"
        ),
        "the host's line naming the function: {}",
        lines[0]
    );
    assert!(
        lines[1].ends_with(" azure hello INFO created order 42"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].ends_with(" azure hello ERROR boom in order 42"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], traceback, "the entry's next line stays with it");
    let notes: Vec<&str> = output
        .stderr
        .lines()
        .filter(|line| line.contains("has no Application Insights configured"))
        .collect();
    assert_eq!(
        notes.len(),
        1,
        "one line says where the lines come from: {}",
        output.stderr
    );
    assert!(notes[0].contains("Kudu"), "{}", notes[0]);
    assert!(
        notes[0].contains("APPLICATIONINSIGHTS_CONNECTION_STRING"),
        "how to turn Insights on: {}",
        notes[0]
    );
    assert!(
        fake.scm_basic_calls() > 0,
        "the publishing credentials were used"
    );

    // Every function, merged by time, as NDJSON.
    let output = azure
        .project
        .run(&["logs", "--since", "5m", "--output-format", "json"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let events: Vec<Value> = output
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let messages: Vec<(&str, &str)> = events
        .iter()
        .map(|event| {
            (
                event["function"].as_str().unwrap(),
                event["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        messages,
        [
            (
                "hello",
                "Executing 'Functions.hello_function' (Reason='HTTP', Id=1)"
            ),
            ("hello", "created order 42"),
            ("orders", "queue drained"),
            ("hello", &*format!("boom in order 42\n{traceback}")),
        ]
    );
    assert_eq!(events[2]["level"], "WARNING");
    assert!(events.iter().all(|event| event["cloud"] == "azure"));

    let output = azure
        .project
        .run(&["logs", "--since", "5m", "--filter", "order 42"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert_eq!(
        output.stdout.lines().count(),
        3,
        "two entries, one with a traceback line: {}",
        output.stdout
    );
    let output = azure
        .project
        .run(&["logs", "--since", "30s", "-f", "hello"]);
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "--since: {}", output.stdout);
    assert!(
        lines[0].ends_with(" azure hello ERROR boom in order 42"),
        "{}",
        lines[0]
    );
}

#[test]
fn azure_logs_without_insights_fail_clearly_when_kudu_does() {
    let mut azure = azure_without_insights();
    azure.project.env("STRATA_DEPLOY_DEADLINE", "3");
    azure.fake.fail_log_reads(Some(500));
    let output = azure.project.run(&["logs", "--function", "hello"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(output.stderr.contains("hello (azure)"), "{}", output.stderr);
    assert!(
        output.stderr.contains("LogFiles/Application/Functions"),
        "the error names what was read: {}",
        output.stderr
    );
    assert!(output.stdout.is_empty(), "{}", output.stdout);
}

#[test]
fn azure_logs_tail_without_insights_follows_the_kudu_log_stream() {
    let azure = azure_without_insights();
    azure.fake.write_log(
        &azure.app,
        HELLO_LOG,
        &[&host_line(
            now_ms() - 10_000,
            "Information",
            "before the tail",
        )],
    );
    azure.project.tail_picks_up_a_new_line("hello", || {
        // Written once the stream is open (an Azure log without Insights is never polled).
        let deadline = Instant::now() + Duration::from_secs(30);
        while azure.fake.stream_opens() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Another function's line goes to its own folder, not to hello's stream.
        azure.fake.write_log(
            &azure.app,
            QUEUE_LOG,
            &[&host_line(now_ms(), "Information", "not hello's")],
        );
        azure.fake.write_log(
            &azure.app,
            HELLO_LOG,
            &[&host_line(now_ms(), "Information", "written while tailing")],
        );
    });
    assert_eq!(
        azure.fake.stream_opens(),
        1,
        "the tail followed the log stream"
    );
}

#[test]
fn azure_invoke_calls_the_http_function_with_its_key_and_refuses_a_queue_trigger() {
    let azure = azure();
    let function = FunctionServer::start(Auth::FunctionKey(FUNCTION_KEY.to_owned()));
    azure.fake.set_function_base(function.url());
    azure.fake.set_function(
        &azure.app,
        "hello_function",
        json!({ "type": "httpTrigger", "direction": "in", "authLevel": "function" }),
    );
    azure.fake.set_function(
        &azure.app,
        "queue_trigger_function",
        json!({ "type": "queueTrigger", "direction": "in", "queueName": "orders-queue" }),
    );

    let output = azure
        .project
        .run(&["invoke", "--function", "hello", "--data", r#"{"name":"x"}"#]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let answer: Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(answer["message"], "Hello, x!");
    assert!(output.stderr.contains("200"), "{}", output.stderr);
    assert!(
        output.stderr.contains("content-type: application/json"),
        "{}",
        output.stderr
    );
    assert_eq!(function.calls()[0].body, r#"{"name":"x"}"#);

    let output = azure
        .project
        .run(&["invoke", "--function", "hello", "--output-format", "json"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let document: Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(document["kind"], "invoke", "{document:#}");
    assert!(
        output.stdout.contains("\"status\":200") || output.stdout.contains("\"status\": 200"),
        "{}",
        output.stdout
    );

    // An answer of 500: shown, then exit 1 with a hint to read the logs.
    let output = azure.project.run(&[
        "invoke",
        "--function",
        "hello",
        "--data",
        r#"{"fail":true}"#,
    ]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        output.stdout.contains("the handler raised"),
        "{}",
        output.stdout
    );
    assert!(
        output.stderr.contains("strata logs --function hello"),
        "{}",
        output.stderr
    );

    let output = azure.project.run(&["invoke", "--function", "orders"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(output.stderr.contains("queueTrigger"), "{}", output.stderr);
    assert!(output.stderr.contains("orders-queue"), "{}", output.stderr);
    assert_eq!(
        function.calls().len(),
        3,
        "the queue function is never called"
    );
}

struct Gcp {
    project: Project,
    logging: LoggingFake,
    functions: FunctionsFake,
}

/// A GCP project with the seed's HTTP and Pub/Sub functions, Cloud Logging and Cloud
/// Functions through their fakes, identity tokens from `metadata` (else nowhere).
fn gcp(metadata: Option<&FunctionServer>) -> Gcp {
    let logging = LoggingFake::start();
    let functions = FunctionsFake::start("http://127.0.0.1:9", "unused");
    let mut project = Project::new("gco");
    for (key, value) in [
        ("STORAGE_EMULATOR_HOST", "127.0.0.1:9".to_owned()),
        (
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS",
            format!("{}/", functions.url()),
        ),
        (
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING",
            format!("{}/", logging.url()),
        ),
        (
            "GCE_METADATA_HOST",
            metadata.map_or("127.0.0.1:9".to_owned(), |server| server.host().to_owned()),
        ),
    ] {
        project.env(key, &value);
    }
    project.canaries = vec![ID_TOKEN_PREFIX];
    project.write(
        "strata.yml",
        &format!(
            "service: {service}\nruntime: python3.12\n\
             gcp:\n  project: {PROJECT}\n  region: {REGION}\n\
             functions:\n\
             \x20 hello:\n    handler: main.hello_http\n    targets: [gcp]\n    events:\n      - http: hello\n\
             \x20 pubsub:\n    handler: main.hello_pubsub\n    targets: [gcp]\n    events:\n      - pubsub: orders\n",
            service = project.service
        ),
    );
    project.write("main.py", &seed("main.py"));
    Gcp {
        project,
        logging,
        functions,
    }
}

impl Gcp {
    fn id(&self, function: &str) -> String {
        // The stage is the default one, `dev`.
        format!("{}-dev-{function}", self.project.service)
    }
}

#[test]
fn gcp_logs_show_cloud_logging_entries_oldest_first_by_since_and_filter() {
    let gcp = gcp(None);
    let now = now_ms();
    let (hello, pubsub) = (gcp.id("hello"), gcp.id("pubsub"));
    gcp.logging
        .add_entry(PROJECT, &hello, now - 20_000, "ERROR", "boom in order 42");
    gcp.logging
        .add_entry(PROJECT, &hello, now - 40_000, "INFO", "created order 42");
    gcp.logging
        .add_entry(PROJECT, &hello, now - 3_600_000, "INFO", "an hour ago");
    gcp.logging
        .add_entry(PROJECT, &pubsub, now - 30_000, "WARNING", "message late");

    logs_show_lines(&gcp.project, "gcp", "pubsub", "WARNING");
}

#[test]
fn gcp_logs_tail_picks_up_an_entry_written_after_it_started() {
    let gcp = gcp(None);
    let hello = gcp.id("hello");
    gcp.logging.add_entry(
        PROJECT,
        &hello,
        now_ms() - 10_000,
        "INFO",
        "before the tail",
    );
    gcp.project.tail_picks_up_a_new_line("hello", || {
        gcp.logging
            .add_entry(PROJECT, &hello, now_ms(), "INFO", "written while tailing");
    });
}

/// `gcp()` with `hello` deployed as an HTTP function on a local server that wants an identity
/// token for its URL; the server, the project and `hello`'s id.
fn gcp_with_http_hello() -> (FunctionServer, Gcp, String) {
    let server = FunctionServer::start(Auth::IdentityToken);
    let gcp = gcp(Some(&server));
    let hello = gcp.id("hello");
    let url = format!("{}/{hello}", server.url());
    gcp.functions.insert(
        &format!("projects/{PROJECT}/locations/{REGION}/functions/{hello}"),
        json!({ "url": url, "serviceConfig": { "uri": url } }),
    );
    (server, gcp, hello)
}

#[test]
fn gcp_invoke_calls_the_http_function_with_an_identity_token_and_refuses_pubsub() {
    let (server, gcp, hello) = gcp_with_http_hello();
    let pubsub = gcp.id("pubsub");
    gcp.functions.insert(
        &format!("projects/{PROJECT}/locations/{REGION}/functions/{pubsub}"),
        json!({ "eventTrigger": { "eventType": "google.cloud.pubsub.topic.v1.messagePublished",
                                  "pubsubTopic": format!("projects/{PROJECT}/topics/orders") } }),
    );

    let output = gcp
        .project
        .run(&["invoke", "--function", "hello", "--data", r#"{"name":"x"}"#]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let answer: Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(answer["message"], "Hello, x!");
    assert!(
        output.stderr.contains("function-execution-id: exec-1"),
        "{}",
        output.stderr
    );

    let output = gcp.project.run(&["invoke", "--function", "pubsub"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        output.stderr.contains("projects/strata-test/topics/orders"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("gcloud pubsub topics publish"),
        "{}",
        output.stderr
    );
    // Only the HTTP function was called, at its own URL.
    let calls = server.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, format!("/{hello}"));
}

#[test]
fn azure_invoke_uses_the_triggers_methods_route_parameters_and_query() {
    let azure = azure();
    let function = FunctionServer::start(Auth::FunctionKey(FUNCTION_KEY.to_owned()));
    azure.fake.set_function_base(function.url());
    azure.fake.set_function(
        &azure.app,
        "hello_function",
        json!({ "type": "httpTrigger", "direction": "in", "authLevel": "function",
                "methods": ["get", "post"], "route": "orders/{id:int}/{kind?}" }),
    );
    let invoke = |extra: &[&str]| {
        let mut args = vec!["invoke", "--function", "hello"];
        args.extend_from_slice(extra);
        azure.project.run(&args)
    };

    // No event: the first method the trigger takes, without a body; the optional part left out.
    let output = invoke(&["--param", "id=42", "--query", "q=a b&c", "--query", "n=1"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let call = &function.calls()[0];
    assert_eq!(call.method, "GET");
    assert_eq!(call.path, "/api/orders/42?q=a%20b%26c&n=1");
    assert_eq!(call.body, "");
    assert_eq!(call.header("x-functions-key"), Some(FUNCTION_KEY));

    // An event: POST, which the trigger takes; every parameter filled.
    let output = invoke(&[
        "--param",
        "id=7",
        "--param",
        "kind=big",
        "--data",
        r#"{"name":"x"}"#,
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let call = &function.calls()[1];
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/api/orders/7/big")
    );
    assert_eq!(call.body, r#"{"name":"x"}"#);
    assert_eq!(call.header("content-type"), Some("application/json"));

    // --method, as asked, in any case.
    let output = invoke(&["--param", "id=8", "--method", "post"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert_eq!(function.calls()[2].method, "POST");
    assert_eq!(function.calls()[2].body, "{}");

    for (extra, message, hint) in [
        (
            &["--param", "id=1", "--method", "DELETE"][..],
            "does not take DELETE; it takes GET, POST",
            "--method",
        ),
        (
            &["--param", "kind=big"][..],
            "needs parameter `id`",
            "--param id=VALUE",
        ),
        (
            &["--param", "id=seven"][..],
            "is `seven`, which is not int",
            "--param id=",
        ),
        (
            &["--param", "id=1", "--param", "colour=red"][..],
            "has no parameter `colour`",
            "orders/{id:int}/{kind?}",
        ),
        (
            &["--param", "id=1", "--method", "GET", "--data", "{}"][..],
            "GET carries no body",
            "--query",
        ),
    ] {
        let output = invoke(extra);
        assert_eq!(output.code, 1, "{extra:?}: {}", output.stderr);
        assert!(
            output.stderr.contains(message),
            "{extra:?}: {}",
            output.stderr
        );
        assert!(
            output
                .stderr
                .lines()
                .any(|line| line.starts_with("hint:") && line.contains(hint)),
            "{extra:?}: {}",
            output.stderr
        );
    }
    assert_eq!(function.calls().len(), 3, "a refused call reaches nothing");
}

#[test]
fn gcp_invoke_takes_a_method_and_a_query_and_refuses_route_parameters() {
    let (server, gcp, hello) = gcp_with_http_hello();

    let output = gcp.project.run(&[
        "invoke",
        "--function",
        "hello",
        "--method",
        "put",
        "--query",
        "order=42",
        "--data",
        r#"{"name":"x"}"#,
    ]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    let call = &server.calls()[0];
    assert_eq!(call.method, "PUT");
    assert_eq!(call.path, format!("/{hello}?order=42"));
    assert_eq!(call.body, r#"{"name":"x"}"#);
    assert!(
        call.header("authorization")
            .is_some_and(|value| value.starts_with("Bearer ")),
        "the identity token for the function's URL went along"
    );

    // Without an event: GET, no body.
    let output = gcp.project.run(&["invoke", "--function", "hello"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert_eq!(server.calls()[1].method, "GET");
    assert_eq!(server.calls()[1].body, "");

    let output = gcp
        .project
        .run(&["invoke", "--function", "hello", "--param", "id=1"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        output.stderr.contains("has no route parameters"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("hint:"), "{}", output.stderr);
    assert_eq!(server.calls().len(), 2);
}

#[test]
fn gcp_logs_read_the_cloud_run_service_the_functions_api_names() {
    let gcp = gcp(None);
    let now = now_ms();
    let hello = gcp.id("hello");
    // Cloud Run service of the function is not named like the function.
    let service = format!("{hello}-svc7k2");
    gcp.functions.insert(
        &format!("projects/{PROJECT}/locations/{REGION}/functions/{hello}"),
        json!({ "serviceConfig": { "service": format!("projects/{PROJECT}/locations/{REGION}/services/{service}") } }),
    );
    gcp.logging.add_entry(
        PROJECT,
        &service,
        now - 20_000,
        "INFO",
        "from the function's service",
    );
    gcp.logging.add_entry(
        PROJECT,
        &hello,
        now - 10_000,
        "INFO",
        "another service, named like the function",
    );

    let output = gcp
        .project
        .run(&["logs", "--function", "hello", "--since", "5m"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert_eq!(
        lines_after_time(&output.stdout),
        ["gcp hello INFO from the function's service"]
    );
    assert!(
        !output.stderr.contains("Note"),
        "nothing guessed: {}",
        output.stderr
    );

    // A function the API does not know: its id, said so.
    let pubsub = gcp.id("pubsub");
    gcp.logging
        .add_entry(PROJECT, &pubsub, now - 5_000, "INFO", "by the function id");
    let output = gcp
        .project
        .run(&["logs", "--function", "pubsub", "--since", "5m"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert_eq!(
        lines_after_time(&output.stdout),
        ["gcp pubsub INFO by the function id"]
    );
    assert!(
        output.stderr.contains("is not in the Cloud Functions API")
            && output
                .stderr
                .contains(&format!("Cloud Run service `{pubsub}`")),
        "{}",
        output.stderr
    );
}
