//! Secrets never leave where they are used: index credentials, cloud credentials and secret
//! environment values appear in no output, file, zip, upload or child argv strata produces,
//! while each still reaches its place of use.

use crate::support::{HANDLER, Project, Resolver, publish, read_zip};
use strata_tests::LocalIndex;
use strata_tests::wheel::WheelBuilder;

/// One function per cloud, all sharing the project's `requirements.txt`.
const THREE_CLOUDS: &str = "service: orders
runtime: python3.12
provider:
  name: aws
  region: eu-west-1
azure:
  subscriptionId: 00000000-0000-0000-0000-000000000000
  resourceGroup: orders-rg
  functionApp: orders-dev
  storageAccount: ordersstoredev
  region: westeurope
gcp:
  project: orders-dev-123
  region: europe-west1
  bucket: orders-sources
functions:
  api:
    handler: handler.main
    targets: [aws]
  hello:
    handler: function_app.hello
    targets: [azure]
  helloHttp:
    handler: main.hello_http
    targets: [gcp]
";

/// Every zip under `dir`, recursively.
fn zips(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "zip") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Regression: `--index-url https://user:token@host` in requirements.txt shipped inside the
/// Lambda zip, the Azure app zip and the Google source zip.
#[test]
fn requirements_files_ship_without_index_credentials() {
    const USER: &str = "zip-canary-user";
    const PASSWORD: &str = "zip-canary-Pa55word";
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::builder(wheels.path())
        .basic_auth(USER, PASSWORD)
        .start()
        .unwrap();
    publish(&index, &[WheelBuilder::new("private", "1.0")]);
    let project = Project::new(Resolver::Pip);
    let requirements = format!(
        "--index-url {}\nprivate==1.0\n",
        index.url_with_credentials()
    );
    project
        .write("strata.yml", THREE_CLOUDS)
        .write("handler.py", HANDLER)
        .write("function_app.py", "def hello(request):\n    return 'hi'\n")
        .write("main.py", "def hello_http(request):\n    return 'hi'\n")
        .write("requirements.txt", &requirements);

    let run = project.strata(&["package"]);
    run.assert_success();

    // Positive control: the credentials did reach the index.
    assert!(
        index.requests().iter().any(|request| request
            .path
            .ends_with("private-1.0-py3-none-any.whl")
            && request.status == 200),
        "{:?}",
        index.requests()
    );
    let shipped = format!("--index-url {}\nprivate==1.0\n", index.url());
    let zips = zips(&project.path().join(".strata"));
    assert_eq!(zips.len(), 3, "{zips:?}");
    for zip in &zips {
        let entries = read_zip(zip);
        for entry in &entries {
            let text = String::from_utf8_lossy(&entry.data);
            assert!(
                !text.contains(PASSWORD) && !text.contains(USER),
                "{} holds the credentials in {}",
                zip.display(),
                entry.name
            );
        }
        let requirements = entries
            .iter()
            .find(|entry| entry.name == "requirements.txt")
            .unwrap_or_else(|| panic!("{} has no requirements.txt", zip.display()));
        assert_eq!(String::from_utf8_lossy(&requirements.data), shipped);
    }
    // Google builds from that file, so strata says how the build gets its credentials.
    assert!(
        run.stderr.contains(
            "gcp/functions/helloHttp.zip: requirements.txt names a package index with credentials"
        ) && run.stderr.contains("Artifact Registry"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains(PASSWORD), "{}", run.all());
}

const INDEX_USER: &str = "idxuser-canary-u7";
const INDEX_PASSWORD: &str = "idxpass-canary-p8";
const NETRC_PASSWORD: &str = "netrc-canary-n9";
const ENV_SECRET: &str = "envsecret-canary-e1";
const AWS_KEY_ID: &str = "AKIACANARYK3Y1D";
const AWS_SECRET: &str = "awssecret-canary-s2";
const AWS_SESSION: &str = "awssession-canary-t3";
const CANARIES: &[&str] = &[
    INDEX_USER,
    INDEX_PASSWORD,
    NETRC_PASSWORD,
    ENV_SECRET,
    AWS_KEY_ID,
    AWS_SECRET,
    AWS_SESSION,
];

#[track_caller]
fn assert_no_canary(place: &str, text: &str) {
    for canary in CANARIES {
        assert!(
            !text.contains(canary),
            "{canary} leaked into {place}:\n{text}"
        );
    }
    // A Basic header logged as it is sent.
    for (user, password) in [(INDEX_USER, INDEX_PASSWORD), ("netrc-user", NETRC_PASSWORD)] {
        use base64::Engine as _;
        let header = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        assert!(
            !text.contains(&header),
            "the Basic header for {user} leaked into {place}"
        );
    }
}

/// Wrappers for `uv` and `python3` placed first on PATH: each logs its argv, then runs the
/// real tool, so the test sees every child strata starts.
fn argv_recorder(
    tools: &std::path::Path,
    log: &std::path::Path,
    with_uv: bool,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut names = vec!["python3"];
    if with_uv {
        names.push("uv");
    }
    for name in names {
        let wrapper = dir.path().join(name);
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$0 $*\" >> '{}'\nexec '{}' \"$@\"\n",
                log.display(),
                tools.join(name).display()
            ),
        )
        .unwrap();
        crate::support::set_mode(&wrapper, 0o755);
    }
    dir
}

