//! Turns the resolved, schema-checked tree into [`ResolvedConfig`] and runs the checks that
//! need more than one value at a time: handlers against their source, names and limits
//! against each targeted cloud, runtimes against what strata can build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::aws_events;
use crate::clouds::{self, RuntimeStatus};
use crate::config::{
    Architecture, AwsConfig, AzureConfig, AzurePlan, Cloud, FunctionConfig, FunctionTarget,
    GcpConfig, LayerConfig, LayerRef, PackageConfig, PythonRequirementsConfig, PythonRuntime,
    RequirementsLayerConfig, ResolverSetting, SourceLocation, Unmanaged, UnmanagedKind,
};
use crate::diagnostic::Report;
use crate::python_source;
use crate::resources::{self, CfnResources};
use crate::schema::did_you_mean;
use crate::yaml::{Node, Pos, Value};

const REQUIREMENTS_PLUGIN: &str = "serverless-python-requirements";
const REQUIREMENTS_LAYER_REF: &str = "PythonRequirementsLambdaLayer";
const DEFAULT_MEMORY: u32 = 1024;
const DEFAULT_TIMEOUT: u32 = 6;
const UNDEFINED_SECRET_HINT: &str =
    "check the name against `environment:`; a value under a misspelt name is shown unmasked";

pub(crate) struct Extracted {
    pub(crate) service: String,
    pub(crate) runtime: PythonRuntime,
    pub(crate) aws: Option<AwsConfig>,
    pub(crate) azure: Option<AzureConfig>,
    pub(crate) gcp: Option<GcpConfig>,
    pub(crate) functions: IndexMap<String, FunctionConfig>,
    pub(crate) layers: IndexMap<String, LayerConfig>,
    pub(crate) package: PackageConfig,
    pub(crate) python_requirements: PythonRequirementsConfig,
    pub(crate) resolver: Option<ResolverSetting>,
    pub(crate) custom: serde_json::Value,
    pub(crate) plugins: Vec<String>,
    pub(crate) unmanaged: Vec<Unmanaged>,
    pub(crate) resources: Option<CfnResources>,
}

pub(crate) struct Extractor<'a> {
    pub(crate) report: &'a mut Report,
    pub(crate) root: &'a Node,
    pub(crate) project_dir: &'a Path,
    /// The manifest's directory relative to the project directory (usually empty).
    pub(crate) manifest_dir: &'a Path,
    pub(crate) stage: &'a str,
}

/// One name of a `secretEnvironment` list, and where it is written.
struct SecretName {
    name: String,
    pos: Pos,
    path: String,
}

/// A value and where it was written (or where the default applies).
struct At<T> {
    value: T,
    pos: Pos,
    path: String,
}

/// `resources:` is the AWS backend's CloudFormation stack: neither warned about nor listed
/// as left alone.
fn managed_on_aws(kind: UnmanagedKind) -> bool {
    kind == UnmanagedKind::Resource
}

impl<'a> Extractor<'a> {
    fn location(&self, pos: Pos) -> SourceLocation {
        SourceLocation {
            file: self.report.display(pos.file),
            line: pos.line as usize,
            column: pos.column as usize,
        }
    }

    pub(crate) fn extract(
        &mut self,
        unmanaged: Vec<(UnmanagedKind, String, Pos, String)>,
    ) -> Extracted {
        let root = self.root;
        let service = str_at(root, "service").unwrap_or_default().to_owned();
        // A service that failed to resolve was reported already; its name is not checked.
        if let Some(node) = root.get("service")
            && !node.meta.deferred
            && matches!(node.value, Value::String(_))
        {
            check_service_name(self.report, &service, node.pos);
        }
        let provider = root.get("provider");
        // A service-wide runtime that is not Python is checked per function: those functions
        // are left alone, the Python ones still build.
        let service_runtime =
            first(&[root.get("runtime"), provider.and_then(|p| p.get("runtime"))]);
        let runtime = match service_runtime {
            Some(node) if !is_foreign_runtime(node) => {
                let path = if root.get("runtime").is_some() {
                    "runtime"
                } else {
                    "provider.runtime"
                };
                self.runtime_of(node, path)
            }
            _ => None,
        }
        .unwrap_or(PythonRuntime::DEFAULT);

        let default_targets: Vec<Cloud> = {
            let mut targets = Vec::new();
            if root.get("aws").is_some() || provider.is_some() {
                targets.push(Cloud::Aws);
            }
            if root.get("azure").is_some() {
                targets.push(Cloud::Azure);
            }
            if root.get("gcp").is_some() {
                targets.push(Cloud::Gcp);
            }
            if targets.is_empty() {
                targets.push(Cloud::Aws);
            }
            targets
        };

        let plugins = plugin_names(root.get("plugins"));
        // Whether an event is managed depends on its function's targets, known only below.
        let (events, unmanaged): (Vec<_>, Vec<_>) = unmanaged
            .into_iter()
            .partition(|(kind, ..)| *kind == UnmanagedKind::Event);
        let mut unmanaged = self.unmanaged_entries(unmanaged);
        for (plugin, pos, path) in plugin_entries(root.get("plugins")) {
            if plugin != REQUIREMENTS_PLUGIN {
                let description = format!("plugin `{plugin}`");
                self.report.warning(
                    pos,
                    &path,
                    format!("{description} is kept but strata does not run Serverless plugins"),
                    Some("strata implements serverless-python-requirements itself; other plugins have no effect".to_owned()),
                );
                unmanaged.push(Unmanaged {
                    key_path: path,
                    kind: UnmanagedKind::Plugin,
                    description,
                    source: self.location(pos),
                });
            }
        }

        let python_requirements =
            self.python_requirements(plugins.iter().any(|p| p == REQUIREMENTS_PLUGIN));
        let package = package_config(root.get("package"));
        let resolver = self.resolver();
        let layers = self.layers();
        let aws_settings = root.get("aws");
        let azure_settings = root.get("azure");
        let gcp_settings = root.get("gcp");

        // Serverless has no key for this, so a serverless.yml says it under `custom.strata`.
        let mut service_secrets = self.secret_names(
            root.get("custom")
                .and_then(|c| c.get("strata"))
                .and_then(|s| s.get("secretEnvironment")),
            "custom.strata.secretEnvironment",
        );
        service_secrets.extend(self.secret_names(
            provider.and_then(|p| p.get("secretEnvironment")),
            "provider.secretEnvironment",
        ));

        let mut functions = IndexMap::new();
        let mut foreign = 0;
        let http_api_cors = aws_events::http_api_cors(self.report, root.get("provider"));
        if let Some(node) = root.get("functions") {
            for (key, function) in node.entries() {
                let own_runtime = function.get("runtime");
                if let Some(runtime_node) = own_runtime
                    .or(service_runtime)
                    .filter(|n| function.get("image").is_none() && is_foreign_runtime(n))
                {
                    foreign += 1;
                    let text = runtime_node.as_str().unwrap_or_default();
                    let description = format!("function `{}` ({text})", key.name);
                    self.report.warning(
                        key.pos,
                        &format!("functions.{}", key.name),
                        format!("function `{}` runs {text}, not Python: it is not strata's to build, so strata leaves it alone", key.name),
                        Some("deploy it with the tool of its runtime; strata builds and deploys the Python functions".to_owned()),
                    );
                    unmanaged.push(Unmanaged {
                        key_path: format!("functions.{}", key.name),
                        kind: UnmanagedKind::Setting,
                        description,
                        source: self.location(key.pos),
                    });
                    continue;
                }
                if matches!(function.value, Value::Map(_)) {
                    let mut config = self.function(
                        &service,
                        &key.name,
                        key.pos,
                        function,
                        &default_targets,
                        runtime,
                        &python_requirements,
                    );
                    config.secret_environment =
                        self.function_secrets(&config, function, &service_secrets);
                    if config.targets.contains(&Cloud::Aws)
                        && let Some(events) = function.get("events")
                    {
                        let base = format!("functions.{}.events", key.name);
                        config.aws_triggers = aws_events::parse_events(
                            self.report,
                            events,
                            &base,
                            http_api_cors.as_ref(),
                        );
                    }
                    functions.insert(key.name.clone(), config);
                }
            }
        }
        if foreign > 0 && functions.is_empty() {
            let pos = root.get("functions").map_or(root.pos, |n| n.pos);
            self.report.error(
                pos,
                "functions",
                "no function of this service runs Python; strata builds Python functions only",
                Some("give the Python functions a python3.x runtime (in `provider.runtime` or the function's own `runtime`)".to_owned()),
            );
        }
        unmanaged.extend(self.unmanaged_events(events, &functions));
        self.check_layer_refs(&functions, &layers, &python_requirements);
        aws_events::check_routes(self.report, &functions);
        let resources = root
            .get("resources")
            .and_then(|node| resources::read(node, self.location(node.pos)));
        self.check_references(&functions, &layers, resources.as_ref());
        for secret in &service_secrets {
            if !functions
                .values()
                .any(|function| defined_environment(function).contains(secret.name.as_str()))
            {
                self.report.warning(
                    secret.pos,
                    &secret.path,
                    format!(
                        "`{}` is marked secret but no function's environment defines it",
                        secret.name
                    ),
                    Some(UNDEFINED_SECRET_HINT.to_owned()),
                );
            }
        }

        let targeted = |cloud: Cloud| {
            functions
                .values()
                .any(|f: &FunctionConfig| f.targets.contains(&cloud))
        };
        let aws =
            (targeted(Cloud::Aws) || aws_settings.is_some()).then(|| self.aws_config(&service));
        let azure = if targeted(Cloud::Azure) || azure_settings.is_some() {
            self.azure_config(&service, runtime, &functions)
        } else {
            None
        };
        let gcp = if targeted(Cloud::Gcp) || gcp_settings.is_some() {
            self.gcp_config()
        } else {
            None
        };

        Extracted {
            service,
            runtime,
            aws,
            azure,
            gcp,
            functions,
            layers,
            package,
            python_requirements,
            resolver,
            custom: root
                .get("custom")
                .map_or_else(|| serde_json::json!({}), Node::to_json),
            plugins,
            unmanaged,
            resources,
        }
    }

