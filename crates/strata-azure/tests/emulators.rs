//! The Azure backend against Azurite (blobs, started by `scripts/emulators start`) and the
//! contract fake of ARM, Kudu and Entra ID in `strata-tests`. A test fails — never skips —
//! when Azurite is not reachable.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use strata_azure::{
    AzureError, AzureProvider, AzureSettings, BLOB_DATA_READER, MI_SETTING, container_name,
};
use strata_provider::{
    ArtifactRef, DeployReport, DeploySpec, FunctionAction, FunctionOutcome, ManualClock,
    NoopReporter, Provider, Reporter, RetryPolicy, RoleSpec, RollbackRequest, Step,
};
use strata_tests::azure_fake::{
    AzureFake, CLIENT_SECRET, PUBLISHING_PASSWORD_PREFIX, TOKEN_PREFIX,
};
use strata_tests::conformance::{self, Harness, Packaging};
use strata_tests::zip::{ZipEntry, write_zip};

const STAGE: &str = "prod";

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}{:x}{:x}", std::process::id(), nanos)
}

/// The credential environment the fake accepts; nothing reaches a metadata address.
fn credential_env(fake: &AzureFake) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("AZURE_AUTHORITY_HOST".to_owned(), fake.url()),
        ("AZURE_TENANT_ID".to_owned(), "tenant-1".to_owned()),
        ("AZURE_CLIENT_ID".to_owned(), "client-1".to_owned()),
        ("AZURE_CLIENT_SECRET".to_owned(), CLIENT_SECRET.to_owned()),
        ("IMDS_ENDPOINT".to_owned(), "http://127.0.0.1:9".to_owned()),
    ])
}

fn settings(fake: &AzureFake, app: &str, plan: &str) -> AzureSettings {
    AzureSettings {
        subscription_id: "00000000-0000-0000-0000-000000000001".to_owned(),
        resource_group: format!("{app}-rg"),
        function_app: app.to_owned(),
        storage_account: format!("{}sa", app.replace('-', "")),
        region: "westeurope".to_owned(),
        plan: plan.to_owned(),
        arm_endpoint: fake.url(),
        scm_endpoint: Some(fake.scm_url()),
        env: credential_env(fake),
        retry: RetryPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(200),
            poll_interval: Duration::from_millis(10),
            max_poll_interval: Duration::from_millis(50),
            function_deadline: Duration::from_secs(60),
            ..RetryPolicy::default()
        },
        ..AzureSettings::default()
    }
}

/// An app zip whose `function_app.py` declares `functions` (HTTP triggers), marked `version`.
fn app_zip(dir: &Path, functions: &[&str], version: &str) -> ArtifactRef {
    let mut source =
        format!("import azure.functions as func\n# version {version}\napp = func.FunctionApp()\n");
    for function in functions {
        source.push_str(&format!(
            "\n@app.route(route=\"{function}\")\ndef {function}(req):\n    return func.HttpResponse(\"{version}\")\n"
        ));
    }
    let bytes = write_zip(&[
        ZipEntry::file("function_app.py", source),
        ZipEntry::file("host.json", "{\"version\": \"2.0\"}"),
    ]);
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let path = dir.join(format!("{sha256}.zip"));
    std::fs::write(&path, &bytes).unwrap();
    ArtifactRef {
        path,
        sha256_hex: sha256,
        code_sha256_base64: String::new(),
        zipped_size: bytes.len() as u64,
        unzipped_size: bytes.len() as u64,
    }
}

struct Azure {
    fake: AzureFake,
    plan: String,
    provider: AzureProvider,
    service: String,
    app: String,
    dir: tempfile::TempDir,
}

