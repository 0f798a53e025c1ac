//! `resources:` as a CloudFormation stack and queue triggers as event source mappings on
//! the stage alias, against moto (CloudFormation, SQS, Lambda, IAM).

use serde_json::{Value, json};
use strata_provider::{
    MappingSource, MappingSpec, SourceRef, StackAction, StackSpec, TriggerAction, TriggerSpec,
};

use strata_tests::moto::moto_json_call;

use super::*;

fn queue_mapping(batch_size: i64) -> TriggerSpec {
    TriggerSpec::Mapping(MappingSpec::new(
        MappingSource::Queue,
        SourceRef::GetAtt {
            resource: "WorkerQueue".into(),
            attribute: "Arn".into(),
        },
        batch_size,
    ))
}

struct Worker {
    project: Project,
    queue: String,
}

impl Worker {
    fn new() -> Self {
        let project = Project::new();
        let queue = format!("{}-{STAGE}-worker-queue", project.service);
        Self { project, queue }
    }

    fn deployed_name(&self) -> String {
        format!("{}-{STAGE}-worker", self.project.service)
    }

    /// The seed's worker: one queue in `resources:`, the worker mapped to it, and an IAM
    /// statement that names the queue by `!GetAtt`.
    fn spec(&self, triggers: Vec<TriggerSpec>, queue_properties: Value) -> DeploySpec {
        let service = self.project.service.as_str();
        let mut worker = function(
            service,
            STAGE,
            "worker",
            handler_artifact(
                self.project.dir.path(),
                "worker.zip",
                "def worker_handler(event, context):\n    return None\n",
            ),
        );
        worker.handler = "handler.worker_handler".into();
        worker.triggers = triggers;
        let mut spec = spec(
            service,
            STAGE,
            vec![worker],
            vec![],
            RoleSpec::Managed {
                statements: vec![json!({
                    "Effect": "Allow",
                    "Action": ["sqs:SendMessage"],
                    "Resource": { "Fn::GetAtt": ["WorkerQueue", "Arn"] },
                })],
            },
        );
        let mut properties = json!({ "QueueName": self.queue });
        if let (Some(properties), Some(extra)) =
            (properties.as_object_mut(), queue_properties.as_object())
        {
            properties.extend(extra.clone());
        }
        spec.aws_stack = Some(StackSpec {
            template: json!({
                "Resources": {
                    "WorkerQueue": { "Type": "AWS::SQS::Queue", "Properties": properties }
                }
            }),
        });
        spec
    }

    fn queue_arn(&self) -> String {
        format!("arn:aws:sqs:{REGION}:123456789012:{}", self.queue)
    }

    fn alias_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{REGION}:123456789012:function:{}:{STAGE}",
            self.deployed_name()
        )
    }
}

