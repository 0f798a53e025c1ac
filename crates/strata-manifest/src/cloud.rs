//! Variables whose value lives in the cloud: `${ssm:…}`, `${cf:…}`, `${s3:…}` and
//! `${aws:accountId}`.
//!
//! The manifest crate has no network, so it asks a [`CloudVariables`] the caller gives in
//! [`crate::LoadOptions::cloud`] (the CLI implements it with the AWS SDK for the commands
//! that have credentials). Without one, such variables are left as they are written and
//! reported as resolved at deploy time.

use std::fmt;
use std::sync::Arc;

/// One value to fetch, with the region and profile the manifest gives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CloudRequest {
    pub source: CloudSource,
    /// `ssm(eu-west-1):…`/`cf(eu-west-1):…` when given, else `--region`, `aws.region`,
    /// `provider.region`, then `us-east-1`, as Serverless v3 picks it.
    pub region: String,
    /// `aws.profile`, else `provider.profile`; `None` uses the default credential chain.
    pub profile: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CloudSource {
    /// `${ssm:/path}`; `decrypt` is false with `ssm(noDecrypt):`.
    Parameter { name: String, decrypt: bool },
    /// `${cf:stack.output}`.
    StackOutput { stack: String, output: String },
    /// `${s3:bucket/key}`.
    Object { bucket: String, key: String },
    /// `${aws:accountId}`.
    AccountId,
}

/// A value fetched from the cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloudValue {
    /// Shown as it is.
    Plain(String),
    /// An SSM `StringList`: comma-separated, read as a list unless `raw` is given.
    List(String),
    /// An SSM `SecureString`: masked wherever strata shows the manifest.
    Secure(String),
}

/// Why a cloud value could not be fetched; shown as the cause of the manifest error.
pub type CloudError = Box<dyn std::error::Error + Send + Sync>;

/// Fetches cloud values for the manifest. Implementations cache for the run: the same
/// request is answered once.
pub trait CloudVariables: Send + Sync {
    /// `Ok(None)` when the parameter, stack output or object does not exist, so a
    /// fallback (`${ssm:/x, 'default'}`) can take over.
    ///
    /// # Errors
    /// Anything else that stops the value from being read (credentials, access, network).
    fn fetch(&self, request: &CloudRequest) -> Result<Option<CloudValue>, CloudError>;
}

/// Whether cloud variables are fetched while loading.
#[derive(Clone, Default)]
pub enum CloudAccess {
    /// Offline (`validate`, `print`): cloud variables stay as written and are reported as
    /// resolved at deploy time.
    #[default]
    Deferred,
    /// Fetched through this resolver (`package`, `plan`, `deploy`).
    Resolve(Arc<dyn CloudVariables>),
}

impl fmt::Debug for CloudAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Deferred => "Deferred",
            Self::Resolve(_) => "Resolve(..)",
        })
    }
}
