//! A spanned YAML tree built from saphyr-parser's event stream.
//!
//! saphyr-parser gives every event a source span but its own tree type drops them, so the
//! manifest builds its own: every node carries the file, line and column it came from.
//! Duplicate keys, unknown tags and alias bombs are reported here, before any variable or
//! schema work, because only the parser still knows where a value was written.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use crate::diagnostic::{Diagnostic, Severity};

/// Upper bound on nodes one file may expand to through aliases. A manifest with a large
/// CloudFormation `resources:` section has a few thousand nodes; a "billion laughs" document
/// reaches this bound after a handful of aliases instead of exhausting memory.
pub(crate) const MAX_NODES: usize = 200_000;

/// Upper bound on how deeply collections nest, aliases included. Building the tree and every
/// later pass over it recurse once per level, and saphyr-parser bounds only flow nesting (at
/// 255, more than a test thread's stack takes); real manifests nest about a dozen levels.
pub(crate) const MAX_DEPTH: usize = 100;

/// Index into the loader's file table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct FileId(pub(crate) u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub(crate) file: FileId,
    pub(crate) line: u32,
    pub(crate) column: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) pos: Pos,
    pub(crate) meta: Meta,
}

/// What a node knows about how it was written, beyond its position.
#[derive(Clone, Debug, Default)]
pub(crate) struct Meta {
    /// The variable this value was substituted from (`${env:MEMORY}`), so a type error on it
    /// can say where the value came from.
    pub(crate) origin: Option<String>,
    /// Columns between the scalar's position and its text (1 for a quoted one-line scalar),
    /// so a variable inside a longer string can be pointed at.
    pub(crate) text_offset: u32,
    /// A value that needs the cloud and is left for the commands that have credentials; it
    /// holds the variable's text and passes every type check.
    pub(crate) deferred: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Key {
    pub(crate) name: String,
    pub(crate) pos: Pos,
}

#[derive(Clone, Debug)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
    /// A value whose resolution failed; the failure is already reported, so later passes
    /// skip it instead of piling follow-up errors on top.
    Poison,
}

impl Node {
    pub(crate) fn new(value: Value, pos: Pos) -> Self {
        Self {
            value,
            pos,
            meta: Meta::default(),
        }
    }

