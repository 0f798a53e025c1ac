//! A function's queue and stream triggers as Lambda event source mappings on its stage
//! alias (never `$LATEST`, so a trigger only ever invokes released code).
//!
//! strata's mappings are the ones on `<function ARN>:<stage>`, identified by their source
//! ARN: a missing one is created, one that differs gets only the differing fields in one
//! `UpdateEventSourceMapping`, and one whose source left the manifest is deleted. Mappings
//! on another alias, on `$LATEST` or on another function are never listed, so never touched.

use std::collections::BTreeMap;

use aws_sdk_lambda::types::{
    EventSourceMappingConfiguration, EventSourcePosition, Filter, FilterCriteria,
    FunctionResponseType, ScalingConfig,
};
use serde_json::Value;
use strata_provider::{
    FieldChange, FunctionSpec, MappingSpec, Step, TriggerAction, TriggerPlan, TriggerSpec,
};

use crate::call::CallContext;
use crate::error::{ApiError, AwsError};
use crate::stack::{Resolved, canonical};

/// `arn:<partition>:lambda:<region>:<account>:function:<name>:<stage>`.
pub(crate) fn alias_arn(region: &str, account: &str, function: &str, stage: &str) -> String {
    let partition = crate::role::partition(region);
    format!("arn:{partition}:lambda:{region}:{account}:function:{function}:{stage}")
}

/// The ARN of `function`'s stage alias (the account is asked once per provider).
pub(crate) async fn stage_alias_arn(
    ctx: &CallContext<'_>,
    provider: &crate::AwsProvider,
    spec: &strata_provider::DeploySpec,
    function: &FunctionSpec,
) -> Result<String, AwsError> {
    let account = provider.uploader(spec.adopt).account(ctx).await?;
    Ok(alias_arn(
        &provider.clients.region,
        &account,
        &function.deployed_name,
        &spec.stage,
    ))
}

/// The mappings of one function's stage alias, by source ARN.
pub(crate) async fn list_mappings(
    ctx: &CallContext<'_>,
    lambda: &aws_sdk_lambda::Client,
    alias_arn: &str,
) -> Result<Vec<EventSourceMappingConfiguration>, AwsError> {
    let mut mappings = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = ctx
            .call_optional(Step::Read, || async {
                lambda
                    .list_event_source_mappings()
                    .function_name(alias_arn)
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("ListEventSourceMappings", error))
            })
            .await?;
        let Some(page) = page else {
            return Ok(mappings);
        };
        mappings.extend(page.event_source_mappings().iter().cloned());
        match page.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
            _ => return Ok(mappings),
        }
    }
}

