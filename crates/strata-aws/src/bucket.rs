//! A function's `s3` triggers as Lambda entries in the bucket's notification configuration,
//! each targeting the function's stage alias.
//!
//! S3 keeps one notification configuration per bucket and `PutBucketNotificationConfiguration`
//! replaces all of it, so strata reads it, keeps every entry it did not write (queue, topic and
//! EventBridge entries, other people's Lambda entries, other functions' entries), puts its own
//! wanted entries beside them, and writes only when its own entries differ. strata's entries
//! have the id `strata-<function>-<hash of events and filter>` and target the alias ARN. The
//! buckets a function had entries on are the sources of its `strata-s3-` permission
//! statements, so a bucket that left the manifest is still cleaned up.
//!
//! A bucket that does not exist is created in the provider's region and tagged
//! `strata:service` / `strata:stage`, unless the trigger says `existing: true` (then it is an
//! error). `remove` deletes a bucket only when strata's tags are on it and it is empty.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, LambdaFunctionConfiguration, NotificationConfiguration,
    NotificationConfigurationFilter, S3KeyFilter,
};
use sha2::{Digest, Sha256};
use strata_provider::{BucketSpec, FieldChange, Step, TriggerAction, TriggerPlan, TriggerSpec};

use crate::call::CallContext;
use crate::desired::{TAG_SERVICE, TAG_STAGE};
use crate::error::{ApiError, AwsError};
use crate::notify::{Found, Owner, Target, resource};
use crate::permission::{self, Permission};

/// The permission kind (statement ids `strata-s3-…`) and the plan's trigger kind.
pub(crate) const KIND: &str = "s3";
const PRINCIPAL: &str = "s3.amazonaws.com";
const ID_PREFIX: &str = "strata-";
/// How `plan_remove` names strata's entries: `s3 notification <id> on bucket <bucket>`.
const NOTIFICATION_RESOURCE: &str = "s3 notification ";
/// How `plan_remove` names a bucket strata created: `s3 bucket <bucket> (…)`.
pub(crate) const BUCKET_RESOURCE: &str = "s3 bucket ";

/// One Lambda notification entry, as strata compares them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub id: String,
    /// Sorted, without duplicates.
    pub events: Vec<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}

impl Entry {
    /// The entry `spec` asks for on `deployed_name`'s alias; its id depends on the events
    /// and the filter, so the same trigger always gets the same id.
    pub fn wanted(deployed_name: &str, spec: &BucketSpec) -> Self {
        let events: Vec<String> = spec
            .events
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut hasher = Sha256::new();
        for event in &events {
            hasher.update(event.as_bytes());
            hasher.update([0]);
        }
        for part in [&spec.prefix, &spec.suffix] {
            hasher.update([1]);
            hasher.update(part.as_deref().unwrap_or_default().as_bytes());
        }
        let digest = hex::encode(hasher.finalize());
        Self {
            id: format!("{ID_PREFIX}{deployed_name}-{}", &digest[..12]),
            events,
            prefix: spec.prefix.clone(),
            suffix: spec.suffix.clone(),
        }
    }

    fn from_sdk(entry: &LambdaFunctionConfiguration) -> Self {
        let mut events: Vec<String> = entry
            .events()
            .iter()
            .map(|event| event.as_str().to_owned())
            .collect();
        events.sort();
        events.dedup();
        let rule = |name: FilterRuleName| {
            entry
                .filter()
                .and_then(|filter| filter.key())
                .into_iter()
                .flat_map(|key| key.filter_rules())
                .find(|rule| {
                    rule.name()
                        .is_some_and(|rule| rule.as_str().eq_ignore_ascii_case(name.as_str()))
                })
                .and_then(|rule| rule.value())
                .map(str::to_owned)
        };
        Self {
            id: entry.id().unwrap_or_default().to_owned(),
            events,
            prefix: rule(FilterRuleName::Prefix),
            suffix: rule(FilterRuleName::Suffix),
        }
    }

