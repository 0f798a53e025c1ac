//! `strata plan`, `deploy`, `info`, `rollback` and `remove` for Azure end to end: the real
//! binary, deploying the seed's `function_app.py` (the copy in strata-manifest's `three-clouds` fixture) with a
//! `requirements.txt`, against the contract fake of ARM, Kudu and Entra ID
//! (`strata_tests::azure_fake`) and the real Azurite for the package blobs, reached through
//! `AZURE_RESOURCE_MANAGER_ENDPOINT`, `STRATA_AZURE_SCM_ENDPOINT` and `AZURE_AUTHORITY_HOST`
//! as a user would point strata at emulators.
//!
//! What each command changed is counted at the fake (mutating ARM and Kudu calls) and at
//! Azurite (blobs in the app's container). A test fails — never skips — when Azurite is not
//! reachable.

use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use strata_tests::azure_fake::{
    AzureFake, CLIENT_SECRET, PUBLISHING_PASSWORD_PREFIX, TOKEN_PREFIX,
};
use strata_tests::{LocalIndex, WheelBuilder};

use crate::support::cloud_section;

/// The seed's `azure/function_app.py`, as the manifest crate's three-cloud fixture holds it.
const SEED_APP: &str =
    include_str!("../../../strata-manifest/tests/fixtures/valid/three-clouds/function_app.py");
const SEED_FUNCTIONS: [&str; 4] = [
    "hello_function",
    "blob_trigger_function",
    "queue_trigger_function",
    "timer_trigger_function",
];

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}{:x}",
        (nanos as u64 ^ u64::from(std::process::id()).rotate_left(32)) & 0xffff_ffff
    )
}

struct Project {
    dir: tempfile::TempDir,
    _home: tempfile::TempDir,
    _index: LocalIndex,
    _wheels: tempfile::TempDir,
    fake: AzureFake,
    service: String,
    env: Vec<(String, String)>,
}

impl Project {
    fn new() -> Self {
        let fake = AzureFake::start();
        let wheels = tempfile::tempdir().unwrap();
        WheelBuilder::new("tinydep", "1.0")
            .write_to(wheels.path())
            .unwrap();
        let index = LocalIndex::start(wheels.path()).unwrap();
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
            ("PIP_INDEX_URL".to_owned(), index.url()),
            ("AZURE_RESOURCE_MANAGER_ENDPOINT".to_owned(), fake.url()),
            ("STRATA_AZURE_SCM_ENDPOINT".to_owned(), fake.scm_url()),
            ("AZURE_AUTHORITY_HOST".to_owned(), fake.url()),
            ("AZURE_TENANT_ID".to_owned(), "tenant-1".to_owned()),
            ("AZURE_CLIENT_ID".to_owned(), "client-1".to_owned()),
            ("AZURE_CLIENT_SECRET".to_owned(), CLIENT_SECRET.to_owned()),
            // Never a metadata address.
            ("IMDS_ENDPOINT".to_owned(), "http://127.0.0.1:9".to_owned()),
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
        let project = Self {
            dir: tempfile::tempdir().unwrap(),
            _home: home,
            _index: index,
            _wheels: wheels,
            fake,
            service: unique("azs"),
            env,
        };
        project.write("function_app.py", SEED_APP);
        project.write("requirements.txt", "tinydep==1.0\n");
        project.write_manifest("info");
        project
    }

    fn app(&self) -> String {
        format!("{}-prod", self.service)
    }

    fn write_manifest(&self, log_level: &str) {
        let functions: String = SEED_FUNCTIONS
            .iter()
            .map(|name| {
                format!("  {name}:\n    handler: function_app.{name}\n    targets: [azure]\n")
            })
            .collect();
        self.write(
            "strata.yml",
            &format!(
                "service: {service}\nruntime: python3.12\n\
                 provider:\n  name: aws\n  stage: prod\n  environment:\n    STAGE: ${{sls:stage}}\n\
                 azure:\n  subscriptionId: 00000000-0000-0000-0000-000000000001\n  resourceGroup: {service}-rg\n  functionApp: {service}-${{sls:stage}}\n  storageAccount: {service}sa\n  region: westeurope\n  plan: flexConsumption\n  appSettings:\n    LOG_LEVEL: {log_level}\n\
                 functions:\n{functions}",
                service = self.service
            ),
        );
    }

