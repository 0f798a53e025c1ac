//! A [`FunctionSpec`] as Cloud Functions (2nd gen) wants it, and the comparison with what is
//! deployed that yields the `updateMask`: only the fields the spec sets are managed, so a
//! value Google fills in (the default service account, 100 max instances) never shows as a
//! change.

use std::collections::{BTreeMap, HashMap};

use google_cloud_functions_v2::model::{
    BuildConfig, EventFilter, EventTrigger as GcpEventTrigger, Function, ServiceConfig, Source,
    StorageSource, service_config::IngressSettings,
};
use strata_provider::{CloudSettings, EventTrigger, FieldChange, FunctionSpec};

/// Label keys strata puts on its functions.
pub const LABEL_SERVICE: &str = "strata-service";
pub const LABEL_STAGE: &str = "strata-stage";
/// The sha256 of the deployed source zip, cut to the 63 characters a label value holds.
pub const LABEL_SOURCE: &str = "strata-source";
/// The source deployed before the current one: where `rollback` goes.
pub const LABEL_PREVIOUS: &str = "strata-previous";

/// Without `gcp.bucket`, where Cloud Functions keeps the source deployed before the current
/// one (`gs://bucket/object#generation`, from that build's `sourceProvenance`): a label
/// cannot hold an object path, so strata keeps it in the function's build environment, which
/// only the build sees and which changes only together with the source.
pub const BUILD_PREVIOUS_SOURCE: &str = "STRATA_PREVIOUS_SOURCE";

/// Labels strata writes and reads itself; the rest are the user's.
const OWN_LABELS: [&str; 4] = [LABEL_SERVICE, LABEL_STAGE, LABEL_SOURCE, LABEL_PREVIOUS];

/// Cloud Functions sets this itself on every 2nd gen function.
const PLATFORM_ENVIRONMENT: &str = "LOG_EXECUTION_ID";

/// `updateMask` paths, one per managed field.
pub const MASK_SOURCE: &str = "buildConfig.source";
pub const MASK_BUILD_ENVIRONMENT: &str = "buildConfig.environmentVariables";
pub const MASK_RUNTIME: &str = "buildConfig.runtime";
pub const MASK_ENTRY_POINT: &str = "buildConfig.entryPoint";
pub const MASK_MEMORY: &str = "serviceConfig.availableMemory";
pub const MASK_TIMEOUT: &str = "serviceConfig.timeoutSeconds";
pub const MASK_ENVIRONMENT: &str = "serviceConfig.environmentVariables";
pub const MASK_MAX_INSTANCES: &str = "serviceConfig.maxInstanceCount";
pub const MASK_MIN_INSTANCES: &str = "serviceConfig.minInstanceCount";
pub const MASK_SERVICE_ACCOUNT: &str = "serviceConfig.serviceAccountEmail";
pub const MASK_INGRESS: &str = "serviceConfig.ingressSettings";
pub const MASK_TRIGGER: &str = "eventTrigger";
pub const MASK_LABELS: &str = "labels";
pub const MASK_DESCRIPTION: &str = "description";

/// A label value as Google allows it: at most 63 characters of lowercase letters, digits,
/// `-` and `_`; anything else becomes `-`.
pub fn label_value(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect()
}

/// The function id Cloud Functions accepts for a deployed name: lowercase, `_` as `-`.
pub fn function_id(deployed_name: &str) -> String {
    deployed_name.to_ascii_lowercase().replace('_', "-")
}

/// `python3.12` → `python312`.
pub fn runtime_id(runtime: &str) -> String {
    runtime.replace('.', "")
}

/// The Python function the Functions Framework calls: the part of the handler after the
/// module (`main.hello_http` → `hello_http`). GCP always loads `main.py`.
pub fn entry_point(handler: &str) -> String {
    handler.rsplit('.').next().unwrap_or(handler).to_owned()
}

/// Memory as `availableMemory` spells it.
pub fn memory_text(memory_mb: u32) -> String {
    format!("{memory_mb}M")
}