    /// The entry as S3 takes it: the alias ARN, the events, and a key filter only when a
    /// prefix or suffix is given (S3 refuses an empty filter rule list).
    pub fn to_sdk(
        &self,
        alias_arn: &str,
    ) -> Result<LambdaFunctionConfiguration, aws_sdk_s3::error::BuildError> {
        let rules: Vec<FilterRule> = [
            (FilterRuleName::Prefix, &self.prefix),
            (FilterRuleName::Suffix, &self.suffix),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            value
                .as_ref()
                .map(|value| FilterRule::builder().name(name).value(value).build())
        })
        .collect();
        let filter = (!rules.is_empty()).then(|| {
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                .build()
        });
        LambdaFunctionConfiguration::builder()
            .id(&self.id)
            .lambda_function_arn(alias_arn)
            .set_events(Some(
                self.events
                    .iter()
                    .map(|event| Event::from(event.as_str()))
                    .collect(),
            ))
            .set_filter(filter)
            .build()
    }

    /// `s3:ObjectCreated:* (prefix uploads/, suffix .jpg)`.
    fn describe(&self) -> String {
        let filter: Vec<String> = [("prefix", &self.prefix), ("suffix", &self.suffix)]
            .into_iter()
            .filter_map(|(name, value)| value.as_ref().map(|value| format!("{name} {value}")))
            .collect();
        match filter.is_empty() {
            true => self.events.join(", "),
            false => format!("{} ({})", self.events.join(", "), filter.join(", ")),
        }
    }
}

/// strata's entries for `alias_arn` in `configuration`, by id.
pub(crate) fn ours(
    configuration: &NotificationConfiguration,
    alias_arn: &str,
) -> BTreeMap<String, Entry> {
    configuration
        .lambda_function_configurations()
        .iter()
        .filter(|entry| is_ours(entry, alias_arn))
        .map(|entry| {
            let entry = Entry::from_sdk(entry);
            (entry.id.clone(), entry)
        })
        .collect()
}

fn is_ours(entry: &LambdaFunctionConfiguration, alias_arn: &str) -> bool {
    entry.lambda_function_arn() == alias_arn
        && entry.id().is_some_and(|id| id.starts_with(ID_PREFIX))
}

/// `configuration` with strata's entries for `alias_arn` replaced by `wanted`; every other
/// entry (queues, topics, EventBridge, other Lambda entries) is kept as it was.
pub(crate) fn merged(
    configuration: &NotificationConfiguration,
    alias_arn: &str,
    wanted: &BTreeMap<String, Entry>,
) -> Result<NotificationConfiguration, aws_sdk_s3::error::BuildError> {
    let mut lambda: Vec<LambdaFunctionConfiguration> = configuration
        .lambda_function_configurations()
        .iter()
        .filter(|entry| !is_ours(entry, alias_arn))
        .cloned()
        .collect();
    for entry in wanted.values() {
        lambda.push(entry.to_sdk(alias_arn)?);
    }
    Ok(NotificationConfiguration::builder()
        .set_topic_configurations(Some(configuration.topic_configurations().to_vec()))
        .set_queue_configurations(Some(configuration.queue_configurations().to_vec()))
        .set_lambda_function_configurations(Some(lambda))
        .set_event_bridge_configuration(configuration.event_bridge_configuration().cloned())
        .build())
}

/// What apply does on one bucket for one function.
#[derive(Clone, Debug)]
pub(crate) struct BucketChange {
    pub bucket: String,
    /// The bucket does not exist and strata creates it.
    pub create_bucket: bool,
    /// The bucket's whole configuration as read (empty for a bucket to create).
    pub configuration: NotificationConfiguration,
    pub current: BTreeMap<String, Entry>,
    pub wanted: BTreeMap<String, Entry>,
}

impl BucketChange {
    fn writes(&self) -> bool {
        self.create_bucket || self.current != self.wanted
    }

    /// One line per entry; a single entry replaced by another on the same bucket (a changed
    /// filter or event list) reads as an update of its fields.
    pub fn plans(&self, function: &str) -> Vec<TriggerPlan> {
        let added: Vec<&Entry> = self
            .wanted
            .values()
            .filter(|entry| !self.current.contains_key(&entry.id))
            .collect();
        let gone: Vec<&Entry> = self
            .current
            .values()
            .filter(|entry| !self.wanted.contains_key(&entry.id))
            .collect();
        let line = |entry: &Entry, action: TriggerAction| TriggerPlan {
            function: function.to_owned(),
            kind: KIND.to_owned(),
            source: format!("bucket {}: {}", self.bucket, entry.describe()),
            id: Some(entry.id.clone()),
            action,
        };
        let mut plans: Vec<TriggerPlan> = self
            .wanted
            .values()
            .filter(|entry| self.current.contains_key(&entry.id))
            .map(|entry| line(entry, TriggerAction::Unchanged))
            .collect();
        if let ([new], [old]) = (&added[..], &gone[..]) {
            let changes = field_changes(old, new);
            plans.push(line(new, TriggerAction::Update { changes }));
            return plans;
        }
        plans.extend(
            added
                .into_iter()
                .map(|entry| line(entry, TriggerAction::Create)),
        );
        plans.extend(
            gone.into_iter()
                .map(|entry| line(entry, TriggerAction::Delete)),
        );
        plans
    }
}

