//! The deploy flow against the Lambda contract fake: waits, retries, stops, reports the
//! failing step with the request id, and never moves the alias after a failure.

mod support;

use std::sync::Arc;
use std::time::Duration;

use strata_aws::{AwsProvider, AwsSettings, StaticCredentials, object_key};
use strata_provider::{
    DeploySpec, FunctionAction, FunctionOutcome, ManualClock, NoopReporter, Provider, RetryPolicy,
    RoleSpec, Step, StepFailure,
};
use support::fake_lambda::{FakeLambda, Knobs, REGION};
use support::{function, handler_artifact, spec};

const SERVICE: &str = "svc";
const STAGE: &str = "prod";
const NAME: &str = "svc-prod-hello";
const BUCKET: &str = "deploy-bucket";

struct Harness {
    fake: FakeLambda,
    provider: AwsProvider,
    clock: Arc<ManualClock>,
    dir: tempfile::TempDir,
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
        function_deadline: Duration::from_secs(60),
        poll_interval: Duration::from_millis(100),
        max_poll_interval: Duration::from_millis(400),
    }
}

async fn harness_with(policy: RetryPolicy) -> Harness {
    let fake = FakeLambda::start();
    let settings = AwsSettings {
        region: Some(REGION.to_owned()),
        endpoint_url: Some(fake.url()),
        static_credentials: Some(StaticCredentials {
            access_key_id: "AKIAFAKE".to_owned(),
            secret_access_key: "fake-secret".into(),
        }),
        deployment_bucket: Some(BUCKET.to_owned()),
        retry: policy,
        ..AwsSettings::default()
    };
    // Jitter at half the ceiling; sleeps return at once and are recorded.
    let clock = Arc::new(ManualClock::new(0.5));
    let provider = AwsProvider::new(settings)
        .await
        .expect("provider for the fake")
        .with_clock(clock.clone());
    Harness {
        fake,
        provider,
        clock,
        dir: tempfile::tempdir().unwrap(),
    }
}

async fn harness() -> Harness {
    harness_with(policy()).await
}

impl Harness {
    fn spec(&self, source: &str) -> DeploySpec {
        let code = handler_artifact(self.dir.path(), &format!("{}.zip", source.len()), source);
        spec(
            SERVICE,
            STAGE,
            vec![function(SERVICE, STAGE, "hello", code)],
            vec![],
            RoleSpec::Existing("arn:aws:iam::123456789012:role/fake".to_owned()),
        )
    }

    async fn deploy(&self, spec: &DeploySpec) -> strata_provider::DeployReport {
        let plan = self.provider.plan(spec).await.expect("plan");
        self.provider
            .apply(&plan, &NoopReporter)
            .await
            .expect("apply")
    }

    /// Deploys version 1 and forgets the requests it took.
    async fn deploy_first(&self) {
        let report = self.deploy(&self.spec("def hello(): return 1\n")).await;
        assert!(report.is_success(), "{report}");
        assert_eq!(self.fake.alias_version(NAME, STAGE).as_deref(), Some("1"));
        self.fake.clear_requests();
    }
}

fn failure(report: &strata_provider::DeployReport) -> StepFailure {
    match &report.functions[0].outcome {
        FunctionOutcome::Failed(failure) => failure.clone(),
        other => panic!("expected a failure, got {other:?}\n{report}"),
    }
}

