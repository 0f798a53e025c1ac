//! A function's `sns` triggers as `lambda` subscriptions of the topic to the stage alias,
//! with the filter policy as subscription attributes.
//!
//! A topic given by name is strata's to create (tagged `strata:service` / `strata:stage`, as
//! Serverless creates it in its stack); one given by ARN is used as it is. strata's
//! subscriptions are the topic's `lambda` subscriptions whose endpoint is the alias ARN, on
//! the topics the manifest names now or the function's `strata-sns-` permission statements
//! named before. A changed filter policy or scope is set with `SetSubscriptionAttributes`; a
//! subscription that left the manifest is removed, and so is a topic strata created once no
//! function of the deploy names it and no subscription is left on it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_sns::types::Tag;
use serde_json::Value;
use strata_provider::{FieldChange, Step, TopicRef, TriggerAction, TriggerPlan, TriggerSpec};

use crate::call::CallContext;
use crate::desired::{TAG_SERVICE, TAG_STAGE};
use crate::error::{ApiError, AwsError};
use crate::notify::{Found, Owner, Target, resource};
use crate::permission::{self, Permission};

/// The permission kind (statement ids `strata-sns-…`) and the plan's trigger kind.
pub(crate) const KIND: &str = "sns";
const PRINCIPAL: &str = "sns.amazonaws.com";
const PROTOCOL: &str = "lambda";
/// SNS's default filter scope, which a subscription with a filter policy reports.
const DEFAULT_SCOPE: &str = "MessageAttributes";
/// How `plan_remove` names a subscription: `sns subscription <ARN>`.
const SUBSCRIPTION_RESOURCE: &str = "sns subscription ";
/// How `plan_remove` names a topic strata created: `sns topic <ARN> (…)`.
pub(crate) const TOPIC_RESOURCE: &str = "sns topic ";

/// The subscription attributes strata compares and sets.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Filter {
    pub policy: Option<Value>,
    /// Only with a policy; `MessageAttributes` when not written.
    pub scope: Option<String>,
}

impl Filter {
    fn new(policy: Option<Value>, scope: Option<String>) -> Self {
        let scope = policy
            .as_ref()
            .map(|_| scope.unwrap_or_else(|| DEFAULT_SCOPE.to_owned()));
        Self { policy, scope }
    }

    fn from_attributes(attributes: &HashMap<String, String>) -> Self {
        let policy = attributes
            .get("FilterPolicy")
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .filter(|policy| policy.as_object().is_none_or(|object| !object.is_empty()));
        Self::new(policy, attributes.get("FilterPolicyScope").cloned())
    }

    /// The attributes `Subscribe` takes: none without a policy.
    pub fn subscribe_attributes(&self) -> HashMap<String, String> {
        let mut attributes = HashMap::new();
        if let Some(policy) = &self.policy {
            attributes.insert("FilterPolicy".to_owned(), policy.to_string());
            if let Some(scope) = &self.scope {
                attributes.insert("FilterPolicyScope".to_owned(), scope.clone());
            }
        }
        attributes
    }

    /// `(attribute, value)` pairs that bring `current` to `self`, scope after policy (SNS
    /// refuses a scope on a subscription without a policy); `{}` removes a policy.
    pub fn updates_from(&self, current: &Filter) -> Vec<(&'static str, String)> {
        let mut updates = Vec::new();
        if self.policy != current.policy {
            let policy = self
                .policy
                .as_ref()
                .map_or_else(|| "{}".to_owned(), Value::to_string);
            updates.push(("FilterPolicy", policy));
        }
        if let Some(scope) = &self.scope
            && self.scope != current.scope
        {
            updates.push(("FilterPolicyScope", scope.clone()));
        }
        updates
    }

    fn field_changes(&self, current: &Filter) -> Vec<FieldChange> {
        let text = |policy: &Option<Value>| policy.as_ref().map(Value::to_string);
        let mut changes = Vec::new();
        if self.policy != current.policy {
            changes.push(FieldChange::new(
                "filter_policy",
                text(&current.policy),
                text(&self.policy),
            ));
        }
        if self.scope != current.scope {
            changes.push(FieldChange::new(
                "filter_policy_scope",
                current.scope.clone(),
                self.scope.clone(),
            ));
        }
        changes
    }
}

