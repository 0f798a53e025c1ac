//! The JSON Schema (draft 2020-12) written from the field tables.

use serde_json::{Value as Json, json};

use super::fields::SCHEMA;
use super::shape::Shape;

/// JSON Schema (draft 2020-12) of the manifest file.
pub fn json_schema() -> Json {
    let schema = &*SCHEMA;
    let mut document = match shape_json(&schema.root) {
        Json::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let mut out = serde_json::Map::new();
    out.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    out.insert(
        "$id".into(),
        json!("https://github.com/strata-deploy/strata/docs/strata.schema.json"),
    );
    out.insert(
        "title".into(),
        json!("strata manifest (strata.yml or serverless.yml)"),
    );
    out.insert(
        "description".into(),
        json!("One manifest for AWS Lambda, Azure Functions and Google Cloud Functions: the Serverless Framework v3 AWS shape plus strata's aws, azure, gcp, stages, runtime and per-function targets."),
    );
    out.append(&mut document);
    out.insert(
        "$defs".into(),
        Json::Object(
            schema
                .defs
                .iter()
                .map(|(name, shape)| ((*name).to_owned(), shape_json(shape)))
                .collect(),
        ),
    );
    Json::Object(out)
}

fn shape_json(shape: &Shape) -> Json {
    match shape {
        Shape::Any => json!({}),
        Shape::String => json!({"type": "string"}),
        Shape::Text => json!({"type": ["string", "number", "boolean"]}),
        Shape::Integer => json!({"type": "integer"}),
        Shape::Bool => json!({"type": "boolean"}),
        Shape::Enum(values) => json!({"type": "string", "enum": values}),
        Shape::Array(items) => json!({"type": "array", "items": shape_json(items)}),
        Shape::Map(values) => json!({"type": "object", "additionalProperties": shape_json(values)}),
        Shape::Object(object) => {
            let properties: serde_json::Map<String, Json> = object
                .fields
                .iter()
                .map(|field| {
                    let mut property = shape_json(&field.shape);
                    if let Json::Object(map) = &mut property {
                        map.insert("description".into(), json!(field.description));
                        if field.deprecated.is_some() {
                            map.insert("deprecated".into(), json!(true));
                        }
                    }
                    (field.name.to_owned(), property)
                })
                .collect();
            let mut out = serde_json::Map::new();
            out.insert("type".into(), json!("object"));
            out.insert("properties".into(), Json::Object(properties));
            if !object.required.is_empty() {
                out.insert("required".into(), json!(object.required));
            }
            out.insert(
                "additionalProperties".into(),
                object
                    .additional
                    .as_deref()
                    .map_or(json!(false), shape_json),
            );
            Json::Object(out)
        }
        Shape::AnyOf(shapes) => json!({"anyOf": shapes.iter().map(shape_json).collect::<Vec<_>>()}),
        Shape::Ref(name) => json!({"$ref": format!("#/$defs/{name}")}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_strict_where_strata_reads() {
        let schema = json_schema();
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["$defs"]["function"]["additionalProperties"], false);
        assert!(schema["$defs"]["function"]["properties"]["targets"].is_object());
        assert_eq!(schema["$defs"]["custom"]["additionalProperties"], json!({}));
    }
}