impl Azure {
    fn new(plan: &str) -> Self {
        let fake = AzureFake::start();
        let service = unique("az");
        let app = format!("{service}-{STAGE}");
        let provider = AzureProvider::new(settings(&fake, &app, plan)).expect("provider");
        Self {
            fake,
            plan: plan.to_owned(),
            provider,
            service,
            app,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn with_settings(mut self, tweak: impl FnOnce(&mut AzureSettings)) -> Self {
        let mut settings = self.provider.settings().clone();
        tweak(&mut settings);
        self.provider = AzureProvider::new(settings).expect("provider");
        self
    }

    /// A spec of the two functions `hello` and `world`, sharing `code` and `environment`.
    fn spec(&self, code: &ArtifactRef, environment: &[(&str, &str)]) -> DeploySpec {
        let base = conformance::spec(self, &conformance::Variant::default());
        let mut spec = DeploySpec {
            service: self.service.clone(),
            stage: STAGE.to_owned(),
            ..base
        };
        for (function, name) in spec.functions.iter_mut().zip(["hello", "world"]) {
            function.logical_name = name.to_owned();
            function.deployed_name = format!("{}-{STAGE}-{name}", self.service);
            function.handler = format!("function_app.{name}");
            function.code = code.clone();
            function.environment = environment
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect();
            function.secret_environment.clear();
        }
        spec
    }

    fn zip(&self, version: &str) -> ArtifactRef {
        app_zip(self.dir.path(), &["hello", "world"], version)
    }

    async fn deploy(&self, spec: &DeploySpec) -> DeployReport {
        self.deploy_with(spec, &NoopReporter).await
    }

    async fn deploy_with(&self, spec: &DeploySpec, reporter: &dyn Reporter) -> DeployReport {
        let plan = self.provider.plan(spec).await.expect("plan");
        let report = self.provider.apply(&plan, reporter).await.expect("apply");
        for text in [
            plan.to_string(),
            serde_json::to_string(&plan).unwrap(),
            report.to_string(),
            serde_json::to_string(&report).unwrap(),
        ] {
            assert!(!text.contains(TOKEN_PREFIX), "a token is shown: {text}");
            assert!(!text.contains("sig="), "a SAS is shown: {text}");
            assert!(
                !text.contains(CLIENT_SECRET),
                "the client secret is shown: {text}"
            );
            assert!(
                !text.contains(PUBLISHING_PASSWORD_PREFIX),
                "a publishing password is shown: {text}"
            );
        }
        report
    }

    /// Asserts that the app's host runs `package`.
    fn assert_runs(&self, package: &ArtifactRef) {
        assert_eq!(
            self.fake.running_package(&self.app).as_deref(),
            Some(package.sha256_hex.as_str())
        );
    }

    /// The provider on a manual clock: sleeps are recorded, none is waited out.
    fn with_manual_clock(mut self) -> (Self, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(0.0));
        self.provider = AzureProvider::new(self.provider.settings().clone())
            .expect("provider")
            .with_clock(clock.clone());
        (self, clock)
    }
}

fn outcomes(report: &DeployReport) -> Vec<&FunctionOutcome> {
    report
        .functions
        .iter()
        .map(|function| &function.outcome)
        .collect()
}

fn failure(report: &DeployReport) -> String {
    match &report.functions[0].outcome {
        FunctionOutcome::Failed(failure) => failure.to_string(),
        other => panic!("expected a failure, got {other:?}\n{report}"),
    }
}

impl Harness for Azure {
    type Provider = AzureProvider;

    fn provider(&self) -> &AzureProvider {
        &self.provider
    }

    fn service(&self) -> &str {
        &self.service
    }

    fn stage(&self) -> &str {
        STAGE
    }

    fn artifact(&self, _function: &str, _version: u32) -> ArtifactRef {
        unreachable!("Azure deploys one package per app")
    }

    fn packaging(&self) -> Packaging {
        Packaging::PerApp
    }

    fn app_artifact(&self, versions: &BTreeMap<&'static str, u32>) -> ArtifactRef {
        let version = versions
            .iter()
            .map(|(function, version)| format!("{function}={version}"))
            .collect::<Vec<_>>()
            .join(",");
        app_zip(self.dir.path(), &conformance::FUNCTIONS, &version)
    }

    fn role(&self) -> RoleSpec {
        RoleSpec::Managed { statements: vec![] }
    }

    /// After the upload, before the pointer moves: the deployment fails (Flex, zip deploy),
    /// or the settings write that would point the app at the new blob does (Consumption).
    fn fail_midway(&self, _spec: &mut DeploySpec, _function: &str) {
        if self.plan == "consumption" {
            self.fake.fail_next_settings_write();
        } else {
            self.fake.fail_next_deployment();
        }
    }

    fn mutations(&self) -> Vec<String> {
        self.fake.mutations()
    }

    async fn live_release(&self, _deployed_name: &str) -> Option<String> {
        self.fake.running_package(&self.app)
    }

    async fn create_by_hand(&self) -> String {
        let name = format!("{}-byhand", self.app);
        self.fake
            .create_app_by_hand(&format!("{}-rg", self.app), &name);
        name
    }

