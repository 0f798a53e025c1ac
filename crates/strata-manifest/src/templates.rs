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
/// has its own signature), each with its own requirements, so no cloud's zip carries another
/// cloud's framework: AWS and GCP functions live in a `module` folder named after the cloud
/// (handler and `requirements.txt`, which is also the file Google builds from), and the Azure
/// function app, which packages the project root, keeps its files there.
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

    let [single] = templates.as_slice() else {
        let mut files = vec![(
            PathBuf::from("strata.yml"),
            combined_manifest(&templates, service_name),
        )];
        for template in &templates {
            let folder = module_of(template.cloud).map_or_else(PathBuf::new, PathBuf::from);
            files.push((
                folder.join(template.handler_name),
                template.handler.to_owned(),
            ));
            files.push((
                folder.join("requirements.txt"),
                template.requirements.to_owned(),
            ));
        }
        return files;
    };
    vec![
        (
            PathBuf::from("strata.yml"),
            rename_service(single.manifest, service_name),
        ),
        (
            PathBuf::from(single.handler_name),
            single.handler.to_owned(),
        ),
        (
            PathBuf::from("requirements.txt"),
            single.requirements.to_owned(),
        ),
    ]
}

/// The folder a cloud's function lives in when a project targets several clouds; `None` for
/// Azure, whose function app is packaged from the project root.
fn module_of(cloud: Cloud) -> Option<&'static str> {
    match cloud {
        Cloud::Aws => Some("aws"),
        Cloud::Gcp => Some("gcp"),
        Cloud::Azure => None,
    }
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
                        for (name, mut function) in template_functions {
                            if let (Some(module), serde_json::Value::Object(keys)) =
                                (module_of(template.cloud), &mut function)
                            {
                                keys.insert("module".to_owned(), module.into());
                            }
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
    fn several_clouds_get_one_function_each_with_its_own_requirements() {
        let files = init_files(&[Cloud::Gcp, Cloud::Aws, Cloud::Azure], "shop");
        let names: Vec<_> = files.iter().map(|(p, _)| p.display().to_string()).collect();
        assert_eq!(
            names,
            [
                "strata.yml",
                "aws/handler.py",
                "aws/requirements.txt",
                "function_app.py",
                "requirements.txt",
                "gcp/main.py",
                "gcp/requirements.txt",
            ]
        );
        let file = |name: &str| &files.iter().find(|(p, _)| p.ends_with(name)).unwrap().1;
        assert!(file("strata.yml").contains("hello-aws:"));
        assert!(file("strata.yml").contains("hello-gcp:"));
        assert!(!file("aws/requirements.txt").contains("functions"));
        assert_eq!(file("gcp/requirements.txt").trim(), "functions-framework");
        assert_eq!(files[4].1.trim(), "azure-functions");
    }
}
