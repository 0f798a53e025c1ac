//! Test support for strata: what tests of every strata crate share.
//!
//! Owns: [`wheel::WheelBuilder`] (valid and malicious wheels), [`index::LocalIndex`] (a PEP 503
//! package index on 127.0.0.1 with auth, fault injection and a request log), [`tls::TlsFront`]
//! (HTTPS in front of that index, with a throwaway CA), [`source::SourceProject`] (Python
//! projects with an in-tree build backend, in local git repositories), the naive [`zip`]
//! writer they rest on, [`moto`], a client for the shared moto server and its recorder, the
//! provider [`conformance`] suite every backend runs, [`stand_in`], an in-memory backend, and
//! [`azure_fake`], a contract fake of ARM, Kudu and Entra ID that stores blobs in Azurite,
//! [`cloudformation_fake`], a contract fake of CloudFormation's change sets and stack
//! operations (failed updates and rollbacks included), run beside moto,
//! contract fakes of the Application Insights query API ([`insights_fake`]) and Cloud
//! Logging's `entries:list` ([`logging_fake`]), and a [`function_server`] that `strata invoke`
//! calls by URL.
//! It depends on no strata crate but the contract (`strata-provider`, whose own tests do not
//! use this crate), so that any other strata crate can dev-depend on this one; it holds no
//! production code.

pub mod azure_fake;
pub mod cloudformation_fake;
pub mod conformance;
pub mod function_server;
mod gcp_auth;
pub mod gcp_fake;
pub mod gcs;
pub mod index;
pub mod insights_fake;
pub mod logging_fake;
pub mod moto;
pub mod source;
pub mod stand_in;
pub mod tls;
pub mod wheel;
pub mod zip;

pub use index::{LocalIndex, Stall};
pub use source::SourceProject;
pub use tls::TlsFront;
pub use wheel::{Malice, WheelBuilder};

/// Every file below `dir`, at any depth (none when `dir` does not exist): for tests that check
/// what a run left on disk (no secret in a cache, no partial file).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Milliseconds since the Unix epoch, as log events carry their time.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Each event's message and level, to compare a log read with what a test wrote.
pub fn messages_and_levels(events: &[strata_provider::LogEvent]) -> Vec<(&str, Option<&str>)> {
    events
        .iter()
        .map(|event| (event.message.as_str(), event.level.as_deref()))
        .collect()
}