    async fn exists(&self, deployed_name: &str) -> bool {
        if deployed_name.ends_with("-byhand") {
            return self.fake.app_exists(deployed_name);
        }
        let function = deployed_name.rsplit('-').next().unwrap_or_default();
        self.fake.app_exists(&self.app)
            && self
                .fake
                .functions(&self.app)
                .iter()
                .any(|name| name == function)
    }
}

#[tokio::test]
async fn flex_consumption_keeps_the_provider_contract() {
    let azure = Azure::new("flexConsumption");
    conformance::run(&azure).await;
    // Everything strata created went: app, plan, storage account, and the group is kept only
    // because the app made by hand is still in it.
    assert!(
        !azure
            .fake
            .storage_exists(&format!("{}sa", azure.app.replace('-', "")))
    );
    assert!(azure.fake.group_exists(&format!("{}-rg", azure.app)));
}

#[tokio::test]
async fn consumption_runs_from_a_blob_and_keeps_the_provider_contract() {
    let azure = Azure::new("consumption");
    conformance::run(&azure).await;
}

#[tokio::test]
async fn premium_zip_deploys_keep_the_provider_contract() {
    let azure = Azure::new("premium");
    conformance::run(&azure).await;
}

/// Consumption points WEBSITE_RUN_FROM_PACKAGE at the content-addressed blob in Azurite with a
/// read SAS that Azurite accepts (the fake's host downloads it), and rollback re-points it at
/// a kept package.
#[tokio::test]
async fn consumption_points_the_app_at_a_content_addressed_blob_and_rolls_back() {
    let azure = Azure::new("consumption");
    let first = azure.zip("1");
    let report = azure
        .deploy(&azure.spec(&first, &[("STAGE", "prod")]))
        .await;
    assert!(report.is_success(), "{report}");
    let settings = azure.fake.settings(&azure.app);
    let url = &settings["WEBSITE_RUN_FROM_PACKAGE"];
    assert!(
        url.ends_with(&format!("/packages/{}.zip", first.sha256_hex)),
        "the app's identity reads a plain blob URL: {url}"
    );
    assert_eq!(settings[MI_SETTING], "SystemAssigned");
    assert_eq!(
        azure.fake.running_package(&azure.app),
        Some(first.sha256_hex.clone())
    );
    assert_eq!(azure.fake.functions(&azure.app), ["hello", "world"]);

    let second = azure.zip("2");
    let report = azure
        .deploy(&azure.spec(&second, &[("STAGE", "prod")]))
        .await;
    assert_eq!(
        outcomes(&report),
        [&FunctionOutcome::UpdatedCode; 2],
        "{report}"
    );
    assert_eq!(
        azure.fake.running_package(&azure.app),
        Some(second.sha256_hex.clone())
    );
    let container = container_name(&azure.app);
    let mut blobs = azure.fake.blobs(&container);
    blobs.sort();
    let mut expected = vec![
        format!("packages/{}.zip", first.sha256_hex),
        format!("packages/{}.zip", second.sha256_hex),
    ];
    expected.sort();
    assert_eq!(blobs, expected, "both packages are kept for rollback");

    let rollback = azure
        .provider
        .rollback(&RollbackRequest {
            service: azure.service.clone(),
            stage: STAGE.to_owned(),
            functions: vec![],
            to: None,
        })
        .await
        .expect("rollback");
    assert_eq!(rollback.functions[0].from, &second.sha256_hex[..12]);
    assert_eq!(rollback.functions[0].to, &first.sha256_hex[..12]);
    assert_eq!(
        azure.fake.running_package(&azure.app),
        Some(first.sha256_hex.clone())
    );
    let text = format!("{rollback}{}", serde_json::to_string(&rollback).unwrap());
    assert!(!text.contains("sig="), "{text}");
}

/// The settings write replaces the whole dictionary: a setting the user set by hand must
/// survive every deploy, and one strata wrote and the manifest dropped goes.
#[tokio::test]
async fn a_users_app_setting_survives_every_deploy() {
    let azure = Azure::new("flexConsumption");
    let code = azure.zip("1");
    azure
        .deploy(&azure.spec(&code, &[("STAGE", "prod"), ("OLD", "x")]))
        .await;
    azure
        .fake
        .set_setting_by_hand(&azure.app, "USER_FLAG", "keep-me");
    let puts = azure.fake.settings_puts();
    let report = azure.deploy(&azure.spec(&code, &[("STAGE", "live")])).await;
    assert_eq!(
        outcomes(&report),
        [&FunctionOutcome::UpdatedConfiguration; 2],
        "{report}"
    );
    assert_eq!(azure.fake.settings_puts(), puts + 1);
    let settings = azure.fake.settings(&azure.app);
    assert_eq!(settings["USER_FLAG"], "keep-me");
    assert_eq!(settings["STAGE"], "live");
    assert!(!settings.contains_key("OLD"), "{settings:?}");
    assert_eq!(
        settings["FUNCTIONS_EXTENSION_VERSION"], "~4",
        "a setting of the app's own stays"
    );

    // The manifest naming the user's setting with another value is refused, nothing written.
    let plan = azure
        .provider
        .plan(&azure.spec(&code, &[("STAGE", "live"), ("USER_FLAG", "mine")]))
        .await;
    assert!(
        matches!(plan, Err(AzureError::SettingNotOwned { .. })),
        "{plan:?}"
    );
    assert_eq!(azure.fake.settings(&azure.app)["USER_FLAG"], "keep-me");
}

/// A deployment Kudu answers with 200 but status 3 fails the deploy with the log's last
/// lines; the app keeps serving its previous package and its settings still record it.
#[tokio::test]
async fn a_failed_deployment_answered_with_200_keeps_the_previous_package() {
    let azure = Azure::new("flexConsumption");
    let first = azure.zip("1");
    azure.deploy(&azure.spec(&first, &[])).await;
    azure.fake.fail_next_deployment();
    let report = azure.deploy(&azure.spec(&azure.zip("2"), &[])).await;
    let message = failure(&report);
    assert!(message.contains("status 3"), "{message}");
    assert!(message.contains("could not be mounted"), "{message}");
    assert_eq!(
        azure.fake.running_package(&azure.app),
        Some(first.sha256_hex.clone())
    );
    assert_eq!(
        azure.fake.settings(&azure.app)["STRATA_PACKAGE_SHA256"],
        first.sha256_hex
    );
}

/// A package that registers no functions (the most common Azure Functions failure) fails
/// the deploy naming them, and the previous package is put back.
#[tokio::test]
async fn an_app_that_registers_no_functions_fails_and_the_previous_package_returns() {
    let azure = Azure::new("flexConsumption");
    let first = azure.zip("1");
    azure.deploy(&azure.spec(&first, &[])).await;
    let empty = app_zip(azure.dir.path(), &[], "empty");
    let report = azure.deploy(&azure.spec(&empty, &[])).await;
    let message = failure(&report);
    assert!(
        message.contains("does not list the functions hello, world"),
        "{message}"
    );
    assert_eq!(
        azure.fake.running_package(&azure.app),
        Some(first.sha256_hex.clone())
    );
    assert_eq!(azure.fake.functions(&azure.app), ["hello", "world"]);
}

#[derive(Default)]
struct Recording {
    retries: Mutex<Vec<Duration>>,
    waits: Mutex<u32>,
}

impl Reporter for Recording {
    fn on_retry(&self, _name: &str, _step: Step, _attempt: u32, delay: Duration) {
        self.retries.lock().unwrap().push(delay);
    }

