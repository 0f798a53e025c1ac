//! End-to-end tests against moto server (S3, IAM, STS, Lambda), started by
//! `scripts/emulators start`. A test fails — never skips — when moto is not reachable.
//!
//! Calls are counted from the emulator's side through moto's request recorder, filtered to
//! the test's own (unique) service name, since tests share one server.

#[path = "moto/api.rs"]
mod api;
#[path = "moto/events.rs"]
mod events;
#[path = "moto/notify.rs"]
mod notify;
#[path = "moto/stack_failures.rs"]
mod stack_failures;
#[path = "moto/streams.rs"]
mod streams;
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use strata_aws::{
    AwsProvider, AwsSettings, AwsVariables, StaticCredentials, VariableSource, VariableValue,
    managed_role_name,
};

use strata_provider::{
    BucketAction, BucketPlan, DeployReport, DeploySpec, FunctionAction, FunctionOutcome, Interrupt,
    LayerAction, NoopReporter, Provider, Reporter, ResourceKind, RoleSpec, RollbackRequest, Step,
};
use strata_tests::moto::{Recorder, moto_api, moto_request, moto_url};
use support::{function, handler_artifact, layer, own_layer, spec, stored_zip, unique};

const REGION: &str = "us-east-1";
const STAGE: &str = "prod";

/// Mutating calls since `recorder` started that mention `needle`, in order: the query
/// protocol's `Action` (IAM, STS), else `METHOD /path?query`.
fn mutating_calls(recorder: &Recorder, needle: &str) -> Vec<String> {
    recorder
        .requests(needle)
        .iter()
        .filter(|request| request.is_mutating())
        .map(|request| {
            match request
                .body
                .split('&')
                .find_map(|pair| pair.strip_prefix("Action="))
            {
                Some(action) => action.to_owned(),
                None => format!("{} {}", request.method, request.path()),
            }
        })
        .collect()
}

async fn provider(tweak: impl FnOnce(&mut AwsSettings)) -> AwsProvider {
    // Fails with the start-up hint when moto is down.
    moto_api("GET", "/moto-api/");
    let mut settings = AwsSettings {
        region: Some(REGION.to_owned()),
        endpoint_url: Some(moto_url()),
        static_credentials: Some(StaticCredentials {
            access_key_id: "testing".to_owned(),
            secret_access_key: "testing".into(),
        }),
        ..AwsSettings::default()
    };
    tweak(&mut settings);
    AwsProvider::new(settings).await.expect("provider for moto")
}

