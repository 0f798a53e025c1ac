//! The CLI's side of the GCP backend: the manifest's `gcp:` block and each function's events
//! mapped into a provider-neutral [`DeploySpec`], the backend's settings from the manifest
//! and the environment, and how GCP errors are shown.

use std::time::Duration;

use async_trait::async_trait;
use strata_build::{BuildReport, human_size};
use strata_gcp::{GcpError, GcpObserveError, GcpObserver, GcpProvider, GcpSettings};
use strata_manifest::{Cloud, FunctionConfig, FunctionTarget, ResolvedConfig};
use strata_provider::{CloudSettings, DeploySpec, EventTrigger, FunctionSpec, RoleSpec};

use crate::clouds::{
    Backend, CloudAdapter, ConnectInput, Erased, ObserveBackend, SpecInput, artifact_ref,
    neutral_function_spec, unmanaged_items,
};
use crate::error::CliError;

/// The Pub/Sub event type of Cloud Functions (2nd gen), and the older names users write.
const PUBSUB_PUBLISHED: &str = "google.cloud.pubsub.topic.v1.messagePublished";
const PUBSUB_ALIASES: [&str; 3] = [
    PUBSUB_PUBLISHED,
    "google.pubsub.topic.publish",
    "providers/cloud.pubsub/eventTypes/topic.publish",
];

/// Cloud Storage event types of 2nd gen, and the 1st gen names they replace.
const STORAGE_EVENTS: [(&str, &str); 6] = [
    (
        "google.storage.object.finalize",
        "google.cloud.storage.object.v1.finalized",
    ),
    (
        "providers/cloud.storage/eventTypes/object.change",
        "google.cloud.storage.object.v1.finalized",
    ),
    (
        "google.storage.object.delete",
        "google.cloud.storage.object.v1.deleted",
    ),
    (
        "google.storage.object.archive",
        "google.cloud.storage.object.v1.archived",
    ),
    (
        "google.storage.object.metadataUpdate",
        "google.cloud.storage.object.v1.metadataUpdated",
    ),
    (
        "google.cloud.storage.object.v1.finalized",
        "google.cloud.storage.object.v1.finalized",
    ),
];

/// Why the manifest cannot be turned into a GCP deploy.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("the build produced no GCP source for function `{function}`")]
    MissingArtifact { function: String },

    #[error("function `{function}` has {count} triggers; a Cloud Function has one")]
    SeveralTriggers { function: String, count: usize },

    #[error("function `{function}`: event type `{event_type}` is not one strata can create")]
    UnknownEventType {
        function: String,
        event_type: String,
    },

    #[error("function `{function}`: the `{key}` event needs a `resource` (topic or bucket)")]
    MissingResource { function: String, key: String },
}

impl strata_provider::Hint for SpecError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::MissingArtifact { .. } => {
                Some("this is a bug in strata; please report it with the manifest".to_owned())
            }
            Self::SeveralTriggers { .. } => Some(
                "give each trigger its own function; `http` is the default when there is no event"
                    .to_owned(),
            ),
            Self::UnknownEventType { .. } => Some(format!(
                "use `{PUBSUB_PUBLISHED}` (or `pubsub: <topic>`) or \
                 `google.cloud.storage.object.v1.finalized` (or `bucket: <name>`)"
            )),
            Self::MissingResource { .. } => Some(
                "give the topic (`projects/<project>/topics/<name>` or just the name) or the bucket name"
                    .to_owned(),
            ),
        }
    }
}

impl From<SpecError> for CliError {
    fn from(error: SpecError) -> Self {
        Self::from_source(&error)
    }
}

impl From<GcpError> for CliError {
    fn from(error: GcpError) -> Self {
        Self::from_source(&error)
    }
}

impl From<GcpObserveError> for CliError {
    fn from(error: GcpObserveError) -> Self {
        Self::from_source(&error)
    }
}