    /// Every `Ref` / `Fn::GetAtt` / `Fn::Sub` in `resources:`, the AWS functions' events and
    /// the IAM statements (environment values refuse references on their own, for now) must name a resource, parameter or id that will
    /// exist when the stack is deployed.
    fn check_references(
        &mut self,
        functions: &IndexMap<String, FunctionConfig>,
        layers: &IndexMap<String, LayerConfig>,
        resources: Option<&CfnResources>,
    ) {
        let root = self.root;
        let mut generated = aws_events::generated_logical_ids(
            functions
                .iter()
                .map(|(name, f)| (name.as_str(), f.aws_triggers.as_slice())),
        );
        for name in layers.keys() {
            generated.insert(format!("{}LambdaLayer", layer_logical_id(name)), "a layer");
        }
        generated.insert(REQUIREMENTS_LAYER_REF.to_owned(), "the requirements layer");
        let section = root.get("resources");
        let parameters = section
            .and_then(|s| s.get("Parameters"))
            .map(|p| p.entries().iter().map(|(k, _)| k.name.clone()).collect())
            .unwrap_or_default();
        let names = resources::Names {
            resources,
            parameters,
            generated,
        };
        if let Some(section) = section {
            for key in ["Resources", "Outputs", "Conditions"] {
                if let Some(node) = section.get(key) {
                    resources::check_references(
                        self.report,
                        &names,
                        node,
                        &format!("resources.{key}"),
                    );
                }
            }
        }
        let provider = root.get("provider");
        let mut checked: Vec<(&Node, String)> = Vec::new();
        if let Some(statements) = provider.and_then(|p| p.get("iamRoleStatements")) {
            checked.push((statements, "provider.iamRoleStatements".to_owned()));
        }
        if let Some(statements) = provider
            .and_then(|p| p.get("iam"))
            .and_then(|i| i.get("role"))
            .and_then(|r| r.get("statements"))
        {
            checked.push((statements, "provider.iam.role.statements".to_owned()));
        }
        for (name, function) in functions {
            if !function.targets.contains(&Cloud::Aws) {
                continue;
            }
            let Some(node) = root.get("functions").and_then(|f| f.get(name)) else {
                continue;
            };
            if let Some(events) = node.get("events") {
                checked.push((events, format!("functions.{name}.events")));
            }
        }
        for (node, path) in checked {
            resources::check_references(self.report, &names, node, &path);
        }
    }

    /// The names of one `secretEnvironment` list; a name no environment variable can have is
    /// an error (a wrong type was reported by the schema check).
    fn secret_names(&mut self, node: Option<&Node>, path: &str) -> Vec<SecretName> {
        let items: Vec<(&Node, String)> = match node.map(|n| (n, &n.value)) {
            Some((_, Value::Seq(items))) => items
                .iter()
                .enumerate()
                .map(|(index, item)| (item, format!("{path}[{index}]")))
                .collect(),
            Some((single, Value::String(_))) => vec![(single, path.to_owned())],
            _ => Vec::new(),
        };
        let mut names = Vec::new();
        for (item, item_path) in items {
            let Some(name) = item.as_str() else {
                continue;
            };
            if is_environment_name(name) {
                names.push(SecretName {
                    name: name.to_owned(),
                    pos: item.pos,
                    path: item_path,
                });
            } else {
                self.report.error(
                    item.pos,
                    &item_path,
                    format!("`{name}` is not an environment variable name"),
                    Some("write the name as it is under `environment:`: letters, digits and `_`, not starting with a digit".to_owned()),
                );
            }
        }
        names
    }

    /// The names marked secret for one function: the service-wide ones and its own. One of
    /// its own that none of its environments defines is a warning, since a typo there would
    /// leave the real variable unmasked.
    fn function_secrets(
        &mut self,
        function: &FunctionConfig,
        node: &Node,
        service: &[SecretName],
    ) -> BTreeSet<String> {
        let own = self.secret_names(
            node.get("secretEnvironment"),
            &format!("functions.{}.secretEnvironment", function.name),
        );
        let defined = defined_environment(function);
        for secret in &own {
            if !defined.contains(secret.name.as_str()) {
                self.report.warning(
                    secret.pos,
                    &secret.path,
                    format!(
                        "`{}` is marked secret but no environment of function `{}` defines it",
                        secret.name, function.name
                    ),
                    Some(UNDEFINED_SECRET_HINT.to_owned()),
                );
            }
        }
        service
            .iter()
            .chain(&own)
            .map(|secret| secret.name.clone())
            .collect()
    }

