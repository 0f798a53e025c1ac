//! The `resources:` stack's slow and failing paths, which moto does not model, against the
//! CloudFormation contract fake (`strata_tests::cloudformation_fake`), while Lambda, IAM and
//! S3 stay on moto: what strata did to the functions is checked from moto's side.

use serde_json::{Value, json};
use strata_provider::{ManualClock, StackAction, StackSpec};
use strata_tests::cloudformation_fake::{CloudFormationFake, Knobs};

use super::*;

struct Harness {
    fake: CloudFormationFake,
    provider: AwsProvider,
    project: Project,
}

impl Harness {
    async fn start() -> Self {
        let fake = CloudFormationFake::start();
        let url = fake.url().to_owned();
        let provider = provider(|settings| {
            settings.cloudformation_endpoint_url = Some(url);
            settings.retry.poll_interval = std::time::Duration::from_millis(50);
            settings.retry.max_poll_interval = std::time::Duration::from_millis(100);
        })
        .await
        // Polls and retry back-offs return at once: the fake advances per poll, not per second.
        .with_clock(Arc::new(ManualClock::new(0.5)));
        Self {
            fake,
            provider,
            project: Project::new(),
        }
    }

    fn stack(&self) -> String {
        format!("{}-{STAGE}-resources", self.project.service)
    }

    fn hello(&self) -> String {
        self.project.hello()
    }

    /// One function and a stack of `resources`.
    fn spec(&self, source: &str, resources: Value) -> DeploySpec {
        let service = self.project.service.as_str();
        let hello = function(
            service,
            STAGE,
            "hello",
            handler_artifact(
                self.project.dir.path(),
                &format!("hello-{}.zip", source.len()),
                source,
            ),
        );
        let mut spec = spec(
            service,
            STAGE,
            vec![hello],
            vec![],
            RoleSpec::Managed { statements: vec![] },
        );
        spec.aws_stack = Some(StackSpec {
            template: json!({ "Resources": resources }),
        });
        spec
    }

    fn queue(&self, visibility_timeout: i64) -> Value {
        json!({ "Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": format!("{}-jobs", self.project.service),
            "VisibilityTimeout": visibility_timeout,
        }})
    }

    fn topic(&self, display_name: &str) -> Value {
        json!({ "Type": "AWS::SNS::Topic", "Properties": {
            "TopicName": format!("{}-news", self.project.service),
            "DisplayName": display_name,
        }})
    }

    fn fail_on(&self, logical_id: &str, reason: &str) {
        self.fake.set_knobs(Knobs {
            fail_resource: Some((logical_id.to_owned(), reason.to_owned())),
            ..Knobs::default()
        });
    }

    /// The release the stage alias serves, read from moto.
    fn alias_version(&self) -> Option<String> {
        let (status, body) = moto_request(
            "GET",
            &format!("/2015-03-31/functions/{}/aliases/{STAGE}", self.hello()),
            Some((REGION, "lambda")),
            "application/json",
            "",
        );
        if status == 404 {
            return None;
        }
        assert!((200..300).contains(&status), "GetAlias: {status} {body}");
        let alias: Value = serde_json::from_str(&body).unwrap();
        alias["FunctionVersion"].as_str().map(str::to_owned)
    }

    /// The error of a deploy that must fail, with its causes, as one line.
    async fn failed_deploy(&self, spec: &DeploySpec) -> (strata_aws::AwsError, String) {
        let plan = self.provider.plan(spec).await.expect("plan");
        let error = self
            .provider
            .apply(&plan, &NoopReporter)
            .await
            .expect_err("the stack must fail the deploy");
        let text = chain(&error);
        (error, text)
    }
}

fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

const V1: &str = "def hello(event, context):\n    return 1\n";
const V2: &str = "def hello(event, context):\n    return 2\n";
const V3: &str = "def hello(event, context):\n    return 3\n";

