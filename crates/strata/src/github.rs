//! strata inside a GitHub Actions job: manifest problems as annotations on the pull request's
//! diff, a Markdown job summary, step outputs a later step can read, and secrets masked in the
//! log before anything could show them.
//!
//! On when `GITHUB_ACTIONS=true` (the runner sets it) or with `--github`. The runner reads
//! workflow commands (`::error file=…::…`, `::add-mask::…`) from both stdout and stderr; strata
//! writes them to stderr, so stdout stays the command's data (one JSON document with
//! `--output-format json`). Outputs and the summary go to the files the runner names in
//! `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;
use strata_manifest::{Diagnostic, Severity};

/// Lambda's limit on a function's code plus its layers, unzipped.
const LAMBDA_UNZIPPED_BUDGET: u64 = 262_144_000;

/// The runner's files and where annotations' paths are relative to.
#[derive(Debug)]
pub struct GithubActions {
    output: Option<PathBuf>,
    summary: Option<PathBuf>,
    /// The repository's checkout (`GITHUB_WORKSPACE`): annotation paths are relative to it, as
    /// the diff view expects.
    workspace: Option<PathBuf>,
    /// Where the JSON report of a command goes (`RUNNER_TEMP`, else the project's `.strata/`).
    report_dir: Option<PathBuf>,
    /// Values already masked, so each `::add-mask::` is written once.
    masked: Mutex<BTreeSet<String>>,
}

impl GithubActions {
    /// The integration when it is on: `--github`, or the runner's `GITHUB_ACTIONS=true`.
    pub fn from_env(flag: bool, env: &BTreeMap<String, String>) -> Option<Self> {
        let on_runner = env
            .get("GITHUB_ACTIONS")
            .is_some_and(|value| value == "true");
        if !(flag || on_runner) {
            return None;
        }
        let path = |name: &str| {
            env.get(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        Some(Self {
            output: path("GITHUB_OUTPUT"),
            summary: path("GITHUB_STEP_SUMMARY"),
            workspace: path("GITHUB_WORKSPACE"),
            report_dir: path("RUNNER_TEMP"),
            masked: Mutex::new(BTreeSet::new()),
        })
    }

    /// `::add-mask::value`, once per value: the runner replaces it with `***` in every later
    /// line of the log. Multi-line values are masked line by line, as the runner matches lines.
    pub fn mask(&self, value: &str) {
        let mut masked = self
            .masked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = std::io::stderr().lock();
        for line in value.lines().map(str::trim).filter(|line| line.len() >= 3) {
            if masked.insert(line.to_owned()) {
                let _ = writeln!(out, "::add-mask::{}", escape_data(line));
            }
        }
    }

    /// The workflow command that shows `diagnostic` on the diff.
    pub fn annotation(&self, diagnostic: &Diagnostic) -> String {
        let level = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let file = self.relative(&diagnostic.file);
        let mut message = diagnostic.message.clone();
        if let Some(hint) = &diagnostic.hint {
            message.push_str("\nhint: ");
            message.push_str(hint);
        }
        let title = if diagnostic.key_path.is_empty() {
            "strata".to_owned()
        } else {
            format!("strata: {}", diagnostic.key_path)
        };
        format!(
            "::{level} file={},line={},col={},title={}::{}",
            escape_property(&file.display().to_string()),
            diagnostic.line,
            diagnostic.column,
            escape_property(&title),
            escape_data(&message)
        )
    }

    /// The workflow command for an error that is not about one place in the manifest.
    pub fn error(&self, title: &str, message: &str, hints: &[String]) -> String {
        let mut text = message.to_owned();
        for hint in hints {
            text.push_str("\nhint: ");
            text.push_str(hint);
        }
        format!(
            "::error title={}::{}",
            escape_property(title),
            escape_data(&text)
        )
    }

    /// `path` relative to the checkout when it lies inside it.
    fn relative(&self, path: &Path) -> PathBuf {
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|dir| dir.join(path))
                .unwrap_or_else(|_| path.to_path_buf())
        };
        self.workspace
            .as_ref()
            .and_then(|workspace| {
                let workspace = workspace.canonicalize().unwrap_or(workspace.clone());
                let absolute = absolute.canonicalize().unwrap_or(absolute.clone());
                absolute
                    .strip_prefix(&workspace)
                    .ok()
                    .map(Path::to_path_buf)
            })
            .unwrap_or_else(|| path.to_path_buf())
    }