#[tokio::test]
async fn first_deploy_creates_then_second_deploy_makes_no_mutating_call() {
    let h = harness().await;
    let spec = h.spec("def hello(): return 1\n");
    let plan = h.provider.plan(&spec).await.unwrap();
    assert_eq!(plan.functions[0].action, FunctionAction::Create);
    // Positive control: the fake saw the plan's reads, so "no mutation" is not vacuous.
    assert!(!h.fake.requests().is_empty());
    assert!(h.fake.mutations().is_empty(), "plan must only read");

    let report = h.provider.apply(&plan, &NoopReporter).await.unwrap();
    assert_eq!(report.functions[0].outcome, FunctionOutcome::Created);
    assert_eq!(report.functions[0].release.as_deref(), Some("1"));
    assert_eq!(
        h.fake.mutations(),
        [
            ("CreateFunction", 200),
            ("PublishVersion", 200),
            ("CreateAlias", 200)
        ]
    );
    assert_eq!(h.fake.alias_version(NAME, STAGE).as_deref(), Some("1"));

    h.fake.clear_requests();
    let plan = h.provider.plan(&spec).await.unwrap();
    assert!(plan.is_noop(), "{plan}");
    let report = h.provider.apply(&plan, &NoopReporter).await.unwrap();
    assert_eq!(report.functions[0].outcome, FunctionOutcome::Unchanged);
    assert_eq!(report.functions[0].release.as_deref(), Some("1"));
    assert!(!h.fake.requests().is_empty());
    assert!(h.fake.mutations().is_empty(), "{:?}", h.fake.mutations());
}

#[tokio::test]
async fn waits_while_the_update_is_in_progress_before_publishing() {
    let h = harness().await;
    h.deploy_first().await;
    h.fake.set_knobs(Knobs {
        in_progress_polls: 3,
        ..Knobs::default()
    });
    let report = h.deploy(&h.spec("def hello(): return 2\n")).await;
    assert_eq!(
        report.functions[0].outcome,
        FunctionOutcome::UpdatedCode,
        "{report}"
    );
    assert_eq!(report.functions[0].release.as_deref(), Some("2"));

    let operations: Vec<&str> = h
        .fake
        .requests()
        .iter()
        .map(|request| request.operation)
        .collect();
    let update = operations
        .iter()
        .position(|op| *op == "UpdateFunctionCode")
        .unwrap();
    let publish = operations
        .iter()
        .position(|op| *op == "PublishVersion")
        .unwrap();
    let polls = operations[update..publish]
        .iter()
        .filter(|op| **op == "GetFunctionConfiguration")
        .count();
    // Three polls see InProgress, the fourth Successful; only then is a version published.
    assert!(polls >= 4, "{operations:?}");
    assert_eq!(h.fake.count("UpdateFunctionConfiguration"), 0);
    let poll_sleeps = h
        .clock
        .sleeps()
        .into_iter()
        .filter(|sleep| *sleep >= Duration::from_millis(100))
        .count();
    assert!(poll_sleeps >= 3, "{:?}", h.clock.sleeps());
    assert_eq!(h.fake.alias_version(NAME, STAGE).as_deref(), Some("2"));
}

#[tokio::test]
async fn retries_conflicting_updates_then_succeeds() {
    let h = harness().await;
    h.deploy_first().await;
    h.fake.set_knobs(Knobs {
        conflicts: 2,
        ..Knobs::default()
    });
    let report = h.deploy(&h.spec("def hello(): return 2\n")).await;
    assert_eq!(
        report.functions[0].outcome,
        FunctionOutcome::UpdatedCode,
        "{report}"
    );
    let updates: Vec<u16> = h
        .fake
        .requests()
        .iter()
        .filter(|request| request.operation == "UpdateFunctionCode")
        .map(|request| request.status)
        .collect();
    assert_eq!(updates, [409, 409, 200]);
    assert!(h.clock.sleeps().len() >= 2);
    assert_eq!(h.fake.alias_version(NAME, STAGE).as_deref(), Some("2"));
}

#[tokio::test]
async fn throttling_waits_at_least_the_retry_after() {
    let h = harness().await;
    h.deploy_first().await;
    h.fake.set_knobs(Knobs {
        throttles: 1,
        retry_after_seconds: 7,
        ..Knobs::default()
    });
    let report = h.deploy(&h.spec("def hello(): return 2\n")).await;
    assert!(report.is_success(), "{report}");
    assert_eq!(h.fake.requests()[0].status, 429);
    assert_eq!(h.clock.sleeps()[0], Duration::from_secs(7));
}

