//! Secrets never leave where they are used: index credentials, cloud credentials and secret
//! environment values appear in no output, file, zip, upload or child argv strata produces,
//! while each still reaches its place of use.

mod package_support;

use package_support::{HANDLER, Project, Resolver, publish, read_zip};
use strata_tests::LocalIndex;
use strata_tests::wheel::WheelBuilder;

/// One function per cloud, all sharing the project's `requirements.txt`.
const THREE_CLOUDS: &str = "service: orders
runtime: python3.12
provider:
  name: aws
  region: eu-west-1
azure:
  subscriptionId: 00000000-0000-0000-0000-000000000000
  resourceGroup: orders-rg
  functionApp: orders-dev
  storageAccount: ordersstoredev
  region: westeurope
gcp:
  project: orders-dev-123
  region: europe-west1
  bucket: orders-sources
functions:
  api:
    handler: handler.main
    targets: [aws]
  hello:
    handler: function_app.hello
    targets: [azure]
  helloHttp:
    handler: main.hello_http
    targets: [gcp]
";

/// Every zip under `dir`, recursively.
fn zips(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "zip") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Regression: `--index-url https://user:token@host` in requirements.txt shipped inside the
/// Lambda zip, the Azure app zip and the Google source zip.
#[test]
fn requirements_files_ship_without_index_credentials() {
    const USER: &str = "zip-canary-user";
    const PASSWORD: &str = "zip-canary-Pa55word";
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::builder(wheels.path())
        .basic_auth(USER, PASSWORD)
        .start()
        .unwrap();
    publish(&index, &[WheelBuilder::new("private", "1.0")]);
    let project = Project::new(Resolver::Pip);
    let requirements = format!(
        "--index-url {}\nprivate==1.0\n",
        index.url_with_credentials()
    );
    project
        .write("strata.yml", THREE_CLOUDS)
        .write("handler.py", HANDLER)
        .write("function_app.py", "def hello(request):\n    return 'hi'\n")
        .write("main.py", "def hello_http(request):\n    return 'hi'\n")
        .write("requirements.txt", &requirements);

    let run = project.strata(&["package"]);
    run.assert_success();

    // Positive control: the credentials did reach the index.
    assert!(
        index.requests().iter().any(|request| request
            .path
            .ends_with("private-1.0-py3-none-any.whl")
            && request.status == 200),
        "{:?}",
        index.requests()
    );
    let shipped = format!("--index-url {}\nprivate==1.0\n", index.url());
    let zips = zips(&project.path().join(".strata"));
    assert_eq!(zips.len(), 3, "{zips:?}");
    for zip in &zips {
        let entries = read_zip(zip);
        for entry in &entries {
            let text = String::from_utf8_lossy(&entry.data);
            assert!(
                !text.contains(PASSWORD) && !text.contains(USER),
                "{} holds the credentials in {}",
                zip.display(),
                entry.name
            );
        }
        let requirements = entries
            .iter()
            .find(|entry| entry.name == "requirements.txt")
            .unwrap_or_else(|| panic!("{} has no requirements.txt", zip.display()));
        assert_eq!(String::from_utf8_lossy(&requirements.data), shipped);
    }
    // Google builds from that file, so strata says how the build gets its credentials.
    assert!(
        run.stderr.contains(
            "gcp/functions/helloHttp.zip: requirements.txt names a package index with credentials"
        ) && run.stderr.contains("Artifact Registry"),
        "{}",
        run.stderr
    );
    assert!(!run.all().contains(PASSWORD), "{}", run.all());
}
