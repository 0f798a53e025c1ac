//! The requirements parser on arbitrary text: errors are fine, panics are not.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use strata_python::{EnvMap, parse_requirements_str};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = EnvMap::from([("TOKEN".to_owned(), "canary".to_owned())]);
    // A directory that does not exist: `-r other.txt` includes fail to read instead of
    // reaching files on the fuzzing machine.
    let path = Path::new("/nonexistent/strata-fuzz/requirements.txt");
    let _ = parse_requirements_str(text, path, &env);
});
