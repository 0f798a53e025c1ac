//! Values a manifest reads from AWS (`${ssm:…}`, `${cf:…}`, `${s3:…}`, `${aws:accountId}`),
//! fetched for the commands that have credentials. Clients are built once per region and
//! profile, every answer is kept for the run, and "does not exist" is `Ok(None)` so the
//! manifest's fallback can take over.

use std::collections::HashMap;

use strata_provider::Secret;
use tokio::sync::Mutex;

use crate::client::{AwsClients, AwsSettings, build_clients};
use crate::error::{ApiError, AwsError};

/// Largest `${s3:…}` object read into a manifest value.
pub const MAX_VARIABLE_OBJECT_BYTES: usize = 4 * 1024 * 1024;

/// What to read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum VariableSource {
    /// An SSM parameter; `decrypt` reads a SecureString's plain value.
    Parameter { name: String, decrypt: bool },
    /// An output of a CloudFormation stack.
    StackOutput { stack: String, output: String },
    /// An S3 object's body, as text.
    Object { bucket: String, key: String },
    /// The account of the credentials (STS `GetCallerIdentity`).
    AccountId,
}

/// A value read from AWS.
#[derive(Clone, Debug)]
pub enum VariableValue {
    Plain(String),
    /// An SSM `StringList`, comma-separated as stored.
    List(String),
    /// An SSM `SecureString`.
    Secure(Secret),
}

#[derive(Debug, thiserror::Error)]
pub enum VariableError {
    #[error("cannot connect to AWS in {region}")]
    Connect {
        region: String,
        #[source]
        source: AwsError,
    },
    #[error("reading {what} failed")]
    Read {
        what: String,
        #[source]
        source: Box<ApiError>,
    },
    #[error("reading S3 object `{key}` in bucket `{bucket}` failed")]
    Body {
        bucket: String,
        key: String,
        #[source]
        source: aws_smithy_types::byte_stream::error::Error,
    },
    #[error(
        "S3 object `{key}` in bucket `{bucket}` is larger than {MAX_VARIABLE_OBJECT_BYTES} bytes"
    )]
    TooLarge { bucket: String, key: String },
}

/// A value is read once per source, region and profile.
type AnswerKey = (VariableSource, String, Option<String>);

/// Reads manifest variables from AWS, once each.
pub struct AwsVariables {
    /// Endpoint override and credentials every client shares; region and profile vary.
    base: AwsSettings,
    clients: Mutex<HashMap<(String, Option<String>), AwsClients>>,
    answers: Mutex<HashMap<AnswerKey, Option<VariableValue>>>,
}

