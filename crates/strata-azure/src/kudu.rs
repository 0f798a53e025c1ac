//! Publishing a package through the app's SCM (Kudu) site, and waiting for the deployment.
//!
//! Flex Consumption takes one deploy (`POST /api/publish`) whose answer is the deployment id;
//! Premium and Dedicated take an asynchronous zip deploy (`POST /api/zipdeploy?isAsync=true`)
//! whose `Location` is polled. Either way the deployment's JSON is read until `complete`, and
//! only status 4 (Success) counts: Kudu answers 200 for a failed deployment too.
//!
//! SCM calls carry the chain's bearer token. A site that refuses it (401/403: a token for
//! another audience, or an identity with an ARM role Kudu does not honour) is asked once more
//! with the app's publishing credentials (ARM's `publishingcredentials/list`, HTTP Basic),
//! unless the app disables basic authentication for SCM, which is then the error.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use serde_json::Value;
use strata_provider::{Deadline, Reporter, Secret, Step};

use crate::arm::{Hosting, with_api};
use crate::client::{Auth, Client, Payload, WEB_API};
use crate::error::AzureError;
use crate::http::Response;

/// An app's publishing credentials: the user name (`$app`) and its password.
#[derive(Clone)]
pub struct Publishing {
    user: String,
    password: Secret,
}

/// Kudu's `DeployStatus`: 0 Pending, 1 Building, 2 Deploying, 3 Failed, 4 Success.
pub const SUCCESS: i64 = 4;

/// What one poll of a deployment found.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    Running,
    Succeeded,
    Failed { status: i64 },
}

/// Reads a deployment's JSON: done only when `complete`, good only with status 4.
pub fn progress(deployment: &Value) -> Progress {
    let status = deployment["status"]
        .as_i64()
        .or_else(|| deployment["status"].as_str()?.parse().ok())
        .unwrap_or(0);
    let complete = deployment["complete"].as_bool().unwrap_or(false);
    match (complete, status) {
        (_, 3) => Progress::Failed { status },
        (true, SUCCESS) => Progress::Succeeded,
        (true, other) => Progress::Failed { status: other },
        (false, _) => Progress::Running,
    }
}

pub struct Kudu<'a> {
    pub client: &'a Client,
    pub scm: String,
    /// The app's ARM URL, where its publishing credentials are listed.
    pub site_url: String,
    pub app: &'a str,
    /// Set once the SCM site refused the bearer token and the fallback was fetched.
    pub publishing: Mutex<Option<Publishing>>,
    pub deadline: Deadline,
    pub reporter: &'a dyn Reporter,
    /// The name progress is reported under.
    pub progress_name: &'a str,
    pub on_retry: &'a (dyn Fn(u32, std::time::Duration) + Sync),
}

impl Kudu<'_> {
    /// Publishes `zip` and waits until the deployment succeeded.
    pub async fn deploy(&self, hosting: Hosting, zip: &[u8]) -> Result<String, AzureError> {
        self.reporter.on_step(self.progress_name, Step::UpdateCode);
        let (id, status_url) = match hosting {
            Hosting::FlexConsumption => {
                let response = self
                    .scm_call(
                        &format!("publish to {}", self.app),
                        "POST",
                        &format!("{}/api/publish?RemoteBuild=false", self.scm),
                        &Payload::Zip(zip),
                    )
                    .await?;
                let id = response.text().trim().trim_matches('"').to_owned();
                let url = format!("{}/api/deployments/{id}", self.scm);
                (id, url)
            }
            Hosting::ZipDeploy | Hosting::Consumption => {
                let response = self
                    .scm_call(
                        &format!("zip deploy to {}", self.app),
                        "POST",
                        &format!("{}/api/zipdeploy?isAsync=true", self.scm),
                        &Payload::Zip(zip),
                    )
                    .await?;
                let url = response.header("location").map_or_else(
                    || format!("{}/api/deployments/latest", self.scm),
                    str::to_owned,
                );
                let id = url.rsplit('/').next().unwrap_or("latest").to_owned();
                (id, url)
            }
        };
        self.wait(&id, &status_url).await?;
        Ok(id)
    }

    async fn wait(&self, id: &str, url: &str) -> Result<(), AzureError> {
        self.reporter.on_step(self.progress_name, Step::Wait);
        let clock = self.client.clock.as_ref();
        let mut poll = 0;
        loop {
            poll += 1;
            let read = self
                .scm_call(
                    &format!("read deployment {id} of {}", self.app),
                    "GET",
                    url,
                    &Payload::None,
                )
                .await;
            let deployment = match read {
                Ok(response) => response.json(),
                // The deadline ran out during a later poll's read (the pause before it fitted,
                // the read did not): the deployment did not complete in time, as below.
                Err(AzureError::TimedOut { .. }) if poll > 1 => {
                    return Err(AzureError::DeploymentTimedOut {
                        app: self.app.to_owned(),
                        id: id.to_owned(),
                        polls: poll - 1,
                        log: self.log_tail(id).await,
                    });
                }
                Err(error) => return Err(error),
            };
            match progress(&deployment) {
                Progress::Succeeded => return Ok(()),
                Progress::Failed { status } => {
                    return Err(AzureError::DeploymentFailed {
                        app: self.app.to_owned(),
                        id: id.to_owned(),
                        status,
                        log: self.log_tail(id).await,
                    });
                }
                Progress::Running => {}
            }
            let delay = self.client.policy.poll_delay(poll);
            if delay >= self.deadline.remaining(clock) {
                return Err(AzureError::DeploymentTimedOut {
                    app: self.app.to_owned(),
                    id: id.to_owned(),
                    polls: poll,
                    log: self.log_tail(id).await,
                });
            }
            self.reporter
                .on_waiting(self.progress_name, Step::Wait, poll);
            clock.sleep(delay).await;
        }
    }

    /// The deployment log's last lines, for the error (best effort: a failed read gives none).
    async fn log_tail(&self, id: &str) -> Vec<String> {
        let publishing = self.publishing();
        let Ok(response) = self
            .client
            .call_once_as(
                &format!("read the log of deployment {id}"),
                "GET",
                &format!("{}/api/deployments/{id}/log", self.scm),
                &Payload::None,
                auth(publishing.as_ref()),
            )
            .await
        else {
            return Vec::new();
        };
        let lines: Vec<String> = response
            .json()
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry["message"].as_str().map(crate::redact))
            .collect();
        lines[lines.len().saturating_sub(5)..].to_vec()
    }
}