#[tokio::test]
async fn conflicts_beyond_the_attempt_budget_fail_and_leave_the_alias() {
    let h = harness().await;
    h.deploy_first().await;
    h.fake.set_knobs(Knobs {
        conflicts: 100,
        ..Knobs::default()
    });
    let report = h.deploy(&h.spec("def hello(): return 2\n")).await;
    let failure = failure(&report);
    assert_eq!(failure.step, Step::UpdateCode);
    assert_eq!(failure.code.as_deref(), Some("ResourceConflictException"));
    assert_eq!(failure.attempts, 5);
    assert_eq!(h.fake.count("UpdateFunctionCode"), 5);
    assert_eq!(h.fake.count("PublishVersion"), 0);
    assert_eq!(h.fake.alias_version(NAME, STAGE).as_deref(), Some("1"));
    assert_eq!(report.functions[0].release.as_deref(), Some("1"));
}

#[tokio::test]
async fn failed_update_stops_before_publishing_and_keeps_the_alias() {
    let h = harness().await;
    h.deploy_first().await;
    h.fake.set_knobs(Knobs {
        fail_next_code_update: true,
        in_progress_polls: 1,
        ..Knobs::default()
    });
    let report = h.deploy(&h.spec("def hello(): return 2\n")).await;
    let failure = failure(&report);
    assert_eq!(failure.step, Step::Wait);
    assert_eq!(failure.code.as_deref(), Some("InvalidZipFileException"));
    assert!(failure.message.contains("unable to unzip"), "{failure}");
    assert_eq!(h.fake.count("PublishVersion"), 0);
    assert_eq!(h.fake.count("UpdateAlias"), 0);
    assert_eq!(h.fake.alias_version(NAME, STAGE).as_deref(), Some("1"));
}

#[tokio::test]
async fn publish_precondition_failure_names_the_step_and_request_id() {
    let h = harness().await;
    h.deploy_first().await;
    h.fake.set_knobs(Knobs {
        fail_next_publish_precondition: true,
        ..Knobs::default()
    });
    let report = h.deploy(&h.spec("def hello(): return 2\n")).await;
    let failure = failure(&report);
    assert_eq!(failure.step, Step::PublishRelease);
    assert_eq!(failure.code.as_deref(), Some("PreconditionFailedException"));
    assert_eq!(failure.attempts, 1, "a precondition failure is not retried");
    let publish = h
        .fake
        .requests()
        .into_iter()
        .find(|request| request.operation == "PublishVersion")
        .unwrap();
    assert_eq!(
        failure.request_id.as_deref(),
        Some(publish.request_id.as_str())
    );
    assert!(report.to_string().contains(&publish.request_id), "{report}");
    assert_eq!(h.fake.count("UpdateAlias"), 0);
    assert_eq!(h.fake.alias_version(NAME, STAGE).as_deref(), Some("1"));
}

#[tokio::test]
async fn publish_is_guarded_by_code_sha256_and_revision_id() {
    let h = harness().await;
    h.deploy_first().await;
    let report = h.deploy(&h.spec("def hello(): return 2\n")).await;
    assert!(report.is_success(), "{report}");
    // The fake checks both guards against $LATEST and would answer 412 on a mismatch; a
    // published version therefore carries the code strata uploaded.
    let latest = h.fake.latest(NAME).unwrap();
    let spec = h.spec("def hello(): return 2\n");
    assert_eq!(
        latest["CodeSha256"].as_str(),
        Some(spec.functions[0].code.code_sha256_base64.as_str())
    );
    assert_eq!(h.fake.published_versions(NAME), 2);
    let publish = h
        .fake
        .requests()
        .into_iter()
        .find(|request| request.operation == "PublishVersion")
        .unwrap();
    assert_eq!(
        publish.input["CodeSha256"].as_str(),
        Some(spec.functions[0].code.code_sha256_base64.as_str())
    );
    assert_eq!(
        publish.input["RevisionId"].as_str(),
        latest["RevisionId"].as_str()
    );
}

#[tokio::test]
async fn update_stuck_in_progress_past_the_deadline_fails_in_wait() {
    let h = harness_with(RetryPolicy {
        function_deadline: Duration::from_secs(2),
        ..policy()
    })
    .await;
    h.deploy_first().await;
    h.fake.set_knobs(Knobs {
        in_progress_polls: 10_000,
        ..Knobs::default()
    });
    let report = h.deploy(&h.spec("def hello(): return 2\n")).await;
    let failure = failure(&report);
    assert_eq!(failure.step, Step::Wait);
    assert!(failure.message.contains("still updating"), "{failure}");
    assert_eq!(h.fake.count("PublishVersion"), 0);
    assert_eq!(h.fake.alias_version(NAME, STAGE).as_deref(), Some("1"));
}

