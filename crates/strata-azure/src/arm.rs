//! The ARM resources of one function app: their URLs, the reads, and the idempotent PUTs that
//! create what is missing, tagged as strata's for the service and stage.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use strata_provider::{Deadline, Secret};

use crate::AzureSettings;
use crate::client::{Client, Payload, RESOURCES_API, STORAGE_API, WEB_API};
use crate::error::AzureError;
use crate::operation;
use crate::settings::Settings;

pub const TAG_MANAGED: &str = "strata-managed-by";
pub const TAG_SERVICE: &str = "strata-service";
pub const TAG_STAGE: &str = "strata-stage";

/// How the app receives its package, from its plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hosting {
    FlexConsumption,
    Consumption,
    /// Premium and Dedicated: asynchronous zip deploy.
    ZipDeploy,
}

impl Hosting {
    /// From the manifest's spelling.
    pub fn from_manifest(plan: &str) -> Result<Self, AzureError> {
        match plan {
            "flexConsumption" | "" => Ok(Self::FlexConsumption),
            "consumption" => Ok(Self::Consumption),
            "premium" | "dedicated" => Ok(Self::ZipDeploy),
            other => Err(AzureError::UnknownPlan {
                plan: other.to_owned(),
            }),
        }
    }

    /// From the site's `properties.sku` as ARM reports it.
    pub fn from_site(site: &Value) -> Self {
        match site["properties"]["sku"].as_str().unwrap_or_default() {
            "FlexConsumption" => Self::FlexConsumption,
            "Dynamic" => Self::Consumption,
            _ => Self::ZipDeploy,
        }
    }
}

/// The plan SKU strata creates for the manifest's plan.
fn plan_sku(plan: &str) -> (&'static str, &'static str) {
    match plan {
        "consumption" => ("Y1", "Dynamic"),
        "premium" => ("EP1", "ElasticPremium"),
        "dedicated" => ("B1", "Basic"),
        _ => ("FC1", "FlexConsumption"),
    }
}

/// The URLs of one app's resources.
pub struct Target {
    pub arm: String,
    pub subscription: String,
    pub resource_group: String,
    pub app: String,
    pub storage_account: String,
    pub container: String,
    pub scm_endpoint: Option<String>,
}

impl Target {
    pub fn new(settings: &AzureSettings) -> Self {
        Self {
            arm: settings.arm_endpoint.trim_end_matches('/').to_owned(),
            subscription: settings.subscription_id.clone(),
            resource_group: settings.resource_group.clone(),
            app: settings.function_app.clone(),
            storage_account: settings.storage_account.clone(),
            container: container_name(&settings.function_app),
            scm_endpoint: settings
                .scm_endpoint
                .as_ref()
                .map(|endpoint| endpoint.trim_end_matches('/').to_owned()),
        }
    }

    pub fn group_url(&self) -> String {
        format!(
            "{}/subscriptions/{}/resourcegroups/{}",
            self.arm, self.subscription, self.resource_group
        )
    }

    pub fn site_url(&self) -> String {
        format!(
            "{}/providers/Microsoft.Web/sites/{}",
            self.group_url(),
            self.app
        )
    }

    pub fn plan_name(&self) -> String {
        format!("{}-plan", self.app)
    }

    pub fn farm_url(&self) -> String {
        format!(
            "{}/providers/Microsoft.Web/serverfarms/{}",
            self.group_url(),
            self.plan_name()
        )
    }

    pub fn storage_url(&self) -> String {
        format!(
            "{}/providers/Microsoft.Storage/storageAccounts/{}",
            self.group_url(),
            self.storage_account
        )
    }

    pub fn container_url(&self) -> String {
        format!(
            "{}/blobServices/default/containers/{}",
            self.storage_url(),
            self.container
        )
    }

    /// The SCM (Kudu) site: the emulator override, else the site's repository host name.
    pub fn scm_url(&self, site: &Value) -> String {
        if let Some(endpoint) = &self.scm_endpoint {
            return format!("{endpoint}/{}", self.app);
        }
        site["properties"]["hostNameSslStates"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|state| state["hostType"] == "Repository")
            .and_then(|state| state["name"].as_str())
            .map_or_else(
                || format!("https://{}.scm.azurewebsites.net", self.app),
                |host| format!("https://{host}"),
            )
    }
}