struct Project {
    service: String,
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        Self {
            service: unique("st"),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Two functions sharing a dependency layer; `hello`'s source, the layer's dependency
    /// hash and an environment variable vary per call.
    fn spec(&self, hello_source: &str, dependency_hash: &str, log_level: &str) -> DeploySpec {
        let service = self.service.as_str();
        let dir = self.dir.path();
        let mut hello = function(
            service,
            STAGE,
            "hello",
            handler_artifact(
                dir,
                &format!("hello-{}.zip", hello_source.len()),
                hello_source,
            ),
        );
        hello.layers = vec![own_layer("deps")];
        hello
            .environment
            .insert("LOG_LEVEL".to_owned(), log_level.to_owned());
        let mut world = function(
            service,
            STAGE,
            "world",
            handler_artifact(
                dir,
                "world.zip",
                "def world(event, context):\n    return 2\n",
            ),
        );
        world.layers = vec![own_layer("deps")];
        let layer_zip = stored_zip(&[("python/dep.py", dependency_hash.as_bytes())]);
        let deps = layer(
            service,
            STAGE,
            "deps",
            support::artifact(dir, &format!("deps-{dependency_hash}.zip"), &layer_zip),
            dependency_hash,
        );
        spec(
            service,
            STAGE,
            vec![hello, world],
            vec![deps],
            RoleSpec::Managed {
                statements: vec![serde_json::json!({
                    "Effect": "Allow",
                    "Action": ["s3:GetObject"],
                    "Resource": "arn:aws:s3:::example/*"
                })],
            },
        )
    }

    fn hello(&self) -> String {
        format!("{}-{STAGE}-hello", self.service)
    }
}

async fn deploy(provider: &AwsProvider, spec: &DeploySpec) -> DeployReport {
    let plan = provider.plan(spec).await.expect("plan");
    let report = provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert!(report.is_success(), "{report}");
    report
}

const V1: &str = "def hello(event, context):\n    return 1\n";
const V2: &str = "def hello(event, context):\n    return 2\n";

#[tokio::test]
async fn first_deploy_creates_everything_and_the_second_makes_no_mutating_call() {
    let provider = provider(|_| {}).await;
    let project = Project::new();
    let spec = project.spec(V1, "hash-a", "info");

    let report = deploy(&provider, &spec).await;
    assert_eq!(report.layers.len(), 1);
    assert!(report.layers[0].published);
    for function in &report.functions {
        assert_eq!(function.outcome, FunctionOutcome::Created, "{report}");
        assert_eq!(function.release.as_deref(), Some("1"));
        // What callers invoke: the stage alias, by its ARN.
        let id = function.id.as_deref().unwrap_or_default();
        assert!(
            id.starts_with("arn:aws:lambda:")
                && id.ends_with(&format!(":function:{}:{STAGE}", function.deployed_name)),
            "{id}"
        );
    }

    let info = provider.info(&project.service, STAGE).await.unwrap();
    assert_eq!(info.functions.len(), 2, "{info}");
    for function in &info.functions {
        assert_eq!(function.pointer.as_ref().unwrap().release, "1");
        assert_eq!(function.layers, [report.layers[0].id.clone()]);
    }

    let recorder = Recorder::start();
    let plan = provider.plan(&spec).await.unwrap();
    assert!(plan.is_noop(), "{plan}");
    let report = provider.apply(&plan, &NoopReporter).await.unwrap();
    assert!(
        report
            .functions
            .iter()
            .all(|function| function.outcome == FunctionOutcome::Unchanged),
        "{report}"
    );
    // Positive control: moto recorded this deploy's reads, so "no mutating call" is not vacuous.
    assert!(!recorder.requests(&project.service).is_empty());
    assert_eq!(
        mutating_calls(&recorder, &project.service),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn each_change_touches_only_what_changed() {
    let provider = provider(|_| {}).await;
    let project = Project::new();
    let hello = project.hello();
    deploy(&provider, &project.spec(V1, "hash-a", "info")).await;

    // Handler change: one function's code, one version.
    let recorder = Recorder::start();
    let report = deploy(&provider, &project.spec(V2, "hash-a", "info")).await;
    assert_eq!(report.functions[0].outcome, FunctionOutcome::UpdatedCode);
    assert_eq!(report.functions[0].release.as_deref(), Some("2"));
    assert_eq!(report.functions[1].outcome, FunctionOutcome::Unchanged);
    assert_eq!(
        mutating_calls(&recorder, &project.service),
        [
            format!("PUT /2015-03-31/functions/{hello}/code"),
            format!("POST /2015-03-31/functions/{hello}/versions"),
            format!("PUT /2015-03-31/functions/{hello}/aliases/{STAGE}"),
        ]
    );

    // Requirements change: one layer version; both functions move to it (configuration).
    let recorder = Recorder::start();
    let plan = provider
        .plan(&project.spec(V2, "hash-b", "info"))
        .await
        .unwrap();
    assert_eq!(plan.layers[0].action, LayerAction::Publish);
    let report = provider.apply(&plan, &NoopReporter).await.unwrap();
    assert!(report.is_success(), "{report}");
    assert_eq!(report.layers[0].version, 2);
    for function in &report.functions {
        assert_eq!(
            function.outcome,
            FunctionOutcome::UpdatedConfiguration,
            "{report}"
        );
    }
    let mutations = mutating_calls(&recorder, &project.service);
    let layer_publishes = mutations
        .iter()
        .filter(|call| call.contains("/layers/"))
        .count();
    assert_eq!(layer_publishes, 1, "{mutations:?}");
    assert!(
        !mutations.iter().any(|call| call.ends_with("/code")),
        "{mutations:?}"
    );

    // Environment change: configuration only, of one function.
    let recorder = Recorder::start();
    let plan = provider
        .plan(&project.spec(V2, "hash-b", "debug"))
        .await
        .unwrap();
    let FunctionAction::Update { code, config } = &plan.functions[0].action else {
        panic!("{plan}");
    };
    assert!(code.is_none());
    assert_eq!(config[0].field, "environment.LOG_LEVEL");
    assert_eq!(
        plan.layers[0].action,
        LayerAction::Reuse {
            version: 2,
            arn: report.layers[0].id.clone()
        }
    );
    let report = provider.apply(&plan, &NoopReporter).await.unwrap();
    assert_eq!(
        report.functions[0].outcome,
        FunctionOutcome::UpdatedConfiguration
    );
    assert_eq!(report.functions[1].outcome, FunctionOutcome::Unchanged);
    assert_eq!(
        mutating_calls(&recorder, &project.service),
        [
            format!("PUT /2015-03-31/functions/{hello}/configuration"),
            format!("POST /2015-03-31/functions/{hello}/versions"),
            format!("PUT /2015-03-31/functions/{hello}/aliases/{STAGE}"),
        ]
    );
}

#[tokio::test]
async fn rollback_moves_the_alias_back() {
    let provider = provider(|_| {}).await;
    let project = Project::new();
    let hello = project.hello();
    deploy(&provider, &project.spec(V1, "hash-a", "info")).await;
    deploy(&provider, &project.spec(V2, "hash-a", "info")).await;

    let report = provider
        .rollback(&RollbackRequest {
            service: project.service.clone(),
            stage: STAGE.to_owned(),
            functions: vec![hello.clone()],
            to: None,
        })
        .await
        .unwrap();
    assert_eq!(report.functions.len(), 1);
    assert_eq!(report.functions[0].from, "2");
    assert_eq!(report.functions[0].to, "1");
    let info = provider.info(&project.service, STAGE).await.unwrap();
    let hello_info = info
        .functions
        .iter()
        .find(|function| function.deployed_name == hello)
        .unwrap();
    assert_eq!(hello_info.pointer.as_ref().unwrap().release, "1");

    let report = provider
        .rollback(&RollbackRequest {
            service: project.service.clone(),
            stage: STAGE.to_owned(),
            functions: vec![hello.clone()],
            to: Some("2".to_owned()),
        })
        .await
        .unwrap();
    assert_eq!(
        (
            report.functions[0].from.as_str(),
            report.functions[0].to.as_str()
        ),
        ("1", "2")
    );
}

#[tokio::test]
async fn remove_deletes_exactly_what_strata_created() {
    // Everything through S3, so uploaded objects are part of what `remove` must delete.
    let provider = provider(|settings| settings.direct_upload_limit = 0).await;
    let project = Project::new();
    let spec = project.spec(V1, "hash-a", "info");

    deploy(&provider, &spec).await;

    // An unrelated function with a similar name, made by someone else, must survive.
    let bystander_name = format!("{}-{STAGE}-bystander", project.service);
    let role_arn = provider
        .plan(&spec)
        .await
        .unwrap()
        .role
        .unwrap()
        .id
        .unwrap();
    create_untagged_function(&bystander_name, &role_arn, &spec.functions[0].code.path).await;

    let plan = provider.plan_remove(&project.service, STAGE).await.unwrap();
    let count = |kind| {
        plan.resources
            .iter()
            .filter(|resource| resource.kind == kind)
            .count()
    };
    assert_eq!(count(ResourceKind::Function), 2, "{plan}");
    assert_eq!(count(ResourceKind::LayerVersion), 1, "{plan}");
    assert_eq!(count(ResourceKind::Object), 3, "{plan}");
    assert_eq!(count(ResourceKind::Role), 1, "{plan}");
    assert!(!plan.to_string().contains(&bystander_name), "{plan}");

    let report = provider.remove(&plan).await.unwrap();
    assert_eq!(report.removed.len(), plan.resources.len());
    let after = provider.plan_remove(&project.service, STAGE).await.unwrap();
    assert!(after.resources.is_empty(), "{after}");
    let info = provider.info(&project.service, STAGE).await.unwrap();
    assert!(info.functions.is_empty(), "{info}");

    // The bystander is still there.
    let clients = lambda_client().await;
    clients
        .get_function()
        .function_name(&bystander_name)
        .send()
        .await
        .expect("the unrelated function survives remove");
    let role = managed_role_name(&project.service, STAGE, REGION);
    assert!(!report.to_string().contains("bystander"));
    assert!(report.to_string().contains(&role));
}

async fn lambda_client() -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::new(&moto_config().await)
}

/// Creates a function directly through the SDK, without strata's tags.
async fn create_untagged_function(name: &str, role_arn: &str, zip: &std::path::Path) {
    let lambda = lambda_client().await;
    lambda
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(role_arn)
        .handler("handler.hello")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_smithy_types::Blob::new(fs_err::read(zip).unwrap()))
                .build(),
        )
        .send()
        .await
        .expect("create the unrelated function");
}