/// The topic a trigger names.
#[derive(Clone, Debug, PartialEq, Eq)]
struct WantedTopic {
    /// `None` while a stack reference is not resolved yet (plan before the stack exists).
    arn: Option<String>,
    /// As written, for the plan.
    display: String,
    /// The name and display name strata creates the topic with when it is missing.
    create: Option<(String, Option<String>)>,
}

fn topic_arn(region: &str, account: &str, name: &str) -> String {
    let partition = crate::role::partition(region);
    format!("arn:{partition}:sns:{region}:{account}:{name}")
}

fn wanted_topic(target: &Target<'_>, topic: &TopicRef) -> WantedTopic {
    match topic {
        TopicRef::Arn(source) => WantedTopic {
            arn: target.resolved.source(source),
            display: source.to_string(),
            create: None,
        },
        TopicRef::Name { name, display_name } => WantedTopic {
            arn: Some(topic_arn(target.region, &target.account, name)),
            display: name.clone(),
            create: Some((name.clone(), display_name.clone())),
        },
    }
}

/// The ARNs of the topics strata creates by name for any function of the deploy.
fn named_topics(target: &Target<'_>) -> BTreeSet<String> {
    target
        .spec
        .functions
        .iter()
        .flat_map(|function| &function.triggers)
        .filter_map(|trigger| match trigger {
            TriggerSpec::Topic(topic) => match &topic.topic {
                TopicRef::Name { name, .. } => {
                    Some(topic_arn(target.region, &target.account, name))
                }
                TopicRef::Arn(_) => None,
            },
            _ => None,
        })
        .collect()
}

/// One subscription to create, update, leave or delete.
#[derive(Clone, Debug)]
pub(crate) struct TopicChange {
    topic_arn: Option<String>,
    display: String,
    /// The topic does not exist: strata creates it with this name and display name.
    create_topic: Option<(String, Option<String>)>,
    wanted: Option<Filter>,
    /// The subscription's ARN and attributes.
    current: Option<(String, Filter)>,
    /// Once unsubscribed, the topic goes too: strata created it and no function names it.
    delete_topic: bool,
}

impl TopicChange {
    pub fn plan(&self, function: &str) -> TriggerPlan {
        let action = match (&self.wanted, &self.current) {
            (Some(_), None) => TriggerAction::Create,
            (None, _) => TriggerAction::Delete,
            (Some(wanted), Some((_, current))) => {
                let changes = wanted.field_changes(current);
                match changes.is_empty() {
                    true => TriggerAction::Unchanged,
                    false => TriggerAction::Update { changes },
                }
            }
        };
        let created = match (&self.create_topic, self.delete_topic) {
            (Some(_), _) => " (topic created)",
            (None, true) => " (topic deleted)",
            (None, false) => "",
        };
        TriggerPlan {
            function: function.to_owned(),
            kind: KIND.to_owned(),
            source: format!(
                "topic {}{created}",
                self.topic_arn.as_deref().unwrap_or(&self.display)
            ),
            id: self.current.as_ref().map(|(arn, _)| arn.clone()),
            action,
        }
    }
}

/// The permissions the wanted subscriptions need: one per topic, for SNS from that topic.
pub(crate) fn permissions(changes: &[TopicChange]) -> Vec<Permission> {
    changes
        .iter()
        .filter(|change| change.wanted.is_some())
        .filter_map(|change| change.topic_arn.as_deref())
        .map(|arn| Permission::new(KIND, PRINCIPAL, arn))
        .collect()
}

/// The topics `policy`'s `strata-sns-` statements name.
fn topics_in_policy(policy: &BTreeMap<String, Permission>) -> BTreeSet<String> {
    let prefix = format!("{}{KIND}-", permission::STATEMENT_PREFIX);
    policy
        .values()
        .filter(|statement| statement.statement_id.starts_with(&prefix))
        .filter(|statement| !statement.source_arn.is_empty())
        .map(|statement| statement.source_arn.clone())
        .collect()
}

