//! Valid manifests: typed values, the JSON Schema round trip, templates and the docs example.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use strata_manifest::{
    Architecture, AzurePlan, Cloud, LayerRef, LoadOptions, Loaded, ResolverSetting, init_files,
    json_schema, load, to_yaml,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load_dir(dir: &Path, stage: Option<&str>, env: &[(&str, &str)]) -> Loaded {
    load(&LoadOptions {
        project_dir: dir.to_path_buf(),
        stage: stage.map(str::to_owned),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..LoadOptions::default()
    })
    .unwrap_or_else(|error| {
        let rendered: Vec<String> = error
            .diagnostics()
            .iter()
            .map(ToString::to_string)
            .collect();
        panic!(
            "{} did not load: {error}\n{}",
            dir.display(),
            rendered.join("\n")
        )
    })
}

fn schema_validator() -> jsonschema::Validator {
    jsonschema::validator_for(&json_schema()).expect("the schema compiles")
}

fn assert_valid(validator: &jsonschema::Validator, document: &serde_json::Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: document does not match the schema:\n{}",
        errors.join("\n")
    );
    // `strata print` renders YAML; it must read back as the same document.
    let yaml = to_yaml(document);
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("printed.yml"), &yaml).unwrap();
    let reparsed = strata_manifest_yaml_to_json(&yaml);
    assert_eq!(
        &reparsed, document,
        "{what}: YAML rendering does not round-trip:\n{yaml}"
    );
}

/// Parses YAML through the public API by loading nothing but the document: the schema's
/// `custom` block accepts anything, so wrap the value there.
fn strata_manifest_yaml_to_json(yaml: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let indented: String = yaml.lines().map(|line| format!("    {line}\n")).collect();
    fs_err::write(
        dir.path().join("strata.yml"),
        format!("service: roundtrip\ncustom:\n  doc:\n{indented}"),
    )
    .unwrap();
    let loaded = load(&LoadOptions {
        project_dir: dir.path().to_path_buf(),
        ..LoadOptions::default()
    });
    match loaded {
        Ok(loaded) => loaded.config.custom["doc"].clone(),
        Err(error) => {
            // Variables inside the printed document are already resolved text; a `${`
            // left in it (CloudFormation Fn::Sub) stays literal, so this only fails on a
            // rendering bug.
            panic!("{error}: {:#?}", error.diagnostics())
        }
    }
}

#[test]
fn schema_is_valid_draft_2020_12() {
    let schema = json_schema();
    assert!(
        jsonschema::meta::is_valid(&schema),
        "json_schema() is not a valid JSON Schema"
    );
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
}

#[test]
fn committed_schema_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/strata.schema.json");
    let mut expected = serde_json::to_string_pretty(&json_schema()).unwrap();
    expected.push('\n');
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        fs_err::write(&path, &expected).unwrap();
        return;
    }
    let committed = fs_err::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "docs/strata.schema.json is out of date; regenerate it with `UPDATE_SCHEMA=1 cargo nextest run -p strata-manifest committed_schema_is_current` (or `cargo run -- schema > docs/strata.schema.json`)"
    );
}

