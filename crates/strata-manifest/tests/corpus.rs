//! The compatibility corpus: real-world serverless.yml projects (their sources, commits and
//! licences are in fixtures/corpus/README.md), each loaded for two stages. A project either
//! loads, pinned with what strata reads from it, or is refused fairly, pinned with the
//! message.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use strata_manifest::{Diagnostic, LoadOptions, ManifestError, load};

/// Values the projects read with `${env:…}` (fixtures/corpus/environment, which the
/// packaging test shares); the stage decides the rest.
fn environment() -> BTreeMap<String, String> {
    include_str!("fixtures/corpus/environment")
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split_once('=').expect("KEY=VALUE"))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

fn render(out: &mut String, diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        writeln!(out, "  {}: {diagnostic}", diagnostic.severity).unwrap();
    }
}

#[test]
fn corpus_projects_load_for_two_stages() {
    insta::glob!("fixtures/corpus/*/serverless.yml", |path| {
        let dir = path.parent().unwrap();
        let mut out = String::new();
        for stage in ["dev", "prod"] {
            let options = LoadOptions {
                project_dir: dir.to_path_buf(),
                stage: Some(stage.to_owned()),
                env: environment(),
                ..LoadOptions::default()
            };
            match load(&options) {
                Ok(loaded) => {
                    let config = &loaded.config;
                    writeln!(out, "stage {stage}: loads, service `{}`", config.service).unwrap();
                    for (name, function) in &config.functions {
                        writeln!(
                            out,
                            "  function {name}: {} {} ({}), requirements {}",
                            function.runtime,
                            function.handler,
                            function.handler_file.display(),
                            function
                                .requirements
                                .as_ref()
                                .map_or_else(|| "none".to_owned(), |r| r.display().to_string()),
                        )
                        .unwrap();
                    }
                    render(&mut out, &loaded.warnings);
                }
                Err(error @ ManifestError::Invalid { .. }) => {
                    writeln!(out, "stage {stage}: refused: {error}").unwrap();
                    render(&mut out, error.diagnostics());
                }
                Err(other) => panic!("{}: {other}", dir.display()),
            }
        }
        insta::assert_snapshot!(out);
    });
}