/// Every subscription of the topic; `None` when the topic does not exist.
async fn subscriptions(
    ctx: &CallContext<'_>,
    sns: &aws_sdk_sns::Client,
    topic: &str,
) -> Result<Option<Vec<aws_sdk_sns::types::Subscription>>, AwsError> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let Some(page) = ctx
            .call_optional(Step::Read, || async {
                sns.list_subscriptions_by_topic()
                    .topic_arn(topic)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("ListSubscriptionsByTopic", error))
            })
            .await?
        else {
            return Ok(None);
        };
        all.extend(page.subscriptions().iter().cloned());
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => return Ok(Some(all)),
        }
    }
}

/// The alias's subscription on the topic, with its filter; `Ok(None)` when there is none,
/// and the outer `None` when the topic does not exist.
async fn subscription(
    ctx: &CallContext<'_>,
    sns: &aws_sdk_sns::Client,
    topic: &str,
    alias_arn: &str,
) -> Result<Option<Option<(String, Filter)>>, AwsError> {
    let Some(all) = subscriptions(ctx, sns, topic).await? else {
        return Ok(None);
    };
    let Some(arn) = all
        .iter()
        .find(|subscription| {
            subscription.protocol() == Some(PROTOCOL) && subscription.endpoint() == Some(alias_arn)
        })
        .and_then(|subscription| subscription.subscription_arn())
        .map(str::to_owned)
    else {
        return Ok(Some(None));
    };
    let attributes = ctx
        .call(Step::Read, || async {
            sns.get_subscription_attributes()
                .subscription_arn(&arn)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("GetSubscriptionAttributes", error))
        })
        .await?;
    let filter = Filter::from_attributes(attributes.attributes().unwrap_or(&HashMap::new()));
    Ok(Some(Some((arn, filter))))
}

/// Whether strata created the topic for this service and stage (its tags say so).
async fn created_by_strata(
    ctx: &CallContext<'_>,
    sns: &aws_sdk_sns::Client,
    topic: &str,
    service: &str,
    stage: &str,
) -> Result<bool, AwsError> {
    let tags = ctx
        .call_optional(Step::Read, || async {
            sns.list_tags_for_resource()
                .resource_arn(topic)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("ListTagsForResource", error))
        })
        .await?;
    let tags: BTreeMap<&str, &str> = tags
        .iter()
        .flat_map(|tags| tags.tags())
        .map(|tag| (tag.key(), tag.value()))
        .collect();
    Ok(tags.get(TAG_SERVICE) == Some(&service) && tags.get(TAG_STAGE) == Some(&stage))
}

/// Compares the function's `sns` triggers with its subscriptions on every topic it names now
/// or had a permission for.
pub(crate) async fn plan(
    ctx: &CallContext<'_>,
    sns: &aws_sdk_sns::Client,
    target: &Target<'_>,
    policy: &BTreeMap<String, Permission>,
) -> Result<Vec<TopicChange>, AwsError> {
    let mut wanted: Vec<(WantedTopic, Filter)> = target
        .function
        .triggers
        .iter()
        .filter_map(|trigger| match trigger {
            TriggerSpec::Topic(topic) => Some((
                wanted_topic(target, &topic.topic),
                Filter::new(
                    topic.filter_policy.clone(),
                    topic.filter_policy_scope.clone(),
                ),
            )),
            _ => None,
        })
        .collect();
    let mut changes = Vec::new();
    let mut seen = BTreeSet::new();
    for (topic, filter) in wanted.drain(..) {
        let Some(arn) = topic.arn.clone() else {
            changes.push(TopicChange {
                topic_arn: None,
                display: topic.display,
                create_topic: None,
                wanted: Some(filter),
                current: None,
                delete_topic: false,
            });
            continue;
        };
        if !seen.insert(arn.clone()) {
            continue;
        }
        let (create_topic, current) = match subscription(ctx, sns, &arn, &target.alias_arn).await? {
            Some(current) => (None, current),
            None => (topic.create.clone(), None),
        };
        changes.push(TopicChange {
            topic_arn: Some(arn),
            display: topic.display,
            create_topic,
            wanted: Some(filter),
            current,
            delete_topic: false,
        });
    }
    let named = named_topics(target);
    for arn in topics_in_policy(policy) {
        if seen.contains(&arn) {
            continue;
        }
        let Some(Some(current)) = subscription(ctx, sns, &arn, &target.alias_arn).await? else {
            continue;
        };
        let delete_topic = !named.contains(&arn)
            && created_by_strata(ctx, sns, &arn, target.service, target.stage).await?;
        changes.push(TopicChange {
            display: arn.clone(),
            topic_arn: Some(arn),
            create_topic: None,
            wanted: None,
            current: Some(current),
            delete_topic,
        });
    }
    Ok(changes)
}