/// The mapping specs of a function, with their sources resolved where known.
fn wanted(
    function: &FunctionSpec,
    resolved: &Resolved,
) -> Vec<(String, Option<String>, MappingSpec)> {
    function
        .triggers
        .iter()
        .filter_map(|trigger| match trigger {
            TriggerSpec::Mapping(mapping) => Some((
                mapping.source.to_string(),
                resolved.source(&mapping.source),
                mapping.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// One planned mapping change with what `apply` needs to carry it out.
#[derive(Clone, Debug)]
pub(crate) struct MappingChange {
    pub plan: TriggerPlan,
    pub source_arn: Option<String>,
    pub mapping: Option<MappingSpec>,
}

/// Compares the function's wanted mappings with the ones on its alias (`deployed`, empty
/// when the function or alias does not exist yet).
pub(crate) fn plan_mappings(
    function: &FunctionSpec,
    resolved: &Resolved,
    deployed: &[EventSourceMappingConfiguration],
) -> Vec<MappingChange> {
    let mut by_source: BTreeMap<&str, &EventSourceMappingConfiguration> = deployed
        .iter()
        .filter_map(|mapping| Some((mapping.event_source_arn()?, mapping)))
        .collect();
    let mut changes = Vec::new();
    for (display, source_arn, mapping) in wanted(function, resolved) {
        let existing = source_arn.as_deref().and_then(|arn| by_source.remove(arn));
        let action = match existing {
            None => TriggerAction::Create,
            Some(existing) => {
                let differences = field_changes(&mapping, existing);
                if differences.is_empty() {
                    TriggerAction::Unchanged
                } else {
                    TriggerAction::Update {
                        changes: differences,
                    }
                }
            }
        };
        changes.push(MappingChange {
            plan: TriggerPlan {
                function: function.logical_name.clone(),
                kind: mapping.source_kind.as_str().to_owned(),
                source: source_arn.clone().unwrap_or(display),
                id: existing
                    .and_then(|mapping| mapping.uuid())
                    .map(str::to_owned),
                action,
            },
            source_arn,
            mapping: Some(mapping),
        });
    }
    for (source, mapping) in by_source {
        changes.push(MappingChange {
            plan: TriggerPlan {
                function: function.logical_name.clone(),
                kind: source_kind_of(source).to_owned(),
                source: source.to_owned(),
                id: mapping.uuid().map(str::to_owned),
                action: TriggerAction::Delete,
            },
            source_arn: Some(source.to_owned()),
            mapping: None,
        });
    }
    changes
}

/// Whether a trigger line is one of this module's mappings (the kinds [`source_kind_of`]
/// and [`MappingSource::as_str`](strata_provider::MappingSource::as_str) name).
pub(crate) fn is_mapping_kind(kind: &str) -> bool {
    matches!(
        kind,
        "sqs" | "stream (dynamodb)" | "stream (kinesis)" | "event source"
    )
}

fn source_kind_of(arn: &str) -> &'static str {
    match arn.split(':').nth(2) {
        Some("sqs") => "sqs",
        Some("dynamodb") => "stream (dynamodb)",
        Some("kinesis") => "stream (kinesis)",
        _ => "event source",
    }
}

/// The fields of `deployed` that differ from `wanted`; options the manifest leaves unset
/// are not compared (the cloud's default stands).
fn field_changes(
    wanted: &MappingSpec,
    deployed: &EventSourceMappingConfiguration,
) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let compare =
        |changes: &mut Vec<FieldChange>, field: &str, old: Option<String>, new: Option<String>| {
            if new.is_some() && old != new {
                changes.push(FieldChange::new(field, old, new));
            }
        };
    let text = |value: Option<i64>| value.map(|value| value.to_string());
    let deployed_text = |value: Option<i32>| value.map(|value| value.to_string());
    compare(
        &mut changes,
        "batch_size",
        deployed_text(deployed.batch_size()),
        Some(wanted.batch_size.to_string()),
    );
    compare(
        &mut changes,
        "maximum_batching_window_s",
        deployed_text(deployed.maximum_batching_window_in_seconds()),
        text(wanted.maximum_batching_window_s),
    );
    let enabled = deployed
        .state()
        .map(|state| !matches!(state, "Disabled" | "Disabling"));
    compare(
        &mut changes,
        "enabled",
        enabled.map(|enabled| enabled.to_string()),
        Some(wanted.enabled.to_string()),
    );
    let response_type = deployed
        .function_response_types()
        .first()
        .map(|kind| kind.as_str().to_owned());
    if response_type != wanted.function_response_type {
        changes.push(FieldChange::new(
            "function_response_type",
            response_type,
            wanted.function_response_type.clone(),
        ));
    }
    compare(
        &mut changes,
        "maximum_concurrency",
        deployed_text(
            deployed
                .scaling_config()
                .and_then(ScalingConfig::maximum_concurrency),
        ),
        text(wanted.maximum_concurrency),
    );
    compare(
        &mut changes,
        "parallelization_factor",
        deployed_text(deployed.parallelization_factor()),
        text(wanted.parallelization_factor),
    );
    compare(
        &mut changes,
        "maximum_retry_attempts",
        deployed_text(deployed.maximum_retry_attempts()),
        text(wanted.maximum_retry_attempts),
    );
    compare(
        &mut changes,
        "maximum_record_age_s",
        deployed_text(deployed.maximum_record_age_in_seconds()),
        text(wanted.maximum_record_age_s),
    );
    compare(
        &mut changes,
        "bisect_batch_on_function_error",
        deployed
            .bisect_batch_on_function_error()
            .map(|value| value.to_string()),
        wanted
            .bisect_batch_on_function_error
            .map(|value| value.to_string()),
    );
    compare(
        &mut changes,
        "tumbling_window_s",
        deployed_text(deployed.tumbling_window_in_seconds()),
        text(wanted.tumbling_window_s),
    );
    let deployed_filters: Vec<Value> = deployed
        .filter_criteria()
        .map(FilterCriteria::filters)
        .unwrap_or_default()
        .iter()
        .filter_map(|filter| filter.pattern())
        .filter_map(|pattern| serde_json::from_str::<Value>(pattern).ok())
        .map(|pattern| canonical(&pattern))
        .collect();
    let wanted_filters: Vec<Value> = wanted.filter_patterns.iter().map(canonical).collect();
    if deployed_filters != wanted_filters {
        let show = |patterns: &[Value]| {
            (!patterns.is_empty()).then(|| Value::Array(patterns.to_vec()).to_string())
        };
        changes.push(FieldChange::new(
            "filter_patterns",
            show(&deployed_filters),
            show(&wanted_filters),
        ));
    }
    changes
}

fn filter_criteria(mapping: &MappingSpec) -> Option<FilterCriteria> {
    (!mapping.filter_patterns.is_empty()).then(|| {
        FilterCriteria::builder()
            .set_filters(Some(
                mapping
                    .filter_patterns
                    .iter()
                    .map(|pattern| {
                        Filter::builder()
                            .pattern(canonical(pattern).to_string())
                            .build()
                    })
                    .collect(),
            ))
            .build()
    })
}

fn int(value: Option<i64>) -> Option<i32> {
    value.map(|value| i32::try_from(value).unwrap_or(i32::MAX))
}

fn response_types(mapping: &MappingSpec) -> Option<Vec<FunctionResponseType>> {
    Some(
        mapping
            .function_response_type
            .iter()
            .map(|kind| FunctionResponseType::from(kind.as_str()))
            .collect(),
    )
}

/// Carries out one function's mapping changes on `alias_arn`.
pub(crate) async fn apply_mappings(
    ctx: &CallContext<'_>,
    lambda: &aws_sdk_lambda::Client,
    alias_arn: &str,
    changes: &[MappingChange],
) -> Result<(), AwsError> {
    for change in changes {
        match (&change.plan.action, &change.mapping) {
            (TriggerAction::Unchanged, _) => {}
            (TriggerAction::Create, Some(mapping)) => {
                let source =
                    change
                        .source_arn
                        .clone()
                        .ok_or_else(|| AwsError::UnresolvedReference {
                            function: change.plan.function.clone(),
                            what: "the event source",
                            reference: change.plan.source.clone(),
                        })?;
                ctx.call(Step::Trigger, || async {
                    lambda
                        .create_event_source_mapping()
                        .function_name(alias_arn)
                        .event_source_arn(&source)
                        .batch_size(int(Some(mapping.batch_size)).unwrap_or_default())
                        .set_maximum_batching_window_in_seconds(int(
                            mapping.maximum_batching_window_s
                        ))
                        .enabled(mapping.enabled)
                        .set_function_response_types(response_types(mapping))
                        .set_scaling_config(mapping.maximum_concurrency.map(|maximum| {
                            ScalingConfig::builder()
                                .set_maximum_concurrency(int(Some(maximum)))
                                .build()
                        }))
                        .set_starting_position(
                            mapping
                                .starting_position
                                .as_deref()
                                .map(EventSourcePosition::from),
                        )
                        .set_starting_position_timestamp(
                            mapping
                                .starting_position_timestamp
                                .map(aws_smithy_types::DateTime::from_secs),
                        )
                        .set_parallelization_factor(int(mapping.parallelization_factor))
                        .set_maximum_retry_attempts(int(mapping.maximum_retry_attempts))
                        .set_maximum_record_age_in_seconds(int(mapping.maximum_record_age_s))
                        .set_bisect_batch_on_function_error(mapping.bisect_batch_on_function_error)
                        .set_tumbling_window_in_seconds(int(mapping.tumbling_window_s))
                        .set_filter_criteria(filter_criteria(mapping))
                        .send()
                        .await
                        .map_err(|error| ApiError::from_sdk("CreateEventSourceMapping", error))
                })
                .await?;
            }
            (TriggerAction::Update { changes: fields }, Some(mapping)) => {
                let uuid = change.plan.id.clone().unwrap_or_default();
                let changed = |name: &str| fields.iter().any(|field| field.field == name);
                ctx.call(Step::Trigger, || async {
                    let mut request = lambda.update_event_source_mapping().uuid(&uuid);
                    if changed("batch_size") {
                        request = request.set_batch_size(int(Some(mapping.batch_size)));
                    }
                    if changed("maximum_batching_window_s") {
                        request = request.set_maximum_batching_window_in_seconds(int(
                            mapping.maximum_batching_window_s
                        ));
                    }
                    if changed("enabled") {
                        request = request.enabled(mapping.enabled);
                    }
                    if changed("function_response_type") {
                        request = request.set_function_response_types(response_types(mapping));
                    }
                    if changed("maximum_concurrency") {
                        request = request.scaling_config(
                            ScalingConfig::builder()
                                .set_maximum_concurrency(int(mapping.maximum_concurrency))
                                .build(),
                        );
                    }
                    if changed("parallelization_factor") {
                        request =
                            request.set_parallelization_factor(int(mapping.parallelization_factor));
                    }
                    if changed("maximum_retry_attempts") {
                        request =
                            request.set_maximum_retry_attempts(int(mapping.maximum_retry_attempts));
                    }
                    if changed("maximum_record_age_s") {
                        request = request
                            .set_maximum_record_age_in_seconds(int(mapping.maximum_record_age_s));
                    }
                    if changed("bisect_batch_on_function_error") {
                        request = request.set_bisect_batch_on_function_error(
                            mapping.bisect_batch_on_function_error,
                        );
                    }
                    if changed("tumbling_window_s") {
                        request =
                            request.set_tumbling_window_in_seconds(int(mapping.tumbling_window_s));
                    }
                    if changed("filter_patterns") {
                        // An empty filter list clears the filters.
                        request = request.filter_criteria(filter_criteria(mapping).unwrap_or_else(
                            || FilterCriteria::builder().set_filters(Some(vec![])).build(),
                        ));
                    }
                    request
                        .send()
                        .await
                        .map_err(|error| ApiError::from_sdk("UpdateEventSourceMapping", error))
                })
                .await?;
            }
            (TriggerAction::Delete, _) => {
                let uuid = change.plan.id.clone().unwrap_or_default();
                ctx.call_optional(Step::Trigger, || async {
                    lambda
                        .delete_event_source_mapping()
                        .uuid(&uuid)
                        .send()
                        .await
                        .map_err(|error| ApiError::from_sdk("DeleteEventSourceMapping", error))
                })
                .await?;
            }
            (TriggerAction::Create | TriggerAction::Update { .. }, None) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use strata_provider::{MappingSource, SourceRef};

    use super::*;

    fn mapping(batch_size: i64) -> MappingSpec {
        MappingSpec::new(
            MappingSource::Queue,
            SourceRef::Literal("arn:aws:sqs:eu-west-1:1:q".into()),
            batch_size,
        )
    }

    fn deployed(batch_size: i32) -> EventSourceMappingConfiguration {
        EventSourceMappingConfiguration::builder()
            .uuid("u-1")
            .event_source_arn("arn:aws:sqs:eu-west-1:1:q")
            .batch_size(batch_size)
            .state("Enabled")
            .maximum_batching_window_in_seconds(0)
            .build()
    }

    #[test]
    fn only_the_changed_batch_size_differs() {
        let changes = field_changes(&mapping(5), &deployed(10));
        assert_eq!(
            changes,
            [FieldChange::new(
                "batch_size",
                Some("10".into()),
                Some("5".into())
            )]
        );
        assert_eq!(field_changes(&mapping(10), &deployed(10)), []);
    }

    #[test]
    fn alias_arns_name_the_stage_never_latest() {
        assert_eq!(
            alias_arn("eu-west-1", "123456789012", "svc-prod-worker", "prod"),
            "arn:aws:lambda:eu-west-1:123456789012:function:svc-prod-worker:prod"
        );
    }
}