#[tokio::test]
async fn oversized_direct_upload_falls_back_to_the_deployment_bucket() {
    let h = harness().await;
    h.fake.set_knobs(Knobs {
        direct_upload_limit: Some(16),
        ..Knobs::default()
    });
    let spec = h.spec("def hello(): return 1\n");
    let report = h.deploy(&spec).await;
    assert_eq!(
        report.functions[0].outcome,
        FunctionOutcome::Created,
        "{report}"
    );
    let statuses: Vec<(&str, u16)> = h
        .fake
        .mutations()
        .into_iter()
        .filter(|(operation, _)| *operation != "PublishVersion" && *operation != "CreateAlias")
        .collect();
    assert_eq!(
        statuses,
        [
            ("CreateFunction", 413),
            ("PutObject", 200),
            ("CreateFunction", 200)
        ]
    );
    let key = object_key(SERVICE, STAGE, &spec.functions[0].code);
    assert!(h.fake.has_object(&format!("{BUCKET}/{key}")));
}

#[tokio::test]
async fn environment_change_updates_configuration_only() {
    let h = harness().await;
    h.deploy_first().await;
    let mut spec = h.spec("def hello(): return 1\n");
    spec.functions[0]
        .environment
        .insert("DB_PASSWORD".to_owned(), "hunter2".to_owned());
    let plan = h.provider.plan(&spec).await.unwrap();
    let FunctionAction::Update { code, config } = &plan.functions[0].action else {
        panic!("expected an update: {plan}");
    };
    assert!(code.is_none());
    assert_eq!(config.len(), 1);
    assert!(!plan.to_string().contains("hunter2"), "{plan}");
    let report = h.provider.apply(&plan, &NoopReporter).await.unwrap();
    assert_eq!(
        report.functions[0].outcome,
        FunctionOutcome::UpdatedConfiguration
    );
    assert_eq!(h.fake.count("UpdateFunctionCode"), 0);
    assert_eq!(h.fake.count("UpdateFunctionConfiguration"), 1);
    assert_eq!(h.fake.alias_version(NAME, STAGE).as_deref(), Some("2"));
}

/// A server on 127.0.0.1 that accepts connections and never answers: a stalled connection.
fn stalling_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    url
}

async fn stalled_plan(tweak: impl FnOnce(&mut AwsSettings)) -> strata_aws::AwsError {
    let mut settings = AwsSettings {
        region: Some(REGION.to_owned()),
        endpoint_url: Some(stalling_server()),
        static_credentials: Some(StaticCredentials {
            access_key_id: "AKIAFAKE".to_owned(),
            secret_access_key: "fake-secret".into(),
        }),
        deployment_bucket: Some(BUCKET.to_owned()),
        retry: RetryPolicy {
            max_attempts: 2,
            ..policy()
        },
        ..AwsSettings::default()
    };
    tweak(&mut settings);
    let provider = AwsProvider::new(settings).await.expect("provider");
    let dir = tempfile::tempdir().unwrap();
    let code = handler_artifact(dir.path(), "code.zip", "def hello(): return 1\n");
    let spec = spec(
        SERVICE,
        STAGE,
        vec![function(SERVICE, STAGE, "hello", code)],
        vec![],
        RoleSpec::Existing("arn:aws:iam::123456789012:role/fake".to_owned()),
    );
    // A guard against the hang this test is about, not a measurement: the bounds under test
    // are far below it.
    tokio::time::timeout(Duration::from_secs(120), provider.plan(&spec))
        .await
        .expect("a stalled connection must not hang the plan")
        .expect_err("nothing answers")
}