fn field_changes(old: &Entry, new: &Entry) -> Vec<FieldChange> {
    let mut changes = vec![FieldChange::new(
        "id",
        Some(old.id.clone()),
        Some(new.id.clone()),
    )];
    if old.events != new.events {
        changes.push(FieldChange::new(
            "events",
            Some(old.events.join(", ")),
            Some(new.events.join(", ")),
        ));
    }
    for (field, old, new) in [
        ("prefix", &old.prefix, &new.prefix),
        ("suffix", &old.suffix, &new.suffix),
    ] {
        if old != new {
            changes.push(FieldChange::new(field, old.clone(), new.clone()));
        }
    }
    changes
}

/// `arn:<partition>:s3:::<bucket>`.
pub(crate) fn bucket_arn(region: &str, bucket: &str) -> String {
    format!("arn:{}:s3:::{bucket}", crate::role::partition(region))
}

/// The bucket of a `strata-s3-` statement's source ARN.
fn bucket_of(source_arn: &str) -> Option<&str> {
    source_arn
        .split_once(":::")
        .map(|(_, bucket)| bucket)
        .filter(|bucket| !bucket.is_empty())
}

/// The buckets `policy`'s `strata-s3-` statements name: where the function had entries.
pub(crate) fn buckets_in_policy(policy: &BTreeMap<String, Permission>) -> BTreeSet<String> {
    let prefix = format!("{}{KIND}-", permission::STATEMENT_PREFIX);
    policy
        .values()
        .filter(|statement| statement.statement_id.starts_with(&prefix))
        .filter_map(|statement| bucket_of(&statement.source_arn).map(str::to_owned))
        .collect()
}

/// The bucket's notification configuration; `None` when the bucket does not exist.
pub(crate) async fn read(
    ctx: &CallContext<'_>,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<Option<NotificationConfiguration>, AwsError> {
    let output = ctx
        .call_optional(Step::Read, || async {
            s3.get_bucket_notification_configuration()
                .bucket(bucket)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("GetBucketNotificationConfiguration", error))
        })
        .await?;
    Ok(output.map(|output| {
        NotificationConfiguration::builder()
            .set_topic_configurations(Some(output.topic_configurations().to_vec()))
            .set_queue_configurations(Some(output.queue_configurations().to_vec()))
            .set_lambda_function_configurations(Some(
                output.lambda_function_configurations().to_vec(),
            ))
            .set_event_bridge_configuration(output.event_bridge_configuration().cloned())
            .build()
    }))
}

/// Compares the function's `s3` triggers with its entries on every bucket it names now or
/// had entries on (from `policy`).
pub(crate) async fn plan(
    ctx: &CallContext<'_>,
    s3: &aws_sdk_s3::Client,
    target: &Target<'_>,
    policy: &BTreeMap<String, Permission>,
) -> Result<Vec<BucketChange>, AwsError> {
    let mut wanted: BTreeMap<String, (bool, BTreeMap<String, Entry>)> = BTreeMap::new();
    for trigger in &target.function.triggers {
        let TriggerSpec::Bucket(spec) = trigger else {
            continue;
        };
        let entry = Entry::wanted(&target.function.deployed_name, spec);
        let (existing, entries) = wanted.entry(spec.bucket.clone()).or_default();
        *existing |= spec.existing;
        entries.insert(entry.id.clone(), entry);
    }
    let mut buckets: BTreeSet<String> = wanted.keys().cloned().collect();
    buckets.extend(buckets_in_policy(policy));

    let mut changes = Vec::new();
    for bucket in buckets {
        let (existing, wanted) = wanted.remove(&bucket).unwrap_or_default();
        let is_wanted = !wanted.is_empty();
        let (create_bucket, configuration) = match read(ctx, s3, &bucket).await? {
            Some(configuration) => (false, configuration),
            None if is_wanted && existing => {
                return Err(AwsError::MissingBucket {
                    function: target.function.logical_name.clone(),
                    bucket,
                });
            }
            None if is_wanted => (true, NotificationConfiguration::builder().build()),
            // Gone with everything on it: nothing of strata's is left to clean up.
            None => continue,
        };
        changes.push(BucketChange {
            current: ours(&configuration, &target.alias_arn),
            bucket,
            create_bucket,
            configuration,
            wanted,
        });
    }
    Ok(changes)
}

