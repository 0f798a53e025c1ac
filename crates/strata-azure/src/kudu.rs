//! Publishing a package through the app's SCM (Kudu) site, and waiting for the deployment.
//!
//! Flex Consumption takes one deploy (`POST /api/publish`) whose answer is the deployment id;
//! Premium and Dedicated take an asynchronous zip deploy (`POST /api/zipdeploy?isAsync=true`)
//! whose `Location` is polled. Either way the deployment's JSON is read until `complete`, and
//! only status 4 (Success) counts: Kudu answers 200 for a failed deployment too.

use serde_json::Value;
use strata_provider::{Deadline, Reporter, Step};

use crate::arm::Hosting;
use crate::client::{Client, Payload};
use crate::error::AzureError;

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
    pub app: &'a str,
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
                    .client
                    .call(
                        &format!("publish to {}", self.app),
                        "POST",
                        &format!("{}/api/publish?RemoteBuild=false", self.scm),
                        &Payload::Zip(zip),
                        self.deadline,
                        self.on_retry,
                    )
                    .await?;
                let id = response.text().trim().trim_matches('"').to_owned();
                let url = format!("{}/api/deployments/{id}", self.scm);
                (id, url)
            }
            Hosting::ZipDeploy | Hosting::Consumption => {
                let response = self
                    .client
                    .call(
                        &format!("zip deploy to {}", self.app),
                        "POST",
                        &format!("{}/api/zipdeploy?isAsync=true", self.scm),
                        &Payload::Zip(zip),
                        self.deadline,
                        self.on_retry,
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
            let deployment = self
                .client
                .call(
                    &format!("read deployment {id} of {}", self.app),
                    "GET",
                    url,
                    &Payload::None,
                    self.deadline,
                    self.on_retry,
                )
                .await?
                .json();
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
        let Ok(response) = self
            .client
            .call_once(
                &format!("read the log of deployment {id}"),
                "GET",
                &format!("{}/api/deployments/{id}/log", self.scm),
                &Payload::None,
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