/// The trigger of one manifest event on GCP: `Ok(None)` for HTTP, `Err` for an event that
/// is not a GCP trigger (AWS's `httpApi`, say, which the caller skips).
enum Mapped {
    Http,
    Event(EventTrigger),
    NotGcp,
}

/// A topic as Eventarc names it.
fn topic_name(project: &str, topic: &str) -> String {
    if topic.starts_with("projects/") {
        topic.to_owned()
    } else {
        format!("projects/{project}/topics/{topic}")
    }
}

/// A bucket as the event filter names it (`projects/_/buckets/b` → `b`).
fn bucket_name(bucket: &str) -> String {
    bucket
        .strip_prefix("projects/_/buckets/")
        .unwrap_or(bucket)
        .trim_start_matches("gs://")
        .to_owned()
}

/// Maps one event as a Serverless (`serverless-google-cloudfunctions`) or gcloud user writes
/// it: `- http: …`, `- event: {eventType, resource}`, or the gcloud flags as keys,
/// `- pubsub: <topic>` (`--trigger-topic`) and `- bucket: <name>` (`--trigger-bucket`).
fn map_event(
    function: &str,
    project: &str,
    event: &serde_json::Value,
) -> Result<Mapped, SpecError> {
    let text = |value: &serde_json::Value| value.as_str().map(str::to_owned);
    if event.as_str() == Some("http") || event.get("http").is_some() {
        return Ok(Mapped::Http);
    }
    if let Some(topic) = event
        .get("pubsub")
        .or_else(|| event.get("topic"))
        .and_then(text)
    {
        return Ok(Mapped::Event(EventTrigger {
            event_type: PUBSUB_PUBLISHED.to_owned(),
            resource: topic_name(project, &topic),
        }));
    }
    if let Some(bucket) = event.get("bucket").and_then(text) {
        return Ok(Mapped::Event(EventTrigger {
            event_type: "google.cloud.storage.object.v1.finalized".to_owned(),
            resource: bucket_name(&bucket),
        }));
    }
    let Some(body) = event.get("event") else {
        return Ok(Mapped::NotGcp);
    };
    let event_type = body.get("eventType").and_then(text).unwrap_or_default();
    let resource =
        body.get("resource")
            .and_then(text)
            .ok_or_else(|| SpecError::MissingResource {
                function: function.to_owned(),
                key: "event".to_owned(),
            })?;
    if PUBSUB_ALIASES.contains(&event_type.as_str()) {
        return Ok(Mapped::Event(EventTrigger {
            event_type: PUBSUB_PUBLISHED.to_owned(),
            resource: topic_name(project, &resource),
        }));
    }
    let storage = STORAGE_EVENTS
        .iter()
        .chain(
            [
                (
                    "google.cloud.storage.object.v1.deleted",
                    "google.cloud.storage.object.v1.deleted",
                ),
                (
                    "google.cloud.storage.object.v1.archived",
                    "google.cloud.storage.object.v1.archived",
                ),
                (
                    "google.cloud.storage.object.v1.metadataUpdated",
                    "google.cloud.storage.object.v1.metadataUpdated",
                ),
            ]
            .iter(),
        )
        .find(|(name, _)| *name == event_type);
    match storage {
        Some((_, v2)) => Ok(Mapped::Event(EventTrigger {
            event_type: (*v2).to_owned(),
            resource: bucket_name(&resource),
        })),
        None => Err(SpecError::UnknownEventType {
            function: function.to_owned(),
            event_type,
        }),
    }
}

/// The one trigger of `function`: HTTP unless an event names another. Returns it and the
/// indexes of the events it came from (which are then managed, not "left as they are").
fn trigger_of(
    function: &FunctionConfig,
    project: &str,
) -> Result<(Option<EventTrigger>, Vec<usize>), SpecError> {
    let mut triggers = Vec::new();
    let mut used = Vec::new();
    for (index, event) in function.events.iter().enumerate() {
        match map_event(&function.name, project, event)? {
            Mapped::Http => {
                triggers.push(None);
                used.push(index);
            }
            Mapped::Event(trigger) => {
                triggers.push(Some(trigger));
                used.push(index);
            }
            Mapped::NotGcp => {}
        }
    }
    if triggers.len() > 1 {
        return Err(SpecError::SeveralTriggers {
            function: function.name.clone(),
            count: triggers.len(),
        });
    }
    Ok((triggers.pop().flatten(), used))
}