    pub(crate) fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
            Value::Poison => "an unresolved value",
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.value {
            Value::Map(entries) => entries
                .iter_mut()
                .find(|(k, _)| k.name == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn entries(&self) -> &[(Key, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    /// Levels of collections in this subtree (a scalar is 0), used to bound nesting through
    /// aliases.
    pub(crate) fn depth(&self) -> usize {
        match &self.value {
            Value::Seq(items) => 1 + items.iter().map(Node::depth).max().unwrap_or(0),
            Value::Map(entries) => 1 + entries.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// Number of nodes in this subtree, used to bound alias and variable expansion.
    pub(crate) fn size(&self) -> usize {
        1 + match &self.value {
            Value::Seq(items) => items.iter().map(Node::size).sum(),
            Value::Map(entries) => entries.iter().map(|(_, v)| v.size()).sum(),
            _ => 0,
        }
    }

    /// Converts to JSON. Poisoned values become null: they were reported already.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null | Value::Poison => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::String(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Scalar rendered as it would appear inside a string, for `${…}` embedded in text.
    pub(crate) fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Null => Some("null".to_owned()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        }
    }
}

/// Where a parse problem was found; converted to a [`Diagnostic`] by the caller, which
/// knows the file's display name.
#[derive(Debug, Clone)]
pub(crate) struct ParseProblem {
    pub(crate) line: u32,
    pub(crate) column: u32,
    pub(crate) key_path: String,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl ParseProblem {
    pub(crate) fn into_diagnostic(self, file: &std::path::Path) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line: self.line as usize,
            column: self.column as usize,
            key_path: self.key_path,
            message: self.message,
            hint: self.hint,
        }
    }
}

/// Reads a YAML document that is not a manifest (a GitHub workflow, an `action.yml`) as JSON,
/// with the same limits as manifests; the error names the first problem's line and column.
pub fn yaml_to_json(source: &str) -> Result<serde_json::Value, String> {
    match parse(source, FileId(0)) {
        (Some(root), problems) if problems.is_empty() => Ok(root.to_json()),
        (_, problems) => Err(problems.first().map_or_else(
            || "the document is empty".to_owned(),
            |problem| {
                format!(
                    "line {}, column {}: {}",
                    problem.line, problem.column, problem.message
                )
            },
        )),
    }
}

/// Parses one YAML document. Returns the tree (if the syntax allowed building one) and
/// every problem found; a syntax error stops parsing, everything else is collected.
pub(crate) fn parse(source: &str, file: FileId) -> (Option<Node>, Vec<ParseProblem>) {
    let mut builder = Builder {
        parser: Parser::new_from_str(source),
        file,
        anchors: HashMap::new(),
        problems: Vec::new(),
        budget: MAX_NODES,
        documents: 0,
        depth: 0,
    };
    let root = builder.stream();
    (root, builder.problems)
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    file: FileId,
    anchors: HashMap<usize, Node>,
    problems: Vec<ParseProblem>,
    budget: usize,
    documents: usize,
    /// Collections open around the node being built.
    depth: usize,
}

/// Raised when parsing cannot continue (a syntax error or the alias budget).
struct Fatal;

impl<'a> Builder<'a> {
    fn pos(&self, span: Span) -> Pos {
        Pos {
            file: self.file,
            line: u32::try_from(span.start.line()).unwrap_or(u32::MAX),
            column: u32::try_from(span.start.col() + 1).unwrap_or(u32::MAX),
        }
    }

    fn next(&mut self) -> Result<(Event<'a>, Span), Fatal> {
        match self.parser.next_event() {
            Some(Ok(event)) => Ok(event),
            Some(Err(error)) => {
                let marker = error.marker();
                self.problems.push(ParseProblem {
                    line: u32::try_from(marker.line()).unwrap_or(u32::MAX),
                    column: u32::try_from(marker.col() + 1).unwrap_or(u32::MAX),
                    key_path: String::new(),
                    message: format!("invalid YAML: {}", error.info()),
                    hint: None,
                });
                Err(Fatal)
            }
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    fn stream(&mut self) -> Option<Node> {
        let mut root = None;
        loop {
            let (event, span) = match self.next() {
                Ok(event) => event,
                Err(Fatal) => return None,
            };
            match event {
                Event::StreamEnd => return root,
                Event::DocumentStart(_) => {
                    self.documents += 1;
                    let (event, span) = match self.next() {
                        Ok(event) => event,
                        Err(Fatal) => return None,
                    };
                    let node = match self.node(event, span, "") {
                        Ok(node) => node,
                        Err(Fatal) => return None,
                    };
                    if self.documents == 1 {
                        root = Some(node);
                    } else {
                        self.problems.push(ParseProblem {
                            line: node.pos.line,
                            column: node.pos.column,
                            key_path: String::new(),
                            message: "the manifest must be a single YAML document".to_owned(),
                            hint: Some(
                                "remove the `---` separator and the second document".to_owned(),
                            ),
                        });
                    }
                }
                Event::DocumentEnd | Event::StreamStart | Event::Nothing => {}
                _ => {
                    let pos = self.pos(span);
                    self.problems.push(ParseProblem {
                        line: pos.line,
                        column: pos.column,
                        key_path: String::new(),
                        message: "unexpected YAML event outside a document".to_owned(),
                        hint: None,
                    });
                    return None;
                }
            }
        }
    }

    fn charge(&mut self, nodes: usize, pos: Pos, path: &str) -> Result<(), Fatal> {
        if nodes > self.budget {
            self.problems.push(ParseProblem {
                line: pos.line,
                column: pos.column,
                key_path: path.to_owned(),
                message: format!(
                    "YAML aliases expand to more than {MAX_NODES} values; refusing to expand further"
                ),
                hint: Some("this looks like an alias bomb; write the values out or use fewer nested aliases".to_owned()),
            });
            return Err(Fatal);
        }
        self.budget -= nodes;
        Ok(())
    }

    /// Refuses a node `levels` deep at the current depth beyond [`MAX_DEPTH`].
    fn check_depth(&mut self, levels: usize, pos: Pos, path: &str) -> Result<(), Fatal> {
        if self.depth + levels <= MAX_DEPTH {
            return Ok(());
        }
        self.problems.push(ParseProblem {
            line: pos.line,
            column: pos.column,
            key_path: path.to_owned(),
            message: format!("YAML nests deeper than {MAX_DEPTH} levels; refusing to go further"),
            hint: Some("flatten the structure: no manifest setting needs this depth".to_owned()),
        });
        Err(Fatal)
    }

    fn node(&mut self, event: Event<'a>, span: Span, path: &str) -> Result<Node, Fatal> {
        let pos = self.pos(span);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.charge(1, pos, path)?;
                let node = self.scalar(&text, style, tag.as_deref(), pos, path);
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    self.problems.push(ParseProblem {
                        line: pos.line,
                        column: pos.column,
                        key_path: path.to_owned(),
                        message: "alias refers to an unknown anchor".to_owned(),
                        hint: None,
                    });
                    return Ok(Node::new(Value::Poison, pos));
                };
                let size = target.size();
                let depth = target.depth();
                let mut copy = target.clone();
                self.charge(size, pos, path)?;
                self.check_depth(depth, pos, path)?;
                copy.pos = pos;
                Ok(copy)
            }
            Event::SequenceStart(anchor, tag) => {
                self.charge(1, pos, path)?;
                self.check_depth(1, pos, path)?;
                let function = self.collection_tag(tag.as_deref(), pos, path);
                let mut items = Vec::new();
                self.depth += 1;
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    let child_path = format!("{path}[{}]", items.len());
                    items.push(self.node(event, span, &child_path)?);
                }
                self.depth -= 1;
                let node = wrap_function(function, Node::new(Value::Seq(items), pos));
                self.remember(anchor, &node);
                Ok(node)
            }
            Event::MappingStart(anchor, tag) => {
                self.charge(1, pos, path)?;
                self.check_depth(1, pos, path)?;
                let function = self.collection_tag(tag.as_deref(), pos, path);
                self.depth += 1;
                let mapping = self.mapping(pos, path)?;
                self.depth -= 1;
                let node = wrap_function(function, mapping);
                self.remember(anchor, &node);
                Ok(node)
            }
            _ => {
                self.problems.push(ParseProblem {
                    line: pos.line,
                    column: pos.column,
                    key_path: path.to_owned(),
                    message: "unexpected YAML structure".to_owned(),
                    hint: None,
                });
                Err(Fatal)
            }
        }
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }

    fn mapping(&mut self, pos: Pos, path: &str) -> Result<Node, Fatal> {
        let mut entries: Vec<(Key, Node)> = Vec::new();
        let mut merges: Vec<Node> = Vec::new();
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::MappingEnd) {
                break;
            }
            let key_pos = self.pos(span);
            let key_name = match &event {
                Event::Scalar(text, _, _, _) => Some(text.to_string()),
                _ => None,
            };
            let key_node = self.node(event, span, path)?;
            let (event, span) = self.next()?;
            let Some(name) = key_name.or_else(|| key_node.scalar_text()) else {
                self.problems.push(ParseProblem {
                    line: key_pos.line,
                    column: key_pos.column,
                    key_path: path.to_owned(),
                    message: format!(
                        "map keys must be plain text, found {}",
                        key_node.type_name()
                    ),
                    hint: None,
                });
                self.node(event, span, path)?;
                continue;
            };
            let child_path = join_path(path, &name);
            let value = self.node(event, span, &child_path)?;
            if name == "<<" {
                merges.push(value);
                continue;
            }
            if let Some((first, _)) = entries.iter().find(|(k, _)| k.name == name) {
                self.problems.push(ParseProblem {
                    line: key_pos.line,
                    column: key_pos.column,
                    key_path: child_path,
                    message: format!(
                        "duplicate key `{name}` (first defined at line {}:{})",
                        first.line_col().0,
                        first.line_col().1
                    ),
                    hint: Some(
                        "YAML keeps only one of them; remove or rename the duplicate".to_owned(),
                    ),
                });
                continue;
            }
            entries.push((Key { name, pos: key_pos }, value));
        }
        for merge in merges {
            let sources = match merge.value {
                Value::Map(_) => vec![merge],
                Value::Seq(items) => items,
                _ => {
                    self.problems.push(ParseProblem {
                        line: merge.pos.line,
                        column: merge.pos.column,
                        key_path: join_path(path, "<<"),
                        message: format!(
                            "merge key `<<` needs a map or a list of maps, found {}",
                            merge.type_name()
                        ),
                        hint: None,
                    });
                    continue;
                }
            };
            for source in sources {
                if let Value::Map(source_entries) = source.value {
                    for (key, value) in source_entries {
                        if !entries.iter().any(|(k, _)| k.name == key.name) {
                            entries.push((key, value));
                        }
                    }
                }
            }
        }
        Ok(Node::new(Value::Map(entries), pos))
    }

