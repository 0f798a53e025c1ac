//! The GitHub Action (`action.yml`) run the way the runner runs a composite action: its shell
//! steps in order with `bash --noprofile --norc -eo pipefail`, their `env:` expressions
//! evaluated, and `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, `GITHUB_ENV` and `GITHUB_PATH`
//! pointing at temporary files that carry over from step to step as on a runner. The install
//! step gets a release archive packed by `scripts/release-archive` (what the release workflow
//! publishes) from the locally built binary, through `STRATA_RELEASE_BASE_URL`; deploys go to
//! moto. `uses:` steps (actions/cache) are the runner's own and are not run: a second job
//! "restores" the cache by getting the same `runner.temp`, the path the cache step saves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use strata_tests::{LocalIndex, WheelBuilder};

use crate::aws_deploy::Project;
use crate::support::workspace;

/// A value the manifest's environment gives a name that looks secret.
const CANARY: &str = "gha-canary-5d0c71e2";

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    strata_manifest::yaml_to_json(&text)
        .unwrap_or_else(|error| panic!("{} is not YAML: {error}", path.display()))
}

/// The version the action installs by default: the workspace's.
fn version() -> String {
    let manifest = std::fs::read_to_string(workspace().join("Cargo.toml")).unwrap();
    manifest
        .lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("the workspace's version")
        .to_owned()
}

/// The binary under test packed as the release workflow packs the Linux x86_64 target (once
/// per test process: packing 80 MB takes seconds), copied into `dist`.
fn release_archive_of_strata(dist: &Path) -> PathBuf {
    static PACKED: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, archive) = PACKED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let archive = release_archive(
            crate::support::strata_binary(),
            dir.path(),
            "x86_64-unknown-linux-musl",
        );
        (dir, archive)
    });
    let name = archive.file_name().unwrap();
    let checksum = format!("{}.sha256", name.to_string_lossy());
    std::fs::copy(archive, dist.join(name)).unwrap();
    std::fs::copy(archive.with_file_name(&checksum), dist.join(&checksum)).unwrap();
    dist.join(name)
}

