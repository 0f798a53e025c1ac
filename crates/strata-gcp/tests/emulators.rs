//! The GCP backend against fake-gcs-server (through the recording proxy) and the Cloud
//! Functions v2 contract fake: the conformance suite, uploads, and the slow and failing paths.

use std::collections::BTreeMap;
use std::time::Duration;

use sha2::{Digest, Sha256};
use strata_gcp::{GcpProvider, GcpSettings};
use strata_provider::{ArtifactRef, DeploySpec, RetryPolicy, RoleSpec};
use strata_tests::conformance::{self, Harness};
use strata_tests::gcp_fake::FunctionsFake;
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
