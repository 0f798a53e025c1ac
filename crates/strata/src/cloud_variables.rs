//! The manifest's cloud variables (`${ssm:…}`, `${cf:…}`, `${s3:…}`, `${aws:accountId}`)
//! answered by the AWS backend, for the commands that have credentials: `package`, `plan`
//! and `deploy`. The manifest crate has no network; this is where its resolver trait meets
//! the SDK.

use std::sync::Arc;

use strata_aws::{AwsSettings, AwsVariables, VariableSource, VariableValue};
use strata_manifest::{
    CloudAccess, CloudError, CloudRequest, CloudSource, CloudValue, CloudVariables,
};

struct AwsCloudVariables {
    variables: AwsVariables,
    runtime: tokio::runtime::Runtime,
}

impl CloudVariables for AwsCloudVariables {
    fn fetch(&self, request: &CloudRequest) -> Result<Option<CloudValue>, CloudError> {
        let source = match &request.source {
            CloudSource::Parameter { name, decrypt } => VariableSource::Parameter {
                name: name.clone(),
                decrypt: *decrypt,
            },
            CloudSource::StackOutput { stack, output } => VariableSource::StackOutput {
                stack: stack.clone(),
                output: output.clone(),
            },
            CloudSource::Object { bucket, key } => VariableSource::Object {
                bucket: bucket.clone(),
                key: key.clone(),
            },
            CloudSource::AccountId => VariableSource::AccountId,
        };
        // The manifest is loaded outside the commands' own runtime, but a thread of its own
        // keeps this correct even if that changes: blocking inside a runtime panics.
        let value = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    self.runtime.block_on(self.variables.fetch(
                        &source,
                        &request.region,
                        request.profile.as_deref(),
                    ))
                })
                .join()
        })
        .map_err(|_| "reading a cloud variable panicked")??;
        Ok(value.map(|value| match value {
            VariableValue::Plain(text) => CloudValue::Plain(text),
            VariableValue::List(text) => CloudValue::List(text),
            VariableValue::Secure(secret) => CloudValue::Secure(secret.expose().to_owned()),
        }))
    }
}

/// Cloud variables read from AWS with the default credential chain (and `AWS_ENDPOINT_URL`,
/// so emulators work); the manifest gives each request its region and profile.
pub fn cloud_access() -> std::io::Result<CloudAccess> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(CloudAccess::Resolve(Arc::new(AwsCloudVariables {
        variables: AwsVariables::new(AwsSettings::default()),
        runtime,
    })))
}
