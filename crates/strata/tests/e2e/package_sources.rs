//! Git and directory dependencies through the binary: built into wheels, pinned in
//! `strata.lock` to a commit, and packaged into byte-identical zips however often they are
//! rebuilt (the in-tree test backend stamps each build with the time).

use crate::support::*;
use strata_tests::LocalIndex;
use strata_tests::SourceProject;
use strata_tests::wheel::WheelBuilder;

const LAYER: &str = "aws/layers/python-requirements-py312-x86_64.zip";

fn entry_text(path: &std::path::Path, name: &str) -> String {
    String::from_utf8(entry(&read_zip(path), name).data.clone()).expect("utf-8")
}

#[test]
fn git_and_directory_dependencies_are_built_pinned_and_packaged_byte_identically() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish(&index, &[WheelBuilder::new("needed", "2.0")]);
    for resolver in resolvers() {
        let repository = tempfile::tempdir().unwrap();
        let source =
            SourceProject::write(repository.path(), "gitpkg", "1.0", "VERSION = 'first'\n");
        source.configure("gitpkg", "1.0", None, &["needed>=2"]);
        let first = source.init_git();
        let mut project = layer_project(
            resolver,
            &index,
            &[
                &format!("gitpkg @ git+{}@main", source.file_url()),
                "./libs/local",
            ],
        );
        SourceProject::write(
            &project.path().join("libs/local"),
            "local",
            "0.1",
            "NAME = 'local'\n",
        );
        project.strata(&["package"]).assert_success();
        let layer = project.out(LAYER);
        assert_eq!(
            entry_text(&layer, "python/gitpkg.py"),
            "VERSION = 'first'\n",
            "{resolver:?}"
        );
        assert_eq!(entry_text(&layer, "python/local.py"), "NAME = 'local'\n");
        let names = names(&read_zip(&layer));
        assert!(
            names.contains(&"python/needed/__init__.py".to_owned()),
            "the git package's own dependency: {names:?}"
        );
        let lock = project.read("strata.lock");
        assert!(
            lock.contains(&format!("url = \"git+{}@{first}\"", source.file_url())),
            "{lock}"
        );
        let digest = sha256_file(&layer);

        // The branch moves on, the cache is cleared: the lock rebuilds the locked commit (no
        // git for the unchanged build otherwise), and the zip has the same bytes.
        source.module("gitpkg", "VERSION = 'second'\n");
        source.commit("second");
        let cold = tempfile::tempdir().unwrap();
        project.env("STRATA_CACHE_DIR", &cold.path().display().to_string());
        std::fs::remove_dir_all(project.path().join(".strata")).unwrap();
        project.strata(&["package", "--locked"]).assert_success();
        assert_eq!(sha256_file(&project.out(LAYER)), digest, "{resolver:?}");
        assert_eq!(project.read("strata.lock"), lock);

        // Editing the local package makes the lock stale, naming the directory.
        std::fs::write(
            project.path().join("libs/local/src/local.py"),
            "NAME = 'edited'\n",
        )
        .unwrap();
        let run = project.strata(&["package", "--locked"]);
        run.assert_failure(1);
        assert!(run.stderr.contains("local @ file://"), "{}", run.stderr);
        project.strata(&["package"]).assert_success();
        assert_eq!(
            entry_text(&project.out(LAYER), "python/local.py"),
            "NAME = 'edited'\n"
        );
    }
}

#[test]
fn a_git_dependency_that_builds_a_platform_wheel_is_refused() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    let repository = tempfile::tempdir().unwrap();
    let source = SourceProject::write(repository.path(), "native", "1.0", "X = 1\n");
    source.configure("native", "1.0", Some("cp312-cp312-linux_x86_64"), &[]);
    source.init_git();
    let project = layer_project(
        Resolver::Uv,
        &index,
        &[&format!("native @ git+{}", source.file_url())],
    );
    let run = project.strata(&["package"]);
    run.assert_failure(1);
    assert!(
        run.stderr.contains("`native`") && run.stderr.contains("not pure Python"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: publish wheels"),
        "{}",
        run.stderr
    );
    assert!(
        !project
            .path()
            .join(".strata/build/dev")
            .join(LAYER)
            .exists()
    );
}
