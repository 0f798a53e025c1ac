//! The CLI's side of the AWS backend: the manifest and the build report mapped into a
//! provider-neutral [`DeploySpec`] (layers, role, tags), the backend's settings from flags,
//! manifest and environment, and how AWS errors are shown.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use strata_aws::{AwsError, AwsProvider, AwsSettings};
use strata_build::{ArtifactId, BuildReport, human_size};
use strata_manifest::{
    AwsEvent, CfnRef, Cloud, FunctionConfig, FunctionTarget, LayerRef as ManifestLayerRef,
    ResolvedConfig, SnsTopic, StreamKind,
};
use strata_provider::{
    BucketSpec, CorsSpec, DeploySpec, FunctionSpec, HttpApiKind, HttpSpec, LayerRef, LayerSpec,
    MappingSource, MappingSpec, RoleSpec, ScheduleSpec, SourceRef, StackSpec, TopicRef, TopicSpec,
    TriggerSpec,
};

use crate::clouds::{
    Backend, CloudAdapter, ConnectInput, Erased, ObserveBackend, SpecInput, artifact_ref,
    neutral_function_spec, unmanaged_items,
};
use crate::error::CliError;

/// The `{Ref: …}` serverless-python-requirements gives its layer.
const REQUIREMENTS_LAYER_REF: &str = "PythonRequirementsLambdaLayer";

/// Why the manifest and build report cannot be turned into a deploy.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("the build produced no AWS code artifact for function `{function}`")]
    MissingArtifact { function: String },

    #[error(
        "function `{function}` uses the layer `{{Ref: {reference}}}`, which strata does not build"
    )]
    UnknownLayer {
        function: String,
        reference: String,
        known: Vec<String>,
    },

    #[error("function `{function}` uses the layer `{expression}`, which strata cannot resolve")]
    UnsupportedLayer {
        function: String,
        expression: String,
    },

    #[error("the execution role `{role}` of {owner} is not an IAM role ARN")]
    RoleNotArn { owner: String, role: String },
}

