//! Shared by the contract-fake and moto test binaries; each uses a different part, so unused
//! items in one binary are expected.
// `allow`, not `expect`: the lint fires in some of the binaries only.
#![allow(dead_code)]

pub mod fake_lambda;

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use strata_provider::{
    Architecture, ArtifactRef, DeploySpec, FunctionSpec, LayerRef, LayerSpec, RoleSpec,
};
use strata_tests::zip::{Method, ZipEntry, write_zip};

/// A stored (uncompressed) zip of `files`, with fixed timestamps: deterministic bytes.
pub fn stored_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let entries: Vec<ZipEntry> = files
        .iter()
        .map(|(name, data)| ZipEntry {
            method: Method::Stored,
            ..ZipEntry::file(*name, *data)
        })
        .collect();
    write_zip(&entries)
}

/// Writes `bytes` to `dir/name` and describes it as the archive crate would.
pub fn artifact(dir: &Path, name: &str, bytes: &[u8]) -> ArtifactRef {
    let path = dir.join(name);
    fs_err::write(&path, bytes).unwrap();
    let digest = Sha256::digest(bytes);
    ArtifactRef {
        path,
        sha256_hex: hex::encode(digest),
        code_sha256_base64: base64::engine::general_purpose::STANDARD.encode(digest),
        zipped_size: bytes.len() as u64,
        unzipped_size: bytes.len() as u64,
    }
}

/// A handler zip whose content is `source` as `handler.py`.
pub fn handler_artifact(dir: &Path, name: &str, source: &str) -> ArtifactRef {
    artifact(dir, name, &stored_zip(&[("handler.py", source.as_bytes())]))
}

pub fn function(service: &str, stage: &str, logical: &str, code: ArtifactRef) -> FunctionSpec {
    FunctionSpec {
        logical_name: logical.to_owned(),
        deployed_name: format!("{service}-{stage}-{logical}"),
        handler: format!("handler.{logical}"),
        runtime: "python3.12".to_owned(),
        memory_mb: 128,
        timeout_s: 6,
        environment: BTreeMap::from([("STAGE".to_owned(), stage.to_owned())]),
        secret_environment: Default::default(),
        description: String::new(),
        tags: BTreeMap::new(),
        architecture: Architecture::X86_64,
        layers: Vec::new(),
        code,
        role: None,
        cloud_settings: Default::default(),
        triggers: vec![],
    }
}

pub fn layer(
    service: &str,
    stage: &str,
    name: &str,
    artifact: ArtifactRef,
    hash: &str,
) -> LayerSpec {
    LayerSpec {
        name: name.to_owned(),
        deployed_name: format!("{service}-{stage}-{name}"),
        artifact,
        dependency_hash: hash.to_owned(),
        compatible_runtimes: vec!["python3.12".to_owned()],
        compatible_architectures: vec![Architecture::X86_64],
    }
}

pub fn spec(
    service: &str,
    stage: &str,
    functions: Vec<FunctionSpec>,
    layers: Vec<LayerSpec>,
    role: RoleSpec,
) -> DeploySpec {
    DeploySpec {
        service: service.to_owned(),
        stage: stage.to_owned(),
        functions,
        layers,
        role,
        unmanaged: Vec::new(),
        force: false,
        adopt: false,
        aws_stack: None,
        partial: false,
    }
}

pub fn own_layer(name: &str) -> LayerRef {
    LayerRef::Own(name.to_owned())
}

/// A unique suffix so tests sharing one emulator never see each other's resources.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{:x}{:x}", std::process::id(), nanos % 0xFFFF_FFFF)
}
