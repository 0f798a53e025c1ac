//! serverless.yml files that Serverless v3 accepts load as v3 reads them: list-form
//! `functions:`, booleans given as text, plugin keys, `configValidationMode`, mixed runtimes,
//! and variables that need the cloud, fetched through a resolver the caller gives.

use std::sync::{Arc, Mutex};

use strata_manifest::{
    CloudAccess, CloudError, CloudRequest, CloudSource, CloudValue, CloudVariables, Diagnostic,
    LoadOptions, Loaded, ManifestError, Severity, load, resolve_document,
};

const HANDLER: &str = "def main(event, context):\n    return 1\n";

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(manifest: &str) -> Self {
        Self::named("serverless.yml", manifest)
    }

    fn named(name: &str, manifest: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join(name), manifest).unwrap();
        fs_err::write(dir.path().join("handler.py"), HANDLER).unwrap();
        Self { dir }
    }

    fn file(self, name: &str, text: &str) -> Self {
        fs_err::write(self.dir.path().join(name), text).unwrap();
        self
    }

    fn options(&self) -> LoadOptions {
        LoadOptions {
            project_dir: self.dir.path().to_path_buf(),
            ..LoadOptions::default()
        }
    }

    fn load_with(&self, options: &LoadOptions) -> Result<Loaded, Vec<String>> {
        load(options).map_err(|error| match error {
            ManifestError::Invalid { diagnostics, .. } => {
                diagnostics.iter().map(ToString::to_string).collect()
            }
            other => panic!("{other}"),
        })
    }

    fn load(&self, env: &[(&str, &str)]) -> Result<Loaded, Vec<String>> {
        let mut options = self.options();
        options.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.load_with(&options)
    }
}

fn warnings(loaded: &Loaded) -> Vec<String> {
    loaded.warnings.iter().map(ToString::to_string).collect()
}

#[test]
fn functions_given_as_a_list_of_maps_are_merged() {
    let project = Project::new(
        "service: app\nprovider: {name: aws, runtime: python3.12}\nfunctions:\n  - ${file(fns.yml)}\n  - second: {handler: handler.main, memorySize: 256}\n",
    )
    .file(
        "fns.yml",
        "first:\n  handler: handler.main\nsecond:\n  handler: handler.main\n  timeout: 30\n",
    );
    let loaded = project.load(&[]).unwrap();
    let functions = &loaded.config.functions;
    assert_eq!(
        functions.keys().collect::<Vec<_>>(),
        ["first", "second"],
        "{functions:#?}"
    );
    assert_eq!(functions["second"].memory_size, 256);
    assert_eq!(functions["second"].timeout, 30);
}

#[test]
fn booleans_written_as_text_are_coerced_as_v3_does() {
    let project = Project::new(
        "service: app\nplugins: [serverless-python-requirements]\nprovider:\n  name: aws\n  runtime: python3.12\n  versionFunctions: ${env:VERSIONS}\npackage:\n  individually: 'true'\ncustom:\n  pythonRequirements:\n    zip: ${env:ZIP, 'false'}\n    slim: 'true'\n    slimPatterns: false\n    layer: ${env:LAYER}\nfunctions:\n  hello: {handler: handler.main}\n",
    );
    let loaded = project
        .load(&[("VERSIONS", "false"), ("LAYER", "true")])
        .unwrap();
    let config = &loaded.config;
    assert!(!config.aws.as_ref().unwrap().version_functions);
    assert!(config.package.individually);
    assert!(!config.python_requirements.zip);
    assert!(config.python_requirements.slim);
    assert!(config.python_requirements.slim_patterns.is_empty());
    assert!(config.python_requirements.layer.is_some());
    assert_eq!(config.document["package"]["individually"], true);
}