/// `availableMemory` in MB (`256M`, `256Mi`, `1G`, `1Gi`), as the API may echo it.
pub fn parse_memory(text: &str) -> Option<u32> {
    let text = text.trim();
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let number: u32 = digits.parse().ok()?;
    match &text[digits.len()..] {
        "" | "M" | "Mi" => Some(number),
        "G" | "Gi" => number.checked_mul(1024),
        "k" | "Ki" => Some(number / 1024),
        _ => None,
    }
}

/// The GCP-only settings of `spec` (none when the spec was made for another cloud's defaults).
pub struct GcpExtras<'a> {
    pub service_account: Option<&'a str>,
    pub min_instances: Option<u32>,
    pub max_instances: Option<u32>,
    pub ingress: Option<&'a str>,
    pub trigger: Option<&'a EventTrigger>,
}

pub fn extras(spec: &FunctionSpec) -> GcpExtras<'_> {
    match &spec.cloud_settings {
        CloudSettings::Gcp {
            service_account,
            min_instances,
            max_instances,
            ingress,
            trigger,
        } => GcpExtras {
            service_account: service_account.as_deref(),
            min_instances: *min_instances,
            max_instances: *max_instances,
            ingress: ingress.as_deref(),
            trigger: trigger.as_ref(),
        },
        _ => GcpExtras {
            service_account: None,
            min_instances: None,
            max_instances: None,
            ingress: None,
            trigger: None,
        },
    }
}

/// Whether the event type comes from Pub/Sub (the topic is the function's `pubsubTopic`)
/// rather than from a bucket (an event filter on `bucket`).
fn is_pubsub(event_type: &str) -> bool {
    event_type.starts_with("google.cloud.pubsub.")
}

/// The Eventarc trigger of `trigger`.
pub fn event_trigger(trigger: &EventTrigger, region: &str) -> GcpEventTrigger {
    let mut gcp = GcpEventTrigger::default();
    gcp.event_type = trigger.event_type.clone();
    if is_pubsub(&trigger.event_type) {
        gcp.pubsub_topic = trigger.resource.clone();
    } else {
        let mut filter = EventFilter::default();
        filter.attribute = "bucket".to_owned();
        filter.value = trigger.resource.clone();
        gcp.event_filters = vec![filter];
    }
    gcp.trigger_region = region.to_owned();
    gcp.retry_policy = google_cloud_functions_v2::model::event_trigger::RetryPolicy::DoNotRetry;
    gcp
}

/// The trigger a deployed function has, in the spec's terms.
pub fn deployed_trigger(function: &Function) -> Option<EventTrigger> {
    let trigger = function.event_trigger.as_ref()?;
    let resource = if is_pubsub(&trigger.event_type) {
        trigger.pubsub_topic.clone()
    } else {
        trigger
            .event_filters
            .iter()
            .find(|filter| filter.attribute == "bucket")
            .map(|filter| filter.value.clone())
            .unwrap_or_default()
    };
    Some(EventTrigger {
        event_type: trigger.event_type.clone(),
        resource,
    })
}

/// How a trigger reads in a plan.
pub fn describe_trigger(trigger: Option<&EventTrigger>) -> String {
    match trigger {
        None => "http".to_owned(),
        Some(trigger) => format!("{} ({})", trigger.event_type, trigger.resource),
    }
}

/// The labels strata wants on the function: the user's tags (made label-safe), then its
/// own, which win.
pub fn labels(
    spec: &FunctionSpec,
    service: &str,
    stage: &str,
    source_label: &str,
    previous: Option<&str>,
) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = spec
        .tags
        .iter()
        .map(|(key, value)| (label_value(key), label_value(value)))
        .filter(|(key, _)| !key.is_empty())
        .collect();
    labels.insert(LABEL_SERVICE.to_owned(), label_value(service));
    labels.insert(LABEL_STAGE.to_owned(), label_value(stage));
    labels.insert(LABEL_SOURCE.to_owned(), source_label.to_owned());
    if let Some(previous) = previous {
        labels.insert(LABEL_PREVIOUS.to_owned(), previous.to_owned());
    }
    labels
}

/// The source hash as the label holds it.
pub fn source_label(sha256_hex: &str) -> String {
    label_value(sha256_hex)
}

