//! The compatibility corpus (`crates/strata-manifest/tests/fixtures/corpus`, real
//! serverless.yml projects) packaged, not only loaded: each project that loads is copied to a
//! temp dir, its dependencies are served as stub wheels from a local index, and
//! `strata package --stage dev` must succeed. Each snapshot pins the artifacts and their
//! entries, reviewed against what Serverless v3 with serverless-python-requirements 6.1.2
//! would put in (docs/manifest.md, "What goes into the zips").

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::support::*;
use strata_tests::wheel::WheelBuilder;
use strata_tests::{LocalIndex, SourceProject};

/// Projects the manifest loader refuses (pinned in strata-manifest's corpus snapshots), so
/// there is nothing to package.
const REFUSED_TO_LOAD: &[(&str, &str)] = &[
    (
        "examples-aws-python-auth0-custom-authorizers-api",
        "reads secrets.json and public_key, which the example leaves to the user to create",
    ),
    (
        "examples-aws-python-sqs-worker",
        "`${construct:…}` (Serverless Lift) is not a variable source strata resolves",
    ),
    (
        "spr-base",
        "a container image function, and a handler file without the named function",
    ),
];

/// Projects strata refuses to package on purpose, with the reason; the snapshot pins the
/// message.
const REFUSED_ON_PURPOSE: &[(&str, &str)] = &[];

/// The plugin's Poetry fixtures take bottle from GitHub at a tag. A local repository with a
/// stub `bottle` module stands in for it, built by the real git and build path, and strata
/// reaches it as a user behind a mirror reaches theirs: git's `url.<mirror>.insteadOf`, set
/// through `GIT_CONFIG_*` in strata's environment.
const BOTTLE_REPOSITORY: &str = "https://github.com/bottlepy/bottle.git";
const BOTTLE_TAG: &str = "0.12.16";

/// Poetry and Pipenv projects without a lock, packaged from their constraints: the
/// distributions the plugin would install (its default groups), and the ones of other groups
/// it would leave out, which the index serves all the same.
const UNLOCKED_PROJECTS: &[(&str, &[&str], &[&str])] = &[
    ("spr-pipenv", &["flask", "bottle", "boto3"], &["pytest"]),
    ("spr-poetry_packages", &["flask"], &["boto3"]),
];

/// Projects whose snapshot differs from what the plugin would package, by mistake (not one of
/// the documented differences), with the reason. (Not listed: the Flask examples also run
/// serverless-wsgi, which adds `serverless_wsgi.py` and `.serverless-wsgi` at package time;
/// strata runs no plugin but serverless-python-requirements and warns about it.)
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// Values the projects read with `${env:…}`, shared with strata-manifest's corpus test.
const ENVIRONMENT: &str =
    include_str!("../../../strata-manifest/tests/fixtures/corpus/environment");

/// The version served for a requirement that pins none.
const UNPINNED_VERSION: &str = "1.0.0";

fn corpus() -> PathBuf {
    workspace().join("crates/strata-manifest/tests/fixtures/corpus")
}

fn copy_tree(from: &Path, to: &Path) {
    for (relative, bytes) in tree(from) {
        let path = to.join(relative);
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
    }
}

/// Every distribution a requirements file in `project` names, with the version its line
/// gives (`==` or the lower bound of `>=`), else [`UNPINNED_VERSION`]. Option lines (`-r`,
/// `-e`, `--index-url`) are skipped: the included files are read on their own. Poetry and
/// Pipenv dependencies count too (every group), through [`manifest_dependencies`].
fn distributions(project: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for (relative, bytes) in tree(project) {
        let file = Path::new(&relative).file_name().unwrap().to_string_lossy();
        let text = String::from_utf8(bytes).expect("utf-8");
        if file == "pyproject.toml" || file == "Pipfile" {
            found.extend(manifest_dependencies(&text));
            continue;
        }
        if !(file.starts_with("requirements") && file.ends_with(".txt")) {
            continue;
        }
        for line in text.lines() {
            let line = line.split('#').next().unwrap().trim();
            let line = line.trim_end_matches('\\').trim();
            if line.is_empty() || line.starts_with('-') {
                continue;
            }
            let end = line
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .unwrap_or(line.len());
            let (name, rest) = line.split_at(end);
            let version = ["==", ">="]
                .iter()
                .find_map(|operator| rest.trim().strip_prefix(operator))
                .map_or(UNPINNED_VERSION, str::trim);
            found.insert(name.to_owned(), version.to_owned());
        }
    }
    found
}