#[tokio::test]
async fn large_artifacts_go_through_s3_in_parts_and_are_uploaded_once() {
    // Every artifact counts as large: S3, multipart (one short final part is allowed).
    let provider = provider(|settings| {
        settings.direct_upload_limit = 0;
        settings.multipart_threshold = 0;
    })
    .await;
    let project = Project::new();
    let recorder = Recorder::start();
    deploy(&provider, &project.spec(V1, "hash-a", "info")).await;
    let uploads = mutating_calls(&recorder, &format!("strata/{}/", project.service));
    assert!(
        uploads.iter().any(|call| call.contains("?uploads")),
        "{uploads:?}"
    );
    assert!(
        uploads.iter().any(|call| call.contains("partNumber=1")),
        "{uploads:?}"
    );

    deploy(&provider, &project.spec(V2, "hash-a", "info")).await;
    // Back to the first code: its object is in the bucket already, so nothing is uploaded.
    let recorder = Recorder::start();
    let report = deploy(&provider, &project.spec(V1, "hash-a", "info")).await;
    assert_eq!(report.functions[0].outcome, FunctionOutcome::UpdatedCode);
    // The code update names the object (S3Key); only calls to S3 itself are uploads.
    let calls = mutating_calls(&recorder, &format!("strata/{}/", project.service));
    // Positive control: the recorder saw the code update that names the object.
    assert!(
        calls
            .iter()
            .any(|call| call.starts_with("PUT /2015-03-31/functions/")),
        "{calls:?}"
    );
    let uploads: Vec<&String> = calls
        .iter()
        .filter(|call| !call.contains(" /2015-03-31/functions/"))
        .collect();
    assert_eq!(uploads, Vec::<&String>::new());
}

/// The SDK configuration of moto, for setting up what the variables read.
async fn moto_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(moto_url())
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .load()
        .await
}

#[tokio::test]
async fn manifest_variables_are_read_from_ssm_cloudformation_s3_and_sts() {
    moto_api("GET", "/moto-api/");
    let config = moto_config().await;
    let name = unique("vars");
    let ssm = aws_sdk_ssm::Client::new(&config);
    for (suffix, value, kind) in [
        ("plain", "v1", aws_sdk_ssm::types::ParameterType::String),
        ("list", "a,b", aws_sdk_ssm::types::ParameterType::StringList),
        (
            "secure",
            "s3cr3t",
            aws_sdk_ssm::types::ParameterType::SecureString,
        ),
    ] {
        ssm.put_parameter()
            .name(format!("/{name}/{suffix}"))
            .value(value)
            .r#type(kind)
            .send()
            .await
            .expect("put parameter");
    }
    aws_sdk_cloudformation::Client::new(&config)
        .create_stack()
        .stack_name(&name)
        .template_body(
            r#"{"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": {"Url": {"Value": "https://queue.example"}}}"#,
        )
        .send()
        .await
        .expect("create stack");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = name.to_lowercase();
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    s3.put_object()
        .bucket(&bucket)
        .key("config.txt")
        .body(aws_smithy_types::byte_stream::ByteStream::from_static(
            b"hello",
        ))
        .send()
        .await
        .expect("object");

    let variables = AwsVariables::new(AwsSettings {
        endpoint_url: Some(moto_url()),
        static_credentials: Some(StaticCredentials {
            access_key_id: "testing".to_owned(),
            secret_access_key: "testing".into(),
        }),
        ..AwsSettings::default()
    });
    let fetch = |source: VariableSource| {
        let variables = &variables;
        async move {
            variables
                .fetch(&source, REGION, None)
                .await
                .expect("variable read")
        }
    };
    let parameter = |suffix: &str| VariableSource::Parameter {
        name: format!("/{name}/{suffix}"),
        decrypt: true,
    };
    assert!(matches!(fetch(parameter("plain")).await, Some(VariableValue::Plain(v)) if v == "v1"));
    assert!(matches!(fetch(parameter("list")).await, Some(VariableValue::List(v)) if v == "a,b"));
    assert!(
        matches!(fetch(parameter("secure")).await, Some(VariableValue::Secure(v)) if v.expose() == "s3cr3t")
    );
    assert!(fetch(parameter("missing")).await.is_none());
    let output = |stack: &str| VariableSource::StackOutput {
        stack: stack.to_owned(),
        output: "Url".to_owned(),
    };
    assert!(
        matches!(fetch(output(&name)).await, Some(VariableValue::Plain(v)) if v == "https://queue.example")
    );
    assert!(fetch(output("no-such-stack")).await.is_none());
    let object = |key: &str| VariableSource::Object {
        bucket: bucket.clone(),
        key: key.to_owned(),
    };
    assert!(
        matches!(fetch(object("config.txt")).await, Some(VariableValue::Plain(v)) if v == "hello")
    );
    assert!(fetch(object("missing.txt")).await.is_none());
    assert!(
        matches!(fetch(VariableSource::AccountId).await, Some(VariableValue::Plain(v)) if v == "123456789012")
    );

    // Each value is read once per run: a change in AWS is not seen again.
    ssm.put_parameter()
        .name(format!("/{name}/plain"))
        .value("v2")
        .overwrite(true)
        .send()
        .await
        .expect("overwrite parameter");
    assert!(matches!(fetch(parameter("plain")).await, Some(VariableValue::Plain(v)) if v == "v1"));
}

