//! The manifest loader (YAML, variables, validation) on arbitrary text: errors are fine,
//! panics, stack overflows and runaway allocation are not.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use strata_manifest::{LoadOptions, load};

fn project() -> &'static tempfile::TempDir {
    static DIRECTORY: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIRECTORY.get_or_init(|| tempfile::tempdir().expect("a scratch directory"))
}

fuzz_target!(|data: &[u8]| {
    let directory = project().path();
    // The file name decides how the manifest is read: strata's own or Serverless's.
    for name in ["strata.yml", "serverless.yml"] {
        std::fs::write(directory.join(name), data).expect("write the input");
        let options = LoadOptions {
            project_dir: directory.to_path_buf(),
            config_path: Some(PathBuf::from(name)),
            stage: Some("prod".to_owned()),
            env: [("HOST".to_owned(), "example.com".to_owned())].into(),
            ..LoadOptions::default()
        };
        let _ = load(&options);
    }
});
