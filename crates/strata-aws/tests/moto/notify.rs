//! `s3`, `schedule` and `sns` triggers against moto (S3, EventBridge, SNS, Lambda): each
//! targets the stage alias with its permission, a second deploy makes no mutating call, a
//! changed event touches only that trigger, and remove leaves nothing of strata's behind
//! while other people's entries, rules and subscriptions stay.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use strata_provider::{
    BucketSpec, ScheduleSpec, SourceRef, TopicRef, TopicSpec, TriggerAction, TriggerPlan,
    TriggerSpec,
};

use super::*;

const ACCOUNT: &str = "123456789012";

/// One function of a fresh service with `triggers`.
struct Notified {
    project: Project,
    logical: &'static str,
}

impl Notified {
    fn new(logical: &'static str) -> Self {
        Self {
            project: Project::new(),
            logical,
        }
    }

    fn service(&self) -> &str {
        &self.project.service
    }

    fn deployed_name(&self) -> String {
        format!("{}-{STAGE}-{}", self.project.service, self.logical)
    }

    fn alias_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}:{STAGE}",
            self.deployed_name()
        )
    }

    fn spec(&self, triggers: Vec<TriggerSpec>) -> DeploySpec {
        let service = self.project.service.as_str();
        let mut function = function(
            service,
            STAGE,
            self.logical,
            handler_artifact(
                self.project.dir.path(),
                &format!("{}.zip", self.logical),
                &format!("def {}(event, context):\n    return None\n", self.logical),
            ),
        );
        function.triggers = triggers;
        spec(
            service,
            STAGE,
            vec![function],
            vec![],
            RoleSpec::Managed { statements: vec![] },
        )
    }

    /// The alias's resource policy statements, by id (none when it has no policy).
    async fn statements(&self) -> BTreeMap<String, Value> {
        let lambda = hand_clients().await.1;
        let Ok(policy) = lambda
            .get_policy()
            .function_name(self.deployed_name())
            .qualifier(STAGE)
            .send()
            .await
        else {
            return BTreeMap::new();
        };
        let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
        policy["Statement"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|statement| (statement["Sid"].as_str().unwrap().to_owned(), statement))
            .collect()
    }

    async fn statements_of(&self, principal: &str) -> Vec<Value> {
        self.statements()
            .await
            .into_values()
            .filter(|statement| statement.to_string().contains(principal))
            .collect()
    }
}

fn bucket_trigger(bucket: &str, prefix: Option<&str>, existing: bool) -> TriggerSpec {
    TriggerSpec::Bucket(BucketSpec {
        bucket: bucket.to_owned(),
        events: vec!["s3:ObjectCreated:*".to_owned()],
        prefix: prefix.map(str::to_owned),
        suffix: None,
        existing,
    })
}

fn only_action(plan: &[TriggerPlan], kind: &str) -> Vec<TriggerAction> {
    plan.iter()
        .filter(|trigger| trigger.kind == kind)
        .map(|trigger| trigger.action.clone())
        .collect()
}

