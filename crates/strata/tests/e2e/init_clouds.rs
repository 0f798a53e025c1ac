//! `strata init` for several clouds: each cloud's artifact carries its own framework only.

use strata_tests::LocalIndex;
use strata_tests::wheel::WheelBuilder;

use crate::support::{Project, Resolver, names, publish, read_zip};

/// Regression: the three clouds shared one requirements.txt, so the Lambda zip carried
/// `azure-functions` and `functions-framework`.
#[test]
fn a_three_cloud_init_gives_each_cloud_only_its_own_framework() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    publish(
        &index,
        &[
            WheelBuilder::new("azure-functions", "1.21.0"),
            WheelBuilder::new("functions-framework", "3.8.0"),
        ],
    );
    let mut project = Project::new(Resolver::Uv);
    project.env("PIP_INDEX_URL", &index.url());
    project
        .strata(&[
            "init", "--cloud", "aws", "--cloud", "azure", "--cloud", "gcp", "--name", "shop",
        ])
        .assert_success();
    project.strata(&["package"]).assert_success();

    let build = project.path().join(".strata/build/dev");
    let mut zips: Vec<String> = Vec::new();
    let mut stack = vec![build.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "zip") {
                zips.push(path.strip_prefix(&build).unwrap().display().to_string());
            }
        }
    }
    zips.sort();
    let aws: Vec<&String> = zips.iter().filter(|zip| zip.starts_with("aws/")).collect();
    assert!(!aws.is_empty(), "no Lambda artifact among {zips:?}");
    for zip in &aws {
        let entries = names(&read_zip(&build.join(zip)));
        assert!(
            entries
                .iter()
                .all(|name| !name.contains("azure_functions")
                    && !name.contains("functions_framework")),
            "{zip} carries another cloud's framework: {entries:?}"
        );
        assert!(
            entries.iter().any(|name| name == "handler.py"),
            "{entries:?}"
        );
    }

    let azure_zips: Vec<&String> = zips
        .iter()
        .filter(|zip| zip.starts_with("azure/"))
        .collect();
    let [azure_zip] = azure_zips.as_slice() else {
        panic!("one Azure app zip expected among {zips:?}");
    };
    let azure = read_zip(&build.join(azure_zip));
    let azure_names = names(&azure);
    assert!(
        azure_names
            .iter()
            .any(|name| name == ".python_packages/lib/site-packages/azure_functions/__init__.py"),
        "{azure_names:?}"
    );
    assert!(
        !azure_names
            .iter()
            .any(|name| name.contains("functions_framework")),
        "{azure_names:?}"
    );

    let gcp = read_zip(&build.join("gcp/functions/hello-gcp.zip"));
    let requirements = gcp
        .iter()
        .find(|entry| entry.name == "requirements.txt")
        .unwrap_or_else(|| panic!("no requirements.txt in {:?}", names(&gcp)));
    let requirements = String::from_utf8_lossy(&requirements.data);
    assert!(
        requirements.contains("functions-framework"),
        "{requirements}"
    );
    assert!(!requirements.contains("azure-functions"), "{requirements}");
}