/// Packs `binary` as the release workflow packs `target`, into `dist`.
fn release_archive(binary: &Path, dist: &Path, target: &str) -> PathBuf {
    let output = Command::new(workspace().join("scripts/release-archive"))
        .args([version().as_str(), target])
        .arg(binary)
        .arg(dist)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "release-archive failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// What one run of the action left behind.
struct ActionRun {
    success: bool,
    /// Everything the steps printed, stdout and stderr, in step order.
    log: String,
    /// The action's `outputs:`, evaluated as the runner would.
    outputs: BTreeMap<String, String>,
    steps: BTreeMap<String, BTreeMap<String, String>>,
    summary: String,
    /// Every file the runner would read after the job (outputs, env, summary).
    files: Vec<String>,
}

impl ActionRun {
    /// The JSON report the `report` output names.
    fn report(&self) -> Value {
        let path = &self.outputs["report"];
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }
}

/// A runner for the action in `workspace()`: one per simulated job.
struct Runner {
    action: Value,
    temp: tempfile::TempDir,
    /// Where the release archives are served from (`file://`).
    dist: PathBuf,
    base_env: Vec<(String, String)>,
    workspace: PathBuf,
}

impl Runner {
    fn new(project: &Project, dist: &Path) -> Self {
        Self::in_temp(project, dist, tempfile::tempdir().unwrap())
    }

    fn in_temp(project: &Project, dist: &Path, temp: tempfile::TempDir) -> Self {
        Self {
            action: yaml(&workspace().join("action.yml")),
            temp,
            dist: dist.to_path_buf(),
            base_env: project.env.clone(),
            workspace: project.path().to_path_buf(),
        }
    }

    /// `${{ … }}` in `text`, evaluated from the inputs and the earlier steps' outputs.
    fn evaluate(
        &self,
        text: &str,
        inputs: &BTreeMap<String, String>,
        steps: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("closed expression") + start;
            let expression = rest[start + 3..end].trim();
            let value = if let Some(name) = expression.strip_prefix("inputs.") {
                inputs.get(name).cloned().unwrap_or_default()
            } else if expression == "runner.temp" {
                self.temp.path().display().to_string()
            } else if expression == "github.action_path" {
                workspace().display().to_string()
            } else if let Some(path) = expression.strip_prefix("steps.") {
                let (step, output) = path.split_once(".outputs.").expect("steps.<id>.outputs.x");
                steps
                    .get(step)
                    .and_then(|outputs| outputs.get(output))
                    .cloned()
                    .unwrap_or_default()
            } else {
                panic!("the test runner cannot evaluate `{expression}` (in `{text}`)")
            };
            out.push_str(&value);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn run(&self, given: &[(&str, &str)]) -> ActionRun {
        let mut inputs: BTreeMap<String, String> = BTreeMap::new();
        for (name, spec) in self.action["inputs"].as_object().unwrap() {
            inputs.insert(
                name.clone(),
                spec["default"].as_str().unwrap_or_default().to_owned(),
            );
        }
        for (name, value) in given {
            assert!(inputs.contains_key(*name), "action.yml has no input {name}");
            inputs.insert((*name).to_owned(), (*value).to_owned());
        }
        let files = self.temp.path().join("runner-files");
        std::fs::create_dir_all(&files).unwrap();
        let github_env = files.join("env");
        let github_path = files.join("path");
        std::fs::write(&github_env, "").unwrap();
        std::fs::write(&github_path, "").unwrap();
        let tool_cache = self.temp.path().join("tool-cache");

        let mut run = ActionRun {
            success: true,
            log: String::new(),
            outputs: BTreeMap::new(),
            steps: BTreeMap::new(),
            summary: String::new(),
            files: Vec::new(),
        };
        let steps = self.action["runs"]["steps"].as_array().unwrap();
        for (index, step) in steps.iter().enumerate() {
            if step.get("uses").is_some() {
                continue;
            }
            assert!(
                step.get("if").is_none(),
                "the test runner does not evaluate `if:` on shell steps"
            );
            assert_eq!(step["shell"], "bash", "every shell step runs in bash");
            let id = step["id"]
                .as_str()
                .map_or(format!("step{index}"), str::to_owned);
            let script = self.temp.path().join(format!("{id}.sh"));
            std::fs::write(&script, step["run"].as_str().unwrap()).unwrap();
            let output_file = files.join(format!("{id}-output"));
            let summary_file = files.join(format!("{id}-summary"));
            std::fs::write(&output_file, "").unwrap();
            std::fs::write(&summary_file, "").unwrap();

            let mut env: BTreeMap<String, String> = self.base_env.iter().cloned().collect();
            // GITHUB_ENV lines of earlier steps, then GITHUB_PATH entries in front of PATH.
            env.extend(parse_outputs(
                &std::fs::read_to_string(&github_env).unwrap(),
            ));
            let mut path: Vec<String> = std::fs::read_to_string(&github_path)
                .unwrap()
                .lines()
                .rev()
                .map(str::to_owned)
                .collect();
            path.push(env.get("PATH").cloned().unwrap_or_default());
            env.insert("PATH".into(), path.join(":"));
            for (key, value) in [
                ("GITHUB_ACTIONS", "true".to_owned()),
                ("GITHUB_ACTION_PATH", workspace().display().to_string()),
                ("GITHUB_WORKSPACE", self.workspace.display().to_string()),
                ("GITHUB_OUTPUT", output_file.display().to_string()),
                ("GITHUB_STEP_SUMMARY", summary_file.display().to_string()),
                ("GITHUB_ENV", github_env.display().to_string()),
                ("GITHUB_PATH", github_path.display().to_string()),
                ("RUNNER_OS", "Linux".to_owned()),
                ("RUNNER_ARCH", "X64".to_owned()),
                ("RUNNER_TEMP", self.temp.path().display().to_string()),
                ("RUNNER_TOOL_CACHE", tool_cache.display().to_string()),
                (
                    "STRATA_RELEASE_BASE_URL",
                    format!("file://{}", self.dist.display()),
                ),
            ] {
                env.insert(key.to_owned(), value);
            }
            for (key, value) in step["env"].as_object().into_iter().flatten() {
                let value = self.evaluate(value.as_str().unwrap(), &inputs, &run.steps);
                env.insert(key.clone(), value);
            }
            let directory = match step["working-directory"].as_str() {
                Some(dir) => self.workspace.join(self.evaluate(dir, &inputs, &run.steps)),
                None => self.workspace.clone(),
            };
            let output = Command::new("bash")
                .args(["--noprofile", "--norc", "-eo", "pipefail"])
                .arg(&script)
                .current_dir(&directory)
                .env_clear()
                .envs(&env)
                .output()
                .unwrap();
            run.log.push_str(&String::from_utf8_lossy(&output.stdout));
            run.log.push_str(&String::from_utf8_lossy(&output.stderr));
            let outputs = std::fs::read_to_string(&output_file).unwrap();
            let summary = std::fs::read_to_string(&summary_file).unwrap();
            run.files.push(outputs.clone());
            run.files.push(summary.clone());
            run.summary.push_str(&summary);
            run.steps.insert(id, parse_outputs(&outputs));
            if !output.status.success() {
                run.success = false;
                break;
            }
        }
        run.files
            .push(std::fs::read_to_string(&github_env).unwrap());
        for (name, spec) in self.action["outputs"].as_object().unwrap() {
            let value = self.evaluate(spec["value"].as_str().unwrap(), &inputs, &run.steps);
            run.outputs.insert(name.clone(), value);
        }
        run
    }
}

/// `name=value` lines and `name<<DELIMITER` blocks, as the runner reads `GITHUB_OUTPUT` and
/// `GITHUB_ENV`.
fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for next in lines.by_ref() {
                if next == delimiter {
                    break;
                }
                value.push(next);
            }
            values.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            values.insert(name.to_owned(), value.to_owned());
        }
    }
    values
}

