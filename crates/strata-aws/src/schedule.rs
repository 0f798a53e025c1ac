//! A function's `schedule` triggers as EventBridge rules on the default bus, one per
//! expression, each with one target (id [`TARGET_ID`]) that invokes the stage alias.
//!
//! A rule is named `name` when the manifest gives one (`name-2`, `name-3` for further
//! expressions), else `<function>-schedule-<n>`, shortened with a hash to EventBridge's 64
//! characters. strata's rules are the ones that target the alias ARN and carry the tags
//! `strata:service` / `strata:stage`; a wanted name held by a rule without them is refused. A
//! rule's expression, state and description are updated with one `PutRule`, its target's
//! input with one `PutTargets`, each only when it differs; a rule that left the manifest
//! loses strata's target and is deleted when no other target is left on it.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_eventbridge::types::{RuleState, Tag, Target as RuleTarget};
use sha2::{Digest, Sha256};
use strata_provider::{FieldChange, Step, TriggerAction, TriggerPlan, TriggerSpec};

use crate::call::CallContext;
use crate::desired::{TAG_SERVICE, TAG_STAGE};
use crate::error::{ApiError, AwsError};
use crate::notify::{Found, Owner, Target, resource};
use crate::permission::Permission;

/// The permission kind (statement ids `strata-schedule-…`) and the plan's trigger kind.
pub(crate) const KIND: &str = "schedule";
const PRINCIPAL: &str = "events.amazonaws.com";
/// The id of strata's target on each of its rules.
pub(crate) const TARGET_ID: &str = "strata";
const MAX_RULE_NAME: usize = 64;
/// How `plan_remove` names a rule: `schedule rule <name>`.
const RULE_RESOURCE: &str = "schedule rule ";

/// One rule and its target, as strata compares them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rule {
    pub name: String,
    pub expression: String,
    pub enabled: bool,
    pub description: Option<String>,
    /// The target's constant input (JSON text).
    pub input: Option<String>,
    pub input_path: Option<String>,
    /// Whether strata's target invokes the alias (always, for a wanted rule).
    pub targets_alias: bool,
}

impl Rule {
    /// The fields `PutRule` sets.
    fn rule_fields(&self) -> RuleFields {
        [
            ("expression", Some(self.expression.clone())),
            ("state", Some(state(self.enabled).as_str().to_owned())),
            ("description", self.description.clone()),
        ]
    }

    /// The fields `PutTargets` sets.
    fn target_fields(&self) -> RuleFields {
        [
            ("input", self.input.clone()),
            ("input_path", self.input_path.clone()),
            (
                "target",
                self.targets_alias.then(|| "stage alias".to_owned()),
            ),
        ]
    }
}

fn state(enabled: bool) -> RuleState {
    match enabled {
        true => RuleState::Enabled,
        false => RuleState::Disabled,
    }
}

/// `<base>`, or `<base cut short>-<hash>` when longer than EventBridge allows.
fn fit(base: &str) -> String {
    if base.len() <= MAX_RULE_NAME {
        return base.to_owned();
    }
    let digest = hex::encode(Sha256::digest(base.as_bytes()));
    let keep: String = base.chars().take(MAX_RULE_NAME - 9).collect();
    format!("{keep}-{}", &digest[..8])
}

/// The rules the function's `schedule` triggers ask for, numbered across its triggers.
pub(crate) fn wanted(deployed_name: &str, triggers: &[TriggerSpec]) -> Vec<Rule> {
    let mut rules = Vec::new();
    for trigger in triggers {
        let TriggerSpec::Schedule(schedule) = trigger else {
            continue;
        };
        for (index, expression) in schedule.expressions.iter().enumerate() {
            let number = rules.len() + 1;
            let name = match (&schedule.name, index) {
                (Some(name), 0) => name.clone(),
                (Some(name), _) => fit(&format!("{name}-{}", index + 1)),
                (None, _) => fit(&format!("{deployed_name}-schedule-{number}")),
            };
            rules.push(Rule {
                name,
                expression: expression.clone(),
                enabled: schedule.enabled,
                description: schedule.description.clone(),
                input: schedule.input.clone(),
                input_path: schedule.input_path.clone(),
                targets_alias: true,
            });
        }
    }
    rules
}

