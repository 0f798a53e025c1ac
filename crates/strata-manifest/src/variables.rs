//! Serverless-style `${source:address, fallback}` variables.
//!
//! Resolution works on the spanned tree so every failure points at the value that holds the
//! variable. `${self:…}` lookups are resolved lazily and memoised by key path; a path that is
//! requested while it is still being resolved is a cycle, reported with the chain of
//! variables that led back to it. Failures become [`Value::Poison`] so one missing
//! variable gives one error, not one per use.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use crate::cloud::{CloudAccess, CloudRequest, CloudSource, CloudValue};
use crate::diagnostic::Report;
use crate::yaml::{self, Key, Node, Pos, Value};

/// Serverless v3's region when neither `--region` nor the manifest gives one.
pub(crate) const DEFAULT_REGION: &str = "us-east-1";

/// Bound on nodes produced by `${self:…}`/`${file(…)}` substitution, for the same reason
/// aliases are bounded: a few self-references can otherwise grow exponentially.
const MAX_EXPANDED_NODES: usize = yaml::MAX_NODES;

pub(crate) struct VariableContext<'a> {
    pub(crate) stage: Option<&'a str>,
    pub(crate) cli_stage: Option<&'a str>,
    pub(crate) cli_region: Option<&'a str>,
    pub(crate) env: &'a BTreeMap<String, String>,
    /// Directory `${file(…)}` paths are relative to (the manifest's).
    pub(crate) base_dir: &'a Path,
    /// How that directory is shown in messages (relative to the project, as given).
    pub(crate) base_display: &'a Path,
    pub(crate) cloud: &'a CloudAccess,
}

pub(crate) struct Resolver<'a> {
    root: &'a Node,
    context: &'a VariableContext<'a>,
    report: &'a mut Report,
    cache: HashMap<String, Node>,
    in_progress: Vec<(String, String)>,
    files: HashMap<PathBuf, Option<Node>>,
    expanded: usize,
    /// Answers of the cloud resolver, so each value is fetched (or fails) once per load.
    fetched: HashMap<CloudRequest, Result<Option<CloudValue>, String>>,
    deferred: HashSet<String>,
    /// Values that came from SSM SecureStrings; whoever shows the manifest masks them.
    pub(crate) secure_values: Vec<String>,
}

/// Outcome of one source lookup: `Missing` lets a fallback take over, `Failed` was reported.
enum Lookup {
    Found(Node),
    Missing {
        message: String,
        hint: Option<String>,
    },
    Failed,
}

enum Segment {
    Text(String),
    /// The variable's content and the number of characters before its `${` in the text.
    Variable(String, u32),
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(
        root: &'a Node,
        context: &'a VariableContext<'a>,
        report: &'a mut Report,
    ) -> Self {
        Self {
            root,
            context,
            report,
            cache: HashMap::new(),
            in_progress: Vec::new(),
            files: HashMap::new(),
            expanded: 0,
            fetched: HashMap::new(),
            deferred: HashSet::new(),
            secure_values: Vec::new(),
        }
    }

    /// Resolves the whole tree.
    pub(crate) fn resolve_root(&mut self) -> Node {
        let root = self.root;
        self.resolve_node(root, "")
    }

    /// Resolves the value at a dotted path, as `${self:path}` would.
    pub(crate) fn resolve_path(&mut self, path: &str, pos: Pos) -> Option<Node> {
        match self.lookup_self(path, pos, path, &format!("${{self:{path}}}")) {
            Lookup::Found(node) => Some(node),
            Lookup::Missing { .. } | Lookup::Failed => None,
        }
    }

