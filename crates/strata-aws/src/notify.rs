//! A function's push triggers — S3 bucket notifications ([`crate::bucket`]), EventBridge
//! schedules ([`crate::schedule`]) and SNS subscriptions ([`crate::topic`]) — each aimed at
//! the function's stage alias, with the invoke permission that lets the service call it.
//!
//! Unlike event source mappings these live on the source's side, so strata finds its own
//! through the alias: the sources of its `strata-s3-` / `strata-sns-` permission statements
//! and the rules that target the alias ARN (tagged `strata:service` / `strata:stage`). plan
//! reads only; apply adds missing permissions first (S3 checks that it may invoke the
//! destination when the configuration is written), then changes the triggers, then removes
//! the permissions of triggers that are gone.

use std::collections::BTreeMap;

use strata_provider::{DeploySpec, FunctionSpec, Resource, ResourceKind, TriggerPlan};

use crate::AwsProvider;
use crate::bucket;
use crate::call::CallContext;
use crate::error::AwsError;
use crate::permission::{self, Permission, PermissionChanges};
use crate::schedule;
use crate::stack::Resolved;
use crate::topic;

/// Whether a trigger line is one of this module's kinds (compared again at apply time).
pub(crate) fn is_push_kind(kind: &str) -> bool {
    [bucket::KIND, schedule::KIND, topic::KIND].contains(&kind)
}

/// One function of one deploy, as its push triggers see it.
pub(crate) struct Target<'a> {
    pub service: &'a str,
    pub stage: &'a str,
    pub region: &'a str,
    pub account: String,
    pub function: &'a FunctionSpec,
    /// `arn:…:function:<name>:<stage>`: what every trigger invokes.
    pub alias_arn: String,
    pub resolved: &'a Resolved,
    /// The whole deploy (a topic another function still names is never deleted).
    pub spec: &'a DeploySpec,
}

impl<'a> Target<'a> {
    pub async fn new(
        ctx: &CallContext<'_>,
        provider: &'a AwsProvider,
        spec: &'a DeploySpec,
        function: &'a FunctionSpec,
        resolved: &'a Resolved,
    ) -> Result<Self, AwsError> {
        let account = provider.uploader(spec.adopt).account(ctx).await?;
        let region = provider.clients.region.as_str();
        Ok(Self {
            service: &spec.service,
            stage: &spec.stage,
            region,
            alias_arn: crate::triggers::alias_arn(
                region,
                &account,
                &function.deployed_name,
                &spec.stage,
            ),
            account,
            function,
            resolved,
            spec,
        })
    }
}

/// What deploy changes in one function's push triggers.
#[derive(Clone, Debug)]
pub(crate) struct NotifyChanges {
    /// The alias's policy as read.
    policy: BTreeMap<String, Permission>,
    buckets: Vec<bucket::BucketChange>,
    rules: Vec<schedule::RuleChange>,
    topics: Vec<topic::TopicChange>,
}

impl NotifyChanges {
    pub fn plans(&self, function: &str) -> Vec<TriggerPlan> {
        let mut plans: Vec<TriggerPlan> = self
            .buckets
            .iter()
            .flat_map(|change| change.plans(function))
            .collect();
        plans.extend(self.rules.iter().map(|change| change.plan(function)));
        plans.extend(self.topics.iter().map(|change| change.plan(function)));
        plans
    }
}

/// Compares the function's push triggers with what the alias's policy, the buckets, the
/// rules and the topics hold. Reads only.
pub(crate) async fn plan(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    target: &Target<'_>,
) -> Result<NotifyChanges, AwsError> {
    let clients = &provider.clients;
    let policy = permission::current(
        ctx,
        &clients.lambda,
        &target.function.deployed_name,
        target.stage,
    )
    .await?;
    Ok(NotifyChanges {
        buckets: bucket::plan(ctx, &clients.s3, target, &policy).await?,
        rules: schedule::plan(ctx, &clients.eventbridge, target).await?,
        topics: topic::plan(ctx, &clients.sns, target, &policy).await?,
        policy,
    })
}

