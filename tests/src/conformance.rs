//! The provider conformance suite: one list of scenarios every backend passes against its
//! emulator or contract fake, so each cloud keeps the same promises.
//!
//! A backend's test implements [`Harness`] (how to build a spec with its artifacts, how to
//! read the cloud's state independently of the provider, how to make a deploy fail midway)
//! and calls [`run`]. The scenarios run in order on one service and stage:
//!
//! 1. a first deploy creates every function and points the stage at them;
//! 2. an immediate second deploy makes zero mutating calls (the first deploy's calls are the
//!    positive control that the counter works);
//! 3. a code change updates only that function's code;
//! 4. a setting change updates only that function's settings;
//! 5. a failure midway through one function's deploy leaves its live pointer on the old release;
//! 6. rollback moves the pointer back to the previous release;
//! 7. remove deletes exactly what strata created (a function made by hand survives);
//!
//! and throughout, secrets never appear in a plan, a report or their JSON.
//!
//! A cloud that deploys one package per app (Azure Functions) says so with
//! [`Harness::packaging`]: its functions share one package and one set of settings, so a code
//! or setting change of one is a change of every function of the app. The suite then asserts
//! that instead (each function reports the app's change, and all serve the same release),
//! never that a neighbour was left alone.

use std::collections::{BTreeMap, BTreeSet};

use strata_provider::{
    ArtifactRef, DeploySpec, FunctionAction, FunctionOutcome, FunctionSpec, NoopReporter, Provider,
    RoleSpec, RollbackRequest,
};

/// A value that looks secret by its name (`API_TOKEN`).
pub const SECRET_BY_NAME: &str = "conformance-token-4d1f9a";
/// A value the manifest marks secret (`LICENSE_ID` in `secret_environment`).
pub const SECRET_BY_MARK: &str = "conformance-licence-77c0e2";

/// The two functions of the suite's service.
pub const FUNCTIONS: [&str; 2] = ["alpha", "beta"];

/// What the suite asks a deploy to look like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// The code version of each function (a different number, different bytes).
    pub code: BTreeMap<&'static str, u32>,
    /// The memory of each function, in MB.
    pub memory_mb: BTreeMap<&'static str, u32>,
    /// Suffix of the secret values, so a change of a secret is a setting change.
    pub secret_suffix: &'static str,
}

impl Default for Variant {
    fn default() -> Self {
        Self {
            code: FUNCTIONS.iter().map(|name| (*name, 1)).collect(),
            memory_mb: FUNCTIONS.iter().map(|name| (*name, 128)).collect(),
            secret_suffix: "",
        }
    }
}

/// How a cloud packages a service's functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packaging {
    /// Each function has its own code and settings (Lambda, Cloud Functions).
    PerFunction,
    /// The functions share one app package and one set of settings (Azure Functions).
    PerApp,
}

/// How the suite reaches one backend.
#[expect(
    async_fn_in_trait,
    reason = "test support: harnesses are awaited in place, never sent"
)]
pub trait Harness {
    type Provider: Provider;

    fn provider(&self) -> &Self::Provider;

    fn service(&self) -> &str;

    fn stage(&self) -> &str;

    /// Writes the code of `function` at `version` as a zip and describes it.
    fn artifact(&self, function: &str, version: u32) -> ArtifactRef;

    /// Whether functions have their own package or share their app's.
    fn packaging(&self) -> Packaging {
        Packaging::PerFunction
    }

    /// [`Packaging::PerApp`] only: the one app package holding every function at the given
    /// versions. Per-function harnesses never receive this call.
    fn app_artifact(&self, versions: &BTreeMap<&'static str, u32>) -> ArtifactRef {
        let _ = versions;
        unreachable!("app_artifact is called only when packaging() is PerApp")
    }

    /// The role, identity or service account the functions run as.
    fn role(&self) -> RoleSpec;

    /// Changes `spec` so that deploying `function` fails after its deploy has started (after
    /// the new code is in, before the pointer moves), once.
    fn fail_midway(&self, spec: &mut DeploySpec, function: &str);

    /// Every mutating call the cloud has seen for this service so far.
    fn mutations(&self) -> Vec<String>;

    /// The release the stage pointer of `deployed_name` serves, read from the cloud without
    /// the provider.
    async fn live_release(&self, deployed_name: &str) -> Option<String>;

