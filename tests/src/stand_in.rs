//! A stand-in backend: an in-memory cloud that keeps the provider contract (plan only reads;
//! each function goes all-old or all-new; the pointer moves last; `remove` deletes only what
//! strata created), so the CLI's dispatch and the conformance suite can be tested against a
//! second backend before Azure and GCP exist. Test-only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use strata_provider::{
    CodeChange, DeployPlan, DeployReport, DeploySpec, FieldChange, FunctionAction, FunctionInfo,
    FunctionOutcome, FunctionPlan, FunctionReport, FunctionSpec, InfoReport, Pointer, PointerInfo,
    PointerKind, PointerMove, Provider, RemovePlan, RemoveReport, Reporter, Resource, ResourceKind,
    RollbackEntry, RollbackReport, RollbackRequest, Step, StepFailure,
};

/// Why a stand-in call failed.
#[derive(Debug, thiserror::Error)]
pub enum StandInError {
    #[error("the stand-in cloud `{cloud}` refused the call: {message}")]
    Refused { cloud: String, message: String },
    #[error("function `{function}` has no release to roll back to")]
    NoPreviousRelease { function: String },
}

/// One published release: the code and the settings it was made with.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Release {
    code: String,
    settings: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
struct Function {
    service: String,
    stage: String,
    /// Made by hand, not by strata: never touched by `remove`.
    foreign: bool,
    latest: Release,
    releases: Vec<Release>,
    /// Index into `releases` (1-based release number) the stage pointer serves.
    pointer: Option<usize>,
}

#[derive(Default)]
struct State {
    functions: BTreeMap<String, Function>,
    /// Every mutating call, as `operation function`.
    mutations: Vec<String>,
    /// Every call, reads included.
    calls: usize,
    /// The next time this step runs for this function, it fails.
    fail_next: Option<(Step, String)>,
    /// Refuse every call (as a cloud that is down or has no credentials).
    refuse_all: Option<String>,
}

/// The shared state of a stand-in cloud; clones see the same cloud.
#[derive(Clone, Default)]
pub struct StandInCloud {
    state: Arc<Mutex<State>>,
}

impl StandInCloud {
    pub fn new() -> Self {
        Self::default()
    }

    /// A provider that talks to this cloud under `name` (`gcp`, say).
    pub fn provider(&self, name: &'static str) -> StandInProvider {
        StandInProvider {
            cloud: self.clone(),
            name,
        }
    }

    /// Every mutating call so far, as `operation function`.
    pub fn mutations(&self) -> Vec<String> {
        self.state.lock().unwrap().mutations.clone()
    }

    /// How many calls were made, reads included (the positive control of "no mutation").
    pub fn calls(&self) -> usize {
        self.state.lock().unwrap().calls
    }

    /// The next time `step` runs for `function` (deployed name), it fails.
    pub fn fail_next(&self, step: Step, function: &str) {
        self.state.lock().unwrap().fail_next = Some((step, function.to_owned()));
    }

    /// Refuse every call from now on with `message` (`None`: answer again).
    pub fn refuse_all(&self, message: Option<&str>) {
        self.state.lock().unwrap().refuse_all = message.map(str::to_owned);
    }

    /// The code the stage pointer of `function` serves, if any.
    pub fn live_code(&self, function: &str) -> Option<String> {
        let state = self.state.lock().unwrap();
        let function = state.functions.get(function)?;
        Some(function.releases[function.pointer? - 1].code.clone())
    }

    /// The release number the stage pointer of `function` serves.
    pub fn live_release(&self, function: &str) -> Option<String> {
        let state = self.state.lock().unwrap();
        Some(state.functions.get(function)?.pointer?.to_string())
    }

    /// Whether a function of that name exists.
    pub fn exists(&self, function: &str) -> bool {
        self.state.lock().unwrap().functions.contains_key(function)
    }

