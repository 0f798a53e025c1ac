//! Choosing handler files from a project directory with Serverless `package.patterns`
//! semantics, and the glob sets used to drop paths from wheels (`slim`).

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

use crate::ArchiveError;
use crate::wheel::unsafe_path_reason;

/// Paths never packaged from a project tree unless a later pattern includes them again:
/// Serverless v3's own default excludes (`.git/**`, `.gitignore`, `.DS_Store`,
/// `npm-debug.log`, `yarn-*.log`, `.serverless/**`, `.serverless_plugins/**`), and beyond
/// them version control, caches, virtualenvs, Node modules, strata's own state, dotenv files
/// (secrets) and the lock file.
pub const DEFAULT_TREE_EXCLUDES: &[&str] = &[
    "**/.git",
    ".gitignore",
    "npm-debug.log",
    "yarn-*.log",
    ".serverless_plugins",
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
    // micromatch drops a leading `./` (paths are relative to the service anyway), so
    // `./src/**` means `src/**`.
    let mut trimmed = pattern.strip_suffix('/').unwrap_or(pattern);
    while let Some(rest) = trimmed.strip_prefix("./") {
        trimmed = rest;
    }
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
    /// Where the walked root sits below the directory the user's patterns are written
    /// from (`module2` for a Serverless function with `module: module2`); empty when they
    /// are the same. The default exclusions apply below the root itself.
    base: String,
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
        Ok(Self {
            defaults,
            user,
            base: String::new(),
        })
    }

    /// The same patterns, matched as if written from `base`'s parent directory: a path
    /// `x` below the root is matched as `<base>/x`.
    pub fn based_at(mut self, base: &str) -> Self {
        self.base = base.trim_matches('/').to_owned();
        self
    }

    pub fn includes(&self, path: &str) -> bool {
        let mut included = !self.defaults.is_excluded(path);
        let based;
        let matched = if self.base.is_empty() {
            path
        } else {
            based = format!("{}/{path}", self.base);
            &based
        };
        for (negated, matcher) in &self.user {
            if path_and_ancestors(matched).any(|part| matcher.is_match(part)) {
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
    list_tree_skipping(root, patterns, &[])
}

/// [`list_tree`], leaving out the directories in `skip` (and everything below them) whatever
/// the patterns say: a packager's own output, cache and state folders must never end up in
/// what it packs, or each build would grow the next one. Directories are compared by their
/// canonical paths, so a symlink or a `..` spelling cannot bring them back; ones that do not
/// exist are ignored.
pub fn list_tree_skipping<S: AsRef<str>>(
    root: &Path,
    patterns: &[S],
    skip: &[PathBuf],
) -> Result<Vec<TreeFile>, ArchiveError> {
    list_tree_based(root, "", patterns, skip)
}

/// [`list_tree_skipping`] for a root that sits at `base` below the directory the patterns
/// are written from: Serverless matches a function's patterns from the service root (so
/// `module2/**` selects a `module: module2` function's files) while the files keep their
/// paths relative to `root` (the plugin moves the module's folder up in the zip).
pub fn list_tree_based<S: AsRef<str>>(
    root: &Path,
    base: &str,
    patterns: &[S],
    skip: &[PathBuf],
) -> Result<Vec<TreeFile>, ArchiveError> {
    let skip: Vec<PathBuf> = skip
        .iter()
        .filter_map(|path| std::fs::canonicalize(path).ok())
        .collect();
    collect_tree(root, &TreePatterns::new(patterns)?.based_at(base), &skip)
}

/// Walks `root` in sorted order and returns the files `patterns` select, outside `skip`
/// (canonical paths).
pub(crate) fn collect_tree(
    root: &Path,
    patterns: &TreePatterns,
    skip: &[PathBuf],
) -> Result<Vec<TreeFile>, ArchiveError> {
    let canonical_root = fs_err::canonicalize(root).map_err(ArchiveError::Io)?;
    let mut files = Vec::new();
    let mut stack = vec![canonical_root.clone()];
    let walk = Walk {
        canonical_root: &canonical_root,
        patterns,
        skip,
    };
    walk.directory(root, "", &mut stack, &mut files)?;
    Ok(files)
}

struct Walk<'a> {
    canonical_root: &'a Path,
    patterns: &'a TreePatterns,
    skip: &'a [PathBuf],
}

impl Walk<'_> {
    fn directory(
        &self,
        directory: &Path,
        relative: &str,
        stack: &mut Vec<PathBuf>,
        files: &mut Vec<TreeFile>,
    ) -> Result<(), ArchiveError> {
        let Walk {
            canonical_root,
            patterns,
            ..
        } = *self;
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
                let canonical = fs_err::canonicalize(&path).map_err(ArchiveError::Io)?;
                if self.skip.contains(&canonical) {
                    continue;
                }
                stack.push(canonical);
                self.directory(&path, &child, stack, files)?;
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
    fn based_patterns_match_from_the_parent_and_defaults_from_the_root() {
        let patterns = TreePatterns::new(&["!**", "module2/**", "!module2/tests/**"])
            .unwrap()
            .based_at("module2");
        assert!(patterns.includes("handler2.py"));
        assert!(patterns.includes("requirements.txt"));
        assert!(!patterns.includes("tests/test_handler.py"));
        // The default exclusions apply below the root itself.
        let defaults_only = TreePatterns::new(&["!module2/tests/**"])
            .unwrap()
            .based_at("module2");
        assert!(defaults_only.includes("handler2.py"));
        assert!(!defaults_only.includes("__pycache__/x.pyc"));
        assert!(!defaults_only.includes("tests/test_handler.py"));
        // Unbased, the same patterns select nothing below the module folder.
        let unbased = TreePatterns::new(&["!**", "module2/**"]).unwrap();
        assert!(!unbased.includes("handler2.py"));
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
    fn a_leading_dot_slash_is_stripped_as_serverless_does() {
        let patterns = TreePatterns::new(&["!./**", "./src/**/*.py", "!./**/*_test.py"]).unwrap();
        assert!(patterns.includes("src/handler.py"));
        assert!(!patterns.includes("src/handler_test.py"));
        assert!(!patterns.includes("README.md"));
    }

    #[test]
    fn serverless_v3_default_excludes_apply() {
        let patterns = TreePatterns::new(&[] as &[&str]).unwrap();
        for excluded in [
            ".git/HEAD",
            ".gitignore",
            ".DS_Store",
            "npm-debug.log",
            "yarn-error.log",
            ".serverless/demo.zip",
            ".serverless_plugins/local.js",
        ] {
            assert!(!patterns.includes(excluded), "{excluded}");
        }
        assert!(patterns.includes("handler.py"));
        assert!(patterns.includes("docs/.gitignore.md"));
    }

    #[test]
    fn skipped_directories_stay_out_whatever_the_patterns_say() {
        let project = tempfile::tempdir().unwrap();
        for file in ["handler.py", "build/old.zip", "cache/wheels/a.whl"] {
            let path = project.path().join(file);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, "x").unwrap();
        }
        let skip = [
            project.path().join("build"),
            project.path().join("cache/../cache"),
            project.path().join("missing"),
        ];
        let files = list_tree_skipping(project.path(), &["build/**", "cache/**"], &skip).unwrap();
        let names: Vec<&str> = files.iter().map(|file| file.relative.as_str()).collect();
        assert_eq!(names, ["handler.py"]);
    }

    #[test]
    fn invalid_pattern_is_named() {
        let error = TreePatterns::new(&["!src/[unclosed"]).err().unwrap();
        assert!(error.to_string().contains("!src/[unclosed"), "{error}");
    }
}
