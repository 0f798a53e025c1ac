//! What the strata-python integration tests share.

use strata_python::{CredentialSources, EnvMap, IndexConfig, IndexOptions};

/// The index configuration of a project whose only index is `url` (as `PIP_INDEX_URL`).
pub fn index_config(url: &str) -> IndexConfig {
    let env = EnvMap::from([("PIP_INDEX_URL".to_string(), url.to_string())]);
    IndexConfig::from_sources(
        &env,
        &IndexOptions::default(),
        &IndexOptions::default(),
        &CredentialSources::default(),
    )
    .unwrap()
}
