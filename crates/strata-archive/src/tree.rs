//! Choosing handler files from a project directory with Serverless `package.patterns`
//! semantics, and the glob sets used to drop paths from wheels (`slim`).

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

use crate::ArchiveError;
use crate::wheel::unsafe_path_reason;

/// Paths never packaged from a project tree unless a later pattern includes them again:
/// version control, caches, virtualenvs, Node modules, strata's and Serverless' own output,
/// dotenv files (secrets) and the lock file.
pub const DEFAULT_TREE_EXCLUDES: &[&str] = &[
    "**/.git",
    "**/.hg",
    "**/.svn",
    "**/__pycache__",
    "**/*.pyc",
    "**/.venv",
    "**/venv",
    "**/.virtualenv",
    "**/node_modules",
    ".strata",
    ".serverless",
    "**/.env",
    "**/.env.*",
    "**/.DS_Store",
    "strata.lock",
    "**/.pytest_cache",
];

/// serverless-python-requirements' `slim: true` defaults.
pub const SLIM_DEFAULT_PATTERNS: &[&str] = &["**/*.py[c|o]", "**/__pycache__*", "**/*.dist-info*"];

fn compile(pattern: &str) -> Result<globset::Glob, ArchiveError> {
    // `*` stops at `/` as in minimatch/micromatch, which Serverless uses; a trailing `/`
    // only says "directory", and directories are matched through their files' ancestors.
    let trimmed = pattern.strip_suffix('/').unwrap_or(pattern);
    GlobBuilder::new(trimmed)
        .literal_separator(true)
        .build()
        .map_err(|source| ArchiveError::Pattern {
            pattern: pattern.to_owned(),
            source,
        })
}

/// `path` and each directory above it, shortest first: a pattern naming a directory applies
/// to everything under it, as deleting that directory would.
fn path_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/')
        .map(|(index, _)| &path[..index])
        .chain(std::iter::once(path))
}

/// Glob patterns that drop paths, matched against a path relative to the archive prefix and
/// each of its parent directories.
#[derive(Debug, Clone)]
pub struct Excludes {
    set: GlobSet,
}

impl Excludes {
    /// Excludes nothing.
    pub fn none() -> Self {
        Self {
            set: GlobSet::empty(),
        }
    }

    /// Compiles `patterns` (globset syntax, `*` does not cross `/`).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, ArchiveError> {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            builder.add(compile(pattern.as_ref())?);
        }
        let set = builder.build().map_err(|source| ArchiveError::Pattern {
            pattern: String::new(),
            source,
        })?;
        Ok(Self { set })
    }

    pub fn is_excluded(&self, path: &str) -> bool {
        !self.set.is_empty() && path_and_ancestors(path).any(|part| self.set.is_match(part))
    }
}

/// `package.patterns` after the default exclusions: applied in order, `!` excludes, anything
/// else includes again, the last match wins.
pub(crate) struct TreePatterns {
    defaults: Excludes,
    user: Vec<(bool, GlobMatcher)>,
}

impl TreePatterns {
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, ArchiveError> {
        let defaults = Excludes::new(DEFAULT_TREE_EXCLUDES)?;
        let mut user = Vec::with_capacity(patterns.len());
        for pattern in patterns {
            let pattern = pattern.as_ref();
            let (negated, glob) = match pattern.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, pattern),
            };
            let matcher = compile(glob)
                .map_err(|error| match error {
                    ArchiveError::Pattern { source, .. } => ArchiveError::Pattern {
                        pattern: pattern.to_owned(),
                        source,
                    },
                    other => other,
                })?
                .compile_matcher();
            user.push((negated, matcher));
        }
        Ok(Self { defaults, user })
    }

    pub fn includes(&self, path: &str) -> bool {
        let mut included = !self.defaults.is_excluded(path);
        for (negated, matcher) in &self.user {
            if path_and_ancestors(path).any(|part| matcher.is_match(part)) {
                included = !negated;
            }
        }
        included
    }

    /// Whether nothing below directory `path` can be included, so the walk may skip it (this
    /// keeps virtualenvs and `node_modules` unread). Only safe when no pattern re-includes.
    fn prunes(&self, path: &str) -> bool {
        self.user.iter().all(|(negated, _)| *negated) && !self.includes(path)
    }
}

/// A regular file chosen from a project tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// `/`-separated path relative to the tree root.
    pub relative: String,
    /// Where to read it (a symlink inside the project is read through).
    pub path: PathBuf,
    pub executable: bool,
}

/// The files under `root` that Serverless-style `patterns` select, in sorted order: what
/// [`crate::ArchiveBuilder::add_tree`] would add. Callers hash them for a build cache key and
/// pass them to [`crate::ArchiveBuilder::add_tree_files`], so the tree is walked once.
pub fn list_tree<S: AsRef<str>>(
    root: &Path,
    patterns: &[S],
) -> Result<Vec<TreeFile>, ArchiveError> {
    collect_tree(root, &TreePatterns::new(patterns)?)
}

