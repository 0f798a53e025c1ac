//! Getting a zip to Lambda: inline for small zips, else through the deployment bucket under
//! a content-addressed key, skipped when the object is already there, in parts when large.

use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{
    BucketLocationConstraint, CompletedMultipartUpload, CompletedPart, CreateBucketConfiguration,
};
use aws_smithy_types::Blob;
use strata_provider::{ArtifactRef, Step};
use tokio::sync::OnceCell;

use crate::call::CallContext;
use crate::client::{AwsClients, AwsSettings};
use crate::error::{ApiError, AwsError};

/// Where Lambda gets a zip from.
#[derive(Clone, Debug)]
pub(crate) enum CodeSource {
    Direct(Blob),
    S3 { bucket: String, key: String },
}

/// The key of an artifact in the deployment bucket; `remove` deletes this prefix.
pub fn object_prefix(service: &str, stage: &str) -> String {
    format!("strata/{service}/{stage}/")
}

pub fn object_key(service: &str, stage: &str, artifact: &ArtifactRef) -> String {
    format!(
        "{}{}.zip",
        object_prefix(service, stage),
        artifact.sha256_hex
    )
}

pub(crate) async fn read_artifact(artifact: &ArtifactRef) -> Result<Blob, AwsError> {
    let path = artifact.path.clone();
    let bytes = tokio::task::spawn_blocking(move || fs_err::read(&path))
        .await
        .map_err(AwsError::Task)?
        .map_err(|source| AwsError::ReadArtifact {
            path: artifact.path.clone(),
            source,
        })?;
    Ok(Blob::new(bytes))
}

/// The source for `artifact`: inline when under the direct-upload limit, else uploaded.
pub(crate) async fn code_source(
    ctx: &CallContext<'_>,
    uploader: &Uploader<'_>,
    service: &str,
    stage: &str,
    artifact: &ArtifactRef,
) -> Result<CodeSource, AwsError> {
    if artifact.zipped_size <= uploader.settings.direct_upload_limit {
        Ok(CodeSource::Direct(read_artifact(artifact).await?))
    } else {
        uploader.upload(ctx, service, stage, artifact).await
    }
}

/// Uploads to the deployment bucket, resolving (and creating) the bucket once per provider.
pub(crate) struct Uploader<'a> {
    pub clients: &'a AwsClients,
    pub settings: &'a AwsSettings,
    pub bucket: &'a OnceCell<String>,
}

