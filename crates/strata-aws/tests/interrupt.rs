//! Ctrl-C during a deploy, against the Lambda contract fake: whatever request the interrupt
//! lands on (mid-upload, mid-wait, mid-publish), every function's stage alias serves wholly
//! the old or wholly the new code and configuration, and a re-run converges.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use strata_aws::{AwsProvider, AwsSettings};
use strata_provider::{
    DeployReport, DeploySpec, FunctionAction, FunctionOutcome, Interrupt, ManualClock,
    NoopReporter, Provider, Reporter, RoleSpec,
};
use support::fake_lambda::{FakeLambda, Knobs};
use support::{function, handler_artifact, spec};

const SERVICE: &str = "svc";
const STAGE: &str = "prod";
const FUNCTIONS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

/// A reporter whose only job is to carry the interrupt into `apply`, as the CLI's does.
struct Interrupting(Interrupt);

impl Reporter for Interrupting {
    fn interrupt(&self) -> Interrupt {
        self.0.clone()
    }
}

async fn provider(fake: &FakeLambda) -> AwsProvider {
    let settings = AwsSettings {
        // Every zip goes through S3, so some cut points land in the middle of an upload.
        direct_upload_limit: 1,
        concurrency: 2,
        ..fake.settings("deploy-bucket")
    };
    AwsProvider::new(settings)
        .await
        .expect("provider for the fake")
        .with_clock(Arc::new(ManualClock::new(0.5)))
}

/// The old stage: `alpha`, `beta`, `gamma` at version 1 of the code. The new one changes the
/// code of `alpha` and `beta`, the configuration of all three, and adds `delta`.
fn stage(dir: &std::path::Path, new: bool) -> DeploySpec {
    let mut functions = Vec::new();
    for (index, name) in FUNCTIONS.iter().enumerate() {
        if !new && *name == "delta" {
            continue;
        }
        let code_version = if new && index < 2 { 2 } else { 1 };
        let source = format!("def {name}(event, context):\n    return {code_version}\n");
        let zip = format!("{name}-{code_version}.zip");
        let mut spec = function(SERVICE, STAGE, name, handler_artifact(dir, &zip, &source));
        if new {
            spec.memory_mb = 256;
            spec.environment
                .insert("RELEASE".to_owned(), "2".to_owned());
        }
        functions.push(spec);
    }
    spec(
        SERVICE,
        STAGE,
        functions,
        vec![],
        RoleSpec::Existing("arn:aws:iam::123456789012:role/fake".to_owned()),
    )
}

fn deployed_name(name: &str) -> String {
    format!("{SERVICE}-{STAGE}-{name}")
}

/// What the stage alias of each function serves: the fields of its published version that
/// make up code and configuration (not its number, ARN or revision).
fn served(fake: &FakeLambda) -> BTreeMap<String, Option<Value>> {
    FUNCTIONS
        .iter()
        .map(|name| {
            let target = fake
                .alias_target(&deployed_name(name), STAGE)
                .map(|version| {
                    let fields = [
                        "CodeSha256",
                        "Handler",
                        "Runtime",
                        "Role",
                        "MemorySize",
                        "Timeout",
                        "Environment",
                        "Layers",
                        "Description",
                    ];
                    Value::Object(
                        fields
                            .iter()
                            .map(|field| ((*field).to_owned(), version[*field].clone()))
                            .collect(),
                    )
                });
            ((*name).to_owned(), target)
        })
        .collect()
}

async fn deploy(
    provider: &AwsProvider,
    spec: &DeploySpec,
    reporter: &dyn Reporter,
) -> DeployReport {
    let plan = provider.plan(spec).await.expect("plan");
    provider.apply(&plan, reporter).await.expect("apply")
}

/// Deploys the old stage into a fresh fake whose updates stay in progress for a few polls.
async fn old_stage(dir: &std::path::Path) -> (FakeLambda, AwsProvider) {
    let fake = FakeLambda::start();
    fake.set_knobs(Knobs {
        in_progress_polls: 2,
        ..Knobs::default()
    });
    let provider = provider(&fake).await;
    let report = deploy(&provider, &stage(dir, false), &NoopReporter).await;
    assert!(report.is_success(), "{report}");
    (fake, provider)
}