/// Three of a rule's fields by name, as [`Rule::rule_fields`] and [`Rule::target_fields`]
/// read them.
type RuleFields = [(&'static str, Option<String>); 3];

/// One rule to create, update, leave or delete.
#[derive(Clone, Debug)]
pub(crate) struct RuleChange {
    pub name: String,
    pub wanted: Option<Rule>,
    pub current: Option<Rule>,
}

impl RuleChange {
    fn changes(&self, fields: fn(&Rule) -> RuleFields) -> Vec<FieldChange> {
        let (Some(wanted), Some(current)) = (&self.wanted, &self.current) else {
            return Vec::new();
        };
        fields(current)
            .into_iter()
            .zip(fields(wanted))
            .filter(|((_, old), (_, new))| old != new)
            .map(|((field, old), (_, new))| FieldChange::new(field, old, new))
            .collect()
    }

    fn rule_changes(&self) -> Vec<FieldChange> {
        self.changes(Rule::rule_fields)
    }

    fn target_changes(&self) -> Vec<FieldChange> {
        self.changes(Rule::target_fields)
    }

    pub fn plan(&self, function: &str) -> TriggerPlan {
        let action = match (&self.wanted, &self.current) {
            (Some(_), None) => TriggerAction::Create,
            (None, _) => TriggerAction::Delete,
            (Some(_), Some(_)) => {
                let mut changes = self.rule_changes();
                changes.extend(self.target_changes());
                match changes.is_empty() {
                    true => TriggerAction::Unchanged,
                    false => TriggerAction::Update { changes },
                }
            }
        };
        let expression = self
            .wanted
            .as_ref()
            .or(self.current.as_ref())
            .map(|rule| rule.expression.clone())
            .unwrap_or_default();
        TriggerPlan {
            function: function.to_owned(),
            kind: KIND.to_owned(),
            source: expression,
            id: Some(self.name.clone()),
            action,
        }
    }
}

/// `arn:<partition>:events:<region>:<account>:rule/<name>` (the default bus).
pub(crate) fn rule_arn(region: &str, account: &str, name: &str) -> String {
    let partition = crate::role::partition(region);
    format!("arn:{partition}:events:{region}:{account}:rule/{name}")
}

/// The permissions the wanted rules need: one per rule, for EventBridge from that rule.
pub(crate) fn permissions(target: &Target<'_>, changes: &[RuleChange]) -> Vec<Permission> {
    changes
        .iter()
        .filter(|change| change.wanted.is_some())
        .map(|change| {
            Permission::new(
                KIND,
                PRINCIPAL,
                &rule_arn(target.region, &target.account, &change.name),
            )
        })
        .collect()
}

/// The names of the rules with a target on `alias_arn`.
async fn rules_targeting(
    ctx: &CallContext<'_>,
    events: &aws_sdk_eventbridge::Client,
    alias_arn: &str,
) -> Result<BTreeSet<String>, AwsError> {
    let mut names = BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let page = ctx
            .call(Step::Read, || async {
                events
                    .list_rule_names_by_target()
                    .target_arn(alias_arn)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("ListRuleNamesByTarget", error))
            })
            .await?;
        names.extend(page.rule_names().iter().cloned());
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => return Ok(names),
        }
    }
}

/// A rule as deployed: its fields with strata's target, its ARN, and its tags.
struct Deployed {
    rule: Rule,
    tags: BTreeMap<String, String>,
}

impl Deployed {
    fn is_ours(&self, service: &str, stage: &str) -> bool {
        self.tags.get(TAG_SERVICE).map(String::as_str) == Some(service)
            && self.tags.get(TAG_STAGE).map(String::as_str) == Some(stage)
    }
}

async fn read(
    ctx: &CallContext<'_>,
    events: &aws_sdk_eventbridge::Client,
    name: &str,
    alias_arn: &str,
) -> Result<Option<Deployed>, AwsError> {
    let Some(rule) = ctx
        .call_optional(Step::Read, || async {
            events
                .describe_rule()
                .name(name)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("DescribeRule", error))
        })
        .await?
    else {
        return Ok(None);
    };
    let arn = rule.arn().unwrap_or_default().to_owned();
    let tags = ctx
        .call(Step::Read, || async {
            events
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("ListTagsForResource", error))
        })
        .await?
        .tags()
        .iter()
        .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
        .collect();
    let targets = list_targets(ctx, events, name).await?;
    let ours = targets.iter().find(|target| target.id() == TARGET_ID);
    Ok(Some(Deployed {
        rule: Rule {
            name: name.to_owned(),
            expression: rule.schedule_expression().unwrap_or_default().to_owned(),
            enabled: rule.state() != Some(&RuleState::Disabled),
            description: rule
                .description()
                .filter(|text| !text.is_empty())
                .map(str::to_owned),
            input: ours.and_then(|target| target.input()).map(str::to_owned),
            input_path: ours
                .and_then(|target| target.input_path())
                .map(str::to_owned),
            targets_alias: ours.is_some_and(|target| target.arn() == alias_arn),
        },
        tags,
    }))
}

async fn list_targets(
    ctx: &CallContext<'_>,
    events: &aws_sdk_eventbridge::Client,
    name: &str,
) -> Result<Vec<RuleTarget>, AwsError> {
    let output = ctx
        .call_optional(Step::Read, || async {
            events
                .list_targets_by_rule()
                .rule(name)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("ListTargetsByRule", error))
        })
        .await?;
    Ok(output
        .map(|output| output.targets().to_vec())
        .unwrap_or_default())
}