    /// Creates a function by hand under `name` (not strata's: no tags).
    pub fn create_foreign(&self, name: &str) {
        let release = Release {
            code: "by-hand".to_owned(),
            settings: BTreeMap::new(),
        };
        self.state.lock().unwrap().functions.insert(
            name.to_owned(),
            Function {
                service: String::new(),
                stage: String::new(),
                foreign: true,
                latest: release.clone(),
                releases: vec![release],
                pointer: Some(1),
            },
        );
    }

    /// Counts a call; fails it when the cloud refuses everything.
    fn call(&self, name: &str) -> Result<(), StandInError> {
        let mut state = self.state.lock().unwrap();
        state.calls += 1;
        match &state.refuse_all {
            Some(message) => Err(StandInError::Refused {
                cloud: name.to_owned(),
                message: message.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// The settings a stand-in function compares, as display strings (secrets masked where
/// shown, real values kept in the release).
fn settings(function: &FunctionSpec) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::from([
        ("handler".to_owned(), function.handler.clone()),
        ("runtime".to_owned(), function.runtime.clone()),
        ("memory_mb".to_owned(), function.memory_mb.to_string()),
        ("timeout_s".to_owned(), function.timeout_s.to_string()),
    ]);
    for (key, value) in &function.environment {
        settings.insert(format!("environment.{key}"), value.clone());
    }
    settings
}

fn changes(
    function: &FunctionSpec,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Vec<FieldChange> {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|key| old.get(*key) != new.get(*key))
        .map(|key| match key.strip_prefix("environment.") {
            Some(name) => FieldChange::environment(
                name,
                old.get(key).map(String::as_str),
                new.get(key).map(String::as_str),
                function.is_marked_secret(name),
            ),
            None => FieldChange::new(key.clone(), old.get(key).cloned(), new.get(key).cloned()),
        })
        .collect()
}

/// A provider over a [`StandInCloud`].
pub struct StandInProvider {
    cloud: StandInCloud,
    name: &'static str,
}

impl StandInProvider {
    fn pointer(stage: &str) -> Pointer {
        Pointer::new(PointerKind::Revision, stage)
    }

    /// Runs one step of one function, failing it when the cloud was told to.
    fn step(&self, step: Step, function: &str) -> Result<(), StepFailure> {
        let mut state = self.cloud.state.lock().unwrap();
        state.calls += 1;
        if state.fail_next.as_ref() == Some(&(step, function.to_owned())) {
            state.fail_next = None;
            return Err(StepFailure {
                step,
                code: Some("Injected".to_owned()),
                message: "the stand-in cloud was told to fail this step".to_owned(),
                request_id: Some(format!("req-{}", state.calls)),
                attempts: 1,
            });
        }
        state.mutations.push(format!("{step} {function}"));
        Ok(())
    }

    /// Carries out one function's plan: code, settings, release, then the pointer.
    fn apply_function(
        &self,
        spec: &DeploySpec,
        function: &FunctionSpec,
        plan: &FunctionPlan,
    ) -> Result<(FunctionOutcome, Option<String>), StepFailure> {
        let name = &function.deployed_name;
        let wanted = Release {
            code: function.code.sha256_hex.clone(),
            settings: settings(function),
        };
        let outcome = match &plan.action {
            FunctionAction::Unchanged => {
                return Ok((FunctionOutcome::Unchanged, self.cloud.live_release(name)));
            }
            FunctionAction::Create => {
                self.step(Step::CreateFunction, name)?;
                let mut state = self.cloud.state.lock().unwrap();
                state.functions.insert(
                    name.clone(),
                    Function {
                        service: spec.service.clone(),
                        stage: spec.stage.clone(),
                        foreign: false,
                        latest: wanted.clone(),
                        releases: Vec::new(),
                        pointer: None,
                    },
                );
                FunctionOutcome::Created
            }
            FunctionAction::Update { code, config }
            | FunctionAction::Adopt { code, config, .. } => {
                if code.is_some() {
                    self.step(Step::UpdateCode, name)?;
                    self.with_function(name, |deployed| {
                        deployed.latest.code = wanted.code.clone();
                    });
                }
                if !config.is_empty() {
                    self.step(Step::UpdateConfiguration, name)?;
                    self.with_function(name, |deployed| {
                        deployed.latest.settings = wanted.settings.clone();
                    });
                }
                match (code.is_some(), config.is_empty()) {
                    (true, true) => FunctionOutcome::UpdatedCode,
                    (false, false) => FunctionOutcome::UpdatedConfiguration,
                    _ => FunctionOutcome::UpdatedCodeAndConfiguration,
                }
            }
            FunctionAction::Publish => FunctionOutcome::Published,
        };
        self.step(Step::PublishRelease, name)?;
        let release = self.with_function(name, |deployed| {
            deployed.releases.push(deployed.latest.clone());
            deployed.releases.len()
        });
        self.step(Step::MovePointer, name)?;
        self.with_function(name, |deployed| deployed.pointer = Some(release));
        Ok((outcome, Some(release.to_string())))
    }

    fn with_function<T>(&self, name: &str, change: impl FnOnce(&mut Function) -> T) -> T {
        let mut state = self.cloud.state.lock().unwrap();
        change(state.functions.get_mut(name).expect("the function exists"))
    }

    fn stage_functions(&self, service: &str, stage: &str) -> Vec<(String, Function)> {
        let state = self.cloud.state.lock().unwrap();
        state
            .functions
            .iter()
            .filter(|(_, function)| {
                !function.foreign && function.service == service && function.stage == stage
            })
            .map(|(name, function)| (name.clone(), function.clone()))
            .collect()
    }
}

#[async_trait]
impl Provider for StandInProvider {
    type Error = StandInError;

    fn name(&self) -> &'static str {
        self.name
    }

    async fn plan(&self, spec: &DeploySpec) -> Result<DeployPlan, StandInError> {
        self.cloud.call(self.name)?;
        let mut plan = DeployPlan::new(self.name, "stand-in", spec.clone());
        let state = self.cloud.state.lock().unwrap();
        for function in &spec.functions {
            let deployed = state.functions.get(&function.deployed_name);
            let wanted_settings = settings(function);
            let action = match deployed {
                None => FunctionAction::Create,
                Some(deployed) => {
                    let code =
                        (deployed.latest.code != function.code.sha256_hex).then(|| CodeChange {
                            old: Some(deployed.latest.code.clone()),
                            new: function.code.sha256_hex.clone(),
                        });
                    let config = changes(function, &deployed.latest.settings, &wanted_settings);
                    let live = deployed.pointer.map(|index| &deployed.releases[index - 1]);
                    let serves_latest = live == Some(&deployed.latest);
                    if code.is_some() || !config.is_empty() || spec.force {
                        FunctionAction::Update { code, config }
                    } else if serves_latest {
                        FunctionAction::Unchanged
                    } else {
                        FunctionAction::Publish
                    }
                }
            };
            let pointer = (!matches!(action, FunctionAction::Unchanged)).then(|| PointerMove {
                pointer: Self::pointer(&spec.stage),
                from: deployed.and_then(|deployed| deployed.pointer.map(|i| i.to_string())),
                to: None,
            });
            plan.functions.push(FunctionPlan {
                logical_name: function.logical_name.clone(),
                deployed_name: function.deployed_name.clone(),
                action,
                pointer,
            });
        }
        Ok(plan)
    }

    async fn apply(
        &self,
        plan: &DeployPlan,
        reporter: &dyn Reporter,
    ) -> Result<DeployReport, StandInError> {
        self.cloud.call(self.name)?;
        let spec = plan.spec();
        let mut functions = Vec::new();
        for function_plan in &plan.functions {
            let function = spec
                .function(&function_plan.logical_name)
                .expect("the plan comes from this spec");
            reporter.on_function_started(&function.deployed_name);
            let (outcome, release) = match self.apply_function(spec, function, function_plan) {
                Ok(done) => done,
                Err(failure) => (
                    FunctionOutcome::Failed(failure),
                    self.cloud.live_release(&function.deployed_name),
                ),
            };
            let report = FunctionReport {
                logical_name: function.logical_name.clone(),
                deployed_name: function.deployed_name.clone(),
                outcome,
                release,
                pointer: Some(Self::pointer(&spec.stage)),
                id: Some(format!("stand-in:{}", function.deployed_name)),
                url: None,
                urls: Vec::new(),
                duration: Duration::ZERO,
            };
            reporter.on_function_finished(&report);
            functions.push(report);
        }
        Ok(DeployReport {
            cloud: self.name.to_owned(),
            service: spec.service.clone(),
            stage: spec.stage.clone(),
            layers: Vec::new(),
            functions,
            stack: None,
            triggers: Vec::new(),
            unmanaged: spec.unmanaged.clone(),
            duration: Duration::ZERO,
        })
    }

    async fn info(&self, service: &str, stage: &str) -> Result<InfoReport, StandInError> {
        self.cloud.call(self.name)?;
        let functions = self
            .stage_functions(service, stage)
            .into_iter()
            .map(|(name, function)| FunctionInfo {
                id: format!("stand-in/{name}"),
                runtime: function.latest.settings.get("runtime").cloned(),
                handler: function.latest.settings.get("handler").cloned(),
                code_sha256: Some(function.latest.code.clone()),
                last_modified: None,
                releases: (1..=function.releases.len())
                    .map(|n| n.to_string())
                    .collect(),
                pointer: function.pointer.map(|release| PointerInfo {
                    pointer: Self::pointer(stage),
                    release: release.to_string(),
                }),
                layers: Vec::new(),
                state: None,
                url: None,
                trigger: None,
                deployed_name: name,
            })
            .collect();
        Ok(InfoReport {
            cloud: self.name.to_owned(),
            service: service.to_owned(),
            stage: stage.to_owned(),
            location: "stand-in".to_owned(),
            functions,
        })
    }

    async fn rollback(&self, request: &RollbackRequest) -> Result<RollbackReport, StandInError> {
        self.cloud.call(self.name)?;
        let mut entries = Vec::new();
        for (name, function) in self.stage_functions(&request.service, &request.stage) {
            if !request.functions.is_empty() && !request.functions.contains(&name) {
                continue;
            }
            let current = function.pointer.unwrap_or_default();
            let target = match &request.to {
                Some(to) => to.parse().unwrap_or(0),
                None => current.saturating_sub(1),
            };
            if target == 0 || target > function.releases.len() {
                return Err(StandInError::NoPreviousRelease { function: name });
            }
            self.cloud
                .state
                .lock()
                .unwrap()
                .mutations
                .push(format!("{} {name}", Step::MovePointer));
            self.with_function(&name, |deployed| deployed.pointer = Some(target));
            entries.push(RollbackEntry {
                deployed_name: name,
                pointer: Self::pointer(&request.stage),
                from: current.to_string(),
                to: target.to_string(),
            });
        }
        Ok(RollbackReport {
            cloud: self.name.to_owned(),
            service: request.service.clone(),
            stage: request.stage.clone(),
            functions: entries,
        })
    }

    async fn plan_remove(&self, service: &str, stage: &str) -> Result<RemovePlan, StandInError> {
        self.cloud.call(self.name)?;
        Ok(RemovePlan {
            cloud: self.name.to_owned(),
            service: service.to_owned(),
            stage: stage.to_owned(),
            resources: self
                .stage_functions(service, stage)
                .into_iter()
                .map(|(name, _)| Resource {
                    kind: ResourceKind::Function,
                    name,
                })
                .collect(),
        })
    }

    async fn remove(&self, plan: &RemovePlan) -> Result<RemoveReport, StandInError> {
        self.cloud.call(self.name)?;
        let mut state = self.cloud.state.lock().unwrap();
        for resource in &plan.resources {
            state.functions.remove(&resource.name);
            state
                .mutations
                .push(format!("{} {}", Step::Remove, resource.name));
        }
        Ok(RemoveReport {
            cloud: self.name.to_owned(),
            service: plan.service.clone(),
            stage: plan.stage.clone(),
            removed: plan.resources.clone(),
        })
    }
}
