//! strata-manifest: reads `strata.yml` (or a Serverless Framework `serverless.yml` as-is) and
//! resolves it for one stage into a typed [`ResolvedConfig`].
//!
//! It owns the manifest format: YAML parsing with source positions ([`yaml`]), Serverless
//! variables ([`variables`]), `stages:` overrides, strict validation against one schema
//! (the same one [`json_schema`] emits for editors), and the checks that need the project's
//! files (handlers exist in their Python source, layer folders, requirements files). Every
//! problem is collected and returned at once as [`Diagnostic`]s with file, line, column and
//! key path.
//!
//! It must never touch the network, the process environment (callers pass
//! [`LoadOptions::env`]), or the terminal: it returns values and diagnostics, the CLI prints.
//!
//! Main types: [`LoadOptions`] → [`load`] → [`Loaded`] ([`ResolvedConfig`] + warnings) or
//! [`ManifestError`]. [`init_files`] gives the starter project files of `strata init`.

mod aws_events;
mod cloud;
mod clouds;
mod config;
mod diagnostic;
mod extract;
mod python_source;
mod resources;
mod schema;
mod templates;
mod variables;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use aws_events::{
    AwsEvent, AwsTrigger, CfnRef, Cors, HttpMethod, HttpRoute, MANAGED_AWS_EVENTS, QueueSource,
    RestRoute, S3Trigger, Schedule, SnsSubscription, SnsTopic, StreamKind, StreamSource,
    check_rest_path, check_schedule, normalize_logical_id,
};
pub use cloud::{CloudAccess, CloudError, CloudRequest, CloudSource, CloudValue, CloudVariables};
pub use config::{
    Architecture, AwsConfig, AzureConfig, AzurePlan, Cloud, FunctionConfig, FunctionTarget,
    GcpConfig, LayerConfig, LayerRef, ManifestKind, PackageConfig, PythonRequirementsConfig,
    PythonRuntime, RequirementsLayerConfig, ResolvedConfig, ResolverSetting, SourceLocation,
    Unmanaged, UnmanagedKind, resource_name,
};
pub use diagnostic::{Diagnostic, ManifestError, Severity};
pub use resources::CfnResources;
pub use schema::json_schema;
pub use templates::init_files;
pub use yaml::{to_yaml, yaml_to_json};

use diagnostic::Report;
use yaml::{Key, Node, Pos, Value};

/// Manifest file names looked up in the project directory, in order.
pub const MANIFEST_NAMES: [&str; 4] = [
    "strata.yml",
    "strata.yaml",
    "serverless.yml",
    "serverless.yaml",
];

/// Checks a service name as the manifest does (letters, digits and `-`, starting with a
/// letter), e.g. for `strata init`.
///
/// # Errors
/// A message saying what is wrong with the name.
pub fn check_service_name(name: &str) -> Result<(), String> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "service name `{name}` must start with a letter and contain only letters, digits and `-`"
        ))
    }
}

/// What to load and how.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Where to look for strata.yml, then serverless.yml; handler and layer paths are
    /// relative to it.
    pub project_dir: PathBuf,
    /// `-c/--config`, relative to `project_dir` unless absolute.
    pub config_path: Option<PathBuf>,
    /// `--stage`; otherwise `provider.stage`, otherwise `dev`.
    pub stage: Option<String>,
    /// `--region`: the value of `${opt:region}` and the AWS region.
    pub region: Option<String>,
    /// Environment snapshot for `${env:…}`; the crate never reads the process environment.
    pub env: BTreeMap<String, String>,
    /// How `${ssm:…}`, `${cf:…}`, `${s3:…}` and `${aws:accountId}` are resolved.
    pub cloud: CloudAccess,
}

/// A manifest that loaded without errors, and the warnings found on the way.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: ResolvedConfig,
    pub warnings: Vec<Diagnostic>,
}

/// Finds, parses, resolves and validates the manifest for one stage.
///
/// # Errors
/// [`ManifestError::NotFound`] when there is no manifest, [`ManifestError::Read`] when it
/// cannot be read, [`ManifestError::Invalid`] with every error (and warning) otherwise.
pub fn load(options: &LoadOptions) -> Result<Loaded, ManifestError> {
    let (display, absolute, source) = read_manifest(options)?;
    load_source(options, &display, &absolute, kind_of(&absolute), &source)
}

/// The manifest's display path, absolute path and text.
fn read_manifest(options: &LoadOptions) -> Result<(PathBuf, PathBuf, String), ManifestError> {
    let (display, absolute) = locate(options)?;
    let source = fs_err::read_to_string(&absolute).map_err(|source| ManifestError::Read {
        path: absolute.clone(),
        source,
    })?;
    Ok((display, absolute, source))
}

