//! Every bad manifest under tests/fixtures/bad gives exactly the pinned diagnostics, with
//! file, line, column and key path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use strata_manifest::{Diagnostic, LoadOptions, ManifestError, Severity, load};

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