impl strata_provider::Hint for SpecError {
    fn hint(&self) -> Option<String> {
        match self {
            Self::MissingArtifact { .. } => {
                Some("this is a bug in strata; please report it with the manifest".to_owned())
            }
            Self::UnknownLayer { known, .. } if known.is_empty() => Some(
                "give the layer's version ARN, or add a `layers:` entry with a `path`".to_owned(),
            ),
            Self::UnknownLayer { known, .. } => Some(format!(
                "layers strata builds for this function: {}; other layers need their version ARN",
                known.join(", ")
            )),
            Self::UnsupportedLayer { .. } => Some("give the layer's version ARN".to_owned()),
            Self::RoleNotArn { .. } => Some(
                "give the role's ARN (arn:aws:iam::<account>:role/<name>), or leave the role out and \
                 strata creates one from provider.iam.role.statements"
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

impl From<AwsError> for CliError {
    fn from(error: AwsError) -> Self {
        Self::from_source(&error)
    }
}

/// The hint for an AWS backend error, in the CLI's words (flags, manifest keys); one of the
/// renderer's hinted error types.
pub(crate) fn aws_error_hint(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let error = error.downcast_ref::<AwsError>()?;
    if let Some(hint) = stack_hint(error) {
        return Some(hint);
    }
    let hint = match error {
        AwsError::NoCredentials { .. } => Some(
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pick a profile with AWS_PROFILE \
                 or provider.profile, or sign in with `aws sso login`",
        ),
        AwsError::Call { source, .. } if source.timed_out => Some(
            "AWS did not answer in time; check the network, or give calls longer with \
                 STRATA_AWS_CALL_TIMEOUT and each function longer with STRATA_DEPLOY_DEADLINE \
                 (seconds)",
        ),
        AwsError::Call { source, .. } if source.transport => Some(
            "check the network; when you use an emulator, check AWS_ENDPOINT_URL and that it is running",
        ),
        AwsError::NotOwned {
            kind: "deployment bucket",
            ..
        } => Some(
            "pass --adopt to take it over on purpose (strata then tags it and uploads to it \
                 from now on), or set provider.deploymentBucket to use a bucket of your own",
        ),
        AwsError::NotOwned { .. } => Some(
            "pass --adopt to take it over on purpose (strata then tags it and manages it \
                 from now on), or give strata's resource another name",
        ),
        AwsError::LayerNotOwned { .. } => Some(
            "pass --adopt to take the layer name over on purpose (strata then publishes its \
                 own versions into it, leaving the others alone), or give strata's layer another name",
        ),
        AwsError::MissingBucket { .. } => Some(
            "create the bucket first (in the provider's region), or drop `existing: true` so \
                 strata creates it",
        ),
        AwsError::NoPreviousVersion { .. } => {
            Some("pass --to VERSION; `strata info` lists the published versions")
        }
        AwsError::NotHttp { .. } => Some(
            "leave them out and put the values in the event (--data); they are for Azure and \
                 GCP HTTP functions",
        ),
        _ => None,
    };
    hint.map(str::to_owned)
}

/// What to do about a stack that did not deploy or cannot be updated.
fn stack_hint(error: &AwsError) -> Option<String> {
    match error {
        AwsError::StackStuck { stack, status } | AwsError::StackFailed { stack, status, .. }
            if status == "UPDATE_ROLLBACK_FAILED" =>
        {
            Some(format!(
                "finish the rollback first: `aws cloudformation continue-update-rollback --stack-name \
             {stack}` (with --resources-to-skip for resources that cannot go back), wait for \
             UPDATE_ROLLBACK_COMPLETE, then deploy again"
            ))
        }
        AwsError::StackStuck { stack, .. } => Some(format!(
            "look at the stack's events in the CloudFormation console, fix or delete the \
             resources it names, then delete `{stack}` (`aws cloudformation delete-stack`) or \
             bring it to a *_COMPLETE state, and deploy again"
        )),
        AwsError::StackFailed { status, .. } if status == "ROLLBACK_COMPLETE" => Some(
            "the stack's first create rolled back and no function changed; fix the resource in \
             `resources:` and deploy again: the next deploy deletes the empty stack and creates \
             it anew"
                .to_owned(),
        ),
        AwsError::StackFailed { status, .. } if status.contains("ROLLBACK") => Some(
            "CloudFormation rolled the stack back to what it was and no function changed; fix \
             the resource in `resources:` and deploy again"
                .to_owned(),
        ),
        _ => None,
    }
}

/// The backend's settings. Region: `--region`, then the manifest's `aws.region` or
/// `provider.region` when written (the manifest's own `us-east-1` default is not used, so
/// the environment and the profile still decide), then `AWS_REGION` and the profile. The
/// endpoint comes from `AWS_ENDPOINT_URL` through the SDK's own configuration.
pub fn aws_settings(config: &ResolvedConfig, cli_region: Option<&str>) -> AwsSettings {
    let written_region = ["/aws/region", "/provider/region"]
        .iter()
        .find_map(|pointer| config.document.pointer(pointer)?.as_str())
        .map(str::to_owned);
    let aws = config.aws.as_ref();
    AwsSettings {
        region: cli_region.map(str::to_owned).or(written_region),
        profile: aws.and_then(|aws| aws.profile.clone()),
        deployment_bucket: aws.and_then(|aws| aws.deployment_bucket.clone()),
        ..AwsSettings::default()
    }
}

/// Puts one timeout into the settings.
type SetTimeout = fn(&mut AwsSettings, Duration);

/// Environment variables that bound AWS calls, in seconds, and what each sets.
const TIMEOUT_VARIABLES: [(&str, SetTimeout); 3] = [
    ("STRATA_AWS_CONNECT_TIMEOUT", |settings, value| {
        settings.timeouts.connect = value;
    }),
    ("STRATA_AWS_CALL_TIMEOUT", |settings, value| {
        settings.timeouts.attempt = value;
        settings.timeouts.operation = value;
    }),
    ("STRATA_DEPLOY_DEADLINE", |settings, value| {
        settings.retry.function_deadline = value;
    }),
];

/// Applies the timeout variables of `env` (see [`TIMEOUT_VARIABLES`]) to `settings`.
pub fn apply_timeout_variables(
    settings: &mut AwsSettings,
    env: &BTreeMap<String, String>,
) -> Result<(), CliError> {
    for (name, apply) in TIMEOUT_VARIABLES {
        let Some(text) = env.get(name) else { continue };
        let seconds = text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
            .ok_or_else(|| {
                CliError::input(format!("{name} is `{text}`, not a number of seconds"))
                    .with_hint("give a positive number of seconds, e.g. 300")
            })?;
        apply(settings, Duration::from_secs_f64(seconds));
    }
    Ok(())
}

/// The AWS adapter: Lambda functions, their layers and execution role.
pub struct AwsAdapter;

#[async_trait]
impl CloudAdapter for AwsAdapter {
    fn cloud(&self) -> Cloud {
        Cloud::Aws
    }

    fn deploy_spec(&self, input: &SpecInput<'_>) -> Result<DeploySpec, CliError> {
        Ok(deploy_spec(input)?)
    }

    /// Zips over the direct-upload limit the backend applies go through S3.
    fn build_notes(&self, build: &BuildReport) -> Vec<String> {
        build
            .artifacts
            .iter()
            .filter(|artifact| {
                artifact.cloud == Cloud::Aws
                    && artifact.zipped_size > strata_aws::DEFAULT_DIRECT_UPLOAD_LIMIT
            })
            .map(|artifact| {
                format!(
                    "{} is {} zipped, over Lambda's direct upload limit ({} as sent, base64): \
                     deploy will upload it through S3",
                    artifact.path,
                    human_size(artifact.zipped_size),
                    human_size(strata_aws::DEFAULT_DIRECT_UPLOAD_LIMIT)
                )
            })
            .collect()
    }

    /// Builds the AWS clients; fails early with the sources tried when there are no
    /// credentials. The timeout variables of the environment apply here, so every command is
    /// bounded alike.
    async fn connect(&self, input: &ConnectInput<'_>) -> Result<Box<dyn Backend>, CliError> {
        let mut settings = aws_settings(input.config, input.region);
        apply_timeout_variables(&mut settings, input.env)?;
        Ok(Box::new(Erased(AwsProvider::new(settings).await?)))
    }

    async fn connect_observer(
        &self,
        input: &ConnectInput<'_>,
    ) -> Result<Box<dyn ObserveBackend>, CliError> {
        let mut settings = aws_settings(input.config, input.region);
        apply_timeout_variables(&mut settings, input.env)?;
        Ok(Box::new(Erased(AwsProvider::new(settings).await?)))
    }
}

/// The stage's role: the ARN the manifest gives (`aws.role`, `provider.iam.role`,
/// `provider.role`), else one strata manages with the manifest's IAM statements.
fn role_spec(config: &ResolvedConfig) -> Result<RoleSpec, SpecError> {
    let aws = config.aws.as_ref();
    match aws.and_then(|aws| aws.role.as_deref()) {
        Some(role) => {
            check_role_arn(role, "the service")?;
            Ok(RoleSpec::Existing(role.to_owned()))
        }
        None => Ok(RoleSpec::Managed {
            statements: aws
                .map(|aws| aws.iam_statements.clone())
                .unwrap_or_default(),
        }),
    }
}

fn check_role_arn(role: &str, owner: &str) -> Result<(), SpecError> {
    let is_arn = role.starts_with("arn:") && role.contains(":role/");
    if is_arn {
        Ok(())
    } else {
        Err(SpecError::RoleNotArn {
            owner: owner.to_owned(),
            role: role.to_owned(),
        })
    }
}

/// A layer this deploy builds and publishes, and how functions may refer to it.
struct OwnLayer {
    spec: LayerSpec,
    /// `{Ref: <this>}` names it in the manifest.
    reference: String,
    /// The requirements layer of these functions (serverless-python-requirements).
    requirement_users: Vec<String>,
}

/// Maps the resolved manifest and the build report into what the backend deploys.
///
/// Layers: every AWS layer artifact becomes a [`LayerSpec`] whose dependency hash is the
/// zip's sha256 (zips are byte-identical for identical inputs, so an unchanged layer is
/// reused even after the build cache is cleared). A function gets its requirements layer
/// when it names `{Ref: PythonRequirementsLambdaLayer}` or when the build put its
/// dependencies into that layer (they are then not in its own zip); `{Ref: XLambdaLayer}`
/// names a `layers:` entry; ARNs pass through.
fn deploy_spec(input: &SpecInput<'_>) -> Result<DeploySpec, SpecError> {
    let SpecInput {
        config,
        build: report,
        out_dir,
        ..
    } = *input;
    let own_layers = own_layers(config, report, out_dir);

    let mut functions = Vec::new();
    for (function, target) in &input.functions {
        functions.push(function_spec(
            config,
            function,
            target,
            report,
            out_dir,
            &own_layers,
        )?);
    }
    Ok(DeploySpec {
        service: config.service.clone(),
        stage: config.stage.clone(),
        functions,
        layers: own_layers.into_iter().map(|layer| layer.spec).collect(),
        role: role_spec(config)?,
        unmanaged: unmanaged_items(config),
        force: input.force,
        adopt: input.adopt,
        aws_stack: config.resources.as_ref().map(|resources| StackSpec {
            template: resources.template.clone(),
        }),
        partial: input.partial,
    })
}

/// The triggers the AWS backend creates; the other event types stay listed as not managed.
fn cors_spec(cors: &strata_manifest::Cors) -> CorsSpec {
    CorsSpec {
        origins: cors.origins.clone(),
        headers: cors.headers.clone(),
        allow_credentials: cors.allow_credentials,
        max_age_s: cors.max_age,
    }
}

fn trigger_spec(event: &AwsEvent) -> Option<TriggerSpec> {
    let mapping = match event {
        AwsEvent::Sqs(queue) => MappingSpec {
            maximum_batching_window_s: queue.maximum_batching_window,
            enabled: queue.enabled,
            function_response_type: queue.function_response_type.clone(),
            maximum_concurrency: queue.maximum_concurrency,
            filter_patterns: queue.filter_patterns.clone(),
            ..MappingSpec::new(
                MappingSource::Queue,
                source_ref(&queue.arn),
                queue.batch_size,
            )
        },
        AwsEvent::Stream(stream) => MappingSpec {
            maximum_batching_window_s: stream.maximum_batching_window,
            enabled: stream.enabled,
            function_response_type: stream.function_response_type.clone(),
            starting_position: Some(stream.starting_position.clone()),
            starting_position_timestamp: stream.starting_position_timestamp,
            parallelization_factor: stream.parallelization_factor,
            maximum_retry_attempts: stream.maximum_retry_attempts,
            maximum_record_age_s: stream.maximum_record_age,
            bisect_batch_on_function_error: stream.bisect_batch_on_function_error,
            tumbling_window_s: stream.tumbling_window,
            filter_patterns: stream.filter_patterns.clone(),
            ..MappingSpec::new(
                match stream.kind {
                    StreamKind::Dynamodb => MappingSource::DynamodbStream,
                    StreamKind::Kinesis => MappingSource::KinesisStream,
                },
                source_ref(&stream.arn),
                stream.batch_size,
            )
        },
        AwsEvent::S3(s3) => {
            return Some(TriggerSpec::Bucket(BucketSpec {
                bucket: s3.bucket.clone(),
                events: vec![s3.event.clone()],
                prefix: s3.prefix.clone(),
                suffix: s3.suffix.clone(),
                existing: s3.existing,
            }));
        }
        AwsEvent::Schedule(schedule) => {
            return Some(TriggerSpec::Schedule(ScheduleSpec {
                expressions: schedule.expressions.clone(),
                enabled: schedule.enabled,
                name: schedule.name.clone(),
                description: schedule.description.clone(),
                input: schedule.input.clone(),
                input_path: schedule.input_path.clone(),
            }));
        }
        AwsEvent::Sns(sns) => {
            return Some(TriggerSpec::Topic(TopicSpec {
                topic: match &sns.topic {
                    SnsTopic::Arn(arn) => TopicRef::Arn(source_ref(arn)),
                    SnsTopic::Name { name, display_name } => TopicRef::Name {
                        name: name.clone(),
                        display_name: display_name.clone(),
                    },
                },
                filter_policy: sns.filter_policy.clone(),
                filter_policy_scope: sns.filter_policy_scope.clone(),
            }));
        }
        AwsEvent::Http(route) => {
            return Some(TriggerSpec::Http(HttpSpec {
                api: HttpApiKind::Rest,
                method: route.method.as_str().to_owned(),
                path: route.path.clone(),
                cors: route.cors.as_ref().map(cors_spec),
            }));
        }
        AwsEvent::HttpApi(route) => {
            // The manifest writes `$default` or `METHOD /path`.
            let (method, path) = route
                .route_key
                .split_once(' ')
                .map_or(("*", "*"), |(method, path)| {
                    (method, path.trim_matches('/'))
                });
            return Some(TriggerSpec::Http(HttpSpec {
                api: HttpApiKind::Http,
                method: method.to_owned(),
                path: path.to_owned(),
                cors: route.cors.as_ref().map(cors_spec),
            }));
        }
    };
    Some(TriggerSpec::Mapping(mapping))
}

fn source_ref(reference: &CfnRef) -> SourceRef {
    match reference {
        CfnRef::Literal(value) => SourceRef::Literal(value.clone()),
        CfnRef::Ref(name) => SourceRef::Ref(name.clone()),
        CfnRef::GetAtt {
            resource,
            attribute,
        } => SourceRef::GetAtt {
            resource: resource.clone(),
            attribute: attribute.clone(),
        },
        CfnRef::Expression(value) => SourceRef::Expression(value.clone()),
    }
}

fn own_layers(config: &ResolvedConfig, report: &BuildReport, out_dir: &Path) -> Vec<OwnLayer> {
    let requirements = config.python_requirements.layer.as_ref();
    report
        .layers(Cloud::Aws)
        .filter_map(|artifact| match &artifact.id {
            ArtifactId::ManifestLayer { name } => {
                let layer = config.layers.values().find(|layer| layer.name == *name)?;
                Some(OwnLayer {
                    spec: LayerSpec {
                        name: layer.name.clone(),
                        deployed_name: layer.deployed_name.clone(),
                        artifact: artifact_ref(artifact, out_dir),
                        dependency_hash: artifact.sha256.clone(),
                        compatible_runtimes: layer.compatible_runtimes.clone(),
                        compatible_architectures: layer.compatible_architectures.clone(),
                    },
                    reference: layer.reference.clone(),
                    requirement_users: Vec::new(),
                })
            }
            ArtifactId::RequirementsLayer { name, target } => {
                // serverless-python-requirements names the layer `<service>-<stage>-
                // python-requirements` unless `layer.name` replaces the whole name;
                // strata adds the target, one layer per Python and CPU.
                let custom_name = requirements.and_then(|layer| layer.name.as_ref());
                let deployed_name = match custom_name {
                    Some(_) => name.clone(),
                    None => strata_manifest::resource_name(&config.service, &config.stage, name),
                };
                let compatible_runtimes = match requirements {
                    Some(layer) if !layer.compatible_runtimes.is_empty() => {
                        layer.compatible_runtimes.clone()
                    }
                    _ => vec![target.runtime.to_string()],
                };
                let compatible_architectures = match requirements {
                    Some(layer) if !layer.compatible_architectures.is_empty() => {
                        layer.compatible_architectures.clone()
                    }
                    _ => vec![target.architecture],
                };
                Some(OwnLayer {
                    spec: LayerSpec {
                        name: name.clone(),
                        deployed_name,
                        artifact: artifact_ref(artifact, out_dir),
                        dependency_hash: artifact.sha256.clone(),
                        compatible_runtimes,
                        compatible_architectures,
                    },
                    reference: REQUIREMENTS_LAYER_REF.to_owned(),
                    requirement_users: artifact.functions.clone(),
                })
            }
            _ => None,
        })
        .collect()
}

fn function_spec(
    config: &ResolvedConfig,
    function: &FunctionConfig,
    target: &FunctionTarget,
    report: &BuildReport,
    out_dir: &Path,
    own_layers: &[OwnLayer],
) -> Result<FunctionSpec, SpecError> {
    let aws = config.aws.as_ref();
    let code = report
        .function_code(Cloud::Aws, &function.name)
        .ok_or_else(|| SpecError::MissingArtifact {
            function: function.name.clone(),
        })?;

    let requirements_layer = own_layers
        .iter()
        .find(|layer| layer.requirement_users.contains(&function.name));
    let mut layers = Vec::new();
    for reference in &target.layers {
        let layer = match reference {
            ManifestLayerRef::Arn(arn) => LayerRef::External(arn.clone()),
            ManifestLayerRef::Ref(name) if name == REQUIREMENTS_LAYER_REF => {
                let layer = requirements_layer.ok_or_else(|| SpecError::UnknownLayer {
                    function: function.name.clone(),
                    reference: name.clone(),
                    known: Vec::new(),
                })?;
                LayerRef::Own(layer.spec.name.clone())
            }
            ManifestLayerRef::Ref(name) => {
                let layer = own_layers
                    .iter()
                    .find(|layer| layer.reference == *name)
                    .ok_or_else(|| SpecError::UnknownLayer {
                        function: function.name.clone(),
                        reference: name.clone(),
                        known: own_layers
                            .iter()
                            .map(|layer| format!("{{Ref: {}}}", layer.reference))
                            .collect(),
                    })?;
                LayerRef::Own(layer.spec.name.clone())
            }
            ManifestLayerRef::Other(expression) => {
                return Err(SpecError::UnsupportedLayer {
                    function: function.name.clone(),
                    expression: expression.to_string(),
                });
            }
        };
        if !layers.contains(&layer) {
            layers.push(layer);
        }
    }
    // The build left this function's dependencies out of its zip and put them in the layer,
    // so the function cannot run without it, named or not.
    if let Some(layer) = requirements_layer {
        let own = LayerRef::Own(layer.spec.name.clone());
        if !layers.contains(&own) {
            layers.push(own);
        }
    }

    let service_role = aws.and_then(|aws| aws.role.as_deref());
    let role = match target.role.as_deref() {
        Some(role) if Some(role) != service_role => {
            check_role_arn(role, &format!("function `{}`", function.name))?;
            Some(role.to_owned())
        }
        _ => None,
    };

    let mut spec = neutral_function_spec(config, function, target, artifact_ref(code, out_dir));
    spec.triggers = function
        .aws_triggers
        .iter()
        .filter_map(|trigger| trigger_spec(&trigger.event))
        .collect();
    // The function's own tags win over the provider's.
    let mut tags: BTreeMap<String, String> = aws
        .map(|aws| {
            aws.tags
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        })
        .unwrap_or_default();
    tags.append(&mut spec.tags);
    spec.tags = tags;
    spec.layers = layers;
    spec.role = role;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use strata_build::{ArtifactReport, ArtifactTarget, CodeScope};
    use strata_manifest::{Architecture, LoadOptions, PythonRuntime};

    use crate::clouds::CloudAdapter;

    use super::*;

    fn load(manifest: &str, files: &[&str]) -> (tempfile::TempDir, ResolvedConfig) {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("serverless.yml"), manifest).unwrap();
        for file in files {
            let path = dir.path().join(file);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, "def handler(event, context):\n    return 1\n").unwrap();
        }
        let options = LoadOptions {
            project_dir: dir.path().to_owned(),
            env: BTreeMap::new(),
            ..LoadOptions::default()
        };
        let loaded = strata_manifest::load(&options).unwrap();
        (dir, loaded.config)
    }

    const ARM312: ArtifactTarget = ArtifactTarget {
        runtime: PythonRuntime {
            major: 3,
            minor: 12,
        },
        architecture: Architecture::Arm64,
    };

    /// A built artifact as the build reports it: its zip lies at `<name>.zip`.
    fn artifact(id: ArtifactId, name: &str, functions: &[&str]) -> ArtifactReport {
        ArtifactReport {
            id: id.clone(),
            kind: id.kind(),
            name: String::new(),
            cloud: id.cloud(),
            target: id.target(),
            path: String::new(),
            sha256: format!("{:0>64}", name.len()),
            code_sha256: "AAAA".to_owned(),
            zipped_size: 10,
            unzipped_size: 20,
            file_count: 1,
            distributions: Vec::new(),
            functions: functions.iter().map(|name| (*name).to_owned()).collect(),
            reused: false,
            input_key: "key".to_owned(),
        }
        .with_id(id, name)
    }

    fn service_code() -> ArtifactId {
        ArtifactId::FunctionCode {
            cloud: Cloud::Aws,
            scope: CodeScope::Service,
            target: None,
        }
    }

    /// The AWS spec of the selected functions (all when `selection` is empty).
    fn spec_for(
        config: &ResolvedConfig,
        build: &BuildReport,
        out_dir: &Path,
        selection: &[String],
        force: bool,
    ) -> Result<DeploySpec, SpecError> {
        deploy_spec(&SpecInput {
            config,
            build,
            out_dir,
            functions: crate::clouds::cloud_functions(config, selection, Cloud::Aws),
            force,
            adopt: false,
            partial: !selection.is_empty(),
        })
    }

    fn report(artifacts: Vec<ArtifactReport>) -> BuildReport {
        BuildReport {
            service: "svc".to_owned(),
            stage: "dev".to_owned(),
            output_dir: ".strata/build/dev".to_owned(),
            artifacts,
            notes: Vec::new(),
        }
    }

    const LAYERED: &str = "\
service: svc
provider:
  name: aws
  runtime: python3.12
  architecture: arm64
  tags:
    team: data
  iam:
    role:
      statements:
        - Effect: Allow
          Action: s3:GetObject
          Resource: '*'
custom:
  pythonRequirements:
    layer: true
functions:
  named:
    handler: named.handler
    layers:
      - arn:aws:lambda:us-east-1:111111111111:layer:shared:3
      - Ref: PythonRequirementsLambdaLayer
    tags:
      team: api
  implicit:
    handler: implicit.handler
    events:
      - http: GET /
";

    #[test]
    fn requirements_layer_is_attached_by_reference_and_by_use() {
        let (dir, config) = load(LAYERED, &["named.py", "implicit.py"]);
        let build = report(vec![
            artifact(service_code(), "aws/svc", &["named", "implicit"]),
            artifact(
                ArtifactId::RequirementsLayer {
                    name: "python-requirements-py312-arm64".to_owned(),
                    target: ARM312,
                },
                "aws/layers/python-requirements-py312-arm64",
                &["named", "implicit"],
            ),
        ]);
        let out = dir.path().join(".strata/build/dev");
        let spec = spec_for(&config, &build, &out, &[], false).unwrap();

        assert_eq!(spec.layers.len(), 1);
        let layer = &spec.layers[0];
        assert_eq!(layer.name, "python-requirements-py312-arm64");
        assert_eq!(
            layer.deployed_name,
            "svc-dev-python-requirements-py312-arm64"
        );
        assert_eq!(layer.dependency_hash, build.artifacts[1].sha256);
        assert_eq!(layer.compatible_runtimes, vec!["python3.12".to_owned()]);
        assert_eq!(layer.compatible_architectures, vec![Architecture::Arm64]);
        assert_eq!(
            layer.artifact.path,
            out.join("aws/layers/python-requirements-py312-arm64.zip")
        );

        let named = spec.function("named").unwrap();
        assert_eq!(named.deployed_name, "svc-dev-named");
        assert_eq!(
            named.layers,
            vec![
                LayerRef::External("arn:aws:lambda:us-east-1:111111111111:layer:shared:3".into()),
                LayerRef::Own(layer.name.clone()),
            ]
        );
        assert_eq!(named.tags.get("team").map(String::as_str), Some("api"));
        assert_eq!(named.architecture, Architecture::Arm64);
        assert_eq!(named.code.path, out.join("aws/svc.zip"));
        let implicit = spec.function("implicit").unwrap();
        assert_eq!(implicit.layers, vec![LayerRef::Own(layer.name.clone())]);
        assert_eq!(implicit.tags.get("team").map(String::as_str), Some("data"));

        match &spec.role {
            RoleSpec::Managed { statements } => {
                assert_eq!(statements.len(), 1);
                assert_eq!(statements[0]["Action"], "s3:GetObject");
            }
            other => panic!("expected a managed role, got {other:?}"),
        }
        // The `http` event is a REST API route now, not an unmanaged item.
        assert!(spec.unmanaged.is_empty(), "{:?}", spec.unmanaged);
        assert_eq!(
            implicit.triggers,
            vec![TriggerSpec::Http(HttpSpec {
                api: HttpApiKind::Rest,
                method: "GET".to_owned(),
                path: String::new(),
                cors: None,
            })]
        );
    }

    /// The note uses the backend's own limit: a zip just over it is announced, one at it is
    /// not (the build's old note said 50 MiB while the backend switched at 37.5 MB).
    #[test]
    fn only_zips_over_the_backends_direct_upload_limit_get_the_s3_note() {
        let limit = strata_aws::DEFAULT_DIRECT_UPLOAD_LIMIT;
        let mut over = artifact(service_code(), "aws/big", &["big"]);
        over.zipped_size = limit + 1;
        let mut at = artifact(service_code(), "aws/small", &["small"]);
        at.zipped_size = limit;
        let gcp_source = ArtifactId::GcpSource {
            function: "big".to_owned(),
        };
        let mut elsewhere = artifact(gcp_source, "gcp/big", &["big"]);
        elsewhere.zipped_size = limit + 1;
        let notes = AwsAdapter.build_notes(&report(vec![over, at, elsewhere]));
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].starts_with("aws/big.zip is "), "{notes:?}");
        assert!(notes[0].contains("through S3"), "{notes:?}");
    }

