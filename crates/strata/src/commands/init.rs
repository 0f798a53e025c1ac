//! `strata init`: write a starter project from `templates/`, never overwriting a file.

use serde::Serialize;

use crate::cli::InitArgs;
use crate::commands::Context;
use crate::error::CliError;

#[derive(Debug, Serialize)]
struct InitReport {
    directory: String,
    clouds: Vec<strata_manifest::Cloud>,
    files: Vec<String>,
}

pub fn run(context: &Context, args: &InitArgs) -> Result<(), CliError> {
    let mut clouds = args.clouds.clone();
    if clouds.is_empty() {
        clouds.push(strata_manifest::Cloud::Aws);
    }
    clouds.sort();
    clouds.dedup();

    let dir = context.project_dir.join(&args.dir);
    let name = match &args.name {
        Some(name) => name.clone(),
        None => service_name_from(&dir),
    };
    let files = strata_manifest::init_files(&clouds, &name);

    // Check everything before writing anything, so a refused init leaves the directory as it was.
    let existing: Vec<String> = files
        .iter()
        .filter(|(path, _)| dir.join(path).exists())
        .map(|(path, _)| path.display().to_string())
        .collect();
    if !existing.is_empty() {
        return Err(CliError::input(format!(
            "refusing to overwrite existing files in {}: {}",
            dir.display(),
            existing.join(", ")
        ))
        .with_hint("run `strata init` in an empty directory, or move those files away first"));
    }
    for (path, contents) in &files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            fs_err::create_dir_all(parent).map_err(|e| CliError::from_source(&e))?;
        }
        fs_err::write(&target, contents).map_err(|e| CliError::from_source(&e))?;
    }

    let report = InitReport {
        directory: dir.display().to_string(),
        clouds,
        files: files
            .iter()
            .map(|(path, _)| path.display().to_string())
            .collect(),
    };
    if context.printer.is_json() {
        context.printer.json("init", &report);
    } else {
        let mut text = format!("Created a {} project in {}:\n", name, report.directory);
        for file in &report.files {
            text.push_str(&format!("  {file}\n"));
        }
        text.push_str("Next: strata validate, then strata package");
        context.printer.data(&text);
    }
    Ok(())
}

/// A service name the clouds accept, from the directory name: lowercase letters, digits, dashes.
fn service_name_from(dir: &std::path::Path) -> String {
    let raw = dir
        .canonicalize()
        .ok()
        .and_then(|path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let mut name = String::new();
    for character in raw.chars() {
        if character.is_ascii_alphanumeric() {
            name.push(character.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_matches('-').to_string();
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        format!("app-{name}").trim_end_matches('-').to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::service_name_from;

    #[test]
    fn service_name_is_sanitised_from_the_directory() {
        let dir = tempfile::Builder::new()
            .prefix("My_Project ")
            .tempdir()
            .unwrap();
        let name = service_name_from(dir.path());
        assert!(name.starts_with("my-project-"), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