async fn notification(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, String, Vec<String>)> {
    let configuration = s3
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
        .expect("GetBucketNotificationConfiguration");
    let mut entries: Vec<(String, String, Vec<String>)> = configuration
        .lambda_function_configurations()
        .iter()
        .map(|entry| {
            let rules = entry
                .filter()
                .and_then(|filter| filter.key())
                .map(|key| {
                    key.filter_rules()
                        .iter()
                        .map(|rule| {
                            format!(
                                "{}={}",
                                rule.name().unwrap().as_str().to_lowercase(),
                                rule.value().unwrap()
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            (
                entry.id().unwrap_or_default().to_owned(),
                entry.lambda_function_arn().to_owned(),
                rules,
            )
        })
        .collect();
    entries.extend(configuration.queue_configurations().iter().map(|entry| {
        (
            entry.id().unwrap_or_default().to_owned(),
            entry.queue_arn().to_owned(),
            Vec::new(),
        )
    }));
    entries.sort();
    entries
}

async fn bucket_exists(s3: &aws_sdk_s3::Client, bucket: &str) -> bool {
    s3.head_bucket().bucket(bucket).send().await.is_ok()
}

/// The first seed's `processS3`: `s3: {bucket: my-bucket, event: s3:ObjectCreated:*}`, with
/// the bucket's name made unique (the binary's seed test deploys `my-bucket` itself, on the
/// same moto).
#[tokio::test]
async fn the_seed_s_bucket_is_created_notifies_the_alias_and_is_removed_when_empty() {
    let provider = provider(|_| {}).await;
    let process = Notified::new("processS3");
    let service = process.service().to_owned();
    let s3 = s3_client(REGION).await;
    let bucket = format!("{}-my-bucket", service.to_lowercase());
    let bucket = bucket.as_str();

    let first = process.spec(vec![bucket_trigger(bucket, None, false)]);
    let plan = provider.plan(&first).await.expect("plan");
    assert_eq!(
        only_action(&plan.triggers, "s3"),
        [TriggerAction::Create],
        "{plan}"
    );
    assert!(!bucket_exists(&s3, bucket).await, "plan created the bucket");
    let report = provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert!(report.is_success(), "{report}");

    // The bucket is strata's, its one entry invokes the alias, and S3 may invoke it.
    let tags = bucket_tags(&s3, bucket).await;
    assert_eq!(
        tags.get("strata:service").map(String::as_str),
        Some(service.as_str())
    );
    let entries = notification(&s3, bucket).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].1, process.alias_arn());
    assert!(entries[0].0.starts_with("strata-"), "{entries:?}");
    let allowed = process.statements_of("s3.amazonaws.com").await;
    assert_eq!(allowed.len(), 1, "{allowed:?}");
    assert!(
        allowed[0]
            .to_string()
            .contains(&format!("arn:aws:s3:::{bucket}")),
        "{allowed:?}"
    );

    // A second deploy reads and changes nothing.
    let recorder = Recorder::start();
    let plan = provider.plan(&first).await.expect("plan");
    assert!(plan.is_noop(), "{plan}");
    let report = provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert!(report.is_success(), "{report}");
    recorder.assert_only_reads(&service);
    assert_eq!(recorder.mutations(bucket), Vec::<String>::new());

    // A prefix rule: one update on the plan, one configuration write on the bucket.
    let recorder = Recorder::start();
    let filtered = process.spec(vec![bucket_trigger(bucket, Some("uploads/"), false)]);
    let plan = provider.plan(&filtered).await.expect("plan");
    assert!(
        matches!(&only_action(&plan.triggers, "s3")[..], [TriggerAction::Update { changes }] if changes.iter().any(|change| change.field == "prefix")),
        "{plan}"
    );
    provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert_eq!(
        recorder.mutations(bucket),
        ["PutBucketNotificationConfiguration"]
    );
    let entries = notification(&s3, bucket).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].2, ["prefix=uploads/"]);

    let info = provider.info(&service, STAGE).await.expect("info");
    let trigger = info.functions[0].trigger.clone().unwrap_or_default();
    assert!(
        trigger.contains(&format!(
            "s3 {bucket}: s3:ObjectCreated:* (prefix uploads/)"
        )),
        "{trigger}"
    );

    // remove: strata's entry and, as it is empty, the bucket strata created.
    let plan = provider
        .plan_remove(&service, STAGE)
        .await
        .expect("plan_remove");
    let names: Vec<&str> = plan.resources.iter().map(|r| r.name.as_str()).collect();
    assert!(
        names
            .iter()
            .any(|name| name.starts_with("s3 notification ")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|name| name.starts_with(&format!("s3 bucket {bucket}"))),
        "{names:?}"
    );
    provider.remove(&plan).await.expect("remove");
    assert!(
        !bucket_exists(&s3, bucket).await,
        "the bucket strata created is still there"
    );
}

#[tokio::test]
async fn an_existing_bucket_keeps_other_entries_through_deploy_change_and_remove() {
    let provider = provider(|_| {}).await;
    let thumbs = Notified::new("thumbs");
    let service = thumbs.service().to_owned();
    let s3 = s3_client(REGION).await;
    let bucket = format!("{}-photos", service.to_lowercase());

    // `existing: true` and no bucket: a clear error before anything is written.
    let missing = thumbs.spec(vec![bucket_trigger(&bucket, None, true)]);
    let error = provider.plan(&missing).await.expect_err("no bucket");
    assert!(error.to_string().contains(&bucket), "{error}");
    assert!(error.to_string().contains("existing: true"), "{error}");

    // Someone else's bucket with someone else's queue entry.
    create_bucket_by_hand(&s3, &bucket, REGION).await;
    let theirs = aws_sdk_s3::types::QueueConfiguration::builder()
        .id("their-queue")
        .queue_arn(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:their-queue"))
        .events(aws_sdk_s3::types::Event::S3ObjectRemoved)
        .build()
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .queue_configurations(theirs)
                .build(),
        )
        .send()
        .await
        .expect("their entry");

    let two = thumbs.spec(vec![
        bucket_trigger(&bucket, Some("a/"), true),
        bucket_trigger(&bucket, Some("b/"), true),
    ]);
    deploy(&provider, &two).await;
    let entries = notification(&s3, &bucket).await;
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(entries.iter().any(|entry| entry.0 == "their-queue"));
    assert!(
        bucket_tags(&s3, &bucket).await.is_empty(),
        "strata tagged their bucket"
    );

    // One event leaves the manifest: only its entry goes.
    let one = thumbs.spec(vec![bucket_trigger(&bucket, Some("a/"), true)]);
    let plan = provider.plan(&one).await.expect("plan");
    let actions = only_action(&plan.triggers, "s3");
    assert!(actions.contains(&TriggerAction::Unchanged), "{plan}");
    assert!(actions.contains(&TriggerAction::Delete), "{plan}");
    provider.apply(&plan, &NoopReporter).await.expect("apply");
    let entries = notification(&s3, &bucket).await;
    let ours: Vec<&Vec<String>> = entries
        .iter()
        .filter(|entry| entry.1 == thumbs.alias_arn())
        .map(|entry| &entry.2)
        .collect();
    assert_eq!(ours, [&vec!["prefix=a/".to_owned()]], "{entries:?}");
    assert!(entries.iter().any(|entry| entry.0 == "their-queue"));

    // remove: strata's entry and permission go; their bucket and entry stay.
    let plan = provider
        .plan_remove(&service, STAGE)
        .await
        .expect("plan_remove");
    assert!(
        !plan
            .resources
            .iter()
            .any(|resource| resource.name.starts_with("s3 bucket")),
        "{plan:?}"
    );
    provider.remove(&plan).await.expect("remove");
    assert!(bucket_exists(&s3, &bucket).await);
    let entries = notification(&s3, &bucket).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].0, "their-queue");
    delete_bucket(&s3, &bucket).await;
}