/// SDK clients as a user with the AWS CLI would have them, for resources made by hand.
/// SDK configuration for calls a test makes by hand, as another tool would.
async fn hand_config() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client)
        .region(aws_config::Region::new(REGION))
        .endpoint_url(moto_url())
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "hand",
        ))
        .load()
        .await
}

async fn hand_clients() -> (aws_sdk_iam::Client, aws_sdk_lambda::Client) {
    let config = hand_config().await;
    (
        aws_sdk_iam::Client::new(&config),
        aws_sdk_lambda::Client::new(&config),
    )
}

#[tokio::test]
async fn a_role_and_function_strata_did_not_create_are_refused_never_removed_and_adopted_on_purpose()
 {
    let provider = provider(|_| {}).await;
    let project = Project::new();
    let (iam, lambda) = hand_clients().await;
    let role_name = managed_role_name(&project.service, STAGE, REGION);
    let role = iam
        .create_role()
        .role_name(&role_name)
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let role_arn = role.role().unwrap().arn().to_owned();
    let theirs = stored_zip(&[("theirs.py", b"def handler(e, c):\n    return 0\n")]);
    let created = lambda
        .create_function()
        .function_name(project.hello())
        .runtime(aws_sdk_lambda::types::Runtime::Python311)
        .role(&role_arn)
        .handler("theirs.handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_smithy_types::Blob::new(theirs))
                .build(),
        )
        .tags("team", "other")
        .send()
        .await
        .unwrap();
    let their_sha = created.code_sha256().unwrap().to_owned();

    let mut spec = project.spec(V1, "hash-a", "info");
    let error = provider
        .plan(&spec)
        .await
        .expect_err("the role is not strata's");
    assert!(
        matches!(&error, strata_aws::AwsError::NotOwned { kind: "role", name, .. } if *name == role_name),
        "{error:?}"
    );
    // With a role of the user's own, the function is what is refused.
    let mut own_role = spec.clone();
    own_role.role = RoleSpec::Existing(role_arn.clone());
    let error = provider
        .plan(&own_role)
        .await
        .expect_err("the function is not strata's");
    assert!(
        matches!(&error, strata_aws::AwsError::NotOwned { kind: "function", name, tags } if *name == project.hello() && tags.get("team").map(String::as_str) == Some("other")),
        "{error:?}"
    );
    let untouched = lambda
        .get_function()
        .function_name(project.hello())
        .send()
        .await
        .unwrap();
    let configuration = untouched.configuration().unwrap();
    assert_eq!(configuration.code_sha256(), Some(their_sha.as_str()));
    assert_eq!(configuration.role(), Some(role_arn.as_str()));

    // remove never lists what strata does not own.
    let removal = provider.plan_remove(&project.service, STAGE).await.unwrap();
    assert!(
        removal
            .resources
            .iter()
            .all(|resource| resource.name != role_name && resource.name != project.hello()),
        "{removal:?}"
    );

    spec.adopt = true;
    let plan = provider.plan(&spec).await.unwrap();
    assert_eq!(
        plan.role.as_ref().map(|role| role.action),
        Some(strata_provider::RoleAction::Adopt)
    );
    let hello = plan
        .functions
        .iter()
        .find(|function| function.deployed_name == project.hello())
        .unwrap();
    assert!(
        matches!(hello.action, FunctionAction::Adopt { .. }),
        "{plan}"
    );
    let report = provider.apply(&plan, &NoopReporter).await.unwrap();
    assert!(report.is_success(), "{report}");
    let removal = provider.plan_remove(&project.service, STAGE).await.unwrap();
    for name in [&role_name, &project.hello()] {
        assert!(
            removal
                .resources
                .iter()
                .any(|resource| resource.name == *name),
            "{name} is strata's once adopted: {removal:?}"
        );
    }
}

/// Publishes a version of `layer` by hand, as someone without strata would, with
/// `description`; returns its version number.
async fn publish_layer_by_hand(
    lambda: &aws_sdk_lambda::Client,
    layer: &str,
    description: &str,
) -> i64 {
    let zip = stored_zip(&[("python/theirs.py", b"VALUE = 0\n")]);
    lambda
        .publish_layer_version()
        .layer_name(layer)
        .description(description)
        .content(
            aws_sdk_lambda::types::LayerVersionContentInput::builder()
                .zip_file(aws_smithy_types::Blob::new(zip))
                .build(),
        )
        .compatible_runtimes(aws_sdk_lambda::types::Runtime::Python312)
        .send()
        .await
        .unwrap()
        .version()
}