    /// The long-form key of a CloudFormation short form on a list or map (`!Join [..]` is
    /// `Fn::Join`); any other non-core tag is reported.
    fn collection_tag(&mut self, tag: Option<&Tag>, pos: Pos, path: &str) -> Option<String> {
        let tag = tag.filter(|tag| !tag.is_yaml_core_schema())?;
        let key = (tag.handle == "!")
            .then(|| cloudformation_key(&tag.suffix))
            .flatten();
        if key.is_none() {
            self.problems.push(ParseProblem {
                line: pos.line,
                column: pos.column,
                key_path: path.to_owned(),
                message: format!("unsupported YAML tag `{tag}`"),
                hint: Some(UNKNOWN_TAG_HINT.to_owned()),
            });
        }
        key
    }

    fn scalar(
        &mut self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        pos: Pos,
        path: &str,
    ) -> Node {
        let Some(tag) = tag else {
            let value = if style == ScalarStyle::Plain {
                plain_scalar(text)
            } else {
                Value::String(text.to_owned())
            };
            let mut node = Node::new(value, pos);
            if matches!(style, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted) {
                node.meta.text_offset = 1;
            }
            return node;
        };
        if tag.is_yaml_core_schema() {
            let value = match tag.suffix.as_str() {
                "str" => Some(Value::String(text.to_owned())),
                "int" => text.parse().ok().map(Value::Int),
                "float" => text.parse().ok().map(Value::Float),
                "bool" => match plain_scalar(text) {
                    value @ Value::Bool(_) => Some(value),
                    _ => None,
                },
                "null" => Some(Value::Null),
                _ => None,
            };
            return match value {
                Some(value) => Node::new(value, pos),
                None => {
                    self.problems.push(ParseProblem {
                        line: pos.line,
                        column: pos.column,
                        key_path: path.to_owned(),
                        message: format!("`{text}` is not a valid `!!{}` value", tag.suffix),
                        hint: None,
                    });
                    Node::new(Value::Poison, pos)
                }
            };
        }
        if tag.handle == "!"
            && let Some(node) = cloudformation_tag(&tag.suffix, text, pos)
        {
            return node;
        }
        self.problems.push(ParseProblem {
            line: pos.line,
            column: pos.column,
            key_path: path.to_owned(),
            message: format!("unsupported YAML tag `{tag}`"),
            hint: Some(UNKNOWN_TAG_HINT.to_owned()),
        });
        Node::new(Value::Poison, pos)
    }
}