#[tokio::test]
async fn a_failed_stack_update_names_the_resource_and_reason_and_moves_no_alias() {
    let h = Harness::start().await;
    let first = h.spec(V1, json!({ "Jobs": h.queue(30), "News": h.topic("a") }));
    deploy(&h.provider, &first).await;
    assert_eq!(
        h.fake.status(&h.stack()).as_deref(),
        Some("CREATE_COMPLETE")
    );
    assert_eq!(h.alias_version().as_deref(), Some("1"));

    // New code and a queue change CloudFormation cannot make: the update rolls back.
    let reason =
        "Resource handler returned message: \"Invalid value for the parameter VisibilityTimeout\"";
    h.fail_on("Jobs", reason);
    let broken = h.spec(V2, json!({ "Jobs": h.queue(99_999), "News": h.topic("a") }));
    let recorder = Recorder::start();
    let (error, text) = h.failed_deploy(&broken).await;
    assert!(
        matches!(&error, strata_aws::AwsError::StackFailed { status, .. } if status == "UPDATE_ROLLBACK_COMPLETE"),
        "{text}"
    );
    assert!(text.contains(&h.stack()), "{text}");
    assert!(text.contains("Jobs (AWS::SQS::Queue)"), "{text}");
    assert!(
        text.contains("Invalid value for the parameter VisibilityTimeout"),
        "{text}"
    );
    // Nothing of the function moved: moto saw no mutating call of this service, the alias
    // still serves version 1, and the stack is back on its old template.
    assert!(!recorder.requests(&h.project.service).is_empty());
    assert_eq!(
        mutating_calls(&recorder, &h.project.service),
        Vec::<String>::new()
    );
    assert_eq!(h.alias_version().as_deref(), Some("1"));
    assert_eq!(
        h.fake.template(&h.stack()).unwrap()["Resources"]["Jobs"]["Properties"]["VisibilityTimeout"],
        30
    );

    // A later update that fails on another resource names that one, not the earlier failure
    // that is still in the stack's events.
    h.fail_on(
        "News",
        "Resource handler returned message: \"DisplayName too long\"",
    );
    let (_, text) = h
        .failed_deploy(&h.spec(V2, json!({ "Jobs": h.queue(30), "News": h.topic("b") })))
        .await;
    assert!(text.contains("News (AWS::SNS::Topic)"), "{text}");
    assert!(text.contains("DisplayName too long"), "{text}");
    assert!(!text.contains("VisibilityTimeout"), "{text}");
    assert_eq!(h.alias_version().as_deref(), Some("1"));

    // Fixed, the same change deploys: the stack updates, then the function.
    let fixed = h.spec(V2, json!({ "Jobs": h.queue(60), "News": h.topic("a") }));
    let plan = h.provider.plan(&fixed).await.unwrap();
    let Some(StackAction::Update { resources }) = plan.stack.as_ref().map(|stack| &stack.action)
    else {
        panic!("{plan}");
    };
    assert_eq!(resources.len(), 1, "{plan}");
    assert_eq!(
        resources[0].properties[0].to_string(),
        "VisibilityTimeout: 30 -> 60"
    );
    let report = h.provider.apply(&plan, &NoopReporter).await.unwrap();
    assert!(report.is_success(), "{report}");
    assert_eq!(
        h.fake.status(&h.stack()).as_deref(),
        Some("UPDATE_COMPLETE")
    );
    assert_eq!(h.alias_version().as_deref(), Some("2"));
    // The report says what the deploy did to the stack.
    let stack = report.stack.as_ref().expect("the stack in the report");
    assert!(
        matches!(stack.action, StackAction::Update { .. }),
        "{report}"
    );
    assert!(
        report.to_string().contains("VisibilityTimeout: 30 -> 60"),
        "{report}"
    );
}

#[tokio::test]
async fn a_failed_first_create_is_reported_then_replaced_by_the_next_deploy() {
    let h = Harness::start().await;
    h.fail_on(
        "Jobs",
        "Resource handler returned message: \"Queue name is invalid\"",
    );
    let (error, text) = h
        .failed_deploy(&h.spec(V1, json!({ "Jobs": h.queue(30) })))
        .await;
    assert!(
        matches!(&error, strata_aws::AwsError::StackFailed { status, .. } if status == "ROLLBACK_COMPLETE"),
        "{text}"
    );
    assert!(
        text.contains("Jobs (AWS::SQS::Queue)") && text.contains("Queue name is invalid"),
        "{text}"
    );
    assert_eq!(
        h.fake.status(&h.stack()).as_deref(),
        Some("ROLLBACK_COMPLETE")
    );
    assert_eq!(
        h.alias_version(),
        None,
        "a function was deployed after the stack failed"
    );

    // The stack left behind can only be deleted: the next deploy plans that, and does it.
    let spec = h.spec(V1, json!({ "Jobs": h.queue(30) }));
    let plan = h.provider.plan(&spec).await.unwrap();
    assert!(
        matches!(&plan.stack.as_ref().unwrap().action, StackAction::Replace { status, .. } if status == "ROLLBACK_COMPLETE"),
        "{plan}"
    );
    assert!(plan.to_string().contains("deleted, then created"), "{plan}");
    h.fake.clear_requests();
    let report = h.provider.apply(&plan, &NoopReporter).await.unwrap();
    assert!(report.is_success(), "{report}");
    assert_eq!(
        h.fake.mutations(),
        ["DeleteStack", "CreateChangeSet", "ExecuteChangeSet"]
    );
    assert_eq!(
        h.fake.status(&h.stack()).as_deref(),
        Some("CREATE_COMPLETE")
    );
    assert_eq!(h.alias_version().as_deref(), Some("1"));
}