/// The versions of `layer` with their descriptions, oldest first.
async fn layer_versions(lambda: &aws_sdk_lambda::Client, layer: &str) -> Vec<(i64, String)> {
    let mut versions: Vec<(i64, String)> = lambda
        .list_layer_versions()
        .layer_name(layer)
        .send()
        .await
        .unwrap()
        .layer_versions()
        .iter()
        .map(|version| {
            (
                version.version(),
                version.description().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    versions.sort();
    versions
}

#[tokio::test]
async fn a_layer_strata_did_not_publish_is_refused_never_removed_and_adopted_on_purpose() {
    let provider = provider(|_| {}).await;
    let project = Project::new();
    let (_, lambda) = hand_clients().await;
    let mut spec = project.spec(V1, "hash-a", "info");
    let layer_name = spec.layers[0].deployed_name.clone();
    let theirs = "numpy for the data team";
    let their_version = publish_layer_by_hand(&lambda, &layer_name, theirs).await;

    let recorder = Recorder::start();
    let error = provider
        .plan(&spec)
        .await
        .expect_err("the layer is not strata's");
    assert!(
        matches!(&error, strata_aws::AwsError::LayerNotOwned { name, description } if *name == layer_name && description == theirs),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(&layer_name), "{message}");
    assert!(message.contains(theirs), "{message}");
    // Deploy plans first: the refusal happens before anything is created or published.
    recorder.assert_only_reads(&project.service);
    assert_eq!(
        layer_versions(&lambda, &layer_name).await,
        [(their_version, theirs.to_owned())]
    );

    // remove never lists a version strata did not publish.
    let removal = provider.plan_remove(&project.service, STAGE).await.unwrap();
    assert!(
        removal
            .resources
            .iter()
            .all(|resource| !resource.name.contains(&layer_name)),
        "{removal:?}"
    );

    // Adopted on purpose: strata's own version goes in beside theirs.
    spec.adopt = true;
    let plan = provider.plan(&spec).await.unwrap();
    assert_eq!(
        plan.layers[0].action,
        LayerAction::Adopt {
            owner_description: theirs.to_owned()
        },
        "{plan}"
    );
    assert!(
        plan.to_string().contains("adopt (not created by strata)"),
        "{plan}"
    );
    let report = provider.apply(&plan, &NoopReporter).await.unwrap();
    assert!(report.is_success(), "{report}");
    assert!(report.layers[0].published, "{report}");
    let versions = layer_versions(&lambda, &layer_name).await;
    assert_eq!(versions.len(), 2, "{versions:?}");
    assert_eq!(versions[0], (their_version, theirs.to_owned()));
    assert_eq!(versions[1].0, report.layers[0].version);

    // From then on the layer name is strata's: reused without --adopt.
    spec.adopt = false;
    let plan = provider.plan(&spec).await.unwrap();
    assert_eq!(
        plan.layers[0].action,
        LayerAction::Reuse {
            version: report.layers[0].version,
            arn: report.layers[0].id.clone()
        },
        "{plan}"
    );

    // remove deletes strata's version and leaves theirs.
    let removal = provider.plan_remove(&project.service, STAGE).await.unwrap();
    let layer_versions_removed: Vec<&str> = removal
        .resources
        .iter()
        .filter(|resource| resource.kind == ResourceKind::LayerVersion)
        .map(|resource| resource.name.as_str())
        .collect();
    assert_eq!(layer_versions_removed, [report.layers[0].id.as_str()]);
    provider.remove(&removal).await.unwrap();
    assert_eq!(
        layer_versions(&lambda, &layer_name).await,
        [(their_version, theirs.to_owned())]
    );
}

#[tokio::test]
async fn a_layer_version_with_the_same_dependency_hash_but_another_services_description_is_not_reused()
 {
    let provider = provider(|_| {}).await;
    let project = Project::new();
    let (_, lambda) = hand_clients().await;
    let first = deploy(&provider, &project.spec(V1, "hash-a", "info")).await;
    let layer_name = first.layers[0].deployed_name.clone();

    // Someone else's version in strata's layer name, recording the dependencies strata is
    // about to need, under another service's name.
    let other_service = unique("other");
    let foreign = format!("strata:deps=hash-b strata:service={other_service} strata:stage={STAGE}");
    let foreign_version = publish_layer_by_hand(&lambda, &layer_name, &foreign).await;

    let plan = provider
        .plan(&project.spec(V1, "hash-b", "info"))
        .await
        .unwrap();
    assert_eq!(plan.layers[0].action, LayerAction::Publish, "{plan}");
    let report = provider.apply(&plan, &NoopReporter).await.unwrap();
    assert!(report.is_success(), "{report}");
    assert!(report.layers[0].version > foreign_version, "{report}");
    let hello = lambda
        .get_function_configuration()
        .function_name(project.hello())
        .send()
        .await
        .unwrap();
    let attached: Vec<&str> = hello
        .layers()
        .iter()
        .filter_map(|layer| layer.arn())
        .collect();
    assert_eq!(attached, [report.layers[0].id.as_str()]);

    // remove takes strata's two versions and leaves the foreign one.
    let removal = provider.plan_remove(&project.service, STAGE).await.unwrap();
    provider.remove(&removal).await.unwrap();
    assert_eq!(
        layer_versions(&lambda, &layer_name).await,
        [(foreign_version, foreign)]
    );
}

/// The region of the default-bucket test: no other test uses it, so that test alone decides
/// the state of `strata-deployments-<account>-eu-west-3` (moto's account is fixed).
const BUCKET_REGION: &str = "eu-west-3";

fn default_bucket() -> String {
    format!("strata-deployments-123456789012-{BUCKET_REGION}")
}

async fn s3_client(region: &str) -> aws_sdk_s3::Client {
    let config = moto_config().await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .region(aws_config::Region::new(region.to_owned()))
            .force_path_style(true)
            .build(),
    )
}

/// Deletes `bucket` with its objects and unfinished uploads, when it exists, so a test starts
/// from the same state on every run against the same moto.
async fn delete_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    let objects = match s3.list_objects_v2().bucket(bucket).send().await {
        Ok(objects) => objects,
        Err(error) => {
            let code = aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&error);
            assert_eq!(code, Some("NoSuchBucket"), "{error:?}");
            return;
        }
    };
    for object in objects.contents() {
        s3.delete_object()
            .bucket(bucket)
            .key(object.key().unwrap())
            .send()
            .await
            .unwrap();
    }
    let uploads = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    for upload in uploads.uploads() {
        s3.abort_multipart_upload()
            .bucket(bucket)
            .key(upload.key().unwrap())
            .upload_id(upload.upload_id().unwrap())
            .send()
            .await
            .unwrap();
    }
    // moto keeps a deleted bucket's tags for the next bucket of that name; S3 does not.
    s3.delete_bucket_tagging()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    s3.delete_bucket().bucket(bucket).send().await.unwrap();
}