/// A project with a requirements layer from a local index and two functions, one of them
/// given a secret-looking environment value.
fn layer_project(index: &LocalIndex) -> Project {
    let mut project = Project::new("gha");
    project.set_env("PIP_INDEX_URL", &index.url());
    project.set_env("API_TOKEN", CANARY);
    project.write(
        "serverless.yml",
        &format!(
            "service: {}\n\
             provider:\n  name: aws\n  runtime: python3.12\n  stage: prod\n  environment:\n    API_TOKEN: ${{env:API_TOKEN}}\n\
             plugins:\n  - serverless-python-requirements\n\
             custom:\n  pythonRequirements:\n    layer: true\n\
             package:\n  patterns:\n    - '!**'\n    - '*.py'\n\
             functions:\n  hello:\n    handler: handler.hello\n    layers:\n      - Ref: PythonRequirementsLambdaLayer\n  world:\n    handler: handler.world\n",
            project.service
        ),
    );
    project.write(
        "handler.py",
        "import tinydep\n\ndef hello(event, context):\n    return 1\n\ndef world(event, context):\n    return 2\n",
    );
    project.write("requirements.txt", "tinydep==1.0\n");
    project
}

fn assert_no_canary(run: &ActionRun) {
    for line in run.log.lines() {
        assert!(
            !line.contains(CANARY) || line == format!("::add-mask::{CANARY}"),
            "the secret reached the log outside ::add-mask::: {line}"
        );
    }
    assert!(
        run.log.contains(&format!("::add-mask::{CANARY}")),
        "positive control: the secret is masked before anything prints"
    );
    for file in &run.files {
        assert!(
            !file.contains(CANARY),
            "a runner file holds the secret:\n{file}"
        );
    }
}

