//! Run-from-package through the app's managed identity (Consumption).
//!
//! A Consumption app reads its package from the URL in `WEBSITE_RUN_FROM_PACKAGE` on every
//! cold start. With a SAS in that URL the app breaks the day the SAS expires, and the SAS sits
//! in the app's settings. Where the app has a managed identity, strata writes the plain blob
//! URL instead, names the identity in `WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID`
//! (`SystemAssigned`, or a user-assigned identity's resource ID) and makes sure the identity
//! holds "Storage Blob Data Reader" on the package container, as App Service's "run from
//! package" documentation asks. The role assignment's name is a GUID derived from scope,
//! principal and role, so it is created once and found again by every later deploy. Only an
//! app without any identity falls back to a long read SAS.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::arm::{Arm, with_api};
use crate::error::AzureError;

/// The app setting that names the identity the host reads the package with.
pub const MI_SETTING: &str = "WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID";
/// The built-in role "Storage Blob Data Reader".
pub const BLOB_DATA_READER: &str = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1";
const AUTHORIZATION_API: &str = "2022-04-01";

/// The identity a Consumption app reads its package with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageIdentity {
    /// `SystemAssigned` or the user-assigned identity's resource ID: the value of
    /// [`MI_SETTING`].
    pub setting: String,
    pub principal_id: String,
}

/// How a Consumption app will read its package, in words for the plan.
pub fn describe(identity: Option<&PackageIdentity>) -> String {
    match identity {
        Some(identity) if identity.setting == "SystemAssigned" => {
            "blob URL, read with the app's system-assigned identity".to_owned()
        }
        Some(identity) => format!(
            "blob URL, read with the user-assigned identity {}",
            identity
                .setting
                .rsplit('/')
                .next()
                .unwrap_or(&identity.setting)
        ),
        None => "read SAS (the app has no managed identity)".to_owned(),
    }
}

/// The resource ID of a user-assigned identity the manifest names by ID or by name (then in
/// the app's resource group).
pub fn user_assigned_id(named: &str, subscription: &str, resource_group: &str) -> String {
    if named.starts_with('/') {
        named.to_owned()
    } else {
        format!(
            "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{named}"
        )
    }
}

/// The identity the app has for its package: the user-assigned one asked for (which must be
/// assigned to the app), else its system-assigned one, else none.
pub fn package_identity(
    app: &str,
    site: &Value,
    user_assigned: Option<&str>,
) -> Result<Option<PackageIdentity>, AzureError> {
    let identity = &site["identity"];
    if let Some(wanted) = user_assigned {
        let principal = identity["userAssignedIdentities"]
            .as_object()
            .into_iter()
            .flatten()
            .find(|(id, _)| id.eq_ignore_ascii_case(wanted))
            .and_then(|(_, entry)| entry["principalId"].as_str());
        return match principal {
            Some(principal) => Ok(Some(PackageIdentity {
                setting: wanted.to_owned(),
                principal_id: principal.to_owned(),
            })),
            None => Err(AzureError::IdentityNotAssigned {
                app: app.to_owned(),
                identity: wanted.to_owned(),
            }),
        };
    }
    let system = identity["type"]
        .as_str()
        .is_some_and(|kind| kind.contains("SystemAssigned"));
    Ok(identity["principalId"]
        .as_str()
        .filter(|_| system)
        .map(|principal| PackageIdentity {
            setting: "SystemAssigned".to_owned(),
            principal_id: principal.to_owned(),
        }))
}

/// A GUID that depends only on its inputs (the form role assignment names must take).
pub fn stable_guid(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("|").as_bytes());
    let hex: String = digest
        .iter()
        .take(16)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

impl Arm<'_> {
    /// Makes sure `principal` may read the package container: finds the role assignment by
    /// its deterministic name, and creates it only when it is missing. `true` when created.
    pub async fn grant_package_reader(&self, principal: &str) -> Result<bool, AzureError> {
        let target = self.target;
        let scope = target.container_url().replacen(&target.arm, "", 1);
        let role = format!(
            "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{BLOB_DATA_READER}",
            target.subscription
        );
        let name = stable_guid(&[&scope.to_ascii_lowercase(), principal, BLOB_DATA_READER]);
        let url = format!(
            "{}{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
            target.arm
        );
        if self
            .get(
                "the package reader role assignment",
                &url,
                AUTHORIZATION_API,
            )
            .await?
            .is_some()
        {
            return Ok(false);
        }
        let body = json!({ "properties": {
            "roleDefinitionId": role,
            "principalId": principal,
            "principalType": "ServicePrincipal",
        }});
        let operation = format!(
            "let the identity of {} read its packages (Storage Blob Data Reader)",
            target.app
        );
        match self
            .client
            .call(
                &operation,
                "PUT",
                &with_api(&url, AUTHORIZATION_API),
                &crate::client::Payload::Json(&body),
                self.deadline,
                self.on_retry,
            )
            .await
        {
            Ok(_) => Ok(true),
            // Made by someone else meanwhile: what was wanted is there.
            Err(AzureError::Call(call))
                if call.status == 409 && call.code.as_deref() == Some("RoleAssignmentExists") =>
            {
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_assignment_names_are_stable_guids() {
        let name = stable_guid(&["/scope", "principal", BLOB_DATA_READER]);
        assert_eq!(
            name,
            stable_guid(&["/scope", "principal", BLOB_DATA_READER])
        );
        assert_ne!(name, stable_guid(&["/scope", "other", BLOB_DATA_READER]));
        let groups: Vec<usize> = name.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
    }

    #[test]
    fn the_identity_is_the_named_user_assigned_one_else_the_system_one() {
        let id = user_assigned_id("deployer", "sub", "rg");
        assert_eq!(
            id,
            "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/deployer"
        );
        let site = json!({ "identity": {
            "type": "SystemAssigned, UserAssigned",
            "principalId": "system-principal",
            "userAssignedIdentities": { id.to_ascii_lowercase(): { "principalId": "user-principal" } },
        }});
        let user = package_identity("app", &site, Some(&id)).unwrap().unwrap();
        assert_eq!(user.principal_id, "user-principal");
        assert_eq!(user.setting, id);
        let system = package_identity("app", &site, None).unwrap().unwrap();
        assert_eq!(system.setting, "SystemAssigned");
        assert_eq!(system.principal_id, "system-principal");
        assert!(package_identity("app", &json!({}), None).unwrap().is_none());
        assert!(matches!(
            package_identity("app", &json!({}), Some(&id)),
            Err(AzureError::IdentityNotAssigned { .. })
        ));
    }
}