fn user_labels(labels: &HashMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(key, _)| !OWN_LABELS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Where Cloud Functions keeps the source `function` was built from: the copy in its sources
/// bucket, with the generation resolved (`sourceProvenance`), else the source as sent.
pub fn kept_source(function: &Function) -> Option<StorageSource> {
    let build = function.build_config.as_ref()?;
    build
        .source_provenance
        .as_ref()
        .and_then(|provenance| provenance.resolved_storage_source.clone())
        .or_else(|| {
            build
                .source
                .as_ref()
                .and_then(|source| source.storage_source())
                .map(|source| (**source).clone())
        })
        .filter(|source| !source.bucket.is_empty() && !source.object.is_empty())
}

/// `gs://bucket/object#generation`, as [`BUILD_PREVIOUS_SOURCE`] holds it.
pub fn source_reference(source: &StorageSource) -> String {
    format!(
        "gs://{}/{}#{}",
        source.bucket, source.object, source.generation
    )
}

/// The source [`BUILD_PREVIOUS_SOURCE`] of `function` names, if any.
pub fn previous_kept_source(function: &Function) -> Option<StorageSource> {
    let text = function
        .build_config
        .as_ref()?
        .environment_variables
        .get(BUILD_PREVIOUS_SOURCE)?;
    let (location, generation) = text.strip_prefix("gs://")?.rsplit_once('#')?;
    let (bucket, object) = location.split_once('/')?;
    let mut source = StorageSource::default();
    source.bucket = bucket.to_owned();
    source.object = object.to_owned();
    source.generation = generation.parse().ok()?;
    Some(source)
}

/// The build environment of `deployed` with [`BUILD_PREVIOUS_SOURCE`] naming `previous`
/// (removed when there is none).
pub fn build_environment(
    deployed: Option<&Function>,
    previous: Option<&StorageSource>,
) -> BTreeMap<String, String> {
    let mut environment: BTreeMap<String, String> = deployed
        .and_then(|function| function.build_config.as_ref())
        .map(|build| {
            build
                .environment_variables
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        })
        .unwrap_or_default();
    match previous {
        Some(previous) => {
            environment.insert(BUILD_PREVIOUS_SOURCE.to_owned(), source_reference(previous));
        }
        None => {
            environment.remove(BUILD_PREVIOUS_SOURCE);
        }
    }
    environment
}

/// The whole function strata wants, for a create or for the fields of a patch.
pub struct Desired<'a> {
    pub spec: &'a FunctionSpec,
    pub name: String,
    pub region: &'a str,
    pub source: StorageSource,
    pub labels: BTreeMap<String, String>,
    /// The build environment (sent only when the mask names it).
    pub build_environment: BTreeMap<String, String>,
}

impl Desired<'_> {
    pub fn function(&self) -> Function {
        let spec = self.spec;
        let extras = extras(spec);
        let mut build = BuildConfig::default();
        build.runtime = runtime_id(&spec.runtime);
        build.entry_point = entry_point(&spec.handler);
        build.source = Some(Source::default().set_storage_source(self.source.clone()));
        build.environment_variables = self
            .build_environment
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();

        let mut service = ServiceConfig::default();
        service.available_memory = memory_text(spec.memory_mb);
        service.timeout_seconds = i32::try_from(spec.timeout_s).unwrap_or(i32::MAX);
        service.environment_variables = spec
            .environment
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        if let Some(max) = extras.max_instances {
            service.max_instance_count = i32::try_from(max).unwrap_or(i32::MAX);
        }
        if let Some(min) = extras.min_instances {
            service.min_instance_count = i32::try_from(min).unwrap_or(i32::MAX);
        }
        if let Some(account) = extras.service_account {
            service.service_account_email = account.to_owned();
        }
        if let Some(ingress) = extras.ingress {
            service.ingress_settings = IngressSettings::from(ingress);
        }

        let mut function = Function::default();
        function.name = self.name.clone();
        function.description = spec.description.clone();
        function.build_config = Some(build);
        function.service_config = Some(service);
        function.event_trigger = extras
            .trigger
            .map(|trigger| event_trigger(trigger, self.region));
        function.labels = self
            .labels
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        function
    }
}

/// One managed field that differs: its mask path and how the plan shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub mask: &'static str,
    pub change: FieldChange,
}