fn schedule_trigger(expressions: &[&str], input: Option<Value>) -> TriggerSpec {
    TriggerSpec::Schedule(ScheduleSpec {
        expressions: expressions.iter().map(|e| (*e).to_owned()).collect(),
        enabled: true,
        name: None,
        description: None,
        input: input.map(|input| input.to_string()),
        input_path: None,
    })
}

async fn events_client() -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(&hand_config().await)
}

/// `(rule name, expression, state)` of the rules that target `arn`.
async fn rules_on(arn: &str) -> Vec<(String, String, String)> {
    let events = events_client().await;
    let names = events
        .list_rule_names_by_target()
        .target_arn(arn)
        .send()
        .await
        .expect("ListRuleNamesByTarget");
    let mut rules = Vec::new();
    for name in names.rule_names() {
        let rule = events.describe_rule().name(name).send().await.unwrap();
        rules.push((
            name.clone(),
            rule.schedule_expression().unwrap_or_default().to_owned(),
            rule.state().unwrap().as_str().to_owned(),
        ));
    }
    rules.sort();
    rules
}

#[tokio::test]
async fn schedules_are_rules_on_the_alias_updated_in_place_and_removed_with_their_targets() {
    let provider = provider(|_| {}).await;
    let cron = Notified::new("cron");
    let service = cron.service().to_owned();
    let events = events_client().await;

    let first = cron.spec(vec![schedule_trigger(
        &["rate(5 minutes)", "cron(0 12 * * ? *)"],
        Some(json!({ "source": "timer" })),
    )]);
    let plan = provider.plan(&first).await.expect("plan");
    assert_eq!(
        only_action(&plan.triggers, "schedule"),
        [TriggerAction::Create, TriggerAction::Create],
        "{plan}"
    );
    deploy(&provider, &first).await;
    let name = |n: u32| format!("{}-schedule-{n}", cron.deployed_name());
    assert_eq!(
        rules_on(&cron.alias_arn()).await,
        [
            (name(1), "rate(5 minutes)".into(), "ENABLED".into()),
            (name(2), "cron(0 12 * * ? *)".into(), "ENABLED".into()),
        ]
    );
    let targets = events
        .list_targets_by_rule()
        .rule(name(1))
        .send()
        .await
        .unwrap();
    assert_eq!(targets.targets().len(), 1);
    assert_eq!(targets.targets()[0].arn(), cron.alias_arn());
    assert_eq!(
        serde_json::from_str::<Value>(targets.targets()[0].input().unwrap()).unwrap(),
        json!({ "source": "timer" })
    );
    let rule_arn = format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/{}", name(1));
    let tags = events
        .list_tags_for_resource()
        .resource_arn(&rule_arn)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|tag| tag.key() == "strata:service" && tag.value() == service),
        "{tags:?}"
    );
    let allowed = cron.statements_of("events.amazonaws.com").await;
    assert_eq!(allowed.len(), 2, "{allowed:?}");
    assert!(allowed.iter().any(|s| s.to_string().contains(&rule_arn)));

    // A rule someone else made that also invokes the alias.
    let theirs = format!("{service}-theirs");
    events
        .put_rule()
        .name(&theirs)
        .schedule_expression("rate(1 day)")
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(&theirs)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("theirs")
                .arn(cron.alias_arn())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // Second deploy: reads only.
    let recorder = Recorder::start();
    let plan = provider.plan(&first).await.expect("plan");
    assert!(plan.is_noop(), "{plan}");
    provider.apply(&plan, &NoopReporter).await.expect("apply");
    recorder.assert_only_reads(&service);

    // One changed expression: one PutRule on that rule, nothing else.
    let recorder = Recorder::start();
    let changed = cron.spec(vec![schedule_trigger(
        &["rate(10 minutes)", "cron(0 12 * * ? *)"],
        Some(json!({ "source": "timer" })),
    )]);
    let plan = provider.plan(&changed).await.expect("plan");
    let actions = only_action(&plan.triggers, "schedule");
    assert!(
        matches!(&actions[..], [TriggerAction::Update { changes }, TriggerAction::Unchanged] if changes.len() == 1 && changes[0].field == "expression"),
        "{plan}"
    );
    provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert_eq!(recorder.mutations(&service), ["PutRule"]);
    assert_eq!(rules_on(&cron.alias_arn()).await[0].1, "rate(10 minutes)");

    // The second expression leaves: its target, rule and permission go.
    let one = cron.spec(vec![schedule_trigger(
        &["rate(10 minutes)"],
        Some(json!({ "source": "timer" })),
    )]);
    let plan = provider.plan(&one).await.expect("plan");
    assert_eq!(
        only_action(&plan.triggers, "schedule"),
        [TriggerAction::Unchanged, TriggerAction::Delete],
        "{plan}"
    );
    provider.apply(&plan, &NoopReporter).await.expect("apply");
    let left: Vec<String> = rules_on(&cron.alias_arn())
        .await
        .into_iter()
        .map(|rule| rule.0)
        .collect();
    assert_eq!(left, [name(1), theirs.clone()]);
    assert_eq!(cron.statements_of("events.amazonaws.com").await.len(), 1);

    let info = provider.info(&service, STAGE).await.expect("info");
    let trigger = info.functions[0].trigger.clone().unwrap_or_default();
    assert!(trigger.contains("schedule rate(10 minutes)"), "{trigger}");
    assert!(!trigger.contains(&theirs), "{trigger}");

    // remove: strata's rule goes, theirs stays.
    let plan = provider
        .plan_remove(&service, STAGE)
        .await
        .expect("plan_remove");
    provider.remove(&plan).await.expect("remove");
    assert!(events.describe_rule().name(name(1)).send().await.is_err());
    assert!(events.describe_rule().name(&theirs).send().await.is_ok());
}