/// The permissions the wanted entries need: one per bucket, for S3 from that bucket in the
/// deploying account (bucket ARNs carry no account, so the account is pinned too).
pub(crate) fn permissions(target: &Target<'_>, changes: &[BucketChange]) -> Vec<Permission> {
    changes
        .iter()
        .filter(|change| !change.wanted.is_empty())
        .map(|change| {
            Permission::new(KIND, PRINCIPAL, &bucket_arn(target.region, &change.bucket))
                .with_source_account(&target.account)
        })
        .collect()
}

/// Creates missing buckets and writes each changed bucket's merged configuration. The
/// permissions must already allow S3 to invoke the alias: S3 checks the destination.
pub(crate) async fn apply(
    ctx: &CallContext<'_>,
    s3: &aws_sdk_s3::Client,
    target: &Target<'_>,
    changes: &[BucketChange],
) -> Result<(), AwsError> {
    for change in changes.iter().filter(|change| change.writes()) {
        let ctx = ctx.for_resource(&change.bucket);
        if change.create_bucket {
            create(&ctx, s3, target, &change.bucket).await?;
        }
        ctx.call(Step::Trigger, || async {
            let configuration = merged(&change.configuration, &target.alias_arn, &change.wanted)
                .map_err(|error| {
                    ApiError::local(
                        "PutBucketNotificationConfiguration",
                        format!("building the notification configuration failed: {error}"),
                        error,
                    )
                })?;
            s3.put_bucket_notification_configuration()
                .bucket(&change.bucket)
                .notification_configuration(configuration)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("PutBucketNotificationConfiguration", error))
        })
        .await?;
    }
    Ok(())
}

/// Creates the bucket in the provider's region with strata's tags.
async fn create(
    ctx: &CallContext<'_>,
    s3: &aws_sdk_s3::Client,
    target: &Target<'_>,
    bucket: &str,
) -> Result<(), AwsError> {
    crate::upload::create_bucket(ctx, s3, target.region, bucket, Step::Trigger).await?;
    let tags = BTreeMap::from([
        (TAG_SERVICE.to_owned(), target.service.to_owned()),
        (TAG_STAGE.to_owned(), target.stage.to_owned()),
    ]);
    crate::upload::put_bucket_tags(ctx, s3, bucket, None, &tags, Step::Trigger).await
}

/// Whether strata created `bucket` for this service and stage (its tags say so).
pub(crate) async fn created_by_strata(
    ctx: &CallContext<'_>,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    service: &str,
    stage: &str,
) -> Result<bool, AwsError> {
    // No tag set at all is a not-found answer (`NoSuchTagSet`).
    let tagging = ctx
        .call_optional(Step::Read, || async {
            s3.get_bucket_tagging()
                .bucket(bucket)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("GetBucketTagging", error))
        })
        .await?;
    let tags: BTreeMap<&str, &str> = tagging
        .iter()
        .flat_map(|tagging| tagging.tag_set())
        .map(|tag| (tag.key(), tag.value()))
        .collect();
    Ok(tags.get(TAG_SERVICE) == Some(&service) && tags.get(TAG_STAGE) == Some(&stage))
}

/// Takes strata's entry `id` out of the bucket's configuration (`remove`); a bucket or entry
/// already gone is not an error.
pub(crate) async fn remove_entry(
    ctx: &CallContext<'_>,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    id: &str,
) -> Result<(), AwsError> {
    let Some(configuration) = read(ctx, s3, bucket).await? else {
        return Ok(());
    };
    let entries = configuration.lambda_function_configurations();
    if !entries.iter().any(|entry| entry.id() == Some(id)) {
        return Ok(());
    }
    let kept = NotificationConfiguration::builder()
        .set_topic_configurations(Some(configuration.topic_configurations().to_vec()))
        .set_queue_configurations(Some(configuration.queue_configurations().to_vec()))
        .set_lambda_function_configurations(Some(
            entries
                .iter()
                .filter(|entry| entry.id() != Some(id))
                .cloned()
                .collect(),
        ))
        .set_event_bridge_configuration(configuration.event_bridge_configuration().cloned())
        .build();
    ctx.call(Step::Remove, || async {
        s3.put_bucket_notification_configuration()
            .bucket(bucket)
            .notification_configuration(kept.clone())
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("PutBucketNotificationConfiguration", error))
    })
    .await?;
    Ok(())
}