    /// The function events no targeted cloud's backend creates a trigger for, each warned
    /// about once. An event every target manages (an HTTP or Pub/Sub trigger of a GCP-only
    /// function) is neither warned about nor listed as left alone.
    fn unmanaged_events(
        &mut self,
        found: Vec<(UnmanagedKind, String, Pos, String)>,
        functions: &IndexMap<String, FunctionConfig>,
    ) -> Vec<Unmanaged> {
        found
            .into_iter()
            .filter_map(|(kind, key_path, pos, description)| {
                let (targets, event_kind) = event_owner(functions, &key_path)
                    .map(|(function, event)| (function.targets.clone(), event_kind(event)))
                    .unwrap_or_default();
                let (managing, not_managing): (Vec<Cloud>, Vec<Cloud>) = targets
                    .iter()
                    .partition(|cloud| clouds::manages_event(**cloud, &event_kind));
                if !targets.is_empty() && not_managing.is_empty() {
                    return None;
                }
                let names = |clouds: &[Cloud]| {
                    clouds
                        .iter()
                        .map(|cloud| cloud.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let no_target_manages_events = not_managing
                    .iter()
                    .all(|cloud| clouds::managed_events(*cloud).is_empty());
                let (message, hint) = if managing.is_empty() && no_target_manages_events {
                    (
                        format!("{description} is kept, but strata does not create triggers yet"),
                        "create the trigger with your existing tooling; the function itself is deployed".to_owned(),
                    )
                } else {
                    let managed_elsewhere = if managing.is_empty() {
                        String::new()
                    } else {
                        format!(" (strata creates it on {})", names(&managing))
                    };
                    let kinds = not_managing
                        .iter()
                        .filter(|cloud| !clouds::managed_events(**cloud).is_empty())
                        .map(|cloud| {
                            format!(
                                "{}: {}",
                                cloud.as_str(),
                                clouds::managed_events(*cloud).join(", ")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    let known = if kinds.is_empty() {
                        String::new()
                    } else {
                        format!(" (strata creates {kinds})")
                    };
                    (
                        format!(
                            "{description} is kept, but not managed on {}{managed_elsewhere}",
                            names(&not_managing)
                        ),
                        format!(
                            "create that trigger on {} with your existing tooling{known}; the function itself is deployed",
                            names(&not_managing)
                        ),
                    )
                };
                self.report.warning(pos, &key_path, message, Some(hint));
                Some(Unmanaged {
                    key_path,
                    kind,
                    description,
                    source: self.location(pos),
                })
            })
            .collect()
    }

    fn unmanaged_entries(
        &mut self,
        found: Vec<(UnmanagedKind, String, Pos, String)>,
    ) -> Vec<Unmanaged> {
        // Without a role ARN, strata creates the service's execution role from the IAM
        // statements, so they are acted on; with one, they are not.
        let role_given = self.configured_role().is_some();
        found
            .into_iter()
            .filter(|(kind, ..)| *kind != UnmanagedKind::IamStatement || role_given)
            .filter(|(kind, ..)| !managed_on_aws(*kind))
            .map(|(kind, key_path, pos, description)| {
                let (verb, hint) = match kind {
                    UnmanagedKind::Event => ("strata does not create triggers yet", "create the trigger with your existing tooling; the function itself is deployed"),
                    UnmanagedKind::Resource => ("strata does not create CloudFormation resources", "deploy resources with CloudFormation or Terraform"),
                    UnmanagedKind::IamStatement => ("the functions use the role given by ARN, which strata does not change", "add the permission to that role, or remove the role so strata manages one with these statements"),
                    UnmanagedKind::Plugin | UnmanagedKind::Setting => ("strata does not apply it yet", "it is kept in `strata print` output"),
                };
                let message = format!("{description} is kept, but {verb}");
                self.report.warning(pos, &key_path, message, Some(hint.to_owned()));
                Unmanaged {
                    key_path,
                    kind,
                    description,
                    source: self.location(pos),
                }
            })
            .collect()
    }

    /// Parses a runtime value and checks that strata can build for it.
    fn runtime_of(&mut self, node: &Node, path: &str) -> Option<PythonRuntime> {
        let text = node.as_str()?;
        match text.parse::<PythonRuntime>() {
            Ok(runtime)
                if runtime.major == 3 && clouds::BUILDABLE_MINORS.contains(&runtime.minor) =>
            {
                Some(runtime)
            }
            Ok(runtime) => {
                self.report.error(
                    node.pos,
                    path,
                    format!("strata cannot build for {runtime}"),
                    Some(
                        "use one of python3.8 to python3.14 (python3.12 or newer is recommended)"
                            .to_owned(),
                    ),
                );
                None
            }
            Err(_) => {
                self.report.error(
                    node.pos,
                    path,
                    format!("runtime `{text}` is not a Python runtime; strata builds Python functions only"),
                    Some("use a runtime such as python3.12".to_owned()),
                );
                None
            }
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "a function's keys come from several places of the manifest"
    )]
    fn function(
        &mut self,
        service: &str,
        name: &str,
        key_pos: Pos,
        node: &Node,
        default_targets: &[Cloud],
        default_runtime: PythonRuntime,
        requirements: &PythonRequirementsConfig,
    ) -> FunctionConfig {
        let root = self.root;
        let provider = root.get("provider");
        let base = format!("functions.{name}");
        let handler = str_at(node, "handler").unwrap_or_default().to_owned();
        let module = str_at(node, "module").map(PathBuf::from);

        let (handler_module, handler_function) = handler.rsplit_once('.').map_or_else(
            || (handler.clone(), String::new()),
            |(module, function)| (module.to_owned(), function.to_owned()),
        );
        let handler_file = match node.get("handler") {
            Some(handler_node) if !handler.is_empty() => self.check_handler(
                &handler,
                &handler_module,
                &handler_function,
                module.as_deref(),
                handler_node,
                &base,
            ),
            _ => PathBuf::new(),
        };

        if let Some(image) = node.get("image") {
            self.report.error(
                image.pos,
                &format!("{base}.image"),
                "container image functions are not supported; strata builds zip packages",
                Some("remove `image` and give the function a `handler`".to_owned()),
            );
        }

        let targets = match node.get("targets") {
            Some(targets_node) => {
                let mut targets: Vec<Cloud> = string_list(Some(targets_node))
                    .iter()
                    .filter_map(|t| t.parse().ok())
                    .collect();
                targets.sort();
                targets.dedup();
                if targets.is_empty() {
                    self.report.error(
                        targets_node.pos,
                        &format!("{base}.targets"),
                        "a function must target at least one cloud",
                        Some(
                            "list aws, azure and/or gcp, or remove `targets` to use the default"
                                .to_owned(),
                        ),
                    );
                }
                targets
            }
            None => default_targets.to_vec(),
        };
        for cloud in &targets {
            if *cloud != Cloud::Aws && root.get(cloud.as_str()).is_none() {
                let pos = node.get("targets").map_or(key_pos, |t| t.pos);
                self.report.error(
                    pos,
                    &format!("{base}.targets"),
                    format!(
                        "function `{name}` targets {cloud} but the manifest has no `{cloud}:` block"
                    ),
                    Some(match cloud {
                        Cloud::Azure => {
                            "add `azure: {resourceGroup: ..., functionApp: ...}`".to_owned()
                        }
                        _ => "add `gcp: {project: ..., region: ...}`".to_owned(),
                    }),
                );
            }
        }

        let runtime = match node.get("runtime") {
            Some(runtime_node) => self
                .runtime_of(runtime_node, &format!("{base}.runtime"))
                .unwrap_or(default_runtime),
            None => default_runtime,
        };
        let memory_size = u32_at(first(&[
            node.get("memorySize"),
            provider.and_then(|p| p.get("memorySize")),
        ]))
        .unwrap_or(DEFAULT_MEMORY);
        let timeout = u32_at(first(&[
            node.get("timeout"),
            provider.and_then(|p| p.get("timeout")),
        ]))
        .unwrap_or(DEFAULT_TIMEOUT);
        let architecture = arch_at(first(&[
            node.get("architecture"),
            provider.and_then(|p| p.get("architecture")),
        ]));

        let mut environment = text_map(provider.and_then(|p| p.get("environment")));
        environment.extend(text_map(node.get("environment")));
        let mut tags = text_map(provider.and_then(|p| p.get("tags")));
        tags.extend(text_map(node.get("tags")));

        let layer_refs: Vec<LayerRef> =
            match first(&[node.get("layers"), provider.and_then(|p| p.get("layers"))]) {
                Some(layers) => layer_refs(layers),
                None => Vec::new(),
            };
        let role = first(&[node.get("role")])
            .and_then(Node::as_str)
            .map(str::to_owned);

        let requirements_file = match node.get("requirements") {
            Some(own) => {
                let file = own.as_str().map(PathBuf::from).unwrap_or_default();
                if !self
                    .project_dir
                    .join(self.manifest_dir)
                    .join(&file)
                    .is_file()
                {
                    self.report.error(
                        own.pos,
                        &format!("{base}.requirements"),
                        format!("requirements file {} does not exist", file.display()),
                        Some("the path is relative to the project directory".to_owned()),
                    );
                }
                Some(file)
            }
            None => match &module {
                Some(module) => Some(module.join(&requirements.file_name)),
                None => Some(requirements.file_name.clone()),
            }
            .filter(|path| self.project_dir.join(path).is_file()),
        };

        let mut clouds_map = BTreeMap::new();
        let mut deployed_names = BTreeMap::new();
        for cloud in &targets {
            let target = self.function_target(service, name, node, *cloud, &base, key_pos);
            deployed_names.insert(*cloud, target.deployed_name.clone());
            clouds_map.insert(*cloud, target);
        }

        FunctionConfig {
            name: name.to_owned(),
            handler,
            handler_module,
            handler_function,
            handler_file,
            runtime,
            memory_size,
            timeout,
            environment,
            secret_environment: BTreeSet::new(),
            description: str_at(node, "description").map(str::to_owned),
            targets,
            architecture,
            module,
            requirements: requirements_file,
            vendor: str_at(node, "vendor").map(PathBuf::from),
            layers: layer_refs.iter().map(ToString::to_string).collect(),
            layer_refs,
            package: package_config(node.get("package")),
            deployed_names,
            clouds: clouds_map,
            aws_triggers: Vec::new(),
            events: node
                .get("events")
                .map(|events| match events.to_json() {
                    serde_json::Value::Array(items) => items,
                    _ => Vec::new(),
                })
                .unwrap_or_default(),
            tags,
            role,
            source: self.location(key_pos),
        }
    }

    fn function_target(
        &mut self,
        service: &str,
        name: &str,
        node: &Node,
        cloud: Cloud,
        base: &str,
        key_pos: Pos,
    ) -> FunctionTarget {
        let root = self.root;
        let provider = root.get("provider");
        let settings = root.get(cloud.as_str());
        let overrides = node.get(cloud.as_str());
        // Most specific first: function.<cloud>, function, <cloud>:, strata `runtime:`, provider.
        let from = |key: &str| -> Option<(&Node, String)> {
            [
                (
                    overrides.and_then(|o| o.get(key)),
                    format!("{base}.{cloud}.{key}"),
                ),
                (node.get(key), format!("{base}.{key}")),
                (settings.and_then(|s| s.get(key)), format!("{cloud}.{key}")),
                (
                    if key == "runtime" {
                        root.get("runtime")
                    } else {
                        None
                    },
                    "runtime".to_owned(),
                ),
                (provider.and_then(|p| p.get(key)), format!("provider.{key}")),
            ]
            .into_iter()
            .find_map(|(candidate, path)| {
                candidate
                    .filter(|n| !matches!(n.value, Value::Poison))
                    .map(|n| (n, path))
            })
        };
        let default_name = crate::config::resource_name(service, self.stage, name);
        let name_node = match cloud {
            Cloud::Aws => first(&[overrides.and_then(|o| o.get("name")), node.get("name")]),
            Cloud::Azure | Cloud::Gcp => overrides.and_then(|o| o.get("name")),
        };
        let deployed_name = match (name_node.and_then(Node::as_str), cloud) {
            (Some(explicit), _) => explicit.to_owned(),
            (None, Cloud::Aws) => default_name,
            (None, Cloud::Azure) => name.to_owned(),
            (None, Cloud::Gcp) => clouds::gcp_default_name(&default_name),
        };
        if let Some(problem) = clouds::function_name_problem(cloud, &deployed_name) {
            let pos = name_node.map_or(key_pos, |n| n.pos);
            let hint = match (name_node, cloud) {
                (None, Cloud::Gcp) => format!("set `{base}.gcp.name` to a valid name"),
                (None, _) => format!(
                    "the name comes from `<service>-<stage>-<function>`; shorten the service or function name, or set `{base}.{cloud}.name`"
                ),
                (Some(_), _) => "change the name".to_owned(),
            };
            self.report.error(
                pos,
                base,
                format!("{}: {problem}", cloud.product()),
                Some(hint),
            );
        }

        let (runtime, runtime_pos, runtime_path) = match from("runtime") {
            Some((runtime_node, path)) => {
                (self.runtime_of(runtime_node, &path), runtime_node.pos, path)
            }
            None => (Some(PythonRuntime::DEFAULT), key_pos, base.to_owned()),
        };
        let runtime = runtime.unwrap_or(PythonRuntime::DEFAULT);
        {
            match clouds::runtime_status(cloud, runtime) {
                RuntimeStatus::Supported => {}
                RuntimeStatus::Retired(detail) => self.report.warning(
                    runtime_pos,
                    &runtime_path,
                    format!("{runtime} is retired on {}: {detail}", cloud.product()),
                    Some(format!(
                        "move to a supported runtime: {}",
                        clouds::supported_runtimes(cloud)
                    )),
                ),
                RuntimeStatus::Unavailable => self.report.error(
                    runtime_pos,
                    &runtime_path,
                    format!("{} does not offer {runtime}", cloud.product()),
                    Some(format!("supported: {}", clouds::supported_runtimes(cloud))),
                ),
            }
        }

        let plan = (cloud == Cloud::Azure).then(|| azure_plan(settings));
        let limits = clouds::limits(cloud, plan);
        let memory = at_u32(from("memorySize"), DEFAULT_MEMORY, key_pos, base);
        let timeout = at_u32(from("timeout"), DEFAULT_TIMEOUT, key_pos, base);
        if let Some((low, high)) = limits.memory
            && !(i64::from(low)..=i64::from(high)).contains(&memory.value)
        {
            self.report.error(
                memory.pos,
                &memory.path,
                format!(
                    "memory {} MB is outside the {} limits",
                    memory.value,
                    cloud.product()
                ),
                Some(limits.source.to_owned()),
            );
        }
        let (low, high) = limits.timeout;
        if timeout.value < i64::from(low)
            || high.is_some_and(|high| timeout.value > i64::from(high))
        {
            self.report.error(
                timeout.pos,
                &timeout.path,
                format!(
                    "timeout {} s is outside the {} limits",
                    timeout.value,
                    cloud.product()
                ),
                Some(limits.source.to_owned()),
            );
        }

        let architecture = match cloud {
            Cloud::Aws => arch_at(from("architecture").map(|(n, _)| n)),
            Cloud::Azure | Cloud::Gcp => {
                let explicit = first(&[
                    overrides.and_then(|o| o.get("architecture")),
                    node.get("architecture"),
                ]);
                if let Some(arch) = explicit
                    && arch_at(Some(arch)) == Architecture::Arm64
                {
                    self.report.error(
                        arch.pos,
                        &format!("{base}.architecture"),
                        format!("{} runs Python on x86_64 only", cloud.product()),
                        Some(format!(
                            "set `{base}.aws.architecture: arm64` to use arm64 on AWS only"
                        )),
                    );
                }
                Architecture::X86_64
            }
        };

        let mut environment = text_map(provider.and_then(|p| p.get("environment")));
        environment.extend(text_map(settings.and_then(|s| s.get("environment"))));
        environment.extend(text_map(node.get("environment")));
        environment.extend(text_map(overrides.and_then(|o| o.get("environment"))));

        let region = match cloud {
            Cloud::Aws => Some(
                first(&[
                    settings.and_then(|s| s.get("region")),
                    provider.and_then(|p| p.get("region")),
                ])
                .and_then(Node::as_str)
                .unwrap_or("us-east-1")
                .to_owned(),
            ),
            Cloud::Azure => str_at_opt(settings, "region"),
            Cloud::Gcp => first(&[
                overrides.and_then(|o| o.get("region")),
                settings.and_then(|s| s.get("region")),
            ])
            .and_then(Node::as_str)
            .map(str::to_owned)
            .or_else(|| Some("us-central1".to_owned())),
        };
        let role = match cloud {
            Cloud::Aws => first(&[
                overrides.and_then(|o| o.get("role")),
                node.get("role"),
                settings.and_then(|s| s.get("role")),
                provider
                    .and_then(|p| p.get("iam"))
                    .and_then(|i| i.get("role")),
                provider.and_then(|p| p.get("role")),
            ])
            .and_then(Node::as_str)
            .map(str::to_owned),
            _ => None,
        };
        let service_account = match cloud {
            Cloud::Gcp => first(&[
                overrides.and_then(|o| o.get("serviceAccount")),
                settings.and_then(|s| s.get("serviceAccount")),
            ])
            .and_then(Node::as_str)
            .map(str::to_owned),
            _ => None,
        };
        let layers = match cloud {
            Cloud::Aws => first(&[
                overrides.and_then(|o| o.get("layers")),
                node.get("layers"),
                provider.and_then(|p| p.get("layers")),
            ])
            .map(layer_refs)
            .unwrap_or_default(),
            _ => Vec::new(),
        };
        let (labels, max_instances, min_instances) = match cloud {
            Cloud::Gcp => {
                let mut labels = text_map(settings.and_then(|s| s.get("labels")));
                labels.extend(text_map(overrides.and_then(|o| o.get("labels"))));
                let max = u32_at(first(&[
                    overrides.and_then(|o| o.get("maxInstances")),
                    settings.and_then(|s| s.get("maxInstances")),
                ]));
                let min = u32_at(first(&[
                    overrides.and_then(|o| o.get("minInstances")),
                    settings.and_then(|s| s.get("minInstances")),
                ]));
                (labels, max, min)
            }
            _ => (IndexMap::new(), None, None),
        };

        FunctionTarget {
            cloud,
            deployed_name,
            runtime,
            memory_size: clamp_u32(memory.value),
            timeout: clamp_u32(timeout.value),
            architecture,
            environment,
            region,
            role,
            service_account,
            layers,
            labels,
            max_instances,
            min_instances,
        }
    }

    /// Finds the handler's file and checks it defines the function, by reading it.
    fn check_handler(
        &mut self,
        handler: &str,
        module_path: &str,
        function: &str,
        module_dir: Option<&Path>,
        node: &Node,
        base: &str,
    ) -> PathBuf {
        let path = format!("{base}.handler");
        if function.is_empty() || module_path.is_empty() || !python_source::is_identifier(function)
        {
            self.report.error(
                node.pos,
                &path,
                format!("handler `{handler}` must be `module.function`"),
                Some("for a function `main` in app.py write `app.main`".to_owned()),
            );
            return PathBuf::new();
        }
        let relative = PathBuf::from(module_path.replace('.', "/"));
        let mut candidates: Vec<PathBuf> = Vec::new();
        for dir in module_dir
            .into_iter()
            .map(Path::to_path_buf)
            .chain([PathBuf::new()])
        {
            let base_dir = self.manifest_dir.join(dir);
            candidates.push(base_dir.join(relative.with_extension("py")));
            candidates.push(base_dir.join(&relative).join("__init__.py"));
        }
        let found = candidates
            .iter()
            .find(|candidate| self.project_dir.join(candidate).is_file());
        let Some(file) = found.cloned() else {
            let looked: Vec<String> = candidates
                .iter()
                .step_by(2)
                .map(|c| c.display().to_string())
                .collect();
            self.report.error(
                node.pos,
                &path,
                format!("handler `{handler}`: file {} does not exist", looked.join(" or ")),
                Some("handler paths are relative to the project directory (or the function's `module`)".to_owned()),
            );
            return relative.with_extension("py");
        };
        match fs_err::read_to_string(self.project_dir.join(&file)) {
            Ok(source) => {
                let names = python_source::top_level_names(&source);
                if !names.iter().any(|name| name == function) {
                    let suggestion = did_you_mean(function, names.iter().map(String::as_str));
                    let hint = match suggestion {
                        Some(best) => format!("did you mean `{module_path}.{best}`?"),
                        None => format!(
                            "define `def {function}(event, context):` at the top level of {}",
                            file.display()
                        ),
                    };
                    self.report.error(
                        node.pos,
                        &path,
                        format!(
                            "handler `{handler}` does not exist: {} has no top-level `{function}`",
                            file.display()
                        ),
                        Some(hint),
                    );
                }
            }
            Err(error) => self.report.error(
                node.pos,
                &path,
                format!(
                    "handler `{handler}`: cannot read {}: {}",
                    file.display(),
                    error.kind()
                ),
                None,
            ),
        }
        file
    }

    fn python_requirements(&mut self, plugin_listed: bool) -> PythonRequirementsConfig {
        let mut config = PythonRequirementsConfig {
            plugin_listed,
            ..PythonRequirementsConfig::default()
        };
        let Some(node) = self
            .root
            .get("custom")
            .and_then(|c| c.get("pythonRequirements"))
        else {
            return config;
        };
        let path = "custom.pythonRequirements";
        if let Some(file) = str_at(node, "fileName") {
            config.file_name = PathBuf::from(file);
            if !self
                .project_dir
                .join(self.manifest_dir)
                .join(file)
                .is_file()
            {
                let pos = node.get("fileName").map_or(node.pos, |n| n.pos);
                self.report.error(
                    pos,
                    &format!("{path}.fileName"),
                    format!("requirements file {file} does not exist"),
                    Some("the path is relative to the project directory".to_owned()),
                );
            }
        }
        config.layer = match node.get("layer").map(|n| &n.value) {
            Some(Value::Bool(true)) => Some(RequirementsLayerConfig::default()),
            Some(Value::Map(_)) => {
                let layer = node.get("layer");
                Some(RequirementsLayerConfig {
                    name: str_at_opt(layer, "name"),
                    description: str_at_opt(layer, "description"),
                    compatible_runtimes: string_list(
                        layer.and_then(|l| l.get("compatibleRuntimes")),
                    ),
                    compatible_architectures: architectures(
                        layer.and_then(|l| l.get("compatibleArchitectures")),
                    ),
                    license_info: str_at_opt(layer, "licenseInfo"),
                    allowed_accounts: string_list(layer.and_then(|l| l.get("allowedAccounts"))),
                    retain: bool_at(layer, "retain").unwrap_or(false),
                })
            }
            _ => None,
        };
        let some = Some(node);
        config.slim = bool_at(some, "slim").unwrap_or(false);
        config.slim_patterns = string_list(node.get("slimPatterns"));
        config.slim_patterns_append_defaults =
            bool_at(some, "slimPatternsAppendDefaults").unwrap_or(true);
        config.strip = bool_at(some, "strip").unwrap_or(true);
        config.no_deploy = string_list(node.get("noDeploy"));
        config.zip = bool_at(some, "zip").unwrap_or(false);
        config.use_static_cache = bool_at(some, "useStaticCache").unwrap_or(true);
        config.use_download_cache = bool_at(some, "useDownloadCache").unwrap_or(true);
        config.cache_location = str_at(node, "cacheLocation").map(PathBuf::from);
        config.static_cache_max_versions = u32_at(node.get("staticCacheMaxVersions")).unwrap_or(0);
        config.invalidate_caches = bool_at(some, "invalidateCaches").unwrap_or(false);
        config.python_bin = str_at(node, "pythonBin").map(str::to_owned);
        config.pip_cmd_extra_args = string_list(node.get("pipCmdExtraArgs"));
        config.use_pipenv = bool_at(some, "usePipenv").unwrap_or(true);
        config.use_poetry = bool_at(some, "usePoetry").unwrap_or(true);
        config.require_poetry_lock_file = bool_at(some, "requirePoetryLockFile").unwrap_or(false);
        config.poetry_with_groups = string_list(node.get("poetryWithGroups"));
        config.poetry_without_groups = string_list(node.get("poetryWithoutGroups"));
        config.poetry_only_groups = string_list(node.get("poetryOnlyGroups"));
        config.vendor = str_at(node, "vendor").map(PathBuf::from);
        if let Some(docker) = node.get("dockerizePip") {
            config.dockerize_pip = !matches!(docker.value, Value::Bool(false));
            if config.dockerize_pip {
                self.report.warning(
                    docker.pos,
                    &format!("{path}.dockerizePip"),
                    "strata builds Linux packages without Docker; dockerizePip is ignored",
                    Some(
                        "strata picks wheels for the target platform, so Docker is not needed"
                            .to_owned(),
                    ),
                );
            }
        }
        config
    }

    /// `package.resolver` (strata.yml) or `custom.strata.resolver` (serverless.yml, which
    /// has no key for it); the schema has reported values that are neither native, uv nor
    /// pip. Both given and different is an error at the second.
    fn resolver(&mut self) -> Option<ResolverSetting> {
        let written = [
            ("package.resolver", self.root.get("package")),
            (
                "custom.strata.resolver",
                self.root.get("custom").and_then(|c| c.get("strata")),
            ),
        ];
        let mut chosen: Option<(ResolverSetting, &str)> = None;
        for (path, parent) in written {
            let Some(node) = parent.and_then(|p| p.get("resolver")) else {
                continue;
            };
            let Value::String(text) = &node.value else {
                continue;
            };
            let Some(setting) = ResolverSetting::parse(text) else {
                continue;
            };
            match chosen {
                Some((first, first_path)) if first != setting => self.report.error(
                    node.pos,
                    path,
                    format!(
                        "says {}, but {first_path} says {}",
                        setting.as_str(),
                        first.as_str()
                    ),
                    Some(format!("keep one of {first_path} and {path}")),
                ),
                Some(_) => {}
                None => chosen = Some((setting, path)),
            }
        }
        chosen.map(|(setting, _)| setting)
    }

    fn layers(&mut self) -> IndexMap<String, LayerConfig> {
        let mut layers = IndexMap::new();
        let Some(node) = self.root.get("layers") else {
            return layers;
        };
        for (key, layer) in node.entries() {
            if !matches!(layer.value, Value::Map(_)) {
                continue;
            }
            let base = format!("layers.{}", key.name);
            let path = str_at(layer, "path").map(PathBuf::from);
            let package = package_config(layer.get("package"));
            match (&path, layer.get("path")) {
                (Some(folder), Some(path_node))
                    if !self
                        .project_dir
                        .join(self.manifest_dir)
                        .join(folder)
                        .is_dir() =>
                {
                    self.report.error(
                        path_node.pos,
                        &format!("{base}.path"),
                        format!("layer folder {} does not exist", folder.display()),
                        Some("the path is relative to the project directory".to_owned()),
                    );
                }
                (Some(_), Some(_)) => {}
                _ if package.artifact.is_none() => self.report.error(
                    key.pos,
                    &base,
                    "a layer needs `path` (a folder) or `package.artifact` (a zip)",
                    None,
                ),
                _ => {}
            }
            let deployed_name =
                str_at(layer, "name").map_or_else(|| key.name.clone(), str::to_owned);
            if let Some(problem) = layer_name_problem(&deployed_name) {
                let pos = layer.get("name").map_or(key.pos, |n| n.pos);
                self.report.error(pos, &base, problem, None);
            }
            layers.insert(
                key.name.clone(),
                LayerConfig {
                    name: key.name.clone(),
                    deployed_name,
                    reference: layer_logical_id(&key.name),
                    path,
                    description: str_at(layer, "description").map(str::to_owned),
                    compatible_runtimes: string_list(layer.get("compatibleRuntimes")),
                    compatible_architectures: architectures(layer.get("compatibleArchitectures")),
                    license_info: str_at(layer, "licenseInfo").map(str::to_owned),
                    allowed_accounts: string_list(layer.get("allowedAccounts")),
                    retain: bool_at(Some(layer), "retain").unwrap_or(false),
                    package,
                    source: self.location(key.pos),
                },
            );
        }
        layers
    }

    fn check_layer_refs(
        &mut self,
        functions: &IndexMap<String, FunctionConfig>,
        layers: &IndexMap<String, LayerConfig>,
        requirements: &PythonRequirementsConfig,
    ) {
        let mut known: Vec<String> = layers.values().map(|l| l.reference.clone()).collect();
        if requirements.layer.is_some() {
            known.push(REQUIREMENTS_LAYER_REF.to_owned());
        }
        let resources: Vec<String> = self
            .root
            .get("resources")
            .and_then(|r| r.get("Resources"))
            .map(|r| r.entries().iter().map(|(k, _)| k.name.clone()).collect())
            .unwrap_or_default();
        let mut requirements_layer_used = false;
        for function in functions.values() {
            let Some(aws) = function.clouds.get(&Cloud::Aws) else {
                continue;
            };
            for layer in &aws.layers {
                let LayerRef::Ref(name) = layer else { continue };
                if name == REQUIREMENTS_LAYER_REF {
                    requirements_layer_used = true;
                }
                if known.contains(name) || resources.contains(name) {
                    continue;
                }
                let node = self
                    .root
                    .get("functions")
                    .and_then(|f| f.get(&function.name))
                    .and_then(|f| f.get("layers"));
                let pos = node.map_or(function_pos(&function.source), |n| n.pos);
                let hint = if name == REQUIREMENTS_LAYER_REF {
                    Some(
                        "set `custom.pythonRequirements.layer: true` to build that layer"
                            .to_owned(),
                    )
                } else {
                    did_you_mean(name, known.iter().map(String::as_str))
                        .map(|best| format!("did you mean `{best}`?"))
                };
                self.report.error(
                    pos,
                    &format!("functions.{}.layers", function.name),
                    format!("layer reference `{name}` does not name a layer of this manifest"),
                    hint,
                );
            }
        }
        let aws_functions = functions.values().any(|f| f.targets.contains(&Cloud::Aws));
        if requirements.layer.is_some() && aws_functions && !requirements_layer_used {
            let pos = self
                .root
                .get("custom")
                .and_then(|c| c.get("pythonRequirements"))
                .and_then(|p| p.get("layer"))
                .map_or_else(Pos::default, |n| n.pos);
            self.report.warning(
                pos,
                "custom.pythonRequirements.layer",
                "no function lists the requirements layer; strata attaches it to every function whose dependencies it holds (serverless-python-requirements would not)",
                Some(format!("add `layers: [{{Ref: {REQUIREMENTS_LAYER_REF}}}]` to the functions to say so explicitly and keep the file working with Serverless")),
            );
        }
    }

    /// The service's execution role when the manifest names one (`aws.role`,
    /// `provider.iam.role` as a string, `provider.role`).
    fn configured_role(&self) -> Option<&'a str> {
        let aws = self.root.get("aws");
        let provider = self.root.get("provider");
        first(&[
            aws.and_then(|a| a.get("role")),
            provider
                .and_then(|p| p.get("iam"))
                .and_then(|i| i.get("role")),
            provider.and_then(|p| p.get("role")),
        ])
        .and_then(Node::as_str)
    }

    fn aws_config(&mut self, service: &str) -> AwsConfig {
        let root = self.root;
        let provider = root.get("provider");
        let aws = root.get("aws");
        let pick = |key: &str| {
            first(&[
                aws.and_then(|a| a.get(key)),
                provider.and_then(|p| p.get(key)),
            ])
        };
        let region = pick("region")
            .and_then(Node::as_str)
            .unwrap_or("us-east-1")
            .to_owned();
        let deployment_bucket = pick("deploymentBucket").and_then(|node| match &node.value {
            Value::String(name) => Some(name.clone()),
            Value::Map(_) => str_at(node, "name").map(str::to_owned),
            _ => None,
        });
        let role = self.configured_role().map(str::to_owned);
        let mut tags = text_map(provider.and_then(|p| p.get("tags")));
        tags.extend(text_map(aws.and_then(|a| a.get("tags"))));
        let mut iam_statements = Vec::new();
        for statements in [
            provider
                .and_then(|p| p.get("iam"))
                .and_then(|i| i.get("role"))
                .and_then(|r| r.get("statements")),
            provider.and_then(|p| p.get("iamRoleStatements")),
        ]
        .into_iter()
        .flatten()
        {
            if let serde_json::Value::Array(items) = statements.to_json() {
                iam_statements.extend(items);
            }
        }
        AwsConfig {
            region,
            profile: pick("profile").and_then(Node::as_str).map(str::to_owned),
            role,
            deployment_bucket,
            architecture: arch_at(pick("architecture")),
            tags,
            stack_name: str_at_opt(provider, "stackName")
                .unwrap_or_else(|| format!("{service}-{}", self.stage)),
            stack_tags: text_map(provider.and_then(|p| p.get("stackTags"))),
            iam_statements,
            version_functions: bool_at(aws, "versionFunctions")
                .or_else(|| bool_at(provider, "versionFunctions"))
                .unwrap_or(true),
            layers: provider
                .and_then(|p| p.get("layers"))
                .map(layer_refs)
                .unwrap_or_default(),
        }
    }

    fn azure_config(
        &mut self,
        service: &str,
        default_runtime: PythonRuntime,
        functions: &IndexMap<String, FunctionConfig>,
    ) -> Option<AzureConfig> {
        let node = self.root.get("azure")?;
        let resource_group = str_at(node, "resourceGroup").map(str::to_owned);
        if resource_group.is_none() {
            self.report.error(
                node.pos,
                "azure",
                "missing required key `resourceGroup`",
                Some(
                    "name the resource group that holds (or will hold) the function app".to_owned(),
                ),
            );
        }
        let function_app = str_at(node, "functionApp")
            .map_or_else(|| format!("{service}-{}", self.stage), str::to_owned);
        if let Some(problem) = clouds::azure_app_name_problem(&function_app) {
            let pos = node.get("functionApp").map_or(node.pos, |n| n.pos);
            self.report.error(pos, "azure.functionApp", problem, None);
        }
        let storage_account = str_at(node, "storageAccount").map(str::to_owned);
        if let Some(account) = &storage_account
            && let Some(problem) = clouds::azure_storage_name_problem(account)
        {
            let pos = node.get("storageAccount").map_or(node.pos, |n| n.pos);
            self.report
                .error(pos, "azure.storageAccount", problem, None);
        }
        let plan = azure_plan(Some(node));
        let instance_memory = u32_at(node.get("instanceMemory"));
        if let (Some(memory), Some(memory_node)) = (instance_memory, node.get("instanceMemory")) {
            if plan != AzurePlan::FlexConsumption {
                self.report.error(
                    memory_node.pos,
                    "azure.instanceMemory",
                    "instanceMemory applies to the Flex Consumption plan only",
                    Some("remove it, or set `plan: flexConsumption`".to_owned()),
                );
            } else if !clouds::AZURE_FLEX_MEMORY.contains(&memory) {
                self.report.error(
                    memory_node.pos,
                    "azure.instanceMemory",
                    format!("Flex Consumption instance memory {memory} MB is not offered"),
                    Some("use 512, 2048 or 4096".to_owned()),
                );
            }
        }
        // One function app runs one Python version, so its functions must agree.
        let runtime = match node.get("runtime") {
            Some(runtime_node) => self
                .runtime_of(runtime_node, "azure.runtime")
                .unwrap_or(default_runtime),
            None => functions
                .values()
                .find_map(|f| f.clouds.get(&Cloud::Azure).map(|t| t.runtime))
                .unwrap_or(default_runtime),
        };
        for function in functions.values() {
            if let Some(target) = function.clouds.get(&Cloud::Azure)
                && target.runtime != runtime
            {
                self.report.error(
                    function_pos(&function.source),
                    &format!("functions.{}.runtime", function.name),
                    format!(
                        "function `{}` needs {} on Azure but the function app runs {runtime}; one app has one Python version",
                        function.name, target.runtime
                    ),
                    Some("use the same runtime for every Azure function, or set azure.runtime".to_owned()),
                );
            }
        }
        let mut app_settings = text_map(node.get("appSettings"));
        app_settings.extend(text_map(node.get("environment")));
        Some(AzureConfig {
            subscription_id: str_at(node, "subscriptionId").map(str::to_owned),
            resource_group: resource_group.unwrap_or_default(),
            function_app,
            storage_account,
            region: str_at(node, "region").map(str::to_owned),
            plan,
            instance_memory,
            identity: str_at(node, "identity").map(str::to_owned),
            runtime,
            app_settings,
            tags: text_map(node.get("tags")),
        })
    }

    fn gcp_config(&mut self) -> Option<GcpConfig> {
        let node = self.root.get("gcp")?;
        let project = str_at(node, "project").map(str::to_owned);
        match (&project, node.get("project")) {
            (None, _) => self.report.error(
                node.pos,
                "gcp",
                "missing required key `project`",
                Some("set the Google Cloud project ID, e.g. `project: my-project-123`".to_owned()),
            ),
            (Some(project), Some(project_node)) => {
                if let Some(problem) = clouds::gcp_project_problem(project) {
                    self.report
                        .error(project_node.pos, "gcp.project", problem, None);
                }
            }
            _ => {}
        }
        Some(GcpConfig {
            project: project.unwrap_or_default(),
            region: str_at(node, "region").unwrap_or("us-central1").to_owned(),
            bucket: str_at(node, "bucket").map(str::to_owned),
            service_account: str_at(node, "serviceAccount").map(str::to_owned),
            labels: text_map(node.get("labels")),
            max_instances: u32_at(node.get("maxInstances")),
            min_instances: u32_at(node.get("minInstances")),
            ingress: str_at(node, "ingress").map(str::to_owned),
        })
    }
}

/// Whether `name` can be an environment variable's name on every cloud strata deploys to.
fn is_environment_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Every environment variable name a function gets on any of its clouds.
fn defined_environment(function: &FunctionConfig) -> BTreeSet<&str> {
    function
        .environment
        .keys()
        .chain(
            function
                .clouds
                .values()
                .flat_map(|target| target.environment.keys()),
        )
        .map(String::as_str)
        .collect()
}

fn function_pos(source: &SourceLocation) -> Pos {
    Pos {
        file: crate::yaml::FileId(0),
        line: u32::try_from(source.line).unwrap_or(u32::MAX),
        column: u32::try_from(source.column).unwrap_or(u32::MAX),
    }
}

fn check_service_name(report: &mut Report, service: &str, pos: Pos) {
    if let Err(message) = crate::check_service_name(service) {
        report.error(
            pos,
            "service",
            message,
            Some("it becomes part of every deployed function name".to_owned()),
        );
    }
}

fn layer_name_problem(name: &str) -> Option<String> {
    let valid = (1..=140).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (!valid).then(|| {
        format!("Lambda layer names are 1-140 letters, digits, `-` and `_`; `{name}` is not")
    })
}

/// Serverless' logical id of a layer: `my-deps` → `MyDashdepsLambdaLayer`.
pub(crate) fn layer_logical_id(name: &str) -> String {
    let mut out = String::new();
    for (index, c) in name.chars().enumerate() {
        match c {
            '-' => out.push_str("Dash"),
            '_' => out.push_str("Underscore"),
            c if index == 0 => out.extend(c.to_uppercase()),
            c => out.push(c),
        }
    }
    out.push_str("LambdaLayer");
    out
}

fn azure_plan(settings: Option<&Node>) -> AzurePlan {
    match str_at_opt(settings, "plan").as_deref() {
        Some("consumption") => AzurePlan::Consumption,
        Some("premium") => AzurePlan::Premium,
        Some("dedicated") => AzurePlan::Dedicated,
        _ => AzurePlan::FlexConsumption,
    }
}

fn first<'n>(candidates: &[Option<&'n Node>]) -> Option<&'n Node> {
    candidates
        .iter()
        .flatten()
        .copied()
        .find(|node| !matches!(node.value, Value::Poison))
}

fn str_at<'n>(node: &'n Node, key: &str) -> Option<&'n str> {
    node.get(key).and_then(Node::as_str)
}