/// The dependencies of a `pyproject.toml` (`[tool.poetry.dependencies]`, the legacy dev
/// table and every group) or a `Pipfile` (`[packages]`, `[dev-packages]`), with the version
/// their constraint starts from. Entries without a version (git, path) are not served.
fn manifest_dependencies(text: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut in_dependencies = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(section) = line.strip_prefix('[') {
            let section = section.trim_end_matches(']');
            in_dependencies = matches!(
                section,
                "tool.poetry.dependencies"
                    | "tool.poetry.dev-dependencies"
                    | "packages"
                    | "dev-packages"
            ) || (section.starts_with("tool.poetry.group.")
                && section.ends_with(".dependencies"));
            continue;
        }
        let Some((name, value)) = line.split_once('=').filter(|_| in_dependencies) else {
            continue;
        };
        let name = name.trim();
        let value = value.trim();
        if name == "python" {
            continue;
        }
        let constraint = match value.strip_prefix('{') {
            Some(table) => match table.split_once("version") {
                Some((_, rest)) => rest.trim_start().trim_start_matches('=').trim(),
                None => continue,
            },
            None => value,
        };
        let version = constraint
            .trim_start_matches('"')
            .split(['"', ','])
            .next()
            .unwrap_or_default()
            .trim_start_matches(['^', '~', '=', '>', '<'])
            .trim();
        let version = if version.is_empty() || version == "*" {
            UNPINNED_VERSION
        } else {
            version
        };
        found.insert(name.to_owned(), version.to_owned());
    }
    found
}

/// A stub package's files collapse to `name/…` (under `python/` in a layer); the handler
/// code and the dist-info folders stay listed.
fn collapse(names: &[String], packages: &[String]) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .map(|name| {
            let (lead, rest) = name
                .strip_prefix("python/")
                .map_or(("", name.as_str()), |rest| ("python/", rest));
            match rest.split_once('/') {
                Some((package, _)) if packages.iter().any(|p| p == package) => {
                    format!("{lead}{package}/…")
                }
                _ => name.clone(),
            }
        })
        .collect();
    out.dedup();
    out
}

/// Every artifact under `out` (zips and their entries), with stub packages collapsed.
fn describe(out: &Path, packages: &[String]) -> String {
    let mut text = String::new();
    for (relative, _) in tree(out) {
        if !relative.ends_with(".zip") {
            continue;
        }
        writeln!(text, "{relative}").unwrap();
        let mut names: Vec<String> = read_zip(&out.join(&relative))
            .into_iter()
            .map(|entry| entry.name)
            .collect();
        names.sort();
        for name in collapse(&names, packages) {
            writeln!(text, "  {name}").unwrap();
        }
        for inner in read_zip(&out.join(&relative))
            .into_iter()
            .filter(|entry| entry.name.ends_with(".requirements.zip"))
        {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("inner.zip");
            std::fs::write(&path, &inner.data).expect("write");
            let mut names: Vec<String> = read_zip(&path)
                .into_iter()
                .map(|entry| entry.name)
                .collect();
            names.sort();
            writeln!(text, "  {} holds:", inner.name).unwrap();
            for name in collapse(&names, packages) {
                writeln!(text, "    {name}").unwrap();
            }
        }
    }
    text
}

/// Lines of strata's stderr worth pinning (warnings and errors), temp paths hidden.
fn diagnostics(stderr: &str, project: &Path) -> String {
    let mut text = String::new();
    for line in stderr.lines() {
        let trimmed = line.trim_start();
        if ["warning", "error", "hint", "Caused by"]
            .iter()
            .any(|start| trimmed.starts_with(start))
        {
            let line = line.replace(&project.display().to_string(), "[project]");
            writeln!(text, "{line}").unwrap();
        }
    }
    text
}

fn refused_to_load(name: &str) -> bool {
    REFUSED_TO_LOAD.iter().any(|(refused, _)| *refused == name)
}

fn refused_on_purpose(name: &str) -> bool {
    REFUSED_ON_PURPOSE
        .iter()
        .any(|(refused, _)| *refused == name)
}