fn some_if_set(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// The managed configuration fields of `deployed` that differ from `spec` (not the source,
/// which the `strata-source` label tracks).
pub fn config_differences(spec: &FunctionSpec, deployed: &Function) -> Vec<Difference> {
    let extras = extras(spec);
    let build = deployed.build_config.clone().unwrap_or_default();
    let service = deployed.service_config.clone().unwrap_or_default();
    let mut differences = Vec::new();
    let mut push = |mask: &'static str, old: Option<String>, new: Option<String>| {
        differences.push(Difference {
            mask,
            change: FieldChange::new(mask, old, new),
        });
    };

    let runtime = runtime_id(&spec.runtime);
    if build.runtime != runtime {
        push(MASK_RUNTIME, some_if_set(&build.runtime), Some(runtime));
    }
    let entry = entry_point(&spec.handler);
    if build.entry_point != entry {
        push(
            MASK_ENTRY_POINT,
            some_if_set(&build.entry_point),
            Some(entry),
        );
    }
    if parse_memory(&service.available_memory) != Some(spec.memory_mb) {
        push(
            MASK_MEMORY,
            some_if_set(&service.available_memory),
            Some(memory_text(spec.memory_mb)),
        );
    }
    if i64::from(service.timeout_seconds) != i64::from(spec.timeout_s) {
        push(
            MASK_TIMEOUT,
            Some(service.timeout_seconds.to_string()),
            Some(spec.timeout_s.to_string()),
        );
    }
    if let Some(max) = extras.max_instances
        && i64::from(service.max_instance_count) != i64::from(max)
    {
        push(
            MASK_MAX_INSTANCES,
            Some(service.max_instance_count.to_string()),
            Some(max.to_string()),
        );
    }
    if let Some(min) = extras.min_instances
        && i64::from(service.min_instance_count) != i64::from(min)
    {
        push(
            MASK_MIN_INSTANCES,
            Some(service.min_instance_count.to_string()),
            Some(min.to_string()),
        );
    }
    if let Some(account) = extras.service_account
        && service.service_account_email != account
    {
        push(
            MASK_SERVICE_ACCOUNT,
            some_if_set(&service.service_account_email),
            Some(account.to_owned()),
        );
    }
    if let Some(ingress) = extras.ingress
        && service.ingress_settings != IngressSettings::from(ingress)
    {
        push(
            MASK_INGRESS,
            service.ingress_settings.name().map(str::to_owned),
            Some(ingress.to_owned()),
        );
    }
    if deployed.description != spec.description {
        push(
            MASK_DESCRIPTION,
            some_if_set(&deployed.description),
            some_if_set(&spec.description),
        );
    }
    let wanted_trigger = extras.trigger.cloned();
    let deployed_trigger = deployed_trigger(deployed);
    if wanted_trigger != deployed_trigger {
        push(
            MASK_TRIGGER,
            Some(describe_trigger(deployed_trigger.as_ref())),
            Some(describe_trigger(wanted_trigger.as_ref())),
        );
    }
    let wanted_labels: BTreeMap<String, String> = labels(spec, "", "", "", None)
        .into_iter()
        .filter(|(key, _)| !OWN_LABELS.contains(&key.as_str()))
        .collect();
    let deployed_labels = user_labels(&deployed.labels);
    if wanted_labels != deployed_labels {
        let show = |labels: &BTreeMap<String, String>| {
            some_if_set(
                &labels
                    .iter()
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect::<Vec<_>>()
                    .join(","),
            )
        };
        push(MASK_LABELS, show(&deployed_labels), show(&wanted_labels));
    }

    // Environment: one change per variable, all under one mask path.
    let deployed_environment: BTreeMap<&String, &String> = service
        .environment_variables
        .iter()
        .filter(|(key, _)| {
            key.as_str() != PLATFORM_ENVIRONMENT || spec.environment.contains_key(*key)
        })
        .collect();
    let mut keys: Vec<&String> = deployed_environment
        .keys()
        .copied()
        .chain(spec.environment.keys())
        .collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let old = deployed_environment.get(key).map(|value| value.as_str());
        let new = spec.environment.get(key).map(String::as_str);
        if old != new {
            differences.push(Difference {
                mask: MASK_ENVIRONMENT,
                change: FieldChange::environment(key, old, new, spec.is_marked_secret(key)),
            });
        }
    }
    differences
}

