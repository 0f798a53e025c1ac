//! `strata plan`, `deploy`, `info`, `rollback` and `remove` for GCP end to end: the real
//! binary on the seed's `main.py` and its `requirements.txt` (as `examples/three-clouds/gcp`
//! holds them), against
//! fake-gcs-server (through the recording proxy of strata-tests) and the Cloud Functions v2
//! contract fake, reached through `STORAGE_EMULATOR_HOST` and
//! `CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS` as a user would point gcloud tools at
//! emulators. Mutating calls are counted at both.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use strata_tests::TlsFront;
use strata_tests::gcp_fake::{
    FunctionsFake, Mutation, SIGNATURE_CANARY, ServiceAccountKey, TOKEN_CANARY,
};
use strata_tests::gcs::{self, GcsProxy};

use crate::support::cloud_section;

const PROJECT: &str = "strata-e2e";
const REGION: &str = "europe-west1";

struct Output {
    stdout: String,
    stderr: String,
    code: i32,
}

struct GcpProject {
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
    service: String,
    bucket: Option<String>,
    proxy: GcsProxy,
    fake: FunctionsFake,
    env: Vec<(String, String)>,
}

fn seed(file: &str) -> String {
    let path = crate::support::workspace()
        .join("examples/three-clouds/gcp")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

impl GcpProject {
    /// The seed's HTTP and Pub/Sub handlers as two functions of one service; with `bucket`,
    /// sources go to (and are kept in) a bucket of the test's own.
    fn new(prefix: &str, with_bucket: bool) -> Self {
        let proxy = GcsProxy::start();
        let upload_bucket = format!("gcf-uploads-{prefix}{:08x}", fastrand::u32(..));
        gcs::create_bucket(&upload_bucket);
        let fake = FunctionsFake::start(proxy.url(), &upload_bucket);
        let service = format!("{prefix}{:08x}", fastrand::u32(..));
        let bucket = with_bucket.then(|| format!("src-{service}"));
        if let Some(bucket) = &bucket {
            gcs::create_bucket(bucket);
        }
        let home = tempfile::tempdir().unwrap();
        let mut env = vec![
            ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
            ("STORAGE_EMULATOR_HOST".to_owned(), proxy.host()),
            (
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS".to_owned(),
                format!("{}/", fake.url()),
            ),
            // Never the real metadata server, never the developer's gcloud files.
            ("GCE_METADATA_HOST".to_owned(), "127.0.0.1:9".to_owned()),
            ("HOME".to_owned(), home.path().display().to_string()),
            (
                "STRATA_CACHE_DIR".to_owned(),
                home.path().join("cache").display().to_string(),
            ),
            ("NO_COLOR".to_owned(), "1".to_owned()),
        ];
        for key in ["LANG"] {
            if let Ok(value) = std::env::var(key) {
                env.push((key.to_owned(), value));
            }
        }
        let project = Self {
            dir: tempfile::tempdir().unwrap(),
            home,
            service,
            bucket,
            proxy,
            fake,
            env: std::mem::take(&mut env),
        };
        project.write_manifest(256);
        project.write("main.py", &seed("main.py"));
        project.write("requirements.txt", &seed("requirements.txt"));
        project
    }

    fn write_manifest(&self, memory: u32) {
        let bucket = self
            .bucket
            .as_ref()
            .map(|bucket| format!("  bucket: {bucket}\n"))
            .unwrap_or_default();
        self.write(
            "strata.yml",
            &format!(
                "service: {service}\n\
                 runtime: python3.12\n\
                 gcp:\n  project: {PROJECT}\n  region: {REGION}\n{bucket}\
                 functions:\n\
                 \x20 hello:\n    handler: main.hello_http\n    targets: [gcp]\n    memorySize: {memory}\n    events:\n      - http: hello\n\
                 \x20 pubsub:\n    handler: main.hello_pubsub\n    targets: [gcp]\n    memorySize: 256\n    events:\n      - event:\n          eventType: providers/cloud.pubsub/eventTypes/topic.publish\n          resource: projects/{PROJECT}/topics/orders\n",
                service = self.service
            ),
        );
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, relative: &str, contents: &str) {
        std::fs::write(self.path().join(relative), contents).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = Command::new(crate::support::strata_binary())
            .current_dir(self.path())
            .args(args)
            .args(["--stage", "prod"])
            .env_clear()
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .output()
            .expect("strata runs");
        let output = Output {
            stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
            code: output.status.code().expect("exit code"),
        };
        for text in [&output.stdout, &output.stderr] {
            assert!(
                !text.contains(SIGNATURE_CANARY),
                "a signed URL reached the output:\n{text}"
            );
            assert!(
                !text.contains(TOKEN_CANARY),
                "an access token reached the output:\n{text}"
            );
        }
        output
    }

    /// Puts the Cloud Functions fake behind HTTPS (a plain-HTTP endpoint gets anonymous
    /// credentials) with a CA only `SSL_CERT_FILE` names, and makes it require a bearer token
    /// on every call. Returns the front, which must outlive the test's commands.
    fn require_credentials(&mut self) -> TlsFront {
        let port: u16 = self
            .fake
            .url()
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("the fake's port");
        let front = TlsFront::forwarding_to(port).expect("HTTPS front");
        self.fake.require_credentials();
        self.env
            .retain(|(key, _)| key != "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS");
        self.env.extend([
            (
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS".to_owned(),
                format!("{}/", front.origin()),
            ),
            (
                "SSL_CERT_FILE".to_owned(),
                front.ca_file().display().to_string(),
            ),
        ]);
        front
    }

    /// Writes `contents` as JSON to `relative` and returns its absolute path.
    fn write_json(&self, relative: &str, contents: &Value) -> String {
        let path = self.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents.to_string()).unwrap();
        path.display().to_string()
    }

    /// A command with `--output-format json` that must succeed; its GCP section.
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
                "strata {args:?} printed no JSON document ({error}):\n{}",
                output.stdout
            )
        });
        assert_eq!(document["kind"], kind, "{document:#}");
        cloud_section(&document, "gcp")
    }

    /// What strata draws on a terminal for `args` and the prod stage (see
    /// [`crate::support::run_on_terminal`]).
    fn run_on_terminal(&self, args: &[&str]) -> String {
        let mut all = args.to_vec();
        all.extend(["--stage", "prod"]);
        let text = crate::support::run_on_terminal(self.path(), &self.env, &all);
        assert!(!text.contains(TOKEN_CANARY), "a token is shown:\n{text}");
        assert!(
            !text.contains(SIGNATURE_CANARY),
            "a signed URL is shown:\n{text}"
        );
        text
    }

    fn id(&self, function: &str) -> String {
        format!("{}-prod-{function}", self.service)
    }

    /// Mutating calls so far at the fake and at fake-gcs-server (for this test's buckets).
    fn mutations(&self) -> (Vec<Mutation>, Vec<String>) {
        let objects = self
            .proxy
            .requests()
            .into_iter()
            .filter(|request| request.is_mutating())
            .map(|request| format!("{} {}", request.method, request.path))
            .collect();
        (self.fake.mutations(), objects)
    }
}