fn package_project(name: &str) -> (bool, String) {
    let source = corpus().join(name);
    let wheels_dir = tempfile::tempdir().expect("temp dir");
    let index = LocalIndex::start(wheels_dir.path()).expect("index");
    let wanted = distributions(&source);
    let wheels: Vec<WheelBuilder> = wanted
        .iter()
        .map(|(name, version)| WheelBuilder::new(name, version))
        .collect();
    publish(&index, &wheels);
    // The import package a stub wheel holds: the name, lowercased, `-`/`.` as `_`.
    let packages: Vec<String> = wanted
        .keys()
        .map(|name| name.to_lowercase().replace(['-', '.'], "_"))
        .collect();

    let mut project = Project::new(Resolver::Uv);
    copy_tree(&source, project.path());
    // A Pipfile names PyPI as its index, which a requirements-file `-i` would reach: tests
    // talk to the local index only.
    let pipfile = project.path().join("Pipfile");
    if pipfile.is_file() {
        let text = std::fs::read_to_string(&pipfile).expect("read Pipfile");
        let text = text.replace("https://pypi.org/simple", &index.url());
        std::fs::write(&pipfile, text).expect("write Pipfile");
    }
    project.env("PIP_INDEX_URL", &index.url());
    let bottle = tempfile::tempdir().expect("temp dir");
    let repository = SourceProject::write(
        bottle.path(),
        "bottle",
        BOTTLE_TAG,
        "__version__ = '0.12.16'\n",
    );
    repository.init_git();
    repository.tag(BOTTLE_TAG);
    project
        .env("GIT_CONFIG_COUNT", "1")
        .env(
            "GIT_CONFIG_KEY_0",
            &format!("url.{}.insteadOf", repository.file_url()),
        )
        .env("GIT_CONFIG_VALUE_0", BOTTLE_REPOSITORY);
    for line in ENVIRONMENT.lines() {
        if let Some((key, value)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
            project.env(key, value);
        }
    }
    let run = project.strata(&["package", "--stage", "dev"]);

    let mut text = String::new();
    writeln!(text, "stub wheels: {wanted:?}").unwrap();
    let succeeded = run.success();
    if succeeded {
        text.push_str(&describe(
            &project.path().join(".strata/build/dev"),
            &packages,
        ));
    } else {
        writeln!(text, "refused (exit {:?})", run.code).unwrap();
    }
    text.push_str(&diagnostics(&run.stderr, project.path()));
    assert_eq!(
        succeeded,
        !refused_on_purpose(name) && !refused_to_load(name),
        "{name}: strata package {}\nstdout:\n{}\nstderr:\n{}",
        if succeeded {
            "succeeded, expected a refusal"
        } else {
            "failed"
        },
        run.stdout,
        run.stderr
    );
    (succeeded, text)
}

#[test]
fn corpus_projects_that_load_are_packaged_as_the_plugin_would() {
    let mut projects: Vec<String> = std::fs::read_dir(corpus())
        .expect("corpus")
        .flatten()
        .filter(|entry| entry.path().join("serverless.yml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    projects.sort();
    assert!(projects.len() >= 30, "corpus not found: {projects:?}");

    let mut packaged = 0;
    for name in &projects {
        let (succeeded, text) = package_project(name);
        if refused_to_load(name) {
            // Still refused for its manifest (else this list has gone stale).
            assert!(text.contains("error: serverless.yml"), "{name}:\n{text}");
            continue;
        }
        packaged += usize::from(succeeded);
        if let Some((_, packed, left_out)) = UNLOCKED_PROJECTS
            .iter()
            .find(|(project, _, _)| project == name)
        {
            for package in *packed {
                assert!(
                    text.contains(&format!("  {package}/…\n")),
                    "{name}:\n{text}"
                );
            }
            for package in *left_out {
                assert!(text.contains(&format!("\"{package}\"")), "served: {text}");
                assert!(!text.contains(&format!("{package}/…")), "{name}:\n{text}");
            }
            assert!(
                text.contains("has no "),
                "the no-lock note: {name}:\n{text}"
            );
        }
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_suffix(name.as_str());
        settings.set_omit_expression(true);
        if let Some((_, reason)) = KNOWN_DIFFERENCES
            .iter()
            .find(|(project, _)| project == name)
        {
            settings.set_description(format!("known difference from the plugin: {reason}"));
        }
        settings.bind(|| insta::assert_snapshot!(text));
    }
    assert_eq!(
        packaged,
        projects.len() - REFUSED_TO_LOAD.len() - REFUSED_ON_PURPOSE.len()
    );
}
