//! Settings of the AWS backend and the one function that builds every SDK client from them.

use std::time::Duration;

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use strata_provider::{RetryPolicy, Secret};

use crate::call::RecordOperation;
use crate::error::AwsError;

/// Lambda rejects a direct (`ZipFile`) upload whose request is larger than 50 MB; the zip
/// is sent base64-encoded, so zips above this size go through S3.
pub const DEFAULT_DIRECT_UPLOAD_LIMIT: u64 = 50 * 1000 * 1000 * 3 / 4;

/// S3 objects above this size are uploaded in parts.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 64 * 1024 * 1024;

/// Part size of multipart uploads (S3 requires at least 5 MiB for all but the last part).
pub const DEFAULT_PART_SIZE: u64 = 16 * 1024 * 1024;

/// How long opening a connection may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one attempt of one call may take, sending included: long enough for a 50 MB
/// direct upload or a 64 MiB object on a slow uplink, short enough that a stalled connection
/// is given up well within a function's deadline.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(300);

/// Timeouts of the AWS SDK. strata retries with its own policy (the SDK's retries are off),
/// so an operation is one attempt, and the operation timeout only matters when it is
/// shorter; both are given to the SDK so neither is unbounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: DEFAULT_CONNECT_TIMEOUT,
            attempt: DEFAULT_ATTEMPT_TIMEOUT,
            operation: DEFAULT_ATTEMPT_TIMEOUT,
        }
    }
}

/// Resolved settings of the AWS backend, built by the CLI.
#[derive(Clone, Debug)]
pub struct AwsSettings {
    /// `--region`, then the manifest's `provider.region`; `None` falls back to AWS_REGION /
    /// AWS_DEFAULT_REGION, then the profile's region.
    pub region: Option<String>,
    /// An endpoint for every service (tests, emulators). `None` still honours
    /// `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` from the environment.
    pub endpoint_url: Option<String>,
    /// An endpoint for CloudFormation alone, over `endpoint_url` (a contract fake beside an
    /// emulator that has no failing stack updates). `None` still honours
    /// `AWS_ENDPOINT_URL_CLOUDFORMATION`.
    pub cloudformation_endpoint_url: Option<String>,
    /// A profile of the shared config files; `None` means AWS_PROFILE or `default`.
    pub profile: Option<String>,
    /// Fixed credentials instead of the default chain (tests against emulators).
    pub static_credentials: Option<StaticCredentials>,
    /// The bucket artifacts too large for a direct upload go to; `None` means
    /// `strata-deployments-<account>-<region>`, created when missing.
    pub deployment_bucket: Option<String>,
    /// How many functions deploy at once.
    pub concurrency: usize,
    pub direct_upload_limit: u64,
    pub multipart_threshold: u64,
    pub part_size: u64,
    pub retry: RetryPolicy,
    pub timeouts: Timeouts,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            region: None,
            endpoint_url: None,
            cloudformation_endpoint_url: None,
            profile: None,
            static_credentials: None,
            deployment_bucket: None,
            concurrency: 4,
            direct_upload_limit: DEFAULT_DIRECT_UPLOAD_LIMIT,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            part_size: DEFAULT_PART_SIZE,
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
}

/// The SDK clients of one account and region.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub(crate) lambda: aws_sdk_lambda::Client,
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) iam: aws_sdk_iam::Client,
    pub(crate) sts: aws_sdk_sts::Client,
    /// For the manifest's `${ssm:…}` and `${cf:…}` variables.
    pub(crate) ssm: aws_sdk_ssm::Client,
    pub(crate) cloudformation: aws_sdk_cloudformation::Client,
    /// For `strata logs`.
    pub(crate) logs: aws_sdk_cloudwatchlogs::Client,
    /// Schedules (`schedule` triggers).
    pub(crate) eventbridge: aws_sdk_eventbridge::Client,
    /// Topics and subscriptions (`sns` triggers).
    pub(crate) sns: aws_sdk_sns::Client,
    /// API Gateway REST APIs (`http` events).
    pub(crate) apigateway: aws_sdk_apigateway::Client,
    /// API Gateway HTTP APIs (`httpApi` events).
    pub(crate) apigatewayv2: aws_sdk_apigatewayv2::Client,
    pub(crate) region: String,
}

impl AwsClients {
    pub fn region(&self) -> &str {
        &self.region
    }
}

