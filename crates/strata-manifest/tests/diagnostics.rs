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