    /// Creates a function of this service by hand, outside strata; returns its name.
    async fn create_by_hand(&self) -> String;

    /// Whether a function of that name exists in the cloud.
    async fn exists(&self, deployed_name: &str) -> bool;
}

/// The deployed name the suite gives `function`.
pub fn deployed_name<H: Harness>(h: &H, function: &str) -> String {
    format!("{}-{}-{function}", h.service(), h.stage())
}

/// The spec of `variant`.
pub fn spec<H: Harness>(h: &H, variant: &Variant) -> DeploySpec {
    let functions = FUNCTIONS
        .iter()
        .map(|function| FunctionSpec {
            logical_name: (*function).to_owned(),
            deployed_name: deployed_name(h, function),
            handler: format!("handler.{function}"),
            runtime: "python3.12".to_owned(),
            memory_mb: variant.memory_mb[function],
            timeout_s: 6,
            environment: BTreeMap::from([
                ("STAGE".to_owned(), h.stage().to_owned()),
                (
                    "API_TOKEN".to_owned(),
                    format!("{SECRET_BY_NAME}{}", variant.secret_suffix),
                ),
                (
                    "LICENSE_ID".to_owned(),
                    format!("{SECRET_BY_MARK}{}", variant.secret_suffix),
                ),
            ]),
            secret_environment: BTreeSet::from(["LICENSE_ID".to_owned()]),
            description: String::new(),
            tags: BTreeMap::new(),
            architecture: strata_provider::Architecture::X86_64,
            layers: Vec::new(),
            code: code(h, &variant.code, function),
            role: None,
            cloud_settings: Default::default(),
            triggers: vec![],
        })
        .collect();
    DeploySpec {
        service: h.service().to_owned(),
        stage: h.stage().to_owned(),
        functions,
        layers: Vec::new(),
        role: h.role(),
        unmanaged: Vec::new(),
        force: false,
        adopt: false,
        aws_stack: None,
        partial: false,
    }
}

/// The code `function` deploys when the functions are at `versions`: its own zip, or the
/// app's one.
fn code<H: Harness>(h: &H, versions: &BTreeMap<&'static str, u32>, function: &str) -> ArtifactRef {
    match h.packaging() {
        Packaging::PerFunction => h.artifact(function, versions[function]),
        Packaging::PerApp => h.app_artifact(versions),
    }
}

/// `spec` with every function's code at `versions`.
fn with_code<H: Harness>(
    h: &H,
    spec: &DeploySpec,
    versions: &BTreeMap<&'static str, u32>,
) -> DeploySpec {
    let mut spec = spec.clone();
    for function in &mut spec.functions {
        function.code = code(h, versions, &function.logical_name);
    }
    spec
}

/// Fails when a text strata shows holds a secret value.
fn assert_no_secret(what: &str, text: &str) {
    for secret in [SECRET_BY_NAME, SECRET_BY_MARK] {
        assert!(!text.contains(secret), "{what} shows a secret:\n{text}");
    }
}

/// Plans and applies `spec`, checking that neither the plan nor the report shows a secret.
async fn deploy<H: Harness>(
    h: &H,
    spec: &DeploySpec,
) -> (strata_provider::DeployPlan, strata_provider::DeployReport) {
    let plan = h.provider().plan(spec).await.expect("plan");
    assert_no_secret("the plan", &plan.to_string());
    assert_no_secret("the plan's JSON", &serde_json::to_string(&plan).unwrap());
    let report = h
        .provider()
        .apply(&plan, &NoopReporter)
        .await
        .expect("apply");
    assert_no_secret("the report", &report.to_string());
    assert_no_secret(
        "the report's JSON",
        &serde_json::to_string(&report).unwrap(),
    );
    (plan, report)
}

fn outcome<'a>(report: &'a strata_provider::DeployReport, function: &str) -> &'a FunctionOutcome {
    &report
        .functions
        .iter()
        .find(|entry| entry.logical_name == function)
        .unwrap_or_else(|| panic!("{function} is not in the report:\n{report}"))
        .outcome
}

fn action<'a>(plan: &'a strata_provider::DeployPlan, function: &str) -> &'a FunctionAction {
    &plan
        .functions
        .iter()
        .find(|entry| entry.logical_name == function)
        .unwrap_or_else(|| panic!("{function} is not in the plan:\n{plan}"))
        .action
}

