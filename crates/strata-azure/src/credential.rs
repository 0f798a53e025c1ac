//! Entra ID tokens for ARM and the SCM site, from a chain that fits CI and laptops:
//!
//! 1. a client secret (`AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_CLIENT_SECRET`);
//! 2. workload identity (`AZURE_FEDERATED_TOKEN_FILE` with the client and tenant ids);
//! 3. GitHub Actions OIDC (`ACTIONS_ID_TOKEN_REQUEST_URL` / `_TOKEN`), exchanged like 2;
//! 4. managed identity (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, else the instance metadata
//!    service at `IMDS_ENDPOINT`, by default Azure's link-local address);
//! 5. the `az` CLI's login (`az account get-access-token`).
//!
//! The first source whose variables are present decides; when none gives a token the error
//! names every source and why. Tokens are [`Secret`]s, cached until shortly before they
//! expire, and dropped when ARM answers that one has expired.
//!
//! The token requests are the documented OAuth 2.0 client-credentials grants, sent through
//! strata's own HTTP client. (azure_identity 1.0 has the same credentials, but refuses an
//! authority host that is not https and brings reqwest with a second TLS stack.)

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use strata_provider::Secret;
use tokio::sync::Mutex;

use crate::error::AzureError;
use crate::http::{HttpClient, Outgoing};

/// The audience every token is for: ARM, which also accepts it on the SCM site.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
const ARM_RESOURCE: &str = "https://management.azure.com/";
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
const DEFAULT_IMDS: &str = "http://169.254.169.254";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Refresh this long before a token expires.
const EARLY: Duration = Duration::from_secs(120);

/// Where the chain finds a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    ClientSecret,
    WorkloadIdentity,
    GithubOidc,
    ManagedIdentity,
    AzureCli,
}

impl Source {
    pub fn describe(self) -> &'static str {
        match self {
            Self::ClientSecret => {
                "client secret (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET)"
            }
            Self::WorkloadIdentity => "workload identity (AZURE_FEDERATED_TOKEN_FILE)",
            Self::GithubOidc => "GitHub Actions OIDC (ACTIONS_ID_TOKEN_REQUEST_URL)",
            Self::ManagedIdentity => {
                "managed identity (IDENTITY_ENDPOINT or the instance metadata service)"
            }
            Self::AzureCli => "Azure CLI (az account get-access-token)",
        }
    }
}

struct Cached {
    token: Secret,
    expires: Instant,
}

/// The credential chain, read from an environment map once.
pub struct Credentials {
    env: BTreeMap<String, String>,
    http: HttpClient,
    authority: String,
    /// The resource tokens are for (ARM, or Application Insights for `strata logs`).
    resource: String,
    cached: Mutex<Option<Cached>>,
}

impl Credentials {
    pub fn new(env: BTreeMap<String, String>, http: HttpClient) -> Self {
        let authority = env
            .get("AZURE_AUTHORITY_HOST")
            .filter(|host| !host.is_empty())
            .map_or(DEFAULT_AUTHORITY, String::as_str)
            .trim_end_matches('/')
            .to_owned();
        Self {
            env,
            http,
            authority,
            resource: ARM_RESOURCE.to_owned(),
            cached: Mutex::new(None),
        }
    }

    /// The same chain, for tokens of another resource (`https://api.applicationinsights.io/`).
    pub fn for_resource(mut self, resource: &str) -> Self {
        self.resource = resource.to_owned();
        self
    }

    fn scope(&self) -> String {
        format!("{}/.default", self.resource.trim_end_matches('/'))
    }

