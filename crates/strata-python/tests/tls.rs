//! HTTPS package indexes: a certificate from a CA the client does not trust is refused, once,
//! with a hint; `SSL_CERT_FILE` holding that CA makes strata's downloads and both resolvers
//! (uv and pip) accept it. The index sits behind `strata_tests::TlsFront`, whose CA is made at
//! test time and is in no operating-system store.

mod common;

use common::index_config;
use std::path::{Path, PathBuf};
use std::time::Duration;

use strata_provider::Architecture;
use strata_provider::Hint as _;
use strata_python::{
    DependencySet, DownloadConfig, DownloadError, Downloader, EnvMap, NoReporter,
    PinnedDistribution, ResolveError, ResolveRequest, ResolverTool, Target, Upgrade, WheelCache,
    parse_requirements_str, resolve,
};
use strata_tests::wheel::{WheelBuilder, sha256_hex};
use strata_tests::{LocalIndex, TlsFront};
use url::Url;

fn downloader(cache: &Path, front: &TlsFront, env: &EnvMap) -> Downloader {
    let config = DownloadConfig {
        backoff: Duration::from_millis(10),
        ..DownloadConfig::default()
    };
    Downloader::new(
        WheelCache::new(cache),
        index_config(&front.url()),
        env,
        config,
    )
    .unwrap()
}

fn pin_at(front: &TlsFront, wheel: &WheelBuilder) -> PinnedDistribution {
    let bytes = wheel.build();
    let filename = wheel.filename();
    let mut pin = PinnedDistribution::new(
        "demo",
        "1.0",
        &filename,
        &Url::parse(&front.file_url(&filename)).unwrap(),
        &sha256_hex(&bytes),
    );
    pin.size = Some(bytes.len() as u64);
    pin
}

fn ssl_cert_file(path: &Path) -> EnvMap {
    EnvMap::from([("SSL_CERT_FILE".to_string(), path.display().to_string())])
}

#[test]
fn an_untrusted_index_certificate_fails_once_naming_the_host_and_ssl_cert_file() {
    let wheels = tempfile::tempdir().unwrap();
    let wheel = WheelBuilder::new("demo", "1.0");
    wheel.write_to(wheels.path()).unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    let front = TlsFront::new(&index).unwrap();
    let other = TlsFront::new(&index).unwrap();
    let pin = pin_at(&front, &wheel);
    let host = format!("127.0.0.1:{}", front.port());

    // The OS store (no SSL_CERT_FILE), then a bundle holding some other CA: both refuse.
    for (what, env) in [
        ("the OS store", EnvMap::new()),
        ("another CA", ssl_cert_file(other.ca_file())),
    ] {
        let cache = tempfile::tempdir().unwrap();
        let before = front.connections();
        let error = downloader(cache.path(), &front, &env)
            .fetch(&pin, &NoReporter)
            .unwrap_err();
        assert!(
            matches!(error, DownloadError::Tls { .. }),
            "{what}: {error:?}"
        );
        let message = error.to_string();
        let hint = error.hint().unwrap_or_default();
        assert!(
            message.contains(&host) && hint.contains("SSL_CERT_FILE"),
            "{what}: names the host and the fix: {message}\nhint: {hint}"
        );
        assert_eq!(
            front.connections() - before,
            1,
            "{what}: a certificate problem is not retried (4 attempts are allowed)"
        );
        assert!(
            !cache.path().join("wheels/sha256").exists(),
            "{what}: nothing cached"
        );
    }
    assert_eq!(front.handshakes(), 0);
    assert_eq!(index.requests(), Vec::new(), "no request got through");

    // Positive control: the same download trusting the front's CA.
    let cache = tempfile::tempdir().unwrap();
    let path = downloader(cache.path(), &front, &ssl_cert_file(front.ca_file()))
        .fetch(&pin, &NoReporter)
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), wheel.build());
    assert_eq!(front.handshakes(), 1);
    let requests = index.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].path, format!("/files/{}", wheel.filename()));
}