    fn resolve_node(&mut self, node: &Node, path: &str) -> Node {
        if let Some(cached) = self.cache.get(path) {
            return cached.clone();
        }
        match &node.value {
            Value::String(text) if text.contains("${") => {
                self.resolve_string(text, node.pos, Some(node.meta.text_offset), path)
            }
            Value::Seq(items) => {
                let items = items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| self.resolve_node(item, &format!("{path}[{index}]")))
                    .collect();
                Node::new(Value::Seq(items), node.pos)
            }
            Value::Map(entries) => {
                let entries = entries
                    .iter()
                    .map(|(key, value)| {
                        let child = yaml::join_path(path, &key.name);
                        (key.clone(), self.resolve_node(value, &child))
                    })
                    .collect();
                Node::new(Value::Map(entries), node.pos)
            }
            _ => node.clone(),
        }
    }

    /// Resolves the variables in `text`. `text_offset` is given when `text` is a scalar as
    /// written at `pos`, so each variable's error can point at its own `${`.
    fn resolve_string(
        &mut self,
        text: &str,
        pos: Pos,
        text_offset: Option<u32>,
        path: &str,
    ) -> Node {
        let segments = match split_segments(text) {
            Ok(segments) => segments,
            Err(message) => {
                self.report.error(
                    pos,
                    path,
                    message,
                    Some("close every `${` with `}`".to_owned()),
                );
                return Node::new(Value::Poison, pos);
            }
        };
        let variable_pos = |before: u32| match text_offset {
            Some(offset) if !text.contains('\n') => Pos {
                column: pos.column.saturating_add(offset).saturating_add(before),
                ..pos
            },
            _ => pos,
        };
        if let [Segment::Variable(content, before)] = segments.as_slice() {
            return self.resolve_variable(content, variable_pos(*before), path);
        }
        let mut out = String::new();
        let mut deferred = false;
        for segment in &segments {
            match segment {
                Segment::Text(literal) => out.push_str(literal),
                Segment::Variable(content, before) => {
                    let at = variable_pos(*before);
                    let node = self.resolve_variable(content, at, path);
                    if matches!(node.value, Value::Poison) {
                        return node;
                    }
                    deferred |= node.meta.deferred;
                    let Some(text) = node.scalar_text() else {
                        self.report.error(
                            at,
                            path,
                            format!(
                                "`${{{content}}}` resolves to {} and cannot be embedded in a string",
                                node.type_name()
                            ),
                            Some("reference a single value, or use the variable as the whole value".to_owned()),
                        );
                        return Node::new(Value::Poison, pos);
                    };
                    out.push_str(&text);
                }
            }
        }
        if deferred {
            return deferred_node(text, pos);
        }
        Node::new(Value::String(out), pos)
    }

    fn resolve_variable(&mut self, content: &str, pos: Pos, path: &str) -> Node {
        let params = split_params(content);
        let mut first_missing: Option<(String, Option<String>)> = None;
        for (index, param) in params.iter().enumerate() {
            let lookup = if index == 0 {
                self.lookup_source(param, pos, path)
            } else {
                self.lookup_fallback(param, pos, path)
            };
            match lookup {
                Lookup::Found(mut node) => {
                    node.meta
                        .origin
                        .get_or_insert_with(|| format!("${{{content}}}"));
                    return node;
                }
                Lookup::Failed => return Node::new(Value::Poison, pos),
                Lookup::Missing { message, hint } => {
                    first_missing.get_or_insert((message, hint));
                }
            }
        }
        let (message, hint) =
            first_missing.unwrap_or_else(|| (format!("cannot resolve `${{{content}}}`"), None));
        self.report.error(pos, path, message, hint);
        Node::new(Value::Poison, pos)
    }

    fn lookup_fallback(&mut self, param: &str, pos: Pos, path: &str) -> Lookup {
        let param = param.trim();
        if let Some(inner) = quoted(param) {
            return Lookup::Found(Node::new(Value::String(inner.to_owned()), pos));
        }
        if param.starts_with("${") {
            let node = self.resolve_string(param, pos, None, path);
            return match node.value {
                Value::Poison => Lookup::Failed,
                Value::Null => Lookup::Missing {
                    message: format!("`{param}` resolves to null"),
                    hint: None,
                },
                _ => Lookup::Found(node),
            };
        }
        match yaml::plain_scalar(param) {
            Value::String(_) if is_variable_expression(param) => {
                self.lookup_source(param, pos, path)
            }
            Value::String(text) => {
                self.report.error(
                    pos,
                    path,
                    format!("fallback `{text}` must be quoted"),
                    Some(format!("write `'{text}'`")),
                );
                Lookup::Failed
            }
            value => Lookup::Found(Node::new(value, pos)),
        }
    }

    fn lookup_source(&mut self, expression: &str, pos: Pos, path: &str) -> Lookup {
        let expression = expression.trim();
        // The address may itself hold variables (`${env:${opt:stage}_URL}`).
        let expression = if expression.contains("${") {
            let node = self.resolve_string(expression, pos, None, path);
            match node.value {
                Value::String(text) => text,
                Value::Poison => return Lookup::Failed,
                _ => {
                    self.report.error(
                        pos,
                        path,
                        format!(
                            "variable name `{expression}` must resolve to text, found {}",
                            node.type_name()
                        ),
                        None,
                    );
                    return Lookup::Failed;
                }
            }
        } else {
            expression.to_owned()
        };
        let variable = format!("${{{expression}}}");
        if let Some(rest) = expression.strip_prefix("file(") {
            let Some((file, address)) = rest.split_once(')') else {
                self.report.error(
                    pos,
                    path,
                    format!("`{variable}`: missing `)` after the file name"),
                    None,
                );
                return Lookup::Failed;
            };
            let address = address.strip_prefix(':').unwrap_or(address).trim();
            return self.lookup_file(file.trim(), address, pos, path, &variable);
        }
        if let Some(rest) = expression.strip_prefix("strToBool(") {
            return self.lookup_str_to_bool(rest, pos, path, &variable);
        }
        let Some((source, address)) = expression.split_once(':') else {
            self.report.error(
                pos,
                path,
                format!("`{variable}` is not a variable strata understands"),
                Some("variables look like ${source:address}, for example ${env:NAME} or ${self:custom.key}".to_owned()),
            );
            return Lookup::Failed;
        };
        let address = address.trim();
        let (source, params) = source_params(source);
        match source {
            "env" => match self.context.env.get(address) {
                Some(value) => Lookup::Found(Node::new(Value::String(value.clone()), pos)),
                None => Lookup::Missing {
                    message: format!("environment variable `{address}` is not set (`{variable}`)"),
                    hint: Some(format!(
                        "set {address}, or give a fallback: `${{env:{address}, 'value'}}`"
                    )),
                },
            },
            "opt" => self.lookup_option(address, pos, &variable),
            "aws" => match address {
                "region" => Lookup::Found(Node::new(Value::String(self.aws_region()), pos)),
                "accountId" => {
                    self.lookup_cloud(CloudSource::AccountId, None, false, pos, path, &variable)
                }
                other => {
                    self.report.error(
                        pos,
                        path,
                        format!("`${{aws:{other}}}` is not a variable; `aws` knows `region` and `accountId`"),
                        None,
                    );
                    Lookup::Failed
                }
            },
            "ssm" => {
                let raw = params.iter().any(|p| p == "raw");
                let decrypt = !params.iter().any(|p| p == "noDecrypt");
                let region = params
                    .iter()
                    .find(|p| *p != "raw" && *p != "noDecrypt")
                    .cloned();
                let source = CloudSource::Parameter {
                    name: address.to_owned(),
                    decrypt,
                };
                self.lookup_cloud(source, region, raw, pos, path, &variable)
            }
            "cf" => match address.split_once('.') {
                Some((stack, output)) => {
                    let source = CloudSource::StackOutput {
                        stack: stack.to_owned(),
                        output: output.to_owned(),
                    };
                    self.lookup_cloud(source, params.first().cloned(), false, pos, path, &variable)
                }
                None => self.bad_address(pos, path, &variable, "${cf:<stack-name>.<output-key>}"),
            },
            "s3" => match address.split_once('/') {
                Some((bucket, key)) => {
                    let source = CloudSource::Object {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    };
                    self.lookup_cloud(source, None, false, pos, path, &variable)
                }
                None => self.bad_address(pos, path, &variable, "${s3:<bucket>/<key>}"),
            },
            "sls" => match address {
                "stage" => match self.context.stage {
                    Some(stage) => Lookup::Found(Node::new(Value::String(stage.to_owned()), pos)),
                    None => {
                        self.report.error(
                            pos,
                            path,
                            format!("`{variable}` cannot be used to choose the stage itself"),
                            Some("use `${opt:stage, 'dev'}` in provider.stage".to_owned()),
                        );
                        Lookup::Failed
                    }
                },
                other => {
                    self.report.error(
                        pos,
                        path,
                        format!(
                            "`${{sls:{other}}}` is not supported; strata knows `${{sls:stage}}`"
                        ),
                        None,
                    );
                    Lookup::Failed
                }
            },
            "self" => self.lookup_self(address, pos, path, &variable),
            "param" => self.lookup_param(address, pos, path, &variable),
            other => {
                self.report.error(
                    pos,
                    path,
                    format!("variable source `{other}` in `{variable}` is not supported by strata"),
                    Some(unsupported_hint(other)),
                );
                Lookup::Failed
            }
        }
    }

    fn lookup_option(&mut self, name: &str, pos: Pos, variable: &str) -> Lookup {
        let value = match name {
            "stage" => self.context.cli_stage,
            "region" => self.context.cli_region,
            _ => {
                return Lookup::Missing {
                    message: format!("`{variable}`: strata has no --{name} option"),
                    hint: Some(format!(
                        "strata's options are --stage and --region; give a fallback: `${{opt:{name}, 'value'}}`"
                    )),
                };
            }
        };
        match value {
            Some(value) => Lookup::Found(Node::new(Value::String(value.to_owned()), pos)),
            None => Lookup::Missing {
                message: format!("`{variable}` has no value: --{name} was not given"),
                hint: Some(format!(
                    "pass --{name} <value>, or give a fallback: `${{opt:{name}, 'value'}}`"
                )),
            },
        }
    }

    fn lookup_param(&mut self, name: &str, pos: Pos, path: &str, variable: &str) -> Lookup {
        let stage = self.context.stage.unwrap_or("dev").to_owned();
        for scope in [stage.as_str(), "default"] {
            let param_path = format!("params.{scope}.{name}");
            let exists = self
                .root
                .get("params")
                .and_then(|p| p.get(scope))
                .and_then(|p| p.get(name))
                .is_some();
            if exists {
                return self.lookup_self(&param_path, pos, path, variable);
            }
        }
        Lookup::Missing {
            message: format!(
                "`{variable}`: parameter `{name}` is not defined in params.{stage} or params.default"
            ),
            hint: Some(format!(
                "add it under `params: {{{stage}: {{{name}: ...}}}}`"
            )),
        }
    }

    fn lookup_self(&mut self, address: &str, pos: Pos, path: &str, variable: &str) -> Lookup {
        // Serverless fills these in before it resolves `${self:…}`, so they always exist.
        let written = |key: &str| self.root.get("provider").and_then(|p| p.get(key)).is_some();
        match address {
            "provider.region" if !written("region") => {
                let region = self.context.cli_region.unwrap_or(DEFAULT_REGION);
                return Lookup::Found(Node::new(Value::String(region.to_owned()), pos));
            }
            "provider.stage" if !written("stage") => {
                if let Some(stage) = self.context.stage {
                    return Lookup::Found(Node::new(Value::String(stage.to_owned()), pos));
                }
            }
            _ => {}
        }
        if address.is_empty() {
            self.report.error(
                pos,
                path,
                format!("`{variable}` needs a path, e.g. `${{self:service}}`"),
                None,
            );
            return Lookup::Failed;
        }
        let segments: Vec<&str> = address.split('.').collect();
        let root = self.root;
        let mut current: Node;
        let mut raw: &Node = root;
        let mut resolved_mode = false;
        current = Node::new(Value::Null, pos);
        let mut walked = String::new();
        for segment in &segments {
            let container = if resolved_mode { &current } else { raw };
            let next_path = if matches!(container.value, Value::Seq(_)) {
                format!("{walked}[{segment}]")
            } else {
                yaml::join_path(&walked, segment)
            };
            if resolved_mode {
                let Some(child) = child_of(&current, segment) else {
                    return missing_self(address, &next_path, variable);
                };
                current = child.clone();
            } else {
                if matches!(&raw.value, Value::String(s) if s.contains("${")) {
                    // An intermediate value is itself a variable (e.g. `custom: ${file(x.yml)}`).
                    match self.resolve_cached(&walked, raw, variable, pos, path) {
                        Some(node) => current = node,
                        None => return Lookup::Failed,
                    }
                    resolved_mode = true;
                    let Some(child) = child_of(&current, segment) else {
                        return missing_self(address, &next_path, variable);
                    };
                    current = child.clone();
                } else {
                    let Some(child) = child_of(raw, segment) else {
                        return missing_self(address, &next_path, variable);
                    };
                    raw = child;
                }
            }
            walked = next_path;
        }
        let node = if resolved_mode {
            current
        } else {
            match self.resolve_cached(&walked, raw, variable, pos, path) {
                Some(node) => node,
                None => return Lookup::Failed,
            }
        };
        if matches!(node.value, Value::Poison) {
            return Lookup::Failed;
        }
        if matches!(node.value, Value::Null) {
            return missing_self(address, address, variable);
        }
        self.substituted(node, pos, path)
    }

    /// Resolves the raw node at `target` once, detecting cycles.
    fn resolve_cached(
        &mut self,
        target: &str,
        raw: &Node,
        variable: &str,
        pos: Pos,
        path: &str,
    ) -> Option<Node> {
        if let Some(node) = self.cache.get(target) {
            return Some(node.clone());
        }
        let cycle_start = self
            .in_progress
            .iter()
            .position(|(in_progress, _)| is_same_or_ancestor(target, in_progress));
        if let Some(start) = cycle_start {
            let mut chain: Vec<&str> = self.in_progress[start..]
                .iter()
                .map(|(_, v)| v.as_str())
                .collect();
            chain.push(variable);
            self.report.error(
                pos,
                path,
                format!("variable cycle: {}", chain.join(" -> ")),
                Some("one of these values must not depend on the others".to_owned()),
            );
            return None;
        }
        self.in_progress
            .push((target.to_owned(), variable.to_owned()));
        let node = self.resolve_node(raw, target);
        self.in_progress.pop();
        self.cache.insert(target.to_owned(), node.clone());
        Some(node)
    }

    fn substituted(&mut self, mut node: Node, pos: Pos, path: &str) -> Lookup {
        self.expanded += node.size();
        if self.expanded > MAX_EXPANDED_NODES {
            self.report.error(
                pos,
                path,
                format!("variables expand to more than {MAX_EXPANDED_NODES} values"),
                Some(
                    "a chain of self-references multiplies the manifest; reference smaller parts"
                        .to_owned(),
                ),
            );
            return Lookup::Failed;
        }
        // The value now lives at the reference: errors about it should point there.
        node.pos = pos;
        Lookup::Found(node)
    }

    fn lookup_str_to_bool(&mut self, rest: &str, pos: Pos, path: &str, variable: &str) -> Lookup {
        let input = rest.strip_suffix(')').unwrap_or(rest).trim();
        let input = quoted(input).unwrap_or(input);
        match input.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Lookup::Found(Node::new(Value::Bool(true), pos)),
            "false" | "0" => Lookup::Found(Node::new(Value::Bool(false), pos)),
            _ => {
                self.report.error(
                    pos,
                    path,
                    format!("`{variable}`: `{input}` is not one of true, false, 1, 0"),
                    None,
                );
                Lookup::Failed
            }
        }
    }

    fn bad_address(&mut self, pos: Pos, path: &str, variable: &str, expected: &str) -> Lookup {
        self.report.error(
            pos,
            path,
            format!("`{variable}` is not a valid address; expected `{expected}`"),
            None,
        );
        Lookup::Failed
    }

    /// `${aws:region}`: `--region`, else the region the manifest gives, else `us-east-1`;
    /// no call to AWS.
    fn aws_region(&mut self) -> String {
        if let Some(region) = self.context.cli_region {
            return region.to_owned();
        }
        self.written_aws_setting("region")
            .unwrap_or_else(|| DEFAULT_REGION.to_owned())
    }

    /// `aws.<key>` (strata's block wins), else `provider.<key>`, resolved.
    fn written_aws_setting(&mut self, key: &str) -> Option<String> {
        for block in ["aws", "provider"] {
            let Some(node) = self.root.get(block).and_then(|b| b.get(key)) else {
                continue;
            };
            let address = format!("{block}.{key}");
            let resolved = self.resolve_path(&address, node.pos)?;
            return resolved.as_str().map(str::to_owned);
        }
        None
    }

    fn lookup_cloud(
        &mut self,
        source: CloudSource,
        region: Option<String>,
        raw: bool,
        pos: Pos,
        path: &str,
        variable: &str,
    ) -> Lookup {
        let resolver = match self.context.cloud {
            CloudAccess::Deferred => {
                if self.deferred.insert(variable.to_owned()) {
                    self.report.warning(
                        pos,
                        path,
                        format!("`{variable}` is resolved at deploy time"),
                        Some("`strata package`, `plan` and `deploy` read it from AWS with the manifest's region and profile".to_owned()),
                    );
                }
                return Lookup::Found(deferred_node(variable, pos));
            }
            CloudAccess::Resolve(resolver) => resolver.clone(),
        };
        let request = CloudRequest {
            source,
            region: region.unwrap_or_else(|| self.aws_region()),
            profile: self.written_aws_setting("profile"),
        };
        let answer = self
            .fetched
            .entry(request.clone())
            .or_insert_with(|| {
                resolver
                    .fetch(&request)
                    .map_err(|error| error_chain(error.as_ref()))
            })
            .clone();
        match answer {
            Ok(Some(value)) => Lookup::Found(self.cloud_node(value, raw, pos)),
            Ok(None) => Lookup::Missing {
                message: format!(
                    "`{variable}`: {} does not exist in {}",
                    describe_source(&request.source),
                    request.region
                ),
                hint: Some(format!(
                    "check the name and region, or give a fallback: `${{{}, 'value'}}`",
                    &variable[2..variable.len() - 1]
                )),
            },
            Err(cause) => {
                self.report.error(
                    pos,
                    path,
                    format!("`{variable}` could not be read from AWS: {cause}"),
                    Some(format!(
                        "check the credentials (profile {}) and that they may read it in {}",
                        request.profile.as_deref().unwrap_or("default"),
                        request.region
                    )),
                );
                Lookup::Failed
            }
        }
    }

    fn cloud_node(&mut self, value: CloudValue, raw: bool, pos: Pos) -> Node {
        match value {
            CloudValue::Plain(text) => Node::new(Value::String(text), pos),
            CloudValue::List(text) if raw => Node::new(Value::String(text), pos),
            CloudValue::List(text) => Node::new(
                Value::Seq(
                    text.split(',')
                        .map(|item| Node::new(Value::String(item.to_owned()), pos))
                        .collect(),
                ),
                pos,
            ),
            CloudValue::Secure(text) => {
                // Serverless reads a SecureString holding JSON as a structure.
                let parsed = (!raw && text.starts_with('{'))
                    .then(|| serde_json::from_str::<serde_json::Value>(&text).ok())
                    .flatten();
                self.secure_values.push(text.clone());
                match parsed {
                    Some(json) => {
                        collect_strings(&json, &mut self.secure_values);
                        json_node(&json, pos)
                    }
                    None => Node::new(Value::String(text), pos),
                }
            }
        }
    }

    fn lookup_file(
        &mut self,
        file: &str,
        address: &str,
        pos: Pos,
        path: &str,
        variable: &str,
    ) -> Lookup {
        let file = quoted(file).unwrap_or(file);
        let relative = normalize(Path::new(file));
        let absolute = self.context.base_dir.join(&relative);
        let display = normalize(&self.context.base_display.join(&relative));
        let extension = relative
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if matches!(extension.as_str(), "js" | "cjs" | "mjs" | "ts") {
            self.report.error(
                pos,
                path,
                format!("`{variable}`: strata does not run JavaScript or TypeScript files"),
                Some("export the values to a .yml or .json file and reference that".to_owned()),
            );
            return Lookup::Failed;
        }
        if !self.files.contains_key(&absolute) {
            let loaded = match fs_err::read_to_string(&absolute) {
                Ok(text) => {
                    if matches!(extension.as_str(), "yml" | "yaml" | "json") {
                        let id = self.report.add_file(display.clone(), absolute.clone());
                        let (node, problems) = yaml::parse(&text, id);
                        let failed = !problems.is_empty();
                        for problem in problems {
                            self.report
                                .diagnostics
                                .push(problem.into_diagnostic(&display));
                        }
                        if failed {
                            return Lookup::Failed;
                        }
                        Some(node.unwrap_or_else(|| {
                            Node::new(
                                Value::Null,
                                Pos {
                                    file: id,
                                    line: 1,
                                    column: 1,
                                },
                            )
                        }))
                    } else {
                        Some(Node::new(Value::String(text), pos))
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                Err(error) => {
                    self.report.error(
                        pos,
                        path,
                        format!(
                            "`{variable}`: cannot read {}: {}",
                            display.display(),
                            error.kind()
                        ),
                        None,
                    );
                    return Lookup::Failed;
                }
            };
            self.files.insert(absolute.clone(), loaded);
        }
        let Some(Some(content)) = self.files.get(&absolute).cloned() else {
            return Lookup::Missing {
                message: format!("`{variable}`: file {} does not exist", display.display()),
                hint: Some("the path is relative to the manifest's directory".to_owned()),
            };
        };
        let mut target = &content;
        if !address.is_empty() {
            for segment in address.split('.') {
                match child_of(target, segment) {
                    Some(child) => target = child,
                    None => {
                        return Lookup::Missing {
                            message: format!(
                                "`{variable}`: `{address}` does not exist in {}",
                                display.display()
                            ),
                            hint: None,
                        };
                    }
                }
            }
        }
        let target = target.clone();
        let resolved = self.resolve_node(&target, path);
        match resolved.value {
            Value::Poison => Lookup::Failed,
            Value::Null => Lookup::Missing {
                message: format!("`{variable}` resolves to null"),
                hint: None,
            },
            _ => self.substituted(resolved, pos, path),
        }
    }
}

fn child_of<'n>(node: &'n Node, segment: &str) -> Option<&'n Node> {
    match &node.value {
        Value::Map(_) => node.get(segment),
        Value::Seq(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    }
}

