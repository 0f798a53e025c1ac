//! Finds top-level names in a Python file by reading it, never by importing it: importing
//! would run user code and need the function's dependencies on the build machine.

/// Names bound at module level: `def`, `async def`, `class`, assignments (`handler = …`,
/// `handler: T = …`) and imports (`from x import y as handler`).
pub(crate) fn top_level_names(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_string: Option<&str> = None;
    let mut continuation = false;
    for line in source.lines() {
        if let Some(quote) = in_string {
            if line.matches(quote).count() % 2 == 1 {
                in_string = None;
            }
            continue;
        }
        let top_level = !line.starts_with([' ', '\t']) && !continuation;
        continuation = line.trim_end().ends_with('\\') || open_brackets(line) > 0;
        for quote in ["\"\"\"", "'''"] {
            if line.matches(quote).count() % 2 == 1 {
                in_string = Some(quote);
            }
        }
        if !top_level {
            continue;
        }
        let line = line.split('#').next().unwrap_or_default().trim_end();
        if let Some(rest) = line
            .strip_prefix("async def ")
            .or_else(|| line.strip_prefix("def "))
        {
            push_identifier(&mut names, rest);
        } else if let Some(rest) = line.strip_prefix("class ") {
            push_identifier(&mut names, rest);
        } else if let Some(rest) = line.strip_prefix("from ") {
            if let Some((_, imported)) = rest.split_once(" import ") {
                for item in imported.trim_matches(['(', ')', ' ']).split(',') {
                    let item = item.trim();
                    let bound = item.rsplit_once(" as ").map_or(item, |(_, alias)| alias);
                    push_identifier(&mut names, bound.trim());
                }
            }
        } else if let Some(rest) = line.strip_prefix("import ") {
            for item in rest.split(',') {
                let item = item.trim();
                match item.rsplit_once(" as ") {
                    Some((_, alias)) => push_identifier(&mut names, alias.trim()),
                    None => push_identifier(&mut names, item.split('.').next().unwrap_or_default()),
                }
            }
        } else {
            let target_end = line.find(['=', ':']).unwrap_or(0);
            let target = &line[..target_end];
            let is_assignment = target_end > 0
                && !line[target_end..].starts_with("==")
                && !target.trim().is_empty()
                && target
                    .trim()
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == ',' || c == ' ');
            if is_assignment {
                for part in target.split(',') {
                    push_identifier(&mut names, part.trim());
                }
            }
        }
    }
    names
}

fn open_brackets(line: &str) -> i32 {
    line.chars().fold(0, |depth, c| match c {
        '(' | '[' | '{' => depth + 1,
        ')' | ']' | '}' => depth - 1,
        _ => depth,
    })
}

fn push_identifier(names: &mut Vec<String>, text: &str) {
    let identifier: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if !identifier.is_empty() && !identifier.starts_with(|c: char| c.is_ascii_digit()) {
        names.push(identifier);
    }
}

pub(crate) fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with(|c: char| c.is_ascii_digit())
        && text.chars().all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_definitions_assignments_and_imports() {
        let source = r#"
import json
from app import create_app as make, other
"""
def not_this(event):
"""

def lambda_handler(event, context):
    def inner():
        pass

async def worker(event, context):
    pass

handler = make()
typed: int = 3
class Thing:
    x = 1
if x == 1:
    pass
"#;
        let names = top_level_names(source);
        for expected in [
            "json",
            "make",
            "other",
            "lambda_handler",
            "worker",
            "handler",
            "typed",
            "Thing",
        ] {
            assert!(
                names.contains(&expected.to_owned()),
                "{expected} in {names:?}"
            );
        }
        for unexpected in ["not_this", "inner", "x", "create_app"] {
            assert!(
                !names.contains(&unexpected.to_owned()),
                "{unexpected} in {names:?}"
            );
        }
    }
}
