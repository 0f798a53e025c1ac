//! What each cloud accepts: Python runtimes, memory and timeout limits, name rules.
//!
//! Dates are the providers' published schedules as of November 2026 (Lambda runtimes page,
//! Azure Functions language support policy, Cloud Run functions runtime support). They are
//! data, not clock comparisons, so a build gives the same answer on any day.

use crate::config::{AzurePlan, Cloud, PythonRuntime};

/// Python versions strata can build packages for (wheel tags and target images exist).
pub(crate) const BUILDABLE_MINORS: std::ops::RangeInclusive<u8> = 8..=14;

pub(crate) enum RuntimeStatus {
    Supported,
    /// Still deployable, but retired by the provider.
    Retired(&'static str),
    /// The provider no longer offers it at all.
    Unavailable,
}

pub(crate) fn runtime_status(cloud: Cloud, runtime: PythonRuntime) -> RuntimeStatus {
    if runtime.major != 3 {
        return RuntimeStatus::Unavailable;
    }
    match (cloud, runtime.minor) {
        (Cloud::Aws, 8) => RuntimeStatus::Retired(
            "AWS Lambda deprecated python3.8 on 2024-10-14; creating and updating such functions is blocked",
        ),
        (Cloud::Aws, 9) => RuntimeStatus::Retired(
            "AWS Lambda deprecated python3.9 on 2025-12-15 (no more security patches); creating and updating functions will be blocked",
        ),
        (Cloud::Aws, 10..=14) => RuntimeStatus::Supported,
        (Cloud::Azure, 8) => {
            RuntimeStatus::Retired("Azure Functions ended support for Python 3.8 on 2024-10-14")
        }
        (Cloud::Azure, 9) => {
            RuntimeStatus::Retired("Azure Functions ended support for Python 3.9 on 2025-10-31")
        }
        (Cloud::Azure, 10..=13) => RuntimeStatus::Supported,
        (Cloud::Gcp, 9) => RuntimeStatus::Retired(
            "Cloud Run functions deprecated python39 on 2025-10-05 and decommission it from 2026-04-05 (deploys fail after that)",
        ),
        (Cloud::Gcp, 10..=14) => RuntimeStatus::Supported,
        _ => RuntimeStatus::Unavailable,
    }
}

/// "python3.10, python3.11, …" for hints.
pub(crate) fn supported_runtimes(cloud: Cloud) -> String {
    BUILDABLE_MINORS
        .map(|minor| PythonRuntime { major: 3, minor })
        .filter(|runtime| matches!(runtime_status(cloud, *runtime), RuntimeStatus::Supported))
        .map(|runtime| runtime.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inclusive limits; `None` means the provider sets no upper bound.
pub(crate) struct Limits {
    pub(crate) memory: Option<(u32, u32)>,
    pub(crate) timeout: (u32, Option<u32>),
    pub(crate) source: &'static str,
}

pub(crate) fn limits(cloud: Cloud, plan: Option<AzurePlan>) -> Limits {
    match cloud {
        Cloud::Aws => Limits {
            memory: Some((128, 10_240)),
            timeout: (1, Some(900)),
            source: "AWS Lambda allows 128-10240 MB and 1-900 s",
        },
        // Memory is a property of the Azure plan (instanceMemory), not of a function.
        Cloud::Azure => match plan.unwrap_or_default() {
            AzurePlan::Consumption => Limits {
                memory: None,
                timeout: (1, Some(600)),
                source: "the Azure Consumption plan allows at most 600 s (10 minutes)",
            },
            AzurePlan::FlexConsumption | AzurePlan::Premium | AzurePlan::Dedicated => Limits {
                memory: None,
                timeout: (1, None),
                source: "Azure Functions",
            },
        },
        Cloud::Gcp => Limits {
            memory: Some((128, 32_768)),
            timeout: (1, Some(3_600)),
            source: "Cloud Run functions allow 128 MB-32 GB and 1-3600 s (event-driven functions: 540 s)",
        },
    }
}

/// Flex Consumption instance sizes in MB.
pub(crate) const AZURE_FLEX_MEMORY: &[u32] = &[512, 2048, 4096];

/// Why a deployed function name is rejected, or `None` when the cloud accepts it.
pub(crate) fn function_name_problem(cloud: Cloud, name: &str) -> Option<String> {
    match cloud {
        Cloud::Aws => {
            if name.is_empty() || name.len() > 64 {
                Some(format!(
                    "Lambda function names are 1-64 characters; `{name}` has {}",
                    name.len()
                ))
            } else {
                name.chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
                    .map(|bad| format!("Lambda function names allow letters, digits, `-` and `_`; `{name}` contains `{bad}`"))
            }
        }
        Cloud::Azure => {
            let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
            if name.is_empty() || name.len() > 128 || !first_ok {
                Some(format!(
                    "Azure function names start with a letter and have at most 128 characters; `{name}` does not"
                ))
            } else {
                name.chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
                    .map(|bad| format!("Azure function names allow letters, digits, `-` and `_`; `{name}` contains `{bad}`"))
            }
        }
        Cloud::Gcp => {
            let valid_chars = name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
            let last_ok = name
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            if name.is_empty() || name.len() > 63 || !valid_chars || !first_ok || !last_ok {
                Some(format!(
                    "Cloud Run function names are 1-63 lowercase letters, digits and `-`, start with a letter and end with a letter or digit; `{name}` is not"
                ))
            } else {
                None
            }
        }
    }
}

pub(crate) fn azure_app_name_problem(name: &str) -> Option<String> {
    let valid = (2..=60).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    (!valid).then(|| {
        format!("Azure function app names are 2-60 letters, digits and `-`, not starting or ending with `-`; `{name}` is not")
    })
}

pub(crate) fn azure_storage_name_problem(name: &str) -> Option<String> {
    let valid = (3..=24).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (!valid).then(|| {
        format!(
            "Azure storage account names are 3-24 lowercase letters and digits; `{name}` is not"
        )
    })
}

pub(crate) fn gcp_project_problem(project: &str) -> Option<String> {
    let valid = (6..=30).contains(&project.len())
        && project
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
        && project
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !project.ends_with('-');
    (!valid).then(|| {
        format!("GCP project IDs are 6-30 lowercase letters, digits and `-`, starting with a letter; `{project}` is not")
    })
}

/// Default GCP function name: Cloud Run only takes lowercase letters, digits and hyphens.
pub(crate) fn gcp_default_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '_' | '.' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// The kinds of function event (an entry's first key, or the entry itself when it is a bare
/// string such as `- http`) whose trigger each cloud's backend creates. Everything else under
/// `events` is kept and warned about. One row per cloud, so a backend that starts managing a
/// kind is one edit here (and in its CLI adapter, which maps the event).
const MANAGED_EVENTS: [(Cloud, &[&str]); 3] = [
    // Queues and streams are event source mappings on the stage alias; S3 notifications,
    // schedules, SNS subscriptions and the `http` / `httpApi` API Gateway routes target the
    // alias too.
    (
        Cloud::Aws,
        &["sqs", "stream", "s3", "schedule", "sns", "http", "httpApi"],
    ),
    (Cloud::Azure, &[]),
    // HTTP is a 2nd gen function's default; Pub/Sub and Cloud Storage are Eventarc triggers
    // on the function; `event: {eventType, resource}` is the Serverless spelling of both.
    (Cloud::Gcp, &["http", "pubsub", "topic", "bucket", "event"]),
];

/// The event kinds `cloud`'s backend creates.
pub(crate) fn managed_events(cloud: Cloud) -> &'static [&'static str] {
    MANAGED_EVENTS
        .iter()
        .find(|(row, _)| *row == cloud)
        .map_or(&[], |(_, kinds)| kinds)
}

/// Whether `cloud`'s backend creates the trigger of an event of `kind`.
pub(crate) fn manages_event(cloud: Cloud, kind: &str) -> bool {
    managed_events(cloud).contains(&kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_names() {
        assert!(function_name_problem(Cloud::Aws, "python-app-prod-hello").is_none());
        assert!(function_name_problem(Cloud::Aws, "a.b").is_some());
        assert!(function_name_problem(Cloud::Aws, &"x".repeat(65)).is_some());
    }

    #[test]
    fn gcp_names_are_lowercase() {
        assert!(function_name_problem(Cloud::Gcp, "app-prod-hello").is_none());
        assert!(function_name_problem(Cloud::Gcp, "App").is_some());
        assert_eq!(
            gcp_default_name("app-prod-process_S3"),
            "app-prod-process-s3"
        );
    }

    #[test]
    fn supported_lists() {
        assert_eq!(
            supported_runtimes(Cloud::Azure),
            "python3.10, python3.11, python3.12, python3.13"
        );
    }
}
