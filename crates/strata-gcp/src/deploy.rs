//! `plan` and `apply`: read each function, compare labels and managed fields, then upload
//! the source and create or patch the function with a mask naming exactly what differs, and
//! poll its operation to the end.

use std::time::Instant;

use google_cloud_functions_v2::model::{Function, function::State};
use google_cloud_longrunning::model::{Operation, operation};
use google_cloud_wkt::FieldMask;
use strata_provider::{
    CodeChange, Deadline, DeployPlan, DeployReport, FunctionAction, FunctionOutcome, FunctionPlan,
    FunctionReport, FunctionSpec, Pointer, PointerKind, PointerMove, Reporter, RetryFailure,
    Secret, Step, StepFailure, TriggerAction, TriggerPlan,
};

use crate::GcpProvider;
use crate::desired::{
    self, Desired, LABEL_PREVIOUS, LABEL_SOURCE, config_differences, function_id, labels, mask_of,
    source_label, update_mask,
};
use crate::error::{CallError, GcpError};
use crate::storage::{self, MAX_SOURCE_BYTES};

/// A function's event trigger as the plan lists it, so a create shows what will invoke the
/// function and an update shows the trigger's old and new value (the same change the
/// function's `eventTrigger` field carries). HTTP functions have none.
fn trigger_plan(function: &FunctionSpec, plan: &FunctionPlan) -> Option<TriggerPlan> {
    let strata_provider::CloudSettings::Gcp {
        trigger: Some(trigger),
        ..
    } = &function.cloud_settings
    else {
        return None;
    };
    let action = match &plan.action {
        FunctionAction::Create => TriggerAction::Create,
        FunctionAction::Update { config, .. } | FunctionAction::Adopt { config, .. } => {
            let changes: Vec<_> = config
                .iter()
                .filter(|change| change.field == desired::MASK_TRIGGER)
                .cloned()
                .collect();
            if changes.is_empty() {
                TriggerAction::Unchanged
            } else {
                TriggerAction::Update { changes }
            }
        }
        FunctionAction::Publish | FunctionAction::Unchanged => TriggerAction::Unchanged,
    };
    Some(TriggerPlan {
        function: function.logical_name.clone(),
        kind: trigger.event_type.clone(),
        source: trigger.resource.clone(),
        id: None,
        action,
    })
}

impl GcpProvider {
    /// The function's full resource name.
    pub(crate) fn function_name(&self, deployed_name: &str) -> String {
        format!("{}/functions/{}", self.parent, function_id(deployed_name))
    }

