//! Which artifacts a stage needs: computed from the resolved manifest alone, no I/O beyond
//! checking that requirement files exist (the manifest already did).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use strata_manifest::{
    Architecture, Cloud, FunctionConfig, ManifestKind, PythonRuntime, ResolvedConfig,
};

use crate::id::{ArtifactId, ArtifactKind, ArtifactTarget, CodeScope};

/// The prefix Lambda puts on a layer's Python packages (`/opt/python`).
pub const LAMBDA_LAYER_PREFIX: &str = "python/";
/// Where Azure Functions' Python worker looks for an app's packages.
pub const AZURE_PACKAGES_PREFIX: &str = ".python_packages/lib/site-packages/";
/// The layer name serverless-python-requirements gives its layer (before the service prefix).
const REQUIREMENTS_LAYER: &str = "python-requirements";

/// What wheels are for: the cloud's Python, CPU and glibc. Wheels are picked for this, never
/// for the machine strata runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TargetSpec {
    pub cloud: Cloud,
    pub runtime: PythonRuntime,
    pub architecture: Architecture,
}

impl TargetSpec {
    /// The target without its cloud, as an artifact's identity carries it.
    pub fn artifact_target(self) -> ArtifactTarget {
        ArtifactTarget {
            runtime: self.runtime,
            architecture: self.architecture,
        }
    }
}

impl std::fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.cloud,
            self.runtime,
            self.architecture.as_str()
        )
    }
}

/// Where a function's dependencies are declared, as serverless-python-requirements looks for
/// them: a Poetry project first, then a Pipfile, then the requirements file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RequirementsFormat {
    /// A pip requirements file.
    Requirements,
    /// `pyproject.toml` with `poetry.lock` beside it.
    Poetry,
    /// `Pipfile` with `Pipfile.lock` beside it.
    Pipenv,
}

