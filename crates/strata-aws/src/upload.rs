//! Getting a zip to Lambda: inline for small zips, else through the deployment bucket under
//! a content-addressed key, skipped when the object is already there with the right SHA-256
//! checksum, in parts when large.
//!
//! The bytes are trusted only once hashed: a zip is re-hashed against the build report's
//! sha256 before it is sent, S3 checks each upload against the checksum strata sends, and
//! every S3 call names the account that must own the bucket (its name is predictable).
//!
//! The default bucket, `strata-deployments-<account>-<region>`, is strata's only when it
//! carries [`TAG_MANAGED`]: strata tags the bucket right after creating it and refuses one
//! under that name without the tag unless adopting. A bucket the user configures is their
//! choice and is used as it is.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{
    BucketLocationConstraint, ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload,
    CompletedPart, CreateBucketConfiguration, Tag, Tagging,
};
use aws_smithy_types::Blob;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use strata_provider::{ArtifactRef, BucketAction, BucketPlan, Step};
use tokio::sync::OnceCell;

use crate::call::CallContext;
use crate::client::{AwsClients, AwsSettings};
use crate::error::{ApiError, AwsError};

/// The tag (with the value `true`) that marks the default deployment bucket as strata's.
pub const TAG_MANAGED: &str = "strata:managed";
const MANAGED_VALUE: &str = "true";

/// How long to wait for the tag of a bucket found untagged: another strata process that
/// created it a moment ago tags it right after, so an empty tag set may be that window.
/// Bounded (about 3 s in all) and cut short by an interrupt.
const UNTAGGED_RETRY_DELAYS: [Duration; 4] = [
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
];

/// Whose the default deployment bucket is, as its tags say.
#[derive(Debug)]
pub(crate) enum BucketOwner {
    Missing,
    Strata,
    /// Not tagged as strata's: the tags it has (none when untagged).
    Other(BTreeMap<String, String>),
}

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

fn base64(digest: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Reads the zip whole (it is under the direct-upload limit) and checks it is the one the
/// build reported.
pub(crate) async fn read_artifact(artifact: &ArtifactRef) -> Result<Blob, AwsError> {
    let path = artifact.path.clone();
    let bytes = tokio::task::spawn_blocking(move || fs_err::read(&path))
        .await
        .map_err(AwsError::Task)?
        .map_err(|source| AwsError::ReadArtifact {
            path: artifact.path.clone(),
            source,
        })?;
    check_sha256(artifact, &hex::encode(Sha256::digest(&bytes)))?;
    Ok(Blob::new(bytes))
}

fn check_sha256(artifact: &ArtifactRef, actual: &str) -> Result<(), AwsError> {
    if actual == artifact.sha256_hex {
        Ok(())
    } else {
        Err(AwsError::ArtifactChanged {
            path: artifact.path.clone(),
            expected: artifact.sha256_hex.clone(),
            actual: actual.to_owned(),
        })
    }
}

/// The SHA-256 checksums S3 keeps for an artifact uploaded by strata: of the whole object,
/// or (uploaded in parts) of each part, which S3 combines into `<digest of digests>-<parts>`.
struct Checksums {
    parts: Vec<String>,
    object: String,
}

/// S3 writes a composite checksum as `<digest>-<parts>`; moto leaves the part count off.
fn same_checksum(stored: &str, expected: &str) -> bool {
    stored == expected
        || expected
            .split_once('-')
            .is_some_and(|(digest, _)| digest == stored)
}

/// Hashes the zip in one pass: its sha256 (checked against the build report) and the
/// checksums S3 will hold for it when parts are `part_size` long (`None`: one part).
async fn checksums(artifact: &ArtifactRef, part_size: Option<u64>) -> Result<Checksums, AwsError> {
    let path = artifact.path.clone();
    let hashed = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        let mut file = fs_err::File::open(&path)?;
        let mut whole = Sha256::new();
        let mut parts = Vec::new();
        let mut part = Sha256::new();
        let mut in_part = 0u64;
        let mut buffer = vec![0; 256 * 1024];
        loop {
            let limit = part_size.map_or(buffer.len() as u64, |size| {
                (size - in_part).min(buffer.len() as u64)
            });
            let read = file.read(&mut buffer[..usize::try_from(limit).unwrap_or(usize::MAX)])?;
            if read == 0 {
                break;
            }
            whole.update(&buffer[..read]);
            part.update(&buffer[..read]);
            in_part += read as u64;
            if part_size == Some(in_part) {
                parts.push(std::mem::take(&mut part).finalize());
                in_part = 0;
            }
        }
        if in_part > 0 || parts.is_empty() {
            parts.push(part.finalize());
        }
        Ok((whole.finalize(), parts))
    })
    .await
    .map_err(AwsError::Task)?
    .map_err(|source| AwsError::ReadArtifact {
        path: artifact.path.clone(),
        source,
    })?;
    let (whole, parts) = hashed;
    check_sha256(artifact, &hex::encode(whole))?;
    let object = match part_size {
        None => base64(&whole),
        Some(_) => {
            let mut combined = Sha256::new();
            for part in &parts {
                combined.update(part);
            }
            format!("{}-{}", base64(&combined.finalize()), parts.len())
        }
    };
    Ok(Checksums {
        parts: parts.iter().map(|part| base64(part)).collect(),
        object,
    })
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