/// The project as the manifest gives it; the backend falls back to the environment.
fn project(config: &ResolvedConfig) -> String {
    config
        .gcp
        .as_ref()
        .map(|gcp| gcp.project.clone())
        .unwrap_or_default()
}

fn function_spec(
    config: &ResolvedConfig,
    function: &FunctionConfig,
    target: &FunctionTarget,
    build: &BuildReport,
    out_dir: &std::path::Path,
    trigger: Option<EventTrigger>,
) -> Result<FunctionSpec, SpecError> {
    let code = build
        .function_code(Cloud::Gcp, &function.name)
        .ok_or_else(|| SpecError::MissingArtifact {
            function: function.name.clone(),
        })?;
    let mut spec = neutral_function_spec(config, function, target, artifact_ref(code, out_dir));
    // Service-wide labels, then the function's own labels and tags, which win.
    let mut tags: std::collections::BTreeMap<String, String> = config
        .gcp
        .as_ref()
        .map(|gcp| {
            gcp.labels
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        })
        .unwrap_or_default();
    tags.extend(
        target
            .labels
            .iter()
            .map(|(key, value)| (key.clone(), value.clone())),
    );
    tags.append(&mut spec.tags);
    spec.tags = tags;
    if let CloudSettings::Gcp { trigger: slot, .. } = &mut spec.cloud_settings {
        *slot = trigger;
    }
    Ok(spec)
}

fn deploy_spec(input: &SpecInput<'_>) -> Result<DeploySpec, SpecError> {
    let config = input.config;
    let project = project(config);
    let mut functions = Vec::new();
    let mut managed_events = Vec::new();
    for (function, target) in &input.functions {
        let (trigger, used) = trigger_of(function, &project)?;
        managed_events.extend(
            used.into_iter()
                .map(|index| format!("functions.{}.events[{index}]", function.name)),
        );
        functions.push(function_spec(
            config,
            function,
            target,
            input.build,
            input.out_dir,
            trigger,
        )?);
    }
    let unmanaged = unmanaged_items(config)
        .into_iter()
        .filter(|item| {
            !managed_events
                .iter()
                .any(|key| item.ends_with(&format!("({key})")))
        })
        .collect();
    Ok(DeploySpec {
        service: config.service.clone(),
        stage: config.stage.clone(),
        functions,
        layers: Vec::new(),
        // Each function names its service account in its GCP settings.
        role: RoleSpec::Managed { statements: vec![] },
        unmanaged,
        force: input.force,
        adopt: input.adopt,
        aws_stack: None,
        partial: input.partial,
    })
}

/// The backend's settings from the manifest (`gcp:`) and the environment.
pub fn gcp_settings(input: &ConnectInput<'_>) -> Result<GcpSettings, CliError> {
    let gcp = input.config.gcp.as_ref();
    let mut settings = GcpSettings {
        project: gcp
            .map(|gcp| gcp.project.clone())
            .filter(|project| !project.is_empty()),
        // Not `--region`: on a deploy to several clouds it names the AWS region.
        region: gcp
            .map(|gcp| gcp.region.clone())
            .unwrap_or_else(|| "us-central1".to_owned()),
        bucket: gcp.and_then(|gcp| gcp.bucket.clone()),
        env: input.env.clone(),
        ..GcpSettings::default()
    };
    if let Some(text) = input.env.get("STRATA_DEPLOY_DEADLINE") {
        let seconds = text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
            .ok_or_else(|| {
                CliError::input(format!(
                    "STRATA_DEPLOY_DEADLINE is `{text}`, not a number of seconds"
                ))
                .with_hint("give a positive number of seconds, e.g. 300")
            })?;
        settings.retry.function_deadline = Duration::from_secs_f64(seconds);
    }
    Ok(settings)
}