/// Compares the wanted rules with strata's rules on the alias and the rules of the wanted
/// names.
pub(crate) async fn plan(
    ctx: &CallContext<'_>,
    events: &aws_sdk_eventbridge::Client,
    target: &Target<'_>,
) -> Result<Vec<RuleChange>, AwsError> {
    let wanted = wanted(&target.function.deployed_name, &target.function.triggers);
    let mut names: BTreeSet<String> = rules_targeting(ctx, events, &target.alias_arn).await?;
    names.extend(wanted.iter().map(|rule| rule.name.clone()));
    let mut wanted: BTreeMap<String, Rule> = wanted
        .into_iter()
        .map(|rule| (rule.name.clone(), rule))
        .collect();
    let mut changes = Vec::new();
    for name in names {
        let deployed = read(ctx, events, &name, &target.alias_arn).await?;
        let wanted = wanted.remove(&name);
        let current = match deployed {
            Some(deployed) if deployed.is_ours(target.service, target.stage) => Some(deployed.rule),
            // Someone else's rule that also invokes the alias: not strata's to touch.
            Some(_) if wanted.is_none() => continue,
            Some(deployed) => {
                return Err(AwsError::NotOwned {
                    kind: "EventBridge rule",
                    name,
                    tags: deployed.tags,
                });
            }
            None if wanted.is_none() => continue,
            None => None,
        };
        changes.push(RuleChange {
            name,
            wanted,
            current,
        });
    }
    Ok(changes)
}

/// The target strata puts on a rule: the alias, with the constant input or input path.
pub(crate) fn rule_target(
    rule: &Rule,
    alias_arn: &str,
) -> Result<RuleTarget, aws_sdk_eventbridge::error::BuildError> {
    RuleTarget::builder()
        .id(TARGET_ID)
        .arn(alias_arn)
        .set_input(rule.input.clone())
        .set_input_path(rule.input_path.clone())
        .build()
}

fn tags(target: &Target<'_>) -> Result<Vec<Tag>, aws_sdk_eventbridge::error::BuildError> {
    [(TAG_SERVICE, target.service), (TAG_STAGE, target.stage)]
        .into_iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

/// Creates, updates (only what differs) and deletes the rules.
pub(crate) async fn apply(
    ctx: &CallContext<'_>,
    events: &aws_sdk_eventbridge::Client,
    target: &Target<'_>,
    changes: &[RuleChange],
) -> Result<(), AwsError> {
    for change in changes {
        let ctx = ctx.for_resource(&change.name);
        let Some(wanted) = &change.wanted else {
            delete(&ctx, events, &change.name).await?;
            continue;
        };
        let creating = change.current.is_none();
        if creating || !change.rule_changes().is_empty() {
            ctx.call(Step::Trigger, || async {
                // Tags are only taken when the rule is created.
                let tags = match creating {
                    true => Some(tags(target).map_err(|error| {
                        ApiError::local(
                            "PutRule",
                            format!("building the tags failed: {error}"),
                            error,
                        )
                    })?),
                    false => None,
                };
                events
                    .put_rule()
                    .name(&change.name)
                    .schedule_expression(&wanted.expression)
                    .state(state(wanted.enabled))
                    .set_description(wanted.description.clone())
                    .set_tags(tags)
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("PutRule", error))
            })
            .await?;
        }
        if creating || !change.target_changes().is_empty() {
            put_target(&ctx, events, &change.name, wanted, &target.alias_arn).await?;
        }
    }
    Ok(())
}

async fn put_target(
    ctx: &CallContext<'_>,
    events: &aws_sdk_eventbridge::Client,
    name: &str,
    rule: &Rule,
    alias_arn: &str,
) -> Result<(), AwsError> {
    ctx.call(Step::Trigger, || async {
        let target = rule_target(rule, alias_arn).map_err(|error| {
            ApiError::local(
                "PutTargets",
                format!("building the target failed: {error}"),
                error,
            )
        })?;
        let output = events
            .put_targets()
            .rule(name)
            .targets(target)
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("PutTargets", error))?;
        // PutTargets answers 200 with the entries it refused.
        match output.failed_entries().first() {
            None => Ok(()),
            Some(failed) => Err(ApiError {
                code: failed.error_code().map(str::to_owned),
                message: failed.error_message().map(str::to_owned),
                ..ApiError::local(
                    "PutTargets",
                    "EventBridge refused the target".to_owned(),
                    std::io::Error::other("PutTargets FailedEntries"),
                )
            }),
        }
    })
    .await?;
    Ok(())
}