/// Carries out `changes`. S3 checks that it may invoke the destination when a configuration
/// is written, so the bucket permissions are added before the write and the ones no longer
/// wanted removed after it; EventBridge and SNS check nothing, so their permissions follow
/// their rules and subscriptions.
pub(crate) async fn apply(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    target: &Target<'_>,
    changes: &NotifyChanges,
) -> Result<(), AwsError> {
    let clients = &provider.clients;
    let lambda = &clients.lambda;
    let name = target.function.deployed_name.as_str();
    let wanted = bucket::permissions(target, &changes.buckets);
    let diff = permission::diff(bucket::KIND, &wanted, &changes.policy);
    let (replaced, gone): (Vec<String>, Vec<String>) = diff.remove.into_iter().partition(|id| {
        diff.add
            .iter()
            .any(|permission| &permission.statement_id == id)
    });
    let before = PermissionChanges {
        add: diff.add,
        remove: replaced,
    };
    permission::apply(ctx, lambda, name, target.stage, &before).await?;
    bucket::apply(ctx, &clients.s3, target, &changes.buckets).await?;
    let after = PermissionChanges {
        add: Vec::new(),
        remove: gone,
    };
    permission::apply(ctx, lambda, name, target.stage, &after).await?;

    schedule::apply(ctx, &clients.eventbridge, target, &changes.rules).await?;
    let wanted = schedule::permissions(target, &changes.rules);
    permission::sync(ctx, lambda, name, target.stage, schedule::KIND, &wanted).await?;

    topic::apply(ctx, &clients.sns, target, &changes.topics).await?;
    let wanted = topic::permissions(&changes.topics);
    permission::sync(ctx, lambda, name, target.stage, topic::KIND, &wanted).await?;
    Ok(())
}

/// The deployed function `function_name`'s push triggers as `info` shows them.
pub(crate) async fn describe(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    owner: &Owner<'_>,
) -> Result<Vec<String>, AwsError> {
    let found = find(ctx, provider, owner).await?;
    Ok(found.iter().map(|found| found.describe.clone()).collect())
}

/// A deployed function's stage alias, for info and remove (no spec at hand).
pub(crate) struct Owner<'a> {
    pub service: &'a str,
    pub stage: &'a str,
    pub function_name: &'a str,
    pub alias_arn: String,
}

/// One push trigger strata made, found from the alias's side.
pub(crate) struct Found {
    /// `info`'s line.
    pub describe: String,
    /// What remove deletes (the trigger, then a bucket or topic strata created for it).
    pub resources: Vec<Resource>,
}

async fn find(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    owner: &Owner<'_>,
) -> Result<Vec<Found>, AwsError> {
    let clients = &provider.clients;
    let policy =
        permission::current(ctx, &clients.lambda, owner.function_name, owner.stage).await?;
    let mut found = bucket::find(ctx, &clients.s3, owner, &policy).await?;
    found.extend(schedule::find(ctx, &clients.eventbridge, owner).await?);
    found.extend(topic::find(ctx, &clients.sns, owner, &policy).await?);
    Ok(found)
}

/// The push triggers `remove` deletes for one function: each trigger, and after all of the
/// service's triggers the buckets and topics strata created (see [`removals`]).
pub(crate) async fn removals(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    owner: &Owner<'_>,
) -> Result<(Vec<Resource>, Vec<Resource>), AwsError> {
    let mut triggers = Vec::new();
    let mut containers = Vec::new();
    for found in find(ctx, provider, owner).await? {
        for resource in found.resources {
            match is_container(&resource.name) {
                true if !containers.contains(&resource) => containers.push(resource),
                true => {}
                false => triggers.push(resource),
            }
        }
    }
    Ok((triggers, containers))
}

fn is_container(name: &str) -> bool {
    name.starts_with(bucket::BUCKET_RESOURCE) || name.starts_with(topic::TOPIC_RESOURCE)
}

pub(crate) fn resource(name: String) -> Resource {
    Resource {
        kind: ResourceKind::Trigger,
        name,
    }
}

/// Deletes one resource [`removals`] listed; `None` when `name` is not one of them (an
/// event source mapping), else the name to report (which says so when a bucket was kept).
pub(crate) async fn remove(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    name: &str,
) -> Result<Option<String>, AwsError> {
    let clients = &provider.clients;
    if let Some(done) = bucket::remove(ctx, &clients.s3, name).await? {
        return Ok(Some(done));
    }
    if schedule::remove(ctx, &clients.eventbridge, name).await? {
        return Ok(Some(name.to_owned()));
    }
    if topic::remove(ctx, &clients.sns, name).await? {
        return Ok(Some(name.to_owned()));
    }
    Ok(None)
}
