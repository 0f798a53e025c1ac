//! `stream` events (DynamoDB and Kinesis) as event source mappings on the stage alias,
//! against moto: a Kinesis stream of the `resources:` stack by `!GetAtt`, and a table's
//! stream and another Kinesis stream by literal ARN, each option read back from Lambda's
//! side, the role's read rights, and changes that touch only the mapping they concern.
//!
//! The table is made outside the stack: a table's `StreamArn` carries the time its stream
//! was enabled, so only the stack's outputs know it, and moto fills no outputs.

use serde_json::{Value, json};
use strata_provider::{
    MappingSource, MappingSpec, SourceRef, StackSpec, TriggerAction, TriggerSpec,
};
use strata_tests::moto::moto_json_call;

use super::*;

struct Consumer {
    project: Project,
}

/// The options of one stream event, as a manifest's `stream:` gives them.
struct Event {
    kind: MappingSource,
    source: SourceRef,
    batch_size: i64,
    starting_position: &'static str,
    window_s: Option<i64>,
    enabled: bool,
    response_type: Option<&'static str>,
}

impl Event {
    fn trigger(&self) -> TriggerSpec {
        let mut mapping = MappingSpec::new(self.kind, self.source.clone(), self.batch_size);
        mapping.starting_position = Some(self.starting_position.to_owned());
        mapping.maximum_batching_window_s = self.window_s;
        mapping.enabled = self.enabled;
        mapping.function_response_type = self.response_type.map(str::to_owned);
        TriggerSpec::Mapping(mapping)
    }
}

impl Consumer {
    fn new() -> Self {
        Self {
            project: Project::new(),
        }
    }

    fn service(&self) -> &str {
        &self.project.service
    }

    fn table(&self) -> String {
        format!("{}-orders", self.service())
    }

    fn stream(&self) -> String {
        format!("{}-clicks", self.service())
    }

    fn literal_stream(&self) -> String {
        format!("{}-audit", self.service())
    }

    fn kinesis_arn(name: &str) -> String {
        format!("arn:aws:kinesis:{REGION}:123456789012:stream/{name}")
    }

    fn alias_arn(&self) -> String {
        format!(
            "arn:aws:lambda:{REGION}:123456789012:function:{}-{STAGE}-consumer:{STAGE}",
            self.service()
        )
    }

    /// The table's stream by ARN, the stack's Kinesis stream (`!GetAtt Clicks.Arn`), and a
    /// stream made outside the stack by its ARN.
    fn events(&self, table_stream: &str, clicks_batch: i64) -> Vec<Event> {
        vec![
            Event {
                kind: MappingSource::DynamodbStream,
                source: SourceRef::Literal(table_stream.to_owned()),
                batch_size: 50,
                starting_position: "TRIM_HORIZON",
                window_s: Some(5),
                enabled: true,
                response_type: Some("ReportBatchItemFailures"),
            },
            Event {
                kind: MappingSource::KinesisStream,
                source: SourceRef::GetAtt {
                    resource: "Clicks".into(),
                    attribute: "Arn".into(),
                },
                batch_size: clicks_batch,
                starting_position: "LATEST",
                window_s: None,
                enabled: false,
                response_type: None,
            },
            Event {
                kind: MappingSource::KinesisStream,
                source: SourceRef::Literal(Self::kinesis_arn(&self.literal_stream())),
                batch_size: 10,
                starting_position: "TRIM_HORIZON",
                window_s: Some(1),
                enabled: true,
                response_type: None,
            },
        ]
    }

    fn spec(&self, events: &[Event]) -> DeploySpec {
        let service = self.service();
        let mut consumer = function(
            service,
            STAGE,
            "consumer",
            handler_artifact(
                self.project.dir.path(),
                "consumer.zip",
                "def consumer(event, context):\n    return None\n",
            ),
        );
        consumer.triggers = events.iter().map(Event::trigger).collect();
        let mut spec = spec(
            service,
            STAGE,
            vec![consumer],
            vec![],
            RoleSpec::Managed { statements: vec![] },
        );
        spec.aws_stack = Some(StackSpec {
            template: json!({ "Resources": {
                "Clicks": { "Type": "AWS::Kinesis::Stream", "Properties": {
                    "Name": self.stream(),
                    "ShardCount": 1,
                }},
            }}),
        });
        spec
    }

    /// Makes the table with a stream; returns the stream's ARN, as DynamoDB reports it.
    fn create_table(&self) -> String {
        let (status, body) = moto_json_call(
            REGION,
            "dynamodb",
            "DynamoDB_20120810.CreateTable",
            &json!({
                "TableName": self.table(),
                "AttributeDefinitions": [{ "AttributeName": "id", "AttributeType": "S" }],
                "KeySchema": [{ "AttributeName": "id", "KeyType": "HASH" }],
                "BillingMode": "PAY_PER_REQUEST",
                "StreamSpecification": { "StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES" },
            })
            .to_string(),
        );
        assert_eq!(status, 200, "CreateTable: {body}");
        let table: Value = serde_json::from_str(&body).unwrap();
        table["TableDescription"]["LatestStreamArn"]
            .as_str()
            .expect("the table has a stream")
            .to_owned()
    }

    fn create_literal_stream(&self) {
        let (status, body) = moto_json_call(
            REGION,
            "kinesis",
            "Kinesis_20131202.CreateStream",
            &json!({ "StreamName": self.literal_stream(), "ShardCount": 1 }).to_string(),
        );
        assert_eq!(status, 200, "CreateStream: {body}");
    }
}