    fn on_waiting(&self, _name: &str, _step: Step, _poll: u32) {
        *self.waits.lock().unwrap() += 1;
    }
}

/// Deployments in progress are polled until they complete; a 409 while another deployment
/// runs and 429 with Retry-After are retried, the latter no sooner than it says.
#[tokio::test]
async fn strata_waits_for_deployments_and_retries_conflicts_and_throttling() {
    let azure = Azure::new("flexConsumption");
    let first = azure.zip("1");
    azure.deploy(&azure.spec(&first, &[])).await;

    azure.fake.slow_deployments(3);
    azure.fake.conflict_next_publishes(2);
    let publishes = azure.fake.publishes();
    let recording = Recording::default();
    let second = azure.zip("2");
    let report = azure
        .deploy_with(&azure.spec(&second, &[]), &recording)
        .await;
    assert!(report.is_success(), "{report}");
    assert_eq!(
        azure.fake.publishes(),
        publishes + 3,
        "two conflicts, then the publish"
    );
    assert!(
        *recording.waits.lock().unwrap() >= 3,
        "three polls found it in progress"
    );
    assert_eq!(
        azure.fake.running_package(&azure.app),
        Some(second.sha256_hex.clone())
    );

    azure.fake.slow_deployments(0);
    let recording = Recording::default();
    let plan = azure
        .provider
        .plan(&azure.spec(&azure.zip("3"), &[]))
        .await
        .expect("plan");
    azure.fake.throttle_next(1, 1);
    let report = azure
        .provider
        .apply(&plan, &recording)
        .await
        .expect("apply");
    assert!(report.is_success(), "{report}");
    let retries = recording.retries.lock().unwrap().clone();
    assert_eq!(retries.len(), 1, "{retries:?}");
    assert!(
        retries[0] >= Duration::from_secs(1),
        "Retry-After ignored: {retries:?}"
    );
}

/// A deployment that never completes stops at the deadline with a clear error, and the
/// previous package stays live.
#[tokio::test]
async fn a_deployment_that_never_completes_stops_at_the_deadline() {
    let azure = Azure::new("flexConsumption");
    let first = azure.zip("1");
    azure.deploy(&azure.spec(&first, &[])).await;
    let azure = azure.with_settings(|settings| {
        settings.retry.function_deadline = Duration::from_secs(2);
    });
    azure.fake.slow_deployments(u32::MAX);
    let report = azure.deploy(&azure.spec(&azure.zip("2"), &[])).await;
    let message = failure(&report);
    assert!(
        message.contains("did not complete before the deadline"),
        "{message}"
    );
    assert_eq!(
        azure.fake.running_package(&azure.app),
        Some(first.sha256_hex.clone())
    );
}

/// ARM answering that the token expired makes strata fetch a new one, once, and go on.
#[tokio::test]
async fn an_expired_token_is_renewed_once_and_the_deploy_goes_on() {
    let azure = Azure::new("flexConsumption");
    let first = azure.zip("1");
    azure.deploy(&azure.spec(&first, &[])).await;
    let tokens = azure.fake.token_requests();
    azure.fake.expire_next_token();
    let report = azure.deploy(&azure.spec(&azure.zip("2"), &[])).await;
    assert!(report.is_success(), "{report}");
    assert_eq!(azure.fake.token_requests(), tokens + 1, "one new token");
}

/// With no source configured, the error names every source of the chain; nothing reaches a
/// metadata address (IMDS is pointed at a closed loopback port).
#[tokio::test]
async fn without_credentials_the_error_names_each_source_tried() {
    let fake = AzureFake::start();
    let mut settings = settings(&fake, "nocreds", "flexConsumption");
    settings.env = BTreeMap::from([
        ("IMDS_ENDPOINT".to_owned(), "http://127.0.0.1:9".to_owned()),
        ("PATH".to_owned(), "/nonexistent".to_owned()),
    ]);
    let provider = AzureProvider::new(settings).unwrap();
    let error = provider.check_credentials().await.unwrap_err();
    let message = error.to_string();
    for source in [
        "client secret",
        "workload identity",
        "GitHub Actions OIDC",
        "managed identity",
        "Azure CLI",
    ] {
        assert!(message.contains(source), "{source} is not named: {message}");
    }
    assert!(
        strata_provider::Hint::hint(&error)
            .unwrap()
            .contains("az login")
    );

    // A wrong secret is named with Entra's error code, never the secret itself.
    let mut settings = self::settings(&fake, "badcreds", "flexConsumption");
    settings.env.insert(
        "AZURE_CLIENT_SECRET".to_owned(),
        "wrong-canary-secret".to_owned(),
    );
    settings
        .env
        .insert("PATH".to_owned(), "/nonexistent".to_owned());
    let error = AzureProvider::new(settings)
        .unwrap()
        .check_credentials()
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("invalid_client"), "{message}");
    assert!(!message.contains("wrong-canary-secret"), "{message}");
}