/// Deletes a bucket strata created when it holds no object; `false` when it was kept.
pub(crate) async fn delete_if_empty(
    ctx: &CallContext<'_>,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<bool, AwsError> {
    let listing = ctx
        .call_optional(Step::Remove, || async {
            s3.list_object_versions()
                .bucket(bucket)
                .max_keys(1)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("ListObjectVersions", error))
        })
        .await?;
    let Some(listing) = listing else {
        return Ok(true);
    };
    if !listing.versions().is_empty() || !listing.delete_markers().is_empty() {
        return Ok(false);
    }
    ctx.call_optional(Step::Remove, || async {
        s3.delete_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("DeleteBucket", error))
    })
    .await?;
    Ok(true)
}

/// strata's entries for a deployed function's alias, on the buckets its policy names.
pub(crate) async fn find(
    ctx: &CallContext<'_>,
    s3: &aws_sdk_s3::Client,
    owner: &Owner<'_>,
    policy: &BTreeMap<String, Permission>,
) -> Result<Vec<Found>, AwsError> {
    let mut found = Vec::new();
    for bucket in buckets_in_policy(policy) {
        let Some(configuration) = read(ctx, s3, &bucket).await? else {
            continue;
        };
        let entries = ours(&configuration, &owner.alias_arn);
        if entries.is_empty() {
            continue;
        }
        let created = created_by_strata(ctx, s3, &bucket, owner.service, owner.stage).await?;
        for entry in entries.values() {
            let mut resources = vec![resource(format!(
                "{NOTIFICATION_RESOURCE}{} on bucket {bucket}",
                entry.id
            ))];
            if created {
                resources.push(resource(format!(
                    "{BUCKET_RESOURCE}{bucket} (created by strata; deleted only when empty)"
                )));
            }
            found.push(Found {
                describe: format!("s3 {bucket}: {}", entry.describe()),
                resources,
            });
        }
    }
    Ok(found)
}

