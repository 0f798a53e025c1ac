//! Packages in the storage account, through the official `azure_storage_blob` crate.
//!
//! strata never holds the account key: ARM's `listServiceSas` signs a SAS for the package
//! container, and the SDK gets the SAS URL (it accepts a token credential over https only, so
//! the SAS form is also what works against Azurite on http). SAS strings are [`Secret`]s and
//! are never part of an error (see [`blob_error`]).

use azure_core::http::{ClientOptions, RequestContent};
use azure_storage_blob::{BlobClient, BlobClientOptions};
use strata_provider::Secret;

use crate::error::{AzureError, CallError};
use crate::http::HttpClient;

/// Where one package blob lives: `{endpoint}{container}/packages/{sha256}.zip`.
#[derive(Clone)]
pub struct PackageStore {
    /// The account's blob endpoint, with a trailing slash.
    pub endpoint: String,
    pub container: String,
    /// A container SAS query string (without `?`).
    pub sas: Secret,
    pub http: HttpClient,
}

impl PackageStore {
    pub fn blob_name(sha256: &str) -> String {
        format!("packages/{sha256}.zip")
    }

    /// The blob's URL without a SAS: safe to show.
    pub fn plain_url(&self, sha256: &str) -> String {
        format!(
            "{}{}/{}",
            self.endpoint,
            self.container,
            Self::blob_name(sha256)
        )
    }

    /// The blob's URL with the SAS: a secret.
    pub fn signed_url(&self, sha256: &str) -> Secret {
        Secret::new(format!("{}?{}", self.plain_url(sha256), self.sas.expose()))
    }

    fn client(&self, sha256: &str) -> Result<BlobClient, AzureError> {
        let url = azure_core::http::Url::parse(self.signed_url(sha256).expose()).map_err(|_| {
            AzureError::Transport {
                operation: format!("blob {}", self.plain_url(sha256)),
                message: "the storage account's blob endpoint is not a URL".to_owned(),
            }
        })?;
        let options = BlobClientOptions {
            client_options: ClientOptions {
                transport: Some(self.http.transport()),
                ..ClientOptions::default()
            },
            ..BlobClientOptions::default()
        };
        BlobClient::new(url, None, Some(options))
            .map_err(|error| self.blob_error("open", sha256, &error))
    }

    pub async fn exists(&self, sha256: &str) -> Result<bool, AzureError> {
        self.client(sha256)?
            .exists()
            .await
            .map_err(|error| self.blob_error("read", sha256, &error))
    }

    /// Uploads the package under its content address; the same bytes twice is one blob.
    pub async fn upload(&self, sha256: &str, bytes: Vec<u8>) -> Result<(), AzureError> {
        self.client(sha256)?
            .upload(RequestContent::from(bytes), None)
            .await
            .map(|_| ())
            .map_err(|error| self.blob_error("upload", sha256, &error))
    }

    pub async fn download(&self, sha256: &str) -> Result<Vec<u8>, AzureError> {
        let result = self
            .client(sha256)?
            .download(None)
            .await
            .map_err(|error| self.blob_error("download", sha256, &error))?;
        let bytes = result
            .body
            .collect()
            .await
            .map_err(|error| self.blob_error("download", sha256, &error))?;
        Ok(bytes.to_vec())
    }

    pub async fn delete(&self, sha256: &str) -> Result<(), AzureError> {
        match self.client(sha256)?.delete(None).await {
            Ok(_) => Ok(()),
            Err(error) if error.http_status().map(u16::from) == Some(404) => Ok(()),
            Err(error) => Err(self.blob_error("delete", sha256, &error)),
        }
    }

    /// The SDK's error without its URL (which holds the SAS): status, code, operation.
    fn blob_error(&self, verb: &str, sha256: &str, error: &azure_core::Error) -> AzureError {
        let operation = format!("{verb} blob {}", self.plain_url(sha256));
        match error.http_status() {
            Some(status) => AzureError::Call(CallError {
                operation,
                status: u16::from(status),
                code: match error.kind() {
                    azure_core::error::ErrorKind::HttpResponse { error_code, .. } => {
                        error_code.clone()
                    }
                    _ => None,
                },
                message: String::new(),
                request_id: None,
                retry_after: None,
            }),
            None => AzureError::Transport {
                operation,
                message: crate::redact(&error.to_string())
                    .replace(self.sas.expose(), strata_provider::MASK),
            },
        }
    }
}