/// Walks `root` in sorted order and returns the files `patterns` select.
pub(crate) fn collect_tree(
    root: &Path,
    patterns: &TreePatterns,
) -> Result<Vec<TreeFile>, ArchiveError> {
    let canonical_root = fs_err::canonicalize(root).map_err(ArchiveError::Io)?;
    let mut files = Vec::new();
    let mut stack = vec![canonical_root.clone()];
    walk(&canonical_root, root, "", patterns, &mut stack, &mut files)?;
    Ok(files)
}

fn walk(
    canonical_root: &Path,
    directory: &Path,
    relative: &str,
    patterns: &TreePatterns,
    stack: &mut Vec<PathBuf>,
    files: &mut Vec<TreeFile>,
) -> Result<(), ArchiveError> {
    let mut children: Vec<_> = fs_err::read_dir(directory)
        .map_err(ArchiveError::Io)?
        .map(|entry| entry.map(|entry| entry.file_name()))
        .collect::<Result<_, _>>()
        .map_err(ArchiveError::Io)?;
    children.sort();
    for file_name in children {
        let path = directory.join(&file_name);
        let lossy = file_name.to_string_lossy();
        let child = if relative.is_empty() {
            lossy.clone().into_owned()
        } else {
            format!("{relative}/{lossy}")
        };
        let link = fs_err::symlink_metadata(&path).map_err(ArchiveError::Io)?;
        let metadata = if link.file_type().is_symlink() {
            let target = match std::fs::canonicalize(&path) {
                Ok(target) if target.starts_with(canonical_root) => target,
                Ok(target) if patterns.includes(&child) => {
                    return Err(ArchiveError::SymlinkEscape { path, target });
                }
                Err(source) if patterns.includes(&child) => {
                    return Err(ArchiveError::BrokenSymlink { path, source });
                }
                _ => continue,
            };
            let metadata = fs_err::metadata(&target).map_err(ArchiveError::Io)?;
            if metadata.is_dir() && stack.contains(&target) {
                continue;
            }
            metadata
        } else {
            link
        };
        if metadata.is_dir() {
            if patterns.prunes(&child) {
                continue;
            }
            stack.push(fs_err::canonicalize(&path).map_err(ArchiveError::Io)?);
            walk(canonical_root, &path, &child, patterns, stack, files)?;
            stack.pop();
        } else if metadata.is_file() && patterns.includes(&child) {
            if file_name.to_str().is_none() {
                return Err(ArchiveError::NonUtf8Path { path });
            }
            // A `\` or a leading `C:` in a Unix file name would become a path on Windows.
            if let Some(reason) = unsafe_path_reason(&child) {
                return Err(ArchiveError::InvalidPath {
                    path: child,
                    reason,
                });
            }
            files.push(TreeFile {
                relative: child,
                path,
                executable: is_executable(&metadata),
            });
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_metadata: &std::fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slim_defaults_drop_bytecode_caches_and_metadata() {
        let excludes = Excludes::new(SLIM_DEFAULT_PATTERNS).unwrap();
        assert!(excludes.is_excluded("pkg/__pycache__/mod.cpython-312.pyc"));
        assert!(excludes.is_excluded("six.pyc"));
        assert!(excludes.is_excluded("numpy-2.1.3.dist-info/RECORD"));
        assert!(!excludes.is_excluded("numpy/core/multiarray.py"));
        assert!(!Excludes::none().is_excluded("anything"));
    }

    #[test]
    fn later_patterns_override_earlier_ones_and_defaults() {
        let patterns = TreePatterns::new(&["!tests/**", "tests/keep.py", ".env.example"]).unwrap();
        assert!(patterns.includes("handler.py"));
        assert!(!patterns.includes("tests/test_a.py"));
        assert!(patterns.includes("tests/keep.py"));
        assert!(!patterns.includes(".env"));
        assert!(patterns.includes(".env.example"));
        assert!(!patterns.includes("pkg/__pycache__/x.pyc"));
        assert!(!patterns.includes(".git/config"));
        assert!(!patterns.includes("strata.lock"));
    }

    #[test]
    fn only_negative_patterns_allow_pruning() {
        let negative = TreePatterns::new(&["!docs/**"]).unwrap();
        assert!(negative.prunes(".venv"));
        assert!(!negative.prunes("src"));
        let positive = TreePatterns::new(&[".venv/keep"]).unwrap();
        assert!(!positive.prunes(".venv"));
    }

    #[test]
    fn invalid_pattern_is_named() {
        let error = TreePatterns::new(&["!src/[unclosed"]).err().unwrap();
        assert!(error.to_string().contains("!src/[unclosed"), "{error}");
    }
}