/// The package container of an app: a valid container name (3–63 lowercase letters, digits
/// and single hyphens).
pub fn container_name(app: &str) -> String {
    let mut name = String::from("strata-");
    for character in app.chars() {
        let character = character.to_ascii_lowercase();
        if character.is_ascii_alphanumeric() {
            name.push(character);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let mut name: String = name.trim_end_matches('-').chars().take(63).collect();
    while name.ends_with('-') {
        name.pop();
    }
    name
}

pub fn with_api(url: &str, api: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}api-version={api}")
}

/// The tags that mark a resource as strata's for the service and stage, with the manifest's.
pub fn strata_tags(service: &str, stage: &str, extra: &BTreeMap<String, String>) -> Value {
    let mut tags = serde_json::Map::new();
    for (key, value) in extra {
        tags.insert(key.clone(), json!(value));
    }
    tags.insert(TAG_MANAGED.to_owned(), json!("strata"));
    tags.insert(TAG_SERVICE.to_owned(), json!(service));
    tags.insert(TAG_STAGE.to_owned(), json!(stage));
    Value::Object(tags)
}

/// Whether a resource carries strata's tags for this service and stage.
pub fn is_ours(resource: &Value, service: &str, stage: &str) -> bool {
    let tags = &resource["tags"];
    tags[TAG_MANAGED] == "strata" && tags[TAG_SERVICE] == service && tags[TAG_STAGE] == stage
}

/// Reads and writes of one app's resources.
pub struct Arm<'a> {
    pub client: &'a Client,
    pub target: &'a Target,
    pub deadline: Deadline,
    pub on_retry: &'a (dyn Fn(u32, std::time::Duration) + Sync),
}