async fn create_bucket_by_hand(s3: &aws_sdk_s3::Client, bucket: &str, region: &str) {
    let configuration = (region != "us-east-1").then(|| {
        aws_sdk_s3::types::CreateBucketConfiguration::builder()
            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
            .build()
    });
    s3.create_bucket()
        .bucket(bucket)
        .set_create_bucket_configuration(configuration)
        .send()
        .await
        .expect("bucket made by hand");
}

async fn bucket_tags(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeMap<String, String> {
    match s3.get_bucket_tagging().bucket(bucket).send().await {
        Ok(tagging) => tagging
            .tag_set()
            .iter()
            .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
            .collect(),
        Err(error) => {
            let code = aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&error);
            assert_eq!(code, Some("NoSuchTagSet"), "{error:?}");
            BTreeMap::new()
        }
    }
}

async fn object_keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    s3.list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|object| object.key().map(str::to_owned))
        .collect()
}

async fn bucket_region_provider() -> AwsProvider {
    provider(|settings| {
        settings.region = Some(BUCKET_REGION.to_owned());
        // Every artifact goes through the deployment bucket.
        settings.direct_upload_limit = 0;
    })
    .await
}

/// One test for every default-bucket case, in order: they share the one bucket name.
#[tokio::test]
async fn the_default_bucket_is_used_only_when_strata_tagged_it_and_adopted_on_purpose() {
    let s3 = s3_client(BUCKET_REGION).await;
    let bucket = default_bucket();
    let managed = BTreeMap::from([(strata_aws::TAG_MANAGED.to_owned(), "true".to_owned())]);

    // A bucket under strata's name that someone else made, untagged: refused, untouched.
    delete_bucket(&s3, &bucket).await;
    create_bucket_by_hand(&s3, &bucket, BUCKET_REGION).await;
    let bucket_provider = bucket_region_provider().await;
    let project = Project::new();
    let mut spec = project.spec(V1, "hash-a", "info");
    let error = bucket_provider
        .plan(&spec)
        .await
        .expect_err("not strata's bucket");
    assert!(
        matches!(&error, strata_aws::AwsError::NotOwned { kind: "deployment bucket", name, tags } if *name == bucket && tags.is_empty()),
        "{error:?}"
    );
    assert!(error.to_string().contains(&bucket), "{error}");
    assert!(error.to_string().contains("tags: none"), "{error}");
    assert_eq!(bucket_tags(&s3, &bucket).await, BTreeMap::new());
    assert_eq!(object_keys(&s3, &bucket, "").await, Vec::<String>::new());

    // Tagged by its owner: refused at once, and the message names those tags.
    s3.put_bucket_tagging()
        .bucket(&bucket)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("team")
                        .value("other")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let error = bucket_provider
        .plan(&spec)
        .await
        .expect_err("not strata's bucket");
    assert!(error.to_string().contains("team=other"), "{error}");

    // Adopted on purpose: plan says so, the deploy uploads into it and tags it as strata's,
    // keeping its owner's tags.
    spec.adopt = true;
    let plan = bucket_provider.plan(&spec).await.unwrap();
    assert_eq!(
        plan.bucket,
        Some(BucketPlan {
            name: bucket.clone(),
            action: BucketAction::Adopt {
                owner_tags: BTreeMap::from([("team".to_owned(), "other".to_owned())]),
            },
        }),
        "{plan}"
    );
    assert!(
        plan.to_string()
            .contains(&format!("deployment bucket {bucket}: adopt")),
        "{plan}"
    );
    let report = bucket_provider.apply(&plan, &NoopReporter).await.unwrap();
    assert!(report.is_success(), "{report}");
    let mut adopted = managed.clone();
    adopted.insert("team".to_owned(), "other".to_owned());
    assert_eq!(bucket_tags(&s3, &bucket).await, adopted);
    // Positive control for "nothing written" above: the same deploy writes here once allowed.
    assert!(
        !object_keys(&s3, &bucket, &format!("strata/{}/", project.service))
            .await
            .is_empty()
    );
    // From now on it is strata's without --adopt.
    let plan = bucket_region_provider()
        .await
        .plan(&Project::new().spec(V1, "hash-a", "info"))
        .await
        .unwrap();
    assert_eq!(
        plan.bucket.map(|bucket| bucket.action),
        Some(BucketAction::Use)
    );

    // Two first deploys at once in one account: both create the bucket or find it being
    // created, and both succeed; the bucket ends tagged as strata's.
    delete_bucket(&s3, &bucket).await;
    let (first, second) = (Project::new(), Project::new());
    let (first_spec, second_spec) = (
        first.spec(V1, "hash-a", "info"),
        second.spec(V1, "hash-b", "info"),
    );
    let (first_provider, second_provider) = (
        bucket_region_provider().await,
        bucket_region_provider().await,
    );
    let plan = first_provider.plan(&first_spec).await.unwrap();
    assert_eq!(
        plan.bucket.as_ref().map(|bucket| &bucket.action),
        Some(&BucketAction::Create),
        "{plan}"
    );
    tokio::join!(
        deploy(&first_provider, &first_spec),
        deploy(&second_provider, &second_spec)
    );
    assert_eq!(bucket_tags(&s3, &bucket).await, managed);

    // The loser of that race can read the tags between the winner's CreateBucket and its
    // PutBucketTagging. Made deterministic here: the bucket exists untagged and is tagged a
    // moment after strata first looks; strata reads again and goes ahead.
    delete_bucket(&s3, &bucket).await;
    create_bucket_by_hand(&s3, &bucket, BUCKET_REGION).await;
    let tagged_late = Arc::new(AtomicBool::new(false));
    let relay = relay(
        None,
        Some(Watch {
            needle: b"NoSuchTagSet",
            action: Arc::new({
                let tagged_late = tagged_late.clone();
                let bucket = bucket.clone();
                move || {
                    // Once strata has its empty answer: what the winner's tagging does.
                    let (status, body) = moto_request(
                        "PUT",
                        &format!("/{bucket}?tagging"),
                        Some((BUCKET_REGION, "s3")),
                        "application/xml",
                        "<Tagging><TagSet><Tag><Key>strata:managed</Key><Value>true</Value></Tag></TagSet></Tagging>",
                    );
                    assert!(status < 300, "tagging by hand: {status} {body}");
                    tagged_late.store(true, Ordering::SeqCst);
                }
            }),
        }),
    );
    let late = Project::new();
    let late_provider = provider(|settings| {
        settings.region = Some(BUCKET_REGION.to_owned());
        settings.direct_upload_limit = 0;
        settings.endpoint_url = Some(relay);
    })
    .await;
    deploy(&late_provider, &late.spec(V1, "hash-a", "info")).await;
    // Positive control: strata did find the bucket untagged first.
    assert!(tagged_late.load(Ordering::SeqCst));
    assert_eq!(bucket_tags(&s3, &bucket).await, managed);
    assert!(
        !object_keys(&s3, &bucket, &format!("strata/{}/", late.service))
            .await
            .is_empty()
    );
}

