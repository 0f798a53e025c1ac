//! The seed project's two serverless.yml files load as Serverless Framework v3 would read
//! them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strata_manifest::{
    AwsEvent, CfnRef, Cloud, HttpMethod, LoadOptions, ManifestError, ManifestKind, S3Trigger,
    Severity, load,
};

fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed")
}

fn options(config: Option<&str>, stage: Option<&str>) -> LoadOptions {
    LoadOptions {
        project_dir: seed_dir(),
        config_path: config.map(PathBuf::from),
        stage: stage.map(str::to_owned),
        region: None,
        env: BTreeMap::from([(
            "DATABASE_URL".to_owned(),
            "postgres://db.example/app".to_owned(),
        )]),
        ..LoadOptions::default()
    }
}

#[test]
fn serverless_yml_resolves_for_dev_and_prod() {
    for stage in ["dev", "prod"] {
        let loaded = load(&options(None, Some(stage)))
            .unwrap_or_else(|e| panic!("{e}: {:#?}", e.diagnostics()));
        let config = &loaded.config;
        assert_eq!(config.kind, ManifestKind::Serverless);
        assert_eq!(config.service, "python-app");
        assert_eq!(config.stage, stage);
        assert_eq!(config.functions.len(), 2);
        let hello = &config.functions["hello"];
        assert_eq!(hello.handler, "handler.lambda_handler");
        assert_eq!(hello.handler_module, "handler");
        assert_eq!(hello.handler_function, "lambda_handler");
        assert_eq!(hello.memory_size, 512);
        assert_eq!(hello.timeout, 30);
        assert_eq!(hello.runtime.to_string(), "python3.9");
        assert_eq!(hello.targets, vec![Cloud::Aws]);
        assert_eq!(hello.environment["STAGE"], stage);
        assert_eq!(
            hello.environment["DATABASE_URL"],
            "postgres://db.example/app"
        );
        assert_eq!(hello.environment["CUSTOM_VAR"], stage);
        assert_eq!(
            hello.deployed_names[&Cloud::Aws],
            format!("python-app-{stage}-hello")
        );
        assert_eq!(hello.events.len(), 2);
        let routes: Vec<_> = hello
            .aws_triggers
            .iter()
            .map(|t| match &t.event {
                AwsEvent::Http(route) => (route.method, route.path.as_str(), route.cors.is_some()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            routes,
            [
                (HttpMethod::Get, "hello", false),
                (HttpMethod::Post, "hello", false)
            ]
        );
        let [s3] = config.functions["processS3"].aws_triggers.as_slice() else {
            panic!()
        };
        assert_eq!(
            s3.event,
            AwsEvent::S3(S3Trigger {
                bucket: "my-bucket".to_owned(),
                event: "s3:ObjectCreated:*".to_owned(),
                prefix: None,
                suffix: None,
                existing: false,
            })
        );
        assert_eq!((s3.source.line, s3.source.column), (35, 9));
        assert!(config.resources.is_none());
        assert_eq!(config.functions["processS3"].handler, "handler.s3_handler");
        assert_eq!(
            config.functions["processS3"].deployed_names[&Cloud::Aws],
            format!("python-app-{stage}-processS3")
        );
        let aws = config.aws.as_ref().unwrap();
        assert_eq!(aws.region, "us-west-2");
        assert_eq!(aws.iam_statements.len(), 1);
        assert_eq!(config.plugins, ["serverless-python-requirements"]);
        assert!(config.python_requirements.plugin_listed);
        assert!(config.python_requirements.dockerize_pip);
        assert!(config.python_requirements.layer.is_some());
        assert_eq!(config.custom["customVar"], stage);
        assert_eq!(config.document["provider"]["environment"]["STAGE"], stage);
        assert_eq!(
            config.document["functions"]["hello"]["environment"]["CUSTOM_VAR"],
            stage
        );
        // Every event of the seed is strata's to create (REST API routes, the bucket
        // notification). IAM statements go into the role strata manages (no role ARN is
        // given), so they are not "unmanaged" either.
        let kinds: Vec<_> = config
            .unmanaged
            .iter()
            .map(|u| u.key_path.as_str())
            .collect();
        assert!(
            !kinds.iter().any(|kind| kind.contains(".events[")),
            "{kinds:?}"
        );
        assert!(
            !kinds.contains(&"provider.iamRoleStatements[0]"),
            "{kinds:?}"
        );
        assert_eq!(config.aws.as_ref().unwrap().iam_statements.len(), 1);
        assert!(
            loaded
                .warnings
                .iter()
                .all(|w| w.severity == Severity::Warning)
        );
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.message.contains("python3.9 is retired")),
            "{:#?}",
            loaded.warnings
        );
    }
}

#[test]
fn serverless_yml_without_stage_names_the_option() {
    let error = load(&options(None, None)).unwrap_err();
    let ManifestError::Invalid { diagnostics, .. } = &error else {
        panic!("{error}")
    };
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [
            "serverless.yml:43:14: custom.customVar: `${opt:stage}` has no value: --stage was not given"
        ]
    );
}