    fn write(&self, relative: &str, contents: &str) {
        std::fs::write(self.dir.path().join(relative), contents).unwrap();
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let output = Command::new(crate::support::strata_binary())
            .current_dir(self.dir.path())
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .output()
            .expect("strata runs");
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        for text in [&stdout, &stderr] {
            assert!(!text.contains(TOKEN_PREFIX), "a token is shown:\n{text}");
            assert!(!text.contains("sig="), "a SAS is shown:\n{text}");
            assert!(
                !text.contains(CLIENT_SECRET),
                "the client secret is shown:\n{text}"
            );
            assert!(
                !text.contains(PUBLISHING_PASSWORD_PREFIX),
                "a publishing password is shown:\n{text}"
            );
        }
        (output.status.code().unwrap(), stdout, stderr)
    }

    /// What strata draws on a terminal for `args` (see [`crate::support::run_on_terminal`]).
    fn run_on_terminal(&self, args: &[&str]) -> String {
        let text = crate::support::run_on_terminal(self.dir.path(), &self.env, args);
        assert!(!text.contains(TOKEN_PREFIX), "a token is shown:\n{text}");
        text
    }

    fn json(&self, kind: &str, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output-format", "json"]);
        let (code, stdout, stderr) = self.run(&all);
        assert_eq!(
            code, 0,
            "strata {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        let document: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|error| panic!("no single JSON document ({error}):\n{stdout}"));
        assert_eq!(document["kind"], kind, "{document:#}");
        cloud_section(&document, "azure")
    }

    fn deploy(&self) -> Value {
        let report = self.json("deploy", &["deploy", "--stage", "prod"]);
        assert_eq!(report["success"], true, "{report:#}");
        report
    }
}

fn outcomes(report: &Value) -> Vec<String> {
    report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|function| function["outcome"]["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn all(kind: &str) -> Vec<String> {
    vec![kind.to_owned(); SEED_FUNCTIONS.len()]
}

#[test]
fn azure_seed_app_deploys_changes_only_what_changed_rolls_back_and_is_removed() {
    let project = Project::new();
    let fake = &project.fake;
    let app = project.app();

    // plan reads only.
    let plan = project.json("plan", &["plan", "--stage", "prod"]);
    let actions: Vec<&str> = plan["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|function| function["action"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["create"; 4], "{plan:#}");
    assert_eq!(fake.mutations(), Vec::<String>::new(), "plan wrote");

    // The first deploy creates the app and registers the seed's four functions.
    let first = project.deploy();
    assert_eq!(outcomes(&first), all("created"), "{first:#}");
    let mut registered = fake.functions(&app);
    registered.sort();
    let mut expected: Vec<String> = SEED_FUNCTIONS
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    expected.sort();
    assert_eq!(registered, expected);
    let hello = first["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|function| function["logical_name"] == "hello_function")
        .unwrap();
    assert!(
        hello["url"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/api/hello_function"),
        "{first:#}"
    );
    assert!(
        hello["id"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/hello_function"),
        "{first:#}"
    );
    let first_package = fake.running_package(&app).expect("a package runs");
    assert_eq!(fake.settings(&app)["LOG_LEVEL"], "info");
    let after_first = fake.mutations().len();
    assert!(after_first > 0, "positive control: a first deploy mutates");

    // An immediate second deploy makes no mutating call, at the fake or at Azurite.
    let second = project.deploy();
    assert_eq!(outcomes(&second), all("unchanged"), "{second:#}");
    assert_eq!(fake.mutations()[after_first..], [] as [String; 0]);

    // A code change publishes one new package.
    project.write("function_app.py", &format!("{SEED_APP}\n# changed\n"));
    let before = fake.mutations().len();
    let publishes = fake.publishes();
    let changed = project.deploy();
    assert_eq!(outcomes(&changed), all("updated_code"), "{changed:#}");
    assert_eq!(fake.publishes(), publishes + 1);
    let calls = fake.mutations()[before..].to_vec();
    let uploads: Vec<&String> = calls
        .iter()
        .filter(|call| call.starts_with("azurite PUT"))
        .collect();
    assert_eq!(uploads.len(), 1, "{calls:?}");
    let second_package = fake.running_package(&app).unwrap();
    assert_ne!(second_package, first_package);

    // A settings change updates settings only.
    project.write_manifest("debug");
    let before = fake.mutations().len();
    let publishes = fake.publishes();
    let settings = project.deploy();
    assert_eq!(
        outcomes(&settings),
        all("updated_configuration"),
        "{settings:#}"
    );
    assert_eq!(fake.publishes(), publishes);
    let calls = fake.mutations()[before..].to_vec();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].ends_with("/config/appsettings"), "{calls:?}");
    assert_eq!(fake.settings(&app)["LOG_LEVEL"], "debug");
    assert_eq!(fake.running_package(&app).unwrap(), second_package);

    // info: the app's functions, their triggers, the package.
    let info = project.json("info", &["info", "--stage", "prod"]);
    let functions = info["functions"].as_array().unwrap();
    assert_eq!(functions.len(), 4, "{info:#}");
    let hello = functions
        .iter()
        .find(|function| function["deployed_name"] == "hello_function")
        .unwrap();
    assert_eq!(hello["code_sha256"], second_package.as_str(), "{info:#}");
    assert_eq!(hello["trigger"], "httpTrigger", "{info:#}");
    assert!(
        hello["url"]
            .as_str()
            .unwrap_or_default()
            .contains("/api/hello"),
        "{info:#}"
    );
    let (code, text, _) = project.run(&["info", "--stage", "prod"]);
    assert_eq!(code, 0);
    assert!(
        text.contains(&format!(
            "package {app} -> package {}",
            &second_package[..12]
        )),
        "{text}"
    );

    // rollback returns to the previous package; the report says from and to.
    let rollback = project.json("rollback", &["rollback", "--stage", "prod"]);
    let entry = &rollback["functions"][0];
    assert_eq!(entry["from"], &second_package[..12], "{rollback:#}");
    assert_eq!(entry["to"], &first_package[..12], "{rollback:#}");
    assert_eq!(fake.running_package(&app).unwrap(), first_package);
    assert_eq!(
        fake.settings(&app)["LOG_LEVEL"],
        "debug",
        "rollback changed a setting"
    );

    // remove deletes exactly what strata created.
    let (code, _, stderr) = project.run(&["remove", "--stage", "prod", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!fake.app_exists(&app));
    assert!(!fake.storage_exists(&format!("{}sa", project.service)));
    assert!(!fake.group_exists(&format!("{}-rg", project.service)));
}

#[test]
fn azure_without_credentials_names_each_source_tried() {
    let mut project = Project::new();
    project
        .env
        .retain(|(key, _)| !key.starts_with("AZURE_CLIENT"));
    let (code, _, stderr) = project.run(&["deploy", "--stage", "prod"]);
    assert_eq!(code, 1, "{stderr}");
    for source in [
        "client secret",
        "workload identity",
        "GitHub Actions OIDC",
        "managed identity",
        "Azure CLI",
    ] {
        assert!(stderr.contains(source), "{source} is not named:\n{stderr}");
    }
    assert!(stderr.contains("hint:"), "{stderr}");
    assert_eq!(project.fake.mutations(), Vec::<String>::new());
}

/// On a terminal, deploy draws a line per function with the app's step as it goes (here a
/// deployment still in progress), rollback and remove one per cloud while they work.
#[test]
fn azure_progress_is_drawn_on_a_terminal() {
    let project = Project::new();
    project.deploy();
    project.write("function_app.py", &format!("{SEED_APP}\n# a change\n"));
    project.fake.slow_deployments(4);
    let drawn = project.run_on_terminal(&["deploy", "--stage", "prod"]);
    for function in SEED_FUNCTIONS {
        let line = format!("{function:40} wait: still in progress, waiting (poll");
        assert!(
            drawn.contains(&line),
            "{function}'s line does not show the deployment's polls:\n{drawn}"
        );
    }
    let drawn = project.run_on_terminal(&["rollback", "--stage", "prod"]);
    assert!(drawn.contains("rolling back"), "{drawn}");
    let drawn = project.run_on_terminal(&["remove", "--stage", "prod", "--yes"]);
    assert!(drawn.contains("removing"), "{drawn}");
}

/// An SCM site refusing the bearer token: the deploy goes on with the publishing
/// credentials, says so at debug level (-vv), and the password shows nowhere.
#[test]
fn azure_scm_fallback_to_publishing_credentials_is_logged_at_debug_level() {
    let project = Project::new();
    project.fake.scm_refuses_bearer(&project.app());
    let (code, stdout, stderr) = project.run(&["deploy", "--stage", "prod", "-vv"]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains(
            "refused the bearer token (HTTP 401); trying the app's publishing credentials"
        ),
        "{stderr}"
    );
    assert_eq!(project.fake.publishing_lists(), 1);
}