/// The resolved manifest as `strata print` shows it, with every diagnostic, even when
/// validation found errors (as `serverless print` does).
#[derive(Clone, Debug)]
pub struct Printed {
    /// The manifest as shown in diagnostics.
    pub path: PathBuf,
    /// Variables substituted, the stage's overrides merged; what failed to resolve is null.
    pub document: serde_json::Value,
    /// Values that came from SSM SecureStrings, to be masked wherever they appear.
    pub secure_values: Vec<String>,
    /// Environment variable names the manifest marks secret (`secretEnvironment`) in any
    /// function, whose values are masked in every `environment:` map.
    pub secret_environment: BTreeSet<String>,
    /// Errors first, then warnings, each in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Printed {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|diagnostic| diagnostic.severity == Severity::Error)
    }
}

/// Resolves the manifest for `strata print`.
///
/// # Errors
/// [`ManifestError::NotFound`] and [`ManifestError::Read`] as [`load`];
/// [`ManifestError::Invalid`] only when the YAML itself cannot be read.
pub fn resolve_document(options: &LoadOptions) -> Result<Printed, ManifestError> {
    let (display, absolute, source) = read_manifest(options)?;
    let mut pass = run_passes(options, &display, &absolute, kind_of(&absolute), &source)?;
    diagnostic::sort_diagnostics(&mut pass.report.diagnostics);
    Ok(Printed {
        path: display,
        secret_environment: pass.config.secret_environment(),
        document: pass.config.document,
        secure_values: pass.config.secure_values,
        diagnostics: pass.report.diagnostics,
    })
}

fn kind_of(path: &Path) -> ManifestKind {
    match path.file_stem().and_then(|s| s.to_str()) {
        Some(stem) if stem.starts_with("strata") => ManifestKind::Strata,
        _ => ManifestKind::Serverless,
    }
}

fn locate(options: &LoadOptions) -> Result<(PathBuf, PathBuf), ManifestError> {
    if let Some(config) = &options.config_path {
        return Ok((config.clone(), options.project_dir.join(config)));
    }
    MANIFEST_NAMES
        .iter()
        .map(|name| (PathBuf::from(name), options.project_dir.join(name)))
        .find(|(_, absolute)| absolute.is_file())
        .ok_or_else(|| ManifestError::NotFound {
            dir: options.project_dir.clone(),
        })
}

fn load_source(
    options: &LoadOptions,
    display: &Path,
    absolute: &Path,
    kind: ManifestKind,
    source: &str,
) -> Result<Loaded, ManifestError> {
    let Pass { mut report, config } = run_passes(options, display, absolute, kind, source)?;
    diagnostic::sort_diagnostics(&mut report.diagnostics);
    if report.has_errors() {
        return Err(ManifestError::Invalid {
            path: display.to_path_buf(),
            diagnostics: report.diagnostics,
        });
    }
    Ok(Loaded {
        config,
        warnings: report.diagnostics,
    })
}

/// Every pass over a manifest that parsed: the config is complete only when the report has
/// no errors.
struct Pass {
    report: Report,
    config: ResolvedConfig,
}