#[test]
fn kitchen_sink_reads_every_part() {
    let dir = fixtures().join("valid/kitchen-sink");
    let validator = schema_validator();
    for stage in ["dev", "prod"] {
        let loaded = load_dir(&dir, Some(stage), &[]);
        let config = &loaded.config;
        assert_valid(&validator, &config.document, "kitchen-sink");
        let api = &config.functions["api"];
        assert_eq!(
            api.deployed_names[&Cloud::Aws],
            format!("kitchen-sink-{stage}-public-api")
        );
        assert_eq!(api.environment["STAGE"], stage);
        assert_eq!(api.environment["TABLE"], "override");
        assert_eq!(api.environment["PORT"], "8080");
        assert_eq!(api.environment["SETTINGS_SIZE"], "3");
        assert_eq!(api.environment["LOG_LEVEL"], "info");
        assert_eq!(
            api.environment["DOMAIN"],
            if stage == "prod" {
                "example.com"
            } else {
                "dev.example.com"
            }
        );
        assert_eq!(api.memory_size, if stage == "prod" { 1024 } else { 256 });
        assert_eq!(api.timeout, if stage == "prod" { 29 } else { 20 });
        assert_eq!(api.architecture, Architecture::Arm64);
        assert_eq!(api.handler_file, PathBuf::from("src/api.py"));
        assert_eq!(
            api.layer_refs,
            [
                LayerRef::Ref("CommonLambdaLayer".to_owned()),
                LayerRef::Ref("PythonRequirementsLambdaLayer".to_owned()),
                LayerRef::Arn("arn:aws:lambda:eu-west-1:123456789012:layer:shared:3".to_owned()),
            ]
        );
        assert_eq!(api.layers[0], "{Ref: CommonLambdaLayer}");
        let worker = &config.functions["worker"];
        assert_eq!(worker.module, Some(PathBuf::from("services/worker")));
        assert_eq!(
            worker.requirements,
            Some(PathBuf::from("services/worker/requirements.txt"))
        );
        assert_eq!(
            worker.handler_file,
            PathBuf::from("services/worker/worker.py")
        );
        assert_eq!(worker.package.patterns, ["services/worker/**"]);
        assert_eq!(config.package.patterns, ["!docs/**", "!tests/**", "src/**"]);
        assert!(config.package.individually);
        assert_eq!(config.layers["common"].reference, "CommonLambdaLayer");
        assert_eq!(
            config.layers["common"].path,
            Some(PathBuf::from("layers/common"))
        );
        let requirements = &config.python_requirements;
        assert!(requirements.slim);
        assert_eq!(requirements.no_deploy, ["boto3"]);
        assert_eq!(
            requirements.layer.as_ref().unwrap().name.as_deref(),
            Some("kitchen-sink-deps")
        );
        let aws = config.aws.as_ref().unwrap();
        assert_eq!(aws.region, "eu-west-1");
        assert_eq!(
            aws.deployment_bucket.as_deref(),
            Some("kitchen-sink-artifacts")
        );
        assert!(!aws.version_functions);
        assert_eq!(aws.iam_statements.len(), 1);
        assert_eq!(config.custom["settings"]["name"], "kitchen");
        assert_eq!(
            config.document["resources"]["Resources"]["OrdersTable"]["Properties"]["TableName"],
            format!("orders-{stage}")
        );
        assert_eq!(
            config.document["resources"]["Outputs"]["TableArn"]["Value"]["Fn::GetAtt"][1],
            "Arn"
        );
        assert!(config.document.get("stages").is_none());
    }
}

#[test]
fn region_flag_overrides_the_manifest() {
    let dir = fixtures().join("valid/kitchen-sink");
    let loaded = load(&LoadOptions {
        project_dir: dir,
        region: Some("ap-southeast-2".to_owned()),
        ..LoadOptions::default()
    })
    .unwrap();
    assert_eq!(loaded.config.aws.unwrap().region, "ap-southeast-2");
    assert_eq!(
        loaded.config.document["provider"]["region"],
        "ap-southeast-2"
    );
}

