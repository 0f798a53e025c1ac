//! `package --cloud` builds only what the named clouds deploy.

use crate::support::*;

const MANIFEST: &str = "\
service: shop
runtime: python3.12
gcp:
  project: shop-123
  region: europe-west1
functions:
  api:
    handler: handler.main
    targets: [aws]
  report:
    handler: main.main
    targets: [aws, gcp]
";

#[test]
fn package_with_cloud_builds_only_that_clouds_artifacts() {
    let project = Project::new(Resolver::Uv);
    project
        .write("strata.yml", MANIFEST)
        .write("handler.py", HANDLER)
        .write("main.py", HANDLER);

    let gcp = project.strata(&["package", "--cloud", "gcp", "--output-format", "json"]);
    gcp.assert_success();
    let clouds: Vec<String> = gcp.json()["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|artifact| artifact["cloud"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(clouds, ["gcp"], "{}", gcp.stdout);

    // Positive control: without --cloud the Lambda zip is built too.
    let all = project.strata(&["package", "--output-format", "json"]);
    all.assert_success();
    let count = all.json()["artifacts"].as_array().unwrap().len();
    assert_eq!(count, 2, "{}", all.stdout);

    // A cloud no function targets is named, not silently skipped.
    let azure = project.strata(&["package", "--cloud", "azure"]);
    azure.assert_failure(1);
    assert!(
        azure.stderr.contains("--cloud azure: no function of stage"),
        "{}",
        azure.stderr
    );
}