/// Builds every client from the settings: region (explicit, then environment, then
/// profile — never instance metadata), endpoint override, and credentials (static, or the
/// default chain: environment, profile, web identity, SSO, process, ECS, IMDS). Fails early
/// when no credentials can be found, naming the sources tried.
///
/// TLS is rustls (ring) with the operating system's root store, loaded by
/// `rustls-native-certs`, which honours `SSL_CERT_FILE` and `SSL_CERT_DIR`; plain `http://`
/// endpoints (emulators) work too.
pub async fn build_clients(settings: &AwsSettings) -> Result<AwsClients, AwsError> {
    let region_chain = RegionProviderChain::first_try(settings.region.clone().map(Region::new))
        .or_else(aws_config::environment::region::EnvironmentVariableRegionProvider::new())
        .or_else(profile_region(settings.profile.as_deref()));
    let region = region_chain.region().await.ok_or(AwsError::NoRegion)?;

    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();

    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region.clone())
        .http_client(http_client)
        // strata retries with its own policy, which knows about per-function deadlines and
        // Lambda's update conflicts; SDK retries underneath would multiply the attempts.
        .retry_config(RetryConfig::disabled())
        // Every call is bounded: a stalled connection fails its attempt (and the function's
        // deadline cuts off whatever is still in flight, see `call.rs`).
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(settings.timeouts.connect)
                .operation_attempt_timeout(settings.timeouts.attempt)
                .operation_timeout(settings.timeouts.operation)
                .build(),
        );
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(endpoint) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(credentials) = &settings.static_credentials {
        loader = loader.credentials_provider(Credentials::new(
            &credentials.access_key_id,
            credentials.secret_access_key.expose(),
            None,
            None,
            "strata-static",
        ));
    }
    let config = loader.load().await;

    if let Some(provider) = config.credentials_provider() {
        provider
            .provide_credentials()
            .await
            .map_err(|source| AwsError::NoCredentials {
                profile: settings
                    .profile
                    .clone()
                    .or_else(|| std::env::var("AWS_PROFILE").ok())
                    .unwrap_or_else(|| "default".to_owned()),
                source,
            })?;
    }

    // Emulators answer on one host, so buckets must be addressed in the path, not as a
    // subdomain.
    let custom_s3_endpoint =
        config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let s3_config = aws_sdk_s3::config::Builder::from(&config)
        .interceptor(RecordOperation)
        .force_path_style(custom_s3_endpoint)
        // Checksums only where S3 requires them: a streamed upload then goes out as a plain
        // body, which S3-compatible stores and emulators all accept.
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .build();

    let mut cloudformation_config =
        aws_sdk_cloudformation::config::Builder::from(&config).interceptor(RecordOperation);
    if let Some(endpoint) = &settings.cloudformation_endpoint_url {
        cloudformation_config = cloudformation_config.endpoint_url(endpoint);
    }

    Ok(AwsClients {
        lambda: aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&config)
                .interceptor(RecordOperation)
                .build(),
        ),
        s3: aws_sdk_s3::Client::from_conf(s3_config),
        iam: aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&config)
                .interceptor(RecordOperation)
                .build(),
        ),
        sts: aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&config)
                .interceptor(RecordOperation)
                .build(),
        ),
        ssm: aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(&config)
                .interceptor(RecordOperation)
                .build(),
        ),
        cloudformation: aws_sdk_cloudformation::Client::from_conf(cloudformation_config.build()),
        logs: aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::config::Builder::from(&config)
                .interceptor(RecordOperation)
                .build(),
        ),
        eventbridge: aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(&config)
                .interceptor(RecordOperation)
                .build(),
        ),
        sns: aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(&config)
                .interceptor(RecordOperation)
                .build(),
        ),
        apigateway: aws_sdk_apigateway::Client::from_conf(
            aws_sdk_apigateway::config::Builder::from(&config)
                .interceptor(RecordOperation)
                .build(),
        ),
        apigatewayv2: aws_sdk_apigatewayv2::Client::from_conf(
            aws_sdk_apigatewayv2::config::Builder::from(&config)
                .interceptor(RecordOperation)
                .build(),
        ),
        region: region.to_string(),
    })
}

fn profile_region(profile: Option<&str>) -> aws_config::profile::ProfileFileRegionProvider {
    let mut builder = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(profile) = profile {
        builder = builder.profile_name(profile);
    }
    builder.build()
}
