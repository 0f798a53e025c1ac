//! Lambda layers: the description that records a version's dependency hash and owner,
//! planning reuse or publication, and publishing.

use aws_sdk_lambda::types::{Architecture, LayerVersionContentInput, Runtime};
use strata_provider::{DeploySpec, LayerAction, LayerPlan, LayerReport, LayerSpec, Step};

use super::apply::check_code_sha256;
use crate::AwsProvider;
use crate::call::CallContext;
use crate::error::{ApiError, AwsError};
use crate::upload::{CodeSource, code_source};

/// What a layer version's description records, so a later deploy can reuse it and `remove`
/// can find it (layer versions cannot be tagged).
pub fn layer_description(spec: &DeploySpec, layer: &LayerSpec) -> String {
    format!(
        "strata:deps={} strata:service={} strata:stage={}",
        layer.dependency_hash, spec.service, spec.stage
    )
}

pub(crate) fn description_dependency_hash(description: &str) -> Option<&str> {
    description
        .split_whitespace()
        .find_map(|word| word.strip_prefix("strata:deps="))
}

pub(crate) fn description_belongs_to(description: &str, service: &str, stage: &str) -> bool {
    let words: Vec<&str> = description.split_whitespace().collect();
    words.contains(&format!("strata:service={service}").as_str())
        && words.contains(&format!("strata:stage={stage}").as_str())
}

/// Reuses a version strata published for this service and stage with the same dependency
/// hash. A layer name whose versions were all published by someone else is not strata's:
/// refused unless the spec adopts it (layer versions cannot be tagged, so the description is
/// the only record of who published one).
pub(super) async fn plan_layer(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    spec: &DeploySpec,
    layer: &LayerSpec,
) -> Result<LayerPlan, AwsError> {
    let lambda = &provider.clients.lambda;
    let ctx = ctx.for_resource(&layer.deployed_name);
    let mut reuse: Option<(i64, String)> = None;
    let mut ours = false;
    let mut latest: Option<(i64, String)> = None;
    let mut marker: Option<String> = None;
    loop {
        let page = ctx
            .call_optional(Step::Read, || async {
                lambda
                    .list_layer_versions()
                    .layer_name(&layer.deployed_name)
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("ListLayerVersions", error))
            })
            .await?;
        let Some(page) = page else { break };
        for version in page.layer_versions() {
            let description = version.description().unwrap_or_default();
            if latest
                .as_ref()
                .is_none_or(|(found, _)| version.version() > *found)
            {
                latest = Some((version.version(), description.to_owned()));
            }
            if !description_belongs_to(description, &spec.service, &spec.stage) {
                continue;
            }
            ours = true;
            let matches =
                description_dependency_hash(description) == Some(layer.dependency_hash.as_str());
            let newer = reuse
                .as_ref()
                .is_none_or(|(found, _)| version.version() > *found);
            if matches && newer && !spec.force {
                reuse = Some((
                    version.version(),
                    version.layer_version_arn().unwrap_or_default().to_owned(),
                ));
            }
        }
        marker = page.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    let action = match (reuse, latest) {
        (Some((version, arn)), _) => LayerAction::Reuse { version, arn },
        (None, Some((_, description))) if !ours => {
            if !spec.adopt {
                return Err(AwsError::LayerNotOwned {
                    name: layer.deployed_name.clone(),
                    description,
                });
            }
            LayerAction::Adopt {
                owner_description: description,
            }
        }
        (None, _) => LayerAction::Publish,
    };
    Ok(LayerPlan {
        name: layer.name.clone(),
        deployed_name: layer.deployed_name.clone(),
        dependency_hash: layer.dependency_hash.clone(),
        action,
    })
}

pub(super) async fn publish_layer(
    ctx: &CallContext<'_>,
    provider: &AwsProvider,
    spec: &DeploySpec,
    layer: &LayerSpec,
) -> Result<LayerReport, AwsError> {
    let lambda = &provider.clients.lambda;
    let content = match code_source(
        ctx,
        &provider.uploader(spec.adopt),
        &spec.service,
        &spec.stage,
        &layer.artifact,
    )
    .await?
    {
        CodeSource::Direct(blob) => LayerVersionContentInput::builder().zip_file(blob).build(),
        CodeSource::S3 { bucket, key } => LayerVersionContentInput::builder()
            .s3_bucket(bucket)
            .s3_key(key)
            .build(),
    };
    let runtimes: Vec<Runtime> = layer
        .compatible_runtimes
        .iter()
        .map(|runtime| Runtime::from(runtime.as_str()))
        .collect();
    let architectures: Vec<Architecture> = layer
        .compatible_architectures
        .iter()
        .map(|architecture| Architecture::from(architecture.as_str()))
        .collect();
    let description = layer_description(spec, layer);
    let published = ctx
        .call(Step::PublishLayer, || async {
            lambda
                .publish_layer_version()
                .layer_name(&layer.deployed_name)
                .description(&description)
                .content(content.clone())
                .set_compatible_runtimes((!runtimes.is_empty()).then(|| runtimes.clone()))
                .set_compatible_architectures(
                    (!architectures.is_empty()).then(|| architectures.clone()),
                )
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("PublishLayerVersion", error))
        })
        .await?;
    let mismatch = check_code_sha256(
        &layer.deployed_name,
        &layer.artifact.code_sha256_base64,
        published
            .content()
            .and_then(|content| content.code_sha256()),
    );
    if let Err(error) = mismatch {
        // Its description records the dependency hash, so left in place a later deploy
        // would reuse these wrong bytes.
        let version = published.version();
        ctx.call_optional(Step::PublishLayer, || async {
            lambda
                .delete_layer_version()
                .layer_name(&layer.deployed_name)
                .version_number(version)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("DeleteLayerVersion", error))
        })
        .await?;
        return Err(error);
    }
    Ok(LayerReport {
        name: layer.name.clone(),
        deployed_name: layer.deployed_name.clone(),
        version: published.version(),
        id: published.layer_version_arn().unwrap_or_default().to_owned(),
        published: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_description_round_trips() {
        let description = "strata:deps=abc strata:service=svc strata:stage=prod";
        assert_eq!(description_dependency_hash(description), Some("abc"));
        assert!(description_belongs_to(description, "svc", "prod"));
        assert!(!description_belongs_to(description, "svc", "dev"));
        assert!(!description_belongs_to("hand made", "svc", "prod"));
    }
}
