//! `info`, `rollback` and `remove`: they act only on functions labelled as strata's for the
//! service and stage, and on the source objects strata keeps under the stage's prefix.

use google_cloud_functions_v2::model::{Function, StorageSource};
use google_cloud_wkt::FieldMask;
use strata_provider::{
    Deadline, FunctionInfo, InfoReport, NoopReporter, Pointer, PointerInfo, PointerKind,
    RemovePlan, RemoveReport, Resource, ResourceKind, RollbackEntry, RollbackReport,
    RollbackRequest,
};

use crate::GcpProvider;
use crate::desired::{self, LABEL_PREVIOUS, LABEL_SOURCE, MASK_LABELS, MASK_SOURCE, function_id};
use crate::error::{CallError, GcpError};
use crate::storage;

impl GcpProvider {
    /// Every function of the location strata labelled for the service and stage.
    pub(crate) async fn owned_functions(
        &self,
        service: &str,
        stage: &str,
    ) -> Result<Vec<Function>, GcpError> {
        let mut functions = Vec::new();
        let mut page_token = String::new();
        loop {
            let token = page_token.clone();
            let page = self
                .call(|| async {
                    self.clients
                        .functions
                        .list_functions()
                        .set_parent(&self.parent)
                        .set_page_token(&token)
                        .send()
                        .await
                        .map_err(CallError::from)
                })
                .await
                .map_err(|source| {
                    GcpError::call(format!("listing functions in {}", self.parent), source)
                })?;
            functions.extend(
                page.functions
                    .into_iter()
                    .filter(|function| self.is_owned(function, service, stage)),
            );
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(functions)
    }

    pub(crate) async fn describe(
        &self,
        service: &str,
        stage: &str,
    ) -> Result<InfoReport, GcpError> {
        let functions = self.owned_functions(service, stage).await?;
        Ok(InfoReport {
            cloud: "gcp".to_owned(),
            service: service.to_owned(),
            stage: stage.to_owned(),
            location: self.location(),
            functions: functions
                .iter()
                .map(|function| function_info(function, stage))
                .collect(),
        })
    }

    pub(crate) async fn roll_back(
        &self,
        request: &RollbackRequest,
    ) -> Result<RollbackReport, GcpError> {
        let wanted_ids: Vec<String> = request
            .functions
            .iter()
            .map(|name| function_id(name))
            .collect();
        let functions: Vec<Function> = self
            .owned_functions(&request.service, &request.stage)
            .await?
            .into_iter()
            .filter(|function| {
                wanted_ids.is_empty() || wanted_ids.contains(&short_name(function).to_owned())
            })
            .collect();
        for wanted in &wanted_ids {
            if !functions
                .iter()
                .any(|function| short_name(function) == wanted)
            {
                return Err(GcpError::NotDeployed {
                    function: wanted.clone(),
                });
            }
        }
        let mut entries = Vec::new();
        for function in functions {
            entries.push(self.roll_back_function(request, function).await?);
        }
        Ok(RollbackReport {
            cloud: "gcp".to_owned(),
            service: request.service.clone(),
            stage: request.stage.clone(),
            functions: entries,
        })
    }

    /// Points `function` at its previous kept source (or the one `request.to` names) and
    /// swaps the labels, so a second rollback returns. Sources are kept in `gcp.bucket`, or,
    /// without one, where Cloud Functions keeps them (only the previous one is known then).
    async fn roll_back_function(
        &self,
        request: &RollbackRequest,
        mut function: Function,
    ) -> Result<RollbackEntry, GcpError> {
        let id = short_name(&function).to_owned();
        let current = function
            .labels
            .get(LABEL_SOURCE)
            .cloned()
            .unwrap_or_default();
        let wanted = match &request.to {
            Some(to) => to.to_ascii_lowercase(),
            None => function
                .labels
                .get(LABEL_PREVIOUS)
                .cloned()
                .ok_or_else(|| GcpError::NoPreviousSource {
                    function: id.clone(),
                })?,
        };
        let mut mask = vec![MASK_SOURCE, MASK_LABELS];
        let (source, target_label) = match &self.bucket {
            Some(bucket) => self.bucket_source(request, bucket, &id, &wanted).await?,
            None => {
                let previous = function
                    .labels
                    .get(LABEL_PREVIOUS)
                    .filter(|previous| previous.starts_with(&wanted))
                    .cloned();
                let (Some(source), Some(previous)) =
                    (desired::previous_kept_source(&function), previous)
                else {
                    return Err(GcpError::SourceNotKeptByGoogle {
                        function: id.clone(),
                        wanted: wanted.clone(),
                    });
                };
                // The source being replaced becomes the previous one, so rollback returns.
                let current_source = desired::kept_source(&function);
                let environment =
                    desired::build_environment(Some(&function), current_source.as_ref());
                if let Some(build) = function.build_config.as_mut() {
                    build.environment_variables = environment.into_iter().collect();
                }
                mask.push(desired::MASK_BUILD_ENVIRONMENT);
                (source, previous)
            }
        };
        if let Some(build) = function.build_config.as_mut() {
            build.source = Some(
                google_cloud_functions_v2::model::Source::default().set_storage_source(source),
            );
        }
        function
            .labels
            .insert(LABEL_SOURCE.to_owned(), target_label.clone());
        function
            .labels
            .insert(LABEL_PREVIOUS.to_owned(), current.clone());
        let deadline = Deadline::after(self.clock.as_ref(), self.policy.function_deadline);
        let reporter = NoopReporter;
        let operation = self
            .with_retry(
                deadline,
                &reporter,
                &id,
                strata_provider::Step::MovePointer,
                || async {
                    self.clients
                        .functions
                        .update_function()
                        .set_function(function.clone())
                        .set_update_mask(FieldMask::default().set_paths(mask.clone()))
                        .send()
                        .await
                        .map_err(CallError::from)
                },
            )
            .await
            .map_err(|failure| GcpError::Operation {
                function: id.clone(),
                message: failure.to_string(),
            })?;
        self.wait(operation, &id, deadline, &reporter)
            .await
            .map_err(|failure| GcpError::Operation {
                function: id.clone(),
                message: failure.to_string(),
            })?;
        Ok(RollbackEntry {
            deployed_name: id,
            pointer: Pointer::new(PointerKind::Revision, &request.stage),
            from: current,
            to: target_label,
        })
    }

    /// The kept object in `bucket` whose hash starts with `wanted`, and its label.
    async fn bucket_source(
        &self,
        request: &RollbackRequest,
        bucket: &str,
        id: &str,
        wanted: &str,
    ) -> Result<(StorageSource, String), GcpError> {
        let prefix = format!(
            "{}{id}/",
            storage::stage_prefix(&request.service, &request.stage)
        );
        let objects = self
            .call(|| storage::list_objects(&self.clients, bucket, &prefix))
            .await
            .map_err(|source| GcpError::call(format!("listing gs://{bucket}/{prefix}"), source))?;
        let object = objects
            .into_iter()
            .find(|object| {
                object
                    .strip_prefix(&prefix)
                    .is_some_and(|file| file.starts_with(wanted))
            })
            .ok_or_else(|| GcpError::SourceNotKept {
                function: id.to_owned(),
                wanted: wanted.to_owned(),
                bucket: bucket.to_owned(),
            })?;
        let hash = object
            .strip_prefix(&prefix)
            .and_then(|file| file.strip_suffix(".zip"))
            .unwrap_or(wanted);
        Ok((
            storage::storage_source(bucket, &object, 0),
            desired::source_label(hash),
        ))
    }

    pub(crate) async fn list_removal(
        &self,
        service: &str,
        stage: &str,
    ) -> Result<RemovePlan, GcpError> {
        let mut resources: Vec<Resource> = self
            .owned_functions(service, stage)
            .await?
            .iter()
            .map(|function| Resource {
                kind: ResourceKind::Function,
                name: short_name(function).to_owned(),
            })
            .collect();
        if let Some(bucket) = &self.bucket {
            let prefix = storage::stage_prefix(service, stage);
            let objects = self
                .call(|| storage::list_objects(&self.clients, bucket, &prefix))
                .await
                .map_err(|source| {
                    GcpError::call(format!("listing gs://{bucket}/{prefix}"), source)
                })?;
            resources.extend(objects.into_iter().map(|object| Resource {
                kind: ResourceKind::Object,
                name: format!("{bucket}/{object}"),
            }));
        }
        Ok(RemovePlan {
            cloud: "gcp".to_owned(),
            service: service.to_owned(),
            stage: stage.to_owned(),
            resources,
        })
    }

    pub(crate) async fn delete(&self, plan: &RemovePlan) -> Result<RemoveReport, GcpError> {
        let mut removed = Vec::new();
        let reporter = NoopReporter;
        for resource in &plan.resources {
            match resource.kind {
                ResourceKind::Function => {
                    let name = self.function_name(&resource.name);
                    let deadline =
                        Deadline::after(self.clock.as_ref(), self.policy.function_deadline);
                    let operation = self
                        .call(|| async {
                            self.clients
                                .functions
                                .delete_function()
                                .set_name(&name)
                                .send()
                                .await
                                .map_err(CallError::from)
                        })
                        .await;
                    let operation = match operation {
                        Ok(operation) => operation,
                        Err(error) if error.is_not_found() => continue,
                        Err(source) => {
                            return Err(GcpError::call(format!("deleting {name}"), source));
                        }
                    };
                    self.wait(operation, &resource.name, deadline, &reporter)
                        .await
                        .map_err(|failure| GcpError::Operation {
                            function: resource.name.clone(),
                            message: failure.to_string(),
                        })?;
                }
                ResourceKind::Object => {
                    let Some((bucket, object)) = resource.name.split_once('/') else {
                        continue;
                    };
                    self.call(|| storage::delete_object(&self.clients, bucket, object))
                        .await
                        .map_err(|source| {
                            GcpError::call(format!("deleting gs://{}", resource.name), source)
                        })?;
                }
                ResourceKind::LayerVersion
                | ResourceKind::Role
                | ResourceKind::Trigger
                | ResourceKind::Api
                | ResourceKind::Stack => continue,
            }
            removed.push(resource.clone());
        }
        Ok(RemoveReport {
            cloud: plan.cloud.clone(),
            service: plan.service.clone(),
            stage: plan.stage.clone(),
            removed,
        })
    }
}

/// The function id: the last part of its resource name.
pub(crate) fn short_name(function: &Function) -> &str {
    function.name.rsplit('/').next().unwrap_or(&function.name)
}

fn function_info(function: &Function, stage: &str) -> FunctionInfo {
    let build = function.build_config.clone().unwrap_or_default();
    let service = function.service_config.clone().unwrap_or_default();
    let non_empty = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    FunctionInfo {
        deployed_name: short_name(function).to_owned(),
        id: function.name.clone(),
        runtime: non_empty(&build.runtime),
        handler: non_empty(&build.entry_point),
        code_sha256: function.labels.get(LABEL_SOURCE).cloned(),
        last_modified: function.update_time.map(String::from),
        releases: Vec::new(),
        pointer: non_empty(&service.revision).map(|revision| PointerInfo {
            pointer: Pointer::new(PointerKind::Revision, stage),
            release: revision,
        }),
        layers: Vec::new(),
        state: function.state.name().map(str::to_owned),
        url: non_empty(&function.url).or_else(|| non_empty(&service.uri)),
        trigger: Some(desired::describe_trigger(
            desired::deployed_trigger(function).as_ref(),
        )),
    }
}