impl Key {
    fn line_col(&self) -> (u32, u32) {
        (self.pos.line, self.pos.column)
    }
}

pub(crate) fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

const UNKNOWN_TAG_HINT: &str = "strata understands the YAML core tags (!!str, !!int, ...) and CloudFormation short forms (!Ref, !GetAtt, !Sub, !Join, ...)";

/// The long form of a CloudFormation short-form tag, as Serverless' YAML loader reads it:
/// `!Ref` and `!Condition` keep their name, every intrinsic function gets `Fn::`.
fn cloudformation_key(name: &str) -> Option<String> {
    const FUNCTIONS: &[&str] = &[
        "Base64",
        "Cidr",
        "FindInMap",
        "GetAtt",
        "GetAZs",
        "ImportValue",
        "Join",
        "Select",
        "Split",
        "Sub",
        "Transform",
        "And",
        "Equals",
        "If",
        "Not",
        "Or",
        "Length",
        "ToJsonString",
    ];
    match name {
        "Ref" | "Condition" => Some(name.to_owned()),
        other if FUNCTIONS.contains(&other) => Some(format!("Fn::{other}")),
        _ => None,
    }
}

/// `{key: node}` when a short form tagged the collection, the node itself otherwise.
fn wrap_function(key: Option<String>, node: Node) -> Node {
    match key {
        Some(name) => {
            let pos = node.pos;
            Node::new(Value::Map(vec![(Key { name, pos }, node)]), pos)
        }
        None => node,
    }
}