    /// A bearer token for ARM, from the cache or the chain.
    pub async fn token(&self) -> Result<Secret, AzureError> {
        let mut cached = self.cached.lock().await;
        if let Some(entry) = cached.as_ref()
            && entry.expires > Instant::now() + EARLY
        {
            return Ok(entry.token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        *cached = Some(Cached {
            token: token.clone(),
            expires: Instant::now() + lifetime,
        });
        Ok(token)
    }

    /// Forgets the cached token (ARM said it expired).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.is_empty())
    }

    async fn fetch(&self) -> Result<(Secret, Duration), AzureError> {
        let mut tried = Vec::new();
        for source in [
            Source::ClientSecret,
            Source::WorkloadIdentity,
            Source::GithubOidc,
            Source::ManagedIdentity,
            Source::AzureCli,
        ] {
            match self.token_from(source).await {
                Ok(token) => return Ok(token),
                Err(reason) => tried.push(format!("{}: {reason}", source.describe())),
            }
        }
        Err(AzureError::NoCredentials { tried })
    }

    /// A token from one source, or why it has none (never a secret in the reason).
    async fn token_from(&self, source: Source) -> Result<(Secret, Duration), String> {
        match source {
            Source::ClientSecret => {
                let (client, tenant) = self.client_and_tenant()?;
                let secret = self
                    .var("AZURE_CLIENT_SECRET")
                    .ok_or("AZURE_CLIENT_SECRET is not set")?;
                self.grant(
                    tenant,
                    &[
                        ("grant_type", "client_credentials"),
                        ("client_id", client),
                        ("client_secret", secret),
                        ("scope", &self.scope()),
                    ],
                )
                .await
            }
            Source::WorkloadIdentity => {
                let file = self
                    .var("AZURE_FEDERATED_TOKEN_FILE")
                    .ok_or("AZURE_FEDERATED_TOKEN_FILE is not set")?;
                let (client, tenant) = self.client_and_tenant()?;
                let assertion = fs_err::read_to_string(file)
                    .map_err(|error| error.to_string())?
                    .trim()
                    .to_owned();
                self.exchange(client, tenant, &assertion).await
            }
            Source::GithubOidc => {
                let url = self
                    .var("ACTIONS_ID_TOKEN_REQUEST_URL")
                    .ok_or("not running in GitHub Actions with `id-token: write`")?;
                let request_token = self
                    .var("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
                    .ok_or("ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set")?;
                let (client, tenant) = self.client_and_tenant()?;
                let separator = if url.contains('?') { '&' } else { '?' };
                let url = format!("{url}{separator}audience=api%3A%2F%2FAzureADTokenExchange");
                let response = self
                    .http
                    .send(Outgoing {
                        method: "GET",
                        url: &url,
                        headers: vec![(
                            "authorization".to_owned(),
                            format!("Bearer {request_token}"),
                        )],
                        body: Vec::new(),
                    })
                    .await?;
                if response.status != 200 {
                    return Err(format!("GitHub answered HTTP {}", response.status));
                }
                let assertion = response.json()["value"]
                    .as_str()
                    .ok_or("GitHub's answer holds no token")?
                    .to_owned();
                self.exchange(client, tenant, &assertion).await
            }
            Source::ManagedIdentity => self.managed_identity().await,
            Source::AzureCli => self.azure_cli().await,
        }
    }

    fn client_and_tenant(&self) -> Result<(&str, &str), String> {
        let client = self
            .var("AZURE_CLIENT_ID")
            .ok_or("AZURE_CLIENT_ID is not set")?;
        let tenant = self
            .var("AZURE_TENANT_ID")
            .ok_or("AZURE_TENANT_ID is not set")?;
        Ok((client, tenant))
    }

    async fn exchange(
        &self,
        client: &str,
        tenant: &str,
        assertion: &str,
    ) -> Result<(Secret, Duration), String> {
        self.grant(
            tenant,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion),
                ("scope", &self.scope()),
            ],
        )
        .await
    }

