//! Logging to stderr: `-v`/`-vv`/`-vvv` raise strata's own level, `RUST_LOG` overrides, and two
//! guards keep credentials out of the log.
//!
//! - The wire logs of the HTTP and cloud SDK crates (request lines, headers such as
//!   `Authorization` and `X-Amz-Security-Token`, hex dumps of what is sent) stay at `warn` unless
//!   `STRATA_LOG_SDK=1` is set or `RUST_LOG` names the crate: `-vv` is for strata's own story.
//! - Every line is scrubbed before it is written: a URL's userinfo (`https://user:pass@`,
//!   `https://token@`) becomes `****`, whichever crate logged it.

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Target prefixes of the crates whose debug logs show what goes over the wire.
const WIRE_LOG_TARGETS: &[&str] = &[
    "aws_", "hyper", "h2", "rustls", "ureq", "reqwest", "tower", "azure_", "google_",
];

/// The environment variable that lets the wire logs through at strata's level.
pub const LOG_SDK_VARIABLE: &str = "STRATA_LOG_SDK";

pub fn init_logging(verbose: u8, quiet: bool) {
    let rust_log = std::env::var("RUST_LOG")
        .ok()
        .filter(|value| !value.is_empty());
    let sdk_opt_in = std::env::var(LOG_SDK_VARIABLE).is_ok_and(|value| value == "1");
    let directives = filter_directives(verbose, quiet, rust_log.as_deref(), sdk_opt_in);
    let filter = EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| EnvFilter::new(filter_directives(verbose, quiet, None, sdk_opt_in)));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr)
        .with_target(false)
        .without_time()
        .try_init();
}

/// The filter for a verbosity, `RUST_LOG` (which replaces the default) and the SDK opt-in.
fn filter_directives(verbose: u8, quiet: bool, rust_log: Option<&str>, sdk_opt_in: bool) -> String {
    // Without -v, other crates' warnings (the AWS SDK narrating its credential chain) are
    // noise next to strata's own error.
    let (strata, others) = match (quiet, verbose) {
        (true, _) => ("error", "error"),
        (false, 0) => ("warn", "error"),
        (false, 1) => ("info", "warn"),
        (false, 2) => ("debug", if sdk_opt_in { "debug" } else { "warn" }),
        (false, _) => ("trace", if sdk_opt_in { "trace" } else { "warn" }),
    };
    let mut directives = match rust_log {
        Some(rust_log) => rust_log.to_owned(),
        None => format!(
            "{others},strata={strata},strata_aws={strata},strata_python={strata},strata_archive={strata},strata_provider={strata},strata_manifest={strata}"
        ),
    };
    if !sdk_opt_in {
        // A target directive beats the catch-all level, so `RUST_LOG=debug` stays quiet on the
        // wire; a longer target beats a shorter one, so `RUST_LOG=aws_smithy_runtime=trace`
        // still opens that crate.
        for target in WIRE_LOG_TARGETS {
            let named = rust_log.is_some_and(|rust_log| {
                rust_log
                    .split(',')
                    .any(|directive| directive.trim().split(['=', '[']).next() == Some(*target))
            });
            if !named {
                directives.push_str(&format!(",{target}=warn"));
            }
        }
    }
    directives
}

/// stderr, with every URL userinfo in a formatted event scrubbed. The formatter writes each
/// event with one `write_all` of the whole line, so a URL is never split across calls.
struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingStderr;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingStderr
    }
}

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let clean = strata_python::secret::redact_text(&text, &[]);
        std::io::stderr().lock().write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `-vv` switched every crate to debug, the SDK's and the HTTP client's wire
    /// logs (request headers, session tokens) included.
    #[test]
    fn wire_logs_need_an_explicit_opt_in() {
        let default = filter_directives(2, false, None, false);
        assert!(default.contains("strata_python=debug"), "{default}");
        assert!(default.starts_with("warn,"), "{default}");
        for target in WIRE_LOG_TARGETS {
            assert!(default.contains(&format!(",{target}=warn")), "{default}");
        }
        let trace = filter_directives(3, false, None, false);
        assert!(
            trace.contains("strata=trace") && trace.contains(",aws_=warn"),
            "{trace}"
        );

        let opted_in = filter_directives(3, false, None, true);
        assert!(opted_in.starts_with("trace,"), "{opted_in}");
        assert!(!opted_in.contains("aws_=warn"), "{opted_in}");

        // RUST_LOG replaces the default but opens the wire only for the crates it names.
        let rust_log = filter_directives(0, false, Some("debug,aws_smithy_runtime=trace"), false);
        assert!(
            rust_log.starts_with("debug,aws_smithy_runtime=trace"),
            "{rust_log}"
        );
        assert!(rust_log.contains(",ureq=warn"), "{rust_log}");
        let named = filter_directives(0, false, Some("info,ureq=debug"), false);
        assert!(!named.contains(",ureq=warn"), "{named}");
        EnvFilter::try_new(&rust_log).expect("the directives parse");
        EnvFilter::try_new(&default).expect("the directives parse");
    }
}