#[tokio::test]
async fn an_interrupt_at_any_request_leaves_each_function_all_old_or_all_new_and_a_rerun_converges()
{
    let dir = tempfile::tempdir().unwrap();
    let new_spec = stage(dir.path(), true);

    // An uninterrupted reference run: what old and new look like, and how many requests the
    // new deploy makes (each one a cut point).
    let (fake, provider) = old_stage(dir.path()).await;
    let old = served(&fake);
    let before = fake.requests().len();
    let report = deploy(&provider, &new_spec, &NoopReporter).await;
    assert!(report.is_success(), "{report}");
    let new = served(&fake);
    let requests = fake.requests().len() - before;
    for name in FUNCTIONS {
        assert_ne!(
            old[name], new[name],
            "{name} must change for the test to mean anything"
        );
    }
    assert!(old["delta"].is_none());
    let operations: Vec<&str> = fake.requests()[before..]
        .iter()
        .map(|request| request.operation)
        .collect();
    for operation in [
        "PutObject",
        "UpdateFunctionCode",
        "PublishVersion",
        "UpdateAlias",
    ] {
        assert!(
            operations.contains(&operation),
            "{operation} in {operations:?}"
        );
    }
    drop(fake);

    let mut interrupted_somewhere = 0;
    let mut stopped_in_wait = 0;
    let mut stopped_in_upload = 0;
    for cut in 1..=requests + 1 {
        let (fake, provider) = old_stage(dir.path()).await;
        let base = fake.requests().len() as u64;
        let interrupt = Interrupt::new();
        let trigger = interrupt.clone();
        fake.on_request(move |number| {
            if number == base + cut as u64 {
                trigger.trigger();
            }
        });

        let report = deploy(&provider, &new_spec, &Interrupting(interrupt.clone())).await;
        let after_interrupt = served(&fake);
        for name in FUNCTIONS {
            let now = &after_interrupt[name];
            assert!(
                *now == old[name] || *now == new[name],
                "cut {cut}: {name} serves a mix of old and new: {now:?}\n{report}"
            );
            let outcome = &report
                .functions
                .iter()
                .find(|function| function.logical_name == name)
                .expect("every function is reported")
                .outcome;
            match outcome {
                FunctionOutcome::Interrupted { before } => {
                    assert_eq!(*now, old[name], "cut {cut}: {name} reported interrupted");
                    interrupted_somewhere += 1;
                    match before {
                        Some(strata_provider::Step::Wait) => stopped_in_wait += 1,
                        Some(strata_provider::Step::UpdateCode)
                        | Some(strata_provider::Step::CreateFunction) => stopped_in_upload += 1,
                        _ => {}
                    }
                }
                FunctionOutcome::Failed(failure) => {
                    panic!("cut {cut}: {name} failed: {failure}\n{report}")
                }
                _ => assert_eq!(*now, new[name], "cut {cut}: {name} reported deployed"),
            }
        }
        if cut <= requests {
            assert!(interrupt.is_triggered(), "cut {cut} was never reached");
        }

        // A re-run without an interrupt finishes the job, and one more run changes nothing.
        let rerun = deploy(&provider, &new_spec, &NoopReporter).await;
        assert!(rerun.is_success(), "cut {cut}: re-run\n{rerun}");
        assert_eq!(served(&fake), new, "cut {cut}: after the re-run");
        let plan = provider.plan(&new_spec).await.unwrap();
        for function in &plan.functions {
            assert_eq!(
                function.action,
                FunctionAction::Unchanged,
                "cut {cut}: {} after the re-run",
                function.logical_name
            );
            assert!(
                function.pointer.is_none(),
                "cut {cut}: {:?}",
                function.pointer
            );
        }
        let reads = fake.requests().len();
        let mutations = fake.mutations().len();
        let noop = provider.apply(&plan, &NoopReporter).await.unwrap();
        assert!(noop.is_success(), "{noop}");
        // Positive control: the no-op run did read, and made no change.
        assert!(
            fake.requests().len() > reads,
            "cut {cut}: the last run read nothing"
        );
        assert_eq!(
            fake.mutations().len(),
            mutations,
            "cut {cut}: the last run changed something"
        );
    }
    // The cut points really did land mid-wait and mid-upload, not only between functions.
    assert!(interrupted_somewhere > 0);
    assert!(stopped_in_wait > 0, "no cut landed in a wait");
    assert!(
        stopped_in_upload > 0,
        "no cut landed between an upload and its use"
    );
}