/// Uploads to the deployment bucket, resolving (and creating) the bucket and the account
/// that must own it once per provider.
pub(crate) struct Uploader<'a> {
    pub clients: &'a AwsClients,
    pub settings: &'a AwsSettings,
    pub bucket: &'a OnceCell<String>,
    pub account: &'a OnceCell<String>,
    /// Whether a default bucket strata did not create is taken over (`--adopt`).
    pub adopt: bool,
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
        let owner = self.account(ctx).await?;
        let key = object_key(service, stage, artifact);
        let s3 = &self.clients.s3;
        let in_parts = artifact.zipped_size > self.settings.multipart_threshold;
        let checksums = checksums(artifact, in_parts.then(|| self.part_size())).await?;
        let existing = ctx
            .call_optional(Step::Upload, || async {
                s3.head_object()
                    .bucket(&bucket)
                    .key(&key)
                    .expected_bucket_owner(&owner)
                    .checksum_mode(ChecksumMode::Enabled)
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("HeadObject", error))
            })
            .await?;
        // The key names the content, but anyone who could write the bucket could have put
        // other bytes under it: only the checksum says the object is this zip.
        let present = existing.is_some_and(|object| {
            object
                .checksum_sha256()
                .is_some_and(|stored| same_checksum(stored, &checksums.object))
        });
        if !present {
            if in_parts {
                self.upload_in_parts(ctx, &bucket, &key, &owner, artifact, &checksums.parts)
                    .await?;
            } else {
                ctx.call(Step::Upload, || async {
                    let body = ByteStream::from_path(&artifact.path)
                        .await
                        .map_err(|error| local_read_error("PutObject", error))?;
                    // S3 refuses the upload when the bytes it receives have another digest.
                    s3.put_object()
                        .bucket(&bucket)
                        .key(&key)
                        .expected_bucket_owner(&owner)
                        .checksum_sha256(&checksums.object)
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

    fn part_size(&self) -> u64 {
        self.settings.part_size.max(5 * 1024 * 1024)
    }

    async fn upload_in_parts(
        &self,
        ctx: &CallContext<'_>,
        bucket: &str,
        key: &str,
        owner: &str,
        artifact: &ArtifactRef,
        part_checksums: &[String],
    ) -> Result<(), AwsError> {
        let s3 = &self.clients.s3;
        let created = ctx
            .call(Step::Upload, || async {
                s3.create_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .expected_bucket_owner(owner)
                    .checksum_algorithm(ChecksumAlgorithm::Sha256)
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("CreateMultipartUpload", error))
            })
            .await?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();
        let result = self
            .upload_parts(
                ctx,
                bucket,
                key,
                owner,
                &upload_id,
                artifact,
                part_checksums,
            )
            .await;
        if result.is_err() {
            // Parts of an abandoned upload are billed until aborted; the original error is
            // what the user needs, so a failed abort is left to the bucket's lifecycle rules.
            let _ = s3
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .expected_bucket_owner(owner)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the multipart upload's state, passed down once"
    )]
    async fn upload_parts(
        &self,
        ctx: &CallContext<'_>,
        bucket: &str,
        key: &str,
        owner: &str,
        upload_id: &str,
        artifact: &ArtifactRef,
        part_checksums: &[String],
    ) -> Result<(), AwsError> {
        let s3 = &self.clients.s3;
        let part_size = self.part_size();
        let mut parts = Vec::new();
        let mut offset = 0;
        for (number, checksum) in (1..).zip(part_checksums) {
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
                        .expected_bucket_owner(owner)
                        .upload_id(upload_id)
                        .part_number(number)
                        .checksum_sha256(checksum)
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
                    .checksum_sha256(checksum)
                    .build(),
            );
            offset += length;
        }
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(parts))
            .build();
        ctx.call(Step::Upload, || async {
            s3.complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .expected_bucket_owner(owner)
                .upload_id(upload_id)
                .multipart_upload(completed.clone())
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("CompleteMultipartUpload", error))
        })
        .await?;
        Ok(())
    }

    /// The account of the credentials (STS `GetCallerIdentity`, asked once per provider):
    /// the owner every S3 call expects of the deployment bucket.
    pub async fn account(&self, ctx: &CallContext<'_>) -> Result<String, AwsError> {
        self.account
            .get_or_try_init(|| async {
                let identity = ctx
                    .call(Step::Read, || async {
                        self.clients
                            .sts
                            .get_caller_identity()
                            .send()
                            .await
                            .map_err(|error| ApiError::from_sdk("GetCallerIdentity", error))
                    })
                    .await?;
                Ok(identity.account().unwrap_or("unknown").to_owned())
            })
            .await
            .cloned()
    }

    /// The configured bucket, or `strata-deployments-<account>-<region>`.
    pub async fn bucket_name(&self, ctx: &CallContext<'_>) -> Result<String, AwsError> {
        match &self.settings.deployment_bucket {
            Some(bucket) => Ok(bucket.clone()),
            None => Ok(format!(
                "strata-deployments-{}-{}",
                self.account(ctx).await?,
                self.clients.region
            )),
        }
    }

    /// [`Self::bucket_name`], created if missing; the default bucket only when strata's
    /// (or adopted).
    pub async fn bucket(&self, ctx: &CallContext<'_>) -> Result<String, AwsError> {
        self.bucket
            .get_or_try_init(|| async {
                let name = self.bucket_name(ctx).await?;
                match self.settings.deployment_bucket {
                    Some(_) => {
                        if self.head_bucket(ctx, &name).await?.is_none() {
                            self.create_bucket(ctx, &name).await?;
                        }
                    }
                    None => self.ensure_default_bucket(ctx, &name).await?,
                }
                Ok(name)
            })
            .await
            .cloned()
    }

    /// What a deploy will do with the default bucket; `None` for a configured one.
    pub async fn plan_bucket(&self, ctx: &CallContext<'_>) -> Result<Option<BucketPlan>, AwsError> {
        if self.settings.deployment_bucket.is_some() {
            return Ok(None);
        }
        let name = self.bucket_name(ctx).await?;
        let action = match self.owner(ctx, &name, !self.adopt).await? {
            BucketOwner::Missing => BucketAction::Create,
            BucketOwner::Strata => BucketAction::Use,
            BucketOwner::Other(tags) if self.adopt => BucketAction::Adopt { owner_tags: tags },
            BucketOwner::Other(tags) => return Err(not_owned(&name, tags)),
        };
        Ok(Some(BucketPlan { name, action }))
    }

    async fn ensure_default_bucket(
        &self,
        ctx: &CallContext<'_>,
        name: &str,
    ) -> Result<(), AwsError> {
        let mut owner = self.owner(ctx, name, !self.adopt).await?;
        if matches!(owner, BucketOwner::Missing) {
            if self.create_bucket(ctx, name).await? {
                return self.tag_bucket(ctx, name, BTreeMap::new()).await;
            }
            // Another deploy created it first; it tags the bucket right after.
            owner = self.owner(ctx, name, !self.adopt).await?;
        }
        match owner {
            BucketOwner::Strata => Ok(()),
            BucketOwner::Other(tags) if self.adopt => self.tag_bucket(ctx, name, tags).await,
            BucketOwner::Other(tags) => Err(not_owned(name, tags)),
            BucketOwner::Missing => Err(AwsError::BucketVanished {
                bucket: name.to_owned(),
            }),
        }
    }

    /// Whose `name` is by its tags. An untagged bucket is read again a few times when
    /// `patient`, since a concurrent deploy may have created it and not tagged it yet.
    pub async fn owner(
        &self,
        ctx: &CallContext<'_>,
        name: &str,
        patient: bool,
    ) -> Result<BucketOwner, AwsError> {
        if self.head_bucket(ctx, name).await?.is_none() {
            return Ok(BucketOwner::Missing);
        }
        let s3 = &self.clients.s3;
        let owner = self.account(ctx).await?;
        let ctx = ctx.for_resource(name);
        let mut delays = UNTAGGED_RETRY_DELAYS.iter().filter(|_| patient);
        loop {
            // No tag set at all is a not-found answer (`NoSuchTagSet`).
            let tagging = ctx
                .call_optional(Step::Upload, || async {
                    s3.get_bucket_tagging()
                        .bucket(name)
                        .expected_bucket_owner(&owner)
                        .send()
                        .await
                        .map_err(|error| ApiError::from_sdk("GetBucketTagging", error))
                })
                .await?;
            let tags: BTreeMap<String, String> = tagging
                .iter()
                .flat_map(|tagging| tagging.tag_set())
                .map(|tag| (tag.key().to_owned(), tag.value().to_owned()))
                .collect();
            if tags.get(TAG_MANAGED).map(String::as_str) == Some(MANAGED_VALUE) {
                return Ok(BucketOwner::Strata);
            }
            let Some(delay) = delays.next().filter(|_| tags.is_empty()) else {
                return Ok(BucketOwner::Other(tags));
            };
            let interrupt = ctx.reporter.interrupt();
            if interrupt
                .unless_triggered(ctx.clock.sleep(*delay))
                .await
                .is_none()
            {
                return Err(AwsError::Interrupted {
                    resource: name.to_owned(),
                    step: Step::Upload,
                });
            }
        }
    }

    /// `Some` when the bucket exists and is owned by the credentials' account; a bucket of
    /// another account under this name answers 403 here: refused, never used.
    async fn head_bucket(&self, ctx: &CallContext<'_>, name: &str) -> Result<Option<()>, AwsError> {
        let s3 = &self.clients.s3;
        let owner = self.account(ctx).await?;
        let ctx = ctx.for_resource(name);
        let exists = ctx
            .call_optional(Step::Upload, || async {
                s3.head_bucket()
                    .bucket(name)
                    .expected_bucket_owner(&owner)
                    .send()
                    .await
                    .map_err(|error| ApiError::from_sdk("HeadBucket", error))
            })
            .await?;
        Ok(exists.map(|_| ()))
    }

    /// Creates the bucket; `false` when this account created it first (another deploy).
    async fn create_bucket(&self, ctx: &CallContext<'_>, name: &str) -> Result<bool, AwsError> {
        let ctx = ctx.for_resource(name);
        create_bucket(
            &ctx,
            &self.clients.s3,
            &self.clients.region,
            name,
            Step::Upload,
        )
        .await
    }

    /// Adds strata's tag to the `existing` ones (S3 replaces the whole set).
    async fn tag_bucket(
        &self,
        ctx: &CallContext<'_>,
        name: &str,
        existing: BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        let s3 = &self.clients.s3;
        let owner = self.account(ctx).await?;
        let ctx = ctx.for_resource(name);
        let mut tags = existing;
        tags.insert(TAG_MANAGED.to_owned(), MANAGED_VALUE.to_owned());
        put_bucket_tags(&ctx, s3, name, Some(&owner), &tags, Step::Upload).await
    }
}