/// The canary test: a project whose manifest environment, index URL, netrc and AWS
/// credentials hold distinct canary strings is packaged, planned, deployed to moto, shown
/// with `info`, failed on purpose and locked again with pip, all with `-vvv`. No canary may
/// appear in any output, JSON document, the lock, the build report, any zip, any request body
/// moto recorded or any argv of uv or pip; each still reaches where it is used.
#[test]
fn canaries_reach_their_use_and_nothing_else() {
    strata_tests::moto::moto_api("GET", "/moto-api/");
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::builder(wheels.path())
        .basic_auth(INDEX_USER, INDEX_PASSWORD)
        .start()
        .unwrap();
    let private = WheelBuilder::new("private", "1.0");
    publish(&index, std::slice::from_ref(&private));
    let extra_wheels = tempfile::tempdir().unwrap();
    let extra = LocalIndex::builder(extra_wheels.path())
        .basic_auth("netrc-user", NETRC_PASSWORD)
        .start()
        .unwrap();
    publish(&extra, &[WheelBuilder::new("fromnetrc", "1.0")]);

    let service = format!("canary{}", std::process::id());
    let mut project = Project::new(Resolver::Uv);
    let netrc = project.cache.path().join("netrc");
    std::fs::write(
        &netrc,
        format!("machine localhost login netrc-user password {NETRC_PASSWORD}\n"),
    )
    .unwrap();
    let argv_log = project.cache.path().join("argv.log");
    let with_uv = argv_recorder(project.tools.dir.path(), &argv_log, true);
    project
        .write(
            "serverless.yml",
            &format!(
                "service: {service}\nprovider:\n  name: aws\n  runtime: python3.11\n  region: us-east-1\n  environment:\n    DB_PASS: {ENV_SECRET}\n    LOG_LEVEL: info\nfunctions:\n  hello:\n    handler: handler.main\nplugins:\n  - serverless-python-requirements\n"
            ),
        )
        .write("handler.py", HANDLER)
        .write(
            "requirements.txt",
            &format!(
                "--index-url {}\n--extra-index-url {}\nprivate==1.0\nfromnetrc==1.0\n",
                index.url_with_credentials(),
                // Another host name than the first index's, so netrc speaks for this one only.
                extra.url().replace("127.0.0.1", "localhost")
            ),
        );
    for (key, value) in [
        ("NETRC", netrc.display().to_string()),
        ("AWS_ENDPOINT_URL", strata_tests::moto::moto_url()),
        ("AWS_ACCESS_KEY_ID", AWS_KEY_ID.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", AWS_SECRET.to_owned()),
        ("AWS_SESSION_TOKEN", AWS_SESSION.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        (
            "AWS_CONFIG_FILE",
            project
                .cache
                .path()
                .join("aws-config")
                .display()
                .to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            project
                .cache
                .path()
                .join("aws-credentials")
                .display()
                .to_string(),
        ),
        (
            "PATH",
            format!("{}:{}", with_uv.path().display(), project.tools.path_var()),
        ),
    ] {
        project.env(key, &value);
    }

    let recorder = strata_tests::moto::Recorder::start();
    let mut outputs = Vec::new();
    for args in [
        &["package", "-vvv"][..],
        &["package", "-vvv", "--output-format", "json"],
        &["plan", "-vvv", "--output-format", "json"],
        &["plan", "-vvv"],
        &["deploy", "-vvv", "--output-format", "json"],
        &["info", "-vvv", "--output-format", "json"],
        &["info", "-vvv"],
    ] {
        let run = project.strata(args);
        run.assert_success();
        outputs.push((format!("{args:?}"), run));
    }
    let info = outputs[5].1.aws_json();
    let report = project.report();

    assert_no_canary("strata.lock", &project.read("strata.lock"));
    assert_no_canary("build-report.json", &report.to_string());
    let zips = zips(&project.path().join(".strata"));
    assert!(!zips.is_empty());
    for zip in &zips {
        for entry in read_zip(zip) {
            assert_no_canary(
                &format!("{} in {}", entry.name, zip.display()),
                &String::from_utf8_lossy(&entry.data),
            );
        }
    }

    // Failed on purpose: the wheel no longer downloads.
    std::fs::remove_dir_all(project.path().join(".strata")).unwrap();
    std::fs::remove_dir_all(project.cache.path().join("strata")).unwrap();
    index.fail_next(&private.filename(), 100);
    let failed = project.strata(&["deploy", "-vvv"]);
    index.fail_next(&private.filename(), 0);
    failed.assert_failure(1);
    outputs.push(("failed deploy".to_owned(), failed));

    // pip resolves too (no uv on PATH this time).
    let pip_only = argv_recorder(project.tools.dir.path(), &argv_log, false);
    let pip_tools = tempfile::tempdir().unwrap();
    std::fs::copy(
        project.tools.dir.path().join("python3"),
        pip_tools.path().join("python3"),
    )
    .unwrap();
    project.env(
        "PATH",
        &format!(
            "{}:{}:/usr/bin:/bin",
            pip_only.path().display(),
            pip_tools.path().display()
        ),
    );
    project.env("STRATA_RESOLVER", "pip");
    let relocked = project.strata(&["lock", "--upgrade", "-vvv"]);
    relocked.assert_success();
    outputs.push(("lock with pip".to_owned(), relocked));
    assert_no_canary("strata.lock written with pip", &project.read("strata.lock"));

    // And strata's own resolver, whose HTTP cache must not keep them either.
    project.env("STRATA_RESOLVER", "native");
    let relocked = project.strata(&["lock", "--upgrade", "-vvv"]);
    relocked.assert_success();
    outputs.push(("lock with the native resolver".to_owned(), relocked));
    assert_no_canary(
        "strata.lock written by the native resolver",
        &project.read("strata.lock"),
    );
    let cache = project.cache.path().join("strata");
    for file in strata_tests::files_under(&cache.join("http-v1"))
        .into_iter()
        .chain(strata_tests::files_under(&cache.join("metadata-v1")))
    {
        let bytes = std::fs::read(&file).unwrap();
        assert_no_canary(
            &format!("cache file {}", file.display()),
            &String::from_utf8_lossy(&bytes),
        );
    }

    for (place, run) in &outputs {
        assert_no_canary(&format!("stdout of {place}"), &run.stdout);
        assert_no_canary(&format!("stderr of {place}"), &run.stderr);
    }
    let argv = std::fs::read_to_string(&argv_log).unwrap();
    assert!(
        argv.contains("/uv ") && argv.contains("/python3 "),
        "{argv}"
    );
    assert_no_canary("the argv of uv and pip", &argv);

    // What moto received: the code and configuration strata sent. The secret environment
    // value must be there (it deploys); nothing else may be.
    let requests = recorder.requests(&service);
    assert!(!requests.is_empty(), "moto recorded nothing for {service}");
    let bodies: String = requests
        .iter()
        .map(|request| format!("{} {}\n{}\n", request.method, request.url, request.body))
        .collect();
    assert!(
        bodies.contains(ENV_SECRET),
        "positive control: the secret environment value never reached Lambda"
    );
    assert_no_canary(
        "the requests moto recorded",
        &bodies.replace(ENV_SECRET, "<the env value, where it belongs>"),
    );
    // The deployed code is the zip checked above, byte for byte.
    let deployed = info["functions"][0]["code_sha256"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let built: Vec<String> = report["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|artifact| artifact["code_sha256"].as_str().map(str::to_owned))
        .collect();
    assert!(built.contains(&deployed), "{deployed} not in {built:?}");

    // Positive controls for the index credentials: both indexes answered authorised requests.
    for (name, served) in [("index", &index), ("netrc index", &extra)] {
        assert!(
            served
                .requests()
                .iter()
                .any(|request| request.status == 200 && request.path.ends_with(".whl")),
            "{name} served no wheel: {:?}",
            served.requests()
        );
    }

    let run = project.strata(&["remove", "--yes"]);
    run.assert_success();
}