#[test]
fn three_cloud_example_loads() {
    let dir = fixtures().join("valid/three-clouds");
    let validator = schema_validator();
    for stage in ["dev", "prod"] {
        let loaded = load_dir(&dir, Some(stage), &[]);
        let config = &loaded.config;
        assert_valid(&validator, &config.document, "three-clouds");
        assert_eq!(config.clouds(), [Cloud::Aws, Cloud::Azure, Cloud::Gcp]);
        let api = &config.functions["api"];
        assert_eq!(api.targets, [Cloud::Aws]);
        assert_eq!(
            api.clouds[&Cloud::Aws].memory_size,
            if stage == "prod" { 2048 } else { 1024 }
        );
        assert_eq!(api.clouds[&Cloud::Aws].architecture, Architecture::Arm64);
        assert_eq!(api.clouds[&Cloud::Aws].region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            api.clouds[&Cloud::Aws].role.as_deref(),
            Some("arn:aws:iam::123456789012:role/orders-lambda")
        );
        let hello = &config.functions["hello"];
        assert_eq!(hello.deployed_names[&Cloud::Azure], "hello");
        assert_eq!(hello.clouds[&Cloud::Azure].timeout, 60);
        let http = &config.functions["helloHttp"];
        assert_eq!(http.deployed_names[&Cloud::Gcp], "orders-hello");
        assert_eq!(http.clouds[&Cloud::Gcp].max_instances, Some(10));
        assert_eq!(
            http.clouds[&Cloud::Gcp].region.as_deref(),
            Some("europe-west1")
        );
        let report = &config.functions["report"];
        assert_eq!(report.targets, [Cloud::Aws, Cloud::Gcp]);
        assert_eq!(
            report.deployed_names[&Cloud::Gcp],
            format!("orders-{stage}-report")
        );
        assert_eq!(
            report.clouds[&Cloud::Aws].architecture,
            Architecture::X86_64
        );
        assert_eq!(report.clouds[&Cloud::Gcp].memory_size, 1024);
        assert_eq!(
            report.clouds[&Cloud::Aws].memory_size,
            if stage == "prod" { 1024 } else { 512 }
        );
        assert_eq!(report.clouds[&Cloud::Gcp].environment["STAGE"], stage);
        let azure = config.azure.as_ref().unwrap();
        assert_eq!(azure.function_app, format!("orders-{stage}"));
        assert_eq!(
            azure.storage_account.as_deref(),
            Some(format!("ordersstore{stage}").as_str())
        );
        assert_eq!(azure.plan, AzurePlan::FlexConsumption);
        let gcp = config.gcp.as_ref().unwrap();
        assert_eq!(
            gcp.project,
            if stage == "prod" {
                "orders-prod-123"
            } else {
                "orders-dev-123"
            }
        );
        assert_eq!(config.aws.as_ref().unwrap().region, "eu-west-1");
    }
}

#[test]
fn docs_example_is_the_tested_fixture() {
    let docs = fs_err::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/manifest.md"),
    )
    .unwrap();
    let start = docs
        .find("<!-- example:three-clouds -->")
        .expect("docs/manifest.md marks the example");
    let block = &docs[start..];
    let body_start = block.find("```yaml\n").unwrap() + "```yaml\n".len();
    let body_end = block[body_start..].find("```").unwrap();
    let fixture = fs_err::read_to_string(fixtures().join("valid/three-clouds/strata.yml")).unwrap();
    assert_eq!(
        &block[body_start..body_start + body_end],
        fixture,
        "the example in docs/manifest.md must equal tests/fixtures/valid/three-clouds/strata.yml"
    );
}

#[test]
fn every_template_combination_loads() {
    let validator = schema_validator();
    let combinations: &[&[Cloud]] = &[
        &[],
        &[Cloud::Aws],
        &[Cloud::Azure],
        &[Cloud::Gcp],
        &[Cloud::Aws, Cloud::Azure],
        &[Cloud::Aws, Cloud::Gcp],
        &[Cloud::Azure, Cloud::Gcp],
        &[Cloud::Aws, Cloud::Azure, Cloud::Gcp],
    ];
    for clouds in combinations {
        let dir = tempfile::tempdir().unwrap();
        for (path, contents) in init_files(clouds, "hello-world") {
            let path = dir.path().join(path);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, contents).unwrap();
        }
        let loaded = load_dir(dir.path(), None, &[]);
        assert!(
            loaded.warnings.is_empty(),
            "{clouds:?}: {:#?}",
            loaded.warnings
        );
        let expected: Vec<Cloud> = if clouds.is_empty() {
            vec![Cloud::Aws]
        } else {
            clouds.to_vec()
        };
        assert_eq!(loaded.config.clouds(), expected, "{clouds:?}");
        assert_eq!(loaded.config.service, "hello-world");
        assert_valid(
            &validator,
            &loaded.config.document,
            &format!("template {clouds:?}"),
        );
    }
}