fn run_passes(
    options: &LoadOptions,
    display: &Path,
    absolute: &Path,
    kind: ManifestKind,
    source: &str,
) -> Result<Pass, ManifestError> {
    let mut report = Report::default();
    let file = report.add_file(display.to_path_buf(), absolute.to_path_buf());
    let (tree, problems) = yaml::parse(source, file);
    for problem in problems {
        report.diagnostics.push(problem.into_diagnostic(display));
    }
    let invalid = |mut report: Report| {
        diagnostic::sort_diagnostics(&mut report.diagnostics);
        ManifestError::Invalid {
            path: display.to_path_buf(),
            diagnostics: report.diagnostics,
        }
    };
    let Some(mut root) = tree.filter(|_| !report.has_errors()) else {
        if !report.has_errors() {
            report.error(
                Pos {
                    file,
                    line: 1,
                    column: 1,
                },
                "",
                "the manifest is empty",
                Some("start from `strata init`".to_owned()),
            );
        }
        return Err(invalid(report));
    };
    if !matches!(root.value, Value::Map(_)) {
        report.error(
            root.pos,
            "",
            format!(
                "the manifest must be a map of keys, found {}",
                root.type_name()
            ),
            None,
        );
        return Err(invalid(report));
    }

    let manifest_dir_display = display.parent().map(Path::to_path_buf).unwrap_or_default();
    let manifest_dir_absolute = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    let stage = choose_stage(
        options,
        &root,
        &mut report,
        &manifest_dir_absolute,
        &manifest_dir_display,
    );
    let unknown_keys = schema::UnknownKeys::of(kind, &root);
    apply_stage(&mut root, &stage, options, unknown_keys, &mut report);

    let context = variables::VariableContext {
        stage: Some(&stage),
        cli_stage: options.stage.as_deref(),
        cli_region: options.region.as_deref(),
        env: &options.env,
        base_dir: &manifest_dir_absolute,
        base_display: &manifest_dir_display,
        cloud: &options.cloud,
    };
    let mut resolver = variables::Resolver::new(&root, &context, &mut report);
    let mut resolved = resolver.resolve_root();
    let secure_values = std::mem::take(&mut resolver.secure_values);
    merge_lists(&mut resolved, &mut report);

    let mut validator = schema::Validator {
        report: &mut report,
        raw: false,
        unmanaged: Vec::new(),
        unknown_keys: schema::UnknownKeys::of(kind, &resolved),
        plugins: extract::plugin_names(resolved.get("plugins")),
    };
    validator.check_root(&mut resolved);
    let unmanaged = validator.unmanaged;

    let extracted = extract::Extractor {
        report: &mut report,
        root: &resolved,
        project_dir: &options.project_dir,
        manifest_dir: &manifest_dir_display,
        stage: &stage,
    }
    .extract(unmanaged);

    let config = ResolvedConfig {
        manifest_path: absolute.to_path_buf(),
        project_dir: options.project_dir.clone(),
        kind,
        service: extracted.service,
        stage,
        document: resolved.to_json(),
        runtime: extracted.runtime,
        aws: extracted.aws,
        azure: extracted.azure,
        gcp: extracted.gcp,
        functions: extracted.functions,
        layers: extracted.layers,
        package: extracted.package,
        python_requirements: extracted.python_requirements,
        resolver: extracted.resolver,
        custom: extracted.custom,
        plugins: extracted.plugins,
        unmanaged: extracted.unmanaged,
        resources: extracted.resources,
        secure_values,
    };
    Ok(Pass { report, config })
}

/// `functions:` and `resources:` given as a list of maps (often `- ${file(fns.yml)}`) are
/// deep-merged into one map, in order, as Serverless v3 does.
fn merge_lists(root: &mut Node, report: &mut Report) {
    for key in ["functions", "resources"] {
        let Some(node) = root.get_mut(key) else {
            continue;
        };
        let Value::Seq(items) = &mut node.value else {
            continue;
        };
        let mut merged = Node::new(Value::Map(Vec::new()), node.pos);
        for (index, item) in std::mem::take(items).into_iter().enumerate() {
            match item.value {
                Value::Map(_) => deep_merge(&mut merged, item),
                Value::Null | Value::Poison => {}
                _ => report.error(
                    item.pos,
                    &format!("{key}[{index}]"),
                    format!(
                        "each item of a `{key}:` list must be a map, found {}",
                        item.type_name()
                    ),
                    None,
                ),
            }
        }
        node.value = merged.value;
    }
}

/// `--stage`, else `provider.stage` (which may itself use variables, but not the stage),
/// else `dev`.
fn choose_stage(
    options: &LoadOptions,
    root: &Node,
    report: &mut Report,
    base_dir: &Path,
    base_display: &Path,
) -> String {
    let stage_node = root.get("provider").and_then(|p| p.get("stage"));
    let (stage, pos, path) = match (&options.stage, stage_node) {
        (Some(stage), _) => (stage.clone(), None, "--stage"),
        (None, Some(node)) => {
            let context = variables::VariableContext {
                stage: None,
                cli_stage: None,
                cli_region: options.region.as_deref(),
                env: &options.env,
                base_dir,
                base_display,
                cloud: &options.cloud,
            };
            let resolved = variables::Resolver::new(root, &context, report)
                .resolve_path("provider.stage", node.pos);
            match resolved.as_ref().map(|n| &n.value) {
                Some(Value::String(stage)) => (stage.clone(), Some(node.pos), "provider.stage"),
                Some(Value::Poison) | None => return "dev".to_owned(),
                Some(_) => {
                    report.error(
                        node.pos,
                        "provider.stage",
                        "the stage must be a string",
                        None,
                    );
                    return "dev".to_owned();
                }
            }
        }
        (None, None) => ("dev".to_owned(), None, ""),
    };
    let valid = !stage.is_empty()
        && stage
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        let hint = Some(
            "stage names are letters, digits, `-` and `_`; they become part of function names"
                .to_owned(),
        );
        match pos {
            Some(pos) => report.error(pos, path, format!("invalid stage name `{stage}`"), hint),
            None => report.error(
                Pos {
                    file: yaml::FileId(0),
                    line: 0,
                    column: 0,
                },
                path,
                format!("invalid stage name `{stage}`"),
                hint,
            ),
        }
    }
    stage
}