    #[test]
    fn selection_limits_the_functions() {
        let (dir, config) = load(LAYERED, &["named.py", "implicit.py"]);
        let build = report(vec![artifact(
            service_code(),
            "aws/svc",
            &["named", "implicit"],
        )]);
        let spec = spec_for(&config, &build, dir.path(), &["implicit".to_owned()], true).unwrap();
        assert_eq!(spec.functions.len(), 1);
        assert!(spec.force);
        assert!(spec.partial);
        let error =
            crate::commands::stage::check_selection(&config, &["nope".to_owned()]).unwrap_err();
        assert_eq!(error.message, "function `nope` is not in the manifest");
        assert_eq!(error.hints, ["functions in the manifest: named, implicit"]);
    }

    #[test]
    fn s3_schedule_and_sns_events_become_bucket_schedule_and_topic_triggers() {
        let manifest = "\
service: svc
provider:
  name: aws
functions:
  one:
    handler: one.handler
    events:
      - s3:
          bucket: photos
          event: s3:ObjectRemoved:*
          rules:
            - prefix: in/
          existing: true
      - schedule:
          rate: [rate(5 minutes), cron(0 12 * * ? *)]
          enabled: false
          input: { source: timer }
      - sns:
          topicName: orders
          filterPolicy: { kind: [order] }
      - sns: arn:aws:sns:us-east-1:111111111111:theirs
";
        let (dir, config) = load(manifest, &["one.py"]);
        let build = report(vec![artifact(service_code(), "aws/svc", &["one"])]);
        let spec = spec_for(&config, &build, dir.path(), &[], false).unwrap();
        let triggers = &spec.function("one").unwrap().triggers;
        assert_eq!(
            triggers[0],
            TriggerSpec::Bucket(BucketSpec {
                bucket: "photos".into(),
                events: vec!["s3:ObjectRemoved:*".into()],
                prefix: Some("in/".into()),
                suffix: None,
                existing: true,
            })
        );
        let TriggerSpec::Schedule(schedule) = &triggers[1] else {
            panic!("{triggers:?}");
        };
        assert_eq!(
            schedule.expressions,
            ["rate(5 minutes)", "cron(0 12 * * ? *)"]
        );
        assert!(!schedule.enabled);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(schedule.input.as_deref().unwrap()).unwrap(),
            serde_json::json!({ "source": "timer" })
        );
        assert_eq!(
            triggers[2],
            TriggerSpec::Topic(TopicSpec {
                topic: TopicRef::Name {
                    name: "orders".into(),
                    display_name: None,
                },
                filter_policy: Some(serde_json::json!({ "kind": ["order"] })),
                filter_policy_scope: None,
            })
        );
        assert!(matches!(
            &triggers[3],
            TriggerSpec::Topic(TopicSpec { topic: TopicRef::Arn(SourceRef::Literal(arn)), .. })
                if arn == "arn:aws:sns:us-east-1:111111111111:theirs"
        ));
    }

    #[test]
    fn role_arns_are_used_as_given_and_names_are_refused() {
        let manifest = "\
service: svc
provider:
  name: aws
  iam:
    role: arn:aws:iam::111111111111:role/shared
functions:
  one:
    handler: one.handler
  two:
    handler: one.handler
    role: arn:aws:iam::111111111111:role/special
";
        let (dir, config) = load(manifest, &["one.py"]);
        let build = report(vec![artifact(service_code(), "aws/svc", &["one", "two"])]);
        let spec = spec_for(&config, &build, dir.path(), &[], false).unwrap();
        assert_eq!(
            spec.role,
            RoleSpec::Existing("arn:aws:iam::111111111111:role/shared".into())
        );
        assert_eq!(spec.function("one").unwrap().role, None);
        assert_eq!(
            spec.function("two").unwrap().role.as_deref(),
            Some("arn:aws:iam::111111111111:role/special")
        );

        let (dir, config) = load(
            &manifest.replace("arn:aws:iam::111111111111:role/shared", "MyRole"),
            &["one.py"],
        );
        let error = spec_for(&config, &build, dir.path(), &[], false).unwrap_err();
        assert!(matches!(error, SpecError::RoleNotArn { .. }), "{error}");
    }

    #[test]
    fn a_ref_to_a_layer_the_build_did_not_produce_is_an_error() {
        // The requirements layer is on, but there is no requirements.txt to build it from.
        let manifest = "\
service: svc
provider:
  name: aws
custom:
  pythonRequirements:
    layer: true
functions:
  one:
    handler: one.handler
    layers:
      - Ref: PythonRequirementsLambdaLayer
";
        let (dir, config) = load(manifest, &["one.py"]);
        let build = report(vec![artifact(service_code(), "aws/svc", &["one"])]);
        let error = spec_for(&config, &build, dir.path(), &[], false).unwrap_err();
        assert!(matches!(error, SpecError::UnknownLayer { .. }), "{error}");
    }

    #[test]
    fn timeout_variables_bound_calls_and_the_function_deadline() {
        let mut settings = AwsSettings::default();
        let env = BTreeMap::from([
            ("STRATA_AWS_CONNECT_TIMEOUT".to_owned(), "3".to_owned()),
            ("STRATA_AWS_CALL_TIMEOUT".to_owned(), "42.5".to_owned()),
            ("STRATA_DEPLOY_DEADLINE".to_owned(), "600".to_owned()),
        ]);
        apply_timeout_variables(&mut settings, &env).unwrap();
        assert_eq!(settings.timeouts.connect, Duration::from_secs(3));
        assert_eq!(settings.timeouts.attempt, Duration::from_millis(42_500));
        assert_eq!(settings.timeouts.operation, Duration::from_millis(42_500));
        assert_eq!(settings.retry.function_deadline, Duration::from_secs(600));

        let env = BTreeMap::from([("STRATA_AWS_CALL_TIMEOUT".to_owned(), "0".to_owned())]);
        let error = apply_timeout_variables(&mut settings, &env).unwrap_err();
        assert_eq!(
            error.message,
            "STRATA_AWS_CALL_TIMEOUT is `0`, not a number of seconds"
        );
    }

    #[test]
    fn only_a_written_region_overrides_the_environment() {
        let (_dir, config) = load(
            "service: svc\nprovider:\n  name: aws\nfunctions:\n  one:\n    handler: one.handler\n",
            &["one.py"],
        );
        assert_eq!(aws_settings(&config, None).region, None);
        assert_eq!(
            aws_settings(&config, Some("eu-north-1")).region.as_deref(),
            Some("eu-north-1")
        );
        let (_dir, config) = load(
            "service: svc\nprovider:\n  name: aws\n  region: ap-south-1\n  deploymentBucket: my-bucket\nfunctions:\n  one:\n    handler: one.handler\n",
            &["one.py"],
        );
        let settings = aws_settings(&config, None);
        assert_eq!(settings.region.as_deref(), Some("ap-south-1"));
        assert_eq!(settings.deployment_bucket.as_deref(), Some("my-bucket"));
    }

    #[test]
    fn a_layer_strata_did_not_publish_names_what_it_says_and_hints_at_adopt() {
        let error = CliError::from(AwsError::LayerNotOwned {
            name: "svc-prod-deps".to_owned(),
            description: "numpy for the data team".to_owned(),
        });
        assert!(error.message.contains("`svc-prod-deps`"), "{error:?}");
        assert!(
            error.message.contains("`numpy for the data team`"),
            "{error:?}"
        );
        assert_eq!(error.hints.len(), 1, "{error:?}");
        assert!(error.hints[0].contains("--adopt"), "{error:?}");
    }

    #[test]
    fn a_stack_that_cannot_deploy_hints_at_what_to_do_next() {
        let stuck = CliError::from(AwsError::StackStuck {
            stack: "svc-prod-resources".to_owned(),
            status: "UPDATE_ROLLBACK_FAILED".to_owned(),
        });
        assert!(
            stuck.message.contains("UPDATE_ROLLBACK_FAILED"),
            "{stuck:?}"
        );
        assert!(
            stuck.hints[0].contains("continue-update-rollback --stack-name svc-prod-resources"),
            "{stuck:?}"
        );
        let failed = |status: &str| {
            CliError::from(AwsError::StackFailed {
                stack: "svc-prod-resources".to_owned(),
                status: status.to_owned(),
                resource: Some("Jobs (AWS::SQS::Queue)".to_owned()),
                reason: Some("bad VisibilityTimeout".to_owned()),
            })
        };
        let first_create = failed("ROLLBACK_COMPLETE");
        assert!(
            first_create.message.contains("Jobs (AWS::SQS::Queue)")
                && first_create.message.contains("bad VisibilityTimeout"),
            "{first_create:?}"
        );
        assert!(
            first_create.hints[0].contains("next deploy deletes the empty stack"),
            "{first_create:?}"
        );
        assert!(
            failed("UPDATE_ROLLBACK_COMPLETE").hints[0].contains("rolled the stack back"),
            "rolled back"
        );
        assert!(
            failed("UPDATE_ROLLBACK_FAILED").hints[0].contains("continue-update-rollback"),
            "rollback failed"
        );
    }
}