/// Something to do when a relayed stream contains `needle` (after passing that chunk on).
#[derive(Clone)]
struct Watch {
    needle: &'static [u8],
    action: Arc<dyn Fn() + Send + Sync>,
}

/// Copies `from` to `to`, running the watch's action each time a chunk completes its needle.
fn pump(mut from: std::net::TcpStream, mut to: std::net::TcpStream, watch: Option<Watch>) {
    use std::io::{Read, Write};
    let mut window = Vec::new();
    let mut buffer = vec![0; 64 * 1024];
    while let Ok(read) = from.read(&mut buffer) {
        if read == 0 || to.write_all(&buffer[..read]).is_err() {
            break;
        }
        if let Some(watch) = &watch {
            window.extend_from_slice(&buffer[..read]);
            if window
                .windows(watch.needle.len())
                .any(|part| part == watch.needle)
            {
                window.clear();
                (watch.action)();
            }
            let keep_from = window.len().saturating_sub(watch.needle.len());
            window.drain(..keep_from);
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// A TCP relay in front of moto that watches what strata sends (`requests`) and what moto
/// answers (`answers`). Returns the relay's URL.
fn relay(requests: Option<Watch>, answers: Option<Watch>) -> String {
    use std::net::{TcpListener, TcpStream};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let upstream = moto_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let Ok(server) = TcpStream::connect(&upstream) else {
                break;
            };
            let (client_side, server_side) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let answers = answers.clone();
            std::thread::spawn(move || pump(server_side, client_side, answers));
            let requests = requests.clone();
            std::thread::spawn(move || pump(client, server, requests));
        }
    });
    format!("http://{address}")
}

/// Carries the interrupt into `apply`, as the CLI's reporter does.
struct Interrupting(Interrupt);

impl Reporter for Interrupting {
    fn interrupt(&self) -> Interrupt {
        self.0.clone()
    }
}

#[tokio::test]
async fn an_interrupt_after_the_first_part_aborts_the_multipart_upload_and_writes_no_object() {
    let service = unique("mp");
    let bucket = unique("strata-mp-").to_lowercase();
    let s3 = s3_client(REGION).await;
    // A bucket the user configures is theirs: used without strata's tag.
    create_bucket_by_hand(&s3, &bucket, REGION).await;
    let dir = tempfile::tempdir().unwrap();
    // Two parts: S3's smallest part (5 MiB) and a short last one; bytes that never spell
    // the relay's needle.
    let data: Vec<u8> = (0..5 * 1024 * 1024 + 100_000)
        .map(|index: u32| (index % 251) as u8)
        .collect();
    let zip = stored_zip(&[("data.bin", &data)]);
    let code = support::artifact(dir.path(), "big.zip", &zip);
    let key = strata_aws::object_key(&service, STAGE, &code);
    let spec = spec(
        &service,
        STAGE,
        vec![function(&service, STAGE, "big", code)],
        vec![],
        RoleSpec::Managed { statements: vec![] },
    );
    let settings = |settings: &mut AwsSettings| {
        settings.deployment_bucket = Some(bucket.clone());
        settings.direct_upload_limit = 0;
        settings.multipart_threshold = 0;
        settings.part_size = 0;
    };

    let interrupt = Interrupt::new();
    let relay = relay(
        Some(Watch {
            needle: b"partNumber=1",
            action: Arc::new({
                let interrupt = interrupt.clone();
                move || interrupt.trigger()
            }),
        }),
        None,
    );
    let relayed = provider(|s| {
        settings(s);
        s.endpoint_url = Some(relay);
    })
    .await;
    let recorder = Recorder::start();
    let plan = relayed.plan(&spec).await.unwrap();
    let report = relayed
        .apply(&plan, &Interrupting(interrupt.clone()))
        .await
        .unwrap();
    assert!(interrupt.is_triggered(), "the first part was never sent");
    assert_eq!(
        report.functions[0].outcome,
        FunctionOutcome::Interrupted {
            before: Some(Step::Upload)
        },
        "{report}"
    );
    // Positive control: the upload was started, and the relay saw the first part go out
    // (`interrupt.is_triggered()` above). Whether that part reached moto before the
    // interrupt cut it off is a race, so it is not asserted; that no second part followed is.
    let calls: Vec<String> = recorder
        .requests(&key)
        .iter()
        .map(|request| format!("{} {}", request.method, request.path()))
        .collect();
    assert!(
        calls
            .iter()
            .any(|call| call.starts_with("POST") && call.contains("?uploads")),
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|call| call.contains("partNumber=2")),
        "{calls:?}"
    );
    let uploads = s3
        .list_multipart_uploads()
        .bucket(&bucket)
        .prefix(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.uploads(), [], "an upload was left behind");
    assert_eq!(object_keys(&s3, &bucket, &key).await, Vec::<String>::new());

    // Without the interrupt the same upload completes: the checks above looked at the key
    // the object is written under.
    let report = deploy(&provider(settings).await, &spec).await;
    assert_eq!(report.functions[0].outcome, FunctionOutcome::Created);
    assert_eq!(object_keys(&s3, &bucket, &key).await, [key]);
}