/// Creates topics and subscriptions, sets changed attributes, and unsubscribes (deleting a
/// topic strata created that nothing uses any more).
pub(crate) async fn apply(
    ctx: &CallContext<'_>,
    sns: &aws_sdk_sns::Client,
    target: &Target<'_>,
    changes: &[TopicChange],
) -> Result<(), AwsError> {
    for change in changes {
        let Some(topic) = change.topic_arn.as_deref() else {
            continue;
        };
        let ctx = ctx.for_resource(topic);
        match (&change.wanted, &change.current) {
            (Some(wanted), None) => {
                if let Some((name, display_name)) = &change.create_topic {
                    create_topic(&ctx, sns, target, name, display_name.as_deref()).await?;
                }
                ctx.call(Step::Trigger, || async {
                    sns.subscribe()
                        .topic_arn(topic)
                        .protocol(PROTOCOL)
                        .endpoint(&target.alias_arn)
                        .set_attributes(Some(wanted.subscribe_attributes()))
                        .return_subscription_arn(true)
                        .send()
                        .await
                        .map_err(|error| ApiError::from_sdk("Subscribe", error))
                })
                .await?;
            }
            (Some(wanted), Some((arn, current))) => {
                for (name, value) in wanted.updates_from(current) {
                    ctx.call(Step::Trigger, || async {
                        sns.set_subscription_attributes()
                            .subscription_arn(arn)
                            .attribute_name(name)
                            .attribute_value(&value)
                            .send()
                            .await
                            .map_err(|error| ApiError::from_sdk("SetSubscriptionAttributes", error))
                    })
                    .await?;
                }
            }
            (None, Some((arn, _))) => {
                unsubscribe(&ctx, sns, arn).await?;
                if change.delete_topic {
                    delete_topic_if_unused(&ctx, sns, topic).await?;
                }
            }
            (None, None) => {}
        }
    }
    Ok(())
}

async fn create_topic(
    ctx: &CallContext<'_>,
    sns: &aws_sdk_sns::Client,
    target: &Target<'_>,
    name: &str,
    display_name: Option<&str>,
) -> Result<(), AwsError> {
    ctx.call(Step::Trigger, || async {
        let tags = [(TAG_SERVICE, target.service), (TAG_STAGE, target.stage)]
            .into_iter()
            .map(|(key, value)| Tag::builder().key(key).value(value).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| {
                ApiError::local(
                    "CreateTopic",
                    format!("building the tags failed: {error}"),
                    error,
                )
            })?;
        let mut request = sns.create_topic().name(name).set_tags(Some(tags));
        if let Some(display_name) = display_name {
            request = request.attributes("DisplayName", display_name);
        }
        request
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("CreateTopic", error))
    })
    .await?;
    Ok(())
}

async fn unsubscribe(
    ctx: &CallContext<'_>,
    sns: &aws_sdk_sns::Client,
    subscription: &str,
) -> Result<(), AwsError> {
    ctx.call_optional(Step::Trigger, || async {
        sns.unsubscribe()
            .subscription_arn(subscription)
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("Unsubscribe", error))
    })
    .await?;
    Ok(())
}

/// Deletes the topic when no subscription is left on it.
async fn delete_topic_if_unused(
    ctx: &CallContext<'_>,
    sns: &aws_sdk_sns::Client,
    topic: &str,
) -> Result<bool, AwsError> {
    let Some(left) = subscriptions(ctx, sns, topic).await? else {
        return Ok(true);
    };
    if !left.is_empty() {
        return Ok(false);
    }
    ctx.call_optional(Step::Trigger, || async {
        sns.delete_topic()
            .topic_arn(topic)
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("DeleteTopic", error))
    })
    .await?;
    Ok(true)
}