fn str_at_opt(node: Option<&Node>, key: &str) -> Option<String> {
    node.and_then(|n| str_at(n, key)).map(str::to_owned)
}

fn bool_at(node: Option<&Node>, key: &str) -> Option<bool> {
    match node?.get(key)?.value {
        Value::Bool(value) => Some(value),
        _ => None,
    }
}

fn u32_at(node: Option<&Node>) -> Option<u32> {
    match node?.value {
        Value::Int(value) => Some(u32::try_from(value.max(0)).unwrap_or(u32::MAX)),
        _ => None,
    }
}

/// A size or duration as written (a negative one too, so its error can quote it), or `default`.
fn at_u32(found: Option<(&Node, String)>, default: u32, fallback_pos: Pos, base: &str) -> At<i64> {
    match found {
        Some((node, path)) => At {
            value: match node.value {
                Value::Int(value) => value,
                _ => i64::from(default),
            },
            pos: node.pos,
            path,
        },
        None => At {
            value: i64::from(default),
            pos: fallback_pos,
            path: base.to_owned(),
        },
    }
}

fn clamp_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

fn arch_at(node: Option<&Node>) -> Architecture {
    match node.and_then(Node::as_str) {
        Some("arm64") => Architecture::Arm64,
        _ => Architecture::X86_64,
    }
}

