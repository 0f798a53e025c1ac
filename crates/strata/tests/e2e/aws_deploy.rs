//! `strata deploy`, `plan`, `info`, `rollback` and `remove` end to end: the real binary
//! against moto server (started by `scripts/emulators start`), reached through
//! `AWS_ENDPOINT_URL` as a user would point strata at an emulator.
//!
//! What each command changed is asserted from moto's side, through its request recorder,
//! filtered to the test's own service name (moto is shared by tests running in parallel). A
//! test fails — never skips — when moto is not reachable.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::Value;
use strata_tests::moto::{Recorder, moto_api, moto_json_call, moto_request, moto_url};
use strata_tests::{LocalIndex, WheelBuilder};

use crate::support::cloud_section;

const REGION: &str = "us-east-1";

fn strata_bin() -> &'static Path {
    crate::support::strata_binary()
}

/// A service name no other test (or earlier run against the same moto) uses.
fn unique_service(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}{:x}",
        (nanos as u64 ^ u64::from(std::process::id()).rotate_left(32)) & 0xffff_ffff
    )
}

pub(crate) struct Output {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) code: i32,
}

/// A project directory, its own caches, and the environment strata runs with.
pub(crate) struct Project {
    dir: tempfile::TempDir,
    /// Holds the AWS files that do not exist and the caches; removed with the project.
    _home: tempfile::TempDir,
    pub(crate) service: String,
    pub(crate) env: Vec<(String, String)>,
}