/// strata's subscriptions of a deployed function's alias, on the topics its policy names.
pub(crate) async fn find(
    ctx: &CallContext<'_>,
    sns: &aws_sdk_sns::Client,
    owner: &Owner<'_>,
    policy: &BTreeMap<String, Permission>,
) -> Result<Vec<Found>, AwsError> {
    let mut found = Vec::new();
    for topic in topics_in_policy(policy) {
        let Some(Some((arn, filter))) = subscription(ctx, sns, &topic, &owner.alias_arn).await?
        else {
            continue;
        };
        let mut resources = vec![resource(format!("{SUBSCRIPTION_RESOURCE}{arn}"))];
        if created_by_strata(ctx, sns, &topic, owner.service, owner.stage).await? {
            resources.push(resource(format!(
                "{TOPIC_RESOURCE}{topic} (created by strata; deleted once unused)"
            )));
        }
        let filtered = match filter.policy {
            Some(_) => " (filtered)",
            None => "",
        };
        found.push(Found {
            describe: format!("sns {topic}{filtered}"),
            resources,
        });
    }
    Ok(found)
}

/// Deletes what `name` (from [`find`]) names; `false` when it is not an SNS resource.
pub(crate) async fn remove(
    ctx: &CallContext<'_>,
    sns: &aws_sdk_sns::Client,
    name: &str,
) -> Result<bool, AwsError> {
    if let Some(arn) = name.strip_prefix(SUBSCRIPTION_RESOURCE) {
        unsubscribe(ctx, sns, arn).await?;
        return Ok(true);
    }
    if let Some(rest) = name.strip_prefix(TOPIC_RESOURCE) {
        let topic = rest.split(' ').next().unwrap_or(rest);
        delete_topic_if_unused(ctx, sns, topic).await?;
        return Ok(true);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// SNS's documented subscription attributes: `FilterPolicy` is the policy as JSON text,
    /// `FilterPolicyScope` is `MessageAttributes` or `MessageBody` and only sent with a
    /// policy; a policy is removed by setting `{}`. moto stores whatever it is given.
    #[test]
    fn the_attributes_strata_sends_are_the_documented_ones() {
        let filter = Filter::new(Some(json!({ "kind": ["order"] })), None);
        let attributes = filter.subscribe_attributes();
        assert_eq!(
            serde_json::from_str::<Value>(&attributes["FilterPolicy"]).unwrap(),
            json!({ "kind": ["order"] })
        );
        assert_eq!(attributes["FilterPolicyScope"], "MessageAttributes");
        assert!(
            Filter::new(None, Some("MessageBody".into()))
                .subscribe_attributes()
                .is_empty()
        );

        let body = Filter::new(
            Some(json!({ "kind": ["order"] })),
            Some("MessageBody".into()),
        );
        assert_eq!(
            body.updates_from(&filter),
            [("FilterPolicyScope", "MessageBody".to_owned())]
        );
        assert_eq!(
            Filter::default().updates_from(&filter),
            [("FilterPolicy", "{}".to_owned())]
        );
        assert!(filter.updates_from(&filter).is_empty());
    }

    #[test]
    fn read_attributes_compare_equal_to_what_was_written() {
        let written = Filter::new(Some(json!({ "kind": ["order"] })), None);
        let read = Filter::from_attributes(&HashMap::from([
            (
                "FilterPolicy".to_owned(),
                r#"{"kind": ["order"]}"#.to_owned(),
            ),
            (
                "FilterPolicyScope".to_owned(),
                "MessageAttributes".to_owned(),
            ),
        ]));
        assert_eq!(read, written);
        // A removed policy reads back as `{}`, which is no policy.
        let cleared = Filter::from_attributes(&HashMap::from([(
            "FilterPolicy".to_owned(),
            "{}".to_owned(),
        )]));
        assert_eq!(cleared, Filter::default());
    }
}
