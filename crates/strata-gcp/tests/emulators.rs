//! The GCP backend against fake-gcs-server (through the recording proxy) and the Cloud
//! Functions v2 contract fake: the conformance suite, uploads, and the slow and failing paths.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use strata_gcp::{GcpProvider, GcpSettings};
use strata_provider::{
    ArtifactRef, DeploySpec, FunctionOutcome, NoopReporter, Provider, Reporter, RetryPolicy,
    RoleSpec, Step,
};
use strata_tests::conformance::{self, Harness};
use strata_tests::gcp_fake::{FunctionsFake, SIGNATURE_CANARY};
use strata_tests::gcs::{self, GcsProxy};
use strata_tests::zip::{ZipEntry, write_zip};

const PROJECT: &str = "strata-test";
const REGION: &str = "europe-west1";

fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}", fastrand::u32(..))
}

/// Short delays so tests poll and retry quickly; the deadline still bounds everything.
fn fast_policy(deadline: Duration) -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        function_deadline: deadline,
        poll_interval: Duration::from_millis(10),
        max_poll_interval: Duration::from_millis(50),
    }
}

struct Cloud {
    proxy: GcsProxy,
    fake: FunctionsFake,
    bucket: String,
    upload_bucket: String,
    dir: tempfile::TempDir,
}