    /// Appends `outputs` to `GITHUB_OUTPUT` in the runner's multi-line form.
    pub fn write_outputs(&self, outputs: &[(&str, String)]) -> std::io::Result<()> {
        let Some(file) = &self.output else {
            return Ok(());
        };
        let mut text = String::new();
        for (name, value) in outputs {
            let delimiter = delimiter_for(value);
            let _ = write!(text, "{name}<<{delimiter}\n{value}\n{delimiter}\n");
        }
        append(file, &text)
    }

    /// Appends Markdown to the job summary.
    pub fn write_summary(&self, markdown: &str) -> std::io::Result<()> {
        match &self.summary {
            Some(file) => append(file, markdown),
            None => Ok(()),
        }
    }

    /// Writes the command's JSON document where a later step can read it; returns its path.
    pub fn write_report(&self, project_dir: &Path, document: &Value) -> std::io::Result<PathBuf> {
        let kind = document["kind"].as_str().unwrap_or("report");
        let stage = document["stage"].as_str().unwrap_or("stage");
        let dir = self
            .report_dir
            .clone()
            .unwrap_or_else(|| project_dir.join(".strata").join("reports"));
        fs_err::create_dir_all(&dir)?;
        let path = dir.join(format!("strata-{kind}-{stage}.json"));
        let text = serde_json::to_string_pretty(document).map_err(std::io::Error::other)?;
        fs_err::write(&path, text + "\n")?;
        Ok(path)
    }
}

fn append(file: &Path, text: &str) -> std::io::Result<()> {
    let mut handle = fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    handle.write_all(text.as_bytes())
}

/// A heredoc delimiter that does not occur in `value` (the runner ends the value at its first
/// line equal to the delimiter, so a value must never contain it).
fn delimiter_for(value: &str) -> String {
    let mut counter = 0u32;
    loop {
        let candidate = format!("STRATA_EOF_{counter}");
        if !value.lines().any(|line| line == candidate) {
            return candidate;
        }
        counter += 1;
    }
}

/// The escaping the runner undoes in a command's message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The escaping the runner undoes in a command's `key=value` properties.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// What a later step reads from a cloud command: how many functions changed and each
/// function's cloud, name, id, release and URL.
pub fn stage_outputs(document: &Value) -> (usize, Value) {
    let mut changed = 0;
    let mut functions = Vec::new();
    for section in sections(document) {
        let cloud = section["cloud"].clone();
        for function in section["functions"].as_array().into_iter().flatten() {
            if !function.is_object() {
                continue;
            }
            let state = function_state(function);
            if !matches!(state.as_str(), "unchanged" | "" | "failed" | "interrupted") {
                changed += 1;
            }
            functions.push(serde_json::json!({
                "cloud": cloud,
                "name": function["logical_name"],
                "deployed_name": function["deployed_name"],
                "id": function["id"],
                "release": function["release"],
                "url": function["url"],
                "outcome": state,
            }));
        }
    }
    (changed, Value::Array(functions))
}