impl Uploader<'_> {
    pub async fn upload(
        &self,
        ctx: &CallContext<'_>,
        service: &str,
        stage: &str,
        artifact: &ArtifactRef,
    ) -> Result<CodeSource, AwsError> {
        let bucket = self.bucket(ctx).await?;
        let key = object_key(service, stage, artifact);
        let s3 = &self.clients.s3;
        let existing = ctx
            .call_optional(Step::Upload, || async {
                s3.head_object()
                    .bucket(&bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("HeadObject", error))
            })
            .await?;
        if existing.is_none() {
            if artifact.zipped_size > self.settings.multipart_threshold {
                self.upload_in_parts(ctx, &bucket, &key, artifact).await?;
            } else {
                ctx.call(Step::Upload, || async {
                    let body = ByteStream::from_path(&artifact.path)
                        .await
                        .map_err(|error| local_read_error("PutObject", error))?;
                    s3.put_object()
                        .bucket(&bucket)
                        .key(&key)
                        .body(body)
                        .send()
                        .await
                        .map_err(|error| ApiError::from_sdk("PutObject", error))
                })
                .await?;
            }
        }
        Ok(CodeSource::S3 { bucket, key })
    }

    async fn upload_in_parts(
        &self,
        ctx: &CallContext<'_>,
        bucket: &str,
        key: &str,
        artifact: &ArtifactRef,
    ) -> Result<(), AwsError> {
        let s3 = &self.clients.s3;
        let created = ctx
            .call(Step::Upload, || async {
                s3.create_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("CreateMultipartUpload", error))
            })
            .await?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        let result = self
            .upload_parts(ctx, bucket, key, &upload_id, artifact)
            .await;
        if result.is_err() {
            // Parts of an abandoned upload are billed until aborted; the original error is
            // what the user needs, so a failed abort is left to the bucket's lifecycle rules.
            let _ = s3
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn upload_parts(
        &self,
        ctx: &CallContext<'_>,
        bucket: &str,
        key: &str,
        upload_id: &str,
        artifact: &ArtifactRef,
    ) -> Result<(), AwsError> {
        let s3 = &self.clients.s3;
        let part_size = self.settings.part_size.max(5 * 1024 * 1024);
        let mut parts = Vec::new();
        let mut offset = 0;
        let mut number = 1;
        while offset < artifact.zipped_size {
            // Stopping here makes the caller abort the upload, so no parts stay billed.
            if ctx.reporter.interrupt().is_triggered() {
                return Err(AwsError::Interrupted {
                    resource: key.to_owned(),
                    step: Step::Upload,
                });
            }
            let length = part_size.min(artifact.zipped_size - offset);
            let uploaded = ctx
                .call(Step::Upload, || async {
                    let body = ByteStream::read_from()
                        .path(&artifact.path)
                        .offset(offset)
                        .length(Length::Exact(length))
                        .build()
                        .await
                        .map_err(|error| local_read_error("UploadPart", error))?;
                    s3.upload_part()
                        .bucket(bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .part_number(number)
                        .body(body)
                        .send()
                        .await
                        .map_err(|error| ApiError::from_sdk("UploadPart", error))
                })
                .await?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(uploaded.e_tag().map(str::to_owned))
                    .build(),
            );
            offset += length;
            number += 1;
        }
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(parts))
            .build();
        ctx.call(Step::Upload, || async {
            s3.complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .multipart_upload(completed.clone())
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("CompleteMultipartUpload", error))
        })
        .await?;
        Ok(())
    }

    /// The configured bucket, or `strata-deployments-<account>-<region>`, created if missing.
    pub async fn bucket(&self, ctx: &CallContext<'_>) -> Result<String, AwsError> {
        self.bucket
            .get_or_try_init(|| async {
                let name = match &self.settings.deployment_bucket {
                    Some(bucket) => bucket.clone(),
                    None => default_bucket_name(ctx, self.clients).await?,
                };
                self.ensure_bucket(ctx, &name).await?;
                Ok(name)
            })
            .await
            .cloned()
    }

    async fn ensure_bucket(&self, ctx: &CallContext<'_>, name: &str) -> Result<(), AwsError> {
        let s3 = &self.clients.s3;
        let ctx = ctx.for_resource(name);
        let exists = ctx
            .call_optional(Step::Upload, || async {
                s3.head_bucket()
                    .bucket(name)
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("HeadBucket", error))
            })
            .await?;
        if exists.is_some() {
            return Ok(());
        }
        let region = self.clients.region.as_str();
        // us-east-1 is S3's default location and rejects an explicit constraint.
        let configuration = (region != "us-east-1").then(|| {
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build()
        });
        ctx.call(Step::Upload, || async {
            s3.create_bucket()
                .bucket(name)
                .set_create_bucket_configuration(configuration.clone())
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("CreateBucket", error))
        })
        .await?;
        Ok(())
    }
}

/// The bucket name for this account and region (the account comes from STS).
pub(crate) async fn default_bucket_name(
    ctx: &CallContext<'_>,
    clients: &AwsClients,
) -> Result<String, AwsError> {
    let identity = ctx
        .call(Step::Read, || async {
            clients
                .sts
                .get_caller_identity()
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("GetCallerIdentity", error))
        })
        .await?;
    Ok(format!(
        "strata-deployments-{}-{}",
        identity.account().unwrap_or("unknown"),
        clients.region
    ))
}

fn local_read_error(
    operation: &'static str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> ApiError {
    ApiError::local(
        operation,
        format!("reading the artifact failed: {error}"),
        error,
    )
}