/// The GCP adapter: Cloud Functions (2nd gen) and their sources in Cloud Storage.
pub struct GcpAdapter;

#[async_trait]
impl CloudAdapter for GcpAdapter {
    fn cloud(&self) -> Cloud {
        Cloud::Gcp
    }

    fn deploy_spec(&self, input: &SpecInput<'_>) -> Result<DeploySpec, CliError> {
        Ok(deploy_spec(input)?)
    }

    /// Sources over Cloud Functions' limit are refused before any upload; say so early.
    fn build_notes(&self, build: &BuildReport) -> Vec<String> {
        build
            .artifacts
            .iter()
            .filter(|artifact| {
                artifact.cloud == Cloud::Gcp && artifact.zipped_size > strata_gcp::MAX_SOURCE_BYTES
            })
            .map(|artifact| {
                format!(
                    "{} is {} zipped, over the {} Cloud Functions accepts: deploy will refuse it",
                    artifact.path,
                    human_size(artifact.zipped_size),
                    human_size(strata_gcp::MAX_SOURCE_BYTES)
                )
            })
            .collect()
    }

    async fn connect(&self, input: &ConnectInput<'_>) -> Result<Box<dyn Backend>, CliError> {
        let settings = gcp_settings(input)?;
        Ok(Box::new(Erased(GcpProvider::new(settings).await?)))
    }

    /// Cloud Logging for `logs` (`CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING` for emulators),
    /// the function's URL and an identity token for `invoke`.
    async fn connect_observer(
        &self,
        input: &ConnectInput<'_>,
    ) -> Result<Box<dyn ObserveBackend>, CliError> {
        let settings = gcp_settings(input)?;
        Ok(Box::new(Erased(GcpObserver::new(settings).await?)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn trigger(event: serde_json::Value) -> Option<EventTrigger> {
        match map_event("f", "proj", &event).unwrap() {
            Mapped::Event(trigger) => Some(trigger),
            Mapped::Http | Mapped::NotGcp => None,
        }
    }

    #[test]
    fn serverless_and_gcloud_events_map_to_eventarc_triggers() {
        let pubsub = EventTrigger {
            event_type: PUBSUB_PUBLISHED.to_owned(),
            resource: "projects/proj/topics/orders".to_owned(),
        };
        // serverless-google-cloudfunctions, 1st gen names.
        assert_eq!(
            trigger(json!({"event": {
                "eventType": "providers/cloud.pubsub/eventTypes/topic.publish",
                "resource": "projects/proj/topics/orders"}})),
            Some(pubsub.clone())
        );
        // gcloud --trigger-topic.
        assert_eq!(trigger(json!({"pubsub": "orders"})), Some(pubsub));
        let bucket = EventTrigger {
            event_type: "google.cloud.storage.object.v1.finalized".to_owned(),
            resource: "uploads".to_owned(),
        };
        assert_eq!(
            trigger(json!({"event": {
                "eventType": "google.storage.object.finalize",
                "resource": "projects/_/buckets/uploads"}})),
            Some(bucket.clone())
        );
        // gcloud --trigger-bucket.
        assert_eq!(trigger(json!({"bucket": "gs://uploads"})), Some(bucket));
        assert!(matches!(
            map_event("f", "proj", &json!({"http": "path"})).unwrap(),
            Mapped::Http
        ));
        assert!(matches!(
            map_event("f", "proj", &json!({"httpApi": "GET /"})).unwrap(),
            Mapped::NotGcp
        ));
        assert!(matches!(
            map_event(
                "f",
                "proj",
                &json!({"event": {"eventType": "google.firebase.x", "resource": "r"}})
            ),
            Err(SpecError::UnknownEventType { .. })
        ));
    }
}