/// CloudFormation short-form tags on scalars become the long form, so `resources:` keeps its
/// meaning in the resolved document; `!GetAtt A.Arn` is split as CloudFormation does.
fn cloudformation_tag(name: &str, text: &str, pos: Pos) -> Option<Node> {
    let key = cloudformation_key(name)?;
    let string = Node::new(Value::String(text.to_owned()), pos);
    let value = match (name, text.split_once('.')) {
        ("GetAtt", Some((resource, attribute))) => Node::new(
            Value::Seq(vec![
                Node::new(Value::String(resource.to_owned()), pos),
                Node::new(Value::String(attribute.to_owned()), pos),
            ]),
            pos,
        ),
        _ => string,
    };
    Some(wrap_function(Some(key), value))
}

/// YAML 1.2 core schema resolution of a plain scalar (what js-yaml, and so Serverless, does).
pub(crate) fn plain_scalar(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(value) = i64::from_str_radix(hex, 16)
    {
        return Value::Int(value);
    }
    if let Some(octal) = text.strip_prefix("0o")
        && let Ok(value) = i64::from_str_radix(octal, 8)
    {
        return Value::Int(value);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(value) = text.parse::<i64>()
    {
        return Value::Int(value);
    }
    if is_core_float(digits)
        && let Ok(value) = text.parse::<f64>()
    {
        return Value::Float(value);
    }
    Value::String(text.to_owned())
}

/// `( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?` without a regex engine.
fn is_core_float(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(index) => (&text[..index], Some(&text[index + 1..])),
        None => (text, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            whole.bytes().all(|b| b.is_ascii_digit())
                && fraction.bytes().all(|b| b.is_ascii_digit())
                && !(whole.is_empty() && fraction.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

/// Deterministic YAML rendering of a JSON value, for `strata print`.
///
/// Keys keep their order (the manifest's), strings are quoted whenever a plain scalar would
/// read back as something else, so the output parses back to the same value.
pub fn to_yaml(value: &serde_json::Value) -> String {
    let mut out = String::new();
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        serde_json::Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        scalar => {
            out.push_str(&scalar_yaml(scalar));
            out.push('\n');
        }
    }
    out
}

fn write_map(out: &mut String, map: &serde_json::Map<String, serde_json::Value>, indent: usize) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&string_yaml(key));
        out.push(':');
        write_child(out, value, indent, false);
    }
}

fn write_seq(out: &mut String, items: &[serde_json::Value], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        write_child(out, item, indent, true);
    }
}

fn write_child(out: &mut String, value: &serde_json::Value, indent: usize, in_seq: bool) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            if in_seq {
                // `- key: value` keeps list items of maps compact, as people write them.
                let mut nested = String::new();
                write_map(&mut nested, map, indent + 2);
                out.push(' ');
                out.push_str(nested.trim_start_matches(' '));
            } else {
                out.push('\n');
                write_map(out, map, indent + 2);
            }
        }
        serde_json::Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_seq(out, items, indent + 2);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_yaml(scalar));
            out.push('\n');
        }
    }
}

fn scalar_yaml(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "null".to_owned(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => string_yaml(s),
        serde_json::Value::Array(_) => "[]".to_owned(),
        serde_json::Value::Object(_) => "{}".to_owned(),
    }
}