#[test]
fn keys_of_listed_plugins_are_kept_with_a_warning_naming_the_plugin() {
    let project = Project::new(
        "service: app\nplugins:\n  - serverless-step-functions\n  - serverless-iam-roles-per-function\nprovider: {name: aws, runtime: python3.12}\nconfigValidationMode: error\nstepFunctions:\n  stateMachines: {}\nconstructs:\n  jobs: {type: queue}\nfunctions:\n  hello:\n    handler: handler.main\n    iamRoleStatements:\n      - {Effect: Allow, Action: ['s3:GetObject'], Resource: '*'}\n",
    );
    let loaded = project.load(&[]).unwrap();
    let warnings = warnings(&loaded);
    let about = |key: &str| {
        warnings
            .iter()
            .find(|w| w.contains(&format!("`{key}` belongs to the plugin")))
            .unwrap_or_else(|| panic!("no warning about {key}: {warnings:#?}"))
            .clone()
    };
    assert!(about("stepFunctions").contains("serverless-step-functions"));
    assert!(about("constructs").contains("serverless-lift"));
    assert!(about("iamRoleStatements").contains("serverless-iam-roles-per-function"));
    assert!(loaded.config.document["stepFunctions"].is_object());
}

#[test]
fn config_validation_mode_decides_what_an_unknown_key_is() {
    let manifest = |mode: &str| {
        format!(
            "service: app\n{mode}provider: {{name: aws, runtime: python3.12, memorysize: 512}}\nfunctions:\n  hello: {{handler: handler.main}}\n"
        )
    };
    let default = Project::new(&manifest("")).load(&[]).unwrap();
    let unknown: Vec<&Diagnostic> = default
        .warnings
        .iter()
        .filter(|w| w.message.contains("unknown key `memorysize`"))
        .collect();
    assert_eq!(unknown.len(), 1, "{:#?}", default.warnings);
    assert_eq!(unknown[0].severity, Severity::Warning);

    let off = Project::new(&manifest("configValidationMode: off\n"))
        .load(&[])
        .unwrap();
    assert!(
        !off.warnings
            .iter()
            .any(|w| w.message.contains("memorysize")),
        "{:#?}",
        off.warnings
    );

    let errors = Project::new(&manifest("configValidationMode: error\n"))
        .load(&[])
        .unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("unknown key `memorysize`")),
        "{errors:#?}"
    );

    let strict = Project::named("strata.yml", &manifest("configValidationMode: off\n"))
        .load(&[])
        .unwrap_err();
    assert!(
        strict
            .iter()
            .any(|e| e.contains("unknown key `memorysize`")),
        "{strict:#?}"
    );
}

#[test]
fn every_key_of_v3s_schema_is_known() {
    let project = Project::new(
        "service: app\nconfigValidationMode: error\nprojectDir: ../\nprovider:\n  name: aws\n  runtime: python3.12\n  vpcEndpointIds: [vpce-1]\n  kinesis: {consumerNamingMode: serviceSpecific}\npackage: {path: build}\nfunctions:\n  hello:\n    handler: handler.main\n    awsKmsKeyArn: arn:aws:kms:us-east-1:123456789012:key/1\n    logDataProtectionPolicy: {Name: p}\n    httpApi: {payload: '2.0'}\n",
    );
    let loaded = project.load(&[]).unwrap();
    assert!(
        !loaded
            .warnings
            .iter()
            .any(|w| w.message.contains("unknown key")),
        "{:#?}",
        loaded.warnings
    );
}

#[test]
fn non_python_functions_are_left_alone_and_python_ones_still_build() {
    let project = Project::new(
        "service: app\nprovider: {name: aws, runtime: nodejs20.x}\nfunctions:\n  web:\n    handler: index.handler\n  api:\n    handler: handler.main\n    runtime: python3.12\n  java:\n    handler: com.example.Handler\n    runtime: java21\n",
    );
    let loaded = project.load(&[]).unwrap();
    assert_eq!(loaded.config.functions.keys().collect::<Vec<_>>(), ["api"]);
    let skipped: Vec<&Diagnostic> = loaded
        .warnings
        .iter()
        .filter(|w| w.message.contains("is not strata's to build"))
        .collect();
    assert_eq!(
        skipped
            .iter()
            .map(|w| w.key_path.as_str())
            .collect::<Vec<_>>(),
        ["functions.web", "functions.java"]
    );
}