#[test]
fn seed_documents_match_the_schema() {
    let validator = schema_validator();
    let env = BTreeMap::from([("DATABASE_URL".to_owned(), "postgres://db".to_owned())]);
    for stage in ["dev", "prod"] {
        let loaded = load(&LoadOptions {
            project_dir: fixtures().join("seed"),
            stage: Some(stage.to_owned()),
            env: env.clone(),
            ..LoadOptions::default()
        })
        .unwrap();
        assert_valid(&validator, &loaded.config.document, "seed serverless.yml");
    }
}

/// Writes `handler.py` and the manifest into a fresh project directory.
fn project(file: &str, manifest: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("handler.py"),
        "def main(event, context):\n    return 1\n",
    )
    .unwrap();
    fs_err::write(dir.path().join(file), manifest).unwrap();
    dir
}

fn names(names: &[&str]) -> std::collections::BTreeSet<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// `secretEnvironment` in both manifest kinds: the service-wide list (`provider.` in a
/// strata.yml, `custom.strata.` in a serverless.yml, where Serverless has no such key) marks
/// names in every function, and a function's own list adds to it for that function only; the
/// values stay as written.
#[test]
fn secret_environment_merges_service_and_function_lists_in_both_manifest_kinds() {
    let function_part = "functions:\n  api:\n    handler: handler.main\n    environment:\n      SIGNING_SEED: seed-1\n    secretEnvironment:\n      - SIGNING_SEED\n  worker:\n    handler: handler.main\n";
    let provider = "provider:\n  name: aws\n  runtime: python3.12\n  environment:\n    LICENSE_ID: lic-1\n    TEAM: core\n";
    for (file, manifest) in [
        (
            "strata.yml",
            format!(
                "service: marked\n{provider}  secretEnvironment: [LICENSE_ID]\n{function_part}"
            ),
        ),
        (
            "serverless.yml",
            format!(
                "service: marked\n{provider}{function_part}custom:\n  strata:\n    secretEnvironment:\n      - LICENSE_ID\n"
            ),
        ),
    ] {
        let dir = project(file, &manifest);
        let loaded = load_dir(dir.path(), None, &[]);
        assert!(loaded.warnings.is_empty(), "{file}: {:#?}", loaded.warnings);
        let functions = &loaded.config.functions;
        assert_eq!(
            functions["api"].secret_environment,
            names(&["LICENSE_ID", "SIGNING_SEED"]),
            "{file}"
        );
        assert_eq!(
            functions["worker"].secret_environment,
            names(&["LICENSE_ID"]),
            "{file}"
        );
        assert_eq!(functions["api"].environment["LICENSE_ID"], "lic-1");
        assert_eq!(functions["api"].environment["SIGNING_SEED"], "seed-1");
        assert_eq!(functions["worker"].environment["TEAM"], "core");
        assert_eq!(
            loaded.config.secret_environment(),
            names(&["LICENSE_ID", "SIGNING_SEED"])
        );
        assert_valid(&schema_validator(), &loaded.config.document, file);
    }
}

/// A manifest without the key marks nothing: masking falls back to the name heuristic.
#[test]
fn without_secret_environment_no_name_is_marked() {
    let dir = project(
        "strata.yml",
        "service: plain\nprovider:\n  name: aws\n  environment:\n    LICENSE_ID: lic-1\nfunctions:\n  api:\n    handler: handler.main\n",
    );
    let loaded = load_dir(dir.path(), None, &[]);
    assert!(loaded.config.functions["api"].secret_environment.is_empty());
    assert!(loaded.config.secret_environment().is_empty());
}