#[tokio::test]
async fn a_slow_throttled_stack_deploys_and_an_unchanged_one_makes_no_change_set() {
    let h = Harness::start().await;
    h.fake.set_knobs(Knobs {
        in_progress_polls: 3,
        change_set_polls: 2,
        throttles: 2,
        ..Knobs::default()
    });
    let spec = h.spec(V1, json!({ "Jobs": h.queue(30) }));
    deploy(&h.provider, &spec).await;
    // The first two calls were throttled and retried; the third is the answer (a stack that
    // does not exist yet is a 400 too).
    let requests = h.fake.requests();
    let first: Vec<(&str, u16)> = requests[..3]
        .iter()
        .map(|request| (request.action.as_str(), request.status))
        .collect();
    assert_eq!(
        first,
        [
            ("DescribeStacks", 400),
            ("DescribeStacks", 400),
            ("DescribeStacks", 400)
        ],
        "{requests:?}"
    );
    assert!(requests.len() > 10, "{requests:?}");
    assert_eq!(
        h.fake.status(&h.stack()).as_deref(),
        Some("CREATE_COMPLETE")
    );

    // Same template: the plan reads the stack (positive control) and no change set is made.
    h.fake.clear_requests();
    let plan = h.provider.plan(&spec).await.unwrap();
    assert_eq!(plan.stack.as_ref().unwrap().action, StackAction::Unchanged);
    let report = h.provider.apply(&plan, &NoopReporter).await.unwrap();
    assert!(report.is_success(), "{report}");
    assert!(!h.fake.requests().is_empty());
    assert_eq!(h.fake.mutations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_stack_whose_rollback_failed_is_refused_before_any_change() {
    let h = Harness::start().await;
    deploy(&h.provider, &h.spec(V1, json!({ "Jobs": h.queue(30) }))).await;

    // The update fails and so does its rollback: the deploy says so, with the resource.
    h.fake.set_knobs(Knobs {
        fail_resource: Some((
            "Jobs".to_owned(),
            "Resource handler returned message: \"Throttled\"".to_owned(),
        )),
        rollback_fails: true,
        ..Knobs::default()
    });
    let (error, text) = h
        .failed_deploy(&h.spec(V2, json!({ "Jobs": h.queue(45) })))
        .await;
    assert!(
        matches!(&error, strata_aws::AwsError::StackFailed { status, .. } if status == "UPDATE_ROLLBACK_FAILED"),
        "{text}"
    );
    assert_eq!(h.alias_version().as_deref(), Some("1"));

    // From then on the stack is refused, by plan, before any call that changes something.
    h.fake.clear_requests();
    let recorder = Recorder::start();
    let error = h
        .provider
        .plan(&h.spec(V3, json!({ "Jobs": h.queue(60) })))
        .await
        .expect_err("a stack in UPDATE_ROLLBACK_FAILED cannot take a change set");
    assert!(
        matches!(&error, strata_aws::AwsError::StackStuck { stack, status } if *stack == h.stack() && status == "UPDATE_ROLLBACK_FAILED"),
        "{error}"
    );
    assert!(error.to_string().contains("cannot be updated"), "{error}");
    assert_eq!(h.fake.mutations(), Vec::<String>::new());
    assert_eq!(
        mutating_calls(&recorder, &h.project.service),
        Vec::<String>::new()
    );

    // The same for a stack someone left there by hand.
    h.fake.set_status(&h.stack(), "DELETE_FAILED");
    let error = h
        .provider
        .plan(&h.spec(V3, json!({ "Jobs": h.queue(60) })))
        .await
        .expect_err("a stack in DELETE_FAILED cannot take a change set");
    assert!(error.to_string().contains("DELETE_FAILED"), "{error}");
}