/// A token from the chain with the fake's environment changed by `tweak`; the number of
/// token requests the fake answered after it.
async fn token_with(fake: &AzureFake, tweak: impl FnOnce(&mut BTreeMap<String, String>)) -> usize {
    let mut settings = settings(fake, "creds", "flexConsumption");
    settings.env.remove("AZURE_CLIENT_SECRET");
    tweak(&mut settings.env);
    AzureProvider::new(settings)
        .unwrap()
        .check_credentials()
        .await
        .expect("token");
    fake.token_requests()
}

/// Workload identity: the federated token file's assertion is exchanged for a token.
#[tokio::test]
async fn workload_identity_exchanges_the_federated_token() {
    let fake = AzureFake::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "federated-assertion\n").unwrap();
    let requests = token_with(&fake, |env| {
        env.insert(
            "AZURE_FEDERATED_TOKEN_FILE".to_owned(),
            file.display().to_string(),
        );
    })
    .await;
    assert_eq!(requests, 1);
}

/// GitHub Actions OIDC: the runner's ID token (audience `api://AzureADTokenExchange`) is
/// exchanged for an ARM token; managed identity asks `IDENTITY_ENDPOINT` with its header.
#[tokio::test]
async fn github_oidc_and_managed_identity_give_tokens() {
    let fake = AzureFake::start();
    let requests = token_with(&fake, |env| {
        env.insert(
            "ACTIONS_ID_TOKEN_REQUEST_URL".to_owned(),
            format!("{}/github/idtoken?api-version=2.0", fake.url()),
        );
        env.insert(
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN".to_owned(),
            "github-request-token".to_owned(),
        );
    })
    .await;
    assert_eq!(requests, 1);
    let requests = token_with(&fake, |env| {
        *env = BTreeMap::from([
            (
                "IDENTITY_ENDPOINT".to_owned(),
                format!("{}/msi/token", fake.url()),
            ),
            ("IDENTITY_HEADER".to_owned(), "header".to_owned()),
        ]);
    })
    .await;
    assert_eq!(requests, 2);
}

/// An SCM site that refuses the bearer token is asked again with the app's publishing
/// credentials, listed once per deploy; the password shows nowhere.
#[tokio::test]
async fn an_scm_site_refusing_the_bearer_token_gets_the_publishing_credentials() {
    let azure = Azure::new("flexConsumption");
    azure.fake.scm_refuses_bearer(&azure.app);
    let first = azure.zip("1");
    let report = azure.deploy(&azure.spec(&first, &[])).await;
    assert!(report.is_success(), "{report}");
    azure.assert_runs(&first);
    assert_eq!(azure.fake.publishing_lists(), 1, "listed once");
    assert!(
        azure.fake.scm_basic_calls() >= 2,
        "the publish and its status reads went with basic auth"
    );

    let second = azure.zip("2");
    let report = azure.deploy(&azure.spec(&second, &[])).await;
    assert!(report.is_success(), "{report}");
    assert_eq!(
        azure.fake.publishing_lists(),
        2,
        "once more for the new deploy"
    );
    azure.assert_runs(&second);
}

/// With basic authentication disabled for SCM the deploy fails saying so, the password is
/// never fetched, and the app keeps its package.
#[tokio::test]
async fn an_scm_site_with_basic_auth_disabled_fails_clearly_and_changes_nothing() {
    let azure = Azure::new("flexConsumption");
    let first = azure.zip("1");
    azure.deploy(&azure.spec(&first, &[])).await;
    azure.fake.scm_refuses_bearer(&azure.app);
    azure.fake.disable_scm_basic_auth(&azure.app);
    let report = azure.deploy(&azure.spec(&azure.zip("2"), &[])).await;
    let message = failure(&report);
    assert!(
        message.contains("refused the bearer token (HTTP 401)")
            && message.contains("basic authentication is disabled"),
        "{message}"
    );
    assert_eq!(azure.fake.publishing_lists(), 0);
    azure.assert_runs(&first);
    assert_eq!(
        azure.fake.settings(&azure.app)["STRATA_PACKAGE_SHA256"],
        first.sha256_hex
    );
    let error = AzureError::ScmBasicAuthDisabled {
        app: azure.app.clone(),
        status: 401,
    };
    assert!(
        strata_provider::Hint::hint(&error)
            .unwrap()
            .contains("basicPublishingCredentialsPolicies")
    );
}

/// Creates and deletes that ARM runs as long-running operations are polled to their end, no
/// sooner than each `Retry-After`, through both `Azure-AsyncOperation` and `Location`.
#[tokio::test]
async fn long_running_creates_and_deletes_are_waited_for_honouring_retry_after() {
    let (azure, clock) = Azure::new("flexConsumption").with_manual_clock();
    azure.fake.slow_operations(2, Some(3));
    let code = azure.zip("1");
    let report = azure.deploy(&azure.spec(&code, &[])).await;
    assert!(report.is_success(), "{report}");
    assert!(azure.fake.app_exists(&azure.app));
    // Group, storage account, plan and app: two polls in progress and the final one each.
    assert_eq!(azure.fake.operation_polls(), 12);
    let waits = clock
        .sleeps()
        .iter()
        .filter(|sleep| **sleep == Duration::from_secs(3))
        .count();
    assert_eq!(
        waits,
        12,
        "every poll waited Retry-After: {:?}",
        clock.sleeps()
    );

    let plan = azure
        .provider
        .plan_remove(&azure.service, STAGE)
        .await
        .expect("remove plan");
    azure.provider.remove(&plan).await.expect("remove");
    assert!(!azure.fake.app_exists(&azure.app));
    assert!(!azure.fake.group_exists(&format!("{}-rg", azure.app)));
    assert!(azure.fake.operation_polls() > 12, "the deletes were polled");
}