fn arbitrary_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _./:#@!-]{0,24}",
        Just("true".to_owned()),
        Just("123".to_owned()),
        Just("null".to_owned()),
        Just("a: b".to_owned()),
        Just("- item".to_owned()),
        Just("it's \"quoted\"".to_owned()),
        Just("line\nbreak".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any valid combination of the settings strata reads gives a document that matches the
    /// emitted schema and prints back to itself.
    #[test]
    fn generated_manifests_round_trip(
        minor in 10u8..=13,
        memory in 128u32..=4096,
        timeout in 1u32..=600,
        clouds in proptest::sample::subsequence(vec![Cloud::Aws, Cloud::Azure, Cloud::Gcp], 1..=3),
        environment in proptest::collection::btree_map("[A-Z][A-Z0-9_]{0,8}", arbitrary_text(), 0..5),
        use_stage_override in any::<bool>(),
        description in proptest::option::of(arbitrary_text()),
    ) {
        let mut document = serde_json::json!({
            "service": "generated",
            "runtime": format!("python3.{minor}"),
            "provider": {"name": "aws", "memorySize": memory, "timeout": timeout, "environment": environment},
            "functions": {"f": {"handler": "handler.main", "targets": clouds}},
        });
        if clouds.contains(&Cloud::Azure) {
            document["azure"] = serde_json::json!({"resourceGroup": "rg", "plan": "premium"});
        }
        if clouds.contains(&Cloud::Gcp) {
            document["gcp"] = serde_json::json!({"project": "generated-123"});
        }
        if let Some(description) = description {
            document["functions"]["f"]["description"] = serde_json::Value::String(description.replace("${", "$ {"));
        }
        if use_stage_override {
            document["stages"] = serde_json::json!({"dev": {"provider": {"timeout": 7}}});
        }
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("handler.py"), "def main(event, context):\n    return 1\n").unwrap();
        fs_err::write(dir.path().join("strata.yml"), to_yaml(&document)).unwrap();
        let loaded = load_dir(dir.path(), None, &[]);
        let function = &loaded.config.functions["f"];
        prop_assert_eq!(function.timeout, if use_stage_override { 7 } else { timeout });
        prop_assert_eq!(function.memory_size, memory);
        for (key, value) in &environment {
            prop_assert_eq!(&function.environment[key], value);
        }
        assert_valid(&schema_validator(), &loaded.config.document, "generated");
    }
}

/// `azure.identity` names the user-assigned identity a Consumption app reads its package with.
#[test]
fn azure_identity_is_read_and_matches_the_schema() {
    let dir = project(
        "strata.yml",
        "service: idapp\nruntime: python3.12\nazure:\n  resourceGroup: rg\n  plan: consumption\n  identity: deployer\nfunctions:\n  api:\n    handler: handler.main\n    targets: [azure]\n",
    );
    let loaded = load_dir(dir.path(), Some("prod"), &[]);
    let azure = loaded.config.azure.as_ref().unwrap();
    assert_eq!(azure.identity.as_deref(), Some("deployer"));
    assert_valid(
        &schema_validator(),
        &loaded.config.document,
        "azure.identity",
    );
}

#[test]
fn the_resolver_setting_is_read_from_either_manifest() {
    let cases = [
        // strata.yml: the package section.
        (
            "strata.yml",
            "service: app\nruntime: python3.12\npackage:\n  resolver: uv\nfunctions:\n  hello:\n    handler: handler.main\n",
            Some(ResolverSetting::Uv),
        ),
        // serverless.yml: custom.strata, beside secretEnvironment.
        (
            "serverless.yml",
            "service: app\nprovider:\n  name: aws\n  runtime: python3.12\ncustom:\n  strata:\n    resolver: pip\nfunctions:\n  hello:\n    handler: handler.main\n",
            Some(ResolverSetting::Pip),
        ),
        // A stage's package override sets it for that stage.
        (
            "strata.yml",
            "service: app\nruntime: python3.12\nstages:\n  dev:\n    package:\n      resolver: native\nfunctions:\n  hello:\n    handler: handler.main\n",
            Some(ResolverSetting::Native),
        ),
        (
            "strata.yml",
            "service: app\nruntime: python3.12\nfunctions:\n  hello:\n    handler: handler.main\n",
            None,
        ),
    ];
    let validator = schema_validator();
    for (file, text, expected) in cases {
        let dir = project(file, text);
        let loaded = load_dir(dir.path(), Some("dev"), &[]);
        assert_eq!(loaded.config.resolver, expected, "{text}");
        assert_valid(&validator, &loaded.config.document, file);
    }
}