#[test]
fn plugin_warnings_point_at_their_own_line() {
    let project = Project::new(
        "service: app\nplugins:\n  - serverless-python-requirements\n  - serverless-offline\n  - serverless-prune-plugin\nprovider: {name: aws, runtime: python3.12}\nfunctions:\n  hello: {handler: handler.main}\n",
    );
    let loaded = project.load(&[]).unwrap();
    let lines: Vec<(usize, &str)> = loaded
        .warnings
        .iter()
        .filter(|w| w.key_path.starts_with("plugins"))
        .map(|w| (w.line, w.key_path.as_str()))
        .collect();
    assert_eq!(lines, [(4, "plugins[1]"), (5, "plugins[2]")]);
}

#[test]
fn aws_region_follows_the_region_flag() {
    let project = Project::new(
        "service: app\nprovider: {name: aws, runtime: python3.12}\ncustom:\n  a: ${aws:region}\n  b: ${opt:region, self:provider.region}\n  c: ${self:provider.region}\nfunctions:\n  hello: {handler: handler.main}\n",
    );
    let mut options = project.options();
    options.region = Some("eu-central-1".to_owned());
    let loaded = project.load_with(&options).unwrap();
    assert_eq!(loaded.config.custom["a"], "eu-central-1");
    assert_eq!(loaded.config.custom["b"], "eu-central-1");
    assert_eq!(loaded.config.custom["c"], "eu-central-1");
    let defaults = project.load(&[]).unwrap();
    assert_eq!(defaults.config.custom["a"], "us-east-1");
    assert_eq!(defaults.config.custom["b"], "us-east-1");
}

/// Answers from a table and records every request.
#[derive(Default)]
struct FakeCloud {
    requests: Mutex<Vec<CloudRequest>>,
}

impl CloudVariables for FakeCloud {
    fn fetch(&self, request: &CloudRequest) -> Result<Option<CloudValue>, CloudError> {
        self.requests.lock().unwrap().push(request.clone());
        Ok(match &request.source {
            CloudSource::Parameter { name, .. } => match name.as_str() {
                "/app/url" => Some(CloudValue::Plain("https://example.com".to_owned())),
                "/app/hosts" => Some(CloudValue::List("a,b".to_owned())),
                "/app/password" => Some(CloudValue::Secure("hunter2".to_owned())),
                "/app/db" => Some(CloudValue::Secure(
                    r#"{"user": "u", "pass": "p4ss"}"#.to_owned(),
                )),
                "/app/broken" => return Err("AccessDeniedException: not allowed".into()),
                _ => None,
            },
            CloudSource::StackOutput { stack, output } => {
                Some(CloudValue::Plain(format!("{stack}/{output}")))
            }
            CloudSource::Object { bucket, key } => {
                Some(CloudValue::Plain(format!("{bucket}:{key}")))
            }
            CloudSource::AccountId => Some(CloudValue::Plain("123456789012".to_owned())),
        })
    }
}

const CLOUD_MANIFEST: &str = "service: app\nprovider:\n  name: aws\n  runtime: python3.12\n  region: eu-west-1\n  profile: deployer\n  environment:\n    URL: ${ssm:/app/url}\n    URL_AGAIN: ${ssm:/app/url}\n    PASSWORD: ${ssm:/app/password}\n    QUEUE: ${cf:infra.QueueUrl}\n    ACCOUNT: ${aws:accountId}\n    CONFIG: ${s3:bucket/config.txt}\n    OPTIONAL: ${ssm:/app/missing, 'fallback'}\n    OTHER_REGION: ${ssm(us-west-2):/app/url}\ncustom:\n  hosts: ${ssm:/app/hosts}\n  db: ${ssm:/app/db}\nfunctions:\n  hello: {handler: handler.main}\n";