impl Project {
    pub(crate) fn new(prefix: &str) -> Self {
        // Fails with the start-up hint when moto is down. (Not `/moto-api/data.json`: moto
        // answers that with 500 once it holds a Lambda function and has no Docker.)
        moto_api("GET", "/moto-api/");
        let home = tempfile::tempdir().unwrap();
        let tools = crate::support::workspace().join(".tools/venv/bin");
        let path = std::env::join_paths(std::iter::once(tools).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .unwrap()
        .into_string()
        .unwrap();
        let mut env = vec![
            ("PATH".to_owned(), path),
            ("AWS_ENDPOINT_URL".to_owned(), moto_url()),
            ("AWS_ACCESS_KEY_ID".to_owned(), "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), "testing".to_owned()),
            ("AWS_REGION".to_owned(), REGION.to_owned()),
            // Never the developer's own AWS files, never instance metadata.
            (
                "AWS_CONFIG_FILE".to_owned(),
                home.path().join("aws-config").display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE".to_owned(),
                home.path().join("aws-credentials").display().to_string(),
            ),
            ("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()),
            (
                "STRATA_CACHE_DIR".to_owned(),
                home.path().join("cache").display().to_string(),
            ),
            ("NO_COLOR".to_owned(), "1".to_owned()),
        ];
        for key in ["HOME", "PYENV_ROOT", "PYENV_VERSION", "LANG"] {
            if let Ok(value) = std::env::var(key) {
                env.push((key.to_owned(), value));
            }
        }
        Self {
            dir: tempfile::tempdir().unwrap(),
            _home: home,
            service: unique_service(prefix),
            env,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn write(&self, relative: &str, contents: &str) {
        let path = self.path().join(relative);
        fs_create_parent(&path);
        std::fs::write(path, contents).unwrap();
    }

    pub(crate) fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(existing, _)| existing != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    fn remove_env(&mut self, key: &str) {
        self.env.retain(|(existing, _)| existing != key);
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        let output = Command::new(strata_bin())
            .current_dir(self.path())
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .output()
            .expect("strata runs");
        Output {
            stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
            code: output.status.code().expect("exit code"),
        }
    }

    /// Runs a command with `--output-format json`, expecting success and one document of
    /// `kind` with a schema version.
    fn json(&self, kind: &str, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output-format", "json"]);
        let output = self.run(&all);
        assert_eq!(
            output.code, 0,
            "strata {args:?} failed\nstdout:\n{}\nstderr:\n{}",
            output.stdout, output.stderr
        );
        let document: Value = serde_json::from_str(&output.stdout).unwrap_or_else(|error| {
            panic!(
                "strata {args:?} printed no single JSON document ({error}):\n{}",
                output.stdout
            )
        });
        assert_eq!(document["schema_version"], 2, "{document:#}");
        assert_eq!(document["kind"], kind, "{document:#}");
        cloud_section(&document, "aws")
    }

    fn deploy(&self) -> Value {
        let report = self.json("deploy", &["deploy"]);
        assert_eq!(report["success"], true, "{report:#}");
        report
    }

    fn function_name(&self, function: &str) -> String {
        format!("{}-prod-{function}", self.service)
    }

    /// Deletes what the test deployed, so moto stays small for the tests after it.
    pub(crate) fn clean_up(&self) {
        let output = self.run(&["remove", "--yes"]);
        assert_eq!(output.code, 0, "clean-up failed: {}", output.stderr);
    }
}

fn fs_create_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
}

/// Two functions packaged individually, each zip holding only its own handler, so a change
/// to one handler changes one zip.
fn two_function_project(prefix: &str) -> Project {
    let project = Project::new(prefix);
    project.write(
        "serverless.yml",
        &format!(
            "service: {}\n\
             provider:\n  name: aws\n  runtime: python3.12\n  stage: prod\n  environment:\n    LOG_LEVEL: info\n    API_TOKEN: ${{env:API_TOKEN, 'first-token-value'}}\n\
             package:\n  individually: true\n  patterns:\n    - '!**'\n\
             functions:\n  hello:\n    handler: hello.handler\n    package:\n      patterns:\n        - hello.py\n  world:\n    handler: world.handler\n    package:\n      patterns:\n        - world.py\n",
            project.service
        ),
    );
    project.write(
        "hello.py",
        "def handler(event, context):\n    return 'hello'\n",
    );
    project.write(
        "world.py",
        "def handler(event, context):\n    return 'world'\n",
    );
    project
}

fn function<'a>(report: &'a Value, logical_name: &str) -> &'a Value {
    report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|function| function["logical_name"] == logical_name)
        .unwrap_or_else(|| panic!("no function {logical_name} in {report:#}"))
}

fn outcome(report: &Value, logical_name: &str) -> String {
    function(report, logical_name)["outcome"]["kind"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn info_function<'a>(info: &'a Value, deployed_name: &str) -> &'a Value {
    info["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|function| function["deployed_name"] == deployed_name)
        .unwrap_or_else(|| panic!("{deployed_name} is not in {info:#}"))
}

fn strings(operations: &[&str]) -> Vec<String> {
    let mut operations: Vec<String> = operations.iter().map(|op| (*op).to_owned()).collect();
    operations.sort();
    operations
}

#[test]
fn aws_first_deploy_creates_everything_and_a_second_deploy_changes_nothing() {
    let project = two_function_project("fst");
    let recorder = Recorder::start();
    let first = project.deploy();
    assert_eq!(outcome(&first, "hello"), "created");
    assert_eq!(outcome(&first, "world"), "created");
    assert_eq!(function(&first, "hello")["release"], "1");
    assert_eq!(function(&first, "hello")["pointer"]["name"], "prod");
    assert!(
        function(&first, "hello")["duration_ms"].is_u64(),
        "{first:#}"
    );
    let created = recorder.mutations(&project.service);
    for operation in [
        "CreateRole",
        "PutRolePolicy",
        "CreateFunction",
        "PublishVersion",
        "CreateAlias",
    ] {
        assert!(
            created.iter().any(|made| made == operation),
            "{operation} missing from {created:?}"
        );
    }

    let info = project.json("info", &["info"]);
    assert_eq!(info["location"], REGION);
    for name in ["hello", "world"] {
        let deployed = info_function(&info, &project.function_name(name));
        assert_eq!(deployed["pointer"]["name"], "prod", "{info:#}");
        assert_eq!(deployed["pointer"]["release"], "1", "{info:#}");
        assert!(deployed["code_sha256"].is_string(), "{info:#}");
    }
    let text = project.run(&["info"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains("alias prod -> version 1"),
        "{}",
        text.stdout
    );

    let recorder = Recorder::start();
    let second = project.deploy();
    recorder.assert_only_reads(&project.service);
    assert_eq!(outcome(&second, "hello"), "unchanged");
    assert_eq!(outcome(&second, "world"), "unchanged");
    assert_eq!(function(&second, "hello")["release"], "1");

    let text = project.run(&["deploy"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains(&format!(
            "function hello ({}): unchanged; alias prod -> 1",
            project.function_name("hello")
        )),
        "{}",
        text.stdout
    );
    project.clean_up();
}

#[test]
fn aws_handler_change_updates_only_that_function_and_plan_changes_nothing() {
    let project = two_function_project("hnd");
    let first = project.deploy();
    let old_hash = function(&first, "hello")["release"].clone();
    assert_eq!(old_hash, "1");
    project.write(
        "hello.py",
        "def handler(event, context):\n    return 'hello again'\n",
    );

    let recorder = Recorder::start();
    let plan = project.json("plan", &["plan"]);
    let dry_run = project.json("plan", &["deploy", "--dry-run"]);
    recorder.assert_only_reads(&project.service);
    assert_eq!(plan["functions"], dry_run["functions"]);
    let hello = function(&plan, "hello");
    assert_eq!(hello["action"]["kind"], "update", "{plan:#}");
    let code = &hello["action"]["code"];
    assert!(
        code["old"].is_string() && code["new"].is_string(),
        "{plan:#}"
    );
    assert_ne!(code["old"], code["new"]);
    assert_eq!(hello["action"]["config"], serde_json::json!([]));
    assert_eq!(hello["pointer"]["from"], "1");
    assert_eq!(function(&plan, "world")["action"]["kind"], "unchanged");
    let text = project.run(&["plan"]);
    assert!(
        text.stdout.contains(&format!(
            "function hello ({}): update code",
            project.function_name("hello")
        )) && text.stdout.contains("alias prod: 1 -> new version"),
        "{}",
        text.stdout
    );

    let recorder = Recorder::start();
    let report = project.deploy();
    assert_eq!(
        recorder.mutations(&project.service),
        strings(&["PublishVersion", "UpdateAlias", "UpdateFunctionCode"])
    );
    assert_eq!(outcome(&report, "hello"), "updated_code");
    assert_eq!(function(&report, "hello")["release"], "2");
    assert_eq!(outcome(&report, "world"), "unchanged");
    assert_eq!(function(&report, "world")["release"], "1");
    project.clean_up();
}

#[test]
fn aws_environment_change_updates_configuration_only_with_secrets_masked() {
    let mut project = two_function_project("env");
    project.deploy();
    project.set_env("API_TOKEN", "second-token-value");

    let plan = project.json("plan", &["plan"]);
    let config = &function(&plan, "hello")["action"]["config"];
    assert_eq!(
        config,
        &serde_json::json!([
            { "field": "environment.API_TOKEN", "old": "****", "new": "****" }
        ]),
        "{plan:#}"
    );
    let text = project.run(&["plan"]);
    assert!(
        text.stdout.contains("environment.API_TOKEN: **** -> ****"),
        "{}",
        text.stdout
    );
    for output in [&text.stdout, &text.stderr, &plan.to_string()] {
        assert!(!output.contains("first-token-value"), "{output}");
        assert!(!output.contains("second-token-value"), "{output}");
    }

    let recorder = Recorder::start();
    let report = project.deploy();
    assert_eq!(
        recorder.mutations(&project.service),
        strings(&[
            "PublishVersion",
            "PublishVersion",
            "UpdateAlias",
            "UpdateAlias",
            "UpdateFunctionConfiguration",
            "UpdateFunctionConfiguration",
        ])
    );
    assert_eq!(outcome(&report, "hello"), "updated_configuration");
    assert_eq!(outcome(&report, "world"), "updated_configuration");
    assert!(!report.to_string().contains("second-token-value"));
    project.clean_up();
}

#[test]
fn aws_requirements_change_publishes_one_layer_version_for_the_functions_using_it() {
    let wheels = tempfile::tempdir().unwrap();
    for version in ["1.0", "2.0"] {
        WheelBuilder::new("tinydep", version)
            .write_to(wheels.path())
            .unwrap();
    }
    let index = LocalIndex::start(wheels.path()).unwrap();
    let mut project = Project::new("lyr");
    project.set_env("PIP_INDEX_URL", &index.url());
    // `hello` lives at the root with the requirements; `world` is a module of its own
    // without any, so it must not be touched by a dependency change.
    project.write(
        "serverless.yml",
        &format!(
            "service: {}\n\
             provider:\n  name: aws\n  runtime: python3.12\n  stage: prod\n\
             plugins:\n  - serverless-python-requirements\n\
             custom:\n  pythonRequirements:\n    layer: true\n\
             package:\n  individually: true\n  patterns:\n    - '!**'\n    - '*.py'\n\
             functions:\n  hello:\n    handler: hello.handler\n    layers:\n      - Ref: PythonRequirementsLambdaLayer\n  world:\n    handler: handler.handler\n    module: world\n",
            project.service
        ),
    );
    project.write(
        "hello.py",
        "import tinydep\n\ndef handler(event, context):\n    return 'hello'\n",
    );
    project.write(
        "world/handler.py",
        "def handler(event, context):\n    return 'world'\n",
    );
    project.write("requirements.txt", "tinydep==1.0\n");

    let recorder = Recorder::start();
    let first = project.deploy();
    let layers = first["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{first:#}");
    assert_eq!(layers[0]["published"], true);
    let first_layer = layers[0]["id"].as_str().unwrap().to_owned();
    let published: Vec<String> = recorder
        .mutations(&project.service)
        .into_iter()
        .filter(|operation| operation == "PublishLayerVersion")
        .collect();
    assert_eq!(published.len(), 1);
    let info = project.json("info", &["info"]);
    assert_eq!(
        info_function(&info, &project.function_name("hello"))["layers"],
        serde_json::json!([first_layer])
    );
    assert_eq!(
        info_function(&info, &project.function_name("world"))["layers"],
        serde_json::json!([])
    );

    project.write("requirements.txt", "tinydep==2.0\n");
    let plan = project.json("plan", &["plan"]);
    assert_eq!(plan["layers"][0]["action"]["kind"], "publish", "{plan:#}");
    let recorder = Recorder::start();
    let report = project.deploy();
    assert_eq!(
        recorder.mutations(&project.service),
        strings(&[
            "PublishLayerVersion",
            "PublishVersion",
            "UpdateAlias",
            "UpdateFunctionConfiguration",
        ])
    );
    assert_eq!(report["layers"][0]["published"], true);
    assert_eq!(outcome(&report, "hello"), "updated_configuration");
    assert_eq!(outcome(&report, "world"), "unchanged");
    let second_layer = report["layers"][0]["id"].as_str().unwrap().to_owned();
    assert_ne!(second_layer, first_layer);

    // Back to the first dependencies: the version that records their hash is reused.
    project.write("requirements.txt", "tinydep==1.0\n");
    let recorder = Recorder::start();
    let report = project.deploy();
    assert_eq!(report["layers"][0]["published"], false, "{report:#}");
    assert_eq!(report["layers"][0]["id"], first_layer.as_str());
    assert!(
        !recorder
            .mutations(&project.service)
            .contains(&"PublishLayerVersion".to_owned())
    );
    project.remove_env("PIP_INDEX_URL");
    project.clean_up();
}

#[test]
fn aws_rollback_moves_the_alias_back_and_to_a_given_version() {
    let project = two_function_project("rbk");
    project.deploy();
    project.write("hello.py", "def handler(event, context):\n    return 2\n");
    project.deploy();
    project.write("hello.py", "def handler(event, context):\n    return 3\n");
    let third = project.deploy();
    assert_eq!(function(&third, "hello")["release"], "3");
    let hello = project.function_name("hello");

    let recorder = Recorder::start();
    let report = project.json("rollback", &["rollback", "--function", "hello"]);
    assert_eq!(
        report["functions"],
        serde_json::json!([{ "deployed_name": hello, "pointer": { "kind": "alias", "name": "prod" }, "from": "3", "to": "2" }])
    );
    assert_eq!(
        recorder.mutations(&project.service),
        strings(&["UpdateAlias"])
    );
    let (status, alias) = moto_request(
        "GET",
        &format!("/2015-03-31/functions/{hello}/aliases/prod"),
        Some((REGION, "lambda")),
        "application/json",
        "",
    );
    // moto answers GetAlias with 201.
    assert!((200..300).contains(&status), "{status}: {alias}");
    let alias: Value = serde_json::from_str(&alias).unwrap();
    assert_eq!(alias["FunctionVersion"], "2");

    let report = project.json("rollback", &["rollback", "-f", "hello", "--to", "1"]);
    assert_eq!(report["functions"][0]["from"], "2");
    assert_eq!(report["functions"][0]["to"], "1");
    let info = project.json("info", &["info"]);
    assert_eq!(info_function(&info, &hello)["pointer"]["release"], "1");

    // `world` has one version only: there is nothing before it.
    let output = project.run(&["rollback", "--function", "world"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        output.stderr.contains("no published version before 1"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("hint: pass --to VERSION"),
        "{}",
        output.stderr
    );

    // A deploy brings the stage back to what the manifest says.
    let report = project.deploy();
    assert_eq!(outcome(&report, "hello"), "published", "{report:#}");
    project.clean_up();
}

#[test]
fn aws_remove_deletes_exactly_what_strata_created() {
    let project = two_function_project("rmv");
    project.deploy();

    // A function and role made by hand, named like the stage's own: not strata's to delete.
    let bystander = project.function_name("handmade");
    let role = format!("{}-handmade-role", project.service);
    let (status, body) = moto_request(
        "POST",
        "/",
        Some((REGION, "iam")),
        "application/x-www-form-urlencoded",
        &format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={role}&AssumeRolePolicyDocument=%7B%7D"
        ),
    );
    assert_eq!(status, 200, "{body}");
    let zip = base64::engine::general_purpose::STANDARD.encode(strata_tests::zip::write_zip(&[
        strata_tests::zip::ZipEntry::file("h.py", "def h(event, context):\n    return 0\n"),
    ]));
    let (status, body) = moto_request(
        "POST",
        "/2015-03-31/functions",
        Some((REGION, "lambda")),
        "application/json",
        &serde_json::json!({
            "FunctionName": bystander,
            "Runtime": "python3.12",
            "Role": format!("arn:aws:iam::123456789012:role/{role}"),
            "Handler": "h.h",
            "Code": { "ZipFile": zip },
        })
        .to_string(),
    );
    assert_eq!(status, 201, "{body}");

    let refused = project.run(&["remove"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("without confirmation"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("hint: "), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains(&format!("function {}", project.function_name("hello"))),
        "the plan is shown: {}",
        refused.stderr
    );

    let recorder = Recorder::start();
    let report = project.json("remove", &["remove", "--yes"]);
    let mut removed: Vec<String> = report["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|resource| {
            format!(
                "{} {}",
                resource["kind"].as_str().unwrap(),
                resource["name"].as_str().unwrap()
            )
        })
        .collect();
    removed.sort();
    assert_eq!(
        removed,
        vec![
            format!("function {}", project.function_name("hello")),
            format!("function {}", project.function_name("world")),
            format!("role {}-prod-{REGION}-lambdaRole", project.service),
        ]
    );
    let deleted: Vec<String> = recorder
        .mutations(&project.service)
        .into_iter()
        .filter(|operation| operation.starts_with("Delete"))
        .collect();
    assert_eq!(
        deleted,
        strings(&[
            "DeleteFunction",
            "DeleteFunction",
            "DeleteRole",
            "DeleteRolePolicy"
        ])
    );

    let (status, body) = moto_request(
        "GET",
        &format!("/2015-03-31/functions/{bystander}"),
        Some((REGION, "lambda")),
        "application/json",
        "",
    );
    assert_eq!(status, 200, "the hand-made function survives: {body}");
    let info = project.json("info", &["info"]);
    assert_eq!(info["functions"], serde_json::json!([]));
    let again = project.run(&["remove"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("nothing strata created is deployed"),
        "{}",
        again.stdout
    );
    moto_request(
        "DELETE",
        &format!("/2015-03-31/functions/{bystander}"),
        Some((REGION, "lambda")),
        "application/json",
        "",
    );
}

#[test]
fn aws_seed_serverless_yml_deploys_with_stage_prod() {
    // The repository's copy of the seed project (tests read nothing outside the repository).
    let seed = crate::support::workspace().join("crates/strata-manifest/tests/fixtures/seed");
    let mut project = Project::new("seed");
    let manifest = std::fs::read_to_string(seed.join("serverless.yml")).unwrap();
    assert!(manifest.contains("service: python-app\n"));
    // The seed as it is, except the service name: moto is shared with other tests and runs.
    project.write(
        "serverless.yml",
        &manifest.replace(
            "service: python-app\n",
            &format!("service: {}\n", project.service),
        ),
    );
    project.write(
        "handler.py",
        &std::fs::read_to_string(seed.join("handler.py")).unwrap(),
    );
    let database_url = "postgres://app:seed-secret-password@db.internal:5432/app";
    project.set_env("DATABASE_URL", database_url);

    let recorder = Recorder::start();
    let plan = project.json("plan", &["plan", "--stage", "prod"]);
    // Nothing is deployed yet, and planning creates nothing: no role, no bucket.
    recorder.assert_only_reads(&project.service);
    assert_eq!(
        recorder.mutations("strata-deployments-"),
        Vec::<String>::new()
    );
    assert_eq!(
        plan["location"], "us-west-2",
        "the manifest's region wins over AWS_REGION"
    );
    assert_eq!(plan["role"]["action"], "create");
    let output = project.run(&["deploy", "--stage", "prod"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    // Positive control for the read-only plan above: the same recorder sees the deploy's writes.
    assert!(
        recorder
            .mutations(&project.service)
            .contains(&"CreateFunction".to_owned()),
        "{:?}",
        recorder.mutations(&project.service)
    );
    for name in ["hello", "processS3"] {
        assert!(
            output.stdout.contains(&format!(
                "function {name} ({}-prod-{name}): created; alias prod -> 1",
                project.service
            )),
            "{}",
            output.stdout
        );
    }
    // `hello`'s two `http` events are one REST API path, so one URL; every event of the
    // seed file is managed, so nothing is reported as kept.
    let hello_url = regex_free_url(&output.stdout, "/prod/hello");
    assert!(
        hello_url.starts_with("https://")
            && hello_url.contains(".execute-api.us-west-2.amazonaws.com/prod/hello"),
        "{}",
        output.stdout
    );
    assert!(!output.stdout.contains("` event ("), "{}", output.stdout);
    assert!(!output.stderr.contains("not managed"), "{}", output.stderr);
    assert!(
        !output.stderr.contains("does not create triggers yet"),
        "{}",
        output.stderr
    );
    for text in [&output.stdout, &output.stderr, &plan.to_string()] {
        assert!(!text.contains("seed-secret-password"), "{text}");
    }

    // processS3's `my-bucket`: created by the deploy, its notification aimed at the prod
    // alias, which S3 may invoke.
    let alias = format!(
        "arn:aws:lambda:us-west-2:123456789012:function:{}-prod-processS3:prod",
        project.service
    );
    assert!(
        bucket_notification("my-bucket").contains(&alias),
        "{}",
        bucket_notification("my-bucket")
    );

    let info = project.json("info", &["info", "--stage", "prod"]);
    assert_eq!(info["location"], "us-west-2");
    assert_eq!(info["functions"].as_array().unwrap().len(), 2, "{info:#}");
    let process = info_function(&info, &format!("{}-prod-processS3", project.service));
    assert_eq!(
        process["trigger"], "s3 my-bucket: s3:ObjectCreated:*",
        "{info:#}"
    );
    let elsewhere = project.json(
        "info",
        &["info", "--stage", "prod", "--region", "eu-west-1"],
    );
    assert_eq!(elsewhere["location"], "eu-west-1");
    assert_eq!(elsewhere["functions"], serde_json::json!([]));

    let hello = info_function(&info, &format!("{}-prod-hello", project.service));
    assert_eq!(hello["url"], hello_url, "{info:#}");
    // API Gateway's side: `prod-<service>` with GET and POST on /hello, each a Lambda proxy
    // integration on the prod alias, deployed to the stage `prod`.
    let rest_id =
        rest_api_id("us-west-2", &format!("prod-{}", project.service)).expect("the REST API");
    assert!(
        hello_url.contains(&format!("https://{rest_id}.")),
        "{hello_url}"
    );
    let hello_alias = format!(
        "arn:aws:lambda:us-west-2:123456789012:function:{}-prod-hello:prod",
        project.service
    );
    for method in ["GET", "POST"] {
        assert_proxy_integration("us-west-2", &rest_id, "/hello", method, &hello_alias);
    }
    let stages = moto_get_json(
        "us-west-2",
        "apigateway",
        &format!("/restapis/{rest_id}/stages"),
    );
    assert!(
        stages["item"]
            .as_array()
            .unwrap()
            .iter()
            .any(|stage| stage["stageName"] == "prod"),
        "{stages:#}"
    );

    let recorder = Recorder::start();
    let again = project.json("deploy", &["deploy", "--stage", "prod"]);
    assert_eq!(outcome(&again, "hello"), "unchanged");
    assert_eq!(outcome(&again, "processS3"), "unchanged");
    assert_eq!(function(&again, "hello")["url"], hello_url, "{again:#}");
    assert_eq!(recorder.mutations("my-bucket"), Vec::<String>::new());
    assert_eq!(recorder.mutations(&project.service), Vec::<String>::new());
    let output = project.run(&["remove", "--stage", "prod", "--yes"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(output.stdout.contains("REST API"), "{}", output.stdout);
    assert!(
        !bucket_notification("my-bucket").contains(&alias),
        "remove left strata's notification"
    );
    assert_eq!(
        rest_api_id("us-west-2", &format!("prod-{}", project.service)),
        None,
        "remove left the REST API"
    );
}

/// An API Gateway GET as JSON (moto does not check signatures' content, only their form).
fn moto_get_json(region: &str, service: &str, path: &str) -> Value {
    let (status, body) = moto_request("GET", path, Some((region, service)), "application/json", "");
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|error| panic!("{error}: {body}"))
}

/// Asserts that the REST API `rest_id` has `method` on `path` as a Lambda proxy integration
/// invoking `alias` (a function's stage alias ARN).
fn assert_proxy_integration(region: &str, rest_id: &str, path: &str, method: &str, alias: &str) {
    let resources = moto_get_json(
        region,
        "apigateway",
        &format!("/restapis/{rest_id}/resources"),
    );
    let resource = resources["item"]
        .as_array()
        .unwrap()
        .iter()
        .find(|resource| resource["path"] == path)
        .unwrap_or_else(|| panic!("no {path}: {resources:#}"))
        .clone();
    let integration = moto_get_json(
        region,
        "apigateway",
        &format!(
            "/restapis/{rest_id}/resources/{}/methods/{method}/integration",
            resource["id"].as_str().unwrap()
        ),
    );
    assert_eq!(
        integration["type"], "AWS_PROXY",
        "{method} {path}: {integration:#}"
    );
    assert!(
        integration["uri"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("/functions/{alias}/invocations")),
        "{method} {path}: {integration:#}"
    );
}

/// The id of the REST API named `name`, if one exists.
fn rest_api_id(region: &str, name: &str) -> Option<String> {
    let apis = moto_get_json(region, "apigateway", "/restapis");
    apis["item"]
        .as_array()?
        .iter()
        .find(|api| api["name"] == name)
        .and_then(|api| api["id"].as_str())
        .map(str::to_owned)
}

/// The bucket's notification configuration as S3 answers it (XML), or the error body when
/// the bucket is gone.
fn bucket_notification(bucket: &str) -> String {
    let (status, body) = moto_request(
        "GET",
        &format!("/{bucket}?notification"),
        Some(("us-west-2", "s3")),
        "application/xml",
        "",
    );
    assert!(status == 200 || status == 404, "{status} {body}");
    body
}

/// The first whitespace-separated word of `text` that contains `needle`, `;`/`,` trimmed.
fn regex_free_url(text: &str, needle: &str) -> String {
    text.split_whitespace()
        .find(|word| word.contains(needle))
        .map(|word| word.trim_end_matches([';', ',']).to_owned())
        .unwrap_or_default()
}

#[test]
fn aws_missing_credentials_fail_naming_the_sources_tried() {
    let mut project = two_function_project("crd");
    project.remove_env("AWS_ACCESS_KEY_ID");
    project.remove_env("AWS_SECRET_ACCESS_KEY");
    // The chain would end at EC2 instance metadata (169.254.169.254); tests stay on 127.0.0.1.
    project.set_env("AWS_EC2_METADATA_DISABLED", "true");
    let output = project.run(&["info"]);
    assert_eq!(output.code, 1, "{}", output.stdout);
    assert!(
        output
            .stderr
            .contains("no AWS credentials found; tried: environment variables"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("hint: set AWS_ACCESS_KEY_ID"),
        "{}",
        output.stderr
    );

    let output = project.run(&["deploy", "--output-format", "json"]);
    assert_eq!(output.code, 1);
    let error: Value = serde_json::from_str(&output.stdout).expect("one JSON error document");
    assert_eq!(error["kind"], "error");
    assert_eq!(error["schema_version"], 2);
}

#[test]
fn aws_a_failed_function_exits_1_naming_the_step_and_keeps_its_alias() {
    let project = two_function_project("fail");
    project.deploy();
    let world = project.function_name("world");
    // A layer that does not exist: Lambda refuses the configuration after the new code is in.
    let manifest = std::fs::read_to_string(project.path().join("serverless.yml")).unwrap();
    project.write(
        "serverless.yml",
        &manifest.replace(
            "    handler: world.handler\n",
            "    handler: world.handler\n    layers:\n      - arn:aws:lambda:us-east-1:123456789012:layer:does-not-exist:7\n",
        ),
    );
    project.write(
        "world.py",
        "def handler(event, context):\n    return 'broken'\n",
    );
    project.write(
        "hello.py",
        "def handler(event, context):\n    return 'fine'\n",
    );

    let output = project.run(&["deploy", "--output-format", "json"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    let document: Value = serde_json::from_str(&output.stdout).expect("one JSON document");
    let report = cloud_section(&document, "aws");
    assert_eq!(report["status"], "failed", "{document:#}");
    assert_eq!(report["schema_version"], 2);
    assert_eq!(report["kind"], "deploy");
    assert_eq!(report["success"], false);
    assert_eq!(outcome(&report, "hello"), "updated_code");
    let failed = &function(&report, "world")["outcome"];
    assert_eq!(failed["kind"], "failed", "{report:#}");
    assert_eq!(failed["step"], "update-configuration", "{report:#}");
    assert!(failed["request_id"].is_string(), "{report:#}");
    assert_eq!(function(&report, "world")["release"], "1");
    let info = project.json("info", &["info"]);
    assert_eq!(info_function(&info, &world)["pointer"]["release"], "1");
    assert_eq!(
        info_function(&info, &project.function_name("hello"))["pointer"]["release"],
        "2"
    );

    let output = project.run(&["deploy"]);
    assert_eq!(output.code, 1, "{}", output.stdout);
    assert!(
        output
            .stderr
            .contains("error: 1 of 2 functions failed to deploy")
            && output
                .stderr
                .contains(&format!("{world}: update-configuration failed"))
            && output.stderr.contains("(request id "),
        "{}",
        output.stderr
    );
    project.clean_up();
}

#[test]
fn aws_function_selection_deploys_only_that_function_and_leaves_the_role() {
    let project = two_function_project("sel");
    project.deploy();
    project.write(
        "hello.py",
        "def handler(event, context):\n    return 'selected'\n",
    );
    project.write(
        "world.py",
        "def handler(event, context):\n    return 'not selected'\n",
    );

    let recorder = Recorder::start();
    let report = project.json("deploy", &["deploy", "--function", "hello"]);
    assert_eq!(report["success"], true);
    assert_eq!(
        report["functions"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
    assert_eq!(outcome(&report, "hello"), "updated_code");
    // The managed role's policy names every function's log group: a partial deploy must not
    // rewrite it from the one function it sees.
    assert_eq!(
        recorder.mutations(&project.service),
        strings(&["PublishVersion", "UpdateAlias", "UpdateFunctionCode"])
    );

    let output = project.run(&["deploy", "--function", "nope"]);
    assert_eq!(output.code, 1);
    assert!(
        output
            .stderr
            .contains("function `nope` is not in the manifest")
            && output
                .stderr
                .contains("hint: functions in the manifest: hello, world"),
        "{}",
        output.stderr
    );

    let plan = project.json("plan", &["plan"]);
    assert_eq!(function(&plan, "world")["action"]["kind"], "update");
    assert_eq!(function(&plan, "hello")["action"]["kind"], "unchanged");
    project.clean_up();
}

#[test]
fn emulator_script_refuses_a_server_it_did_not_start() {
    // Any HTTP server on the port used to pass the start-up check, so the tests could run
    // against another moto version (or something else) without anyone noticing.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = squatter.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in squatter.incoming().flatten() {
            use std::io::Write as _;
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        }
    });
    let script = crate::support::workspace().join("scripts/emulators");
    let output = Command::new(&script)
        .arg("start")
        .env("STRATA_MOTO_PORT", port.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("scripts/emulators runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "127.0.0.1:{port} is taken by a process this script did not start"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("STRATA_MOTO_PORT"), "{stderr}");
    // Positive control: the script does accept the moto it started (the one the suite uses).
    let output = Command::new(&script)
        .arg("start")
        .stdin(Stdio::null())
        .output()
        .expect("scripts/emulators runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn aws_ssm_variables_resolve_through_the_binary_and_secure_strings_never_show() {
    let project = Project::new("ssm");
    let secure_canary = format!("ssm-canary-{}", project.service);
    for (name, value, kind) in [
        ("table", "orders-prod", "String"),
        ("password", secure_canary.as_str(), "SecureString"),
    ] {
        let (status, body) = moto_json_call(
            REGION,
            "ssm",
            "AmazonSSM.PutParameter",
            &serde_json::json!({
                "Name": format!("/app/{}/{name}", project.service),
                "Value": value,
                "Type": kind,
                "Overwrite": true,
            })
            .to_string(),
        );
        assert_eq!(status, 200, "PutParameter: {body}");
    }
    project.write(
        "serverless.yml",
        &format!(
            "service: {service}\n\
             provider:\n  name: aws\n  runtime: python3.12\n  stage: prod\n  environment:\n\
             \x20   TABLE: ${{ssm:/app/{service}/table}}\n\
             \x20   UPSTREAM_AUTH: ${{ssm:/app/{service}/password}}\n\
             \x20   FALLBACK: ${{ssm:/app/{service}/missing, 'default-value'}}\n\
             functions:\n  hello:\n    handler: handler.main\n",
            service = project.service
        ),
    );
    project.write("handler.py", "def main(event, context):\n    return 1\n");

    // Offline, `validate` says the values come at deploy time; it does not fail on them.
    let validate = project.run(&["validate", "--stage", "prod"]);
    assert_eq!(validate.code, 0, "{}", validate.stderr);

    let plan = project.run(&["plan", "--stage", "prod", "-vv"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let deploy = project.run(&["deploy", "--stage", "prod", "-vv"]);
    assert_eq!(deploy.code, 0, "{}", deploy.stderr);
    // `print` works offline: cloud values stay as the references they are.
    let print = project.run(&["print", "--stage", "prod"]);
    assert_eq!(print.code, 0, "{}", print.stderr);
    assert!(
        print
            .stdout
            .contains(&format!("${{ssm:/app/{}/table}}", project.service)),
        "{}",
        print.stdout
    );
    for (command, output) in [("plan", &plan), ("deploy", &deploy), ("print", &print)] {
        for text in [&output.stdout, &output.stderr] {
            assert!(
                !text.contains(&secure_canary),
                "strata {command} showed a SecureString value:\n{text}"
            );
        }
    }

    // Lambda got the real values.
    let (status, body) = moto_request(
        "GET",
        &format!(
            "/2015-03-31/functions/{}/configuration",
            project.function_name("hello")
        ),
        Some((REGION, "lambda")),
        "application/json",
        "",
    );
    assert_eq!(status, 200, "{body}");
    let configuration: Value = serde_json::from_str(&body).unwrap();
    let variables = &configuration["Environment"]["Variables"];
    assert_eq!(variables["TABLE"], "orders-prod", "{configuration:#}");
    assert_eq!(variables["UPSTREAM_AUTH"], secure_canary.as_str());
    assert_eq!(variables["FALLBACK"], "default-value");
    project.clean_up();
}

/// The mappings Lambda lists for `function_name` (an alias ARN, or a plain name for
/// `$LATEST`), in the region the seed deploys to.
fn event_source_mappings(region: &str, function_name: &str) -> Vec<Value> {
    let query = function_name.replace(':', "%3A");
    let (status, body) = moto_request(
        "GET",
        &format!("/2015-03-31/event-source-mappings/?FunctionName={query}"),
        Some((region, "lambda")),
        "application/json",
        "",
    );
    assert_eq!(status, 200, "ListEventSourceMappings: {body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    body["EventSourceMappings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn stack_exists(region: &str, name: &str) -> bool {
    let (status, body) = moto_request(
        "POST",
        "/",
        Some((region, "cloudformation")),
        "application/x-www-form-urlencoded",
        &format!("Action=DescribeStacks&Version=2010-05-15&StackName={name}"),
    );
    assert!(
        status == 200 || status == 400,
        "DescribeStacks: {status} {body}"
    );
    status == 200 && !body.contains("DELETE_COMPLETE")
}

#[test]
fn aws_seed_serverless_framework_yml_deploys_the_queue_and_the_worker_mapping() {
    let seed = crate::support::workspace().join("crates/strata-manifest/tests/fixtures/seed");
    let region = "us-west-2";
    let mut project = Project::new("sfw");
    let manifest = std::fs::read_to_string(seed.join("serverless-framework.yml")).unwrap();
    assert!(manifest.contains("service: python-serverless-app\n"));
    // The seed as it is, except the service name (moto is shared); the queue keeps its
    // seed name, `prod-worker-queue`.
    project.write(
        "serverless.yml",
        &manifest.replace(
            "service: python-serverless-app\n",
            &format!("service: {}\n", project.service),
        ),
    );
    // The article never defines `worker_handler`; the test copy adds it.
    project.write(
        "handler.py",
        &format!(
            "{}\n\ndef worker_handler(event, context):\n    return None\n",
            std::fs::read_to_string(seed.join("handler.py")).unwrap()
        ),
    );
    project.set_env(
        "DATABASE_URL",
        "postgres://app:seed-secret@db.internal:5432/app",
    );

    let plan = project.json("plan", &["plan", "--stage", "prod"]);
    assert_eq!(
        plan["stack"]["name"],
        format!("{}-prod-resources", project.service)
    );
    assert_eq!(plan["stack"]["action"]["kind"], "create", "{plan:#}");
    assert_eq!(plan["triggers"][0]["function"], "worker", "{plan:#}");
    assert_eq!(plan["triggers"][0]["action"]["kind"], "create", "{plan:#}");
    let output = project.run(&["deploy", "--stage", "prod"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    // sqs, http and resources: are all strata's now.
    assert!(
        !output.stderr.contains("CloudFormation resources"),
        "{}",
        output.stderr
    );
    assert!(!output.stdout.contains("`sqs` event"), "{}", output.stdout);
    assert!(!output.stdout.contains("`http` event"), "{}", output.stdout);
    // The report says what the deploy did to the stack and the triggers.
    let queue_arn = format!("arn:aws:sqs:{region}:123456789012:prod-worker-queue");
    for line in [
        format!("  stack {}-prod-resources: create\n", project.service),
        "      add WorkerQueue (AWS::SQS::Queue)\n".to_owned(),
        format!("  trigger sqs of worker ({queue_arn}): create\n"),
    ] {
        assert!(output.stdout.contains(&line), "{line}\n{}", output.stdout);
    }
    let api_url = regex_free_url(&output.stdout, "/prod/{proxy+}");
    assert!(
        api_url.contains(".execute-api.us-west-2.amazonaws.com/prod/{proxy+}"),
        "{}",
        output.stdout
    );

    let (status, body) = moto_json_call(
        region,
        "sqs",
        "AmazonSQS.GetQueueUrl",
        r#"{"QueueName":"prod-worker-queue"}"#,
    );
    assert_eq!(status, 200, "the queue: {body}");
    let worker = format!("{}-prod-worker", project.service);
    let alias = format!("arn:aws:lambda:{region}:123456789012:function:{worker}:prod");
    let mappings = event_source_mappings(region, &alias);
    assert_eq!(mappings.len(), 1, "{mappings:?}");
    assert_eq!(
        mappings[0]["EventSourceArn"],
        format!("arn:aws:sqs:{region}:123456789012:prod-worker-queue")
    );
    assert_eq!(mappings[0]["BatchSize"], 10);
    // `api`'s REST API, as API Gateway holds it: `ANY /{proxy+}` on the prod alias.
    let api_name = format!("prod-{}", project.service);
    let rest_id = rest_api_id(region, &api_name).expect("the REST API");
    let api_alias = format!(
        "arn:aws:lambda:{region}:123456789012:function:{}-prod-api:prod",
        project.service
    );
    assert_proxy_integration(region, &rest_id, "/{proxy+}", "ANY", &api_alias);

    // An immediate second deploy changes nothing at all.
    let recorder = Recorder::start();
    let again = project.json("deploy", &["deploy", "--stage", "prod"]);
    assert_eq!(outcome(&again, "worker"), "unchanged");
    assert_eq!(outcome(&again, "api"), "unchanged");
    assert_eq!(again["stack"]["action"]["kind"], "unchanged", "{again:#}");
    assert!(again.get("triggers").is_none(), "{again:#}");
    recorder.assert_only_reads(&project.service);
    let uuid = mappings[0]["UUID"].as_str().unwrap().to_owned();
    assert_eq!(recorder.mutations(&uuid), Vec::<String>::new());

    // A queue property and the batch size change: plan shows both with old and new, and the
    // deploy report lists exactly those two changes.
    let manifest = std::fs::read_to_string(project.path().join("serverless.yml")).unwrap();
    project.write(
        "serverless.yml",
        &manifest.replace("batchSize: 10", "batchSize: 5").replace(
            "QueueName: ${self:provider.stage}-worker-queue\n",
            "QueueName: ${self:provider.stage}-worker-queue\n        VisibilityTimeout: 60\n",
        ),
    );
    let output = project.run(&["plan", "--stage", "prod"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    for line in [
        "      modify WorkerQueue (AWS::SQS::Queue)\n          VisibilityTimeout: (unset) -> 60\n",
        "      batch_size: 10 -> 5\n",
    ] {
        assert!(output.stdout.contains(line), "{line}\n{}", output.stdout);
    }
    let changed = project.json("deploy", &["deploy", "--stage", "prod"]);
    assert_eq!(changed["success"], true, "{changed:#}");
    assert_eq!(changed["stack"]["action"]["kind"], "update", "{changed:#}");
    assert_eq!(
        changed["stack"]["action"]["resources"],
        serde_json::json!([{ "logical_id": "WorkerQueue", "resource_type": "AWS::SQS::Queue",
            "action": "modify", "properties": [{ "field": "VisibilityTimeout", "old": null, "new": "60" }] }]),
        "{changed:#}"
    );
    assert_eq!(
        changed["triggers"],
        serde_json::json!([{ "function": "worker", "kind": "sqs", "source": queue_arn, "id": uuid,
            "action": { "kind": "update", "changes": [{ "field": "batch_size", "old": "10", "new": "5" }] } }]),
        "{changed:#}"
    );
    assert_eq!(event_source_mappings(region, &alias)[0]["BatchSize"], 5);

    // remove leaves neither the stack nor strata's mapping.
    let output = project.run(&["remove", "--stage", "prod", "--yes"]);
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(event_source_mappings(region, &alias).is_empty());
    assert_eq!(
        rest_api_id(region, &api_name),
        None,
        "remove left the REST API"
    );
    assert!(!stack_exists(
        region,
        &format!("{}-prod-resources", project.service)
    ));
}