fn architectures(node: Option<&Node>) -> Vec<Architecture> {
    string_list(node)
        .iter()
        .map(|a| {
            if a == "arm64" {
                Architecture::Arm64
            } else {
                Architecture::X86_64
            }
        })
        .collect()
}

fn string_list(node: Option<&Node>) -> Vec<String> {
    match node.map(|n| &n.value) {
        Some(Value::Seq(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(text)) => vec![text.clone()],
        _ => Vec::new(),
    }
}

fn text_map(node: Option<&Node>) -> IndexMap<String, String> {
    node.map(|n| {
        n.entries()
            .iter()
            .filter_map(|(key, value)| {
                let text = match &value.value {
                    Value::Null | Value::Poison | Value::Seq(_) | Value::Map(_) => return None,
                    _ => value.scalar_text()?,
                };
                Some((key.name.clone(), text))
            })
            .collect()
    })
    .unwrap_or_default()
}

fn layer_refs(node: &Node) -> Vec<LayerRef> {
    match &node.value {
        Value::Seq(items) => items
            .iter()
            .map(|item| match &item.value {
                Value::String(arn) => LayerRef::Arn(arn.clone()),
                Value::Map(entries) if entries.len() == 1 && entries[0].0.name == "Ref" => {
                    match entries[0].1.as_str() {
                        Some(name) => LayerRef::Ref(name.to_owned()),
                        None => LayerRef::Other(item.to_json()),
                    }
                }
                _ => LayerRef::Other(item.to_json()),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Each listed plugin with where it is written, so a warning points at its own line.
fn plugin_entries(node: Option<&Node>) -> Vec<(String, Pos, String)> {
    let (items, base) = match node.map(|n| (&n.value, n)) {
        Some((Value::Seq(items), _)) => (items.as_slice(), "plugins"),
        Some((Value::Map(_), n)) => match n.get("modules").map(|m| &m.value) {
            Some(Value::Seq(items)) => (items.as_slice(), "plugins.modules"),
            _ => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| {
            Some((
                item.as_str()?.to_owned(),
                item.pos,
                format!("{base}[{index}]"),
            ))
        })
        .collect()
}

/// A runtime that is written and is not Python (`nodejs20.x`, `provided.al2023`, `java21`).
fn is_foreign_runtime(node: &Node) -> bool {
    node.as_str()
        .is_some_and(|text| !node.meta.deferred && text.parse::<PythonRuntime>().is_err())
}

pub(crate) fn plugin_names(node: Option<&Node>) -> Vec<String> {
    match node.map(|n| &n.value) {
        Some(Value::Seq(_)) => string_list(node),
        Some(Value::Map(_)) => string_list(node.and_then(|n| n.get("modules"))),
        _ => Vec::new(),
    }
}

fn package_config(node: Option<&Node>) -> PackageConfig {
    let Some(node) = node else {
        return PackageConfig::default();
    };
    let mut patterns: Vec<String> = string_list(node.get("exclude"))
        .into_iter()
        .map(|pattern| format!("!{pattern}"))
        .collect();
    patterns.extend(string_list(node.get("include")));
    patterns.extend(string_list(node.get("patterns")));
    PackageConfig {
        patterns,
        individually: bool_at(Some(node), "individually").unwrap_or(false),
        artifact: str_at(node, "artifact").map(str::to_owned),
    }
}

/// The function and event a `functions.<name>.events[<index>]` key path points at.
fn event_owner<'f>(
    functions: &'f IndexMap<String, FunctionConfig>,
    key_path: &str,
) -> Option<(&'f FunctionConfig, &'f serde_json::Value)> {
    functions.values().find_map(|function| {
        let index: usize = key_path
            .strip_prefix(&format!("functions.{}.events[", function.name))?
            .strip_suffix(']')?
            .parse()
            .ok()?;
        Some((function, function.events.get(index)?))
    })
}

/// What kind of event an `events` entry is: its first key (`pubsub: topic`), or the entry
/// itself when it is a bare string (`- http`).
fn event_kind(event: &serde_json::Value) -> String {
    match event {
        serde_json::Value::String(kind) => kind.clone(),
        serde_json::Value::Object(entries) => entries.keys().next().cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_ids_follow_serverless() {
        assert_eq!(layer_logical_id("deps"), "DepsLambdaLayer");
        assert_eq!(
            layer_logical_id("my-deps_x"),
            "MyDashdepsUnderscorexLambdaLayer"
        );
    }
}