fn string_yaml(text: &str) -> String {
    let needs_quotes = text.is_empty()
        || !matches!(plain_scalar(text), Value::String(_))
        || text.starts_with([
            ' ', '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"',
            '%', '@', '`',
        ])
        || text.ends_with([' ', ':'])
        || text.contains(": ")
        || text.contains(" #")
        || text.chars().any(|c| c.is_control());
    if !needs_quotes {
        return text.to_owned();
    }
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(source: &str) -> Node {
        let (node, problems) = parse(source, FileId(0));
        assert!(problems.is_empty(), "{problems:?}");
        node.unwrap()
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let node = parse_ok("a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: python3.12\ng: 0x1f\n");
        let json = node.to_json();
        assert_eq!(json["a"], 1);
        assert_eq!(json["b"], "1");
        assert_eq!(json["c"], true);
        assert!(json["d"].is_null());
        assert_eq!(json["e"], 1.5);
        assert_eq!(json["f"], "python3.12");
        assert_eq!(json["g"], 31);
    }

    #[test]
    fn positions_are_one_based() {
        let node = parse_ok("service: x\nprovider:\n  memorySize: 512\n");
        let memory = node.get("provider").unwrap().get("memorySize").unwrap();
        assert_eq!((memory.pos.line, memory.pos.column), (3, 15));
    }

    #[test]
    fn duplicate_keys_are_reported_at_the_second_key() {
        let (_, problems) = parse("a: 1\nb: 2\na: 3\n", FileId(0));
        assert_eq!(problems.len(), 1);
        assert_eq!((problems[0].line, problems[0].column), (3, 1));
        assert!(problems[0].message.contains("first defined at line 1:1"));
    }

    #[test]
    fn alias_bombs_stop_at_the_budget() {
        let mut source = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..10 {
            let prev = level - 1;
            source.push_str(&format!(
                "a{level}: &a{level} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let (_, problems) = parse(&source, FileId(0));
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("aliases expand")),
            "{problems:?}"
        );
    }

    #[test]
    fn merge_keys_fill_missing_entries() {
        let node = parse_ok("base: &b {x: 1, y: 2}\nchild:\n  <<: *b\n  y: 3\n");
        assert_eq!(
            node.get("child").unwrap().to_json(),
            serde_json::json!({"y": 3, "x": 1})
        );
    }

    #[test]
    fn cloudformation_short_forms_become_long_forms() {
        let node = parse_ok("a: !Ref Queue\nb: !GetAtt Queue.Arn\nc: !Sub '${AWS::Region}'\n");
        assert_eq!(
            node.to_json(),
            serde_json::json!({"a": {"Ref": "Queue"}, "b": {"Fn::GetAtt": ["Queue", "Arn"]}, "c": {"Fn::Sub": "${AWS::Region}"}})
        );
    }

    #[test]
    fn cloudformation_short_forms_on_lists_and_maps_become_long_forms() {
        let source = "a: !Join ['-', [x, !Ref Stage]]\nb: !GetAtt [Queue, Arn]\nc: !If [IsProd, !Select [0, !GetAZs ''], !Ref AWS::NoValue]\nd: !Sub ['${A}-b', {A: !ImportValue other}]\ne: !Equals [!Split [',', 'a,b'], !FindInMap [M, k, v]]\nf: !Not [!Condition C]\ng: !Cidr [!GetAtt Vpc.CidrBlock, 6, 8]\nh: !And [!Or [!Condition A, !Condition B], !Base64 x]\n";
        let node = parse_ok(source);
        assert_eq!(
            node.to_json(),
            serde_json::json!({
                "a": {"Fn::Join": ["-", ["x", {"Ref": "Stage"}]]},
                "b": {"Fn::GetAtt": ["Queue", "Arn"]},
                "c": {"Fn::If": ["IsProd", {"Fn::Select": [0, {"Fn::GetAZs": ""}]}, {"Ref": "AWS::NoValue"}]},
                "d": {"Fn::Sub": ["${A}-b", {"A": {"Fn::ImportValue": "other"}}]},
                "e": {"Fn::Equals": [{"Fn::Split": [",", "a,b"]}, {"Fn::FindInMap": ["M", "k", "v"]}]},
                "f": {"Fn::Not": [{"Condition": "C"}]},
                "g": {"Fn::Cidr": [{"Fn::GetAtt": ["Vpc", "CidrBlock"]}, 6, 8]},
                "h": {"Fn::And": [{"Fn::Or": [{"Condition": "A"}, {"Condition": "B"}]}, {"Fn::Base64": "x"}]}
            })
        );
    }

    #[test]
    fn unknown_tags_on_lists_are_reported() {
        let (_, problems) = parse("a: !Secret [x]\n", FileId(0));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("`!Secret`"), "{problems:?}");
    }

    #[test]
    fn yaml_rendering_round_trips() {
        let value = serde_json::json!({
            "service": "app",
            "n": 3,
            "quoted": "123",
            "flag": "true",
            "empty": "",
            "list": [{"http": {"path": "/{proxy+}", "method": "ANY"}}, "plain", 1],
            "nested": {"a": [], "b": {}},
            "text": "a: b",
            "multi": "line\nbreak"
        });
        let yaml = to_yaml(&value);
        let (node, problems) = parse(&yaml, FileId(0));
        assert!(problems.is_empty(), "{problems:?}\n{yaml}");
        assert_eq!(node.unwrap().to_json(), value, "{yaml}");
    }
}