/// A cloud variable left as written, for the commands that have credentials.
fn deferred_node(text: &str, pos: Pos) -> Node {
    let mut node = Node::new(Value::String(text.to_owned()), pos);
    node.meta.deferred = true;
    node
}

/// `ssm(eu-west-1, raw)` → (`ssm`, [`eu-west-1`, `raw`]).
fn source_params(source: &str) -> (&str, Vec<String>) {
    let source = source.trim();
    match source.split_once('(') {
        Some((name, rest)) => (
            name.trim(),
            rest.trim_end_matches(')')
                .split(',')
                .map(|param| param.trim().to_owned())
                .filter(|param| !param.is_empty())
                .collect(),
        ),
        None => (source, Vec::new()),
    }
}

fn describe_source(source: &CloudSource) -> String {
    match source {
        CloudSource::Parameter { name, .. } => format!("SSM parameter `{name}`"),
        CloudSource::StackOutput { stack, output } => {
            format!("output `{output}` of CloudFormation stack `{stack}`")
        }
        CloudSource::Object { bucket, key } => format!("S3 object `{key}` in bucket `{bucket}`"),
        CloudSource::AccountId => "the account id".to_owned(),
    }
}

/// The error and its causes on one line: a diagnostic has no room for a `Caused by:` list.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn json_node(json: &serde_json::Value, pos: Pos) -> Node {
    let value = match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map_or_else(|| Value::Float(n.as_f64().unwrap_or_default()), Value::Int),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => {
            Value::Seq(items.iter().map(|item| json_node(item, pos)).collect())
        }
        serde_json::Value::Object(map) => Value::Map(
            map.iter()
                .map(|(name, value)| {
                    (
                        Key {
                            name: name.clone(),
                            pos,
                        },
                        json_node(value, pos),
                    )
                })
                .collect(),
        ),
    };
    Node::new(value, pos)
}