/// The alias's mappings by source ARN.
fn by_source(alias_arn: &str) -> BTreeMap<String, Value> {
    events::mappings_of(alias_arn)
        .into_iter()
        .map(|mapping| {
            (
                mapping["EventSourceArn"].as_str().unwrap().to_owned(),
                mapping,
            )
        })
        .collect()
}

#[tokio::test]
async fn stream_events_map_each_option_onto_the_stage_alias_and_change_one_at_a_time() {
    let provider = provider(|_| {}).await;
    let consumer = Consumer::new();
    let service = consumer.service().to_owned();
    consumer.create_literal_stream();
    let table_stream = consumer.create_table();

    let first = consumer.spec(&consumer.events(&table_stream, 100));
    let report = deploy(&provider, &first).await;
    // The report lists the three mappings it created and the stack.
    assert_eq!(report.triggers.len(), 3, "{report}");
    assert!(
        report
            .triggers
            .iter()
            .all(|trigger| trigger.action == TriggerAction::Create),
        "{report}"
    );
    assert!(report.stack.is_some(), "{report}");

    let clicks = Consumer::kinesis_arn(&consumer.stream());
    let audit = Consumer::kinesis_arn(&consumer.literal_stream());
    let mappings = by_source(&consumer.alias_arn());
    assert_eq!(
        mappings.keys().cloned().collect::<Vec<_>>(),
        {
            let mut wanted = vec![table_stream.clone(), clicks.clone(), audit.clone()];
            wanted.sort();
            wanted
        },
        "{mappings:?}"
    );
    let orders = &mappings[&table_stream];
    assert_eq!(orders["BatchSize"], 50);
    assert_eq!(orders["StartingPosition"], "TRIM_HORIZON");
    assert_eq!(orders["MaximumBatchingWindowInSeconds"], 5);
    assert_eq!(
        orders["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(orders["State"], "Enabled");
    assert_eq!(mappings[&clicks]["BatchSize"], 100);
    assert_eq!(mappings[&clicks]["StartingPosition"], "LATEST");
    assert_eq!(mappings[&clicks]["State"], "Disabled");
    assert_eq!(mappings[&audit]["BatchSize"], 10);
    assert_eq!(mappings[&audit]["MaximumBatchingWindowInSeconds"], 1);
    // Nothing on `$LATEST`: every mapping is on the alias.
    assert!(events::mappings_of(&format!("{service}-{STAGE}-consumer")).is_empty());

    // The role reads exactly these streams.
    let policy = events::role_policy(&service).await;
    for action in [
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "kinesis:GetRecords",
    ] {
        assert!(policy.contains(action), "{action}: {policy}");
    }
    for arn in [&table_stream, &clicks, &audit] {
        assert!(policy.contains(arn.as_str()), "{arn}: {policy}");
    }

    // An immediate second deploy changes nothing.
    let recorder = Recorder::start();
    let plan = provider.plan(&first).await.expect("plan");
    assert!(plan.is_noop(), "{plan}");
    let report = provider.apply(&plan, &NoopReporter).await.expect("apply");
    assert!(
        report.is_success() && report.triggers.is_empty(),
        "{report}"
    );
    recorder.assert_only_reads(&service);
    let uuid = |arn: &str| mappings[arn]["UUID"].as_str().unwrap().to_owned();
    for arn in [&table_stream, &clicks, &audit] {
        assert_eq!(recorder.mutations(&uuid(arn)), Vec::<String>::new());
    }

    // One event's batch size: one update, on that mapping only.
    let recorder = Recorder::start();
    let report = deploy(
        &provider,
        &consumer.spec(&consumer.events(&table_stream, 200)),
    )
    .await;
    assert!(
        matches!(&report.triggers[..], [t] if t.source == clicks && matches!(&t.action, TriggerAction::Update { changes } if changes.len() == 1 && changes[0].field == "batch_size")),
        "{report}"
    );
    assert_eq!(
        recorder.mutations(&uuid(&clicks)),
        [format!(
            "PUT /2015-03-31/event-source-mappings/{}",
            uuid(&clicks)
        )]
    );
    for arn in [&table_stream, &audit] {
        assert_eq!(recorder.mutations(&uuid(arn)), Vec::<String>::new());
    }
    assert_eq!(by_source(&consumer.alias_arn())[&clicks]["BatchSize"], 200);

    // The literal stream's event leaves the manifest: only its mapping goes.
    let recorder = Recorder::start();
    let mut fewer = consumer.events(&table_stream, 200);
    fewer.pop();
    let report = deploy(&provider, &consumer.spec(&fewer)).await;
    assert!(
        matches!(&report.triggers[..], [t] if t.source == audit && t.action == TriggerAction::Delete),
        "{report}"
    );
    assert_eq!(
        recorder.mutations(&uuid(&audit)),
        [format!(
            "DELETE /2015-03-31/event-source-mappings/{}",
            uuid(&audit)
        )]
    );
    let left = by_source(&consumer.alias_arn());
    assert_eq!(left.keys().cloned().collect::<Vec<_>>(), {
        let mut wanted = vec![table_stream.clone(), clicks.clone()];
        wanted.sort();
        wanted
    });
    for arn in [&table_stream, &clicks] {
        assert_eq!(
            left[arn]["UUID"], mappings[arn]["UUID"],
            "{arn} was recreated"
        );
    }
}