    /// The deployed function, or `None` when there is none.
    pub(crate) async fn read_function(&self, name: &str) -> Result<Option<Function>, CallError> {
        let result = self
            .call(|| async {
                self.clients
                    .functions
                    .get_function()
                    .set_name(name)
                    .send()
                    .await
                    .map_err(CallError::from)
            })
            .await;
        match result {
            Ok(function) => Ok(Some(function)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Whether strata deployed `function` for this service and stage.
    pub(crate) fn is_owned(&self, function: &Function, service: &str, stage: &str) -> bool {
        let label = |key: &str| function.labels.get(key).map(String::as_str);
        label(desired::LABEL_SERVICE) == Some(desired::label_value(service).as_str())
            && label(desired::LABEL_STAGE) == Some(desired::label_value(stage).as_str())
    }

    pub(crate) async fn plan_deploy(
        &self,
        spec: &strata_provider::DeploySpec,
    ) -> Result<DeployPlan, GcpError> {
        let mut plan = DeployPlan::new("gcp", self.location(), spec.clone());
        for function in &spec.functions {
            let name = self.function_name(&function.deployed_name);
            let deployed = self
                .read_function(&name)
                .await
                .map_err(|source| GcpError::call(format!("reading function {name}"), source))?;
            let function_plan = self.plan_function(spec, function, deployed.as_ref())?;
            if let Some(trigger) = trigger_plan(function, &function_plan) {
                plan.triggers.push(trigger);
            }
            plan.functions.push(function_plan);
        }
        Ok(plan)
    }

    fn plan_function(
        &self,
        spec: &strata_provider::DeploySpec,
        function: &FunctionSpec,
        deployed: Option<&Function>,
    ) -> Result<FunctionPlan, GcpError> {
        let pointer = Pointer::new(PointerKind::Revision, &spec.stage);
        let Some(deployed) = deployed else {
            return Ok(FunctionPlan {
                logical_name: function.logical_name.clone(),
                deployed_name: function_id(&function.deployed_name),
                action: FunctionAction::Create,
                pointer: Some(PointerMove {
                    pointer,
                    from: None,
                    to: None,
                }),
            });
        };
        let owned = self.is_owned(deployed, &spec.service, &spec.stage);
        if !owned && !spec.adopt {
            return Err(GcpError::NotOwned {
                function: function_id(&function.deployed_name),
            });
        }
        let wanted = source_label(&function.code.sha256_hex);
        let current = deployed.labels.get(LABEL_SOURCE).cloned();
        let code =
            (spec.force || current.as_deref() != Some(wanted.as_str())).then(|| CodeChange {
                old: current.clone(),
                new: wanted.clone(),
            });
        let config: Vec<_> = config_differences(function, deployed)
            .into_iter()
            .map(|difference| difference.change)
            .collect();
        let action = if !owned {
            FunctionAction::Adopt {
                owner_tags: deployed
                    .labels
                    .iter()
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect(),
                code,
                config,
            }
        } else if code.is_none() && config.is_empty() {
            FunctionAction::Unchanged
        } else {
            FunctionAction::Update { code, config }
        };
        let revision = deployed
            .service_config
            .as_ref()
            .map(|service| service.revision.clone())
            .filter(|revision| !revision.is_empty());
        let pointer = (!matches!(action, FunctionAction::Unchanged)).then_some(PointerMove {
            pointer,
            from: revision,
            to: None,
        });
        Ok(FunctionPlan {
            logical_name: function.logical_name.clone(),
            deployed_name: function_id(&function.deployed_name),
            action,
            pointer,
        })
    }

    pub(crate) async fn apply_plan(
        &self,
        plan: &DeployPlan,
        reporter: &dyn Reporter,
    ) -> Result<DeployReport, GcpError> {
        let started = Instant::now();
        let spec = plan.spec();
        let deploys = plan.functions.iter().filter_map(|entry| {
            let function = spec.function(&entry.logical_name)?;
            Some(self.apply_function(spec, entry, function, reporter))
        });
        let functions = futures::future::join_all(deploys).await;
        Ok(DeployReport {
            cloud: "gcp".to_owned(),
            service: plan.service.clone(),
            stage: plan.stage.clone(),
            layers: Vec::new(),
            stack: None,
            // An event trigger changes with its function's own update.
            triggers: strata_provider::carried_out(&plan.triggers, &functions),
            functions,
            unmanaged: plan.unmanaged.clone(),
            duration: started.elapsed(),
        })
    }

    async fn apply_function(
        &self,
        spec: &strata_provider::DeploySpec,
        entry: &FunctionPlan,
        function: &FunctionSpec,
        reporter: &dyn Reporter,
    ) -> FunctionReport {
        let started = Instant::now();
        let pointer = Pointer::new(PointerKind::Revision, &spec.stage);
        let mut report = FunctionReport {
            logical_name: entry.logical_name.clone(),
            deployed_name: entry.deployed_name.clone(),
            outcome: FunctionOutcome::Unchanged,
            release: None,
            pointer: None,
            id: None,
            url: None,
            urls: Vec::new(),
            duration: started.elapsed(),
        };
        if matches!(
            entry.action,
            FunctionAction::Unchanged | FunctionAction::Publish
        ) {
            reporter.on_function_finished(&report);
            return report;
        }
        reporter.on_function_started(&entry.deployed_name);
        let interrupt = reporter.interrupt();
        if interrupt.is_triggered() {
            report.outcome = FunctionOutcome::Interrupted { before: None };
            reporter.on_function_finished(&report);
            return report;
        }
        let outcome = self.deploy_function(spec, entry, function, reporter).await;
        match outcome {
            Ok((outcome, deployed)) => {
                let service = deployed.service_config.clone().unwrap_or_default();
                report.outcome = outcome;
                report.release = Some(service.revision).filter(|revision| !revision.is_empty());
                report.pointer = Some(pointer);
                report.id = Some(self.function_name(&function.deployed_name));
                // Only an HTTP function answers at its URL.
                if deployed.event_trigger.is_none() {
                    report.url = [deployed.url.clone(), service.uri]
                        .into_iter()
                        .find(|url| !url.is_empty());
                }
            }
            Err(failure) => {
                reporter.on_failure(&entry.deployed_name, &failure);
                report.outcome = FunctionOutcome::Failed(failure);
            }
        }
        report.duration = started.elapsed();
        reporter.on_function_finished(&report);
        report
    }

    /// Uploads (when the code changes), creates or patches, and waits for the operation.
    async fn deploy_function(
        &self,
        spec: &strata_provider::DeploySpec,
        entry: &FunctionPlan,
        function: &FunctionSpec,
        reporter: &dyn Reporter,
    ) -> Result<(FunctionOutcome, Function), StepFailure> {
        let deadline = Deadline::after(self.clock.as_ref(), self.policy.function_deadline);
        let name = self.function_name(&function.deployed_name);
        let id = function_id(&function.deployed_name);
        let (code, config, create) = match &entry.action {
            FunctionAction::Create => (true, Vec::new(), true),
            FunctionAction::Update { code, config }
            | FunctionAction::Adopt { code, config, .. } => (code.is_some(), config.clone(), false),
            FunctionAction::Unchanged | FunctionAction::Publish => (false, Vec::new(), false),
        };

        // The labels keep what they held unless this deploy changes the source.
        let deployed = if create {
            None
        } else {
            reporter.on_step(&id, Step::Read);
            self.with_retry(deadline, reporter, &id, Step::Read, || async {
                self.clients
                    .functions
                    .get_function()
                    .set_name(&name)
                    .send()
                    .await
                    .map_err(CallError::from)
            })
            .await
            .map(Some)?
        };
        let label = |key: &str| {
            deployed
                .as_ref()
                .and_then(|deployed| deployed.labels.get(key).cloned())
        };
        let wanted = source_label(&function.code.sha256_hex);
        let (source_value, previous) = if code {
            (wanted.clone(), label(LABEL_SOURCE))
        } else {
            (
                label(LABEL_SOURCE).unwrap_or(wanted.clone()),
                label(LABEL_PREVIOUS),
            )
        };
        let source = if code {
            self.upload_source(spec, function, &id, deadline, reporter)
                .await?
        } else {
            deployed
                .as_ref()
                .and_then(|deployed| deployed.build_config.as_ref())
                .and_then(|build| build.source.as_ref())
                .and_then(|source| source.storage_source())
                .map(|source| (**source).clone())
                .unwrap_or_default()
        };
        // Without a bucket, strata keeps no sources itself: a new source records where Cloud
        // Functions keeps the one it replaces, for rollback.
        let record_previous = code && !create && self.bucket.is_none();
        let build_environment = if record_previous {
            let kept = deployed.as_ref().and_then(desired::kept_source);
            desired::build_environment(deployed.as_ref(), kept.as_ref())
        } else {
            desired::build_environment(deployed.as_ref(), None)
        };
        let desired = Desired {
            spec: function,
            name: name.clone(),
            region: &self.region,
            source,
            labels: labels(
                function,
                &spec.service,
                &spec.stage,
                &source_value,
                previous.as_deref(),
            ),
            build_environment,
        }
        .function();

        let operation = if create {
            reporter.on_step(&id, Step::CreateFunction);
            self.with_retry(deadline, reporter, &id, Step::CreateFunction, || async {
                self.clients
                    .functions
                    .create_function()
                    .set_parent(&self.parent)
                    .set_function_id(&id)
                    .set_function(desired.clone())
                    .send()
                    .await
                    .map_err(CallError::from)
            })
            .await?
        } else {
            let mut mask = update_mask(code, &[]);
            mask.extend(config.iter().map(mask_of));
            if record_previous {
                mask.push(desired::MASK_BUILD_ENVIRONMENT.to_owned());
            }
            if matches!(entry.action, FunctionAction::Adopt { .. }) {
                mask.push(desired::MASK_LABELS.to_owned());
            }
            mask.sort();
            mask.dedup();
            let step = if code {
                Step::UpdateCode
            } else {
                Step::UpdateConfiguration
            };
            reporter.on_step(&id, step);
            self.with_retry(deadline, reporter, &id, step, || async {
                self.clients
                    .functions
                    .update_function()
                    .set_function(desired.clone())
                    .set_update_mask(FieldMask::default().set_paths(mask.clone()))
                    .send()
                    .await
                    .map_err(CallError::from)
            })
            .await?
        };
        let deployed = self.wait(operation, &id, deadline, reporter).await?;
        let outcome = match (create, code, config.is_empty()) {
            (true, _, _) => FunctionOutcome::Created,
            (false, true, true) => FunctionOutcome::UpdatedCode,
            (false, false, _) => FunctionOutcome::UpdatedConfiguration,
            (false, true, false) => FunctionOutcome::UpdatedCodeAndConfiguration,
        };
        Ok((outcome, deployed))
    }

    /// Puts the source zip where Cloud Functions reads it: the kept, content-addressed object
    /// in `gcp.bucket`, else a `generateUploadUrl` object.
    async fn upload_source(
        &self,
        spec: &strata_provider::DeploySpec,
        function: &FunctionSpec,
        id: &str,
        deadline: Deadline,
        reporter: &dyn Reporter,
    ) -> Result<google_cloud_functions_v2::model::StorageSource, StepFailure> {
        reporter.on_step(id, Step::Upload);
        let failure = |message: String, code: &str| StepFailure {
            step: Step::Upload,
            code: Some(code.to_owned()),
            message,
            request_id: None,
            attempts: 1,
        };
        if function.code.zipped_size > MAX_SOURCE_BYTES {
            return Err(failure(
                GcpError::SourceTooLarge {
                    function: id.to_owned(),
                    size: function.code.zipped_size,
                    limit: MAX_SOURCE_BYTES,
                }
                .to_string(),
                "SourceTooLarge",
            ));
        }
        let zip = fs_err::read(&function.code.path)
            .map_err(|error| failure(error.to_string(), "ReadFailed"))?;
        let zip = bytes::Bytes::from(zip);
        match &self.bucket {
            Some(bucket) => {
                let object =
                    storage::object_name(&spec.service, &spec.stage, id, &function.code.sha256_hex);
                self.with_retry(deadline, reporter, id, Step::Upload, || {
                    storage::upload_to_bucket(&self.clients, bucket, &object, zip.clone())
                })
                .await?;
                Ok(storage::storage_source(bucket, &object, 0))
            }
            None => {
                let answer = self
                    .with_retry(deadline, reporter, id, Step::Upload, || async {
                        self.clients
                            .functions
                            .generate_upload_url()
                            .set_parent(&self.parent)
                            .send()
                            .await
                            .map_err(CallError::from)
                    })
                    .await?;
                let url = Secret::new(answer.upload_url);
                self.with_retry(deadline, reporter, id, Step::Upload, || {
                    storage::upload_to_signed_url(&self.clients, &url, zip.clone())
                })
                .await?;
                Ok(answer.storage_source.unwrap_or_default())
            }
        }
    }

    /// Polls `operation` until it is done or the deadline passes; a finished function must
    /// be ACTIVE. A failed build reports Google's message, which names the build log.
    pub(crate) async fn wait(
        &self,
        mut operation: Operation,
        id: &str,
        deadline: Deadline,
        reporter: &dyn Reporter,
    ) -> Result<Function, StepFailure> {
        reporter.on_step(id, Step::Wait);
        let mut poll = 0;
        while !operation.done {
            poll += 1;
            let delay = self.policy.poll_delay(poll);
            if delay >= deadline.remaining(self.clock.as_ref()) {
                return Err(StepFailure {
                    step: Step::Wait,
                    code: Some("DeadlineExceeded".to_owned()),
                    message: format!(
                        "operation {} still running after {poll} polls; Google may still finish \
                         it, `strata info` shows the result",
                        operation.name
                    ),
                    request_id: None,
                    attempts: poll,
                });
            }
            reporter.on_waiting(id, Step::Wait, poll);
            self.clock.sleep(delay).await;
            let name = operation.name.clone();
            operation = self
                .with_retry(deadline, reporter, id, Step::Wait, || async {
                    self.clients
                        .functions
                        .get_operation()
                        .set_name(&name)
                        .send()
                        .await
                        .map_err(CallError::from)
                })
                .await?;
        }
        let failed = |code: String, message: String| StepFailure {
            step: Step::Wait,
            code: Some(code),
            message,
            request_id: None,
            attempts: 1,
        };
        match operation.result {
            Some(operation::Result::Error(status)) => Err(failed(
                google_cloud_gax::error::rpc::Code::from(status.code)
                    .name()
                    .to_owned(),
                status.message.clone(),
            )),
            Some(operation::Result::Response(any)) => {
                let Ok(function) = any.to_msg::<Function>() else {
                    // A delete answers with Empty.
                    return Ok(Function::default());
                };
                if function.state == State::Active || function.state == State::Unspecified {
                    Ok(function)
                } else {
                    let messages: Vec<String> = function
                        .state_messages
                        .iter()
                        .map(|message| message.message.clone())
                        .collect();
                    Err(failed(
                        function.state.name().unwrap_or("UNKNOWN").to_owned(),
                        format!("the function is not ACTIVE: {}", messages.join("; ")),
                    ))
                }
            }
            _ => Ok(Function::default()),
        }
    }

    /// One call of `step` with the provider's retries, reported as progress; a failure
    /// becomes the step's [`StepFailure`].
    pub(crate) async fn with_retry<T, F, Fut>(
        &self,
        deadline: Deadline,
        reporter: &dyn Reporter,
        id: &str,
        step: Step,
        operation: F,
    ) -> Result<T, StepFailure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        strata_provider::retry(
            &self.policy,
            self.clock.as_ref(),
            deadline,
            |attempt, delay, _| reporter.on_retry(id, step, attempt, delay),
            operation,
        )
        .await
        .map_err(|failure: RetryFailure<CallError>| StepFailure {
            step,
            code: failure
                .error
                .code
                .clone()
                .or_else(|| failure.error.status.map(|status| format!("HTTP {status}"))),
            message: failure.error.message.clone(),
            request_id: None,
            attempts: failure.attempts,
        })
    }

    /// One read or write outside a function's deploy, with the provider's retries.
    pub(crate) async fn call<T, F, Fut>(&self, operation: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let deadline = Deadline::after(self.clock.as_ref(), self.policy.function_deadline);
        strata_provider::retry(
            &self.policy,
            self.clock.as_ref(),
            deadline,
            |_, _, _| {},
            operation,
        )
        .await
        .map_err(|failure| failure.error)
    }
}