impl AwsVariables {
    pub fn new(base: AwsSettings) -> Self {
        Self {
            base,
            clients: Mutex::new(HashMap::new()),
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// Reads one value in `region` with `profile` (`None`: the default chain).
    ///
    /// # Errors
    /// [`VariableError`] when the clients cannot be built or the call fails for another
    /// reason than the value not existing. Only answers are kept for the run; the manifest
    /// asks once per variable, so a failure is not retried either.
    pub async fn fetch(
        &self,
        source: &VariableSource,
        region: &str,
        profile: Option<&str>,
    ) -> Result<Option<VariableValue>, VariableError> {
        let key = (
            source.clone(),
            region.to_owned(),
            profile.map(str::to_owned),
        );
        if let Some(answer) = self.answers.lock().await.get(&key) {
            return Ok(answer.clone());
        }
        let clients = self.clients(region, profile).await?;
        let answer = read(&clients, source).await?;
        self.answers.lock().await.insert(key, answer.clone());
        Ok(answer)
    }

    async fn clients(
        &self,
        region: &str,
        profile: Option<&str>,
    ) -> Result<AwsClients, VariableError> {
        let mut clients = self.clients.lock().await;
        let key = (region.to_owned(), profile.map(str::to_owned));
        if let Some(existing) = clients.get(&key) {
            return Ok(existing.clone());
        }
        let settings = AwsSettings {
            region: Some(region.to_owned()),
            profile: profile
                .map(str::to_owned)
                .or_else(|| self.base.profile.clone()),
            ..self.base.clone()
        };
        let built = build_clients(&settings)
            .await
            .map_err(|source| VariableError::Connect {
                region: region.to_owned(),
                source,
            })?;
        clients.insert(key, built.clone());
        Ok(built)
    }
}

async fn read(
    clients: &AwsClients,
    source: &VariableSource,
) -> Result<Option<VariableValue>, VariableError> {
    let failed = |what: String| {
        move |source: ApiError| VariableError::Read {
            what,
            source: Box::new(source),
        }
    };
    match source {
        VariableSource::Parameter { name, decrypt } => {
            let result = clients
                .ssm
                .get_parameter()
                .name(name)
                .with_decryption(*decrypt)
                .send()
                .await;
            let output = match result {
                Ok(output) => output,
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(|e| e.is_parameter_not_found()) =>
                {
                    return Ok(None);
                }
                Err(error) => {
                    return Err(failed(format!("SSM parameter `{name}`"))(
                        ApiError::from_sdk("GetParameter", error),
                    ));
                }
            };
            let Some(parameter) = output.parameter else {
                return Ok(None);
            };
            let value = parameter.value.unwrap_or_default();
            Ok(Some(match parameter.r#type {
                Some(aws_sdk_ssm::types::ParameterType::StringList) => VariableValue::List(value),
                Some(aws_sdk_ssm::types::ParameterType::SecureString) => {
                    VariableValue::Secure(Secret::new(value))
                }
                _ => VariableValue::Plain(value),
            }))
        }
        VariableSource::StackOutput { stack, output } => {
            let result = clients
                .cloudformation
                .describe_stacks()
                .stack_name(stack)
                .send()
                .await;
            let described = match result {
                Ok(described) => described,
                // CloudFormation answers a missing stack with a ValidationError.
                Err(error)
                    if aws_smithy_types::error::metadata::ProvideErrorMetadata::message(&error)
                        .is_some_and(|message| message.contains("does not exist")) =>
                {
                    return Ok(None);
                }
                Err(error) => {
                    return Err(failed(format!("CloudFormation stack `{stack}`"))(
                        ApiError::from_sdk("DescribeStacks", error),
                    ));
                }
            };
            Ok(described
                .stacks()
                .first()
                .and_then(|found| {
                    found
                        .outputs()
                        .iter()
                        .find(|candidate| candidate.output_key() == Some(output.as_str()))
                })
                .and_then(|found| found.output_value())
                .map(|value| VariableValue::Plain(value.to_owned())))
        }
        VariableSource::Object { bucket, key } => {
            let result = clients.s3.get_object().bucket(bucket).key(key).send().await;
            let object = match result {
                Ok(object) => object,
                Err(error) if error.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                    return Ok(None);
                }
                Err(error) => {
                    return Err(failed(format!("S3 object `{key}` in bucket `{bucket}`"))(
                        ApiError::from_sdk("GetObject", error),
                    ));
                }
            };
            let too_large = || VariableError::TooLarge {
                bucket: bucket.clone(),
                key: key.clone(),
            };
            if object.content_length().is_some_and(|length| {
                usize::try_from(length).map_or(true, |length| length > MAX_VARIABLE_OBJECT_BYTES)
            }) {
                return Err(too_large());
            }
            let mut body = object.body;
            let mut bytes = Vec::new();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|source| VariableError::Body {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    source,
                })?;
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_VARIABLE_OBJECT_BYTES {
                    return Err(too_large());
                }
            }
            Ok(Some(VariableValue::Plain(
                String::from_utf8_lossy(&bytes).into_owned(),
            )))
        }
        VariableSource::AccountId => {
            let identity = clients
                .sts
                .get_caller_identity()
                .send()
                .await
                .map_err(|error| {
                    failed("the account id".to_owned())(ApiError::from_sdk(
                        "GetCallerIdentity",
                        error,
                    ))
                })?;
            Ok(identity
                .account()
                .map(|account| VariableValue::Plain(account.to_owned())))
        }
    }
}