/// The AWS backend against moto, for the shared provider conformance suite.
struct MotoHarness {
    provider: AwsProvider,
    service: String,
    dir: tempfile::TempDir,
    recorder: Recorder,
}

impl strata_tests::conformance::Harness for MotoHarness {
    type Provider = AwsProvider;

    fn provider(&self) -> &AwsProvider {
        &self.provider
    }

    fn service(&self) -> &str {
        &self.service
    }

    fn stage(&self) -> &str {
        STAGE
    }

    fn artifact(&self, function: &str, version: u32) -> strata_provider::ArtifactRef {
        handler_artifact(
            self.dir.path(),
            &format!("{function}-{version}.zip"),
            &format!("def {function}(event, context):\n    return {version}\n"),
        )
    }

    fn role(&self) -> RoleSpec {
        RoleSpec::Managed { statements: vec![] }
    }

    /// A layer version that does not exist: Lambda takes the new code, then refuses the
    /// configuration, so the deploy stops before a version is published.
    fn fail_midway(&self, spec: &mut DeploySpec, function: &str) {
        let function = spec
            .functions
            .iter_mut()
            .find(|candidate| candidate.logical_name == function)
            .expect("the function is in the spec");
        function
            .layers
            .push(strata_provider::LayerRef::External(format!(
                "arn:aws:lambda:{REGION}:123456789012:layer:does-not-exist:7"
            )));
    }

    fn mutations(&self) -> Vec<String> {
        mutating_calls(&self.recorder, &self.service)
    }

    async fn live_release(&self, deployed_name: &str) -> Option<String> {
        let (status, body) = moto_request(
            "GET",
            &format!("/2015-03-31/functions/{deployed_name}/aliases/{STAGE}"),
            Some((REGION, "lambda")),
            "application/json",
            "",
        );
        if status == 404 {
            return None;
        }
        assert!((200..300).contains(&status), "GetAlias: {status} {body}");
        let alias: serde_json::Value = serde_json::from_str(&body).unwrap();
        alias["FunctionVersion"].as_str().map(str::to_owned)
    }

    async fn create_by_hand(&self) -> String {
        let name = format!("{}-{STAGE}-by-hand", self.service);
        let role = format!(
            "arn:aws:iam::123456789012:role/{}",
            managed_role_name(&self.service, STAGE, REGION)
        );
        let code = self.artifact("by_hand", 1);
        create_untagged_function(&name, &role, &code.path).await;
        name
    }

    async fn exists(&self, deployed_name: &str) -> bool {
        let (status, body) = moto_request(
            "GET",
            &format!("/2015-03-31/functions/{deployed_name}"),
            Some((REGION, "lambda")),
            "application/json",
            "",
        );
        assert!(
            (200..300).contains(&status) || status == 404,
            "GetFunction: {status} {body}"
        );
        status != 404
    }
}

#[tokio::test]
async fn the_aws_backend_keeps_the_provider_contract() {
    let harness = MotoHarness {
        provider: provider(|_| {}).await,
        service: unique("conf"),
        dir: tempfile::tempdir().unwrap(),
        recorder: Recorder::start(),
    };
    strata_tests::conformance::run(&harness).await;
}

/// Writes `events` (milliseconds, message) into the function's log group, as Lambda would.
fn put_log_events(function: &str, stream: &str, events: &[(i64, &str)]) {
    strata_tests::moto::put_log_events(REGION, &strata_aws::log_group(function), stream, events);
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn log_query(function: &str, since_ms: i64, filter: Option<&str>) -> strata_provider::LogQuery {
    strata_provider::LogQuery {
        deployed_name: function.to_owned(),
        logical_name: "hello".to_owned(),
        handler: "handler.hello".to_owned(),
        stage: STAGE.to_owned(),
        since_ms,
        filter: filter.map(str::to_owned),
        limit: 100,
    }
}

#[tokio::test]
async fn logs_come_oldest_first_from_the_functions_group_and_since_and_filter_select() {
    use strata_provider::Observer;
    let provider = provider(|_| {}).await;
    let function = unique("logs-");
    let now = now_ms();
    // Written out of order over two streams, as two instances of the function would.
    put_log_events(
        &function,
        "2026/12/02/[1]aaaa",
        &[
            (now - 50_000, "START RequestId: 1 Version: 1"),
            (now - 20_000, "[ERROR]\tboom in order 42"),
        ],
    );
    put_log_events(
        &function,
        "2026/12/02/[1]bbbb",
        &[
            (now - 30_000, "[INFO]\tcreated order 42"),
            (now - 600_000, "too old"),
        ],
    );

    let events = provider
        .logs(&log_query(&function, now - 60_000, None))
        .await
        .expect("logs");
    let messages: Vec<&str> = events.iter().map(|event| event.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "START RequestId: 1 Version: 1",
            "[INFO]\tcreated order 42",
            "[ERROR]\tboom in order 42"
        ],
        "oldest first, nothing before --since"
    );
    assert_eq!(events[2].level.as_deref(), Some("ERROR"));
    assert!(
        events
            .iter()
            .all(|event| event.cloud == "aws" && event.function == "hello")
    );

    let filtered = provider
        .logs(&log_query(&function, now - 60_000, Some("order 42")))
        .await
        .unwrap();
    assert_eq!(filtered.len(), 2, "{filtered:?}");
    assert!(
        filtered
            .iter()
            .all(|event| event.message.contains("order 42"))
    );

    // A function that never ran has no group yet: no lines, not an error.
    let none = provider
        .logs(&log_query(&unique("never-"), now - 60_000, None))
        .await
        .expect("a missing group is no lines");
    assert!(none.is_empty());
}