/// A creation whose operation ends `Failed` fails the deploy with the operation's message and
/// leaves no app behind; the next deploy creates it.
#[tokio::test]
async fn a_failed_create_operation_fails_clearly_and_the_next_deploy_creates_the_app() {
    let (azure, _clock) = Azure::new("flexConsumption").with_manual_clock();
    azure.fake.slow_operations(1, None);
    azure.fake.fail_next_operation(
        "PUT",
        "sites",
        "The runtime stack Python 3.12 is not available in this region.",
    );
    let code = azure.zip("1");
    let report = azure.deploy(&azure.spec(&code, &[])).await;
    let message = failure(&report);
    assert!(
        message.contains("create function app")
            && message.contains("ended Failed")
            && message.contains("Python 3.12 is not available"),
        "{message}"
    );
    assert!(!azure.fake.app_exists(&azure.app));

    let report = azure.deploy(&azure.spec(&code, &[])).await;
    assert!(report.is_success(), "{report}");
    azure.assert_runs(&code);
}

/// A delete whose operation fails (`Location` answers the error) stops `remove` with the
/// message, and the resource group that held it stays.
#[tokio::test]
async fn a_failed_delete_operation_stops_remove_and_keeps_the_group() {
    let (azure, _clock) = Azure::new("consumption").with_manual_clock();
    let code = azure.zip("1");
    azure.deploy(&azure.spec(&code, &[])).await;
    azure.fake.slow_operations(1, None);
    azure.fake.fail_next_operation(
        "DELETE",
        "storageaccounts",
        "The storage account has a delete lock.",
    );
    let plan = azure
        .provider
        .plan_remove(&azure.service, STAGE)
        .await
        .expect("remove plan");
    let error = azure.provider.remove(&plan).await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("has a delete lock"), "{message}");
    let storage = format!("{}sa", azure.app.replace('-', ""));
    assert!(azure.fake.storage_exists(&storage));
    assert!(azure.fake.group_exists(&format!("{}-rg", azure.app)));
}

/// An operation still running at the deadline stops the deploy with a clear error.
#[tokio::test]
async fn a_create_operation_that_never_ends_stops_at_the_deadline() {
    let (azure, _clock) = Azure::new("flexConsumption").with_manual_clock();
    azure.fake.slow_operations(u32::MAX, None);
    let report = azure.deploy(&azure.spec(&azure.zip("1"), &[])).await;
    let message = failure(&report);
    assert!(
        message.contains("still running at the deadline"),
        "{message}"
    );
}

/// A change of a Flex app's instance memory is planned as old → new and made with one PATCH
/// that changes only `instanceMemoryMB`; unchanged, nothing is called.
#[tokio::test]
async fn flex_instance_memory_changes_alone_and_only_when_it_differs() {
    let azure = Azure::new("flexConsumption");
    let code = azure.zip("1");
    azure.deploy(&azure.spec(&code, &[])).await;
    let before = azure.fake.function_app_config(&azure.app);
    assert_eq!(before["scaleAndConcurrency"]["instanceMemoryMB"], 2048);

    let azure = azure.with_settings(|settings| settings.instance_memory_mb = Some(4096));
    let spec = azure.spec(&code, &[]);
    let plan = azure.provider.plan(&spec).await.expect("plan");
    match &plan.functions[0].action {
        FunctionAction::Update { code: None, config } => {
            assert_eq!(config.len(), 1, "{config:?}");
            assert_eq!(config[0].field, "instanceMemoryMB");
            assert_eq!(config[0].old.as_deref(), Some("2048"));
            assert_eq!(config[0].new.as_deref(), Some("4096"));
        }
        other => panic!("expected a configuration update, got {other:?}"),
    }
    let mutations = azure.fake.mutations().len();
    let report = azure.deploy(&spec).await;
    assert_eq!(
        outcomes(&report),
        [&FunctionOutcome::UpdatedConfiguration; 2],
        "{report}"
    );
    let made = azure.fake.mutations()[mutations..].to_vec();
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(
        made[0].starts_with("PATCH ") && made[0].ends_with(&format!("/sites/{}", azure.app)),
        "{made:?}"
    );
    let mut expected = before.clone();
    expected["scaleAndConcurrency"]["instanceMemoryMB"] = serde_json::json!(4096);
    assert_eq!(azure.fake.function_app_config(&azure.app), expected);

    let mutations = azure.fake.mutations().len();
    let plan = azure.provider.plan(&spec).await.expect("plan");
    assert!(plan.is_noop(), "{plan}");
    azure.deploy(&spec).await;
    assert_eq!(azure.fake.mutations().len(), mutations);
}