/// A function's `outcome.kind` (deploy) or `action.kind` (plan).
fn function_state(function: &Value) -> String {
    function["outcome"]["kind"]
        .as_str()
        .or_else(|| function["action"]["kind"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn sections(document: &Value) -> impl Iterator<Item = &Value> {
    document["clouds"].as_array().into_iter().flatten()
}

/// A table cell: one line, no column breaks.
fn cell(value: &Value) -> String {
    let text = match value {
        Value::Null => "–".to_owned(),
        Value::String(text) if text.is_empty() => "–".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// The job summary of a cloud command (`plan`, `deploy`, `info`, `rollback`, `remove`), from
/// its JSON document: one section per cloud.
pub fn stage_summary(document: &Value) -> String {
    let kind = document["kind"].as_str().unwrap_or("strata");
    let mut out = format!(
        "## strata {kind}: `{}`, stage `{}`\n\n",
        document["service"].as_str().unwrap_or_default(),
        document["stage"].as_str().unwrap_or_default()
    );
    if document["success"] == Value::Bool(false) {
        out.push_str("**Failed.** ");
        if document["interrupted"] == Value::Bool(true) {
            out.push_str("Interrupted before every step ran. ");
        }
        out.push_str("The log above has the error and what to do next.\n\n");
    }
    for section in sections(document) {
        let cloud = section["cloud"].as_str().unwrap_or("cloud");
        let _ = writeln!(out, "### {cloud}\n");
        match section["status"].as_str() {
            Some("not_deployable") => {
                let _ = writeln!(
                    out,
                    "Not deployable by this version of strata; left as they are: {}\n",
                    cell(&section["functions"])
                );
                continue;
            }
            Some("failed") if section.get("error").is_some() => {
                let _ = writeln!(out, "**Failed:** {}\n", cell(&section["error"]["message"]));
                continue;
            }
            _ => {}
        }
        match kind {
            "plan" => plan_table(&mut out, section),
            "deploy" => deploy_table(&mut out, section),
            "remove" => remove_table(&mut out, section),
            "rollback" => rollback_table(&mut out, section),
            _ => info_table(&mut out, section),
        }
        out.push('\n');
    }
    out
}

fn functions_of(section: &Value) -> impl Iterator<Item = &Value> {
    section["functions"].as_array().into_iter().flatten()
}

fn deploy_table(out: &mut String, section: &Value) {
    out.push_str("| function | outcome | release | URL | time |\n|---|---|---|---|---|\n");
    for function in functions_of(section) {
        let mut outcome = function_state(function).replace('_', " ");
        if let Some(step) = function["outcome"]["step"].as_str() {
            let _ = write!(
                outcome,
                " at {step}: {}",
                cell(&function["outcome"]["message"])
            );
        }
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {:.1} s |",
            cell(&function["deployed_name"]),
            outcome,
            cell(&function["release"]),
            cell(&function["url"]),
            function["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0
        );
    }
    for layer in section["layers"].as_array().into_iter().flatten() {
        let action = if layer["published"] == Value::Bool(true) {
            "published"
        } else {
            "reused"
        };
        let _ = writeln!(
            out,
            "\nLayer `{}`: {action} version {}.",
            cell(&layer["deployed_name"]),
            cell(&layer["version"])
        );
    }
    stack_and_triggers(out, section);
}

/// The resource stack and each trigger that changes (or changed): from the `stack` and
/// `triggers` of a plan or deploy section, whatever the trigger kind.
fn stack_and_triggers(out: &mut String, section: &Value) {
    let stack = &section["stack"];
    if let Some(name) = stack["name"].as_str() {
        let _ = writeln!(
            out,
            "\nStack `{}`: {}.",
            cell(&Value::String(name.to_owned())),
            cell(&stack["action"]["kind"]).replace('_', " ")
        );
        for resource in stack["action"]["resources"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let properties: Vec<String> = resource["properties"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|change| {
                    format!(
                        "{}: {} → {}",
                        cell(&change["field"]),
                        cell(&change["old"]),
                        cell(&change["new"])
                    )
                })
                .collect();
            let _ = write!(
                out,
                "- {} `{}` ({})",
                cell(&resource["action"]),
                cell(&resource["logical_id"]),
                cell(&resource["resource_type"])
            );
            if !properties.is_empty() {
                let _ = write!(out, ": {}", properties.join("; "));
            }
            out.push('\n');
        }
    }
    let changed: Vec<&Value> = section["triggers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|trigger| trigger["action"]["kind"] != "unchanged")
        .collect();
    if changed.is_empty() {
        return;
    }
    out.push_str("\n| trigger | function | source | change |\n|---|---|---|---|\n");
    for trigger in changed {
        let mut change = cell(&trigger["action"]["kind"]);
        for field in trigger["action"]["changes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let _ = write!(
                change,
                "; {}: {} → {}",
                cell(&field["field"]),
                cell(&field["old"]),
                cell(&field["new"])
            );
        }
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {change} |",
            cell(&trigger["kind"]),
            cell(&trigger["function"]),
            cell(&trigger["source"])
        );
    }
}

fn plan_table(out: &mut String, section: &Value) {
    let changes: Vec<&Value> = functions_of(section)
        .filter(|function| function_state(function) != "unchanged")
        .collect();
    let unchanged = functions_of(section).count() - changes.len();
    if changes.is_empty() {
        let _ = writeln!(out, "No change: {unchanged} function(s) already as wanted.");
    } else {
        out.push_str("| function | action | what changes |\n|---|---|---|\n");
        for function in changes {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                cell(&function["deployed_name"]),
                function_state(function),
                plan_details(function)
            );
        }
        if unchanged > 0 {
            let _ = writeln!(out, "\n{unchanged} other function(s) unchanged.");
        }
    }
    for layer in section["layers"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "\nLayer `{}`: {}.",
            cell(&layer["deployed_name"]),
            cell(&layer["action"]["kind"])
        );
    }
    stack_and_triggers(out, section);
}

/// `code a → b; memory: 128 → 256` for one planned function.
fn plan_details(function: &Value) -> String {
    let action = &function["action"];
    let mut parts = Vec::new();
    if action["code"].is_object() {
        parts.push(format!(
            "code {} → {}",
            short(&action["code"]["old"]),
            short(&action["code"]["new"])
        ));
    }
    for change in action["config"].as_array().into_iter().flatten() {
        parts.push(format!(
            "{}: {} → {}",
            cell(&change["field"]),
            cell(&change["old"]),
            cell(&change["new"])
        ));
    }
    if let Some(pointer) = function["pointer"].as_object() {
        parts.push(format!(
            "{} `{}` {} → {}",
            pointer.get("kind").map(cell).unwrap_or_default(),
            pointer.get("name").map(cell).unwrap_or_default(),
            pointer.get("from").map(cell).unwrap_or_default(),
            pointer
                .get("to")
                .filter(|to| !to.is_null())
                .map(cell)
                .unwrap_or_else(|| "new release".to_owned())
        ));
    }
    if parts.is_empty() {
        "–".to_owned()
    } else {
        parts.join("; ")
    }
}

/// A hash shortened for a table: its first 12 characters.
fn short(value: &Value) -> String {
    match value.as_str() {
        Some(text) if text.len() > 12 => format!("`{}…`", &text[..12]),
        Some(text) => format!("`{text}`"),
        None => "–".to_owned(),
    }
}

fn info_table(out: &mut String, section: &Value) {
    out.push_str("| function | id | release | URL |\n|---|---|---|---|\n");
    for function in functions_of(section) {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            cell(&function["deployed_name"]),
            cell(&function["id"]),
            cell(&function["pointer"]["release"]),
            cell(&function["url"])
        );
    }
}

fn rollback_table(out: &mut String, section: &Value) {
    out.push_str("| function | from | to |\n|---|---|---|\n");
    for function in functions_of(section) {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            cell(&function["deployed_name"]),
            cell(&function["from"]),
            cell(&function["to"])
        );
    }
}

