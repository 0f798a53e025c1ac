//! Starter projects for `strata init`, embedded from `templates/` so the binary carries them.

use std::path::PathBuf;

use crate::config::Cloud;
use crate::yaml::{self, FileId};

struct Template {
    cloud: Cloud,
    manifest: &'static str,
    handler_name: &'static str,
    handler: &'static str,
    requirements: &'static str,
}

const TEMPLATES: [Template; 3] = [
    Template {
        cloud: Cloud::Aws,
        manifest: include_str!("../../../templates/aws/strata.yml"),
        handler_name: "handler.py",
        handler: include_str!("../../../templates/aws/handler.py"),
        requirements: include_str!("../../../templates/aws/requirements.txt"),
    },
    Template {
        cloud: Cloud::Azure,
        manifest: include_str!("../../../templates/azure/strata.yml"),
        handler_name: "function_app.py",
        handler: include_str!("../../../templates/azure/function_app.py"),
        requirements: include_str!("../../../templates/azure/requirements.txt"),
    },
    Template {
        cloud: Cloud::Gcp,
        manifest: include_str!("../../../templates/gcp/strata.yml"),
        handler_name: "main.py",
        handler: include_str!("../../../templates/gcp/main.py"),
        requirements: include_str!("../../../templates/gcp/requirements.txt"),
    },
];

/// The placeholder service name in the templates.
const TEMPLATE_SERVICE: &str = "my-service";

/// Files of a starter project for `clouds` (aws when empty), as paths relative to the
/// project directory and their contents. The caller writes them (and refuses to
/// overwrite); `service_name` should pass [`crate::check_service_name`].
///
/// One cloud gives that template verbatim. Several clouds give one manifest with every
/// chosen settings block and one `hello-<cloud>` function per cloud (each cloud's handler
/// has its own signature), and the union of the requirements.
pub fn init_files(clouds: &[Cloud], service_name: &str) -> Vec<(PathBuf, String)> {
    let mut chosen: Vec<Cloud> = if clouds.is_empty() {
        vec![Cloud::Aws]
    } else {
        clouds.to_vec()
    };
    chosen.sort();
    chosen.dedup();
    let templates: Vec<&Template> = chosen
        .iter()
        .filter_map(|cloud| TEMPLATES.iter().find(|t| t.cloud == *cloud))
        .collect();

    let manifest = match templates.as_slice() {
        [single] => rename_service(single.manifest, service_name),
        several => combined_manifest(several, service_name),
    };
    let mut requirements: Vec<&str> = Vec::new();
    for template in &templates {
        for line in template.requirements.lines() {
            let duplicate = !line.starts_with('#') && requirements.contains(&line);
            let comment_of_one_template = line.starts_with('#') && templates.len() > 1;
            if !duplicate && !comment_of_one_template {
                requirements.push(line);
            }
        }
    }
    let mut files = vec![(PathBuf::from("strata.yml"), manifest)];
    files.extend(
        templates
            .iter()
            .map(|t| (PathBuf::from(t.handler_name), t.handler.to_owned())),
    );
    let mut requirements_text = requirements.join("\n");
    requirements_text.push('\n');
    files.push((PathBuf::from("requirements.txt"), requirements_text));
    files
}

fn rename_service(manifest: &str, service_name: &str) -> String {
    manifest.replacen(
        &format!("service: {TEMPLATE_SERVICE}"),
        &format!("service: {service_name}"),
        1,
    )
}

fn combined_manifest(templates: &[&Template], service_name: &str) -> String {
    let mut merged = serde_json::Map::new();
    let mut functions = serde_json::Map::new();
    for template in templates {
        let (node, _) = yaml::parse(template.manifest, FileId(0));
        let Some(serde_json::Value::Object(document)) = node.map(|n| n.to_json()) else {
            continue;
        };
        for (key, value) in document {
            match key.as_str() {
                "functions" => {
                    if let serde_json::Value::Object(template_functions) = value {
                        for (name, function) in template_functions {
                            functions.insert(format!("{name}-{}", template.cloud), function);
                        }
                    }
                }
                "service" => {
                    merged.insert(key, serde_json::Value::String(service_name.to_owned()));
                }
                _ => {
                    merged.entry(key).or_insert(value);
                }
            }
        }
    }
    merged.insert("functions".to_owned(), serde_json::Value::Object(functions));
    let clouds: Vec<String> = templates.iter().map(|t| t.cloud.to_string()).collect();
    format!(
        "# strata manifest for {}; reference: docs/manifest.md\n{}",
        clouds.join(", "),
        yaml::to_yaml(&serde_json::Value::Object(merged))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_cloud_keeps_the_template_text() {
        let files = init_files(&[Cloud::Gcp], "shop");
        let names: Vec<_> = files.iter().map(|(p, _)| p.display().to_string()).collect();
        assert_eq!(names, ["strata.yml", "main.py", "requirements.txt"]);
        assert!(files[0].1.contains("service: shop\n"));
        assert!(files[0].1.starts_with("# strata manifest"));
    }

    #[test]
    fn several_clouds_get_one_function_each() {
        let files = init_files(&[Cloud::Gcp, Cloud::Aws], "shop");
        assert!(files[0].1.contains("hello-aws:"));
        assert!(files[0].1.contains("hello-gcp:"));
        assert!(files.last().unwrap().1.contains("functions-framework"));
    }
}