/// Writes a fake `az` into `dir` that answers `az account get-access-token` with `token` as
/// the real CLI prints it, counting its runs in `dir/runs`.
fn fake_az(dir: &Path, body: &str) {
    let script = dir.join("az");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho run >> '{runs}'\n\
             if [ \"$*\" != 'account get-access-token --resource https://management.azure.com/ --output json' ]; then\n\
             echo \"ERROR: unexpected arguments: $*\" >&2; exit 2\nfi\n{body}\n",
            runs = dir.join("runs").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The Azure CLI's login: its token (with `expiresOn` and `expires_on`, as `az` prints them)
/// deploys, `az` runs once, and the token shows nowhere.
#[tokio::test]
async fn the_azure_cli_token_deploys_and_never_shows() {
    let azure = Azure::new("flexConsumption");
    let bin = tempfile::tempdir().unwrap();
    let token = azure.fake.issue_token();
    fake_az(
        bin.path(),
        &format!(
            "printf '%s\\n' '{{\"accessToken\": \"{token}\", \"expiresOn\": \"2099-01-01 00:00:00.000000\", \"expires_on\": 4070908800, \"subscription\": \"00000000-0000-0000-0000-000000000001\", \"tenant\": \"tenant-1\", \"tokenType\": \"Bearer\"}}'"
        ),
    );
    let azure = azure.with_settings(|settings| {
        settings.env = BTreeMap::from([
            ("IMDS_ENDPOINT".to_owned(), "http://127.0.0.1:9".to_owned()),
            ("PATH".to_owned(), bin.path().display().to_string()),
        ]);
    });
    let report = azure.deploy(&azure.spec(&azure.zip("1"), &[])).await;
    assert!(report.is_success(), "{report}");
    assert_eq!(azure.fake.token_requests(), 0, "no other source was asked");
    let runs = std::fs::read_to_string(bin.path().join("runs")).unwrap();
    assert_eq!(runs.lines().count(), 1, "the token is cached: {runs}");
}

/// `az` not logged in: its message is in the chain's error, beside every other source.
#[tokio::test]
async fn the_azure_cli_not_logged_in_is_named_in_the_chains_error() {
    let fake = AzureFake::start();
    let bin = tempfile::tempdir().unwrap();
    fake_az(
        bin.path(),
        "echo \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1",
    );
    let mut settings = settings(&fake, "azcli", "flexConsumption");
    settings.env = BTreeMap::from([
        ("IMDS_ENDPOINT".to_owned(), "http://127.0.0.1:9".to_owned()),
        ("PATH".to_owned(), bin.path().display().to_string()),
    ]);
    let error = AzureProvider::new(settings)
        .unwrap()
        .check_credentials()
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("Azure CLI (az account get-access-token): `az` failed: ERROR: Please run 'az login' to setup account."),
        "{message}"
    );
    assert!(message.contains("client secret"), "{message}");
}

/// Role assignment PUTs the fake recorded so far.
fn role_assignment_puts(azure: &Azure) -> usize {
    azure
        .fake
        .mutations()
        .iter()
        .filter(|mutation| mutation.starts_with("PUT ") && mutation.contains("roleAssignments"))
        .count()
}

/// Consumption with the app's system-assigned identity: the setting holds the blob URL
/// without a SAS plus `WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID`, the identity gets
/// Storage Blob Data Reader on the package container once (the fake's host reads the blob only
/// with that role), and later deploys make no role call.
#[tokio::test]
async fn consumption_reads_its_package_with_the_system_identity_after_one_role_assignment() {
    let azure = Azure::new("consumption");
    let first = azure.zip("1");
    let report = azure.deploy(&azure.spec(&first, &[])).await;
    assert!(report.is_success(), "{report}");
    azure.assert_runs(&first);
    let settings = azure.fake.settings(&azure.app);
    assert!(!settings["WEBSITE_RUN_FROM_PACKAGE"].contains('?'));
    assert_eq!(settings[MI_SETTING], "SystemAssigned");
    let assignments = azure.fake.role_assignments();
    assert_eq!(assignments.len(), 1, "{assignments:?}");
    let (scope, principal, role) = &assignments[0];
    assert!(
        scope.ends_with(&format!("/containers/{}", container_name(&azure.app))),
        "{scope}"
    );
    assert_eq!(
        *principal,
        strata_tests::azure_fake::principal_id(&azure.app)
    );
    assert!(role.ends_with(BLOB_DATA_READER), "{role}");
    assert_eq!(role_assignment_puts(&azure), 1);

    let second = azure.zip("2");
    let spec = azure.spec(&second, &[]);
    azure.deploy(&spec).await;
    azure.assert_runs(&second);
    assert_eq!(
        role_assignment_puts(&azure),
        1,
        "the role is found, not made again"
    );
    let mutations = azure.fake.mutations().len();
    azure.deploy(&spec).await;
    assert_eq!(
        azure.fake.mutations().len(),
        mutations,
        "a no-op deploy calls nothing"
    );
}

/// An app without any managed identity falls back to a read SAS, and the plan says so; the
/// identity setting strata wrote before goes.
#[tokio::test]
async fn consumption_without_an_identity_falls_back_to_a_read_sas() {
    let azure = Azure::new("consumption");
    azure.deploy(&azure.spec(&azure.zip("1"), &[])).await;
    azure.fake.remove_identity(&azure.app);
    let second = azure.zip("2");
    let spec = azure.spec(&second, &[]);
    let plan = azure.provider.plan(&spec).await.expect("plan");
    let text = plan.to_string();
    assert!(
        text.contains(
            "packageAccess: blob URL, read with the app's system-assigned identity -> read SAS \
             (the app has no managed identity)"
        ),
        "{text}"
    );
    let report = azure.deploy(&spec).await;
    assert!(report.is_success(), "{report}");
    azure.assert_runs(&second);
    let settings = azure.fake.settings(&azure.app);
    assert!(
        settings["WEBSITE_RUN_FROM_PACKAGE"].contains("sig="),
        "a SAS URL"
    );
    assert!(!settings.contains_key(MI_SETTING), "{settings:?}");
}

/// A user-assigned identity named in the settings (`azure.identity`) is given to the app on
/// creation, named in the setting by resource ID, and it is the one granted the role.
#[tokio::test]
async fn consumption_reads_its_package_with_the_user_assigned_identity_named() {
    let azure = Azure::new("consumption")
        .with_settings(|settings| settings.identity = Some("deployer".to_owned()));
    let code = azure.zip("1");
    let report = azure.deploy(&azure.spec(&code, &[])).await;
    assert!(report.is_success(), "{report}");
    azure.assert_runs(&code);
    let id = format!(
        "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/{}-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/deployer",
        azure.app
    );
    assert_eq!(azure.fake.settings(&azure.app)[MI_SETTING], id);
    let principals: Vec<String> = azure
        .fake
        .role_assignments()
        .into_iter()
        .map(|(_, principal, _)| principal)
        .collect();
    assert_eq!(principals, [strata_tests::azure_fake::principal_id(&id)]);
}

/// What a reporter heard, per function: its steps in order, polls, start and finish.
#[derive(Default)]
struct Steps {
    heard: Mutex<Vec<(String, String)>>,
}

impl Steps {
    fn of(&self, function: &str) -> Vec<String> {
        self.heard
            .lock()
            .unwrap()
            .iter()
            .filter(|(name, _)| name == function)
            .map(|(_, what)| what.clone())
            .collect()
    }

    fn hear(&self, name: &str, what: String) {
        self.heard.lock().unwrap().push((name.to_owned(), what));
    }
}

impl Reporter for Steps {
    fn on_function_started(&self, name: &str) {
        self.hear(name, "started".to_owned());
    }

    fn on_step(&self, name: &str, step: Step) {
        self.hear(name, format!("{step:?}"));
    }

    fn on_waiting(&self, name: &str, step: Step, _poll: u32) {
        self.hear(name, format!("waiting {step:?}"));
    }

    fn on_function_finished(&self, report: &strata_provider::FunctionReport) {
        self.hear(
            &report.deployed_name,
            format!("finished {}", report.outcome),
        );
    }
}

/// Every function of the app is told the app's steps in order (the CLI draws one bar per
/// function from them), including the polls of a deployment still in progress.
#[tokio::test]
async fn every_function_of_the_app_reports_the_apps_steps() {
    let azure = Azure::new("flexConsumption");
    let spec = azure.spec(&azure.zip("1"), &[]);
    azure.deploy(&spec).await;
    azure.fake.slow_deployments(1);
    let steps = Steps::default();
    let spec = azure.spec(&azure.zip("2"), &[]);
    let report = azure.deploy_with(&spec, &steps).await;
    assert!(report.is_success(), "{report}");
    for function in &spec.functions {
        assert_eq!(
            steps.of(&function.deployed_name),
            [
                "started",
                "Read",
                "Upload",
                "UpdateCode",
                "Wait",
                "waiting Wait",
                "MovePointer",
                "Verify",
                "finished updated (code)",
            ],
            "{}",
            function.deployed_name
        );
    }
}

/// Over HTTPS (the fake behind `strata_tests::TlsFront`, whose CA no system store holds), the
/// token, ARM and Kudu calls trust the CA given as `SSL_CERT_FILE` and deploy; without it the
/// same client refuses the front.
#[tokio::test]
async fn arm_kudu_and_token_calls_trust_the_ca_given_as_ssl_cert_file() {
    let azure = Azure::new("flexConsumption");
    let front = strata_tests::TlsFront::forwarding_to(azure.fake.port()).expect("TLS front");
    let https = format!("https://127.0.0.1:{}", front.port());
    let with_front = |settings: &mut AzureSettings| {
        settings.arm_endpoint = https.clone();
        settings.scm_endpoint = Some(format!("{https}/scm"));
        settings
            .env
            .insert("AZURE_AUTHORITY_HOST".to_owned(), https.clone());
    };
    let untrusting = azure.with_settings(with_front);
    let error = untrusting.provider.check_credentials().await.unwrap_err();
    assert!(
        error.to_string().contains("client secret"),
        "the token endpoint was not trusted: {error}"
    );
    assert!(front.connections() > 0, "the token endpoint was not asked");
    assert_eq!(
        front.handshakes(),
        0,
        "a handshake completed without the CA"
    );

    let azure = untrusting.with_settings(|settings| {
        settings.ssl_cert_file = Some(front.ca_file().to_path_buf());
    });
    let code = azure.zip("1");
    let report = azure.deploy(&azure.spec(&code, &[])).await;
    assert!(report.is_success(), "{report}");
    azure.assert_runs(&code);
    assert!(front.handshakes() > 0);
}