/// One requirements source resolved for one target: the unit that is locked and downloaded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct DependencyNeed {
    /// Relative to the project directory: the requirements file, `pyproject.toml` or
    /// `Pipfile`.
    pub requirements: PathBuf,
    pub format: RequirementsFormat,
    pub target: TargetSpec,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeInput {
    pub root: PathBuf,
    /// Where `root` sits below the directory `patterns` are written from (a function's
    /// `module`); empty when they are the same.
    pub base: String,
    pub patterns: Vec<String>,
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependencyInput {
    pub need: DependencyNeed,
    pub prefix: String,
    /// Globs dropped from wheels (`slim`), relative to the prefix.
    pub excludes: Vec<String>,
    /// `slim` with `strip` (the plugin's default): the wheels' `.so` files are stripped.
    pub strip: bool,
    /// `vendor`: folders (relative to the project) whose contents are copied in beside the
    /// packages.
    pub vendor: Vec<PathBuf>,
    /// `zip: true`: the packages go into `.requirements.zip`, with `unzip_requirements.py`
    /// beside the code to unpack them at import.
    pub zipped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArtifactPlan {
    /// Path of the zip relative to the output directory, without `.zip`.
    pub name: String,
    pub id: ArtifactId,
    pub code: Option<CodeInput>,
    pub dependencies: Option<DependencyInput>,
    /// Functions that deploy this artifact (code) or use it (layer).
    pub functions: Vec<String>,
}

impl ArtifactPlan {
    pub fn file_name(&self) -> String {
        format!("{}.zip", self.name)
    }

    pub fn kind(&self) -> ArtifactKind {
        self.id.kind()
    }

    pub fn cloud(&self) -> Cloud {
        self.id.cloud()
    }

    /// The target the artifact's wheels are chosen for, with its cloud.
    pub fn target(&self) -> Option<TargetSpec> {
        self.id.target().map(|target| TargetSpec {
            cloud: self.cloud(),
            runtime: target.runtime,
            architecture: target.architecture,
        })
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildPlan {
    pub artifacts: Vec<ArtifactPlan>,
    /// Warnings about what the manifest asks that does not apply (shown, never fatal).
    pub notes: Vec<String>,
}

impl BuildPlan {
    /// Every (requirements, target) pair the artifacts need, each once.
    pub fn dependency_needs(&self) -> Vec<DependencyNeed> {
        let mut needs: Vec<DependencyNeed> = self
            .artifacts
            .iter()
            .filter_map(|artifact| artifact.dependencies.as_ref().map(|d| d.need.clone()))
            .collect();
        needs.sort();
        needs.dedup();
        needs
    }
}

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Only these functions (and the layers they use); empty means all.
    pub functions: Vec<String>,
    pub layers_only: bool,
    /// Only these clouds' artifacts (`--cloud`); empty means every cloud a function targets.
    pub clouds: Vec<Cloud>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("function `{name}` is not in the manifest")]
    UnknownFunction { name: String, known: Vec<String> },
}

/// Computes the artifacts for the stage in a stable order.
pub fn plan_build(config: &ResolvedConfig, options: &PlanOptions) -> Result<BuildPlan, PlanError> {
    for name in &options.functions {
        if !config.functions.contains_key(name) {
            return Err(PlanError::UnknownFunction {
                name: name.clone(),
                known: config.functions.keys().cloned().collect(),
            });
        }
    }
    let selected: Vec<&FunctionConfig> = config
        .functions
        .values()
        .filter(|function| {
            options.functions.is_empty() || options.functions.contains(&function.name)
        })
        .collect();

    let mut planner = Planner {
        config,
        artifacts: BTreeMap::new(),
        notes: BTreeSet::new(),
    };
    let wanted = |cloud: &Cloud| options.clouds.is_empty() || options.clouds.contains(cloud);
    for function in &selected {
        for cloud in function.targets.iter().filter(|cloud| wanted(cloud)) {
            match cloud {
                Cloud::Aws => planner.aws_function(function, options.layers_only),
                Cloud::Azure if !options.layers_only => planner.azure_function(function),
                Cloud::Gcp if !options.layers_only => planner.gcp_function(function),
                Cloud::Azure | Cloud::Gcp => {}
            }
        }
    }
    // `layers:` entries are Lambda layers.
    if wanted(&Cloud::Aws) {
        planner.manifest_layers(&selected);
    }
    Ok(BuildPlan {
        artifacts: planner.artifacts.into_values().collect(),
        notes: planner.notes.into_iter().collect(),
    })
}

struct Planner<'a> {
    config: &'a ResolvedConfig,
    /// Keyed by artifact name, so functions with identical inputs share one artifact.
    artifacts: BTreeMap<String, ArtifactPlan>,
    /// Each warning once, however many functions it concerns.
    notes: BTreeSet<String>,
}

impl Planner<'_> {
    fn target(&self, function: &FunctionConfig, cloud: Cloud) -> TargetSpec {
        let effective = function.clouds.get(&cloud);
        TargetSpec {
            cloud,
            runtime: effective.map_or(function.runtime, |target| target.runtime),
            architecture: match cloud {
                // Azure and Google run Python functions on x86_64 only.
                Cloud::Azure | Cloud::Gcp => Architecture::X86_64,
                Cloud::Aws => effective.map_or(function.architecture, |target| target.architecture),
            },
        }
    }

    fn code_root(&self, function: &FunctionConfig) -> PathBuf {
        self.config.project_dir.join(self.code_base(function))
    }

    /// A function's `module` folder, `/`-separated (empty for the service root): its files
    /// go into the zip from there (the plugin moves the module up), while `package.patterns`
    /// are matched from the service root, as Serverless matches them.
    fn code_base(&self, function: &FunctionConfig) -> String {
        match &function.module {
            Some(module) if module != Path::new(".") => slash_path(module)
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_owned(),
            _ => String::new(),
        }
    }

    /// Whether the function gets its own zip: Serverless packages a function on its own when
    /// `package.individually` is set for the service or for the function (a `module` implies
    /// it, as the plugin packs each module apart).
    fn individually(&self, function: &FunctionConfig) -> bool {
        self.config.package.individually
            || function.package.individually
            || function.module.is_some()
    }

    /// The patterns for a function's code. Function-level patterns count only when the
    /// function is packaged individually; otherwise Serverless ignores them with a warning,
    /// and so does strata (they would make the shared zip depend on which function came
    /// first).
    fn code_patterns(&mut self, function: &FunctionConfig) -> Vec<String> {
        let mut patterns = self.service_patterns();
        if self.individually(function) {
            patterns.extend(function.package.patterns.iter().cloned());
        } else if !function.package.patterns.is_empty() {
            self.notes.insert(
                "package patterns at function level apply only with package.individually (for the service or the function); they are ignored and only the service-wide ones are used, as Serverless does"
                    .to_owned(),
            );
        }
        patterns
    }

    /// `package.patterns`, after the exclusions Serverless adds before them: the manifest
    /// (the deployed code never needs it, and keeping it in would turn every configuration
    /// change into a code change) and the folders of `layers:` entries (they ship as layers).
    /// A later pattern can put them back.
    fn service_patterns(&self) -> Vec<String> {
        let code_root = &self.config.project_dir;
        let mut patterns = Vec::with_capacity(self.config.package.patterns.len() + 1);
        if let Ok(relative) = self.config.manifest_path.strip_prefix(code_root) {
            patterns.push(format!("!{}", slash_path(relative)));
        }
        for layer in self.config.layers.values() {
            let Some(path) = &layer.path else { continue };
            let absolute = self.config.project_dir.join(path);
            if let Ok(relative) = absolute.strip_prefix(code_root) {
                let relative = slash_path(relative);
                let relative = relative.trim_start_matches("./").trim_end_matches('/');
                if !relative.is_empty() && relative != "." {
                    patterns.push(format!("!{relative}/**"));
                }
            }
        }
        patterns.extend(self.config.package.patterns.iter().cloned());
        patterns
    }

    /// Where the dependencies of code in `module` (or the project root) are declared, as the
    /// plugin looks for them: with `usePoetry`, a `pyproject.toml` built by Poetry in the
    /// module; with `usePipenv`, a `Pipfile` at the service root; else the requirements
    /// file. A serverless.yml installs nothing unless serverless-python-requirements is in
    /// its plugins, as Serverless would.
    fn dependency_source(
        &mut self,
        module: Option<&Path>,
        explicit: Option<&Path>,
    ) -> Option<(PathBuf, RequirementsFormat)> {
        let options = &self.config.python_requirements;
        let module = module.filter(|module| *module != Path::new("."));
        let default_file = match module {
            Some(module) => module.join(&options.file_name),
            None => options.file_name.clone(),
        };
        // `functions.<f>.requirements` is strata's own key: asked for by name, installed.
        if let Some(explicit) = explicit.filter(|explicit| *explicit != default_file) {
            return Some((explicit.to_path_buf(), RequirementsFormat::Requirements));
        }
        let project = &self.config.project_dir;
        let module_dir = module.map_or_else(|| project.clone(), |module| project.join(module));
        let found = if options.use_poetry && strata_python::is_poetry_project(&module_dir) {
            let pyproject = module.map_or_else(
                || PathBuf::from("pyproject.toml"),
                |module| module.join("pyproject.toml"),
            );
            Some((pyproject, RequirementsFormat::Poetry))
        } else if options.use_pipenv && project.join("Pipfile").is_file() {
            Some((PathBuf::from("Pipfile"), RequirementsFormat::Pipenv))
        } else if project.join(&default_file).is_file() {
            Some((default_file, RequirementsFormat::Requirements))
        } else {
            None
        };
        let found = found?;
        if self.config.kind == ManifestKind::Serverless && !options.plugin_listed {
            self.notes.insert(format!(
                "{} is not installed: serverless-python-requirements is not in `plugins`, and Serverless installs dependencies only through it; add `- serverless-python-requirements` to `plugins` to install them",
                found.0.display()
            ));
            return None;
        }
        Some(found)
    }

    /// The service's `vendor` folder, then the function's when it applies: the plugin copies a
    /// function's `vendor` only into the packages of a function packaged on its own (lib/pip.js
    /// `installRequirementsIfNeeded`, called with the function only when packaging
    /// individually); strata does the same, for the function's own zip only.
    fn vendor(&mut self, function: &FunctionConfig, own_zip: bool) -> Vec<PathBuf> {
        let mut folders = self.service_vendor();
        if let Some(folder) = &function.vendor {
            if own_zip {
                folders.push(folder.clone());
            } else {
                self.notes.insert(format!(
                    "functions.{}.vendor is ignored: a function's vendor folder goes in beside the packages of its own zip, so it needs package.individually (for the service or the function), a requirements file and no requirements layer, as with the plugin; use custom.pythonRequirements.vendor for what every function shares",
                    function.name
                ));
            }
        }
        folders
    }

    /// `custom.pythonRequirements.vendor`: for every artifact with dependencies.
    fn service_vendor(&self) -> Vec<PathBuf> {
        self.config
            .python_requirements
            .vendor
            .iter()
            .cloned()
            .collect()
    }

    /// Whether `slim` strips shared libraries: the plugin skips it only for `strip: false`
    /// (lib/slim.js `getStripMode`; it also skips it on macOS and Windows hosts, strata does
    /// not, since the target is Linux whatever the host).
    fn strip(&self) -> bool {
        let requirements = &self.config.python_requirements;
        requirements.slim && requirements.strip
    }

    fn slim_excludes(&self) -> Vec<String> {
        let requirements = &self.config.python_requirements;
        if !requirements.slim {
            return Vec::new();
        }
        let mut patterns: Vec<String> = Vec::new();
        if requirements.slim_patterns_append_defaults {
            patterns.extend(
                strata_archive::SLIM_DEFAULT_PATTERNS
                    .iter()
                    .map(|p| (*p).to_owned()),
            );
        }
        patterns.extend(requirements.slim_patterns.iter().cloned());
        patterns
    }

    fn upsert(&mut self, artifact: ArtifactPlan, function: &str) {
        let entry = self
            .artifacts
            .entry(artifact.name.clone())
            .or_insert(artifact);
        if !entry.functions.iter().any(|f| f == function) {
            entry.functions.push(function.to_owned());
        }
    }

    fn aws_function(&mut self, function: &FunctionConfig, layers_only: bool) {
        let target = self.target(function, Cloud::Aws);
        let need = self
            .dependency_source(function.module.as_deref(), function.requirements.as_deref())
            .map(|(requirements, format)| DependencyNeed {
                requirements,
                format,
                target,
            });
        let layered = layers_only || self.config.python_requirements.layer.is_some();
        let suffix = format!(
            "py{}-{}",
            target.runtime.version_nodot(),
            target.architecture.as_str()
        );

        if let (Some(need), true) = (&need, layered) {
            let base = self
                .config
                .python_requirements
                .layer
                .as_ref()
                .and_then(|layer| layer.name.clone())
                .unwrap_or_else(|| REQUIREMENTS_LAYER.to_owned());
            // One layer per requirements file; files with identical contents are merged into
            // one layer once they are read (see `build::merge_identical_layers`).
            let module = match need.format {
                RequirementsFormat::Requirements
                    if need.requirements == self.config.python_requirements.file_name =>
                {
                    String::new()
                }
                RequirementsFormat::Requirements => {
                    format!("-{}", slug(&need.requirements.with_extension("")))
                }
                // A Poetry or Pipenv project is named by its folder; the root's has no suffix.
                RequirementsFormat::Poetry | RequirementsFormat::Pipenv => {
                    match need.requirements.parent().map(slug) {
                        Some(folder) if !folder.is_empty() => format!("-{folder}"),
                        _ => String::new(),
                    }
                }
            };
            let name = format!("{base}{module}-{suffix}");
            self.upsert(
                ArtifactPlan {
                    name: format!("aws/layers/{name}"),
                    id: ArtifactId::RequirementsLayer {
                        name,
                        target: target.artifact_target(),
                    },
                    code: None,
                    dependencies: Some(DependencyInput {
                        need: need.clone(),
                        prefix: LAMBDA_LAYER_PREFIX.to_owned(),
                        excludes: self.slim_excludes(),
                        strip: self.strip(),
                        vendor: self.service_vendor(),
                        // The plugin zips requirements only when they ship with the code.
                        zipped: false,
                    }),
                    functions: Vec::new(),
                },
                &function.name,
            );
        }
        if layers_only {
            return;
        }

        let embedded = need.filter(|_| !layered);
        // Serverless builds one service zip unless `package.individually` (or a module) asks
        // for one per function; the artifact name carries whatever makes its inputs differ.
        let individually = self.individually(function);
        let (mut name, scope) = if individually {
            (
                format!("aws/functions/{}", function.name),
                CodeScope::Function(function.name.clone()),
            )
        } else {
            (format!("aws/{}", self.config.service), CodeScope::Service)
        };
        if embedded.is_some() && !individually {
            name.push_str(&format!("-{suffix}"));
        }
        let patterns = self.code_patterns(function);
        let vendor = self.vendor(function, individually && embedded.is_some());
        self.upsert(
            ArtifactPlan {
                name,
                id: ArtifactId::FunctionCode {
                    cloud: Cloud::Aws,
                    scope,
                    target: embedded.as_ref().map(|need| need.target.artifact_target()),
                },
                code: Some(CodeInput {
                    root: self.code_root(function),
                    base: self.code_base(function),
                    patterns,
                    prefix: String::new(),
                }),
                dependencies: embedded.map(|need| DependencyInput {
                    need,
                    prefix: String::new(),
                    excludes: self.slim_excludes(),
                    strip: self.strip(),
                    vendor,
                    zipped: self.config.python_requirements.zip,
                }),
                functions: Vec::new(),
            },
            &function.name,
        );
    }

    /// One zip per function app: every Azure function's code at the root, the dependencies
    /// where the Python worker looks for them.
    fn azure_function(&mut self, function: &FunctionConfig) {
        let target = self.target(function, Cloud::Azure);
        let app = self.config.azure.as_ref().map_or_else(
            || self.config.service.clone(),
            |azure| azure.function_app.clone(),
        );
        let dependencies = self
            .dependency_source(None, None)
            .map(|(requirements, format)| DependencyInput {
                need: DependencyNeed {
                    requirements,
                    format,
                    target,
                },
                prefix: AZURE_PACKAGES_PREFIX.to_owned(),
                excludes: self.slim_excludes(),
                strip: self.strip(),
                vendor: self.service_vendor(),
                // The Azure worker reads packages from `.python_packages` only.
                zipped: false,
            });
        self.upsert(
            ArtifactPlan {
                name: format!("azure/{app}"),
                id: ArtifactId::AzureApp {
                    app,
                    target: target.artifact_target(),
                },
                code: Some(CodeInput {
                    root: self.config.project_dir.clone(),
                    base: String::new(),
                    patterns: self.service_patterns(),
                    prefix: String::new(),
                }),
                dependencies,
                functions: Vec::new(),
            },
            &function.name,
        );
    }

    /// Google builds dependencies from the `requirements.txt` inside the source zip, so the
    /// zip holds the code only.
    fn gcp_function(&mut self, function: &FunctionConfig) {
        let patterns = self.code_patterns(function);
        self.upsert(
            ArtifactPlan {
                name: format!("gcp/functions/{}", function.name),
                id: ArtifactId::GcpSource {
                    function: function.name.clone(),
                },
                code: Some(CodeInput {
                    root: self.code_root(function),
                    base: self.code_base(function),
                    patterns,
                    prefix: String::new(),
                }),
                dependencies: None,
                functions: Vec::new(),
            },
            &function.name,
        );
    }

    /// `layers:` entries with a `path`: zipped as they are, for the functions that use them.
    fn manifest_layers(&mut self, selected: &[&FunctionConfig]) {
        for layer in self.config.layers.values() {
            let Some(path) = &layer.path else { continue };
            let users: Vec<String> = selected
                .iter()
                .filter(|function| {
                    function.layer_refs.iter().any(|reference| {
                        matches!(reference, strata_manifest::LayerRef::Ref(name) if *name == layer.reference)
                    })
                })
                .map(|function| function.name.clone())
                .collect();
            self.artifacts.insert(
                format!("aws/layers/{}", layer.name),
                ArtifactPlan {
                    name: format!("aws/layers/{}", layer.name),
                    id: ArtifactId::ManifestLayer {
                        name: layer.name.clone(),
                    },
                    code: Some(CodeInput {
                        root: self.config.project_dir.join(path),
                        base: String::new(),
                        patterns: layer.package.patterns.clone(),
                        prefix: String::new(),
                    }),
                    dependencies: None,
                    functions: users,
                },
            );
        }
    }
}

