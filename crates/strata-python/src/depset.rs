//! Dependency sets: the requirement inputs of one layer, keyed so that functions with
//! identical inputs share one resolution, one lock entry and one layer.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::index::EnvMap;
use crate::requirements::{RequirementsError, RequirementsFile, parse_requirements};

/// One set of requirement inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencySet {
    /// Hex sha256 of [`Self::inputs`]: equal for equal inputs, whatever the files are called.
    pub key: String,
    /// The requirement files, as given (for messages and the lock).
    pub sources: Vec<String>,
    /// Normalised, sorted input lines: canonical requirements with their hashes, constraints
    /// (`-c …`) and the files' index options without credentials. Markers stay unevaluated:
    /// one set serves every target. A local directory dependency carries the hash of its
    /// files, so editing it makes the lock stale.
    pub inputs: Vec<String>,
    pub requirements: RequirementsFile,
}

impl DependencySet {
    /// Reads and merges `paths` (each with its includes). `root` makes the source names
    /// relative, so the lock does not depend on where the project is checked out.
    pub fn from_files(
        paths: &[PathBuf],
        root: &Path,
        env: &EnvMap,
    ) -> Result<Self, RequirementsError> {
        let mut merged = RequirementsFile::default();
        for path in paths {
            let file = parse_requirements(path, env)?;
            merged.requirements.extend(file.requirements);
            merged.constraints.extend(file.constraints);
            merged.options.merge(&file.options);
            merged.files.extend(file.files);
        }
        let sources = paths
            .iter()
            .map(|path| {
                path.strip_prefix(root)
                    .unwrap_or(path)
                    .to_string_lossy()
                    .replace('\\', "/")
            })
            .collect();
        Ok(Self::from_requirements(merged, sources))
    }

    pub fn from_requirements(requirements: RequirementsFile, sources: Vec<String>) -> Self {
        let inputs = normalized_inputs(&requirements);
        let key = key_of(&inputs);
        Self {
            key,
            sources,
            inputs,
            requirements,
        }
    }
}

fn normalized_inputs(file: &RequirementsFile) -> Vec<String> {
    let mut inputs: Vec<String> = Vec::new();
    for line in &file.requirements {
        let mut text = line.canonical();
        let mut hashes = line.hashes.clone();
        hashes.sort();
        for hash in hashes {
            text.push_str(&format!(" --hash=sha256:{hash}"));
        }
        if let Some(tree) = &line.tree_sha256 {
            text.push_str(&format!(" (directory sha256 {tree})"));
        }
        inputs.push(text);
    }
    for line in &file.constraints {
        inputs.push(format!("-c {}", line.canonical()));
    }
    let options = &file.options;
    if let Some(url) = &options.index_url {
        inputs.push(format!("--index-url {}", url.without_credentials()));
    }
    for url in &options.extra_index_urls {
        inputs.push(format!("--extra-index-url {}", url.without_credentials()));
    }
    for link in &options.find_links {
        inputs.push(format!("--find-links {link}"));
    }
    if options.no_index {
        inputs.push("--no-index".to_string());
    }
    if options.pre {
        inputs.push("--pre".to_string());
    }
    inputs.sort();
    inputs.dedup();
    inputs
}

fn key_of(inputs: &[String]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"strata-dependency-set-v1\n");
    for input in inputs {
        hasher.update(input.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_inputs_share_a_key_whatever_the_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        let b = dir.path().join("fn/requirements.txt");
        fs_err::create_dir_all(b.parent().unwrap()).unwrap();
        fs_err::write(&a, "Requests>=2.28\nboto3 # aws\n").unwrap();
        fs_err::write(&b, "boto3\nrequests >= 2.28\n\n").unwrap();
        let env = EnvMap::new();
        let set_a = DependencySet::from_files(std::slice::from_ref(&a), dir.path(), &env).unwrap();
        let set_b = DependencySet::from_files(std::slice::from_ref(&b), dir.path(), &env).unwrap();
        assert_eq!(set_a.key, set_b.key);
        assert_eq!(set_a.inputs, vec!["boto3", "requests>=2.28"]);
        assert_eq!(set_b.sources, vec!["fn/requirements.txt"]);

        fs_err::write(&b, "boto3\nrequests>=2.29\n").unwrap();
        let changed = DependencySet::from_files(&[b], dir.path(), &env).unwrap();
        assert_ne!(changed.key, set_a.key);
    }

    #[test]
    fn index_credentials_do_not_change_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.txt");
        let env = EnvMap::new();
        fs_err::write(&path, "-i https://u:one@h.example/simple\nsix\n").unwrap();
        let one = DependencySet::from_files(std::slice::from_ref(&path), dir.path(), &env).unwrap();
        fs_err::write(&path, "-i https://u:two@h.example/simple\nsix\n").unwrap();
        let two = DependencySet::from_files(std::slice::from_ref(&path), dir.path(), &env).unwrap();
        assert_eq!(one.key, two.key);
        assert!(
            one.inputs
                .contains(&"--index-url https://h.example/simple".to_string())
        );
        assert!(!format!("{:?}", one.inputs).contains("one"));
    }
}