impl Cloud {
    fn start() -> Self {
        let proxy = GcsProxy::start();
        let bucket = unique("strata-src-");
        let upload_bucket = unique("gcf-v2-uploads-");
        gcs::create_bucket(&bucket);
        gcs::create_bucket(&upload_bucket);
        let fake = FunctionsFake::start(proxy.url(), &upload_bucket);
        Self {
            proxy,
            fake,
            bucket,
            upload_bucket,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn settings(&self, bucket: Option<&str>, deadline: Duration) -> GcpSettings {
        GcpSettings {
            project: Some(PROJECT.to_owned()),
            region: REGION.to_owned(),
            bucket: bucket.map(str::to_owned),
            retry: fast_policy(deadline),
            env: BTreeMap::from([
                (
                    "STORAGE_EMULATOR_HOST".to_owned(),
                    if std::env::var("DEBUG_DIRECT").is_ok() {
                        "127.0.0.1:4443".to_owned()
                    } else {
                        self.proxy.host()
                    },
                ),
                (
                    strata_gcp::FUNCTIONS_ENDPOINT_VARIABLE.to_owned(),
                    format!("{}/", self.fake.url()),
                ),
                // Never the real metadata server.
                ("GCE_METADATA_HOST".to_owned(), "127.0.0.1:9".to_owned()),
            ]),
        }
    }

    async fn provider(&self, bucket: Option<&str>, deadline: Duration) -> GcpProvider {
        GcpProvider::new(self.settings(bucket, deadline))
            .await
            .expect("provider")
    }

    /// A source zip: `main.py` with `body`, and a requirements file.
    fn zip(&self, name: &str, body: &[u8]) -> ArtifactRef {
        let bytes = write_zip(&[
            ZipEntry::file("main.py", body.to_vec()),
            ZipEntry::file("requirements.txt", b"functions-framework\n".to_vec()),
        ]);
        self.artifact(name, &bytes)
    }

    fn artifact(&self, name: &str, bytes: &[u8]) -> ArtifactRef {
        let path = self.dir.path().join(format!("{name}.zip"));
        fs_err::write(&path, bytes).expect("zip written");
        ArtifactRef {
            path,
            sha256_hex: hex::encode(Sha256::digest(bytes)),
            code_sha256_base64: String::new(),
            zipped_size: bytes.len() as u64,
            unzipped_size: bytes.len() as u64,
        }
    }
}

struct GcpHarness {
    cloud: Cloud,
    provider: GcpProvider,
    service: String,
}

impl Harness for GcpHarness {
    type Provider = GcpProvider;

    fn provider(&self) -> &GcpProvider {
        &self.provider
    }

    fn service(&self) -> &str {
        &self.service
    }

    fn stage(&self) -> &str {
        "prod"
    }

    fn artifact(&self, function: &str, version: u32) -> ArtifactRef {
        self.cloud.zip(
            &format!("{function}-{version}"),
            format!("def {function}(request):\n    return 'v{version}'\n").as_bytes(),
        )
    }

    fn role(&self) -> RoleSpec {
        RoleSpec::Managed { statements: vec![] }
    }

    fn fail_midway(&self, spec: &mut DeploySpec, function: &str) {
        let id = spec
            .function(function)
            .expect("function")
            .deployed_name
            .clone();
        self.cloud
            .fake
            .fail_next_build(&id, "pip could not install flask.");
    }

    fn mutations(&self) -> Vec<String> {
        let functions = self
            .cloud
            .fake
            .mutations()
            .into_iter()
            .filter(|call| call.function.starts_with(&self.service))
            .map(|call| (call.at, call.to_string()));
        let objects = self
            .cloud
            .proxy
            .mutations(&self.cloud.bucket)
            .into_iter()
            .map(|request| (request.at, format!("{} {}", request.method, request.path)));
        let mut calls: Vec<_> = functions.chain(objects).collect();
        calls.sort();
        calls.into_iter().map(|(_, call)| call).collect()
    }

    async fn live_release(&self, deployed_name: &str) -> Option<String> {
        self.cloud.fake.source_object(deployed_name)
    }

    async fn create_by_hand(&self) -> String {
        let id = format!("{}-prod-by-hand", self.service);
        self.cloud.fake.insert(
            &format!("projects/{PROJECT}/locations/{REGION}/functions/{id}"),
            serde_json::json!({"labels": {"team": "data"}}),
        );
        id
    }

    async fn exists(&self, deployed_name: &str) -> bool {
        self.cloud.fake.function(deployed_name).is_some()
    }
}

#[tokio::test]
async fn the_gcp_backend_keeps_the_contract() {
    let cloud = Cloud::start();
    let provider = cloud
        .provider(Some(&cloud.bucket.clone()), Duration::from_secs(30))
        .await;
    let harness = GcpHarness {
        cloud,
        provider,
        service: unique("conf"),
    };
    conformance::run(&harness).await;

    // Every patch strata sent named its fields: without a mask Google resets the rest.
    let patches: Vec<_> = harness
        .cloud
        .fake
        .mutations()
        .into_iter()
        .filter(|call| call.kind == "patch")
        .collect();
    assert!(!patches.is_empty());
    assert!(
        patches.iter().all(|call| call.mask.is_some()),
        "{patches:?}"
    );
    // Remove deleted the kept sources too.
    assert_eq!(
        gcs::list_objects(
            &harness.cloud.bucket,
            &format!("strata/{}/", harness.service)
        ),
        Vec::<String>::new()
    );
}

/// One function `f` of a service, deployed from `code`.
fn single(service: &str, code: ArtifactRef) -> DeploySpec {
    let mut spec = conformance::spec(
        &SpecOnly {
            service: service.to_owned(),
        },
        &conformance::Variant::default(),
    );
    spec.functions.truncate(1);
    spec.functions[0].code = code;
    spec
}

/// A harness that only names the service, for building specs.
struct SpecOnly {
    service: String,
}

impl Harness for SpecOnly {
    type Provider = GcpProvider;

    fn provider(&self) -> &GcpProvider {
        unreachable!("specs only")
    }

    fn service(&self) -> &str {
        &self.service
    }

    fn stage(&self) -> &str {
        "prod"
    }

    fn artifact(&self, function: &str, version: u32) -> ArtifactRef {
        ArtifactRef {
            path: format!("{function}-{version}.zip").into(),
            sha256_hex: format!("{version:064}"),
            code_sha256_base64: String::new(),
            zipped_size: 1,
            unzipped_size: 1,
        }
    }

    fn role(&self) -> RoleSpec {
        RoleSpec::Managed { statements: vec![] }
    }

    fn fail_midway(&self, _: &mut DeploySpec, _: &str) {}

    fn mutations(&self) -> Vec<String> {
        Vec::new()
    }

    async fn live_release(&self, _: &str) -> Option<String> {
        None
    }

    async fn create_by_hand(&self) -> String {
        String::new()
    }

    async fn exists(&self, _: &str) -> bool {
        false
    }
}

async fn deploy(provider: &GcpProvider, spec: &DeploySpec) -> strata_provider::DeployReport {
    let plan = provider.plan(spec).await.expect("plan");
    provider.apply(&plan, &NoopReporter).await.expect("apply")
}

fn failure(report: &strata_provider::DeployReport) -> &strata_provider::StepFailure {
    match &report.functions[0].outcome {
        FunctionOutcome::Failed(failure) => failure,
        other => panic!("expected a failure, got {other:?}\n{report}"),
    }
}

/// Incompressible bytes, so the zip is as large as asked.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[tokio::test]
async fn sources_over_16_mib_go_up_resumably_and_a_kept_object_is_not_sent_again() {
    let cloud = Cloud::start();
    let bucket = cloud.bucket.clone();
    let provider = cloud
        .provider(Some(&bucket), Duration::from_secs(120))
        .await;
    let service = unique("big");
    let big = cloud.artifact("big", &noise(17 * 1024 * 1024));
    let spec = single(&service, big.clone());
    let report = deploy(&provider, &spec).await;
    assert!(report.is_success(), "{report}");
    let uploads: Vec<_> = cloud
        .proxy
        .mutations(&bucket)
        .into_iter()
        .map(|request| request.path)
        .collect();
    assert!(
        uploads
            .iter()
            .any(|path| path.contains("uploadType=resumable")),
        "{uploads:?}"
    );
    let id = &spec.functions[0].deployed_name;
    let object = strata_gcp::object_name(&service, "prod", id, &big.sha256_hex);
    let stored = gcs::download(&bucket, &object);
    assert_eq!(
        hex::encode(Sha256::digest(&stored)),
        big.sha256_hex,
        "the stored object is not the zip"
    );

    // A second service stage whose source object is already there: no upload, only the
    // metadata read that found it.
    let small = cloud.zip("small", b"def alpha(request):\n    return 'small'\n");
    let other = unique("kept");
    let spec = single(&other, small.clone());
    let id = spec.functions[0].deployed_name.clone();
    let name = strata_gcp::object_name(&other, "prod", &id, &small.sha256_hex);
    let bytes = fs_err::read(&small.path).unwrap();
    let (status, _, _) = gcs::exchange(
        &gcs::gcs_url(),
        "POST",
        &format!(
            "/upload/storage/v1/b/{bucket}/o?uploadType=media&name={}",
            percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC)
        ),
        &[("Content-Type".to_owned(), "application/zip".to_owned())],
        &bytes,
    );
    assert_eq!(status, 200);
    let report = deploy(&provider, &spec).await;
    assert!(report.is_success(), "{report}");
    assert_eq!(
        cloud.proxy.mutations(&other),
        vec![],
        "a kept source was sent again"
    );
    assert_eq!(
        cloud.fake.source_object(&id).as_deref(),
        Some(name.as_str())
    );
}

#[tokio::test]
async fn without_a_bucket_the_source_goes_to_a_signed_url_without_credentials() {
    let cloud = Cloud::start();
    let provider = cloud.provider(None, Duration::from_secs(30)).await;
    let spec = single(&unique("url"), cloud.zip("u", b"x = 1\n"));
    let plan = provider.plan(&spec).await.unwrap();
    let report = provider.apply(&plan, &NoopReporter).await.unwrap();
    assert!(report.is_success(), "{report}");
    for text in [
        report.to_string(),
        serde_json::to_string(&report).unwrap(),
        format!("{plan:?}"),
    ] {
        assert!(!text.contains(SIGNATURE_CANARY), "{text}");
    }
    let puts: Vec<_> = cloud
        .proxy
        .requests()
        .into_iter()
        .filter(|request| request.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert!(puts[0].path.contains(&cloud.upload_bucket));
    assert!(!puts[0].authorization, "the signed-URL PUT carried a token");
}

#[tokio::test]
async fn sources_over_100_mb_are_refused_before_any_upload() {
    let cloud = Cloud::start();
    let provider = cloud
        .provider(Some(&cloud.bucket.clone()), Duration::from_secs(30))
        .await;
    let mut code = cloud.zip("huge", b"x = 1\n");
    code.zipped_size = strata_gcp::MAX_SOURCE_BYTES + 1;
    let service = unique("huge");
    let report = deploy(&provider, &single(&service, code)).await;
    let failure = failure(&report);
    assert_eq!(failure.step, Step::Upload);
    assert_eq!(failure.code.as_deref(), Some("SourceTooLarge"));
    assert_eq!(cloud.proxy.mutations(&cloud.bucket), vec![]);
    assert!(cloud.fake.mutations().is_empty());
}

#[tokio::test]
async fn a_failed_build_reports_its_error_and_log_and_the_old_source_keeps_serving() {
    let cloud = Cloud::start();
    let provider = cloud
        .provider(Some(&cloud.bucket.clone()), Duration::from_secs(30))
        .await;
    let service = unique("bld");
    let spec = single(&service, cloud.zip("v1", b"x = 1\n"));
    assert!(deploy(&provider, &spec).await.is_success());
    let id = spec.functions[0].deployed_name.clone();
    let before = cloud.fake.source_object(&id);

    let mut next = single(&service, cloud.zip("v2", b"x = 2\n"));
    next.functions[0].memory_mb = 512;
    cloud
        .fake
        .fail_next_build(&id, "Could not find a version that satisfies flask==99.");
    let report = deploy(&provider, &next).await;
    let failure = failure(&report);
    assert_eq!(failure.step, Step::Wait);
    assert!(failure.message.contains("flask==99"), "{failure}");
    assert!(
        failure
            .message
            .contains("https://console.cloud.google.com/cloud-build/builds"),
        "{failure}"
    );
    assert_eq!(cloud.fake.source_object(&id), before);
}

#[tokio::test]
async fn an_operation_that_never_ends_stops_at_the_deadline() {
    let cloud = Cloud::start();
    let provider = cloud
        .provider(Some(&cloud.bucket.clone()), Duration::from_secs(2))
        .await;
    let service = unique("slow");
    let spec = single(&service, cloud.zip("s", b"x = 1\n"));
    cloud.fake.stall(&spec.functions[0].deployed_name);
    let report = deploy(&provider, &spec).await;
    let failure = failure(&report);
    assert_eq!(failure.step, Step::Wait, "{failure}");
    assert_eq!(failure.code.as_deref(), Some("DeadlineExceeded"));
    assert!(failure.attempts > 1, "it polled: {failure}");
}

/// Counts retries, so a test can tell a retried call from a first-time success.
#[derive(Default)]
struct Retries(AtomicU32);

impl Reporter for Retries {
    fn on_retry(&self, _: &str, _: Step, _: u32, _: Duration) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn busy_functions_and_throttling_are_retried_until_they_pass() {
    let cloud = Cloud::start();
    let provider = cloud
        .provider(Some(&cloud.bucket.clone()), Duration::from_secs(30))
        .await;
    let service = unique("busy");
    let spec = single(&service, cloud.zip("b1", b"x = 1\n"));
    assert!(deploy(&provider, &spec).await.is_success());
    let id = spec.functions[0].deployed_name.clone();

    // Another client's operation runs: the patch meets 409 ABORTED until it ends.
    let mut next = spec.clone();
    next.functions[0].memory_mb = 512;
    let plan = provider.plan(&next).await.unwrap();
    cloud.fake.start_foreign_operation(&id, 3);
    cloud.fake.throttle(1);
    let retries = Retries::default();
    let report = provider.apply(&plan, &retries).await.unwrap();
    assert!(report.is_success(), "{report}");
    assert!(retries.0.load(Ordering::SeqCst) >= 2, "no retry was made");
    let patches: Vec<_> = cloud
        .fake
        .mutations()
        .into_iter()
        .filter(|call| call.kind == "patch" && call.function == id)
        .collect();
    assert_eq!(
        patches.len(),
        1,
        "a refused patch is not counted: {patches:?}"
    );
    assert_eq!(
        patches[0].mask.as_deref(),
        Some(&["serviceConfig.availableMemory".to_owned()][..])
    );
}