/// Removes `stages:`, checks it, merges the chosen stage's overrides and makes
/// `provider.stage`/`provider.region` follow the command line.
fn apply_stage(
    root: &mut Node,
    stage: &str,
    options: &LoadOptions,
    unknown_keys: schema::UnknownKeys,
    report: &mut Report,
) {
    let stages = match &mut root.value {
        Value::Map(entries) => entries
            .iter()
            .position(|(key, _)| key.name == "stages")
            .map(|index| entries.remove(index)),
        _ => None,
    };
    if let Some((key, mut stages)) = stages {
        let mut validator = schema::Validator {
            report,
            raw: true,
            unmanaged: Vec::new(),
            unknown_keys,
            plugins: Vec::new(),
        };
        validator.check_stages(&mut stages);
        let overrides = stages.get(stage).cloned();
        match overrides {
            Some(overrides) if matches!(overrides.value, Value::Map(_)) => {
                deep_merge(root, overrides)
            }
            Some(_) => {}
            None => {
                let defined: Vec<&str> = stages
                    .entries()
                    .iter()
                    .map(|(k, _)| k.name.as_str())
                    .collect();
                report.warning(
                    key.pos,
                    "stages",
                    format!(
                        "stage `{stage}` has no entry under `stages:` (defined: {})",
                        defined.join(", ")
                    ),
                    Some(
                        "the base values are used unchanged; check the stage name for a typo"
                            .to_owned(),
                    ),
                );
            }
        }
    }
    if let Some(provider) = root.get_mut("provider")
        && matches!(provider.value, Value::Map(_))
    {
        let pos = provider.pos;
        if options.stage.is_some() || provider.get("stage").is_none() {
            variables::set_child(
                provider,
                "stage",
                Node::new(Value::String(stage.to_owned()), pos),
            );
        }
        if let Some(region) = &options.region {
            variables::set_child(
                provider,
                "region",
                Node::new(Value::String(region.clone()), pos),
            );
        }
    }
    if let (Some(region), Some(aws)) = (&options.region, root.get_mut("aws"))
        && aws.get("region").is_some()
    {
        let pos = aws.pos;
        variables::set_child(aws, "region", Node::new(Value::String(region.clone()), pos));
    }
}

/// Maps merge key by key; anything else in `overlay` replaces what was there.
fn deep_merge(base: &mut Node, overlay: Node) {
    match (&mut base.value, overlay.value) {
        (Value::Map(entries), Value::Map(overlay_entries)) => {
            for (key, value) in overlay_entries {
                match entries.iter_mut().find(|(k, _)| k.name == key.name) {
                    Some((_, existing)) => deep_merge(existing, value),
                    None => entries.push((
                        Key {
                            name: key.name,
                            pos: key.pos,
                        },
                        value,
                    )),
                }
            }
        }
        (_, value) => {
            base.value = value;
            base.pos = overlay.pos;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str, stage: Option<&str>) -> Result<Loaded, ManifestError> {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(
            dir.path().join("handler.py"),
            "def main(event, context):\n    return 1\n",
        )
        .unwrap();
        let options = LoadOptions {
            project_dir: dir.path().to_path_buf(),
            stage: stage.map(str::to_owned),
            ..LoadOptions::default()
        };
        load_source(
            &options,
            Path::new("strata.yml"),
            &dir.path().join("strata.yml"),
            ManifestKind::Strata,
            text,
        )
    }

    #[test]
    fn stage_overrides_merge_before_validation() {
        let text = "service: app\nprovider: {name: aws, runtime: python3.12, memorySize: 256}\nfunctions:\n  f: {handler: handler.main}\nstages:\n  prod:\n    provider: {memorySize: 2048}\n";
        let dev = load_text(text, None).unwrap();
        assert_eq!(dev.config.functions["f"].memory_size, 256);
        let prod = load_text(text, Some("prod")).unwrap();
        assert_eq!(prod.config.functions["f"].memory_size, 2048);
        assert!(prod.config.document.get("stages").is_none());
    }

    #[test]
    fn provider_stage_follows_the_command_line() {
        let text = "service: app\nprovider: {name: aws, runtime: python3.12, stage: dev}\ncustom: {s: '${self:provider.stage}'}\nfunctions:\n  f: {handler: handler.main}\n";
        let loaded = load_text(text, Some("prod")).unwrap();
        assert_eq!(loaded.config.custom["s"], "prod");
        assert_eq!(loaded.config.stage, "prod");
    }

    #[test]
    fn empty_manifest_is_an_error() {
        let error = load_text("", None).unwrap_err();
        assert!(error.diagnostics()[0].message.contains("empty"));
    }
}