/// Deletes what `name` (from [`find`]) names; `None` when it is not an S3 resource, else
/// the name to report.
pub(crate) async fn remove(
    ctx: &CallContext<'_>,
    s3: &aws_sdk_s3::Client,
    name: &str,
) -> Result<Option<String>, AwsError> {
    if let Some(rest) = name.strip_prefix(NOTIFICATION_RESOURCE) {
        if let Some((id, bucket)) = rest.split_once(" on bucket ") {
            remove_entry(ctx, s3, bucket, id).await?;
        }
        return Ok(Some(name.to_owned()));
    }
    if let Some(rest) = name.strip_prefix(BUCKET_RESOURCE) {
        let bucket = rest.split(' ').next().unwrap_or(rest);
        return Ok(Some(match delete_if_empty(ctx, s3, bucket).await? {
            true => format!("{BUCKET_RESOURCE}{bucket}"),
            false => format!("{BUCKET_RESOURCE}{bucket} kept: it still holds objects"),
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::types::QueueConfiguration;

    use super::*;

    const ALIAS: &str = "arn:aws:lambda:us-east-1:123456789012:function:svc-prod-thumb:prod";

    fn spec(prefix: Option<&str>, suffix: Option<&str>) -> BucketSpec {
        BucketSpec {
            bucket: "photos".into(),
            events: vec!["s3:ObjectCreated:*".into()],
            prefix: prefix.map(str::to_owned),
            suffix: suffix.map(str::to_owned),
            existing: false,
        }
    }

    fn theirs() -> NotificationConfiguration {
        NotificationConfiguration::builder()
            .queue_configurations(
                QueueConfiguration::builder()
                    .id("their-queue")
                    .queue_arn("arn:aws:sqs:us-east-1:123456789012:q")
                    .events(Event::from("s3:ObjectRemoved:*"))
                    .build()
                    .unwrap(),
            )
            .lambda_function_configurations(
                LambdaFunctionConfiguration::builder()
                    .id("strata-looks-like-ours")
                    .lambda_function_arn("arn:aws:lambda:us-east-1:123456789012:function:other")
                    .events(Event::from("s3:ObjectCreated:*"))
                    .build()
                    .unwrap(),
            )
            .build()
    }

    #[test]
    fn entry_ids_are_stable_and_depend_on_events_and_filter() {
        let one = Entry::wanted("svc-prod-thumb", &spec(Some("in/"), None));
        assert_eq!(
            one,
            Entry::wanted("svc-prod-thumb", &spec(Some("in/"), None))
        );
        assert!(one.id.starts_with("strata-svc-prod-thumb-"), "{}", one.id);
        assert_ne!(
            one.id,
            Entry::wanted("svc-prod-thumb", &spec(None, Some("in/"))).id
        );
    }

    #[test]
    fn the_merged_configuration_keeps_every_entry_strata_did_not_write() {
        let entry = Entry::wanted("svc-prod-thumb", &spec(Some("in/"), Some(".jpg")));
        let wanted = BTreeMap::from([(entry.id.clone(), entry.clone())]);
        let merged = merged(&theirs(), ALIAS, &wanted).unwrap();
        assert_eq!(merged.queue_configurations().len(), 1);
        let lambda = merged.lambda_function_configurations();
        assert_eq!(lambda.len(), 2);
        assert_eq!(lambda[0].id(), Some("strata-looks-like-ours"));
        // Read back, strata's own entry is exactly the wanted one.
        assert_eq!(ours(&merged, ALIAS), wanted);
        // Nothing wanted any more: only strata's entry for this alias goes.
        let emptied = super::merged(&merged, ALIAS, &BTreeMap::new()).unwrap();
        assert_eq!(emptied.lambda_function_configurations().len(), 1);
        assert_eq!(emptied.queue_configurations().len(), 1);
    }

    /// S3's documented request shape: `CloudFunctionConfiguration` entries with `Id`,
    /// `CloudFunction` (the alias ARN), one `Event` per event, and `Filter/S3Key/FilterRule`
    /// with `Name` `prefix`/`suffix`; no filter at all when there is no rule (S3 refuses an
    /// empty rule list, moto does not).
    #[test]
    fn the_entry_strata_sends_is_the_documented_shape() {
        let filtered = Entry::wanted("f", &spec(Some("in/"), Some(".jpg")))
            .to_sdk(ALIAS)
            .unwrap();
        assert_eq!(filtered.lambda_function_arn(), ALIAS);
        assert_eq!(filtered.events(), [Event::S3ObjectCreated]);
        let rules = filtered.filter().unwrap().key().unwrap().filter_rules();
        assert_eq!(
            rules
                .iter()
                .map(|rule| (rule.name().unwrap().as_str(), rule.value().unwrap()))
                .collect::<Vec<_>>(),
            [("prefix", "in/"), ("suffix", ".jpg")]
        );
        let plain = Entry::wanted("f", &spec(None, None)).to_sdk(ALIAS).unwrap();
        assert!(plain.filter().is_none());
    }

    #[test]
    fn a_changed_filter_plans_as_one_update_with_old_and_new() {
        let old = Entry::wanted("f", &spec(Some("a/"), None));
        let new = Entry::wanted("f", &spec(Some("b/"), None));
        let change = BucketChange {
            bucket: "photos".into(),
            create_bucket: false,
            configuration: NotificationConfiguration::builder().build(),
            current: BTreeMap::from([(old.id.clone(), old)]),
            wanted: BTreeMap::from([(new.id.clone(), new)]),
        };
        let plans = change.plans("thumb");
        assert_eq!(plans.len(), 1);
        let TriggerAction::Update { changes } = &plans[0].action else {
            panic!("{plans:?}");
        };
        assert!(changes.contains(&FieldChange::new(
            "prefix",
            Some("a/".into()),
            Some("b/".into())
        )));
    }

    #[test]
    fn buckets_come_from_strata_s_s3_statements_only() {
        let statement = |kind: &str, source: &str| {
            let permission = Permission::new(kind, PRINCIPAL, source);
            (permission.statement_id.clone(), permission)
        };
        let policy = BTreeMap::from([
            statement("s3", "arn:aws:s3:::photos"),
            statement("sns", "arn:aws:sns:us-east-1:1:t"),
        ]);
        assert_eq!(
            buckets_in_policy(&policy),
            BTreeSet::from(["photos".to_owned()])
        );
    }
}
