//! The commands reach every backend through the same path: a stage with an AWS and a GCP
//! function, served here by two stand-in backends, is deployed, planned, inspected, rolled
//! back and removed by the real commands, run in-process.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use clap::Parser;
use serde_json::Value;
use strata_manifest::Cloud;
use strata_provider::{DeploySpec, RoleSpec, Step};
use strata_tests::stand_in::{StandInCloud, StandInError};

use super::{Backend, CloudAdapter, Clouds, ConnectInput, Erased, SpecInput};
use crate::cli::Cli;
use crate::commands::{self, Context};
use crate::error::{CliError, ErrorKind};
use crate::printer::Printer;

impl From<StandInError> for CliError {
    fn from(error: StandInError) -> Self {
        Self::from_source(&error).with_hint("the stand-in cloud's hint")
    }
}

/// A test-only adapter: the neutral spec of this cloud's functions, deployed to a stand-in.
struct StandInAdapter {
    cloud: Cloud,
    backend: StandInCloud,
}

#[async_trait]
impl CloudAdapter for StandInAdapter {
    fn cloud(&self) -> Cloud {
        self.cloud
    }

    fn deploy_spec(&self, input: &SpecInput<'_>) -> Result<DeploySpec, CliError> {
        let functions = input
            .functions
            .iter()
            .map(|(function, target)| {
                let code = input
                    .build
                    .function_code(self.cloud, &function.name)
                    .ok_or_else(|| {
                        CliError::internal(format!(
                            "no code artifact in {:?}",
                            input.build.artifacts
                        ))
                    })?;
                Ok(super::neutral_function_spec(
                    input.config,
                    function,
                    target,
                    super::artifact_ref(code, input.out_dir),
                ))
            })
            .collect::<Result<_, CliError>>()?;
        Ok(DeploySpec {
            service: input.config.service.clone(),
            stage: input.config.stage.clone(),
            functions,
            layers: Vec::new(),
            role: RoleSpec::Managed { statements: vec![] },
            unmanaged: Vec::new(),
            force: input.force,
            adopt: input.adopt,
            aws_stack: None,
            partial: input.partial,
        })
    }

    async fn connect(&self, _: &ConnectInput<'_>) -> Result<Box<dyn Backend>, CliError> {
        Ok(Box::new(Erased(self.backend.provider(self.cloud.as_str()))))
    }
}

const MANIFEST: &str = "\
service: shop
runtime: python3.12
gcp:
  project: shop-123
  region: europe-west1
azure:
  resourceGroup: shop-rg
  functionApp: shop-portal
functions:
  api:
    handler: handler.api
    targets: [aws]
  report:
    handler: main.report
    targets: [gcp]
  portal:
    handler: function_app.portal
    targets: [azure]
";

struct Stage {
    dir: tempfile::TempDir,
    aws: StandInCloud,
    gcp: StandInCloud,
}

impl Stage {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("strata.yml"), MANIFEST).unwrap();
        for (file, function) in [
            ("handler.py", "api"),
            ("main.py", "report"),
            ("function_app.py", "portal"),
        ] {
            fs_err::write(
                dir.path().join(file),
                format!("def {function}(event, context):\n    return 1\n"),
            )
            .unwrap();
        }
        Self {
            dir,
            aws: StandInCloud::new(),
            gcp: StandInCloud::new(),
        }
    }

    /// Runs `strata <args> --output-format json` in-process; returns the document and the
    /// command's result.
    fn run(&self, args: &[&str]) -> (Value, Result<(), CliError>) {
        let mut argv = vec!["strata"];
        argv.extend(args);
        argv.extend(["--output-format", "json", "--quiet"]);
        let cli = Cli::parse_from(argv);
        let captured = Arc::new(Mutex::new(String::new()));
        let mut printer = Printer::new(&cli.global, true);
        printer.captured = Some(captured.clone());
        let mut context = Context::from_args(&cli.global, printer).unwrap();
        context.project_dir = self.dir.path().to_owned();
        context.load_options.project_dir = self.dir.path().to_owned();
        // Offline: no cloud variables, no index; the build cache stays in the project.
        context.env.insert(
            "STRATA_CACHE_DIR".to_owned(),
            self.dir.path().join(".cache").display().to_string(),
        );
        context.clouds = Clouds::new(vec![
            Arc::new(StandInAdapter {
                cloud: Cloud::Aws,
                backend: self.aws.clone(),
            }),
            Arc::new(StandInAdapter {
                cloud: Cloud::Gcp,
                backend: self.gcp.clone(),
            }),
        ]);
        let result = commands::run(cli.command, &context);
        let text = captured.lock().unwrap().clone();
        let document = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("not one JSON document ({error}): {text}\n{result:?}"));
        (document, result)
    }
}