#[test]
fn the_action_plans_deploys_and_a_later_job_reuses_the_cached_layer() {
    let wheels = tempfile::tempdir().unwrap();
    WheelBuilder::new("tinydep", "1.0")
        .write_to(wheels.path())
        .unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    let dist = tempfile::tempdir().unwrap();
    release_archive_of_strata(dist.path());
    let project = layer_project(&index);
    let runner = Runner::new(&project, dist.path());

    // A pull request: plan. The summary lists each change.
    let plan = runner.run(&[("command", "plan"), ("stage", "prod")]);
    assert!(plan.success, "{}", plan.log);
    assert_eq!(plan.steps["install"]["source"], "release", "{}", plan.log);
    assert_eq!(plan.steps["install"]["version"], version());
    assert!(
        plan.summary.contains(&format!(
            "## strata plan: `{}`, stage `prod`",
            project.service
        )),
        "{}",
        plan.summary
    );
    for function in ["hello", "world"] {
        let row = format!("| `{}-prod-{function}` | create |", project.service);
        assert!(
            plan.summary.contains(&row),
            "{row} missing:\n{}",
            plan.summary
        );
    }
    assert_eq!(plan.outputs["changed"], "2");
    // What the plan built, each layer against Lambda's unzipped budget.
    let layer_row = plan
        .summary
        .lines()
        .find(|line| line.starts_with("| `aws/layers/"))
        .unwrap_or_else(|| panic!("no layer row:\n{}", plan.summary));
    assert!(layer_row.contains(" % | built |"), "{layer_row}");
    assert_no_canary(&plan);

    // A push to main: deploy. The outputs name what changed, for a later step.
    let deploy = runner.run(&[("command", "deploy"), ("stage", "prod")]);
    assert!(deploy.success, "{}", deploy.log);
    assert_eq!(deploy.outputs["changed"], "2");
    let functions: Value = serde_json::from_str(&deploy.outputs["functions"]).unwrap();
    assert_eq!(functions.as_array().unwrap().len(), 2, "{functions:#}");
    for function in functions.as_array().unwrap() {
        assert_eq!(function["cloud"], "aws");
        assert_eq!(function["outcome"], "created");
        assert_eq!(function["release"], "1");
        let id = function["id"].as_str().unwrap();
        assert!(
            id.ends_with(&format!(
                ":function:{}:prod",
                function["deployed_name"].as_str().unwrap()
            )),
            "{id}"
        );
    }
    let report = deploy.report();
    assert_eq!(report["kind"], "deploy");
    assert_eq!(report["success"], true);
    assert!(
        deploy.summary.contains("| created | 1 |"),
        "{}",
        deploy.summary
    );
    assert!(
        !deploy.log.contains("\u{1b}["),
        "no colour in a runner's log"
    );
    assert_no_canary(&deploy);

    // The next job: a fresh checkout (no .strata/) on another runner whose cache step
    // restored runner.temp/strata-cache. The layer comes from the cache, unbuilt.
    let checkout = Project::new("gha");
    for file in ["serverless.yml", "handler.py", "requirements.txt"] {
        checkout.write(
            file,
            &std::fs::read_to_string(project.path().join(file)).unwrap(),
        );
    }
    let mut next = Runner::in_temp(&checkout, dist.path(), runner.temp);
    next.base_env = project.env.clone();
    let package = next.run(&[
        ("command", "package"),
        ("stage", "prod"),
        ("args", "--layers-only"),
    ]);
    assert!(package.success, "{}", package.log);
    let built = package.report();
    let layers: Vec<&Value> = built["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|artifact| artifact["kind"] == "layer")
        .collect();
    assert_eq!(layers.len(), 1, "{built:#}");
    assert_eq!(layers[0]["reused"], true, "{built:#}");
    assert!(
        package.summary.contains("| reused |"),
        "{}",
        package.summary
    );

    // And a deploy from it changes nothing.
    let again = next.run(&[("command", "deploy"), ("stage", "prod")]);
    assert!(again.success, "{}", again.log);
    assert_eq!(again.outputs["changed"], "0", "{}", again.summary);
    project.clean_up();
}

/// (line, column) of the first occurrence of `needle` in `text`, 1-based.
fn position(text: &str, needle: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .find_map(|(index, line)| line.find(needle).map(|column| (index + 1, column + 1)))
        .unwrap_or_else(|| panic!("{needle} not in the manifest"))
}

#[test]
fn manifest_problems_become_annotations_on_the_diff() {
    let project = Project::new("gha");
    let manifest = format!(
        "service: {}\n\
         provider:\n  name: aws\n  runtime: python3.12\n\
         functions:\n  hello:\n    handler: handler.hello\n    memorySize: lots\n  world:\n    handler: handler.world\n    timeout: -5\n",
        project.service
    );
    // In a subdirectory of the checkout, as monorepos keep services.
    project.write("svc/serverless.yml", &manifest);
    project.write(
        "svc/handler.py",
        "def hello(e, c):\n    return 1\n\ndef world(e, c):\n    return 2\n",
    );
    let dist = tempfile::tempdir().unwrap();
    release_archive_of_strata(dist.path());
    let runner = Runner::new(&project, dist.path());

    let run = runner.run(&[("command", "validate"), ("working-directory", "svc")]);
    assert!(
        !run.success,
        "an invalid manifest fails the step:\n{}",
        run.log
    );
    let annotations: Vec<&str> = run
        .log
        .lines()
        .filter(|line| line.starts_with("::error file="))
        .collect();
    assert_eq!(annotations.len(), 2, "{}", run.log);
    for (annotation, needle) in annotations.iter().zip(["lots", "-5"]) {
        let (line, column) = position(&manifest, needle);
        let place = format!("::error file=svc/serverless.yml,line={line},col={column},");
        assert!(
            annotation.starts_with(&place),
            "{annotation} is not at {place}"
        );
    }
    // A warning is annotated too, and does not fail the step.
    let warned = manifest
        .replace("memorySize: lots", "memorySize: 256")
        .replace("timeout: -5", "runtime: python3.9");
    project.write("svc/serverless.yml", &warned);
    let warning_run = runner.run(&[("command", "validate"), ("working-directory", "svc")]);
    assert!(warning_run.success, "{}", warning_run.log);
    let (line, column) = position(&warned, "python3.9");
    let place = format!("::warning file=svc/serverless.yml,line={line},col={column},");
    assert!(
        warning_run.log.lines().any(|l| l.starts_with(&place)),
        "no {place} in:\n{}",
        warning_run.log
    );
    assert!(
        run.log
            .lines()
            .any(|line| line.starts_with("::error title=strata::") && line.contains("2 problems")),
        "{}",
        run.log
    );
}

#[test]
fn the_install_step_refuses_a_binary_that_does_not_match_its_checksum() {
    let project = Project::new("gha");
    project.write("strata.yml", "service: x\n");
    let dist = tempfile::tempdir().unwrap();
    let archive = release_archive_of_strata(dist.path());
    let checksum = PathBuf::from(format!("{}.sha256", archive.display()));
    let text = std::fs::read_to_string(&checksum).unwrap();
    // Positive control first: the untouched release installs.
    let good = Runner::new(&project, dist.path()).run(&[("command", "validate")]);
    assert_eq!(good.steps["install"]["source"], "release", "{}", good.log);

    std::fs::write(&checksum, format!("{}{}", "0".repeat(64), &text[64..])).unwrap();
    let bad = Runner::new(&project, dist.path()).run(&[("command", "validate")]);
    assert!(!bad.success);
    assert!(
        bad.log.contains("does not match its published sha256"),
        "{}",
        bad.log
    );
    assert!(
        !bad.steps.contains_key("run"),
        "strata ran although its checksum did not match"
    );
    assert!(
        !bad.steps["install"].contains_key("source"),
        "a mismatch must not fall back to building: {:?}",
        bad.steps["install"]
    );
}

#[test]
fn without_a_released_binary_the_install_step_builds_the_actions_own_source() {
    let mut project = Project::new("gha");
    project.write("strata.yml", "service: x\n");
    // A `cargo` that records its arguments and "installs" the binary under test.
    let tools = tempfile::tempdir().unwrap();
    let log = tools.path().join("cargo-args");
    std::fs::write(
        tools.path().join("cargo"),
        format!(
            "#!/bin/sh\necho \"$@\" > '{}'\nwhile [ \"$1\" != --root ]; do shift; done\nmkdir -p \"$2/bin\"\ncp '{}' \"$2/bin/strata\"\n",
            log.display(),
            crate::support::strata_binary().display()
        ),
    )
    .unwrap();
    crate::support::set_mode(&tools.path().join("cargo"), 0o755);
    let path = project
        .env
        .iter()
        .find(|(key, _)| key == "PATH")
        .map(|(_, value)| value.clone())
        .unwrap();
    project.set_env("PATH", &format!("{}:{path}", tools.path().display()));
    let empty = tempfile::tempdir().unwrap();

    let run = Runner::new(&project, empty.path()).run(&[("command", "validate")]);
    assert!(run.success, "{}", run.log);
    assert_eq!(run.steps["install"]["source"], "cargo");
    let args = std::fs::read_to_string(&log).unwrap();
    assert!(args.starts_with("install --locked"), "{args}");
    assert!(
        args.trim_end()
            .ends_with(&format!("--path {}/crates/strata", workspace().display())),
        "{args}"
    );
}

#[test]
fn the_release_workflow_builds_every_target_the_install_step_asks_for() {
    let release = yaml(&workspace().join(".github/workflows/release.yml"));
    let mut released: Vec<String> = release["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["target"].as_str().unwrap().to_owned())
        .collect();
    released.sort();
    let mut asked: Vec<String> = [
        ("Linux", "X64"),
        ("Linux", "ARM64"),
        ("macOS", "X64"),
        ("macOS", "ARM64"),
        ("Windows", "X64"),
    ]
    .iter()
    .map(|(os, arch)| {
        let output = Command::new(workspace().join("action/target.sh"))
            .env("RUNNER_OS", os)
            .env("RUNNER_ARCH", arch)
            .output()
            .unwrap();
        assert!(output.status.success(), "no target for {os}/{arch}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    })
    .collect();
    asked.sort();
    assert_eq!(released, asked);

    // The publish job packs with the same script the install test uses.
    let publish = release["jobs"]["publish"]["steps"].to_string();
    assert!(publish.contains("scripts/release-archive"), "{publish}");
    assert!(publish.contains("SHA256SUMS"), "{publish}");

    // The layout install.sh expects: strata-<version>-<target>/strata(.exe) inside.
    // A small stand-in for the binary: the layout does not depend on its contents.
    let dist = tempfile::tempdir().unwrap();
    let binary = dist.path().join("built-binary");
    std::fs::write(&binary, "#!/bin/sh\necho strata\n").unwrap();
    for target in ["x86_64-unknown-linux-musl", "x86_64-pc-windows-msvc"] {
        let archive = release_archive(&binary, dist.path(), target);
        let listing = Command::new("tar")
            .arg("-tzf")
            .arg(&archive)
            .output()
            .unwrap();
        let listing = String::from_utf8(listing.stdout).unwrap();
        let exe = if target.contains("windows") {
            "strata.exe"
        } else {
            "strata"
        };
        let expected = format!("strata-{}-{target}/{exe}", version());
        assert!(listing.lines().any(|line| line == expected), "{listing}");
        // The same binary packs to the same bytes.
        let first = std::fs::read(&archive).unwrap();
        release_archive(&binary, dist.path(), target);
        assert_eq!(first, std::fs::read(&archive).unwrap());
    }
}

fn check_jsonschema() -> PathBuf {
    let venv = workspace().join(".tools/venv/bin/check-jsonschema");
    assert!(
        venv.exists(),
        "check-jsonschema is not installed in .tools/venv: run scripts/test, which installs \
         scripts/test-tools.txt"
    );
    venv
}

fn validates(schema: &str, file: &Path) -> (bool, String) {
    let output = Command::new(check_jsonschema())
        .args(["--builtin-schema", schema])
        .arg(file)
        .output()
        .unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn the_action_and_the_workflows_validate_against_githubs_schemas() {
    let root = workspace();
    let (ok, text) = validates("vendor.github-actions", &root.join("action.yml"));
    assert!(ok, "{text}");
    for workflow in ["ci.yml", "release.yml"] {
        let (ok, text) = validates(
            "vendor.github-workflows",
            &root.join(".github/workflows").join(workflow),
        );
        assert!(ok, "{workflow}: {text}");
    }
    // The complete workflows the README offers to copy validate too.
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let copies = tempfile::tempdir().unwrap();
    let mut complete = 0;
    for (index, block) in readme.split("```yaml\n").skip(1).enumerate() {
        let block = block.split("```").next().unwrap();
        if !block.starts_with("name:") {
            continue;
        }
        complete += 1;
        let file = copies.path().join(format!("readme-{index}.yml"));
        std::fs::write(&file, block).unwrap();
        let (ok, text) = validates("vendor.github-workflows", &file);
        assert!(ok, "README workflow {index}:\n{block}\n{text}");
        assert!(block.contains("id-token: write"), "{block}");
        assert!(block.contains("uses: strata-deploy/strata@v1"), "{block}");
    }
    assert!(
        complete >= 2,
        "the README's complete workflows were not found"
    );
    // Positive control: the validator does reject a broken action.
    let broken = tempfile::tempdir().unwrap();
    let action = std::fs::read_to_string(root.join("action.yml"))
        .unwrap()
        .replace("using: composite", "using: compost");
    std::fs::write(broken.path().join("action.yml"), action).unwrap();
    let (ok, _) = validates("vendor.github-actions", &broken.path().join("action.yml"));
    assert!(!ok, "check-jsonschema accepted `using: compost`");
}