/// The mappings Lambda lists for `function_name` (an alias ARN, or a plain name for
/// `$LATEST`).
pub(crate) fn mappings_of(function_name: &str) -> Vec<Value> {
    let query =
        percent_encoding::utf8_percent_encode(function_name, percent_encoding::NON_ALPHANUMERIC);
    let (status, body) = moto_request(
        "GET",
        &format!("/2015-03-31/event-source-mappings/?FunctionName={query}"),
        Some((REGION, "lambda")),
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

fn queue_exists(name: &str) -> bool {
    let (status, body) = moto_json_call(
        REGION,
        "sqs",
        "AmazonSQS.GetQueueUrl",
        &json!({ "QueueName": name }).to_string(),
    );
    assert!(
        status == 200 || status == 400,
        "GetQueueUrl: {status} {body}"
    );
    status == 200
}

pub(crate) async fn role_policy(service: &str) -> String {
    let config = hand_config().await;
    let iam = aws_sdk_iam::Client::new(&config);
    let policy = iam
        .get_role_policy()
        .role_name(managed_role_name(service, STAGE, REGION))
        .policy_name(strata_aws::POLICY_NAME)
        .send()
        .await
        .expect("GetRolePolicy");
    percent_encoding::percent_decode_str(policy.policy_document())
        .decode_utf8_lossy()
        .into_owned()
}

#[tokio::test]
async fn the_worker_queue_is_a_stack_and_its_mapping_follows_the_manifest_on_the_stage_alias() {
    let provider = provider(|_| {}).await;
    let worker = Worker::new();
    let service = worker.project.service.clone();

    // First deploy: the stack with the queue, the function, and the mapping on the alias.
    let first = worker.spec(vec![queue_mapping(10)], json!({}));
    let plan = provider.plan(&first).await.expect("plan");
    let stack = plan.stack.as_ref().expect("a stack plan");
    assert_eq!(stack.name, format!("{service}-{STAGE}-resources"));
    assert!(matches!(stack.action, StackAction::Create { .. }), "{plan}");
    assert!(
        matches!(plan.triggers[..], [ref t] if t.action == TriggerAction::Create),
        "{plan}"
    );
    let report = provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert!(report.is_success(), "{report}");
    assert!(queue_exists(&worker.queue), "the stack made no queue");
    let ours = mappings_of(&worker.alias_arn());
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(ours[0]["EventSourceArn"], worker.queue_arn());
    assert_eq!(ours[0]["BatchSize"], 10);
    // The role reads exactly that queue, and the user's `!GetAtt` became its ARN.
    let policy = role_policy(&service).await;
    assert!(policy.contains("sqs:ReceiveMessage"), "{policy}");
    assert!(policy.contains(&worker.queue_arn()), "{policy}");
    assert!(!policy.contains("Fn::GetAtt"), "{policy}");

    // A mapping made by hand on `$LATEST` is someone else's.
    let (status, body) = moto_request(
        "POST",
        "/2015-03-31/event-source-mappings/",
        Some((REGION, "lambda")),
        "application/json",
        &json!({ "FunctionName": worker.deployed_name(), "EventSourceArn": worker.queue_arn(), "BatchSize": 3 }).to_string(),
    );
    assert!(
        (200..300).contains(&status),
        "hand-made mapping: {status} {body}"
    );
    let by_hand: Value = serde_json::from_str(&body).unwrap();
    let by_hand = by_hand["UUID"].as_str().unwrap().to_owned();

    // An immediate second deploy changes nothing: no change set, no mapping call.
    let recorder = Recorder::start();
    let plan = provider.plan(&first).await.expect("plan");
    assert!(plan.is_noop(), "{plan}");
    let report = provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert!(report.is_success(), "{report}");
    recorder.assert_only_reads(&service);
    let uuid = ours[0]["UUID"].as_str().unwrap().to_owned();
    assert_eq!(recorder.mutations(&uuid), Vec::<String>::new());

    // One changed batchSize: exactly one UpdateEventSourceMapping, on that mapping.
    let recorder = Recorder::start();
    let smaller = worker.spec(vec![queue_mapping(5)], json!({}));
    let plan = provider.plan(&smaller).await.expect("plan");
    assert!(
        matches!(&plan.triggers[..], [t] if matches!(&t.action, TriggerAction::Update { changes } if changes.len() == 1 && changes[0].field == "batch_size")),
        "{plan}"
    );
    let report = provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert!(report.is_success(), "{report}");
    assert_eq!(
        recorder.mutations(&uuid),
        [format!("PUT /2015-03-31/event-source-mappings/{uuid}")]
    );
    assert_eq!(recorder.mutations(&service), Vec::<String>::new());
    assert_eq!(mappings_of(&worker.alias_arn())[0]["BatchSize"], 5);

    // The event leaves the manifest: strata's mapping goes, the hand-made one stays.
    let recorder = Recorder::start();
    let without = worker.spec(vec![], json!({}));
    let plan = provider.plan(&without).await.expect("plan");
    assert!(
        matches!(&plan.triggers[..], [t] if t.action == TriggerAction::Delete),
        "{plan}"
    );
    let report = provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert!(report.is_success(), "{report}");
    assert!(mappings_of(&worker.alias_arn()).is_empty());
    assert_eq!(
        recorder.mutations(&uuid),
        [format!("DELETE /2015-03-31/event-source-mappings/{uuid}")]
    );
    let theirs = mappings_of(&worker.deployed_name());
    assert!(
        theirs
            .iter()
            .any(|mapping| mapping["UUID"] == by_hand.as_str()),
        "the $LATEST mapping was touched: {theirs:?}"
    );

    // remove deletes strata's mapping and stack, and nothing else.
    deploy(&provider, &first).await;
    assert_eq!(mappings_of(&worker.alias_arn()).len(), 1);
    let info = provider.info(&service, STAGE).await.expect("info");
    assert_eq!(
        info.functions[0].trigger.as_deref(),
        Some(format!("sqs {} (batch 10)", worker.queue_arn()).as_str()),
        "{info:?}"
    );
    let plan = provider
        .plan_remove(&service, STAGE)
        .await
        .expect("plan_remove");
    let kinds: Vec<ResourceKind> = plan
        .resources
        .iter()
        .map(|resource| resource.kind)
        .collect();
    assert!(kinds.contains(&ResourceKind::Trigger), "{plan:?}");
    assert!(kinds.contains(&ResourceKind::Stack), "{plan:?}");
    provider.remove(&plan).await.expect("remove");
    assert!(mappings_of(&worker.alias_arn()).is_empty());
    assert!(
        !queue_exists(&worker.queue),
        "the stack's queue is still there"
    );
    let config = hand_config().await;
    let stacks = aws_sdk_cloudformation::Client::new(&config)
        .describe_stacks()
        .stack_name(format!("{service}-{STAGE}-resources"))
        .send()
        .await;
    let gone = match &stacks {
        Err(_) => true,
        Ok(output) => output.stacks().iter().all(|stack| {
            stack.stack_status().map(|status| status.as_str()) == Some("DELETE_COMPLETE")
        }),
    };
    assert!(gone, "{stacks:?}");
    // The hand-made mapping on `$LATEST` is not strata's to delete (moto keeps it even
    // though the function is gone).
    let (status, body) = moto_request(
        "GET",
        &format!("/2015-03-31/event-source-mappings/{by_hand}"),
        Some((REGION, "lambda")),
        "application/json",
        "",
    );
    assert_eq!(status, 200, "the hand-made mapping was deleted: {body}");
}

#[tokio::test]
async fn a_stack_cloudformation_refuses_fails_the_deploy_naming_the_reason_before_any_function() {
    let provider = provider(|_| {}).await;
    let worker = Worker::new();
    // moto refuses a FIFO queue whose name does not end in `.fifo`, as SQS does.
    let broken = worker.spec(vec![queue_mapping(10)], json!({ "FifoQueue": true }));
    let plan = provider.plan(&broken).await.expect("plan");
    let error = provider
        .apply(&plan, &NoopReporter)
        .await
        .expect_err("the stack must fail the deploy");
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert!(
        message.contains(&format!("{}-{STAGE}-resources", worker.project.service)),
        "{message}"
    );
    assert!(message.contains(".fifo"), "{message}");
    // Nothing of the functions was touched: no function, so no alias moved.
    let (status, _) = moto_request(
        "GET",
        &format!("/2015-03-31/functions/{}", worker.deployed_name()),
        Some((REGION, "lambda")),
        "application/json",
        "",
    );
    assert_eq!(status, 404, "a function was created after the stack failed");
}

#[tokio::test]
async fn a_stack_of_strata_s_name_without_its_tags_is_refused() {
    let provider = provider(|_| {}).await;
    let worker = Worker::new();
    let config = hand_config().await;
    let cloudformation = aws_sdk_cloudformation::Client::new(&config);
    cloudformation
        .create_stack()
        .stack_name(format!("{}-{STAGE}-resources", worker.project.service))
        .template_body(
            json!({ "Resources": { "Other": { "Type": "AWS::SQS::Queue", "Properties": { "QueueName": format!("{}-theirs", worker.project.service) } } } })
                .to_string(),
        )
        .send()
        .await
        .expect("CreateStack by hand");
    let error = provider
        .plan(&worker.spec(vec![], json!({})))
        .await
        .expect_err("a stack strata did not create must be refused");
    assert!(
        error.to_string().contains("CloudFormation stack"),
        "{error}"
    );
    assert!(error.to_string().contains("did not create"), "{error}");
}