/// The `updateMask` of a patch: each differing field once, in a fixed order; a new source
/// also rewrites the labels that record it.
pub fn update_mask(code_changes: bool, differences: &[Difference]) -> Vec<String> {
    let mut mask: Vec<&'static str> = Vec::new();
    if code_changes {
        mask.push(MASK_SOURCE);
        mask.push(MASK_LABELS);
    }
    for difference in differences {
        mask.push(difference.mask);
    }
    mask.sort_unstable();
    mask.dedup();
    mask.into_iter().map(str::to_owned).collect()
}

/// The mask path a plan's [`FieldChange`] stands for (environment changes are named
/// `environment.<KEY>` for the reader).
pub fn mask_of(change: &FieldChange) -> String {
    if change.field.starts_with("environment.") {
        MASK_ENVIRONMENT.to_owned()
    } else {
        change.field.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use strata_provider::{Architecture, ArtifactRef};

    use super::*;

    fn spec() -> FunctionSpec {
        FunctionSpec {
            logical_name: "hello".into(),
            deployed_name: "svc-prod-hello".into(),
            handler: "main.hello_http".into(),
            runtime: "python3.12".into(),
            memory_mb: 256,
            timeout_s: 60,
            environment: BTreeMap::from([("STAGE".into(), "prod".into())]),
            secret_environment: BTreeSet::new(),
            description: String::new(),
            tags: BTreeMap::from([("Team".into(), "Data Eng".into())]),
            architecture: Architecture::X86_64,
            layers: vec![],
            code: ArtifactRef {
                path: "a.zip".into(),
                sha256_hex: "ab".repeat(32),
                code_sha256_base64: String::new(),
                zipped_size: 1,
                unzipped_size: 1,
            },
            role: None,
            cloud_settings: CloudSettings::Gcp {
                service_account: None,
                min_instances: None,
                max_instances: Some(5),
                ingress: None,
                trigger: None,
            },
            triggers: vec![],
        }
    }

    fn deployed(spec: &FunctionSpec) -> Function {
        let mut function = Desired {
            spec,
            name: "projects/p/locations/r/functions/svc-prod-hello".into(),
            region: "r",
            source: StorageSource::default(),
            build_environment: BTreeMap::new(),
            labels: labels(
                spec,
                "svc",
                "prod",
                &source_label(&spec.code.sha256_hex),
                None,
            ),
        }
        .function();
        // What Google fills in on its own.
        let service = function.service_config.as_mut().unwrap();
        service.service_account_email = "123-compute@developer.gserviceaccount.com".into();
        service.min_instance_count = 0;
        service.ingress_settings = IngressSettings::AllowAll;
        service
            .environment_variables
            .insert(PLATFORM_ENVIRONMENT.into(), "true".into());
        function
    }

    #[test]
    fn labels_are_lowercase_safe_and_at_most_63_characters() {
        assert_eq!(label_value("Data Eng/ÜX"), "data-eng--x");
        let hash = "0123456789abcdef".repeat(4);
        assert_eq!(hash.len(), 64);
        assert_eq!(source_label(&hash), hash[..63]);
        assert_eq!(label_value(&"x".repeat(80)).len(), 63);
        let labels = labels(&spec(), "My_Service", "prod", "abc", Some("def"));
        assert_eq!(labels["team"], "data-eng");
        assert_eq!(labels[LABEL_SERVICE], "my_service");
        assert_eq!(labels[LABEL_PREVIOUS], "def");
    }

    #[test]
    fn what_google_fills_in_is_not_a_difference() {
        let spec = spec();
        assert_eq!(config_differences(&spec, &deployed(&spec)), vec![]);
    }

    #[test]
    fn a_memory_change_masks_only_memory() {
        let spec = spec();
        let deployed = deployed(&spec);
        let mut bigger = spec.clone();
        bigger.memory_mb = 512;
        let differences = config_differences(&bigger, &deployed);
        assert_eq!(
            update_mask(false, &differences),
            vec!["serviceConfig.availableMemory"]
        );
        assert_eq!(differences[0].change.old.as_deref(), Some("256M"));
        assert_eq!(differences[0].change.new.as_deref(), Some("512M"));
    }

    #[test]
    fn a_code_change_masks_the_source_and_its_labels_and_environment_once() {
        let spec = spec();
        let deployed = deployed(&spec);
        let mut changed = spec.clone();
        changed.environment.insert("A".into(), "1".into());
        changed.environment.insert("B".into(), "2".into());
        let differences = config_differences(&changed, &deployed);
        assert_eq!(differences.len(), 2);
        assert_eq!(
            update_mask(true, &differences),
            vec![
                "buildConfig.source",
                "labels",
                "serviceConfig.environmentVariables"
            ]
        );
        assert_eq!(update_mask(true, &[]), vec!["buildConfig.source", "labels"]);
    }

    #[test]
    fn memory_parses_as_the_api_echoes_it() {
        assert_eq!(parse_memory("256M"), Some(256));
        assert_eq!(parse_memory("256Mi"), Some(256));
        assert_eq!(parse_memory("1Gi"), Some(1024));
        assert_eq!(parse_memory("2G"), Some(2048));
        assert_eq!(parse_memory(""), None);
        assert_eq!(parse_memory("12Q"), None);
    }

    #[test]
    fn triggers_map_to_pubsub_topics_and_bucket_filters() {
        let topic = EventTrigger {
            event_type: "google.cloud.pubsub.topic.v1.messagePublished".into(),
            resource: "projects/p/topics/orders".into(),
        };
        let gcp = event_trigger(&topic, "europe-west1");
        assert_eq!(gcp.pubsub_topic, "projects/p/topics/orders");
        assert!(gcp.event_filters.is_empty());
        let bucket = EventTrigger {
            event_type: "google.cloud.storage.object.v1.finalized".into(),
            resource: "uploads".into(),
        };
        let gcp = event_trigger(&bucket, "europe-west1");
        assert_eq!(gcp.event_filters.len(), 1);
        assert_eq!(gcp.event_filters[0].attribute, "bucket");
        assert_eq!(gcp.event_filters[0].value, "uploads");
        let mut function = Function::default();
        function.event_trigger = Some(gcp);
        assert_eq!(deployed_trigger(&function), Some(bucket));

        let mut spec = spec();
        let deployed = deployed(&spec);
        if let CloudSettings::Gcp { trigger, .. } = &mut spec.cloud_settings {
            *trigger = Some(topic);
        }
        let differences = config_differences(&spec, &deployed);
        assert_eq!(update_mask(false, &differences), vec!["eventTrigger"]);
        assert_eq!(differences[0].change.old.as_deref(), Some("http"));
    }

    #[test]
    fn entry_point_and_runtime_follow_the_handler() {
        assert_eq!(entry_point("main.hello_http"), "hello_http");
        assert_eq!(runtime_id("python3.12"), "python312");
        assert_eq!(function_id("Svc-prod_hello"), "svc-prod-hello");
    }

    #[test]
    fn the_previous_source_round_trips_through_the_build_environment_beside_the_users_variables() {
        let mut function = Function::default();
        let mut build = BuildConfig::default();
        build.environment_variables = [("PIP_INDEX_URL".to_owned(), "https://pypi".to_owned())]
            .into_iter()
            .collect();
        let mut provenance = google_cloud_functions_v2::model::SourceProvenance::default();
        provenance.resolved_storage_source = Some(crate::storage::storage_source(
            "gcf-v2-sources-1-r",
            "f/function-source.zip",
            1_700_000_000_000_001,
        ));
        build.source_provenance = Some(provenance);
        function.build_config = Some(build);

        let kept = kept_source(&function).unwrap();
        assert_eq!(
            source_reference(&kept),
            "gs://gcf-v2-sources-1-r/f/function-source.zip#1700000000000001"
        );
        let environment = build_environment(Some(&function), Some(&kept));
        assert_eq!(environment["PIP_INDEX_URL"], "https://pypi");
        function
            .build_config
            .as_mut()
            .unwrap()
            .environment_variables = environment.into_iter().collect();
        assert_eq!(previous_kept_source(&function), Some(kept));
        // None to record: the variable goes, the user's stay.
        let cleared = build_environment(Some(&function), None);
        assert!(!cleared.contains_key(BUILD_PREVIOUS_SOURCE));
        assert_eq!(cleared.len(), 1);
    }
}