#[tokio::test]
async fn a_stalled_connection_fails_its_attempt_with_a_timeout_naming_the_call() {
    let error = stalled_plan(|settings| {
        settings.timeouts.attempt = Duration::from_millis(200);
    })
    .await;
    let strata_aws::AwsError::Call {
        resource,
        source,
        attempts,
        reason,
        ..
    } = &error
    else {
        panic!("expected a failed call, got {error:?}");
    };
    assert_eq!(resource, NAME);
    assert!(source.timed_out, "{source:?}");
    assert_eq!(source.operation, "GetFunction");
    assert_eq!(*attempts, 2);
    assert_eq!(*reason, strata_provider::GiveUp::AttemptsExhausted);
    assert_eq!(source.to_string(), "GetFunction timed out");
}

#[tokio::test]
async fn the_function_deadline_cuts_off_a_call_in_flight() {
    let error = stalled_plan(|settings| {
        settings.timeouts.attempt = Duration::from_secs(3600);
        settings.timeouts.operation = Duration::from_secs(3600);
        settings.retry.function_deadline = Duration::from_millis(300);
    })
    .await;
    let strata_aws::AwsError::Call {
        resource,
        source,
        reason,
        ..
    } = &error
    else {
        panic!("expected a failed call, got {error:?}");
    };
    assert_eq!(resource, NAME);
    assert_eq!(*reason, strata_provider::GiveUp::DeadlineExceeded);
    assert!(source.timed_out, "{source:?}");
    assert_eq!(source.operation, "GetFunction");
    assert!(
        error.to_string().contains(NAME) && error.to_string().contains("deadline"),
        "{error}"
    );
}

/// A provider on the fake whose zips all go through S3 (no direct upload), on a manual clock.
async fn uploading_provider(fake: &FakeLambda) -> AwsProvider {
    let settings = AwsSettings {
        direct_upload_limit: 0,
        retry: policy(),
        ..fake.settings(BUCKET)
    };
    AwsProvider::new(settings)
        .await
        .expect("provider for the fake")
        .with_clock(Arc::new(ManualClock::new(0.5)))
}

