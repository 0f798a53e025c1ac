//! Settings and clients: where the backend connects (Google, or emulators through the
//! environment) and with which credentials. The one place the SDK clients are built.

use std::collections::BTreeMap;
use std::path::PathBuf;

use google_cloud_auth::credentials::{Credentials, anonymous};
use google_cloud_functions_v2::client::FunctionService;
use google_cloud_gax::retry_policy::NeverRetry;
use google_cloud_storage::client::Storage;
use strata_provider::RetryPolicy;

use crate::error::GcpError;

/// gcloud's override of the Cloud Functions endpoint (`https://host/`, no version path).
pub const FUNCTIONS_ENDPOINT_VARIABLE: &str = "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS";
/// The Cloud Storage emulator convention (`host:port` or a URL); anonymous credentials.
pub const STORAGE_EMULATOR_VARIABLE: &str = "STORAGE_EMULATOR_HOST";

/// Where and how the backend deploys, resolved by the CLI.
#[derive(Clone, Debug, Default)]
pub struct GcpSettings {
    /// From the manifest; else `GOOGLE_CLOUD_PROJECT` / `CLOUDSDK_CORE_PROJECT`.
    pub project: Option<String>,
    pub region: String,
    /// Where sources go and are kept (for rollback); without it, `generateUploadUrl`.
    pub bucket: Option<String>,
    pub retry: RetryPolicy,
    /// The process environment, read once by the CLI.
    pub env: BTreeMap<String, String>,
}

impl GcpSettings {
    fn variable(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.trim().is_empty())
    }

    /// The project: the manifest's, else the environment's.
    pub fn resolved_project(&self) -> Result<String, GcpError> {
        self.project
            .clone()
            .filter(|project| !project.is_empty())
            .or_else(|| self.variable("GOOGLE_CLOUD_PROJECT").map(str::to_owned))
            .or_else(|| self.variable("CLOUDSDK_CORE_PROJECT").map(str::to_owned))
            .ok_or(GcpError::NoProject)
    }

    /// The Cloud Functions endpoint override, without a trailing slash.
    pub fn functions_endpoint(&self) -> Option<String> {
        self.variable(FUNCTIONS_ENDPOINT_VARIABLE)
            .map(|url| url.trim_end_matches('/').to_owned())
    }

    /// The Cloud Storage emulator as a URL.
    pub fn storage_endpoint(&self) -> Option<String> {
        self.variable(STORAGE_EMULATOR_VARIABLE).map(|host| {
            let host = host.trim_end_matches('/');
            if host.starts_with("http://") || host.starts_with("https://") {
                host.to_owned()
            } else {
                format!("http://{host}")
            }
        })
    }

    /// Where Application Default Credentials are looked for, in order, as the error names
    /// them when none works.
    pub fn credential_sources(&self) -> Vec<String> {
        let mut tried = Vec::new();
        match self.variable("GOOGLE_APPLICATION_CREDENTIALS") {
            Some(path) => tried.push(format!("GOOGLE_APPLICATION_CREDENTIALS ({path})")),
            None => tried.push("GOOGLE_APPLICATION_CREDENTIALS (not set)".to_owned()),
        }
        tried.push(format!(
            "gcloud's ADC file ({})",
            adc_path(&self.env).display()
        ));
        let metadata = self
            .variable("GCE_METADATA_HOST")
            .unwrap_or("metadata.google.internal");
        tried.push(format!("the metadata server ({metadata})"));
        tried
    }
}

/// gcloud's application default credentials file.
fn adc_path(env: &BTreeMap<String, String>) -> PathBuf {
    if let Some(config) = env.get("CLOUDSDK_CONFIG") {
        return PathBuf::from(config).join("application_default_credentials.json");
    }
    let home = env.get("HOME").cloned().unwrap_or_default();
    PathBuf::from(home).join(".config/gcloud/application_default_credentials.json")
}

/// A plain-HTTP endpoint is an emulator: it gets anonymous credentials, so no token ever
/// travels unencrypted.
fn is_plain_http(endpoint: Option<&str>) -> bool {
    endpoint.is_some_and(|url| url.starts_with("http://"))
}

