//! End-to-end tests of the `strata` binary: packaging against a local package index, deploys
//! to moto, interrupts, locks and the secrets canary.
//!
//! One test binary (linking a test binary is the slow step on small CI machines); each module
//! is one area. Tests run the binary Cargo built from the same sources
//! (`CARGO_BIN_EXE_strata`), never a nested `cargo build`.

mod support;

mod aws_deploy;
mod azure_deploy;
mod corpus_packaging;
mod gcp_deploy;
mod github_action;
mod init_clouds;
mod interrupt_and_lock;
mod logs_invoke;
mod observe_clouds;
mod package_artifacts;
mod package_clouds;
mod package_differential;
mod package_failures;
mod package_lock;
mod package_native;
mod package_pypi;
mod package_serverless;
mod package_sources;
mod package_targets;
mod secret_marker;
mod secrets_canary;
mod tls_index;