fn dependency_set(text: &str) -> DependencySet {
    let file = parse_requirements_str(text, Path::new("requirements.txt"), &EnvMap::new()).unwrap();
    DependencySet::from_requirements(file, vec!["requirements.txt".to_string()])
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .chain(std::iter::once(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin"),
        ))
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// What a resolver child needs to run, and no CA settings of the host's: the tests decide
/// what the child trusts.
fn child_env(home: &Path) -> EnvMap {
    let mut env: EnvMap = ["PATH", "PYENV_ROOT", "PYENV_VERSION", "LANG"]
        .iter()
        .filter_map(|key| Some((key.to_string(), std::env::var(key).ok()?)))
        .collect();
    env.insert("HOME".to_string(), home.display().to_string());
    env.insert(
        "XDG_CACHE_HOME".to_string(),
        home.join("cache").display().to_string(),
    );
    env
}

fn resolve_through(
    tool: &ResolverTool,
    front: &TlsFront,
    env: &EnvMap,
) -> Result<Vec<PinnedDistribution>, ResolveError> {
    let set = dependency_set("demo==1.0\n");
    let target = Target::aws_lambda((3, 12), Architecture::X86_64).unwrap();
    let index = index_config(&front.url());
    resolve(
        tool,
        &ResolveRequest {
            set: &set,
            target: &target,
            index: &index,
            env,
            upgrade: &Upgrade::None,
            previous: None,
            downloader: None,
        },
    )
}

/// Returns the CA file it trusted, which is gone when the test's front is.
fn check_resolver_trusts_ssl_cert_file(tool: &ResolverTool) -> PathBuf {
    let wheels = tempfile::tempdir().unwrap();
    let wheel = WheelBuilder::new("demo", "1.0");
    wheel.write_to(wheels.path()).unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    let front = TlsFront::new(&index).unwrap();
    let home = tempfile::tempdir().unwrap();

    let error = resolve_through(tool, &front, &child_env(home.path())).unwrap_err();
    assert!(
        matches!(error, ResolveError::UntrustedCertificate { .. }),
        "{tool:?}: reported as a certificate problem, not a missing version: {error:?}"
    );
    assert!(error.to_string().contains(&front.url()), "{error}");
    let hint = error.hint().unwrap_or_default();
    assert!(
        hint.contains("SSL_CERT_FILE"),
        "{tool:?}: a refused certificate hints at SSL_CERT_FILE: {error:?}\nhint: {hint}"
    );
    assert!(front.connections() > 0, "{tool:?} did try the index");
    assert_eq!(front.handshakes(), 0);
    assert_eq!(index.requests(), Vec::new());

    let mut env = child_env(home.path());
    env.extend(ssl_cert_file(front.ca_file()));
    let pins = resolve_through(tool, &front, &env)
        .unwrap_or_else(|error| panic!("{tool:?} with SSL_CERT_FILE: {error:?}"));
    assert_eq!(pins.len(), 1);
    assert_eq!(pins[0].filename, wheel.filename());
    assert_eq!(pins[0].url, front.file_url(&wheel.filename()));
    assert!(front.handshakes() > 0);
    front.ca_file().to_path_buf()
}

#[test]
fn pip_trusts_the_ca_in_ssl_cert_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let python = which("python3").expect("python3 with pip is required for the pip resolver tests");
    // pip on Linux may find SSL_CERT_FILE through OpenSSL's defaults; on other systems its
    // trust store does not, so strata must hand the bundle over as `--cert`. A wrapper
    // records the arguments to show that it does.
    let wrapper_dir = tempfile::tempdir().unwrap();
    let log = wrapper_dir.path().join("argv.log");
    let wrapper = wrapper_dir.path().join("python3");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            python.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ca_file = check_resolver_trusts_ssl_cert_file(&ResolverTool::Pip(wrapper));
    let argv = std::fs::read_to_string(&log).unwrap();
    assert!(
        argv.contains(&format!("--cert\n{}\n", ca_file.display())),
        "pip is given the bundle as --cert:\n{argv}"
    );
}

#[test]
fn uv_trusts_the_ca_in_ssl_cert_file() {
    let uv =
        which("uv").expect("uv is required: .tools/venv/bin/pip install -r scripts/test-tools.txt");
    check_resolver_trusts_ssl_cert_file(&ResolverTool::Uv(uv));
}