/// Creates bucket `name` in `region`; `false` when this account already owns it.
pub(crate) async fn create_bucket(
    ctx: &CallContext<'_>,
    s3: &aws_sdk_s3::Client,
    region: &str,
    name: &str,
    step: Step,
) -> Result<bool, AwsError> {
    // us-east-1 is S3's default location and rejects an explicit constraint.
    let configuration = (region != "us-east-1").then(|| {
        CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(region))
            .build()
    });
    ctx.call(step, || async {
        let created = s3
            .create_bucket()
            .bucket(name)
            .set_create_bucket_configuration(configuration.clone())
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("CreateBucket", error));
        match created {
            Ok(_) => Ok(true),
            Err(error) if error.code_is("BucketAlreadyOwnedByYou") => Ok(false),
            Err(error) => Err(error),
        }
    })
    .await
}

/// Replaces bucket `name`'s tag set with `tags` (checked against `owner` when given).
pub(crate) async fn put_bucket_tags(
    ctx: &CallContext<'_>,
    s3: &aws_sdk_s3::Client,
    name: &str,
    owner: Option<&str>,
    tags: &BTreeMap<String, String>,
    step: Step,
) -> Result<(), AwsError> {
    ctx.call(step, || async {
        let tagging = tagging(tags).map_err(|error| {
            ApiError::local(
                "PutBucketTagging",
                format!("building the tag set failed: {error}"),
                error,
            )
        })?;
        s3.put_bucket_tagging()
            .bucket(name)
            .set_expected_bucket_owner(owner.map(str::to_owned))
            .tagging(tagging)
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("PutBucketTagging", error))
    })
    .await?;
    Ok(())
}

pub(crate) fn tagging(
    tags: &BTreeMap<String, String>,
) -> Result<Tagging, aws_sdk_s3::error::BuildError> {
    let tag_set = tags
        .iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect::<Result<Vec<_>, _>>()?;
    Tagging::builder().set_tag_set(Some(tag_set)).build()
}

fn not_owned(name: &str, tags: BTreeMap<String, String>) -> AwsError {
    AwsError::NotOwned {
        kind: "deployment bucket",
        name: name.to_owned(),
        tags,
    }
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