/// `provider.httpApi.cors` (Serverless' one CORS setting for the whole HTTP API) reaches
/// every `httpApi` route: `true` as Serverless' defaults, a map with its own origins,
/// headers, credentials and max age; an unknown option is an error at its line.
#[test]
fn provider_http_api_cors_reaches_every_http_api_route() {
    let manifest = |cors: &str| {
        format!(
            "service: app\nprovider:\n  name: aws\n  runtime: python3.12\n  httpApi:\n    cors: {cors}\nfunctions:\n  hello:\n    handler: handler.main\n    events:\n      - httpApi: 'GET /hello'\n      - httpApi: '*'\n      - http: {{path: rest, method: get}}\n"
        )
    };
    let routes = |loaded: &Loaded| -> Vec<Option<strata_manifest::Cors>> {
        loaded.config.functions["hello"]
            .aws_triggers
            .iter()
            .filter_map(|trigger| match &trigger.event {
                strata_manifest::AwsEvent::HttpApi(route) => Some(route.cors.clone()),
                _ => None,
            })
            .collect()
    };

    let dir = project("serverless.yml", &manifest("true"));
    let loaded = load_dir(dir.path(), None, &[]);
    let all = routes(&loaded);
    assert_eq!(all.len(), 2);
    // Applied, so not warned about as a setting strata keeps without applying.
    assert!(
        !loaded
            .warnings
            .iter()
            .any(|warning| warning.key_path.starts_with("provider.httpApi")),
        "{:?}",
        loaded.warnings
    );
    for cors in &all {
        let cors = cors.as_ref().expect("cors on every httpApi route");
        assert_eq!(cors.origins, ["*"]);
        assert!(
            cors.headers.contains(&"Authorization".to_owned()),
            "{cors:?}"
        );
        assert!(!cors.allow_credentials);
    }
    // The REST API's route takes only its own `cors`.
    let rest = loaded.config.functions["hello"]
        .aws_triggers
        .iter()
        .find_map(|trigger| match &trigger.event {
            strata_manifest::AwsEvent::Http(route) => Some(route.cors.clone()),
            _ => None,
        });
    assert_eq!(rest, Some(None));

    let dir = project(
        "serverless.yml",
        &manifest(
            "{allowedOrigins: ['https://app.example'], allowedHeaders: [X-Custom], allowCredentials: true, maxAge: 600}",
        ),
    );
    let all = routes(&load_dir(dir.path(), None, &[]));
    let cors = all[0].as_ref().unwrap();
    assert_eq!(cors.origins, ["https://app.example"]);
    assert_eq!(cors.headers, ["X-Custom"]);
    assert!(cors.allow_credentials);
    assert_eq!(cors.max_age, Some(600));
    assert_eq!(all[1], all[0]);

    let dir = project("serverless.yml", &manifest("false"));
    assert_eq!(routes(&load_dir(dir.path(), None, &[])), [None, None]);

    let dir = project("serverless.yml", &manifest("{allowOrigins: ['*']}"));
    let error = load(&LoadOptions {
        project_dir: dir.path().to_path_buf(),
        ..LoadOptions::default()
    })
    .expect_err("an unknown CORS option");
    let text = error.to_string()
        + &error
            .diagnostics()
            .iter()
            .map(|d| format!("{d}\n"))
            .collect::<String>();
    assert!(
        text.contains("provider.httpApi.cors.allowOrigins"),
        "{text}"
    );
    assert!(text.contains("serverless.yml:6:"), "{text}");
}