fn collect_strings(json: &serde_json::Value, out: &mut Vec<String>) {
    match json {
        serde_json::Value::String(text) => out.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        serde_json::Value::Object(map) => {
            map.values().for_each(|value| collect_strings(value, out))
        }
        _ => {}
    }
}

fn missing_self(address: &str, missing: &str, variable: &str) -> Lookup {
    let detail = if missing == address {
        format!("`{address}` does not exist in the manifest")
    } else {
        format!("`{missing}` does not exist in the manifest (needed for `{address}`)")
    };
    Lookup::Missing {
        message: format!("`{variable}`: {detail}"),
        hint: Some(format!(
            "check the key path, or give a fallback: `${{self:{address}, 'value'}}`"
        )),
    }
}

fn is_same_or_ancestor(target: &str, other: &str) -> bool {
    target.is_empty()
        || other == target
        || other
            .strip_prefix(target)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

fn unsupported_hint(source: &str) -> String {
    match source {
        "sm" => "Serverless v3 has no `sm` source either; read the secret through `${ssm:/aws/reference/secretsmanager/<name>}`".to_owned(),
        "construct" => "`${construct:…}` is resolved by the plugin serverless-lift, which strata does not run; give the value itself or read it with `${cf:…}`".to_owned(),
        _ => "supported sources: opt, env, self, file, param, sls, aws, ssm, cf, s3 and strToBool".to_owned(),
    }
}

/// `source:address` without `${}` (the old fallback style `${opt:stage, self:provider.stage}`).
fn is_variable_expression(text: &str) -> bool {
    text.starts_with("file(")
        || text.starts_with("strToBool(")
        || text
            .split_once(':')
            .is_some_and(|(source, _)| is_source_name(source))
}

/// `env`, `ssm`, or a source with parameters such as `ssm(eu-west-1, raw)`.
fn is_source_name(source: &str) -> bool {
    let name = source.split_once('(').map_or(
        source,
        |(name, rest)| {
            if rest.ends_with(')') { name } else { "" }
        },
    );
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn quoted(text: &str) -> Option<&str> {
    let text = text.trim();
    if text.len() >= 2
        && ((text.starts_with('\'') && text.ends_with('\''))
            || (text.starts_with('"') && text.ends_with('"')))
    {
        Some(&text[1..text.len() - 1])
    } else {
        None
    }
}

/// Splits text into literal parts and `${…}` variables. `${…}` that is not a variable
/// (CloudFormation's `${AWS::Region}`, `Fn::Sub`'s `${Queue}`) stays literal, as in
/// Serverless v3.
fn split_segments(text: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        literal.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = matching_brace(after) else {
            return Err(format!("unterminated variable in `{text}`"));
        };
        let content = &after[..end];
        if looks_like_variable(content) {
            if !literal.is_empty() {
                segments.push(Segment::Text(std::mem::take(&mut literal)));
            }
            let before = text[..text.len() - rest.len() + start].chars().count();
            segments.push(Segment::Variable(
                content.to_owned(),
                u32::try_from(before).unwrap_or(u32::MAX),
            ));
        } else {
            literal.push_str("${");
            literal.push_str(content);
            literal.push('}');
        }
        rest = &after[end + 1..];
    }
    literal.push_str(rest);
    if !literal.is_empty() || segments.is_empty() {
        segments.push(Segment::Text(literal));
    }
    Ok(segments)
}

fn looks_like_variable(content: &str) -> bool {
    let content = content.trim_start();
    if content.starts_with("file(")
        || content.starts_with("strToBool(")
        || content.starts_with("${")
    {
        return true;
    }
    match content.split_once(':') {
        Some((source, rest)) => is_source_name(source) && !rest.starts_with(':'),
        None => false,
    }
}

/// Index of the `}` closing a `${` whose content starts at `text`, honouring nesting and
/// quoted fallbacks.
fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut previous = '\0';
    for (index, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '{' if previous == '$' => depth += 1,
                '}' if depth == 0 => return Some(index),
                '}' => depth -= 1,
                _ => {}
            },
        }
        previous = c;
    }
    None
}

