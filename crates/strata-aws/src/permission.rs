//! Resource-based permissions on a function's stage alias: what lets API Gateway, S3,
//! EventBridge or SNS invoke it.
//!
//! Each trigger kind owns the statements whose id starts with its own prefix
//! (`strata-http-`, `strata-s3-`, ...): [`sync`] adds the wanted statements that are missing,
//! replaces one whose principal or source changed, and removes only that kind's statements
//! that are no longer wanted. Statements anyone else added (without a `strata-` id) are never
//! read as ours, so never removed.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};
use strata_provider::Step;

use crate::call::CallContext;
use crate::error::{ApiError, AwsError};

/// The prefix of every statement id strata writes.
pub(crate) const STATEMENT_PREFIX: &str = "strata-";

/// One statement that lets `principal` invoke the alias, only from `source_arn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Permission {
    /// `strata-<kind>-<hash>`, from [`statement_id`].
    pub statement_id: String,
    /// The service principal, e.g. `apigateway.amazonaws.com`.
    pub principal: String,
    /// The only ARN the principal may invoke from (may end in `/*` wildcards for API Gateway).
    pub source_arn: String,
    /// For S3, whose bucket ARNs carry no account: the bucket owner's account.
    pub source_account: Option<String>,
}

impl Permission {
    /// A statement of trigger kind `kind` for `principal` and `source_arn`, its id derived
    /// from both so that the same trigger always gets the same id.
    pub fn new(kind: &str, principal: &str, source_arn: &str) -> Self {
        Self {
            statement_id: statement_id(kind, principal, source_arn),
            principal: principal.to_owned(),
            source_arn: source_arn.to_owned(),
            source_account: None,
        }
    }

    pub fn with_source_account(mut self, account: &str) -> Self {
        self.source_account = Some(account.to_owned());
        self
    }
}

/// `strata-<kind>-<first 16 hex of sha256(principal, source)>`: stable, under Lambda's
/// 100-character limit, and only `[A-Za-z0-9_-]`.
pub(crate) fn statement_id(kind: &str, principal: &str, source_arn: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(principal.as_bytes());
    hasher.update([0]);
    hasher.update(source_arn.as_bytes());
    let digest = hex::encode(hasher.finalize());
    format!("{STATEMENT_PREFIX}{kind}-{}", &digest[..16])
}

fn kind_prefix(kind: &str) -> String {
    format!("{STATEMENT_PREFIX}{kind}-")
}

/// The statements of the alias's policy, by id, as [`Permission`]s (an alias without a
/// policy, or a function that does not exist, has none).
pub(crate) async fn current(
    ctx: &CallContext<'_>,
    lambda: &aws_sdk_lambda::Client,
    function_name: &str,
    qualifier: &str,
) -> Result<BTreeMap<String, Permission>, AwsError> {
    let policy = ctx
        .call_optional(Step::Read, || async {
            lambda
                .get_policy()
                .function_name(function_name)
                .qualifier(qualifier)
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("GetPolicy", error))
        })
        .await?;
    let Some(document) = policy.as_ref().and_then(|output| output.policy()) else {
        return Ok(BTreeMap::new());
    };
    Ok(parse_policy(document))
}

/// Reads a Lambda policy document's statements; a statement without an id is skipped.
pub(crate) fn parse_policy(document: &str) -> BTreeMap<String, Permission> {
    let Ok(policy) = serde_json::from_str::<Value>(document) else {
        return BTreeMap::new();
    };
    let statements = match &policy["Statement"] {
        Value::Array(statements) => statements.clone(),
        single @ Value::Object(_) => vec![single.clone()],
        _ => Vec::new(),
    };
    statements
        .iter()
        .filter_map(|statement| {
            let id = statement["Sid"].as_str()?.to_owned();
            let principal = match &statement["Principal"] {
                Value::String(principal) => principal.clone(),
                other => other["Service"].as_str().unwrap_or_default().to_owned(),
            };
            let condition = &statement["Condition"];
            let source_arn = condition["ArnLike"]["AWS:SourceArn"]
                .as_str()
                .or_else(|| condition["ArnEquals"]["AWS:SourceArn"].as_str())
                .unwrap_or_default()
                .to_owned();
            let source_account = condition["StringEquals"]["AWS:SourceAccount"]
                .as_str()
                .map(str::to_owned);
            Some((
                id.clone(),
                Permission {
                    statement_id: id,
                    principal,
                    source_arn,
                    source_account,
                },
            ))
        })
        .collect()
}

/// What [`sync`] changes: statement ids added and removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PermissionChanges {
    pub add: Vec<Permission>,
    pub remove: Vec<String>,
}