/// Mutations after the first `before`, which must all be about `function`.
fn new_mutations<H: Harness>(h: &H, before: usize) -> Vec<String> {
    h.mutations().into_iter().skip(before).collect()
}

/// Runs every scenario, in order, against `h`.
pub async fn run<H: Harness>(h: &H) {
    let alpha = deployed_name(h, "alpha");
    let beta = deployed_name(h, "beta");

    // 1. A first deploy creates.
    let mut variant = Variant::default();
    let (plan, report) = deploy(h, &spec(h, &variant)).await;
    for function in FUNCTIONS {
        assert_eq!(action(&plan, function), &FunctionAction::Create, "{plan}");
        assert_eq!(
            outcome(&report, function),
            &FunctionOutcome::Created,
            "{report}"
        );
    }
    let first_alpha = h.live_release(&alpha).await;
    assert!(first_alpha.is_some(), "alpha serves nothing after a deploy");
    assert!(h.live_release(&beta).await.is_some());
    let after_first = h.mutations().len();
    assert!(after_first > 0, "positive control: a first deploy mutates");

    // 2. An immediate second deploy changes nothing.
    let (plan, report) = deploy(h, &spec(h, &variant)).await;
    assert!(plan.is_noop(), "{plan}");
    for function in FUNCTIONS {
        assert_eq!(outcome(&report, function), &FunctionOutcome::Unchanged);
    }
    assert_eq!(
        new_mutations(h, after_first),
        Vec::<String>::new(),
        "an unchanged deploy made mutating calls"
    );

    // 3. A code change updates only that function's code.
    variant.code.insert("alpha", 2);
    let before = h.mutations().len();
    let (plan, report) = deploy(h, &spec(h, &variant)).await;
    // One package per app: alpha's new code is a new package of the app, so every function
    // of it reports the code change; otherwise beta is left alone.
    let changed: &[&str] = match h.packaging() {
        Packaging::PerFunction => &["alpha"],
        Packaging::PerApp => &FUNCTIONS,
    };
    for function in changed {
        match action(&plan, function) {
            FunctionAction::Update { code, config } => {
                assert!(code.is_some(), "{plan}");
                assert!(config.is_empty(), "a code change changed settings: {plan}");
            }
            other => panic!("{function}: expected a code update, got {other:?}"),
        }
        assert_eq!(outcome(&report, function), &FunctionOutcome::UpdatedCode);
    }
    let calls = new_mutations(h, before);
    assert!(!calls.is_empty());
    match h.packaging() {
        Packaging::PerFunction => {
            assert_eq!(action(&plan, "beta"), &FunctionAction::Unchanged, "{plan}");
            assert_eq!(outcome(&report, "beta"), &FunctionOutcome::Unchanged);
            assert!(
                calls.iter().all(|call| !call.contains(&beta)),
                "a code change of alpha touched beta: {calls:?}"
            );
        }
        Packaging::PerApp => assert_eq!(
            h.live_release(&alpha).await,
            h.live_release(&beta).await,
            "the functions of one app serve different packages"
        ),
    }
    let second_alpha = h.live_release(&alpha).await;
    assert_ne!(second_alpha, first_alpha, "alpha's pointer did not move");

    // 4. A setting change (memory, a secret) updates only that function's settings.
    variant.memory_mb.insert("beta", 256);
    variant.secret_suffix = "-rotated";
    let mut only_beta = spec(h, &variant);
    let previous = spec(
        h,
        &Variant {
            secret_suffix: "",
            ..variant.clone()
        },
    );
    // alpha keeps its old secrets, so only beta's settings differ. An app's settings are
    // shared: there both functions take the new secrets, and both report the change.
    let changed: &[&str] = match h.packaging() {
        Packaging::PerFunction => {
            only_beta.functions[0] = previous.functions[0].clone();
            &["beta"]
        }
        Packaging::PerApp => &FUNCTIONS,
    };
    let (plan, report) = deploy(h, &only_beta).await;
    for function in changed {
        match action(&plan, function) {
            FunctionAction::Update { code, config } => {
                assert!(code.is_none(), "a setting change changed code: {plan}");
                assert!(!config.is_empty(), "{plan}");
            }
            other => panic!("{function}: expected a settings update, got {other:?}"),
        }
        assert_eq!(
            outcome(&report, function),
            &FunctionOutcome::UpdatedConfiguration
        );
    }
    if h.packaging() == Packaging::PerFunction {
        assert_eq!(action(&plan, "alpha"), &FunctionAction::Unchanged, "{plan}");
    }
    assert_eq!(
        h.live_release(&alpha).await,
        second_alpha,
        "a settings change moved the code pointer"
    );

    // 5. A failure midway leaves the live pointer on the old release.
    let mut third = variant.code.clone();
    third.insert("alpha", 3);
    let mut failing = with_code(h, &only_beta, &third);
    h.fail_midway(&mut failing, "alpha");
    let (_, report) = deploy(h, &failing).await;
    assert!(
        matches!(outcome(&report, "alpha"), FunctionOutcome::Failed(_)),
        "{report}"
    );
    assert_eq!(
        h.live_release(&alpha).await,
        second_alpha,
        "a failed deploy moved alpha's pointer"
    );

    // 6. Rollback moves the pointer back: deploy alpha's new code, then roll it back.
    let fixed = with_code(h, &only_beta, &third);
    let (_, report) = deploy(h, &fixed).await;
    assert!(report.is_success(), "{report}");
    let third_alpha = h.live_release(&alpha).await;
    assert_ne!(third_alpha, second_alpha);
    let rollback = h
        .provider()
        .rollback(&RollbackRequest {
            service: h.service().to_owned(),
            stage: h.stage().to_owned(),
            functions: vec![alpha.clone()],
            to: None,
        })
        .await
        .expect("rollback");
    assert_eq!(rollback.functions.len(), 1, "{rollback}");
    assert_eq!(
        h.live_release(&alpha).await,
        second_alpha,
        "rollback did not move alpha back"
    );

    // 7. Remove deletes exactly what strata created.
    let by_hand = h.create_by_hand().await;
    let plan = h
        .provider()
        .plan_remove(h.service(), h.stage())
        .await
        .expect("plan remove");
    let names: Vec<&str> = plan.resources.iter().map(|r| r.name.as_str()).collect();
    assert!(
        names.iter().all(|name| !name.contains(&by_hand)),
        "remove would delete {by_hand}, which strata did not create: {names:?}"
    );
    h.provider().remove(&plan).await.expect("remove");
    for function in [&alpha, &beta] {
        assert!(!h.exists(function).await, "{function} survived remove");
    }
    assert!(h.exists(&by_hand).await, "remove deleted {by_hand}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stand_in::{StandInCloud, StandInProvider};
    use strata_provider::Step;

    struct StandIn {
        cloud: StandInCloud,
        provider: StandInProvider,
    }

    impl Harness for StandIn {
        type Provider = StandInProvider;

        fn provider(&self) -> &StandInProvider {
            &self.provider
        }

        fn service(&self) -> &str {
            "svc"
        }

        fn stage(&self) -> &str {
            "dev"
        }

        fn artifact(&self, function: &str, version: u32) -> ArtifactRef {
            ArtifactRef {
                path: format!("{function}-{version}.zip").into(),
                sha256_hex: format!("{function}-{version}"),
                code_sha256_base64: String::new(),
                zipped_size: 1,
                unzipped_size: 1,
            }
        }

        fn role(&self) -> RoleSpec {
            RoleSpec::Managed { statements: vec![] }
        }

        fn fail_midway(&self, spec: &mut DeploySpec, function: &str) {
            let name = spec.function(function).unwrap().deployed_name.clone();
            self.cloud.fail_next(Step::PublishRelease, &name);
        }

        fn mutations(&self) -> Vec<String> {
            self.cloud.mutations()
        }

        async fn live_release(&self, deployed_name: &str) -> Option<String> {
            self.cloud.live_release(deployed_name)
        }

        async fn create_by_hand(&self) -> String {
            self.cloud.create_foreign("svc-dev-by-hand");
            "svc-dev-by-hand".to_owned()
        }

        async fn exists(&self, deployed_name: &str) -> bool {
            self.cloud.exists(deployed_name)
        }
    }

    #[tokio::test]
    async fn the_stand_in_backend_keeps_the_contract() {
        let cloud = StandInCloud::new();
        let harness = StandIn {
            provider: cloud.provider("stand-in"),
            cloud,
        };
        run(&harness).await;
        // Positive control: the suite saw the cloud answer reads and writes.
        assert!(harness.cloud.calls() > harness.cloud.mutations().len());
    }
}