fn section<'a>(document: &'a Value, cloud: &str) -> &'a Value {
    document["clouds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|section| section["cloud"] == cloud)
        .unwrap_or_else(|| panic!("no {cloud} in {document:#}"))
}

fn clouds(document: &Value) -> Vec<&str> {
    document["clouds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|section| section["cloud"].as_str().unwrap())
        .collect()
}

#[test]
fn every_command_reaches_each_backend_through_the_same_path() {
    let stage = Stage::new();

    // deploy: one section per cloud; azure has no backend and says so without failing.
    let (deploy, result) = stage.run(&["deploy"]);
    result.unwrap();
    assert_eq!(clouds(&deploy), ["aws", "azure", "gcp"], "{deploy:#}");
    assert_eq!(deploy["success"], true);
    assert_eq!(section(&deploy, "aws")["status"], "ok");
    assert_eq!(section(&deploy, "azure")["status"], "not_deployable");
    assert_eq!(
        section(&deploy, "azure")["functions"],
        serde_json::json!(["portal"])
    );
    assert_eq!(
        section(&deploy, "gcp")["functions"][0]["outcome"]["kind"],
        "created"
    );
    assert_eq!(stage.aws.live_release("shop-dev-api").as_deref(), Some("1"));
    assert_eq!(
        stage.gcp.live_release("shop-dev-report").as_deref(),
        Some("1")
    );

    // plan --cloud narrows: only gcp is read.
    let aws_calls = stage.aws.calls();
    let (plan, result) = stage.run(&["plan", "--cloud", "gcp"]);
    result.unwrap();
    assert_eq!(clouds(&plan), ["gcp"], "{plan:#}");
    assert_eq!(stage.aws.calls(), aws_calls, "plan --cloud gcp read aws");

    // info reaches both.
    let (info, result) = stage.run(&["info"]);
    result.unwrap();
    assert_eq!(
        section(&info, "gcp")["functions"][0]["pointer"]["release"],
        "1"
    );
    assert_eq!(
        section(&info, "aws")["functions"][0]["id"],
        "stand-in/shop-dev-api"
    );

    // rollback reaches the backend: a forced redeploy makes release 2, rollback goes to 1.
    let (_, result) = stage.run(&["deploy", "--force", "--cloud", "gcp"]);
    result.unwrap();
    assert_eq!(
        stage.gcp.live_release("shop-dev-report").as_deref(),
        Some("2")
    );
    let (rollback, result) = stage.run(&["rollback", "--cloud", "gcp"]);
    result.unwrap();
    assert_eq!(section(&rollback, "gcp")["functions"][0]["to"], "1");
    assert_eq!(
        stage.gcp.live_release("shop-dev-report").as_deref(),
        Some("1")
    );

    // A failure in one cloud leaves the other's report intact and exits 1, naming it.
    stage.gcp.refuse_all(Some("no credentials"));
    let (failed, result) = stage.run(&["deploy", "--force"]);
    let error = result.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Input);
    assert_eq!(error.exit_code(), 1);
    assert!(error.message.contains("gcp"), "{error:?}");
    assert!(!error.message.contains("aws"), "{error:?}");
    assert_eq!(failed["success"], false);
    assert_eq!(section(&failed, "gcp")["status"], "failed");
    assert!(
        section(&failed, "gcp")["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no credentials"),
        "{failed:#}"
    );
    assert_eq!(section(&failed, "aws")["status"], "ok", "{failed:#}");
    assert_eq!(
        section(&failed, "aws")["functions"][0]["outcome"]["kind"],
        "updated_code_and_configuration",
        "{failed:#}"
    );
    stage.gcp.refuse_all(None);

    // A function failing midway fails its cloud; the pointer stays.
    stage.aws.fail_next(Step::MovePointer, "shop-dev-api");
    let before = stage.aws.live_release("shop-dev-api");
    let (failed, result) = stage.run(&["deploy", "--force", "--cloud", "aws"]);
    assert_eq!(result.unwrap_err().exit_code(), 1);
    assert_eq!(section(&failed, "aws")["status"], "failed");
    assert_eq!(stage.aws.live_release("shop-dev-api"), before);

    // Asking for a cloud strata cannot deploy to is an error, not a silent success.
    let (azure, result) = stage.run(&["deploy", "--cloud", "azure"]);
    let error = result.unwrap_err();
    assert!(error.message.contains("Azure Functions"), "{error:?}");
    assert_eq!(section(&azure, "azure")["status"], "not_deployable");

    // remove reaches both and deletes what strata made.
    let (removed, result) = stage.run(&["remove", "--yes"]);
    result.unwrap();
    assert_eq!(clouds(&removed), ["aws", "azure", "gcp"]);
    assert!(!stage.aws.exists("shop-dev-api"));
    assert!(!stage.gcp.exists("shop-dev-report"));
}