/// Flips one byte of the file: same size, other bytes.
fn corrupt_keeping_the_size(path: &std::path::Path) {
    let mut bytes = fs_err::read(path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs_err::write(path, bytes).unwrap();
}

#[tokio::test]
async fn a_zip_changed_after_the_build_is_refused_before_it_is_sent() {
    let h = harness().await;
    let spec = h.spec("def hello(): return 1\n");
    corrupt_keeping_the_size(&spec.functions[0].code.path);
    let report = h.deploy(&spec).await;
    let failure = failure(&report);
    assert_eq!(failure.step, Step::Upload);
    assert!(
        failure.message.contains("changed since it was built"),
        "{failure:?}"
    );
    assert_eq!(h.fake.count("CreateFunction"), 0);
    assert_eq!(h.fake.alias_version(NAME, STAGE), None);
}

#[tokio::test]
async fn a_zip_changed_after_the_build_is_refused_before_the_s3_upload() {
    let h = harness().await;
    let provider = uploading_provider(&h.fake).await;
    let spec = h.spec("def hello(): return 1\n");
    corrupt_keeping_the_size(&spec.functions[0].code.path);
    let plan = provider.plan(&spec).await.unwrap();
    let report = provider.apply(&plan, &NoopReporter).await.unwrap();
    assert!(
        failure(&report)
            .message
            .contains("changed since it was built"),
        "{report}"
    );
    assert_eq!(h.fake.count("PutObject"), 0);
    assert_eq!(h.fake.count("CreateFunction"), 0);
}

#[tokio::test]
async fn s3_calls_name_the_bucket_owner_and_other_bytes_under_the_key_are_replaced() {
    let h = harness().await;
    let provider = uploading_provider(&h.fake).await;
    let mut spec = h.spec("def hello(): return 1\n");
    let key = format!(
        "{BUCKET}/{}",
        object_key(SERVICE, STAGE, &spec.functions[0].code)
    );
    // Someone with write access to the predictable bucket got there first.
    h.fake.put_object(&key, b"other bytes under strata's key");

    let plan = provider.plan(&spec).await.unwrap();
    let report = provider.apply(&plan, &NoopReporter).await.unwrap();
    assert_eq!(report.functions[0].outcome, FunctionOutcome::Created);
    let zip = fs_err::read(&spec.functions[0].code.path).unwrap();
    assert_eq!(h.fake.object(&key), Some(zip));
    assert_eq!(h.fake.count("PutObject"), 1);
    let s3_calls: Vec<_> = h
        .fake
        .requests()
        .into_iter()
        .filter(|request| matches!(request.operation, "HeadBucket" | "HeadObject" | "PutObject"))
        .collect();
    assert_eq!(s3_calls.len(), 3, "{s3_calls:?}");
    for request in &s3_calls {
        assert_eq!(
            request
                .headers
                .get("x-amz-expected-bucket-owner")
                .map(String::as_str),
            Some(support::fake_lambda::ACCOUNT),
            "{request:?}"
        );
    }

    // The object now carries strata's checksum: a forced redeploy finds it and skips the
    // upload.
    spec.force = true;
    let plan = provider.plan(&spec).await.unwrap();
    let report = provider.apply(&plan, &NoopReporter).await.unwrap();
    assert!(report.is_success(), "{report}");
    assert_eq!(h.fake.count("UpdateFunctionCode"), 1);
    assert_eq!(h.fake.count("PutObject"), 1);
}

#[tokio::test]
async fn lambda_holding_other_code_than_was_sent_stops_before_the_alias() {
    let h = harness().await;
    h.fake.set_knobs(Knobs {
        misreport_code_sha256: true,
        ..Knobs::default()
    });
    let report = h.deploy(&h.spec("def hello(): return 1\n")).await;
    let failure = failure(&report);
    assert_eq!(failure.step, Step::CreateFunction);
    assert!(failure.message.contains("CodeSha256"), "{failure:?}");
    assert_eq!(h.fake.count("PublishVersion"), 0);
    assert_eq!(h.fake.alias_version(NAME, STAGE), None);
}

#[tokio::test]
async fn a_layer_published_with_other_code_is_refused_and_deleted() {
    let h = harness().await;
    h.fake.set_knobs(Knobs {
        misreport_code_sha256: true,
        ..Knobs::default()
    });
    let mut spec = h.spec("def hello(): return 1\n");
    let layer_zip = support::stored_zip(&[("python/dep.py", b"x = 1\n")]);
    let artifact = support::artifact(h.dir.path(), "deps.zip", &layer_zip);
    spec.layers = vec![support::layer(SERVICE, STAGE, "deps", artifact, "hash-a")];
    spec.functions[0].layers = vec![support::own_layer("deps")];
    let plan = h.provider.plan(&spec).await.unwrap();
    let error = h
        .provider
        .apply(&plan, &NoopReporter)
        .await
        .expect_err("the layer holds other bytes");
    assert!(
        matches!(error, strata_aws::AwsError::CodeMismatch { .. }),
        "{error:?}"
    );
    assert_eq!(h.fake.count("DeleteLayerVersion"), 1);
    assert_eq!(h.fake.layer_versions("svc-prod-deps"), 0);
    assert_eq!(h.fake.count("CreateFunction"), 0);
}

#[tokio::test]
async fn a_function_strata_did_not_create_is_refused_and_adopted_only_on_purpose() {
    let h = harness().await;
    let theirs = support::stored_zip(&[("theirs.py", b"def handler(e, c): return 0\n")]);
    let their_role = "arn:aws:iam::123456789012:role/theirs";
    h.fake
        .create_by_hand(NAME, &theirs, their_role, &[("team", "other")]);
    let before = h.fake.latest(NAME).unwrap();
    h.fake.clear_requests();

    let mut spec = h.spec("def hello(): return 1\n");
    let error = h.provider.plan(&spec).await.expect_err("not strata's");
    assert!(
        matches!(&error, strata_aws::AwsError::NotOwned { kind: "function", name, .. } if name == NAME),
        "{error:?}"
    );
    assert!(error.to_string().contains("team=other"), "{error}");
    assert!(!h.fake.requests().is_empty());
    assert!(h.fake.mutations().is_empty(), "{:?}", h.fake.mutations());
    let after = h.fake.latest(NAME).unwrap();
    assert_eq!(after["CodeSha256"], before["CodeSha256"]);
    assert_eq!(after["Role"], their_role);

    spec.adopt = true;
    let plan = h.provider.plan(&spec).await.unwrap();
    let FunctionAction::Adopt {
        owner_tags, code, ..
    } = &plan.functions[0].action
    else {
        panic!("expected adopt: {plan}");
    };
    assert_eq!(owner_tags.get("team").map(String::as_str), Some("other"));
    assert!(code.is_some());
    let report = h.provider.apply(&plan, &NoopReporter).await.unwrap();
    assert!(report.is_success(), "{report}");
    let tags = h.fake.tags(NAME);
    assert_eq!(
        tags.get("strata:service").map(String::as_str),
        Some(SERVICE)
    );
    assert_eq!(tags.get("strata:stage").map(String::as_str), Some(STAGE));
    assert_eq!(
        h.fake.latest(NAME).unwrap()["CodeSha256"],
        spec.functions[0].code.code_sha256_base64.as_str()
    );
    assert_eq!(h.fake.alias_version(NAME, STAGE).as_deref(), Some("1"));

    // Now strata's: an ordinary plan, no adopt needed.
    spec.adopt = false;
    let plan = h.provider.plan(&spec).await.unwrap();
    assert_eq!(plan.functions[0].action, FunctionAction::Unchanged);
}

fn invoke_request(payload: &str) -> strata_provider::InvokeRequest {
    strata_provider::InvokeRequest {
        deployed_name: NAME.to_owned(),
        logical_name: "hello".to_owned(),
        handler: "handler.hello".to_owned(),
        stage: STAGE.to_owned(),
        payload: payload.to_owned(),
        payload_given: true,
        method: None,
        route_params: std::collections::BTreeMap::new(),
        query: Vec::new(),
    }
}

#[tokio::test]
async fn invoke_calls_the_stage_alias_and_returns_the_answer_and_the_log_tail() {
    use strata_provider::Observer;
    let h = harness().await;
    h.deploy_first().await;
    let response = h
        .provider
        .invoke(&invoke_request(r#"{"name":"x"}"#))
        .await
        .expect("invoke");
    assert_eq!(response.status, Some(200));
    assert_eq!(response.function_error, None);
    let payload: serde_json::Value = serde_json::from_str(&response.payload).unwrap();
    assert_eq!(payload["echo"]["name"], "x");
    // The alias, not $LATEST: the release the stage serves answered.
    assert_eq!(response.release.as_deref(), Some("1"));
    let invoke = h
        .fake
        .requests()
        .into_iter()
        .find(|request| request.operation == "Invoke")
        .expect("an Invoke call");
    assert_eq!(
        invoke.headers.get("x-amz-log-type").map(String::as_str),
        Some("Tail")
    );
    let tail = response.log_tail.expect("the log tail");
    assert!(tail.starts_with("START RequestId:"), "{tail}");
    assert!(tail.contains("Version: 1"), "{tail}");
}

#[tokio::test]
async fn a_function_error_is_an_answer_with_its_kind_not_a_failed_call() {
    use strata_provider::Observer;
    let h = harness().await;
    h.deploy_first().await;
    let response = h
        .provider
        .invoke(&invoke_request(r#"{"raise":"no such order"}"#))
        .await
        .expect("a raised error is still an answer");
    assert_eq!(response.function_error.as_deref(), Some("Unhandled"));
    assert!(
        response.payload.contains("no such order"),
        "{}",
        response.payload
    );
    assert!(
        response
            .log_tail
            .unwrap_or_default()
            .contains("[ERROR] RuntimeError"),
        "the tail carries the error's log line"
    );
    // Not retried: one call.
    assert_eq!(h.fake.count("Invoke"), 1);
}

#[tokio::test]
async fn invoking_a_stage_that_was_never_deployed_names_the_function() {
    use strata_provider::Observer;
    let h = harness().await;
    let error = h
        .provider
        .invoke(&invoke_request("{}"))
        .await
        .expect_err("nothing deployed");
    let text = format!("{error}");
    assert!(text.contains(NAME), "{text}");
}