/// Splits `a, 'b, c', ${d, e}` at the commas that separate fallbacks.
fn split_params(content: &str) -> Vec<String> {
    let mut params = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut parens = 0usize;
    let mut quote: Option<char> = None;
    let mut previous = '\0';
    for c in content.chars() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                current.push(c);
            }
            None => match c {
                '\'' | '"' if current.trim().is_empty() || depth > 0 => {
                    quote = Some(c);
                    current.push(c);
                }
                '{' if previous == '$' => {
                    depth += 1;
                    current.push(c);
                }
                '}' if depth > 0 => {
                    depth -= 1;
                    current.push(c);
                }
                '(' => {
                    parens += 1;
                    current.push(c);
                }
                ')' => {
                    parens = parens.saturating_sub(1);
                    current.push(c);
                }
                ',' if depth == 0 && parens == 0 => params.push(std::mem::take(&mut current)),
                _ => current.push(c),
            },
        }
        previous = c;
    }
    params.push(current);
    params.into_iter().map(|p| p.trim().to_owned()).collect()
}

/// Lexically removes `.` and resolves `..` so paths read well in messages.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Sets (or adds) `key` in a map node; used to make `${self:provider.stage}` follow
/// `--stage` as Serverless does.
pub(crate) fn set_child(node: &mut Node, key: &str, value: Node) {
    if let Value::Map(entries) = &mut node.value {
        if let Some((_, existing)) = entries.iter_mut().find(|(k, _)| k.name == key) {
            let pos = existing.pos;
            *existing = Node { pos, ..value };
        } else {
            entries.push((
                Key {
                    name: key.to_owned(),
                    pos: value.pos,
                },
                value,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::FileId;

    fn resolve(
        source: &str,
        env: &[(&str, &str)],
        stage: Option<&str>,
    ) -> (serde_json::Value, Vec<String>) {
        let (resolved, report) = resolve_with_report(source, env, stage);
        let messages = report.diagnostics.iter().map(ToString::to_string).collect();
        (resolved.to_json(), messages)
    }

    fn resolve_with_report(
        source: &str,
        env: &[(&str, &str)],
        stage: Option<&str>,
    ) -> (Node, Report) {
        let mut report = Report::default();
        report.add_file(PathBuf::from("m.yml"), PathBuf::from("/nonexistent/m.yml"));
        let (node, problems) = yaml::parse(source, FileId(0));
        assert!(problems.is_empty());
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let context = VariableContext {
            stage: Some(stage.unwrap_or("dev")),
            cli_stage: stage,
            cli_region: None,
            env: &env,
            base_dir: Path::new("/nonexistent"),
            base_display: Path::new(""),
            cloud: &CloudAccess::Deferred,
        };
        let node = node.unwrap();
        let resolved = Resolver::new(&node, &context, &mut report).resolve_root();
        (resolved, report)
    }

    #[test]
    fn whole_value_variables_keep_their_type() {
        let (json, errors) = resolve(
            "a: {n: 3, m: {x: 1}}\nb: ${self:a.n}\nc: ${self:a.m}\nd: n=${self:a.n}\n",
            &[],
            None,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(json["b"], 3);
        assert_eq!(json["c"], serde_json::json!({"x": 1}));
        assert_eq!(json["d"], "n=3");
    }

    #[test]
    fn fallbacks_in_all_forms() {
        let source = "y: why\na: ${env:X, 'single'}\nb: ${env:X, \"double\"}\nc: ${env:X, 123}\nd: ${env:X, ${self:y}}\ne: ${env:X, env:Y, 'last'}\n";
        let (json, errors) = resolve(source, &[], None);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(json["a"], "single");
        assert_eq!(json["b"], "double");
        assert_eq!(json["c"], 123);
        assert_eq!(json["d"], "why");
        assert_eq!(json["e"], "last");
    }

    #[test]
    fn nested_variables_build_the_address() {
        let (json, errors) = resolve(
            "a: ${env:${opt:stage}_URL}\n",
            &[("prod_URL", "https://x")],
            Some("prod"),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(json["a"], "https://x");
    }

    #[test]
    fn cycles_show_the_chain() {
        let (_, errors) = resolve("a: ${self:b}\nb: ${self:a}\n", &[], None);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("${self:b} -> ${self:a} -> ${self:b}"),
            "{errors:?}"
        );
    }

    #[test]
    fn cloudformation_substitutions_stay_literal() {
        let (json, errors) = resolve("a: arn:aws:s3:::${AWS::Region}-${Bucket}\n", &[], None);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(json["a"], "arn:aws:s3:::${AWS::Region}-${Bucket}");
    }

    #[test]
    fn unsupported_sources_are_named() {
        let (_, errors) = resolve("a: ${vault:/path/to/param}\n", &[], None);
        assert!(errors[0].contains("variable source `vault`"), "{errors:?}");
    }

    #[test]
    fn cloud_variables_offline_are_resolved_at_deploy_time() {
        let (json, messages) = resolve(
            "a: ${ssm:/app/key}\nb: ${cf(eu-west-1):stack.Url}\nc: x-${s3:bucket/key}\nd: ${aws:accountId}\n",
            &[],
            None,
        );
        assert_eq!(json["a"], "${ssm:/app/key}");
        assert_eq!(json["c"], "x-${s3:bucket/key}");
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(
            messages
                .iter()
                .all(|m| m.contains("is resolved at deploy time")),
            "{messages:?}"
        );
    }

    #[test]
    fn provider_region_and_aws_region_default_to_us_east_1() {
        let (json, errors) = resolve(
            "provider: {name: aws}\na: ${self:provider.region}\nb: ${aws:region}\nc: ${opt:region, self:provider.region}\nd: ${self:provider.stage}\n",
            &[],
            None,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(json["a"], "us-east-1");
        assert_eq!(json["b"], "us-east-1");
        assert_eq!(json["c"], "us-east-1");
        assert_eq!(json["d"], "dev");
    }

    #[test]
    fn aws_region_follows_the_manifest() {
        let (json, errors) = resolve(
            "provider: {name: aws, region: '${env:R}'}\nb: ${aws:region}\n",
            &[("R", "eu-west-1")],
            None,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(json["b"], "eu-west-1");
    }

    #[test]
    fn str_to_bool_converts_text() {
        let (json, errors) = resolve(
            "a: ${strToBool(${env:FLAG})}\nb: ${strToBool(0)}\n",
            &[("FLAG", "true")],
            None,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(json["a"], true);
        assert_eq!(json["b"], false);
    }

    #[test]
    fn a_variable_inside_a_longer_string_is_pointed_at() {
        let (_, report) = resolve_with_report(
            "a: 'prefix-${env:MISSING}'\nb: x-${env:MISSING2}\n",
            &[],
            None,
        );
        let columns: Vec<(usize, usize)> = report
            .diagnostics
            .iter()
            .map(|d| (d.line, d.column))
            .collect();
        assert_eq!(columns, vec![(1, 12), (2, 6)]);
    }

    #[test]
    fn params_prefer_the_stage() {
        let (json, errors) = resolve(
            "params:\n  default: {size: 1, name: d}\n  prod: {size: 2}\na: ${param:size}\nb: ${param:name}\n",
            &[],
            Some("prod"),
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(json["a"], 2);
        assert_eq!(json["b"], "d");
    }

    #[test]
    fn splitting_honours_quotes_and_nesting() {
        assert_eq!(
            split_params("env:X, 'a, b', ${self:y, 'z'}"),
            vec!["env:X", "'a, b'", "${self:y, 'z'}"]
        );
    }
}