impl Arm<'_> {
    async fn call(
        &self,
        operation: String,
        method: &str,
        url: &str,
        payload: Payload<'_>,
    ) -> Result<Value, AzureError> {
        self.client
            .call(
                &operation,
                method,
                url,
                &payload,
                self.deadline,
                self.on_retry,
            )
            .await
            .map(|response| response.json())
    }

    pub async fn site(&self) -> Result<Option<Value>, AzureError> {
        self.client
            .get_optional(
                &format!("read function app {}", self.target.app),
                &with_api(&self.target.site_url(), WEB_API),
                self.deadline,
                self.on_retry,
            )
            .await
    }

    pub async fn get(&self, what: &str, url: &str, api: &str) -> Result<Option<Value>, AzureError> {
        self.client
            .get_optional(
                &format!("read {what}"),
                &with_api(url, api),
                self.deadline,
                self.on_retry,
            )
            .await
    }

    pub async fn list_settings(&self) -> Result<Settings, AzureError> {
        let json = self
            .call(
                format!("list app settings of {}", self.target.app),
                "POST",
                &with_api(
                    &format!("{}/config/appsettings/list", self.target.site_url()),
                    WEB_API,
                ),
                Payload::None,
            )
            .await?;
        Ok(json["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
            .collect())
    }

    /// Writes the whole settings dictionary (ARM replaces it): only ever a merged one.
    pub async fn put_settings(&self, settings: &Settings) -> Result<(), AzureError> {
        let body = json!({ "properties": settings });
        self.call(
            format!("write app settings of {}", self.target.app),
            "PUT",
            &with_api(
                &format!("{}/config/appsettings", self.target.site_url()),
                WEB_API,
            ),
            Payload::Json(&body),
        )
        .await
        .map(drop)
    }

    pub async fn sync_triggers(&self) -> Result<(), AzureError> {
        self.call(
            format!("sync triggers of {}", self.target.app),
            "POST",
            &with_api(
                &format!("{}/syncfunctiontriggers", self.target.site_url()),
                WEB_API,
            ),
            Payload::None,
        )
        .await
        .map(drop)
    }

    /// The functions the app's host registered.
    pub async fn functions(&self) -> Result<Vec<Value>, AzureError> {
        let json = self
            .call(
                format!("list functions of {}", self.target.app),
                "GET",
                &with_api(&format!("{}/functions", self.target.site_url()), WEB_API),
                Payload::None,
            )
            .await?;
        Ok(json["value"].as_array().cloned().unwrap_or_default())
    }

    /// A container SAS from ARM (`listServiceSas`): read, create, write, delete, list.
    pub async fn container_sas(&self, expiry: &str) -> Result<Secret, AzureError> {
        let body = json!({
            "canonicalizedResource": format!("/blob/{}/{}", self.target.storage_account, self.target.container),
            "signedResource": "c",
            "signedPermission": "rcwdl",
            "signedProtocol": "https,http",
            "signedExpiry": expiry,
        });
        let json = self
            .call(
                format!("get a SAS for the packages of {}", self.target.app),
                "POST",
                &with_api(
                    &format!("{}/listServiceSas", self.target.storage_url()),
                    STORAGE_API,
                ),
                Payload::Json(&body),
            )
            .await?;
        json["serviceSasToken"]
            .as_str()
            .map(|token| Secret::new(token.trim_start_matches('?')))
            .ok_or_else(|| AzureError::Transport {
                operation: "listServiceSas".to_owned(),
                message: "the answer holds no serviceSasToken".to_owned(),
            })
    }

    /// A PUT, waited for to its end when ARM runs it as a long-running operation;
    /// the resource as ARM has it afterwards.
    pub async fn put(
        &self,
        what: String,
        url: &str,
        api: &str,
        body: &Value,
    ) -> Result<Value, AzureError> {
        self.write(what, "PUT", url, api, body).await
    }

    /// A PUT or PATCH, waited for as [`Arm::put`] says.
    async fn write(
        &self,
        what: String,
        method: &str,
        url: &str,
        api: &str,
        body: &Value,
    ) -> Result<Value, AzureError> {
        let response = self
            .client
            .call(
                &what,
                method,
                &with_api(url, api),
                &Payload::Json(body),
                self.deadline,
                self.on_retry,
            )
            .await?;
        if operation::wait(self.client, &what, &response, self.deadline, self.on_retry).await? {
            // The first answer of a long-running operation may be a stub.
            return Ok(self.get(&what, url, api).await?.unwrap_or_default());
        }
        Ok(response.json())
    }

    /// A DELETE, waited for to its end; one of something already gone is done.
    pub async fn delete(&self, what: String, url: &str, api: &str) -> Result<(), AzureError> {
        let response = match self
            .client
            .call(
                &what,
                "DELETE",
                &with_api(url, api),
                &Payload::None,
                self.deadline,
                self.on_retry,
            )
            .await
        {
            Ok(response) => response,
            Err(AzureError::Call(call)) if call.status == 404 => return Ok(()),
            Err(error) => return Err(error),
        };
        operation::wait(self.client, &what, &response, self.deadline, self.on_retry)
            .await
            .map(drop)
    }

    /// Creates what the app needs and is missing: resource group, storage account, plan and
    /// the function app (Linux, Python), all tagged as strata's. Every PUT is idempotent.
    pub async fn create_app(&self, request: &CreateApp<'_>) -> Result<Value, AzureError> {
        let target = self.target;
        let tags = strata_tags(request.service, request.stage, request.tags);
        if self
            .get("resource group", &target.group_url(), RESOURCES_API)
            .await?
            .is_none()
        {
            self.put(
                format!("create resource group {}", target.resource_group),
                &target.group_url(),
                RESOURCES_API,
                &json!({ "location": request.region, "tags": tags }),
            )
            .await?;
        }
        let storage = match self
            .get("storage account", &target.storage_url(), STORAGE_API)
            .await?
        {
            Some(storage) => storage,
            None => {
                self.put(
                    format!("create storage account {}", target.storage_account),
                    &target.storage_url(),
                    STORAGE_API,
                    &json!({
                        "location": request.region,
                        "kind": "StorageV2",
                        "sku": { "name": "Standard_LRS" },
                        "properties": { "allowBlobPublicAccess": false, "minimumTlsVersion": "TLS1_2" },
                        "tags": tags,
                    }),
                )
                .await?
            }
        };
        self.ensure_container().await?;
        let (sku, tier) = plan_sku(request.plan);
        let farm = self
            .put(
                format!("create plan {}", target.plan_name()),
                &target.farm_url(),
                WEB_API,
                &json!({
                    "location": request.region,
                    "kind": "functionapp",
                    "sku": { "name": sku, "tier": tier },
                    "properties": { "reserved": true },
                    "tags": tags,
                }),
            )
            .await?;
        let farm_id = farm["id"].as_str().map_or_else(
            || target.farm_url().replacen(&target.arm, "", 1),
            str::to_owned,
        );
        let blob_endpoint = storage["properties"]["primaryEndpoints"]["blob"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut properties = json!({
            "serverFarmId": farm_id,
            "reserved": true,
            "httpsOnly": true,
            "siteConfig": {
                "appSettings": [
                    { "name": "FUNCTIONS_EXTENSION_VERSION", "value": "~4" },
                    { "name": "AzureWebJobsStorage__accountName", "value": target.storage_account },
                ],
            },
        });
        if tier == "FlexConsumption" {
            properties["functionAppConfig"] = json!({
                "deployment": { "storage": {
                    "type": "blobContainer",
                    "value": format!("{blob_endpoint}{}", target.container),
                    "authentication": { "type": "SystemAssignedIdentity" },
                }},
                "runtime": { "name": "python", "version": request.python_version },
                "scaleAndConcurrency": { "instanceMemoryMB": request.instance_memory_mb.unwrap_or(2048), "maximumInstanceCount": 100 },
            });
        } else {
            properties["siteConfig"]["linuxFxVersion"] =
                json!(format!("Python|{}", request.python_version));
            if let Some(settings) = properties["siteConfig"]["appSettings"].as_array_mut() {
                settings.push(json!({ "name": "FUNCTIONS_WORKER_RUNTIME", "value": "python" }));
            }
        }
        let identity = match request.user_assigned {
            Some(id) => json!({
                "type": "SystemAssigned, UserAssigned",
                "userAssignedIdentities": { id: {} },
            }),
            None => json!({ "type": "SystemAssigned" }),
        };
        self.put(
            format!("create function app {}", target.app),
            &target.site_url(),
            WEB_API,
            &json!({
                "location": request.region,
                "kind": "functionapp,linux",
                "identity": identity,
                "properties": properties,
                "tags": tags,
            }),
        )
        .await
    }

    /// Changes a Flex app's instance memory and nothing else: the PATCH carries the app's
    /// `functionAppConfig` as ARM reported it, with only `instanceMemoryMB` changed.
    pub async fn set_instance_memory(&self, site: &Value, memory: u32) -> Result<(), AzureError> {
        let mut config = site["properties"]["functionAppConfig"].clone();
        if !config.is_object() {
            config = json!({});
        }
        config["scaleAndConcurrency"]["instanceMemoryMB"] = json!(memory);
        self.write(
            format!(
                "set the instance memory of {} to {memory} MB",
                self.target.app
            ),
            "PATCH",
            &self.target.site_url(),
            WEB_API,
            &json!({ "properties": { "functionAppConfig": config } }),
        )
        .await
        .map(drop)
    }

    /// The package container (idempotent PUT through ARM: strata never needs the account key).
    pub async fn ensure_container(&self) -> Result<(), AzureError> {
        self.put(
            format!("create container {}", self.target.container),
            &self.target.container_url(),
            STORAGE_API,
            &json!({ "properties": {} }),
        )
        .await
        .map(drop)
    }

    pub async fn storage_endpoint(&self) -> Result<String, AzureError> {
        let storage = self
            .get("storage account", &self.target.storage_url(), STORAGE_API)
            .await?
            .ok_or_else(|| AzureError::NoApp {
                app: self.target.storage_account.clone(),
            })?;
        let endpoint = storage["properties"]["primaryEndpoints"]["blob"]
            .as_str()
            .map_or_else(
                || {
                    format!(
                        "https://{}.blob.core.windows.net/",
                        self.target.storage_account
                    )
                },
                str::to_owned,
            );
        Ok(if endpoint.ends_with('/') {
            endpoint
        } else {
            format!("{endpoint}/")
        })
    }
}

/// What [`Arm::create_app`] needs beyond the target.
pub struct CreateApp<'a> {
    pub service: &'a str,
    pub stage: &'a str,
    pub region: &'a str,
    pub plan: &'a str,
    pub python_version: &'a str,
    pub instance_memory_mb: Option<u32>,
    /// A user-assigned identity (resource ID) to give the app beside its system one.
    pub user_assigned: Option<&'a str>,
    pub tags: &'a BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_are_valid_for_any_app_name() {
        assert_eq!(container_name("Orders_Prod--App"), "strata-orders-prod-app");
        let long = container_name(&"a".repeat(100));
        assert_eq!(long.len(), 63);
    }

    #[test]
    fn hosting_follows_the_sites_sku() {
        for (sku, hosting) in [
            ("FlexConsumption", Hosting::FlexConsumption),
            ("Dynamic", Hosting::Consumption),
            ("ElasticPremium", Hosting::ZipDeploy),
            ("Basic", Hosting::ZipDeploy),
        ] {
            assert_eq!(
                Hosting::from_site(&json!({"properties": {"sku": sku}})),
                hosting
            );
        }
        assert!(Hosting::from_manifest("serverless").is_err());
    }
}