#[test]
fn missing_database_url_is_named() {
    let mut options = options(None, Some("dev"));
    options.env.clear();
    let error = load(&options).unwrap_err();
    let errors: Vec<String> = error
        .diagnostics()
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(ToString::to_string)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("environment variable `DATABASE_URL` is not set"),
        "{errors:?}"
    );
    assert!(
        errors[0].starts_with("serverless.yml:12:19: provider.environment.DATABASE_URL"),
        "{errors:?}"
    );
}

#[test]
fn serverless_framework_yml_reports_the_missing_worker_handler() {
    for stage in ["dev", "prod"] {
        let error = load(&options(Some("serverless-framework.yml"), Some(stage))).unwrap_err();
        let errors: Vec<String> = error
            .diagnostics()
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            [
                "serverless-framework.yml:39:14: functions.worker.handler: handler `handler.worker_handler` does not exist: handler.py has no top-level `worker_handler`"
            ]
        );
    }
}

#[test]
fn serverless_framework_yml_values_match_serverless() {
    // With the missing handler defined, everything else resolves as Serverless v3 does.
    let dir = tempfile::tempdir().unwrap();
    let source = fs_err::read_to_string(seed_dir().join("handler.py")).unwrap();
    fs_err::write(
        dir.path().join("handler.py"),
        format!("{source}\n\ndef worker_handler(event, context):\n    return None\n"),
    )
    .unwrap();
    fs_err::copy(
        seed_dir().join("serverless-framework.yml"),
        dir.path().join("serverless.yml"),
    )
    .unwrap();
    fs_err::copy(
        seed_dir().join("requirements.txt"),
        dir.path().join("requirements.txt"),
    )
    .unwrap();
    for (stage, cli_stage) in [("dev", None), ("prod", Some("prod"))] {
        let loaded = load(&LoadOptions {
            project_dir: dir.path().to_path_buf(),
            stage: cli_stage.map(str::to_owned),
            ..LoadOptions::default()
        })
        .unwrap_or_else(|e| panic!("{e}: {:#?}", e.diagnostics()));
        let config = &loaded.config;
        assert_eq!(config.service, "python-serverless-app");
        assert_eq!(config.stage, stage);
        let api = &config.functions["api"];
        assert_eq!(api.environment["STAGE"], stage);
        assert_eq!(api.environment["REGION"], "us-west-2");
        assert_eq!(api.environment["API_VERSION"], "v1");
        assert_eq!(api.memory_size, 512);
        assert_eq!(api.timeout, 30);
        assert_eq!(
            api.deployed_names[&Cloud::Aws],
            format!("python-serverless-app-{stage}-api")
        );
        assert_eq!(
            config.document["resources"]["Resources"]["WorkerQueue"]["Properties"]["QueueName"],
            format!("{stage}-worker-queue")
        );
        assert_eq!(config.aws.as_ref().unwrap().iam_statements.len(), 2);
        assert!(config.aws.as_ref().unwrap().version_functions);
        // The triggers as `serverless deploy` would create them: a proxy route with CORS,
        // and the queue from `resources:` by reference.
        let [api_trigger] = api.aws_triggers.as_slice() else {
            panic!("{:?}", api.aws_triggers)
        };
        let AwsEvent::Http(route) = &api_trigger.event else {
            panic!("{api_trigger:?}")
        };
        assert_eq!(
            (route.path.as_str(), route.method),
            ("{proxy+}", HttpMethod::Any)
        );
        assert_eq!(route.cors.as_ref().unwrap().origins, ["*"]);
        let [worker_trigger] = config.functions["worker"].aws_triggers.as_slice() else {
            panic!()
        };
        let AwsEvent::Sqs(queue) = &worker_trigger.event else {
            panic!("{worker_trigger:?}")
        };
        assert_eq!(
            queue.arn,
            CfnRef::GetAtt {
                resource: "WorkerQueue".to_owned(),
                attribute: "Arn".to_owned()
            }
        );
        assert_eq!(queue.batch_size, 10);
        assert!(queue.enabled);
        let resources = config.resources.as_ref().unwrap();
        assert_eq!(resources.resources["WorkerQueue"], "AWS::SQS::Queue");
        assert_eq!(
            resources.template["Resources"]["WorkerQueue"]["Properties"]["QueueName"],
            format!("{stage}-worker-queue")
        );
        assert!(config.python_requirements.zip);
        assert_eq!(
            config.plugins,
            ["serverless-python-requirements", "serverless-offline"]
        );
        // strata deploys the queue and the worker's mapping now; the api's http event is
        // still left alone.
        assert!(
            !config
                .unmanaged
                .iter()
                .any(|u| u.key_path.starts_with("resources") || u.description.contains("`sqs`")),
            "{:?}",
            config.unmanaged
        );
        assert!(
            !config
                .unmanaged
                .iter()
                .any(|u| u.description.contains("`http` event"))
        );
        assert!(
            config
                .unmanaged
                .iter()
                .any(|u| u.key_path == "plugins[1]" && u.description.contains("serverless-offline"))
        );
    }
}