    /// The OAuth 2.0 token request at `{authority}/{tenant}/oauth2/v2.0/token`.
    async fn grant(
        &self,
        tenant: &str,
        form: &[(&str, &str)],
    ) -> Result<(Secret, Duration), String> {
        let url = format!("{}/{}/oauth2/v2.0/token", self.authority, encode(tenant));
        let body = form
            .iter()
            .map(|(key, value)| format!("{key}={}", encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        let response = self
            .http
            .send(Outgoing {
                method: "POST",
                url: &url,
                headers: vec![(
                    "content-type".to_owned(),
                    "application/x-www-form-urlencoded".to_owned(),
                )],
                body: body.into_bytes(),
            })
            .await?;
        let json = response.json();
        if response.status != 200 {
            // Entra's `error` code and the first line of its description; no secret is in them.
            let description = json["error_description"]
                .as_str()
                .and_then(|text| text.lines().next())
                .unwrap_or_default();
            return Err(format!(
                "Entra ID answered HTTP {} {} {description}",
                response.status,
                json["error"].as_str().unwrap_or_default()
            ));
        }
        token_of(&json, "access_token", "expires_in")
    }

    async fn managed_identity(&self) -> Result<(Secret, Duration), String> {
        let (url, headers) = match (self.var("IDENTITY_ENDPOINT"), self.var("IDENTITY_HEADER")) {
            (Some(endpoint), Some(header)) => (
                format!(
                    "{endpoint}?api-version=2019-08-01&resource={}",
                    encode(&self.resource)
                ),
                vec![("x-identity-header".to_owned(), header.to_owned())],
            ),
            _ => (
                format!(
                    "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}",
                    self.var("IMDS_ENDPOINT")
                        .unwrap_or(DEFAULT_IMDS)
                        .trim_end_matches('/'),
                    encode(&self.resource)
                ),
                vec![("metadata".to_owned(), "true".to_owned())],
            ),
        };
        let response = tokio::time::timeout(
            Duration::from_secs(2),
            self.http.send(Outgoing {
                method: "GET",
                url: &url,
                headers,
                body: Vec::new(),
            }),
        )
        .await
        .map_err(|_| "no managed identity endpoint answered".to_owned())??;
        if response.status != 200 {
            return Err(format!(
                "the identity endpoint answered HTTP {}",
                response.status
            ));
        }
        token_of(&response.json(), "access_token", "expires_in")
    }

    async fn azure_cli(&self) -> Result<(Secret, Duration), String> {
        let output = tokio::process::Command::new("az")
            .args([
                "account",
                "get-access-token",
                "--resource",
                &self.resource,
                "--output",
                "json",
            ])
            .env_clear()
            .envs(&self.env)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|error| format!("`az` could not be run: {error}"))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!(
                "`az` failed: {}",
                stderr.lines().next().unwrap_or("no message")
            ));
        }
        let json: serde_json::Value = serde_json::from_slice(&output.stdout)
            .map_err(|_| "`az` printed no JSON document".to_owned())?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |now| now.as_secs());
        cli_token(&json, now)
    }
}

/// The token and its remaining life from `az account get-access-token --output json`.
/// `expires_on` (epoch seconds; a number, in some versions a string) is what current CLIs
/// print beside `expiresOn`; `expiresOn` alone is local time without a zone, so a token with
/// only that is given a short life and asked for again soon.
fn cli_token(json: &serde_json::Value, now: u64) -> Result<(Secret, Duration), String> {
    let token = json["accessToken"]
        .as_str()
        .ok_or("`az` printed no accessToken")?;
    let lifetime = json["expires_on"]
        .as_u64()
        .or_else(|| json["expires_on"].as_str()?.trim().parse().ok())
        .and_then(|at: u64| at.checked_sub(now))
        .unwrap_or(300);
    Ok((Secret::new(token), Duration::from_secs(lifetime)))
}

fn token_of(
    json: &serde_json::Value,
    token: &str,
    lifetime: &str,
) -> Result<(Secret, Duration), String> {
    let value = json[token].as_str().ok_or("the answer holds no token")?;
    // Entra sends a number; managed identity endpoints send it as a string.
    let seconds = json[lifetime]
        .as_u64()
        .or_else(|| json[lifetime].as_str()?.parse().ok())
        .unwrap_or(300);
    Ok((Secret::new(value), Duration::from_secs(seconds)))
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_tokens_life_comes_from_expires_on() {
        let now = 1_700_000_000;
        let printed = serde_json::json!({
            "accessToken": "t", "expiresOn": "2023-11-14 23:13:20.000000",
            "expires_on": now + 3600, "tokenType": "Bearer",
        });
        assert_eq!(
            cli_token(&printed, now).unwrap().1,
            Duration::from_secs(3600)
        );
        let as_text =
            serde_json::json!({ "accessToken": "t", "expires_on": (now + 60).to_string() });
        assert_eq!(cli_token(&as_text, now).unwrap().1, Duration::from_secs(60));
        let local_only =
            serde_json::json!({ "accessToken": "t", "expiresOn": "2023-11-14 23:13:20.000000" });
        assert_eq!(
            cli_token(&local_only, now).unwrap().1,
            Duration::from_secs(300)
        );
        assert!(cli_token(&serde_json::json!({}), now).is_err());
    }
}
