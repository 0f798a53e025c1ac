//! Every bad manifest under tests/fixtures/bad gives exactly the pinned diagnostics, with
//! file, line, column and key path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use strata_manifest::{Diagnostic, LoadOptions, ManifestError, Severity, load};
use strata_provider::Hint as _;

fn render(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        writeln!(out, "{}: {diagnostic}", diagnostic.severity).unwrap();
        if let Some(hint) = &diagnostic.hint {
            writeln!(out, "  hint: {hint}").unwrap();
        }
    }
    out
}

fn options(dir: &Path, file: &str, stage: Option<&str>) -> LoadOptions {
    LoadOptions {
        project_dir: dir.to_path_buf(),
        config_path: Some(PathBuf::from(file)),
        stage: stage.map(str::to_owned),
        region: None,
        env: BTreeMap::from([("HOST".to_owned(), "example.com".to_owned())]),
        ..LoadOptions::default()
    }
}

#[test]
fn bad_manifests() {
    insta::glob!("fixtures/bad/*.yml", |path| {
        let dir = path.parent().unwrap();
        let file = path.file_name().unwrap().to_str().unwrap();
        let stage = file.starts_with("stages_").then_some("prod");
        match load(&options(dir, file, stage)) {
            Ok(loaded) => panic!("{file} loaded: {:#?}", loaded.warnings),
            Err(error @ ManifestError::Invalid { .. }) => {
                let diagnostics = error.diagnostics();
                assert!(
                    diagnostics.iter().any(|d| d.severity == Severity::Error),
                    "{file}: no error"
                );
                assert!(
                    diagnostics.iter().all(|d| d.line > 0 && d.column > 0),
                    "{file}: a diagnostic without a position: {diagnostics:#?}"
                );
                insta::assert_snapshot!(format!("{error}\n{}", render(diagnostics)));
            }
            Err(other) => panic!("{file}: {other}"),
        }
    });
}

#[test]
fn seed_warnings() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed");
    let mut options = options(&dir, "serverless.yml", Some("prod"));
    options
        .env
        .insert("DATABASE_URL".to_owned(), "postgres://db".to_owned());
    let loaded = load(&options).unwrap();
    insta::assert_snapshot!(render(&loaded.warnings));
}

#[test]
fn missing_manifest_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let error = load(&LoadOptions {
        project_dir: dir.path().to_path_buf(),
        ..LoadOptions::default()
    })
    .unwrap_err();
    assert!(matches!(error, ManifestError::NotFound { .. }));
    assert!(error.to_string().contains("strata.yml and serverless.yml"));
    assert!(error.hint().unwrap().contains("strata init"));
}

#[test]
fn unreadable_config_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = load(&options(dir.path(), "nope.yml", None)).unwrap_err();
    assert!(matches!(error, ManifestError::Read { .. }), "{error}");
    assert!(std::error::Error::source(&error).is_some());
}

/// Loads `manifest` (written as `file` beside a `handler.py`) and renders every diagnostic,
/// whether the load failed or only warned.
fn diagnostics_of(file: &str, manifest: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("handler.py"),
        "def main(event, context):\n    return 1\n",
    )
    .unwrap();
    std::fs::write(dir.path().join(file), manifest).unwrap();
    match load(&options(dir.path(), file, None)) {
        Ok(loaded) => (true, render(&loaded.warnings)),
        Err(error) => (false, render(error.diagnostics())),
    }
}