impl PermissionChanges {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// Compares the wanted statements of trigger kind `kind` with `existing`: missing or
/// different ones are added (a different one is removed first), and `kind`'s statements
/// that are not wanted are removed. Other kinds' and other people's statements are left.
pub(crate) fn diff(
    kind: &str,
    wanted: &[Permission],
    existing: &BTreeMap<String, Permission>,
) -> PermissionChanges {
    let prefix = kind_prefix(kind);
    let mut changes = PermissionChanges::default();
    for permission in wanted {
        match existing.get(&permission.statement_id) {
            Some(current) if same(current, permission) => {}
            Some(_) => {
                changes.remove.push(permission.statement_id.clone());
                changes.add.push(permission.clone());
            }
            None => changes.add.push(permission.clone()),
        }
    }
    for id in existing.keys() {
        if id.starts_with(&prefix) && !wanted.iter().any(|wanted| &wanted.statement_id == id) {
            changes.remove.push(id.clone());
        }
    }
    changes
}

fn same(current: &Permission, wanted: &Permission) -> bool {
    current.principal == wanted.principal
        && current.source_arn == wanted.source_arn
        && (wanted.source_account.is_none() || current.source_account == wanted.source_account)
}

/// Carries out `changes` on the alias `qualifier` of `function_name`: removals first, so a
/// replaced statement's id is free again.
pub(crate) async fn apply(
    ctx: &CallContext<'_>,
    lambda: &aws_sdk_lambda::Client,
    function_name: &str,
    qualifier: &str,
    changes: &PermissionChanges,
) -> Result<(), AwsError> {
    for id in &changes.remove {
        remove(ctx, lambda, function_name, qualifier, id).await?;
    }
    for permission in &changes.add {
        ctx.call(Step::Trigger, || async {
            lambda
                .add_permission()
                .function_name(function_name)
                .qualifier(qualifier)
                .statement_id(&permission.statement_id)
                .action("lambda:InvokeFunction")
                .principal(&permission.principal)
                .source_arn(&permission.source_arn)
                .set_source_account(permission.source_account.clone())
                .send()
                .await
                .map_err(|error| ApiError::from_sdk("AddPermission", error))
        })
        .await?;
    }
    Ok(())
}

/// Removes one statement; one that is already gone is not an error.
pub(crate) async fn remove(
    ctx: &CallContext<'_>,
    lambda: &aws_sdk_lambda::Client,
    function_name: &str,
    qualifier: &str,
    statement_id: &str,
) -> Result<(), AwsError> {
    ctx.call_optional(Step::Trigger, || async {
        lambda
            .remove_permission()
            .function_name(function_name)
            .qualifier(qualifier)
            .statement_id(statement_id)
            .send()
            .await
            .map_err(|error| ApiError::from_sdk("RemovePermission", error))
    })
    .await?;
    Ok(())
}

/// Reads the alias's policy and brings trigger kind `kind`'s statements to `wanted`.
/// Returns whether anything changed.
pub(crate) async fn sync(
    ctx: &CallContext<'_>,
    lambda: &aws_sdk_lambda::Client,
    function_name: &str,
    qualifier: &str,
    kind: &str,
    wanted: &[Permission],
) -> Result<bool, AwsError> {
    let existing = current(ctx, lambda, function_name, qualifier).await?;
    let changes = diff(kind, wanted, &existing);
    apply(ctx, lambda, function_name, qualifier, &changes).await?;
    Ok(!changes.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{"Version":"2012-10-17","Id":"default","Statement":[
        {"Sid":"strata-http-aaaa","Effect":"Allow","Principal":{"Service":"apigateway.amazonaws.com"},
         "Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:eu-west-1:1:function:f:prod",
         "Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:execute-api:eu-west-1:1:abc/*/GET/hello"}}},
        {"Sid":"strata-s3-bbbb","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},
         "Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:eu-west-1:1:function:f:prod",
         "Condition":{"StringEquals":{"AWS:SourceAccount":"1"},"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::b"}}},
        {"Sid":"someone-else","Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},
         "Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:eu-west-1:1:function:f:prod"}
    ]}"#;

    #[test]
    fn statement_ids_are_stable_short_and_per_source() {
        let one = statement_id("http", "apigateway.amazonaws.com", "arn:a");
        assert_eq!(
            one,
            statement_id("http", "apigateway.amazonaws.com", "arn:a")
        );
        assert_ne!(
            one,
            statement_id("http", "apigateway.amazonaws.com", "arn:b")
        );
        assert!(one.starts_with("strata-http-") && one.len() == "strata-http-".len() + 16);
        assert!(
            one.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn a_policy_reads_as_statements_with_principal_source_and_account() {
        let statements = parse_policy(POLICY);
        assert_eq!(statements.len(), 3);
        let s3 = &statements["strata-s3-bbbb"];
        assert_eq!(s3.principal, "s3.amazonaws.com");
        assert_eq!(s3.source_arn, "arn:aws:s3:::b");
        assert_eq!(s3.source_account.as_deref(), Some("1"));
        assert_eq!(statements["someone-else"].source_arn, "");
        assert!(parse_policy("not json").is_empty());
    }

    #[test]
    fn diff_touches_only_its_own_kind() {
        let existing = parse_policy(POLICY);
        // Nothing of kind http wanted: only the http statement goes.
        let changes = diff("http", &[], &existing);
        assert_eq!(changes.remove, vec!["strata-http-aaaa".to_owned()]);
        assert!(changes.add.is_empty());

        // The same statement wanted: nothing to do.
        let kept = Permission {
            statement_id: "strata-s3-bbbb".into(),
            principal: "s3.amazonaws.com".into(),
            source_arn: "arn:aws:s3:::b".into(),
            source_account: Some("1".into()),
        };
        assert!(diff("s3", std::slice::from_ref(&kept), &existing).is_empty());

        // A changed source under the same id is replaced; a new one is added.
        let moved = Permission {
            source_arn: "arn:aws:s3:::other".into(),
            ..kept.clone()
        };
        let added = Permission::new("s3", "s3.amazonaws.com", "arn:aws:s3:::new");
        let changes = diff("s3", &[moved.clone(), added.clone()], &existing);
        assert_eq!(changes.remove, vec!["strata-s3-bbbb".to_owned()]);
        assert_eq!(changes.add, vec![moved, added]);
    }
}