#[test]
fn cloud_variables_are_fetched_with_the_manifests_region_and_profile() {
    let project = Project::new(CLOUD_MANIFEST);
    let cloud = Arc::new(FakeCloud::default());
    let mut options = project.options();
    options.cloud = CloudAccess::Resolve(cloud.clone());
    let loaded = project.load_with(&options).unwrap();
    let config = &loaded.config;
    let environment = &config.functions["hello"].environment;
    assert_eq!(environment["URL"], "https://example.com");
    assert_eq!(environment["QUEUE"], "infra/QueueUrl");
    assert_eq!(environment["ACCOUNT"], "123456789012");
    assert_eq!(environment["CONFIG"], "bucket:config.txt");
    assert_eq!(environment["OPTIONAL"], "fallback");
    assert_eq!(environment["PASSWORD"], "hunter2");
    assert_eq!(config.custom["hosts"], serde_json::json!(["a", "b"]));
    assert_eq!(config.custom["db"]["pass"], "p4ss");
    for secret in ["hunter2", "p4ss"] {
        assert!(
            config.secure_values.iter().any(|v| v == secret),
            "{:?}",
            config.secure_values
        );
    }
    assert!(
        !config
            .secure_values
            .iter()
            .any(|v| v == "https://example.com")
    );

    let requests = cloud.requests.lock().unwrap();
    let url_requests: Vec<&CloudRequest> = requests
        .iter()
        .filter(|r| matches!(&r.source, CloudSource::Parameter { name, .. } if name == "/app/url"))
        .collect();
    // Fetched once per region, however often it is used.
    assert_eq!(
        url_requests
            .iter()
            .map(|r| r.region.as_str())
            .collect::<Vec<_>>(),
        ["eu-west-1", "us-west-2"]
    );
    assert!(
        requests
            .iter()
            .all(|r| r.profile.as_deref() == Some("deployer"))
    );
}

#[test]
fn a_cloud_variable_that_cannot_be_read_is_one_error_naming_the_cause() {
    let project = Project::new(
        "service: app\nprovider:\n  name: aws\n  runtime: python3.12\n  environment:\n    X: ${ssm:/app/broken}\nfunctions:\n  hello: {handler: handler.main}\n",
    );
    let mut options = project.options();
    options.cloud = CloudAccess::Resolve(Arc::new(FakeCloud::default()));
    let errors = project.load_with(&options).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0].contains("AccessDeniedException"), "{errors:#?}");
    assert!(errors[0].contains("serverless.yml:6:8"), "{errors:#?}");
}

#[test]
fn validate_offline_reports_cloud_variables_as_resolved_at_deploy_time() {
    let project = Project::new(CLOUD_MANIFEST);
    let loaded = project.load(&[]).unwrap();
    let deferred = loaded
        .warnings
        .iter()
        .filter(|w| w.message.contains("is resolved at deploy time"))
        .count();
    // One per distinct variable: `${ssm:/app/url}` is used twice.
    assert_eq!(deferred, 9, "{:#?}", loaded.warnings);
    assert_eq!(
        loaded.config.functions["hello"].environment["URL"],
        "${ssm:/app/url}"
    );
}

#[test]
fn print_gets_the_resolved_document_even_with_errors() {
    let project = Project::new(
        "service: app\nprovider:\n  name: aws\n  runtime: python3.12\n  memorySize: lots\n  environment:\n    S3_KEY_BASE: ${sls:stage}\nfunctions:\n  hello: {handler: handler.main}\n",
    );
    let printed = resolve_document(&project.options()).unwrap();
    assert!(printed.has_errors());
    assert_eq!(
        printed.document["provider"]["environment"]["S3_KEY_BASE"],
        "dev"
    );
    assert!(
        printed
            .diagnostics
            .iter()
            .any(|d| d.key_path == "provider.memorySize"),
        "{:#?}",
        printed.diagnostics
    );
}