/// A marked name that no environment defines is a warning naming it and where it is
/// written: a typo there would leave the real variable unmasked. A defined name is quiet.
#[test]
fn secret_environment_name_nothing_defines_is_a_warning() {
    let (loaded, out) = diagnostics_of(
        "strata.yml",
        "service: marked\nprovider:\n  name: aws\n  environment:\n    LICENSE_ID: lic-1\n  secretEnvironment: [LICENSE_ID, LICENCE_ID]\nfunctions:\n  api:\n    handler: handler.main\n    secretEnvironment:\n      - LICENSE_ID\n      - SIGNING_SEED\n",
    );
    assert!(loaded, "{out}");
    insta::assert_snapshot!(out, @r"
    warning: strata.yml:6:35: provider.secretEnvironment[1]: `LICENCE_ID` is marked secret but no function's environment defines it
      hint: check the name against `environment:`; a value under a misspelt name is shown unmasked
    warning: strata.yml:12:9: functions.api.secretEnvironment[1]: `SIGNING_SEED` is marked secret but no environment of function `api` defines it
      hint: check the name against `environment:`; a value under a misspelt name is shown unmasked
    ");
}

/// The same check for a serverless.yml's `custom.strata.secretEnvironment`.
#[test]
fn custom_strata_secret_environment_name_nothing_defines_is_a_warning() {
    let (loaded, out) = diagnostics_of(
        "serverless.yml",
        "service: marked\nprovider:\n  name: aws\n  runtime: python3.12\n  environment:\n    LICENSE_ID: lic-1\nfunctions:\n  api:\n    handler: handler.main\ncustom:\n  strata:\n    secretEnvironment: [LICENSE_ID, LICENSE]\n",
    );
    assert!(loaded, "{out}");
    insta::assert_snapshot!(out, @r"
    warning: serverless.yml:12:37: custom.strata.secretEnvironment[1]: `LICENSE` is marked secret but no function's environment defines it
      hint: check the name against `environment:`; a value under a misspelt name is shown unmasked
    ");
}

/// A map where the list belongs, and names no environment variable can have, are errors
/// with file, line and column.
#[test]
fn secret_environment_of_the_wrong_shape_is_an_error_with_its_location() {
    let (loaded, out) = diagnostics_of(
        "strata.yml",
        "service: marked\nprovider:\n  name: aws\n  environment:\n    LICENSE_ID: lic-1\n  secretEnvironment:\n    LICENSE_ID: true\nfunctions:\n  api:\n    handler: handler.main\n    secretEnvironment: [\"9LIVES\", \"LICENSE-ID\"]\n",
    );
    assert!(!loaded, "{out}");
    insta::assert_snapshot!(out, @r"
    error: strata.yml:7:5: provider.secretEnvironment: expected a list, found a map
    error: strata.yml:11:25: functions.api.secretEnvironment[0]: `9LIVES` is not an environment variable name
      hint: write the name as it is under `environment:`: letters, digits and `_`, not starting with a digit
    error: strata.yml:11:35: functions.api.secretEnvironment[1]: `LICENSE-ID` is not an environment variable name
      hint: write the name as it is under `environment:`: letters, digits and `_`, not starting with a digit
    ");
}

/// Events on GCP-targeted functions that the GCP backend creates (HTTP, Pub/Sub, Cloud
/// Storage, `event:`) are not warned about; what a target does not manage is, once per event,
/// naming the cloud; AWS-only functions keep the warning they always had.
#[test]
fn event_warnings_depend_on_the_targets_backend() {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(
        dir.path().join("main.py"),
        "def web(request): ...\ndef topic(event): ...\ndef upload(event): ...\n\
         def legacy(event): ...\ndef both(event): ...\ndef lambda_only(event, context): ...\n",
    )
    .unwrap();
    fs_err::write(
        dir.path().join("strata.yml"),
        "service: events\n\
         runtime: python3.12\n\
         aws:\n  region: us-east-1\n\
         gcp:\n  project: events-demo\n  region: europe-west1\n\
         functions:\n\
        \x20 web:\n    handler: main.web\n    targets: [gcp]\n    events:\n      - http: web\n\
        \x20 topic:\n    handler: main.topic\n    targets: [gcp]\n    events:\n      - pubsub: orders\n\
        \x20 upload:\n    handler: main.upload\n    targets: [gcp]\n    events:\n      - bucket: uploads\n\
        \x20 legacy:\n    handler: main.legacy\n    targets: [gcp]\n    events:\n      - event:\n          eventType: google.storage.object.finalize\n          resource: projects/_/buckets/uploads\n      - sqs: arn:aws:sqs:us-east-1:1:q\n\
        \x20 both:\n    handler: main.both\n    targets: [aws, gcp]\n    events:\n      - pubsub: orders\n\
        \x20 lambda_only:\n    handler: main.lambda_only\n    targets: [aws]\n    events:\n      - websocket: $connect\n",
    )
    .unwrap();
    let loaded = load(&options(dir.path(), "strata.yml", Some("prod"))).unwrap();
    let events: Vec<&Diagnostic> = loaded
        .warnings
        .iter()
        .filter(|warning| warning.key_path.contains(".events["))
        .collect();
    let paths: Vec<&str> = events.iter().map(|w| w.key_path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "functions.legacy.events[1]",
            "functions.both.events[0]",
            "functions.lambda_only.events[0]"
        ],
        "{}",
        render(&loaded.warnings)
    );
    let sqs = events[0].to_string();
    assert!(
        sqs.contains("`sqs` event is kept, but not managed on gcp"),
        "{sqs}"
    );
    assert!(sqs.contains("strata.yml:"), "{sqs}");
    let hint = events[0].hint.as_deref().unwrap();
    assert!(
        hint.contains("gcp: http, pubsub, topic, bucket, event"),
        "{hint}"
    );
    let both = events[1].to_string();
    assert!(
        both.contains("not managed on aws (strata creates it on gcp)"),
        "{both}"
    );
    // AWS manages queues, streams, buckets, schedules, topics and API routes, not
    // WebSockets: that one is named as not managed there, with what strata does create.
    let aws = events[2].to_string();
    assert!(aws.contains("not managed on aws"), "{aws}");
    let hint = events[2].hint.as_deref().unwrap();
    assert!(
        hint.contains("aws: sqs, stream, s3, schedule, sns, http, httpApi"),
        "{hint}"
    );
    // What is left alone is listed once per event for the deploy reports; managed events are not.
    let unmanaged: Vec<&str> = loaded
        .config
        .unmanaged
        .iter()
        .map(|item| item.key_path.as_str())
        .collect();
    assert_eq!(unmanaged, paths);
}
