//! Manifests written to exhaust the loader: nesting deep enough to overflow a recursive
//! parser's stack, and variables that multiply the document. Each must end in a diagnostic,
//! and a manifest just inside the bounds must still load.

use std::path::PathBuf;

use strata_manifest::{LoadOptions, ManifestError, load};

/// Loads `custom` (YAML text placed under `custom:`) in an otherwise valid manifest and
/// returns every diagnostic message, or an empty list when it loaded.
fn load_custom(custom: &str) -> Vec<String> {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(
        directory.path().join("handler.py"),
        "def main(event, context):\n    return 1\n",
    )
    .unwrap();
    let manifest = format!(
        "service: app\nprovider:\n  name: aws\n  runtime: python3.12\nfunctions:\n  hello:\n    handler: handler.main\ncustom:\n{custom}\n"
    );
    std::fs::write(directory.path().join("serverless.yml"), manifest).unwrap();
    let options = LoadOptions {
        project_dir: directory.path().to_path_buf(),
        config_path: Some(PathBuf::from("serverless.yml")),
        ..LoadOptions::default()
    };
    match load(&options) {
        Ok(_) => Vec::new(),
        Err(error @ ManifestError::Invalid { .. }) => error
            .diagnostics()
            .iter()
            .map(|diagnostic| diagnostic.to_string())
            .collect(),
        Err(other) => panic!("not a manifest diagnostic: {other}"),
    }
}

fn flow_sequences(depth: usize) -> String {
    format!("  deep: {}x{}", "[".repeat(depth), "]".repeat(depth))
}

fn flow_mappings(depth: usize) -> String {
    format!("  deep: {}x{}", "{a: ".repeat(depth), "}".repeat(depth))
}

/// `- - - - x`: every `- ` opens a block sequence one column further in, so the nesting
/// costs two bytes a level.
fn block_sequences(depth: usize) -> String {
    format!("  deep:\n    {}x", "- ".repeat(depth))
}

/// One key per line, each indented one column further than the one before.
fn block_mappings(depth: usize) -> String {
    let mut text = String::new();
    for level in 0..depth {
        text.push_str(&" ".repeat(level + 2));
        text.push_str("a:\n");
    }
    text.push_str(&" ".repeat(depth + 2));
    text.push('x');
    text
}

/// Every diagnostic that says the manifest nests too deeply: the loader's own bound, or
/// for flow collections saphyr-parser's, which its scanner can meet first.
fn nesting_refusals(messages: &[String]) -> Vec<&String> {
    messages
        .iter()
        .filter(|message| {
            message.contains("YAML nests deeper than 100 levels")
                || message.contains("invalid YAML: recursion limit exceeded")
        })
        .collect()
}

#[test]
fn nesting_well_below_the_bound_loads() {
    for custom in [
        flow_sequences(90),
        flow_mappings(90),
        block_sequences(90),
        block_mappings(90),
    ] {
        assert_eq!(load_custom(&custom), Vec::<String>::new(), "{custom}");
    }
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    for custom in [
        flow_sequences(10_000),
        flow_mappings(10_000),
        block_sequences(10_000),
        block_mappings(10_000),
    ] {
        let messages = load_custom(&custom);
        assert_eq!(nesting_refusals(&messages).len(), 1, "{messages:?}");
    }
}

#[test]
fn nesting_built_from_aliases_is_refused() {
    // Each anchor nests 40 levels inside the one before: 40 levels written per line, 120
    // once the aliases are expanded.
    let mut custom = format!("  a0: &a0 {}x{}\n", "[".repeat(40), "]".repeat(40));
    for level in 1..3 {
        custom.push_str(&format!(
            "  a{level}: &a{level} {}*a{}{}\n",
            "[".repeat(40),
            level - 1,
            "]".repeat(40)
        ));
    }
    let messages = load_custom(&custom);
    assert_eq!(nesting_refusals(&messages).len(), 1, "{messages:?}");
}

#[test]
fn variable_expansion_is_capped() {
    // Each level references the one before ten times: level 6 would be a million values.
    let mut custom = String::from("  l0: [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..=6 {
        custom.push_str(&format!("  l{level}:\n"));
        for _ in 0..10 {
            custom.push_str(&format!("    - ${{self:custom.l{}}}\n", level - 1));
        }
    }
    let messages = load_custom(&custom);
    assert!(
        messages
            .iter()
            .any(|message| message.contains("variables expand to more than 200000 values")),
        "{messages:?}"
    );
}

#[test]
fn variable_expansion_below_the_cap_loads() {
    let mut custom = String::from("  l0: [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..=3 {
        custom.push_str(&format!("  l{level}:\n"));
        for _ in 0..10 {
            custom.push_str(&format!("    - ${{self:custom.l{}}}\n", level - 1));
        }
    }
    assert_eq!(load_custom(&custom), Vec::<String>::new());
}

#[test]
fn long_chains_of_variables_end_in_a_diagnostic_or_load() {
    // Each value is the one before it: resolving the last follows 5000 references.
    let mut custom = String::from("  l0: x\n");
    for level in 1..=5000 {
        custom.push_str(&format!("  l{level}: ${{self:custom.l{}}}\n", level - 1));
    }
    let messages = load_custom(&custom);
    assert!(
        messages.is_empty() || messages.iter().any(|message| message.contains("variable")),
        "{messages:?}"
    );
}