fn topic_trigger(topic: TopicRef, filter: Option<Value>) -> TriggerSpec {
    TriggerSpec::Topic(TopicSpec {
        topic,
        filter_policy: filter,
        filter_policy_scope: None,
    })
}

async fn sns_client() -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(&hand_config().await)
}

/// `(subscription ARN, protocol, endpoint)` of the topic.
async fn subscriptions_of(topic: &str) -> Vec<(String, String, String)> {
    let sns = sns_client().await;
    sns.list_subscriptions_by_topic()
        .topic_arn(topic)
        .send()
        .await
        .expect("ListSubscriptionsByTopic")
        .subscriptions()
        .iter()
        .map(|subscription| {
            (
                subscription.subscription_arn().unwrap().to_owned(),
                subscription.protocol().unwrap().to_owned(),
                subscription.endpoint().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn topics_by_name_are_created_subscriptions_follow_the_filter_and_remove_cleans_up() {
    let provider = provider(|_| {}).await;
    let listener = Notified::new("listener");
    let service = listener.service().to_owned();
    let sns = sns_client().await;
    let named = format!("{service}-orders");
    let named_arn = format!("arn:aws:sns:{REGION}:{ACCOUNT}:{named}");
    // A topic someone else owns, with their own subscription.
    let theirs_arn = sns
        .create_topic()
        .name(format!("{service}-theirs"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    sns.subscribe()
        .topic_arn(&theirs_arn)
        .protocol("sqs")
        .endpoint(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:their-queue"))
        .send()
        .await
        .unwrap();

    let by_name = || TopicRef::Name {
        name: named.clone(),
        display_name: None,
    };
    let by_arn = || TopicRef::Arn(SourceRef::Literal(theirs_arn.clone()));
    let first = listener.spec(vec![
        topic_trigger(by_name(), Some(json!({ "kind": ["order"] }))),
        topic_trigger(by_arn(), None),
    ]);
    let plan = provider.plan(&first).await.expect("plan");
    assert_eq!(
        only_action(&plan.triggers, "sns"),
        [TriggerAction::Create, TriggerAction::Create],
        "{plan}"
    );
    deploy(&provider, &first).await;

    let ours = subscriptions_of(&named_arn).await;
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(
        (ours[0].1.as_str(), ours[0].2.as_str()),
        ("lambda", listener.alias_arn().as_str())
    );
    let attributes = sns
        .get_subscription_attributes()
        .subscription_arn(&ours[0].0)
        .send()
        .await
        .unwrap();
    let policy = &attributes.attributes().unwrap()["FilterPolicy"];
    assert_eq!(
        serde_json::from_str::<Value>(policy).unwrap(),
        json!({ "kind": ["order"] })
    );
    let tags = sns
        .list_tags_for_resource()
        .resource_arn(&named_arn)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|tag| tag.key() == "strata:stage" && tag.value() == STAGE),
        "{tags:?}"
    );
    assert_eq!(subscriptions_of(&theirs_arn).await.len(), 2);
    let allowed = listener.statements_of("sns.amazonaws.com").await;
    assert_eq!(allowed.len(), 2, "{allowed:?}");

    // Second deploy: reads only.
    let recorder = Recorder::start();
    let plan = provider.plan(&first).await.expect("plan");
    assert!(plan.is_noop(), "{plan}");
    provider.apply(&plan, &NoopReporter).await.expect("apply");
    recorder.assert_only_reads(&service);

    // A changed filter: one SetSubscriptionAttributes on that subscription.
    let recorder = Recorder::start();
    let refiltered = listener.spec(vec![
        topic_trigger(by_name(), Some(json!({ "kind": ["refund"] }))),
        topic_trigger(by_arn(), None),
    ]);
    let plan = provider.plan(&refiltered).await.expect("plan");
    assert!(
        matches!(&only_action(&plan.triggers, "sns")[..], [TriggerAction::Update { changes }, TriggerAction::Unchanged] if changes[0].field == "filter_policy"),
        "{plan}"
    );
    provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert_eq!(recorder.mutations(&service), ["SetSubscriptionAttributes"]);

    // Their topic leaves the manifest: only strata's subscription on it goes.
    let one = listener.spec(vec![topic_trigger(
        by_name(),
        Some(json!({ "kind": ["refund"] })),
    )]);
    let plan = provider.plan(&one).await.expect("plan");
    assert_eq!(
        only_action(&plan.triggers, "sns"),
        [TriggerAction::Unchanged, TriggerAction::Delete],
        "{plan}"
    );
    provider.apply(&plan, &NoopReporter).await.expect("apply");
    let left = subscriptions_of(&theirs_arn).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].1, "sqs");
    assert_eq!(listener.statements_of("sns.amazonaws.com").await.len(), 1);

    let info = provider.info(&service, STAGE).await.expect("info");
    let trigger = info.functions[0].trigger.clone().unwrap_or_default();
    assert!(
        trigger.contains(&format!("sns {named_arn} (filtered)")),
        "{trigger}"
    );

    // remove: the subscription and the topic strata created; their topic stays.
    let plan = provider
        .plan_remove(&service, STAGE)
        .await
        .expect("plan_remove");
    provider.remove(&plan).await.expect("remove");
    let topics = sns.list_topics().send().await.unwrap();
    let arns: Vec<&str> = topics
        .topics()
        .iter()
        .filter_map(|topic| topic.topic_arn())
        .collect();
    assert!(!arns.contains(&named_arn.as_str()), "{arns:?}");
    assert!(arns.contains(&theirs_arn.as_str()), "{arns:?}");
    assert_eq!(subscriptions_of(&theirs_arn).await.len(), 1);
}