/// Takes strata's target off the rule, then deletes the rule unless someone else's target
/// is still on it. A rule already gone is not an error.
async fn delete(
    ctx: &CallContext<'_>,
    events: &aws_sdk_eventbridge::Client,
    name: &str,
) -> Result<(), AwsError> {
    ctx.call_optional(Step::Trigger, || async {
        events
            .remove_targets()
            .rule(name)
            .ids(TARGET_ID)
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("RemoveTargets", error))
    })
    .await?;
    if !list_targets(ctx, events, name).await?.is_empty() {
        return Ok(());
    }
    ctx.call_optional(Step::Trigger, || async {
        events
            .delete_rule()
            .name(name)
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("DeleteRule", error))
    })
    .await?;
    Ok(())
}

/// strata's rules on a deployed function's alias.
pub(crate) async fn find(
    ctx: &CallContext<'_>,
    events: &aws_sdk_eventbridge::Client,
    owner: &Owner<'_>,
) -> Result<Vec<Found>, AwsError> {
    let mut found = Vec::new();
    for name in rules_targeting(ctx, events, &owner.alias_arn).await? {
        let Some(deployed) = read(ctx, events, &name, &owner.alias_arn).await? else {
            continue;
        };
        if !deployed.is_ours(owner.service, owner.stage) {
            continue;
        }
        let disabled = match deployed.rule.enabled {
            true => "",
            false => ", disabled",
        };
        found.push(Found {
            describe: format!(
                "schedule {} (rule {name}{disabled})",
                deployed.rule.expression
            ),
            resources: vec![resource(format!("{RULE_RESOURCE}{name}"))],
        });
    }
    Ok(found)
}

/// Deletes the rule `name` names; `false` when it is not a rule.
pub(crate) async fn remove(
    ctx: &CallContext<'_>,
    events: &aws_sdk_eventbridge::Client,
    name: &str,
) -> Result<bool, AwsError> {
    let Some(rule) = name.strip_prefix(RULE_RESOURCE) else {
        return Ok(false);
    };
    delete(ctx, events, rule).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use strata_provider::ScheduleSpec;

    use super::*;

    fn schedule(expressions: &[&str], name: Option<&str>) -> TriggerSpec {
        TriggerSpec::Schedule(ScheduleSpec {
            expressions: expressions.iter().map(|e| (*e).to_owned()).collect(),
            enabled: true,
            name: name.map(str::to_owned),
            description: None,
            input: Some(r#"{"source":"timer"}"#.to_owned()),
            input_path: None,
        })
    }

    #[test]
    fn rules_are_numbered_per_function_and_fit_eventbridge_s_limit() {
        let rules = wanted(
            "svc-prod-cron",
            &[
                schedule(&["rate(5 minutes)", "cron(0 12 * * ? *)"], None),
                schedule(&["rate(1 hour)"], Some("nightly")),
            ],
        );
        let names: Vec<&str> = rules.iter().map(|rule| rule.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "svc-prod-cron-schedule-1",
                "svc-prod-cron-schedule-2",
                "nightly"
            ]
        );
        let long = wanted(&"f".repeat(64), &[schedule(&["rate(1 hour)"], None)]);
        assert_eq!(long[0].name.len(), MAX_RULE_NAME);
        assert_ne!(
            long[0].name,
            wanted(&"f".repeat(63), &[schedule(&["rate(1 hour)"], None)])[0].name
        );
    }

    #[test]
    fn a_changed_expression_updates_the_rule_but_not_its_target() {
        let old = wanted("f", &[schedule(&["rate(5 minutes)"], None)]).remove(0);
        let new = Rule {
            expression: "rate(10 minutes)".into(),
            ..old.clone()
        };
        let change = RuleChange {
            name: old.name.clone(),
            wanted: Some(new),
            current: Some(old),
        };
        assert_eq!(
            change.rule_changes(),
            [FieldChange::new(
                "expression",
                Some("rate(5 minutes)".into()),
                Some("rate(10 minutes)".into())
            )]
        );
        assert!(change.target_changes().is_empty());
    }

    /// EventBridge's documented `Target`: `Id` (1-64 of `[.\-_A-Za-z0-9]`), `Arn`, and at most
    /// one of `Input` (valid JSON text) and `InputPath`; moto checks none of it.
    #[test]
    fn the_target_strata_sends_is_the_documented_shape() {
        let rule = wanted("f", &[schedule(&["rate(5 minutes)"], None)]).remove(0);
        let alias = "arn:aws:lambda:us-east-1:123456789012:function:f:prod";
        let target = rule_target(&rule, alias).unwrap();
        assert_eq!(target.id(), TARGET_ID);
        assert_eq!(target.arn(), alias);
        let input: serde_json::Value = serde_json::from_str(target.input().unwrap()).unwrap();
        assert_eq!(input["source"], "timer");
        assert!(target.input_path().is_none());
        assert!(
            TARGET_ID
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
        );
    }
}
