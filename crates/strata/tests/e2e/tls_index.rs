//! A package index over HTTPS whose certificate comes from a private CA (issue #15): `strata
//! lock` (uv and pip) and `strata package` refuse it, with a hint, unless `SSL_CERT_FILE` holds
//! that CA, as for a user behind a corporate TLS proxy.

use crate::support::*;
use strata_tests::wheel::WheelBuilder;
use strata_tests::{LocalIndex, TlsFront};

const LAYER: &str = "aws/layers/python-requirements-py312-x86_64.zip";

fn https_project(resolver: Resolver, front: &TlsFront) -> Project {
    let project = Project::new(resolver);
    project
        .write(
            "serverless.yml",
            &serverless_yml("python3.12", "x86_64", true),
        )
        .write("handler.py", HANDLER)
        .write(
            "requirements.txt",
            &format!("--index-url {}\nalpha==1.0\n", front.url()),
        );
    project
}

#[test]
fn an_https_index_with_a_private_ca_needs_ssl_cert_file_to_lock_and_package() {
    let wheels = tempfile::tempdir().unwrap();
    let index = LocalIndex::start(wheels.path()).unwrap();
    let front = TlsFront::new(&index).unwrap();
    publish(
        &index,
        &[
            WheelBuilder::new("alpha", "1.0").requires_dist("beta>=1"),
            WheelBuilder::new("beta", "1.0"),
        ],
    );
    let ca_file = front.ca_file().display().to_string();
    let host = format!("127.0.0.1:{}", front.port());
    for resolver in resolvers() {
        let mut project = https_project(resolver, &front);
        let trusted_before = front.handshakes();

        // The resolver refuses the certificate: reported as that, with the fix, no lock.
        let run = project.strata(&["lock"]);
        run.assert_failure(1);
        assert!(
            run.stderr.contains("TLS certificate")
                && run.stderr.contains(&host)
                && run.stderr.contains("SSL_CERT_FILE"),
            "{resolver:?}: names the certificate problem, the index and the fix:\n{}",
            run.stderr
        );
        assert!(!project.path().join("strata.lock").exists());
        assert_eq!(front.handshakes(), trusted_before, "{resolver:?}");
        assert_eq!(index.requests(), Vec::new(), "{resolver:?}");

        // Positive control: the same lock with the CA in SSL_CERT_FILE.
        project.env("SSL_CERT_FILE", &ca_file);
        project.strata(&["lock"]).assert_success();
        let lock = project.read("strata.lock");
        assert!(
            lock.contains(&format!("https://{host}/files/alpha-1.0-py3-none-any.whl")),
            "{resolver:?}:\n{lock}"
        );

        // strata's own downloads: a fresh lock, an empty wheel cache, no CA.
        project.env.remove("SSL_CERT_FILE");
        let _ = std::fs::remove_dir_all(project.cache.path().join("strata"));
        let (connections, handshakes) = (front.connections(), front.handshakes());
        let run = project.strata(&["package", "--locked"]);
        run.assert_failure(1);
        assert!(
            run.stderr.contains("not trusted")
                && run.stderr.contains(&host)
                && run.stderr.contains("SSL_CERT_FILE"),
            "{resolver:?}: names the index and the fix:\n{}",
            run.stderr
        );
        assert!(
            front.connections() - connections <= 2,
            "{resolver:?}: at most one attempt per wheel, no retries ({} connections)",
            front.connections() - connections
        );
        assert_eq!(front.handshakes(), handshakes);
        assert!(!project.out(LAYER).exists(), "nothing half-written");

        project.env("SSL_CERT_FILE", &ca_file);
        project.strata(&["package", "--locked"]).assert_success();
        let layer = read_zip(&project.out(LAYER));
        let files = names(&layer);
        assert!(
            files.iter().any(|name| name.starts_with("python/alpha/"))
                && files.iter().any(|name| name.starts_with("python/beta/")),
            "{resolver:?}: {files:?}"
        );
        assert!(front.handshakes() > handshakes);
        index.clear_requests();
    }
}
