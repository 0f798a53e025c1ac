//! The two words every crate shares about where code runs: which cloud, and which CPU.
//!
//! They are defined here, in the leaf of the workspace, so that the manifest, the packager,
//! the backends and the CLI all hold the same type and no crate converts one spelling into
//! another. Their serde spellings are the ones manifests, `strata.lock` and the JSON
//! documents use.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A cloud strata deploys to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    Aws,
    Azure,
    Gcp,
}

impl Cloud {
    pub const ALL: [Cloud; 3] = [Cloud::Aws, Cloud::Azure, Cloud::Gcp];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::Azure => "azure",
            Self::Gcp => "gcp",
        }
    }

    /// The product name used in messages.
    pub fn product(self) -> &'static str {
        match self {
            Self::Aws => "AWS Lambda",
            Self::Azure => "Azure Functions",
            Self::Gcp => "Google Cloud Functions",
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Cloud {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|cloud| cloud.as_str() == text)
            .ok_or_else(|| format!("unknown cloud `{text}` (expected aws, azure or gcp)"))
    }
}

/// The instruction set a function runs on, spelled as Lambda spells it (`arm64`, not the
/// wheel tags' `aarch64`). Functions run on x86_64 unless the manifest says otherwise.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Architecture {
    #[default]
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_are_the_ones_manifests_and_json_use() {
        assert_eq!(
            serde_json::to_string(&Architecture::Arm64).unwrap(),
            "\"arm64\""
        );
        assert_eq!(Architecture::X86_64.to_string(), "x86_64");
        assert_eq!(Architecture::default(), Architecture::X86_64);
        for cloud in Cloud::ALL {
            let json = serde_json::to_string(&cloud).unwrap();
            assert_eq!(json, format!("\"{cloud}\""));
            assert_eq!(serde_json::from_str::<Cloud>(&json).unwrap(), cloud);
            assert_eq!(cloud.as_str().parse::<Cloud>(), Ok(cloud));
        }
        assert_eq!(
            "lambda".parse::<Cloud>().unwrap_err(),
            "unknown cloud `lambda` (expected aws, azure or gcp)"
        );
    }
}