fn slash_path(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// A path as a file-name-safe word: `services/api` becomes `services-api`.
fn slug(path: &Path) -> String {
    path.to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .to_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use strata_manifest::LoadOptions;

    use super::*;
    use crate::id::ArtifactTarget;

    /// A project in a temporary directory: `files` are written with a small handler (or with
    /// the text after `=`, as in `requirements.txt=six==1.16.0`), then the manifest is loaded
    /// for the `dev` stage.
    pub(crate) fn project(
        manifest_name: &str,
        manifest: &str,
        files: &[&str],
    ) -> (tempfile::TempDir, ResolvedConfig) {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join(manifest_name), manifest).unwrap();
        for file in files {
            let (path, contents) = file
                .split_once('=')
                .unwrap_or((file, "def handler(event, context):\n    return 1\n"));
            let path = dir.path().join(path);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(path, contents).unwrap();
        }
        let options = LoadOptions {
            project_dir: dir.path().to_owned(),
            env: BTreeMap::new(),
            ..LoadOptions::default()
        };
        let loaded = strata_manifest::load(&options).unwrap();
        (dir, loaded.config)
    }

    pub(crate) fn serverless(
        manifest: &str,
        files: &[&str],
    ) -> (tempfile::TempDir, ResolvedConfig) {
        project("serverless.yml", manifest, files)
    }

    pub(crate) fn plan(config: &ResolvedConfig) -> BuildPlan {
        plan_build(config, &PlanOptions::default()).unwrap()
    }

    /// Each planned artifact as (file, identity, functions), in plan order.
    fn summary(plan: &BuildPlan) -> Vec<(String, ArtifactId, Vec<String>)> {
        plan.artifacts
            .iter()
            .map(|a| (a.file_name(), a.id.clone(), a.functions.clone()))
            .collect()
    }

    pub(crate) fn target(minor: u8, architecture: Architecture) -> ArtifactTarget {
        ArtifactTarget {
            runtime: PythonRuntime { major: 3, minor },
            architecture,
        }
    }

    fn names(functions: &[&str]) -> Vec<String> {
        functions.iter().map(|f| (*f).to_owned()).collect()
    }

    const TWO_FUNCTIONS: &str = "\
service: svc
provider:
  name: aws
  runtime: python3.12
plugins:
  - serverless-python-requirements
functions:
  one:
    handler: one.handler
  two:
    handler: two.handler
";

    const FILES: &[&str] = &["one.py", "two.py", "requirements.txt=six==1.16.0\n"];

    #[test]
    fn functions_share_the_service_zip_with_its_dependencies_by_default() {
        let (_dir, config) = serverless(TWO_FUNCTIONS, FILES);
        let plan = plan(&config);
        assert_eq!(
            summary(&plan),
            vec![(
                "aws/svc-py312-x86_64.zip".to_owned(),
                ArtifactId::FunctionCode {
                    cloud: Cloud::Aws,
                    scope: CodeScope::Service,
                    target: Some(target(12, Architecture::X86_64)),
                },
                names(&["one", "two"]),
            )]
        );
        let dependencies = plan.artifacts[0].dependencies.as_ref().unwrap();
        assert_eq!(
            dependencies.need.requirements,
            Path::new("requirements.txt")
        );
        assert_eq!(dependencies.prefix, "");
    }

    #[test]
    fn individually_gives_each_function_its_own_zip() {
        let manifest =
            TWO_FUNCTIONS.replace("functions:", "package:\n  individually: true\nfunctions:");
        let (_dir, config) = serverless(&manifest, FILES);
        let plan = plan(&config);
        let code = |name: &str| ArtifactId::FunctionCode {
            cloud: Cloud::Aws,
            scope: CodeScope::Function(name.to_owned()),
            target: Some(target(12, Architecture::X86_64)),
        };
        assert_eq!(
            summary(&plan),
            vec![
                (
                    "aws/functions/one.zip".to_owned(),
                    code("one"),
                    names(&["one"])
                ),
                (
                    "aws/functions/two.zip".to_owned(),
                    code("two"),
                    names(&["two"])
                ),
            ]
        );
    }

    #[test]
    fn the_requirements_layer_takes_the_dependencies_out_of_the_code() {
        let manifest = format!("{TWO_FUNCTIONS}custom:\n  pythonRequirements:\n    layer: true\n");
        let (_dir, config) = serverless(&manifest, FILES);
        let plan = plan(&config);
        let layer = ArtifactId::RequirementsLayer {
            name: "python-requirements-py312-x86_64".to_owned(),
            target: target(12, Architecture::X86_64),
        };
        let code = ArtifactId::FunctionCode {
            cloud: Cloud::Aws,
            scope: CodeScope::Service,
            target: None,
        };
        assert_eq!(
            summary(&plan),
            vec![
                (
                    "aws/layers/python-requirements-py312-x86_64.zip".to_owned(),
                    layer,
                    names(&["one", "two"]),
                ),
                ("aws/svc.zip".to_owned(), code, names(&["one", "two"])),
            ]
        );
        assert!(plan.artifacts[1].dependencies.is_none());
        assert_eq!(
            plan.artifacts[0].dependencies.as_ref().unwrap().prefix,
            LAMBDA_LAYER_PREFIX
        );

        let layers_only = plan_build(
            &config,
            &PlanOptions {
                layers_only: true,
                ..PlanOptions::default()
            },
        )
        .unwrap();
        assert_eq!(
            layers_only
                .artifacts
                .iter()
                .map(|a| a.kind())
                .collect::<Vec<_>>(),
            vec![ArtifactKind::Layer]
        );
    }

    #[test]
    fn an_arm64_function_gets_its_own_layer_and_service_zip() {
        let manifest = format!(
            "{}custom:\n  pythonRequirements:\n    layer: true\n",
            TWO_FUNCTIONS.replace(
                "    handler: two.handler\n",
                "    handler: two.handler\n    architecture: arm64\n"
            )
        );
        let (_dir, config) = serverless(&manifest, FILES);
        let layers: Vec<(ArtifactId, Vec<String>)> = plan(&config)
            .artifacts
            .into_iter()
            .filter(|a| a.kind() == ArtifactKind::Layer)
            .map(|a| (a.id, a.functions))
            .collect();
        assert_eq!(
            layers,
            vec![
                (
                    ArtifactId::RequirementsLayer {
                        name: "python-requirements-py312-arm64".to_owned(),
                        target: target(12, Architecture::Arm64),
                    },
                    names(&["two"]),
                ),
                (
                    ArtifactId::RequirementsLayer {
                        name: "python-requirements-py312-x86_64".to_owned(),
                        target: target(12, Architecture::X86_64),
                    },
                    names(&["one"]),
                ),
            ]
        );
    }

    #[test]
    fn each_cloud_gets_its_own_kind_of_artifact() {
        let manifest = "\
service: orders
runtime: python3.11
aws:
  architecture: arm64
azure:
  subscriptionId: 00000000-0000-0000-0000-000000000000
  resourceGroup: orders-rg
  functionApp: orders-app
  storageAccount: ordersstore
  region: westeurope
gcp:
  project: orders-dev-123
  region: europe-west1
functions:
  api:
    handler: handler.handler
    targets: [aws]
  hello:
    handler: function_app.handler
    targets: [azure]
  report:
    handler: main.handler
    targets: [aws, gcp]
";
        let (_dir, config) = project(
            "strata.yml",
            manifest,
            &[
                "handler.py",
                "function_app.py",
                "main.py",
                "requirements.txt=six==1.16.0\n",
            ],
        );
        let plan = plan(&config);
        let by_cloud = |cloud: Cloud| -> Vec<(String, ArtifactId, Vec<String>)> {
            summary(&plan)
                .into_iter()
                .filter(|(_, id, _)| id.cloud() == cloud)
                .collect()
        };
        assert_eq!(
            by_cloud(Cloud::Aws),
            vec![(
                "aws/orders-py311-arm64.zip".to_owned(),
                ArtifactId::FunctionCode {
                    cloud: Cloud::Aws,
                    scope: CodeScope::Service,
                    target: Some(target(11, Architecture::Arm64)),
                },
                names(&["api", "report"]),
            )]
        );
        // Azure and Google run x86_64 whatever the AWS functions use.
        assert_eq!(
            by_cloud(Cloud::Azure),
            vec![(
                "azure/orders-app.zip".to_owned(),
                ArtifactId::AzureApp {
                    app: "orders-app".to_owned(),
                    target: target(11, Architecture::X86_64),
                },
                names(&["hello"]),
            )]
        );
        let azure = plan.artifacts.iter().find(|a| a.cloud() == Cloud::Azure);
        assert_eq!(
            azure.unwrap().dependencies.as_ref().unwrap().prefix,
            AZURE_PACKAGES_PREFIX
        );
        assert_eq!(
            by_cloud(Cloud::Gcp),
            vec![(
                "gcp/functions/report.zip".to_owned(),
                ArtifactId::GcpSource {
                    function: "report".to_owned(),
                },
                names(&["report"]),
            )]
        );
        let gcp = plan.artifacts.iter().find(|a| a.cloud() == Cloud::Gcp);
        assert!(
            gcp.unwrap().dependencies.is_none(),
            "Google's build installs them"
        );

        // `--cloud gcp` builds only Google's source zip, not the Lambda zip of the same
        // function nor the others.
        let narrowed = plan_build(
            &config,
            &PlanOptions {
                clouds: vec![Cloud::Gcp],
                ..PlanOptions::default()
            },
        )
        .unwrap();
        let names: Vec<String> = narrowed
            .artifacts
            .iter()
            .map(ArtifactPlan::file_name)
            .collect();
        assert_eq!(names, ["gcp/functions/report.zip"]);
    }

    #[test]
    fn a_manifest_layer_is_planned_for_the_functions_that_refer_to_it() {
        let manifest = "\
service: svc
provider:
  name: aws
layers:
  shared:
    path: shared
functions:
  one:
    handler: one.handler
    layers:
      - Ref: SharedLambdaLayer
  two:
    handler: two.handler
";
        let (_dir, config) = serverless(manifest, &["one.py", "two.py", "shared/util.py"]);
        let plan = plan(&config);
        let layer = plan
            .artifacts
            .iter()
            .find(|a| a.kind() == ArtifactKind::Layer)
            .unwrap();
        assert_eq!(
            (layer.file_name(), &layer.id, &layer.functions),
            (
                "aws/layers/shared.zip".to_owned(),
                &ArtifactId::ManifestLayer {
                    name: "shared".to_owned()
                },
                &names(&["one"]),
            )
        );
        // The layer's folder ships as the layer, not inside the code.
        let code = plan.artifacts.iter().find(|a| a.id.is_code()).unwrap();
        assert!(
            code.code
                .as_ref()
                .unwrap()
                .patterns
                .contains(&"!shared/**".to_owned()),
            "{code:?}"
        );
    }

    #[test]
    fn selecting_a_function_plans_only_what_it_uses_and_an_unknown_one_is_named() {
        let manifest =
            TWO_FUNCTIONS.replace("functions:", "package:\n  individually: true\nfunctions:");
        let (_dir, config) = serverless(&manifest, FILES);
        let selected = plan_build(
            &config,
            &PlanOptions {
                functions: names(&["two"]),
                ..PlanOptions::default()
            },
        )
        .unwrap();
        assert_eq!(
            selected
                .artifacts
                .iter()
                .map(ArtifactPlan::file_name)
                .collect::<Vec<_>>(),
            ["aws/functions/two.zip"]
        );
        let error = plan_build(
            &config,
            &PlanOptions {
                functions: names(&["three"]),
                ..PlanOptions::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(&error, PlanError::UnknownFunction { name, known } if name == "three" && *known == names(&["one", "two"])),
            "{error:?}"
        );
    }
}