fn remove_table(out: &mut String, section: &Value) {
    out.push_str("| removed | kind |\n|---|---|\n");
    for resource in section["removed"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "| `{}` | {} |",
            cell(&resource["name"]),
            cell(&resource["kind"])
        );
    }
}

/// The job summary of `strata package`: each artifact with its sizes, and for Lambda layers
/// their share of the 250 MB unzipped budget a function and its layers share.
pub fn package_summary(document: &Value) -> String {
    format!(
        "## strata package: `{}`, stage `{}`\n\n{}",
        document["service"].as_str().unwrap_or_default(),
        document["stage"].as_str().unwrap_or_default(),
        artifact_table(document)
    )
}

/// The artifacts a `deploy` or `plan` built first, in a collapsed section above its report.
pub fn build_summary(document: &Value) -> String {
    let count = document["artifacts"].as_array().map_or(0, Vec::len);
    format!(
        "<details><summary>strata built {count} artifact(s) for `{}`, stage `{}`</summary>\n\n{}</details>\n\n",
        document["service"].as_str().unwrap_or_default(),
        document["stage"].as_str().unwrap_or_default(),
        artifact_table(document)
    )
}

fn artifact_table(document: &Value) -> String {
    let mut out = "| artifact | cloud | zipped | unzipped | of Lambda's 250 MB budget | built |\n|---|---|---|---|---|---|\n".to_owned();
    for artifact in document["artifacts"].as_array().into_iter().flatten() {
        let unzipped = artifact["unzipped_size"].as_u64().unwrap_or(0);
        let budget = if artifact["cloud"] == "aws" {
            format!(
                "{:.1} %",
                unzipped as f64 * 100.0 / LAMBDA_UNZIPPED_BUDGET as f64
            )
        } else {
            "–".to_owned()
        };
        let built = if artifact["reused"] == Value::Bool(true) {
            "reused"
        } else {
            "built"
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {budget} | {built} |",
            cell(&artifact["name"]),
            cell(&artifact["cloud"]),
            strata_build::human_size(artifact["zipped_size"].as_u64().unwrap_or(0)),
            strata_build::human_size(unzipped),
        );
    }
    for note in document["notes"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "\n> {}", cell(note));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github(dir: &Path) -> GithubActions {
        let env = BTreeMap::from([
            ("GITHUB_ACTIONS".to_owned(), "true".to_owned()),
            (
                "GITHUB_OUTPUT".to_owned(),
                dir.join("output").display().to_string(),
            ),
            (
                "GITHUB_STEP_SUMMARY".to_owned(),
                dir.join("summary").display().to_string(),
            ),
            ("GITHUB_WORKSPACE".to_owned(), dir.display().to_string()),
        ]);
        GithubActions::from_env(false, &env).expect("on when GITHUB_ACTIONS=true")
    }

    #[test]
    fn off_outside_a_runner_unless_asked() {
        assert!(GithubActions::from_env(false, &BTreeMap::new()).is_none());
        let not_true = BTreeMap::from([("GITHUB_ACTIONS".to_owned(), "false".to_owned())]);
        assert!(GithubActions::from_env(false, &not_true).is_none());
        assert!(GithubActions::from_env(true, &BTreeMap::new()).is_some());
    }

    #[test]
    fn an_annotation_names_the_file_relative_to_the_checkout_and_escapes_its_text() {
        let dir = tempfile::tempdir().unwrap();
        let github = github(dir.path());
        let diagnostic = Diagnostic {
            severity: Severity::Error,
            file: dir.path().join("svc/serverless.yml"),
            line: 12,
            column: 5,
            key_path: "functions.a,b".to_owned(),
            message: "100% wrong: see\nthe next line".to_owned(),
            hint: Some("fix it".to_owned()),
        };
        assert_eq!(
            github.annotation(&diagnostic),
            "::error file=svc/serverless.yml,line=12,col=5,title=strata%3A functions.a%2Cb::100%25 wrong: see%0Athe next line%0Ahint: fix it"
        );
    }

    #[test]
    fn outputs_use_a_delimiter_the_value_does_not_contain() {
        let dir = tempfile::tempdir().unwrap();
        let github = github(dir.path());
        github
            .write_outputs(&[
                ("changed", "2".to_owned()),
                ("tricky", "a\nSTRATA_EOF_0\nb".to_owned()),
            ])
            .unwrap();
        let written = fs_err::read_to_string(dir.path().join("output")).unwrap();
        assert_eq!(
            written,
            "changed<<STRATA_EOF_0\n2\nSTRATA_EOF_0\ntricky<<STRATA_EOF_1\na\nSTRATA_EOF_0\nb\nSTRATA_EOF_1\n"
        );
    }

    fn deploy_document() -> Value {
        serde_json::json!({
            "schema_version": 2, "kind": "deploy", "service": "orders", "stage": "prod",
            "success": false,
            "clouds": [
                { "cloud": "aws", "status": "failed", "layers": [],
                  "functions": [
                    { "logical_name": "hello", "deployed_name": "orders-prod-hello",
                      "outcome": { "kind": "updated_code" }, "release": "4",
                      "id": "arn:aws:lambda:us-east-1:1:function:orders-prod-hello:prod",
                      "url": null, "duration_ms": 1500 },
                    { "logical_name": "world", "deployed_name": "orders-prod-world",
                      "outcome": { "kind": "unchanged" }, "release": "2", "id": null,
                      "url": null, "duration_ms": 3 },
                    { "logical_name": "pipe", "deployed_name": "orders-prod-pipe",
                      "outcome": { "kind": "failed", "step": "update-code", "message": "a|b" },
                      "release": "1", "id": null, "url": null, "duration_ms": 9 } ] },
                { "cloud": "gcp", "status": "not_deployable", "functions": ["api"] } ]
        })
    }

    #[test]
    fn deploy_outputs_count_changed_functions_and_list_each_one() {
        let (changed, functions) = stage_outputs(&deploy_document());
        assert_eq!(changed, 1, "unchanged and failed functions are not changes");
        assert_eq!(functions.as_array().unwrap().len(), 3);
        assert_eq!(functions[0]["cloud"], "aws");
        assert_eq!(functions[0]["name"], "hello");
        assert_eq!(
            functions[0]["id"],
            "arn:aws:lambda:us-east-1:1:function:orders-prod-hello:prod"
        );
        assert_eq!(functions[0]["release"], "4");
    }

    #[test]
    fn the_deploy_summary_has_a_row_per_function_and_says_what_failed() {
        let summary = stage_summary(&deploy_document());
        assert!(
            summary.starts_with("## strata deploy: `orders`, stage `prod`"),
            "{summary}"
        );
        assert!(summary.contains("**Failed.**"), "{summary}");
        assert!(
            summary.contains("| `orders-prod-hello` | updated code | 4 | – | 1.5 s |"),
            "{summary}"
        );
        assert!(
            summary.contains("| `orders-prod-pipe` | failed at update-code: a\\|b | 1 |"),
            "{summary}"
        );
        assert!(summary.contains("### gcp\n\nNot deployable"), "{summary}");
    }

    #[test]
    fn the_deploy_summary_lists_the_stack_and_each_trigger_change() {
        let document = serde_json::json!({
            "kind": "deploy", "service": "orders", "stage": "prod", "success": true,
            "clouds": [ { "cloud": "aws", "status": "ok", "layers": [], "functions": [],
                "stack": { "name": "orders-prod-resources", "action": { "kind": "update",
                    "resources": [ { "logical_id": "Jobs", "resource_type": "AWS::SQS::Queue",
                        "action": "modify", "properties": [
                            { "field": "VisibilityTimeout", "old": "30", "new": "60" } ] } ] } },
                "triggers": [
                    { "function": "worker", "kind": "sqs", "source": "arn:aws:sqs:x:1:jobs",
                      "action": { "kind": "update", "changes": [
                          { "field": "batch_size", "old": "10", "new": "5" } ] } },
                    { "function": "worker", "kind": "sqs", "source": "arn:aws:sqs:x:1:old",
                      "action": { "kind": "delete" } } ] } ]
        });
        let summary = stage_summary(&document);
        assert!(
            summary.contains(
                "Stack `orders-prod-resources`: update.\n- modify `Jobs` (AWS::SQS::Queue): VisibilityTimeout: 30 → 60\n"
            ),
            "{summary}"
        );
        assert!(
            summary
                .contains("| sqs | `worker` | arn:aws:sqs:x:1:jobs | update; batch_size: 10 → 5 |"),
            "{summary}"
        );
        assert!(
            summary.contains("| sqs | `worker` | arn:aws:sqs:x:1:old | delete |"),
            "{summary}"
        );
    }

    #[test]
    fn the_plan_summary_lists_each_change_and_counts_the_rest() {
        let document = serde_json::json!({
            "kind": "plan", "service": "orders", "stage": "prod", "success": true,
            "clouds": [ { "cloud": "aws", "status": "ok", "layers": [],
                "functions": [
                    { "deployed_name": "orders-prod-hello",
                      "action": { "kind": "update",
                                  "code": { "old": "AAAAAAAAAAAAAAAAAAAA", "new": "BBBB" },
                                  "config": [ { "field": "memory", "old": "128", "new": "256" } ] },
                      "pointer": { "kind": "alias", "name": "prod", "from": "3", "to": null } },
                    { "deployed_name": "orders-prod-world", "action": { "kind": "unchanged" } } ] } ]
        });
        let summary = stage_summary(&document);
        assert!(
            summary.contains(
                "| `orders-prod-hello` | update | code `AAAAAAAAAAAA…` → `BBBB`; memory: 128 → 256; alias `prod` 3 → new release |"
            ),
            "{summary}"
        );
        assert!(
            summary.contains("1 other function(s) unchanged."),
            "{summary}"
        );
        let (changed, _) = stage_outputs(&document);
        assert_eq!(changed, 1);
    }

    #[test]
    fn the_package_summary_shows_each_layer_against_lambdas_budget() {
        let document = serde_json::json!({
            "kind": "package", "service": "orders", "stage": "prod",
            "artifacts": [ { "name": "aws/layers/deps", "cloud": "aws",
                             "zipped_size": 1_000_000, "unzipped_size": 131_072_000,
                             "reused": true } ],
            "notes": [] });
        let summary = package_summary(&document);
        assert!(summary.contains("| `aws/layers/deps` | aws |"), "{summary}");
        assert!(summary.contains("| 50.0 % | reused |"), "{summary}");
    }
}