/// The clients of one provider.
pub struct Clients {
    pub functions: FunctionService,
    pub storage: Storage,
    /// For the Cloud Storage JSON calls the storage client leaves to gRPC (list, delete,
    /// object metadata) and the signed-URL upload.
    pub http: reqwest::Client,
    pub storage_credentials: Credentials,
    pub storage_url: String,
}

fn client_error(
    client: &'static str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> GcpError {
    GcpError::Client {
        client,
        source: Box::new(source),
    }
}

/// Builds every client; endpoint overrides come from the environment (see the constants).
pub async fn connect(settings: &GcpSettings) -> Result<Clients, GcpError> {
    // The SDK's TLS stack has no crypto provider compiled in (strata uses ring everywhere);
    // an earlier install in this process is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let functions_endpoint = settings.functions_endpoint();
    let storage_endpoint = settings.storage_endpoint();
    let adc = || {
        google_cloud_auth::credentials::Builder::default()
            .build()
            .map_err(|error| GcpError::NoCredentials {
                tried: settings.credential_sources(),
                source: Some(crate::error::CallError::new(
                    None,
                    None,
                    crate::error::error_chain(&error),
                )),
            })
    };
    let functions_credentials = if is_plain_http(functions_endpoint.as_deref()) {
        anonymous::Builder::new().build()
    } else {
        adc()?
    };
    let storage_credentials = if storage_endpoint.is_some() {
        anonymous::Builder::new().build()
    } else {
        adc()?
    };

    let mut functions = FunctionService::builder()
        .with_credentials(functions_credentials)
        .with_retry_policy(NeverRetry);
    if let Some(endpoint) = &functions_endpoint {
        functions = functions.with_endpoint(endpoint.clone());
    }
    let functions = functions
        .build()
        .await
        .map_err(|error| client_error("Cloud Functions", error))?;

    let mut storage = Storage::builder()
        .with_credentials(storage_credentials.clone())
        .with_retry_policy(NeverRetry);
    if let Some(endpoint) = &storage_endpoint {
        storage = storage.with_endpoint(endpoint.clone());
    }
    let storage = storage
        .build()
        .await
        .map_err(|error| client_error("Cloud Storage", error))?;

    let http = reqwest::Client::builder()
        .build()
        .map_err(|error| client_error("HTTP", error))?;
    Ok(Clients {
        functions,
        storage,
        http,
        storage_credentials,
        storage_url: storage_endpoint
            .unwrap_or_else(|| "https://storage.googleapis.com".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(env: &[(&str, &str)]) -> GcpSettings {
        GcpSettings {
            env: env
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
            ..GcpSettings::default()
        }
    }

    #[test]
    fn the_project_comes_from_the_manifest_then_the_environment() {
        let mut with_both = settings(&[
            ("GOOGLE_CLOUD_PROJECT", "from-env"),
            ("CLOUDSDK_CORE_PROJECT", "from-gcloud"),
        ]);
        assert_eq!(with_both.resolved_project().unwrap(), "from-env");
        with_both.project = Some("from-manifest".into());
        assert_eq!(with_both.resolved_project().unwrap(), "from-manifest");
        let gcloud = settings(&[("CLOUDSDK_CORE_PROJECT", "from-gcloud")]);
        assert_eq!(gcloud.resolved_project().unwrap(), "from-gcloud");
        assert!(matches!(
            settings(&[]).resolved_project(),
            Err(GcpError::NoProject)
        ));
    }

    #[test]
    fn emulator_hosts_become_urls_and_sources_are_named() {
        let settings = settings(&[
            ("STORAGE_EMULATOR_HOST", "127.0.0.1:4443"),
            (FUNCTIONS_ENDPOINT_VARIABLE, "http://127.0.0.1:9/"),
            ("HOME", "/home/u"),
        ]);
        assert_eq!(
            settings.storage_endpoint().as_deref(),
            Some("http://127.0.0.1:4443")
        );
        assert_eq!(
            settings.functions_endpoint().as_deref(),
            Some("http://127.0.0.1:9")
        );
        let tried = settings.credential_sources();
        assert_eq!(tried.len(), 3);
        assert!(tried[0].contains("not set"));
        assert!(tried[1].contains("/home/u/.config/gcloud/application_default_credentials.json"));
        assert!(tried[2].contains("metadata.google.internal"));
    }
}