impl Kudu<'_> {
    /// The publishing credentials in use, once the site has refused the bearer token (a
    /// caller that makes many `Kudu`s for one app hands them on).
    pub fn publishing(&self) -> Option<Publishing> {
        self.publishing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// One SCM call: with the bearer token, or the publishing credentials once the site has
    /// refused the token.
    pub async fn scm_call(
        &self,
        operation: &str,
        method: &str,
        url: &str,
        payload: &Payload<'_>,
    ) -> Result<Response, AzureError> {
        self.with_scm_auth(|publishing| async move {
            self.client
                .call_as(
                    operation,
                    method,
                    url,
                    payload,
                    auth(publishing.as_ref()),
                    self.deadline,
                    self.on_retry,
                )
                .await
        })
        .await
    }

    /// Opens one of the SCM site's streams of text lines (the log stream), with the same
    /// credentials as [`Self::scm_call`]; the lines go to `lines` until the stream ends.
    pub async fn scm_stream(
        &self,
        operation: &str,
        url: &str,
        lines: &tokio::sync::mpsc::UnboundedSender<String>,
    ) -> Result<(), AzureError> {
        self.with_scm_auth(|publishing| async move {
            self.client
                .open_stream_as(
                    operation,
                    url,
                    auth(publishing.as_ref()),
                    lines,
                    self.deadline,
                    self.on_retry,
                )
                .await
        })
        .await
    }

    /// Runs `attempt` with the credentials known to work; when the site refuses the bearer
    /// token, fetches the publishing credentials once and runs it again with them.
    async fn with_scm_auth<T, F, Fut>(&self, attempt: F) -> Result<T, AzureError>
    where
        F: Fn(Option<Publishing>) -> Fut,
        Fut: Future<Output = Result<T, AzureError>>,
    {
        let publishing = self.publishing();
        let outcome = attempt(publishing.clone()).await;
        match outcome {
            Err(AzureError::Call(call))
                if publishing.is_none() && matches!(call.status, 401 | 403) =>
            {
                tracing::debug!(
                    "the SCM site of {} refused the bearer token (HTTP {}); trying the app's \
                     publishing credentials",
                    self.app,
                    call.status
                );
                let fetched = self.fetch_publishing(call.status).await?;
                *self
                    .publishing
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(fetched.clone());
                attempt(Some(fetched)).await
            }
            outcome => outcome,
        }
    }

    /// The app's publishing credentials from ARM, unless its policy forbids basic auth on SCM.
    async fn fetch_publishing(&self, status: u16) -> Result<Publishing, AzureError> {
        let policy = self
            .client
            .get_optional(
                &format!("read the SCM basic-auth policy of {}", self.app),
                &with_api(
                    &format!("{}/basicPublishingCredentialsPolicies/scm", self.site_url),
                    WEB_API,
                ),
                self.deadline,
                self.on_retry,
            )
            .await?;
        if policy.is_some_and(|policy| policy["properties"]["allow"] == false) {
            return Err(AzureError::ScmBasicAuthDisabled {
                app: self.app.to_owned(),
                status,
            });
        }
        let operation = format!("list the publishing credentials of {}", self.app);
        let json = self
            .client
            .call(
                &operation,
                "POST",
                &with_api(
                    &format!("{}/config/publishingcredentials/list", self.site_url),
                    WEB_API,
                ),
                &Payload::None,
                self.deadline,
                self.on_retry,
            )
            .await?
            .json();
        let properties = &json["properties"];
        match (
            properties["publishingUserName"].as_str(),
            properties["publishingPassword"].as_str(),
        ) {
            (Some(user), Some(password)) => Ok(Publishing {
                user: user.to_owned(),
                password: Secret::new(password),
            }),
            _ => Err(AzureError::Transport {
                operation,
                message: "the answer holds no publishing user name and password".to_owned(),
            }),
        }
    }
}

fn auth(publishing: Option<&Publishing>) -> Auth<'_> {
    publishing.map_or(Auth::Bearer, |publishing| Auth::Basic {
        user: &publishing.user,
        password: &publishing.password,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_deployment_is_good_only_when_complete_with_status_4() {
        assert_eq!(
            progress(&json!({"status": 4, "complete": true})),
            Progress::Succeeded
        );
        assert_eq!(
            progress(&json!({"status": 1, "complete": false})),
            Progress::Running
        );
        assert_eq!(
            progress(&json!({"status": 4, "complete": false})),
            Progress::Running
        );
        // A 200 answer that is a failure.
        assert_eq!(
            progress(&json!({"status": 3, "complete": true})),
            Progress::Failed { status: 3 }
        );
        assert_eq!(
            progress(&json!({"status": 5, "complete": true})),
            Progress::Failed { status: 5 }
        );
        assert_eq!(
            progress(&json!({"status": "4", "complete": true})),
            Progress::Succeeded
        );
    }
}