fn change_of<'a>(plan: &'a Value, logical_name: &str) -> &'a Value {
    &plan_action(plan, logical_name)["config"]
}

fn outcome(report: &Value, logical_name: &str) -> String {
    report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|function| function["logical_name"] == logical_name)
        .unwrap_or_else(|| panic!("no {logical_name} in {report:#}"))["outcome"]["kind"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Both functions patched, each with exactly `mask`.
fn assert_patched(calls: &[Mutation], mask: &[&str]) {
    assert_eq!(calls.len(), 2, "{calls:?}");
    for call in calls {
        assert_eq!(call.kind, "patch");
        let sent: Vec<&str> = call.mask.iter().flatten().map(String::as_str).collect();
        assert_eq!(sent, mask, "{call}");
    }
}

/// One text field of every function of an info report, in its order.
fn info_field<'a>(info: &'a Value, field: &str) -> Vec<&'a str> {
    info["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|function| function[field].as_str().unwrap())
        .collect()
}

fn plan_action<'a>(plan: &'a Value, logical_name: &str) -> &'a Value {
    &plan["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|function| function["logical_name"] == logical_name)
        .unwrap_or_else(|| panic!("no {logical_name} in {plan:#}"))["action"]
}

#[test]
fn gcp_seed_deploys_then_changes_only_what_changed_rolls_back_and_is_removed() {
    let project = GcpProject::new("seed", true);
    let bucket = project.bucket.clone().unwrap();
    let hello = project.id("hello");
    let pubsub = project.id("pubsub");

    // plan: two creates, no writes anywhere.
    let plan = project.json("plan", &["plan"]);
    assert_eq!(plan_action(&plan, "hello")["kind"], "create", "{plan:#}");
    assert_eq!(plan_action(&plan, "pubsub")["kind"], "create", "{plan:#}");
    assert_eq!(project.mutations(), (vec![], vec![]));

    // deploy: both created, HTTP and Pub/Sub triggers as the manifest says.
    let report = project.json("deploy", &["deploy"]);
    assert_eq!(report["success"], true, "{report:#}");
    assert_eq!(outcome(&report, "hello"), "created");
    assert_eq!(outcome(&report, "pubsub"), "created");
    let created = project.fake.function(&hello).expect("hello exists");
    assert!(created.get("eventTrigger").is_none(), "{created:#}");
    assert_eq!(created["buildConfig"]["entryPoint"], "hello_http");
    assert_eq!(created["buildConfig"]["runtime"], "python312");
    let subscriber = project.fake.function(&pubsub).expect("pubsub exists");
    assert_eq!(
        subscriber["eventTrigger"]["pubsubTopic"],
        format!("projects/{PROJECT}/topics/orders"),
        "{subscriber:#}"
    );
    assert_eq!(
        subscriber["eventTrigger"]["eventType"],
        "google.cloud.pubsub.topic.v1.messagePublished"
    );
    let first_source = project.fake.source_object(&hello).unwrap();
    let kept = gcs::list_objects(&bucket, "strata/");
    assert_eq!(kept.len(), 2, "{kept:?}");
    // The source zip holds the handler and requirements.txt at its root.
    let zip = gcs::download(&bucket, &first_source);
    assert!(zip.starts_with(b"PK"));
    let (functions_before, objects_before) = project.mutations();

    // An immediate second deploy: no mutating call at either server.
    let report = project.json("deploy", &["deploy"]);
    assert_eq!(outcome(&report, "hello"), "unchanged");
    assert_eq!(outcome(&report, "pubsub"), "unchanged");
    assert_eq!(
        project.mutations(),
        (functions_before.clone(), objects_before.clone()),
        "a no-op deploy mutated"
    );

    // A code change: one new source per function (both share main.py), patched with only
    // the source and the labels that record it.
    project.write("main.py", &format!("{}\n# changed\n", seed("main.py")));
    let report = project.json("deploy", &["deploy"]);
    assert_eq!(outcome(&report, "hello"), "updated_code", "{report:#}");
    let (functions_after, objects_after) = project.mutations();
    assert_patched(
        &functions_after[functions_before.len()..],
        &["buildConfig.source", "labels"],
    );
    let uploads: Vec<_> = objects_after[objects_before.len()..].to_vec();
    assert_eq!(uploads.len(), 2, "one upload per function: {uploads:?}");
    assert!(
        uploads.iter().any(|call| call.contains(&hello)),
        "{uploads:?}"
    );
    let second_source = project.fake.source_object(&hello).unwrap();
    assert_ne!(second_source, first_source);

    // A memory change: only memory is patched, nothing uploaded.
    project.write_manifest(512);
    let plan = project.json("plan", &["plan"]);
    let config = &plan_action(&plan, "hello")["config"];
    assert_eq!(
        config[0]["field"], "serviceConfig.availableMemory",
        "{plan:#}"
    );
    assert_eq!(config[0]["new"], "512M");
    let (functions_before, objects_before) = project.mutations();
    let report = project.json("deploy", &["deploy"]);
    assert_eq!(outcome(&report, "hello"), "updated_configuration");
    assert_eq!(outcome(&report, "pubsub"), "unchanged");
    let (functions_after, objects_after) = project.mutations();
    let new_calls = &functions_after[functions_before.len()..];
    assert_eq!(new_calls.len(), 1, "{new_calls:?}");
    assert_eq!(
        new_calls[0].mask.as_deref(),
        Some(&["serviceConfig.availableMemory".to_owned()][..])
    );
    assert_eq!(objects_after, objects_before, "a memory change uploaded");
    let stored = project.fake.function(&hello).unwrap();
    assert_eq!(stored["serviceConfig"]["availableMemory"], "512M");

    // info: state of each function from the cloud.
    let info = project.json("info", &["info"]);
    let names = info_field(&info, "deployed_name");
    assert_eq!(names, [hello.as_str(), pubsub.as_str()], "{info:#}");
    let text = project.run(&["info"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout.contains("revision prod -> revision"),
        "{}",
        text.stdout
    );

    // rollback: back to the first source, kept in the bucket; the report says from and to.
    let rollback = project.json("rollback", &["rollback", "--function", "hello"]);
    let entry = &rollback["functions"][0];
    assert_eq!(entry["deployed_name"], hello, "{rollback:#}");
    assert_ne!(entry["from"], entry["to"]);
    assert_eq!(project.fake.source_object(&hello).unwrap(), first_source);

    // remove: exactly the two functions and the kept sources; a function made by hand stays.
    let by_hand = format!(
        "projects/{PROJECT}/locations/{REGION}/functions/{}-prod-by-hand",
        project.service
    );
    project
        .fake
        .insert(&by_hand, serde_json::json!({"labels": {"team": "data"}}));
    let removed = project.json("remove", &["remove", "--yes"]);
    let resources = removed["removed"].as_array().unwrap();
    assert_eq!(
        resources.iter().filter(|r| r["kind"] == "function").count(),
        2,
        "{removed:#}"
    );
    assert!(project.fake.function(&hello).is_none());
    assert!(project.fake.function(&pubsub).is_none());
    assert!(
        project
            .fake
            .function(&format!("{}-prod-by-hand", project.service))
            .is_some()
    );
    assert_eq!(gcs::list_objects(&bucket, "strata/"), Vec::<String>::new());
}

#[test]
fn gcp_without_a_bucket_uploads_through_a_signed_url_and_rolls_back_to_the_source_google_keeps() {
    let project = GcpProject::new("url", false);
    let report = project.json("deploy", &["deploy"]);
    assert_eq!(outcome(&report, "hello"), "created", "{report:#}");
    let puts: Vec<_> = project
        .proxy
        .requests()
        .into_iter()
        .filter(|request| request.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert!(
        puts.iter().all(|request| !request.authorization),
        "a signed-URL upload carried an Authorization header: {puts:?}"
    );
    let generated = project
        .fake
        .mutations()
        .into_iter()
        .filter(|call| call.kind == "generateUploadUrl")
        .count();
    assert_eq!(generated, 2);
    // Nothing to roll back to yet: said before any change.
    let output = project.run(&["rollback"]);
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        output.stderr.contains("no earlier source"),
        "{}",
        output.stderr
    );
    let hello = project.id("hello");
    let first = project.fake.kept_source(&hello).expect("a kept source");

    // A code change records where Cloud Functions keeps the source it replaces.
    project.write("main.py", &format!("{}\n# changed\n", seed("main.py")));
    let before = project.fake.mutations().len();
    let report = project.json("deploy", &["deploy"]);
    assert_eq!(outcome(&report, "hello"), "updated_code", "{report:#}");
    let patches: Vec<Mutation> = project.fake.mutations()[before..]
        .iter()
        .filter(|call| call.kind == "patch")
        .cloned()
        .collect();
    assert_patched(
        &patches,
        &[
            "buildConfig.environmentVariables",
            "buildConfig.source",
            "labels",
        ],
    );
    let second = project.fake.kept_source(&hello).unwrap();
    assert_ne!(second, first);
    // The recorded location is no difference: a second deploy calls nothing.
    let before = project.mutations();
    let report = project.json("deploy", &["deploy"]);
    assert_eq!(outcome(&report, "hello"), "unchanged", "{report:#}");
    assert_eq!(project.mutations(), before, "a no-op deploy mutated");

    // Google deletes the uploaded objects; rollback builds from the copy it keeps.
    project.fake.expire_uploads();
    let rollback = project.json("rollback", &["rollback", "--function", "hello"]);
    let entry = &rollback["functions"][0];
    assert_ne!(entry["from"], entry["to"], "{rollback:#}");
    let function = project.fake.function(&hello).unwrap();
    assert_eq!(
        function["buildConfig"]["source"]["storageSource"], first,
        "{function:#}"
    );
    assert_eq!(function["state"], 1, "{function:#}");
    // And back again: the source rollback replaced became the previous one.
    let back = project.json("rollback", &["rollback", "--function", "hello"]);
    assert_eq!(back["functions"][0]["to"], entry["from"], "{back:#}");
    assert_eq!(
        project.fake.function(&hello).unwrap()["buildConfig"]["source"]["storageSource"],
        second
    );
}

#[test]
fn gcp_without_credentials_names_each_source_tried() {
    let mut project = GcpProject::new("cred", true);
    // Google's real endpoints (nothing answers on these ports), no emulator variables: the
    // credential chain runs and finds nothing.
    project
        .env
        .retain(|(key, _)| key != "STORAGE_EMULATOR_HOST");
    project
        .env
        .retain(|(key, _)| key != "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS");
    project.env.push((
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS".to_owned(),
        "https://127.0.0.1:9/".to_owned(),
    ));
    let output = project.run(&["plan"]);
    assert_eq!(output.code, 1, "{}\n{}", output.stdout, output.stderr);
    for source in [
        "GOOGLE_APPLICATION_CREDENTIALS (not set)",
        "application_default_credentials.json",
        "the metadata server (127.0.0.1:9)",
    ] {
        assert!(
            output.stderr.contains(source),
            "{source}: {}",
            output.stderr
        );
    }
    assert!(
        output
            .stderr
            .contains("gcloud auth application-default login"),
        "{}",
        output.stderr
    );
}

/// A deploy whose every Cloud Functions call carried a token of `identity`, with nothing
/// refused; no secret of the credential file in the output.
fn assert_deployed_as(project: &GcpProject, identity: &str, secrets: &[&str]) {
    let (callers_before, refused_before) = (project.fake.callers().len(), project.fake.refused());
    let output = project.run(&["deploy", "--output-format", "json"]);
    assert_eq!(
        output.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        output.stdout, output.stderr
    );
    let document: Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(
        outcome(&cloud_section(&document, "gcp"), "hello"),
        "created"
    );
    let callers = project.fake.callers()[callers_before..].to_vec();
    assert!(!callers.is_empty(), "no authenticated call");
    assert!(
        callers.iter().all(|caller| caller == identity),
        "{identity} expected: {callers:?}"
    );
    assert_eq!(project.fake.refused(), refused_before);
    for secret in secrets {
        for text in [&output.stdout, &output.stderr] {
            assert!(
                !text.contains(secret),
                "a secret reached the output:\n{text}"
            );
        }
    }
}

#[test]
fn gcp_service_account_key_file_signs_every_call_with_its_own_key() {
    let mut project = GcpProject::new("sakey", false);
    let _front = project.require_credentials();
    let email = format!("deployer@{PROJECT}.iam.gserviceaccount.com");
    let key = ServiceAccountKey::generate(&email, &format!("{}/token", project.fake.url()));
    let path = project.write_json("keys/deployer.json", &key.file);
    project
        .env
        .push(("GOOGLE_APPLICATION_CREDENTIALS".to_owned(), path.clone()));

    // A key the fake does not know (say, a revoked one): refused, nothing created, and the
    // error names the file it came from.
    let stranger = ServiceAccountKey::generate(&email, &format!("{}/token", project.fake.url()));
    project.write_json("keys/deployer.json", &stranger.file);
    let output = project.run(&["deploy"]);
    assert_eq!(output.code, 1, "{}\n{}", output.stdout, output.stderr);
    assert!(project.fake.refused() > 0);
    assert!(project.fake.mutations().is_empty());
    assert!(
        output
            .stderr
            .contains(&format!("GOOGLE_APPLICATION_CREDENTIALS ({path})")),
        "{}",
        output.stderr
    );

    project.write_json("keys/deployer.json", &key.file);
    project.fake.accept_service_account(&key);
    let private_key = key.file["private_key"].as_str().unwrap();
    assert_deployed_as(
        &project,
        &format!("serviceAccount:{email}"),
        &[private_key.lines().nth(1).unwrap()],
    );
}

#[test]
fn gcp_workload_identity_federation_file_as_github_actions_writes_it() {
    for impersonate in [true, false] {
        let mut project = GcpProject::new(if impersonate { "wifsa" } else { "wif" }, false);
        let _front = project.require_credentials();
        let audience = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/github/providers/strata";
        let oidc = format!(
            "eyJhbGciOiJSUzI1NiJ9.oidc-c4n4ry-{:08x}.sig",
            fastrand::u32(..)
        );
        project.fake.accept_federation(audience, &oidc);
        let token_file = project.path().join("gha-creds-token.txt");
        std::fs::write(&token_file, &oidc).unwrap();
        let account = format!("ci@{PROJECT}.iam.gserviceaccount.com");
        let mut file = serde_json::json!({
            "type": "external_account",
            "audience": audience,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": format!("{}/v1/token", project.fake.url()),
            "credential_source": {"file": token_file.display().to_string()},
        });
        if impersonate {
            file["service_account_impersonation_url"] = serde_json::json!(format!(
                "{}/v1/projects/-/serviceAccounts/{account}:generateAccessToken",
                project.fake.url()
            ));
        }
        let path = project.write_json("gha-creds.json", &file);
        project
            .env
            .push(("GOOGLE_APPLICATION_CREDENTIALS".to_owned(), path));
        let identity = if impersonate {
            format!("serviceAccount:{account}")
        } else {
            format!("principal:{audience}")
        };
        assert_deployed_as(&project, &identity, &[&oidc]);
    }
}

#[test]
fn gcp_gcloud_authorized_user_file_refreshes_at_its_token_uri() {
    let mut project = GcpProject::new("user", false);
    let _front = project.require_credentials();
    let refresh = format!("1//r3fr35hc4n4ry-{:08x}", fastrand::u32(..));
    let secret = "GOCSPX-cl13nts3cr3tc4n4ry";
    let client = "764086051850-test.apps.googleusercontent.com";
    project.fake.accept_user(client, secret, &refresh);
    // gcloud's file; `token_uri` points the refresh at the fake (the library's default is
    // Google's endpoint).
    let adc = project
        .home
        .path()
        .join(".config/gcloud/application_default_credentials.json");
    std::fs::create_dir_all(adc.parent().unwrap()).unwrap();
    std::fs::write(
        &adc,
        serde_json::json!({
            "type": "authorized_user",
            "client_id": client,
            "client_secret": secret,
            "refresh_token": refresh,
            "token_uri": format!("{}/token", project.fake.url()),
            "quota_project_id": PROJECT,
        })
        .to_string(),
    )
    .unwrap();
    assert_deployed_as(&project, &format!("user:{client}"), &[&refresh, secret]);
}

/// A CloudEvent handler for each trigger kind.
const TRIGGER_MAIN: &str = "import functions_framework\n\n\
    @functions_framework.cloud_event\ndef on_upload(cloud_event):\n    print(cloud_event.data[\"name\"])\n\n\
    @functions_framework.cloud_event\ndef on_order(cloud_event):\n    print(cloud_event.data)\n";

fn write_trigger_manifest(project: &GcpProject, bucket: &str, topic: &str) {
    let source_bucket = project.bucket.as_deref().unwrap();
    project.write(
        "strata.yml",
        &format!(
            "service: {service}\n\
             runtime: python3.12\n\
             gcp:\n  project: {PROJECT}\n  region: {REGION}\n  bucket: {source_bucket}\n\
             functions:\n\
             \x20 upload:\n    handler: main.on_upload\n    targets: [gcp]\n    events:\n      - bucket: {bucket}\n\
             \x20 orders:\n    handler: main.on_order\n    targets: [gcp]\n    events:\n      - pubsub: {topic}\n",
            service = project.service
        ),
    );
}

#[test]
fn gcp_bucket_and_pubsub_triggers_deploy_and_a_changed_trigger_patches_only_the_trigger() {
    let project = GcpProject::new("trig", true);
    project.write("main.py", TRIGGER_MAIN);
    write_trigger_manifest(&project, "uploads-a", "orders");
    let upload = project.id("upload");
    let orders = project.id("orders");

    // No "not created yet" warning for triggers the GCP backend creates.
    let plan = project.run(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(!plan.stderr.contains("triggers yet"), "{}", plan.stderr);
    assert!(!plan.stderr.contains("not managed"), "{}", plan.stderr);
    // A create shows what will invoke each function.
    assert!(
        plan.stdout.contains(
            "trigger google.cloud.storage.object.v1.finalized of upload (uploads-a): create"
        ),
        "{}",
        plan.stdout
    );
    let document = project.json("plan", &["plan"]);
    let triggers: Vec<(String, String, String)> = document["triggers"]
        .as_array()
        .unwrap_or_else(|| panic!("no triggers in the plan: {document:#}"))
        .iter()
        .map(|t| {
            (
                t["function"].as_str().unwrap().to_owned(),
                t["source"].as_str().unwrap().to_owned(),
                t["action"]["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        triggers,
        [
            (
                "upload".to_owned(),
                "uploads-a".to_owned(),
                "create".to_owned()
            ),
            (
                "orders".to_owned(),
                format!("projects/{PROJECT}/topics/orders"),
                "create".to_owned()
            ),
        ],
        "{document:#}"
    );

    let report = project.json("deploy", &["deploy"]);
    assert_eq!(outcome(&report, "upload"), "created", "{report:#}");
    let function = project.fake.function(&upload).unwrap();
    let trigger = &function["eventTrigger"];
    assert_eq!(
        trigger["eventType"], "google.cloud.storage.object.v1.finalized",
        "{function:#}"
    );
    assert_eq!(
        trigger["eventFilters"],
        serde_json::json!([{"attribute": "bucket", "value": "uploads-a"}])
    );
    assert!(trigger.get("pubsubTopic").is_none(), "{trigger:#}");
    assert_eq!(trigger["triggerRegion"], REGION);
    let function = project.fake.function(&orders).unwrap();
    assert_eq!(
        function["eventTrigger"]["pubsubTopic"],
        format!("projects/{PROJECT}/topics/orders")
    );

    let info = project.json("info", &["info"]);
    let triggers = info_field(&info, "trigger");
    assert_eq!(
        triggers,
        [
            format!(
                "google.cloud.pubsub.topic.v1.messagePublished (projects/{PROJECT}/topics/orders)"
            ),
            "google.cloud.storage.object.v1.finalized (uploads-a)".to_owned(),
        ],
        "{info:#}"
    );

    // Another bucket and another topic: the plan shows old -> new, the deploy patches only
    // `eventTrigger` and uploads nothing.
    write_trigger_manifest(&project, "uploads-b", "invoices");
    let plan = project.json("plan", &["plan"]);
    let change = &plan_action(&plan, "upload")["config"];
    assert_eq!(
        change,
        &serde_json::json!([{
            "field": "eventTrigger",
            "old": "google.cloud.storage.object.v1.finalized (uploads-a)",
            "new": "google.cloud.storage.object.v1.finalized (uploads-b)",
        }]),
        "{plan:#}"
    );
    let change = &plan_action(&plan, "orders")["config"][0];
    assert_eq!(
        change["old"],
        format!("google.cloud.pubsub.topic.v1.messagePublished (projects/{PROJECT}/topics/orders)")
    );
    assert_eq!(
        change["new"],
        format!(
            "google.cloud.pubsub.topic.v1.messagePublished (projects/{PROJECT}/topics/invoices)"
        )
    );
    let trigger = plan["triggers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"] == "upload")
        .unwrap_or_else(|| panic!("{plan:#}"));
    assert_eq!(trigger["source"], "uploads-b");
    assert_eq!(trigger["action"]["kind"], "update");
    assert_eq!(trigger["action"]["changes"], *change_of(&plan, "upload"));
    let text = project.run(&["plan"]);
    assert!(
        text.stdout.contains("(uploads-a)") && text.stdout.contains("(uploads-b)"),
        "{}",
        text.stdout
    );
    let (functions_before, objects_before) = project.mutations();
    let report = project.json("deploy", &["deploy"]);
    assert_eq!(
        outcome(&report, "upload"),
        "updated_configuration",
        "{report:#}"
    );
    let (functions_after, objects_after) = project.mutations();
    assert_patched(
        &functions_after[functions_before.len()..],
        &["eventTrigger"],
    );
    assert_eq!(objects_after, objects_before, "a trigger change uploaded");
    assert_eq!(
        project.fake.function(&upload).unwrap()["eventTrigger"]["eventFilters"][0]["value"],
        "uploads-b"
    );
    assert_eq!(
        project.fake.function(&orders).unwrap()["eventTrigger"]["pubsubTopic"],
        format!("projects/{PROJECT}/topics/invoices")
    );
}

#[test]
fn gcp_on_a_google_machine_takes_the_metadata_servers_token() {
    let mut project = GcpProject::new("mds", false);
    let _front = project.require_credentials();
    let email = format!("{PROJECT}-compute@developer.gserviceaccount.com");
    project.fake.serve_metadata(&email);
    // No key file and no gcloud file: the chain ends at the metadata server, here the fake.
    let host = project.fake.url().trim_start_matches("http://").to_owned();
    project.env.retain(|(key, _)| key != "GCE_METADATA_HOST");
    project.env.push(("GCE_METADATA_HOST".to_owned(), host));
    assert_deployed_as(&project, &format!("serviceAccount:{email}"), &[]);
}

/// On a terminal, deploy draws a line per function with its step as it goes (here the
/// long-running operation being polled), rollback and remove one per cloud while they work.
#[test]
fn gcp_progress_is_drawn_on_a_terminal() {
    let project = GcpProject::new("tty", true);
    let drawn = project.run_on_terminal(&["deploy"]);
    for function in ["hello", "pubsub"] {
        let line = format!(
            "{:40} wait: still in progress, waiting (poll",
            project.id(function)
        );
        assert!(
            drawn.contains(&line),
            "{function}'s line does not show the operation's polls:\n{drawn}"
        );
    }
    project.write("main.py", &format!("{}\n# a change\n", seed("main.py")));
    project.run_on_terminal(&["deploy"]);
    let drawn = project.run_on_terminal(&["rollback"]);
    assert!(drawn.contains("rolling back"), "{drawn}");
    let drawn = project.run_on_terminal(&["remove", "--yes"]);
    assert!(drawn.contains("removing"), "{drawn}");
    assert!(project.fake.function(&project.id("hello")).is_none());
}
